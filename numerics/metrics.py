"""The measures of a layer's units: one definition each, on whole-layer tensors.

A layer is read on N samples as z (samples × units, the activation's input) and h = f(z) (its
output); a conv layer's units are its channels and every (image, position) is a sample, so a channel
is dead iff it is dead at every sample and every position. Every function also takes a **leading
batch of independent networks** (e.g. seeds trained side by side): z, h of shape (..., N, U) give
per-unit results of shape (..., U) and per-layer results of shape (...).

**Frozen units** (CLAIMS.md, frozen.*; App. B.2):

- ``exact_dead`` — z_j(x_i) ∈ Flat(f) for every sample i, Flat(f) the registry's flat set (ReLU:
  z ≤ 0, matching torch's relu'(0) = 0). Then f'(z_j) = 0 on every sample: the unit's incoming
  weights and bias get exactly zero gradient from these data (frozen.gradient-zero).
- ``paper_dead`` — the paper's measure: |h_j| < 1e-7 on more than 95% of the samples.
- ``dormant`` — ReDo's (Sokar et al. 2023) dormancy: s_j = E|h_j| / ((1/U) Σ_k E|h_k|) ≤ τ
  (τ = 0.025 and 0.1 in ``REDO_TAUS``); ``dormancy`` is s.
- certified dead (dead for every future step, not only on these data): ``sign_certificate`` and
  ``norm_certificate`` are the two per-layer rules; ``numerics.probes`` chains them through a
  model's graph.
- ``saturated`` — the paper's saturated unit: |∂L/∂h_j(x_i)| / max(mean_i |h_j(x_i)|, 1e-12) < 1e-4 on
  more than 99% of samples, with ∂L/∂h the gradient of the batch-mean loss at the unit's *output*
  (what a backward hook on the activation module sees). The mean loss puts a 1/N on every sample's
  gradient, so the measure changes with the batch size alone; ``saturated_invariant`` multiplies it
  back (the gradient of each sample's own loss). Note what it measures: ∂L/∂h is the backward
  signal *arriving* at the unit, which does not involve f'(z_j) at all — an exactly dead ReLU unit
  (h ≡ 0, so the ratio divides by 1e-12) is almost never "saturated".

**Cloned units.** Exact clone blocks come from the weights (the coarsest equitable partition,
``cases.equivalence``; ``numerics.probes.clone_partition`` on any model); on activations the paper
counts **duplicates**: unit j is a duplicate when some later unit k > j of its layer has cosine
similarity of activation columns > 0.95 (``duplicates``; ``centred=True`` is the correlation
version, columns centred first). ``block_sizes`` lists the blocks with ≥ 2 units of a partition.

**Ranks** of the activation matrix H (samples × units), all from its second moments
(``Moments``: n, Σh and the Gram matrix G = HᵀH, accumulated in float64, so a stream of chunks gives
the same numbers as the whole matrix). ``centred`` subtracts the column means (G − n μμᵀ):

- ``effective_rank`` — the paper's: ``theory.spectra.effective_rank`` of the singular values
  σ_i = √λ_i(G) (exp of the entropy of σ / Σσ);
- ``stable_rank`` — the usual ‖H‖_F² / ‖H‖_2² = tr G / λ_max(G);
- ``participation_ratio`` — (tr G)² / tr(G²) = ‖H‖_F⁴ / ‖HᵀH‖_F², what the paper's code calls
  "stable rank" (it uses the centred one): the participation ratio of the covariance eigenvalues;
- ``numerical_rank`` — eigenvalues of G above the tolerance d · (λ_max ε + e), e = n ε max_k G_kk
  the rounding bound of G's float64 entries (Weyl; ``theory.spectra.psd_rank``): dead units and
  exact clones lower it exactly, noise below that level does not count.

With fewer samples than units (n < U) the spectra come from the smaller Gram matrix HHᵀ (n × n; the
same non-zero eigenvalues, an n³ instead of a U³ eigenproblem); a stream can cap the samples that
enter the moments (``LayerStats(moment_inputs=...)``, the training-time probe's ``spectra_samples``).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import sympy as sp
import torch

from numerics.validate import count, finite, number
from theory import activations, spectra

PAPER_DEAD_THRESHOLD = 1e-7
PAPER_DEAD_FRACTION = 0.95
DUPLICATE_THRESHOLD = 0.95
SATURATION_THRESHOLD = 1e-4
SATURATION_FRACTION = 0.99
SATURATION_FLOOR = 1e-12  # the paper's clamp of mean |h|
REDO_TAUS = (0.025, 0.1)


# ---- validation -------------------------------------------------------------------------------

def _tensor(x: object, name: str, min_dim: int = 2) -> torch.Tensor:
    """``x`` as a tensor of at least ``min_dim`` dimensions with finite entries (ValueError/TypeError
    naming ``name`` otherwise)."""
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch tensor (samples × units), not {type(x).__name__}")
    if x.dim() < min_dim:
        raise ValueError(f"{name} must have shape (..., samples, units); got shape {tuple(x.shape)}")
    if x.is_complex() or not (x.is_floating_point() or x.dtype == torch.bool):
        x = x.double() if not x.is_complex() else x
        if x.is_complex():
            raise TypeError(f"{name} must be real, got {x.dtype}")
    if x.is_floating_point() and not finite(x):
        raise ValueError(f"{name} contains NaN or inf")
    return x


def _threshold(threshold: object) -> float:
    return number(threshold, "threshold", 0, lo_open=True)  # |h| < 0 would hold for no sample


def _fraction(fraction: object) -> float:
    return number(fraction, "fraction", 0, 1, hi_open=True)  # more than all samples: no unit ever


def _labels(labels: object) -> np.ndarray:
    """Block labels as a flat array of non-negative integers (a float label is refused, not truncated)."""
    if isinstance(labels, torch.Tensor):
        labels = labels.cpu().numpy()
    try:
        a = np.asarray(labels)
    except (TypeError, ValueError) as exc:  # a ragged nesting
        raise ValueError(f"labels must be an array of block numbers: {exc}") from None
    if a.dtype == bool or not np.issubdtype(a.dtype, np.integer):
        raise TypeError(f"labels must be integer block numbers, not {a.dtype} (e.g. {a.reshape(-1)[:3]})")
    if a.size and a.min() < 0:
        raise ValueError(f"labels must be non-negative block numbers (got {int(a.min())})")
    return a.astype(np.int64).reshape(-1)


def _samples(x: torch.Tensor, name: str) -> None:
    if x.shape[-2] == 0:
        raise ValueError(f"{name} has no samples (shape {tuple(x.shape)})")


# ---- frozen units -------------------------------------------------------------------------------

@functools.cache
def _flat_intervals(activation: str) -> tuple[tuple[float, float, bool, bool], ...]:
    """The registry's flat set as (lo, hi, lo_open, hi_open) float intervals."""
    flat = activations.get(activation).flat_set
    parts = () if flat is sp.S.EmptySet else flat.args if isinstance(flat, sp.Union) else (flat,)
    if not all(isinstance(p, sp.Interval) for p in parts):
        raise ValueError(f"flat set of {activation!r} is not a union of intervals: {flat}")
    return tuple((float(p.start), float(p.end), bool(p.left_open), bool(p.right_open)) for p in parts)


def _within(z: torch.Tensor, lo: float, hi: float, lo_open: bool, hi_open: bool) -> torch.Tensor:
    """z ∈ (lo, hi) with the given open/closed ends, elementwise; an infinite end costs nothing."""
    above = None if lo == -math.inf else (z > lo if lo_open else z >= lo)
    below = None if hi == math.inf else (z < hi if hi_open else z <= hi)
    if above is None and below is None:
        return torch.ones_like(z, dtype=torch.bool)
    return below if above is None else above if below is None else above & below


def flat_mask(z: torch.Tensor, activation: str = "relu") -> torch.Tensor:
    """Elementwise z ∈ Flat(f) (so f'(z) = 0 under torch's convention at the kinks)."""
    z = _tensor(z, "z", 0)
    mask = torch.zeros_like(z, dtype=torch.bool)
    for interval in _flat_intervals(activation):
        mask |= _within(z, *interval)
    return mask


def flat_extremes(z_min: torch.Tensor, z_max: torch.Tensor, activation: str = "relu") -> torch.Tensor | None:
    """Per unit: [z_min, z_max] ⊂ Flat(f), when the flat set is one interval (ReLU: (−∞, 0]), so a
    stream needs only each unit's smallest and largest z; None when it is not one interval (the
    caller then needs ``flat_mask`` elementwise)."""
    intervals = _flat_intervals(activation)
    if len(intervals) > 1:
        return None
    if not intervals:
        return torch.zeros_like(z_max, dtype=torch.bool)
    lo, hi, lo_open, hi_open = intervals[0]
    dead = torch.ones_like(z_max, dtype=torch.bool)
    if hi < math.inf:
        dead &= _within(z_max, -math.inf, hi, False, hi_open)
    if lo > -math.inf:
        dead &= _within(z_min, lo, math.inf, lo_open, False)
    return dead


def exact_dead(z: torch.Tensor, activation: str = "relu") -> torch.Tensor:
    """Per unit: z in the flat set on every sample (z: (..., samples, units) → (..., units)). When the
    flat set is one interval this is "min and max of z lie in it", one reduction per end."""
    z = _tensor(z, "z")
    _samples(z, "z")
    dead = flat_extremes(z.amin(-2), z.amax(-2), activation)
    return flat_mask(z, activation).all(-2) if dead is None else dead


def paper_dead(h: torch.Tensor, threshold: float = PAPER_DEAD_THRESHOLD,
               fraction: float = PAPER_DEAD_FRACTION) -> torch.Tensor:
    """Per unit: |h| < threshold on more than ``fraction`` of the samples (App. B.2)."""
    h = _tensor(h, "h")
    _samples(h, "h")
    threshold, fraction = _threshold(threshold), _fraction(fraction)
    return _paper_dead((h.abs() < threshold).sum(-2), h.shape[-2], fraction)


def _paper_dead(small: torch.Tensor, n: int, fraction: float = PAPER_DEAD_FRACTION) -> torch.Tensor:
    """From the count of samples with |h| below the threshold."""
    return small > fraction * n


def silent(h: torch.Tensor) -> torch.Tensor:
    """Per unit: h exactly 0 on every sample (Σ |h| = 0; a frozen unit whose flat value is 0)."""
    h = _tensor(h, "h")
    _samples(h, "h")
    return h.abs().sum(-2) == 0


def dormancy(h: torch.Tensor) -> torch.Tensor:
    """ReDo's score s_j = E|h_j| / ((1/U) Σ_k E|h_k|) per unit (0 for every unit of a silent layer)."""
    h = _tensor(h, "h")
    _samples(h, "h")
    return _dormancy(h.abs().double().mean(-2))


def _dormancy(mean_abs: torch.Tensor) -> torch.Tensor:
    layer = mean_abs.mean(-1, keepdim=True)
    return torch.where(layer > 0, mean_abs / torch.where(layer > 0, layer, 1.0), 0.0)


def dormant(h: torch.Tensor, tau: float = REDO_TAUS[0]) -> torch.Tensor:
    """ReDo's τ-dormant units: s_j ≤ τ."""
    return dormancy(h) <= number(tau, "tau", 0)


def saturated(h: torch.Tensor, grad: torch.Tensor, threshold: float = SATURATION_THRESHOLD,
              fraction: float = SATURATION_FRACTION) -> torch.Tensor:
    """The paper's saturated units (module docstring): ``grad`` = ∂L/∂h of the batch-mean loss, the
    same shape as h."""
    h, grad = _tensor(h, "h"), _tensor(grad, "grad")
    if h.shape != grad.shape:
        raise ValueError(f"grad must have the shape of h {tuple(h.shape)}; got {tuple(grad.shape)}")
    _samples(h, "h")
    return _saturated(h, grad, _threshold(threshold), _fraction(fraction))


def _saturated(h: torch.Tensor, grad: torch.Tensor, threshold: float = SATURATION_THRESHOLD,
               fraction: float = SATURATION_FRACTION) -> torch.Tensor:
    """|∂L/∂h| < threshold · max(mean |h|, 1e-12) (the ratio's test without dividing) on more than
    ``fraction`` of the samples; no validation (a probe's own tensors)."""
    scale = h.abs().mean(-2, keepdim=True, dtype=torch.float64).clamp_min(SATURATION_FLOOR)
    return (grad.abs() < (threshold * scale).to(grad.dtype)).sum(-2) > fraction * h.shape[-2]


def saturated_invariant(h: torch.Tensor, grad: torch.Tensor, threshold: float = SATURATION_THRESHOLD,
                        fraction: float = SATURATION_FRACTION, batch: int | None = None) -> torch.Tensor:
    """The paper's measure on B · ∂L/∂h, the gradient of each sample's own loss: the same units for
    any batch size (the batch-mean loss over B inputs puts 1/B on each one's gradient). ``batch``: B,
    by default the number of rows (give it when a row is a position of an input, as for a conv)."""
    grad = _tensor(grad, "grad")
    if batch is not None:
        count(batch, "batch", 1)
    return saturated(h, grad * (grad.shape[-2] if batch is None else batch), threshold, fraction)


def sign_certificate(weight: torch.Tensor, bias: torch.Tensor | None, zero: torch.Tensor,
                     nonneg: torch.Tensor) -> torch.Tensor:
    """Per output unit j of an affine map z = Σ_i W[j, i, k] h_i(k) + b_j (weight (out, in, *kernel)):
    z_j < 0 for every input whose source units i are 0 where ``zero`` and ≥ 0 where ``nonneg``.

    Holds iff b_j < 0 and W[j, i, :] ≤ 0 for every non-zero non-negative source, and W[j, i, :] = 0
    for every source known to be neither. Then, after a ReLU-like f (f = 0 on (−∞, 0]), unit j is
    dead on every input; its own weights get zero gradient and keep their signs, so by induction it
    stays dead under gradient descent whatever the upstream layers learn (numerics.probes)."""
    w = weight.detach().reshape(weight.shape[0], weight.shape[1], -1)
    if bias is None:
        return torch.zeros(w.shape[0], dtype=torch.bool, device=w.device)
    unknown = ~(zero | nonneg)
    live = nonneg & ~zero
    signs = ((w <= 0) | ~live[None, :, None]).all(-1).all(-1)
    silent = ((w == 0) | ~unknown[None, :, None]).all(-1).all(-1)
    return signs & silent & (bias.detach() < 0)


def norm_certificate(gamma: torch.Tensor | None, beta: torch.Tensor | None, m: int) -> torch.Tensor:
    """Per unit of a normalization over groups of m values (BatchNorm in training mode: batch ×
    positions; LayerNorm: the normalized size): ẑ = γ x̂ + β < 0 for every input when
    β + |γ| √(m − 1) < 0, because a standardized value of m numbers never exceeds √(m − 1) in size
    (and the ε in the variance only shrinks it). ``gamma``/``beta`` None mean 1 and 0."""
    if beta is None:
        n = gamma.shape[0] if gamma is not None else 0
        return torch.zeros(n, dtype=torch.bool)
    g = torch.ones_like(beta) if gamma is None else gamma.detach()
    return beta.detach().double() + g.double().abs() * math.sqrt(max(m - 1, 0)) < 0


# ---- second moments and ranks --------------------------------------------------------------------

@dataclass
class Moments:
    """n samples, Σh (..., U) and the Gram matrix G = HᵀH (..., U, U) of an activation matrix, in
    float64; ``add`` accumulates a chunk, so a stream gives the whole matrix's moments. While there
    are fewer samples than units (n < U) the float64 rows themselves are kept too (U × n, no
    larger than G), and the spectra come from the smaller Gram matrix HHᵀ (n × n), which has the
    same non-zero eigenvalues: an n³ eigenproblem instead of U³. ``spectrum`` computes each
    eigendecomposition once (the rank measures share it)."""

    n: int
    sum: torch.Tensor
    gram: torch.Tensor

    def __post_init__(self) -> None:
        self._spectra: dict[bool, tuple[torch.Tensor, torch.Tensor, int]] = {}
        # the rows (units first), kept from the start while n < U; None once dropped or never known
        self._cols: list[torch.Tensor] | None = [] if self.n == 0 else None

    @classmethod
    def of(cls, h: torch.Tensor) -> Moments:
        h = _tensor(h, "h")
        _samples(h, "h")
        return cls(0, h.new_zeros(h.shape[:-2] + h.shape[-1:], dtype=torch.float64),
                   h.new_zeros(h.shape[:-2] + (h.shape[-1], h.shape[-1]), dtype=torch.float64)).add(h)

    def add(self, h: torch.Tensor) -> Moments:
        d = h.detach().double()
        return self.add_t(d.mT, d.sum(-2))

    def add_t(self, X: torch.Tensor, total: torch.Tensor | None = None) -> Moments:
        """Add a chunk given units first, X = Hᵀ (U × rows, float64), and its row sums if known."""
        self.n += X.shape[-1]
        self.sum += X.sum(-1) if total is None else total
        if X.dim() == 2:
            self.gram.addmm_(X, X.mT)  # in place: no U × U temporary (a third less time on small U)
        else:  # a batch of networks
            self.gram += X @ X.mT
        if self._cols is not None:
            self._cols = self._cols + [X] if self.n < X.shape[-2] else None
        self._spectra.clear()
        return self

    def second(self, centred: bool = False) -> torch.Tensor:
        """G, or the centred G − n μμᵀ (μ the column means)."""
        if not centred:
            return self.gram
        mu = self.sum / self.n
        return self.gram - self.n * mu[..., :, None] * mu[..., None, :]

    def _small(self, centred: bool) -> tuple[torch.Tensor, torch.Tensor, int]:
        """(eigenvalues ascending, the matrix they belong to, the length of its entries' sums): of
        ``second(centred)`` (U × U, sums over the n samples), or, while the rows are kept, of the
        sample-side Gram HHᵀ (n × n, sums over the U units), centred as C HHᵀ C with C = I − 11ᵀ/n."""
        if centred not in self._spectra:
            if self._cols:
                R = self._cols[0] if len(self._cols) == 1 else torch.cat(self._cols, -1)
                self._cols = [R]
                S, inner = R.mT @ R, R.shape[-2]
                if centred:
                    k = S.mean(-1, keepdim=True)
                    S = S - k - k.mT + k.mean(-2, keepdim=True)
            else:
                S, inner = self.second(centred), self.n
            lam = torch.linalg.eigvalsh((S + S.mT) / 2).clamp_min(0.0)
            self._spectra[centred] = (lam, S, inner)
        return self._spectra[centred]

    def spectrum(self, centred: bool = False) -> torch.Tensor:
        """The U eigenvalues of ``second(centred)``, ascending, negative round-off set to 0 (from the
        sample side while n < U, with the U − n zeros it cannot see)."""
        lam = self._small(centred)[0]
        units = self.gram.shape[-1]
        if lam.shape[-1] == units:
            return lam
        return torch.cat([lam.new_zeros(lam.shape[:-1] + (units - lam.shape[-1],)), lam], -1)


def _moments(h: torch.Tensor | Moments) -> Moments:
    return h if isinstance(h, Moments) else Moments.of(h)


def _per_network(values: torch.Tensor, fn) -> torch.Tensor:
    """fn of every spectrum in a (..., U) batch, as a (...) float64 tensor."""
    flat = values.reshape(-1, values.shape[-1]).cpu().numpy()
    return torch.tensor([fn(v) for v in flat], dtype=torch.float64).reshape(values.shape[:-1])


def effective_rank(h: torch.Tensor | Moments, centred: bool = False) -> torch.Tensor:
    """The paper's effective rank: ``theory.spectra.effective_rank`` of the singular values of H (or
    of the centred H), σ_i = √λ_i(G). Shape (...)."""
    sigma = _moments(h).spectrum(centred).sqrt()
    return _per_network(sigma, spectra.effective_rank)


def stable_rank(h: torch.Tensor | Moments, centred: bool = False) -> torch.Tensor:
    """‖H‖_F² / ‖H‖_2² = tr G / λ_max(G) (0 for a zero matrix)."""
    lam = _moments(h).spectrum(centred)
    top = lam[..., -1]
    return torch.where(top > 0, lam.sum(-1) / torch.where(top > 0, top, 1.0), 0.0)


def participation_ratio(h: torch.Tensor | Moments, centred: bool = True) -> torch.Tensor:
    """(tr G)² / tr(G²) = ‖H‖_F⁴ / ‖HᵀH‖_F²: the paper's "stable rank" (centred by default, as the
    paper's code computes it). 0 for a zero matrix."""
    G = _moments(h).second(centred)
    tr, tr2 = G.diagonal(dim1=-2, dim2=-1).sum(-1), (G * G).sum((-2, -1))
    return torch.where(tr2 > 0, tr * tr / torch.where(tr2 > 0, tr2, 1.0), 0.0)


def numerical_rank(h: torch.Tensor | Moments, centred: bool = False) -> torch.Tensor:
    """Eigenvalues of G (or the centred G) above d (λ_max ε + e), e = m ε max_k G_kk the rounding
    bound of G's float64 entries, sums of m = n products (``theory.spectra.psd_rank``); while
    ``Moments`` computes the spectrum from the sample side (n < U), the same rule on that d = n
    matrix, whose entries are sums of m = U products. Shape (...), int64."""
    lam, S, inner = _moments(h)._small(centred)
    eps = float(np.finfo(np.float64).eps)
    top = S.diagonal(dim1=-2, dim2=-1).amax(-1).reshape(-1).cpu().numpy()
    ranks = [0 if t <= 0 else spectra.psd_rank_of(v, inner * eps * float(t))[0]
             for v, t in zip(lam.reshape(-1, lam.shape[-1]).cpu().numpy(), top)]
    return torch.tensor(ranks, dtype=torch.int64).reshape(lam.shape[:-1])


# ---- duplicates and clone blocks ----------------------------------------------------------------

def similarity(h: torch.Tensor | Moments, centred: bool = False) -> torch.Tensor:
    """Cosine similarity of the activation columns (each scaled to unit norm), or their correlation
    when ``centred``: (..., U, U), one matmul. A constant column (zero norm) has similarity 0 with
    every unit, itself included."""
    G = _moments(h).second(centred)
    norm = G.diagonal(dim1=-2, dim2=-1).clamp_min(0.0).sqrt()
    inv = torch.where(norm > 0, 1.0 / torch.where(norm > 0, norm, 1.0), 0.0)
    return G * inv[..., :, None] * inv[..., None, :]


def duplicates(h: torch.Tensor | Moments, threshold: float = DUPLICATE_THRESHOLD,
               centred: bool = False) -> torch.Tensor:
    """The paper's duplicate units: j such that some k > j has similarity > ``threshold`` (cosine, or
    correlation when ``centred``). Every block of b near-identical units counts b − 1. (..., U) bool."""
    threshold = number(threshold, "threshold", -1, 1, hi_open=True)  # similarity never exceeds 1
    sim = similarity(h, centred)
    later = torch.ones(sim.shape[-2:], dtype=torch.bool, device=sim.device).triu(1)
    return ((sim > threshold) & later).any(-1)


def block_sizes(labels: torch.Tensor | np.ndarray | Sequence[int]) -> list[int]:
    """Sizes of the blocks with at least 2 units of one layer's block labels, largest first."""
    counts = np.bincount(_labels(labels))
    return sorted((int(c) for c in counts if c >= 2), reverse=True)


def clone_redundancy(labels: torch.Tensor | np.ndarray | Sequence[int]) -> int:
    """Units minus blocks: how many units a layer's clone blocks make redundant (each block of b
    units counts b − 1, like ``duplicates``)."""
    return sum(b - 1 for b in block_sizes(labels))


# ---- a layer read in chunks ---------------------------------------------------------------------

def _sample_dims(t: torch.Tensor, axis: int | None) -> tuple[tuple[int, ...], int]:
    """The axes to reduce over and how many samples they hold: the second-to-last axis, or every axis
    but ``axis``."""
    if axis is None:
        return (-2,), t.shape[-2]
    axis %= t.dim()
    dims = tuple(d for d in range(t.dim()) if d != axis)
    return dims, t.numel() // t.shape[axis]


class LayerStats:
    """Everything the measures need from one layer, accumulated chunk by chunk with ``add(z, h)``
    (z, h: (..., chunk samples, U)): each unit's smallest and largest z (only the ends the flat set
    has, the other ±inf; for a flat set of several intervals, whether z was flat on every sample),
    the count of |h| < 1e-7, Σ|h| and the ``Moments`` of h — of the first ``moment_inputs`` inputs
    only when given (inputs: the tensor's axis 0 with ``axis``, else the samples), all of them by
    default. Memory is O(U²) whatever the number of samples; the results equal the functions above
    on the concatenated chunks."""

    def __init__(self, activation: str, moments: bool = True, moment_inputs: int | None = None):
        activations.get(activation)
        if moment_inputs is not None and (not isinstance(moment_inputs, int) or moment_inputs < 1):
            raise ValueError(f"moment_inputs must be a positive integer or None, got {moment_inputs!r}")
        self.activation, self.keep_moments, self.moment_inputs = activation, moments, moment_inputs
        self.n = self.inputs = 0  # rows seen; inputs whose rows entered the moments
        self.z_min = self.z_max = self.flat_all = self.small = self.abs_sum = None
        self.moments: Moments | None = None
        self._one_interval = len(_flat_intervals(activation)) <= 1
        self._nonneg = bool(activations.get(activation).range[0] >= 0)

    def add(self, z: torch.Tensor, h: torch.Tensor) -> None:
        self.add_z(z)
        self.add_h(h)

    def add_z(self, z: torch.Tensor, axis: int | None = None, units: torch.Tensor | None = None) -> None:
        """The z half of a chunk (a probe reads z before an in-place activation overwrites it): z of
        shape (..., samples, U), or with ``axis`` one network's tensor whose units lie on ``axis`` and
        every other axis is a sample (images × positions). With ``units`` (indices, one network, a flat
        set of one interval, after a first whole chunk) z holds only those units' columns: their ends
        are updated, the other units' and the row count are not."""
        z = z.detach()
        if units is not None:
            if self.n == 0 or not self._one_interval or axis is None:
                raise ValueError("add_z(units=...) needs one network's tensor (axis), an activation whose "
                                 "flat set is one interval, and a first whole chunk")
            dims, _ = _sample_dims(z, axis)
            self.z_min[units] = torch.minimum(self.z_min[units], z.amin(dims))
            self.z_max[units] = torch.maximum(self.z_max[units], z.amax(dims))
            return
        dims, rows = _sample_dims(z, axis)
        # only the ends the flat set has: ReLU's (−∞, 0] needs the largest z alone
        ends = _flat_intervals(self.activation)
        need_min = len(ends) != 1 or ends[0][0] > -math.inf
        need_max = len(ends) != 1 or ends[0][1] < math.inf
        per_unit = (z.shape[axis],) if axis is not None else z.shape[:-2] + z.shape[-1:]
        zmin = z.amin(dims) if need_min else z.new_full(per_unit, -math.inf)
        zmax = z.amax(dims) if need_max else z.new_full(per_unit, math.inf)
        flat = None if self._one_interval else flat_mask(z, self.activation).all(dims[0]) if len(dims) == 1 \
            else flat_mask(z, self.activation).movedim(axis, -1).reshape(-1, z.shape[axis]).all(0)
        if self.n == 0:
            self.z_min, self.z_max, self.flat_all = zmin, zmax, flat
        else:
            self.z_min, self.z_max = torch.minimum(self.z_min, zmin), torch.maximum(self.z_max, zmax)
            if flat is not None:
                self.flat_all &= flat
        self.n += rows

    def add_h(self, h: torch.Tensor, axis: int | None = None) -> None:
        """The h half of the chunk whose z was added last (the same layout)."""
        h = h.detach()
        inputs = h.shape[0] if axis is not None else h.shape[-2]
        take = inputs if self.moment_inputs is None else max(0, min(inputs, self.moment_inputs - self.inputs))
        X = total = None
        if axis is not None and self.keep_moments and take == inputs:
            # units first, (U, rows) in float64 by one strided copy that serves every statistic
            moved = h.movedim(axis, 0)
            X = torch.empty(moved.shape, dtype=torch.float64, device=h.device).copy_(moved)
            X = X.view(h.shape[axis], -1)
            a = X if self._nonneg else X.abs()  # f ≥ 0 (ReLU-like): |h| = h, and Σ|h| is Σh
            small, abs_sum = (a < PAPER_DEAD_THRESHOLD).sum(-1), a.sum(-1)
            total = abs_sum if self._nonneg else X.sum(-1)
        else:
            dims, _ = _sample_dims(h, axis)
            a = h if self._nonneg else h.abs()  # f ≥ 0: |h| = h exactly, no chunk-sized copy
            small, abs_sum = (a < PAPER_DEAD_THRESHOLD).sum(dims), a.sum(dims, dtype=torch.float64)
        if self.small is None:
            self.small, self.abs_sum = small, abs_sum
            if self.keep_moments:
                self.moments = Moments(0, torch.zeros_like(abs_sum),
                                       abs_sum.new_zeros((*abs_sum.shape, abs_sum.shape[-1])))
        else:
            self.small += small
            self.abs_sum += abs_sum
        if self.moments is not None and take:
            if X is not None:
                self.moments.add_t(X, total)
            elif axis is None:
                self.moments.add(h[..., :take, :])
            else:  # the first ``take`` inputs, units first in float64
                moved = h[:take].movedim(axis, 0)
                part = torch.empty(moved.shape, dtype=torch.float64, device=h.device).copy_(moved)
                self.moments.add_t(part.view(h.shape[axis], -1))
        self.inputs += take

    def _need(self) -> None:
        if self.n == 0:
            raise ValueError("no samples were added to this layer's statistics")

    def exact_dead(self) -> torch.Tensor:
        self._need()
        dead = flat_extremes(self.z_min, self.z_max, self.activation)
        return self.flat_all if dead is None else dead

    def paper_dead(self, fraction: float = PAPER_DEAD_FRACTION) -> torch.Tensor:
        self._need()
        return _paper_dead(self.small, self.n, fraction)

    def silent(self) -> torch.Tensor:
        self._need()
        return self.abs_sum == 0

    def dormancy(self) -> torch.Tensor:
        self._need()
        return _dormancy(self.abs_sum / self.n)

    def dormant(self, tau: float = REDO_TAUS[0]) -> torch.Tensor:
        return self.dormancy() <= tau


# ---- the manifold the frozen and cloned structure confines the model to ---------------------------

@dataclass(frozen=True)
class Span:
    """One parameter tensor laid over unit blocks: row r belongs to output unit r, whose block label
    is ``rows[r]`` and which is frozen when ``frozen[r]``; each row has ``entries`` parameters, read
    from the input units with block labels ``cols`` at ``k`` offsets each (``cols`` None: one
    parameter per row, a bias or a normalization's γ or β). ``silent[c]``: input unit c is frozen at
    the value 0 (its output h is exactly 0 on every sample), so the weights reading it are pinned too."""

    rows: np.ndarray
    frozen: np.ndarray
    entries: int
    cols: np.ndarray | None = None
    k: int = 1
    silent: np.ndarray | None = None


@dataclass(frozen=True)
class Trapped:
    """``parameters`` trainable parameters; ``free`` the dimension of M_F ∩ M_D(θ), the affine set of
    directions gradient descent can still take; ``frozen`` the parameters the frozen units pin alone,
    ``cloned`` the further ones the clone blocks pin; ``uncovered`` parameters the spans did not
    describe (counted as free)."""

    parameters: int
    free: int
    frozen: int
    cloned: int
    uncovered: int = 0

    @property
    def trapped(self) -> int:
        return self.parameters - self.free


def manifold_dimension(spans: Sequence[Span], parameters: int) -> Trapped:
    """The dimension of the manifold the model sits on (CLAIMS.md, frozen.manifold and cloned.dimension).
    With z_v = Σ_u w(u→v) h_u + b_v, h_v = f(z_v) and δ_v = ∂L/∂z_v, the gradient is ∂L/∂w(u→v) =
    Σ_n δ_v(n) h_u(n) and ∂L/∂b_v = Σ_n δ_v(n); a frozen unit u has z_u in the flat set of f on every
    sample, so f'(z_u) = 0 and δ_u = 0 there, and h_u = f(z_u) is constant on each flat piece. So:

    - a frozen unit's incoming parameters (weights, bias, γ, β) get zero gradient: M_F fixes them;
    - a unit exactly dead at the flat value 0 (z in the flat set and h_u = 0 on every sample: ReLU on
      (−∞, 0], marked ``silent``) also pins its outgoing weights, whose gradient Σ_n δ_v(n) · 0 is
      exactly 0 while it stays there. A flat value c ≠ 0 (hardtanh at ±1, ReLU6 at 6; a saturated tanh,
      h = ±1 up to rounding) leaves them free: their gradient c Σ_n δ_v(n) is that of a bias. Like the
      incoming rule (a γ, β behind a dead unit count where the unit's δ is 0), this counts gradients
      that are exactly 0 at θ: after a LayerNorm a dead unit's outgoing weights (and its γ, β) count
      though its incoming weights do not (the normalization passes other units' δ back to them);
    - clone blocks confine the trajectory to the leaf M_D(θ) = θ + {block-constant tensors}: a
      parameter tensor keeps one free value per (output block, input block, offset), or per output
      block for a vector (cloned.dimension counts the same block pairs);

    so a span contributes (live output blocks) × (non-silent input blocks × k, at most ``entries``)
    free values, where a block is live unless all its units are frozen and non-silent unless all its
    units are silent (exact clones share their z, hence their deadness). Silent inputs are read only
    where every row reads every input (``entries`` = len(cols) · k; a grouped convolution's rows read
    a slice, and its silent inputs are counted as free). ``frozen`` is the same count with every unit
    its own block."""
    free = free_frozen = covered = 0
    for s in spans:
        rows = np.asarray(s.rows).reshape(-1)
        frozen = np.asarray(s.frozen, dtype=bool).reshape(-1)
        covered += len(rows) * s.entries
        live_blocks = np.unique(rows[~frozen]).size
        if s.cols is None:
            per_row, per_block = s.entries, 1
        else:
            cols = np.asarray(s.cols).reshape(-1)
            dense = cols.size * s.k == s.entries
            if s.silent is not None and dense:
                cols = cols[~np.asarray(s.silent, dtype=bool).reshape(-1)]
            per_row = cols.size * s.k if dense else s.entries
            per_block = min(np.unique(cols).size * s.k, per_row)
        free_frozen += int((~frozen).sum()) * per_row
        free += live_blocks * per_block
    if covered > parameters:
        raise ValueError(f"the spans describe {covered} parameters, more than the model's {parameters}")
    uncovered = parameters - covered
    return Trapped(parameters, free + uncovered, covered - free_frozen, free_frozen - free, uncovered)
