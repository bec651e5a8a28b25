"""A training loop for a fixed data set: minibatch gradient steps with a registry optimizer.

    θ_{t+1} = U(θ_t, ∇_θ L_{B_t}(θ_t)),   L_B(θ) = loss(model_θ(X_B), y_B),

with U the update map of a ``theory.updates`` optimizer run by ``TorchUpdate`` (the real torch
optimizer) and B_t the t-th batch: a fresh random permutation of the data each epoch, cut into
batches of ``batch_size`` (the last incomplete batch is dropped, so every batch has the same size —
BatchNorm's statistics depend on it); the whole data set every step when ``batch_size`` is None.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from tqdm import tqdm

from numerics.models import MLP, Trace
from theory.updates import TorchUpdate

# on_step(t, trace, batch): after update t (1-based); ``trace`` is the forward of that step (the
# parameters before the update), ``batch`` the sample indices; ``.grad`` still holds the gradient.
StepHook = Callable[[int, Trace, torch.Tensor], None]


@dataclass
class History:
    loss: list[float] = field(default_factory=list)  # batch loss of every step
    seconds: float = 0.0


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
    """
    if X.shape[0] == 0:
        raise ValueError("train needs a non-empty data set")
    if not torch.isfinite(X).all():
        raise ValueError("train: the inputs contain NaN or inf")
    generator = torch.Generator().manual_seed(seed)
    update = TorchUpdate(optimizer, model.parameters(), hp, generator=generator)
    history, was_training, start = History(), model.training, time.perf_counter()
    model.train()
    stream = batches(X.shape[0], batch_size, generator)
    bar = tqdm(range(1, steps + 1), desc=desc, leave=False, disable=not progress or None)
    for t in bar:
        idx = next(stream).to(X.device)
        update.zero_grad()
        trace = model.trace(X[idx])
        loss = loss_fn(trace.out, y[idx])
        loss.backward()
        update.step()
        history.loss.append(float(loss.detach()))
        if on_step is not None:
            on_step(t, trace, idx)
        if t % 50 == 0:
            bar.set_postfix_str(f"loss {history.loss[-1]:.3g}")
    model.train(was_training)
    history.seconds = time.perf_counter() - start
    return history


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run torch on one thread, restored afterwards. Small models and small dense linear algebra
    gain nothing from more, and on a shared 2-core machine intra-op threads spinning against other
    work made a ~400-parameter backward pass ~90× slower (63 ms vs 0.7 ms)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)
