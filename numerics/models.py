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


def _describe(parts: list[str], norm: str | None, dropout: float) -> str:
    """A model's one-line description: its parts, then its normalization and dropout if any."""
    options = ([f"{norm}norm"] if norm else []) + ([f"dropout={dropout}"] if dropout else [])
    return " ".join([*parts, *options])


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
        return _describe(parts, self.norm, self.dropout_p)


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
        return self._run(x, True)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``trace(x).out`` computed in the natural (N, C, H, W) layout, so torch.fx can trace it
        (``trace`` reshapes by the run-time shape of z)."""
        return self._run(x, False).out

    def _run(self, x: torch.Tensor, rows: bool) -> Trace:
        """The forward pass; with ``rows`` every conv z and h is (N·H·W, C), one row per (image,
        position), and the pass runs through exactly these tensors."""
        zs, hs = [], []
        for i, layer in enumerate(self.hidden):
            if i == len(self.convs):
                x = x.flatten(1)
            z = layer(x)
            if self.norms is not None:
                z = self.norms[i](z)
            if rows and z.dim() == 4:  # (N, C, H, W) → (N·H·W, C)
                n, c, height, width = z.shape
                z = z.permute(0, 2, 3, 1).reshape(-1, c)
            h = self.act(z)
            zs.append(z)
            hs.append(h)
            x = h.reshape(n, height, width, c).permute(0, 3, 1, 2) if rows and i < len(self.convs) else h
            if self.drop is not None:
                x = self.drop(x)
        if len(self.hidden) == len(self.convs):
            x = x.flatten(1)
        return Trace(zs, hs, self.linears[-1](x))

    def describe(self) -> str:
        parts = ["x".join(map(str, self.image)), "conv " + "-".join(map(str, self.channels)),
                 "fc " + "-".join(map(str, [*self.hidden_sizes, self.classes])), self.activation]
        return _describe(parts, self.norm, self.dropout_p)


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


# ---- architectures with residual streams and attention ------------------------------------------
#
# Their hidden units live in *unit spaces*: a residual stream (the channels or features every block reads
# and writes), the inner channels of a residual block, the heads of an attention layer, the hidden units of
# a transformer MLP. ``spaces()`` lists the sizes in a fixed order (the hidden layers of the model's
# layered partition, ``numerics.clone``), and ``slots()`` shows every parameter and buffer as a live view
# whose dimension 0 runs over the units of the space it feeds (``out``) and dimension 1 over the units of
# the space it reads (``inp``), None where a dimension is not a unit axis. That is all the one clone builder
# and the distances to the clone manifold need.

@dataclass(frozen=True)
class Slot:
    """A parameter or buffer as ``view`` (a live view of it): dim 0 over the units of hidden space ``out``,
    dim 1 over those of hidden space ``inp`` (indices into ``spaces()``; None: no unit axis there)."""

    name: str
    view: torch.Tensor
    out: int | None = None
    inp: int | None = None


def _units(t: torch.Tensor) -> torch.Tensor:
    """(N, C, H, W) → (N·H·W, C): one row per (image, position), one column per channel."""
    n, c, rows, cols = t.shape
    return t.permute(0, 2, 3, 1).reshape(-1, c)


def _image(u: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    n, c, rows, cols = like.shape
    return u.reshape(n, rows, cols, c).permute(0, 3, 1, 2)


def _norm_slots(prefix: str, norm: nn.Module | None, space: int) -> list[Slot]:
    if norm is None:
        return []
    out = [Slot(f"{prefix}.{k}", t, space) for k, t in [*norm.named_parameters(recurse=False),
                                                         *norm.named_buffers(recurse=False)] if t.dim() == 1]
    return out + [Slot(f"{prefix}.{k}", t) for k, t in norm.named_buffers(recurse=False) if t.dim() == 0]


class ResNet(nn.Module):
    """A small ResNet for 1-channel images: a stem conv (3×3, stride 1) onto the first residual stream,
    one identity block (conv–norm–act–conv–norm, + x, act) and one down-sampling block (stride 2, with a
    1×1 conv–norm shortcut) onto the second stream, global average pooling, optional dropout, a linear
    read-out. Norm: BatchNorm2d (``"batch"``, the paper's for ResNets; convs then have no bias) or none.

    Unit spaces: 0 the first stream (c1), 1 the identity block's inner channels (c1), 2 the down-sampling
    block's inner channels (c2), 3 the second stream (c2). ``trace`` returns, per space, the activation at its
    last site (the stream after its last block), as (samples·positions, channels)."""

    def __init__(self, image: tuple[int, int, int], channels: tuple[int, int] = (8, 16), classes: int = 10,
                 activation: str = "relu", norm: str | None = "batch", dropout: float = 0.0,
                 inner: tuple[int, int] | None = None):
        super().__init__()
        if norm not in (None, "batch"):
            raise ValueError(f"unknown norm {norm!r} for ResNet (accepted: none, batch)")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout {dropout} must be in [0, 1)")
        c1, c2 = channels
        m1, m2 = inner or channels
        self.image, self.channels, self.inner, self.classes = tuple(image), (c1, c2), (m1, m2), classes
        self.activation, self.norm, self.dropout_p = activation, norm, dropout
        self.act = activations.get(activation).torch_fn
        bias = norm is None

        def conv(a: int, b: int, k: int = 3, stride: int = 1) -> nn.Conv2d:
            return nn.Conv2d(a, b, k, stride=stride, padding=k // 2, bias=bias)

        def bn(c: int) -> nn.Module | None:
            return nn.BatchNorm2d(c) if norm == "batch" else None

        self.stem, self.stem_norm = conv(image[0], c1), bn(c1)
        self.b1c1, self.b1n1, self.b1c2, self.b1n2 = conv(c1, m1), bn(m1), conv(m1, c1), bn(c1)
        self.b2c1, self.b2n1, self.b2c2, self.b2n2 = conv(c1, m2, stride=2), bn(m2), conv(m2, c2), bn(c2)
        self.short, self.short_norm = conv(c1, c2, k=1, stride=2), bn(c2)
        self.out = nn.Linear(c2, classes)
        self.drop = nn.Dropout(dropout) if dropout > 0 else None

    def spaces(self) -> list[int]:
        return [self.channels[0], self.inner[0], self.inner[1], self.channels[1]]

    def widened(self, sizes: list[int], dropout: float) -> ResNet:
        """The same architecture with the given space sizes."""
        c1, m1, m2, c2 = sizes
        return ResNet(self.image, (c1, c2), self.classes, self.activation, self.norm, dropout, (m1, m2))

    def slots(self) -> list[Slot]:
        out = []
        for prefix, conv, norm, o, i in (("stem", self.stem, self.stem_norm, 0, None),
                                         ("b1c1", self.b1c1, self.b1n1, 1, 0), ("b1c2", self.b1c2, self.b1n2,
                                                                                0, 1),
                                         ("b2c1", self.b2c1, self.b2n1, 2, 0), ("b2c2", self.b2c2, self.b2n2,
                                                                                3, 2),
                                         ("short", self.short, self.short_norm, 3, 0)):
            out.append(Slot(f"{prefix}.weight", conv.weight, o, i))
            if conv.bias is not None:
                out.append(Slot(f"{prefix}.bias", conv.bias, o))
            out += _norm_slots(f"{prefix}.norm", norm, o)
        return out + [Slot("out.weight", self.out.weight, None, 3), Slot("out.bias", self.out.bias)]

    def _post(self, z: torch.Tensor) -> torch.Tensor:
        h = self.act(z)
        return self.drop(h) if self.drop is not None else h

    @staticmethod
    def _n(norm: nn.Module | None, z: torch.Tensor) -> torch.Tensor:
        return z if norm is None else norm(z)

    def trace(self, x: torch.Tensor) -> Trace:
        zs, hs = [None] * 4, [None] * 4

        def site(space: int, z: torch.Tensor) -> torch.Tensor:
            u = _units(z)
            h = self.act(u)
            zs[space], hs[space] = u, h
            x = _image(h, z)
            return self.drop(x) if self.drop is not None else x

        s = self._post(self._n(self.stem_norm, self.stem(x)))
        inner = site(1, self._n(self.b1n1, self.b1c1(s)))
        s = site(0, self._n(self.b1n2, self.b1c2(inner)) + s)
        inner = site(2, self._n(self.b2n1, self.b2c1(s)))
        s = site(3, self._n(self.b2n2, self.b2c2(inner)) + self._n(self.short_norm, self.short(s)))
        return Trace(zs, hs, self.out(s.mean((2, 3))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.trace(x).out

    def describe(self) -> str:
        streams, inner = "-".join(map(str, self.channels)), "-".join(map(str, self.inner))
        parts = ["x".join(map(str, self.image)), f"resnet streams {streams} inner {inner}", self.activation]
        return _describe(parts, self.norm, self.dropout_p)


class ViT(nn.Module):
    """A small vision transformer: patch embedding (conv, kernel = stride = ``patch``), a class token and
    learned positions, ``depth`` pre-norm blocks (x + attention(LN(x)), x + MLP(LN(x))) with ``heads`` heads
    of width ``head_dim`` (logits scaled by head_dim^(−1/2)) and a GELU MLP of ``mlp`` units, a final LN and a
    linear read-out of the class token. Dropout (optional) on the patch embedding, the head outputs and the
    MLP's hidden units.

    Unit spaces: 0 the residual stream (``dim`` features, shared by every block), then per block its heads
    and its MLP units. A head is one unit with head_dim coordinates: its q, k, v rows read the stream, its
    head_dim columns of the output projection write to it. ``trace`` returns the stream after the last block
    (samples·tokens, dim), per block the head outputs (samples·tokens·head_dim, heads) and the MLP's
    activations (samples·tokens, mlp)."""

    def __init__(self, image: tuple[int, int, int], patch: int = 2, dim: int = 16, heads: int = 2,
                 head_dim: int = 8, depth: int = 2, mlp: int | tuple[int, ...] = 32, classes: int = 10,
                 activation: str = "gelu", dropout: float = 0.0, head_counts: tuple[int, ...] | None = None):
        super().__init__()
        c, rows, cols = image
        if rows % patch or cols % patch:
            raise ValueError(f"patch {patch} does not divide the image {rows}×{cols}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"dropout {dropout} must be in [0, 1)")
        self.image, self.patch, self.dim = tuple(image), patch, dim
        self.head_dim, self.depth = head_dim, depth
        self.heads = tuple(head_counts or [heads] * depth)
        self.mlp = tuple(mlp if isinstance(mlp, tuple) else [mlp] * depth)
        self.classes, self.activation, self.dropout_p = classes, activation, dropout
        self.act = activations.get(activation).torch_fn
        self.tokens = (rows // patch) * (cols // patch) + 1
        self.embed = nn.Conv2d(c, dim, patch, stride=patch)
        self.cls = nn.Parameter(torch.zeros(1, 1, dim))
        self.pos = nn.Parameter(0.02 * torch.randn(1, self.tokens, dim))
        self.blocks = nn.ModuleList()
        for h, m in zip(self.heads, self.mlp):
            self.blocks.append(nn.ModuleDict({"ln1": nn.LayerNorm(dim), "qkv": nn.Linear(dim,
                                                                                         3 * h * head_dim),
                                               "proj": nn.Linear(h * head_dim, dim), "ln2": nn.LayerNorm(dim),
                                               "fc1": nn.Linear(dim, m), "fc2": nn.Linear(m, dim)}))
        self.ln = nn.LayerNorm(dim)
        self.out = nn.Linear(dim, classes)
        self.drop = nn.Dropout(dropout) if dropout > 0 else None

    def spaces(self) -> list[int]:
        return [self.dim, *[s for h, m in zip(self.heads, self.mlp) for s in (h, m)]]

    def widened(self, sizes: list[int], dropout: float) -> ViT:
        return ViT(self.image, self.patch, sizes[0], head_dim=self.head_dim, depth=self.depth,
                   mlp=tuple(sizes[2::2]), classes=self.classes, activation=self.activation, dropout=dropout,
                   head_counts=tuple(sizes[1::2]))

    def slots(self) -> list[Slot]:
        E, hd, T = self.dim, self.head_dim, self.tokens
        out = [Slot("embed.weight", self.embed.weight, 0), Slot("embed.bias", self.embed.bias, 0),
               Slot("cls", self.cls.view(E), 0), Slot("pos", self.pos.view(T, E).T, 0)]
        for b, (blk, H) in enumerate(zip(self.blocks, self.heads)):
            heads, units, p = 1 + 2 * b, 2 + 2 * b, f"block{b}"
            out += [Slot(f"{p}.ln1.weight", blk["ln1"].weight, 0), Slot(f"{p}.ln1.bias", blk["ln1"].bias, 0),
                    Slot(f"{p}.qkv.weight", blk["qkv"].weight.view(3, H, hd, E).permute(1, 3, 0, 2), heads,
                         0),
                    Slot(f"{p}.qkv.bias", blk["qkv"].bias.view(3, H, hd).permute(1, 0, 2), heads),
                    Slot(f"{p}.proj.weight", blk["proj"].weight.view(E, H, hd), 0, heads),
                    Slot(f"{p}.proj.bias", blk["proj"].bias, 0),
                    Slot(f"{p}.ln2.weight", blk["ln2"].weight, 0), Slot(f"{p}.ln2.bias", blk["ln2"].bias, 0),
                    Slot(f"{p}.fc1.weight", blk["fc1"].weight, units, 0), Slot(f"{p}.fc1.bias",
                                                                               blk["fc1"].bias, units),
                    Slot(f"{p}.fc2.weight", blk["fc2"].weight, 0, units), Slot(f"{p}.fc2.bias",
                                                                               blk["fc2"].bias, 0)]
        return out + [Slot("ln.weight", self.ln.weight, 0), Slot("ln.bias", self.ln.bias, 0),
                      Slot("out.weight", self.out.weight, None, 0), Slot("out.bias", self.out.bias)]

    def _drop(self, x: torch.Tensor) -> torch.Tensor:
        return self.drop(x) if self.drop is not None else x

    def attention_logits(self, x: torch.Tensor, block: int = 0) -> torch.Tensor:
        """The first block's (or ``block``'s) attention logits q·k/√head_dim on the embedded input,
        (B, H, T, T)."""
        s = self._embed(x)
        for blk in self.blocks[:block]:
            s = self._block(blk, s, [], [])
        blk, H = self.blocks[block], self.heads[block]
        qkv = blk["qkv"](blk["ln1"](s)).view(s.shape[0], self.tokens, 3, H, self.head_dim)
        q, k, _ = qkv.permute(2, 0, 3, 1, 4)
        return q @ k.transpose(-2, -1) * self.head_dim**-0.5

    def _embed(self, x: torch.Tensor) -> torch.Tensor:
        p = self.embed(x).flatten(2).transpose(1, 2)
        return self._drop(torch.cat([self.cls.expand(len(x), -1, -1), p], 1) + self.pos)

    def _block(self, blk: nn.ModuleDict, s: torch.Tensor, zs: list, hs: list) -> torch.Tensor:
        B, T, hd = s.shape[0], self.tokens, self.head_dim
        H = blk["qkv"].out_features // (3 * hd)
        q, k, v = blk["qkv"](blk["ln1"](s)).view(B, T, 3, H, hd).permute(2, 0, 3, 1, 4)
        a = torch.softmax(q @ k.transpose(-2, -1) * hd**-0.5, -1) @ v  # (B, H, T, hd)
        u = a.permute(0, 2, 3, 1).reshape(-1, H)  # one column per head
        zs.append(u)
        hs.append(u)
        s = s + blk["proj"](self._drop(u.reshape(B, T, hd, H).permute(0, 1, 3, 2).reshape(B, T, H * hd)))
        z = blk["fc1"](blk["ln2"](s)).reshape(B * T, -1)
        h = self.act(z)
        zs.append(z)
        hs.append(h)
        return s + blk["fc2"](self._drop(h).reshape(B, T, -1))

    def trace(self, x: torch.Tensor) -> Trace:
        s = self._embed(x)
        zs, hs = [], []
        for blk in self.blocks:
            s = self._block(blk, s, zs, hs)
        stream = s.reshape(-1, self.dim)
        zs.insert(0, stream)
        hs.insert(0, stream)
        return Trace(zs, hs, self.out(self.ln(stream.reshape(s.shape))[:, 0]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.trace(x).out

    def describe(self) -> str:
        return (f"{'x'.join(map(str, self.image))} vit patch {self.patch} dim {self.dim} heads "
                f"{'-'.join(map(str, self.heads))}×{self.head_dim} mlp {'-'.join(map(str, self.mlp))} depth "
                f"{self.depth} {self.activation} layernorm"
                + (f" dropout={self.dropout_p}" if self.dropout_p else ""))
