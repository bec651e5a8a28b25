"""Optimizer update maps decided on manifolds: the one engine that says whether an optimizer keeps an
LoP manifold invariant in the joint (θ, optimizer state) space, for the frozen and the cloned families.

Every question is asked of the registry's own map (``theory.updates``), run once on SymPy symbols by
``symbolic_step``: the hyperparameters are positive symbols (``HP_SYMBOLS``), so a conclusion holds
for every value, not just the defaults, and the numeric checks then run the same map in torch.

**Frozen units** (``derive_frozen``). A unit u is frozen when f'_u(z_u(x)) = 0 on every training
input x; then g_F = ∂L/∂θ_F = 0 for its incoming weights and bias θ_F (claim frozen.gradient-zero).
Run the map once with g_F = 0 (for dropout, g_F = g̃_F, the gradient under the mask), the carried
state s₀ and the hyperparameters as symbols. Restricted to the coordinate θ_F, every map in the
registry has the form

    s_F ← r s_F                  each state entry decays by a constant ratio r = s_F'/s_F
    θ_F ← c θ_F + a(j)           affine: c = ∂θ_F'/∂θ_F, a(j) = θ_F' − c θ_F at s_F = r^{j−1} s₀

at the j-th frozen step (torch's step counter t = t₀ + j, t₀ the steps taken before freezing), so

    θ_F(K) − θ_F0 = (c^K − 1) θ_F0 + Σ_{j=1}^{K} c^{K−j} a(j).

The closed form is checked against K = 1, 2, 3 literal iterations of the map. M_F = {θ_F = θ_F0} is
invariant iff c = 1 and a ≡ 0; it is invariant "iff carried state = 0" when c = 1 and a vanishes with
s₀. For a first-layer unit on a fixed data set z_u(x) = θ_F·(x, 1), so the predicted θ_F(k) decides
revival: u revives at the first k with max_x θ_F(k)·(x, 1) above the edge e of its flat region
(−∞, e] (e = 0 for ReLU, −1 hardtanh, −3 hardsigmoid). Under θ_F → c θ_F (weight decay) z → c z stays
≤ e iff e ≥ 0: ReLU stays dead, hardtanh/hardsigmoid revive (``contraction_revives``).

**Cloned units** (``derive_clone``). For blocks S_1..S_k of clones (``theory.partition``), the
*family* is the linear space of equitable weights (incoming- and outgoing-equitable: clones stay
clones, forward and backward), and the *leaf* through an equitable W₀ is M_D(W₀) = W₀ +
{block-constant}. On an MLP every block pair is biregular, so the leaf lies in the family; on the
family the gradient g is block-constant (claim cloned.backward). One step of the map (θ, s) ↦
(θ + Δθ, s') runs on SymPy object arrays over the edges of a small cloned MLP (``clones``): θ a
generic equitable point (the leaf through θ is M_D(θ) = M_D(W₀)), g one symbol per block pair, the
state one symbol per block pair and key, t a symbol, gradient noise ξ one symbol per edge, dropout
masks one symbol per hidden unit (the masked gradient is then computed from the network, generic
activations and loss). With A_bc, A_eq the constraint matrices,

    A_bc Δθ = 0  ⇔  θ + Δθ ∈ M_D(W₀)        (Δθ block-constant: the leaf is kept)
    A_eq Δθ = 0  ⇔  θ + Δθ is equitable      (Δθ equitable: the family is kept)
    A_bc s' = 0  ⇔  the state stays block-constant.

Every residual is brought to 0 by expansion or shown non-zero at a concrete point. If the leaf
(family) residuals vanish and the state stays block-constant, the set {θ ∈ M_D(W₀), s block-constant}
({θ equitable, s block-constant}) is mapped into itself, so by induction it holds for every number of
steps, on any batches. A map that is coordinate-wise in (θ, g, s) — momentum, Nesterov, Adam,
RMSprop — sends block-constant inputs to block-constant outputs; clipping multiplies g by one global
scalar; L2 / decoupled weight decay add −ηλθ, which is equitable but block-constant only when W₀ is;
noise and dropout masks are drawn per coordinate / per unit. When a residual does not vanish, the
relaxations that make it vanish are tried (θ block-constant, noise block-constant, masks constant on
every block), giving the exact condition.

**Which state.** Freshly started (zero) state is block-constant. State carried over from training
the base is block-constant once cloned with the weights; the consistent rule follows from the
gradient of the equal-split clone, ∂L'/∂w'(u, v) = ∂L/∂w(s(u), s(v)) / |S_{s(v)}| for an edge u → v
(the receiver's block size: each clone carries 1/|S| of its unit's backward signal;
``gradient_rule`` proves it), and from the map's homogeneity s'(c g, c^k s) = c^k s'(g, s) (k = 1 for
momentum buffers and first moments, 2 for second moments; ``state_degrees``). Copying the base's state
unchanged (k = 0) is also block-constant, hence also safe. A state that is *not* block-constant — the
original unit keeps its moments while its copies start fresh — breaks the symmetry
(``derive_clone_control``).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np
import sympy as sp

from theory import activations, cloned, invariance, manifolds, net, updates
from theory.frozen import dead_edge
from theory.manifolds import AffineManifold, Edge

# hyperparameters as positive symbols: the derivation holds for every value, not just the defaults
HP_SYMBOLS: dict[str, sp.Symbol] = {
    name: sp.Symbol(text, positive=True)
    for name, text in {"lr": "η", "momentum": "μ", "beta1": "β₁", "beta2": "β₂", "eps": "ε",
                       "weight_decay": "λ", "alpha": "α", "max_norm": "c", "sigma0": "σ₀",
                       "decay": "γ", "p": "p"}.items()}


def hyperparameters(optimizer: str) -> dict[str, sp.Symbol]:
    """The symbols of an optimizer's hyperparameters."""
    return {k: HP_SYMBOLS[k] for k in updates.get(optimizer).defaults}


def symbolic_step(optimizer: str, theta: np.ndarray, g: np.ndarray, state: dict[str, np.ndarray], t: Any,
                  noise: np.ndarray | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """One step of the registry map on SymPy object arrays, hyperparameters as symbols."""
    return updates.get(optimizer).step(theta, g, state, t, hyperparameters(optimizer), noise)


# ---- frozen units ------------------------------------------------------------------------------

j = sp.Symbol("j", integer=True, positive=True)  # frozen step 1, 2, ...


K = sp.Symbol("K", integer=True, positive=True)  # frozen steps taken


t0 = sp.Symbol("t₀", integer=True, nonnegative=True)  # optimizer steps taken before freezing


theta_F0 = sp.Symbol("θ_F0", real=True)


theta_A = sp.Symbol("θ_A", real=True)  # a coordinate of a live unit: global norms couple to it


g_A = sp.Function("g_A", real=True)  # its gradient at step t (all live coordinates, in one)


g_masked = sp.Function("g̃_F", real=True)  # θ_F's gradient under a dropout mask


xi_F, xi_A = sp.Function("ξ_F", real=True), sp.Function("ξ_A", real=True)  # noise samples


INVARIANT = "invariant"


NOT_INVARIANT = "not invariant"


IFF_STATE = "iff carried state = 0"


IFF_MASKS = "iff g̃_F = 0 under every mask (u dead under every dropout mask)"


@dataclass(frozen=True)
class FrozenDerivation:
    """The frozen coordinate's update under one optimizer, in closed form (see module docstring)."""

    optimizer: str
    ratios: dict[str, sp.Expr]  # state key -> r, s_F(j) = r^j s₀
    contraction: sp.Expr  # c
    increment: sp.Expr  # a(j)
    drift: sp.Expr  # θ_F(K) − θ_F0
    drift_limit: sp.Expr | None  # K → ∞ (None for random drifts)
    category: str
    vanishing_state: tuple[str, ...]  # the state entries whose vanishing makes a ≡ 0
    iterations_checked: int
    closed_form_matches: bool  # the closed form reproduces that many literal iterations
    state_symbols: dict[str, sp.Symbol] = field(repr=False)

    @property
    def hp_symbols(self) -> dict[str, sp.Symbol]:
        return hyperparameters(self.optimizer)

    @property
    def random(self) -> bool:
        """a(j) depends on a noise sample or a dropout mask, not only on the carried state."""
        return bool(self.increment.atoms(sp.core.function.AppliedUndef))

    def drift_part(self, hp: dict[str, float], state: dict[str, np.ndarray], steps: int,
                   start: int, shape: tuple[int, ...]) -> tuple[float, np.ndarray]:
        """(c, D) with D_k = Σ_{i≤k} c^{k−i} a(i), k = 0..K, D of shape (K+1, *shape), for carried
        states of that shape, so that θ_F(k) = c^k θ_F0 + D_k. Evaluates the SymPy closed form
        (``start`` = t₀), not the torch optimizer."""
        if self.random:
            raise ValueError(f"{self.optimizer}: the drift is random, there is no trajectory to predict")
        keys = list(self.state_symbols)
        hp_keys = list(self.hp_symbols)
        values = [hp[k] for k in hp_keys]
        c = float(sp.lambdify([self.hp_symbols[k] for k in hp_keys], self.contraction)(*values))
        a_fn = sp.lambdify([j, t0, *(self.state_symbols[k] for k in keys),
                            *(self.hp_symbols[k] for k in hp_keys)], self.increment, "numpy")
        js = np.arange(1, steps + 1, dtype=np.float64).reshape(-1, *[1] * len(shape))
        a = np.broadcast_to(a_fn(js, start, *(state[k] for k in keys), *values), (steps, *shape))
        D = np.zeros((steps + 1, *shape))
        for k in range(1, steps + 1):
            D[k] = c * D[k - 1] + a[k - 1]
        return c, D

    def noise_coefficient(self) -> sp.Expr:
        """∂a/∂ξ_F: the noise's scale on θ_F at step t₀ + j, in terms of G = ‖g_t‖."""
        coef = sp.diff(self.increment, xi_F(t0 + j))
        return coef.subs(sp.Abs(g_A(t0 + j)), sp.Symbol("G", positive=True))


def _objects(*items: Any) -> np.ndarray:
    return np.array(items, dtype=object)


@cache
def derive_frozen(name: str) -> FrozenDerivation:
    """Derive θ_F's frozen dynamics from ``updates.OPTIMIZERS[name]`` (module docstring)."""
    spec = updates.get(name)
    s0 = {k: sp.Symbol(f"{k}₀", real=True) for k in spec.state_keys}
    s_A = {k: sp.Symbol(f"{k}_A", real=True) for k in spec.state_keys}

    def step(theta: sp.Expr, state: dict[str, sp.Expr], t: sp.Expr) -> tuple[sp.Expr, dict[str, sp.Expr]]:
        """The registry map on (θ_F, θ_A); θ_F's gradient is 0 (g̃_F under dropout)."""
        g_F = g_masked(t) if spec.gradient == "dropout" else sp.Integer(0)
        new, new_state = symbolic_step(name, _objects(theta, theta_A), _objects(g_F, g_A(t)),
                                       {k: _objects(state[k], s_A[k]) for k in state}, t,
                                       _objects(xi_F(t), xi_A(t)))
        return new[0], {k: v[0] for k, v in new_state.items()}

    theta1, state1 = step(theta_F0, s0, t0 + j)
    ratios = {k: sp.simplify(state1[k] / s0[k]) for k in s0}
    for k, r in ratios.items():
        if r.free_symbols & {*s0.values(), theta_F0}:
            raise NotImplementedError(f"{name}: state {k} does not decay geometrically ({r})")
    c = sp.simplify(sp.diff(theta1, theta_F0))
    if c.free_symbols & {*s0.values(), theta_F0}:
        raise NotImplementedError(f"{name}: the frozen update is not affine in θ_F ({c})")
    theta_j, _ = step(theta_F0, {k: ratios[k] ** (j - 1) * s0[k] for k in s0}, t0 + j)
    a = theta_j - c * theta_F0
    a = sp.powsimp(sp.simplify(a) if a.has(theta_F0) else a)

    # the closed form against literal iterations of the map
    theta, state, checked, matches = theta_F0, dict(s0), 3, True
    for k in range(1, checked + 1):
        theta, state = step(theta, state, t0 + k)
        closed = c**k * theta_F0 + sum(c ** (k - i) * a.subs(j, i) for i in range(1, k + 1))
        gap = sp.expand(theta - closed)
        matches = matches and (gap == 0 or sp.simplify(gap) == 0)

    # the decay ratios are hyperparameters in (0, 1): that picks the r ≠ 1 branch of Σ r^j
    assume = sp.And(*(sp.Q.lt(r, 1) for r in ratios.values() if r.is_Symbol))
    drift = (c**K - 1) * theta_F0 + _sum(c ** (K - j) * a, K, assume)
    if a.atoms(sp.core.function.AppliedUndef):
        limit = None  # a random walk (noise) or a mask-dependent gradient: no deterministic limit
    elif c == 1:
        limit = _sum(a, sp.oo, assume)
    else:
        # 0 < c < 1, written c = 1/(1 + κ), κ > 0: c^K θ_F0 → 0; the moment part is a summable
        # sequence convolved with c^{K−j}, which also tends to 0
        kappa = sp.Symbol("κ", positive=True)
        limit = sp.limit(((1 / (1 + kappa)) ** K - 1) * theta_F0, K, sp.oo)

    if c == 1 and a == 0:
        category, vanishing = INVARIANT, ()
    elif c == 1 and spec.gradient == "dropout" and a.replace(g_masked, lambda t: 0) == 0:
        category, vanishing = IFF_MASKS, ()
    else:
        category, vanishing = NOT_INVARIANT, ()
        if c == 1:
            subsets = (s for n in range(1, len(s0) + 1) for s in itertools.combinations(s0, n))
            vanishing = next((s for s in subsets if a.subs({s0[k]: 0 for k in s}) == 0), ())
            category = IFF_STATE if vanishing else NOT_INVARIANT
    return FrozenDerivation(name, ratios, c, a, drift, limit, category, vanishing, checked, matches, s0)


def _sum(term: sp.Expr, upper: sp.Expr, assume: sp.Basic) -> sp.Expr:
    """Σ_{j=1}^{upper} term: summed in closed form when the series is geometric (term(j+1)/term(j)
    free of j), else left as the Sum (Adam's terms are not geometric; asking SymPy costs seconds)."""
    if term == 0:
        return sp.Integer(0)
    total = sp.Sum(term, (j, 1, upper))
    if sp.simplify(term.subs(j, j + 1) / term).has(j):
        return total
    done = total.doit()
    if done.has(sp.Piecewise):  # the r = 1 / |r| ≥ 1 branches of Σ r^j
        done = sp.refine(done, assume)
    return total if done.has(sp.Sum) else sp.factor_terms(sp.simplify(done))


def adam_bound(d: FrozenDerivation) -> sp.Expr | None:
    """For a map with first moment m and second moment v (Adam, AdamW): a bound on Σ_j |a(j)|.

    |a(j)| ≤ η |m₀| β₁^j / ((1 − β₁^{t₀+1}) √(β₂^j v₀)) (drop ε; 1 − β₂^t < 1; 1 − β₁^t grows
    with t), a geometric series of ratio ρ = β₁/√β₂, so Σ_j |a(j)| ≤ η|m₀| ρ / ((1 − ρ)(1 − β₁^{t₀+1})√v₀),
    finite because β₁ < √β₂ (0.9 < 0.9995 by default) — the drift is bounded even as K → ∞.
    """
    if not {"m", "v"} <= set(d.ratios):
        return None
    b1, rho = d.ratios["m"], d.ratios["m"] / sp.sqrt(d.ratios["v"])
    m0, v0 = d.state_symbols["m"], d.state_symbols["v"]
    return HP_SYMBOLS["lr"] * sp.Abs(m0) * rho / ((1 - rho) * (1 - b1 ** (t0 + 1)) * sp.sqrt(v0))


def mask_analysis(activation: str = "relu", inputs: int = 3) -> dict[str, Any]:
    """When is u dead under every dropout mask?

    Under a mask m ∈ {0,1}^n on the units feeding u (torch scales kept units by s = 1/(1−p)),
    z̃_u = b + s Σ_j m_j w_j h_j, maximised by keeping exactly the j with w_j h_j > 0:
    max_m z̃_u = b + s Σ_j (w_j h_j)⁺. So u is dead under every mask iff b + s Σ_j (w_j h_j)⁺ ≤ e on
    every input. Sufficient (data-independent): w_j h_j ≤ 0 for all j (w ≤ 0 on non-negative ReLU
    inputs) and b < e. Not implied by being dead without dropout: w = (1, −2), h = (1, 1),
    b = e − 1/2 gives z = e − 3/2 without dropout but z̃ = e + 11/18 when the second input is dropped.
    """
    edge = sp.nsimplify(dead_edge(activation))
    s = sp.Symbol("s", positive=True)  # 1/(1−p)
    beta = sp.Symbol("β", positive=True)  # b = e − β
    P = sp.symbols(f"P1:{inputs + 1}", nonpositive=True)  # P_j = w_j h_j ≤ 0 (the sign condition)
    m = sp.symbols(f"m1:{inputs + 1}", nonnegative=True)  # mask entries, 0 or 1
    z_masked = edge - beta + s * sum(mi * Pi for mi, Pi in zip(m, P))
    sign_condition_dead = bool((z_masked - edge).is_negative)

    w, h, b, p = (1, -2), (1, 1), edge - sp.Rational(1, 2), sp.Rational(1, 10)
    scale = 1 / (1 - p)
    masked = {mask: b + scale * sum(mk * wk * hk for mk, wk, hk in zip(mask, w, h))
              for mask in itertools.product((0, 1), repeat=len(w))}
    worst = max(masked, key=masked.get)
    plain = b + sum(wk * hk for wk, hk in zip(w, h))
    return {
        "z_masked_sign_condition": z_masked,
        "sign_condition_dead_under_every_mask": sign_condition_dead,
        "worst_mask_formula_matches":
            masked[worst] == b + scale * sum(max(0, wk * hk) for wk, hk in zip(w, h)),
        "counterexample": {"w": list(w), "h": list(h), "b": b, "p": p, "z_without_dropout": plain,
                           "dead_without_dropout": bool(plain <= edge), "mask": list(worst),
                           "z_under_mask": masked[worst], "alive_under_mask": bool(masked[worst] > edge)},
    }


def contraction_revives() -> dict[str, bool]:
    """Per exactly-freezing activation: does θ_F → cθ_F (0 < c < 1) revive a first-layer unit frozen
    from below? z → cz → 0 leaves (−∞, e] iff e < 0."""
    return {name: dead_edge(name) < 0 for name, a in activations.ACTIVATIONS.items()
            if a.flat_set.measure > 0}  # freezing() == "exact", without its limits at ±∞


# ---- cloned units ------------------------------------------------------------------------------

BLOCK_CONSTANT = "block-constant"


EQUITABLE = "equitable, not block-constant"


NEITHER = "neither block-constant nor equitable"


# (architecture, block sizes per hidden layer): the smallest MLP whose leaf and family differ, then one
# with blocks of unequal sizes (full runs only)
Network = tuple[str, tuple[tuple[int, ...], ...]]


NETWORKS: tuple[Network, ...] = (("2-2-2-1", ((2,), (2,))), ("2-3-2-1", ((3,), (2,))))


t = sp.Symbol("t", integer=True, positive=True)  # torch's step count (bias correction, σ_t)


@dataclass(frozen=True)
class Clones:
    """A small MLP with blocks of clones, its generic-activation network and its manifolds."""

    case: cloned.Case
    network: Any  # networkx.DiGraph with one generic f_S per block
    equitable: AffineManifold
    block_constant: AffineManifold

    @property
    def edges(self) -> tuple[Edge, ...]:
        return self.block_constant.edges

    def pair(self, e: Edge) -> tuple[str, str]:
        P = self.case.partition
        return P.label(P.block_of[e[0]]), P.label(P.block_of[e[1]])

    def per_pair(self, name: str, positive: bool = False) -> np.ndarray:
        """A generic block-constant vector: one symbol name[S_i→S_j] per block pair."""
        return np.array([_symbol(f"{name}[{'→'.join(self.pair(e))}]", positive) for e in self.edges],
                        dtype=object)

    def per_edge(self, name: str, positive: bool = False) -> np.ndarray:
        """A generic vector: one symbol name[u→v] per edge."""
        return np.array([_symbol(f"{name}[{u}→{v}]", positive) for u, v in self.edges], dtype=object)

    def vector(self, values: Mapping[Edge, Any]) -> np.ndarray:
        return np.array([sp.sympify(values[e]) for e in self.edges], dtype=object)

    def mapping(self, values: np.ndarray) -> dict[Edge, Any]:
        return dict(zip(self.edges, values))


def _symbol(name: str, positive: bool) -> sp.Symbol:
    return sp.Symbol(name, positive=True) if positive else sp.Symbol(name, real=True)


@cache
def clones(network: Network = NETWORKS[0]) -> Clones:
    spec, blocks = network
    case = cloned.mlp_case(spec, [list(b) for b in blocks])
    G, P = case.graph, case.partition
    return Clones(case, cloned.block_activations(G, P), manifolds.equitable(G, P),
                  manifolds.block_constant(G, P))


def masked_gradient(c: Clones, theta: np.ndarray, masks: Mapping[str, sp.Expr]) -> np.ndarray:
    """∂L/∂θ for one symbolic sample when hidden unit v outputs m_v f_S(z(v)) / (1 − p) (torch's
    inverted dropout), generic f_S per block and generic loss ℓ, evaluated at θ."""
    G = c.network
    phi0, p = net.phi_of(G), HP_SYMBOLS["p"]

    def phi(v: str, z: sp.Expr) -> sp.Expr:
        return phi0(v, z) * masks[v] / (1 - p) if v in masks else phi0(v, z)

    sym = net.weight_symbols(G)
    X, Y = net.input_symbols(G, 1), net.target_symbols(G, 1)
    L, _ = net.dataset_loss(G, X, Y, sym, "generic", phi=phi)
    at = {sym[e]: th for e, th in zip(c.edges, theta)}
    return np.array([sp.diff(L, sym[e]).xreplace(at) for e in c.edges], dtype=object)


@dataclass
class Step:
    """One step of an optimizer's map from a generic point θ of the family (the leaf through it is
    M_D(θ)), and the residuals that decide where θ + Δθ lies (module docstring)."""

    optimizer: str
    network: Network
    assumptions: dict[str, str]
    theta: np.ndarray
    delta: np.ndarray
    new_state: dict[str, np.ndarray]
    leaf: dict[str, sp.Expr]  # A_bc Δθ, expanded
    family: dict[str, sp.Expr]  # A_eq Δθ, expanded
    state: dict[str, dict[str, sp.Expr]]  # key -> A_bc s', expanded

    @staticmethod
    def _zero(residuals: Mapping[str, sp.Expr]) -> bool:
        return all(r == 0 for r in residuals.values())

    @property
    def state_block_constant(self) -> bool:
        return all(self._zero(r) for r in self.state.values())

    @property
    def delta_class(self) -> str:
        if self._zero(self.leaf):
            return BLOCK_CONSTANT
        return EQUITABLE if self._zero(self.family) else NEITHER

    @property
    def leaf_invariant(self) -> bool:
        return self.delta_class == BLOCK_CONSTANT and self.state_block_constant

    @property
    def family_invariant(self) -> bool:
        return self.delta_class != NEITHER and self.state_block_constant


def _residuals(M: AffineManifold, values: np.ndarray, prefix: str) -> dict[str, sp.Expr]:
    """A values − b per constraint of M, expanded (``invariance.canonical``), by label."""
    return {f"{prefix}[{label}]": invariance.canonical(r)
            for label, r in zip(M.labels, M.residual(dict(zip(M.edges, values))))}


@cache
def one_step(optimizer: str, base: str = "equitable", state: str = BLOCK_CONSTANT, noise: str = "per edge",
             masks: str = "per unit", network: Network = NETWORKS[0]) -> Step:
    """The registry map of ``optimizer`` once, on ``clones(network)``, from a generic point θ.

    base: θ a generic ``equitable`` point (the family) or a generic ``block-constant`` one (an exact
    clone, whose leaf is the block-constant space); state: one symbol per block pair
    (``block-constant``) or per edge (``per edge``, the negative control), second moments positive;
    noise ξ: i.i.d. ``per edge`` (torch) or ``block-constant``; dropout masks: ``per unit`` (torch)
    or ``per block`` (constant on every block). The gradient is block-constant (cloned.backward)
    unless the optimizer's gradient is the dropout one, which is computed from the network.
    """
    c = clones(network)
    spec = updates.get(optimizer)
    theta = c.per_pair("θ") if base == BLOCK_CONSTANT else c.vector(c.equitable.parametrize("a")[0])
    make = c.per_pair if state == BLOCK_CONSTANT else c.per_edge
    s = {k: make(k, positive=k == "v") for k in spec.state_keys}
    xi = c.per_pair("ξ") if noise == BLOCK_CONSTANT else c.per_edge("ξ")
    if spec.gradient == "dropout":
        P = c.case.partition
        hidden = [v for v in net.units(c.network) if c.network.nodes[v]["kind"] == "hidden"]
        g = masked_gradient(c, theta, {v: mask_symbol(P.label(P.block_of[v]) if masks == "per block" else v)
                                       for v in hidden})
    else:
        g = c.per_pair("g")
    new, new_state = symbolic_step(optimizer, theta, g, s, t, xi)
    leaf = manifolds.clone_manifold(c.case.graph, c.case.partition, c.mapping(theta))
    gradient = "masked, from the network" if spec.gradient == "dropout" else BLOCK_CONSTANT
    assumptions = {"θ": base, "g": gradient, "state": state, "noise ξ": noise, "dropout masks": masks}
    return Step(optimizer, network, assumptions, theta, new - theta, new_state,
                leaf=_residuals(leaf, new, "A_bc Δθ"), family=_residuals(c.equitable, new, "A_eq Δθ"),
                state={k: _residuals(c.block_constant, v, f"A_bc {k}'") for k, v in new_state.items()})


def mask_symbol(unit: str) -> sp.Symbol:
    return sp.Symbol(f"mask[{unit}]", nonnegative=True)


# what a non-vanishing residual can be blamed on: (words, the relaxation, the symbols it replaces)
RELAXATIONS = (("θ block-constant (the leaf through an exact clone)", {"base": BLOCK_CONSTANT}, "a"),
               ("noise ξ block-constant", {"noise": BLOCK_CONSTANT}, "ξ["),
               ("dropout masks constant on every block", {"masks": "per block"}, "mask["))


@dataclass(frozen=True)
class CloneDerivation:
    """An optimizer's map decided on every network of ``networks``."""

    optimizer: str
    steps: tuple[Step, ...]  # one per network
    leaf_condition: str | None  # the relaxation under which the leaf is kept, when it is not always
    family_condition: str | None
    counterexample: dict[str, Any] | None  # a concrete point where a non-vanishing residual ≠ 0

    @property
    def step(self) -> Step:
        """The first network's step (the one shown)."""
        return self.steps[0]

    @property
    def leaf_invariant(self) -> bool:
        return all(s.leaf_invariant for s in self.steps)

    @property
    def family_invariant(self) -> bool:
        return all(s.family_invariant for s in self.steps)


def _condition(optimizer: str, holds: str, steps: tuple[Step, ...]) -> str | None:
    """The first relaxation under which ``holds`` ("leaf_invariant" or "family_invariant") is true on
    every network; relaxations whose symbols do not occur in a non-zero residual are skipped."""
    residuals = [r for s in steps for r in (*s.leaf.values(), *s.family.values()) if r != 0]
    names = {str(x) for r in residuals for x in r.free_symbols}
    for words, kwargs, prefix in RELAXATIONS:
        if any(n.startswith(prefix) for n in names) and all(
                getattr(one_step(optimizer, **kwargs, network=s.network), holds) for s in steps):
            return words
    return None


def concrete(expr: sp.Expr, optimizer: str, masks: Mapping[str, int] | None = None) -> sp.Expr:
    """The registry's default hyperparameters (as exact rationals), step t = 1 and, for dropout, a
    concrete 0/1 mask substituted into ``expr``."""
    at = {HP_SYMBOLS[k]: sp.nsimplify(v) for k, v in updates.get(optimizer).defaults.items()}
    at[t] = sp.Integer(1)
    at.update({mask_symbol(v): m for v, m in (masks or {}).items()})
    return expr.xreplace(at)


def drop_one_clone(c: Clones) -> dict[str, int]:
    """Keep every hidden unit but the second member of the first block (a legal dropout mask)."""
    dropped = c.case.partition.nontrivial[0][1]
    return {v: int(v != dropped) for v in net.units(c.network) if c.network.nodes[v]["kind"] == "hidden"}


def find_counterexample(step: Step, residuals: Mapping[str, sp.Expr], seed: int) -> dict[str, Any] | None:
    """A concrete point (random rationals for θ, g, state, noise, data; registry hyperparameters;
    generic activations and loss replaced by concrete ones) where a residual is non-zero."""
    c = clones(step.network)
    masks = drop_one_clone(c) if updates.get(step.optimizer).gradient == "dropout" else None
    exprs = {k: concrete(v, step.optimizer, masks) for k, v in residuals.items() if v != 0}
    found = invariance.counterexample(c.network, c.mapping(step.theta), exprs, seed)
    if found is not None:
        found.update(optimizer=step.optimizer, hyperparameters=dict(updates.get(step.optimizer).defaults),
                     step_t=1, assumptions=step.assumptions)
        if masks:
            found["dropout_mask"] = masks
    return found


def _first_counterexample(steps: tuple[Step, ...], seed: int) -> dict[str, Any] | None:
    """For the first network where the leaf is not kept: a point where a family residual (or, if the
    family is kept, a leaf residual) is non-zero."""
    for s in steps:
        if not s.leaf_invariant:
            return find_counterexample(s, s.leaf if s.family_invariant else s.family, seed)
    return None


@cache
def derive_clone(optimizer: str, seed: int = 0, networks: tuple[Network, ...] = NETWORKS[:1]
                 ) -> CloneDerivation:
    """Decide the leaf and the family for ``optimizer`` from its registry map on every network
    (module docstring)."""
    steps = tuple(one_step(optimizer, network=n) for n in networks)
    leaf = all(s.leaf_invariant for s in steps)
    family = all(s.family_invariant for s in steps)
    return CloneDerivation(optimizer, steps,
                      None if leaf else _condition(optimizer, "leaf_invariant", steps),
                      None if family else _condition(optimizer, "family_invariant", steps),
                      _first_counterexample(steps, seed))


@cache
def derive_clone_control(optimizer: str, seed: int = 0) -> CloneDerivation:
    """The negative control: the same map with a state that is not block-constant."""
    steps = (one_step(optimizer, state="per edge"),)
    return CloneDerivation(optimizer, steps, None, None, _first_counterexample(steps, seed))


@cache
def state_degrees(optimizer: str) -> dict[str, int]:
    """k per state key with s'(c g, c^k s) = c^k s'(g, s) for the registry map: the gradient degree
    of each state entry (1 for buffers and first moments, 2 for second moments). Found as the
    degree of s'(c g, 0) in c and checked on the whole map."""
    spec = updates.get(optimizer)
    scale = sp.Symbol("c", positive=True)
    g, s = sp.Symbol("g", real=True), {k: sp.Symbol(f"{k}₀", real=True) for k in spec.state_keys}
    theta, nil = np.array([sp.Symbol("θ", real=True)], dtype=object), np.array([sp.Integer(0)], dtype=object)

    def state_after(grad: sp.Expr, state: dict[str, sp.Expr]) -> dict[str, sp.Expr]:
        new = symbolic_step(optimizer, theta, np.array([grad], dtype=object),
                            {k: np.array([v], dtype=object) for k, v in state.items()}, t, nil)[1]
        return {k: v[0] for k, v in new.items()}

    fresh = state_after(scale * g, {k: sp.Integer(0) for k in s})
    degrees = {k: int(sp.degree(sp.expand(fresh[k]), scale)) for k in s}
    scaled = state_after(scale * g, {k: scale ** degrees[k] * s[k] for k in s})
    plain = state_after(g, s)
    for k in s:
        if sp.expand(scaled[k] - scale ** degrees[k] * plain[k]) != 0:
            raise NotImplementedError(f"{optimizer}: state {k} is not homogeneous in the gradient")
    return degrees


@cache
def gradient_rule() -> dict[str, sp.Expr]:
    """∂L'/∂w'(u, v) − ∂L/∂w(s(u), s(v)) / |S_{s(v)}| for every edge u → v of the equal-split ×2 clone
    1-2-2-1 of a 1-1-1-1 MLP (incoming weights copied, outgoing weights halved), generic
    activations per layer and generic loss: every entry expands to 0, which is the rule by which
    carried optimizer state must be cloned (module docstring)."""
    base, wide = net.mlp("1-1-1-1"), net.mlp("1-2-2-1")
    for G in (base, wide):
        for v in net.units(G):
            G.nodes[v]["activation"] = f"generic:f{G.nodes[v]['layer']}"

    def unit(v: str) -> str:  # s(v): the base unit a wide unit copies
        return v.split(".")[0] + ".0" if wide.nodes[v]["kind"] == "hidden" else v

    def size(v: str) -> int:
        return 2 if wide.nodes[v]["kind"] == "hidden" else 1

    sym = net.weight_symbols(base)
    w = {(u, v): sym[(unit(u), unit(v))] / size(u) for u, v in wide.edges}
    X, Y = net.input_symbols(base, 1), net.target_symbols(base, 1)
    g_base = invariance.loss_gradient(base, sym, X, Y)
    g_wide = invariance.loss_gradient(wide, w, X, Y)
    return {f"∂L'/∂w'({u},{v}) − ∂L/∂w({unit(u)},{unit(v)})/{size(v)}":
            invariance.canonical(g_wide[(u, v)] - g_base[(unit(u), unit(v))] / size(v))
            for u, v in sorted(wide.edges)}
