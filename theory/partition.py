"""Partitions of a network's units into blocks of clones, and the base (quotient) network they define
(paper §4, Prop. 4.1 (2); App. A.2, Prop. A.5).

A ``Partition`` is the one partition type of the project: the manifolds (``theory.manifolds``), the
clone builder and its distances (``numerics.clone``), colour refinement (``cases.equivalence``) and
the quotient below all take it. Blocks S_1..S_k hold nodes of the DAG (``theory.net`` names: x0…,
h{l}.{i}, y0…, the bias node "1"); inputs, the bias node and outputs are singletons, and no edge
joins two units of one block.

A partition of a *layered* network (``Partition.layered``) also knows the layer widths, and gives
each layer's units as integer block labels 0..k_l−1 (``layer_labels``), the form the vectorized code
works in: blocks are ordered by layer, then by label, so in a clone's partition label j of layer l is
"a clone of base unit j".

**Base network.** One node per block, an edge i → j when some u ∈ S_i feeds some v ∈ S_j, with weight

    W̃_ij = (1/|S_j|) Σ_{u ∈ S_i, v ∈ S_j} w(u, v),

normalised by the *receiving* block: on an incoming-equitable network every v ∈ S_j gets the same
c_ij = Σ_{u∈S_i} w(u, v) from the common activation h_i, so z(v) = Σ_i c_ij h_i and the base unit j
computes the same function iff W̃_ij = c_ij, i.e. the double sum divided by |S_j|. (CLAIMS.md's 1/|S_i|
agrees only when |S_i| = |S_j|.)

    >>> import numpy as np
    >>> P = Partition.layered([np.arange(1), np.array([0, 0]), np.arange(1)])
    >>> P.nontrivial, P.layer_labels(1).tolist()
    ([('h1.0', 'h1.1')], [0, 0])
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import networkx as nx
import numpy as np

from theory import net
from theory.net import BIAS, Layered

Edge = tuple[str, str]


@dataclass(frozen=True, eq=False)
class Partition:
    """Blocks of nodes, every node of the network in exactly one block (singletons included); with
    ``widths``, a partition of the layered network of those widths (``layered``). Two partitions are
    equal when they have the same blocks, whatever their order."""

    blocks: tuple[tuple[str, ...], ...]
    widths: tuple[int, ...] | None = field(default=None)

    @cached_property
    def block_of(self) -> dict[str, int]:
        return {v: i for i, block in enumerate(self.blocks) for v in block}

    @property
    def nontrivial(self) -> list[tuple[str, ...]]:
        return [b for b in self.blocks if len(b) > 1]

    def label(self, i: int) -> str:
        """A block's name: its node for a singleton, ``S{i}`` otherwise."""
        return self.blocks[i][0] if len(self.blocks[i]) == 1 else f"S{i}"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Partition):
            return NotImplemented
        return {frozenset(b) for b in self.blocks} == {frozenset(b) for b in other.blocks}

    def __hash__(self) -> int:
        return hash(frozenset(frozenset(b) for b in self.blocks))

    # ---- layered partitions ----

    @classmethod
    def layered(cls, labels: Sequence[Any]) -> Partition:
        """The partition of a layered network with one integer label per unit of every layer 0..L
        (block j of a layer is the j-th smallest label value, so labels 0..k−1 keep their numbering), or
        one list of blocks per layer (iterables of unit indices, block j the j-th, covering the layer
        exactly once). Inputs and outputs must be singletons; the bias node is a singleton block.
        Raises ValueError (one line) naming the layer and the problem."""
        if len(labels) < 2:
            raise ValueError(f"a layered partition needs labels for every layer 0..L (got {len(labels)} "
                             "layers)")
        canonical_labels = [_as_labels(entry, layer) for layer, entry in enumerate(labels)]
        last = len(canonical_labels) - 1
        for layer in (0, last):
            lab = canonical_labels[layer]
            if lab.max() + 1 != len(lab):
                raise ValueError(f"partition layer {layer} ({'inputs' if layer == 0 else 'outputs'}) has a "
                                 "block of size > 1; inputs and outputs must be singletons")
        widths = tuple(len(lab) for lab in canonical_labels)
        blocks: list[tuple[str, ...]] = []
        for layer, lab in enumerate(canonical_labels):
            nodes = np.array(net.layer_nodes(widths, layer), dtype=object)
            order = np.argsort(lab, kind="stable")
            cuts = np.flatnonzero(np.diff(lab[order])) + 1
            blocks += [tuple(nodes[b]) for b in np.split(order, cuts)]
        return cls(tuple(blocks) + ((BIAS,),), widths)

    def layer_labels(self, layer: int) -> np.ndarray:
        """Block label 0..k−1 of every unit of ``layer`` (blocks of the layer in partition order)."""
        if self.widths is None:
            raise ValueError("layer labels need a layered partition (Partition.layered)")
        return self._layer_labels[layer]

    @cached_property
    def _layer_labels(self) -> list[np.ndarray]:
        out = []
        for layer in range(len(self.widths)):
            ids = np.array([self.block_of[v] for v in net.layer_nodes(self.widths, layer)])
            out.append(np.unique(ids, return_inverse=True)[1].reshape(-1))
        return out

    def block_counts(self) -> list[int]:
        """Blocks per layer (layered partitions)."""
        return [int(self.layer_labels(k).max()) + 1 for k in range(len(self.widths))]

    def nontrivial_counts(self) -> list[int]:
        """Blocks of two or more units, per layer (layered partitions)."""
        return [int((np.bincount(self.layer_labels(k)) > 1).sum()) for k in range(len(self.widths))]


def _as_labels(entry: Any, layer: int) -> np.ndarray:
    """One layer's entry of ``Partition.layered`` as labels 0..k−1."""
    if not isinstance(entry, np.ndarray):
        entry = list(entry)
        if len(entry) and not np.isscalar(entry[0]):
            return _blocks_to_labels(entry, layer)
    lab = np.asarray(entry)
    if lab.ndim != 1 or lab.size == 0 or lab.dtype.kind not in "iu":
        raise ValueError(f"partition layer {layer}: expected integer labels, one per unit, got shape "
                         f"{lab.shape} of {lab.dtype}")
    return np.unique(lab, return_inverse=True)[1].reshape(-1)


def _blocks_to_labels(blocks: Sequence[Any], layer: int) -> np.ndarray:
    members = [np.asarray(sorted(b), dtype=np.int64) for b in blocks]
    n = sum(len(m) for m in members)
    lab = np.full(n, -1, dtype=np.int64)
    for i, m in enumerate(members):
        if m.size == 0:
            raise ValueError(f"partition layer {layer}: block {i} is empty")
        if m.min() < 0 or m.max() >= n:
            raise ValueError(f"partition layer {layer}: block {i} names a unit outside 0..{n - 1}")
        repeated = np.r_[m[lab[m] >= 0], m[1:][np.diff(m) == 0]]
        if repeated.size:
            raise ValueError(f"partition layer {layer}: unit {int(repeated[0])} is in two blocks; "
                             "blocks must be disjoint")
        lab[m] = i
    if (lab < 0).any():
        raise ValueError(f"partition layer {layer}: unit {int(np.flatnonzero(lab < 0)[0])} is in no block; "
                         "blocks must cover the layer")
    return lab


def partition(G: nx.DiGraph, blocks: Iterable[Iterable[str]], allow_internal_edges: bool = False
              ) -> Partition:
    """Validate ``blocks`` of a DAG and complete them with singletons for the nodes they do not name.

    Raises ValueError (one line) for an empty block, an unknown node, a node in two blocks, an
    input/bias/output node in a block of size > 1, or an edge inside a block (unless
    ``allow_internal_edges``, used only by the negative control that shows why it is excluded).
    Blocks come out in topological order of their first member, members in topological order.
    """
    order = {v: k for k, v in enumerate(nx.topological_sort(G))}
    seen: dict[str, int] = {}
    named: list[tuple[str, ...]] = []
    for i, block in enumerate(blocks):
        block = tuple(block)
        if not block:
            raise ValueError(f"block {i} is empty; every block needs at least one unit")
        for v in block:
            if v not in G:
                raise ValueError(f"block {i} names {v!r}, which is not a node of the network")
            if v in seen:
                raise ValueError(f"node {v!r} is in blocks {seen[v]} and {i}; blocks must be disjoint")
            seen[v] = i
            if len(block) > 1 and G.nodes[v]["kind"] != "hidden":
                raise ValueError(f"{G.nodes[v]['kind']} node {v!r} is in a block of size {len(block)}; "
                                 "inputs, the bias node and outputs must be singletons")
        named.append(tuple(sorted(block, key=order.__getitem__)))
    if not allow_internal_edges:
        for block in named:
            inside = next(((u, v) for u in block for v in block if G.has_edge(u, v)), None)
            if inside:
                raise ValueError(f"edge {inside[0]}→{inside[1]} lies inside the block {list(block)}; "
                                 "no edge may join two units of one block")
    named += [(v,) for v in G if v not in seen]
    return Partition(tuple(sorted(named, key=lambda b: order[b[0]])))


def block_pairs(G: nx.DiGraph, P: Partition) -> dict[tuple[int, int], list[Edge]]:
    """The edges of every connected block pair (i, j), i.e. u ∈ S_i, v ∈ S_j, u → v."""
    pairs: dict[tuple[int, int], list[Edge]] = {}
    for u, v in sorted(G.edges):
        pairs.setdefault((P.block_of[u], P.block_of[v]), []).append((u, v))
    return pairs


def unequal_degree_pairs(G: nx.DiGraph, P: Partition) -> list[tuple[int, int]]:
    """Connected block pairs (i, j) that are not biregular: some receiver in S_j has a different
    number of in-edges from S_i than another, or some sender in S_i a different number of
    out-edges into S_j. Exactly for these pairs a block-constant direction leaves the
    equitable manifold."""
    bad = []
    for (i, j), edges in block_pairs(G, P).items():
        into = {v: 0 for v in P.blocks[j]}
        out = {u: 0 for u in P.blocks[i]}
        for u, v in edges:
            into[v] += 1
            out[u] += 1
        if len(set(into.values())) > 1 or len(set(out.values())) > 1:
            bad.append((i, j))
    return bad


def quotient(G: nx.DiGraph, P: Partition, weights: Mapping[Edge, Any] | None = None) -> nx.DiGraph:
    """The base network (module docstring): node i per block (attribute ``members``), an edge i → j
    when some u ∈ S_i feeds some v ∈ S_j, with ``weight`` W̃_ij = (1/|S_j|) Σ w(u, v) when ``weights``
    (numbers or SymPy expressions) are given. Built by ``networkx.quotient_graph``, independently of
    ``block_pairs``."""
    Q = nx.quotient_graph(G, [set(b) for b in P.blocks], relabel=False)
    B = nx.DiGraph()
    for S in Q:
        B.add_node(P.block_of[next(iter(S))], members=sorted(S))
    for S, T in Q.edges:
        i, j = P.block_of[next(iter(S))], P.block_of[next(iter(T))]
        # sorted: summing in set order would make the rounding depend on the process's hash seed
        w = None if weights is None else \
            sum(weights[(u, v)] for u in sorted(S) for v in sorted(T) if G.has_edge(u, v)) / len(T)
        B.add_edge(i, j, weight=w)
    return B


def quotient_network(network: Layered, P: Partition) -> Layered:
    """The base network of a layered network (``quotient`` of its DAG), as a layered network whose
    unit j of layer l is block j of that layer: W̃_l[j, i] = (1/|S_j|) Σ_{v ∈ S_j, u ∈ S_i} W_l[v, u],
    b̃_l[j] the mean bias of S_j."""
    if P.widths != tuple(network.widths):
        raise ValueError(f"the partition is of a network of widths {P.widths}, not {network.widths}")
    G, w = network.to_dag()
    B = quotient(G, P, w)
    k = P.block_counts()
    index = {}  # block id → (layer, label)
    for layer in range(len(k)):
        for v, lab in zip(network.nodes(layer), P.layer_labels(layer)):
            index[P.block_of[v]] = (layer, int(lab))
    Ws = [np.zeros((k[layer], k[layer - 1])) for layer in range(1, len(k))]
    bs = [np.zeros(k[layer]) for layer in range(1, len(k))]
    bias = P.block_of[BIAS]
    for i, j, value in B.edges(data="weight"):
        layer, row = index[j]
        if i == bias:
            bs[layer - 1][row] = value
        else:
            Ws[layer - 1][row, index[i][1]] = value
    return Layered(Ws, bs, network.activation)
