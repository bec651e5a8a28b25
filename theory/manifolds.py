"""Affine manifolds of a network's edge weights, {θ ∈ R^E : A θ = b}: the frozen manifold and the
clone manifolds of a partition (``theory.partition``; paper §4, Prop. 4.1 (2); App. A.2, Prop. A.5).

Coordinates are the edges of the DAG in ``sorted(G.edges)`` order (the order of
``net.weight_symbols``); biases are edges from the constant node ``"1"``.

**Partitions.** Blocks S_1..S_k partition the nodes (``theory.partition.Partition``); inputs,
the bias node and outputs are singletons, and no edge joins two units of one block. Write w(u, v) for
the weight of u → v (0 where there is no edge) and s(u) for the block of u.

**Which index is summed.** If h is constant on every block (h(u) = h_i for u ∈ S_i), the forward
recursion z(v) = Σ_{u ∈ in(v)} w(u, v) h(u) reads

    z(v) = Σ_i h_i · Σ_{u ∈ S_i} w(u, v),

so z is constant on S_j as soon as the *sender-summed* weight Σ_{u ∈ S_i} w(u, v) (sum over the
senders u in the source block, receiver v fixed) is the same for every receiver v ∈ S_j:
**incoming-equitable**. If δ(u) f'(z(u)) is constant on every block, the backward recursion
δ(v) = Σ_{u ∈ out(v)} δ(u) w(v, u) f'(z(u)) reads

    δ(v) = Σ_j δ_j f'_j(z_j) · Σ_{u ∈ S_j} w(v, u),

so δ is constant on S_i as soon as the *receiver-summed* weight Σ_{u ∈ S_j} w(v, u) (sum over the
receivers in the target block, sender v fixed) is the same for every sender v ∈ S_i:
**outgoing-equitable**. With the weight matrix W[u, v] (rows = senders, columns = receivers),
incoming-equitable says every column of the block W[S_i, S_j] has the same sum and
outgoing-equitable says every row has the same sum; in torch's ``weight[out, in]`` layout the two
read the other way round. (The paper's "row-/column-equitable" labels are therefore layout-
dependent and its formulas sum the wrong index; the names here say which side is summed.) The
constraints are written for block pairs i ≠ j (the base network has no self-loops; "no edge inside
a block" is what makes that enough).

**Block-constant** directions T have T(u, v) = t_{s(u) s(v)} on every edge. M_D(w) = {w + T} for w
incoming- and outgoing-equitable; it lies inside the equitable manifold only if every connected
block pair is biregular (each receiver has the same number of in-edges from the source block and
each sender the same number of out-edges into the target block): see ``unequal_degree_pairs``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import mpmath
import networkx as nx
import sympy as sp
from sympy.polys.matrices import DomainMatrix

from theory import net
from theory.partition import Partition, block_pairs

Edge = tuple[str, str]
Row = tuple[tuple[int, int], ...]  # sparse constraint row: (edge index, integer coefficient)


# ---- affine manifolds -------------------------------------------------------------------------

@dataclass(frozen=True)
class AffineManifold:
    """{θ : A θ = b} over the coordinates ``edges``; A has integer entries (stored sparse, one
    readable ``label`` per row), b may be symbolic. ``base`` is a point of the manifold when one
    is known (the w of M_D(w)); otherwise ``point`` solves for one."""

    name: str
    edges: tuple[Edge, ...]
    rows: tuple[Row, ...]
    b: tuple[sp.Expr, ...]
    labels: tuple[str, ...]
    base: tuple[sp.Expr, ...] | None = field(default=None, compare=False)

    @cached_property
    def A(self) -> sp.Matrix:
        A = sp.zeros(len(self.rows), len(self.edges))
        for r, row in enumerate(self.rows):
            for k, a in row:
                A[r, k] = a
        return A

    @cached_property
    def _dm(self) -> DomainMatrix:
        return DomainMatrix.from_Matrix(self.A).convert_to(sp.QQ)

    @cached_property
    def rank(self) -> int:
        return self._dm.rank() if self.rows else 0

    @property
    def dimension(self) -> int:
        return len(self.edges) - self.rank

    @cached_property
    def tangent(self) -> list[sp.Matrix]:
        """A basis of {t : A t = 0} (reduced row echelon: sparse, small integers)."""
        if not self.rows:
            return [sp.eye(len(self.edges))[:, k] for k in range(len(self.edges))]
        N = self._dm.nullspace().to_Matrix()
        return [N[r, :].T for r in range(N.rows)]

    @cached_property
    def normal(self) -> list[tuple[str, sp.Matrix]]:
        """A basis of the normal space (the row space of A), chosen among the rows of A so every
        normal component keeps its readable label."""
        if not self.rows:
            return []
        _, pivots = self._dm.transpose().rref()
        return [(self.labels[r], self.A[r, :].T) for r in pivots]

    @cached_property
    def point(self) -> tuple[sp.Expr, ...]:
        if self.base is not None:
            return self.base
        if all(v == 0 for v in self.b):
            return tuple(sp.Integer(0) for _ in self.edges)
        sol, params = self.A.gauss_jordan_solve(sp.Matrix(self.b))
        return tuple(sol.xreplace({p: 0 for p in params}))

    def parametrize(self, prefix: str = "c") -> tuple[dict[Edge, sp.Expr], list[sp.Symbol]]:
        """θ = θ0 + Σ_k c_k t_k over the tangent basis, with real symbols c_k; on the whole space (no
        constraint) the coordinates are the weights themselves, w[u→v] (``net.weight_symbols``)."""
        if not self.rows and self.base is None and all(v == 0 for v in self.b):
            ws = [sp.Symbol(f"w[{u}→{v}]", real=True) for u, v in self.edges]
            return dict(zip(self.edges, ws)), ws
        cs = [sp.Symbol(f"{prefix}{k}", real=True) for k in range(len(self.tangent))]
        theta = {e: self.point[n] + sp.Add(*[c * t[n] for c, t in zip(cs, self.tangent) if t[n]])
                 for n, e in enumerate(self.edges)}
        return theta, cs

    def residual(self, theta: Mapping[Edge, Any]) -> list[Any]:
        """A θ − b, one entry per constraint row; works for SymPy, float and mpmath values."""
        out = []
        for row, b in zip(self.rows, self.b):
            r = sum(a * theta[self.edges[k]] for k, a in row)
            if not isinstance(r, sp.Basic):  # keep float / mpmath arithmetic in its own type
                b = mpmath.mpmathify(b) if isinstance(r, mpmath.mpf) else float(b)
            out.append(r - b)
        return out

    def contains(self, theta: Mapping[Edge, sp.Expr]) -> bool:
        """Exact membership: every residual expands to 0."""
        return all(sp.expand(r) == 0 for r in self.residual(theta))

    def intersect(self, other: AffineManifold, name: str | None = None) -> AffineManifold:
        if self.edges != other.edges:
            raise ValueError("manifolds over different edge lists cannot be intersected")
        return AffineManifold(name or f"{self.name} ∩ {other.name}", self.edges, self.rows + other.rows,
                              self.b + other.b, self.labels + other.labels)


def _w(e: Edge) -> str:
    return f"w({e[0]},{e[1]})"


def from_constraints(name: str, G: nx.DiGraph,
                     combos: Sequence[tuple[str, Mapping[Edge, int], sp.Expr]],
                     base: Sequence[sp.Expr] | None = None) -> AffineManifold:
    """{θ : Σ_e a_e θ_e = b for every (label, {e: a_e}, b) in ``combos``} over G's edges
    (integer a_e)."""
    edges = tuple(sorted(G.edges))
    index = {e: k for k, e in enumerate(edges)}
    rows = []
    for _, combo, _ in combos:
        rows.append(tuple(sorted((index[e], a) for e, a in combo.items() if a)))
    return AffineManifold(name, edges, tuple(rows), tuple(sp.sympify(b) for _, _, b in combos),
                          tuple(label for label, _, _ in combos),
                          None if base is None else tuple(base))


def _summed_edges(G: nx.DiGraph, a: str, summed: Sequence[str], direction: str) -> list[Edge]:
    """The edges from ``summed`` into a ('in'), or from a into ``summed`` ('out')."""
    pairs = ((s, a) for s in summed) if direction == "in" else ((a, s) for s in summed)
    return [e for e in pairs if G.has_edge(*e)]


def check_partition(G: nx.DiGraph, P: Partition) -> None:
    """TypeError unless P is a ``Partition``; ValueError unless its blocks cover exactly G's nodes."""
    if not isinstance(P, Partition):
        raise TypeError(f"expected a theory.partition.Partition (see partition.partition), not "
                        f"{type(P).__name__}")
    extra, missing = set(P.block_of) - set(G), set(G) - set(P.block_of)
    if extra or missing:
        what = (f"names {sorted(extra)[0]!r}, which is not a node of the network" if extra else
                f"does not cover node {sorted(missing)[0]!r}")
        raise ValueError(f"the partition {what}; build it with partition.partition(G, blocks)")


def _equitable_rows(G: nx.DiGraph, P: Partition, direction: str
                    ) -> list[tuple[str, dict[Edge, int], sp.Expr]]:
    """For every block pair i ≠ j and consecutive members a, a' of the block whose weights are
    compared (receivers for 'in', senders for 'out'): Σ(summed side) w − Σ w = 0."""
    check_partition(G, P)
    combos = []
    for i, Si in enumerate(P.blocks):
        for j, Sj in enumerate(P.blocks):
            if i == j:
                continue
            compared, summed = (Sj, Si) if direction == "in" else (Si, Sj)
            for a, a2 in zip(compared[:-1], compared[1:]):
                ea, ea2 = _summed_edges(G, a, summed, direction), _summed_edges(G, a2, summed, direction)
                if not ea and not ea2:
                    continue
                combo = {e: 1 for e in ea}
                combo.update({e: combo.get(e, 0) - 1 for e in ea2})
                lhs = " + ".join(map(_w, ea)) or "0"
                rhs = " + ".join(map(_w, ea2)) or "0"
                combos.append((f"{lhs} = {rhs}", combo, sp.Integer(0)))
    return combos


def incoming_equitable(G: nx.DiGraph, P: Partition) -> AffineManifold:
    """Σ_{u ∈ S_i} w(u, v) = Σ_{u ∈ S_i} w(u, v') for all v, v' ∈ S_j and block pairs i ≠ j:
    every receiver of a block gets the same sender-summed weight from each source block. This is
    what makes z, hence h (one activation per block), constant on blocks (cloned.forward)."""
    return from_constraints("incoming-equitable", G, _equitable_rows(G, P, "in"))


def outgoing_equitable(G: nx.DiGraph, P: Partition) -> AffineManifold:
    """Σ_{v ∈ S_j} w(u, v) = Σ_{v ∈ S_j} w(u', v) for all u, u' ∈ S_i and block pairs i ≠ j:
    every sender of a block sends the same receiver-summed weight into each target block. With
    incoming-equitability this makes δ constant on blocks (cloned.backward)."""
    return from_constraints("outgoing-equitable", G, _equitable_rows(G, P, "out"))


def equitable(G: nx.DiGraph, P: Partition) -> AffineManifold:
    """Incoming- and outgoing-equitable."""
    return incoming_equitable(G, P).intersect(outgoing_equitable(G, P), "equitable (in ∩ out)")


def block_constant(G: nx.DiGraph, P: Partition) -> AffineManifold:
    """The linear space of block-constant weights: w(u, v) = w(u', v') whenever s(u) = s(u') and
    s(v) = s(v'). One free value per connected block pair."""
    check_partition(G, P)
    combos = []
    for edges in block_pairs(G, P).values():
        combos += [(f"{_w(e)} = {_w(edges[0])}", {e: 1, edges[0]: -1}, sp.Integer(0))
                   for e in edges[1:]]
    return from_constraints("block-constant", G, combos)


def clone_manifold(G: nx.DiGraph, P: Partition, w: Mapping[Edge, sp.Expr]) -> AffineManifold:
    """M_D(w) = {w + T : T block-constant}, for w incoming- and outgoing-equitable (checked
    exactly; ``w`` may be symbolic, e.g. a parametrized point of ``equitable``). Its constraints
    are those of the block-constant space with right-hand side A w; its dimension is the number
    of connected block pairs."""
    if not equitable(G, P).contains(w):
        raise ValueError("M_D(w) needs w incoming- and outgoing-equitable; this w is not")
    bc = block_constant(G, P)
    b = [sp.expand(r) for r in bc.residual(w)]
    return AffineManifold("M_D(w)", bc.edges, bc.rows, tuple(b), bc.labels,
                          tuple(sp.sympify(w[e]) for e in bc.edges))


def frozen(G: nx.DiGraph, units: Iterable[str], values: Mapping[Edge, sp.Expr]) -> AffineManifold:
    """M_F = {θ : θ_F = c}, θ_F the incoming weights and bias of the given units, c = ``values``.

    The units must be hidden or output units of G (at least one; an input or the bias node has no
    incoming weights, so "frozen" would constrain nothing and every statement on M_F would hold of the
    whole space), and ``values`` must give every weight of θ_F; ValueError naming the unit or weight."""
    if isinstance(units, str):
        raise TypeError(f"units must be a collection of unit names, not the string {units!r} "
                        f"(write [{units!r}])")
    units = list(units)
    if not units:
        raise ValueError("frozen needs at least one unit: M_F of no unit is the whole space")
    for u in units:
        if u not in G:
            raise ValueError(f"frozen unit {u!r} is not a node of the network (units: "
                             f"{', '.join(net.units(G))})")
        if G.nodes[u]["kind"] not in ("hidden", "output"):
            raise ValueError(f"frozen unit {u!r} is an {G.nodes[u]['kind']} node, which has no incoming "
                             f"weights (units: {', '.join(net.units(G))})")
    missing = [e for u in units for e in net.incoming(G, u) if e not in values]
    if missing:
        raise ValueError(f"values has no weight for {_w(missing[0])} (θ_F is every edge into the frozen "
                         f"units: {', '.join(_w(e) for u in units for e in net.incoming(G, u))})")
    combos = [(f"{_w(e)} = {values[e]}", {e: 1}, values[e]) for u in units for e in net.incoming(G, u)]
    return from_constraints("frozen", G, combos)
