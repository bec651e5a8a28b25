"""Where a torch model's units are and how they connect: activation sites mapped to the registry,
the unit graph, and what the weights alone say about the units.

**Sites.** A unit lives where an elementwise activation is applied (``Site``; found by
``numerics.probes.Taps``). Each torch activation — module, function or tensor method — is mapped to
the activation registry (``theory.activations``); an elementwise activation the registry does not
hold (Mish, PReLU, a leaky ReLU of another slope, GELU's tanh approximation) is refused by name
(``ProbeError``), never guessed.

**The unit graph** (``unit_graph``): the model's units as a DAG of unit groups, read from its fx graph
— a group per tensor that carries units (an input, a Linear/Conv output, a normalization, a residual
sum, a dropout, an activation, an output), an edge per linear map between groups: weights
(out, in, K), K the kernel offsets of a convolution or the positions of a flattened channel; an
identity (times a scale) for normalizations, activations, sums, dropout. Pooling and flattening keep
the group. An operation whose action on units is not one of these (attention, a matmul of two
activations, a reshape other than a flatten) stops the graph, with the reason. On it:

- ``clone_partition`` — exact clone blocks: the coarsest equitable partition of the real weights
  (``cases.equivalence.coarsest_equitable_groups``), convolutions and residual additions included;
  normalization parameters (and running statistics, GroupNorm's groups) must agree inside a block.
- ``certify`` — units dead for every future step of gradient descent on a fixed data set, by induction
  over the graph in topological order with a per-unit state: ZERO (a certified unit's output, 0
  forever), NONNEG (≥ 0 whatever is learned: a ReLU-like output), NONPOS (≤ 0 forever), DATA (the
  fixed inputs), UNKNOWN:
    affine z = W h + b:  NONPOS where ``metrics.sign_certificate`` holds on the sources' states;
    normalization:       NONPOS where ``metrics.norm_certificate`` holds (BatchNorm in training mode
                         standardizes batch × positions values, LayerNorm its units, GroupNorm a group);
    sum Σ c_k x_k + c:   NONPOS where every term is ≤ 0, NONNEG where every term is ≥ 0;
    dropout:             keeps ZERO, NONNEG and NONPOS (it zeros or rescales by 1/(1 − p) > 0);
    ReLU-like f:         ZERO where the input is NONPOS (f = 0 and f' = 0 on (−∞, 0], torch's
                         convention at 0 included), else NONNEG; any other f: UNKNOWN;
    first layers:        a unit whose input is an affine map of the fixed data alone (DATA or ZERO
                         sources, no normalization or dropout) is certified where z is in the flat set
                         on every sample: z is a fixed function of parameters that get no gradient.
  A chain of groups certifies only when each group on it (affine maps, normalizations, sums,
  dropout) has the activation as its only consumer: the certificate's parameters then reach the loss
  only through f'(z) = 0, get zero gradient and keep their values, so by induction over steps the
  unit stays dead whatever the rest learns. Where no rule can apply the site's reason says why.
- ``blocked`` and ``manifold`` — which units get a zero backward signal, and how many parameters the
  frozen and cloned structure pins (``metrics.manifold_dimension``).
"""

from __future__ import annotations

import functools
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy as sp
import torch
import torch.fx as fx
import torch.nn.functional as F
from threadpoolctl import threadpool_limits
from torch import nn

from cases.equivalence import TOL, coarsest_equitable_groups
from numerics import metrics
from numerics.models import Act
from theory import activations


class ProbeError(ValueError):
    """A model, or a layer of it, that the probes cannot read: the message names it."""


# ---- torch activations → the registry ----------------------------------------------------------

_MODULES: dict[type, Callable[[nn.Module], str | None]] = {
    nn.ReLU: lambda m: "relu",
    nn.ReLU6: lambda m: "relu6",
    nn.Tanh: lambda m: "tanh",
    nn.Sigmoid: lambda m: "sigmoid",
    nn.SiLU: lambda m: "silu",
    nn.SELU: lambda m: "selu",
    nn.Hardsigmoid: lambda m: "hardsigmoid",
    nn.Hardtanh: lambda m: "hardtanh" if (m.min_val, m.max_val) == (-1.0, 1.0) else None,
    nn.GELU: lambda m: "gelu" if m.approximate == "none" else None,
    nn.ELU: lambda m: "elu" if m.alpha == 1.0 else None,
    nn.LeakyReLU: lambda m: "leaky_relu" if m.negative_slope == 0.01 else None,
    nn.Softplus: lambda m: "softplus" if (m.beta, m.threshold) == (1.0, 20.0) else None,
}
_UNSUPPORTED_MODULES = (nn.PReLU, nn.Mish, nn.Hardswish, nn.RReLU, nn.CELU, nn.Softsign, nn.Tanhshrink,
                        nn.LogSigmoid, nn.Softshrink, nn.Hardshrink, nn.Threshold)

# function → (registry name, {keyword: (position, value the registry entry needs)})
_FUNCTIONS: dict[Any, tuple[str, dict[str, tuple[int, Any]]]] = {
    F.relu: ("relu", {}), torch.relu: ("relu", {}), torch.relu_: ("relu", {}), F.relu_: ("relu", {}),
    F.relu6: ("relu6", {}), torch.tanh: ("tanh", {}), F.tanh: ("tanh", {}),
    torch.sigmoid: ("sigmoid", {}), F.sigmoid: ("sigmoid", {}), F.silu: ("silu", {}),
    F.selu: ("selu", {}), torch.selu: ("selu", {}), F.hardsigmoid: ("hardsigmoid", {}),
    F.gelu: ("gelu", {"approximate": (1, "none")}),
    F.elu: ("elu", {"alpha": (1, 1.0)}),
    F.leaky_relu: ("leaky_relu", {"negative_slope": (1, 0.01)}),
    F.hardtanh: ("hardtanh", {"min_val": (1, -1.0), "max_val": (2, 1.0)}),
    F.softplus: ("softplus", {"beta": (1, 1.0), "threshold": (2, 20.0)}),
}
_UNSUPPORTED_FUNCTIONS = {F.mish, F.hardswish, F.prelu, F.rrelu, F.celu, F.softsign, F.logsigmoid,
                          F.softshrink, F.hardshrink, F.threshold, F.tanhshrink, torch.nn.functional.glu}
_METHODS = {"relu": "relu", "relu_": "relu", "tanh": "tanh", "tanh_": "tanh", "sigmoid": "sigmoid",
            "sigmoid_": "sigmoid"}
ACCEPTED = ("nn.ReLU, ReLU6, Tanh, Sigmoid, SiLU, SELU, Hardsigmoid, Hardtanh(-1, 1), GELU('none'), "
            "ELU(1), LeakyReLU(0.01), Softplus(1, 20), numerics.models.Act and their torch functions")


def module_activation(module: nn.Module, where: str) -> str | None:
    """The registry name of an activation module, None for a module that is not an activation."""
    if isinstance(module, Act):
        return module.name
    for kind, name_of in _MODULES.items():
        if type(module) is kind:
            name = name_of(module)
            if name is None:
                raise ProbeError(f"cannot probe activation {module!r} at {where}: the registry holds no "
                                 f"such parametrisation (accepted: {ACCEPTED})")
            return name
    if isinstance(module, _UNSUPPORTED_MODULES):
        raise ProbeError(f"cannot probe activation {type(module).__name__} at {where}: not in the "
                         f"activation registry (accepted: {ACCEPTED})")
    return None


def function_activation(node: fx.Node) -> str | None:
    if node.op == "call_method":
        return _METHODS.get(node.target)
    if node.op != "call_function":
        return None
    if node.target in _UNSUPPORTED_FUNCTIONS:
        raise ProbeError(f"cannot probe activation {node.target.__name__} at node {node.name}: not in "
                         f"the activation registry (accepted: {ACCEPTED})")
    if node.target not in _FUNCTIONS:
        return None
    name, needs = _FUNCTIONS[node.target]
    for key, (pos, value) in needs.items():
        got = node.kwargs.get(key, node.args[pos] if len(node.args) > pos else value)
        if got != value:
            raise ProbeError(f"cannot probe {node.target.__name__}({key}={got!r}) at node {node.name}: "
                             f"the registry's {name} has {key}={value!r} (accepted: {ACCEPTED})")
    return name


# ---- sites and taps ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Site:
    """Where units live: ``name`` (the fx node's name, or the module's path under hooks), the
    registry ``activation``, the tensors' unit ``axis`` and the number of ``units``."""

    name: str
    activation: str
    axis: int
    units: int



# ---- the unit graph ----------------------------------------------------------------------------------

@dataclass
class Group:
    """A tensor that carries units: ``units`` of them, of ``kind`` input, affine, norm, sum,
    activation, output; ``site`` the activation site's index; ``bias`` (per unit, a parameter or a
    constant), ``features`` (per-unit values clones must share), ``params`` (per-unit parameter vectors:
    bias, γ, β), ``norm_size(batch)`` how many values a normalization standardizes together."""

    name: str
    units: int
    kind: str
    site: int | None = None
    activation: str | None = None
    bias: torch.Tensor | None = None
    features: list[torch.Tensor] = field(default_factory=list)
    params: list[torch.Tensor] = field(default_factory=list)
    norm: nn.Module | None = None
    positions: int = 1
    consumers: int = 0


@dataclass
class Edge:
    """A linear map from group ``src`` to group ``dst``: ``weight`` (out, in, *kernel) for a Linear
    or convolution (``positions`` > 1: a Linear reading a flattened channel of that many positions;
    ``conv_groups`` for grouped convolutions), or None for ``scale`` · identity."""

    src: int
    dst: int
    weight: torch.Tensor | None = None
    positions: int = 1
    conv_groups: int = 1
    scale: float = 1.0

    def array(self, widths: Sequence[int]) -> np.ndarray:
        """The edge as (out, in, K) float64."""
        if self.weight is None:
            return self.scale * np.eye(widths[self.dst])[:, :, None]
        w = self.weight.detach().double().cpu()
        out = w.shape[0]
        if self.positions > 1:
            return w.reshape(out, widths[self.src], self.positions).numpy()
        w = w.reshape(out, w.shape[1], -1)
        if self.conv_groups == 1:
            return w.numpy()
        g, k_in, k_out = self.conv_groups, w.shape[1], out // self.conv_groups
        full = torch.zeros(out, k_in * g, w.shape[2], dtype=torch.float64)
        for j in range(g):
            full[j * k_out:(j + 1) * k_out, j * k_in:(j + 1) * k_in] = w[j * k_out:(j + 1) * k_out]
        return full.numpy()


@dataclass
class UnitGraph:
    """The model's unit groups and the linear maps between them (``supported``), or the reason it
    could not be built; ``parameters`` lists every parameter the graph accounts for."""

    groups: list[Group]
    edges: list[Edge]
    reason: str | None = None
    covered: set[int] = field(default_factory=set)  # ids of the parameters the graph accounts for

    @property
    def supported(self) -> bool:
        return self.reason is None

    def site_group(self, site: int) -> int:
        return next(i for i, g in enumerate(self.groups) if g.site == site)

    @property
    def widths(self) -> list[int]:
        return [g.units for g in self.groups]


@dataclass(frozen=True)
class _Val:
    """A tensor of the fx graph that carries units: its group, unit axis and, for a flattened
    channel tensor, the positions per channel (0 when not flattened)."""

    group: int
    axis: int
    flat: int = 0


_POOL_MODULES = (nn.MaxPool1d, nn.MaxPool2d, nn.MaxPool3d, nn.AvgPool1d, nn.AvgPool2d, nn.AvgPool3d,
                 nn.AdaptiveAvgPool1d, nn.AdaptiveAvgPool2d, nn.AdaptiveAvgPool3d, nn.AdaptiveMaxPool1d,
                 nn.AdaptiveMaxPool2d)
_DROPOUT_MODULES = (nn.Dropout, nn.Dropout1d, nn.Dropout2d, nn.Dropout3d)
_POOL_FUNCTIONS = {F.max_pool1d, F.max_pool2d, F.max_pool3d, F.avg_pool1d, F.avg_pool2d, F.avg_pool3d,
                   F.adaptive_avg_pool1d, F.adaptive_avg_pool2d, F.adaptive_avg_pool3d,
                   F.adaptive_max_pool1d, F.adaptive_max_pool2d, torch.max_pool2d, torch.avg_pool1d}
_DROPOUT_FUNCTIONS = {F.dropout, F.dropout1d, F.dropout2d, F.dropout3d, torch.dropout}
_NORMS = (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d, nn.LayerNorm, nn.GroupNorm)


class _Unsupported(Exception):
    pass


def _shape(n: Any) -> tuple[int, ...] | None:
    tm = n.meta.get("tensor_meta") if isinstance(n, fx.Node) else None
    return tuple(tm.shape) if tm is not None and hasattr(tm, "shape") else None


def unit_graph(graph: fx.Graph, modules: dict[str, nn.Module], sites: Sequence[Site]) -> UnitGraph:
    """The unit graph of an fx graph whose nodes carry shapes (``ShapeProp``), ``modules`` its
    submodules by name and ``sites`` its activation sites (module docstring); ``reason`` says why not
    when an operation has no known action on units."""
    builder = _Builder(graph, modules, sites)
    try:
        builder.build()
    except _Unsupported as exc:
        return UnitGraph(builder.groups, builder.edges, reason=str(exc))
    return UnitGraph(builder.groups, builder.edges, covered=builder.covered)


class _Builder:
    def __init__(self, graph: fx.Graph, modules: dict[str, nn.Module], sites: Sequence[Site]):
        self.graph, self.modules = graph, modules
        self.sites = {s.name: i for i, s in enumerate(sites)}
        self.groups: list[Group] = []
        self.edges: list[Edge] = []
        self.vals: dict[fx.Node, _Val] = {}
        self.covered: set[int] = set()

    def group(self, name: str, units: int, kind: str, **kw: Any) -> int:
        self.groups.append(Group(name, units, kind, **kw))
        return len(self.groups) - 1

    def edge(self, src: int, dst: int, **kw: Any) -> None:
        self.edges.append(Edge(src, dst, **kw))
        self.groups[src].consumers += 1

    def cover(self, *params: torch.Tensor | None) -> None:
        self.covered.update(id(p) for p in params if isinstance(p, nn.Parameter))

    def val(self, node: Any, what: str) -> _Val:
        if not isinstance(node, fx.Node) or node not in self.vals:
            raise _Unsupported(f"{what} at node {getattr(node, 'name', node)!s} does not read a unit tensor "
                               "the graph knows")
        return self.vals[node]

    def through(self, node: fx.Node, v: _Val) -> None:
        """A channel-wise operation that keeps the units (pooling, dropout): the same group."""
        shape = _shape(node)
        axis = v.axis if shape is None or v.axis < len(shape) else len(shape) - 1
        self.vals[node] = _Val(v.group, axis, v.flat)

    def build(self) -> None:
        outputs = 0
        for node in self.graph.nodes:
            shape = _shape(node)
            if node.op == "placeholder":
                if shape is None or len(shape) < 2:
                    raise _Unsupported(f"input {node.name} has shape {shape}: "
                                       "expected (samples, features...)")
                channels = len(shape) >= 4 or (len(shape) == 3 and self._conv_consumer(node))
                axis = 1 if channels else len(shape) - 1
                self.vals[node] = _Val(self.group(node.name, shape[axis], "input"), axis)
            elif node.op == "output":
                for arg in _flat_args(node.args[0]):
                    if isinstance(arg, fx.Node) and arg in self.vals:
                        v = self.vals[arg]
                        src = self._unflatten(v, arg)
                        g = self.group(f"output{outputs}", self.groups[src].units, "output")
                        self.edge(src, g)
                        outputs += 1
            elif node.op == "get_attr":
                continue
            elif not any(isinstance(a, fx.Node) and a in self.vals
                         for a in _flat_args((node.args, node.kwargs))):
                continue  # shapes, constants: nothing to do with units
            elif node.op == "call_module":
                self._module(node, self.modules[node.target], shape)
            else:
                self._function(node, shape)

    def _conv_consumer(self, node: fx.Node) -> bool:
        return any(u.op == "call_module" and isinstance(self.modules.get(u.target), (nn.Conv1d,))
                   for u in node.users)

    def _unflatten(self, v: _Val, node: fx.Node) -> int:
        if v.flat > 1:
            raise _Unsupported(f"node {node.name} uses a flattened channel tensor other than as a "
                               "Linear's input")
        return v.group

    def _activation(self, node: fx.Node, name: str, v: _Val) -> None:
        src = self._unflatten(v, node)
        g = self.group(node.name, self.groups[src].units, "activation", site=self.sites.get(node.name),
                       activation=name)
        self.edge(src, g)
        self.vals[node] = _Val(g, v.axis)

    def _module(self, node: fx.Node, m: nn.Module, shape: tuple[int, ...] | None) -> None:
        name = module_activation(m, f"module {node.target!r}")
        v = self.val(node.args[0], f"module {node.target!r}")
        if name is not None:
            return self._activation(node, name, v)
        if isinstance(m, nn.Linear):
            units = self.groups[v.group].units
            if v.flat:
                if m.in_features != units * v.flat:
                    raise _Unsupported(f"Linear {node.target!r} reads {m.in_features} features from "
                                       f"{units} channels × {v.flat} positions")
            elif shape is None or v.axis != len(shape) - 1:
                raise _Unsupported(f"Linear {node.target!r} is applied along an axis that is not the "
                                   "units' axis")
            g = self.group(node.name, m.out_features, "affine", bias=m.bias,
                           params=[p for p in (m.bias,) if p is not None])
            self.edge(v.group, g, weight=m.weight, positions=max(v.flat, 1))
            self.cover(m.weight, m.bias)
            self.vals[node] = _Val(g, len(shape) - 1)
        elif isinstance(m, (nn.Conv1d, nn.Conv2d, nn.Conv3d)):
            if v.axis != 1 or v.flat or m.padding_mode != "zeros":
                raise _Unsupported(f"convolution {node.target!r} does not read channels on axis 1 "
                                   "(or pads other than with zeros)")
            g = self.group(node.name, m.out_channels, "affine", bias=m.bias,
                           params=[p for p in (m.bias,) if p is not None])
            self.edge(v.group, g, weight=m.weight, conv_groups=m.groups)
            self.cover(m.weight, m.bias)
            self.vals[node] = _Val(g, 1)
        elif isinstance(m, _NORMS):
            self._norm(node, m, v, shape)
        elif isinstance(m, _DROPOUT_MODULES):
            self._dropout(node, v)
        elif isinstance(m, _POOL_MODULES + (nn.Identity,)):
            if v.flat:
                raise _Unsupported(f"{type(m).__name__} {node.target!r} on a flattened channel tensor")
            self.through(node, v)
        elif isinstance(m, nn.Flatten):
            self._flatten(node, v, shape, m.start_dim, m.end_dim)
        else:
            raise _Unsupported(f"module {node.target!r} ({type(m).__name__}) has no known action on units")

    def _norm(self, node: fx.Node, m: nn.Module, v: _Val, shape: tuple[int, ...] | None) -> None:
        src = self._unflatten(v, node)
        units = self.groups[src].units
        positions = int(np.prod(shape[2:])) if shape is not None and len(shape) > 2 else 1
        if isinstance(m, nn.LayerNorm):
            if tuple(m.normalized_shape) != (units,) or shape is None or v.axis != len(shape) - 1:
                raise _Unsupported(f"LayerNorm {node.target!r} normalizes {tuple(m.normalized_shape)}, not "
                                   "the units' axis alone")
            feats = [m.weight, m.bias]
        elif isinstance(m, nn.GroupNorm):
            if v.axis != 1:
                raise _Unsupported(f"GroupNorm {node.target!r} is not on the channel axis")
            group_of = torch.arange(units) // (units // m.num_groups)
            feats = [m.weight, m.bias, group_of]
        else:
            if v.axis != 1:
                raise _Unsupported(f"BatchNorm {node.target!r} is not on the channel axis")
            feats = [m.weight, m.bias, m.running_mean, m.running_var]
        params = [p for p in (m.weight, m.bias) if p is not None]
        g = self.group(node.name, units, "norm", features=[f for f in feats if f is not None], params=params,
                       norm=m, positions=positions)
        self.edge(src, g)
        self.cover(*params)
        self.vals[node] = _Val(g, v.axis)

    def _flatten(self, node: fx.Node, v: _Val, shape: tuple[int, ...] | None, start: int = 1,
                 end: int = -1) -> None:
        in_shape = _shape(node.args[0])
        if in_shape is None or shape is None:
            raise _Unsupported(f"node {node.name}: shapes unknown")
        if tuple(in_shape) == tuple(shape):
            return self.through(node, v)
        if v.flat or v.axis != 1 or len(shape) != 2 or shape[1] != int(np.prod(in_shape[1:])):
            raise _Unsupported(f"node {node.name} reshapes {in_shape} to {shape}: only flattening "
                               "(samples, channels, ...) into (samples, features) is understood")
        self.vals[node] = _Val(v.group, 1, int(np.prod(in_shape[2:])))

    def _dropout(self, node: fx.Node, v: _Val) -> None:
        """Dropout: its own group (an identity in eval mode; in training it zeros and rescales, which
        keeps signs but changes values, so what follows is no longer a function of the data alone)."""
        src = self._unflatten(v, node)
        g = self.group(node.name, self.groups[src].units, "dropout")
        self.edge(src, g)
        self.vals[node] = _Val(g, v.axis)

    def _sum(self, node: fx.Node, a: Any, b: Any, sign: float, alpha: float = 1.0) -> None:
        terms = ((a, 1.0), (b, sign * alpha))
        tensors = [(x, s) for x, s in terms if isinstance(x, fx.Node) and x in self.vals]
        constants = [(x, s) for x, s in terms if isinstance(x, (int, float))]
        if len(tensors) + len(constants) != 2:
            raise _Unsupported(f"node {node.name} adds something that is neither a unit tensor nor a number")
        vals = [self.vals[x] for x, _ in tensors]
        srcs = [self._unflatten(v, node) for v in vals]
        units = {self.groups[s].units for s in srcs}
        if len(units) != 1 or len({v.axis for v in vals}) != 1:
            raise _Unsupported(f"node {node.name} adds tensors whose units do not line up")
        n = units.pop()
        bias = torch.full((n,), sum(c * s for c, s in constants), dtype=torch.float64) if constants else None
        g = self.group(node.name, n, "sum", bias=bias)
        for src, (_, s) in zip(srcs, tensors):
            self.edge(src, g, scale=s)
        self.vals[node] = _Val(g, vals[0].axis)

    def _function(self, node: fx.Node, shape: tuple[int, ...] | None) -> None:
        t = node.target
        name = function_activation(node)
        if name is not None:
            return self._activation(node, name, self.val(node.args[0], f"activation {node.name}"))
        if node.op == "call_function" and t in (operator.add, operator.iadd, torch.add):
            return self._sum(node, node.args[0], node.args[1], 1.0, float(node.kwargs.get("alpha", 1.0)))
        if node.op == "call_method" and t in ("add", "add_"):
            return self._sum(node, node.args[0], node.args[1], 1.0, float(node.kwargs.get("alpha", 1.0)))
        if (node.op == "call_function" and t in (operator.sub, operator.isub, torch.sub)) or \
                (node.op == "call_method" and t in ("sub", "sub_")):
            return self._sum(node, node.args[0], node.args[1], -1.0)
        if (node.op == "call_function" and t in (operator.mul, operator.imul, torch.mul)) or \
                (node.op == "call_method" and t in ("mul", "mul_")):
            a, b = node.args[:2]
            tensor, c = (a, b) if isinstance(b, (int, float)) else (b, a)
            if not isinstance(c, (int, float)):
                raise _Unsupported(f"node {node.name} multiplies two tensors")
            v = self.val(tensor, f"node {node.name}")
            src = self._unflatten(v, node)
            g = self.group(node.name, self.groups[src].units, "sum")
            self.edge(src, g, scale=float(c))
            self.vals[node] = _Val(g, v.axis)
            return None
        v = self.val(node.args[0], f"node {node.name}")
        if node.op == "call_function" and t in _DROPOUT_FUNCTIONS:
            return self._dropout(node, v)
        if node.op == "call_function" and t in _POOL_FUNCTIONS:
            return self.through(node, v)
        if node.op == "call_method" and t in ("contiguous", "clone", "detach"):
            return self.through(node, v)
        if node.op == "call_method" and t == "mean" or node.op == "call_function" and t is torch.mean:
            dims = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim")
            dims = [dims] if isinstance(dims, int) else list(dims or [])
            rank = len(_shape(node.args[0]) or ())
            if dims and all(d % rank >= 2 for d in dims) and v.axis == 1 and not v.flat:
                return self.through(node, v)
        if node.op == "call_function" and t is torch.flatten or node.op == "call_method" and t == "flatten":
            start = node.args[1] if len(node.args) > 1 else node.kwargs.get("start_dim", 0)
            if start == 1:
                return self._flatten(node, v, shape)
        if node.op == "call_method" and t in ("view", "reshape") or \
                node.op == "call_function" and t is torch.reshape:
            return self._flatten(node, v, shape)
        if node.op == "call_function" and t in (F.softmax, F.log_softmax, torch.softmax, torch.log_softmax) \
                and all(u.op == "output" for u in node.users):
            return self.through(node, v)  # a normalized output: part of the loss
        label = getattr(t, "__name__", str(t))
        raise _Unsupported(f"operation {label} at node {node.name} has no known action on units")


def _flat_args(x: Any) -> list[Any]:
    if isinstance(x, (list, tuple)):
        return [y for item in x for y in _flat_args(item)]
    if isinstance(x, dict):
        return [y for item in x.values() for y in _flat_args(item)]
    return [x]


# ---- exact clones -------------------------------------------------------------------------------------

def clone_partition(graph: UnitGraph, tol: float = TOL, seed: int = 0) -> list[np.ndarray]:
    """Block labels of every group of the unit graph: the coarsest equitable partition of the
    model's real weights (inputs and outputs singletons, normalization features shared in a block).
    Raises ProbeError when the graph is not supported (its reason).

    Groups joined by an identity edge (a normalization, an activation, a residual sum, dropout) have
    the same partition in any equitable one — unit v of one is tied to unit v of the other in both
    directions — so they are refined as one group whose signature holds all their weighted edges
    (a residual stream becomes one group with edges into itself), biases and features."""
    if not graph.supported:
        raise ProbeError(f"exact clone blocks need the unit graph: {graph.reason}")
    widths = graph.widths
    root = list(range(len(widths)))

    def find(i: int) -> int:
        while root[i] != i:
            root[i] = root[root[i]]
            i = root[i]
        return i

    for e in graph.edges:
        if e.weight is None:
            root[find(e.src)] = find(e.dst)
    merged = sorted({find(i) for i in range(len(widths))})
    index = {r: k for k, r in enumerate(merged)}
    of = [index[find(i)] for i in range(len(widths))]
    edges = [(of[e.src], of[e.dst], e.array(widths)) for e in graph.edges if e.weight is not None]
    biases: list[np.ndarray | None] = [None] * len(merged)
    features: list[list[np.ndarray]] = [[] for _ in merged]
    for i, g in enumerate(graph.groups):
        k = of[i]
        if g.bias is not None:
            b = g.bias.detach().double().cpu().numpy().reshape(-1, 1)
            if biases[k] is None:
                biases[k] = b[:, 0]
            else:
                features[k].append(b)
        features[k] += [f.detach().double().cpu().numpy().reshape(g.units, -1) for f in g.features]
    fixed = [False] * len(merged)
    for i, g in enumerate(graph.groups):
        fixed[of[i]] |= g.kind in ("input", "output")
    # numpy's BLAS on one thread: its small projections gain nothing from threads, and next to torch's
    # pool its threads contend for the cores (a 512 × 512 by 512 × 4 product: 0.3 ms alone, 7 ms so)
    with threadpool_limits(1, user_api="blas"):
        labels, _ = coarsest_equitable_groups([widths[r] for r in merged], edges, biases=biases,
                                              features=[np.hstack(f) if f else None for f in features],
                                              fixed=fixed, tol=tol, seed=seed)
    return [labels[of[i]] for i in range(len(widths))]


# ---- certified dead -----------------------------------------------------------------------------------

ZERO, NONNEG, NONPOS, DATA, UNKNOWN = range(5)


@functools.cache
def relu_like(activation: str) -> bool:
    """f ≡ 0 on (−∞, 0] and f ≥ 0: the sign argument applies. (−∞, 0] ⊂ Flat(f) means torch's
    derivative is 0 at z = 0 too, so z ≤ 0 forever is enough for a unit to stay dead.)"""
    a = activations.get(activation)
    return bool(a.flat_set.is_superset(sp.Interval(-sp.oo, 0)) and a(sp.S.Zero) == 0 and a.range[0] >= 0)


@dataclass
class Certificate:
    """Per activation site: the certified-dead mask and why units of the site could not be
    certified by the sign rules (None when no rule was out of reach)."""

    dead: list[torch.Tensor]
    reasons: list[str | None]


def certify(graph: UnitGraph, sites: Sequence[Site], dead_on_data: Sequence[torch.Tensor],
            batch_size: int) -> Certificate:
    """Units dead for every future step of gradient descent with batches of ``batch_size`` on the
    fixed data set on which ``dead_on_data`` (the sites' exact-dead masks) was measured; the rules of
    the module docstring, with NONPOS (z ≤ 0 forever) for its NEG: ReLU-like f are flat at 0."""
    if not graph.supported:
        why = f"no unit graph: {graph.reason}"
        return Certificate([torch.zeros(s.units, dtype=torch.bool) for s in sites], [why] * len(sites))
    reasons: list[str | None] = [None] * len(sites)
    into: list[list[Edge]] = [[] for _ in graph.groups]
    for e in graph.edges:
        into[e.dst].append(e)
    state = [torch.full((g.units,), UNKNOWN, dtype=torch.int8) for g in graph.groups]
    data_only = [False] * len(graph.groups)  # a function of the fixed data and frozen parameters
    for i, g in enumerate(graph.groups):
        ins = into[i]
        if g.kind == "input":
            state[i][:] = DATA
            data_only[i] = True
        elif g.kind == "affine":
            (e,) = ins
            src = state[e.src]
            # signs and zeros are exact in the parameters' own dtype: no float64 copy unless the
            # grouped convolution needs its block-diagonal expansion
            w = torch.from_numpy(e.array(graph.widths)) if e.conv_groups > 1 else \
                e.weight.detach().reshape(e.weight.shape[0], graph.widths[e.src], -1).cpu()
            bias = None if g.bias is None else g.bias.detach().cpu()
            state[i][metrics.sign_certificate(w, bias, src == ZERO, (src == NONNEG) | (src == ZERO))] = NONPOS
            data_only[i] = bool(((src == DATA) | (src == ZERO)).all())
        elif g.kind == "norm":
            m = g.norm
            if isinstance(m, nn.LayerNorm):
                size = g.units
            elif isinstance(m, nn.GroupNorm):
                size = g.units // m.num_groups * g.positions
            else:
                size = batch_size * g.positions
            state[i][metrics.norm_certificate(m.weight, m.bias, size).cpu()] = NONPOS
        elif g.kind == "sum":
            const = torch.zeros(g.units, dtype=torch.float64) if g.bias is None else g.bias.double()
            state[i] = _sum_state([state[e.src] for e in ins], [e.scale for e in ins], const)
            data_only[i] = all(data_only[e.src] for e in ins)
        elif g.kind == "dropout":
            (e,) = ins
            state[i] = state[e.src].clone()
            state[i][state[i] == DATA] = UNKNOWN
        elif g.kind == "activation":
            (e,) = ins
            if not relu_like(g.activation):
                if g.site is not None:
                    reasons[g.site] = (f"{g.activation} is not ReLU-like (f = 0 on z ≤ 0, f ≥ 0): no sign "
                                       "certificate")
                continue
            dead = state[e.src] == NONPOS
            if data_only[e.src] and g.site is not None:
                dead |= dead_on_data[g.site].cpu()
            if not _single_chain(graph, into, e.src):
                dead[:] = False
                if g.site is not None:
                    reasons[g.site] = ("its pre-activation is also used elsewhere, so the parameters "
                                       "before it can move: no certificate")
            state[i][:] = NONNEG
            state[i][dead] = ZERO
    return Certificate([state[graph.site_group(k)] == ZERO for k in range(len(sites))], reasons)


def _sum_state(states: Sequence[torch.Tensor], scales: Sequence[float], const: torch.Tensor) -> torch.Tensor:
    """The state of Σ_k c_k x_k + const per unit: ZERO when every term is 0; NONPOS when every term is
    ≤ 0; NONNEG when every term is ≥ 0; else UNKNOWN."""
    zero = torch.stack([s == ZERO for s in states]).all(0) & (const == 0)
    le = torch.stack([(s == ZERO) | ((s == NONPOS) & (c > 0)) | ((s == NONNEG) & (c < 0))
                      for s, c in zip(states, scales)]).all(0) & (const <= 0)
    ge = torch.stack([(s == ZERO) | ((s == NONNEG) & (c > 0)) | ((s == NONPOS) & (c < 0))
                      for s, c in zip(states, scales)]).all(0) & (const >= 0)
    out = torch.full_like(states[0], UNKNOWN)
    out[ge] = NONNEG
    out[le] = NONPOS
    out[zero] = ZERO
    return out


def _single_chain(graph: UnitGraph, into: list[list[Edge]], g: int) -> bool:
    """Every group from an activation's input back to the affine maps and normalizations that make it
    has exactly one consumer (through sums), so their parameters reach the loss only through it."""
    todo, seen = [g], set()
    while todo:
        i = todo.pop()
        if i in seen:
            continue
        seen.add(i)
        grp = graph.groups[i]
        if grp.kind == "activation" or grp.kind == "input":
            continue  # a certified output (ZERO) or fixed data: nothing of this chain moves it
        if grp.consumers != 1:
            return False
        if grp.kind in ("sum", "dropout"):
            todo.extend(e.src for e in into[i])
    return True


# ---- the manifold dimension ---------------------------------------------------------------------------

def blocked(graph: UnitGraph, dead: Sequence[torch.Tensor]) -> list[np.ndarray]:
    """Per group and unit: the backward signal δ reaching the unit is 0 on every sample (so the
    unit's own parameters get zero gradient). An activation's input is blocked where the site is
    exactly dead (f'(z) = 0); a unit is blocked when every consumer blocks it: an activation where
    dead, a per-unit identity (BatchNorm, sum, dropout) where the consumer's unit is, a LayerNorm or
    GroupNorm (which mixes units backwards) only where all its units are; a weighted map never."""
    out: list[list[Edge]] = [[] for _ in graph.groups]
    for e in graph.edges:
        out[e.src].append(e)
    result = [np.zeros(g.units, dtype=bool) for g in graph.groups]
    for i in reversed(range(len(graph.groups))):
        if not out[i] or graph.groups[i].kind == "output":
            continue
        b = np.ones(graph.groups[i].units, dtype=bool)
        for e in out[i]:
            d = graph.groups[e.dst]
            if d.kind == "activation":
                b &= dead[d.site].cpu().numpy() if d.site is not None else False
            elif e.weight is not None or d.kind in ("output", "input"):
                b[:] = False
            elif d.kind == "norm" and isinstance(d.norm, (nn.LayerNorm, nn.GroupNorm)):
                b &= bool(result[e.dst].all())
            else:
                b &= result[e.dst]
        result[i] = b
    return result


def zero_output(graph: UnitGraph, dead: Sequence[torch.Tensor],
                silent: Sequence[torch.Tensor]) -> list[np.ndarray]:
    """Per group and unit: the unit is frozen at the value 0 — an activation whose site is exactly dead
    (z in the flat set on every sample, ``dead``) with output h = 0 on every sample (``silent``), or a
    dropout of such a unit (it zeros or rescales) — so the weights reading it get zero gradient."""
    out = [np.zeros(g.units, dtype=bool) for g in graph.groups]
    for i, g in enumerate(graph.groups):
        if g.kind == "activation" and g.site is not None:
            out[i] = (dead[g.site] & silent[g.site]).cpu().numpy().astype(bool)
        elif g.kind == "dropout":
            src = [e.src for e in graph.edges if e.dst == i and e.weight is None]
            out[i] = out[src[0]].copy() if len(src) == 1 else out[i]
    return out


def manifold(model: nn.Module, graph: UnitGraph, labels: Sequence[np.ndarray] | None,
             dead: Sequence[torch.Tensor], silent: Sequence[torch.Tensor]) -> metrics.Trapped:
    """``metrics.manifold_dimension`` of the model: frozen units where the backward signal is blocked
    (``blocked``), outgoing weights pinned where the source unit is frozen at 0 (``zero_output``; per
    site ``dead``: z in the flat set on every sample, ``silent``: h = 0 on every sample), clone blocks
    ``labels`` (None: every unit its own block)."""
    if not graph.supported:
        raise ProbeError(f"the manifold dimension needs the unit graph: {graph.reason}")
    frozen = blocked(graph, dead)
    zero = zero_output(graph, dead, silent)
    labels = labels if labels is not None else [np.arange(g.units) for g in graph.groups]
    spans, seen = [], set()

    def add(p: torch.Tensor | None, g: int, src: int | None = None, k: int = 1) -> None:
        if not isinstance(p, nn.Parameter) or not p.requires_grad:
            return
        if id(p) in seen:
            raise ProbeError("a parameter is used at two places of the graph (shared weights): the manifold "
                             "dimension is not computed")
        seen.add(id(p))
        cols, quiet = (None, None) if src is None else (labels[src], zero[src])
        spans.append(metrics.Span(labels[g], frozen[g], p.numel() // graph.groups[g].units, cols, k, quiet))

    for e in graph.edges:
        if e.weight is not None:
            k = e.positions if e.positions > 1 else int(np.prod(e.weight.shape[2:], dtype=np.int64))
            add(e.weight, e.dst, e.src, k)
    for i, g in enumerate(graph.groups):
        for p in g.params:
            add(p, i)
    total = sum(p.numel() for p in model.parameters() if p.requires_grad)
    return metrics.manifold_dimension(spans, total)



# ---- planting ground truth in any model (the controls of the --model checks) -------------------------

def _into(graph: UnitGraph, g: int) -> list[Edge]:
    return [e for e in graph.edges if e.dst == g]


def _out_of(graph: UnitGraph, g: int) -> list[Edge]:
    return [e for e in graph.edges if e.src == g]


def plant_site(graph: UnitGraph, site: int) -> tuple[int, int | None] | None:
    """(affine group, BatchNorm group or None) that alone make the site's z — each feeding only the
    next — when the last of them has a bias to lower; None when the site has no such maker."""
    if not graph.supported:
        return None
    (e,) = _into(graph, graph.site_group(site))
    norm = None
    g = graph.groups[e.src]
    if g.kind == "norm" and isinstance(g.norm, (nn.BatchNorm1d, nn.BatchNorm2d, nn.BatchNorm3d)):
        if g.consumers != 1 or g.norm.bias is None:
            return None
        norm = e.src
        (e,) = _into(graph, e.src)
        g = graph.groups[e.src]
    if g.kind != "affine" or g.consumers != 1 or (norm is None and not isinstance(g.bias, nn.Parameter)):
        return None
    return e.src, norm


@torch.no_grad()
def plant_near_dead(graph: UnitGraph, site: int, unit: int, z: torch.Tensor) -> bool:
    """Lower the bias that makes ``unit``'s z (``plant_site``) to between its two largest values on
    the data (``z``: that unit's values), so the unit is active on exactly one sample; False when it
    cannot (no maker, or no single largest value)."""
    top = z.double().topk(2).values if z.numel() >= 2 else None
    if top is None or not top[0] > top[1]:
        return False
    return _lower(graph, site, unit, float((top[0] + top[1]) / 2))


@torch.no_grad()
def plant_dead(graph: UnitGraph, site: int, unit: int, z: torch.Tensor, margin: float = 1.0) -> bool:
    """Lower the bias that makes ``unit``'s z by max z + margin: z ≤ −margin on every sample of the
    data (``z``: that unit's values). False when the site has no maker."""
    return _lower(graph, site, unit, float(z.double().max()) + margin)


def _lower(graph: UnitGraph, site: int, unit: int, by: float) -> bool:
    maker = plant_site(graph, site)
    if maker is None:
        return False
    affine, norm = maker
    bias = graph.groups[norm].norm.bias if norm is not None else graph.groups[affine].bias
    bias[unit] -= by
    return True


def _reader(graph: UnitGraph, site: int) -> Edge | None:
    """The one weighted edge that reads the site's units (through one dropout at most)."""
    outs = _out_of(graph, graph.site_group(site))
    if len(outs) == 1 and graph.groups[outs[0].dst].kind == "dropout":
        outs = _out_of(graph, outs[0].dst)
    if len(outs) != 1 or outs[0].weight is None or outs[0].conv_groups != 1:
        return None
    return outs[0]


def can_clone(graph: UnitGraph, site: int) -> bool:
    maker = plant_site(graph, site)
    return maker is not None and _reader(graph, site) is not None and \
        next(e for e in _into(graph, maker[0])).conv_groups == 1


@torch.no_grad()
def plant_clone(graph: UnitGraph, site: int, a: int, b: int) -> None:
    """Make unit b of the site an exact clone of unit a: b's incoming weights, bias and BatchNorm
    parameters and statistics become a's, and the one map that reads the site gets the mean of its
    columns a and b in both (every position of a flattened channel, every kernel offset)."""
    if not can_clone(graph, site):
        raise ProbeError(f"site {site} has no single maker and reader: no clone can be planted there")
    affine, norm = plant_site(graph, site)
    (w_in,) = _into(graph, affine)
    w_in.weight[b] = w_in.weight[a]
    if graph.groups[affine].bias is not None:
        graph.groups[affine].bias[b] = graph.groups[affine].bias[a]
    if norm is not None:
        m = graph.groups[norm].norm
        for t in (m.weight, m.bias, m.running_mean, m.running_var):
            if t is not None:
                t[b] = t[a]
    e = _reader(graph, site)
    w = e.weight.view(e.weight.shape[0], -1, e.positions) if e.positions > 1 else e.weight
    mean = (w[:, a] + w[:, b]) / 2
    w[:, a] = mean
    w[:, b] = mean
