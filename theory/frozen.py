"""Frozen units (paper §4, Prop. 4.1 (1); App. A.1.2), symbolically.

A hidden unit u with pre-activation z_u = Σ_j w(j, u) h_j + b_u is *frozen* on a data set {x_i}
when f'_u(z_u(x_i)) = 0 for every i. Its incoming weights and bias θ_F then get the gradient

    ∂L/∂w(j, u) = Σ_i δ(u)(x_i) · f'_u(z_u(x_i)) · h_j(x_i) = 0,

so a gradient step does not move θ_F. ``frozen_gradient`` and ``frozen_hypothesis`` state this for
the prover (``invariance.prove``: generic activations and loss), ``exact_gradient`` evaluates it in
exact arithmetic at a planted point. Whether the unit *stays* frozen is a separate question: z_u(x_i)
also depends on the upstream h_j, which keep learning. It does whenever sup_x z_u lies in the flat
region for a reason that depends on θ_F alone: with upstream ranges h_i ∈ [l_i, u_i],
sup z = b + Σ_i max(w_i l_i, w_i u_i) (``box_sup``), compared with the end e of the flat region
(−∞, e] (``dead_edge``).
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence

import mpmath
import networkx as nx
import sympy as sp

from theory import activations, net
from theory.activations import z as Z
from theory.invariance import Data, Hypothesis, Quantity, Reduction, loss_gradient, readable

Edge = tuple[str, str]


def frozen_gradient(unit: str) -> Quantity:
    """The components ∂L/∂w(j, u) of θ_F, u = ``unit``, by ``sympy.diff`` of the dataset loss (never
    by the δ recursion, which is part of what is checked), labelled by their edge."""

    def quantity(G, w, X, Y, loss):
        edges = net.incoming(G, unit)
        g = loss_gradient(G, w, X, Y, loss, edges)
        return {f"∂L/∂w[{u}->{v}]": g[(u, v)] for u, v in edges}

    return quantity


def frozen_hypothesis(unit: str) -> Hypothesis:
    """f'_u(z_u(x_i)) ↦ 0 on every sample x_i of the data (the very atoms ``sympy.diff`` produces)."""

    def given(G, theta, X):
        dphi = net.dphi_of(G)
        return {dphi(unit, net.forward(G, x, theta)[0][unit]): sp.Integer(0) for x in X}

    return given


def nonzero_somewhere(expr: sp.Expr, rng: random.Random) -> bool:
    """True when expr is non-zero with every function value and symbol replaced by a random non-zero
    rational. These are independent quantities (f, f', ℓ, θ and x are arbitrary), so True shows expr
    is not identically zero."""
    atoms = expr.atoms(sp.Function) | expr.free_symbols
    value = expr.xreplace({a: sp.Rational(rng.choice((-1, 1)) * rng.randint(1, 97), rng.randint(1, 89))
                           for a in atoms})
    return bool(value.is_Rational and value != 0)


def live(reduction: Reduction, hypothesis: Mapping[sp.Expr, sp.Expr], rng: random.Random) -> bool:
    """Whether the hypothesis does the work: some coefficient of a substituted atom (f'_u(z_u(x_i))) in
    the component as computed is non-zero at a generic point, so its zero after the substitution is
    not vacuous."""
    marks = {a: sp.Dummy(f"d{i}") for i, a in enumerate(hypothesis)}
    marked = reduction.before.xreplace(marks)
    return any(nonzero_somewhere(sp.diff(marked, d), rng) for d in marks.values())


def exact_gradient(G: nx.DiGraph, weights: Mapping[Edge, sp.Rational], theta_f: Sequence[Edge],
                   data: Data, targets: Sequence[Sequence[sp.Expr]]) -> dict[Edge, sp.Rational]:
    """∂L/∂θ_F at ``weights``, in exact arithmetic: L = Σ_i ½‖ŷ(x_i) − y_i‖² with θ_F symbolic and every
    other weight at its rational value, differentiated by SymPy and evaluated at θ_F0.

    SymPy differentiates a Piecewise piece by piece under the same conditions, so evaluating
    d/dθ Piecewise at θ_F0 picks the derivative of the piece whose condition holds there. Each
    activation is therefore replaced by that piece before differentiating: the same number,
    without nesting Piecewise conditions through the network (which costs seconds per case)."""
    sym = net.weight_symbols(G)
    w = {e: sym[e] if e in theta_f else v for e, v in weights.items()}
    at = {sym[e]: weights[e] for e in theta_f}

    def piece_at_theta0(v: str, arg: sp.Expr) -> sp.Expr:
        a = activations.get(G.nodes[v]["activation"])
        value = arg.xreplace(at)
        return next(p for p, where in a.pieces if where.contains(value)).xreplace({Z: arg})

    L, _ = net.dataset_loss(G, data, targets, w, loss="mse", phi=piece_at_theta0)
    return {e: sp.diff(L, sym[e]).xreplace(at) for e in theta_f}


def box_sup(w: Iterable[float], ranges: Iterable[tuple[float, float]], b: float) -> float:
    """sup over the box Π_i [l_i, u_i] of Σ_i w_i h_i + b = b + Σ_i max(w_i l_i, w_i u_i), with
    0·∞ = 0 (a zero weight ignores an unbounded input)."""
    return b + sum(max(wi * lo, wi * hi) if wi != 0 else 0.0 for wi, (lo, hi) in zip(w, ranges))


def dead_edge(activation: str) -> float:
    """e such that (−∞, e] is the activation's flat region reaching −∞ (0 for ReLU, −1 hardtanh,
    −3 hardsigmoid, +∞ for the step). A unit frozen "from below" has every z_u(x) ≤ e."""
    flat = activations.get(activation).flat_set
    for part in (flat.args if isinstance(flat, sp.Union) else (flat,)):
        if isinstance(part, sp.Interval) and part.inf == -sp.oo:
            return float(part.sup)
    raise ValueError(f"activation {activation!r} has no flat region reaching −∞ (flat set {flat}); "
                     "it cannot be frozen from below")


def zero_weight_unit() -> tuple[bool, bool, sp.Expr]:
    """A unit u with incoming weights w = 0 and bias b has z_u(x_i) = b on every sample, so every
    f'_u(z_u(x_i)) is the one value f'_u(b) and ∂L/∂θ_F = f'_u(b)·C. Shown with a generic f_u in
    a 2-2-1 MLP (differentiate first, then set w = 0). Returns (z_u = b on every sample,
    ∂L/∂θ_F = 0 once f'_u(b) = 0, the bias component for display)."""
    G = net.mlp("2-2-1", activation="generic", output_activation="generic")
    w = net.weight_symbols(G)
    u, b = "h1.0", w[(net.BIAS, "h1.0")]
    off = {w[e]: 0 for e in net.incoming(G, u) if e[0] != net.BIAS}
    L, zs = net.dataset_loss(G, net.input_symbols(G, 2), net.target_symbols(G, 2), w)
    grads = [sp.diff(L, w[e]).xreplace(off) for e in net.incoming(G, u)]
    zs_off = [{v: e.xreplace(off) for v, e in z.items()} for z in zs]
    single = net.dphi_of(G)(u, b)
    return (all(z[u] == b for z in zs_off), all(g.xreplace({single: 0}) == 0 for g in grads),
            sp.factor_terms(grads[0].xreplace(readable(G, zs_off, keep=(u,)))))


def critical_root(a: activations.Activation) -> dict:
    """The first critical point c* of ``a`` refined to 40 digits, with a sign change of f' around it
    (so an exact root exists there)."""
    fprime = sp.lambdify(Z, a.derivative, "mpmath")
    with mpmath.workdps(40):
        root = mpmath.findroot(fprime, a.critical_points[0])
        residual = float(abs(fprime(root)))
        sign_change = bool(fprime(root - mpmath.mpf("1e-20")) * fprime(root + mpmath.mpf("1e-20")) < 0)
    return {"c_star": float(root), "residual_at_40_digits": residual, "sign_change": sign_change}
