"""Numeric checks of the frozen family on trained torch networks (CLAIMS.md, family ``frozen``).

The recipe that kills units: a ReLU MLP (4 hidden layers × 512 by default) trained with large-step
Adam (lr 1e-2) on the embedded ``teacher`` task (4096 × 32 inputs, 10 classes). It is trained once
per (sizes, seed, device, norm) and shared by the checks below; each check works on its own copy.

- ``gradient_zero_trained`` — frozen.gradient-zero: the exact-dead units' incoming weights and bias
  get a bitwise-zero gradient of the full-data loss, in float64 and in float32;
- ``manifold_trained`` — frozen.manifold: SGD on a changed task over the same inputs; first-layer
  and sign-certified dead units never move, other dead units of deeper layers can revive;
- ``normalization_bound`` — frozen.normalization (case): BatchNorm/LayerNorm bound |ẑ| ≤ √(m−1),
  and the affine shift β < −|γ|√(m−1) that defeats it (a unit dead on every batch, forever);
- ``normalization_trained`` — frozen.normalization (numeric): dead fraction per layer with
  BatchNorm, LayerNorm and no normalization after the recipe (4 × 256), over seeds.
"""

from __future__ import annotations

import copy
import functools
import math
from dataclasses import dataclass, replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from numerics.data import Task, make_task
from numerics.models import MLP
from numerics.probes import certified_dead, dead_units, exact_dead, flat_mask, paper_dead
from numerics.train import History, train
from reports import figures
from theory.evidence import Config, Evidence

TASK = "teacher"
DTYPES = {"float64": torch.float64, "float32": torch.float32}
ZERO_DEAD = 0.01  # "normalization removes dead units": ≤ 1% dead in every layer and seed
CLEAR_DEAD = 0.05  # "the unnormalized network clearly has dead units": ≥ 5% overall in every seed


@dataclass(frozen=True)
class Sizes:
    """Every size the checks use; ``SIZES[config.quick]`` picks one (tests may swap in tiny ones)."""

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


SIZES: dict[bool, Sizes] = {
    False: Sizes(),
    True: Sizes(n=1024, width=128, steps=150, batch=128, sgd_steps=300, sgd_batch=32, check_every=50,
                seeds=2, seeds_width=128, norm_steps=100),
}


# ---- the trained network, shared ---------------------------------------------------------------

@functools.lru_cache(maxsize=16)
def _trained(sizes: Sizes, seed: int, device: str, norm: str | None,
             progress: bool) -> tuple[MLP, Task, History]:
    task = make_task(TASK, sizes.n, sizes.d, sizes.classes, seed, torch.float64, device)
    with torch.random.fork_rng(devices=[]):  # seeded initialization, global stream untouched
        torch.manual_seed(seed)
        model = MLP(sizes.widths, "relu", norm).to(device)
    history = train(model, task.X.float(), task.y, sizes.steps, "adam", {"lr": sizes.lr}, sizes.batch,
                    seed, progress=progress, desc=f"adam lr={sizes.lr} norm={norm}")
    return model.eval(), task, history


def trained_network(config: Config, seed: int | None = None, norm: str | None = None,
                    width: int | None = None) -> tuple[MLP, Task, History]:
    """A copy of the float32 network trained by the recipe (eval mode), its task (float64 inputs)
    and its training history; trained once per (sizes, seed, device, norm, width)."""
    sizes = SIZES[config.quick]
    sizes = sizes if width is None else replace(sizes, width=width)
    seed = config.seed if seed is None else seed
    model, task, history = _trained(sizes, seed, config.device, norm, config.progress)
    return copy.deepcopy(model), task, history


def _setting(config: Config, sizes: Sizes, model: MLP, **extra) -> dict:
    return {"architecture": model.describe(), "activation": model.activation, "task": TASK,
            "samples": sizes.n, "optimizer": "adam", "lr": sizes.lr, "steps": sizes.steps,
            "batch": sizes.batch, "seed": config.seed, "device": config.device, "quick": config.quick,
            **extra}


def _accuracy(model: MLP, X: torch.Tensor, y: torch.Tensor) -> float:
    with torch.no_grad():
        return float((model(X).argmax(1) == y).double().mean())


def _counts(masks: list[torch.Tensor]) -> list[int]:
    return [int(m.sum()) for m in masks]


def _unit_params(model: MLP, layer: int, unit: int, grad: bool = False) -> dict[str, torch.Tensor]:
    """Views of hidden unit ``unit``'s own parameters (or of their ``.grad``): incoming weights w,
    bias b, and the normalization's γ, β when it has them."""
    lin = model.linears[layer]
    norm = model.norms[layer] if model.norms is not None else None
    params = {"w": lin.weight, "b": lin.bias}
    if norm is not None and getattr(norm, "weight", None) is not None:
        params |= {"gamma": norm.weight, "beta": norm.bias}
    return {k: (p.grad if grad else p)[unit] for k, p in params.items()}


def _moved_units(model: MLP, before: list[tuple[torch.Tensor, torch.Tensor]]) -> list[torch.Tensor]:
    """Per hidden layer: units whose incoming weights or bias differ (bitwise) from ``before``."""
    return [(lin.weight != w0).any(1) | (lin.bias != b0) for lin, (w0, b0) in zip(model.hidden, before)]


def _snapshot(model: MLP) -> list[tuple[torch.Tensor, torch.Tensor]]:
    return [(lin.weight.detach().clone(), lin.bias.detach().clone()) for lin in model.hidden]


# ---- planted dead units ------------------------------------------------------------------------

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


# ---- frozen.gradient-zero ----------------------------------------------------------------------

@dataclass
class _Audit:
    """Per hidden layer, from one full-data forward and backward in one dtype."""

    dead: list[torch.Tensor]  # exact dead (z in the flat set on every sample)
    paper: list[torch.Tensor]  # paper dead (|h| < 1e-7 on > 95% of samples)
    moved: list[torch.Tensor]  # some incoming weight or the bias has a non-zero gradient
    top_z: list[torch.Tensor]  # max over samples of z, per unit
    max_dead_grad: float  # largest |gradient| entry over the dead units' rows
    negative_zeros: int  # −0.0 entries among the dead units' gradients


def _audit(model: MLP, X: torch.Tensor, y: torch.Tensor) -> _Audit:
    """∇ of the mean cross-entropy over all of X w.r.t. every hidden layer's W and b, and the dead
    sets read off the very forward pass that produced it."""
    trace = model.trace(X)
    params = [p for lin in model.hidden for p in (lin.weight, lin.bias)]
    grads = torch.autograd.grad(F.cross_entropy(trace.out, y), params)
    gw, gb = grads[0::2], grads[1::2]
    z = [t.detach() for t in trace.z]
    dead = [exact_dead(t, model.activation) for t in z]
    dead_rows = [torch.cat([w[m], b[m, None]], 1) for w, b, m in zip(gw, gb, dead)]
    return _Audit(dead=dead, paper=[paper_dead(h.detach()) for h in trace.h],
                  moved=[(w != 0).any(1) | (b != 0) for w, b in zip(gw, gb)],
                  top_z=[t.max(0).values for t in z],
                  max_dead_grad=max((float(r.abs().max()) for r in dead_rows if r.numel()), default=0.0),
                  negative_zeros=sum(int(((r == 0) & r.signbit()).sum()) for r in dead_rows))


def gradient_zero_trained(config: Config) -> Evidence:
    """frozen.gradient-zero on a trained network: dead ⇒ ∂L/∂θ_u = 0 bitwise, float64 and float32."""
    sizes = SIZES[config.quick]
    model32, task, history = trained_network(config)
    audits = {}
    for name, dtype in DTYPES.items():
        model = copy.deepcopy(model32).to(dtype)
        audits[name] = (_audit(model, task.X.to(dtype), task.y), model)
    a64, a32 = audits["float64"][0], audits["float32"][0]
    total = sizes.width * sizes.depth
    dead64, dead32 = _counts(a64.dead), _counts(a32.dead)
    chunked = dead_units(audits["float64"][1], task.X)
    offenders = [(name, layer, int(unit), float(a.top_z[layer][unit]))
                 for name, (a, _) in audits.items() for layer, (d, m) in enumerate(zip(a.dead, a.moved))
                 for unit in (d & m).nonzero().flatten()]
    paper_only = [p & ~d for p, d in zip(a64.paper, a64.dead)]
    alive = [~d for d in a64.dead]
    dead_top = [t[d] for t, d in zip(a64.top_z, a64.dead)]
    measured = {
        "units_per_layer": sizes.width,
        "exact_dead_float64": dead64,
        "exact_dead_float32": dead32,
        "exact_dead_fraction_float64": sum(dead64) / total,
        "exact_dead_fraction_float32": sum(dead32) / total,
        "dead_only_in_float64": _counts([a & ~b for a, b in zip(a64.dead, a32.dead)]),
        "dead_only_in_float32": _counts([b & ~a for a, b in zip(a64.dead, a32.dead)]),
        "dead_with_nonzero_gradient_float64": _counts([d & m for d, m in zip(a64.dead, a64.moved)]),
        "dead_with_nonzero_gradient_float32": _counts([d & m for d, m in zip(a32.dead, a32.moved)]),
        "max_abs_dead_gradient_float64": a64.max_dead_grad,
        "max_abs_dead_gradient_float32": a32.max_dead_grad,
        "negative_zero_gradient_entries": a64.negative_zeros + a32.negative_zeros,
        "dead_largest_preactivation_float64": max((float(t.max()) for t in dead_top if t.numel()),
                                                  default=None),
        "paper_dead_float64": _counts(a64.paper),
        "paper_dead_not_exact": _counts(paper_only),
        "paper_dead_not_exact_nonzero_gradient": _counts([p & m for p, m in zip(paper_only, a64.moved)]),
        "exact_dead_not_paper_dead": _counts([d & ~p for p, d in zip(a64.paper, a64.dead)]),
        "alive_float64": _counts(alive),
        "alive_with_nonzero_gradient_float64": _counts([a & m for a, m in zip(alive, a64.moved)]),
        "chunked_pass_disagreements": _counts([c ^ d for c, d in zip(chunked, a64.dead)]),
        "train_accuracy": _accuracy(model32, task.X.float(), task.y),
        "train_final_batch_loss": history.loss[-1],
    }
    setting = _setting(config, sizes, model32, dtype="trained float32; audited float64 and float32",
                       loss="mean cross-entropy over all samples", exact_dead="relu: z ≤ 0 on every sample",
                       paper_dead="|h| < 1e-7 on > 95% of samples")
    n_dead = sum(dead64) + sum(dead32)
    frac = measured["exact_dead_fraction_float64"]
    paper_extra = sum(measured["paper_dead_not_exact"])
    paper_moving = sum(measured["paper_dead_not_exact_nonzero_gradient"])
    if offenders:
        dtype, layer, unit, top = offenders[0]
        verdict = "refuted"
        summary = (f"{len(offenders)} exact-dead unit(s) got a non-zero gradient, first {dtype} layer "
                   f"{layer + 1} unit {unit}.")
        counterexample = {"dtype": dtype, "layer": layer + 1, "unit": unit, "max_preactivation": top,
                          "offenders": len(offenders)}
    elif n_dead == 0:
        verdict, counterexample = "inconclusive", None
        summary = "The recipe killed no unit, so the gradient-zero property was not exercised."
    elif sum(measured["alive_with_nonzero_gradient_float64"]) == 0:
        verdict, counterexample = "inconclusive", None
        summary = "No alive unit has a non-zero gradient either: the gradient measurement is not trusted."
    else:
        verdict, counterexample = "confirmed", None
        zero = ("bitwise-zero (+0.0)" if measured["negative_zero_gradient_entries"] == 0 else
                f"exactly zero ({measured['negative_zero_gradient_entries']} entries −0.0)")
        summary = (f"Every exact-dead unit of a trained {sizes.depth}×{sizes.width} ReLU MLP "
                   f"({sum(dead64)} in float64, {sum(dead32)} in float32; {frac:.0%} of hidden units) has "
                   f"{zero} incoming-weight and bias gradients; {paper_extra} paper-dead units are "
                   f"not exact-dead and {paper_moving} of them get non-zero gradients.")
    fig, ax = figures.new(5.5, 2.8)
    layers = np.arange(1, sizes.depth + 1)
    ax.bar(layers - 0.2, np.array(measured["paper_dead_float64"]) / sizes.width, 0.4, label="paper dead")
    ax.bar(layers + 0.2, np.array(dead64) / sizes.width, 0.4, label="exact dead (float64)")
    ax.set(xlabel="hidden layer", ylabel="fraction of units", xticks=layers)
    ax.legend()
    caption = "Dead units per layer after large-step Adam: paper definition vs exact (the theorem's)."
    return Evidence("frozen.gradient-zero", "gradient-zero-trained", "numeric", verdict, summary, setting,
                    measured, counterexample, figures=[(caption, figures.svg(fig))])


# ---- frozen.manifold ---------------------------------------------------------------------------

def _alive_pick(mask_dead: torch.Tensor, k: int, generator: torch.Generator) -> torch.Tensor:
    alive = (~mask_dead).nonzero().flatten().cpu()
    return alive[torch.randperm(alive.numel(), generator=generator)[:k]].to(mask_dead.device)


def manifold_trained(config: Config) -> Evidence:
    """frozen.manifold: plain SGD on a changed task, same inputs, from the trained network.

    The theory (probes.certified_dead) says first-layer dead units and sign-certified deeper ones
    stay dead with bitwise-unchanged parameters; other dead units of deeper layers may revive.
    """
    sizes = SIZES[config.quick]
    model32, task, _ = trained_network(config)
    model, X, new = model32.double(), task.X, task.changed()
    generator = torch.Generator().manual_seed(config.seed)
    planted = {"first_layer": 0, "certified": [0] * sizes.depth}
    dead0 = dead_units(model, X)
    if not dead0[0].any():
        plant_first_layer_dead(model, X, _alive_pick(dead0[0], sizes.plant, generator))
        planted["first_layer"] = sizes.plant
    cert0 = certified_dead(model, X)
    if not any(c.any() for c in cert0[1:]):
        for layer in range(1, sizes.depth):
            units = _alive_pick(dead_units(model, X)[layer], sizes.plant, generator)
            plant_sign_dead(model, layer, units)
            planted["certified"][layer] = len(units)
    dead0, cert0 = dead_units(model, X), certified_dead(model, X)
    # the theory's promise: first-layer dead units (fixed data) and certified ones never move
    protected = [cert0[0] | dead0[0], *cert0[1:]]
    other0 = [d & ~p for d, p in zip(dead0, protected)]
    before, accuracy_before = _snapshot(model), _accuracy(model, X, new.y)
    # updates applied before the unit was first seen active (−1: never)
    revived = [torch.full_like(d, -1, dtype=torch.long) for d in dead0]

    def see(active: list[torch.Tensor], updates: int) -> None:
        for r, d, a in zip(revived, dead0, active):
            r[d & a & (r < 0)] = updates

    def on_step(t: int, trace, _idx) -> None:
        see([~exact_dead(z.detach(), model.activation) for z in trace.z], t - 1)
        if t % sizes.check_every == 0 or t == sizes.sgd_steps:
            see([~d for d in dead_units(model, X)], t)

    train(model, X, new.y, sizes.sgd_steps, "sgd", {"lr": sizes.sgd_lr}, sizes.sgd_batch, config.seed,
          on_step=on_step, progress=config.progress, desc="sgd on the changed task")
    moved = _moved_units(model, before)
    ever = [r >= 0 for r in revived]
    dead1 = dead_units(model, X)
    cert_bad = [c & (m | e) for c, m, e in zip(cert0, moved, ever)]
    # a dead unit that moved without ever being seen active on a batch would contradict the theorem
    silent = [d & m & ~e for d, m, e in zip(dead0, moved, ever)]
    bad = [p & (m | e) | q for p, m, e, q in zip(protected, moved, ever, silent)]
    other_revived = [o & e for o, e in zip(other0, ever)]
    measured = {
        "sgd_steps": sizes.sgd_steps,
        "first_layer_dead": int(dead0[0].sum()),
        "first_layer_planted": planted["first_layer"],
        "first_layer_moved": int((dead0[0] & moved[0]).sum()),
        "first_layer_revived": int((dead0[0] & ever[0]).sum()),
        "certified_dead_per_layer": _counts(cert0),
        "certified_planted_per_layer": planted["certified"],
        "certified_moved_or_revived": _counts(cert_bad),
        "dead_not_certified_per_layer": _counts(other0),
        "revived_per_layer": _counts(other_revived),
        "still_dead_per_layer": _counts([o & d for o, d in zip(other0, dead1)]),
        "newly_dead_per_layer": _counts([d & ~d0 for d, d0 in zip(dead1, dead0)]),
        "moved_without_observed_activity": sum(_counts(silent)),
        "new_task_accuracy_before": accuracy_before,
        "new_task_accuracy_after": _accuracy(model, X, new.y),
    }
    n_other, n_revived = sum(measured["dead_not_certified_per_layer"]), sum(measured["revived_per_layer"])
    setting = _setting(config, sizes, model, dtype="float64", phase2="sgd", phase2_lr=sizes.sgd_lr,
                       phase2_steps=sizes.sgd_steps, phase2_batch=sizes.sgd_batch, weight_decay=0.0,
                       changed_task=new.describe(),
                       planted="none" if not (planted["first_layer"] or any(planted["certified"])) else
                       f"first layer {planted['first_layer']}, certified {planted['certified']} "
                       "(the trained network had none of that kind)")
    violations = sum(_counts(bad))
    if violations:
        layer = next(i for i, b in enumerate(bad) if b.any())
        unit = int(bad[layer].nonzero()[0])
        verdict = "refuted"
        summary = (f"THEORY VIOLATED: {violations} first-layer/certified dead unit(s) moved or revived under "
                   f"plain SGD, first layer {layer + 1} unit {unit}.")
        counterexample = {"layer": layer + 1, "unit": unit, "updates": int(revived[layer][unit]),
                          "moved": bool(moved[layer][unit])}
    elif n_revived:
        steps_all = torch.cat([r[e] for r, e in zip(revived, other_revived)])
        # the earliest revival: per layer the first revived unit, then the earliest layer
        masked = [r.where(e, r.new_tensor(1 << 62)) for r, e in zip(revived, other_revived)]
        _, layer, unit = min((int(r.min()), i, int(r.argmin())) for i, r in enumerate(masked))
        verdict = "qualified"
        summary = (f"First-layer ({measured['first_layer_dead']}) and sign-certified "
                   f"({sum(measured['certified_dead_per_layer'][1:])}) dead units stayed bitwise frozen "
                   f"for {sizes.sgd_steps} SGD steps on a changed task, but {n_revived} of {n_other} other "
                   f"dead units of deeper layers revived: the frozen manifold is not invariant for them.")
        counterexample = {"layer": layer + 1, "unit": unit,
                          "updates_before_revival": int(revived[layer][unit]),
                          "median_updates_before_revival": float(steps_all.double().median()),
                          "why": "its inputs come from layers that keep learning; it is dead on the data "
                                 "but not certified (some w_ji > 0 from a live upstream unit, or b ≥ 0)"}
    else:
        verdict, counterexample = "confirmed", None
        summary = (f"No dead unit revived in {sizes.sgd_steps} SGD steps on a changed task: "
                   f"{measured['first_layer_dead']} first-layer, "
                   f"{sum(measured['certified_dead_per_layer'][1:])} certified and {n_other} other dead "
                   "units stayed frozen.")
    fig, ax = figures.new(5.5, 2.8)
    for layer in range(sizes.depth):
        when = np.sort(revived[layer][other_revived[layer]].cpu().numpy())
        ax.step(np.r_[0, when, sizes.sgd_steps], np.r_[0, np.arange(1, when.size + 1), when.size],
                where="post", label=f"layer {layer + 1} ({int(other0[layer].sum())} dead at start)")
    ax.set(xlabel="SGD updates on the changed task", ylabel="dead units revived")
    ax.legend(fontsize=7)
    caption = ("Revival of dead-but-not-certified units under SGD on a changed task (same inputs); "
               "first-layer and certified dead units never revive.")
    return Evidence("frozen.manifold", "manifold-trained", "numeric", verdict, summary, setting, measured,
                    counterexample, figures=[(caption, figures.svg(fig))])


# ---- frozen.normalization: the bound and its counterexamples -------------------------------------

def _varied_inputs(n: int, d: int, generator: torch.Generator) -> torch.Tensor:
    """Inputs of very different kinds, so "whatever the data" is exercised: standard Gaussian,
    Cauchy (heavy tails), shifted and rescaled Gaussians, and sparse rows; shuffled."""
    g = lambda *s: torch.randn(*s, generator=generator, dtype=torch.float64)  # noqa: E731
    u = torch.rand(n, d, generator=generator, dtype=torch.float64)
    parts = [g(n, d), torch.tan(math.pi * (u - 0.5)), g(n, d) + 5.0, 100.0 * g(n, d),
             g(n, d) * (torch.rand(n, d, generator=generator, dtype=torch.float64) < 0.1)]
    x = torch.cat(parts)[torch.randperm(len(parts) * n, generator=generator)]
    return x[:n]


def _normalized_extremes(kind: str, m: int, draws: int, generator: torch.Generator) -> dict:
    """Largest |ẑ| and the fraction of groups with some ẑ > 0, over ``draws`` random groups of m
    values normalized by torch (BatchNorm: a unit over a batch; LayerNorm: a sample over units),
    plus the extremal group (1, 0, …, 0) that attains √(m−1) up to ε. Sparse rows make some groups
    constant (all 0): those normalize to ẑ ≡ 0 and are counted apart."""
    z = _varied_inputs(draws, m, generator)  # one group per row
    extremal = torch.zeros(1, m, dtype=torch.float64)
    extremal[0, 0] = 1.0
    norm = (lambda v: F.batch_norm(v.T, None, None, training=True).T) if kind == "batch" else \
        (lambda v: F.layer_norm(v, (m,)))
    zhat, ext = norm(z), norm(extremal)
    varied = (z != z[:, :1]).any(1)  # constant groups normalize to 0: the degenerate case
    return {"groups": draws, "size": m, "bound": math.sqrt(m - 1), "max_abs": float(zhat.abs().max()),
            "extremal_max": float(ext.max()), "constant_groups": int((~varied).sum()),
            "nonconstant_with_positive": float((zhat[varied] > 0).any(1).double().mean())}


def _watch_unit(model: MLP, layer: int, unit: int, X: torch.Tensor, y: torch.Tensor, sizes: Sizes,
                seed: int, progress: bool) -> dict:
    """Train ``model`` with plain SGD on random batches of X and watch one hidden unit: was it ever
    active on a batch sample, the largest |gradient| of each of its own parameter groups over all
    steps, and whether those parameters ended bitwise unchanged."""
    params = _unit_params(model, layer, unit)
    start = {k: v.detach().clone() for k, v in params.items()}
    max_grad = dict.fromkeys(params, 0.0)
    active = [0]

    def on_step(t, trace, _idx):
        active[0] += int(not exact_dead(trace.z[layer][:, unit:unit + 1].detach(), model.activation))
        for k, g in _unit_params(model, layer, unit, grad=True).items():
            max_grad[k] = max(max_grad[k], float(g.abs().max()))

    train(model, X, y, sizes.norm_steps, "sgd", {"lr": 0.1}, sizes.norm_batch, seed, on_step=on_step,
          progress=progress, desc=f"{model.norm}norm unit watch")
    return {"steps": sizes.norm_steps, "batch": sizes.norm_batch, "steps_active": active[0],
            "max_abs_gradient": max_grad,
            "unchanged": {k: bool(torch.equal(v, params[k].detach())) for k, v in start.items()}}


def _norm_case(kind: str, affine: bool, sizes: Sizes, config: Config, generator: torch.Generator) -> dict:
    """One constructed unit (layer 2, unit 0) under ``kind`` normalization, watched under SGD:
    affine — β_0 = −|γ_0|√(m−1) − 1/2, m the batch size (BatchNorm) or the layer width (LayerNorm);
    BatchNorm without affine — zero incoming weights, so z_0 is constant on every batch, ẑ_0 = 0 and
    relu'(0) = 0; LayerNorm without affine — bias −10 puts z_0 below the layer mean on every input."""
    X = _varied_inputs(sizes.n, sizes.d, generator).to(config.device)
    y = torch.randint(0, sizes.classes, (sizes.n,), generator=generator).to(config.device)
    widths = [sizes.d, sizes.norm_width, sizes.norm_width, sizes.classes]
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed)
        model = MLP(widths, "relu", kind).double().to(config.device)
    layer, unit = 1, 0
    m = sizes.norm_batch if kind == "batch" else sizes.norm_width
    with torch.no_grad():
        if not affine:
            model.norms[layer] = (nn.BatchNorm1d(sizes.norm_width, affine=False) if kind == "batch" else
                                  nn.LayerNorm(sizes.norm_width, elementwise_affine=False)).double().to(
                                      config.device)
        p = _unit_params(model, layer, unit)
        if affine:
            p["beta"].fill_(-p["gamma"].abs() * math.sqrt(m - 1) - 0.5)
        elif kind == "batch":
            p["w"].zero_()
        else:
            p["b"].fill_(-10.0)
        trace = model.train().trace(X[: sizes.norm_batch]) if kind == "batch" else model.trace(X)
        dead_at_start = bool(exact_dead(trace.z[layer][:, unit:unit + 1], "relu"))
        layer_ever_all_dead = bool(exact_dead(trace.z[layer].T, "relu").any())  # a sample with no unit on
    watch = _watch_unit(model, layer, unit, X, y, sizes, config.seed, config.progress)
    model.eval()
    with torch.no_grad():  # BatchNorm with running statistics: the unit may well be active
        eval_active = float((~flat_mask(model.trace(X).z[layer][:, unit], "relu")).double().mean())
    return {"norm": kind, "affine": affine, "layer": layer + 1, "unit": unit, "group_size": m,
            "dead_at_start": dead_at_start, "some_input_kills_whole_layer": layer_ever_all_dead,
            **watch, "eval_mode_active_fraction": eval_active}


def normalization_bound(config: Config) -> Evidence:
    """frozen.normalization, derived: what BatchNorm/LayerNorm can and cannot do to a dead unit.

    For m values normalized to ẑ_i = (z_i − mean)/√(var + ε) (biased variance): Σ ẑ_i = 0 and
    Σ ẑ_i² = m·var/(var + ε) ≤ m, hence (Samuelson) max_i |ẑ_i| ≤ √(m−1). Without affine
    parameters some ẑ_i > 0 unless the m values are equal, so ReLU(ẑ) cannot be 0 on a whole batch
    (BatchNorm, m = batch size) or a whole layer (LayerNorm, m = width). With them, y = γẑ + β ≤
    |γ|√(m−1) + β < 0 whenever β < −|γ|√(m−1): the unit is dead on every batch whatever the data,
    ∂L/∂γ = ∂L/∂β = 0, so it stays dead forever (its incoming weights are frozen too under
    BatchNorm; under LayerNorm they still move, through the normalization of the other units).
    """
    sizes = SIZES[config.quick]
    generator = torch.Generator().manual_seed(config.seed)
    bounds = {kind: _normalized_extremes(kind, m, 2000, generator)
              for kind, m in (("batch", sizes.norm_batch), ("layer", sizes.norm_width))}
    cases = {f"{kind}_{'affine' if affine else 'plain'}": _norm_case(kind, affine, sizes, config, generator)
             for kind in ("batch", "layer") for affine in (True, False)}
    bound_holds = all(b["max_abs"] <= b["bound"] for b in bounds.values())
    plain_positive = (all(b["nonconstant_with_positive"] == 1.0 for b in bounds.values())
                      and not cases["layer_plain"]["some_input_kills_whole_layer"])

    def frozen_forever(c: dict) -> bool:
        """Dead at start, never active, and the unit's normalization (or, under BatchNorm, all of
        its) parameters exactly unchanged."""
        keep = [k for k in c["unchanged"] if k in ("gamma", "beta") or c["norm"] == "batch"]
        return c["dead_at_start"] and c["steps_active"] == 0 and all(c["unchanged"][k] for k in keep)

    held = [name for name, c in cases.items() if frozen_forever(c)]
    measured = {"bound": bounds, **cases, "counterexamples_holding": held}
    setting = {"architecture": f"{sizes.d}-{sizes.norm_width}-{sizes.norm_width}-{sizes.classes} relu, "
                               "norm before the activation", "optimizer": "sgd", "lr": 0.1,
               "steps": sizes.norm_steps, "batch": sizes.norm_batch, "dtype": "float64", "seed": config.seed,
               "data": "Gaussian, Cauchy, shifted, ×100 and sparse inputs mixed; random labels",
               "device": config.device}
    if not bound_holds:
        verdict, counterexample = "inconclusive", None
        summary = "The derived bound |ẑ| ≤ √(m−1) failed numerically; the construction is not trusted."
    elif held:
        verdict = "qualified" if plain_positive else "refuted"
        b = cases["batch_affine"]
        counterexample = {"constructions": held, "batchnorm_affine": {
            "beta": f"-|gamma|*sqrt({sizes.norm_batch}-1) - 0.5", "steps_active": b["steps_active"],
            "max_abs_gradient": b["max_abs_gradient"]},
            "layernorm_plain_unit_dead_at_start": cases["layer_plain"]["dead_at_start"]}
        described = {"batch_affine": "BatchNorm with β < −|γ|√(B−1)",
                     "layer_affine": "LayerNorm with β_j < −|γ_j|√(n−1)",
                     "batch_plain": "BatchNorm without affine on constant pre-activations (ẑ ≡ 0)",
                     "layer_plain": "LayerNorm without affine, unit below the layer mean"}
        summary = (f"Normalization only bounds |ẑ| ≤ √(m−1); it prevents exact death only for BatchNorm "
                   f"without affine parameters on non-constant batches — units stayed dead for "
                   f"{sizes.norm_steps} SGD steps under: {'; '.join(described[h] for h in held)}.")
    else:
        verdict, counterexample = ("confirmed" if plain_positive else "inconclusive"), None
        summary = "No constructed unit stayed dead under normalization."
    return Evidence("frozen.normalization", "normalization-bound", "case", verdict, summary, setting,
                    measured, counterexample)


# ---- frozen.normalization: trained networks -----------------------------------------------------

def normalization_trained(config: Config) -> Evidence:
    """frozen.normalization on the recipe: exact dead fraction per layer with BatchNorm, LayerNorm
    and no normalization before the activation, over seeds (BatchNorm read in eval mode). The
    networks are ``sizes.seeds_width`` wide (256 by default: 3 × seeds trainings must fit the time
    budget); depth, optimizer, step size, steps and batch are the recipe's."""
    sizes = SIZES[config.quick]
    variants = (None, "batch", "layer")
    seeds = [config.seed + k for k in range(sizes.seeds)]
    frac = {}  # variant -> (seeds, layers)
    for norm in variants:
        rows = []
        for seed in seeds:
            model, task, _ = trained_network(config, seed, norm, sizes.seeds_width)
            rows.append([float(m.double().mean()) for m in dead_units(model, task.X.float())])
        frac[norm] = np.array(rows)
    name = {None: "none", "batch": "batchnorm", "layer": "layernorm"}
    overall = {v: frac[v].mean(1) for v in variants}  # equal widths: overall = mean over layers
    measured = {f"dead_fraction_{name[v]}_mean": frac[v].mean(0).tolist() for v in variants}
    measured |= {f"dead_fraction_{name[v]}_std": frac[v].std(0).tolist() for v in variants}
    measured |= {f"dead_overall_{name[v]}_per_seed": overall[v].tolist() for v in variants}
    measured |= {"seeds": seeds, "thresholds": {"zero": ZERO_DEAD, "clear": CLEAR_DEAD, "reduced": 0.5}}
    none_mean = float(overall[None].mean())
    zero = {v: bool(frac[v].max() <= ZERO_DEAD) for v in ("batch", "layer")}
    reduced = {v: bool(overall[v].mean() <= 0.5 * none_mean) for v in ("batch", "layer")}
    widths = replace(sizes, width=sizes.seeds_width).widths
    setting = _setting(config, sizes, model, dtype="float32", seeds=len(seeds),
                       architecture="-".join(map(str, widths)) + " relu; none / batchnorm / layernorm",
                       norms="none, batch, layer (before ReLU)", dead="exact (z ≤ 0 on every sample); "
                       "BatchNorm with its running statistics",
                       rule=f"inconclusive if 'none' has < {CLEAR_DEAD:.0%} dead in some seed; confirmed if "
                            f"both norms have ≤ {ZERO_DEAD:.0%} dead in every layer and seed; refuted if "
                            "neither halves the overall dead fraction of 'none'; qualified otherwise")
    counterexample = None
    if overall[None].min() < CLEAR_DEAD:
        verdict = "inconclusive"
        summary = (f"The recipe did not clearly kill units without normalization (overall dead "
                   f"{none_mean:.1%}), so the comparison says nothing.")
    else:
        verdict = ("confirmed" if all(zero.values()) else
                   "refuted" if not any(reduced.values()) else "qualified")
        summary = (f"Dead fraction after large-step Adam: none {none_mean:.1%}, BatchNorm "
                   f"{overall['batch'].mean():.1%}, LayerNorm {overall['layer'].mean():.1%} "
                   f"(mean over {len(seeds)} seeds).")
        worst = [v for v in ("batch", "layer") if not zero[v]]
        if worst:
            v = max(worst, key=lambda v: frac[v].max())
            s, layer = np.unravel_index(frac[v].argmax(), frac[v].shape)
            counterexample = {"norm": v, "seed": seeds[s], "layer": int(layer) + 1,
                              "dead_fraction": float(frac[v][s, layer]), "threshold": ZERO_DEAD}
    fig, ax = figures.new(5.5, 2.8)
    layers = np.arange(1, sizes.depth + 1)
    for k, v in enumerate(variants):
        ax.bar(layers + (k - 1) * 0.27, frac[v].mean(0), 0.27, yerr=frac[v].std(0), capsize=2,
               label=name[v])
    ax.set(xlabel="hidden layer", ylabel="exact dead fraction", xticks=layers)
    ax.legend()
    caption = (f"Exact dead fraction per layer after Adam lr={sizes.lr}, {sizes.steps} steps; "
               f"mean ± std over {len(seeds)} seeds.")
    return Evidence("frozen.normalization", "normalization-trained", "numeric", verdict, summary, setting,
                    measured, counterexample, figures=[(caption, figures.svg(fig))])

