"""A feed-forward network as a DAG of units (paper App. A.2), and its symbolic calculus.

G = (V, E) is a ``networkx.DiGraph``. Input nodes carry x_v; the constant node ``"1"`` carries 1,
so a bias is an ordinary edge; every other node computes

    z(v) = Σ_{u ∈ in(v)} w(u, v) h(u),     h(v) = f_v(z(v)).

Backward signals (the paper's δ): δ(v) = ∂ℓ/∂h(v) at an output, otherwise
δ(v) = Σ_{u ∈ out(v)} δ(u) w(v, u) f'_u(z(u)); and ∂ℓ/∂w(u, v) = δ(v) f'_v(z(v)) h(u).

Node attributes: ``kind`` ∈ {input, bias, hidden, output}, ``layer`` (longest path from an
input), ``activation`` (a registry name, or ``"generic"`` for an undefined SymPy function f_v of
its own, or ``"generic:NAME"`` for a function NAME shared by every unit that names it).

A layered network also has a plain-array form, ``Layered`` (per-layer weights and biases, the
activation, the normalization and its per-unit parameters), with ``to_dag``/``from_dag``; torch
modules convert to and from it in ``numerics.models``.
"""

from __future__ import annotations

import numbers
import random
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import networkx as nx
import numpy as np
import sympy as sp

from theory import activations

BIAS = "1"
LOSSES = ("generic", "mse", "cross_entropy")

Phi = Callable[[str, sp.Expr], sp.Expr]


# ---- builders ---------------------------------------------------------------------------------

def _check_activation(name: str) -> None:
    if name != "generic" and not name.startswith("generic:"):
        activations.get(name)  # raises with the accepted names


def mlp(spec: str, activation: str = "relu", output_activation: str = "identity",
        bias: bool = True) -> nx.DiGraph:
    """A layered MLP from a string of layer widths such as ``"3-4-4-1"``.

    Inputs are ``x0, x1, ...``, hidden units ``h{layer}.{index}`` (layer 1 first), outputs
    ``y0, ...``. ``activation`` is the hidden units' activation.
    """
    if not re.fullmatch(r"[1-9]\d*(-[1-9]\d*)+", spec or ""):
        raise ValueError(f"architecture {spec!r} is not of the form 'IN-H1-...-OUT' with positive "
                         "widths, e.g. '3-4-4-1'")
    _check_activation(activation)
    _check_activation(output_activation)
    widths = [int(w) for w in spec.split("-")]
    G = nx.DiGraph(spec=spec)
    layers: list[list[str]] = []
    for depth, width in enumerate(widths):
        if depth == 0:
            names = [f"x{i}" for i in range(width)]
            kind, act = "input", None
        elif depth == len(widths) - 1:
            names = [f"y{i}" for i in range(width)]
            kind, act = "output", output_activation
        else:
            names = [f"h{depth}.{i}" for i in range(width)]
            kind, act = "hidden", activation
        for n in names:
            G.add_node(n, kind=kind, layer=depth, activation=act)
        layers.append(names)
    for prev, nxt in zip(layers[:-1], layers[1:]):
        G.add_edges_from((u, v) for u in prev for v in nxt)
    if bias:
        _add_bias(G)
    return G


def random_dag(n_inputs: int, n_hidden: int, n_outputs: int, p: float = 0.5, seed: int = 0,
               activation: str = "relu", output_activation: str = "identity",
               bias: bool = True) -> nx.DiGraph:
    """A random DAG: hidden units in a random topological order, each fed by every earlier
    input/hidden unit with probability p (at least one), each output fed by the hidden units with
    probability p (at least one), every hidden unit feeding something; skip connections appear
    naturally."""
    counts = {"n_inputs": n_inputs, "n_hidden": n_hidden, "n_outputs": n_outputs}
    bad = next((k for k, v in counts.items()
                if isinstance(v, bool) or not isinstance(v, numbers.Integral)), None)
    if bad:
        raise TypeError(f"{bad} must be an integer (got {counts[bad]!r})")
    if min(n_inputs, n_outputs) < 1 or n_hidden < 0 or not 0 < p <= 1:
        raise ValueError("random_dag needs n_inputs >= 1, n_outputs >= 1, n_hidden >= 0, 0 < p <= 1 "
                         f"(got {n_inputs}, {n_outputs}, {n_hidden}, p={p})")
    _check_activation(activation)
    _check_activation(output_activation)
    rng = random.Random(seed)
    G = nx.DiGraph(spec=f"dag({n_inputs},{n_hidden},{n_outputs},p={p},seed={seed})")
    earlier = [f"x{i}" for i in range(n_inputs)]
    for x in earlier:
        G.add_node(x, kind="input", activation=None)
    for j in range(n_hidden):
        v = f"h{j}"
        G.add_node(v, kind="hidden", activation=activation)
        sources = [u for u in earlier if rng.random() < p] or [rng.choice(earlier)]
        G.add_edges_from((u, v) for u in sources)
        earlier.append(v)
    feeders = [u for u in earlier if G.nodes[u]["kind"] == "hidden"] or earlier
    for k in range(n_outputs):
        y = f"y{k}"
        G.add_node(y, kind="output", activation=output_activation)
        sources = [u for u in feeders if rng.random() < p] or [rng.choice(feeders)]
        G.add_edges_from((u, y) for u in sources)
    ys = [f"y{k}" for k in range(n_outputs)]
    for u in feeders:  # every hidden unit reaches an output, so none is trivially irrelevant
        if G.nodes[u]["kind"] == "hidden" and G.out_degree(u) == 0:
            G.add_edge(u, rng.choice(ys))
    for v in nx.topological_sort(G):
        preds = list(G.predecessors(v))
        G.nodes[v]["layer"] = 1 + max(G.nodes[u]["layer"] for u in preds) if preds else 0
    if bias:
        _add_bias(G)
    return G


def _add_bias(G: nx.DiGraph) -> None:
    G.add_node(BIAS, kind="bias", layer=0, activation=None)
    G.add_edges_from((BIAS, v) for v in G if G.nodes[v]["kind"] in ("hidden", "output"))


# ---- accessors --------------------------------------------------------------------------------

def inputs(G: nx.DiGraph) -> list[str]:
    return [v for v in G if G.nodes[v]["kind"] == "input"]


def outputs(G: nx.DiGraph) -> list[str]:
    return [v for v in G if G.nodes[v]["kind"] == "output"]


def units(G: nx.DiGraph) -> list[str]:
    """Computing nodes (hidden and output) in topological order."""
    return [v for v in nx.topological_sort(G) if G.nodes[v]["kind"] in ("hidden", "output")]


def incoming(G: nx.DiGraph, v: str) -> list[tuple[str, str]]:
    """θ_v: the edges into v (its weights and, if present, its bias edge)."""
    return sorted(G.in_edges(v))


def weight_symbols(G: nx.DiGraph) -> dict[tuple[str, str], sp.Symbol]:
    return {e: sp.Symbol(f"w[{e[0]}→{e[1]}]", real=True) for e in sorted(G.edges)}


def input_symbols(G: nx.DiGraph, n_samples: int) -> list[dict[str, sp.Symbol]]:
    return [{x: sp.Symbol(f"{x}^({i})", real=True) for x in inputs(G)} for i in range(n_samples)]


_GENERIC: dict[tuple[str, int, tuple[int, ...]], sp.FunctionClass] = {}


def generic_function(name: str, nargs: int = 1, partials: tuple[int, ...] = ()) -> sp.FunctionClass:
    """An undefined real function of ``nargs`` arguments whose partial derivatives, of every order,
    are undefined functions too: f ↦ f' ↦ f'' (one argument), ℓ ↦ ∂0ℓ, ∂1ℓ ↦ ∂0∂1ℓ, … (``partials``:
    the arguments differentiated so far, sorted, so mixed partials taken in either order are one
    function). So the chain rule reads f'(z) rather than SymPy's Subs(Derivative(f(ξ), ξ), ξ, z),
    which SymPy would build (and print, to name ξ) at every step of a differentiation: several times
    faster, and shorter; second derivatives (Hessians, ``theory.curvature``) read f''(z) and ∂0∂1ℓ.
    One class per (name, partials)."""
    key = (name, nargs, partials)
    if key not in _GENERIC:

        def fdiff(self, argindex=1):
            return generic_function(name, nargs, tuple(sorted((*partials, argindex - 1))))(*self.args)

        label = name + "'" * len(partials) if nargs == 1 else "".join(f"∂{k}" for k in partials) + name
        _GENERIC[key] = type(label, (sp.Function,), {"fdiff": fdiff, "nargs": nargs, "is_real": True})
    return _GENERIC[key]


def generic_name(G: nx.DiGraph, v: str) -> str | None:
    """The name of v's generic function (NAME for ``generic:NAME``, f_v for ``generic``), or None
    when v has a concrete activation of the registry."""
    name = G.nodes[v]["activation"]
    if name == "generic":
        return f"f_{v}"
    return name.split(":", 1)[1] if name.startswith("generic:") else None


def phi_of(G: nx.DiGraph) -> Phi:
    """The activation of each node as a map (node, z) -> f_v(z): the registry's expression, or the
    node's ``generic_function``."""

    def phi(v: str, arg: sp.Expr) -> sp.Expr:
        name = generic_name(G, v)
        return generic_function(name)(arg) if name else activations.get(G.nodes[v]["activation"])(arg)

    return phi


def dphi_of(G: nx.DiGraph) -> Phi:
    """f'_v(z) for each node: the registry's derivative, or f_v'(z), the very atom that
    differentiating the generic f_v(z) produces."""

    def dphi(v: str, arg: sp.Expr) -> sp.Expr:
        name = generic_name(G, v)
        return generic_function(name)(arg).fdiff() if name else \
            activations.get(G.nodes[v]["activation"]).prime(arg)

    return dphi


# ---- symbolic forward / backward --------------------------------------------------------------

def forward(G: nx.DiGraph, x: Mapping[str, sp.Expr], w: Mapping[tuple[str, str], sp.Expr],
            phi: Phi | None = None) -> tuple[dict[str, sp.Expr], dict[str, sp.Expr]]:
    """Pre-activations z and activations h of every node for one input x."""
    phi = phi or phi_of(G)
    h: dict[str, sp.Expr] = {BIAS: sp.Integer(1)} if BIAS in G else {}
    h.update({v: sp.sympify(x[v]) for v in inputs(G)})
    z: dict[str, sp.Expr] = {}
    for v in units(G):
        z[v] = sp.Add(*[w[(u, v)] * h[u] for u in G.predecessors(v)])
        h[v] = phi(v, z[v])
    return z, h


def loss_of(G: nx.DiGraph, yhat: Sequence[sp.Expr], y: Sequence[sp.Expr], loss: str = "generic"
            ) -> sp.Expr:
    """ℓ(ŷ, y) for one sample: the generic function ``ell`` of (ŷ, y) (``generic_function``),
    1/2‖ŷ − y‖² (mse) or −Σ y_k log softmax(ŷ)_k (cross_entropy)."""
    if loss == "generic":
        return generic_function("ell", 2 * len(yhat))(*yhat, *y)
    if loss == "mse":
        return sp.Add(*[(a - b) ** 2 for a, b in zip(yhat, y)]) / 2
    if loss == "cross_entropy":
        lse = sp.log(sp.Add(*[sp.exp(a) for a in yhat]))
        return -sp.Add(*[b * (a - lse) for a, b in zip(yhat, y)])
    raise ValueError(f"unknown loss {loss!r} (accepted: {', '.join(LOSSES)})")


def backward(G: nx.DiGraph, z: Mapping[str, sp.Expr], h: Mapping[str, sp.Expr],
             w: Mapping[tuple[str, str], sp.Expr], dl_dh: Mapping[str, sp.Expr],
             dphi: Phi | None = None) -> tuple[dict[str, sp.Expr], dict[tuple[str, str], sp.Expr]]:
    """The paper's recursion: δ for every computing node and ∂ℓ/∂w for every edge, given
    ∂ℓ/∂h at the outputs."""
    dphi = dphi or dphi_of(G)
    delta: dict[str, sp.Expr] = {}
    for v in reversed(units(G)):
        if G.nodes[v]["kind"] == "output":
            delta[v] = dl_dh[v]
        else:
            delta[v] = sp.Add(*[delta[u] * w[(v, u)] * dphi(u, z[u]) for u in G.successors(v)])
    grad = {(u, v): delta[v] * dphi(v, z[v]) * h[u] for (u, v) in G.edges}
    return delta, grad


def dataset_loss(G: nx.DiGraph, X: Sequence[Mapping[str, sp.Expr]], Y: Sequence[Sequence[sp.Expr]],
                 w: Mapping[tuple[str, str], sp.Expr], loss: str = "generic",
                 phi: Phi | None = None) -> tuple[sp.Expr, list[dict[str, sp.Expr]]]:
    """L = Σ_i ℓ(ŷ(x_i), y_i) and the per-sample pre-activations z(x_i)."""
    phi = phi or phi_of(G)
    total, zs = sp.Integer(0), []
    for x, y in zip(X, Y):
        z, h = forward(G, x, w, phi)
        total += loss_of(G, [h[o] for o in outputs(G)], y, loss)
        zs.append(z)
    return total, zs


def target_symbols(G: nx.DiGraph, n_samples: int) -> list[list[sp.Symbol]]:
    return [[sp.Symbol(f"t{k}^({i})", real=True) for k in range(len(outputs(G)))]
            for i in range(n_samples)]


# ---- layered networks --------------------------------------------------------------------------

def layer_nodes(widths: Sequence[int], layer: int) -> list[str]:
    """The DAG names of layer ``layer``'s units in a layered network of these widths (as ``mlp``
    names them): x0, … for the inputs, h{layer}.0, … for hidden layers, y0, … for the outputs."""
    n, last = widths[layer], len(widths) - 1
    prefix = "x" if layer == 0 else "y" if layer == last else f"h{layer}."
    return [f"{prefix}{i}" for i in range(n)]


@dataclass
class Layered:
    """A layered feed-forward network as plain float64 arrays, the one form shared by the numeric code
    (``numerics.models`` converts torch modules to and from it) and the DAG calculus (``to_dag``).

    Layers 0..L have widths n_0..n_L (0: inputs, L: outputs). ``weights[l-1]`` is W_l of shape
    (n_l, n_{l-1}) in torch's (out, in) layout, so W_l[v, u] is the weight of u → v; ``biases[l-1]``
    is b_l (zeros for a network without biases). ``features`` (None without normalization) holds per
    hidden layer the per-unit parameters outside the linear maps, units × f (LayerNorm γ, β;
    BatchNorm γ, β, running mean and variance): what clones must share besides their weights.
    Construction checks shapes, chaining and finiteness (one-line ValueError naming the array)."""

    weights: list[np.ndarray]
    biases: list[np.ndarray] | None = None
    activation: str = "relu"
    norm: str | None = None
    features: list[np.ndarray] | None = None

    def __post_init__(self) -> None:
        if len(self.weights) == 0:
            raise ValueError("weights is empty; give one (out, in) matrix per layer")
        Ws = [np.asarray(W, dtype=np.float64) for W in self.weights]
        for layer, W in enumerate(Ws, 1):
            if W.ndim != 2 or 0 in W.shape:
                raise ValueError(f"W_{layer} has shape {W.shape}; weight matrices must be 2-D (out, in), "
                                 "non-empty")
            if layer > 1 and W.shape[1] != Ws[layer - 2].shape[0]:
                raise ValueError(f"W_{layer} has {W.shape[1]} inputs but W_{layer - 1} has "
                                 f"{Ws[layer - 2].shape[0]} outputs")
            if not np.isfinite(W).all():
                raise ValueError(f"W_{layer} contains NaN or inf")
        if self.biases is None:
            bs = [np.zeros(W.shape[0]) for W in Ws]
        else:
            if len(self.biases) != len(Ws):
                raise ValueError(f"{len(self.biases)} bias vectors for {len(Ws)} weight matrices")
            bs = [np.asarray(b, dtype=np.float64) for b in self.biases]
            for layer, (W, b) in enumerate(zip(Ws, bs), 1):
                if b.shape != (W.shape[0],):
                    raise ValueError(f"b_{layer} has shape {b.shape}, expected ({W.shape[0]},) to match "
                                     f"W_{layer}")
                if not np.isfinite(b).all():
                    raise ValueError(f"b_{layer} contains NaN or inf")
        self.weights, self.biases = Ws, bs
        _check_activation(self.activation)
        if self.features is not None:
            self.features = hidden_arrays(self.features, self.widths, "features", 2)

    @property
    def widths(self) -> list[int]:
        return [self.weights[0].shape[1]] + [W.shape[0] for W in self.weights]

    @property
    def depth(self) -> int:
        """L, the number of weight layers."""
        return len(self.weights)

    def nodes(self, layer: int) -> list[str]:
        return layer_nodes(self.widths, layer)

    def to_dag(self) -> tuple[nx.DiGraph, dict[tuple[str, str], float]]:
        """The network as a DAG of units (``mlp`` of its widths, biases as edges from "1") and its
        weights by edge. Normalization has no DAG form: refused."""
        if self.norm is not None:
            raise ValueError(f"a network with {self.norm} normalization has no DAG form")
        G = mlp("-".join(map(str, self.widths)), activation=self.activation)
        w: dict[tuple[str, str], float] = {}
        for layer, (W, b) in enumerate(zip(self.weights, self.biases), 1):
            src, dst = self.nodes(layer - 1), self.nodes(layer)
            w.update({(u, v): float(W[j, i]) for j, v in enumerate(dst) for i, u in enumerate(src)})
            w.update({(BIAS, v): float(b[j]) for j, v in enumerate(dst)})
        return G, w

    @classmethod
    def from_dag(cls, G: nx.DiGraph, weights: Mapping[tuple[str, str], Any], activation: str = "relu"
                 ) -> Layered:
        """The inverse of ``to_dag`` for a layered DAG (every edge joins consecutive layers; a missing
        edge has weight 0). Nodes are ordered within a layer by their names' unit index."""
        depth = max(G.nodes[v]["layer"] for v in G)
        layers = [sorted((v for v in G if G.nodes[v]["layer"] == k and G.nodes[v]["kind"] != "bias"),
                         key=_unit_index) for k in range(depth + 1)]
        index = [{v: i for i, v in enumerate(nodes)} for nodes in layers]
        Ws = [np.zeros((len(layers[k]), len(layers[k - 1]))) for k in range(1, depth + 1)]
        bs = [np.zeros(len(layers[k])) for k in range(1, depth + 1)]
        for (u, v), value in weights.items():
            k = G.nodes[v]["layer"]
            if u == BIAS:
                bs[k - 1][index[k][v]] = float(value)
            elif G.nodes[u]["layer"] != k - 1:
                raise ValueError(f"edge {u}→{v} skips a layer: the DAG is not layered")
            else:
                Ws[k - 1][index[k][v], index[k - 1][u]] = float(value)
        return cls(Ws, bs, activation)


def _unit_index(name: str) -> tuple[int, str]:
    tail = name.rsplit(".", 1)[-1].lstrip("xyh")
    return (int(tail), name) if tail.isdigit() else (0, name)


def hidden_arrays(arrays: Sequence[Any] | None, widths: Sequence[int], name: str, ndim: int,
                  unit_axis: int = 0) -> list[np.ndarray] | None:
    """Per-hidden-layer arrays with the units along ``unit_axis``, checked against the widths (finite
    where float); None when not given."""
    hidden = list(widths[1:-1])
    if arrays is None:
        return None
    if len(arrays) != len(hidden):
        raise ValueError(f"{name} has {len(arrays)} entries for {len(hidden)} hidden layers")
    out = []
    for layer, (a, n) in enumerate(zip(arrays, hidden), 1):
        a = np.asarray(a)
        if a.ndim != ndim or a.shape[unit_axis] != n:
            raise ValueError(f"{name}[{layer - 1}] has shape {a.shape}, which does not match hidden layer "
                             f"{layer} of width {n}")
        if a.dtype.kind == "f" and not np.isfinite(a).all():
            raise ValueError(f"{name}[{layer - 1}] contains NaN or inf")
        out.append(a)
    return out
