"""Torch models whose hidden units the checks can see.

``MLP`` is a stack of (Linear → optional BatchNorm/LayerNorm → activation → optional dropout)
blocks and a linear read-out. ``trace`` returns, per hidden layer, the pre-activation z (the
activation's input, after normalization) and the activation h, one tensor per layer: every
per-unit quantity is computed from these with whole-layer tensor operations. ``CNN`` does the same
for a small convolutional network (a conv layer's units are its channels).

An MLP converts to and from the plain-array form ``theory.net.Layered`` (``to_layered``,
``from_layered``); ``seeded`` builds one with torch's default initialisation from a seed without
touching the global random stream; ``dag_gradient`` evaluates any DAG of units (``theory.net``) in
torch, an implementation independent of the symbolic one.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import networkx as nx
import numpy as np
import torch
from torch import nn

from theory import activations, net
from theory.net import Layered

NORMS = (None, "batch", "layer")


class Act(nn.Module):
    """The registry activation ``name`` as a module (``theory.activations``): probes on any model
    (``numerics.probes``) recognise it by name, whatever torch function implements it."""

    def __init__(self, name: str):
        super().__init__()
        self.name, self.fn = name, activations.get(name).torch_fn

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.fn(z)

    def extra_repr(self) -> str:
        return self.name


@dataclass
class Trace:
    z: list[torch.Tensor]  # per hidden layer: (samples, units), the activation's input
    h: list[torch.Tensor]  # per hidden layer: (samples, units), the activation's output
    out: torch.Tensor


class MLP(nn.Module):
    def __init__(self, widths: list[int], activation: str = "relu", norm: str | None = None,
                 dropout: float = 0.0, bias: bool = True):
        super().__init__()
        if len(widths) < 3 or min(widths) < 1:
            raise ValueError(f"widths {widths} must be [in, hidden..., out] with positive entries")
        if norm not in NORMS:
            raise ValueError(f"unknown norm {norm!r} (accepted: none, batch, layer)")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout {dropout} must be in [0, 1)")
        self.widths, self.activation, self.norm, self.dropout_p = list(widths), activation, norm, dropout
        self.act = Act(activation)
        self.linears = nn.ModuleList(nn.Linear(a, b, bias=bias) for a, b in zip(widths[:-1], widths[1:]))
        norm_layer = {"batch": nn.BatchNorm1d, "layer": nn.LayerNorm}.get(norm)
        self.norms = nn.ModuleList(norm_layer(w) for w in widths[1:-1]) if norm_layer else None
        self.drop = nn.Dropout(dropout) if dropout > 0 else None

    @property
    def hidden(self) -> list[nn.Linear]:
        """The Linear layers that feed hidden units (all but the read-out)."""
        return list(self.linears[:-1])

    def trace(self, x: torch.Tensor) -> Trace:
        zs, hs = [], []
        for i, lin in enumerate(self.hidden):
            z = lin(x)
            if self.norms is not None:
                z = self.norms[i](z)
            h = self.act(z)
            zs.append(z)
            hs.append(h)
            x = self.drop(h) if self.drop is not None else h
        return Trace(zs, hs, self.linears[-1](x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.trace(x).out

    def describe(self) -> str:
        parts = ["-".join(map(str, self.widths)), self.activation]
        if self.norm:
            parts.append(f"{self.norm}norm")
        if self.dropout_p:
            parts.append(f"dropout={self.dropout_p}")
        return " ".join(parts)


class CNN(nn.Module):
    """A small convolutional network whose hidden units the checks can see.

    Per conv layer: Conv2d 3×3, stride 2, padding 1 → optional norm → activation → optional
    dropout; then flatten (features in (channel, row, column) order, feature = c·H·W + p) into a
    stack of (Linear → optional norm → activation → optional dropout) blocks and a linear read-out.
    Norms: ``"batch"`` is BatchNorm2d / BatchNorm1d; ``"layer"`` is GroupNorm(1, C) on conv layers
    (statistics over channels × positions of one sample, per-channel γ, β) and LayerNorm on linear
    ones.

    A conv layer's units are its channels: ``trace`` returns its z and h as (samples·positions,
    channels) tensors — each position of each image is one "sample" of the unit — and the forward
    pass runs through exactly these tensors, so gradients taken w.r.t. them are the network's.
    """

    def __init__(self, image: tuple[int, int, int], channels: list[int], hidden: list[int], classes: int,
                 activation: str = "relu", norm: str | None = None, dropout: float = 0.0, bias: bool = True):
        super().__init__()
        if len(image) != 3 or min(image) < 1 or not channels or min([*channels, *hidden, classes]) < 1:
            raise ValueError(f"CNN needs image (C, H, W) and at least one conv layer with positive sizes "
                             f"(got image={image}, channels={channels}, hidden={hidden}, classes={classes})")
        if norm not in NORMS:
            raise ValueError(f"unknown norm {norm!r} (accepted: none, batch, layer)")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout {dropout} must be in [0, 1)")
        self.image, self.channels, self.hidden_sizes, self.classes = tuple(image), list(channels), \
            list(hidden), classes
        self.activation, self.norm, self.dropout_p = activation, norm, dropout
        self.act = Act(activation)
        c_in, rows, cols = image
        convs = []
        for c in channels:
            convs.append(nn.Conv2d(c_in, c, 3, stride=2, padding=1, bias=bias))
            c_in, rows, cols = c, (rows - 1) // 2 + 1, (cols - 1) // 2 + 1
        self.convs = nn.ModuleList(convs)
        self.positions = rows * cols  # per channel, after the last conv
        widths = [channels[-1] * self.positions, *hidden, classes]
        self.linears = nn.ModuleList(nn.Linear(a, b, bias=bias) for a, b in zip(widths[:-1], widths[1:]))
        if norm == "batch":
            norms = [nn.BatchNorm2d(c) for c in channels] + [nn.BatchNorm1d(w) for w in hidden]
        elif norm == "layer":
            norms = [nn.GroupNorm(1, c) for c in channels] + [nn.LayerNorm(w) for w in hidden]
        self.norms = nn.ModuleList(norms) if norm else None
        self.drop = nn.Dropout(dropout) if dropout > 0 else None

    @property
    def hidden(self) -> list[nn.Module]:
        """The layers that feed hidden units: every conv layer, then every Linear but the read-out."""
        return [*self.convs, *self.linears[:-1]]

    def trace(self, x: torch.Tensor) -> Trace:
        zs, hs = [], []
        for i, layer in enumerate(self.hidden):
            if i == len(self.convs):
                x = x.flatten(1)
            z = layer(x)
            if self.norms is not None:
                z = self.norms[i](z)
            if z.dim() == 4:  # (N, C, H, W) → (N·H·W, C): one row per (image, position)
                n, c, rows, cols = z.shape
                z = z.permute(0, 2, 3, 1).reshape(-1, c)
            h = self.act(z)
            zs.append(z)
            hs.append(h)
            x = h.reshape(n, rows, cols, c).permute(0, 3, 1, 2) if i < len(self.convs) else h
            if self.drop is not None:
                x = self.drop(x)
        if len(self.hidden) == len(self.convs):
            x = x.flatten(1)
        return Trace(zs, hs, self.linears[-1](x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """The same function as ``trace(x).out`` in the natural (N, C, H, W) layout, so torch.fx can
        trace it (``trace`` reshapes by the run-time shape of z)."""
        for i, layer in enumerate(self.hidden):
            if i == len(self.convs):
                x = x.flatten(1)
            z = layer(x)
            if self.norms is not None:
                z = self.norms[i](z)
            x = self.act(z)
            if self.drop is not None:
                x = self.drop(x)
        if len(self.hidden) == len(self.convs):
            x = x.flatten(1)
        return self.linears[-1](x)

    def describe(self) -> str:
        parts = ["x".join(map(str, self.image)), "conv " + "-".join(map(str, self.channels)),
                 "fc " + "-".join(map(str, [*self.hidden_sizes, self.classes])), self.activation]
        if self.norm:
            parts.append(f"{self.norm}norm")
        if self.dropout_p:
            parts.append(f"dropout={self.dropout_p}")
        return " ".join(parts)


# ---- converters --------------------------------------------------------------------------------

def seeded(widths: Sequence[int], activation: str = "relu", seed: int = 0, norm: str | None = None,
           dtype: torch.dtype = torch.float64, bias: bool = True) -> MLP:
    """An MLP with torch's default initialisation drawn from ``seed``; the global random stream is
    left as it was."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return MLP(list(widths), activation, norm, bias=bias).to(dtype)


def to_layered(model: MLP) -> Layered:
    """The MLP's weights, biases and normalization parameters as float64 arrays: per hidden layer,
    LayerNorm (γ, β), BatchNorm (γ, β, running mean, running variance) as ``features``. A model
    without biases gets zero biases."""
    weights = [lin.weight.detach().double().cpu().numpy() for lin in model.linears]
    biases = [lin.bias.detach().double().cpu().numpy() if lin.bias is not None else np.zeros(w.shape[0])
              for lin, w in zip(model.linears, weights)]
    features = None
    if model.norms is not None:
        features = []
        for norm in model.norms:
            cols = [norm.weight, norm.bias] + ([norm.running_mean, norm.running_var]
                                               if isinstance(norm, nn.BatchNorm1d) else [])
            features.append(np.column_stack([c.detach().double().cpu().numpy() for c in cols
                                             if c is not None]))
    return Layered(weights, biases, model.activation, model.norm, features)


def from_layered(network: Layered) -> MLP:
    """A float64 MLP with the network's weights and biases (no normalization)."""
    if network.norm is not None:
        raise ValueError(f"from_layered builds MLPs without normalization (got {network.norm})")
    model = MLP(network.widths, activation=network.activation).double()
    with torch.no_grad():
        for lin, W, b in zip(model.linears, network.weights, network.biases):
            lin.weight.copy_(torch.from_numpy(W))
            lin.bias.copy_(torch.from_numpy(b))
    return model


def hidden_activations(model: MLP | CNN, X: torch.Tensor) -> list[np.ndarray]:
    """Per hidden layer the activation matrix h (samples × units), float64, with the model in eval
    mode (dropout off, BatchNorm running statistics); the model's mode is restored."""
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            return [h.double().cpu().numpy() for h in model.trace(X).h]
    finally:
        model.train(was)


def dag_gradient(G: nx.DiGraph, weights: Mapping[tuple[str, str], float], X: np.ndarray, Y: np.ndarray,
                 activation: Mapping[str, str] | None = None) -> dict[tuple[str, str], float]:
    """∇L of L = ½ Σ_i ‖ŷ(x_i) − y_i‖² for a DAG of units (``theory.net``), by torch autograd in
    float64: z(v) = Σ_u w(u, v) h(u) in topological order, h(v) = f_v(z(v)) with f_v the registry's
    torch function (``activation`` overrides the nodes' own), all samples at once. X: (samples,
    inputs) in ``net.inputs`` order; Y: (samples, outputs)."""
    edges = sorted(G.edges)
    w = {e: torch.tensor(float(weights[e]), dtype=torch.float64, requires_grad=True) for e in edges}
    x = torch.as_tensor(np.asarray(X, dtype=np.float64))
    h = {v: x[:, k] for k, v in enumerate(net.inputs(G))}
    if net.BIAS in G:
        h[net.BIAS] = torch.ones(len(x), dtype=torch.float64)
    for v in net.units(G):
        z = sum(w[(u, v)] * h[u] for u in G.predecessors(v))
        name = activation[v] if activation is not None else G.nodes[v]["activation"]
        h[v] = activations.get(name).torch_fn(z)
    yhat = torch.stack([h[o] for o in net.outputs(G)], dim=1)
    loss = 0.5 * ((yhat - torch.as_tensor(np.asarray(Y, dtype=np.float64))) ** 2).sum()
    grads = torch.autograd.grad(loss, [w[e] for e in edges])
    return {e: float(g) for e, g in zip(edges, grads)}
