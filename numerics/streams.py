"""Task streams for continual learning: a sequence of tasks, one stream of random numbers per seed.

A stream serves the tasks of S independent runs at once (one per seed). Task k of every seed is a
``TaskData``: inputs X ∈ R^{S×n×d}, targets Y (regression values ∈ R^{S×n} or class labels), and
the order in which a learner visits them — ``order`` ∈ {0..n−1}^{S×steps×B} (minibatches of B
samples), or None for an online stream that visits X[:, t] at step t, one sample a step. Every
random draw of seed s comes from that seed's own ``torch.Generator`` (``seed_generator``), drawn in
blocks of one task, so seed s gets the same tasks whatever other seeds share the batch and however a
consumer cuts the steps.

**Bit-flipping** (Dohare et al., Nature 2024, "slowly changing regression"; ``BitFlip``). Inputs are
m bits; the first f are *flipping bits*, held fixed for T steps, the other m − f are redrawn every
step. The target is a fixed network of K linear threshold units (LTUs) on the m bits and a bias bit:

    z_i(x) = Σ_j V_ij x_j + V_i,m+1 · 1,       V ∈ {−1, +1}^{K×(m+1)},
    φ_i(x) = 1 if z_i(x) > θ_i else 0,        θ_i = (m + 1) β − S_i,
    y(x)   = Σ_i v_i φ_i(x),                  v ∈ {−1, +1}^K,

S_i the number of negative weights among the m + 1 input weights of unit i. Every T steps one
flipping bit, chosen uniformly, is inverted: task k is the slowly changing regression problem of the
k-th period. Defaults m = 20, f = 15, T = 10,000, K = 100, β = 0.7 (CLAIMS.md, "Bit-flipping").

``variant="code"`` follows the published reference code (shibhansh/loss-of-plasticity,
``slowly_changing_regression.py`` and ``fix_ltu_net.py``) where it differs from the text: every T
steps *all* f flipping bits are redrawn (the text flips one); S_i is computed as
(m − Σ_{j≤m} V_ij + V_i,m+1)/2 (the count of negative input weights plus half the bias weight, not
the count over all m + 1 weights); the output has a ±1 bias. (Its runs also use CBP maturity 10 and
seed nothing; those are learner settings: ``numerics.interventions``.)

**Real data shipped by a package** (``DATASETS``): scikit-learn's 8 × 8 digits (1,797 images, 10
classes, pixels scaled to [0, 1]) and, when the ``mnist1d`` package is installed, MNIST-1D generated
offline from its templates (4,000 sequences of length 40). Three task sequences (``TaskSequence``):

- ``permuted``: task k permutes the input features by a random permutation π_k (the labels stay);
- ``shuffled``: task k gives the samples a random permutation of the labels (memorisation: the
  label histogram stays, the input-label relation is new each task);
- ``incremental``: class-incremental: task k trains on the first c₀ + k·Δ classes of a per-seed
  random class order, each class subsampled to the same count so every seed has the same n.

Nothing is downloaded: the digits ship with scikit-learn, MNIST-1D's templates with its package.
"""

from __future__ import annotations

import functools
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from numerics import validate

VARIANTS = ("paper", "code")
SEQUENCES = ("permuted", "shuffled", "incremental")


def seed_generator(seed: int, purpose: str) -> torch.Generator:
    """The generator of ``seed`` for one purpose (inputs, targets, minibatch order, dropout, ...):
    independent streams per (seed, purpose), the same in every process."""
    return torch.Generator().manual_seed((1_000_003 * int(seed) + zlib.crc32(purpose.encode())) % 2**62)


def check_seeds(seeds: Sequence[int]) -> list[int]:
    """Distinct integer seeds, at least one (a float or a string is refused, not truncated)."""
    if isinstance(seeds, (str, bytes)) or not isinstance(seeds, Sequence | range):
        raise TypeError(f"seeds must be a sequence of integers, not {type(seeds).__name__}")
    seeds = [validate.count(s, "each seed", -(2**62), 2**62) for s in seeds]
    if not seeds:
        raise ValueError("seeds must name at least one seed")
    if len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct (got {seeds})")
    return seeds


@dataclass(frozen=True)
class TaskData:
    """One task of every seed: X (S, n, d) inputs; Y (S, n) regression targets or class labels;
    ``order`` (S, steps, B) the samples each step visits, or None (online: step t visits X[:, t]);
    ``classes`` (S, C) bool: the classes this task trains on (None: all)."""

    index: int
    X: torch.Tensor
    Y: torch.Tensor
    order: torch.Tensor | None = None
    classes: torch.Tensor | None = None

    @property
    def steps(self) -> int:
        return self.X.shape[1] if self.order is None else self.order.shape[1]

    def batches(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """(x (S, B, d), y (S, B)) of every step in order."""
        if self.order is None:  # online: a time-major copy makes every step's slice contiguous
            X, Y = self.X.transpose(0, 1).contiguous(), self.Y.transpose(0, 1).contiguous()
            for t in range(self.steps):
                yield X[t].unsqueeze(1), Y[t].unsqueeze(1)
            return
        rows = torch.arange(self.X.shape[0], device=self.X.device)[:, None]
        for t in range(self.steps):
            idx = self.order[:, t]
            yield self.X[rows, idx], self.Y[rows, idx]

    def seen(self, steps: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """(inputs (S, R, d), targets (S, R)) of the first ``steps`` steps, in the order visited."""
        steps = self.steps if steps is None else steps
        if self.order is None:
            return self.X[:, :steps], self.Y[:, :steps]
        rows = torch.arange(self.X.shape[0], device=self.X.device)[:, None]
        idx = self.order[:, :steps].reshape(self.X.shape[0], -1)
        return self.X[rows, idx], self.Y[rows, idx]


# ---- bit-flipping ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class LTUTarget:
    """The target network of one seed: z = V [x, 1], φ = [z > θ], y = v·φ + v0."""

    V: torch.Tensor  # (K, m + 1), ±1; last column: the bias bit's weights
    theta: torch.Tensor  # (K,)
    v: torch.Tensor  # (K,), ±1
    v0: float

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """y for inputs x (..., m) of 0/1 bits, in float64."""
        x = x.to(torch.float64)
        z = x @ self.V[:, :-1].T + self.V[:, -1]
        return (z > self.theta).to(torch.float64) @ self.v + self.v0


@dataclass(frozen=True)
class BitFlip:
    """The slowly changing regression problem (module docstring); ``variant`` "paper" or "code"."""

    m: int = 20
    f: int = 15
    period: int = 10_000
    features: int = 100
    beta: float = 0.7
    variant: str = "paper"

    def __post_init__(self) -> None:
        if self.variant not in VARIANTS:
            raise ValueError(f"unknown bit-flipping variant {self.variant!r} "
                             f"(accepted: {', '.join(VARIANTS)})")
        for name in ("m", "f", "period", "features"):
            validate.count(getattr(self, name), name, 1)
        validate.number(self.beta, "beta")
        if not (1 <= self.f <= self.m) or self.period < 1 or self.features < 1:
            raise ValueError(f"bit-flipping needs 1 ≤ f ≤ m, period ≥ 1, features ≥ 1 "
                             f"(got m={self.m}, f={self.f}, period={self.period}, features={self.features})")

    def describe(self) -> str:
        return (f"bit-flipping m={self.m} f={self.f} T={self.period} K={self.features} β={self.beta} "
                f"({self.variant} variant)")

    def target(self, seed: int) -> LTUTarget:
        g = seed_generator(seed, "bitflip/target")
        V = (torch.randint(0, 2, (self.features, self.m + 1), generator=g) * 2 - 1).to(torch.float64)
        v = (torch.randint(0, 2, (self.features,), generator=g) * 2 - 1).to(torch.float64)
        v0 = float(torch.randint(0, 2, (), generator=g) * 2 - 1)
        if self.variant == "paper":
            S = (V < 0).sum(1).to(torch.float64)
            v0 = 0.0
        else:  # the reference code's count: negative input weights, plus half the bias weight
            S = (self.m - V[:, :-1].sum(1) + V[:, -1]) / 2
        return LTUTarget(V, (self.m + 1) * self.beta - S, v, v0)

    def _targets(self, target: LTUTarget, flipping: torch.Tensor, rand: torch.Tensor) -> torch.Tensor:
        """y of the inputs [flipping, rand_t] of one period: with few random bits, from a table over
        their 2^(m−f) patterns (the flipping bits are fixed in the period), else directly."""
        r = self.m - self.f
        if r > 12:
            return target(torch.cat([flipping.expand(len(rand), self.f), rand], 1))
        codes = torch.arange(2**r)
        patterns = (codes[:, None] >> torch.arange(r)) & 1
        table = target(torch.cat([flipping.expand(2**r, self.f), patterns], 1))
        return table[rand @ (1 << torch.arange(r))]

    def tasks(self, seeds: Sequence[int], count: int, dtype: torch.dtype = torch.float64,
              device: str | torch.device = "cpu") -> Iterator[TaskData]:
        """The first ``count`` periods of every seed, one ``TaskData`` (online, n = T) each."""
        seeds = check_seeds(seeds)
        validate.count(count, "count", 0)
        targets = [self.target(s) for s in seeds]
        flips = [seed_generator(s, "bitflip/flips") for s in seeds]
        bits = [seed_generator(s, "bitflip/bits") for s in seeds]
        current = [torch.randint(0, 2, (self.f,), generator=g) for g in flips]
        for k in range(count):
            xs, ys = [], []
            for i in range(len(seeds)):
                if k > 0:
                    if self.variant == "paper":
                        j = int(torch.randint(0, self.f, (), generator=flips[i]))
                        current[i] = current[i].clone()
                        current[i][j] = 1 - current[i][j]
                    else:
                        current[i] = torch.randint(0, 2, (self.f,), generator=flips[i])
                rand = torch.randint(0, 2, (self.period, self.m - self.f), generator=bits[i])
                x = torch.cat([current[i].expand(self.period, self.f), rand], 1)
                xs.append(x)
                ys.append(self._targets(targets[i], current[i], rand))
            yield TaskData(k, torch.stack(xs).to(dtype=dtype, device=device),
                           torch.stack(ys).to(dtype=dtype, device=device))


# ---- real data shipped by a package ----------------------------------------------------------------

@dataclass(frozen=True)
class Dataset:
    name: str
    X: np.ndarray  # (n, d) float64 in [0, 1] or standardised
    y: np.ndarray  # (n,) int64
    image: tuple[int, int, int]  # (channels, rows, columns) of one input, for convolutional learners
    classes: int


def _digits() -> Dataset:
    from sklearn.datasets import load_digits

    d = load_digits()
    return Dataset("digits", d.data.astype(np.float64) / 16.0, d.target.astype(np.int64), (1, 8, 8), 10)


def _mnist1d() -> Dataset:
    try:
        from mnist1d.data import get_dataset_args, make_dataset
    except ImportError:
        raise ValueError("data set 'mnist1d' needs the mnist1d package (pip install mnist1d); "
                         "accepted without it: digits") from None
    state = np.random.get_state()  # mnist1d seeds numpy's global stream: leave it as it was
    try:
        data = make_dataset(get_dataset_args())  # generated from the package's templates, offline
    finally:
        np.random.set_state(state)
    X = np.concatenate([data["x"], data["x_test"]]).astype(np.float64)
    X = (X - X.mean()) / X.std()
    y = np.concatenate([data["y"], data["y_test"]]).astype(np.int64)
    return Dataset("mnist1d", X, y, (1, 1, X.shape[1]), 10)


DATASETS = {"digits": _digits, "mnist1d": _mnist1d}


@functools.cache
def dataset(name: str) -> Dataset:
    if name not in DATASETS:
        raise ValueError(f"unknown data set {name!r} (accepted: {', '.join(DATASETS)})")
    return DATASETS[name]()


@dataclass(frozen=True)
class TaskSequence:
    """Tasks on a shipped data set (module docstring): ``kind`` permuted, shuffled or incremental;
    each task is visited for ``epochs`` passes of minibatches of ``batch`` samples in a fresh per-seed
    order. ``samples`` keeps that many samples per seed (a per-seed random subset; None: all) —
    for ``incremental`` it is the count kept per class. ``first`` and ``step``: the classes of the
    first task and the classes each later task adds (incremental only)."""

    kind: str = "permuted"
    data: str = "digits"
    epochs: int = 5
    batch: int = 32
    samples: int | None = None
    first: int = 2
    step: int = 2

    def __post_init__(self) -> None:
        if self.kind not in SEQUENCES:
            raise ValueError(f"unknown task sequence {self.kind!r} (accepted: {', '.join(SEQUENCES)})")
        if self.data not in DATASETS:
            raise ValueError(f"unknown data set {self.data!r} (accepted: {', '.join(DATASETS)})")
        for name in ("epochs", "batch", "first", "step") + (("samples",) if self.samples is not None else ()):
            validate.count(getattr(self, name), name, 1)
        if self.epochs < 1 or self.batch < 1 or (self.samples is not None and self.samples < 1):
            raise ValueError(f"epochs, batch and samples must be positive (got {self.epochs}, {self.batch}, "
                             f"{self.samples})")

    def describe(self) -> str:
        extra = f", classes {self.first}+{self.step}k" if self.kind == "incremental" else ""
        return (f"{self.kind} {self.data}, {self.epochs} epochs of batch {self.batch}"
                f"{'' if self.samples is None else f', {self.samples} samples'}{extra}")

    @property
    def image(self) -> tuple[int, int, int]:
        return dataset(self.data).image

    @property
    def classes(self) -> int:
        return dataset(self.data).classes

    @property
    def inputs(self) -> int:
        return dataset(self.data).X.shape[1]

    def max_tasks(self) -> int:
        if self.kind != "incremental":
            return 10**9
        return 1 + (self.classes - self.first) // self.step

    def _subset(self, ds: Dataset, g: torch.Generator) -> torch.Tensor:
        """The per-seed sample indices this sequence keeps (incremental: per class, in class order)."""
        n = len(ds.y)
        if self.kind != "incremental":
            keep = n if self.samples is None else min(self.samples, n)
            return torch.randperm(n, generator=g)[:keep]
        y = torch.from_numpy(ds.y)
        per = min(int((y == c).sum()) for c in range(ds.classes))
        per = per if self.samples is None else min(per, self.samples)
        members = [torch.nonzero(y == c).squeeze(1) for c in range(ds.classes)]
        return torch.stack([m[torch.randperm(len(m), generator=g)[:per]] for m in members])  # (classes, per)

    def tasks(self, seeds: Sequence[int], count: int, dtype: torch.dtype = torch.float32,
              device: str | torch.device = "cpu") -> Iterator[TaskData]:
        seeds = check_seeds(seeds)
        validate.count(count, "count", 0)
        if count > self.max_tasks():
            raise ValueError(f"{self.describe()}: at most {self.max_tasks()} tasks (asked for {count})")
        ds = dataset(self.data)
        X0, y0 = torch.from_numpy(ds.X), torch.from_numpy(ds.y)
        gens = {s: seed_generator(s, f"{self.kind}/{self.data}/tasks") for s in seeds}
        orders = {s: seed_generator(s, f"{self.kind}/{self.data}/order") for s in seeds}
        subsets = {s: self._subset(ds, gens[s]) for s in seeds}
        class_order = {s: torch.randperm(ds.classes, generator=gens[s]) for s in seeds}
        for k in range(count):
            xs, ys, masks = [], [], []
            for s in seeds:
                g = gens[s]
                if self.kind == "incremental":
                    active = class_order[s][: self.first + k * self.step]
                    idx = subsets[s][active].reshape(-1)
                    xs.append(X0[idx])
                    ys.append(y0[idx])
                    mask = torch.zeros(ds.classes, dtype=torch.bool)
                    mask[active] = True
                    masks.append(mask)
                    continue
                idx = subsets[s]
                x, y = X0[idx], y0[idx]
                if self.kind == "permuted":
                    x = x[:, torch.randperm(x.shape[1], generator=g)]
                else:
                    y = y[torch.randperm(len(y), generator=g)]
                xs.append(x)
                ys.append(y)
            n = xs[0].shape[0]
            per_epoch = n // self.batch
            if per_epoch < 1:
                raise ValueError(f"{self.describe()}: batch {self.batch} exceeds the task's {n} samples")
            order = torch.stack([torch.cat([torch.randperm(n, generator=orders[s])[: per_epoch * self.batch]
                                            for _ in range(self.epochs)]).reshape(-1, self.batch)
                                 for s in seeds])
            yield TaskData(k, torch.stack(xs).to(dtype=dtype, device=device), torch.stack(ys).to(device),
                           order.to(device), torch.stack(masks).to(device) if masks else None)
