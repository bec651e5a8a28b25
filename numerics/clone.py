"""Exact clones of a torch network, and how far a wide network is from being one.

A **cloning** assigns to every hidden unit a of a wide network the base unit s(a) it copies; the
block S_u = {a : s(a) = u} holds the clones of base unit u. Inputs and outputs are not cloned
(singleton blocks). A cloning is the wide network's layered ``theory.partition.Partition``, label u
of a hidden layer being base unit u (``expand``, ``from_sizes``, ``from_blocks``). ``clone`` is the
project's one clone builder. The wide network

    W'[a, b] = W[s(a), s(b)] · c_b,    b'[a] = b[s(a)],    γ'[a], β'[a], running stats of s(a),

with outgoing fractions c summing to 1 over every block (Σ_{b ∈ S_w} c_b = 1; c_b = 1 for inputs),
computes the base function: by induction over layers z'(a) = Σ_w W[s(a), w] h(w) Σ_{b ∈ S_w} c_b
= z(s(a)).

- Incoming weights are copied to every clone, so every row of a block pair S_u × S_w sums to
  W[u, w]: **incoming-equitable** (CLAIMS.md, cloned.forward).
- The equal split c_b = 1/|S_w| makes every entry of the block pair W[u, w]/|S_w|: block-constant,
  hence also **outgoing-equitable** — the wide network lies on M_D and (cloned.trajectory) stays there
  under gradient descent.
- A non-uniform split (``lambda_split``: λ for the first clone of a block, the rest sharing 1 − λ;
  ``random_split``: random fractions, the Net2Net split) keeps the forward function (still
  incoming-equitable), but the columns of a block pair sum to different values (λ|S_u|W vs
  (1 − λ)|S_u|W): not outgoing-equitable, so the clones receive different backward signals and drift
  apart — the negative control.
- ``equitable_perturbation`` adds a doubly centred tensor to every hidden-to-hidden block pair: still
  incoming- and outgoing-equitable, the same function, but no longer block-constant.

Normalization. BatchNorm normalizes each unit over the batch: clones (identical z) get identical
statistics. LayerNorm normalizes each sample over the units of a layer: when every block of a layer
has the same size n, the layer holds each base value exactly n times, and a multiset with every
element repeated n times has the base layer's mean and variance, so the output matches. With
unequal block sizes the statistics become block-size-weighted and the wide network computes a
different function (clones still see the same statistics, so it is still a network of clones —
of a different base). GroupNorm(1, C) on conv layers behaves like LayerNorm.

CNN. A conv layer's units are its channels; a weight W'[a, b, i, j] is cloned entry by entry of the
kernel. The flatten into the first linear layer is clone-aware: wide feature c'·P + p (P positions
per channel) reads base feature s(c')·P + p, split by c_{c'}.

Distances (float64, the largest entry of the off-manifold component; ``Gauge``):

- **leaf** — to M_D(θ₀) = θ₀ + {block-constant}: the component of θ − θ₀ orthogonal to the
  block-constant tensors. The orthogonal projection onto block-constant tensors averages every
  block pair S_u × S_w (per kernel entry for convs; singletons are not averaged), so the component
  is D − avg(D), D = θ − θ₀. For the equal-split clone θ₀ is itself block-constant, so the leaf
  is the set of block-constant parameters and the leaf distance is the spread of each block's
  incoming weights (and bias, γ, β, running stats) and of the clones' outgoing weights into every
  target unit.
- **family** — to the equitable parameters (incoming- and outgoing-equitable in every block
  pair: clones stay clones, whatever leaf they are on). A block pair decomposes orthogonally as
  M + (A − M) + (B − M) + R with A the row means within the column block, B the column means within
  the row block, M the block mean, R doubly centred; the equitable ones are M + R, so the component
  is (A − M) + (B − M): the spread of the summed incoming weights (rows) and of the summed
  outgoing weights (columns).

Cloning R² and effective rank: ``cloning_r2``, ``effective_rank`` (CLAIMS.md, "Measurement
definitions").

    >>> from numerics.models import MLP
    >>> base = MLP([4, 3, 3, 2]).double()
    >>> wide = clone(base, 2)
    >>> wide.widths, distance(wide, expand([4, 3, 3, 2], 2)).value
    ([4, 6, 6, 2], 0.0)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from numerics.models import CNN, MLP, ResNet, ViT
from theory import spectra
from theory.partition import Partition

Model = MLP | CNN | ResNet | ViT
LAYERED = (MLP, CNN)  # stacks of layers; ResNet and ViT describe themselves by unit spaces and slots
LAYOUTS = ("blocked", "tiled")
SIDES = ("leaf", "both", "incoming", "outgoing")


# ---- clonings: partitions of the wide network ----------------------------------------------------

def assignments(P: Partition) -> list[torch.Tensor]:
    """s(a) for every unit a of every hidden layer of the wide network (block label = base unit),
    int64 on the CPU."""
    if P.widths is None:
        raise ValueError("a cloning is a layered partition (Partition.layered or expand/from_sizes/"
                         "from_blocks)")
    return [torch.from_numpy(P.layer_labels(k)).long() for k in range(1, len(P.widths) - 1)]


def base_widths(P: Partition) -> list[int]:
    """Hidden widths of the base network: one base unit per block."""
    return P.block_counts()[1:-1]


def block_sizes(P: Partition, layer: int) -> torch.Tensor:
    """|S_u| for every base unit u of hidden layer ``layer`` (0-based among the hidden layers)."""
    return torch.bincount(assignments(P)[layer], minlength=base_widths(P)[layer])


def equal_split(P: Partition) -> list[torch.Tensor]:
    """c_a = 1/|S_{s(a)}|: the split that keeps the wide network on M_D."""
    return [1.0 / block_sizes(P, i).double()[a] for i, a in enumerate(assignments(P))]


def _check(P: Partition, model_widths: Sequence[int]) -> None:
    """ValueError unless ``P`` clones a base of ``model_widths`` (inputs, hidden units, outputs): one
    block per base unit of every hidden layer, the same inputs and outputs."""
    if P.widths is None:
        raise ValueError("a cloning is a layered partition (Partition.layered or expand/from_sizes/"
                         "from_blocks)")
    blocks = P.block_counts()
    if len(blocks) != len(model_widths):
        raise ValueError(f"block count mismatch: the cloning has {len(blocks) - 2} hidden layers, "
                         f"the model has {len(model_widths) - 2}")
    for i, (k, m) in enumerate(zip(blocks, model_widths)):
        if k != m:
            where = "inputs" if i == 0 else "outputs" if i == len(blocks) - 1 else f"layer {i}"
            raise ValueError(f"block count mismatch: {where} has {k} blocks for {m} base units "
                             "(one block per base unit)")


def expand(widths: Sequence[int], factor: int, layout: str = "blocked") -> Partition:
    """The cloning of a base with unit widths ``widths`` (inputs, hidden layers, outputs) in which every
    hidden unit is cloned ``factor`` times. ``blocked``: clones adjacent (u, u, v, v, …); ``tiled``: the
    base layer repeated (u, v, …, u, v, …) — the same network, its clones at other positions of every
    matrix (which can matter for rounding: kernels treat columns differently)."""
    if isinstance(factor, bool) or not isinstance(factor, int) or factor < 1:
        raise ValueError(f"expansion factor must be a positive integer (got {factor!r})")
    if layout not in LAYOUTS:
        raise ValueError(f"unknown layout {layout!r} (accepted: {', '.join(LAYOUTS)})")
    make = np.repeat if layout == "blocked" else np.tile
    hidden = [make(np.arange(k), factor) for k in widths[1:-1]]
    return Partition.layered([np.arange(widths[0]), *hidden, np.arange(widths[-1])])


def from_sizes(widths: Sequence[int], sizes: Sequence[Sequence[int]],
               permute: np.random.Generator | None = None) -> Partition:
    """The cloning with blocks of the given sizes, per hidden layer one size per base unit (clones
    adjacent, or scattered over the layer by a random permutation from ``permute``); ``widths`` are
    the base's (inputs and outputs are kept)."""
    hidden = []
    for i, s in enumerate(sizes):
        s = np.asarray(list(s))
        if s.size == 0 or s.dtype.kind not in "iu" or bool((s < 1).any()):
            raise ValueError(f"layer {i + 1} block sizes {s.tolist()} must be positive integers")
        labels = np.repeat(np.arange(len(s)), s)
        hidden.append(permute.permutation(labels) if permute is not None else labels)
    return Partition.layered([np.arange(widths[0]), *hidden, np.arange(widths[-1])])


def from_blocks(widths: Sequence[int], blocks: Sequence[Sequence[Sequence[int]]]) -> Partition:
    """An arbitrary cloning: per hidden layer, block u lists the wide units that clone base unit u;
    together the blocks of a layer must cover 0..(wide width − 1) exactly once."""
    return Partition.layered([np.arange(widths[0]), *blocks, np.arange(widths[-1])])


def lambda_split(P: Partition, lam: float) -> list[torch.Tensor]:
    """Outgoing fractions λ for the first clone of every block, (1 − λ)/(|S| − 1) for the others
    (1 for singletons): forward-exact, incoming-equitable, not outgoing-equitable unless λ = 1/|S|."""
    if not np.isfinite(lam):
        raise ValueError(f"lam must be a finite number (got {lam})")
    out = []
    for i, a in enumerate(assignments(P)):
        n = block_sizes(P, i).double()[a]
        pos = torch.arange(len(a))
        first = torch.full((base_widths(P)[i],), len(a)).scatter_reduce(0, a, pos, "amin")
        rest = (1 - lam) / (n - 1).clamp(min=1)
        out.append(torch.where(pos == first[a], torch.where(n > 1, torch.full_like(n, lam), 1.0), rest))
    return out


def random_split(P: Partition, spread: float, generator: torch.Generator) -> list[torch.Tensor]:
    """Random positive outgoing fractions, e_a / Σ_{b in a's block} e_b with e ~ U(1 − spread,
    1 + spread) per wide unit (the Net2Net split): forward-exact, incoming-equitable, not
    outgoing-equitable."""
    if not 0 <= spread < 1:
        raise ValueError(f"spread must lie in [0, 1) so every fraction stays positive, got {spread}")
    out = []
    for i, a in enumerate(assignments(P)):
        e = 1 + spread * (2 * torch.rand(len(a), generator=generator, dtype=torch.float64) - 1)
        total = torch.zeros(base_widths(P)[i], dtype=torch.float64).index_add_(0, a, e)
        out.append(e / total[a])
    return out


# ---- models as layer stacks -------------------------------------------------------------------

def hidden_widths(model: Model) -> list[int]:
    """Units per hidden layer (conv channels, then linear units)."""
    _supported(model)
    if not isinstance(model, LAYERED):
        return model.spaces()
    return [getattr(layer, "out_features", None) or layer.out_channels for layer in model.hidden]


def widths(model: Model) -> list[int]:
    """Units per layer, inputs (an MLP's features, a CNN's image channels) and outputs included: the
    widths of the layered partitions of this model."""
    inputs = model.widths[0] if isinstance(model, MLP) else model.image[0]
    outputs = model.classes if not isinstance(model, MLP) else model.widths[-1]
    return [inputs, *hidden_widths(model), outputs]


def _supported(model: nn.Module) -> None:
    if not isinstance(model, (MLP, CNN, ResNet, ViT)):
        raise ValueError("cloning supports numerics.models MLP, CNN, ResNet and ViT (got "
                         f"{type(model).__name__})")


def _layers(model: Model) -> tuple[list[nn.Module], list[nn.Module | None]]:
    """(weight layers: hidden then read-out, norms per hidden layer or None)."""
    hidden = model.hidden
    norms = list(model.norms) if model.norms is not None else [None] * len(hidden)
    return [*hidden, model.linears[-1]], norms


def _rebuild(model: Model, widths: Sequence[int], dropout: float) -> Model:
    bias = model.linears[0].bias is not None
    if isinstance(model, MLP):
        return MLP([model.widths[0], *widths, model.widths[-1]], model.activation, model.norm, dropout, bias)
    k = len(model.convs)
    return CNN(model.image, list(widths[:k]), list(widths[k:]), model.classes, model.activation, model.norm,
               dropout, bias)


def _inputs(model: Model, values: Sequence[torch.Tensor]) -> list[torch.Tensor | None]:
    """Per weight layer, the per-wide-input-feature ``values`` (s or c of the hidden layer below) —
    None for the first layer (inputs are singletons). The flatten after the last conv layer repeats
    each channel's value over its P positions, feature c·P + p (so s becomes s(c)·P + p)."""
    out: list[torch.Tensor | None] = [None]
    flatten = len(model.convs) if isinstance(model, CNN) else None
    for i, v in enumerate(values, start=1):
        if i == flatten:
            p = model.positions
            long = v.dtype == torch.long
            v = (v[:, None] * p + torch.arange(p)).flatten() if long else v.repeat_interleave(p)
        out.append(v)
    return out


@torch.no_grad()
def clone(model: Model, cloning: int | Partition = 2, split: Sequence[torch.Tensor] | None = None,
          dropout: float | None = None) -> Model:
    """The wide clone of ``model`` (module docstring), same dtype, device and train/eval mode: THE
    clone builder of the project.

    ``cloning``: an expansion factor or the wide network's partition (block u of hidden layer l =
    the clones of base unit u; ``expand``, ``from_sizes``, ``from_blocks``); ``split``: outgoing
    fractions per hidden layer (default the equal split, which puts the clone on M_D); ``dropout``:
    the wide network's dropout probability (default the base's). The base is not modified.
    """
    _supported(model)
    if not isinstance(cloning, (int, Partition)) or isinstance(cloning, bool):
        raise TypeError(f"cloning must be an expansion factor (int) or a Partition (expand, from_sizes, "
                        f"from_blocks), not {type(cloning).__name__}")
    bad = next((n for n, p in model.named_parameters() if not torch.isfinite(p).all()), None)
    if bad is not None:
        raise ValueError(f"the model's {bad} contains NaN or inf; a clone of it would compute NaN")
    full = widths(model)
    P = expand(full, cloning) if isinstance(cloning, int) else cloning
    _check(P, full)
    assign = assignments(P)
    split = equal_split(P) if split is None else list(split)
    _check_split(P, split)
    if not isinstance(model, LAYERED):
        return _clone_slots(model, assign, split, model.dropout_p if dropout is None else dropout)
    ref = model.linears[-1].weight
    wide = _rebuild(model, [len(a) for a in assign], model.dropout_p if dropout is None else dropout)
    wide = wide.to(dtype=ref.dtype, device=ref.device)
    (base_layers, base_norms), (wide_layers, wide_norms) = _layers(model), _layers(wide)
    rows = [*assign, None]
    cols, fractions = _inputs(model, assign), _inputs(model, split)
    for layer, (b, w) in enumerate(zip(base_layers, wide_layers)):
        weight = b.weight
        if rows[layer] is not None:
            weight = weight[rows[layer].to(ref.device)]
        if cols[layer] is not None:
            c = fractions[layer].to(dtype=ref.dtype, device=ref.device)
            weight = weight[:, cols[layer].to(ref.device)] * c.view(1, -1, *[1] * (weight.dim() - 2))
        w.weight.copy_(weight)
        if b.bias is not None:
            w.bias.copy_(b.bias if rows[layer] is None else b.bias[rows[layer].to(ref.device)])
    for a, b, w in zip(assign, base_norms, wide_norms):
        if b is None:
            continue
        for name, t in [*b.named_parameters(recurse=False), *b.named_buffers(recurse=False)]:
            target = getattr(w, name)
            target.copy_(t if t.dim() == 0 else t[a.to(ref.device)])
    return wide.train(model.training)


def _clone_slots(model: ResNet | ViT, assign: list[torch.Tensor], split: list[torch.Tensor], dropout: float
                 ) -> ResNet | ViT:
    """The wide network of a model described by unit spaces and slots (``numerics.models.Slot``): every slot's
    view is indexed by s along its out-units and its in-units and scaled by the split c along its in-units,
    W'[a, b, …] = W[s(a), s(b), …] c_b, exactly as the layered path does."""
    ref = next(model.parameters())
    wide = model.widened([len(a) for a in assign], dropout).to(dtype=ref.dtype, device=ref.device)
    for b, w in zip(model.slots(), wide.slots()):
        x = b.view
        if b.out is not None:
            x = x.index_select(0, assign[b.out].to(ref.device))
        if b.inp is not None:
            c = split[b.inp].to(dtype=ref.dtype, device=ref.device)
            x = x.index_select(1, assign[b.inp].to(ref.device)) * c.view(1, -1, *[1] * (x.dim() - 2))
        w.view.copy_(x)
    return wide.train(model.training)


def _check_split(P: Partition, split: Sequence[torch.Tensor]) -> None:
    assign = assignments(P)
    if len(split) != len(assign):
        raise ValueError(f"split has {len(split)} layers, the cloning has {len(assign)}")
    for i, (a, c) in enumerate(zip(assign, split)):
        c = torch.as_tensor(c, dtype=torch.float64).cpu()
        if c.shape != a.shape:
            raise ValueError(f"split of layer {i + 1} has shape {tuple(c.shape)}, expected ({len(a)},)")
        sums = torch.zeros(base_widths(P)[i], dtype=torch.float64).index_add_(0, a, c)
        if not torch.allclose(sums, torch.ones_like(sums), rtol=0, atol=1e-12):
            u = int((sums - 1).abs().argmax())
            raise ValueError(f"split of layer {i + 1}: the fractions of block {u} sum to {float(sums[u])}, "
                             "not 1")


@torch.no_grad()
def forward_gap(base: Model, wide: Model, X: torch.Tensor) -> float:
    """max |wide(x) − base(x)| over X, both in eval mode (no dropout, BatchNorm running statistics)."""
    if not isinstance(X, torch.Tensor) or X.shape[0] == 0 or not torch.isfinite(X).all():
        raise ValueError("X must be a non-empty tensor of finite values (a NaN input makes every gap NaN)")
    modes = base.training, wide.training
    out = float((wide.eval()(X) - base.eval()(X)).abs().max())
    base.train(modes[0])
    wide.train(modes[1])
    return out


# ---- distances to the clone manifold ------------------------------------------------------------

@dataclass(frozen=True)
class _Blocks:
    """Blocks along one tensor dimension: block of every index, block sizes, first member of each."""

    idx: torch.Tensor
    counts: torch.Tensor
    first: torch.Tensor

    @classmethod
    def of(cls, idx: torch.Tensor) -> _Blocks:
        counts = torch.bincount(idx)
        pos = torch.arange(len(idx), device=idx.device)
        first = torch.full_like(counts, len(idx)).scatter_reduce(0, idx, pos, "amin")
        return cls(idx, counts.double(), first)

    def mean(self, x: torch.Tensor, dim: int) -> torch.Tensor:
        """x averaged over each block along ``dim`` and broadcast back. Deviations from the block's
        first member are averaged, so a block of equal entries gives its entry exactly."""
        ref = x.index_select(dim, self.first[self.idx])
        shape = list(x.shape)
        shape[dim] = len(self.counts)
        sums = x.new_zeros(shape).index_add_(dim, self.idx, x - ref)
        view = [1] * x.dim()
        view[dim] = len(self.counts)
        return ref + (sums / self.counts.view(view)).index_select(dim, self.idx)


def _mean(x: torch.Tensor, dim: int, blocks: _Blocks | None) -> torch.Tensor:
    return x if blocks is None else blocks.mean(x, dim)


@dataclass
class _Tensor:
    """One per-unit tensor of the wide network and its blocks along dimensions 0 and 1."""

    layer: int  # 0-based weight layer (the last is the read-out)
    name: str
    value: torch.Tensor
    rows: _Blocks | None
    cols: _Blocks | None = None

    def row_mean(self, x: torch.Tensor) -> torch.Tensor:
        return _mean(x, 0, self.rows)

    def col_mean(self, x: torch.Tensor) -> torch.Tensor:
        return _mean(x, 1, self.cols)


@dataclass
class Distance:
    """The largest |entry| of an off-manifold component, per weight layer and overall, and where."""

    value: float
    per_layer: list[float]  # per weight layer: its weight, bias and (hidden layers) norm tensors
    where: dict  # layer (1-based), parameter, entry, row block and column block of the largest entry
    norm: float = 0.0  # Euclidean norm of the whole component (all tensors together)


class Gauge:
    """Distances of ``model`` (a wide network, read live: build once, call every step) to the clone
    manifold of ``cloning`` (module docstring), in float64.

    ``reference``: θ₀ of the leaf M_D(θ₀), a model of the same shape (default: the origin, so the
    leaf is the block-constant parameters — the right one for an equal-split clone).
    """

    def __init__(self, model: Model, cloning: Partition, reference: Model | None = None):
        _supported(model)
        if cloning.widths is None or widths(model) != list(cloning.widths):
            raise ValueError(f"block count mismatch: the model's widths are {widths(model)}, the "
                             f"cloning's {None if cloning.widths is None else list(cloning.widths)}")
        device = next(model.parameters()).device
        assign = assignments(cloning)
        if isinstance(model, LAYERED):
            self.tensors, self.layers = self._layered(model, assign, device)
        else:
            blocks = [_Blocks.of(a.to(device)) for a in assign]
            slots = model.slots()
            self.tensors = [_Tensor(k, s.name, s.view, None if s.out is None else blocks[s.out],
                                    None if s.inp is None else blocks[s.inp]) for k, s in enumerate(slots)]
            self.layers = len(slots)
        self.reference = None
        if reference is not None:
            other = Gauge(reference, cloning)
            self.reference = [t.value.detach().double().clone() for t in other.tensors]

    @staticmethod
    def _layered(model: MLP | CNN, assign: list[torch.Tensor], device: torch.device) -> tuple[list[_Tensor],
                                                                                              int]:
        """The tensors of a layer stack: per weight layer its weight (rows: receiving blocks, columns: sending
        blocks), bias and norm tensors."""
        layers, norms = _layers(model)
        rows = [_Blocks.of(a.to(device)) for a in assign] + [None]
        cols = [c if c is None else _Blocks.of(c.to(device)) for c in _inputs(model, assign)]
        tensors: list[_Tensor] = []
        for layer, module in enumerate(layers):
            named = [("weight", module.weight), ("bias", module.bias)]
            if layer < len(norms) and norms[layer] is not None:
                n = norms[layer]
                named += [(f"norm.{k}", t) for k, t in [*n.named_parameters(recurse=False),
                                                        *n.named_buffers(recurse=False)] if t.dim() == 1]
            for name, t in named:
                if t is not None:
                    tensors.append(_Tensor(layer, name, t, rows[layer], cols[layer] if name == "weight"
                                           else None))
        return tensors, len(layers)

    @torch.no_grad()
    def leaf(self) -> Distance:
        """Distance to M_D(θ₀): the largest entry of D − avg(D), D = θ − θ₀."""
        values = [t.value.detach().double() for t in self.tensors]
        if self.reference is not None:
            values = [v - r for v, r in zip(values, self.reference)]
        return self._largest(self.components(values))

    @torch.no_grad()
    def family(self) -> Distance:
        """Distance to the equitable parameters: the largest entry of (A − M) + (B − M)."""
        return self._equitable("both")

    @torch.no_grad()
    def incoming(self) -> Distance:
        """The incoming part of ``family``, A − M: how far the receivers of a block are from sharing
        their summed weights from each source block (and their bias, γ, β)."""
        return self._equitable("incoming")

    @torch.no_grad()
    def outgoing(self) -> Distance:
        """The outgoing part of ``family``, B − M: how far the senders of a block are from sending the
        same summed weight into each target block."""
        return self._equitable("outgoing")

    def _equitable(self, side: str) -> Distance:
        return self._largest(self.components([t.value.detach().double() for t in self.tensors], side))

    def components(self, values: Sequence[torch.Tensor], side: str = "leaf") -> list[torch.Tensor]:
        """The off-manifold components of tensors shaped like ``self.tensors`` (one per tensor, same
        order): ``leaf`` D − avg(D), the component orthogonal to the block-constant tensors; ``both``
        (A − M) + (B − M), orthogonal to the equitable ones (the family); ``incoming`` A − M;
        ``outgoing`` B − M (module docstring). Each is an orthogonal projection, linear in ``values``:
        applied to any vector of parameter-shaped tensors (a direction, a gradient), it is the
        projector onto the normal space of that manifold (``numerics.curvature``)."""
        if side not in SIDES:
            raise ValueError(f"unknown side {side!r} (accepted: {', '.join(SIDES)})")
        if len(values) != len(self.tensors):
            raise ValueError(f"{len(values)} tensors given for {len(self.tensors)} of the model")
        parts = []
        for t, x in zip(self.tensors, values):
            a = t.col_mean(x)
            if side == "leaf":
                parts.append(x - t.row_mean(a))
                continue
            b, m = t.row_mean(x), t.row_mean(a)
            parts.append({"both": a + b - 2 * m, "incoming": a - m, "outgoing": b - m}[side])
        return parts

    def _largest(self, parts: list[torch.Tensor]) -> Distance:
        tops = torch.stack([p.abs().max() for p in parts]).cpu()
        per_layer = [0.0] * self.layers
        for t, v in zip(self.tensors, tops.tolist()):
            per_layer[t.layer] = max(per_layer[t.layer], v)
        k = int(tops.argmax())
        t, part = self.tensors[k], parts[k]
        entry = [int(i) for i in torch.unravel_index(part.abs().argmax(), part.shape)]
        where = {"layer": t.layer + 1, "parameter": t.name, "entry": entry,
                 "row_block": None if t.rows is None else int(t.rows.idx[entry[0]]),
                 "column_block": None if t.cols is None else int(t.cols.idx[entry[1]])}
        norm = float(torch.stack([p.pow(2).sum() for p in parts]).sum().sqrt())
        return Distance(float(tops[k]), per_layer, where, norm)


def distance(model: Model, cloning: Partition, reference: Model | None = None) -> Distance:
    """Distance of ``model`` to the leaf M_D(θ₀) (``Gauge.leaf``)."""
    return Gauge(model, cloning, reference).leaf()


def family_distance(model: Model, cloning: Partition) -> Distance:
    """Distance of ``model`` to the equitable parameters (``Gauge.family``)."""
    return Gauge(model, cloning).family()


@torch.no_grad()
def equitable_perturbation(model: Model, cloning: Partition, scale: float, generator: torch.Generator
                           ) -> None:
    """Add (in place) a random doubly centred tensor R to every hidden-to-hidden weight block pair
    (rows and columns of each block pair sum to 0), entries of size ~ ``scale``: the network stays
    equitable with the same forward function, but leaves the block-constant parameters — a θ₀ whose
    leaf M_D(θ₀) differs from the family of equitable networks. (Input and read-out weights have a
    singleton side, where equitable already means block-constant.)"""
    for t in Gauge(model, cloning).tensors:
        if t.name == "weight" and t.rows is not None and t.cols is not None:
            e = torch.randn(t.value.shape, generator=generator, dtype=torch.float64).to(t.value.device)
            a = t.col_mean(e)
            r = e - a - t.row_mean(e) + t.row_mean(a)
            t.value.add_((scale * r).to(t.value.dtype))


# ---- cloning R² and effective rank ------------------------------------------------------------

def block_r2(x: torch.Tensor, assign: torch.Tensor) -> float:
    """Cloning R² of one layer (CLAIMS.md): x is (samples, units); each entry is predicted by the
    mean of its block in the same sample, x̂[i, a] = mean_{b ∈ S_{s(a)}} x[i, b], and
    R² = 1 − Var(x − x̂)/Var(x), variances over all entries. x̂ is the orthogonal projection onto
    per-sample block-constant matrices, which contain the constants, so 0 ≤ R² ≤ 1; a layer with
    Var(x) = 0 is predicted exactly (R² = 1)."""
    x = x.detach().double()
    residual = x - _Blocks.of(assign.to(x.device)).mean(x, 1)
    total = x.var(unbiased=False)
    return 1.0 if float(total) == 0.0 else float(1 - residual.var(unbiased=False) / total)


@dataclass
class R2:
    forward: list[float]  # per hidden layer, on the activations h
    backward: list[float]  # per hidden layer, on the backward signals ∂L/∂h

    @property
    def mean(self) -> float:
        """Average over layers of the forward and backward R² (CLAIMS.md)."""
        return (sum(self.forward) + sum(self.backward)) / (len(self.forward) + len(self.backward))


def cloning_r2(model: Model, cloning: Partition, X: torch.Tensor, y: torch.Tensor,
               loss_fn=F.cross_entropy) -> R2:
    """Cloning R² of every hidden layer of ``model`` on (X, y), forward (activations h) and backward
    (δ = ∂L/∂h of the batch loss), in eval mode (no dropout, BatchNorm running statistics); the
    model's mode and gradients are left as they were."""
    training = model.training
    model.eval()
    trace = model.trace(X)
    deltas = torch.autograd.grad(loss_fn(trace.out, y), trace.h)
    model.train(training)
    assign = assignments(cloning)
    return R2([block_r2(h, a) for h, a in zip(trace.h, assign)],
              [block_r2(d, a) for d, a in zip(deltas, assign)])


def effective_rank(h: torch.Tensor) -> float:
    """The paper's effective rank of an activation matrix h (samples × units; App. B.2):
    ``theory.spectra.effective_rank`` of its singular values σ, p_i = σ_i / Σ σ_k, in float64.
    A clone's activation matrix is the base's with columns repeated n times (H' = H E, E Eᵀ = n I),
    so its singular values are √n times the base's and its effective rank is the base's."""
    return spectra.effective_rank(torch.linalg.svdvals(h.detach().double()).cpu().numpy())


def quotient_steps(base: Model, cloning: Partition) -> list[tuple[nn.Parameter, torch.Tensor]]:
    """Per base parameter, the step factor under which the base follows its equal-split clone.

    On M_D, W̃[u, w] = Σ_{b ∈ S_w} W'[a, b] is the base weight the clone computes with, and the
    clone's gradient is ∂L/∂W'[a, b] = (1/|S_u|) ∂L̃/∂W̃[u, w] (every clone of u carries 1/|S_u|
    of u's backward signal). A step −η∂L/∂W' therefore moves W̃ by −η (|S_w|/|S_u|) ∂L̃/∂W̃: the
    clone's quotient is SGD on the base with per-entry step factors |S_w|/|S_u| (|S| = 1 for inputs
    and outputs; 1/|S_u| for biases, γ and β). For ×n: first layer 1/n, hidden-to-hidden 1, read-out
    n, hidden biases and norms 1/n. The same factors hold for any optimizer linear in the gradient
    with state started at 0 (momentum, Nesterov, L2 weight decay added after scaling), not for
    adaptive or norm-dependent ones (Adam, RMSprop, clipping, noise relative to ‖g‖).
    """
    if not isinstance(base, LAYERED):
        raise ValueError("quotient step factors are derived for MLP and CNN stacks (got "
                         f"{type(base).__name__})")
    _check(cloning, widths(base))
    device = base.linears[-1].weight.device
    layers, norms = _layers(base)
    sizes = [block_sizes(cloning, i).double() for i in range(len(base_widths(cloning)))]
    rows = [*sizes, None]
    cols = [None, *sizes]
    if isinstance(base, CNN):
        k = len(base.convs)
        cols[k] = cols[k].repeat_interleave(base.positions)
    out = []
    for layer, module in enumerate(layers):
        r = torch.ones(module.weight.shape[0], dtype=torch.float64) if rows[layer] is None else rows[layer]
        c = torch.ones(module.weight.shape[1], dtype=torch.float64) if cols[layer] is None else cols[layer]
        w = (c[None, :] / r[:, None]).view(*module.weight.shape[:2], *[1] * (module.weight.dim() - 2))
        out.append((module.weight, w))
        vec = [module.bias] + ([p for p in norms[layer].parameters(recurse=False)]
                               if layer < len(norms) and norms[layer] is not None else [])
        out += [(p, 1.0 / r) for p in vec if p is not None]
    return [(p, f.to(dtype=p.dtype, device=device)) for p, f in out]
