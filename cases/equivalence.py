"""Unit-equivalence graphs: which hidden units of a layered network are clones — exactly (equitable
weights) or approximately (duplicate activations, near-equal incoming weights) — and the base
(quotient) network the exact clones define.

**Layered networks as plain arrays.** Layers 0..L have widths n_0..n_L (0: inputs, L: outputs).
W_l ∈ R^{n_l × n_{l-1}} in torch's (out, in) layout, so W_l[v, u] is the weight of u → v, and
b_l ∈ R^{n_l} (a bias is an edge from a constant unit). A *partition* gives every layer an integer
label per unit; inputs and outputs are singletons and blocks never mix layers, so no edge lies
inside a block. B_l ∈ {0,1}^{n_l × k_l} is layer l's block-indicator matrix, |S| a block's size.

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

**Quotient (base network).** W̃_l[j, i] = (1/|S_j|) Σ_{v ∈ S_j, u ∈ S_i} W_l[v, u]: the incoming
block sum averaged over the *receiving* block S_j (for incoming-equitable weights every receiver
has the same sum, so this is that sum), and b̃_l[j] the mean bias of S_j. It is the normalization
under which the base computes the clone's function: with z̃_j = Σ_i W̃[j, i] h̃_i + b̃_j and
h(u) = h̃_i on S_i, z(v) = z̃_j on S_j. CLAIMS.md divides by the *source* size |S_i| instead; the
two agree only when |S_i| = |S_j| (``tests/test_equivalence.py`` shows the difference).

References:
[1] M. Grohe, K. Kersting, M. Mladenov, E. Selman, "Dimension Reduction via Colour Refinement",
    ESA 2014 (coarsest equitable partitions of weighted matrices by colour refinement).
[2] A. Cardon, M. Crochemore, "Partitioning a graph in O(|A| log2 |V|)", TCS 19 (1982).

    >>> W = [np.array([[1.0], [1.0]]), np.array([[0.5, 0.5]])]   # input → two copies → output
    >>> labels, rounds = coarsest_equitable_partition(W, [np.zeros(2), np.zeros(1)])
    >>> labels[1].tolist(), rounds
    ([0, 0], 1)
"""

from __future__ import annotations

import functools
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np
import scipy.sparse as sps
import torch
import torch.nn.functional as F
from matplotlib.collections import LineCollection
from matplotlib.lines import Line2D

from numerics.models import MLP
from numerics.probes import paper_dead
from numerics.train import train
from reports import figures
from theory import net
from theory.evidence import Config, Evidence

Arrays = Sequence[np.ndarray]
Labels = list[np.ndarray]  # one integer label per unit, for every layer 0..L
DIRECTIONS = ("both", "incoming", "outgoing")
SPLITS = ("uniform", "equitable", "incoming")
TOL = 1e-9
COSINE = 0.95  # CLAIMS.md, App. B.2: duplicate pair when the cosine of activation columns > 0.95
PROJECTIONS = 4  # random projections per refinement round (candidates only; verified exactly)
_EPS = np.finfo(np.float64).eps


# ---- input checking ---------------------------------------------------------------------------

def _network(weights: Arrays, biases: Arrays | None) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """float64 copies of (W_1..W_L, b_1..b_L), checked: 2-D, chained shapes, finite."""
    if len(weights) == 0:
        raise ValueError("weights is empty; give one (out, in) matrix per layer")
    Ws = [np.asarray(W, dtype=np.float64) for W in weights]
    for l, W in enumerate(Ws, 1):
        if W.ndim != 2 or 0 in W.shape:
            raise ValueError(f"W_{l} has shape {W.shape}; weight matrices must be 2-D (out, in), non-empty")
        if l > 1 and W.shape[1] != Ws[l - 2].shape[0]:
            raise ValueError(f"W_{l} has {W.shape[1]} inputs but W_{l - 1} has {Ws[l - 2].shape[0]} outputs")
        if not np.isfinite(W).all():
            raise ValueError(f"W_{l} contains NaN or inf")
    if biases is None:
        return Ws, [np.zeros(W.shape[0]) for W in Ws]
    if len(biases) != len(Ws):
        raise ValueError(f"{len(biases)} bias vectors for {len(Ws)} weight matrices")
    bs = [np.asarray(b, dtype=np.float64) for b in biases]
    for l, (W, b) in enumerate(zip(Ws, bs), 1):
        if b.shape != (W.shape[0],):
            raise ValueError(f"b_{l} has shape {b.shape}, expected ({W.shape[0]},) to match W_{l}")
        if not np.isfinite(b).all():
            raise ValueError(f"b_{l} contains NaN or inf")
    return Ws, bs


def _widths(Ws: Arrays) -> list[int]:
    return [Ws[0].shape[1]] + [W.shape[0] for W in Ws]


def _hidden_arrays(arrays: Arrays | None, widths: list[int], name: str, ndim: int, unit_axis: int = 0
                   ) -> list[np.ndarray | None]:
    """Per-hidden-layer arrays with the units along ``unit_axis``, checked against the widths
    (finite where float); a list of None when not given."""
    hidden = widths[1:-1]
    if arrays is None:
        return [None] * len(hidden)
    if len(arrays) != len(hidden):
        raise ValueError(f"{name} has {len(arrays)} entries for {len(hidden)} hidden layers")
    out = []
    for l, (a, n) in enumerate(zip(arrays, hidden), 1):
        a = np.asarray(a)
        if a.ndim != ndim or a.shape[unit_axis] != n:
            raise ValueError(f"{name}[{l - 1}] has shape {a.shape}, which does not match hidden layer {l} "
                             f"of width {n}")
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            raise ValueError(f"{name}[{l - 1}] contains NaN or inf")
        out.append(a)
    return out


def canonical(labels: np.ndarray) -> np.ndarray:
    """Block labels renumbered 0, 1, ... in order of first appearance: equal partitions of a layer
    have equal canonical labels."""
    _, first, inverse = np.unique(labels, return_index=True, return_inverse=True)
    rank = np.empty(len(first), dtype=np.int64)
    rank[np.argsort(first)] = np.arange(len(first))
    return rank[inverse.reshape(-1)]


def same_partition(a: Labels, b: Labels) -> bool:
    """Whether two label lists describe the same partition of every layer (label values aside)."""
    return len(a) == len(b) and all(len(x) == len(y) and (canonical(x) == canonical(y)).all()
                                    for x, y in zip(a, b))


def partition_labels(partition: Sequence[Any], widths: Sequence[int]) -> Labels:
    """A partition, checked, as labels 0..k−1 for every layer 0..L.

    ``partition`` has one entry per layer (L + 1 entries) or per hidden layer (L − 1 entries; inputs
    and outputs are then singletons). An entry is an integer label per unit (block j is the j-th
    smallest label value, so labels 0..k−1 keep their numbering), or a list of blocks (iterables of
    unit indices; block j is the j-th) that together contain every unit exactly once.
    """
    L = len(widths) - 1
    if len(partition) == L - 1:
        partition = [np.arange(widths[0]), *partition, np.arange(widths[-1])]
    if len(partition) != L + 1:
        raise ValueError(f"partition has {len(partition)} layers; give {L + 1} (all layers) or {L - 1} "
                         "(hidden layers only)")
    labels = []
    for l, (entry, n) in enumerate(zip(partition, widths)):
        entry = list(entry) if not isinstance(entry, np.ndarray) else entry
        if len(entry) and not isinstance(entry, np.ndarray) and not np.isscalar(entry[0]):
            labels.append(_blocks_to_labels(entry, n, l))
            continue
        lab = np.asarray(entry)
        if lab.shape != (n,) or lab.dtype.kind not in "iu":
            raise ValueError(f"partition layer {l}: expected {n} integer labels, got shape {lab.shape} "
                             f"of {lab.dtype}")
        labels.append(np.unique(lab, return_inverse=True)[1].reshape(-1))
    for l in (0, L):
        if labels[l].max() + 1 != widths[l]:
            raise ValueError(f"partition layer {l} ({'inputs' if l == 0 else 'outputs'}) has a block of "
                             "size > 1; inputs and outputs must be singletons")
    return labels


def _blocks_to_labels(blocks: Sequence[Any], n: int, layer: int) -> np.ndarray:
    lab = np.full(n, -1, dtype=np.int64)
    for i, block in enumerate(blocks):
        members = np.asarray(sorted(block), dtype=np.int64)
        if members.size == 0:
            raise ValueError(f"partition layer {layer}: block {i} is empty")
        if members.min() < 0 or members.max() >= n:
            raise ValueError(f"partition layer {layer}: block {i} names a unit outside 0..{n - 1}")
        repeated = np.r_[members[lab[members] >= 0], members[1:][np.diff(members) == 0]]
        if repeated.size:
            raise ValueError(f"partition layer {layer}: unit {int(repeated[0])} is in two blocks; "
                             "blocks must be disjoint")
        lab[members] = i
    if (lab < 0).any():
        raise ValueError(f"partition layer {layer}: unit {int(np.flatnonzero(lab < 0)[0])} is in no block; "
                         "blocks must cover the layer")
    return lab


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


# ---- colour refinement ------------------------------------------------------------------------

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


def coarsest_equitable_partition(weights: Arrays, biases: Arrays | None = None, tol: float = TOL, *,
                                 direction: str = "both", features: Arrays | None = None, seed: int = 0
                                 ) -> tuple[Labels, int]:
    """The coarsest partition of a layered network's units that is incoming- and outgoing-
    equitable (``direction="both"``), or only one of the two, found by colour refinement.

    Parameters: ``weights`` W_1..W_L of shape (out, in); ``biases`` b_1..b_L (zeros if None);
    ``tol`` the relative tolerance of the module docstring; ``features`` optional per-hidden-layer
    (units × f) arrays that clones must share (e.g. normalization parameters): the refinement starts
    from their blocks; ``seed`` seeds the random projections (candidates only: the verified result
    does not depend on it when the data are separated as the module docstring says).

    Returns (labels, rounds): canonical integer labels for every layer 0..L (inputs and outputs
    singletons) and the number of refinement rounds, the last one being the round that split
    nothing.

    >>> W1 = np.array([[1.0, 2.0], [1.0, 2.0], [3.0, 1.0]])      # units 0 and 1 copy their inputs
    >>> W2 = np.array([[0.25, 0.25, 1.0]])                         # and split their output evenly
    >>> coarsest_equitable_partition([W1, W2])[0][1].tolist()
    [0, 0, 1]
    """
    Ws, bs = _network(weights, biases)
    if direction not in DIRECTIONS:
        raise ValueError(f"unknown direction {direction!r} (accepted: {', '.join(DIRECTIONS)})")
    if not 0 < tol < 1:
        raise ValueError(f"tol must lie in (0, 1), got {tol}")
    widths, L = _widths(Ws), len(Ws)
    rng = np.random.default_rng(seed)
    q = [tol * _scale(W, b) for W, b in zip(Ws, bs)]  # incoming tolerance of layer l is q[l-1]
    q_out = [tol * _scale(W) for W in Ws]
    transposed = functools.cache(lambda i: np.ascontiguousarray(Ws[i].T))

    def parts(l: int) -> list[_Part]:  # signature parts of hidden layer l
        W, b, W_next = Ws[l - 1], bs[l - 1], Ws[l]
        incoming = [_Part(W, lambda: transposed(l - 1), labels[l - 1], q[l - 1]),
                    _Part(b[:, None], lambda: b[None, :], np.zeros(1, dtype=np.int64), q[l - 1])]
        outgoing = [_Part(W_next.T, lambda: W_next, labels[l + 1], q_out[l])]
        return {"both": incoming + outgoing, "incoming": incoming, "outgoing": outgoing}[direction]

    labels: Labels = [np.arange(n) for n in widths]
    for l, feats in enumerate(_hidden_arrays(features, widths, "features", 2), 1):
        start = np.zeros(widths[l], dtype=np.int64)
        if feats is not None:
            labels[l] = _refine_layer(start, _feature_parts(feats, tol), tol, rng, settled=True)
        else:
            labels[l] = start
    if L == 1:
        return labels, 0
    # a layer is refined again only when it or a neighbour changed in the previous round
    dirty, rounds = [True] * (L + 1), 0
    while any(dirty):
        rounds += 1
        new = list(labels)
        for l in range(1, L):
            if dirty[l - 1] or dirty[l] or dirty[l + 1]:
                new[l] = _refine_layer(labels[l], parts(l), tol, rng)
        dirty = [new[l].max() != labels[l].max() for l in range(L + 1)]  # refinement only splits
        labels = new
    return labels, rounds


def blocks(labels: Labels) -> list[list[tuple[int, ...]]]:
    """The blocks of every layer as sorted tuples of unit indices, blocks in label order."""
    out = []
    for lab in labels:
        order = np.argsort(lab, kind="stable")
        cuts = np.flatnonzero(np.diff(lab[order])) + 1
        out.append([tuple(int(i) for i in b) for b in np.split(order, cuts)])
    return out


def equitable_residual(weights: Arrays, biases: Arrays | None, partition: Sequence[Any]) -> dict[str, float]:
    """How far a partition is from equitable: the largest spread (max − min inside a block) of
    any incoming block sum or bias (``incoming``) and of any outgoing block sum (``outgoing``),
    relative to the largest |entry| of its matrix — comparable with ``tol``. 0 means exactly
    equitable; colour refinement guarantees ≤ 2·tol for the partition it returns."""
    Ws, bs = _network(weights, biases)
    labels = partition_labels(partition, _widths(Ws))
    res = {"incoming": 0.0, "outgoing": 0.0}
    for l, (W, b) in enumerate(zip(Ws, bs), 1):
        k_in, k_out = labels[l - 1].max() + 1, labels[l].max() + 1
        sums_in = np.column_stack([_block_sums(W, labels[l - 1], k_in), b]) / _scale(W, b)
        sums_out = _block_sums(W.T, labels[l], k_out) / _scale(W)
        res["incoming"] = max(res["incoming"], _spread(sums_in, labels[l]))
        res["outgoing"] = max(res["outgoing"], _spread(sums_out, labels[l - 1]))
    return res


def _spread(rows: np.ndarray, labels: np.ndarray) -> float:
    """max over blocks and columns of (max − min) of ``rows`` inside a block of ``labels``."""
    order = np.argsort(labels, kind="stable")
    starts = np.r_[0, np.flatnonzero(np.diff(labels[order])) + 1]
    sorted_rows = rows[order]
    return float((np.maximum.reduceat(sorted_rows, starts) - np.minimum.reduceat(sorted_rows, starts)).max())


def quotient(weights: Arrays, biases: Arrays | None, partition: Sequence[Any]
             ) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The base network of a partition: W̃_l = D_l⁻¹ B_lᵀ W_l B_{l-1} and b̃_l = D_l⁻¹ B_lᵀ b_l,
    D_l = diag(block sizes), blocks in label order (``partition_labels``) — i.e.
    W̃_l[j, i] = (1/|S_j|) Σ_{v ∈ S_j, u ∈ S_i} W_l[v, u], averaged over the receiving block, the
    normalization under which the base computes the clone's function (module docstring).

    >>> W = [np.array([[1.0], [1.0]]), np.array([[0.3, 0.7]])]
    >>> [w.tolist() for w in quotient(W, None, [[0], [0, 0], [0]])[0]]
    [[[1.0]], [[1.0]]]
    """
    Ws, bs = _network(weights, biases)
    labels = partition_labels(partition, _widths(Ws))
    Wq, bq = [], []
    for l, (W, b) in enumerate(zip(Ws, bs), 1):
        k = labels[l].max() + 1
        Bt = _indicator_t(labels[l], k)
        sizes = np.bincount(labels[l], minlength=k).astype(np.float64)
        rows = np.asarray(Bt @ W) / sizes[:, None]
        Wq.append(_block_sums(rows, labels[l - 1], labels[l - 1].max() + 1))
        bq.append(np.asarray(Bt @ b) / sizes)
    return Wq, bq


# ---- planted clones ---------------------------------------------------------------------------

def clone(weights: Arrays, biases: Arrays | None, sizes: Arrays, split: str = "equitable",
          spread: float = 0.5, seed: int = 0, shuffle: bool = True
          ) -> tuple[list[np.ndarray], list[np.ndarray], Labels]:
    """A wider network in which hidden unit i of layer l becomes a block S_i of ``sizes[l-1][i]``
    units computing the base's function (numpy weights; the torch model copy lives in numerics).

    Every clone v ∈ S_j copies the base bias and receives W[v, u] = W̃[j, i] Λ[v, u] from u ∈ S_i,
    with the split fractions Λ summing to 1 over u ∈ S_i (so Σ_{u ∈ S_i} W[v, u] = W̃[j, i]: the
    weights are incoming-equitable and the clone computes the base's function). ``split``:

    - ``"uniform"``: Λ = 1/|S_i| — block-constant, the base point of M_D;
    - ``"equitable"``: Λ = (1 + spread·C)/|S_i|, C a random matrix with zero row and column sums
      inside each block pair, |C| ≤ 1 — also outgoing-equitable (Σ_{v ∈ S_j} W[v, u] =
      |S_j| W̃[j, i]/|S_i| for every u ∈ S_i), but not block-constant;
    - ``"incoming"``: Λ[v, u] = λ_u, random positive fractions per sender (the Net2Net split, the
      λ/(1−λ) duplicate): incoming-equitable only, since Σ_{v ∈ S_j} W[v, u] = |S_j| W̃[j, i] λ_u.

    ``shuffle`` permutes each hidden layer's units, so blocks are not contiguous. Returns the
    clone's weights, biases and the planted partition: for every layer, the base unit of each
    clone unit (so ``quotient`` of the clone by it lists the blocks in the base's unit order).
    """
    Ws, bs = _network(weights, biases)
    if split not in SPLITS:
        raise ValueError(f"unknown split {split!r} (accepted: {', '.join(SPLITS)})")
    if not 0 <= spread < 1:
        raise ValueError(f"spread must lie in [0, 1) so every fraction stays positive, got {spread}")
    widths = _widths(Ws)
    size_arrays = _hidden_arrays(sizes, widths, "sizes", 1)
    rng = np.random.default_rng(seed)
    base: Labels = [np.arange(widths[0])]  # base unit of every clone unit
    for s in size_arrays:
        s = np.asarray(s)
        if s.dtype.kind not in "iu" or (s < 1).any():
            raise ValueError("sizes must be positive integers (one block size per base hidden unit)")
        lab = np.repeat(np.arange(len(s)), s)
        base.append(rng.permutation(lab) if shuffle else lab)
    base.append(np.arange(widths[-1]))
    Wc, bc = [], []
    for l, (W, b) in enumerate(zip(Ws, bs), 1):
        src, dst = base[l - 1], base[l]
        size_src = np.bincount(src).astype(np.float64)
        Lam = np.broadcast_to(1.0 / size_src[src], (len(dst), len(src)))
        if split == "equitable":
            Lam = Lam * (1 + spread * _double_centred(rng.standard_normal(Lam.shape), dst, src))
        elif split == "incoming":
            e = rng.uniform(1 - spread, 1 + spread, len(src))
            Lam = np.broadcast_to(e / np.bincount(src, weights=e)[src], Lam.shape)
        Wc.append(W[dst][:, src] * Lam)
        bc.append(b[dst].copy())
    return Wc, bc, base


def _double_centred(E: np.ndarray, dst: np.ndarray, src: np.ndarray) -> np.ndarray:
    """E minus its row and column means inside every block pair, scaled to max |C| = 1."""
    kd, ks = dst.max() + 1, src.max() + 1
    nd, ns = np.bincount(dst).astype(np.float64), np.bincount(src).astype(np.float64)
    row = _block_sums(E, src, ks) / ns  # mean over u ∈ S_i, per receiver v
    col = np.asarray(_indicator_t(dst, kd) @ E) / nd[:, None]  # mean over v ∈ S_j, per sender u
    both = _block_sums(col, src, ks) / ns
    C = E - row[:, src] - col[dst] + both[dst][:, src]
    m = np.abs(C).max()
    return C / m if m > 1e-12 else np.zeros_like(C)


# ---- torch models -----------------------------------------------------------------------------

def mlp_arrays(model: MLP) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray] | None]:
    """(weights, biases, features) of a ``numerics.models.MLP`` as float64 numpy arrays.

    ``features`` (None without normalization) holds, per hidden layer, the per-unit parameters
    outside the linear maps that clones must also share: LayerNorm (γ, β); BatchNorm (γ, β,
    running mean, running variance). A model without biases gets zero biases."""
    weights = [lin.weight.detach().double().cpu().numpy() for lin in model.linears]
    biases = [lin.bias.detach().double().cpu().numpy() if lin.bias is not None else np.zeros(w.shape[0])
              for lin, w in zip(model.linears, weights)]
    if model.norms is None:
        return weights, biases, None
    feats = []
    for norm in model.norms:
        cols = [norm.weight, norm.bias] + ([norm.running_mean, norm.running_var]
                                           if isinstance(norm, torch.nn.BatchNorm1d) else [])
        feats.append(np.column_stack([c.detach().double().cpu().numpy() for c in cols if c is not None]))
    return weights, biases, feats


def mlp_activations(model: MLP, X: torch.Tensor) -> list[np.ndarray]:
    """Per hidden layer the activation matrix h (samples × units), float64, with the model in eval
    mode (dropout off, BatchNorm running statistics); the model's mode is restored."""
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            return [h.double().cpu().numpy() for h in model.trace(X).h]
    finally:
        model.train(was)


def to_mlp(weights: Arrays, biases: Arrays | None, activation: str = "relu") -> MLP:
    """A float64 ``numerics.models.MLP`` with these weights and biases (no normalization)."""
    Ws, bs = _network(weights, biases)
    model = MLP(_widths(Ws), activation=activation).double()
    with torch.no_grad():
        for lin, W, b in zip(model.linears, Ws, bs):
            lin.weight.copy_(torch.from_numpy(W))
            lin.bias.copy_(torch.from_numpy(b))
    return model


def random_mlp(widths: Sequence[int], seed: int, activation: str = "relu") -> MLP:
    """A float64 MLP with torch's default initialization, seeded without touching the global RNG."""
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return MLP(list(widths), activation=activation).double()


# ---- the networkx reference -------------------------------------------------------------------

def to_digraph(weights: Arrays, biases: Arrays | None = None) -> nx.DiGraph:
    """The layered network as a ``theory.net`` DiGraph (nodes x*, h{l}.*, y*, bias node "1") with
    edge attribute ``weight``."""
    Ws, bs = _network(weights, biases)
    G = net.mlp("-".join(map(str, _widths(Ws))), bias=biases is not None)
    layers = _digraph_layers(G)
    for l, (W, b) in enumerate(zip(Ws, bs), 1):
        nx.set_edge_attributes(G, {(u, v): float(W[j, i]) for j, v in enumerate(layers[l])
                                   for i, u in enumerate(layers[l - 1])}, "weight")
        if biases is not None:
            nx.set_edge_attributes(G, {(net.BIAS, v): float(b[j]) for j, v in enumerate(layers[l])}, "weight")
    return G


def _digraph_layers(G: nx.DiGraph) -> list[list[Any]]:
    depth = max(d["layer"] for _, d in G.nodes(data=True))
    return [[v for v, d in G.nodes(data=True) if d["layer"] == l and d["kind"] != "bias"]
            for l in range(depth + 1)]


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


def digraph_labels(G: nx.DiGraph, colors: dict[Any, int]) -> Labels:
    """Per-layer canonical labels of a ``to_digraph`` network's colouring (bias node left out)."""
    return [canonical(np.array([colors[v] for v in layer])) for layer in _digraph_layers(G)]


# ---- unit-equivalence graphs ------------------------------------------------------------------

def cosine_similarity(H: np.ndarray) -> np.ndarray:
    """Cosine similarity of the columns of H (samples × units), each scaled to unit norm: one
    matmul. A zero column (a unit silent on every sample) has similarity 0 with every unit."""
    H = np.asarray(H, dtype=np.float64)
    norm = np.linalg.norm(H, axis=0)
    Hn = np.divide(H, norm, out=np.zeros_like(H), where=norm > 0)
    return Hn.T @ Hn


def weight_distance(W: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """Relative distance of incoming weight vectors θ_v = (W[v, :], b[v]):
    ‖θ_u − θ_v‖ / max(‖θ_u‖, ‖θ_v‖) (0 for two zero vectors), from one Gram matmul."""
    theta = np.column_stack([W, b]) if b is not None else np.asarray(W, dtype=np.float64)
    gram = theta @ theta.T
    sq = np.diag(gram)
    dist = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2 * gram, 0.0))
    top = np.sqrt(np.maximum(sq[:, None], sq[None, :]))
    return np.divide(dist, top, out=np.zeros_like(dist), where=top > 0)


EDGE_KINDS = ("exact", "cosine", "weight")


def unit_graph(weights: Arrays, biases: Arrays | None = None, activations: Arrays | None = None, *,
               tol: float = TOL, equitable: str | None = "both", cosine: float | None = COSINE,
               distance: float | None = None, features: Arrays | None = None, dead: Arrays | None = None,
               saturated: Arrays | None = None) -> nx.Graph:
    """The unit-equivalence graph of a layered network's hidden units.

    Nodes (l, i) for hidden layer l = 1..L−1 and unit i, with attributes ``layer``, ``index``,
    ``block`` (its block of the coarsest ``equitable`` partition, or None), ``dead`` (given, or
    the paper's definition |h| < 1e-7 on > 95% of samples when ``activations`` are given) and
    ``saturated`` (when given). An edge joins two units of one layer that are clones by at least
    one criterion, listed in its ``kinds``:

    - ``exact``: same block of the coarsest equitable partition (``equitable`` ∈ both, incoming,
      outgoing, or None to skip), with tolerance ``tol``;
    - ``cosine``: cosine similarity of their activation columns above ``cosine`` (the paper's
      duplicate pair; needs ``activations``: per hidden layer samples × units);
    - ``weight``: relative distance of incoming weights below ``distance`` (``weight_distance``).

    Edges carry the measured ``cosine`` and ``distance`` where computed. ``G.graph`` records the
    widths, thresholds and the refinement rounds.

    >>> W = [np.array([[1.0], [1.0], [-1.0]]), np.array([[0.5, 0.5, 1.0]])]
    >>> sorted(unit_graph(W).edges)
    [((1, 0), (1, 1))]
    """
    Ws, bs = _network(weights, biases)
    widths = _widths(Ws)
    acts = _hidden_arrays(activations, widths, "activations", 2, unit_axis=1)
    dead_in = _hidden_arrays(dead, widths, "dead", 1)
    sat_in = _hidden_arrays(saturated, widths, "saturated", 1)
    labels, rounds = (coarsest_equitable_partition(Ws, bs, tol, direction=equitable, features=features)
                      if equitable is not None else (None, 0))
    G = nx.Graph(widths=widths, tol=tol, equitable=equitable, cosine=cosine, distance=distance,
                 rounds=rounds)
    for l in range(1, len(widths) - 1):
        n, H = widths[l], acts[l - 1]
        is_dead = dead_in[l - 1] if dead_in[l - 1] is not None else (
            paper_dead(torch.from_numpy(np.asarray(H))).numpy() if H is not None else None)
        for i in range(n):
            G.add_node((l, i), layer=l, index=i,
                       block=int(labels[l][i]) if labels is not None else None,
                       dead=bool(is_dead[i]) if is_dead is not None else None,
                       saturated=bool(sat_in[l - 1][i]) if sat_in[l - 1] is not None else None)
        masks, values = {}, {}
        if labels is not None:
            masks["exact"] = labels[l][:, None] == labels[l][None, :]
        if cosine is not None and H is not None:
            values["cosine"] = cosine_similarity(H)
            masks["cosine"] = values["cosine"] > cosine
        if distance is not None:
            values["distance"] = weight_distance(Ws[l - 1], bs[l - 1])
            masks["weight"] = values["distance"] < distance
        if not masks:
            continue
        any_edge = np.triu(np.logical_or.reduce(list(masks.values())), 1)
        for i, j in zip(*np.nonzero(any_edge)):
            kinds = tuple(k for k in EDGE_KINDS if k in masks and masks[k][i, j])
            measures = {k: float(v[i, j]) for k, v in values.items()}
            G.add_edge((l, int(i)), (l, int(j)), kinds=kinds, **measures)
    return G


def draw_unit_graph(G: nx.Graph, max_units: int = 100, title: str | None = None) -> str:
    """An SVG drawing of a unit-equivalence graph: hidden layers left to right, the units of a
    connected component next to each other and coloured by exact block (grey: no exact clone),
    exact-clone edges solid in the block's colour, approximate-only edges dashed, dead units
    crossed. Beyond ``max_units`` units each layer shows an equal share, units with clones first,
    and the title says how many are shown."""
    layers = sorted({d["layer"] for _, d in G.nodes(data=True)})
    quota = max(2, max_units // max(1, len(layers)))

    def block(v: Any) -> int:
        b = G.nodes[v]["block"]
        return -1 if b is None else b

    # units of one connected component (exact blocks are cliques inside components) sit together
    component = {v: min(c) for c in nx.connected_components(G) for v in c}
    pos: dict[Any, tuple[int, int]] = {}
    for x, l in enumerate(layers):
        units = sorted((v for v, d in G.nodes(data=True) if d["layer"] == l),
                       key=lambda v: (G.degree(v) == 0, component[v], block(v), v[1]))
        for y, v in enumerate(sorted(units[:quota], key=lambda v: (component[v], block(v), v[1]))):
            pos[v] = (x, -y)
    size = Counter((G.nodes[v]["layer"], block(v)) for v in G)
    cmap = figures.plt.get_cmap("tab10")

    def colour(v: Any) -> tuple:
        clone = block(v) >= 0 and size[(G.nodes[v]["layer"], block(v))] > 1
        return cmap(block(v) % 10) if clone else (0.75, 0.75, 0.75, 1.0)

    tallest = max(Counter(x for x, _ in pos.values()).values(), default=1)
    fig, ax = figures.new(1.6 + 1.4 * len(layers), min(9.0, 1.2 + 0.1 * tallest))
    t = np.linspace(0, 1, 16)
    for exact in (False, True):  # clone edges join units of one layer: arcs bulging to the right
        segs, cols = [], []
        for u, v, d in G.edges(data=True):
            if u in pos and v in pos and ("exact" in d["kinds"]) == exact:
                (x, y1), (_, y2) = pos[u], pos[v]
                bulge = min(0.42, 0.08 + 0.03 * abs(y2 - y1))
                segs.append(np.column_stack([x + bulge * np.sin(np.pi * t), y1 + (y2 - y1) * t]))
                cols.append(colour(u) if exact else (0.4, 0.4, 0.4, 0.8))
        if segs:
            ax.add_collection(LineCollection(segs, colors=cols, linewidths=1.0 if exact else 0.7,
                                             linestyles="solid" if exact else "dashed"))
    shown = list(pos)
    xy = np.array([pos[v] for v in shown], dtype=float).reshape(-1, 2)
    ax.scatter(xy[:, 0], xy[:, 1], s=18, c=[colour(v) for v in shown], edgecolors="black", linewidths=0.5,
               zorder=3)
    dead = np.array([bool(G.nodes[v]["dead"]) for v in shown], dtype=bool)
    ax.scatter(xy[dead, 0], xy[dead, 1], s=22, marker="x", c="black", linewidths=0.9, zorder=4)
    for x, l in enumerate(layers):
        n = sum(1 for _, d in G.nodes(data=True) if d["layer"] == l)
        ax.text(x, 0.8, f"layer {l}\n({n} units)", ha="center", va="bottom", fontsize=7)
    handles = [Line2D([], [], color=cmap(0), label="exact clones (same block)"),
               Line2D([], [], color="0.4", ls="--", label="approximate only"),
               Line2D([], [], ls="", marker="x", color="black", label="dead unit")]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7, frameon=False)
    ax.set_xlim(-0.5, len(layers) - 0.3)
    ax.set_ylim(-tallest, 2.0)
    ax.axis("off")
    note = f" (showing {len(shown)} of {G.number_of_nodes()} units)" if len(shown) < len(G) else ""
    ax.set_title((title or "unit-equivalence graph") + note, fontsize=8, pad=10)
    return figures.svg(fig)


# ---- checks (kind "case") ---------------------------------------------------------------------

TRAJECTORY = "cloned.trajectory"
SGD = {"lr": 0.05}


def _block_counts(labels: Labels) -> list[int]:
    return [int(lab.max()) + 1 for lab in labels]


def _spec(widths: Sequence[int]) -> str:
    return "-".join(map(str, widths))


def _random_case(rng: np.random.Generator, quick: bool) -> tuple[list[int], list[np.ndarray]]:
    """Random base widths (1–2 hidden layers, 1–3 in full size) and block sizes 1–4 per base unit."""
    depth = int(rng.integers(1, 2 if quick else 3, endpoint=True))
    hidden = [int(rng.integers(2, 6 if quick else 10, endpoint=True)) for _ in range(depth)]
    widths = [int(rng.integers(2, 6, endpoint=True)), *hidden, int(rng.integers(1, 3, endpoint=True))]
    return widths, [rng.integers(1, 4, size=n, endpoint=True) for n in hidden]


def _data(widths: Sequence[int], n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return (torch.randn(n, widths[0], generator=gen, dtype=torch.float64),
            torch.randn(n, widths[-1], generator=gen, dtype=torch.float64))


def _max_abs_difference(a: Arrays, b: Arrays) -> float:
    return max(float(np.abs(x - y).max()) for x, y in zip(a, b))


def _planted_trial(t: int, widths: list[int], sizes: list[np.ndarray], steps: int, seed: int
                   ) -> tuple[dict[str, Any], str | None]:
    """One exact clone: refinement at initialization and after SGD, quotient, forward outputs, and
    the networkx reference; the figure of the clone's unit graph for the first trial."""
    activation, split = ("tanh", "relu")[t % 2], ("equitable", "uniform")[t % 2]
    base = random_mlp(widths, seed=seed, activation=activation)
    Wb, bb, _ = mlp_arrays(base)
    Wc, bc, planted = clone(Wb, bb, sizes, split=split, seed=seed)
    tick = time.perf_counter()
    found, rounds = coarsest_equitable_partition(Wc, bc)
    seconds = time.perf_counter() - tick
    G = to_digraph(Wc, bc)
    reference = digraph_labels(G, refine_digraph(G)[0])
    Wq, bq = quotient(Wc, bc, planted)
    model = to_mlp(Wc, bc, activation)
    X, y = _data(widths, 32, seed)
    with torch.no_grad():
        forward_error = float((model(X) - base(X)).abs().max())
    figure = None
    if t == 0:
        graph = unit_graph(Wc, bc, mlp_activations(model, X))
        figure = draw_unit_graph(graph, title=f"planted clone of a {_spec(widths)} {activation} MLP")
    train(model, X, y, steps, optimizer="sgd", hp=SGD, loss_fn=F.mse_loss, seed=seed)
    Wt, bt, _ = mlp_arrays(model)
    found_t, rounds_t = coarsest_equitable_partition(Wt, bt)
    row = {"base_widths": widths, "clone_widths": _widths(Wc), "split": split, "activation": activation,
           "planted_blocks": _block_counts(planted), "found_blocks": _block_counts(found),
           "found_blocks_after_training": _block_counts(found_t), "rounds": rounds,
           "rounds_after_training": rounds_t, "refinement_seconds": seconds,
           "recovered": same_partition(found, planted),
           "recovered_after_training": same_partition(found_t, planted),
           "networkx_reference_agrees": same_partition(reference, found),
           "quotient_error": max(_max_abs_difference(Wq, Wb), _max_abs_difference(bq, bb)),
           "forward_error": forward_error,
           "residual_after_training": max(equitable_residual(Wt, bt, planted).values())}
    return row, figure


def refinement_recovers_planted(config: Config) -> Evidence:
    """cloned.trajectory through colour refinement. Statement: "for an exact clone W(0) ∈ M_D of a
    random MLP, the coarsest equitable partition is the planted one, at initialization and after
    any number of SGD steps" (W(t) stays in M_D, and refinement finds M_D's partition and nothing
    coarser). Random block sizes 1–4, units shuffled, uniform and non-uniform equitable splits,
    ReLU and tanh; also measured: quotient = base, clone and base outputs, networkx agreement."""
    start = time.perf_counter()
    trials, steps = (4, 10) if config.quick else (12, 50)
    rng = np.random.default_rng(config.seed)
    rows, figure = [], None
    for t in range(trials):
        widths, sizes = _random_case(rng, config.quick)
        row, fig = _planted_trial(t, widths, sizes, steps, seed=config.seed * 1000 + t)
        rows.append(row)
        figure = figure or fig
    measured: dict[str, Any] = {key: [r[key] for r in rows] for key in rows[0]}
    measured.update(trials=trials, recovered_count=sum(measured["recovered"]),
                    recovered_after_training_count=sum(measured["recovered_after_training"]),
                    max_quotient_error=max(measured["quotient_error"]),
                    max_forward_error=max(measured["forward_error"]),
                    max_residual_after_training=max(measured["residual_after_training"]))
    setting = {"control": False, "seed": config.seed, "trials": trials, "tol": TOL, "dtype": "float64",
               "block_sizes": "1–4 per base unit, units shuffled",
               "splits": ["equitable (spread 0.5)", "uniform"], "activations": ["tanh", "relu"],
               "training": f"{steps} full-batch SGD steps, lr {SGD['lr']}, MSE on 32 random samples"}
    failed = [(t, r) for t, r in enumerate(rows) if not (r["recovered"] and r["recovered_after_training"])]
    if failed:
        t, r = failed[0]
        stage = "initialization" if not r["recovered"] else f"after {steps} SGD steps"
        counterexample = {"trial": t, "stage": stage, **{k: r[k] for k in (
            "base_widths", "clone_widths", "split", "activation", "planted_blocks", "found_blocks",
            "found_blocks_after_training", "residual_after_training")}}
        verdict = "refuted"
        summary = f"Refinement missed the planted partition in {len(failed)} of {trials} clones ({stage})."
    else:
        verdict, counterexample = "confirmed", None
        summary = (f"In {trials}/{trials} exact clones of random MLPs the coarsest equitable partition is "
                   f"exactly the planted one, at initialization and after {steps} SGD steps "
                   "(W(t) stays in M_D).")
    caption = ("Unit-equivalence graph of a planted clone: units of one block of the coarsest equitable "
               "partition share a colour; dashed edges join activation duplicates (cosine > 0.95) only.")
    return Evidence(TRAJECTORY, "refinement-recovers-planted", "case", verdict, summary, setting, measured,
                    counterexample, time.perf_counter() - start,
                    figures=[(caption, figure)] if figure else [])


def refinement_control_random_init(config: Config) -> Evidence:
    """Negative control. Statement: "this randomly initialised MLP has non-trivial clones". Colour
    refinement must find only singletons, so the statement comes out refuted with the all-singleton
    partition as the counterexample; the closest pair of incoming weight vectors per layer says how
    far from a merge the units are."""
    start = time.perf_counter()
    widths = [16, 64, 64, 4] if config.quick else [32, 256, 256, 256, 10]
    W, b, _ = mlp_arrays(random_mlp(widths, seed=config.seed))
    tick = time.perf_counter()
    labels, rounds = coarsest_equitable_partition(W, b)
    seconds = time.perf_counter() - tick
    found = _block_counts(labels)
    closest = [float((weight_distance(Wl, bl) + 3 * np.eye(len(bl))).min()) for Wl, bl in zip(W[:-1], b[:-1])]
    measured = {"units_per_layer": widths, "blocks_per_layer": found, "rounds": rounds,
                "refinement_seconds": seconds,
                "nontrivial_blocks": sum(int((np.bincount(lab) > 1).sum()) for lab in labels),
                "closest_incoming_weight_distance": closest}
    setting = {"control": True, "seed": config.seed, "architecture": _spec(widths),
               "init": "torch default (Kaiming uniform)", "tol": TOL, "dtype": "float64"}
    if found == widths:
        verdict = "refuted"
        counterexample = {"partition": "all singletons", "blocks_per_layer": found, "units_per_layer": widths}
        summary = (f"A randomly initialised {_spec(widths)} MLP has no clones: its coarsest equitable "
                   f"partition is all singletons (closest incoming weights {min(closest):.2f} apart, "
                   "relative).")
    else:
        verdict, counterexample = "confirmed", None
        summary = f"Colour refinement merged units of a random MLP: blocks per layer {found}."
    return Evidence(TRAJECTORY, "refinement-control-random-init", "case", verdict, summary, setting, measured,
                    counterexample, time.perf_counter() - start)


def refinement_control_incoming_only(config: Config) -> Evidence:
    """Negative control. Duplicates made with the Net2Net split (outgoing weights λ_u W̃, random
    λ > 0 summing to 1 per block) are forward clones — incoming-equitable, identical activations —
    but not outgoing-equitable: Σ_{v ∈ S_j} W[v, u] = |S_j| W̃[j, i] λ_u depends on u, so their
    backward signals differ. Statement: "these forward clones are equitable clones". Incoming-only
    refinement must recover the planted blocks (otherwise the control is vacuous: inconclusive);
    two-sided refinement must split them, refuting the statement; the counterexample is a planted
    block of the last hidden layer with its unequal outgoing weights."""
    start = time.perf_counter()
    widths = [6, 8, 8, 2] if config.quick else [16, 32, 32, 32, 4]
    Wb, bb, _ = mlp_arrays(random_mlp(widths, seed=config.seed))
    rng = np.random.default_rng(config.seed)
    sizes = [rng.integers(2, 3, size=n, endpoint=True) for n in widths[1:-1]]
    W, b, planted = clone(Wb, bb, sizes, split="incoming", spread=0.5, seed=config.seed)
    forward, _ = coarsest_equitable_partition(W, b, direction="incoming")
    both, rounds = coarsest_equitable_partition(W, b)
    residual = equitable_residual(W, b, planted)
    nontrivial = [int((np.bincount(lab) > 1).sum()) for lab in both]
    measured = {"clone_widths": _widths(W), "planted_blocks": _block_counts(planted),
                "incoming_refinement_blocks": _block_counts(forward), "blocks_per_layer": _block_counts(both),
                "nontrivial_blocks_per_layer": nontrivial, "rounds": rounds,
                "planted_incoming_residual": residual["incoming"],
                "planted_outgoing_residual": residual["outgoing"]}
    setting = {"control": True, "seed": config.seed, "architecture": _spec(widths), "tol": TOL,
               "clone": "blocks of 2–3 units, Net2Net split with fractions ∝ U(0.5, 1.5)"}
    if not same_partition(forward, planted):
        verdict, counterexample = "inconclusive", None
        summary = "Incoming-only refinement missed the planted forward clones, so the control is vacuous."
    elif same_partition(both, planted):
        verdict, counterexample = "confirmed", None
        summary = "Two-sided refinement merged forward-only clones: it did not check outgoing equitability."
    else:
        l = len(W) - 1  # the last hidden layer: its clones feed the outputs, which are singletons
        block = np.flatnonzero(planted[l] == np.bincount(planted[l]).argmax())
        verdict = "refuted"
        counterexample = {"layer": l, "planted_block": block.tolist(),
                          "outgoing_weights_to_output_0": W[l][0, block].tolist(),
                          "planted_outgoing_residual": residual["outgoing"],
                          "blocks_per_layer": _block_counts(both), "planted_blocks": _block_counts(planted)}
        summary = (f"Forward clones with an unequal outgoing split are not equitable clones: incoming-only "
                   f"refinement recovers the planted blocks, two-sided refinement splits them (outgoing "
                   f"spread {residual['outgoing']:.2f}, relative) into {sum(nontrivial)} non-trivial blocks.")
    return Evidence(TRAJECTORY, "refinement-control-incoming-only", "case", verdict, summary, setting,
                    measured, counterexample, time.perf_counter() - start)
