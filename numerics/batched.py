"""Seed-batched learners: S independent training runs as one set of tensors with a leading seed axis.

Run s of a ``Batched`` learner is the network of ``numerics.models`` (``MLP``, or ``CNN`` when the
learner has conv layers) with parameters W_l[s], b_l[s] (and γ_l[s], β_l[s] under normalization),
trained by SGD on its own data. Each step does, for every run at once,

    forward     z_l = norm(W_l x_{l−1} + b_l),  h_l = f(z_l),  x_l = dropout(h_l);  ŷ = W_L x_{L−1} + b_L
    loss        mean squared error (regression) or cross-entropy (classification) over the minibatch
    backward    δ at the output, then for l = L−1 … 1 (the derivation of ``theory.net``):
                ∂L/∂h_l = (W_{l+1}ᵀ δ_{l+1}) ⊙ mask_l,   δ_l = ∂L/∂z_l ⊙ f'(z_l) through the norm,
                ∂L/∂W_l = δ_l x_{l−1}ᵀ,  ∂L/∂b_l = Σ δ_l
    update      θ ← θ − η (g + the intervention's terms; ``numerics.interventions``)

with batched matmuls (``torch.baddbmm``/``bmm``: one kernel for all runs) for linear layers and one
grouped convolution (groups = S) for conv layers. The backward pass is written out, not taped: a
step is a fixed, short list of tensor operations whatever S is, so S runs cost little more than one
(a 20-5-1 net's step is dominated by per-operation overhead). ``tests/test_batched.py`` checks every
gradient against autograd on ``model(s)``, and the per-step reference loop of
``benchmarks/bitflip_reference.py`` (one sample, autograd, ``optimizer.step()``) against one run.

Every random draw of run s — initial weights, dropout masks, gradient noise, perturbations, reset
units — comes from that seed's own generators (``numerics.streams.seed_generator``), drawn in
blocks whose size depends only on the shape of one step's draw. Run s therefore follows the same
trajectory whatever other seeds share the batch; results agree to rounding (the batched kernels may
sum in another order than a per-run loop).

Initialization (Dohare et al.'s learner): W ~ U(−a, a) with a = gain·√(3 / fan_in) (Kaiming
uniform; gain √2 for ReLU, torch's ``calculate_gain`` for others, 1 for the read-out), biases 0,
γ = 1, β = 0. Norm conventions are torch's: ε = 1e-5, BatchNorm momentum 0.1 with unbiased running
variance; LayerNorm on a conv layer normalizes each sample over channels × positions
(``GroupNorm(1, C)``, as ``numerics.models.CNN``).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm import tqdm

from numerics import interventions as ivs
from numerics.models import CNN, MLP
from numerics.streams import TaskData, check_seeds, seed_generator
from numerics.validate import count, number
from theory import activations

LOSSES = ("mse", "ce")
EPS = 1e-5
MOMENTUM = 0.1
BLOCK = 1 << 16  # numbers per seed drawn at once by a ``SeedDraws``
REDO_ROWS = 1024  # ReDo scores units on at most this many of the last inputs


# ---- activations: f and f' ------------------------------------------------------------------------

# ∂L/∂z = ∂L/∂h · f'(z) from (∂L/∂h, z, h = f(z)) in closed form, with torch's convention at the kinks
# (relu'(0) = 0: aten's threshold_backward is ReLU's own backward); tests/test_batched.py checks each
# against autograd of the registry's torch function.
_BACKWARD: dict[str, Callable[..., torch.Tensor]] = {
    "relu": lambda dh, z, h: torch.ops.aten.threshold_backward(dh, z, 0),
    "leaky_relu": lambda dh, z, h: torch.where(z > 0, dh, dh * 0.01),
    "tanh": lambda dh, z, h: dh * (1 - h * h),
    "sigmoid": lambda dh, z, h: dh * h * (1 - h),
    "identity": lambda dh, z, h: dh,
}


Backward = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def backward_activation(activation: str) -> Backward:
    """(∂L/∂h, z, h) ↦ ∂L/∂z for the registry's activation: closed form where known, autograd
    otherwise."""
    closed = _BACKWARD.get(activation)
    if closed is not None:
        return closed
    f = activations.get(activation).torch_fn

    def by_autograd(dh: torch.Tensor, z: torch.Tensor, h: torch.Tensor) -> torch.Tensor:
        with torch.enable_grad():
            zz = z.detach().requires_grad_(True)
            (g,) = torch.autograd.grad(f(zz), zz, dh)
        return g

    return by_autograd


def _outer(d: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Σ_rows dᵀ x per run, (S, U, D): a broadcast product for a single row (cheaper than bmm)."""
    return d.mT * x if d.shape[1] == 1 else torch.bmm(d.mT, x)


def _rows(d: torch.Tensor) -> torch.Tensor:
    """Σ_rows d per run, (S, U)."""
    return d[:, 0] if d.shape[1] == 1 else d.sum(1)


def gain(activation: str) -> float:
    try:
        return nn.init.calculate_gain(activation)
    except ValueError:
        return 1.0


# ---- the learner's shape -----------------------------------------------------------------------------

@dataclass(frozen=True)
class Net:
    """What each run's network is. MLP: ``widths`` = (inputs, hidden..., outputs). CNN (``channels``
    non-empty): 3×3 stride-2 conv layers of ``channels`` on inputs of shape ``image``, then linear
    layers ``widths`` = (hidden..., outputs) — ``numerics.models.CNN``'s layout."""

    widths: tuple[int, ...]
    activation: str = "relu"
    norm: str | None = None
    dropout: float = 0.0
    loss: str = "mse"
    lr: float = 0.01
    image: tuple[int, int, int] | None = None
    channels: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        activations.get(self.activation)
        if self.norm not in ivs.NORMS:
            raise ValueError(f"unknown norm {self.norm!r} (accepted: none, batch, layer)")
        if self.loss not in LOSSES:
            raise ValueError(f"unknown loss {self.loss!r} (accepted: {', '.join(LOSSES)})")
        number(self.dropout, "dropout", 0, 1, hi_open=True)
        number(self.lr, "lr", 0, lo_open=True)
        for name in ("widths", "channels"):
            for w in getattr(self, name):
                count(w, f"each of {name}", 1)
        if self.channels:
            if self.image is None or len(self.image) != 3 or len(self.widths) < 1:
                raise ValueError("a conv learner needs image (C, H, W) and widths (hidden..., outputs)")
        elif len(self.widths) < 3:
            raise ValueError(f"widths {self.widths} must be (inputs, hidden..., outputs)")
        if min([*self.widths, *self.channels]) < 1:
            raise ValueError(f"widths and channels must be positive (got {self.widths}, {self.channels})")

    @property
    def convolutional(self) -> bool:
        return bool(self.channels)

    def grids(self) -> list[tuple[int, int]]:
        """(rows, columns) of every conv layer's output."""
        _, rows, cols = self.image
        out = []
        for _ in self.channels:
            rows, cols = (rows - 1) // 2 + 1, (cols - 1) // 2 + 1
            out.append((rows, cols))
        return out

    @property
    def inputs(self) -> int:
        return math.prod(self.image) if self.convolutional else self.widths[0]

    @property
    def units(self) -> list[int]:
        """Hidden units per hidden layer (conv channels, then linear units)."""
        return [*self.channels, *self.widths[:-1]] if self.convolutional else list(self.widths[1:-1])

    def shapes(self) -> list[tuple[int, ...]]:
        """Every weight layer's weight shape (out, in[, 3, 3]): hidden layers, then the read-out."""
        if not self.convolutional:
            return [(b, a) for a, b in zip(self.widths[:-1], self.widths[1:])]
        shapes, c_in = [], self.image[0]
        for c in self.channels:
            shapes.append((c, c_in, 3, 3))
            c_in = c
        rows, cols = self.grids()[-1]
        feats = [c_in * rows * cols, *self.widths]
        return shapes + [(b, a) for a, b in zip(feats[:-1], feats[1:])]

    def with_intervention(self, iv: ivs.Intervention) -> Net:
        """This net with the intervention's normalization and dropout (an error if both set one)."""
        changes = {}
        for name in ("norm", "dropout"):
            mine, theirs = getattr(self, name), getattr(iv, name)
            if theirs and mine and theirs != mine:
                raise ValueError(f"net has {name}={mine!r}, intervention {iv.name!r} sets {theirs!r}")
            if theirs:
                changes[name] = theirs
        return replace(self, **changes) if changes else self

    def describe(self) -> str:
        if self.convolutional:
            arch = (f"{'x'.join(map(str, self.image))} conv {'-'.join(map(str, self.channels))} "
                    f"fc {'-'.join(map(str, self.widths))}")
        else:
            arch = "-".join(map(str, self.widths))
        extra = "".join([f" {self.norm}norm" if self.norm else "",
                         f" dropout={self.dropout}" if self.dropout else ""])
        return f"{arch} {self.activation}{extra}, SGD η={self.lr}, {self.loss}"

    def parameters(self) -> int:
        n = sum(math.prod(s) + s[0] for s in self.shapes())
        return n + (2 * sum(self.units) if self.norm else 0)


# ---- per-seed random numbers -----------------------------------------------------------------------

class SeedDraws:
    """Per-step random tensors of one shape, one generator per seed: ``next()`` is (S, *shape).
    Each seed draws blocks of ``BLOCK // prod(shape)`` steps from its own generator in float64, so its
    numbers do not depend on the other seeds, on the dtype or on where a consumer stops."""

    def __init__(self, seeds: Sequence[int], purpose: str, shape: tuple[int, ...], kind: str,
                 dtype: torch.dtype, device: torch.device | str):
        if kind not in ("uniform", "normal"):
            raise ValueError(f"unknown draw kind {kind!r} (accepted: uniform, normal)")
        self.generators = [seed_generator(s, purpose) for s in seeds]
        self.shape, self.kind, self.dtype, self.device = tuple(shape), kind, dtype, device
        self.block = max(1, BLOCK // max(1, math.prod(shape)))
        self.buffer: torch.Tensor | None = None
        self.i = self.block

    def next(self) -> torch.Tensor:
        if self.i == self.block:
            fill = torch.rand if self.kind == "uniform" else torch.randn
            self.buffer = torch.stack([fill((self.block, *self.shape), generator=g, dtype=torch.float64)
                                       for g in self.generators]).to(self.dtype).to(self.device)
            self.i = 0
        out = self.buffer[:, self.i]
        self.i += 1
        return out


def init_weights(shape: Sequence[int], bound: float, generator: torch.Generator, n: int | None = None
                 ) -> torch.Tensor:
    """U(−bound, bound) weights of ``shape`` (float64), or ``n`` rows of them (reset units)."""
    size = tuple(shape) if n is None else (n, *shape[1:])
    return (torch.rand(size, generator=generator, dtype=torch.float64) * 2 - 1) * bound


# ---- the trace of a forward pass ----------------------------------------------------------------------

@dataclass
class Trace:
    """Per hidden layer, z and h as (S, rows, units): rows are the samples (and, for a conv layer, the
    positions of every sample: (sample, row, column) order, as ``numerics.models.CNN.trace``)."""

    z: list[torch.Tensor]
    h: list[torch.Tensor]
    out: torch.Tensor  # (S, B, outputs)
    cache: list[list] = field(default_factory=list, repr=False)  # per layer: input, norm, dropout mask
    raw_z: list[torch.Tensor] = field(default_factory=list, repr=False)  # in the layer's own layout
    raw_h: list[torch.Tensor] = field(default_factory=list, repr=False)


def _units_view(t: torch.Tensor) -> torch.Tensor:
    """(B, S, C, H, W) → (S, B·H·W, C)."""
    B, S, C = t.shape[:3]
    return t.permute(1, 0, 3, 4, 2).reshape(S, -1, C)


# ---- the learner ---------------------------------------------------------------------------------------

class Batched:
    """S runs of ``net`` under ``intervention``, one per seed (module docstring)."""

    def __init__(self, net: Net, seeds: Sequence[int], intervention: ivs.Intervention | str = "bp",
                 dtype: torch.dtype = torch.float64, device: str | torch.device = "cpu"):
        self.intervention = ivs.get(intervention) if isinstance(intervention, str) else intervention
        self.net = net.with_intervention(self.intervention)
        self.seeds = check_seeds(seeds)
        self.S, self.dtype, self.device = len(self.seeds), dtype, torch.device(device)
        self.t = 0
        self._draws: dict[str, SeedDraws] = {}
        self._reinit = [seed_generator(s, "reinit") for s in self.seeds]
        shapes = self.net.shapes()
        self.hidden = len(shapes) - 1
        self.bounds = [gain(self.net.activation) * math.sqrt(3 / math.prod(s[1:])) for s in shapes[:-1]]
        self.bounds.append(math.sqrt(3 / shapes[-1][1]))
        gens = [seed_generator(s, "init") for s in self.seeds]
        per_seed = [[init_weights(shape, bound, g) for shape, bound in zip(shapes, self.bounds)]
                    for g in gens]
        self.W = [torch.stack([w[l] for w in per_seed]).to(dtype=dtype, device=self.device)
                  for l in range(len(shapes))]
        self.b = [torch.zeros(self.S, s[0], dtype=dtype, device=self.device) for s in shapes]
        def per_unit(value: float, when: bool) -> list[torch.Tensor]:
            return [torch.full((self.S, u), value, dtype=dtype, device=self.device) for u in self.units] \
                if when else []

        norm, batch = self.net.norm is not None, self.net.norm == "batch"
        self.gamma, self.beta = per_unit(1.0, norm), per_unit(0.0, norm)
        self.running_mean, self.running_var = per_unit(0.0, batch), per_unit(1.0, batch)
        self._f = activations.get(self.net.activation).torch_fn
        self._backward_f = backward_activation(self.net.activation)
        self._params = self.parameters()  # updated in place, so the list stays valid
        self.resets = ivs.UnitResets.start(self, self.intervention)

    # -- shape ----------------------------------------------------------------------------------------------

    @property
    def units(self) -> list[int]:
        return self.net.units

    def _conv(self, l: int) -> bool:
        return l < len(self.net.channels)

    def parameters(self) -> list[torch.Tensor]:
        """Every trained tensor, leading axis S: per layer W, b (and γ, β of hidden layers)."""
        out = []
        for l in range(self.hidden + 1):
            out += [self.W[l], self.b[l]]
            if self.gamma and l < self.hidden:
                out += [self.gamma[l], self.beta[l]]
        return out

    def draws(self, purpose: str, shape: tuple[int, ...], kind: str) -> torch.Tensor:
        key = f"{purpose}/{kind}/{shape}"
        if key not in self._draws:
            self._draws[key] = SeedDraws(self.seeds, purpose, shape, kind, self.dtype, self.device)
        return self._draws[key].next()

    def uniform(self, purpose: str, shape: tuple[int, ...]) -> torch.Tensor:
        return self.draws(purpose, shape, "uniform")

    # -- forward ---------------------------------------------------------------------------------------------

    def _normalize(self, l: int, z: torch.Tensor, train: bool) -> tuple[torch.Tensor, tuple]:
        """γ ẑ + β with ẑ = (z − μ)/σ, and (ẑ, 1/σ, the dims the statistics reduce over) for backward."""
        conv, norm = self._conv(l), self.net.norm
        # layouts: linear (S, B, U) with γ as (S, 1, U); conv (B, S, C, H, W) with γ as (1, S, C, 1, 1)
        view = (lambda t: t[None, :, :, None, None]) if conv else (lambda t: t[:, None, :])
        if norm == "batch":
            dims = (0, 3, 4) if conv else (1,)
            if train:
                n = math.prod(z.shape[d] for d in dims)
                if n < 2:
                    raise ValueError("BatchNorm needs at least 2 values per unit in a batch "
                                     "(online learning with batch 1 cannot use it)")
                mean, var = z.mean(dims, keepdim=True), z.var(dims, keepdim=True, unbiased=False)
                self.running_mean[l].mul_(1 - MOMENTUM).add_(mean.reshape(self.S, -1), alpha=MOMENTUM)
                self.running_var[l].mul_(1 - MOMENTUM).add_(var.reshape(self.S, -1),
                                                            alpha=MOMENTUM * n / (n - 1))  # unbiased
            else:
                dims = None
                mean, var = view(self.running_mean[l]), view(self.running_var[l])
        else:
            dims = (2, 3, 4) if conv else (2,)
            mean, var = z.mean(dims, keepdim=True), z.var(dims, keepdim=True, unbiased=False)
        inv = torch.rsqrt(var + EPS)
        zhat = (z - mean) * inv
        return zhat * view(self.gamma[l]) + view(self.beta[l]), (zhat, inv, dims)

    def forward(self, x: torch.Tensor, train: bool = True) -> Trace:
        """The trace of every run on its inputs x (S, B, d); ``train``: dropout on, BatchNorm on batch
        statistics (and its running statistics updated)."""
        S, B = x.shape[0], x.shape[1]
        if S != self.S or x.shape[2] != self.net.inputs:
            raise ValueError(f"inputs must be (S={self.S}, batch, {self.net.inputs}); got {tuple(x.shape)}")
        zs, hs, caches = [], [], []
        net, f = self.net, self._f
        convs = len(net.channels)
        if convs:
            x = x.reshape(S, B, *net.image).transpose(0, 1)  # (B, S, C, H, W)
        for l in range(self.hidden):
            conv = l < convs
            if conv:
                W = self.W[l]
                z = F.conv2d(x.reshape(B, -1, *x.shape[3:]), W.reshape(-1, *W.shape[2:]),
                             self.b[l].reshape(-1), stride=2, padding=1, groups=S)
                z = z.reshape(B, S, W.shape[1], *z.shape[2:])
            else:
                if l == convs and l > 0:  # flatten after the last conv layer: feature c·P + p
                    x = x.transpose(0, 1).reshape(S, B, -1)
                z = torch.baddbmm(self.b[l][:, None, :], x, self.W[l].mT)
            cache = [x, None, None]  # input, (ẑ, 1/σ, dims) of the norm, dropout mask
            if net.norm is not None:
                z, cache[1] = self._normalize(l, z, train)
            h = f(z)
            x = h
            if train and net.dropout:
                # one uniform per value of run s's layer: (B, U), or (B, C, H, W) for a conv layer
                u = self.uniform(f"dropout/{l}", (B, *h.shape[2:]) if conv else tuple(h.shape[1:]))
                mask = (u >= net.dropout).to(h.dtype) / (1 - net.dropout)
                cache[2] = mask.transpose(0, 1) if conv else mask  # conv: (S, B, ...) → (B, S, ...)
                x = h * cache[2]
            zs.append(z)
            hs.append(h)
            caches.append(cache)
        if convs and self.hidden == convs:
            x = x.transpose(0, 1).reshape(S, B, -1)
        caches.append([x])
        out = torch.baddbmm(self.b[-1][:, None, :], x, self.W[-1].mT)
        return Trace([_units_view(z) if l < convs else z for l, z in enumerate(zs)],
                     [_units_view(h) if l < convs else h for l, h in enumerate(hs)], out, caches, zs, hs)

    # -- loss and backward --------------------------------------------------------------------------------

    def loss(self, out: torch.Tensor, y: torch.Tensor, classes: torch.Tensor | None = None) -> torch.Tensor:
        """Per-run loss (S,) of outputs (S, B, O) against targets y (S, B): mean squared error over
        the batch and outputs, or cross-entropy over the batch with the logits of classes outside
        ``classes`` (S, C) masked out."""
        if self.net.loss == "mse":
            e = out - y.reshape(out.shape).to(out.dtype)
            return (e * e).mean((1, 2))
        if classes is not None:
            out = out.masked_fill(~classes[:, None, :], -math.inf)
        return -torch.log_softmax(out, 2).gather(2, y.long()[:, :, None]).mean((1, 2))

    def dloss(self, out: torch.Tensor, y: torch.Tensor, classes: torch.Tensor | None = None) -> torch.Tensor:
        """∂(Σ_s loss_s)/∂out."""
        S, B, O = out.shape
        if self.net.loss == "mse":
            return (out - y.reshape(out.shape)).mul_(2.0 / (B * O))
        if classes is not None:
            out = out.masked_fill(~classes[:, None, :], -math.inf)
        d = torch.softmax(out, 2)
        d.scatter_add_(2, y.long()[:, :, None], torch.full((S, B, 1), -1.0, dtype=d.dtype, device=d.device))
        return d.div_(B)

    def backward(self, trace: Trace, dout: torch.Tensor) -> list[torch.Tensor]:
        """The gradients of Σ_s loss_s, in the order of ``parameters()``."""
        S, net = self.S, self.net
        convs = len(net.channels)
        grads = [_rows(dout), _outer(dout, trace.cache[-1][0])]  # read-out b, W: the list runs backwards
        dx = torch.bmm(dout, self.W[-1])  # (S, B, F)
        for l in range(self.hidden - 1, -1, -1):
            xin, norm, mask = trace.cache[l]
            z, h = trace.raw_z[l], trace.raw_h[l]
            conv = l < convs
            if conv and dx.dim() == 3:  # un-flatten the first linear layer's input gradient
                dx = dx.reshape(S, h.shape[0], *h.shape[2:]).transpose(0, 1)
            dz = self._backward_f(dx * mask if mask is not None else dx, z, h)
            if norm is not None:
                zhat, inv, dims = norm
                red = (0, 3, 4) if conv else (1,)
                grads += [dz.sum(red).reshape(S, -1), (dz * zhat).sum(red).reshape(S, -1)]  # β, γ
                dzhat = dz * (self.gamma[l][None, :, :, None, None] if conv else self.gamma[l][:, None, :])
                dz = inv * (dzhat - dzhat.mean(dims, keepdim=True)
                            - zhat * (dzhat * zhat).mean(dims, keepdim=True))
            if conv:
                B, W = dz.shape[0], self.W[l]
                flat_dz, flat_x = dz.reshape(B, -1, *dz.shape[3:]), xin.reshape(B, -1, *xin.shape[3:])
                dW = torch.nn.grad.conv2d_weight(flat_x, (S * W.shape[1], *W.shape[2:]), flat_dz, stride=2,
                                                 padding=1, groups=S)
                grads += [dz.sum((0, 3, 4)), dW.reshape(W.shape)]
                if l > 0:
                    dx = torch.nn.grad.conv2d_input(flat_x.shape, W.reshape(-1, *W.shape[2:]), flat_dz,
                                                    stride=2, padding=1, groups=S).reshape(xin.shape)
            else:
                grads += [_rows(dz), _outer(dz, xin)]
                if l > 0:
                    dx = torch.bmm(dz, self.W[l])
        return grads[::-1]

    # -- one step ---------------------------------------------------------------------------------------

    def step(self, x: torch.Tensor, y: torch.Tensor, classes: torch.Tensor | None = None) -> torch.Tensor:
        """One SGD step of every run on its minibatch (x (S, B, d), y (S, B)); returns the outputs
        (S, B, O) before the update (``loss`` turns them into per-run losses)."""
        self.t += 1
        iv, params = self.intervention, self._params
        trace = self.forward(x, train=True)
        grads = self.backward(trace, self.dloss(trace.out, y, classes))
        if iv.weight_decay:
            for p, g in zip(params, grads):
                g.add_(p, alpha=iv.weight_decay)
        if iv.noise:
            norm = torch.sqrt(sum((g * g).reshape(self.S, -1).sum(1) for g in grads))
            xi = self.draws("noise", (self._size(),), "normal")
            scale = (ivs.noisy_sigma(iv, self.t) * norm)[:, None]
            for g, n in zip(grads, self._split(xi * scale)):
                g.add_(n)
        lr = self.net.lr
        for p, g in zip(params, grads):
            p.sub_(g, alpha=lr)
        if iv.perturb:
            xi = self.draws("perturb", (self._size(),), "normal")
            for p, n in zip(params, self._split(xi * iv.perturb)):
                p.add_(n)
        if self.resets is not None and self.resets.cbp is not None:
            self.resets.cbp_step(self, trace)
        return trace.out

    def _size(self) -> int:
        return sum(p[0].numel() for p in self.parameters())

    def _split(self, flat: torch.Tensor) -> list[torch.Tensor]:
        out, i = [], 0
        for p in self.parameters():
            n = p[0].numel()
            out.append(flat[:, i:i + n].reshape(p.shape))
            i += n
        return out

    # -- units: their weights, and resets -----------------------------------------------------------------

    def incoming(self, l: int) -> torch.Tensor:
        """(S, U_l, fan_in): the incoming weights of hidden layer l's units."""
        return self.W[l].reshape(self.S, self.W[l].shape[1], -1)

    def outgoing(self, l: int) -> torch.Tensor:
        """(S, U_l, fan_out): the weights leaving hidden layer l's units (a conv channel's are every
        kernel entry, or every position's feature, it feeds)."""
        W = self.W[l + 1]
        if l == len(self.net.channels) - 1 and not self._conv(l + 1):  # conv → first linear layer
            W = W.reshape(self.S, W.shape[1], self.units[l], -1)
        return W.transpose(1, 2).reshape(self.S, self.units[l], -1)

    def reset_units(self, l: int, s: int, units: torch.Tensor, transfer: torch.Tensor | None = None) -> None:
        """Replace units ``units`` of hidden layer l in run s: incoming weights redrawn from the initial
        distribution (run s's reset generator), bias 0, normalization reset, outgoing weights 0 — after
        adding ``transfer`` (their mean activations) through the outgoing weights to the next bias."""
        units = units.to(self.device)
        n = len(units)
        new = init_weights(self.W[l].shape[1:], self.bounds[l], self._reinit[s], n)
        self.W[l][s, units] = new.to(dtype=self.dtype, device=self.device)
        self.b[l][s, units] = 0
        if self.gamma:
            self.gamma[l][s, units], self.beta[l][s, units] = 1, 0
        if self.running_mean:
            self.running_mean[l][s, units], self.running_var[l][s, units] = 0, 1
        W = self.W[l + 1][s]
        if l == len(self.net.channels) - 1 and not self._conv(l + 1):
            W = W.reshape(W.shape[0], self.units[l], -1)
        if transfer is not None:
            self.b[l + 1][s] += (W[:, units].reshape(W.shape[0], n, -1).sum(2) * transfer).sum(1)
        W[:, units] = 0

    # -- plain models --------------------------------------------------------------------------------

    def pairs(self, model: MLP | CNN) -> list[tuple[torch.Tensor, torch.Tensor]]:
        """(tensor of ``model``, the learner's stacked tensor) for every parameter and running
        statistic: run s of the learner is ``model`` when each first equals the second's [s]."""
        out = [(t, W) for layer, W, b in zip([*model.hidden, model.linears[-1]], self.W, self.b)
               for t, W in ((layer.weight, W), (layer.bias, b))]
        for l, norm in enumerate(model.norms or []):
            out += [(norm.weight, self.gamma[l]), (norm.bias, self.beta[l])]
            if self.running_mean:
                out += [(norm.running_mean, self.running_mean[l]), (norm.running_var, self.running_var[l])]
        return out

    def blank(self) -> MLP | CNN:
        """A ``numerics.models`` network of this learner's shape, dtype and device."""
        net = self.net
        if net.convolutional:
            m = CNN(net.image, list(net.channels), list(net.widths[:-1]), net.widths[-1], net.activation,
                    net.norm, net.dropout)
        else:
            m = MLP(list(net.widths), net.activation, net.norm, net.dropout)
        return m.to(dtype=self.dtype, device=self.device)

    @torch.no_grad()
    def model(self, s: int, into: MLP | CNN | None = None) -> MLP | CNN:
        """Run ``s`` (an index into ``seeds``) as a ``numerics.models`` network (in training mode, its
        dropout active as this learner's), or copied into ``into``."""
        m = self.blank() if into is None else into
        for t, stacked in self.pairs(m):
            t.copy_(stacked[s])
        return m

    @torch.no_grad()
    def load(self, models: Sequence[MLP | CNN]) -> None:
        """Set run s to ``models[s]`` (networks of this learner's shape), for every run."""
        if len(models) != self.S:
            raise ValueError(f"load needs one model per run ({self.S}), got {len(models)}")
        for s, m in enumerate(models):
            for t, stacked in self.pairs(m):
                if t.shape != stacked.shape[1:]:
                    raise ValueError(f"model {s} has a tensor of shape {tuple(t.shape)}, the learner "
                                     f"{tuple(stacked.shape[1:])}")
                stacked[s].copy_(t)

    def evaluate(self, X: torch.Tensor, Y: torch.Tensor, classes: torch.Tensor | None = None,
                 chunk: int = 1024) -> tuple[torch.Tensor, torch.Tensor | None]:
        """(per-run loss, per-run accuracy or None) on data X (S, n, d), in evaluation mode."""
        losses, correct = [], []
        for i in range(0, X.shape[1], chunk):
            x, y = X[:, i:i + chunk], Y[:, i:i + chunk]
            out = self.forward(x, train=False).out
            losses.append(self.loss(out, y, classes) * x.shape[1])
            if self.net.loss == "ce":
                if classes is not None:
                    out = out.masked_fill(~classes[:, None, :], -math.inf)
                correct.append((out.argmax(2) == y).sum(1))
        n = X.shape[1]
        acc = (sum(correct).to(self.dtype) / n) if correct else None
        return sum(losses) / n, acc


# ---- training on a task stream ------------------------------------------------------------------------

Probe = Callable[[Batched, TaskData], dict[str, np.ndarray]]


@dataclass
class History:
    """What ``train`` records, per task k (axis 1) for every run (axis 0): the mean online loss and
    (classification) accuracy over the task's steps, the loss and accuracy on the whole task after
    its last step, and the probes' arrays (S, tasks, ...). Plain numpy: it crosses process bounds."""

    seeds: list[int]
    loss: np.ndarray
    accuracy: np.ndarray | None
    final_loss: np.ndarray
    final_accuracy: np.ndarray | None
    probes: dict[str, np.ndarray]
    replaced: np.ndarray | None  # (S, layers): units replaced by CBP/ReDo over the whole run


def train(learner: Batched, tasks: Iterable[TaskData], probe: Probe | None = None, at_start: bool = True,
          progress: bool = False, desc: str = "tasks") -> History:
    """Train every run on every task in turn. ``probe(learner, task)`` is called before the first
    task's training (with that task, when ``at_start``) and after each task's last step."""
    losses, accs, final_loss, final_acc, probed = [], [], [], [], {}

    def record(values: dict[str, np.ndarray]) -> None:
        for key, v in values.items():
            probed.setdefault(key, []).append(np.asarray(v))

    iv = learner.intervention
    redo = learner.resets is not None and learner.resets.redo is not None
    bar = tqdm(tasks, desc=desc, unit="task", leave=False, disable=not progress or None)
    for task in bar:
        if task.X.shape[0] != learner.S:
            raise ValueError(f"task has {task.X.shape[0]} runs, the learner {learner.S}")
        if probe is not None and at_start and not losses:
            record(probe(learner, task))
        outs = None
        window = iv.redo.every if redo else 0
        for t, (x, y) in enumerate(task.batches()):
            out = learner.step(x, y, task.classes)
            if outs is None:
                outs = torch.empty(learner.S, task.steps, *out.shape[1:], dtype=out.dtype, device=out.device)
            outs[:, t] = out
            if redo and learner.t % window == 0:
                recent = task.seen(t + 1)[0][:, -min(window * x.shape[1], REDO_ROWS):]
                learner.resets.redo_step(learner, learner.t, recent)
        _, seen = task.seen()
        outs = outs.reshape(learner.S, -1, outs.shape[-1])
        losses.append(learner.loss(outs, seen, task.classes).cpu().numpy())
        diverged = [s for s, v in zip(learner.seeds, losses[-1]) if not np.isfinite(v)]
        if diverged:  # a diverged run is never reported as a trained one
            raise FloatingPointError(f"the loss is {losses[-1][learner.seeds.index(diverged[0])]} on task "
                                     f"{task.index} for seed(s) {diverged} ({learner.net.describe()}, "
                                     f"{iv.name}); lower the learning rate or check the data")
        if learner.net.loss == "ce":
            if task.classes is not None:
                outs = outs.masked_fill(~task.classes[:, None, :], -math.inf)
            accs.append((outs.argmax(2) == seen).to(torch.float64).mean(1).cpu().numpy())
        fl, fa = learner.evaluate(task.X, task.Y, task.classes)
        final_loss.append(fl.cpu().numpy())
        if fa is not None:
            final_acc.append(fa.cpu().numpy())
        if probe is not None:
            record(probe(learner, task))
        bar.set_postfix_str(f"loss {float(losses[-1].mean()):.3g}")
    stack = lambda xs: np.stack(xs, 1) if xs else None  # noqa: E731
    replaced = None
    if learner.resets is not None:
        replaced = np.stack([r.numpy() for r in learner.resets.replaced], 1)
    return History(learner.seeds, stack(losses), stack(accs), stack(final_loss), stack(final_acc),
                   {k: np.stack(v, 1) for k, v in probed.items()}, replaced)

