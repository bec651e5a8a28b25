"""Training: the registry's optimizers run in torch, and a loop for a fixed data set.

    θ_{t+1} = U(θ_t, ∇_θ L_{B_t}(θ_t)),   L_B(θ) = loss(model_θ(X_B), y_B),

with U the update map of a ``theory.updates`` optimizer run by ``TorchUpdate`` (the real torch
optimizer, plus clipping and gradient noise on ``.grad``) and B_t the t-th batch: a fresh random
permutation of the data each epoch, cut into batches of ``batch_size`` (the last incomplete batch is
dropped, so every batch has the same size — BatchNorm's statistics depend on it); the whole data set
every step when ``batch_size`` is None.

``warm_up`` trains the small float64 regression MLP of the optimizer checks with every unit alive,
so an optimizer's state is non-zero where the gradient was (``TORCH_STATE`` names where torch keeps
each registry state entry).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F
from tqdm import tqdm

from numerics import validate
from numerics.models import MLP, Trace
from theory import updates
from theory.threads import one_thread

# on_step(t, trace, batch): after update t (1-based); ``trace`` is the forward of that step (the
# parameters before the update), ``batch`` the sample indices; ``.grad`` still holds the gradient.
StepHook = Callable[[int, Trace, torch.Tensor], None]


class TorchUpdate:
    """The registry optimizer as a torch training loop runs it: ``zero_grad()``, backward, ``step()``.

    Clipping and gradient noise are applied to ``.grad`` before the torch step; dropout lives in the
    model (this class only runs SGD for it).
    """

    def __init__(self, name: str, params, hp: dict[str, float] | None = None, generator=None):
        self.spec = updates.get(name)
        self.hp = self.spec.hyperparameters(hp)
        for k, v in self.hp.items():
            validate.number(v, f"hyper-parameter {k!r} of {name!r}")
        self.params = [p for p in params if p.requires_grad]
        self.generator = generator
        self.t = 0
        self.opt = getattr(torch.optim, self.spec.torch_name)(self.params, **self.spec.torch_kwargs(self.hp))

    def zero_grad(self) -> None:
        self.opt.zero_grad(set_to_none=False)

    def step(self) -> None:
        self.t += 1
        grads = [p.grad for p in self.params]
        if self.spec.name == "clip":
            torch.nn.utils.clip_grad_norm_(self.params, self.hp["max_norm"])
        elif self.spec.name == "noisy_sgd":
            norm = torch.sqrt(sum((g * g).sum() for g in grads))
            sigma = self.hp["sigma0"] * self.hp["decay"] ** self.t
            for g in grads:
                g.add_(torch.randn(g.shape, generator=self.generator, dtype=g.dtype, device=g.device)
                       * (sigma * norm))
        self.opt.step()


def _check_data(model: object, X: object, y: object, steps: object) -> None:
    """What ``train`` needs, each failure a one-line TypeError/ValueError naming the argument."""
    if not (isinstance(model, torch.nn.Module) and callable(getattr(model, "trace", None))):
        raise TypeError(f"model must be a numerics.models MLP or CNN (a module with .trace), not "
                        f"{type(model).__name__}")
    validate.check_finite_parameters(model)
    if not isinstance(X, torch.Tensor):
        raise TypeError(f"X must be a torch tensor, not {type(X).__name__}")
    validate.check_data(X, "X")
    if not isinstance(y, torch.Tensor):
        raise TypeError(f"y must be a torch tensor, not {type(y).__name__}")
    if y.dim() == 0 or y.shape[0] != X.shape[0]:
        raise ValueError(f"y has shape {tuple(y.shape)}, X has {X.shape[0]} samples; give one target per "
                         "sample")
    if y.is_floating_point() and not torch.isfinite(y).all():
        raise ValueError("y contains NaN or inf")
    validate.count(steps, "steps", 0)


@dataclass
class History:
    loss: list[float] = field(default_factory=list)  # batch loss of every step


def batches(n: int, batch_size: int | None, generator: torch.Generator) -> Iterator[torch.Tensor]:
    """Endless stream of index batches: shuffled epochs, equal-size batches (CPU indices)."""
    if batch_size is None or batch_size >= n:
        while True:
            yield torch.arange(n)
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive (got {batch_size})")
    while True:
        perm = torch.randperm(n, generator=generator)
        yield from perm[: n - n % batch_size].split(batch_size)


def train(model: MLP, X: torch.Tensor, y: torch.Tensor, steps: int, optimizer: str = "adam",
          hp: dict[str, float] | None = None, batch_size: int | None = None, seed: int = 0,
          loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = F.cross_entropy,
          on_step: StepHook | None = None, progress: bool = False, desc: str = "train") -> History:
    """Train ``model`` in place for ``steps`` updates on (X, y); returns the loss history.

    The model runs in training mode (dropout, batch statistics) and is left in the mode it came in.
    A loss that is NaN or infinite stops training with a FloatingPointError naming the step (the
    update of that step is not taken): a diverged run is never reported as a trained one.
    """
    _check_data(model, X, y, steps)
    generator = torch.Generator().manual_seed(seed)
    update = TorchUpdate(optimizer, model.parameters(), hp, generator=generator)
    history, was_training = History(), model.training
    model.train()
    stream = batches(X.shape[0], batch_size, generator)
    bar = tqdm(range(1, steps + 1), desc=desc, leave=False, disable=not progress or None)
    for t in bar:
        idx = next(stream).to(X.device)
        update.zero_grad()
        trace = model.trace(X[idx])
        loss = loss_fn(trace.out, y[idx])
        value = float(loss.detach())
        if not math.isfinite(value):
            model.train(was_training)
            raise FloatingPointError(f"train: the loss is {value} at step {t} of {steps} ({optimizer}, "
                                     f"{update.hp}); lower the learning rate or check the data")
        loss.backward()
        update.step()
        history.loss.append(value)
        if on_step is not None:
            on_step(t, trace, idx)
        if t % 50 == 0:
            bar.set_postfix_str(f"loss {history.loss[-1]:.3g}")
    model.train(was_training)
    return history


# ---- the warmed-up model of the optimizer checks ------------------------------------------------

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
    opt: TorchUpdate
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


def regression_data(setup: Setup) -> tuple[torch.Tensor, torch.Tensor]:
    gen = torch.Generator().manual_seed(setup.seed)
    x = torch.randn(setup.samples, setup.widths[0], generator=gen, dtype=torch.float64)
    v = torch.randn(setup.widths[0], setup.widths[-1], generator=gen, dtype=torch.float64)
    return x, torch.sin(x @ v)


def train_step(model: MLP, opt: TorchUpdate, x: torch.Tensor, y: torch.Tensor,
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
    x, y = regression_data(setup)
    with one_thread(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(setup.seed)
        model = MLP(list(setup.widths), setup.activation, dropout=setup.dropout).double()
        opt = TorchUpdate(setup.optimizer, model.parameters(), setup.hp,
                                  generator=torch.Generator().manual_seed(setup.seed + 1))
        grad_norm = math.nan
        for _ in range(setup.warm):
            grad_norm = train_step(model, opt, x, y)[1]
    return Warm(setup, model, opt, x, y, grad_norm)
