"""Embedded synthetic classification tasks: fixed inputs, seeded labels, nothing downloaded.

A task is a fixed input matrix X ∈ R^{n×d} and labels y ∈ {0..C−1}^n given by a seeded labelling
rule. ``Task.changed(seed)`` keeps X and draws a new rule, so "the task changed, the data set did
not" — the setting in which frozen units of the first hidden layer stay frozen (CLAIMS.md,
frozen.manifold).

The registry ``TASKS`` (one entry per kind of task):

- ``teacher`` — x ~ N(0, I_d); y = argmax_c s_c(x), where s = standardize(relu(x A) B) is a random
  one-hidden-layer ReLU teacher, A ∈ R^{d×64}, B ∈ R^{64×C} Gaussian; standardizing each score
  column over the data keeps the classes roughly balanced. A changed task is a new teacher.
- ``digits`` — scikit-learn's 8×8 handwritten digits (1,797 images shipped with the package, nothing
  downloaded), X of shape (n, 1, 8, 8) with pixels / 16;
  y = π(digit) mod C, π a seeded permutation of the digits.
- ``mixture`` — K = 4C Gaussian clusters: x = μ_k + ξ/2, k uniform, μ_k ~ N(0, I_d), ξ ~ N(0, I_d);
  y = π(k) for a random balanced map π from clusters to classes. A changed task is a new map π.

Inputs and labels are computed in float64 on the CPU from ``torch.Generator`` streams derived from
the seed, so the same seed gives the same task in every dtype and on every device (float32 inputs
are the float64 ones rounded).

    >>> task = make_task("teacher", n=256, d=8, classes=3, seed=0)
    >>> new = task.changed()
    >>> bool((new.X == task.X).all()), bool((new.y != task.y).any())
    (True, True)
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import torch

TEACHER_WIDTH = 64


def _generator(seed: int, stream: int) -> torch.Generator:
    """An independent stream per (seed, purpose): inputs and each labelling never share draws."""
    return torch.Generator().manual_seed(1_000_003 * seed + stream)


@dataclass(frozen=True)
class TaskKind:
    name: str
    description: str
    # (n, d, classes, generator) -> (X, aux): aux is what the labelling rule reads
    inputs: Callable[[int, int, int, torch.Generator], tuple[torch.Tensor, torch.Tensor]]
    # (aux, classes, generator) -> y
    labels: Callable[[torch.Tensor, int, torch.Generator], torch.Tensor]


def _teacher_inputs(n, d, classes, gen):
    x = torch.randn(n, d, generator=gen, dtype=torch.float64)
    return x, x


def _teacher_labels(x, classes, gen):
    d = x.shape[1]
    a = torch.randn(d, TEACHER_WIDTH, generator=gen, dtype=torch.float64) / d**0.5
    b = torch.randn(TEACHER_WIDTH, classes, generator=gen, dtype=torch.float64)
    s = torch.relu(x @ a) @ b
    return ((s - s.mean(0)) / s.std(0)).argmax(1)


def _mixture_inputs(n, d, classes, gen):
    k = 4 * classes
    centres = torch.randn(k, d, generator=gen, dtype=torch.float64)
    cluster = torch.randint(0, k, (n,), generator=gen)
    return centres[cluster] + 0.5 * torch.randn(n, d, generator=gen, dtype=torch.float64), cluster


def _mixture_labels(cluster, classes, gen):
    k = 4 * classes
    balanced_map = torch.arange(k) % classes
    return balanced_map[torch.randperm(k, generator=gen)][cluster]


def _digits_inputs(n, d, classes, gen):
    """scikit-learn's 8×8 digits (1,797 images shipped with the package), pixel values / 16, as (n, 1, 8, 8):
    the first n of a seeded permutation. ``d`` is ignored (64 pixels)."""
    from sklearn.datasets import load_digits  # imported here: only this task needs scikit-learn

    digits = load_digits()
    if n > len(digits.target) or not 2 <= classes <= 10:
        raise ValueError(f"digits has {len(digits.target)} images of 10 digits (got n={n}, "
                         f"classes={classes}; accepted: n ≤ 1797, 2 ≤ classes ≤ 10)")
    idx = torch.randperm(len(digits.target), generator=gen)[:n]
    X = torch.as_tensor(digits.images, dtype=torch.float64)[idx, None] / 16
    return X, torch.as_tensor(digits.target)[idx]


def _digits_labels(target, classes, gen):
    """y = π(digit) mod classes for a seeded permutation π of the 10 digits (a changed task is a new π)."""
    return torch.randperm(10, generator=gen)[target] % classes


TASKS: dict[str, TaskKind] = {t.name: t for t in [
    TaskKind("teacher", "Gaussian inputs labelled by a random one-hidden-layer ReLU teacher",
             _teacher_inputs, _teacher_labels),
    TaskKind("mixture", "Gaussian mixture, 4 clusters per class, random balanced cluster→class map",
             _mixture_inputs, _mixture_labels),
    TaskKind("digits", "scikit-learn's 8×8 handwritten digits (shipped with the package), classes permuted "
                       "by "
             "the label seed", _digits_inputs, _digits_labels),
]}


@dataclass(frozen=True)
class Task:
    kind: str
    X: torch.Tensor  # (n, d), in the requested dtype and device
    y: torch.Tensor  # (n,), int64, on the same device
    classes: int
    seed: int  # the seed of the inputs
    label_seed: int  # the seed of the labelling rule
    aux: torch.Tensor  # float64/int64 on the CPU: what the labelling rule reads

    def changed(self, label_seed: int | None = None) -> Task:
        """The same inputs X with labels from a different rule (default: the next label seed)."""
        label_seed = self.label_seed + 1 if label_seed is None else label_seed
        y = TASKS[self.kind].labels(self.aux, self.classes, _generator(label_seed, 1))
        return replace(self, y=y.to(self.y.device), label_seed=label_seed)

    def to(self, dtype: torch.dtype | None = None, device: str | torch.device | None = None) -> Task:
        """The same task with inputs in another dtype/device (float64 → float32 rounds once)."""
        return replace(self, X=self.X.to(dtype=dtype, device=device), y=self.y.to(device=device))

    def describe(self) -> str:
        n, d = self.X.shape[0], self.X[0].numel()
        return f"{self.kind} n={n} d={d} C={self.classes} seed={self.seed} labels={self.label_seed}"


def make_task(kind: str = "teacher", n: int = 4096, d: int = 32, classes: int = 10, seed: int = 0,
              dtype: torch.dtype = torch.float64, device: str | torch.device = "cpu") -> Task:
    """The task ``kind`` with n samples of dimension d and ``classes`` classes, seeded by ``seed``."""
    if kind not in TASKS:
        raise ValueError(f"unknown task {kind!r} (accepted: {', '.join(TASKS)})")
    if n < 1 or d < 1 or classes < 2:
        raise ValueError(f"task needs n ≥ 1, d ≥ 1, classes ≥ 2 (got n={n}, d={d}, classes={classes})")
    spec = TASKS[kind]
    x, aux = spec.inputs(n, d, classes, _generator(seed, 0))
    y = spec.labels(aux, classes, _generator(seed, 1))
    return Task(kind, x.to(dtype=dtype, device=device), y.to(device), classes, seed, seed, aux)
