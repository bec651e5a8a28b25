"""Continual-learning runs, measured as they happen: one ``Job`` (a task stream, a learner, an
intervention, the seeds) in, plain arrays out.

``run(job)`` trains the seed-batched learner (``numerics.batched``) on ``job.tasks`` tasks of the
stream and probes it before the first task and after every ``probe_every``-th one, on the inputs of
the task just trained (at most ``probe_samples`` of them). A probe measures, per run, with the one
definition of each measure in ``numerics.metrics`` (applied to all runs at once: the metrics take a
leading batch axis) and the unit graph of ``numerics.unitgraph``:

- ``exact_dead``, ``paper_dead``, ``dormant_0.025``, ``dormant_0.1``: fractions of the hidden units
  (exactly flat on every probe input; |h| < 1e-7 on > 95%; ReDo's score ≤ τ);
- ``duplicates``: the fraction of hidden units the paper counts as duplicates (cosine > 0.95);
- ``clone_redundancy``: hidden units minus exact clone blocks (coarsest equitable partition of the
  weights), as a fraction of the hidden units;
- ``effective_rank``: per hidden layer, the paper's effective rank of the activation matrix;
- ``trapped``, ``trapped_frozen``, ``trapped_cloned``: the parameters pinned by the frozen and
  cloned structure (``metrics.manifold_dimension`` via ``unitgraph.manifold``: frozen units' incoming
  parameters, the outgoing weights of frozen units whose output is exactly 0 (a dead ReLU), and all
  but one value per block pair of clone blocks), as fractions of all parameters;
- ``clone_distance`` (only for a job started from an exact clone, ``clone=n``): the largest entry of
  the off-equitable component of the weights (``numerics.clone.family_distance``): 0 on the clone
  manifold.

Everything returned is numpy, so results cross process and machine boundaries (``cases.executor``).
Each job runs on one thread: the same job gives the same numbers in any process.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import torch

from numerics import interventions as ivs
from numerics import metrics, probes, unitgraph
from numerics.batched import Batched, History, Net, train
from numerics.clone import clone, expand, family_distance
from numerics.models import to_layered
from numerics.streams import BitFlip, TaskData, TaskSequence
from theory import activations
from theory.net import Layered
from theory.threads import one_thread

DTYPES = {"float64": torch.float64, "float32": torch.float32}


@dataclass(frozen=True)
class Job:
    """One configuration of a sweep: ``net`` trained under ``intervention`` on the first ``tasks``
    tasks of ``stream`` for every seed of ``seeds``. ``clone``: start every run from an exact
    ``clone``-fold copy of its initial network (the wide network is then ``clone`` times wider).
    ``key``: a label the sweep uses to find the result. ``snapshots``: keep the first run's network,
    activations and dead units at every probe (an MLP's unit-equivalence graph at task boundaries).
    ``intervention``: a registry name or an ``Intervention`` (e.g. continual backprop at another rate).
    ``collapse``: after the probe of task ``collapse`` (0-based), plant every hidden unit of every run
    dead (``collapse``): a planted loss of rank for negative controls."""

    stream: BitFlip | TaskSequence
    net: Net
    intervention: str | ivs.Intervention
    seeds: tuple[int, ...]
    tasks: int
    probe_every: int = 1
    probe_samples: int = 1000
    clones: bool = True
    clone: int | None = None
    snapshots: bool = False
    dtype: str = "float64"
    device: str = "cpu"
    key: str = ""
    collapse: int | None = None

    def __post_init__(self) -> None:
        iv = ivs.get(self.intervention) if isinstance(self.intervention, str) else self.intervention
        if self.collapse is not None:
            if iv != ivs.get("bp") or self.net.norm is not None or self.net.convolutional:
                raise ValueError(f"collapse plants a fixed point of plain SGD on an MLP without "
                                 f"normalization (got {iv.name} on {self.net.describe()})")
            if not 0 <= self.collapse < self.tasks - 1:
                raise ValueError(f"collapse must name a task before the last (0 … {self.tasks - 2}), "
                                 f"got {self.collapse}")
            collapse_point(self.net.activation)
        if self.tasks < 1 or self.probe_every < 1 or self.probe_samples < 2:
            raise ValueError(f"a job needs tasks ≥ 1, probe_every ≥ 1, probe_samples ≥ 2 (got {self.tasks}, "
                             f"{self.probe_every}, {self.probe_samples})")
        if self.dtype not in DTYPES:
            raise ValueError(f"unknown dtype {self.dtype!r} (accepted: {', '.join(DTYPES)})")

    @property
    def name(self) -> str:
        """The intervention's name."""
        return self.intervention if isinstance(self.intervention, str) else self.intervention.name

    def describe(self) -> str:
        cl = f", from a ×{self.clone} clone" if self.clone else ""
        cl += f", collapsed after task {self.collapse + 1}" if self.collapse is not None else ""
        return (f"{self.stream.describe()}; {self.net.describe()}; {self.name}; "
                f"{len(self.seeds)} seeds × {self.tasks} tasks{cl}")


@dataclass(frozen=True)
class Snapshot:
    """The first run at one probe: its weights, its activations on (at most 256 of) the probe inputs
    per hidden layer, and its exact-dead units."""

    task: int
    network: Layered
    activations: list[np.ndarray]
    dead: list[np.ndarray]


@dataclass
class Result:
    """A job's ``history`` (``numerics.batched.History``: per-task losses and accuracies, probes as
    (S, probes) arrays, the probe's task index in ``probes['task']`` (−1: before training)) and the
    first run's ``snapshots`` when asked."""

    job: Job
    history: History
    snapshots: list[Snapshot] = field(default_factory=list)

    @property
    def probes(self) -> dict[str, np.ndarray]:
        return self.history.probes


class _Prober:
    """The probe of one learner: a template model whose parameters take each run's in turn, its unit
    graph built once (the graph reads the weights when asked)."""

    def __init__(self, learner: Batched, job: Job):
        self.learner, self.job = learner, job
        self.template = learner.model(0).eval()
        self.graph = self.sites = None
        self.partition = expand(_layer_widths(job.net), job.clone) if job.clone else None
        self.calls = 0
        self.snapshots: list[Snapshot] = []

    def _graph(self, X: torch.Tensor) -> None:
        net = self.learner.net
        tapped = probes.taps(self.template, X.reshape(-1, *net.image) if net.convolutional else X)
        self.sites, self.graph = tapped.sites, tapped.unit_graph()
        if len(self.sites) != self.learner.hidden or [s.units for s in self.sites] != self.learner.units:
            raise ValueError(f"the probe found sites {[s.units for s in self.sites]}, the learner has hidden "
                             f"layers {self.learner.units}")

    @torch.no_grad()
    def __call__(self, learner: Batched, task: TaskData) -> dict[str, np.ndarray]:
        k = self.calls - 1  # the task just trained (−1: before the first)
        self.calls += 1
        if k >= 0 and (k + 1) % self.job.probe_every and k + 1 != self.job.tasks:
            return {}
        X = task.X[:, : self.job.probe_samples]
        trace = learner.forward(X, train=False)
        S, units = learner.S, sum(learner.units)
        dead = [metrics.exact_dead(z, learner.net.activation) for z in trace.z]  # (S, U) each
        frac = lambda masks: (sum(m.sum(-1) for m in masks).double() / units).numpy()  # noqa: E731
        out: dict[str, Any] = {
            "task": np.full(S, k),
            "exact_dead": frac(dead),
            "paper_dead": frac([metrics.paper_dead(h) for h in trace.h]),
            "duplicates": frac([metrics.duplicates(h) for h in trace.h]),
            "effective_rank": np.stack([metrics.effective_rank(h).numpy() for h in trace.h], 1),
        }
        for tau in metrics.REDO_TAUS:
            out[f"dormant_{tau}"] = frac([metrics.dormant(h, tau) for h in trace.h])
        if self.job.clones:
            if self.graph is None:
                self._graph(X[0])
            quiet = [metrics.silent(h) for h in trace.h]
            redundancy, trapped, frozen, cloned, distance = [], [], [], [], []
            for s in range(S):
                self._load(s)
                labels = unitgraph.clone_partition(self.graph)
                sites = [labels[self.graph.site_group(i)] for i in range(len(self.sites))]
                redundancy.append(sum(metrics.clone_redundancy(lab) for lab in sites) / units)
                t = unitgraph.manifold(self.template, self.graph, labels, [d[s] for d in dead],
                                       [q[s] for q in quiet])
                trapped.append(t.trapped / t.parameters)
                frozen.append(t.frozen / t.parameters)
                cloned.append(t.cloned / t.parameters)
                if self.partition is not None:
                    distance.append(family_distance(self.template, self.partition).value)
            out.update(clone_redundancy=np.array(redundancy), trapped=np.array(trapped),
                       trapped_frozen=np.array(frozen), trapped_cloned=np.array(cloned))
            if distance:
                out["clone_distance"] = np.array(distance)
        if self.job.snapshots and not learner.net.convolutional:
            self.snapshots.append(Snapshot(k, to_layered(learner.model(0)),
                                           [h[0, :256].double().cpu().numpy() for h in trace.h],
                                           [d[0].cpu().numpy() for d in dead]))
        return out

    def _load(self, s: int) -> None:
        self.learner.model(s, into=self.template)


def _layer_widths(net: Net) -> list[int]:
    """Units per layer of ``net``: inputs (a conv net's image channels), hidden layers, outputs."""
    return [net.image[0] if net.convolutional else net.widths[0], *net.units, net.widths[-1]]


def learner(job: Job) -> Batched:
    """The job's learner, started from an exact ×``clone`` copy of its initial networks when asked."""
    dtype = DTYPES[job.dtype]
    if not job.clone:
        return Batched(job.net, job.seeds, job.intervention, dtype=dtype, device=job.device)
    base = Batched(job.net, job.seeds, "bp", dtype=dtype, device=job.device)
    wide_net = _wider(job.net, job.clone)
    wide = Batched(wide_net, job.seeds, job.intervention, dtype=dtype, device=job.device)
    wide.load([clone(base.model(s), job.clone, dropout=0.0) for s in range(base.S)])
    return wide


def _wider(net: Net, factor: int) -> Net:
    if net.convolutional:
        return replace(net, channels=tuple(c * factor for c in net.channels),
                       widths=(*[w * factor for w in net.widths[:-1]], net.widths[-1]))
    return replace(net, widths=(net.widths[0], *[w * factor for w in net.widths[1:-1]], net.widths[-1]))


COLLAPSE_Z = -1.0


def collapse_point(activation: str) -> None:
    """Refuse an activation for which z = ``COLLAPSE_Z`` is not an exactly flat point with value 0."""
    z = torch.tensor([COLLAPSE_Z], dtype=torch.float64)
    f = activations.get(activation).torch_fn
    if not (bool(metrics.flat_mask(z, activation).all()) and float(f(z)) == 0.0):
        raise ValueError(f"collapse needs an activation flat at 0 on z = {COLLAPSE_Z} (relu); "
                         f"got {activation!r}")


@torch.no_grad()
def collapse(learner: Batched) -> None:
    """Plant every hidden unit of every run dead: incoming weights 0, bias ``COLLAPSE_Z``, so z =
    COLLAPSE_Z on every input, in the flat set where f = 0 (``collapse_point``). Under plain SGD without
    normalization this is a fixed point: δ = f'(z) · (…) = 0 gives the incoming weights and biases zero
    gradient, and h = 0 gives the next layer's weights reading them zero gradient (the outgoing half of
    ``metrics.manifold_dimension``), so every hidden activation stays 0: effective rank 0 from then on."""
    for l in range(learner.hidden):
        learner.W[l].zero_()
        learner.b[l].fill_(COLLAPSE_Z)


def _collapsing(tasks: Iterable[TaskData], learner: Batched, after: int) -> Iterator[TaskData]:
    """The tasks, collapsing the learner once task ``after`` is trained and probed (``train`` asks for the
    next task only after the probe)."""
    for i, task in enumerate(tasks):
        if i == after + 1:
            collapse(learner)
        yield task


def run(job: Job, progress: bool = False) -> Result:
    """Train and probe ``job`` (module docstring), on one thread."""
    with one_thread():
        L = learner(job)
        prober = _Prober(L, job)
        tasks = job.stream.tasks(job.seeds, job.tasks, dtype=DTYPES[job.dtype], device=job.device)
        if job.collapse is not None:
            tasks = _collapsing(tasks, L, job.collapse)
        history = train(L, tasks, prober, progress=progress, desc=job.key or "tasks")
    return Result(job, history, prober.snapshots)
