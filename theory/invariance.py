"""The prover — the project's one: is a quantity identically zero on an affine manifold of weights,
under a hypothesis?

A manifold M = {θ0 + Σ_k c_k t_k} (``manifolds.AffineManifold``, parametrized by its tangent
basis with symbolic c_k; the whole space by the weights themselves) is substituted into a quantity
of the network — the normal components n · ∇L(θ) of the gradient, the components of ∂L/∂θ_F, the
differences h(v) − h(v') of two units' activations, or of their backward signals δ — computed for a
generic loss ℓ, symbolic data and the network's own activations (generic functions,
``net.generic_function``, where the hypothesis allows). A hypothesis on the values the quantity
takes (``given``: e.g. f'_u(z_u(x_i)) = 0 on every sample, for a frozen unit) is substituted next.
Each component is brought to a canonical form by expansion, innermost function arguments first (two
values f(a), f(b) of one undefined f are equal as expressions exactly when a and b expand to the same
polynomial), and

- every component reduces to 0 → **proved**: the identity holds for every point of M, every loss,
  every data set and every activation with the stated sharing; the reduced components are
  returned so a reader can see it; a quantity with no component at all (a partition without a
  block of two units, a manifold without a normal direction) proves nothing and is
  **inconclusive**, never proved;
- some component does not reduce → the generic functions are replaced by concrete activations of
  the registry (distinct functions by distinct activations), ℓ by the squared error, and M, x, y by
  random rationals; a point where the component is non-zero (30 digits) is a **counterexample**.

The gradient is ``sympy.diff`` of the dataset loss (``net.forward`` and ``net.loss_of``), never
``net.backward`` (the recursion is what the cloned claims are about). For a loss that is a sum
over samples, one generic sample already proves the statement for every data set: each sample's
term is the same expression in its own symbols.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import mpmath
import networkx as nx
import sympy as sp

from theory import activations, net
from theory.manifolds import AffineManifold, Edge, Partition

Data = Sequence[Mapping[str, sp.Expr]]
Targets = Sequence[Sequence[sp.Expr]]
Quantity = Callable[[nx.DiGraph, Mapping[Edge, sp.Expr], Data, Targets, str], dict[str, sp.Expr]]
Hypothesis = Callable[[nx.DiGraph, Mapping[Edge, sp.Expr], Data], Mapping[sp.Expr, sp.Expr]]

CONCRETE = ("tanh", "sigmoid", "softplus", "silu")  # stand-ins for distinct generic functions
TOL = 1e-20  # at 30 significant digits, a value above this is not rounding


@dataclass
class Reduction:
    """One component of the quantity: as computed at θ(c), after the hypothesis (the same when there
    is none), and after canonical expansion (0 when the identity holds)."""

    label: str
    before: sp.Expr  # the component at θ(c), as computed
    after: sp.Expr  # with the hypothesis substituted
    expr: sp.Expr  # canonical form of ``after``: 0 when the identity holds


@dataclass
class Proof:
    """The outcome of ``prove``: every reduced component and, when one is non-zero, a concrete
    point where it is non-zero (or None when the search found none: inconclusive)."""

    manifold: str
    reductions: list[Reduction]
    counterexample: dict[str, Any] | None = None
    parameters: int = 0  # dimension of the manifold: the number of coordinates c_k
    samples: int = 1
    network: str = ""
    hypothesis: dict[sp.Expr, sp.Expr] = field(default_factory=dict)  # what ``given`` substituted

    @property
    def nonzero(self) -> list[Reduction]:
        return [r for r in self.reductions if r.expr != 0]

    @property
    def vacuous(self) -> bool:
        """No component to reduce: "every component is 0" would hold of nothing."""
        return not self.reductions

    @property
    def verdict(self) -> str:
        if self.vacuous:
            return "inconclusive"
        if not self.nonzero:
            return "proved"
        return "refuted" if self.counterexample else "inconclusive"


def canonical(expr: sp.Expr) -> sp.Expr:
    """Full expansion: SymPy expands the arguments of every function value and every ``Subs``
    point before the products around them, so equal arguments become equal atoms and cancel."""
    return sp.expand(expr)


# ---- quantities -------------------------------------------------------------------------------

def _at(expr: sp.Expr, at: Mapping[sp.Symbol, sp.Expr]) -> sp.Expr:
    # a derivative with respect to a weight symbol (a unit fed by a single edge) must become a Subs
    if any(set(d.variables) & set(at) for d in expr.atoms(sp.Derivative)):
        return expr.subs(at, simultaneous=True)
    return expr.xreplace(at)


def loss_gradient(G: nx.DiGraph, w: Mapping[Edge, sp.Expr], X: Data, Y: Targets, loss: str = "generic",
                  edges: Iterable[Edge] | None = None) -> dict[Edge, sp.Expr]:
    """∇L at the weights w (the components ``edges``, default all): ∂/∂w_e of
    L = Σ_i ℓ(ŷ(x_i), y_i) with fresh weight symbols, by ``sympy.diff``, then w substituted."""
    sym = net.weight_symbols(G)
    L, _ = net.dataset_loss(G, X, Y, sym, loss)
    at = {sym[e]: w[e] for e in sym}
    return {e: _at(sp.diff(L, sym[e]), at) for e in (sym if edges is None else edges)}


def normal_support(directions: AffineManifold) -> list[Edge]:
    """The edges some normal vector of ``directions`` involves: the only gradient components
    its normal projection needs."""
    return [e for k, e in enumerate(directions.edges) if any(n[k] for _, n in directions.normal)]


def combination(n: Sequence[sp.Expr], edges: Sequence[Edge], prefix: str = "∂L/∂") -> str:
    """``∂L/∂w(a,b) − ∂L/∂w(c,d)`` for the normal vector n: the component's name."""
    out = ""
    for a, e in zip(n, edges):
        if a:
            sign = " − " if a < 0 else " + "
            mag = "" if abs(a) == 1 else f"{abs(a)}·"
            out += f"{sign}{mag}{prefix}w({e[0]},{e[1]})"
    return out[3:] if out.startswith(" + ") else "−" + out[3:]


def normal_gradient(directions: AffineManifold) -> Quantity:
    """n · ∇L for every normal vector n of ``directions`` (a basis of the row space of its A):
    zero for all of them iff ∇L lies in its tangent space."""

    def quantity(G, w, X, Y, loss):
        g = loss_gradient(G, w, X, Y, loss, normal_support(directions))
        return {combination(n, directions.edges):
                sp.Add(*[n[k] * g[e] for k, e in enumerate(directions.edges) if n[k]])
                for _, n in directions.normal}

    return quantity


def _pairs(P: Partition) -> list[tuple[str, str]]:
    return [(a, b) for block in P.nontrivial for a, b in zip(block[:-1], block[1:])]


def forward_differences(P: Partition) -> Quantity:
    """z(v) − z(v') and h(v) − h(v') for consecutive members v, v' of every block, on every
    sample."""

    def quantity(G, w, X, Y, loss):
        out = {}
        for i, x in enumerate(X):
            z, h = net.forward(G, x, w)
            for a, b in _pairs(P):
                out[f"z({a}) − z({b}) at x^({i})"] = z[a] - z[b]
                out[f"h({a}) − h({b}) at x^({i})"] = h[a] - h[b]
        return out

    return quantity


def backward_signals(G: nx.DiGraph, x: Mapping[str, sp.Expr], y: Sequence[sp.Expr],
                     w: Mapping[Edge, sp.Expr], loss: str, nodes: Iterable[str]) -> dict[str, sp.Expr]:
    """δ(v) = ∂ℓ/∂h(v) for the given units on one sample, by differentiation rather than the paper's
    recursion: h(v) is perturbed to f_v(z(v)) + ε_v and ℓ differentiated in ε_v at 0."""
    phi = net.phi_of(G)
    eps = {v: sp.Symbol(f"ε[{v}]", real=True) for v in net.units(G)}
    zero = {e: 0 for e in eps.values()}
    ell, _ = net.dataset_loss(G, [x], [y], w, loss, phi=lambda v, z: phi(v, z) + eps[v])
    return {v: sp.diff(ell, eps[v]).subs(zero) for v in nodes}


def backward_differences(P: Partition) -> Quantity:
    """δ(v) − δ(v') for consecutive members of every block, on every sample (``backward_signals``)."""

    def quantity(G, w, X, Y, loss):
        out = {}
        for i, (x, y) in enumerate(zip(X, Y)):
            delta = backward_signals(G, x, y, w, loss, {v for a_b in _pairs(P) for v in a_b})
            out.update({f"δ({a}) − δ({b}) at x^({i})": delta[a] - delta[b] for a, b in _pairs(P)})
        return out

    return quantity


# ---- the prover -------------------------------------------------------------------------------

def prove(G: nx.DiGraph, manifold: AffineManifold, quantity: Quantity, *, n_samples: int = 1,
          loss: str = "generic", seed: int = 0, given: Hypothesis | None = None) -> Proof:
    """Substitute θ = θ0 + Σ c_k t_k (symbolic c_k; the weights themselves on the whole space) and
    symbolic data into ``quantity``, apply the hypothesis ``given(G, θ, X)`` (substitutions such as
    f'_u(z_u(x_i)) ↦ 0) to every component, reduce every component canonically; if one does not
    reduce to 0, look for a concrete point where it is non-zero (``counterexample``). A quantity with
    no component gives a vacuous, inconclusive proof (``Proof.vacuous``)."""
    if isinstance(n_samples, bool) or not isinstance(n_samples, int) or n_samples < 1:
        raise ValueError(f"n_samples must be a positive integer (got {n_samples!r}): a statement over "
                         "no sample is vacuous")
    if not isinstance(manifold, AffineManifold):
        raise TypeError(f"manifold must be a theory.manifolds.AffineManifold, not {type(manifold).__name__}")
    theta, cs = manifold.parametrize()
    X, Y = net.input_symbols(G, n_samples), net.target_symbols(G, n_samples)
    exprs = quantity(G, theta, X, Y, loss)
    hypothesis = dict(given(G, theta, X)) if given is not None else {}
    reductions = []
    for k, v in exprs.items():
        after = v.xreplace(hypothesis) if hypothesis else v
        reductions.append(Reduction(k, v, after, canonical(after)))
    proof = Proof(manifold.name, reductions, parameters=len(cs), samples=n_samples,
                  network=G.graph.get("spec", ""), hypothesis=hypothesis)
    if proof.nonzero:
        proof.counterexample = counterexample(G, theta, {r.label: r.after for r in proof.nonzero}, seed)
    return proof


def concrete_choice(G: nx.DiGraph) -> dict[str, str]:
    """Which registry activation stands in for each generic function of G (by function name):
    distinct functions get distinct activations (cycling through ``CONCRETE``)."""
    names = sorted({n for v in net.units(G) if (n := net.generic_name(G, v))})
    return {n: CONCRETE[k % len(CONCRETE)] for k, n in enumerate(names)}


def instantiate(expr: sp.Expr, G: nx.DiGraph, choice: Mapping[str, str]) -> sp.Expr:
    """expr with every generic f replaced by its stand-in activation (f' and higher derivatives by
    its derivatives) and the generic ℓ(ŷ, y) by the squared error ½‖ŷ − y‖² (∂_kℓ by ŷ_k − y_k, the
    second partials by its constant second derivatives). One bottom-up pass that rebuilds each
    distinct subexpression once (the expressions share subtrees heavily)."""
    table: dict[str, Callable[..., sp.Expr]] = {}
    for fname, act_name in choice.items():
        act = activations.get(act_name)
        table[fname], table[f"{fname}'"] = act, act.prime
        for k in (2, 3):
            dk = sp.diff(act.expr, activations.z, k)
            table[fname + "'" * k] = lambda arg, dk=dk: dk.subs(activations.z, arg)
    n = len(net.outputs(G))
    table["ell"] = lambda *a: sp.Add(*[(a[k] - a[n + k]) ** 2 for k in range(n)]) / 2
    for k in range(n):
        table[f"∂{k}ell"] = lambda *a, k=k: a[k] - a[n + k]
    for j in range(2 * n):  # ∂j∂kℓ of the squared error: ±1 where j ≡ k (mod n), else 0
        for k in range(j, 2 * n):
            value = sp.Integer(0 if j % n != k % n else (1 if (j < n) == (k < n) else -1))
            table[f"∂{j}∂{k}ell"] = lambda *a, value=value: value
    memo: dict[sp.Basic, sp.Basic] = {}

    def rebuild(e: sp.Basic) -> sp.Basic:
        if e not in memo:
            if not e.args:
                memo[e] = e
            else:
                args = [rebuild(a) for a in e.args]
                f = table.get(type(e).__name__) if isinstance(e, sp.Function) else None
                memo[e] = f(*args) if f else e.func(*args)
        return memo[e]

    return rebuild(expr)


def random_rational(rng: random.Random, bound: int = 2, positive: bool = False) -> sp.Rational:
    q = rng.randint(1, 4)
    p = rng.randint(1, bound * q) if positive else rng.randint(-bound * q, bound * q)
    return sp.Rational(p, q)


def counterexample(G: nx.DiGraph, theta: Mapping[Edge, sp.Expr], exprs: Mapping[str, sp.Expr],
                   seed: int, tries: int = 4) -> dict[str, Any] | None:
    """Random rationals for every symbol (the manifold coordinates c_k, the data x and targets t,
    any other parameter; positive ones for positive symbols), the generic functions replaced by
    concrete activations and the loss by the squared error (``instantiate``): the first point
    where some component is non-zero to 30 digits, or None if ``tries`` points all give 0."""
    rng = random.Random(seed)
    choice = concrete_choice(G)
    labels = list(exprs)
    concrete = [instantiate(exprs[k], G, choice) for k in labels]
    free = sorted(set().union(*[v.free_symbols for v in concrete],
                              *[sp.sympify(t).free_symbols for t in theta.values()]), key=str)
    evaluate = sp.lambdify(free, concrete, modules="mpmath", cse=True)
    best: tuple[float, dict, dict] | None = None
    for _ in range(tries):
        at = {s: random_rational(rng, positive=bool(s.is_positive)) for s in free}
        with mpmath.workdps(30):
            values = evaluate(*[mpmath.mpf(v.p) / v.q for v in at.values()])
        bad = {k: float(v) for k, v in zip(labels, values) if abs(v) > TOL}
        size = max(map(abs, bad.values()), default=0.0)
        if bad and (best is None or size > best[0]):
            best = (size, at, bad)
    if best is None:
        return None
    _, at, bad = best
    w = {e: sp.sympify(t).xreplace(at) for e, t in theta.items()}
    return {"network": G.graph.get("spec", ""), "activations": choice, "loss": "mse",
            "weights": {f"{u}->{v}": str(val) for (u, v), val in w.items()},
            "symbols": {str(s): str(v) for s, v in at.items() if not str(s).startswith("c")},
            "nonzero": bad}


def readable(G: nx.DiGraph, zs: Sequence[Mapping[str, sp.Expr]], keep: Sequence[str] = ()
             ) -> dict[sp.Expr, sp.Expr]:
    """For display: f_v(z_v(x_i)) ↦ f_v(z_v^(i)) and f_v'(z_v(x_i)) ↦ f_v'(z_v^(i)) for every unit v
    not in ``keep``, given the per-sample pre-activations ``zs``, so a component reads as the chain
    rule rather than as nested sums."""
    phi, dphi = net.phi_of(G), net.dphi_of(G)
    out: dict[sp.Expr, sp.Expr] = {}
    for i, z in enumerate(zs):
        for v in (v for v in net.units(G) if v not in keep):
            zi = sp.Symbol(f"z_{v}^({i})", real=True)
            out[phi(v, z[v])] = phi(v, zi)
            out[dphi(v, z[v])] = dphi(v, zi)
    return out


def at_free_weights(G: nx.DiGraph, quantity: Quantity, n_samples: int = 1, loss: str = "generic"
                    ) -> dict[str, sp.Expr]:
    """The quantity with unconstrained weight symbols w (off the manifold), written with
    ``readable``: what the manifold has to make vanish."""
    X, Y = net.input_symbols(G, n_samples), net.target_symbols(G, n_samples)
    w = net.weight_symbols(G)
    show = readable(G, [net.forward(G, x, w)[0] for x in X])
    return {k: v.xreplace(show) for k, v in quantity(G, w, X, Y, loss).items()}
