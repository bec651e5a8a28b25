"""Frozen (dead) units on torch networks: the recipe that kills units, planted dead units, the
full-data audit of their gradients, revival under training, the normalization constructions, and a
frozen unit's parameters under each optimizer.

**The recipe** (``Recipe``, ``trained_network``): a ReLU MLP (4 hidden layers × 512 by default)
trained with large-step Adam (lr 1e-2) on the embedded ``teacher`` task (4096 × 32 inputs, 10
classes), trained once per (recipe, seed, device, norm) and copied for every use.

**Frozen units under an optimizer** (``freeze_and_continue``): a float64 MLP trained with u alive
(``numerics.train.warm_up``), so the optimizer state of θ_F is non-zero; u is then frozen by lowering
its bias (the optimizer state untouched) and training continues K steps with the registry optimizer.
``compare`` sets the measured θ_F(k) against the closed form of ``theory.optimizers.derive_frozen``.
"""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Iterable
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from numerics.data import Task, make_task
from numerics.metrics import exact_dead, flat_mask, paper_dead
from numerics.models import MLP, seeded
from numerics.probes import dead_units
from numerics.train import History, Warm, train, train_step
from theory import activations
from theory.frozen import box_sup, dead_edge
from theory.optimizers import FrozenDerivation
from theory.threads import one_thread

TASK = "teacher"
@dataclass(frozen=True)
class Recipe:
    """Every size of the trained-network experiments of the frozen family (defaults: full size)."""

    n: int = 4096  # samples of the fixed data set
    d: int = 32  # input dimension
    classes: int = 10
    width: int = 512
    depth: int = 4  # hidden layers
    lr: float = 1e-2  # the killing recipe: Adam at a large step
    steps: int = 300
    batch: int = 256
    sgd_lr: float = 0.05  # frozen.manifold: plain SGD on the changed task
    sgd_steps: int = 1000
    sgd_batch: int = 64
    check_every: int = 100  # full-data dead-unit pass every so many SGD steps
    plant: int = 4  # units planted per layer when the trained network has none of a kind
    seeds: int = 3  # normalization_trained: seeds, and its width (narrower: it trains 3 × seeds nets)
    seeds_width: int = 256
    norm_width: int = 16  # normalization_bound constructions
    norm_batch: int = 32
    norm_steps: int = 300

    @property
    def widths(self) -> list[int]:
        return [self.d] + [self.width] * self.depth + [self.classes]


@functools.lru_cache(maxsize=16)
def _trained(sizes: Recipe, seed: int, device: str, norm: str | None,
             progress: bool) -> tuple[MLP, Task, History]:
    task = make_task(TASK, sizes.n, sizes.d, sizes.classes, seed, torch.float64, device)
    model = seeded(sizes.widths, "relu", seed, norm, torch.float32).to(device)
    history = train(model, task.X.float(), task.y, sizes.steps, "adam", {"lr": sizes.lr}, sizes.batch,
                    seed, progress=progress, desc=f"adam lr={sizes.lr} norm={norm}")
    return model.eval(), task, history


def trained_network(recipe: Recipe, seed: int, device: str = "cpu", norm: str | None = None,
                    width: int | None = None, progress: bool = False) -> tuple[MLP, Task, History]:
    """A copy of the float32 network trained by the recipe (eval mode), its task (float64 inputs)
    and its training history; trained once per (recipe, seed, device, norm, width)."""
    recipe = recipe if width is None else replace(recipe, width=width)
    model, task, history = _trained(recipe, seed, device, norm, progress)
    return copy.deepcopy(model), task, history


def accuracy(model: MLP, X: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((model(X).argmax(1) == y).double().mean())


def unit_params(model: MLP, layer: int, unit: int, grad: bool = False) -> dict[str, torch.Tensor]:
    """Views of hidden unit ``unit``'s own parameters (or of their ``.grad``): incoming weights w,
    bias b, and the normalization's γ, β when it has them."""
    lin = model.linears[layer]
    norm = model.norms[layer] if model.norms is not None else None
    params = {"w": lin.weight, "b": lin.bias}
    if norm is not None and getattr(norm, "weight", None) is not None:
        params |= {"gamma": norm.weight, "beta": norm.bias}
    return {k: (p.grad if grad else p)[unit] for k, p in params.items()}


def moved_units(model: MLP, before: list[tuple[torch.Tensor, torch.Tensor]]) -> list[torch.Tensor]:
    """Per hidden layer: units whose incoming weights or bias differ (bitwise) from ``before``."""
    return [(lin.weight != w0).any(1) | (lin.bias != b0) for lin, (w0, b0) in zip(model.hidden, before)]


def snapshot(model: MLP) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(lin.weight.detach().clone(), lin.bias.detach().clone()) for lin in model.hidden]


@torch.no_grad()
def plant_first_layer_dead(model: MLP, X: torch.Tensor, units: torch.Tensor, margin: float = 0.1) -> None:
    """Make first-layer ``units`` dead on X (in place): b_j ← −max_x w_j·x − margin, so
    z_j(x) ≤ −margin on every x ∈ X. Only the biases of ``units`` change."""
    lin = model.linears[0]
    lin.bias[units] = -(X @ lin.weight[units].T).max(0).values - margin


@torch.no_grad()
def plant_sign_dead(model: MLP, layer: int, units: torch.Tensor, margin: float = 0.1) -> None:
    """Make ``units`` of hidden layer ``layer`` ≥ 1 sign-certified dead (in place):
    w_ji ← −|w_ji| for every upstream i and b_j ← −|b_j| − margin, so z_j ≤ b_j < 0 whenever the
    upstream activations are ≥ 0."""
    if layer < 1:
        raise ValueError("sign-certified planting is for hidden layers ≥ 1 (the first reads raw inputs)")
    lin = model.linears[layer]
    lin.weight[units] = -lin.weight[units].abs()
    lin.bias[units] = -lin.bias[units].abs() - margin


@dataclass
class Audit:
    """Per hidden layer, from one full-data forward and backward in one dtype."""

    dead: list[torch.Tensor]  # exact dead (z in the flat set on every sample)
    paper: list[torch.Tensor]  # paper dead (|h| < 1e-7 on > 95% of samples)
    moved: list[torch.Tensor]  # some incoming weight or the bias has a non-zero gradient
    top_z: list[torch.Tensor]  # max over samples of z, per unit
    max_dead_grad: float  # largest |gradient| entry over the dead units' rows
    negative_zeros: int  # −0.0 entries among the dead units' gradients


def audit(model: MLP, X: torch.Tensor, y: torch.Tensor) -> Audit:
    """∇ of the mean cross-entropy over all of X w.r.t. every hidden layer's W and b, and the dead
    sets read off the very forward pass that produced it."""
    trace = model.trace(X)
    params = [p for lin in model.hidden for p in (lin.weight, lin.bias)]
    grads = torch.autograd.grad(F.cross_entropy(trace.out, y), params)
    gw, gb = grads[0::2], grads[1::2]
    z = [t.detach() for t in trace.z]
    dead = [exact_dead(t, model.activation) for t in z]
    dead_rows = [torch.cat([w[m], b[m, None]], 1) for w, b, m in zip(gw, gb, dead)]
    return Audit(dead=dead, paper=[paper_dead(h.detach()) for h in trace.h],
                  moved=[(w != 0).any(1) | (b != 0) for w, b in zip(gw, gb)],
                  top_z=[t.max(0).values for t in z],
                  max_dead_grad=max((float(r.abs().max()) for r in dead_rows if r.numel()), default=0.0),
                  negative_zeros=sum(int(((r == 0) & r.signbit()).sum()) for r in dead_rows))


def alive_pick(mask_dead: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    alive = (~mask_dead).nonzero().flatten().cpu()
    return alive[torch.randperm(alive.numel(), generator=generator)[:k]].to(mask_dead.device)


def varied_inputs(n: int, d: int, generator: torch.Generator) -> torch.Tensor:
    """Inputs of very different kinds, so "whatever the data" is exercised: standard Gaussian,
    Cauchy (heavy tails), shifted and rescaled Gaussians, and sparse rows; shuffled."""
    g = lambda *s: torch.randn(*s, generator=generator, dtype=torch.float64)  # noqa: E731
    u = torch.rand(n, d, generator=generator, dtype=torch.float64)
    parts = [g(n, d), torch.tan(math.pi * (u - 0.5)), g(n, d) + 5.0, 100.0 * g(n, d),
             g(n, d) * (torch.rand(n, d, generator=generator, dtype=torch.float64) < 0.1)]
    x = torch.cat(parts)[torch.randperm(len(parts) * n, generator=generator)]
    return x[:n]


def normalized_extremes(kind: str, m: int, draws: int, generator: torch.Generator) -> dict:
    """Largest |ẑ| and the fraction of groups with some ẑ > 0, over ``draws`` random groups of m
    values normalized by torch (BatchNorm: a unit over a batch; LayerNorm: a sample over units),
    plus the extremal group (1, 0, …, 0) that attains √(m−1) up to ε. Sparse rows make some groups
    constant (all 0): those normalize to ẑ ≡ 0 and are counted apart."""
    z = varied_inputs(draws, m, generator)  # one group per row
    extremal = torch.zeros(1, m, dtype=torch.float64)
    extremal[0, 0] = 1.0
    norm = (lambda v: F.batch_norm(v.T, None, None, training=True).T) if kind == "batch" else \
        (lambda v: F.layer_norm(v, (m,)))
    zhat, ext = norm(z), norm(extremal)
    varied = (z != z[:, :1]).any(1)  # constant groups normalize to 0: the degenerate case
    return {"groups": draws, "size": m, "bound": math.sqrt(m - 1), "max_abs": float(zhat.abs().max()),
            "extremal_max": float(ext.max()), "constant_groups": int((~varied).sum()),
            "nonconstant_with_positive": float((zhat[varied] > 0).any(1).double().mean())}


def watch_unit(model: MLP, layer: int, unit: int, X: torch.Tensor, y: torch.Tensor, sizes: Recipe,
               seed: int, progress: bool) -> dict:
    """Train ``model`` with plain SGD on random batches of X and watch one hidden unit: was it ever
    active on a batch sample, the largest |gradient| of each of its own parameter groups over all
    steps, and whether those parameters ended bitwise unchanged."""
    params = unit_params(model, layer, unit)
    start = {k: v.detach().clone() for k, v in params.items()}
    max_grad = dict.fromkeys(params, 0.0)
    active = [0]

    def on_step(t, trace, _idx):
        active[0] += int(not exact_dead(trace.z[layer][:, unit:unit + 1].detach(), model.activation))
        for k, g in unit_params(model, layer, unit, grad=True).items():
            max_grad[k] = max(max_grad[k], float(g.abs().max()))

    train(model, X, y, sizes.norm_steps, "sgd", {"lr": 0.1}, sizes.norm_batch, seed, on_step=on_step,
          progress=progress, desc=f"{model.norm}norm unit watch")
    return {"steps": sizes.norm_steps, "batch": sizes.norm_batch, "steps_active": active[0],
            "max_abs_gradient": max_grad,
            "unchanged": {k: bool(torch.equal(v, params[k].detach())) for k, v in start.items()}}


def norm_case(kind: str, affine: bool, sizes: Recipe, seed: int, device: str, progress: bool,
              generator: torch.Generator) -> dict:
    """One constructed unit (layer 2, unit 0) under ``kind`` normalization, watched under SGD:
    affine — β_0 = −|γ_0|√(m−1) − 1/2, m the batch size (BatchNorm) or the layer width (LayerNorm);
    BatchNorm without affine — zero incoming weights, so z_0 is constant on every batch, ẑ_0 = 0 and
    relu'(0) = 0; LayerNorm without affine — bias −10 puts z_0 below the layer mean on every input."""
    X = varied_inputs(sizes.n, sizes.d, generator).to(device)
    y = torch.randint(0, sizes.classes, (sizes.n,), generator=generator).to(device)
    widths = [sizes.d, sizes.norm_width, sizes.norm_width, sizes.classes]
    model = seeded(widths, "relu", seed, kind).to(device)
    layer, unit = 1, 0
    m = sizes.norm_batch if kind == "batch" else sizes.norm_width
    with torch.no_grad():
        if not affine:
            plain = (nn.BatchNorm1d(sizes.norm_width, affine=False) if kind == "batch" else
                     nn.LayerNorm(sizes.norm_width, elementwise_affine=False))
            model.norms[layer] = plain.double().to(device)
        p = unit_params(model, layer, unit)
        if affine:
            p["beta"].fill_(-p["gamma"].abs() * math.sqrt(m - 1) - 0.5)
        elif kind == "batch":
            p["w"].zero_()
        else:
            p["b"].fill_(-10.0)
        trace = model.train().trace(X[: sizes.norm_batch]) if kind == "batch" else model.trace(X)
        dead_at_start = bool(exact_dead(trace.z[layer][:, unit:unit + 1], "relu"))
        layer_ever_all_dead = bool(exact_dead(trace.z[layer].T, "relu").any())  # a sample with no unit on
    watch = watch_unit(model, layer, unit, X, y, sizes, seed, progress)
    model.eval()
    with torch.no_grad():  # BatchNorm with running statistics: the unit may well be active
        eval_active = float((~flat_mask(model.trace(X).z[layer][:, unit], "relu")).double().mean())
    return {"norm": kind, "affine": affine, "layer": layer + 1, "unit": unit, "group_size": m,
            "dead_at_start": dead_at_start, "some_input_kills_whole_layer": layer_ever_all_dead,
            **watch, "eval_mode_active_fraction": eval_active}


# ---- revival of dead units under gradient descent ---------------------------------------------

def descend_unit(model: MLP, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], lr: float, layer: int,
        unit: int) -> tuple[list[float], list[bool]]:
    """Plain GD on L = Σ ½‖ŷ − y‖², one step per batch. For hidden unit ``unit`` of hidden layer
    ``layer`` (0-based) returns, before each step, max z_u over the batch and whether θ_F still
    equals its initial value bit for bit. Mutates ``model`` (training is its job)."""
    lin = model.hidden[layer]
    w0, b0 = lin.weight[unit].detach().clone(), lin.bias[unit].detach().clone()
    zmax, unmoved = [], []
    for X, Y in batches:
        tr = model.trace(X)
        zmax.append(tr.z[layer][:, unit].max().item())
        unmoved.append(bool(torch.equal(lin.weight[unit], w0) and torch.equal(lin.bias[unit], b0)))
        model.zero_grad()
        (0.5 * ((tr.out - Y) ** 2).sum()).backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= lr * p.grad
    return zmax, unmoved


def revival_search(seed: int, widths: list[int], n: int, lr: float, steps: int, eps: float) -> dict | None:
    """A second-layer ReLU unit that is barely dead on the data (bias lowered so max z = −eps),
    not sign-dead, and revives under full-batch GD; None when no unit of this seed revives."""
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(n, widths[0], generator=gen, dtype=torch.float64)
    Y = torch.randn(n, widths[-1], generator=gen, dtype=torch.float64)
    for unit in range(widths[2]):
        model = seeded(widths, "relu", seed)
        lin = model.hidden[1]
        with torch.no_grad():
            lin.bias[unit] -= model.trace(X).z[1][:, unit].max() + eps
        S = box_sup(lin.weight[unit].tolist(), [(0.0, float("inf"))] * widths[1], lin.bias[unit].item())
        if S <= 0:
            continue  # sign-dead: provably never revives (the sign condition)
        state = {k: v.tolist() for k, v in model.state_dict().items()}
        zmax, unmoved = descend_unit(model, [(X, Y)] * steps, lr, 1, unit)
        k = next((t for t, v in enumerate(zmax) if v > 0), None)
        if k is not None and zmax[0] <= 0 and k + 1 < steps:
            return {"seed": seed, "architecture": "-".join(map(str, widths)), "lr": lr,
                    "unit": f"h2.{unit}", "data_x": X.tolist(), "data_y": Y.tolist(),
                    "initial_weights": state, "box_sup_S": S, "revival_step": k, "max_z_step0": zmax[0],
                    "max_z_before_revival": zmax[k - 1], "max_z_at_revival": zmax[k],
                    "theta_F_bitwise_unchanged_while_dead": all(unmoved[:k + 1]),
                    "theta_F_moves_after_revival": not unmoved[k + 1], "zmax": zmax}
    return None


def replay(found: dict, steps: int) -> list[float]:
    """Re-run GD from the counterexample's plain lists (float64 values round-trip exactly)."""
    widths = [int(v) for v in found["architecture"].split("-")]
    model = seeded(widths, "relu", 0)
    model.load_state_dict({k: torch.tensor(v, dtype=torch.float64)
                           for k, v in found["initial_weights"].items()})
    X = torch.tensor(found["data_x"], dtype=torch.float64)
    Y = torch.tensor(found["data_y"], dtype=torch.float64)
    return descend_unit(model, [(X, Y)] * steps, found["lr"], 1, int(found["unit"].split(".")[1]))[0]


def sign_condition_run(activation: str, seed: int, steps: int) -> dict:
    """Hidden unit h2.0 of a float64 3-4-4-1 MLP made dead on every input by the sign condition (ReLU:
    w ≤ 0, b = −0.1) or the box condition with mixed signs (b + Σ|w_i| below the left flat end, for
    hardtanh); then GD on fresh N(0, 9) data every step: its θ_F, its largest z and the first layer's
    change."""
    model = seeded([3, 4, 4, 1], activation, seed)
    rng = torch.Generator().manual_seed(seed)
    lin = model.hidden[1]
    edge = dead_edge(activation)
    with torch.no_grad():
        if activation == "relu":
            lin.weight[0] = -lin.weight[0].abs()
            lin.bias[0] = -0.1
        else:  # box condition with mixed signs: b + Σ|w_i| below the left flat end
            lin.bias[0] = edge - lin.weight[0].abs().sum() - 0.1
    a = activations.get(activation)
    upstream = [(float(a.range[0]), float(a.range[1]))] * 4  # same activation upstream
    S = box_sup(lin.weight[0].tolist(), upstream, lin.bias[0].item())
    w1 = model.hidden[0].weight.detach().clone()
    batches = ((3 * torch.randn(16, 3, generator=rng, dtype=torch.float64),
                torch.randn(16, 1, generator=rng, dtype=torch.float64)) for _ in range(steps))
    zmax, unmoved = descend_unit(model, batches, 0.05, 1, 0)
    return {"box_sup_S": S, "incoming_weights": lin.weight[0].tolist(),
            "max_z_over_all_batches": max(zmax), "theta_F_bitwise_unchanged": all(unmoved),
            "first_layer_change": (model.hidden[0].weight - w1).norm().item(),
            "dead_throughout": max(zmax) <= edge}


def first_activity(model: MLP, X: torch.Tensor, y: torch.Tensor, dead: list[torch.Tensor], steps: int,
                   lr: float, batch: int, check_every: int, seed: int, progress: bool = False
                   ) -> list[torch.Tensor]:
    """Plain SGD on (X, y) (``model`` is trained in place) while watching the units ``dead`` at the
    start: per hidden layer, the number of updates applied before each unit was first seen active —
    on a batch sample of a step's own forward pass, or on any sample by a full-data pass every
    ``check_every`` steps and at the end (−1: never)."""
    revived = [torch.full_like(d, -1, dtype=torch.long) for d in dead]

    def see(active: list[torch.Tensor], updates: int) -> None:
        for r, d, a in zip(revived, dead, active):
            r[d & a & (r < 0)] = updates

    def on_step(t: int, trace, _idx) -> None:
        see([~exact_dead(z.detach(), model.activation) for z in trace.z], t - 1)
        if t % check_every == 0 or t == steps:
            see([~d for d in dead_units(model, X)], t)

    train(model, X, y, steps, "sgd", {"lr": lr}, batch, seed, on_step=on_step, progress=progress,
          desc="sgd on the changed task")
    return revived


# ---- a frozen unit under each optimizer --------------------------------------------------------

EPS64 = float(np.finfo(np.float64).eps)


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
            z, g = train_step(model, opt, warm.x, warm.y, layer, unit)
            z_max.append(z)
            grad_norm.append(g)
            theta.append(theta_F())
        with torch.no_grad():
            z_max.append(float(model.trace(warm.x).z[layer][:, unit].max()))
    return Run(layer, unit, margin, edge, t0_steps, np.array(theta), np.array(z_max),
               np.array(grad_norm), state0, inputs)


def revival_margins(d: FrozenDerivation, warm: Warm, steps: int) -> np.ndarray:
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


def compare(d: FrozenDerivation, run: Run, hp: dict[str, float]) -> Comparison:
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
