"""Torch models whose hidden units the checks can see.

``MLP`` is a stack of (Linear → optional BatchNorm/LayerNorm → activation → optional dropout)
blocks and a linear read-out. ``trace`` returns, per hidden layer, the pre-activation z (the
activation's input, after normalization) and the activation h, one tensor per layer: every
per-unit quantity is computed from these with whole-layer tensor operations. ``CNN`` does the same
for a small convolutional network (a conv layer's units are its channels).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from theory import activations

NORMS = (None, "batch", "layer")


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
        self.act = activations.get(activation).torch_fn
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
        self.act = activations.get(activation).torch_fn
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
        return self.trace(x).out

    def describe(self) -> str:
        parts = ["x".join(map(str, self.image)), "conv " + "-".join(map(str, self.channels)),
                 "fc " + "-".join(map(str, [*self.hidden_sizes, self.classes])), self.activation]
        if self.norm:
            parts.append(f"{self.norm}norm")
        if self.dropout_p:
            parts.append(f"dropout={self.dropout_p}")
        return " ".join(parts)
