"""A feed-forward network as a DAG of units (paper App. A.2), and its symbolic calculus.

G = (V, E) is a ``networkx.DiGraph``. Input nodes carry x_v; the constant node ``"1"`` carries 1,
so a bias is an ordinary edge; every other node computes

    z(v) = Σ_{u ∈ in(v)} w(u, v) h(u),     h(v) = f_v(z(v)).

Backward signals (the paper's δ): δ(v) = ∂ℓ/∂h(v) at an output, otherwise
δ(v) = Σ_{u ∈ out(v)} δ(u) w(v, u) f'_u(z(u)); and ∂ℓ/∂w(u, v) = δ(v) f'_v(z(v)) h(u).

Node attributes: ``kind`` ∈ {input, bias, hidden, output}, ``layer`` (longest path from an
input), ``activation`` (a registry name, or ``"generic"`` for an undefined SymPy function f_v of
its own, or ``"generic:NAME"`` for a function NAME shared by every unit that names it).
"""

from __future__ import annotations

import random
import re
from collections.abc import Callable, Mapping, Sequence

import networkx as nx
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
    if min(n_inputs, n_outputs) < 1 or n_hidden < 0 or not 0 < p <= 1:
        raise ValueError("random_dag needs n_inputs >= 1, n_outputs >= 1, n_hidden >= 0, 0 < p <= 1")
    _check_activation(activation)
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


def phi_of(G: nx.DiGraph) -> Phi:
    """The activation of each node as a map (node, z) -> f_v(z)."""
    generic: dict[str, sp.FunctionClass] = {}

    def phi(v: str, arg: sp.Expr) -> sp.Expr:
        name = G.nodes[v]["activation"]
        if name == "generic" or name.startswith("generic:"):
            fname = name.split(":", 1)[1] if ":" in name else f"f_{v}"
            if fname not in generic:
                generic[fname] = sp.Function(fname, real=True)
            return generic[fname](arg)
        return activations.get(name)(arg)

    return phi


def dphi_of(G: nx.DiGraph) -> Phi:
    """f'_v(z) for each node; for a generic f it is the unevaluated derivative of f at z."""
    phi = phi_of(G)
    t = sp.Dummy("t", real=True)

    def dphi(v: str, arg: sp.Expr) -> sp.Expr:
        name = G.nodes[v]["activation"]
        if name == "generic" or name.startswith("generic:"):
            return sp.Subs(sp.diff(phi(v, t), t), t, arg)
        return activations.get(name).prime(arg)

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
    """ℓ(ŷ, y) for one sample: an undefined function ``ell`` (generic), 1/2‖ŷ − y‖² (mse) or
    −Σ y_k log softmax(ŷ)_k (cross_entropy)."""
    if loss == "generic":
        return sp.Function("ell", real=True)(*yhat, *y)
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
