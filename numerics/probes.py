"""Probes on any torch model: what its units do on data.

**Taps.** A unit lives where an elementwise activation f is applied: its input z is the unit's
pre-activation, its output h = f(z) (``numerics.unitgraph``: sites and the registry names of their
activations). ``Taps`` finds every site of an ``nn.Module`` by tracing its ``forward`` with
``torch.fx`` — so ``F.relu(x)`` inside a custom ``forward`` is found as well as ``nn.ReLU``/
``nn.GELU`` modules and ``numerics.models.Act`` — and puts a tap before and after each: a pass-through
that shows z (before an in-place activation overwrites it) and h to a callback. When tracing fails
(data-dependent control flow), forward hooks on the activation *modules* take over; functional
activations are then invisible, and ``Taps.notes`` says so. A site's units lie on one axis of its
tensors: the channels of a convolution (axis 1; every image and position is a sample of the channel,
so a channel is dead iff dead at every sample and position), the features of a Linear layer (the last
axis). ``stream`` runs the data through the model in chunks in eval mode (dropout off, BatchNorm
running statistics), and the callback reduces each chunk at once: peak memory is the model plus one
chunk's activations.

**What is measured.** ``dead_units`` (exact dead, stopping once every unit was seen alive),
``certified_dead`` (``numerics.unitgraph.certify``), and ``measure``: every measure of
``numerics.metrics`` on every site over a data set (one chunked pass; the clone partition, the
certificate and the manifold dimension from the weights; the saturated measures from the gradient
of the batch-mean loss on one batch, as the paper does). ``Probe`` records them during any training
loop: ``Probe(model, X).every(100)``, then ``probe.step()`` after each update.
"""

from __future__ import annotations

import contextlib
import math
import operator
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy as sp
import torch
import torch.fx as fx
import torch.nn.functional as F
from torch import nn
from torch.fx.passes.shape_prop import ShapeProp

from numerics import metrics
from numerics.models import Act
from numerics.unitgraph import (
    ACCEPTED,
    Certificate,
    ProbeError,
    Site,
    UnitGraph,
    certify,
    clone_partition,
    function_activation,
    manifold,
    module_activation,
    unit_graph,
)
from numerics.validate import check_data, check_finite_parameters, count
from theory import activations
from theory.threads import one_thread


def _flatten_units(t: torch.Tensor, axis: int) -> torch.Tensor:
    """(samples × positions, units): every position of every sample is a sample of the unit."""
    return t.movedim(axis, -1).reshape(-1, t.shape[axis])


class _Tap(nn.Module):
    """Passes its input through, showing it to ``taps.on`` (when set) as site ``index``'s z or h."""

    def __init__(self, taps: Taps, index: int, which: str):
        super().__init__()
        self.__dict__["taps"] = taps  # a plain reference, not a submodule
        self.index, self.which = index, which

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = None if self.taps.on is None else self.taps.on(self.index, self.which, x)
        return x if out is None else out


class _Stop(Exception):
    """Raised by a tap to end the current chunk's forward: nothing after it is needed."""


class _Rows(nn.Module):
    """Stands in for an ``nn.Linear`` whose output is site ``index``'s z: calls ``taps.rows(index, x,
    linear)`` first (when set), which may compute the z of some units itself and return True, ending
    the chunk (``_Stop``); otherwise, and whenever ``taps.rows`` is None, it is the Linear."""

    def __init__(self, taps: Taps, index: int, linear: nn.Linear):
        super().__init__()
        self.__dict__["taps"], self.__dict__["linear"] = taps, linear  # plain references, not submodules
        self.index = index

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rows = self.taps.rows
        if rows is not None and rows(self.index, x, self.linear):
            raise _Stop
        return self.linear(x)


class _Tracer(fx.Tracer):
    """torch.fx's tracer with the registry's ``Act`` kept as one call."""

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return isinstance(m, Act) or super().is_leaf_module(m, qualname)


def _example(X: torch.Tensor) -> torch.Tensor:
    return X[: min(2, len(X))]


class Taps:
    """The activation sites of ``model`` (read on ``example``, a few inputs) and a way to watch them.

    ``graph`` is the fx graph (None when tracing failed and hooks are used; ``notes`` then says why).
    ``on``: None, or a callable (site index, "z" or "h", tensor) called during every forward of
    ``forward`` — z before the activation runs (so in-place activations are read correctly), h after;
    a tensor it returns replaces the one passed on.
    The taps share the model's parameters: training the model changes what they see.
    """

    def __init__(self, model: nn.Module, example: torch.Tensor):
        if not isinstance(model, nn.Module):
            raise TypeError(f"model must be a torch nn.Module, not {type(model).__name__}")
        check_finite_parameters(model)
        self.model, self.on = model, None
        self.rows: Callable[[int, torch.Tensor, nn.Linear], bool] | None = None
        self.sliceable: set[int] = set()  # sites whose z a ``_Rows`` computes (fx mode)
        self.notes: list[str] = []
        self.sites: list[Site] = []
        self.graph: fx.GraphModule | None = None
        self._hooks: list[Any] = []
        try:
            graph = fx.GraphModule(model, _Tracer().trace(model))
        except Exception as exc:  # data-dependent control flow, untraceable calls, ...
            self.notes.append(f"torch.fx could not trace the model ({type(exc).__name__}: "
                              f"{str(exc).splitlines()[0][:160]}); reading activation modules with hooks, "
                              "functional activations are not seen")
            self._hook_sites(example)
        else:
            self.graph = graph
            self._fx_sites(example)
        if not self.sites:
            raise ProbeError(f"no activation found in {type(model).__name__} (accepted: {ACCEPTED})")

    # -- fx: insert taps around every activation node ------------------------------------------------
    def _fx_sites(self, example: torch.Tensor) -> None:
        gm = self.graph
        with _eval(self.model), torch.no_grad(), _fits(example):
            ShapeProp(gm).propagate(example)
        self.unit_graph_source = _copy_graph(gm)
        modules = dict(gm.named_modules())
        order = {n: k for k, n in enumerate(gm.graph.nodes)}
        site_nodes: list[fx.Node] = []
        wrapped: set[fx.Node] = set()
        for node in list(gm.graph.nodes):
            name = None
            if node.op == "call_module":
                name = module_activation(modules[node.target], f"module {node.target!r}")
            else:
                name = function_activation(node)
            if name is None:
                continue
            shape = node.meta["tensor_meta"].shape
            axis = _unit_axis(node, modules)
            index = len(self.sites)
            self.sites.append(Site(node.name, name, axis, int(shape[axis])))
            producer = node.args[0]
            # a plain Linear that makes z, with no other site between it and this one: ``_Rows`` may
            # compute only some of its rows when this is the last site a pass needs
            if (isinstance(producer, fx.Node) and producer.op == "call_module" and producer not in wrapped
                    and type(modules.get(producer.target)) is nn.Linear
                    and not any(order[s] > order[producer] for s in site_nodes)):
                rows = f"lop_rows_{index}"
                gm.add_submodule(rows, _Rows(self, index, modules[producer.target]))
                producer.target = rows
                wrapped.add(producer)
                self.sliceable.add(index)
            site_nodes.append(node)
            z_tap, h_tap = f"lop_tap_{index}_z", f"lop_tap_{index}_h"
            gm.add_submodule(z_tap, _Tap(self, index, "z"))
            gm.add_submodule(h_tap, _Tap(self, index, "h"))
            with gm.graph.inserting_before(node):
                z = gm.graph.call_module(z_tap, (node.args[0],))
            node.args = (z, *node.args[1:])
            with gm.graph.inserting_after(node):
                h = gm.graph.call_module(h_tap, (node,))
            node.replace_all_uses_with(h, delete_user_cb=lambda user, h=h: user is not h)
        gm.recompile()

    # -- hooks: activation modules only --------------------------------------------------------------
    def _hook_sites(self, example: torch.Tensor) -> None:
        last_kind: list[str] = ["input"]
        shapes: dict[str, tuple[tuple[int, ...], str]] = {}
        named = list(self.model.named_modules())
        found = [(path, module_activation(m, f"module {path!r}"), m) for path, m in named]
        found = [(p, a, m) for p, a, m in found if a is not None]
        temporary = []
        for _, m in named:
            if isinstance(m, (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)):
                kind = "linear" if isinstance(m, nn.Linear) else "conv"
                temporary.append(m.register_forward_hook(lambda *_, k=kind: last_kind.__setitem__(0, k)))
        def shape_of(path: str):  # a pre-hook that returns something would replace the inputs
            def hook(mod: nn.Module, args: tuple) -> None:
                shapes.setdefault(path, (tuple(args[0].shape), last_kind[0]))
            return hook

        for path, _, m in found:
            temporary.append(m.register_forward_pre_hook(shape_of(path)))
        try:
            with _eval(self.model), torch.no_grad(), _fits(example):
                self.model(example)
        finally:
            for t in temporary:
                t.remove()
        for path, name, m in found:
            if path not in shapes:
                continue  # not called on this input
            shape, kind = shapes[path]
            axis = 1 if (kind == "conv" or (kind == "input" and len(shape) >= 4)) and len(shape) > 2 \
                else len(shape) - 1
            index = len(self.sites)
            self.sites.append(Site(path, name, axis, int(shape[axis])))
            self._hooks.append(m.register_forward_pre_hook(
                lambda mod, args, i=index: self._see_z(i, args)))
            self._hooks.append(m.register_forward_hook(
                lambda mod, args, out, i=index: self._see(i, "h", out)))

    def _see(self, index: int, which: str, x: torch.Tensor) -> torch.Tensor | None:
        return None if self.on is None else self.on(index, which, x)

    def _see_z(self, index: int, args: tuple) -> tuple | None:
        out = self._see(index, "z", args[0])
        return None if out is None else (out, *args[1:])

    def forward(self, x: torch.Tensor) -> Any:
        return self.graph(x) if self.graph is not None else self.model(x)

    def unit_graph(self) -> UnitGraph:
        """The model's unit graph (``numerics.unitgraph``); its ``reason`` says why not when the model
        could not be traced."""
        if self.graph is None:
            why = "the model could not be traced by torch.fx: " + "; ".join(self.notes)
            return UnitGraph([], [], reason=why)
        return unit_graph(self.unit_graph_source, dict(self.graph.named_modules()), self.sites)

    def close(self) -> None:
        """Remove the hooks (hook mode); the fx taps live on a copy and need nothing."""
        for h in self._hooks:
            h.remove()
        self._hooks = []

    def stream(self, X: torch.Tensor, see: Callable[[int, str, torch.Tensor], None], chunk: int = 1024,
               stop: Callable[[], bool] | None = None, flat: bool = True) -> None:
        """For every chunk of X (eval mode, no gradient): ``see(site, "z", z)`` before the activation
        and ``see(site, "h", h)`` after it, z and h as (samples × positions, units) tensors — or, with
        ``flat=False``, as the model made them (units on ``sites[site].axis``, no copy) — to be reduced
        at once (an in-place activation overwrites z). ``stop()`` after a chunk ends the pass early.

        On a traced model the forward of a chunk ends after the last site's h (the read-out and
        whatever follows the last activation are never computed; nothing before it changes), or
        where ``see`` raises ``_Stop``: then nothing later in the graph is computed for that chunk."""
        count(chunk, "chunk", 1)
        last = len(self.sites) - 1 if self.graph is not None else -1

        def on(i: int, which: str, t: torch.Tensor) -> None:
            see(i, which, _flatten_units(t, self.sites[i].axis) if flat else t)
            if i == last and which == "h":
                raise _Stop

        self.on = on
        try:
            with _eval(self.model), torch.no_grad():
                for x in X.split(chunk):
                    with contextlib.suppress(_Stop):
                        self.forward(x)
                    if stop is not None and stop():
                        break
        finally:
            self.on = self.rows = None


@dataclass
class _Eval:
    model: nn.Module

    def __enter__(self) -> None:
        self.modes = [(m, m.training) for m in self.model.modules()]
        self.model.eval()

    def __exit__(self, *exc: Any) -> None:
        for m, mode in self.modes:
            m.training = mode


def _eval(model: nn.Module) -> _Eval:
    """Eval mode inside the block, every submodule's own mode restored after."""
    return _Eval(model)


def _copy_graph(gm: fx.GraphModule) -> fx.Graph:
    g = fx.Graph()
    env: dict[fx.Node, fx.Node] = {}
    out = g.graph_copy(gm.graph, env)
    g.output(out)
    for old, new in env.items():
        new.meta = dict(old.meta)
    return g


_PRODUCERS = (nn.Linear, nn.Conv1d, nn.Conv2d, nn.Conv3d)
_CHANNEL_WISE = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.GroupNorm, nn.LayerNorm, nn.Dropout,
                 nn.Dropout1d, nn.Dropout2d, nn.Identity, nn.MaxPool1d, nn.MaxPool2d, nn.AvgPool1d,
                 nn.AvgPool2d, nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d)


def _unit_axis(node: fx.Node, modules: dict[str, nn.Module]) -> int:
    """The unit axis of an activation's input: walk back through channel-wise operations to the
    Linear (last axis) or convolution (axis 1) that made it; by shape when neither is found."""
    ndim = len(node.meta["tensor_meta"].shape)
    seen, todo = set(), [node.args[0]]
    while todo:
        n = todo.pop()
        if not isinstance(n, fx.Node) or n in seen:
            continue
        seen.add(n)
        if n.op == "call_module":
            m = modules.get(n.target)
            if isinstance(m, nn.Linear):
                return ndim - 1
            if isinstance(m, _PRODUCERS):
                return 1
            if isinstance(m, _CHANNEL_WISE) or module_activation(m, n.name) is not None:
                todo.extend(a for a in n.args if isinstance(a, fx.Node))
        elif n.op in ("call_function", "call_method") and (
                n.target in (operator.add, operator.iadd, torch.add, operator.sub, operator.mul)
                or function_activation(n) is not None):
            todo.extend(a for a in n.args if isinstance(a, fx.Node))
    return 1 if ndim >= 4 else ndim - 1


@contextlib.contextmanager
def _fits(example: torch.Tensor):
    """A model that cannot run on the user's inputs (wrong width, channels, dtype) is a one-line
    ValueError naming X and its shape, not torch's traceback from inside the graph."""
    try:
        yield
    except (RuntimeError, TypeError, IndexError) as exc:
        cause = exc
        while cause.__cause__ is not None:  # ShapeProp wraps the module's own error
            cause = cause.__cause__
        first = (str(cause).strip().splitlines() or [type(cause).__name__])[0][:200]
        shape = ", ".join(map(str, example.shape[1:]))
        raise ProbeError(f"the model cannot run on X of shape (samples, {shape}): {first}") from None


def _inputs(model: nn.Module, X: torch.Tensor) -> torch.Tensor:
    """X in the dtype and on the device of the model's parameters."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch nn.Module, not {type(model).__name__}")
    X = check_data(X)
    p = next(iter(model.parameters()), None)
    return X.to(dtype=p.dtype if p is not None and X.is_floating_point() else X.dtype,
                device=p.device if p is not None else X.device)


def taps(model: nn.Module, X: torch.Tensor) -> Taps:
    """The taps of ``model`` read on the first inputs of X."""
    return Taps(model, _example(_inputs(model, X)))


# ---- dead units -------------------------------------------------------------------------------------

@torch.no_grad()
def dead_units(model: nn.Module, X: torch.Tensor, chunk: int = 2048, tapped: Taps | None = None
               ) -> list[torch.Tensor]:
    """Exact dead units of every activation site of ``model`` on X (``metrics.exact_dead``), from one
    chunked pass in eval mode that does only the work that can still change the answer: it stops once
    every unit has been seen alive; on a traced model a chunk's forward ends at the deepest site with
    undecided units (the read-out is never computed), and when that site's z comes straight from a
    Linear and at most a quarter of its units are undecided, only their rows of the product are
    computed (``_undecided_rows``: decided with the rounding bound, or the full product)."""
    X = _inputs(model, X)
    t = tapped or taps(model, X)
    stats = [metrics.LayerStats(s.activation, moments=False) for s in t.sites]
    traced = t.graph is not None
    undecided: list[torch.Tensor | None] = [None] * len(stats)  # None: no sample seen yet
    deepest = [len(stats) - 1]

    def see(i: int, which: str, v: torch.Tensor) -> None:
        if which == "z" and (undecided[i] is None or undecided[i].any()):
            stats[i].add_z(v, t.sites[i].axis)
        if traced and i == deepest[0]:
            raise _Stop

    def rows(i: int, x: torch.Tensor, linear: nn.Linear) -> bool:
        u = undecided[i]
        if i != deepest[0] or u is None:
            return False
        units = u.nonzero().squeeze(1)
        if 4 * len(units) > len(u):
            return False
        z = _undecided_rows(x, linear, units, t.sites[i].activation)
        if z is None:
            return False
        stats[i].add_z(z, z.dim() - 1, units=units)
        return True

    def settled() -> bool:
        for i, s in enumerate(stats):
            if s.n:
                undecided[i] = s.exact_dead()
        left = [i for i, u in enumerate(undecided) if u is None or u.any()]
        deepest[0] = max(left, default=-1)
        t.rows = rows if traced else None
        return not left

    t.stream(X, see, chunk, settled, flat=False)
    return [s.exact_dead() for s in stats]


def _undecided_rows(x: torch.Tensor, linear: nn.Linear, units: torch.Tensor, activation: str
                    ) -> torch.Tensor | None:
    """The z of ``units`` only — F.linear with those rows of the weight and bias — when it decides each
    unit on this chunk exactly as the model's own full product would, else None (then the caller
    computes the full product).

    A row-sliced product may round differently from the model's own (another blocking of the same
    sums), so its z may differ from the forward's z at a sample; the exact-dead decision (z in the
    flat set on every sample) is only safe from it where that cannot matter. Each entry of either
    product, computed in any order with fused or separate multiply-adds, lies within
    γ_{n+1}(Σ_j |x_j w_j| + |b|) + n·tiny of the exact value (Higham, Thm 3.5; tiny covers gradual
    underflow), so the two differ by at most E = 4(n+2)·u·(|x|·|w|ᵀ + |b|) + 4(n+2)·tiny (u the unit
    round-off; the factor 4 = 2 for two products, 2 covering the rounding of E itself, valid while
    (n+2)·u ≤ 1/100). A sample whose sliced z is beyond E from the flat set's end (ends at 0 or ±∞, as
    ReLU's (−∞, 0]) is on the same side in the model's forward: a unit with such a sample outside the
    flat set is alive; a unit with every sample inside by more than E is flat on the chunk. Any other
    unit is within rounding of the edge, and the answer is None: the model's product decides."""
    ends = metrics._flat_intervals(activation)
    if len(ends) != 1 or any(math.isfinite(e) and e != 0 for e in ends[0][:2]):
        return None
    lo, hi = ends[0][:2]
    n = x.shape[-1]
    info = torch.finfo(x.dtype)
    u = info.eps / 2
    if (n + 2) * u > 0.01:
        return None
    w = linear.weight[units]
    b = None if linear.bias is None else linear.bias[units]
    z = F.linear(x, w, b)
    scale = F.linear(x.abs(), w.abs(), None if b is None else b.abs())
    E = scale.mul_(4 * (n + 2) * u).add_(4 * (n + 2) * info.tiny)
    inside = torch.ones_like(z, dtype=torch.bool)
    outside = torch.zeros_like(z, dtype=torch.bool)
    if hi == 0:  # flat up to 0: z < −E is flat in the model's forward too, z > E is not
        inside &= z < -E
        outside |= z > E
    if lo == 0:
        inside &= z > E
        outside |= z < -E
    samples = tuple(range(z.dim() - 1))  # x has a sample axis, so z has at least two
    return z if bool((inside.all(samples) | outside.any(samples)).all()) else None


def certified_dead(model: nn.Module, X: torch.Tensor, batch_size: int = 256, tapped: Taps | None = None
                   ) -> list[torch.Tensor]:
    """Per activation site of ``model``, the units certified dead for every future step of gradient
    descent on the fixed data set X with batches of ``batch_size`` (``certify``). Raises ProbeError
    when no rule applies to any site (every activation not ReLU-like, or no unit graph)."""
    X = _inputs(model, X)
    count(batch_size, "batch_size", 1)
    t = tapped or taps(model, X)
    certificate = certify(t.unit_graph(), t.sites, dead_units(model, X, tapped=t), batch_size)
    if all(certificate.reasons) and not any(d.any() for d in certificate.dead):
        raise ProbeError(f"no unit of {type(model).__name__} can be certified: {certificate.reasons[0]}")
    return certificate.dead



# ---- every metric of every site ------------------------------------------------------------------------

@dataclass
class Layer:
    """The measures of one activation site (``measured.layers`` entries: ``record``)."""

    name: str
    activation: str
    units: int
    samples: int  # rows of the layer's activation matrix: samples × positions
    exact_dead: int
    certified_dead: int | None
    paper_dead: int
    dormant: dict[str, int]
    saturated: int | None
    saturated_invariant: int | None
    duplicates: int | None  # None: second moments not measured (``spectra=False``)
    duplicates_correlation: int | None
    clone_blocks: list[int] | None
    effective_rank: float | None
    effective_rank_centred: float | None
    stable_rank: float | None
    participation_ratio: float | None
    numerical_rank: int | None
    masks: dict[str, torch.Tensor] = field(default_factory=dict, repr=False)

    def record(self) -> dict[str, Any]:
        return {"name": self.name, "activation": self.activation, "units": self.units,
                "samples": self.samples,
                "exact_dead": self.exact_dead, "certified_dead": self.certified_dead,
                "paper_dead": self.paper_dead, "dormant": self.dormant, "saturated": self.saturated,
                "saturated_batch_invariant": self.saturated_invariant, "duplicates": self.duplicates,
                "duplicates_correlation": self.duplicates_correlation, "clone_blocks": self.clone_blocks,
                "effective_rank": self.effective_rank, "effective_rank_centred": self.effective_rank_centred,
                "stable_rank": self.stable_rank, "participation_ratio": self.participation_ratio,
                "numerical_rank": self.numerical_rank}


@dataclass
class Measurement:
    """All measures of a model on a data set: per site ``layers``, the unit ``graph``, the clone
    ``labels`` per group (None with the reason in ``notes``), the ``certificate`` and the
    ``trapped`` dimension (None where not computable: ``notes``)."""

    sites: list[Site]
    layers: list[Layer]
    graph: UnitGraph
    labels: list[np.ndarray] | None
    certificate: Certificate
    trapped: metrics.Trapped | None
    notes: list[str]


def default_loss(out: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Cross-entropy for integer class targets, mean squared error for targets shaped like the output."""
    if not targets.is_floating_point() and out.dim() == 2 and targets.dim() == 1:
        return F.cross_entropy(out, targets)
    if targets.shape == out.shape:
        return F.mse_loss(out, targets.to(out.dtype))
    raise ValueError(f"targets of shape {tuple(targets.shape)} ({targets.dtype}) fit neither cross-entropy "
                     f"nor mean squared error for outputs of shape {tuple(out.shape)}")


def site_gradients(tapped: Taps, x: torch.Tensor, targets: torch.Tensor | None,
                   loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = default_loss,
                   which: str = "h") -> tuple[list[torch.Tensor], list[torch.Tensor]]:
    """(h, ∂L/∂h) of every site on one batch, L the batch-mean loss, in eval mode; or (z, ∂L/∂z) with
    ``which="z"``; both as (samples × positions, units). The model's gradients are left as they were."""
    if which not in ("h", "z"):
        raise ValueError(f"which must be 'h' or 'z', got {which!r}")
    hs: dict[int, torch.Tensor] = {}

    def on(i: int, seen: str, t: torch.Tensor) -> torch.Tensor | None:
        if seen == which:
            hs[i] = t
        # the activation works on a copy of z, so an in-place one cannot overwrite the z we read
        return t.clone() if seen == "z" and which == "z" else None

    tapped.on = on
    try:
        with _eval(tapped.model), torch.enable_grad():
            out = tapped.forward(x)
            kept = [i for i in sorted(hs) if hs[i].requires_grad]
            grads = torch.autograd.grad(loss(out, targets), [hs[i] for i in kept], allow_unused=True)
    finally:
        tapped.on = None
    by_site = dict(zip(kept, grads))
    h_out, g_out = [], []
    for i, site in enumerate(tapped.sites):
        h = hs[i].detach()
        g = by_site.get(i)
        g = torch.zeros_like(h) if g is None else g
        h_out.append(_flatten_units(h, site.axis))
        g_out.append(_flatten_units(g, site.axis))
    return h_out, g_out


def measure(model: nn.Module, X: torch.Tensor, targets: torch.Tensor | None = None, *,
            loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = default_loss, chunk: int = 1024,
            batch_size: int = 256, saturation_samples: int = 256, clones: bool = True, spectra: bool = True,
            spectra_samples: int | None = None, tapped: Taps | None = None) -> Measurement:
    """Every measure of ``numerics.metrics`` on every activation site of ``model`` over X: one chunked
    pass for the activation measures (peak memory: the model and one chunk), the clone partition and
    the certificate from the weights, and, with ``targets``, the saturated measures from the gradient
    of the batch-mean loss on the first ``saturation_samples`` samples (the paper uses one fixed
    batch). ``batch_size`` is the training batch the BatchNorm certificate assumes; ``clones=False``
    skips the clone partition, ``spectra=False`` the second moments (duplicates and ranks: a Gram
    matrix per layer and its eigenvalues); ``spectra_samples`` takes the second moments from the
    first that many samples of X only (every position of them), all of X by default."""
    X = _inputs(model, X)
    count(chunk, "chunk", 1), count(batch_size, "batch_size", 1)
    count(saturation_samples, "saturation_samples", 1)
    if targets is not None:
        targets = check_data(targets[:, None] if isinstance(targets, torch.Tensor) and targets.dim() == 1
                             else targets, "targets")
        targets = targets[:, 0] if targets.shape[1:] == (1,) and not targets.is_floating_point() else targets
        if len(targets) != len(X):
            raise ValueError(f"targets has {len(targets)} samples, X has {len(X)}")
    t = tapped or taps(model, X)
    stats = [metrics.LayerStats(s.activation, moments=spectra, moment_inputs=spectra_samples)
             for s in t.sites]

    def see(i: int, which: str, v: torch.Tensor) -> None:
        (stats[i].add_z if which == "z" else stats[i].add_h)(v, t.sites[i].axis)

    t.stream(X, see, chunk, flat=False)
    sat = sat_inv = None
    if targets is not None:
        hs, gs = site_gradients(t, X[:saturation_samples], targets[:saturation_samples], loss)
        sat = [metrics._saturated(h, g) for h, g in zip(hs, gs)]
        batch = len(X[:saturation_samples])
        sat_inv = [metrics._saturated(h, g * batch) for h, g in zip(hs, gs)]
    # the small matrices (Gram, eigenproblems, the clone refinement's projections) on one thread:
    # threads only cost them (a 256 × 256 eigvalsh: 2.7 ms CPU on one thread, 6.5 ms on two)
    with one_thread():
        notes = list(t.notes)
        dead = [s.exact_dead() for s in stats]
        silent = [s.silent() for s in stats]
        graph = t.unit_graph()
        labels = None
        if clones:
            try:
                labels = clone_partition(graph)
            except ProbeError as exc:
                notes.append(str(exc))
        certificate = certify(graph, t.sites, dead, batch_size)
        trapped = None
        try:
            trapped = manifold(model, graph, labels, dead, silent)
        except ProbeError as exc:
            notes.append(str(exc))
        layers = []
        for k, (site, s) in enumerate(zip(t.sites, stats)):
            m = s.moments
            block = None if labels is None else metrics.block_sizes(labels[graph.site_group(k)])
            masks = {"exact_dead": dead[k], "certified_dead": certificate.dead[k],
                     "paper_dead": s.paper_dead(), "silent": silent[k]}
            if m is not None:
                masks |= {"duplicates": metrics.duplicates(m),
                          "duplicates_correlation": metrics.duplicates(m, centred=True)}
            refused = certificate.reasons[k] and not certificate.dead[k].any()
            second = (None,) * 7 if m is None else (
                int(masks["duplicates"].sum()), int(masks["duplicates_correlation"].sum()),
                float(metrics.effective_rank(m)), float(metrics.effective_rank(m, centred=True)),
                float(metrics.stable_rank(m)), float(metrics.participation_ratio(m)),
                int(metrics.numerical_rank(m)))
            layers.append(Layer(
                site.name, site.activation, site.units, s.n, int(dead[k].sum()),
                None if refused else int(certificate.dead[k].sum()), int(masks["paper_dead"].sum()),
                {str(tau): int(s.dormant(tau).sum()) for tau in metrics.REDO_TAUS},
                None if sat is None else int(sat[k].sum()),
                None if sat_inv is None else int(sat_inv[k].sum()), *second[:2], block, *second[2:], masks))
        return Measurement(t.sites, layers, graph, labels, certificate, trapped, notes)


# ---- during training ------------------------------------------------------------------------------------

class Probe:
    """Records the measures of ``measure`` during any training loop, on a fixed probe set X:

        probe = Probe(model, X).every(100)
        for step in ...:
            ...; optimizer.step(); probe.step()

    ``step()`` counts updates and measures after every ``n``-th (the taps are traced once, on a copy of
    the model's graph that shares its parameters; nothing is hooked into the training forward, so the
    other steps cost one counter); ``history`` holds (step, per-layer records, trapped) tuples.

    Every measure is recorded by default. The second moments (duplicates and the ranks) come from the
    first ``spectra_samples`` inputs of X (``SPECTRA_SAMPLES`` = 128 by default, every position of
    them; None: all of X): their eigenproblems grow with the cube of min(samples, units), the rest of
    a record linearly in the samples. ``clones=False`` skips the clone partition, ``spectra=False``
    the second moments (benchmarks/probe_overhead.py prints what each costs)."""

    SPECTRA_SAMPLES = 128

    def __init__(self, model: nn.Module, X: torch.Tensor, targets: torch.Tensor | None = None, *,
                 loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] = default_loss, chunk: int = 1024,
                 clones: bool = True, spectra: bool = True, spectra_samples: int | None = SPECTRA_SAMPLES):
        count(chunk, "chunk", 1)
        if spectra_samples is not None:
            count(spectra_samples, "spectra_samples", 1)
        self.model, self.X, self.targets, self.loss = model, X, targets, loss
        self.chunk, self.clones, self.spectra, self.spectra_samples = chunk, clones, spectra, spectra_samples
        self.taps = taps(model, X)
        self.interval, self.t = 1, 0
        self.history: list[tuple[int, list[dict[str, Any]], metrics.Trapped | None]] = []

    def every(self, n: int) -> Probe:
        if not isinstance(n, int) or n < 1:
            raise ValueError(f"every(n) needs a positive integer, got {n!r}")
        self.interval = n
        return self

    def step(self) -> Measurement | None:
        self.t += 1
        if self.t % self.interval:
            return None
        m = measure(self.model, self.X, self.targets, loss=self.loss, chunk=self.chunk, clones=self.clones,
                    spectra=self.spectra, spectra_samples=self.spectra_samples, tapped=self.taps)
        self.history.append((self.t, [layer.record() for layer in m.layers], m.trapped))
        return m


# ---- the registry's torch face against its SymPy face -----------------------------------------------

def registry_agreement(a: activations.Activation, grid: np.ndarray) -> tuple[dict, np.ndarray, np.ndarray]:
    """The SymPy expression against the torch function on the grid (float64), and torch's derivative:
    exactly 0.0 inside the flat set, non-zero outside. Returns the statistics, f' and the flat mask."""
    from theory.activations import z as Z

    f = sp.lambdify(Z, a.expr, ["scipy", "numpy"])
    t = torch.tensor(grid, dtype=torch.float64, requires_grad=True)
    y = a.torch_fn(t)
    (grad,) = torch.autograd.grad(y.sum(), t)
    ref = np.broadcast_to(np.asarray(f(grid), dtype=np.float64), grid.shape)
    flat = np.broadcast_to(sp.lambdify(Z, a.flat_set.as_relational(Z), "numpy")(grid), grid.shape)
    g = grad.numpy()
    return ({"max_value_error": float(np.max(np.abs(y.detach().numpy() - ref) / (1 + np.abs(ref)))),
             "flat_points": int(flat.sum()), "flat_points_with_nonzero_grad": int((g[flat] != 0).sum()),
             "active_points_with_zero_grad": int((g[~flat] == 0).sum())}, g, flat)


def fprime_at(a: activations.Activation, x: float) -> float:
    """f'(x) by torch autograd in float64."""
    t = torch.tensor(float(x), dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(a.torch_fn(t), t)
    return float(g)
