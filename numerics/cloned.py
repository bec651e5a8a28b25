"""Clones of trained torch networks: the base networks, clone and base trained side by side, the
distances read along the way, and escape from the clone manifold.

The recipe (``Recipe``): a ReLU MLP (4 hidden layers × 256 by default) trained with Adam on the
embedded ``teacher`` task (4096 × 32 inputs, 10 classes), then cloned ×2 (``numerics.clone``, equal
split: the wide network lies on M_D). Clone and base then train side by side on identical batches
(``side_by_side``), and the clone's distance to the manifold is read at log-spaced steps (``grid``).

What the base should be compared with. On M_D the clone computes with the quotient weights
W̃[u, w] = Σ_{b ∈ S_w} W'[a, b], and an SGD step moves them by −η (|S_w|/|S_u|) ∂L̃/∂W̃
(``clone.quotient_steps``): for ×n the first layer learns n times slower than the base, the
read-out n times faster. So the clone's trajectory is the base's under SGD with those per-layer
step factors (the *shadow*), not under plain SGD with the same step.

- ``trajectory`` — clone, shadow and plain base under SGD, in one dtype;
- ``optimizer_trajectory`` — clone vs shadow under any registry optimizer from an equitable but not
  block-constant start, so leaving the leaf M_D(θ₀) and leaving the family of equitable networks are
  told apart; ``carried_run`` the same with optimizer state carried over from the base (cloned by
  the gradient rule of ``theory.optimizers``);
- ``escape`` — clones of a capacity-limited base under symmetry breakers (noise, dropout, seeded
  asymmetries), against the shadow and a fresh wide network trained from scratch.

Tolerance (float64 and float32 alike): an exact clone's arithmetic is bitwise symmetric, so any
non-zero distance is rounding or a real escape. The stated bound is a few ulps per layer, scaled by
the largest parameter and growing like a random walk over steps:
tol(t) = TOL_ULPS · ε · (depth + 1) · max|θ₀| · √max(t, 1).
"""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from tqdm import tqdm

from numerics import clone as C
from numerics.data import Task, make_task
from numerics.models import CNN, MLP, ResNet, ViT, seeded
from numerics.train import TORCH_STATE, Setup, TorchUpdate, batches, train, warm_up
from theory import updates
from theory.optimizers import state_degrees
from theory.partition import Partition
from theory.threads import one_thread

TASK = "teacher"
TOL_ULPS = 8
DTYPES = {"float64": torch.float64, "float32": torch.float32}
FLOOR = 1e-20  # exact zeros are drawn at this height on log plots
TOL_TEXT = f"{TOL_ULPS} ulps × (depth+1) × max|θ₀| × √t"


@dataclass(frozen=True)
class Recipe:
    """Every size of the trained-network clone experiments (defaults: full size)."""

    n: int = 4096  # samples of the fixed data set
    d: int = 32
    classes: int = 10
    width: int = 256  # the base of trajectory, optimizers and normalization
    depth: int = 4
    factor: int = 2  # expansion
    pretrain_steps: int = 300  # Adam, float32
    pretrain_lr: float = 1e-3
    pretrain_batch: int = 128
    lr: float = 0.05  # side-by-side SGD
    batch: int = 32
    steps: int = 1000
    probe: int = 256  # samples for probe losses, R², effective rank
    opt_steps: int = 100  # optimizer_trajectory
    perturb: float = 0.1  # equitable perturbation, relative to the hidden weights' rms
    norm_steps: int = 300
    narrow: int = 16  # the capacity-limited base of the escape checks
    narrow_depth: int = 2
    narrow_pretrain: int = 2000
    narrow_lr: float = 1e-2
    escape_steps: int = 2000
    escape_batch: int = 64
    sigmas: tuple[float, ...] = (0.001, 0.01, 0.1)
    decays: tuple[float, ...] = (0.9, 0.99, 1.0)
    dropouts: tuple[float, ...] = (0.05, 0.1, 0.2)
    amplitudes: tuple[float, ...] = (1e-7, 1e-5, 1e-3)  # seeds ± a·max|θ| on every entry, then plain SGD
    rounding_steps: int = 1000
    activation: str = "relu"  # of every base network

    @property
    def widths(self) -> list[int]:
        return [self.d] + [self.width] * self.depth + [self.classes]

    @property
    def narrow_widths(self) -> list[int]:
        return [self.d] + [self.narrow] * self.narrow_depth + [self.classes]


@functools.lru_cache(maxsize=16)
def _pretrained(widths: tuple[int, ...], norm: str | None, sizes: Recipe, steps: int, lr: float, seed: int,
                device: str, progress: bool, init: int = 0) -> tuple[MLP, Task]:
    """The task of ``seed`` and a network initialized from ``seed + init``, trained by Adam."""
    task = make_task(TASK, sizes.n, sizes.d, sizes.classes, seed, torch.float64, device)
    model = seeded(widths, sizes.activation, seed + init, norm, torch.float32).to(device)
    train(model, task.X.float(), task.y, steps, "adam", {"lr": lr}, sizes.pretrain_batch, seed,
          progress=progress, desc=f"pretrain {model.describe()}")
    return model.eval(), task


def base_network(recipe: Recipe, seed: int, device: str = "cpu", progress: bool = False,
                 norm: str | None = None, narrow: bool = False) -> tuple[MLP, Task]:
    """A copy of the float32 base trained by the recipe (the main one, or the capacity-limited
    narrow one of the escape checks) and its task (float64 inputs); trained once per setting."""
    s = recipe
    widths, steps, lr = ((s.narrow_widths, s.narrow_pretrain, s.narrow_lr) if narrow else
                         (s.widths, s.pretrain_steps, s.pretrain_lr))
    model, task = _pretrained(tuple(widths), norm, s, steps, lr, seed, device, progress)
    return copy.deepcopy(model), task


def depth(model: torch.nn.Module) -> int:
    """Hidden layers of a layer stack; unit spaces of a ResNet or ViT (``numerics.models``)."""
    return len(model.hidden) if hasattr(model, "hidden") else len(model.spaces())


def tolerance(model: torch.nn.Module, dtype: torch.dtype, step: int) -> float:
    """tol(t) = TOL_ULPS · ε · (depth + 1) · max|θ| · √max(t, 1) (module docstring)."""
    scale = max(float(p.detach().abs().max()) for p in model.parameters())
    return TOL_ULPS * torch.finfo(dtype).eps * (depth(model) + 1) * scale * math.sqrt(max(step, 1))


def grid(steps: int, per_decade: int = 8) -> list[int]:
    """Log-spaced steps 0, 1, 2, …, 10, …, 100, …, steps (every power of ten included)."""
    top = math.log10(max(steps, 1))
    pts = {0, steps} | {10**k for k in range(int(top) + 1)}
    pts |= {round(10 ** (i / per_decade)) for i in range(int(top * per_decade) + 1)}
    return sorted(p for p in pts if p <= steps)


def at(steps: list[int], values: list[float], marked: Sequence[int]) -> dict[str, float]:
    """The values at the marked steps (those in the grid)."""
    return {str(m): values[steps.index(m)] for m in marked if m in steps}


def marks(steps: int) -> list[int]:
    """The steps a summary quotes: 0, 1, 10, 100, 1000 and the last."""
    return [m for m in (0, 1, 10, 100, 1000, steps) if m <= steps]


@dataclass
class Side:
    """One network of a side-by-side run: its optimizer (a ``theory.updates`` name and
    hyperparameters), optional per-parameter gradient factors applied before every step
    (``clone.quotient_steps``: the shadow), and an optional different optimizer for step 1 only
    (a single noisy kick)."""

    name: str
    model: MLP
    optimizer: str = "sgd"
    hp: dict[str, float] | None = None
    scale: list[tuple[torch.Tensor, torch.Tensor]] | None = None
    kick: tuple[str, dict[str, float]] | None = None

    @property
    def dtype(self) -> torch.dtype:
        return next(self.model.parameters()).dtype


def side_by_side(sides: Sequence[Side], task: Task, steps: int, batch: int, seed: int,
                 on_step: Callable[[int], None] | None = None, progress: bool = False,
                 desc: str = "side by side") -> dict[str, list[float]]:
    """Train every side in lockstep on the same batches (``numerics.train.batches``): at step t one
    batch B_t is drawn and every side takes its update on it, in training mode (each model is left
    in the mode it came in). Each side has its own noise generator; dropout masks come from the
    global stream, seeded here and restored after. ``on_step(t)`` runs after update t of every side.
    Returns the batch losses of every side."""
    device = task.X.device
    X = {s.dtype: task.X.to(s.dtype) for s in sides}
    updates, kicks = [], []
    for k, s in enumerate(sides):
        gen = torch.Generator(device=device).manual_seed(7919 * seed + k)
        updates.append(TorchUpdate(s.optimizer, s.model.parameters(), s.hp, generator=gen))
        kicks.append(None if s.kick is None else
                     TorchUpdate(s.kick[0], s.model.parameters(), s.kick[1], generator=gen))
    modes = [s.model.training for s in sides]
    for s in sides:
        s.model.train()
    losses: dict[str, list[float]] = {s.name: [] for s in sides}
    stream = batches(task.X.shape[0], batch, torch.Generator().manual_seed(seed))
    with torch.random.fork_rng(devices=[] if device.type == "cpu" else [device]):
        torch.manual_seed(seed)
        for t in tqdm(range(1, steps + 1), desc=desc, leave=False, disable=not progress or None):
            idx = next(stream).to(device)
            for s, update, kick in zip(sides, updates, kicks):
                update = kick if kick is not None and t == 1 else update
                update.zero_grad()
                loss = F.cross_entropy(s.model(X[s.dtype][idx]), task.y[idx])
                loss.backward()
                for p, f in s.scale or ():
                    p.grad.mul_(f)
                update.step()
                losses[s.name].append(float(loss.detach()))
            if on_step is not None:
                on_step(t)
    for s, mode in zip(sides, modes):
        s.model.train(mode)
    return losses


@torch.no_grad()
def probe_loss(model: MLP, X: torch.Tensor, y: torch.Tensor) -> float:
    """Mean cross-entropy on (X, y) in eval mode; the model's mode is left as it was."""
    training = model.training
    out = float(F.cross_entropy(model.eval()(X), y))
    model.train(training)
    return out


@dataclass
class Watch:
    """Readings of one wide network at the steps of a grid: leaf and family distances (float64),
    probe loss, and optionally the cloning R² (mean of forward and backward)."""

    gauge: C.Gauge
    model: MLP
    cloning: C.Cloning
    X: torch.Tensor
    y: torch.Tensor
    r2: bool = False
    leaf: list[float] = field(default_factory=list)
    leaf_norm: list[float] = field(default_factory=list)  # Euclidean norm of the off-leaf component
    family: list[float] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)
    r2_mean: list[float] = field(default_factory=list)
    where: list[dict] = field(default_factory=list)  # the largest leaf entry at every reading

    def read(self, family: bool = False) -> None:
        d = self.gauge.leaf()
        self.leaf.append(d.value)
        self.leaf_norm.append(d.norm)
        self.where.append(d.where)
        if family:
            self.family.append(self.gauge.family().value)
        self.loss.append(probe_loss(self.model, self.X, self.y))
        if self.r2:
            self.r2_mean.append(C.cloning_r2(self.model, self.cloning, self.X, self.y).mean)


@dataclass
class Trajectory:
    """One side-by-side SGD run of clone, shadow and plain base in one dtype."""

    steps: list[int]
    watch: Watch
    tol: list[float]
    loss: dict[str, list[float]]  # probe loss of clone, shadow, plain base at the grid steps
    forward_gap: float  # max |clone(x) − base(x)| at the start
    rank: dict[str, list[float]]  # effective rank per layer: base and clone at the start, at the end


def _effective_ranks(model: MLP, X: torch.Tensor) -> list[float]:
    with torch.no_grad():
        return [C.effective_rank(h) for h in model.eval().trace(X).h]


def trajectory(base32: MLP, task: Task, cloning: Partition, dtype: torch.dtype, sizes: Recipe,
               seed: int, progress: bool = False, split: list[torch.Tensor] | None = None,
               steps: int | None = None,
                r2: bool = True, plain: bool = True) -> Trajectory:
    """Clone (``split``: default equal), shadow and — with ``plain`` — the plain base under SGD, side
    by side in ``dtype``; R² at the powers of ten."""
    steps = sizes.steps if steps is None else steps
    base = copy.deepcopy(base32).to(dtype)
    wide = C.clone(base, cloning, split)
    plain_base = copy.deepcopy(base) if plain else None
    X, y = task.X[: sizes.probe].to(dtype), task.y[: sizes.probe]
    gap = C.forward_gap(base, wide, X)
    tol1 = tolerance(wide, dtype, 1)
    rank0 = {"base_start": _effective_ranks(base, X), "clone_start": _effective_ranks(wide, X)}
    watch = Watch(C.Gauge(wide, cloning, reference=copy.deepcopy(wide)), wide, cloning, X, y)
    points = grid(steps)
    decades = set(marks(steps))
    loss = {"clone": [], "shadow": [], "plain": []} if plain else {"clone": [], "shadow": []}

    def read(t: int) -> None:
        if t in points:
            watch.r2 = r2 and t in decades
            watch.read()
            if not watch.r2:
                watch.r2_mean.append(float("nan"))
            loss["clone"].append(watch.loss[-1])
            loss["shadow"].append(probe_loss(base, X, y))
            if plain:
                loss["plain"].append(probe_loss(plain_base, X, y))

    read(0)
    sides = [Side("clone", wide, hp={"lr": sizes.lr}),
             Side("shadow", base, hp={"lr": sizes.lr}, scale=C.quotient_steps(base, cloning))]
    if plain:
        sides.append(Side("plain", plain_base, hp={"lr": sizes.lr}))
    side_by_side(sides, task, steps, sizes.batch, seed, read, progress,
                 f"clone vs base sgd {str(dtype)[6:]}")
    rank = rank0 | {"base_end": _effective_ranks(base, X), "clone_end": _effective_ranks(wide, X)}
    tol = [tol1 * math.sqrt(max(t, 1)) for t in points]
    return Trajectory(points, watch, tol, loss, gap, rank)


@functools.lru_cache(maxsize=8)
def main_runs(sizes: Recipe, seed: int, device: str = "cpu", progress: bool = False) -> dict[str, Trajectory]:
    """The ×factor clone of the trained base under plain SGD beside its shadow, in float64 (with the
    plain base too) and float32; computed once per (recipe, seed, device)."""
    base32, task = _pretrained(tuple(sizes.widths), None, sizes, sizes.pretrain_steps, sizes.pretrain_lr,
                               seed, device, progress)
    cloning = C.expand(sizes.widths, sizes.factor)
    return {name: trajectory(base32, task, cloning, dtype, sizes, seed, progress, plain=name == "float64")
            for name, dtype in DTYPES.items()}


@dataclass
class OptimizerRun:
    """Clone vs shadow under one registry optimizer; every curve is indexed like ``steps``."""

    optimizer: str
    hp: dict[str, float]
    steps: list[int]
    leaf: dict[str, list[float]]  # dtype → distance to the leaf M_D(θ₀)
    family: dict[str, list[float]]  # dtype → distance to the equitable networks (clones stay clones)
    tolerance: dict[str, list[float]]  # dtype → tol(t)
    loss_clone: dict[str, list[float]]  # dtype → probe loss
    loss_shadow: dict[str, list[float]]
    where: dict[str, dict]  # "leaf_float64", …: the largest entry at the end
    start: dict[str, float]  # family and block-constant distances of θ₀, forward gap
    setting: dict


def optimizer_trajectory(sizes: Recipe, seed: int, optimizer: str, hp: dict[str, float] | None = None,
                         steps: int | None = None, perturb: float | None = None, device: str = "cpu",
                         progress: bool = False) -> OptimizerRun:
    """Train the clone and its shadow side by side under a ``theory.updates`` optimizer, in float64
    and in float32, and read the distances to the leaf M_D(θ₀) and to the family of equitable
    networks at log-spaced steps.

    θ₀ is the ×factor clone of the trained base plus an equitable perturbation
    (``clone.equitable_perturbation``, entries ~ ``perturb`` × the rms of the hidden weights): the
    same function, equitable, but not block-constant, so the leaf θ₀ + {block-constant} and the
    family differ — weight decay, for instance, shrinks the perturbation (leaves the leaf) while
    keeping it doubly centred (stays in the family). The optimizer's state starts at zero.
    ``dropout`` puts dropout p on the clone's hidden units. The shadow is the base under the same
    optimizer (plain SGD for ``noisy_sgd`` and ``dropout``: the noise-free trajectory) with the
    quotient step factors applied to its gradient — exactly the clone's quotient for sgd, momentum,
    nesterov and weight_decay; for the others the loss gap measures how far it is.

    Tolerance: ``tolerance`` for optimizers linear in the gradient. Adaptive ones (Adam, AdamW,
    RMSprop: θ − η m̂/(√v̂ + ε)) have slope up to η/ε in g at g = 0, so a rounding difference between
    the clones' gradients (which θ₀'s unequal entries produce) becomes a step difference up to η/ε
    times larger: their tolerance adds (η/ε) · TOL_ULPS · ε_mach · (depth + 1) · max|g₁|, g₁ the
    clone's first gradient.
    """
    spec = updates.get(optimizer)
    hp = {**spec.defaults, **(hp or {})}
    steps = sizes.opt_steps if steps is None else steps
    perturb = sizes.perturb if perturb is None else perturb
    base32, task = base_network(sizes, seed, device, progress)
    cloning = C.expand(sizes.widths, sizes.factor)
    shadow_name = "sgd" if optimizer in ("noisy_sgd", "dropout") else optimizer
    shadow_hp = {"lr": hp["lr"]} if shadow_name != optimizer else hp
    points = grid(steps)
    out = {k: {} for k in ("leaf", "family", "tolerance", "loss_clone", "loss_shadow", "where")}
    start = {}
    for name, dtype in DTYPES.items():
        base = copy.deepcopy(base32).to(dtype)
        wide = C.clone(base, cloning, dropout=hp["p"] if spec.gradient == "dropout" else 0.0)
        rms = float(torch.cat([lin.weight.detach().flatten() for lin in wide.hidden[1:]]).double().pow(2)
                    .mean().sqrt()) if len(wide.hidden) > 1 else 0.0
        C.equitable_perturbation(wide, cloning, perturb * rms, torch.Generator().manual_seed(seed))
        X, y = task.X[: sizes.probe].to(dtype), task.y[: sizes.probe]
        start |= {f"forward_gap_{name}": C.forward_gap(base, wide, X),
                  f"family_{name}": C.family_distance(wide, cloning).value,
                  f"block_constant_{name}": C.distance(wide, cloning).value}
        watch = Watch(C.Gauge(wide, cloning, reference=copy.deepcopy(wide)), wide, cloning, X, y)
        tol1 = tolerance(wide, dtype, 1)
        shadow_loss, g1 = [], []

        def read(t: int, watch=watch, base=base, wide=wide, X=X, y=y, shadow_loss=shadow_loss, g1=g1) -> None:
            if t == 1:
                g1.append(max(float(p.grad.abs().max()) for p in wide.parameters() if p.grad is not None))
            if t in points:
                watch.read(family=True)
                shadow_loss.append(probe_loss(base, X, y))

        read(0)
        sides = [Side("clone", wide, optimizer, hp),
                 Side("shadow", base, shadow_name, shadow_hp, scale=C.quotient_steps(base, cloning))]
        side_by_side(sides, task, steps, sizes.batch, seed, read, progress,
                     f"{optimizer} {name}")
        out["leaf"][name], out["family"][name] = watch.leaf, watch.family
        if "eps" in hp and g1:  # adaptive: rounding in g amplified up to η/ε
            depth = len(wide.hidden) + 1
            tol1 += (hp["lr"] / hp["eps"]) * TOL_ULPS * torch.finfo(dtype).eps * depth * g1[0]
        out["tolerance"][name] = [tol1 * math.sqrt(max(t, 1)) for t in points]
        out["loss_clone"][name], out["loss_shadow"][name] = watch.loss, shadow_loss
        out["where"][f"leaf_{name}"] = watch.where[-1]
        out["where"][f"family_{name}"] = watch.gauge.family().where
    setting = dict(architecture=base32.describe(), activation=base32.activation, task=TASK, samples=sizes.n,
                   seed=seed, device=device, optimizer=optimizer, hp=hp, steps=steps, batch=sizes.batch,
                   clone=f"×{sizes.factor} equal split + equitable perturbation {perturb} × rms",
                       shadow=f"{shadow_name} with quotient step factors")
    return OptimizerRun(optimizer, hp, points, **out, start=start, setting=setting)


@dataclass
class Escape:
    """Side-by-side runs on the narrow base: the shadow, a fresh wide network (capacity reference)
    and clones under several symmetry breakers; full-data losses and leaf distances on a grid."""

    steps: list[int]
    distance: dict[str, list[float]]
    loss: dict[str, list[float]]  # every side, eval mode, all samples
    r2: dict[str, list[float]]
    tol: list[float]
    wide_widths: list[int]
    norm: dict[str, list[float]] = field(default_factory=dict)  # Euclidean norm of the off-leaf component

    def growth(self, name: str) -> float:
        d1, dT = self.distance[name][1], self.distance[name][-1]
        return dT / d1 if d1 > 0 else (math.inf if dT > 0 else 1.0)

    def rate(self, name: str) -> float:
        """Exponential rate per step over the second half: log(d(T)/d(T/2)) / (T/2)."""
        d, s = self.distance[name], self.steps
        half = min(range(len(s)), key=lambda i: abs(s[i] - s[-1] / 2))
        if d[half] <= 0 or d[-1] <= 0 or s[-1] == s[half]:
            return float("nan")
        return math.log(d[-1] / d[half]) / (s[-1] - s[half])

    def gain(self, name: str) -> float:
        """(L_shadow − L_clone) / (L_shadow − L_fresh wide) at the end: the share of the capacity gap
        the clone has closed (nan without a gap)."""
        gap = self.loss["shadow"][-1] - self.loss["fresh wide"][-1]
        return (self.loss["shadow"][-1] - self.loss[name][-1]) / gap if gap > 0 else float("nan")

    def wobble(self, name: str) -> float:
        """Largest relative |L_clone − L_shadow| over the grid."""
        return max(abs(a - b) / b for a, b in zip(self.loss[name], self.loss["shadow"]))

    def summary(self, name: str) -> dict:
        marked = marks(self.steps[-1])
        return {"distance": at(self.steps, self.distance[name], marked), "growth_T_over_1": self.growth(name),
                "rate_per_step_second_half": self.rate(name), "loss": at(self.steps, self.loss[name], marked),
                "gain": self.gain(name), "wobble": self.wobble(name), "r2_end": self.r2[name][-1]}


def escape(sizes: Recipe, seed: int, clones: dict[str, dict], dtype: torch.dtype = torch.float64,
           steps: int | None = None, fresh: bool = True, desc: str = "escape", device: str = "cpu",
           progress: bool = False, observe: Callable[[int, dict[str, MLP]], None] | None = None) -> Escape:
    """``clones``: name → {"optimizer", "hp", "kick", "dropout", "cloning", "seed_ulp"} overrides of a
    plain-SGD equal-split ×factor clone of the narrow base. ``observe(t, {name: clone})`` runs at every
    step of the grid, after the readings (e.g. to keep the clones' parameters for a curvature)."""
    steps = sizes.escape_steps if steps is None else steps
    base32, task = base_network(sizes, seed, device, progress, narrow=True)
    base = copy.deepcopy(base32).to(dtype)
    lr = {"lr": sizes.lr}
    default = C.expand(sizes.narrow_widths, sizes.factor)
    sides = [Side("shadow", base, hp=lr, scale=C.quotient_steps(base, default))]
    watches: dict[str, Watch] = {}
    X, y = task.X.to(dtype), task.y
    probe = slice(0, sizes.probe)
    for name, o in clones.items():
        cloning = o.get("cloning", default)
        wide = C.clone(base, cloning, dropout=o.get("dropout", 0.0))
        if o.get("seed_ulp"):  # every entry moved by ± seed_ulp · max|θ|
            with torch.no_grad():
                gen = torch.Generator().manual_seed(seed)
                top = max(float(p.abs().max()) for p in wide.parameters())
                for p in wide.parameters():
                    sign = torch.randint(0, 2, p.shape, generator=gen).to(p) * 2 - 1
                    p.add_(o["seed_ulp"] * top * sign)
        watches[name] = Watch(C.Gauge(wide, cloning), wide, cloning, X[probe], y[probe], r2=True)
        hp = {**lr, **o.get("hp", {})}
        sides.append(Side(name, wide, o.get("optimizer", "sgd"), hp, kick=o.get("kick")))
    wide_widths = list(default.widths)
    if fresh:
        wide32, _ = _pretrained(tuple(wide_widths), None, sizes, sizes.narrow_pretrain, sizes.narrow_lr,
                                seed, device, progress, init=1)
        sides.append(Side("fresh wide", copy.deepcopy(wide32).to(dtype), hp=lr))
    points = grid(steps)
    loss: dict[str, list[float]] = {s.name: [] for s in sides}
    tol1 = tolerance(base, dtype, 1)  # the clone's entries are the base's or fractions of them

    def read(t: int) -> None:
        if t in points:
            for w in watches.values():
                w.read()
            for s in sides:
                loss[s.name].append(probe_loss(s.model, X, y))
            if observe is not None:
                observe(t, {k: w.model for k, w in watches.items()})

    read(0)
    side_by_side(sides, task, steps, sizes.escape_batch, seed, read, progress, desc)
    return Escape(points, {k: w.leaf for k, w in watches.items()}, loss,
                   {k: w.r2_mean for k, w in watches.items()}, [tol1 * math.sqrt(max(t, 1)) for t in points],
                   wide_widths, {k: w.leaf_norm for k, w in watches.items()})


# ---- carried optimizer state --------------------------------------------------------------------

def clone_tensor(x: torch.Tensor, layer: int, cloning: Partition, degree: int = 0,
                 fresh_copies: bool = False) -> torch.Tensor:
    """A per-parameter tensor of the base's weight layer ``layer`` (weight: rows = receivers,
    columns = senders; bias: rows) cloned to the wide network: x'[a, b] = x[s(a), s(b)] / |S_{s(a)}|^k,
    k = ``degree`` (0 copies; 1 is the gradient, ``gradient_rule``). ``fresh_copies`` zeroes the
    rows and columns of every clone but the first of its block."""
    assign = C.assignments(cloning)
    rows = assign[layer] if layer < len(assign) else None
    cols = assign[layer - 1] if layer > 0 else None
    if rows is not None:
        shape = (-1, *[1] * (x.dim() - 1))
        x = x[rows] / C.block_sizes(cloning, layer).to(x.dtype)[rows].view(shape) ** degree
        if fresh_copies:
            x = x * _firsts(rows).view(shape)
    if cols is not None and x.dim() == 2:
        x = x[:, cols] * (_firsts(cols)[None, :] if fresh_copies else 1)
    return x


def _firsts(assign: torch.Tensor) -> torch.Tensor:
    """1.0 for the first wide unit of every block, 0.0 for the other clones."""
    pos = torch.arange(len(assign))
    first = torch.full((int(assign.max()) + 1,), len(assign)).scatter_reduce(0, assign, pos, "amin")
    return (pos == first[assign]).double()


def clone_state(base_opt: TorchUpdate, wide_opt: TorchUpdate, base: torch.nn.Module,
                wide: torch.nn.Module, cloning: Partition, fresh_copies: bool = False) -> None:
    """Give ``wide_opt`` the state of ``base_opt`` cloned like the gradient history: every state tensor
    by ``clone_tensor`` with its gradient degree k (``state_degrees``), step counters copied;
    ``fresh_copies`` for the negative control (the original keeps its moments, copies start at 0)."""
    degree = {name: k for key, k in state_degrees(base_opt.spec.name).items() for name in TORCH_STATE[key]}
    for layer, (lb, lw) in enumerate(zip(base.linears, wide.linears)):
        for pb, pw in ((lb.weight, lw.weight), (lb.bias, lw.bias)):
            entry = base_opt.opt.state.get(pb) if pb is not None else None
            if entry:
                wide_opt.opt.state[pw] = {
                    name: clone_tensor(value.detach(), layer, cloning, degree[name], fresh_copies).clone()
                    if torch.is_tensor(value) and value.shape == pb.shape else copy.deepcopy(value)
                    for name, value in entry.items()}
    wide_opt.t = base_opt.t


def gradient_rule_error(base: torch.nn.Module, wide: torch.nn.Module, cloning: Partition, x: torch.Tensor,
                        y: torch.Tensor) -> float:
    """max |∇_wide L − clone_tensor(∇_base L, k = 1)| for the full-batch MSE, both in eval mode (no
    dropout): the numeric side of ``gradient_rule``, at the exact clone."""
    grads = []
    for model in (base, wide):
        mode = model.training
        model.eval()
        loss = ((model(x) - y) ** 2).mean()
        grads.append(torch.autograd.grad(loss, [p for lin in model.linears for p in (lin.weight, lin.bias)]))
        model.train(mode)
    pairs = zip(grads[0], grads[1], [k for k in range(len(base.linears)) for _ in range(2)])
    return max(float((gw - clone_tensor(gb, layer, cloning, 1)).abs().max()) for gb, gw, layer in pairs)


@dataclass
class Curves:
    """Leaf and family distances (float64) of one continuation, at ``steps``."""

    label: str
    steps: list[int]
    leaf: list[float]
    family: list[float]
    tolerance: list[float]
    state_spread: float  # distance of the cloned state to the block-constant tensors at the start
    gradient_rule_error: float = math.nan  # ``gradient_rule_error`` at the exact clone

    def stays(self, which: str) -> bool:
        return all(d <= tol for d, tol in zip(getattr(self, which), self.tolerance))

    def leaves(self, which: str) -> bool:
        return getattr(self, which)[-1] > self.tolerance[-1]


def _state_spread(opt: TorchUpdate, wide: torch.nn.Module, cloning: Partition) -> float:
    """max over state tensors of the distance to the block-constant tensors (0: block-constant)."""
    spread = 0.0
    names = [n for k in opt.spec.state_keys for n in TORCH_STATE[k]]
    for name in names:
        probe = copy.deepcopy(wide)
        with torch.no_grad():
            for p, q in zip(wide.parameters(), probe.parameters()):
                value = opt.opt.state.get(p, {}).get(name)
                q.copy_(torch.zeros_like(p) if value is None else value)
        spread = max(spread, C.distance(probe, cloning).value)
    return spread


def carried_run(optimizer: str, seed: int, steps: int, warm: int, perturb: float = 0.1,
                fresh_copies: bool = False) -> Curves:
    """The base (``numerics.train.warm_up``) trained ``warm`` steps with ``optimizer`` (state non-zero),
    cloned ×2 with its state (``clone_state``), optionally perturbed equitably (``perturb`` × rms of the
    hidden-to-hidden weights; 0: the exact clone), then ``steps`` full-batch MSE steps; distances read
    on ``grid(steps)``."""
    spec = updates.get(optimizer)
    setup = Setup(optimizer, warm=warm, seed=seed,
                  dropout=spec.defaults["p"] if spec.gradient == "dropout" else 0.0)
    base = warm_up(setup)
    cloning = C.expand(setup.widths, 2)
    wide = C.clone(base.model, cloning)
    opt = TorchUpdate(optimizer, wide.parameters(), setup.hp,
                      generator=torch.Generator().manual_seed(seed + 1))
    clone_state(base.opt, opt, base.model, wide, cloning, fresh_copies)
    rule_error = gradient_rule_error(base.model, wide, cloning, base.x, base.y)
    if perturb:
        hidden = torch.cat([lin.weight.detach().flatten() for lin in wide.hidden[1:]])
        rms = float(hidden.pow(2).mean().sqrt())
        C.equitable_perturbation(wide, cloning, perturb * rms, torch.Generator().manual_seed(seed))
    spread = _state_spread(opt, wide, cloning)
    gauge = C.Gauge(wide, cloning, reference=copy.deepcopy(wide))
    points = grid(steps)
    tol1 = tolerance(wide, torch.float64, 1)
    leaf, family = [], []
    with one_thread(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed + 2)  # the dropout masks
        for k in range(steps + 1):
            if k:
                opt.zero_grad()
                ((wide(base.x) - base.y) ** 2).mean().backward()
                opt.step()
            if k in points:
                leaf.append(gauge.leaf().value)
                family.append(gauge.family().value)
    label = ("copies fresh (control)" if fresh_copies else "carried state") + \
        (", perturbed" if perturb else ", exact clone")
    return Curves(label, points, leaf, family, [tol1 * math.sqrt(max(k, 1)) for k in points], spread,
                  rule_error)


# ---- cloning beyond MLPs: CNN, ResNet, ViT on digits ---------------------------------------------

ARCHITECTURES = ("cnn", "resnet", "vit")
IMAGE = (1, 8, 8)


@dataclass(frozen=True)
class ArchRecipe:
    """Sizes of the architecture experiments (paper App. B: expansion ×2; noisy SGD σ₀ = 0.01, λ = 0.999;
    dropout 0.1; BatchNorm for the CNN and ResNet, LayerNorm for the ViT), on scikit-learn's digits."""

    n: int = 1797
    pretrain_steps: int = 300  # Adam, float32
    pretrain_lr: float = 1e-3
    batch: int = 64
    steps: int = 300  # side by side, float64
    lr: float = 0.05  # SGD
    adam_lr: float = 1e-3
    sigma: float = 0.01  # noisy SGD σ₀ and the single kick
    decay: float = 0.999  # noisy SGD λ
    dropout: float = 0.1
    probe: int = 256
    factor: int = 2


def architecture(name: str, seed: int) -> torch.nn.Module:
    """The base network ``name`` (one of ARCHITECTURES) in float32, initialised from ``seed`` without
    touching the global random stream."""
    if name not in ARCHITECTURES:
        raise ValueError(f"unknown architecture {name!r} (accepted: {', '.join(ARCHITECTURES)})")
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        if name == "cnn":
            return CNN(IMAGE, [8, 16], [32], 10, norm="batch")
        if name == "resnet":
            return ResNet(IMAGE, (8, 16), 10, norm="batch")
        return ViT(IMAGE, patch=2, dim=16, heads=2, head_dim=8, depth=2, mlp=32)


#: The clones trained beside their bases: (optimizer, hyperparameters, single first-step kick, dropout).
def _variants(r: ArchRecipe) -> dict[str, tuple[str, dict, tuple | None, float]]:
    kick = ("noisy_sgd", {"lr": r.lr, "sigma0": r.sigma, "decay": 1.0})
    return {"sgd": ("sgd", {"lr": r.lr}, None, 0.0),
            "adam": ("adam", {"lr": r.adam_lr}, None, 0.0),
            "noisy sgd": ("noisy_sgd", {"lr": r.lr, "sigma0": r.sigma, "decay": r.decay}, None, 0.0),
            "dropout": ("sgd", {"lr": r.lr}, None, r.dropout),
            "one kick, then sgd": ("sgd", {"lr": r.lr}, kick, 0.0),
            "one kick, then adam": ("adam", {"lr": r.adam_lr}, kick, 0.0)}


@dataclass
class ArchRun:
    """One architecture: its clones under every variant beside the base under SGD and Adam."""

    name: str
    describe: str
    steps: list[int]
    distance: dict[str, list[float]]  # variant → distance to the block-constant parameters (float64)
    loss: dict[str, list[float]]  # variant or "base sgd"/"base adam" → probe loss
    tol: dict[str, list[float]]  # variant → tol(t) (Adam: with its η/ε amplification)
    scale: float  # max|θ| of the clone at the start
    start: dict[str, float]  # forward gap, distance, R² of the fresh clone
    r2_end: dict[str, float]
    symmetry: dict[str, float] = field(default_factory=dict)  # attention only

    def growth(self, variant: str) -> float:
        d1, dT = self.distance[variant][1], self.distance[variant][-1]
        return dT / d1 if d1 > 0 else (math.inf if dT > 0 else 1.0)


def _attention_symmetries(model: torch.nn.Module, X: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    """What attention adds, measured on ``model`` (float64): the gradient of the key bias, which softmax's
    shift invariance makes exactly 0 (q·b_K is the same for every key), against the query bias's; and how
    far the authors' way of widening a head (head_dim doubled, q and k coordinates duplicated, the logit
    scale recomputed from the new head_dim) moves the attention: its logits are √2 times the base's."""
    model.zero_grad()
    F.cross_entropy(model(X), y).backward()
    qkv = model.blocks[0]["qkv"].bias.grad.view(3, -1)
    with torch.no_grad():
        s = model.attention_logits(X)
        moved = (torch.softmax(math.sqrt(2) * s, -1) - torch.softmax(s, -1)).abs().max()
    model.zero_grad()
    return {"max|dL/d key bias|": float(qkv[1].abs().max()),
            "max|dL/d query bias|": float(qkv[0].abs().max()),
            "authors_widened_head_attention_change": float(moved)}


@functools.lru_cache(maxsize=4)
def architecture_runs(recipe: ArchRecipe, seed: int, device: str = "cpu", progress: bool = False
                      ) -> dict[str, ArchRun]:
    """Per architecture: the float32 base pretrained by Adam on digits, cast to float64 and cloned ×factor
    (equal split: exactly on M_D); every variant's clone and the base (SGD and Adam) then train side by side
    on the same batches; distances to the block-constant parameters and probe losses on a log grid."""
    with one_thread():  # small models: threads only spin (theory.threads)
        return {name: _architecture_run(name, recipe, seed, device, progress) for name in ARCHITECTURES}


def _architecture_run(name: str, recipe: ArchRecipe, seed: int, device: str, progress: bool) -> ArchRun:
    task = make_task("digits", recipe.n, 64, 10, seed, torch.float64, device)
    if True:
        base32 = architecture(name, seed).to(device)
        train(base32, task.X.float(), task.y, recipe.pretrain_steps, "adam", {"lr": recipe.pretrain_lr},
              recipe.batch, seed, progress=progress, desc=f"pretrain {name}")
        base = copy.deepcopy(base32).double().eval()
        cloning = C.expand(C.widths(base), recipe.factor)
        X, y = task.X[: recipe.probe], task.y[: recipe.probe]
        variants = _variants(recipe)
        wides = {v: C.clone(base, cloning, dropout=p) for v, (_, _, _, p) in variants.items()}
        fresh = wides["sgd"]
        start = {"forward_gap": C.forward_gap(base, fresh, X), "distance": C.Gauge(fresh,
                                                                                   cloning).leaf().value,
                 "r2": C.cloning_r2(fresh, cloning, X, y).mean}
        symmetry = _attention_symmetries(copy.deepcopy(base), X, y) if name == "vit" else {}
        gauges = {v: C.Gauge(w, cloning) for v, w in wides.items()}
        bases = {"base sgd": copy.deepcopy(base), "base adam": copy.deepcopy(base)}
        sides = [Side(v, w, o, hp, kick=k) for (v, w), (o, hp, k, _) in zip(wides.items(), variants.values())]
        sides += [Side("base sgd", bases["base sgd"], "sgd", {"lr": recipe.lr}),
                  Side("base adam", bases["base adam"], "adam", {"lr": recipe.adam_lr})]
        points = grid(recipe.steps)
        dist = {v: [] for v in wides}
        loss = {s.name: [] for s in sides}
        g1 = {}

        def read(t: int, gauges=gauges, wides=wides, dist=dist, loss=loss, g1=g1, sides=sides, X=X, y=y,
                 points=points) -> None:
            if t == 1:
                g1.update({v: max(float(p.grad.abs().max()) for p in w.parameters() if p.grad is not None)
                           for v, w in wides.items()})
            if t in points:
                for v, g in gauges.items():
                    dist[v].append(g.leaf().value)
                for s in sides:
                    loss[s.name].append(probe_loss(s.model, X, y))

        read(0)
        side_by_side(sides, task, recipe.steps, recipe.batch, seed, read, progress, f"{name} clones")
        tol = {}
        for v, (o, hp, _, _) in variants.items():
            tol1 = tolerance(fresh, torch.float64, 1)
            # rounding in g is amplified up to η/ε by Adam's normalisation (optimizer_trajectory)
            if o == "adam":
                ulp = torch.finfo(torch.float64).eps
                tol1 += (hp["lr"] / 1e-8) * TOL_ULPS * ulp * (depth(fresh) + 1) * g1[v]
            tol[v] = [tol1 * math.sqrt(max(t, 1)) for t in points]
        scale = max(float(p.detach().abs().max()) for p in fresh.parameters())
        r2_end = {v: C.cloning_r2(w, cloning, X, y).mean for v, w in wides.items()}
        return ArchRun(name, base.describe(), points, dist, loss, tol, scale, start, r2_end, symmetry)
