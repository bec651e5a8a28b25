"""Frozen units under each optimizer: is M_F = {θ_F = θ_F0} invariant, and does the unit stay dead?

A unit u is frozen when f'_u(z_u(x)) = 0 on every training input x; then g_F = ∂L/∂θ_F = 0 for
its incoming weights and bias θ_F (claim frozen.gradient-zero). Whether θ_F then stays put is a
property of the optimizer's update map in the joint (θ, state) space, with the state carried over
from before the unit froze. The paper does not say; this module decides it for every optimizer of
``theory.updates`` and confirms the answer with the real torch optimizers.

**Derivation** (``derive``). Run the registry map once on SymPy symbols, with g_F = 0 (for dropout,
g_F = g̃_F, the gradient under the mask), the carried state s₀ and hyperparameters as positive
symbols. Restricted to the coordinate θ_F, every map in the registry has the form

    s_F ← r s_F                  each state entry decays by a constant ratio r = s_F'/s_F
    θ_F ← c θ_F + a(j)           affine: c = ∂θ_F'/∂θ_F, a(j) = θ_F' − c θ_F at s_F = r^{j−1} s₀

at the j-th frozen step (torch's step counter t = t₀ + j, t₀ the steps taken before freezing), so

    θ_F(K) − θ_F0 = (c^K − 1) θ_F0 + Σ_{j=1}^{K} c^{K−j} a(j).

The closed form is checked against K = 1, 2, 3 literal iterations of the map. M_F is invariant
iff c = 1 and a ≡ 0; it is invariant "iff carried state = 0" when c = 1 and a vanishes with s₀.

**Does the unit stay dead?** For a first-layer unit on a fixed data set, z_u(x) = θ_F·(x, 1), so
the prediction θ_F(k) decides it: u revives at the first k with max_x θ_F(k)·(x, 1) above the edge
e of the flat region (−∞, e] (e = 0 for ReLU, −1 hardtanh, −3 hardsigmoid). Under θ_F → c θ_F
(weight decay) z → c z stays ≤ e iff e ≥ 0: ReLU stays dead, hardtanh/hardsigmoid revive.

**Numerics** (``warm_up`` + ``freeze_and_continue``). A float64 MLP trains with u alive, so the
optimizer state of θ_F is non-zero; u is then frozen by lowering its bias (the optimizer state is
untouched) and training continues K steps with ``updates.TorchUpdate``. Measured: the trajectory
θ_F(k), the largest z_u per step (revival) and the gradient norms (noise scale).
"""

from __future__ import annotations

import copy
import itertools
import math
import time
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np
import sympy as sp
import torch

from numerics.models import MLP
from numerics.train import one_thread
from theory import activations, updates
from theory.evidence import Config, Evidence

CLAIM = "frozen.optimizers"

# hyperparameters as positive symbols: the derivation holds for every value, not just the defaults
HP_SYMBOLS: dict[str, sp.Symbol] = {
    name: sp.Symbol(text, positive=True)
    for name, text in {"lr": "η", "momentum": "μ", "beta1": "β₁", "beta2": "β₂", "eps": "ε",
                       "weight_decay": "λ", "alpha": "α", "max_norm": "c", "sigma0": "σ₀",
                       "decay": "γ", "p": "p"}.items()}

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

EPS64 = float(np.finfo(np.float64).eps)


# ---- derivation --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Derivation:
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
        return {k: HP_SYMBOLS[k] for k in updates.get(self.optimizer).defaults}

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
def derive(name: str) -> Derivation:
    """Derive θ_F's frozen dynamics from ``updates.OPTIMIZERS[name]`` (see module docstring)."""
    spec = updates.get(name)
    hp = {k: HP_SYMBOLS[k] for k in spec.defaults}
    s0 = {k: sp.Symbol(f"{k}₀", real=True) for k in spec.state_keys}
    s_A = {k: sp.Symbol(f"{k}_A", real=True) for k in spec.state_keys}

    def step(theta: sp.Expr, state: dict[str, sp.Expr], t: sp.Expr) -> tuple[sp.Expr, dict[str, sp.Expr]]:
        """The registry map on (θ_F, θ_A); θ_F's gradient is 0 (g̃_F under dropout)."""
        g_F = g_masked(t) if spec.gradient == "dropout" else sp.Integer(0)
        new, new_state = spec.step(_objects(theta, theta_A), _objects(g_F, g_A(t)),
                                   {k: _objects(state[k], s_A[k]) for k in state}, t, hp,
                                   noise=_objects(xi_F(t), xi_A(t)))
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
    return Derivation(name, ratios, c, a, drift, limit, category, vanishing, checked, matches, s0)


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


def adam_bound(d: Derivation) -> sp.Expr | None:
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


# ---- dropout: the masks decide ----------------------------------------------------------------

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


# ---- activations: where the dead region ends --------------------------------------------------

def dead_edge(activation: str) -> float:
    """e such that (−∞, e] is the activation's flat region reaching −∞ (0 for ReLU, −1 hardtanh,
    −3 hardsigmoid, +∞ for the step). A unit frozen "from below" has every z_u(x) ≤ e."""
    flat = activations.get(activation).flat_set
    for part in (flat.args if isinstance(flat, sp.Union) else (flat,)):
        if isinstance(part, sp.Interval) and part.inf == -sp.oo:
            return float(part.sup)
    raise ValueError(f"activation {activation!r} has no flat region reaching −∞ (flat set {flat}); "
                     "it cannot be frozen from below")


def contraction_revives() -> dict[str, bool]:
    """Per exactly-freezing activation: does θ_F → cθ_F (0 < c < 1) revive a first-layer unit frozen
    from below? z → cz → 0 leaves (−∞, e] iff e < 0."""
    return {name: dead_edge(name) < 0 for name, a in activations.ACTIVATIONS.items()
            if a.flat_set.measure > 0}  # freezing() == "exact", without its limits at ±∞


# ---- numerics: train alive, freeze, continue ----------------------------------------------------

@dataclass(frozen=True)
class Setup:
    optimizer: str
    activation: str = "relu"
    widths: tuple[int, ...] = (8, 16, 16, 1)
    warm: int = 50  # steps with every unit alive before the freeze (0: frozen from initialisation)
    samples: int = 64
    seed: int = 0
    dropout: float = 0.0

    @property
    def hp(self) -> dict[str, float]:
        return dict(updates.get(self.optimizer).defaults)


@dataclass
class Warm:
    """A model and its optimizer after ``setup.warm`` full-batch steps."""

    setup: Setup
    model: MLP
    opt: updates.TorchUpdate
    x: torch.Tensor
    y: torch.Tensor
    grad_norm: float  # ‖g‖ at the last warm-up step (the noise scale of noisy SGD)

    def layer_input(self, layer: int) -> np.ndarray:
        """(x, 1) for every sample: the inputs of ``layer``'s units, without dropout."""
        mode = self.model.training
        try:
            with torch.no_grad():
                h = self.x if layer == 0 else self.model.eval().trace(self.x).h[layer - 1]
        finally:
            self.model.train(mode)
        return np.hstack([h.numpy(), np.ones((h.shape[0], 1))])

    def layer_theta(self, layer: int) -> np.ndarray:
        lin = self.model.hidden[layer]
        return torch.cat([lin.weight, lin.bias[:, None]], 1).detach().numpy().copy()

    def layer_state(self, layer: int) -> dict[str, np.ndarray]:
        """θ_F's optimizer state for every unit of ``layer`` (rows [w, b]); zeros where torch has none."""
        lin = self.model.hidden[layer]
        out = {}
        for key in self.opt.spec.state_keys:
            parts = []
            for param in (lin.weight, lin.bias):
                entry = self.opt.opt.state.get(param, {})
                value = next((entry[n] for n in TORCH_STATE[key] if entry.get(n) is not None), None)
                parts.append(torch.zeros_like(param) if value is None else value.detach())
            out[key] = torch.cat([parts[0], parts[1][:, None]], 1).numpy().copy()
        return out


# registry state key -> the names torch.optim stores it under
TORCH_STATE = {"buf": ("momentum_buffer",), "m": ("exp_avg",), "v": ("exp_avg_sq", "square_avg")}


@dataclass
class Run:
    """One frozen continuation: θ_F(k) and max_x z_u(x) at θ(k), k = 0..K."""

    layer: int
    unit: int
    margin: float
    edge: float
    t0: int
    theta: np.ndarray  # (K+1, fan_in+1)
    z_max: np.ndarray  # (K+1,)
    grad_norm: np.ndarray  # (K,) ‖g‖ before each step's update (noise excluded)
    state0: dict[str, np.ndarray]  # θ_F's carried optimizer state at the freeze
    inputs: np.ndarray  # (samples, fan_in+1) layer inputs at the freeze

    @property
    def steps(self) -> int:
        return len(self.theta) - 1

    @property
    def revived_at(self) -> int | None:
        """First k at which z_u leaves the flat region on some sample (None: never)."""
        alive = np.flatnonzero(self.z_max > self.edge)
        return int(alive[0]) if alive.size else None

    @property
    def max_change(self) -> float:
        return float(np.abs(self.theta - self.theta[0]).max())


def _data(setup: Setup) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(setup.seed)
    x = torch.randn(setup.samples, setup.widths[0], generator=gen, dtype=torch.float64)
    v = torch.randn(setup.widths[0], setup.widths[-1], generator=gen, dtype=torch.float64)
    return x, torch.sin(x @ v)


def _train_step(model: MLP, opt: updates.TorchUpdate, x: torch.Tensor, y: torch.Tensor,
                layer: int = 0, unit: int = 0) -> tuple[float, float]:
    """One full-batch MSE step; returns (max_x z_unit(x) before the step, ‖g‖ before the update).
    z is read from the step's own forward pass, so under dropout it is the masked z̃."""
    opt.zero_grad()
    trace = model.trace(x)
    ((trace.out - y) ** 2).mean().backward()
    grad_norm = torch.linalg.vector_norm(torch.cat([p.grad.flatten() for p in opt.params]))
    opt.step()
    return float(trace.z[layer][:, unit].detach().max()), float(grad_norm)


def warm_up(setup: Setup) -> Warm:
    """Build the data and the float64 MLP from ``setup.seed`` and train ``setup.warm`` steps with
    every unit free to learn, so the optimizer state is non-zero where the gradient was."""
    x, y = _data(setup)
    with one_thread(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(setup.seed)
        model = MLP(list(setup.widths), setup.activation, dropout=setup.dropout).double()
        opt = updates.TorchUpdate(setup.optimizer, model.parameters(), setup.hp,
                                  generator=torch.Generator().manual_seed(setup.seed + 1))
        grad_norm = math.nan
        for _ in range(setup.warm):
            grad_norm = _train_step(model, opt, x, y)[1]
    return Warm(setup, model, opt, x, y, grad_norm)


def freeze_and_continue(warm: Warm, steps: int, unit: int = 0, layer: int = 0, margin: float = 0.5,
                        plant: str = "bias", masks: bool = True, draw: int = 0) -> Run:
    """Freeze ``unit`` of hidden ``layer`` and train ``steps`` more steps; ``warm`` is not changed.

    plant="bias": lower the bias so that max_x z_u(x) = e − margin (dead on the whole data set,
    weights and optimizer state untouched). plant="sign": w ← −|w|, b ← e − margin, the sign
    condition (dead whatever the non-negative inputs and masks). ``masks=False`` continues in eval
    mode (no dropout), the control for a dropout run. ``draw`` picks the gradient noise and dropout
    masks of the continuation (the same draw gives the same run).
    """
    warm = copy.deepcopy(warm)
    model, opt = warm.model, warm.opt
    edge = dead_edge(warm.setup.activation)
    inputs = warm.layer_input(layer)
    lin = model.hidden[layer]
    with torch.no_grad():
        if plant == "sign":
            lin.weight[unit] = -lin.weight[unit].abs()
            lin.bias[unit] = edge - margin
        elif plant == "bias":
            z = torch.from_numpy(inputs[:, :-1]) @ lin.weight[unit]
            lin.bias[unit] = edge - margin - z.max()
        else:
            raise ValueError(f"unknown plant {plant!r} (accepted: bias, sign)")
    state0 = {k: v[unit] for k, v in warm.layer_state(layer).items()}
    model.train(masks)

    def theta_F() -> np.ndarray:
        return torch.cat([lin.weight[unit], lin.bias[unit:unit + 1]]).detach().numpy().copy()

    t0_steps, theta, z_max, grad_norm = opt.t, [theta_F()], [], []
    with one_thread(), torch.random.fork_rng(devices=[]):
        seed = int(np.random.SeedSequence([warm.setup.seed, draw]).generate_state(1)[0])
        torch.manual_seed(seed)  # the dropout masks
        opt.generator = torch.Generator().manual_seed(seed)  # the gradient noise
        for _ in range(steps):
            z, g = _train_step(model, opt, warm.x, warm.y, layer, unit)
            z_max.append(z)
            grad_norm.append(g)
            theta.append(theta_F())
        with torch.no_grad():
            z_max.append(float(model.trace(warm.x).z[layer][:, unit].max()))
    return Run(layer, unit, margin, edge, t0_steps, np.array(theta), np.array(z_max),
               np.array(grad_norm), state0, inputs)


# ---- predictions vs measurements --------------------------------------------------------------

def revival_margins(d: Derivation, warm: Warm, steps: int) -> np.ndarray:
    """Per first-layer unit: the largest margin R below the edge from which the predicted drift
    revives the unit within ``steps`` frozen steps (0: it cannot). First layer only: there the
    inputs (x, 1) are the fixed data, so z_u is linear in θ_F.

    With b the planted bias, z(k, x) = c^k (w·x + b) + D_k·(x, 1); it exceeds e for some k ≤ K and x
    iff b > b* = min_k (e − max_x M_k(x))/c^k, M_k = c^k w·x + D_k·(x, 1). Planting at margin m means
    b = e − m − max_x w·x, so the unit revives iff m < R = e − max_x w·x − b*.
    """
    inputs, edge = warm.layer_input(0), dead_edge(warm.setup.activation)
    theta = warm.layer_theta(0)
    c, D = d.drift_part(warm.setup.hp, warm.layer_state(0), steps, warm.opt.t, theta.shape)
    ck = c ** np.arange(steps + 1)
    wx = inputs[:, :-1] @ theta[:, :-1].T  # (samples, units)
    M = ck[:, None, None] * wx[None] + np.einsum("kun,sn->ksu", D, inputs)
    b_star = ((edge - M.max(axis=1)) / ck[:, None]).min(axis=0)
    return edge - wx.max(axis=0) - b_star


@dataclass
class Comparison:
    predicted: np.ndarray  # (K+1, n) θ_F(k) from the closed form
    compared_steps: int  # the trajectory is compared on k = 0..compared_steps (while dead)
    drift_predicted: float  # ‖θ_F(k_end) − θ_F0‖∞
    drift_measured: float
    error: float  # max_k ‖measured − predicted‖∞ / max_k ‖predicted − θ_F0‖∞
    tolerance: float
    revival_predicted: int | None

    @property
    def agrees(self) -> bool:
        return self.error <= self.tolerance


def compare(d: Derivation, run: Run, hp: dict[str, float]) -> Comparison:
    """Measured θ_F(k) of a first-layer run against the closed form, while the unit is dead (after
    a revival g_F ≠ 0 and the frozen map no longer applies).

    Tolerance ε(K+1)(2‖θ‖∞ + 10‖Δθ‖∞)/‖Δθ‖∞ on the relative error: torch and the prediction each
    round θ once per step (an absolute error of ε‖θ‖ per step, however small the drift), and the
    state recursions and the increment add at most ~10 roundings per step relative to the drift
    itself. A predicted drift of exactly 0 (c = 1, a ≡ 0: the identity map) must be met bitwise.
    """
    c, D = d.drift_part(hp, run.state0, run.steps, run.t0, run.theta[0].shape)
    predicted = c ** np.arange(run.steps + 1)[:, None] * run.theta[0] + D
    z_pred = (predicted @ run.inputs.T).max(axis=1)
    alive = np.flatnonzero(z_pred > run.edge)
    revival = int(alive[0]) if alive.size else None
    end = min(x for x in (revival, run.revived_at, run.steps) if x is not None)
    drift_pred = np.abs(predicted[: end + 1] - predicted[0]).max()
    gap = np.abs(run.theta[: end + 1] - predicted[: end + 1]).max()
    if drift_pred > 0:
        error = gap / drift_pred
        tolerance = EPS64 * (end + 1) * (2 * np.abs(run.theta).max() + 10 * drift_pred) / drift_pred
    else:
        error, tolerance = gap, 0.0
    return Comparison(predicted, end, float(np.abs(predicted[end] - predicted[0]).max()),
                      float(np.abs(run.theta[end] - run.theta[0]).max()), float(error), float(tolerance),
                      revival)


# ---- the check ---------------------------------------------------------------------------------

@dataclass
class Outcome:
    """What one experiment family concludes; ``optimizer_check`` turns it into Evidence."""

    verdict: str
    summary: str
    measured: dict[str, Any]
    counterexample: dict[str, Any] | None = None
    setting: dict[str, Any] = field(default_factory=dict)
    runs: list[tuple[str, Run, Comparison | None]] = field(default_factory=list)


def _sizes(config: Config) -> tuple[int, int]:
    """(frozen steps K, warm-up steps)."""
    return (60, 20) if config.quick else (200, 50)


def optimizer_check(config: Config, optimizer: str) -> Evidence:
    """Is M_F invariant under ``optimizer``, and does the frozen unit stay dead? Derived from the
    registry map (``derive``), confirmed with the torch optimizer on a float64 MLP."""
    start = time.perf_counter()
    d = derive(optimizer)
    steps, warm_steps = _sizes(config)
    setup = Setup(optimizer, warm=warm_steps, seed=config.seed)
    experiment = {INVARIANT: _invariant, IFF_STATE: _carried_state, IFF_MASKS: _dropout}.get(d.category)
    if experiment is None:
        experiment = _noisy if d.random else _contraction
    out = experiment(d, setup, steps)
    if not d.closed_form_matches:
        out.verdict = "inconclusive"
        out.summary = (f"{optimizer}: the closed form of the frozen update does not reproduce "
                       f"{d.iterations_checked} iterations of the registry map — " + out.summary)
    measured = {"manifold_invariant": out.measured.pop("manifold_invariant"),
                "stays_dead": out.measured.pop("stays_dead"), **out.measured,
                "closed_form": str(d.drift), "drift_limit": str(d.drift_limit),
                "increment": str(d.increment), "contraction": str(d.contraction),
                "runs": [_run_record(label, run, cmp) for label, run, cmp in out.runs]}
    setting = {"optimizer": optimizer, "hyperparameters": setup.hp,
               "architecture": "-".join(map(str, setup.widths)), "activation": setup.activation,
               "K": steps, "warm_steps": warm_steps, "samples": setup.samples, "seed": config.seed,
               "dtype": "float64", "device": "cpu", "loss": "mse, full batch", **out.setting}
    figures = [] if config.quick else [_figure(optimizer, out.runs)]
    return Evidence(CLAIM, f"optimizer-{optimizer}", "symbolic", out.verdict, out.summary, setting,
                    measured, out.counterexample, time.perf_counter() - start,
                    derivation=_derivation_items(d), figures=figures)


def _run_record(label: str, run: Run, cmp: Comparison | None) -> dict[str, Any]:
    record = {"run": label, "layer": run.layer, "unit": run.unit, "carried_steps": run.t0,
              "margin": run.margin, "max_param_change": run.max_change,
              "revived": run.revived_at is not None, "revived_at": run.revived_at,
              "carried_state_max": {k: float(np.abs(v).max()) for k, v in run.state0.items()}}
    if cmp is not None:
        record.update(drift_predicted=cmp.drift_predicted, drift_measured=cmp.drift_measured,
                      relative_error=cmp.error, tolerance=cmp.tolerance,
                      revival_predicted=cmp.revival_predicted)
    return record


def _derivation_items(d: Derivation) -> list[tuple[str, Any]]:
    items = [("state decay ratios r, s_F ← r s_F with g_F = 0 (" + (", ".join(d.ratios) or "no state") + ")",
              sp.Tuple(*d.ratios.values())),
             ("contraction c = ∂θ_F'/∂θ_F", d.contraction),
             ("increment a(j) at the j-th frozen step: θ_F ← c θ_F + a(j)", d.increment),
             (f"Δθ_F after K frozen steps (matches {d.iterations_checked} literal iterations of the map: "
              f"{d.closed_form_matches})", d.drift)]
    if d.drift_limit is not None:
        items.append(("total drift as K → ∞", d.drift_limit))
    bound = adam_bound(d)
    if bound is not None:
        items.append(("Σ_j |a(j)| ≤ (geometric, ratio β₁/√β₂ < 1; ε dropped)", bound))
    return items


def _figure(optimizer: str, runs: list[tuple[str, Run, Comparison | None]]) -> tuple[str, str]:
    """‖θ_F(k) − θ_F0‖∞ per run, measured (dots) and predicted (line), and the revival steps."""
    from reports import figures

    fig, ax = figures.new()
    for i, (label, run, cmp) in enumerate(runs):
        colour = f"C{i}"
        k = np.arange(run.steps + 1)
        ax.plot(k, np.abs(run.theta - run.theta[0]).max(axis=1), ".", ms=3, color=colour,
                label=f"{label} (torch)")
        if cmp is not None:  # the closed form holds while the unit is dead
            end = cmp.compared_steps + 1
            ax.plot(k[:end], np.abs(cmp.predicted[:end] - cmp.predicted[0]).max(axis=1), "-", lw=1,
                    color=colour, alpha=0.6, label="closed form")
        if run.revived_at is not None:
            ax.axvline(run.revived_at, color=colour, ls=":", lw=1)
    ax.set_xlabel("frozen step k")
    ax.set_ylabel("‖θ_F(k) − θ_F0‖∞")
    ax.legend(fontsize=7)
    return (f"{optimizer}: drift of the frozen unit's parameters (dotted lines: revival)", figures.svg(fig))


def _invariant(d: Derivation, setup: Setup, steps: int) -> Outcome:
    """c = 1, a ≡ 0: θ_F never moves, carried state or not. Numerics: bitwise."""
    run = freeze_and_continue(warm_up(setup), steps)
    bitwise = run.max_change == 0.0
    stays_dead = bitwise and run.revived_at is None
    carried = ", ".join(f"{k}_F (max {np.abs(v).max():.2g})" for k, v in run.state0.items())
    carried = f"; the carried {carried} only rescales g_F = 0" if carried else ""
    summary = (f"{d.optimizer}: M_F is invariant and the unit stays dead, because with g_F = 0 the map "
               f"is θ_F ← θ_F exactly (c = 1, a ≡ 0{carried}), so z_u is unchanged; derived symbolically "
               f"and confirmed bitwise over {steps} torch steps.")
    if not stays_dead:
        summary = (f"{d.optimizer}: symbolic and numeric disagree — the map fixes θ_F but torch moved it "
                   f"by {run.max_change:g} (revived at step {run.revived_at}).")
    measured = {"manifold_invariant": d.category == INVARIANT, "stays_dead": stays_dead,
                "drift_predicted": 0.0, "drift_measured": run.max_change, "max_param_change": run.max_change,
                "revived": run.revived_at is not None, "symbolic_numeric_agree": stays_dead}
    return Outcome("proved" if stays_dead else "inconclusive", summary, measured,
                   setting={"frozen_unit": {"layer": 0, "unit": run.unit}},
                   runs=[("carried state", run, None)])


def _drift_words(d: Derivation) -> str:
    if d.drift_limit is None or d.drift_limit.has(sp.Sum):
        return "Σ_j a(j), finite because β₁ < √β₂" if adam_bound(d) is not None else "Σ_j a(j)"
    return str(d.drift_limit)


def _carried_state(d: Derivation, setup: Setup, steps: int) -> Outcome:
    """c = 1, a ∝ carried state: θ_F drifts by the closed form from a non-zero state, not at all from
    zero state; the drift revives the unit iff the margin is below R (``revival_margins``)."""
    warm = warm_up(setup)
    R = revival_margins(d, warm, steps)
    unit = int(np.argmax(R))
    safe = freeze_and_continue(warm, steps, unit, margin=float(max(R[unit], 0.0) + 0.5))
    safe_cmp = compare(d, safe, setup.hp)
    runs = [("carried state, margin R + 0.5", safe, safe_cmp)]
    revival_ok, revival_words = True, ""
    if R[unit] > 1e-9:
        revive = freeze_and_continue(warm, steps, unit, margin=float(R[unit] / 2))
        revive_cmp = compare(d, revive, setup.hp)
        revival_ok = revive_cmp.revival_predicted == revive.revived_at and revive_cmp.agrees
        revival_words = (f", margin R/2 revived at step {revive.revived_at} (predicted "
                         f"{revive_cmp.revival_predicted})")
        runs.append(("carried state, margin R/2", revive, revive_cmp))
    zero = freeze_and_continue(warm_up(Setup(setup.optimizer, warm=0, seed=setup.seed)), steps)
    runs.append(("zero state (frozen from initialisation)", zero, None))

    agrees = safe.max_change > 0 and safe_cmp.agrees and zero.max_change == 0.0 and revival_ok
    keys = ", ".join(f"{k}_F" for k in d.vanishing_state)
    summary = (f"{d.optimizer}: M_F is invariant iff the carried {keys} = 0, because with g_F = 0 the "
               f"state only decays and keeps moving θ_F by a(j) = {d.increment} (total {_drift_words(d)}), "
               f"and the unit stays dead iff its margin exceeds that drift's push on z_u; derived "
               f"symbolically, confirmed with torch (drift {safe_cmp.drift_measured:.6g} vs "
               f"{safe_cmp.drift_predicted:.6g}, relative error {safe_cmp.error:.1e}; zero state bitwise "
               f"fixed{revival_words}).")
    if not agrees:
        summary = (f"{d.optimizer}: symbolic and numeric disagree — drift error {safe_cmp.error:.2e} "
                   f"(tolerance {safe_cmp.tolerance:.1e}), zero-state change {zero.max_change:g}, revival "
                   f"as predicted: {revival_ok}.")
    measured = {"manifold_invariant": IFF_STATE, "condition": f"{keys} = 0",
                "stays_dead": f"conditional: dead iff the margin below the flat edge exceeds the push "
                              f"R = max_k,x [z_u(x) + Δθ_F(k)·(x,1)] − max_x z_u(x) of the carried-state "
                              f"drift (R = {R[unit]:.4g} for the unit used)",
                "drift_predicted": safe_cmp.drift_predicted, "drift_measured": safe_cmp.drift_measured,
                "relative_error": safe_cmp.error, "tolerance": safe_cmp.tolerance,
                "max_param_change": safe.max_change, "zero_state_max_change": zero.max_change,
                "revived": safe.revived_at is not None, "revival_as_predicted": revival_ok,
                "symbolic_numeric_agree": agrees}
    bound = adam_bound(d)
    if bound is not None:
        names = [t0, d.state_symbols["m"], d.state_symbols["v"], *d.hp_symbols.values()]
        values = [safe.t0, safe.state0["m"], safe.state0["v"], *(setup.hp[k] for k in d.hp_symbols)]
        limit = sp.lambdify(names, bound, "numpy")(*values)
        measured.update(drift_bound=float(np.max(limit)), rho=float(d.ratios["m"].subs(
            d.hp_symbols["beta1"], setup.hp["beta1"]) / math.sqrt(setup.hp["beta2"])),
            drift_within_bound=bool(np.all(np.abs(safe.theta[-1] - safe.theta[0]) <= limit)))
    return Outcome("qualified" if agrees else "inconclusive", summary, measured,
                   setting={"frozen_unit": {"layer": 0, "unit": unit}}, runs=runs)


def _contraction(d: Derivation, setup: Setup, steps: int) -> Outcome:
    """c < 1 (weight decay): θ_F shrinks even from zero state. A ReLU unit stays dead (z → cz keeps
    its sign); a unit whose dead region (−∞, e] has e < 0 revives at the predicted step."""
    warm = warm_up(setup)
    R = revival_margins(d, warm, steps)  # AdamW's carried moments could push a ReLU unit up
    unit = int(np.argmax(R))
    relu = freeze_and_continue(warm, steps, unit, margin=float(max(R[unit], 0.0) + 0.5))
    relu_cmp = compare(d, relu, setup.hp)
    revives = contraction_revives()
    act = next(name for name, yes in revives.items() if yes)  # hardtanh, the first in the registry
    ht_warm = warm_up(Setup(setup.optimizer, activation=act, warm=0, seed=setup.seed))
    R = revival_margins(d, ht_warm, steps)
    ht = freeze_and_continue(ht_warm, steps, int(np.argmax(R)), margin=float(R.max() / 2))
    ht_cmp = compare(d, ht, setup.hp)

    moved = ht.max_change > 0 and relu.max_change > 0
    agrees = relu_cmp.agrees and ht_cmp.agrees and ht_cmp.revival_predicted == ht.revived_at
    c_value = float(d.contraction.subs({d.hp_symbols[k]: setup.hp[k] for k in d.hp_symbols}))
    summary = (f"{d.optimizer}: M_F is not invariant even from zero state, because the frozen update "
               f"θ_F ← ({d.contraction})·θ_F{' + a(j)' if d.increment != 0 else ''} shrinks θ_F towards 0, "
               f"and the unit stays dead only if its flat region contains 0: a ReLU unit "
               f"{'stays dead' if relu.revived_at is None else 'REVIVED'} (z → cz keeps z ≤ 0), a {act} "
               f"unit (flat region (−∞, {ht.edge:g}]) revives at step {ht.revived_at} (predicted "
               f"{ht_cmp.revival_predicted}); derived symbolically, "
               + (f"confirmed with torch (drift relative error {relu_cmp.error:.1e})." if agrees
                  else "but torch deviates from the prediction (see measured)."))
    if not moved:
        summary = f"{d.optimizer}: the map predicts θ_F shrinks but torch left it fixed — disagreement."
    counterexample = {
        "activation": act, "frozen_from_initialisation": True, "contraction": c_value,
        "theta_F0": ht.theta[0], "theta_F_after_1_step": ht.theta[1], "margin_below_edge": ht.margin,
        "edge": ht.edge, "revival_step_predicted": ht_cmp.revival_predicted,
        "revival_step_measured": ht.revived_at}
    kept, lost = (", ".join(n for n, y in revives.items() if y is flag) for flag in (False, True))
    measured = {"manifold_invariant": False,
                "stays_dead": f"conditional: yes for {kept} (flat region contains 0), no for {lost} "
                              "(θ_F → cθ_F pulls z up to 0, out of the flat region)",
                "drift_predicted": relu_cmp.drift_predicted, "drift_measured": relu_cmp.drift_measured,
                "relative_error": relu_cmp.error, "tolerance": relu_cmp.tolerance,
                "symbolic_numeric_agree": agrees, "max_param_change": relu.max_change,
                "revived": relu.revived_at is not None, f"revived_{act}": ht.revived_at is not None,
                "contraction_revives": revives}
    return Outcome("refuted" if moved else "inconclusive", summary, measured, counterexample,
                   {"frozen_unit": {"layer": 0, "unit": unit}, "counterexample_activation": act},
                   [(f"{setup.activation}, carried state", relu, relu_cmp),
                    (f"{act}, zero state, margin R/2", ht, ht_cmp)])


def _noisy(d: Derivation, setup: Setup, steps: int, draws: int = 6) -> Outcome:
    """a(j) = −η σ_t ‖g_t‖ ξ_t: a random walk on θ_F, no state needed. Numerics: the recovered
    ξ̂_t = Δθ_F,t / (∂a/∂ξ) must be N(0, 1); revival depends on the margin against the walk's
    spread s_K = (Σ_t (∂a/∂ξ)²)^{1/2}: ``draws`` noise draws at margins of ¼ and 4 times
    s_K·median‖(x, 1)‖ (s_K planned from the last warm-up gradient norm)."""
    warm = warm_up(setup)
    hp = [setup.hp[k] for k in d.hp_symbols]
    coef = sp.lambdify([j, t0, sp.Symbol("G", positive=True), *d.hp_symbols.values()],
                       d.noise_coefficient(), "numpy")
    js = np.arange(1, steps + 1)
    spread = np.sqrt(np.sum(coef(js, warm.opt.t, warm.grad_norm, *hp) ** 2))
    scale_x = float(np.median(np.linalg.norm(warm.layer_input(0), axis=1)))

    xis, groups = [], {}
    for factor in (0.25, 4.0):
        runs, p_revive, in_spreads, rms = [], [], [], []
        for draw in range(draws):
            run = freeze_and_continue(warm, steps, margin=float(factor * spread * scale_x), draw=draw)
            end = run.revived_at if run.revived_at is not None else steps  # the walk holds for k ≤ end
            a_scale = coef(js[:end], run.t0, run.grad_norm[:end], *hp)
            xis.append((np.diff(run.theta[: end + 1], axis=0) / a_scale[:, None]).ravel())
            s_end = float(np.sqrt(np.sum(a_scale**2)))
            z = (run.edge - run.inputs @ run.theta[0]) / (s_end * np.linalg.norm(run.inputs, axis=1))
            # reflection principle: P(max_k walk_k > m) ≈ 2Φ̄(m/s) for the sample nearest the edge,
            # a lower estimate for "some sample revives"
            p_revive.append(math.erfc(z.min() / math.sqrt(2)))
            in_spreads.append(float(z.min()))
            rms.append((s_end, float(np.sqrt(np.mean((run.theta[end] - run.theta[0]) ** 2)))))
            runs.append(run)
        groups[factor] = {"runs": runs, "revived": float(np.mean([r.revived_at is not None for r in runs])),
                          "p_estimate": float(np.mean(p_revive)),
                          "margin_in_spreads": float(np.mean(in_spreads)),
                          "spread": float(np.mean([a for a, _ in rms])),
                          "rms_drift": float(np.sqrt(np.mean([b**2 for _, b in rms])))}
    xi = np.concatenate(xis)
    n, mean, var = xi.size, float(xi.mean()), float(xi.var())
    agrees = n > 0 and abs(mean) <= 5 / math.sqrt(n) and abs(var - 1) <= 5 * math.sqrt(2 / n)
    small, large = groups[0.25], groups[4.0]
    first = large["runs"][0]
    moved = all(r.max_change > 0 for g in groups.values() for r in g["runs"])
    words = [f"{g['margin_in_spreads']:.2f} spreads: {g['revived']:.0%} of {draws} walks revived "
             f"(estimate ≳ {g['p_estimate']:.0%})" for g in (small, large)]
    summary = (f"{d.optimizer}: M_F is not invariant, because every step adds −η σ_t‖g_t‖ξ_t to θ_F although "
               f"g_F = 0 (the noise scales with the live units' gradient), and whether the unit revives is "
               f"random, set by its margin against the walk's spread (margin {words[0]}; {words[1]}); "
               f"derived symbolically, confirmed with torch: the recovered ξ̂ has mean {mean:.3f}, "
               f"variance {var:.3f} over {n} draws" + ("." if agrees else " — NOT N(0, 1): disagreement."))
    if not moved:
        summary = f"{d.optimizer}: the map adds noise to θ_F but torch left it fixed — disagreement."
    counterexample = {"theta_F0": first.theta[0], "theta_F_after_1_step": first.theta[1],
                      "change_after_1_step": float(np.abs(first.theta[1] - first.theta[0]).max()),
                      "grad_norm_step_1": float(first.grad_norm[0]),
                      "dead_at_step_0": bool(first.z_max[0] <= first.edge)}
    measured = {"manifold_invariant": False,
                "stays_dead": "conditional (random): revives with probability ≈ 2Φ̄(margin / "
                              "(s_K‖(x,1)‖)) or more, s_K = η(Σ_t σ_t²‖g_t‖²)^{1/2}",
                "drift_predicted": large["spread"], "drift_measured": large["rms_drift"],
                "drift_note": "predicted: the walk's per-coordinate standard deviation s_K; measured: the "
                              f"RMS drift of θ_F's coordinates over the {draws} margin-4 walks",
                "xi_mean": mean, "xi_variance": var, "xi_draws": n, "symbolic_numeric_agree": agrees,
                "max_param_change": max(r.max_change for r in large["runs"]),
                "revived": small["revived"] > 0, "revived_fraction": [small["revived"], large["revived"]],
                "revival_probability_estimate": [small["p_estimate"], large["p_estimate"]],
                "margin_in_spreads": [small["margin_in_spreads"], large["margin_in_spreads"]]}
    return Outcome("refuted" if moved else "inconclusive", summary, measured, counterexample,
                   {"frozen_unit": {"layer": 0, "unit": 0}, "noise_draws": draws},
                   [("margin ¼ spread, first walk", small["runs"][0], None),
                    ("margin 4 spreads, first walk", first, None)])


def _dropout(d: Derivation, setup: Setup, steps: int) -> Outcome:
    """a(j) = −η g̃_F: zero iff u is dead under the drawn mask. Numerics on a second-layer unit (the
    one dropout feeds): a sign-condition unit stays bitwise fixed; a unit dead only without dropout
    moves, and its eval-mode control does not."""
    analysis = mask_analysis(setup.activation)
    layer, p = 1, setup.hp["p"]
    warm = warm_up(Setup(setup.optimizer, warm=setup.warm, seed=setup.seed, dropout=p))
    sign = freeze_and_continue(warm, steps, layer=layer, plant="sign")
    mixed = freeze_and_continue(warm, steps, layer=layer, margin=0.05)
    moved_at = np.flatnonzero(np.abs(np.diff(mixed.theta, axis=0)).max(axis=1) > 0)
    first_move = int(moved_at[0]) + 1 if moved_at.size else None
    control = freeze_and_continue(warm, first_move or 1, layer=layer, margin=0.05, masks=False)
    w, b = mixed.theta[0][:-1], mixed.theta[0][-1]
    worst = b + np.clip(mixed.inputs[:, :-1] * w, 0, None).sum(axis=1) / (1 - p)  # the worst mask
    alive_predicted = bool((worst > mixed.edge).any())

    sign_fixed = sign.max_change == 0.0 and sign.revived_at is None
    refuted = mixed.max_change > 0 and analysis["counterexample"]["alive_under_mask"]
    agrees = (sign_fixed and control.max_change == 0.0 and analysis["sign_condition_dead_under_every_mask"]
              and alive_predicted == (mixed.revived_at is not None))
    verdict = "refuted" if refuted and agrees else "inconclusive"
    ce = analysis["counterexample"]
    summary = (f"dropout: M_F is invariant iff u is dead under every mask, because the masked gradient "
               f"g̃_F vanishes only where z̃_u = b + Σ_j m_j w_j h_j/(1−p) stays in the flat region, so the "
               f"unit stays dead under the sign condition (w_j h_j ≤ 0, b < e; θ_F bitwise fixed in torch) "
               f"but one dead only without dropout is revived by a mask (z = {ce['z_without_dropout']} → "
               f"{ce['z_under_mask']} for w = {ce['w']}, mask {ce['mask']}; in torch it moved at step "
               f"{first_move}, its eval-mode control did not).")
    if verdict == "inconclusive":
        summary = (f"dropout: symbolic and numeric disagree — sign-condition unit change "
                   f"{sign.max_change:g}, control change {control.max_change:g}, mixed unit change "
                   f"{mixed.max_change:g}, alive under some mask predicted {alive_predicted}, measured "
                   f"{mixed.revived_at is not None}.")
    counterexample = {"symbolic": ce,
                      "numeric": {"layer": layer, "unit": mixed.unit, "margin_without_dropout": mixed.margin,
                                  "first_step_theta_F_moved": first_move, "revived_at": mixed.revived_at,
                                  "max_param_change": mixed.max_change,
                                  "control_without_dropout_change": control.max_change}}
    measured = {"manifold_invariant": IFF_MASKS,
                "stays_dead": "conditional: dead iff b + Σ_j (w_j h_j)⁺/(1−p) ≤ e on every input (the worst "
                              "mask); the sign condition w_j h_j ≤ 0, b < e guarantees it",
                "sign_condition_proved": analysis["sign_condition_dead_under_every_mask"],
                "worst_mask_formula_matches": analysis["worst_mask_formula_matches"],
                "drift_predicted": 0.0, "drift_measured": sign.max_change,
                "drift_note": "sign-condition unit: predicted and measured change of θ_F",
                "max_param_change": mixed.max_change, "revived": mixed.revived_at is not None,
                "alive_under_some_mask_predicted": alive_predicted, "worst_mask_z_max": float(worst.max()),
                "symbolic_numeric_agree": agrees}
    return Outcome(verdict, summary, measured, counterexample if refuted else None,
                   {"frozen_unit": {"layer": layer, "unit": mixed.unit}, "dropout_p": p},
                   [("sign condition, dropout", sign, None),
                    ("dead without dropout only, dropout", mixed, None),
                    ("same unit, eval mode (control)", control, None)])
