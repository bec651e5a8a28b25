"""Rank recovery by activations (paper §3, App. A.1): the checks of the claims ``rank.*``.

Pre-activations X ∈ R^{n×d} have i.i.d. rows N(0, C) with unit diagonal; after an activation f the
(uncentred, as the paper writes it) second-moment matrix is C_f = E f(X)ᵀ f(X) / n. Entrywise
C_f[i, j] = k(C_ij) with the *dual kernel*

    k(ρ) = E f(X) f(Y),   (X, Y) standard Gaussian with corr(X, Y) = ρ.

Everything below follows from one expansion. With the normalised probabilists' Hermite polynomials
h_k = He_k / √k! and a_k = E f(z) h_k(z), z ~ N(0, 1), Mehler's formula gives

    k(ρ) = Σ_k a_k² ρ^k,        so   C_f = Σ_k a_k² C^{∘k}   (Hadamard powers; the paper's
                                                               "a_k" is a_k²),
- E f² = k(1) = Σ a_k²  and  E f'² = k'(1) = Σ k a_k²  (h_k' = √k h_{k−1}; Price's theorem);
- rank: every C^{∘k} is PSD (Schur), so C_f ⪰ Σ_{k≤K} a_k² C^{∘k} for every K: a positive
  smallest eigenvalue of a partial sum *certifies* that C_f is positive definite;
- correlation: 1 − k(1 − ε)/k(1) = ε k'(1)/k(1) + o(ε) = (α_f + 1) ε with α_f = E f'²/E f² − 1,
  as long as k'(1) < ∞, i.e. f is in the Gaussian Sobolev space H¹ (continuous, f' ∈ L²).

Where the numbers come from:
- exact Gaussian integrals when every piece of the integrand is a sum of c·z^k·exp(b z)
  (``gaussian_integral``: ReLU, ReLU6, hardtanh, hard-sigmoid, step, ELU, SELU, leaky ReLU,
  identity; SymPy's own ``integrate`` is not used: it returns a wrong E f'² for GELU);
- the arc-cosine closed form of k (Cho & Saul 2009, degrees 0 and 1) for piecewise-linear f whose
  only kink is at 0 (ReLU, leaky ReLU, step, identity), and the finite Mehler sum for polynomials;
- elsewhere composite Gauss–Legendre quadrature on |z| ≤ 10 (Gaussian mass outside 1.5e-23), with
  panels of width 0.5 in z and in the activation's own argument, split at every kink; the error is
  estimated as the change when the rule is halved (12 → 6 nodes per panel).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from math import comb

import mpmath
import numpy as np
import sympy as sp
import torch
from matplotlib import ticker
from scipy.optimize import brentq
from scipy.special import ndtr

from numerics.train import one_thread
from reports import figures
from theory import activations
from theory.activations import Activation, z
from theory.evidence import Config, Evidence

HARD, ALPHA, LEMMA, EFFECTIVE, COROLLARY, VALIDATION = (
    "rank.hard", "rank.alpha", "rank.lemma", "rank.effective", "rank.corollary", "rank.validation")

L = 10.0        # quadrature range |z| ≤ L
L2 = 8.0        # range of each variable in the 2-D kernel quadrature
PANEL = 0.5     # panel width, in z and in the activation's argument x
XFEAT = 20.0    # the activations' own features (kinks, bends) lie in |x| ≤ XFEAT
NODES = 12      # Gauss–Legendre nodes per panel (1e-15 on the registry already at 8)
KMEHLER = 200   # Hermite terms in the Mehler partial sums
TAU = 1e-4      # frozen: |f'| < TAU (paper App. A.1.3)
RHO = sp.Symbol("rho", real=True)
EPS = sp.Symbol("epsilon", positive=True)

#: The paper's stated rank-recovery strengths (App. A.1.3, validation 2 caption).
PAPER_ALPHA = {"relu": 0.5, "tanh": 0.6667, "gelu": 0.5449}


# ---- functions of z --------------------------------------------------------------------------------

def adhoc(name: str, expr: sp.Expr) -> Activation:
    """A function of z that is *not* a registry activation (a polynomial control, a counterexample),
    wrapped so the machinery below treats it like one; its torch face is lambdified from ``expr``."""
    return Activation(name, sp.sympify(expr), sp.lambdify(z, expr, "torch"), "not in the registry")


@functools.cache
def numeric(expr: sp.Expr) -> Callable[[np.ndarray], np.ndarray]:
    """``expr`` as a vectorised float64 function of z (overflow in an unused Piecewise branch is
    harmless: np.select discards it)."""
    fn = sp.lambdify(z, expr, modules=["numpy", "scipy"])

    def call(x: np.ndarray) -> np.ndarray:
        with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
            return np.array(np.broadcast_to(fn(x), np.shape(x)), dtype=float)
    return call


def kinks(f: Activation) -> list[float]:
    """The finite ends of f's analytic pieces (where f or f' may jump)."""
    ends = {e for _, where in f.pieces for e in (where.inf, where.sup) if e.is_finite}
    return sorted(float(e) for e in ends)


def jumps(f: Activation) -> list[tuple[float, sp.Expr]]:
    """(point p, f(p+) − f(p−)) wherever f is discontinuous. Each piece is analytic, so its one-sided
    limit at an end is its value there."""
    pieces = sorted(f.pieces, key=lambda pw: float(pw[1].inf))
    out = []
    for (left, lw), (right, _) in zip(pieces, pieces[1:]):
        gap = sp.nsimplify(sp.simplify(right.subs(z, lw.sup) - left.subs(z, lw.sup)))
        if gap != 0:
            out.append((float(lw.sup), gap))
    return out


def is_polynomial(f: Activation) -> bool:
    return not isinstance(f.expr, sp.Piecewise) and bool(f.expr.is_polynomial(z))


# ---- exact Gaussian integrals ---------------------------------------------------------------------

def _Phi(x: sp.Expr) -> sp.Expr:
    """The normal cdf, through erfc so that upper tails Φ(∞) − Φ(c) = erfc(c/√2)/2 do not cancel."""
    return sp.S.One if x is sp.oo else sp.S.Zero if x is -sp.oo else sp.erfc(-x / sp.sqrt(2)) / 2


def _xk_phi(x: sp.Expr, k: int) -> sp.Expr:
    """x^k φ(x), 0 at ±∞."""
    return sp.S.Zero if x.is_infinite else x**k * sp.exp(-x**2 / 2) / sp.sqrt(2 * sp.pi)


def _normal_moments(kmax: int, lo: sp.Expr, hi: sp.Expr) -> list[sp.Expr]:
    """M_j = ∫_lo^hi u^j φ(u) du for j ≤ kmax, by uφ = −φ':
    M_0 = Φ(hi) − Φ(lo),  M_1 = φ(lo) − φ(hi),  M_j = lo^{j−1}φ(lo) − hi^{j−1}φ(hi) + (j − 1) M_{j−2}."""
    M = [_Phi(hi) - _Phi(lo), _xk_phi(lo, 0) - _xk_phi(hi, 0)]
    for j in range(2, kmax + 1):
        M.append(_xk_phi(lo, j - 1) - _xk_phi(hi, j - 1) + (j - 1) * M[j - 2])
    return M[:kmax + 1]


def _elementary_terms(expr: sp.Expr) -> list[tuple[sp.Expr, int, sp.Expr]] | None:
    """expr as Σ c · z^k · exp(b z) (c, b free of z), or None when it is not of that form."""
    out = []
    for term in sp.Add.make_args(sp.expand(sp.powsimp(sp.expand(expr), combine="exp"))):
        c, k, b = sp.S.One, 0, sp.S.Zero
        for fac in sp.Mul.make_args(term):
            base, e = fac.as_base_exp()
            if not fac.has(z):
                c *= fac
            elif base == z and e.is_Integer and e > 0:
                k += int(e)
            elif isinstance(fac, sp.exp) and fac.args[0].is_polynomial(z) \
                    and sp.degree(fac.args[0], z) <= 1:
                slope = fac.args[0].coeff(z, 1)
                b += slope
                c *= sp.exp(sp.expand(fac.args[0] - slope * z))
            else:
                return None
        out.append((c, k, b))
    return out


def gaussian_integral(expr: sp.Expr, lo: sp.Expr = -sp.oo, hi: sp.Expr = sp.oo) -> sp.Expr | None:
    """∫_lo^hi expr(z) φ(z) dz exactly when expr = Σ c z^k e^{bz}, else None. Completing the square,
    e^{bz} φ(z) = e^{b²/2} φ(z − b), so each term is c e^{b²/2} Σ_j C(k, j) b^{k−j} M_j(lo − b, hi − b)."""
    terms = _elementary_terms(expr)
    if terms is None:
        return None
    lo, hi = sp.sympify(lo), sp.sympify(hi)
    total = sp.S.Zero
    for c, k, b in terms:  # an infinite end stays infinite under a (possibly complex) finite shift
        M = _normal_moments(k, lo - b if lo.is_finite else lo, hi - b if hi.is_finite else hi)
        total += c * sp.exp(b**2 / 2) * sum(comb(k, j) * b**(k - j) * M[j] for j in range(k + 1))
    return total


def exact_expectation(f: Activation, transform: Callable[[sp.Expr], sp.Expr]) -> sp.Expr | None:
    """E transform(f)(z) summed exactly over f's pieces, or None when some piece is not elementary.
    ``transform`` maps a piece's expression (in z) to the integrand on that piece."""
    total = sp.S.Zero
    for piece, where in f.pieces:
        part = gaussian_integral(transform(piece), where.inf, where.sup)
        if part is None:
            return None
        total += part
    return total


def _float(x: sp.Expr) -> float:
    return float(sp.N(x, 30))


def _is_zero(x: sp.Expr) -> bool:
    """x == 0 symbolically: expansion first (enough for sums of rational multiples of π powers and
    radicals), simplification only when that is not conclusive."""
    return sp.expand(x) == 0 or sp.simplify(x) == 0


# ---- quadrature -----------------------------------------------------------------------------------

@functools.cache
def _legendre(nodes: int) -> tuple[np.ndarray, np.ndarray]:
    return np.polynomial.legendre.leggauss(nodes)


def _composite(edges: np.ndarray, nodes: int) -> tuple[np.ndarray, np.ndarray]:
    """Gauss–Legendre nodes and weights on the panels between consecutive sorted ``edges`` (last
    axis; zero-width panels get zero weight)."""
    t, w = _legendre(nodes)
    half = np.diff(edges, axis=-1)[..., None] / 2
    mid = (edges[..., 1:, None] + edges[..., :-1, None]) / 2
    shape = edges.shape[:-1] + (-1,)
    return (mid + half * t).reshape(shape), (half * w).reshape(shape)


def _phi(x: np.ndarray) -> np.ndarray:
    return np.exp(-x**2 / 2) / math.sqrt(2 * math.pi)


def _grid(lo: float, hi: float, width: float = PANEL) -> np.ndarray:
    return np.linspace(lo, hi, int(round((hi - lo) / width)) + 1)


def gauss_rule(breaks: Sequence[float] = (), loc=0.0, scale=1.0, nodes: int = NODES,
               width: float = PANEL) -> tuple[np.ndarray, np.ndarray]:
    """Nodes z and weights w (φ included) with Σ w g(scale·z + loc) ≈ E g(scale·z + loc), z ~ N(0, 1),
    broadcast over ``loc`` and ``scale`` (leading axes). Panels have width ≤ ``width`` in z and in
    x = scale·z + loc on |x| ≤ XFEAT, and break at the given x-points (kinks)."""
    loc, scale = np.broadcast_arrays(np.asarray(loc, float), np.asarray(scale, float))
    zgrid = _grid(-L, L, width)
    xpts = np.concatenate([_grid(-XFEAT, XFEAT, width), np.asarray(breaks, float)])
    zx = np.clip((xpts - loc[..., None]) / scale[..., None], -L, L)
    edges = np.sort(np.concatenate([np.broadcast_to(zgrid, loc.shape + zgrid.shape), zx], axis=-1), axis=-1)
    zz, ww = _composite(edges, nodes)
    return zz, ww * _phi(zz)


def gauss(g: Callable[[np.ndarray], np.ndarray], breaks: Sequence[float] = (), loc=0.0, scale=1.0,
          nodes: int = NODES) -> np.ndarray:
    """E g(scale·z + loc) for z ~ N(0, 1) (see ``gauss_rule``)."""
    zz, ww = gauss_rule(breaks, loc, scale, nodes)
    scale_, loc_ = np.asarray(scale, float)[..., None], np.asarray(loc, float)[..., None]
    return np.sum(ww * g(scale_ * zz + loc_), axis=-1)


def gauss_with_error(g: Callable[[np.ndarray], np.ndarray], breaks: Sequence[float] = (), loc=0.0,
                     scale=1.0) -> tuple[np.ndarray, np.ndarray]:
    """(E g, error estimate |Q_12 − Q_6|): a pessimistic bound on the 12-node rule's error."""
    fine = gauss(g, breaks, loc, scale, NODES)
    return fine, np.abs(fine - gauss(g, breaks, loc, scale, NODES // 2))


# ---- Gaussian moments and α ------------------------------------------------------------------------

@dataclass(frozen=True)
class Moments:
    """Gaussian moments of f, z ~ N(0, 1). ``slope`` = E f'² for the weak derivative: +∞ when f jumps
    (f ∉ H¹); ``a1`` = E z f(z) = E f' (Stein's lemma, jumps included). Values are exact where
    ``exact`` has the key, otherwise quadrature with absolute error ≤ ``error``."""

    name: str
    mean: float
    second: float
    slope: float
    a1: float
    error: float
    exact: dict[str, sp.Expr] = field(default_factory=dict)

    @property
    def variance(self) -> float:
        return self.second - self.mean**2

    @property
    def alpha(self) -> float:
        """The paper's α_f = E f'² / E f² − 1."""
        return self.slope / self.second - 1

    @property
    def alpha_centred(self) -> float:
        """E f'² / Var f − 1: the same ratio for the centred kernel."""
        return self.slope / self.variance - 1


_TRANSFORMS: dict[str, Callable[[sp.Expr], sp.Expr]] = {
    "mean": lambda p: p, "second": lambda p: p**2, "slope": lambda p: sp.diff(p, z)**2, "a1": lambda p: z * p,
}


@functools.cache
def moments(f: Activation) -> Moments:
    """E f, E f², E f'², E z f: exactly for elementary pieces, by quadrature always (the two must agree
    to 1e-10, or this raises: a wrong closed form is a bug, not a result)."""
    br = kinks(f)
    fn, dfn = numeric(f.expr), numeric(f.derivative)
    integrands = {"mean": fn, "second": lambda x: fn(x)**2, "slope": lambda x: dfn(x)**2,
                  "a1": lambda x: x * fn(x)}
    values, error, exact = {}, 0.0, {}
    for key, g in integrands.items():
        value, err = gauss_with_error(g, br)
        values[key], error = float(value), max(error, float(err))
        closed = exact_expectation(f, _TRANSFORMS[key])
        if closed is not None:
            exact[key] = closed
            if abs(_float(closed) - values[key]) > 1e-10 * max(1.0, abs(values[key])) and not (
                    key == "slope" and jumps(f)):
                raise ArithmeticError(f"{f.name}: closed-form E[{key}] {_float(closed)} disagrees with "
                                      f"quadrature {values[key]}")
            values[key] = _float(closed)
    if jumps(f):  # a jump puts a delta in f': E f'² = ∞ (the a.e. derivative would give a wrong finite value)
        values["slope"], exact["slope"] = math.inf, sp.oo
    return Moments(f.name, values["mean"], values["second"], values["slope"], values["a1"], error, exact)


def alpha_exact(f: Activation) -> sp.Expr | None:
    """α_f as a closed form, when E f² and E f'² have one."""
    m = moments(f)
    if "second" in m.exact and "slope" in m.exact:
        return m.exact["slope"] / m.exact["second"] - 1
    return None


def gelu_alpha_closed_form() -> sp.Expr:
    """α_GELU = 1/(3 + 2√3 π), by Stein's lemma (derived by hand, checked against quadrature in
    ``alpha``): with Φ, φ the normal cdf and pdf, E Φ(z)² = 1/3, E z Φ φ = E φ²/2 = 1/(4√3 π) and
    E z²φ² = 1/(6√3 π), so E gelu² = E z²Φ² = 1/3 + 1/(2√3 π) and
    E gelu'² = E (Φ + zφ)² = 1/3 + 2/(3√3 π)."""
    r3pi = sp.sqrt(3) * sp.pi
    return (sp.Rational(1, 3) + 2 / (3 * r3pi)) / (sp.Rational(1, 3) + 1 / (2 * r3pi)) - 1


#: Candidate definitions of the rank-recovery strength, each from the moments.
DEFINITIONS: dict[str, tuple[str, Callable[[Moments], float]]] = {
    "uncentred": ("E f'²/E f² − 1 (the paper's formula)", lambda m: m.alpha),
    "centred": ("E f'²/Var f − 1", lambda m: m.alpha_centred),
    "ratio": ("E f'²/E f² (without the − 1)", lambda m: m.slope / m.second),
    "nonlinear_share": ("1 − a_1²/E f² (energy outside the linear Hermite term)",
                        lambda m: 1 - m.a1**2 / m.second),
    "nonlinear_share_centred": ("1 − a_1²/Var f", lambda m: 1 - m.a1**2 / m.variance),
    "derivative_dispersion": ("Var f'/E f'² = 1 − (E f')²/E f'²", lambda m: 1 - m.a1**2 / m.slope),
}


def input_variance_for(f: Activation, target: float) -> float | None:
    """σ² with E f'(σz)²/E f(σz)² − 1 = target (f' evaluated at the input, no chain-rule factor: the
    uncentred definition at pre-activation variance σ² ≠ 1), or None if none in [0.01, 25]."""
    fn, dfn = numeric(f.expr), numeric(f.derivative)
    sig = np.geomspace(0.1, 5.0, 200)
    ratio = gauss(lambda x: dfn(x)**2, kinks(f), scale=sig) / gauss(lambda x: fn(x)**2, kinks(f), scale=sig)
    h = ratio - 1 - target
    i = np.flatnonzero(np.sign(h[:-1]) != np.sign(h[1:]))
    if not len(i):
        return None

    def at(s: float) -> float:
        slope, second = (gauss(g, kinks(f), scale=s) for g in (lambda x: dfn(x)**2, lambda x: fn(x)**2))
        return float(slope / second - 1 - target)
    return brentq(at, sig[i[0]], sig[i[0] + 1], xtol=1e-12) ** 2


# ---- Hermite coefficients -------------------------------------------------------------------------

def hermite(f: Activation, K: int = KMEHLER) -> np.ndarray:
    """a_k = E f(z) h_k(z) for k ≤ K by quadrature (h_k by the stable recurrence
    h_{k+1} = (z h_k − √k h_{k−1})/√(k+1)); truncation to |z| ≤ L costs at most ‖f 1_{|z|>L}‖ per
    coefficient (Cauchy–Schwarz)."""
    zz, ww = gauss_rule(kinks(f), width=PANEL / 2)
    fw = ww * numeric(f.expr)(zz)
    a = np.empty(K + 1)
    h_prev, h = np.zeros_like(zz), np.ones_like(zz)
    for k in range(K + 1):
        a[k] = fw @ h
        h_prev, h = h, (zz * h - math.sqrt(k) * h_prev) / math.sqrt(k + 1)
    return a


def hermite_exact(f: Activation, K: int) -> list[sp.Expr] | None:
    """a_k = E f He_k / √k! exactly for k ≤ K (elementary pieces only)."""
    out = []
    for k in range(K + 1):
        he = sp.hermite_prob(k, z)
        a = exact_expectation(f, lambda p, he=he: p * he)
        if a is None:
            return None
        out.append(sp.expand(a / sp.sqrt(sp.factorial(k))))
    return out


# ---- the dual kernel ------------------------------------------------------------------------------

def _arccos_kernels() -> dict[str, sp.Expr]:
    """E u(X) v(Y) for u, v ∈ {relu, step, id, 1} and corr(X, Y) = ρ (arc-cosine kernels of degree
    1 and 0, and their cross terms; E relu = φ(0) = 1/√(2π), E step = 1/2)."""
    p0 = 1 / sp.sqrt(2 * sp.pi)
    rr = (sp.sqrt(1 - RHO**2) + (sp.pi - sp.acos(RHO)) * RHO) / (2 * sp.pi)
    ss = (sp.pi - sp.acos(RHO)) / (2 * sp.pi)
    rs = p0 * (1 + RHO) / 2
    return {"rr": rr, "ss": ss, "rs": rs, "ri": RHO / 2, "si": p0 * RHO, "ii": RHO, "r1": p0,
            "s1": sp.Rational(1, 2), "i1": sp.S.Zero, "11": sp.S.One}


@functools.cache
def kernel_exact(f: Activation) -> sp.Expr | None:
    """k(ρ) in closed form, or None: the finite Mehler sum Σ a_k² ρ^k for a polynomial f; for f linear
    on each side of its only kink at 0, f = A relu + B z + C step + D and k is the bilinear
    combination of the arc-cosine kernels."""
    if is_polynomial(f):
        deg = sp.degree(f.expr, z)
        return sp.expand(sum(a**2 * RHO**k for k, a in enumerate(hermite_exact(f, deg))))
    pieces = sorted(f.pieces, key=lambda pw: float(pw[1].inf))
    if len(pieces) != 2 or pieces[0][1].sup != 0 or not all(
            p.is_polynomial(z) and sp.degree(p, z) <= 1 for p, _ in pieces):
        return None
    (left, _), (right, _) = pieces
    v, c0, u, c1 = left.coeff(z, 1), left.coeff(z, 0), right.coeff(z, 1), right.coeff(z, 0)
    coef = {"r": u - v, "i": v, "s": c1 - c0, "1": c0}
    K = _arccos_kernels()
    order = "rsi1"
    total = sp.S.Zero
    for i, p in enumerate(order):
        for q in order[i:]:
            total += (1 if p == q else 2) * coef[p] * coef[q] * K[p + q]
    return sp.expand(total)


@functools.cache
def _gap_exact(f: Activation) -> Callable | None:
    k = kernel_exact(f)
    if k is None:
        return None
    return sp.lambdify(RHO, k.subs(RHO, 1) - k, "mpmath")


def _gap_quadrature(f: Activation, rho: float, nodes: int = NODES) -> float:
    """k(1) − k(ρ) = ½ E (f(X) − f(Y))², with X = aU + bV, Y = aU − bV, a = √((1+ρ)/2),
    b = √((1−ρ)/2), U, V independent N(0, 1): no cancellation however close ρ is to 1. V ≥ 0 by
    symmetry; U-panels break where aU ± bV hits a kink, V-panels where two such lines cross. The
    window |U|, |V| ≤ L2 = 8 drops a relative ~1e-13 of the gap (its integrand is ~ b²V² f'(aU)²)."""
    a, b = math.sqrt((1 + rho) / 2), math.sqrt((1 - rho) / 2)
    kk = np.asarray(kinks(f), float)
    fn = numeric(f.expr)
    vb = (kk[:, None] - kk[None, :]).ravel() / (2 * b)
    v, wv = _composite(np.sort(np.concatenate([_grid(0.0, L2), np.clip(vb, 0.0, L2)])), nodes)
    wv = wv * _phi(v)
    zgrid = _grid(-L2, L2)
    if a > 0 and len(kk):
        ku = np.concatenate([(kk - b * v[:, None]) / a, (kk + b * v[:, None]) / a], axis=1)
        grid = np.broadcast_to(zgrid, (len(v), len(zgrid)))
        uedges = np.sort(np.concatenate([grid, np.clip(ku, -L2, L2)], axis=1), axis=1)
    else:  # the same u-panels for every v
        uedges = zgrid[None, :]
    u, wu = _composite(uedges, nodes)
    diff = fn(a * u + b * v[:, None]) - fn(a * u - b * v[:, None])
    return float(np.sum(wv[:, None] * (wu * _phi(u)) * diff**2))


@functools.cache
def kernel_gap(f: Activation, rho: float) -> tuple[float, float]:
    """(k(1) − k(ρ), error): the closed form at 40 digits when there is one, else quadrature with
    error |Q_12 − Q_6|."""
    if rho >= 1.0:
        return 0.0, 0.0
    exact = _gap_exact(f)
    if exact is not None:
        with mpmath.workdps(40):
            return float(exact(mpmath.mpf(rho))), 0.0
    fine = _gap_quadrature(f, rho)
    return fine, abs(fine - _gap_quadrature(f, rho, NODES // 2))


def decorrelation(f: Activation, eps: float) -> dict[str, float]:
    """1 − corr(f(X), f(Y)) for corr(X, Y) = ρ = fl(1 − ε): uncentred 1 − k(ρ)/k(1) and centred
    1 − (k(ρ) − μ²)/(k(1) − μ²), both = gap / (E f² or Var f); ``error`` bounds the uncentred one.
    Callers divide by the ε that ρ really encodes, ``represented(ε)`` = 1 − fl(1 − ε)."""
    m = moments(f)
    gap, err = kernel_gap(f, 1.0 - eps)
    return {"uncentred": gap / m.second, "centred": gap / m.variance, "error": (err + m.error) / m.second}


def represented(eps: np.ndarray) -> np.ndarray:
    """1 − fl(1 − ε): the ε that the float correlation 1 − ε stands for (exact by Sterbenz' lemma)."""
    return 1.0 - (1.0 - np.asarray(eps, float))


def kernel_matrix(f: Activation, C: np.ndarray, K: int = KMEHLER,
                  cut: float = 0.98) -> tuple[np.ndarray, np.ndarray, float]:
    """(C_f, S_K, error): C_f[i, j] = k(C_ij) and the Mehler partial sum S_K = Σ_{k≤K} a_k² C^{∘k},
    a PSD lower bound of C_f (the tail is a sum of PSD Hadamard powers). C_f is exact for closed-form
    kernels; otherwise S_K plus, for |C_ij| > ``cut``, the quadrature value; ``error`` bounds the
    entrywise error (tail |ρ|^{K+1} (E f² − Σ a_k²) or the quadrature estimate)."""
    a2 = hermite(f, K)**2
    S = np.zeros_like(C)
    P = np.ones_like(C)
    for k in range(K + 1):
        S += a2[k] * P
        P = P * C
    m = moments(f)
    closed = kernel_exact(f)
    if closed is not None:
        fn = sp.lambdify(RHO, closed, "numpy")
        return np.broadcast_to(fn(np.clip(C, -1.0, 1.0)), C.shape).astype(float), S, 1e-14  # float64 acos
    tail = max(m.second - a2.sum(), 0.0) + 2 * m.error
    Cf = S.copy()
    inner = np.abs(C) <= cut
    error = float(np.max(np.where(inner, np.abs(C), 0.0))**(K + 1) * tail) if inner.any() else 0.0
    for rho in np.unique(np.round(C[~inner], 15)):
        gap, err = kernel_gap(f, float(rho))
        Cf[np.round(C, 15) == rho] = m.second - gap
        error = max(error, err + m.error)
    return Cf, S, error


# ---- ranks ----------------------------------------------------------------------------------------

def effective_rank(eigs: np.ndarray) -> float:
    """exp(−Σ p_i log p_i), p_i = λ_i / Σ λ (negative round-off eigenvalues count as 0)."""
    lam = np.clip(np.asarray(eigs, float), 0.0, None)
    p = lam[lam > 0] / lam.sum()
    return float(np.exp(-np.sum(p * np.log(p))))


def effective_rank_equicorrelated(n: int, delta: np.ndarray) -> np.ndarray:
    """r̃ of the n×n matrix (1 − δ)11ᵀ + δI: eigenvalues n − (n−1)δ (once) and δ (n − 1 times), so
    p_1 = 1 − (n−1)δ/n, p_i = δ/n; log1p keeps it exact for tiny δ."""
    delta = np.asarray(delta, float)
    q = (n - 1) * delta / n
    return np.exp(-(1 - q) * np.log1p(-q) - q * np.log(delta / n))


def numerical_rank(M: np.ndarray) -> tuple[int, float]:
    """(rank, tolerance) with the tolerance σ_max · max(m, n) · eps_float64 (numpy's default)."""
    with one_thread():
        s = torch.linalg.svdvals(torch.as_tensor(M, dtype=torch.float64)).numpy()
    tol = s.max() * max(M.shape) * np.finfo(float).eps
    return int(np.sum(s > tol)), float(tol)


def moment_spectrum(H: np.ndarray, centred: bool = False) -> np.ndarray:
    """Eigenvalues of Hᵀ H / n, or of the covariance when ``centred``."""
    with one_thread():
        t = torch.as_tensor(H, dtype=torch.float64)
        if centred:
            t = t - t.mean(0)
        return torch.linalg.eigvalsh(t.T @ t / t.shape[0]).numpy()


def psd_rank(M: np.ndarray, entry_error: float) -> tuple[int, float, float]:
    """(rank, λ_min, tolerance) of a symmetric PSD matrix known to ``entry_error`` per entry: an
    eigenvalue counts when it exceeds λ_max · d · eps + d · entry_error (Weyl)."""
    lam = np.linalg.eigvalsh((M + M.T) / 2)
    d = M.shape[0]
    tol = lam.max() * d * np.finfo(float).eps + d * entry_error
    return int(np.sum(lam > tol)), float(lam.min()), float(tol)


def correlation_of_rank(d: int, r: int, rng: np.random.Generator) -> np.ndarray:
    """A random d×d correlation matrix of rank r: normalised rows of a Gaussian d×r matrix."""
    W = rng.standard_normal((d, r))
    W /= np.linalg.norm(W, axis=1, keepdims=True)
    return W @ W.T


def apply(f: Activation, X: np.ndarray) -> np.ndarray:
    """f(X) through the activation's torch function, in float64."""
    with torch.no_grad(), one_thread():
        return f.torch_fn(torch.as_tensor(X, dtype=torch.float64)).numpy()


# ---- frozen fraction -------------------------------------------------------------------------------

def frozen_set(f: Activation, tau: float, xmax: float, step: float = 1e-3) -> list[tuple[float, float]]:
    """{x : |f'(x)| < tau} on [−xmax, xmax] as disjoint intervals, an end at ±xmax read as ±∞ (callers
    choose xmax beyond the Gaussian mass they integrate, and the registry's tails are monotone). Runs
    of grid points are refined by Brent's method; sets narrower than the grid are found around the
    sign changes of f' (its zeros)."""
    d = numeric(f.derivative)
    x = np.linspace(-xmax, xmax, int(2 * xmax / step) + 1)
    small = np.abs(d(x)) < tau
    sign = np.sign(d(x))
    zeros = np.flatnonzero((sign[:-1] * sign[1:] < 0) & ~small[:-1] & ~small[1:])

    def edge(lo: float, hi: float) -> float:
        return brentq(lambda t: abs(float(d(np.array(t)))) - tau, lo, hi, xtol=1e-13)

    out = []
    idx = np.flatnonzero(np.diff(np.concatenate([[0], small.astype(int), [0]])))
    for start, stop in zip(idx[::2], idx[1::2]):  # runs [start, stop) of small grid points
        lo = -math.inf if start == 0 else edge(x[start - 1], x[start])
        hi = math.inf if stop == len(x) else edge(x[stop - 1], x[stop])
        out.append((lo, hi))
    for i in zeros:
        root = brentq(lambda t: float(d(np.array(t))), x[i], x[i + 1], xtol=1e-15)
        out.append((edge(x[i], root), edge(root, x[i + 1])))
    return sorted(out)


def frozen_fraction(intervals: list[tuple[float, float]], loc=0.0, scale=1.0) -> np.ndarray:
    """P(scale·z + loc ∈ ∪ intervals), z ~ N(0, 1), scale > 0: a sum of normal-cdf differences."""
    loc, scale = np.asarray(loc, float), np.asarray(scale, float)
    total = np.zeros(np.broadcast(loc, scale).shape)
    for lo, hi in intervals:
        total = total + ndtr((hi - loc) / scale) - ndtr((lo - loc) / scale)
    return total


# ---- shared helpers for the checks ------------------------------------------------------------------

def _registry() -> list[Activation]:
    return list(activations.ACTIVATIONS.values())


def _finite(x: float) -> float | str:
    return x if math.isfinite(x) else ("inf" if x > 0 else "-inf")


def _exact_text(x: sp.Expr | None) -> str | None:
    return None if x is None else sp.sstr(x)


def _svg(fig) -> str:
    """figures.svg with plain '{:g}' labels on log axes: matplotlib's default 10^k mathtext labels make
    each log figure ~1 s slower to write."""
    for ax in fig.axes:
        for axis in (ax.xaxis, ax.yaxis):
            if axis.get_scale() == "log":
                axis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
                axis.set_minor_formatter(ticker.NullFormatter())
    return figures.svg(fig)


# ---- rank.alpha -----------------------------------------------------------------------------------

def alpha(config: Config, paper_alpha: dict[str, float] | None = None) -> Evidence:
    """α_f = E f'²/E f² − 1 for every registry activation (exact where the moments are), the centred
    variant and the other candidate definitions in ``DEFINITIONS``, against the paper's stated values
    (ReLU 0.5000, Tanh 0.6667, GELU 0.5449; ``paper_alpha`` overrides them, for tests). A definition
    reproduces the paper when it rounds to the stated value at 4 decimals for all three."""
    stated = PAPER_ALPHA if paper_alpha is None else paper_alpha
    acts = _registry()
    ms = {f.name: moments(f) for f in acts}
    table = {key: {n: _finite(fn(m)) for n, m in ms.items()} for key, (_, fn) in DEFINITIONS.items()}
    exact = {f.name: _exact_text(alpha_exact(f)) for f in acts}
    gelu_closed = gelu_alpha_closed_form()
    gelu_check = abs(_float(gelu_closed) - ms["gelu"].alpha)
    if gelu_check > 1e-10:
        raise ArithmeticError(f"α_GELU closed form off by {gelu_check}")

    def hits(key: str) -> dict[str, bool]:
        return {n: isinstance(table[key][n], float) and abs(table[key][n] - v) <= 5e-5
                for n, v in stated.items()}
    matches = {key: all(hits(key).values()) for key in DEFINITIONS}
    sigma2 = {n: input_variance_for(activations.get(n), v) for n, v in stated.items()}
    sig_vals = [s for s in sigma2.values() if s is not None]
    variance_match = len(sig_vals) == len(stated) and max(sig_vals) - min(sig_vals) < 1e-3
    matching = [k for k, ok in matches.items() if ok] + (["input_variance"] if variance_match else [])
    per_def_hits = {key: [n for n, ok in hits(key).items() if ok] for key in DEFINITIONS}

    measured = {
        "alpha": table["uncentred"], "alpha_centred": table["centred"], "paper_alpha": dict(stated),
        "alpha_exact": {n: e for n, e in exact.items() if e}, "alpha_gelu_closed_form": sp.sstr(gelu_closed),
        "definitions": {k: d for k, (d, _) in DEFINITIONS.items()}, "by_definition": table,
        "matching_definitions": matching, "activations_matched_per_definition": per_def_hits,
        "input_variance_reproducing_each_value": sigma2,
        "moments": {n: {"E f": m.mean, "E f^2": m.second, "E f'^2": _finite(m.slope), "a1 = E f'": m.a1,
                        "quadrature_error": m.error, "exact": sorted(m.exact)} for n, m in ms.items()},
    }
    wrong = {n: {"stated": v, "computed": table["uncentred"][n], "centred": table["centred"][n]}
             for n, v in stated.items() if not hits("uncentred")[n]}
    if matches["uncentred"]:
        verdict, summary, counter = "confirmed", (
            "The stated α values follow from α = E f'²/E f² − 1: " + ", ".join(
                f"{n} {table['uncentred'][n]:.4f}" for n in stated) + "."), None
    else:
        ours = ", ".join(f"{n} {table['uncentred'][n]:.4f} (stated {stated[n]:.4f})" for n in stated)
        counter = {"definition": DEFINITIONS["uncentred"][0], "mismatches": wrong}
        if matching:
            verdict = "qualified"
            summary = (f"The stated values do not follow from α = E f'²/E f² − 1 ({ours}); they do follow "
                       f"from {', '.join(matching)}.")
        else:
            verdict = "refuted"
            partial = "; ".join(f"{k} matches only {', '.join(v)}" for k, v in per_def_hits.items() if v)
            summary = (f"The stated values do not follow from α = E f'²/E f² − 1 ({ours}; exactly α_ReLU = 0 "
                       f"since E relu² = E relu'² = 1/2), nor from the centred variant (" + ", ".join(
                           f"{n} {table['centred'][n]:.4f}" for n in stated) + ") or any other candidate "
                       f"definition tried ({len(DEFINITIONS) - 1} plus the input variance σ²)"
                       + (f"; partial: {partial}." if partial else "."))
    derivation = [("E relu(z)^2", ms["relu"].exact["second"]), ("E relu'(z)^2", ms["relu"].exact["slope"]),
                  ("alpha_relu", alpha_exact(activations.get("relu"))),
                  ("alpha_gelu = 1/(3 + 2 sqrt(3) pi) (Stein's lemma, by hand; matches quadrature)",
                   sp.nsimplify(sp.simplify(gelu_closed))),
                  *[(f"alpha_{n} (exact)", alpha_exact(activations.get(n)))
                    for n in ("relu6", "hardtanh", "elu")]]
    setting = {"activations": [f.name for f in acts], "z": "N(0, 1)",
               "match_tolerance": "|value − stated| ≤ 5e-5",
               "quadrature": f"composite Gauss–Legendre, |z| ≤ {L}, {NODES} nodes per ≤ {PANEL}-wide panel, "
                             "split at kinks", "seed": config.seed}
    return Evidence(ALPHA, "alpha", "symbolic", verdict, summary, setting, measured, counter,
                    derivation=derivation, figures=[_alpha_figure(table, stated)])


def _alpha_figure(table: dict[str, dict[str, float | str]], stated: dict[str, float]) -> tuple[str, str]:
    names = list(table["uncentred"])
    fig, ax = figures.new(7.5, 3.0)
    x = np.arange(len(names))
    cap = 3.0
    for off, key, color in ((-0.2, "uncentred", "C0"), (0.2, "centred", "C1")):
        vals = [v if isinstance(v, float) else cap for v in table[key].values()]
        ax.bar(x + off, np.minimum(vals, cap), 0.4, color=color, label=f"ours, {key}")
    for n, v in stated.items():
        if n in names:
            ax.plot(names.index(n), v, "k*", ms=10, label="paper" if n == next(iter(stated)) else None)
    ax.set_xticks(x, names, rotation=45, ha="right")
    ax.axhline(0, color="k", lw=0.5)
    ax.set_ylabel("α_f")
    ax.set_ylim(-1.05, cap)
    ax.legend(fontsize=7)
    return (f"α_f = E f'²/E f² − 1 (uncentred, the paper's formula) and E f'²/Var f − 1 (centred) per "
            f"registry activation, exact or quadrature (error < 1e-12); stars: the paper's stated values. "
            f"Bars are capped at {cap} (step: α = ∞, f ∉ H¹).", _svg(fig))


# ---- rank.lemma -----------------------------------------------------------------------------------

LEMMA_TOL = 1e-2  # relative deviation from (α+1)ε allowed at the smallest ε


def _generic_slope_identity(degree: int = 5) -> sp.Expr:
    """Σ_k k a_k² − E f'² for f = Σ c_j z^j with symbolic c_j: identically 0 (h_k' = √k h_{k−1})."""
    c = sp.symbols(f"c0:{degree + 1}")
    f = adhoc("generic polynomial", sum(cj * z**j for j, cj in enumerate(c)))
    a = hermite_exact(f, degree)
    slope = exact_expectation(f, _TRANSFORMS["slope"])
    return sp.expand(sum(k * ak**2 for k, ak in enumerate(a)) - slope)


@functools.cache
def _acos_near_one(order: int = 6) -> sp.Expr:
    """acos(1 − t²) = 2 asin(t/√2) = √2 t + √2 t³/12 + 3√2 t⁵/160 + O(t⁷), t = √ε > 0 (cos 2θ = 1 − 2 sin²θ;
    asin's series is quick in SymPy, acos's at 1 is not)."""
    t = sp.Symbol("t", positive=True)
    return sp.series(2 * sp.asin(t / sp.sqrt(2)), t, 0, order).removeO()


@functools.cache
def _acos_near_zero(order: int) -> sp.Expr:
    """acos ρ = π/2 − asin ρ = π/2 − ρ − ρ³/6 − … to O(ρ^(order+1)) (asin's series is quick in SymPy)."""
    return sp.pi / 2 - sp.series(sp.asin(RHO), RHO, 0, order + 1).removeO()


def taylor_at_zero(k: sp.Expr, order: int) -> list[sp.Expr]:
    """The Taylor coefficients of k(ρ) at 0 up to ρ^order, for k built from ρ, √(1 − ρ²) and acos ρ
    (acos replaced by its series; √(1 − ρ²) expands as a binomial series)."""
    e = k.subs(sp.acos(RHO), _acos_near_zero(order))
    e = e.subs(sp.sqrt(1 - RHO**2), sp.series(sp.sqrt(1 - RHO**2), RHO, 0, order + 1).removeO())
    poly = sp.Poly(sp.expand(e), RHO)
    return [poly.coeff_monomial(RHO**j) for j in range(order + 1)]


def near_one_series(k: sp.Expr, order: int = 4) -> sp.Expr:
    """1 − k(1 − ε)/k(1) as a series in √ε to O(ε^(order/2)), for a kernel built from ρ, √(1 − ρ²) and
    acos ρ: with ρ = 1 − t², acos ρ is replaced by its series and the rest is algebraic in t."""
    A = _acos_near_one()
    t = next(iter(A.free_symbols))
    e = 1 - k.subs(sp.acos(RHO), A).subs(RHO, 1 - t**2) / k.subs(RHO, 1)
    return sp.series(e, t, 0, order).removeO().subs(t, sp.sqrt(EPS))


def _first_order(ratio: np.ndarray, rate: float) -> tuple[np.ndarray, bool]:
    """(relative deviation of (1 − corr)/ε from the predicted rate, whether the law holds: deviation ≤
    LEMMA_TOL at the smallest ε and not larger than at the largest)."""
    if not math.isfinite(rate):
        return np.full_like(ratio, -1.0), False
    dev = ratio / rate - 1
    return dev, bool(abs(dev[-1]) <= LEMMA_TOL and abs(dev[-1]) <= max(abs(dev[0]), 1e-12))


def lemma(config: Config) -> Evidence:
    """1 − corr(f(X), f(Y)) against (α_f + 1)ε for corr(X, Y) = 1 − ε on a grid of ε, for every registry
    activation: exact series where k has a closed form, quadrature of ½E(f(X) − f(Y))² otherwise.
    The first-order law holds for f when the relative deviation is ≤ LEMMA_TOL at the smallest ε."""
    eps = represented([1e-1, 1e-2, 1e-3, 1e-4, 1e-6] if config.quick
                      else [1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 1e-5, 1e-6])
    rows, curves = {}, {}
    for f in _registry():
        m = moments(f)
        dec = [decorrelation(f, e) for e in eps]
        unc = np.array([d["uncentred"] for d in dec])
        cen = np.array([d["centred"] for d in dec])
        ratio = unc / eps
        dev, holds = _first_order(ratio, m.alpha + 1)
        dev_c, holds_c = _first_order(cen / eps, m.alpha_centred + 1)
        log_step = np.log(eps[-2] / eps[-1])
        q = float(np.log(unc[-2] / unc[-1]) / log_step)  # 1 − corr ~ ε^q
        p = float(np.log(abs(dev[-2] / dev[-1])) / log_step) if abs(dev[-1]) > 1e-12 else math.inf
        rows[f.name] = {"alpha_plus_1": _finite(m.alpha + 1), "ratio_(1-corr)/eps": ratio,
                        "relative_deviation": dev, "relative_deviation_centred": dev_c,
                        "power_q_of_1-corr": q, "deviation_order_p": _finite(p), "holds": holds,
                        "holds_centred": holds_c, "continuous": not jumps(f),
                        "max_error": max(d["error"] for d in dec)}
        curves[f.name] = (ratio, m.alpha + 1)
    paper_dev = {n: float(rows[n]["ratio_(1-corr)/eps"][-1] / (v + 1) - 1) for n, v in PAPER_ALPHA.items()
                 if n in rows}
    fails = [n for n, r in rows.items() if not r["holds"]]
    same_centred = all(r["holds"] == r["holds_centred"] for r in rows.values())
    discontinuous = [n for n, r in rows.items() if not r["continuous"]]
    # symbolic: generic identity, Price's theorem and the series of closed-form kernels
    identity = _generic_slope_identity()
    derivation: list[tuple[str, object]] = [("sum_k k a_k^2 - E f'^2, f = c0 + ... + c5 z^5", identity)]
    price = {}
    for f in _registry():
        k = kernel_exact(f)
        if k is None:
            continue
        series = near_one_series(k)
        derivation.append((f"1 - corr, {f.name} (series in epsilon)", series))
        if not jumps(f):
            kp = kernel_exact(adhoc(f"{f.name}'", f.derivative))
            price[f.name] = sp.simplify(sp.diff(k, RHO) - kp) == 0
            derivation.append((f"d/drho k_{f.name} - k_{f.name}' (Price)",
                               sp.simplify(sp.diff(k, RHO) - kp)))
    measured = {"epsilon": eps, "per_activation": rows, "fails": fails, "discontinuous": discontinuous,
                "generic_identity_zero": identity == 0, "price_theorem_closed_forms": price,
                "relative_deviation_at_smallest_eps_with_paper_alpha": paper_dev}
    setting = {"activations": list(rows), "epsilon": eps,
               "tolerance": f"|(1 − corr)/((α+1)ε) − 1| ≤ {LEMMA_TOL} at ε = {eps[-1]:g}, and not larger "
                            f"than at ε = {eps[0]:g}",
               "correlation": "uncentred (centred alongside)", "seed": config.seed}
    step_q = {n: round(rows[n]["power_q_of_1-corr"], 3) for n in fails}
    if identity != 0 or not all(price.values()):
        verdict, counter = "inconclusive", None
        summary = "A symbolic identity (Σ k a_k² = E f'², Price) failed."
    elif not fails:
        verdict, counter = "confirmed", None
        summary = (f"1 − corr = (α_f + 1)ε + o(ε) for every activation (deviation ≤ {LEMMA_TOL} at "
                   f"ε = {eps[-1]:g}).")
    elif len(fails) < len(rows):
        verdict = "qualified"
        cond = ("exactly the discontinuous ones (f ∉ H¹, E f'² = ∞)" if set(fails) == set(discontinuous)
                else "not only the discontinuous ones")
        summary = (f"Holds for {len(rows) - len(fails)} of {len(rows)} activations with 1 − corr = (α+1)ε "
                   f"+ O(ε^(1+p)) (p = 1/2 at a kink of f', e.g. ReLU: −(2√2/3π)ε^(3/2)); fails for "
                   f"{', '.join(fails)}, {cond}: there 1 − corr ~ ε^q with q = {step_q}. The centred "
                   + ("correlation obeys the same law with α_centred. " if same_centred
                      else "correlation behaves differently (see measured). ")
                   + "With the paper's α values the law is off by "
                   + ", ".join(f"{n} {v:+.0%}" for n, v in paper_dev.items()) + ".")
        counter = {"activation": fails[0], "epsilon": eps,
                   "one_minus_corr": rows[fails[0]]["ratio_(1-corr)/eps"] * eps,
                   "alpha_plus_1": rows[fails[0]]["alpha_plus_1"]}
    else:
        verdict = "refuted"
        summary = "The first-order law fails for every registry activation."
        counter = {"activation": fails[0], "relative_deviation": rows[fails[0]]["relative_deviation"]}
    return Evidence(LEMMA, "lemma", "symbolic", verdict, summary, setting, measured, counter,
                    derivation=derivation, figures=[_lemma_figure(eps, curves)])


def _lemma_figure(eps: np.ndarray, curves: dict[str, tuple[np.ndarray, float]]) -> tuple[str, str]:
    fig, (axes,) = figures.new(10.0, 3.4, ncols=2)
    for i, (name, (ratio, pred)) in enumerate(curves.items()):
        style = {"color": f"C{i % 10}", "ls": "-" if i < 10 else "--", "marker": "o", "ms": 3}
        axes[0].plot(eps, ratio, label=name, **style)
        if math.isfinite(pred):
            axes[0].axhline(pred, color=style["color"], lw=0.6, ls=":")
            dev = np.abs(ratio / pred - 1)
            if np.any(dev > 1e-14):
                axes[1].plot(eps, np.clip(dev, 1e-16, None), **style)
    for ax in axes:
        ax.set_xscale("log")
        ax.set_yscale("log")
        ax.set_xlabel("ε  (corr(X, Y) = 1 − ε)")
    axes[0].set_ylabel("(1 − corr) / ε")
    axes[1].set_ylabel("|(1 − corr)/((α+1)ε) − 1|")
    axes[1].axhline(LEMMA_TOL, color="k", lw=0.8)
    axes[0].legend(fontsize=6, ncol=2)
    return ("Correlation amplification for corr(X, Y) = 1 − ε (uncentred; exact kernel or quadrature "
            "with error < 1e-9 relative). Left: (1 − corr)/ε, dotted: the lemma's α_f + 1 (step's ratio "
            "grows like ε^(−1/2)). Right: the lemma's relative error: slope 1/2 where f' jumps, 1 where f' "
            f"is continuous (orders in measured); black line: the tolerance {LEMMA_TOL}.", _svg(fig))


# ---- rank.hard ------------------------------------------------------------------------------------

def _bivariate_moment(m: int, n: int) -> sp.Expr:
    """E X^m Y^n for a standard bivariate normal with corr(X, Y) = ρ: with Y = ρX + √(1−ρ²) W,
    Σ_j C(n, j) ρ^j (1−ρ²)^{(n−j)/2} E X^{m+j} E W^{n−j}, E z^{2i} = (2i − 1)!!; only even n − j
    contribute, so the result is a polynomial in ρ."""
    def gauss_moment(k: int) -> int:
        return 0 if k % 2 else int(sp.factorial2(k - 1))
    return sp.expand(sum(comb(n, j) * RHO**j * (1 - RHO**2)**((n - j) // 2) * gauss_moment(m + j)
                         * gauss_moment(n - j) for j in range(n + 1) if (n - j) % 2 == 0))


def mehler_identity(degree: int = 3, d: int = 3) -> tuple[sp.Matrix, sp.Matrix]:
    """(C_f, C_f − Σ_k a_k² C^{∘k}) for f = Σ_j c_j z^j with symbolic c_j and a symbolic d×d correlation
    matrix C; the second is the zero matrix when Mehler's expansion holds."""
    c = sp.symbols(f"c0:{degree + 1}")
    rho = {(i, j): sp.Symbol(f"rho{i}{j}") for i in range(d) for j in range(i + 1, d)}
    C = sp.Matrix(d, d, lambda i, j: 1 if i == j else rho[min(i, j), max(i, j)])
    f = adhoc("generic polynomial", sum(cj * z**j for j, cj in enumerate(c)))
    a = hermite_exact(f, degree)
    entry = sp.expand(sum(c[p] * c[q] * _bivariate_moment(p, q) for p in range(degree + 1)
                          for q in range(degree + 1)))
    Cf = sp.Matrix(d, d, lambda i, j: sp.expand(entry.subs(RHO, C[i, j])))
    mehler = sp.Matrix(d, d, lambda i, j: sum(a[k]**2 * C[i, j]**k for k in range(degree + 1)))
    return Cf, (Cf - mehler).applyfunc(sp.expand)


def hard(config: Config) -> Evidence:
    """C_f = Σ a_k² C^{∘k} proved symbolically (d = 3, cubic f with symbolic coefficients; closed-form
    kernels against their Mehler series to order 12), then full rank of C_f for a rank-10 C (d = 50)
    for every non-polynomial registry activation: certified by λ_min(S_K) > tolerance (S_K ⪯ C_f), and
    by the numerical rank of sampled f(X)."""
    rng = np.random.default_rng(config.seed)
    d, r, n = 50, 10, (1000 if config.quick else 4000)
    Cf_sym, residual = mehler_identity()
    proved = residual == sp.zeros(*residual.shape)
    order = 12
    series_ok = {}
    for f in _registry():
        k = kernel_exact(f)
        if k is None or is_polynomial(f):
            continue
        a = hermite_exact(f, order)
        series_ok[f.name] = all(_is_zero(c - ak**2) for c, ak in zip(taylor_at_zero(k, order), a))
    C = correlation_of_rank(d, r, rng)
    X = _sample(C, r, n, rng)
    rank_C, _ = numerical_rank(C)
    rows, spectra = {}, {"C (rank 10)": np.linalg.eigvalsh(C)[::-1]}
    for f in _registry():
        if is_polynomial(f):
            continue
        Cf, S, err = kernel_matrix(f, C)
        rank_exact, lam_min, tol = psd_rank(Cf, err)
        cert = float(np.linalg.eigvalsh(S).min())
        rank_sampled, tol_s = numerical_rank(apply(f, X))
        rows[f.name] = {"rank_C_f": rank_exact, "lambda_min_C_f": lam_min, "certificate_lambda_min_S_K": cert,
                        "tolerance": tol, "entry_error": err, "rank_sampled_f_X": rank_sampled,
                        "sampled_tolerance": tol_s,
                        "full": rank_exact == d and cert > tol and rank_sampled == d}
        spectra[f.name] = np.linalg.eigvalsh(Cf)[::-1]
    deficient = [n_ for n_, row in rows.items() if not row["full"]]
    measured = {"d": d, "intrinsic_rank": r, "rank_C": rank_C,
                "max_offdiag_|C_ij|": float(np.max(np.abs(C - np.eye(d)))), "per_activation": rows,
                "mehler_identity_proved_d3_cubic": proved,
                "closed_form_kernels_match_mehler_to_order_12": series_ok}
    setting = {"d": d, "intrinsic_rank": r, "samples": n, "K_mehler": KMEHLER, "seed": config.seed,
               "rank_tolerance": "λ > λ_max·d·eps + d·entry_error (exact); σ > σ_max·max(n,d)·eps (sampled)"}
    derivation = [("C_f[0,1] for f = c0 + c1 z + c2 z^2 + c3 z^3", Cf_sym[0, 1]),
                  ("C_f - sum_k a_k^2 C^(o k)  (d = 3)", residual),
                  ("k_relu(rho) (arc-cosine)", kernel_exact(activations.get("relu"))),
                  ("k_step(rho)", kernel_exact(activations.get("step")))]
    if not proved or not all(series_ok.values()):
        verdict, summary, counter = "inconclusive", "The symbolic Mehler identity did not reduce to 0.", None
    elif deficient:
        verdict = "refuted"
        summary = f"C_f is rank-deficient for the non-polynomial {', '.join(deficient)}."
        counter = {"activation": deficient[0], **rows[deficient[0]], "C": "rank-10 correlation, d = 50"}
    else:
        worst = min(rows, key=lambda k: rows[k]["certificate_lambda_min_S_K"])
        verdict, counter = "confirmed", None
        summary = (f"C_f = Σ a_k² C^(∘k) proved symbolically (d = 3, cubic f); for a rank-{r} C (d = {d}) "
                   f"C_f has rank {d} for all {len(rows)} non-polynomial activations, certified by "
                   f"λ_min(Σ_(k≤{KMEHLER}) a_k² C^(∘k)) > tolerance (smallest: {worst} "
                   f"{rows[worst]['certificate_lambda_min_S_K']:.2e}), and sampled f(X) ({n}×{d}) has full "
                   "column rank.")
    return Evidence(HARD, "hard", "numeric", verdict, summary, setting, measured, counter,
                    derivation=derivation, figures=[_spectrum_figure(spectra)])


def _sample(C: np.ndarray, r: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """n rows N(0, C) for a PSD C of rank r: X = G Bᵀ with B = V_r Λ_r^{1/2} (exactly rank r)."""
    lam, V = np.linalg.eigh(C)
    B = V[:, -r:] * np.sqrt(np.clip(lam[-r:], 0, None))
    G = rng.standard_normal((n, r))
    with one_thread():
        return (torch.as_tensor(G) @ torch.as_tensor(B).T).numpy()


def _spectrum_figure(spectra: dict[str, np.ndarray]) -> tuple[str, str]:
    fig, ax = figures.new(6.0, 3.0)
    names = [n for n in ("C (rank 10)", "relu", "tanh", "step", "sigmoid", "hardsigmoid") if n in spectra]
    for i, name in enumerate(names):
        lam = np.clip(spectra[name], 1e-18, None)
        ax.semilogy(np.arange(1, len(lam) + 1), lam, marker=".", ms=3, color="k" if i == 0 else f"C{i}",
                    label=name)
    ax.set_xlabel("index")
    ax.set_ylabel("eigenvalue")
    ax.legend(fontsize=7)
    return ("Eigenvalues of a rank-10 correlation matrix C (d = 50) and of C_f = k(C) entrywise (exact "
            "kernel or Mehler sum to K = 200 with a rigorous tail bound); C's zero eigenvalues are clipped "
            "at 1e-18.", _svg(fig))


def _binom(n: int, k: int) -> int:
    return comb(n, k) if k >= 0 else 0


def polynomial_rank(degrees: Sequence[int], r: int) -> tuple[int, int]:
    """(generic rank, monomial bound) of C_f = Σ_{k ∈ degrees} a_k² C^{∘k} for a rank-r correlation
    matrix C = W Wᵀ with unit rows w_i. C^{∘k}_ij = ⟨w_i^{⊗k}, w_j^{⊗k}⟩, so C_f is the Gram matrix of
    degree-k monomials of w_i: at most Σ_k C(r+k−1, k) of them. On the unit sphere |w|² = 1 ties
    degree k to degree k − 2, and the span is ⊕ H_j over j ≤ k, j ≡ k (mod 2): the spherical harmonics,
    dim H_j = C(r+j−1, j) − C(r+j−3, j−2). That count is the generic rank."""
    J = {j for k in degrees for j in range(k % 2, k + 1, 2)}
    harmonic = sum(_binom(r + j - 1, j) - _binom(r + j - 3, j - 2) for j in J)
    return harmonic, sum(_binom(r + k - 1, k) for k in degrees)


def reflection(f: Activation) -> tuple[int, float] | None:
    """(s, c) with f(−x) = c + s f(x) for all x (s = ±1), or None; checked on a grid to 1e-12."""
    x = np.linspace(-8.0, 8.0, 1601)
    fn = numeric(f.expr)
    for s in (1, -1):
        g = fn(-x) - s * fn(x)
        if np.ptp(g) < 1e-12:
            return s, float(g[800])
    return None


def hard_controls(config: Config) -> Evidence:
    """Negative controls of rank.hard, which must come out rank-deficient exactly as predicted:
    polynomial f on a rank-r C (``polynomial_rank``: the spherical-harmonic count, below the monomial
    bound C(r+p, p) because C has a unit diagonal) and exact duplicates C_ij = +1 (one rank lost per
    pair, whatever f). Anti-duplicates C_ij = −1 cost rank only through a reflection identity
    f(−x) = c ± f(x) (``reflection``): one rank per pair when c = 0 (tanh), one less in all when c ≠ 0
    (sigmoid: f_i + f_j = 1 for every pair), none otherwise (relu); the controls predict and check it."""
    rng = np.random.default_rng(config.seed + 1)
    d, n = 50, (2000 if config.quick else 6000)
    cases = []
    for f, r in ((activations.get("identity"), 10), (adhoc("1 + z + z^2", 1 + z + z**2), 3),
                 (adhoc("z + z^3", z + z**3), 4)):
        a = hermite_exact(f, int(sp.degree(f.expr, z)))
        pred, bound = polynomial_rank([k for k, ak in enumerate(a) if ak != 0], r)
        cases.append((f"polynomial {f.name}, intrinsic rank {r}", f, correlation_of_rank(d, r, rng),
                      min(pred, d), bound))
    base = correlation_of_rank(d, d, rng)
    pairs = [(2 * i, 2 * i + 1) for i in range(5)]
    for sign in (+1, -1):
        W = np.linalg.cholesky(base)
        for i, j in pairs:
            W[j] = sign * W[i]
        C = W @ W.T
        for name in ("relu", "tanh", "gelu", "sigmoid") if sign > 0 else ("tanh", "relu", "sigmoid"):
            f = activations.get(name)
            refl = reflection(f)
            lost = len(pairs) if sign > 0 else 0 if refl is None else len(pairs) - (abs(refl[1]) > 1e-12)
            pred = d - lost
            cases.append((f"{name}, {len(pairs)} pairs with C_ij = {sign:+d}", f, C, pred, None))
    rows = {}
    for label, f, C, pred, bound in cases:
        Cf, _, err = kernel_matrix(f, C)
        rank_exact, lam_min, tol = psd_rank(Cf, err)
        r_lat = int(np.linalg.matrix_rank(C))
        rank_sampled, _ = numerical_rank(apply(f, _sample(C, r_lat, n, rng)))
        rows[label] = {"activation": f.name, "rank_C": r_lat, "predicted_rank_C_f": pred,
                       "rank_C_f": rank_exact, "monomial_bound": bound, "rank_sampled_f_X": rank_sampled,
                       "lambda_min_C_f": lam_min, "tolerance": tol,
                       "as_predicted": rank_exact == pred == rank_sampled}
    bad = [k for k, v in rows.items() if not v["as_predicted"]]
    deficient = {k: v for k, v in rows.items() if v["predicted_rank_C_f"] < d}
    measured = {"d": d, "controls": rows, "not_as_predicted": bad}
    setting = {"control": True, "d": d, "samples": n, "seed": config.seed,
               "prediction": "polynomial: Σ_{j ∈ J} dim H_j (spherical harmonics); C_ij = +1: d − m for m "
                             "pairs; C_ij = −1: d − m if f(−x) = ±f(x), d − m + 1 if f(−x) = c ± f(x) with "
                             "c ≠ 0, else d"}
    if bad:
        verdict = "inconclusive"
        summary = f"A negative control did not behave as predicted: {bad[0]} ({rows[bad[0]]})."
        counter = None
    else:  # the example: a control whose rank falls below the monomial count, else the first deficient one
        first = next((k for k, v in deficient.items()
                      if v["monomial_bound"] and v["rank_C_f"] < v["monomial_bound"]), next(iter(deficient)))
        ex = deficient[first]
        verdict = "refuted"
        summary = (f"All {len(rows)} controls came out as predicted: a polynomial f keeps the rank of its "
                   f"spherical harmonics, below the monomial bound C(r+p, p) (e.g. {first}: rank "
                   f"{ex['rank_C_f']}, bound {ex['monomial_bound']}, d = {d}); exact duplicates "
                   "(C_ij = +1) lose one rank per pair for every f; anti-duplicates (C_ij = −1) lose one per "
                   "pair for odd tanh, one less in all for sigmoid (σ(−x) = 1 − σ(x)), and none for relu: "
                   "'|C_ij| = 1 stays deficient' needs C_ij = +1 or a reflection identity.")
        counter = {"control": first, **deficient[first]}
    return Evidence(HARD, "hard-controls", "numeric", verdict, summary, setting, measured, counter)


# ---- rank.effective --------------------------------------------------------------------------------

EFFECTIVE_TOL = 0.10
N_SHOWN = 1000  # the n reported in the summary and the figure (in both grids)


def _regime(holds: dict[int, np.ndarray], eps: np.ndarray) -> dict[str, object]:
    """Where a formula holds on the (n, ε) grid: for each n the largest ε* such that it holds at every
    ε ≤ ε* (None when it fails at the smallest ε); 'everywhere', 'nowhere' or 'regime'."""
    eps_max = {}
    for n, ok in holds.items():
        order = np.argsort(eps)
        good = np.cumprod(ok[order]).astype(bool)
        eps_max[n] = float(eps[order][good][-1]) if good.any() else None
    total = sum(int(ok.sum()) for ok in holds.values())
    points = sum(len(ok) for ok in holds.values())
    kind = "everywhere" if total == points else "nowhere" if total == 0 else "regime"
    return {"kind": kind, "points_holding": total, "points": points, "largest_eps_by_n": eps_max}


def refined_gain(alpha_f: float, n: int, eps: np.ndarray) -> np.ndarray:
    """First-order gain from the exact r̃ of an equicorrelated matrix: with q = (n−1)δ/n ≪ 1,
    ln r̃ ≈ q(1 + ln(n/δ)), and δ = (1 + α)ε gives
    r̃(C_f)/r̃(C) − 1 ≈ ((n−1)/n) ε [α(1 + ln(n/ε)) − (1 + α) ln(1 + α)];
    the paper's α ε ln(n/ε) is its leading term (relative corrections O(1/n) and O(1/ln(n/ε)))."""
    return (n - 1) / n * eps * (alpha_f * (1 + np.log(n / eps)) - (1 + alpha_f) * np.log1p(alpha_f))


def effective(config: Config) -> Evidence:
    """r̃(C_f) ≈ r̃(C)(1 + α_f ε ln(n/ε)) for C = (1 − ε)11ᵀ + εI. C_f = k(1)[(1 − δ)11ᵀ + δI] with
    δ = 1 − k(1 − ε)/k(1), so r̃(C) = R(n, ε) and r̃(C_f) = R(n, δ) exactly (``effective_rank_equicorrelated``).
    The formula's content is the gain G = r̃(C_f)/r̃(C) − 1 ≈ α ε ln(n/ε); it holds at a grid point when
    |G_formula − G_exact| ≤ 10% |G_exact| (+ 1e-14 for round-off). The relative error of r̃ itself is
    reported too (it is small wherever r̃ ≈ 1, whatever α is), and so is ``refined_gain``. Sampled data
    check the exact values."""
    ns = [10, N_SHOWN] if config.quick else [10, 100, N_SHOWN, 10000]
    eps = represented([1e-1, 1e-2, 1e-4] if config.quick else [1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6])
    rows, regimes, refined_regimes, curves = {}, {}, {}, {}
    for f in _registry():
        m = moments(f)
        delta = np.array([decorrelation(f, e)["uncentred"] for e in eps])
        grid, holds, holds_refined = {}, {}, {}
        for n in ns:
            R0, Rf = effective_rank_equicorrelated(n, eps), effective_rank_equicorrelated(n, delta)
            G_exact = Rf / R0 - 1
            finite = math.isfinite(m.alpha)
            G_pred = m.alpha * eps * np.log(n / eps) if finite else np.full_like(eps, np.inf)
            G_ref = refined_gain(m.alpha, n, eps) if finite else np.full_like(eps, np.inf)
            with np.errstate(invalid="ignore", divide="ignore"):
                err_G = np.abs(G_pred - G_exact) / np.abs(G_exact)
                err_ref = np.abs(G_ref - G_exact) / np.abs(G_exact)
            holds[n] = np.abs(G_pred - G_exact) <= EFFECTIVE_TOL * np.abs(G_exact) + 1e-14
            holds_refined[n] = np.abs(G_ref - G_exact) <= EFFECTIVE_TOL * np.abs(G_exact) + 1e-14
            grid[n] = {"r_C": R0, "r_C_f": Rf, "gain_exact": G_exact, "gain_formula": G_pred,
                       "rel_error_gain": err_G, "gain_refined": G_ref, "rel_error_gain_refined": err_ref,
                       "rel_error_r": np.abs(R0 * (1 + G_pred) - Rf) / Rf, "holds": holds[n]}
        shown = grid[N_SHOWN]
        curves[f.name] = (shown["gain_exact"], shown["gain_formula"], shown["rel_error_gain"])
        rows[f.name] = {"alpha": _finite(m.alpha), "delta": delta, "by_n": grid}
        regimes[f.name] = _regime(holds, eps)
        refined_regimes[f.name] = _regime(holds_refined, eps)
    sampled = _effective_sampled(config)
    kinds = {k: v["kind"] for k, v in regimes.items()}
    sampled_ok = all(s["rel_diff"] <= EFFECTIVE_TOL for s in sampled.values())
    never_n = [n for n in ns if not any(v["largest_eps_by_n"][n] for v in regimes.values())]
    measured = {"n": ns, "epsilon": eps, "regimes": regimes, "regimes_refined_formula": refined_regimes,
                "n_where_it_never_holds": never_n, "per_activation": rows, "sampled": sampled}
    setting = {"C": "(1 − ε)11ᵀ + εI", "n": ns, "epsilon": eps, "alpha": "uncentred", "seed": config.seed,
               "tolerance": f"{EFFECTIVE_TOL:.0%} on the gain"}
    n_big = N_SHOWN
    where = {k: v["largest_eps_by_n"][n_big] for k, v in regimes.items() if v["kind"] == "regime"}
    nowhere = [k for k, v in kinds.items() if v == "nowhere"]
    if not sampled_ok:
        verdict, counter = "inconclusive", None
        summary = ("Sampled effective ranks disagree with the exact ones by more than 10%: the exact "
                   "machinery is suspect.")
    elif all(v == "everywhere" for v in kinds.values()):
        verdict, counter = "confirmed", None
        summary = "The formula holds within 10% on the whole (n, ε) grid."
    elif len(nowhere) == len(kinds):
        verdict = "refuted"
        f0 = nowhere[0]
        counter = {"activation": f0, "n": ns[0], "epsilon": eps[0],
                   **{k: v[0] for k, v in rows[f0]["by_n"][ns[0]].items()}}
        summary = "The formula misses the exact effective-rank gain by more than 10% everywhere on the grid."
    else:
        verdict, counter = "qualified", None
        never = (f"; never at n = {', '.join(map(str, never_n))} (the formula drops the factor (n−1)/n)"
                 if never_n else "")
        summary = (f"The gain α ε ln(n/ε) matches the exact r̃(C_f)/r̃(C) − 1 within 10% only for small "
                   f"n·ε and large n: at n = {n_big} for ε ≤ "
                   + ", ".join(f"{k} {v:g}" for k, v in where.items() if v)
                   + never + f". It fails everywhere for {', '.join(nowhere)}: α = 0 (ReLU family) predicts "
                   "no gain while ReLU's exact gain is negative (−(2√2/3π)ε^(3/2) in 1 − corr), and step has "
                   "α = ∞. r̃ itself is within 10% wherever r̃ ≈ 1, which says nothing about α. The refined "
                   "((n−1)/n) ε [α(1 + ln(n/ε)) − (1+α) ln(1+α)] is in measured.")
    return Evidence(EFFECTIVE, "effective", "numeric", verdict, summary, setting, measured, counter,
                    figures=[_effective_figure(eps, curves, n_big)])


def _effective_sampled(config: Config) -> dict[str, dict[str, float]]:
    """r̃ of the sampled C_f = f(X)ᵀf(X)/m for X with C = (1 − ε)11ᵀ + εI, against the exact r̃."""
    rng = np.random.default_rng(config.seed + 2)
    m = 5000 if config.quick else 20000
    out = {}
    for name in ("tanh", "relu", "gelu"):
        f = activations.get(name)
        for n in (20, 100):
            for e in (1e-1, 1e-2):
                shared, own = rng.standard_normal((m, 1)), rng.standard_normal((m, n))
                X = math.sqrt(1 - e) * shared + math.sqrt(e) * own
                H = apply(f, X)
                sampled = effective_rank(moment_spectrum(H))
                exact = float(effective_rank_equicorrelated(n, np.array(decorrelation(f, e)["uncentred"])))
                out[f"{name}, n={n}, eps={e:g}"] = {"sampled": sampled, "exact": exact, "samples": m,
                                                    "rel_diff": abs(sampled - exact) / exact}
    return out


def _effective_figure(eps: np.ndarray, curves: dict[str, tuple], n: int) -> tuple[str, str]:
    fig, (axes,) = figures.new(9.0, 3.2, ncols=2)
    shown = [n for n in ("tanh", "gelu", "elu", "sigmoid", "relu6") if n in curves] or list(curves)[:5]
    for i, name in enumerate(shown):
        G_exact, G_pred, _ = curves[name]
        axes[0].loglog(eps, np.abs(G_exact), "o-", color=f"C{i}", ms=3, label=f"{name} exact")
        axes[0].loglog(eps, np.abs(G_pred), "--", color=f"C{i}", lw=0.8)
    axes[0].set_xlabel("ε")
    axes[0].set_ylabel(f"|r̃(C_f)/r̃(C) − 1|  (n = {n})")
    axes[0].legend(fontsize=6)
    for i, (name, (_, _, err)) in enumerate(curves.items()):
        axes[1].loglog(eps, np.clip(err, 1e-6, 1e3), marker=".", color=f"C{i % 10}", ms=3, label=name,
                       ls="-" if i < 10 else "--")
    axes[1].axhline(EFFECTIVE_TOL, color="k", lw=0.8)
    axes[1].set_xlabel("ε")
    axes[1].set_ylabel(f"relative error of the gain (n = {n})")
    axes[1].legend(fontsize=5, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return (f"Effective-rank gain for C = (1 − ε)11ᵀ + εI, n = {n}: exact (solid, from the exact dual "
            "kernel: r̃ of an equicorrelated matrix in closed form) vs the paper's α ε ln(n/ε) (dashed), "
            f"and the formula's relative error; black line: the {EFFECTIVE_TOL:.0%} tolerance.",
            _svg(fig))


# ---- rank.corollary ---------------------------------------------------------------------------------

def _affine_alpha(f: Activation, loc, scale) -> tuple[np.ndarray, np.ndarray]:
    """(α, E g²) of g(z) = f(scale·z + loc): α = scale² E f'(x)² / E f(x)² − 1 (chain rule)."""
    fn, dfn = numeric(f.expr), numeric(f.derivative)
    second = gauss(lambda x: fn(x)**2, kinks(f), loc, scale)
    slope = gauss(lambda x: dfn(x)**2, kinks(f), loc, scale)
    with np.errstate(invalid="ignore", divide="ignore"):  # 0/0 where all mass left the window (relu only)
        return np.asarray(scale)**2 * slope / second - 1, second


C_SHIFT = sp.Symbol("c", real=True)


def relu_shift_alpha() -> tuple[sp.Expr, sp.Expr, sp.Expr]:
    """For g = relu(z − c) (= relu(a z + b)/a with c = −b/a): α_c + 1 = Φ(−c)/E(z − c)₊², where
    E(z − c)₊² = (1+c²)Φ(−c) − cφ(c) (exact, from the registry's pieces); and for c > 0 a rational
    lower bound from the Mills-ratio bounds φ(c)(1/c − 1/c³) ≤ Φ(−c) ≤ φ(c)(1/c − 1/c³ + 3/c⁵):
    α_c + 1 ≥ (c⁴ − c²)/(2c² + 3) → ∞. (SymPy's own limit of the exact ratio is −1, which is wrong:
    mpmath gives ≈ c²/2.) Returns (α_c, bound, limit of the bound)."""
    c = C_SHIFT
    relu = activations.get("relu")
    (_, _), (piece, _) = sorted(relu.pieces, key=lambda pw: float(pw[1].inf))
    second = gaussian_integral(piece.subs(z, z - c)**2, c, sp.oo)
    slope = gaussian_integral(sp.diff(piece, z).subs(z, z - c)**2, c, sp.oo)
    lower = (c**4 - c**2) / (2 * c**2 + 3)
    return slope / second - 1, second, lower, sp.limit(lower, c, sp.oo)


def relu_shift_values(c: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(α_c, E(z − c)₊²) from the closed form at 30 digits (in float64 it cancels catastrophically:
    (1+c²)Φ(−c) − cφ(c) loses all digits by c ≈ 8)."""
    alpha_c, second, _, _ = relu_shift_alpha()
    fa, fs = (sp.lambdify(C_SHIFT, e, "mpmath") for e in (alpha_c, second))
    with mpmath.workdps(30):
        vals = [(float(fa(mpmath.mpf(float(x)))), float(fs(mpmath.mpf(float(x))))) for x in np.ravel(c)]
    out = np.array(vals).reshape(np.shape(c) + (2,))
    return out[..., 0], out[..., 1]


def _tanh_family(a_seq: np.ndarray) -> tuple[dict, list, bool]:
    """tanh(a z): α(a)/a → φ(0) ∫ tanh'(u)² du = 4/(3√(2π)) (dominated convergence), E f² → 1, and
    |g'| = a tanh'(a z) < τ ⇔ |z| > x_(τ/a)/a with tanh'(x_t) = t, so P = erfc(x_(τ/a)/(√2 a)) → 1."""
    tanh = activations.get("tanh")
    al, e2 = _affine_alpha(tanh, 0.0, a_seq)
    p_g = np.array([frozen_fraction(frozen_set(tanh, TAU / a, 30.0), 0.0, a) for a in a_seq])
    p_f = frozen_fraction(frozen_set(tanh, TAU, 30.0), 0.0, a_seq)
    # the registry's tanh' is a polynomial in y = tanh z, and dy = tanh'(z) dz
    y, t, a = sp.Symbol("y", real=True), sp.Symbol("t", positive=True), sp.Symbol("a", positive=True)
    d_y = tanh.derivative.subs(sp.tanh(z), y)
    sech4 = sp.integrate(d_y, (y, -1, 1))  # ∫ tanh'(u)² du = ∫_{-1}^{1} tanh'(y) dy
    limit_over_a = sech4 / sp.sqrt(2 * sp.pi)
    x_t = sp.atanh(max(sp.solve(sp.Eq(d_y, t), y), key=lambda r: float(r.subs(t, sp.Rational(1, 10)))))
    x_a = x_t.subs(t, sp.Rational(1, 10000) / a)
    ratio_limit = sp.limit(x_a / a, a, sp.oo)
    p_closed = sp.erfc(x_a / (sp.sqrt(2) * a))
    with mpmath.workdps(30):  # (SymPy's own .subs(a, 256) of p_closed evaluates to exactly 1, wrongly)
        p_check = abs(float(sp.lambdify(a, p_closed, "mpmath")(mpmath.mpf(a_seq[-1]))) - p_g[-1])
    ok = bool(np.all(np.diff(al) > 0) and p_g[-1] > 0.9 and np.all(e2 <= 1) and ratio_limit == 0
              and p_check < 1e-9 and abs(al[-1] / a_seq[-1] / _float(limit_over_a) - 1) < 0.02)
    measured = {"a": a_seq, "alpha": al, "alpha_over_a": al / a_seq,
                "alpha_over_a_limit": _float(limit_over_a), "E f^2": e2, "P(|f_a'| < 1e-4)": p_g,
                "P(|tanh'(a z)| < 1e-4)": p_f,
                "closed_form_P_minus_numeric_at_largest_a": p_check}
    derivation = [("int tanh'(u)^2 du", sech4), ("lim alpha(tanh(a z))/a", limit_over_a),
                  ("x_t with tanh'(x_t) = t (x_t > 0)", x_t), ("lim_(a->oo) x_(1e-4/a)/a", ratio_limit),
                  ("P(|d/dz tanh(a z)| < 1e-4)", p_closed)]
    return measured, derivation, ok


def _relu_family(b_seq: np.ndarray) -> tuple[dict, list, bool]:
    """relu(z + b), b → −∞ (a = 1): α exact (``relu_shift_alpha``; quadrature alongside where the mass
    stays in the window), E f² → 0, P(f' = 0) = Φ(−b) → 1."""
    relu = activations.get("relu")
    al, e2 = relu_shift_values(-b_seq)
    al_quad = _affine_alpha(relu, b_seq[b_seq >= -6], 1.0)[0]
    p = frozen_fraction(frozen_set(relu, TAU, 30.0), b_seq, 1.0)
    alpha_c, _, lower, lower_limit = relu_shift_alpha()
    cs = np.array([1.0, 2.0, 4.0, 8.0, 16.0, 50.0])
    bound_ok = bool(np.all(relu_shift_values(cs)[0] + 1 >= sp.lambdify(C_SHIFT, lower)(cs)))
    ok = bool(np.all(np.diff(al) > 0) and p[-1] > 0.9 and np.all(e2 <= 1) and bound_ok
              and lower_limit == sp.oo)
    measured = {"b": b_seq, "alpha": al, "alpha_quadrature_b>=-6": al_quad, "E f^2": e2, "P(f' = 0)": p,
                "mills_lower_bound_holds": bound_ok}
    derivation = [("alpha of relu(z - c) + 1 (exact)", sp.simplify(alpha_c + 1)),
                  ("Mills-ratio lower bound on alpha + 1", lower),
                  ("limit of the bound, c -> oo", lower_limit)]
    return measured, derivation, ok


def _sin_family(s_seq: np.ndarray) -> tuple[dict, list]:
    """sin(s z): E f² = (1 − e^{−2s²})/2, α → ∞ exactly; |f'| = s|cos(s z)| < τ only on shrinking
    windows around the zeros of cos, and for the 1-Lipschitz sin(s z)/s, P(|f'| ≥ 1/2) → 2/3."""
    s = sp.Symbol("s", positive=True)
    e2 = sp.simplify(gaussian_integral(sp.sin(s * z).rewrite(sp.exp)**2))
    slope = sp.simplify(gaussian_integral(sp.diff(sp.sin(s * z), z).rewrite(sp.exp)**2))
    alpha_s = sp.simplify(slope / e2 - 1)
    sin = adhoc("sin", sp.sin(z))
    rows = {}
    for sv in s_seq:
        def prob(tau: float, sv: float = sv) -> float:  # P(|cos(s z)| < tau)
            return float(frozen_fraction(frozen_set(sin, tau, sv * L + 1, step=1e-2), 0.0, sv))
        rows[float(sv)] = {"alpha": _float(alpha_s.subs(s, sv)), "E f^2": _float(e2.subs(s, sv)),
                           "P(|f'| < 1e-4), f = sin(sz)": prob(TAU / sv),
                           "P(|f'| < 1e-4), f = sin(sz)/s": prob(TAU),
                           "P(|f'| >= 1/2), f = sin(sz)/s": 1 - prob(0.5)}
    derivation = [("E sin(s z)^2", e2), ("alpha of sin(s z)", alpha_s),
                  ("lim_(s->oo) alpha", sp.limit(alpha_s, s, sp.oo)),
                  ("lim_(s->oo) E sin(s z)^2", sp.limit(e2, s, sp.oo))]
    return rows, derivation


def corollary(config: Config) -> Evidence:
    """The paper's examples, α → ∞ with E f² bounded and f' → 0 in probability: tanh(a z), a → ∞, and
    relu(z + b), b → −∞ (b/a → −∞); and the general statement, tested on sin(s z) (and sin(s z)/s,
    which is 1-Lipschitz): α → ∞, E f² ≤ 1/2, yet |f'| stays large with probability → 1."""
    a_seq = 2.0 ** np.arange(0, 9 if config.quick else 11)
    b_seq = -np.array([0.0, 1.0, 2.0, 4.0, 8.0] if config.quick
                      else [0.0, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0])
    s_seq = 2.0 ** np.arange(0, 5 if config.quick else 7)
    tanh_m, tanh_d, tanh_ok = _tanh_family(a_seq)
    relu_m, relu_d, relu_ok = _relu_family(b_seq)
    sin_rows, sin_d = _sin_family(s_seq)
    last = sin_rows[float(s_seq[-1])]
    p_small, p_big = last["P(|f'| < 1e-4), f = sin(sz)"], last["P(|f'| >= 1/2), f = sin(sz)/s"]
    examples_ok = tanh_ok and relu_ok
    counterexample_ok = last["alpha"] > 100 and last["E f^2"] <= 0.5 and p_small < 0.01
    measured = {"tanh(a z)": tanh_m, "relu(z + b)": relu_m, "sin(s z)": sin_rows,
                "examples_behave_as_stated": examples_ok, "counterexample_found": bool(counterexample_ok)}
    setting = {"tau": TAU, "a": a_seq, "b": b_seq, "s": s_seq, "seed": config.seed,
               "statement": "α_(f_s) → ∞ and E f_s² bounded ⇒ f_s'(z) → 0 in probability"}
    p_tanh, p_relu = tanh_m["P(|f_a'| < 1e-4)"][-1], relu_m["P(f' = 0)"][-1]
    examples = (f"The paper's two examples do behave as stated: α(tanh(az)) ≈ 0.53 a, P(|f'| < 1e-4) = "
                f"{p_tanh:.3f} at a = {a_seq[-1]:g}; relu(z + b): α + 1 ≥ (c⁴−c²)/(2c²+3), P(f' = 0) = "
                f"Φ(−b) = {p_relu:.4f} at b = {b_seq[-1]:g}." if examples_ok else
                "The paper's examples do not all behave as stated either (see measured).")
    if counterexample_ok:
        verdict = "refuted"
        counter = {"family": "f_s(z) = sin(s z)  (and sin(s z)/s, 1-Lipschitz)", "s": float(s_seq[-1]),
                   **last}
        summary = (f"False as a general statement: f_s = sin(s z) has α = {last['alpha']:.0f} at s = "
                   f"{s_seq[-1]:g} (→ ∞), E f² ≤ 1/2, yet P(|f_s'| < 1e-4) = {p_small:.1e} and, for the "
                   f"1-Lipschitz sin(sz)/s, P(|f'| ≥ 1/2) = {p_big:.2f}. " + examples)
    elif examples_ok:
        verdict, counter = "confirmed", None
        summary = "The examples behave as stated and the counterexample family did not reach the thresholds."
    else:
        verdict, counter = "refuted", {"examples": "tanh(az) or relu(z + b) did not behave as stated"}
        summary = "The paper's examples do not behave as stated (see measured)."
    figure = _corollary_figure(tanh_m, relu_m, sin_rows)
    return Evidence(COROLLARY, "corollary", "symbolic", verdict, summary, setting, measured, counter,
                    derivation=relu_d + tanh_d + sin_d, figures=[figure])


def _corollary_figure(tanh_m: dict, relu_m: dict, sin_rows: dict) -> tuple[str, str]:
    fig, (axes,) = figures.new(9.0, 3.0, ncols=2)
    s_seq = np.array(list(sin_rows))
    al_s = np.array([r["alpha"] for r in sin_rows.values()])
    p_s = np.array([r["P(|f'| < 1e-4), f = sin(sz)"] for r in sin_rows.values()])
    a_seq, b_seq = tanh_m["a"], relu_m["b"]
    axes[0].loglog(a_seq, tanh_m["alpha"], "o-", label="tanh(a z) vs a")
    axes[0].loglog(-b_seq[1:], relu_m["alpha"][1:], "s-", label="relu(z + b) vs −b")
    axes[0].loglog(s_seq, al_s, "^-", label="sin(s z) vs s")
    axes[0].set_ylabel("α_f")
    axes[0].set_xlabel("a, −b, s")
    axes[0].legend(fontsize=7)
    axes[1].semilogx(a_seq, tanh_m["P(|f_a'| < 1e-4)"], "o-", label="tanh(a z)")
    axes[1].semilogx(np.maximum(-b_seq, 0.5), relu_m["P(f' = 0)"], "s-", label="relu(z + b) (b = 0 at 0.5)")
    axes[1].semilogx(s_seq, np.maximum(p_s, 1e-6), "^-", label="sin(s z)")
    axes[1].set_ylabel(f"P(|f'| < {TAU:g})")
    axes[1].set_xlabel("a, −b, s")
    axes[1].legend(fontsize=7)
    return (f"Corollary sequences: α_f and the frozen probability P(|f'| < {TAU:g}) (f' of the whole family "
            "member; exact normal-cdf sums over the set |f'| < τ). tanh and relu freeze as α grows; sin(s z) "
            "does not.", _svg(fig))


MAP_ACTIVATIONS = ("relu", "selu", "tanh", "sigmoid")
MAP_CORR = 0.5  # Spearman correlation (α, frozen fraction) needed to call the trade-off present
A_RANGE, B_MAX = (0.1, 10.0), 5.0  # the map's (a, b) box


def corollary_maps(config: Config) -> Evidence:
    """Maps over (a, b) of α of g(z) = f(a z + b) (α = a² E f'(x)²/E f(x)² − 1, chain rule included) and of
    the frozen fraction P(|f'(a z + b)| < 1e-4) for relu, selu, tanh, sigmoid (paper App. A.1.3,
    validation 4). The measured quantity is the Spearman correlation of the two over the grid; the
    trade-off 'high α ⇔ many frozen units' is present for f when it is ≥ MAP_CORR."""
    from scipy.stats import spearmanr

    na = 21 if config.quick else 61
    a = np.geomspace(A_RANGE[0], A_RANGE[1], na)
    b = np.linspace(-B_MAX, B_MAX, na)
    A, B = np.meshgrid(a, b, indexing="ij")
    maps, corr = {}, {}
    inside = np.abs(B / A) <= 6.0  # where the quadrature window |z| ≤ L holds relu's mass
    for name in MAP_ACTIVATIONS:
        f = activations.get(name)
        al, _ = _affine_alpha(f, B, A)
        if name == "relu":  # relu(a z + b) = a relu(z + b/a): α is exact in c = −b/a, and must agree
            exact = relu_shift_values(-B / A)[0]
            relu_map_error = float(np.max(np.abs(al - exact)[inside]))
            al = exact
        fr = frozen_fraction(frozen_set(f, TAU, L * a.max() + B_MAX + 1.0, step=1e-3), B, A)
        maps[name] = (al, fr)
        corr[name] = float(spearmanr(al.ravel(), fr.ravel()).statistic)
    pooled = float(spearmanr(np.concatenate([m[0].ravel() for m in maps.values()]),
                             np.concatenate([m[1].ravel() for m in maps.values()])).statistic)
    present = [n for n, r in corr.items() if r >= MAP_CORR]
    measured = {"spearman_alpha_vs_frozen": corr, "pooled_spearman": pooled, "trade_off_present": present,
                "relu_map_max_error_vs_closed_form": relu_map_error,
                "alpha_range": {n: [float(m[0].min()), float(m[0].max())] for n, m in maps.items()},
                "frozen_range": {n: [float(m[1].min()), float(m[1].max())] for n, m in maps.items()}}
    setting = {"a": f"{na} log-spaced in {list(A_RANGE)}", "b": f"{na} in [−{B_MAX}, {B_MAX}]", "tau": TAU,
               "alpha": "of g(z) = f(a z + b), chain rule g' = a f'(a z + b)",
               "frozen": "P(|f'(a z + b)| < τ)",
               "relu": "α from its closed form in c = −b/a (30 digits), checked against quadrature where "
                       "|b|/a ≤ 6",
               "threshold": f"Spearman ≥ {MAP_CORR}", "activations": list(MAP_ACTIVATIONS),
               "seed": config.seed}
    absent = [n for n in MAP_ACTIVATIONS if n not in present]
    if relu_map_error > 1e-8:
        raise ArithmeticError(f"relu's α map is off its closed form by {relu_map_error:.2e}")
    if len(present) == len(MAP_ACTIVATIONS):
        verdict, counter = "confirmed", None
        summary = "High α goes with a high frozen fraction for all four: Spearman " + ", ".join(
            f"{n} {r:.2f}" for n, r in corr.items()) + "."
    else:
        n0 = min(corr, key=corr.get)
        al, fr = maps[n0]
        i = np.unravel_index(np.argmax(fr - (al - al.min()) / (np.ptp(al) + 1e-300)), al.shape)
        counter = {"activation": n0, "spearman": corr[n0], "a": float(A[i]), "b": float(B[i]),
                   "alpha": float(al[i]), "frozen_fraction": float(fr[i])}
        verdict = "qualified" if present else "refuted"
        summary = ("Spearman(α, frozen fraction) over the (a, b) grid: "
                   + ", ".join(f"{n} {r:.2f}" for n, r in corr.items())
                   + f". The trade-off holds for {', '.join(present) or 'none'}; for {', '.join(absent)} "
                   "saturation by the bias freezes units while lowering α (g ≈ constant), so a high frozen "
                   "fraction does not need a high α.")
    return Evidence(COROLLARY, "corollary-maps", "numeric", verdict, summary, setting, measured, counter,
                    figures=[_maps_figure(a, b, maps)])


def _maps_figure(a: np.ndarray, b: np.ndarray, maps: dict) -> tuple[str, str]:
    fig, axes = figures.plt.subplots(2, len(maps), figsize=(10.0, 4.6), squeeze=False)
    ext = [b[0], b[-1], math.log10(a[0]), math.log10(a[-1])]
    for j, (name, (al, fr)) in enumerate(maps.items()):
        im = axes[0, j].imshow(np.log10(np.clip(al + 1, 1e-3, None)), origin="lower", aspect="auto",
                               extent=ext, cmap="viridis")
        fig.colorbar(im, ax=axes[0, j], fraction=0.046)
        axes[0, j].set_title(f"{name}: log10(α + 1)", fontsize=8)
        im = axes[1, j].imshow(fr, origin="lower", aspect="auto", extent=ext, cmap="magma", vmin=0, vmax=1)
        fig.colorbar(im, ax=axes[1, j], fraction=0.046)
        axes[1, j].set_title(f"{name}: frozen fraction", fontsize=8)
        for i in range(2):
            axes[i, j].set_xlabel("b")
            axes[i, j].set_ylabel("log10 a")
    fig.tight_layout()
    return (f"(a, b) maps for g(z) = f(a z + b), z ~ N(0, 1): log10(α_g + 1) (top; quadrature, error "
            f"< 1e-10; relu from its closed form) and P(|f'(a z + b)| < {TAU:g}) (bottom; exact normal-cdf "
            "sums over the set where |f'| < τ).", _svg(fig))


# ---- rank.validation ------------------------------------------------------------------------------

NEARLY_FULL = 0.9   # r̃ after f on rank-r input ≥ 90% of r̃ after f on full-rank isotropic input


def validation(config: Config) -> Evidence:
    """Paper App. A.1.3, validation 1: n samples, d = 50, intrinsic rank r = 10, each registry activation:
    hard rank of f(X) (σ > σ_max · max(n, d) · eps) and effective rank of the uncentred C_f = f(X)ᵀf(X)/n
    (and of the centred covariance). 'Nearly full' is r̃ ≥ 90% of r̃ for the same f on full-rank isotropic
    input (C = I, same n); 'tanh and sigmoid less' is max(tanh, sigmoid) < min(relu, elu) in r̃."""
    rng = np.random.default_rng(config.seed + 3)
    n, d, r = (2000 if config.quick else 10000), 50, 10
    C = correlation_of_rank(d, r, rng)
    X = _sample(C, r, n, rng)
    Xiso = rng.standard_normal((n, d))
    rows = {}
    for f in _registry():
        H, Hiso = apply(f, X), apply(f, Xiso)
        rank, tol = numerical_rank(H)
        row = {"hard_rank": rank, "tolerance": tol}
        for key, centred in (("uncentred", False), ("centred", True)):
            er = effective_rank(moment_spectrum(H, centred))
            er_iso = effective_rank(moment_spectrum(Hiso, centred))
            row[f"effective_rank_{key}"] = er
            row[f"recovery_{key}"] = er / er_iso
        rows[f.name] = row
    input_er = effective_rank(moment_spectrum(X))
    parts = {}
    for key in ("uncentred", "centred"):
        er = {k: rows[k][f"effective_rank_{key}"] for k in ("relu", "elu", "tanh", "sigmoid")}
        parts[key] = {"hard_full": rows["relu"]["hard_rank"] == d and rows["elu"]["hard_rank"] == d,
                      "nearly_full": all(rows[k][f"recovery_{key}"] >= NEARLY_FULL for k in ("relu", "elu")),
                      "ordering": max(er["tanh"], er["sigmoid"]) < min(er["relu"], er["elu"]),
                      "effective_ranks": er}
    measured = {"n": n, "d": d, "intrinsic_rank": r, "input_effective_rank": input_er, "per_activation": rows,
                "claim_parts": parts}
    setting = {"n": n, "d": d, "intrinsic_rank": r,
               "nearly_full": f"r̃ ≥ {NEARLY_FULL} × r̃ on isotropic input",
               "rank_tolerance": "σ > σ_max·max(n, d)·eps_float64", "seed": config.seed}
    u, c = parts["uncentred"], parts["centred"]
    fmt = ", ".join(f"{k} {v:.1f}" for k, v in u["effective_ranks"].items())
    fmt_c = ", ".join(f"{k} {v:.1f}" for k, v in c["effective_ranks"].items())
    if u["hard_full"] and u["nearly_full"] and u["ordering"]:
        verdict, counter = "confirmed", None
        summary = f"Uncentred effective ranks (d = {d}, input r̃ {input_er:.1f}): {fmt}; as stated."
    elif not u["ordering"] and not c["ordering"]:
        verdict = "refuted"
        counter = {"uncentred": u["effective_ranks"], "centred": c["effective_ranks"]}
        summary = (f"tanh/sigmoid do not recover less than relu/elu: r̃ uncentred {fmt}; centred {fmt_c}. "
                   f"Hard rank is {d} for every non-polynomial f.")
    else:
        verdict, counter = "qualified", None
        held = [k for k in ("hard_full", "nearly_full", "ordering") if u[k]]
        failed = [k for k in ("hard_full", "nearly_full", "ordering") if not u[k]]
        rec = " and ".join(f"{k} {rows[k]['recovery_uncentred']:.0%}" for k in ("relu", "elu"))
        summary = (f"Holds: {', '.join(held) or 'none'}; fails: {', '.join(failed)}. Hard rank is {d} for "
                   f"every non-polynomial f (identity {rows['identity']['hard_rank']}), so it cannot single "
                   f"out ReLU/ELU. Effective rank (input {input_er:.1f}) uncentred: {fmt}; centred: {fmt_c}. "
                   f"Relative to the r̃ the same activation gives on full-rank isotropic input: {rec} (nearly "
                   f"full needs {NEARLY_FULL:.0%}).")
    return Evidence(VALIDATION, "validation", "numeric", verdict, summary, setting, measured, counter,
                    figures=[_validation_figure(rows, d, input_er)])


def _validation_figure(rows: dict, d: int, input_er: float) -> tuple[str, str]:
    fig, ax = figures.new(7.5, 3.0)
    names = list(rows)
    x = np.arange(len(names))
    ax.bar(x - 0.2, [rows[k]["effective_rank_uncentred"] for k in names], 0.4, label="uncentred C_f")
    ax.bar(x + 0.2, [rows[k]["effective_rank_centred"] for k in names], 0.4, label="centred covariance")
    ax.axhline(input_er, color="k", ls=":", lw=0.8, label="input r̃")
    ax.axhline(d, color="k", lw=0.5)
    ax.set_xticks(x, names, rotation=45, ha="right")
    ax.set_ylabel("effective rank")
    ax.legend(fontsize=7)
    return (f"Effective rank after each activation of rank-10 Gaussian data (d = {d}; exp of the entropy of "
            "the normalised eigenvalues); hard rank with tolerance σ_max·max(n, d)·eps is in measured.",
            _svg(fig))
