"""Torch models whose hidden units the checks can see.

``MLP`` is a stack of (Linear → optional BatchNorm/LayerNorm → activation → optional dropout)
blocks and a linear read-out. ``trace`` returns, per hidden layer, the pre-activation z (the
activation's input, after normalization) and the activation h, one tensor per layer: every
per-unit quantity is computed from these with whole-layer tensor operations.
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
