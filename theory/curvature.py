"""Normal-space curvature of LoP manifolds (paper §4, Def. 4.2), symbolically, and the classes it gives.

Let M be an invariant (LoP) manifold, θ ∈ M and N_θM its normal space. Near M a gradient step maps a
normal deviation n to (I − η H_N) n + O(‖n‖²), H_N the Hessian ∇²L(θ) restricted to N_θM (on M the
normal gradient vanishes, so the first-order term is the Hessian's). Def. 4.2: M is **stable** at θ if
vᵀ∇²L v > 0 for every normal v ≠ 0, **unstable** if < 0 for all, a **saddle** otherwise. The second-
order test cannot see a direction with vᵀ∇²L v = 0; we call M **neutral** where the whole normal
curvature vanishes and the loss is shown flat along N to higher order (``classify``).

What this module derives, for generic activations f and a generic loss ℓ (``theory.net``):

- **Frozen units** (``frozen_curvature``). L depends on θ_F (the incoming weights and bias of u) only
  through z_u = θ_F · h̃ (h̃ = (inputs of u, 1)), so on one sample ∂²L/∂θ_F² = (d²L/dz_u²) h̃h̃ᵀ with
  d²L/dz_u² = δ_u f''(z_u) + f'(z_u)² ∂²L/∂h_u², δ_u = ∂L/∂h_u. On M_F (f'(z_u(x_i)) = 0 on every
  sample) the normal Hessian is H_N = Σ_i δ_u(x_i) f''(z_u(x_i)) h̃_i h̃_iᵀ: at an isolated critical
  point of f (GELU's minimum) its sign follows δ_u f'' over the data (stable, unstable or a saddle);
  in a flat region (ReLU, hardtanh: f' = f'' = … = 0 on a neighbourhood) it is 0, and so is every
  higher derivative: L is locally constant in θ_F — **neutral**. The trap then has no restoring and
  no repelling force: noise makes θ_F diffuse until z_u reaches the end of the flat region and the
  unit revives (the radius of neutrality is the margin of the dead unit).
- **Clones** (``clone_neutral``). On the equitable family (incoming- and outgoing-equitable), a
  doubly centred direction R (rows and columns of a block pair summing to 0) changes neither the
  forward pass (incoming sums kept) nor the backward signals (outgoing sums kept): ∇L(θ + tR) = ∇L(θ)
  for every t, so H R = 0 and L is constant along R. These directions are normal to the leaf
  M_D(θ₀) but tangent to the family: exactly neutral, to every order.
- **Clones of a critical point** (``split_curvature``; Fukumizu & Amari 2000, Simsek et al. 2021).
  Clone unit u of a base θ̃ into u₁, u₂ with the same incoming weights w_u and outgoing weights λa,
  (1 − λ)a (a the base's outgoing weights of u). Perturb u₁'s incoming weights by (1 − λ)sξ, u₂'s by
  −λsξ, and the outgoing ones by +o, −o. Then, on every sample, identically in θ̃ and λ:
  L_wide = L̃ (the line λ ↦ θ(λ) computes the base function); ∂L/∂s = 0 and ∂L/∂o = 0 (no coupling
  with the base directions or λ); ∂²L/∂s² = λ(1 − λ) ξᵀKξ with K = Σ_i δ_u f''(z_u) h̃h̃ᵀ;
  ∂²L/∂s∂o_k = ξᵀ C e_k with C = Σ_i f'(z_u) h̃ (∂L/∂z_next)ᵀ; ∂²L/∂o² = 0; and C a = ∇_{w_u}L̃. So at a
  critical point of the base, in the basis (base directions, sξ, o) the wide Hessian is
  diag(H̃, [[λ(1 − λ)K, C], [Cᵀ, 0]]) and, by Sylvester's law of inertia, its signature is that of
  H̃ plus that of the split block (``split_block``). With one output the o-direction is the line
  itself (C a = 0): the split block is λ(1 − λ)K ⊕ 0, so for K ≻ 0 the segment 0 < λ < 1 is (flat
  along the line) minima-like and λ ∉ [0, 1] saddles, and the other way round for K ≺ 0. With several
  outputs C has more columns than C a = 0 kills: where C ≠ 0 on a⊥ the zero block makes every point
  of the line a saddle, minimum or not of the base.

On a small concrete network the whole normal spectrum is computed exactly (``exact_normal_spectrum``:
the SymPy Hessian on the normal basis of any ``theory.manifolds`` manifold — frozen, clone, or their
intersection — to 30 digits), the reference for the float64 numbers of ``numerics.curvature``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import networkx as nx
import numpy as np
import sympy as sp

from theory import manifolds, net
from theory.cloned import block_activations
from theory.invariance import canonical, counterexample, loss_gradient
from theory.partition import partition

Edge = tuple[str, str]
CLASSES = ("stable", "unstable", "saddle", "neutral")


# ---- classes from a spectrum -------------------------------------------------------------------------


@dataclass(frozen=True)
class Inertia:
    """Counts of negative, zero and positive eigenvalues (|λ| ≤ ``tolerance`` counts as zero) and the
    ends of the spectrum."""

    negative: int
    zero: int
    positive: int
    smallest: float
    largest: float
    tolerance: float

    @property
    def dim(self) -> int:
        return self.negative + self.zero + self.positive


def zero_tolerance(eigenvalues: Sequence[float], dim: int | None = None, ulps: float = 64.0) -> float:
    """τ = ulps · ε · dim · max|λ|: rounding of a symmetric eigensolver on a dim × dim matrix whose
    entries are exact to a few ulps of the largest eigenvalue (backward error ~ ε‖H‖ per entry)."""
    values = np.asarray(eigenvalues, dtype=float)
    dim = len(values) if dim is None else dim
    return ulps * np.finfo(float).eps * max(dim, 1) * float(np.abs(values).max(initial=0.0))


def inertia(eigenvalues: Sequence[float], tolerance: float | None = None) -> Inertia:
    values = np.asarray(eigenvalues, dtype=float)
    if values.size == 0:
        raise ValueError("no eigenvalues: the normal space is 0-dimensional (nothing to classify)")
    tol = zero_tolerance(values) if tolerance is None else tolerance
    return Inertia(
        int((values < -tol).sum()),
        int((np.abs(values) <= tol).sum()),
        int((values > tol).sum()),
        float(values.min()),
        float(values.max()),
        float(tol),
    )


def classify(i: Inertia, neutral: int = 0) -> str:
    """The class of Def. 4.2 from the normal spectrum's inertia, given ``neutral`` directions shown
    flat to higher order (e.g. the doubly centred clone directions, a frozen unit's flat region):

    - **saddle** — eigenvalues of both signs (the second-order test decides, whatever the zeros);
    - **stable** / **unstable** — one strict sign on the directions that are not neutral;
    - **neutral** — every normal eigenvalue zero and all of them shown flat;
    - **inconclusive** — zero eigenvalues beyond the ``neutral`` ones leave the sign open (the
      second-order test says nothing about them and no higher-order evidence was given)."""
    if i.negative and i.positive:
        return "saddle"
    if i.zero > neutral:
        return "inconclusive"
    if i.positive:
        return "stable"
    if i.negative:
        return "unstable"
    return "neutral"


# ---- frozen units -------------------------------------------------------------------------------------


@dataclass
class FrozenCurvature:
    """The normal Hessian of M_F for one unit on one generic sample: ``hessian`` (∂²L/∂θ_e∂θ_e' for the
    edges ``edges`` of θ_F, as computed by ``sympy.diff``), the formula δ_u f''(z_u) h̃h̃ᵀ, and the
    reductions: on M_F (f'(z_u) = 0), ``hessian − formula`` → 0; in a flat region (f' = f'' = 0) the
    Hessian → 0 and (f''' = 0 too) every third derivative along θ_F → 0."""

    network: str
    unit: str
    edges: list[Edge]
    hessian: sp.Matrix
    formula: sp.Matrix
    on_manifold: sp.Matrix  # canonical(hessian − formula) with f'(z_u) = 0: the zero matrix when proved
    flat: sp.Matrix  # canonical(hessian) with f' = f'' = 0
    third: list[sp.Expr] = field(default_factory=list)  # canonical third derivatives with f' = f'' = f''' = 0
    hypotheses: dict[str, sp.Expr] = field(default_factory=dict)

    @property
    def proved(self) -> bool:
        return (
            self.on_manifold.is_zero_matrix and self.flat.is_zero_matrix and all(e == 0 for e in self.third)
        )


def frozen_curvature(spec: str = "2-2-2-1", unit: str = "h2.0", third_order: bool = True) -> FrozenCurvature:
    """``FrozenCurvature`` of ``unit`` in the MLP ``spec`` with a generic activation per unit (f_v) and
    the generic loss ℓ, on one symbolic sample (the loss is a sum over samples, each term the same
    expression in its own symbols, so one sample proves it for every data set)."""
    G = net.mlp(spec, activation="generic", output_activation="generic")
    if unit not in G or G.nodes[unit]["kind"] != "hidden":
        raise ValueError(
            f"unit {unit!r} is not a hidden unit of {spec} (accepted: "
            f"{', '.join(v for v in G if G.nodes[v]['kind'] == 'hidden')})"
        )
    w = net.weight_symbols(G)
    X, Y = net.input_symbols(G, 1), net.target_symbols(G, 1)
    edges = net.incoming(G, unit)
    L, zs = net.dataset_loss(G, X, Y, w)
    theta = [w[e] for e in edges]
    H = sp.Matrix(len(theta), len(theta), lambda a, b: sp.diff(L, theta[a], theta[b]))
    # δ_u = ∂L/∂h_u: the same network with h_u replaced by a free symbol η
    eta = sp.Symbol("η", real=True)
    phi0 = net.phi_of(G)
    z_u = zs[0][unit]
    f = net.generic_function(net.generic_name(G, unit))
    L_eta, _ = net.dataset_loss(G, X, Y, w, phi=lambda v, arg: eta if v == unit else phi0(v, arg))
    delta = sp.diff(L_eta, eta).xreplace({eta: f(z_u)})
    z_sym = [sp.diff(z_u, t) for t in theta]  # h̃: the inputs of u (and 1 for the bias)
    D = delta * _nth(f, 2)(z_u)
    formula = sp.Matrix(len(theta), len(theta), lambda a, b: D * z_sym[a] * z_sym[b])
    d1, d2, d3 = (_nth(f, k)(z_u) for k in (1, 2, 3))
    on = (H - formula).xreplace({d1: 0}).applyfunc(canonical)
    flat = H.xreplace({d1: 0, d2: 0}).applyfunc(canonical)
    third = []
    if third_order:
        for a in range(len(theta)):
            third.append(canonical(sp.diff(L, theta[a], 3).xreplace({d1: 0, d2: 0, d3: 0})))
    return FrozenCurvature(
        spec, unit, edges, H, formula, on, flat, third, {"on M_F": sp.Eq(d1, 0), "flat region": sp.Eq(d2, 0)}
    )


def _nth(f: sp.FunctionClass, k: int) -> sp.FunctionClass:
    """The k-th derivative of a one-argument generic function, as the function class SymPy produces."""
    x = sp.Dummy("x")
    return type(sp.diff(f(x), x, k)) if k else f


# ---- clones: neutral directions ---------------------------------------------------------------------


@dataclass
class CloneNeutral:
    """∇L(θ + tR) − ∇L(θ) at a symbolic point θ of the equitable family, R doubly centred on a
    hidden-to-hidden block pair: every component reduces to 0 when the directions are neutral."""

    network: str
    direction: dict[Edge, int]
    reduced: dict[str, sp.Expr]
    coordinates: int  # dimension of the family (symbolic c_k)

    @property
    def proved(self) -> bool:
        return bool(self.reduced) and all(v == 0 for v in self.reduced.values())


def clone_neutral(
    spec: str = "1-2-2-1", direction: Mapping[Edge, int] | None = None, outgoing_equitable: bool = True
) -> CloneNeutral:
    """The neutral directions of a clone (module docstring) on the MLP ``spec`` whose hidden layers
    are each one block of clones (shared generic activation per block, generic ℓ, one sample).
    ``direction`` defaults to the doubly centred R = [[1, −1], [−1, 1]] on the first two units of
    hidden layers 1 and 2. ``outgoing_equitable=False`` starts from a merely incoming-equitable point
    (the negative control: the backward signals differ and R is no longer neutral)."""
    G0 = net.mlp(spec, activation="generic:f", output_activation="generic:g")
    layers = [
        [v for v in G0 if G0.nodes[v]["kind"] == "hidden" and G0.nodes[v]["layer"] == k]
        for k in range(1, max(G0.nodes[v]["layer"] for v in G0))
    ]
    P = partition(G0, [b for b in layers if len(b) > 1])
    G = block_activations(G0, P)
    if direction is None:
        a, b = layers[0][:2], layers[1][:2]
        direction = {(a[0], b[0]): 1, (a[1], b[0]): -1, (a[0], b[1]): -1, (a[1], b[1]): 1}
    M = manifolds.equitable(G, P) if outgoing_equitable else manifolds.incoming_equitable(G, P)
    theta, cs = M.parametrize()
    t = sp.Symbol("t", real=True)
    moved = {e: theta[e] + t * direction.get(e, 0) for e in theta}
    X, Y = net.input_symbols(G, 1), net.target_symbols(G, 1)
    g0 = loss_gradient(G, theta, X, Y)
    g1 = loss_gradient(G, moved, X, Y)
    reduced = {f"∂L/∂w({u},{v})": canonical(g1[(u, v)] - g0[(u, v)]) for u, v in sorted(G.edges)}
    return CloneNeutral(spec, dict(direction), reduced, len(cs))


# ---- clones of a critical point: the split λ -------------------------------------------------------


@dataclass
class SplitCurvature:
    """The identities of the module docstring on one generic sample, each as (label, expression that
    must reduce to 0, its canonical form); ``graph`` and ``weights`` give the wide network and its
    weights in the base's symbols, λ, s, ξ, o (for a counterexample)."""

    network: str
    identities: list[tuple[str, sp.Expr, sp.Expr]]
    graph: nx.DiGraph
    weights: dict[Edge, sp.Expr]
    symbols: dict[str, sp.Expr]

    @property
    def failing(self) -> list[tuple[str, sp.Expr, sp.Expr]]:
        return [i for i in self.identities if i[2] != 0]

    @property
    def proved(self) -> bool:
        return bool(self.identities) and not self.failing

    def counterexample(self, seed: int = 0) -> dict | None:
        """A point where a failing identity is non-zero (``invariance.counterexample``), or None."""
        if not self.failing:
            return None
        return counterexample(self.graph, self.weights, {k: e for k, e, _ in self.failing}, seed)


def split_curvature(
    inputs: int = 2, width: int = 2, outputs: int = 2, balanced: bool = True
) -> SplitCurvature:
    """The split identities for a base MLP ``inputs``-``width``-``outputs`` (biases, generic
    activation f on the cloned unit h1.0, another generic g on the others, generic output activation
    and loss) whose unit h1.0 is cloned. ``balanced=False`` perturbs the clones' incoming weights by
    +sξ and −sξ whatever λ (the negative control: for λ ≠ 1/2 it changes the function at first
    order, so ∂L/∂s ≠ 0)."""
    if min(inputs, width, outputs) < 1:
        raise ValueError("inputs, width and outputs must be positive")
    base = net.mlp(f"{inputs}-{width}-{outputs}", activation="generic:g", output_activation="generic")
    wide = net.mlp(f"{inputs}-{width + 1}-{outputs}", activation="generic:g", output_activation="generic")
    base.nodes["h1.0"]["activation"] = "generic:f"
    for v in ("h1.0", "h1.1"):
        wide.nodes[v]["activation"] = "generic:f"
    ins = [*net.inputs(base), net.BIAS]
    outs = net.outputs(base)
    wb = net.weight_symbols(base)
    lam, s = sp.Symbol("λ", real=True), sp.Symbol("s", real=True)
    xi = {x: sp.Symbol(f"ξ[{x}]", real=True) for x in ins}
    o = {y: sp.Symbol(f"o[{y}]", real=True) for y in outs}
    up, down = ((1 - lam), -lam) if balanced else (1, -1)
    ww: dict[Edge, sp.Expr] = {}
    for x in ins:
        ww[(x, "h1.0")] = wb[(x, "h1.0")] + up * s * xi[x]
        ww[(x, "h1.1")] = wb[(x, "h1.0")] + down * s * xi[x]
        for k in range(1, width):
            ww[(x, f"h1.{k + 1}")] = wb[(x, f"h1.{k}")]
    for y in outs:
        ww[("h1.0", y)] = lam * wb[("h1.0", y)] + o[y]
        ww[("h1.1", y)] = (1 - lam) * wb[("h1.0", y)] - o[y]
        for k in range(1, width):
            ww[(f"h1.{k + 1}", y)] = wb[(f"h1.{k}", y)]
        ww[(net.BIAS, y)] = wb[(net.BIAS, y)]
    X, Y = net.input_symbols(base, 1), net.target_symbols(base, 1)
    L_wide, _ = net.dataset_loss(wide, X, Y, ww)
    L_base, zs = net.dataset_loss(base, X, Y, wb)
    at0 = {s: 0, **{v: 0 for v in o.values()}}

    def d(*by: sp.Symbol) -> sp.Expr:
        return sp.diff(L_wide, *by).xreplace(at0)

    # base quantities: δ_u = ∂L̃/∂h_u and ∂L̃/∂z_k at the outputs, by free symbols standing in for them
    phi0 = net.phi_of(base)
    eta = sp.Symbol("η", real=True)
    zeta = {y: sp.Symbol(f"ζ[{y}]", real=True) for y in outs}
    f = net.generic_function("f")
    z_u = zs[0]["h1.0"]

    L_eta, _ = net.dataset_loss(base, X, Y, wb, phi=lambda v, arg: eta if v == "h1.0" else phi0(v, arg))
    L_zeta, _ = net.dataset_loss(base, X, Y, wb, phi=lambda v, arg: phi0(v, zeta.get(v, arg)))
    delta = sp.diff(L_eta, eta).xreplace({eta: f(z_u)})
    dz = {y: sp.diff(L_zeta, zeta[y]).xreplace({zeta[k]: zs[0][k] for k in outs}) for y in outs}
    xi_h = sp.Add(*[xi[x] * sp.diff(z_u, wb[(x, "h1.0")]) for x in ins])  # ξ · h̃
    f1, f2 = _nth(f, 1)(z_u), _nth(f, 2)(z_u)
    grad_u = loss_gradient(base, wb, X, Y, edges=[(x, "h1.0") for x in ins])
    identities = [
        ("L_wide − L_base (on the line, every λ)", L_wide.xreplace(at0) - L_base),
        ("∂L/∂s", d(s)),
        *[(f"∂L/∂o[{y}]", d(o[y])) for y in outs],
        ("∂²L/∂s² − λ(1−λ) δ_u f''(z_u) (ξ·h̃)²", d(s, s) - lam * (1 - lam) * delta * f2 * xi_h**2),
        *[(f"∂²L/∂s∂o[{y}] − f'(z_u)(ξ·h̃) ∂L/∂z_{y}", d(s, o[y]) - f1 * xi_h * dz[y]) for y in outs],
        *[(f"∂²L/∂o[{y}]∂o[{y2}]", d(o[y], o[y2])) for y in outs for y2 in outs if y <= y2],
        (
            "Σ_k a_k ∂²L/∂s∂o_k − ξ·∇_{w_u}L̃ (C a = the base gradient)",
            sp.Add(*[wb[("h1.0", y)] * d(s, o[y]) for y in outs])
            - sp.Add(*[xi[x] * grad_u[(x, "h1.0")] for x in ins]),
        ),
    ]
    reduced = [(label, e, canonical(e)) for label, e in identities]
    symbols = {"λ": lam, "s": s, **{str(v): v for v in xi.values()}, **{str(v): v for v in o.values()}}
    return SplitCurvature(
        f"{inputs}-{width}-{outputs} cloned at h1.0 → {inputs}-{width + 1}-{outputs}",
        reduced,
        wide,
        ww,
        symbols,
    )


def exact_normal_spectrum(G: nx.DiGraph, M: manifolds.AffineManifold, weights: Mapping[Edge, sp.Rational],
                          X: Sequence[Mapping[str, sp.Rational]], Y: Sequence[Sequence[sp.Rational]],
                          dps: int = 30) -> list:
    """The eigenvalues of the Hessian of L = (1/n) Σ_i ½‖ŷ(x_i) − y_i‖² restricted to the normal space of
    the affine manifold M (the row space of its A, ``M.normal``: frozen, clone, or an intersection by
    ``AffineManifold.intersect``), at a rational point, with the network's registry activations: H by
    ``sympy.diff`` with the data substituted exactly, then, for the normal basis N (not orthonormal), the
    roots of det(NᵀHN − λ NᵀN) = the spectrum of H on N, to ``dps`` digits (mpmath), ascending."""
    import mpmath

    sym = net.weight_symbols(G)
    L, _ = net.dataset_loss(G, X, Y, sym, loss="mse")
    L = L / len(X)
    edges = list(M.edges)
    N = sp.Matrix.hstack(*[n for _, n in M.normal])
    if N.cols == 0:
        raise ValueError(f"{M.name} has no normal direction: nothing to classify")
    theta = [sym[e] for e in edges]
    grad = [sp.diff(L, t) for t in theta]
    pairs = [(a, b) for a in range(len(edges)) for b in range(a, len(edges))]
    entries = sp.lambdify(theta, [sp.diff(grad[a], theta[b]) for a, b in pairs], modules="mpmath", cse=True)
    with mpmath.workdps(dps):
        values = entries(*[mpmath.mpf(sp.Rational(weights[e]).p) / sp.Rational(weights[e]).q for e in edges])
        H = mpmath.matrix(len(edges))
        for (a, b), v in zip(pairs, values):
            H[a, b] = H[b, a] = v
        Nm = mpmath.matrix(N.tolist())
        Gram, B = Nm.T * Nm, Nm.T * H * Nm
        g, U = mpmath.eigsy(Gram)
        root = U * mpmath.diag([1 / mpmath.sqrt(v) for v in g]) * U.T  # (NᵀN)^(−1/2)
        values, _ = mpmath.eigsy(root * B * root)
        return sorted(values[k] for k in range(values.rows))


def split_block(K: np.ndarray, C: np.ndarray, lam: float) -> np.ndarray:
    """[[λ(1 − λ) K, C], [Cᵀ, 0]]: the wide Hessian's block on (sξ, o) at a critical point."""
    K, C = np.asarray(K, dtype=float), np.asarray(C, dtype=float)
    if K.ndim != 2 or K.shape[0] != K.shape[1] or C.shape[0] != K.shape[0]:
        raise ValueError(f"K must be square and C have as many rows (got K {K.shape}, C {C.shape})")
    top = np.hstack([lam * (1 - lam) * K, C])
    bottom = np.hstack([C.T, np.zeros((C.shape[1], C.shape[1]))])
    return np.vstack([top, bottom])
