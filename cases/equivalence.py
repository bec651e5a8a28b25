"""Which hidden units of a layered network are exact clones: the coarsest equitable partition, by
colour refinement, and a networkx reference implementation.

**Layered networks.** ``theory.net.Layered``: layers 0..L have widths n_0..n_L (0: inputs, L:
outputs), W_l ∈ R^{n_l × n_{l-1}} in torch's (out, in) layout, so W_l[v, u] is the weight of u → v,
and b_l ∈ R^{n_l} (a bias is an edge from a constant unit). A partition (``theory.partition``) gives
every layer an integer label per unit; inputs and outputs are singletons and blocks never mix layers,
so no edge lies inside a block. B_l ∈ {0,1}^{n_l × k_l} is layer l's block-indicator matrix, |S| a
block's size.

**Equitability, from the recursions** (the same derivation as ``theory.manifolds``).
Forward: if h is constant on every source block (h(u) = h_i for u ∈ S_i),

    z(v) = Σ_u W_l[v, u] h(u) + b_l[v] = Σ_i h_i (W_l B_{l-1})[v, i] + b_l[v],

so z is constant on each block S_j of layer l when the *incoming block sums* (W_l B_{l-1})[v, :]
and b_l[v] are the same for every v ∈ S_j: **incoming-equitable** (Σ_{u ∈ S_i} W[v, u] equal for
all v ∈ S_j). Backward: if δ f' is constant on every target block (value g_j on S_j),

    δ(u) = Σ_v g(v) W_{l+1}[v, u] = Σ_j g_j (B_{l+1}ᵀ W_{l+1})[j, u],

so δ is constant on each block S_i of layer l when the *outgoing block sums*
(B_{l+1}ᵀ W_{l+1})[:, u] are the same for every u ∈ S_i: **outgoing-equitable**
(Σ_{v ∈ S_j} W[v, u] equal for all u ∈ S_i).

**Coarsest equitable partition** by colour refinement (1-WL) on the weighted DAG in both
directions: start with inputs and outputs as singletons and each hidden layer as one block (or the
blocks of equal ``features``); in every round give each hidden unit the signature

    σ(v) = ( old block of v,  (W_l B_{l-1})[v, :],  b_l[v],  (B_{l+1}ᵀ W_{l+1})[:, v] )

computed from the previous round's partition, and split blocks by σ; stop when nothing splits.
Refinement only splits, never splits two units that some equitable partition (coarser than the
start) keeps together, and stops at an equitable partition: the coarsest one [1, 2].

**Tolerance** (floats are never exactly equal after arithmetic). A block sum is compared with
q = tol · s, s the largest |entry| of the matrix it comes from (W_l and b_l for the incoming part,
W_{l+1} for the outgoing one). A unit stays in its block when each of its block sums is within q of
the block's *leader* (its smallest-index unit), so units of a block differ by at most 2q and units
more than 2q apart in any block sum are always separated. When the signatures of a layer fall into
clusters of diameter ≤ q lying more than q apart, the blocks are exactly the clusters. Between q
and 2q the answer can depend on which unit leads: equality up to a tolerance is not transitive,
and no rounding or binning escapes that (fixed bins even cut exact clones whose sums straddle a
bin edge). Exact clones differ by rounding, about width · 1e-16 · s, so keep tol ≫ width · 1e-16
and below any difference that should count; the default 1e-9 suits float64 weights.

**Vectorized per layer, no loop over units.** A round gives every hidden unit 4 random
projections p(v) = σ(v)·g, one thin matmul per weight matrix (W_l @ g[labels_{l-1}] sums over the
blocks for free). Two units within tolerance are within a computed bound δ (Σ|g| plus the matmul's
rounding bound) in every projection, so cutting the sorted projections at gaps > δ never separates
them: this gives candidate blocks. A layer whose candidates equal its blocks is then checked
exactly — the block sums B_{l-1}ᵀ W_lᵀ and B_{l+1}ᵀ W_{l+1} (sparse indicator products) of every
member against its leader — and units farther than q are split off. Refinement ends with a round
in which no layer changes, so every layer of the result was checked against its final neighbours;
the random projections only propose candidates and do not decide the result.

How far a network is from a partition being equitable is measured in one place,
``numerics.clone.Gauge`` (its ``family`` distance and the ``incoming``/``outgoing`` parts of it); the
base network of a partition is ``theory.partition.quotient_network``.

References:
[1] M. Grohe, K. Kersting, M. Mladenov, E. Selman, "Dimension Reduction via Colour Refinement",
    ESA 2014 (coarsest equitable partitions of weighted matrices by colour refinement).
[2] A. Cardon, M. Crochemore, "Partitioning a graph in O(|A| log2 |V|)", TCS 19 (1982).

    >>> net = Layered([np.array([[1.0], [1.0]]), np.array([[0.5, 0.5]])])   # input → two copies → output
    >>> P, rounds = coarsest_equitable_partition(net)
    >>> P.layer_labels(1).tolist(), rounds
    ([0, 0], 1)
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np
import scipy.sparse as sps

from theory.net import Layered
from theory.partition import Partition

DIRECTIONS = ("both", "incoming", "outgoing")
TOL = 1e-9
PROJECTIONS = 4  # random projections per refinement round (candidates only; verified exactly)
_EPS = np.finfo(np.float64).eps


def canonical(labels: np.ndarray) -> np.ndarray:
    """Block labels renumbered 0, 1, ... in order of first appearance: equal partitions of a layer
    have equal canonical labels."""
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first)] = np.arange(len(first))
    return rank[inverse.reshape(-1)]


def _indicator_t(labels: np.ndarray, k: int) -> sps.csr_matrix:
    """Bᵀ as a sparse (k × n) matrix: Bᵀ @ M sums the rows of M over each block."""
    n = len(labels)
    return sps.csr_matrix((np.ones(n), (labels, np.arange(n))), shape=(k, n))


def _block_sums(M: np.ndarray, labels: np.ndarray, k: int) -> np.ndarray:
    """(M B)[v, c] = Σ_{u in block c} M[v, u], for M of shape (rows, n)."""
    if k == len(labels):  # singletons: a permutation of the columns
        out = np.empty_like(M)
        out[:, labels] = M
        return out
    return np.asarray(_indicator_t(labels, k) @ np.ascontiguousarray(M.T)).T


def _scale(*arrays: np.ndarray) -> float:
    """The largest |entry| (1 for all-zero arrays, so tolerances stay positive)."""
    s = max(max(float(a.max()), -float(a.min())) if a.size else 0.0 for a in arrays)
    return s if s > 0 else 1.0


@dataclass(frozen=True)
class _Part:
    """One part of the signature of a layer's units: σ(v) = (A B_src)[v, :] / q, the sums of row v
    of A (units × source units) over the blocks ``src`` of the source units, in units of q (a
    scalar, or one value per source unit when every source unit is its own block). ``At`` returns
    Aᵀ C-contiguous, for the exact check only (so a transposed copy is made only when needed)."""

    A: np.ndarray
    At: Callable[[], np.ndarray]
    src: np.ndarray
    q: float | np.ndarray

    @property
    def k(self) -> int:
        return int(self.src.max()) + 1

    def sums_t(self) -> np.ndarray:
        """σ of every unit as columns: (B_srcᵀ Aᵀ) / q, one row per source block."""
        At = self.At()
        S = At[np.argsort(self.src)] if self.k == len(self.src) else \
            np.asarray(_indicator_t(self.src, self.k) @ At)
        S /= np.reshape(self.q, (-1, 1))  # S is a fresh array
        return S


def _gap_groups(groups: np.ndarray, x: np.ndarray, delta: float) -> np.ndarray:
    """Refine integer ``groups``: inside each group, sort by x and cut where consecutive values are
    more than ``delta`` apart (1-D single linkage). Values within delta always stay together."""
    order = np.lexsort((x, groups))
    xs, gs = x[order], groups[order]
    cut = np.r_[True, (np.diff(gs) != 0) | (np.diff(xs) > delta)]
    out = np.empty_like(groups)
    out[order] = np.cumsum(cut) - 1
    return out


def _distance(sums: Sequence[np.ndarray], idx: np.ndarray, ref: np.ndarray, chunk: int = 1024
              ) -> np.ndarray:
    """max over parts and block sums of |σ(idx) − σ(ref)| (in units of q), pair by pair."""
    out = np.zeros(len(idx))
    for start in range(0, len(idx), chunk):
        i, r, o = idx[start:start + chunk], ref[start:start + chunk], out[start:start + chunk]
        for S in sums:
            np.maximum(o, np.abs(np.take(S, i, axis=1) - np.take(S, r, axis=1)).max(axis=0), out=o)
    return out


def _leaders(candidates: np.ndarray, parts: Sequence[_Part]) -> np.ndarray:
    """Split candidate blocks into blocks whose members are within tolerance (distance ≤ 1) of
    their leader, the smallest pending unit: one pass per leader generation, not per unit."""
    out = np.full(len(candidates), -1, dtype=np.int64)
    pending, offset, sums = np.arange(len(candidates)), 0, None
    while pending.size:
        groups, first, inverse = np.unique(candidates[pending], return_index=True, return_inverse=True)
        leader = pending[first][inverse]
        ok = pending == leader
        if not ok.all():
            sums = sums or [p.sums_t() for p in parts]
            ok[~ok] = _distance(sums, pending[~ok], leader[~ok]) <= 1.0
        out[pending[ok]] = offset + inverse[ok]
        offset += len(groups)
        pending = pending[~ok]
    return canonical(out)


def _refine_layer(labels: np.ndarray, parts: Sequence[_Part], tol: float, rng: np.random.Generator,
                  settled: bool = False) -> np.ndarray:
    """One refinement of a layer's blocks by its signature parts (see the module docstring).

    Projection r gives p_r(v) = Σ_parts Σ_c σ_c(v) g_c: a unit pair within tolerance (every
    |Δσ_c| ≤ 1) differs by at most Σ_c |g_c| plus the rounding of the matmul, δ_r, so cutting
    gaps > δ_r never separates it; the leader check then removes any accidental companions."""
    n = len(labels)
    P, delta = np.zeros((n, PROJECTIONS)), np.zeros(PROJECTIONS)
    for part in parts:
        g = rng.standard_normal((part.k, PROJECTIONS))
        gu = (g / np.reshape(part.q, (-1, 1)))[part.src]
        P += part.A @ gu
        # |fl(A x) − A x| ≤ γ_m Σ_u |A[v,u]| |x_u| ≤ γ_m / tol · Σ_u |g_u| (|A| ≤ s, q = tol·s),
        # for each unit of a pair
        m = part.A.shape[1] + 1
        delta += np.abs(g).sum(axis=0) + 2 * m * _EPS / (1 - m * _EPS) / tol * np.abs(g[part.src]).sum(axis=0)
    candidates = labels
    for r in range(PROJECTIONS):
        candidates = _gap_groups(candidates, P[:, r], delta[r])
    # verify only blocks that have settled (or when told the parts never change): a block that
    # splits now is refined again next round, and refinement ends with a round in which every
    # layer is unchanged, hence verified
    if candidates.max() == n - 1 or candidates.max() > labels.max() and not settled:
        return canonical(candidates)
    return _leaders(candidates, parts)


def _feature_parts(features: np.ndarray, tol: float) -> list[_Part]:
    F_ = np.asarray(features, dtype=np.float64).reshape(len(features), -1)
    q = tol * np.array([_scale(c) for c in F_.T])
    return [_Part(F_, lambda: np.ascontiguousarray(F_.T), np.arange(F_.shape[1]), q)] if F_.shape[1] else []


def coarsest_equitable_partition(network: Layered, tol: float = TOL, *, direction: str = "both",
                                 seed: int = 0) -> tuple[Partition, int]:
    """The coarsest partition of a layered network's units that is incoming- and outgoing-
    equitable (``direction="both"``), or only one of the two, found by colour refinement.

    Parameters: ``network`` its weights W_1..W_L of shape (out, in), biases and ``features``
    (per-hidden-layer units × f arrays that clones must share, e.g. normalization parameters: the
    refinement starts from their blocks); ``tol`` the relative tolerance of the module docstring;
    ``seed`` seeds the random projections (candidates only: the verified result does not depend on it
    when the data are separated as the module docstring says).

    Returns (partition, rounds): the layered partition, blocks numbered in order of first member
    (inputs and outputs singletons), and the number of refinement rounds, the last one being the
    round that split nothing.

    >>> W1 = np.array([[1.0, 2.0], [1.0, 2.0], [3.0, 1.0]])      # units 0 and 1 copy their inputs
    >>> W2 = np.array([[0.25, 0.25, 1.0]])                         # and split their output evenly
    >>> coarsest_equitable_partition(Layered([W1, W2]))[0].layer_labels(1).tolist()
    [0, 0, 1]
    """
    if not isinstance(network, Layered):
        raise TypeError(f"network must be a theory.net.Layered (numerics.models.to_layered converts an MLP), "
                        f"not {type(network).__name__}")
    L = network.depth
    features = network.features or [None] * (L - 1)
    labels, rounds = coarsest_equitable_groups(
        network.widths, [(l - 1, l, W[:, :, None]) for l, W in enumerate(network.weights, 1)],
        biases=[None, *network.biases], features=[None, *features, None],
        fixed=[True, *[False] * (L - 1), True], tol=tol, direction=direction, seed=seed)
    return Partition.layered(labels), rounds


def coarsest_equitable_groups(widths: Sequence[int], edges: Sequence[tuple[int, int, np.ndarray]], *,
                              biases: Sequence[np.ndarray | None] | None = None,
                              features: Sequence[np.ndarray | None] | None = None,
                              fixed: Sequence[bool] | None = None, tol: float = TOL,
                              direction: str = "both", seed: int = 0) -> tuple[list[np.ndarray], int]:
    """The coarsest equitable partition of a DAG of unit *groups* (the layers of a layered network,
    or the channel tensors of any network: ``numerics.probes.unit_graph``), by colour refinement.

    Group g has ``widths[g]`` units; an edge (s, d, W) with W of shape (n_d, n_s, K) connects unit u
    of group s to unit v of group d by the K numbers W[v, u, :] (K = 1 for a dense layer, the kernel
    offsets of a convolution, the positions of a flattened channel). Blocks never mix groups. The
    signature of a unit v of group g is

        σ(v) = ( its block,  Σ_{u ∈ S_i} W[v, u, k] for every in-edge, block S_i and offset k,  b_g[v],
                 Σ_{x ∈ S_j} W'[x, v, k] for every out-edge W', block S_j and offset k ),

    the module docstring's σ with one part per edge and kernel offset: the forward and backward
    recursions are linear in the K numbers separately, so equitability is required offset by offset.
    ``fixed`` groups (inputs, outputs) are singletons; ``features`` (units × f per group) must agree
    inside a block (refinement starts from their blocks); an edge is an identity (a normalization, a
    residual addition, an activation) when W = c · I; an edge may join a group to itself (a residual
    stream refined as one group). Returns (labels per group, rounds).

    >>> W = np.array([[1.0], [1.0]])[:, :, None]            # input → two copies, by one edge
    >>> out = np.array([[0.5, 0.5]])[:, :, None]            # → output, split evenly
    >>> [l.tolist() for l in coarsest_equitable_groups([1, 2, 1], [(0, 1, W), (1, 2, out)],
    ...                                                 fixed=[True, False, True])[0]]
    [[0], [0, 0], [0]]
    """
    n_groups = len(widths)
    biases = list(biases) if biases is not None else [None] * n_groups
    features = list(features) if features is not None else [None] * n_groups
    fixed = list(fixed) if fixed is not None else [False] * n_groups
    if direction not in DIRECTIONS:
        raise ValueError(f"unknown direction {direction!r} (accepted: {', '.join(DIRECTIONS)})")
    if not 0 < tol < 1:
        raise ValueError(f"tol must lie in (0, 1), got {tol}")
    if not len(biases) == len(features) == len(fixed) == n_groups:
        raise ValueError("biases, features and fixed need one entry per group")
    for s, d, W in edges:
        if not (0 <= s < n_groups and 0 <= d < n_groups):
            raise ValueError(f"edge ({s}, {d}) does not join groups of {n_groups}")
        if W.ndim != 3 or W.shape[:2] != (widths[d], widths[s]):
            raise ValueError(f"edge ({s}, {d}) needs weights of shape ({widths[d]}, {widths[s]}, K), "
                             f"got {W.shape}")
    rng = np.random.default_rng(seed)
    into = [[e for e in edges if e[1] == g] for g in range(n_groups)]
    out_of = [[e for e in edges if e[0] == g] for g in range(n_groups)]
    neighbours = [{s for s, _, _ in into[g]} | {d for _, d, _ in out_of[g]} for g in range(n_groups)]
    # edge i as a matrix of incoming rows (n_d × n_s·K) and of outgoing rows (n_s × n_d·K), and the
    # transposes the exact check reads (made once, when first needed)
    flat = functools.cache(lambda i: np.ascontiguousarray(edges[i][2].reshape(edges[i][2].shape[0], -1)))
    flat_t = functools.cache(lambda i: np.ascontiguousarray(
        edges[i][2].transpose(1, 0, 2).reshape(edges[i][2].shape[1], -1)))
    flat_tt = functools.cache(lambda i: flat_t(i) if edges[i][2].shape[2] == 1 else
                              np.ascontiguousarray(flat(i).T))
    flat_t_t = functools.cache(lambda i: flat(i) if edges[i][2].shape[2] == 1 else
                               np.ascontiguousarray(flat_t(i).T))
    index = {id(e): i for i, e in enumerate(edges)}

    def expand(lab: np.ndarray, K: int) -> np.ndarray:  # block labels of the (unit, offset) columns
        return (lab[:, None] * K + np.arange(K)[None, :]).reshape(-1)

    def parts(g: int) -> list[_Part]:
        incoming, outgoing = [], []
        ins, b = into[g], biases[g]
        q_in = tol * _scale(*[e[2] for e in ins], *([b] if b is not None else []))
        for e in ins:
            i, K = index[id(e)], e[2].shape[2]
            incoming.append(_Part(flat(i), lambda i=i: flat_tt(i), expand(labels[e[0]], K), q_in))
        if b is not None:
            incoming.append(_Part(b[:, None], lambda b=b: b[None, :], np.zeros(1, dtype=np.int64), q_in))
        for e in out_of[g]:
            i, K = index[id(e)], e[2].shape[2]
            outgoing.append(_Part(flat_t(i), lambda i=i: flat_t_t(i), expand(labels[e[1]], K),
                                  tol * _scale(e[2])))
        return {"both": incoming + outgoing, "incoming": incoming, "outgoing": outgoing}[direction]

    labels: list[np.ndarray] = []
    for g, n in enumerate(widths):
        if fixed[g]:
            labels.append(np.arange(n))
        elif features[g] is not None:
            labels.append(_refine_layer(np.zeros(n, dtype=np.int64), _feature_parts(features[g], tol), tol,
                                        rng, settled=True))
        else:
            labels.append(np.zeros(n, dtype=np.int64))
    free = [g for g in range(n_groups) if not fixed[g]]
    if not free or not edges:
        return [canonical(lab) for lab in labels], 0
    # a group is refined again only when it or a neighbour changed in the previous round
    dirty, rounds = [True] * n_groups, 0
    while any(dirty):
        rounds += 1
        new = list(labels)
        for g in free:
            if labels[g].max(initial=-1) == widths[g] - 1:
                continue  # all singletons: nothing left to split
            if dirty[g] or any(dirty[h] for h in neighbours[g]):
                new[g] = _refine_layer(labels[g], parts(g), tol, rng)
        dirty = [new[g].max(initial=-1) != labels[g].max(initial=-1) for g in range(n_groups)]
        labels = new
    return [canonical(lab) for lab in labels], rounds


def weighted_dag(network: Layered) -> nx.DiGraph:
    """The network as a DAG of units (``Layered.to_dag``) with each weight as the edge attribute
    ``weight``: the input of ``refine_digraph``."""
    G, w = network.to_dag()
    nx.set_edge_attributes(G, w, "weight")
    return G


def refine_digraph(G: nx.DiGraph, tol: float = TOL, weight: str = "weight") -> tuple[dict[Any, int], int]:
    """Colour refinement on any weighted DAG (skip connections allowed), node by node: the
    straightforward reference for ``coarsest_equitable_partition`` and the benchmark's baseline.

    Start: input, bias and output nodes are singletons; other nodes are coloured by their
    ``layer`` and ``activation`` attributes. Round: σ(v) = (colour, {colour c: Σ of w(u, v) over
    predecessors u of colour c}, {colour c: Σ of w(v, x) over successors x of colour c}), each sum
    rounded to a multiple of q = tol · max|w| (fixed bins: a sum on a bin edge can split exact
    clones, which the vectorized version avoids), zero sums dropped (absent edge = weight 0).
    Returns ({node: colour}, rounds).
    """
    ws = [abs(w) for *_, w in G.edges(data=weight, default=0.0)]
    q = tol * (max(ws) if ws and max(ws) > 0 else 1.0)

    def start(v: Any) -> tuple:
        d = G.nodes[v]
        return ("fixed", str(v)) if d.get("kind") in ("input", "bias", "output") else \
            ("unit", d.get("layer"), d.get("activation"))

    def renumber(sig: dict[Any, Any]) -> dict[Any, int]:
        ids: dict[Any, int] = {}
        return {v: ids.setdefault(s, len(ids)) for v, s in sig.items()}

    def sums(pairs) -> tuple:
        acc: dict[int, float] = {}
        for c, w in pairs:
            acc[c] = acc.get(c, 0.0) + w
        return tuple(sorted((c, r) for c, s in acc.items() if (r := round(s / q))))

    colors, rounds = renumber({v: start(v) for v in G}), 0
    while True:
        rounds += 1
        new = renumber({v: (colors[v],
                            sums((colors[u], w) for u, _, w in G.in_edges(v, data=weight, default=0.0)),
                            sums((colors[x], w) for _, x, w in G.out_edges(v, data=weight, default=0.0)))
                        for v in G})
        if len(set(new.values())) == len(set(colors.values())):
            return new, rounds
        colors = new


def digraph_partition(network: Layered, colors: dict[Any, int]) -> Partition:
    """The layered partition of ``network`` that a colouring of its ``weighted_dag`` defines."""
    return Partition.layered([np.array([colors[v] for v in network.nodes(layer)])
                              for layer in range(network.depth + 1)])
