"""Gaussian and Hermite machinery for rank recovery by activations (paper §3, App. A.1).

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

Functions of z are registry activations (``theory.activations``) or ``adhoc`` ones (polynomial
controls, counterexamples). Ranks of the matrices built from them are in ``theory.spectra``.
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
from scipy.optimize import brentq
from scipy.special import ndtr

from theory import activations
from theory.activations import Activation, z

L = 10.0        # quadrature range |z| ≤ L
L2 = 8.0        # range of each variable in the 2-D kernel quadrature
PANEL = 0.5     # panel width, in z and in the activation's argument x
XFEAT = 20.0    # the activations' own features (kinks, bends) lie in |x| ≤ XFEAT
NODES = 12      # Gauss–Legendre nodes per panel (1e-15 on the registry already at 8)
KMEHLER = 200   # Hermite terms in the Mehler partial sums
RHO = sp.Symbol("rho", real=True)
EPS = sp.Symbol("epsilon", positive=True)
C_SHIFT = sp.Symbol("c", real=True)


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


def as_float(x: sp.Expr) -> float:
    """x evaluated at 30 digits, then rounded to float64."""
    return float(sp.N(x, 30))


def is_zero(x: sp.Expr) -> bool:
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
            if abs(as_float(closed) - values[key]) > 1e-10 * max(1.0, abs(values[key])) and not (
                    key == "slope" and jumps(f)):
                raise ArithmeticError(f"{f.name}: closed-form E[{key}] {as_float(closed)} disagrees with "
                                      f"quadrature {values[key]}")
            values[key] = as_float(closed)
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
    """α_GELU = 1/(3 + 2√3 π), by Stein's lemma (derived by hand; the check of rank.alpha compares it
    with quadrature): with Φ, φ the normal cdf and pdf, E Φ(z)² = 1/3, E z Φ φ = E φ²/2 = 1/(4√3 π)
    and E z²φ² = 1/(6√3 π), so E gelu² = E z²Φ² = 1/3 + 1/(2√3 π) and
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


# ---- Hermite identities: Price, Mehler, polynomial ranks -------------------------------------------

def generic_slope_identity(degree: int = 5) -> sp.Expr:
    """Σ_k k a_k² − E f'² for f = Σ c_j z^j with symbolic c_j: identically 0 (h_k' = √k h_{k−1})."""
    c = sp.symbols(f"c0:{degree + 1}")
    f = adhoc("generic polynomial", sum(cj * z**j for j, cj in enumerate(c)))
    a = hermite_exact(f, degree)
    slope = exact_expectation(f, _TRANSFORMS["slope"])
    return sp.expand(sum(k * ak**2 for k, ak in enumerate(a)) - slope)


def bivariate_moment(m: int, n: int) -> sp.Expr:
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
    entry = sp.expand(sum(c[p] * c[q] * bivariate_moment(p, q) for p in range(degree + 1)
                          for q in range(degree + 1)))
    Cf = sp.Matrix(d, d, lambda i, j: sp.expand(entry.subs(RHO, C[i, j])))
    mehler = sp.Matrix(d, d, lambda i, j: sum(a[k]**2 * C[i, j]**k for k in range(degree + 1)))
    return Cf, (Cf - mehler).applyfunc(sp.expand)


HERMITE_CONVENTIONS = ("probabilists", "physicists")


def hermite_polynomial(k: int, convention: str) -> sp.Expr:
    """He_k (probabilists': orthogonal under e^{−x²/2}) or H_k (physicists': under e^{−x²}), in z."""
    if convention not in HERMITE_CONVENTIONS:
        raise ValueError(f"unknown Hermite convention {convention!r} (accepted: "
                         f"{', '.join(HERMITE_CONVENTIONS)})")
    return sp.hermite_prob(k, z) if convention == "probabilists" else sp.hermite(k, z)


def polynomial_kernel(p: sp.Expr, q: sp.Expr, variance: sp.Expr = 1) -> sp.Expr:
    """E p(X) q(Y) for polynomials p, q in z and (X, Y) centred Gaussian with variance ``variance`` and
    correlation ρ: Σ p_m q_n v^{(m+n)/2} E X₁^m Y₁^n (``bivariate_moment``), a polynomial in ρ."""
    P, Q = sp.Poly(sp.expand(p), z), sp.Poly(sp.expand(q), z)
    v = sp.sympify(variance)
    return sp.expand(sum(cp * cq * v**sp.Rational(m + n, 2) * bivariate_moment(m, n)
                         for (m,), cp in P.terms() for (n,), cq in Q.terms()))


def hermite_product_moments(K: int, convention: str, variance: sp.Expr = 1) -> sp.Matrix:
    """M[k, l] = E P_k(X) P_l(Y) for k, l ≤ K, P the Hermite polynomials of ``convention`` and (X, Y) as in
    ``polynomial_kernel``. Probabilists' at variance 1: δ_kl k! ρ^k; physicists' at variance 1/2:
    δ_kl 2^k k! ρ^k (H_k(x) = 2^{k/2} He_k(√2 x))."""
    P = [hermite_polynomial(k, convention) for k in range(K + 1)]
    return sp.Matrix(K + 1, K + 1, lambda k, l: polynomial_kernel(P[k], P[l], variance))


def physicists_coefficient(f: Activation, k: int) -> sp.Expr | None:
    """c_k = (1/(2^k k! √π)) ∫ f(x) H_k(x) e^{−x²} dx exactly (elementary pieces only), by
    ∫ g(x) e^{−x²} dx = √π E g(Z/√2), Z ~ N(0, 1): the coefficient of H_k in f's expansion in L²(e^{−x²})."""
    hk = hermite_polynomial(k, "physicists")
    scaled = adhoc(f"{f.name}(z/√2)", f.expr.subs(z, z / sp.sqrt(2)))
    e = exact_expectation(scaled, lambda p: p * hk.subs(z, z / sp.sqrt(2)))
    return None if e is None else sp.expand(e / (2**k * sp.factorial(k)))


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


def gap_quadrature(f: Activation, rho: float, nodes: int = NODES) -> float:
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
    fine = gap_quadrature(f, rho)
    return fine, abs(fine - gap_quadrature(f, rho, NODES // 2))


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


# ---- series of the kernel at ρ = 0 and ρ = 1 --------------------------------------------------------

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


# ---- α of affine families g(z) = f(a z + b) ---------------------------------------------------------

def affine_alpha(f: Activation, loc, scale) -> tuple[np.ndarray, np.ndarray]:
    """(α, E g²) of g(z) = f(scale·z + loc): α = scale² E f'(x)² / E f(x)² − 1 (chain rule)."""
    fn, dfn = numeric(f.expr), numeric(f.derivative)
    second = gauss(lambda x: fn(x)**2, kinks(f), loc, scale)
    slope = gauss(lambda x: dfn(x)**2, kinks(f), loc, scale)
    with np.errstate(invalid="ignore", divide="ignore"):  # 0/0 where all mass left the window (relu only)
        return np.asarray(scale)**2 * slope / second - 1, second


@functools.cache
def relu_shift_alpha() -> tuple[sp.Expr, sp.Expr, sp.Expr, sp.Expr]:
    """For g = relu(z − c) (= relu(a z + b)/a with c = −b/a): α_c + 1 = Φ(−c)/E(z − c)₊², where
    E(z − c)₊² = (1+c²)Φ(−c) − cφ(c) (exact, from the registry's pieces); and for c > 0 a rational
    lower bound from the Mills-ratio bounds φ(c)(1/c − 1/c³) ≤ Φ(−c) ≤ φ(c)(1/c − 1/c³ + 3/c⁵):
    α_c + 1 ≥ (c⁴ − c²)/(2c² + 3) → ∞. (SymPy's own limit of the exact ratio is −1, which is wrong:
    mpmath gives ≈ c²/2.) Returns (α_c, E(z − c)₊², the bound, the bound's limit as c → ∞)."""
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

