"""Per-unit measurements of frozen (dead) units, vectorized per layer.

For a hidden unit j with pre-activation z_j(x) (the activation's input, after normalization) and
activation h_j(x) = f(z_j(x)) on data x_1..x_N:

- **exact dead** — z_j(x_i) ∈ Flat(f) for every i, where Flat(f) is the activation's flat set
  from the registry (ReLU: z ≤ 0, matching torch's relu'(0) = 0). Then f'(z_j(x_i)) = 0 on every
  sample: the hypothesis of frozen.gradient-zero, so the unit's incoming weights and bias get a
  zero gradient from the data.
- **paper dead** (App. B.2) — |h_j(x_i)| < 1e-7 on more than 95% of the samples. Exact dead implies
  paper dead for ReLU (h = 0 on Flat); the converse fails for units active on a few samples.
- **certified dead** (ReLU-like f: f = 0 on (−∞, 0], f ≥ 0; no normalization) — dead for every
  future step of plain gradient descent on a fixed data set X:
    layer 1: z_j(x) ≤ 0 for every x ∈ X. Its gradient is 0, so θ_j never moves and z_j(x) never
             changes;
    layer l > 1: b_j < 0 and w_ji ≤ 0 for every upstream unit i that is not itself certified.
             Upstream activations are ≥ 0 and certified ones are 0, so z_j ≤ b_j < 0 whatever the
             upstream layers learn; the unit's own parameters get zero gradient, so the signs stay:
             by induction over steps and layers it is dead forever. (b_j < 0 keeps z strictly
             inside the flat set, so the certificate does not lean on the convention f'(0) = 0.)
  Units that are dead on X but not certified can be revived when upstream layers move.

Every function takes whole layers: (samples, units) tensors in, per-unit boolean masks out.
"""

from __future__ import annotations

import functools
import math

import numpy as np
import sympy as sp
import torch
import torch.nn.functional as F

from numerics.models import MLP
from theory import activations

PAPER_THRESHOLD = 1e-7
PAPER_FRACTION = 0.95


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
    mask = torch.zeros_like(z, dtype=torch.bool)
    for interval in _flat_intervals(activation):
        mask |= _within(z, *interval)
    return mask


def exact_dead(z: torch.Tensor, activation: str = "relu") -> torch.Tensor:
    """Per unit: z in the flat set on every sample (z: samples × units). When the flat set is one
    interval I (ReLU: (−∞, 0]) this is "min_x z and max_x z lie in I", one reduction per end."""
    if z.shape[0] == 0:
        raise ValueError("exact_dead needs at least one sample")
    intervals = _flat_intervals(activation)
    if len(intervals) == 1:
        lo, hi, lo_open, hi_open = intervals[0]
        dead = torch.ones(z.shape[1], dtype=torch.bool, device=z.device)
        if hi < math.inf:
            dead &= _within(z.amax(0), -math.inf, hi, False, hi_open)
        if lo > -math.inf:
            dead &= _within(z.amin(0), lo, math.inf, lo_open, False)
        return dead
    return flat_mask(z, activation).all(0)


def paper_dead(h: torch.Tensor, threshold: float = PAPER_THRESHOLD,
               fraction: float = PAPER_FRACTION) -> torch.Tensor:
    """Per unit: |h| < threshold on more than ``fraction`` of the samples (h: samples × units)."""
    return (h.abs() < threshold).sum(0) > fraction * h.shape[0]


def _layer_z(model: MLP, i: int, h: torch.Tensor, units: torch.Tensor | None = None) -> torch.Tensor:
    """Pre-activation of hidden layer i from its input h, as ``MLP.trace`` computes it; with
    ``units`` (indices) only those units' z (only when there is no normalization)."""
    lin = model.linears[i]
    if units is not None:
        return F.linear(h, lin.weight[units], None if lin.bias is None else lin.bias[units])
    z = lin(h)
    return model.norms[i](z) if model.norms is not None else z


@torch.no_grad()
def dead_units(model: MLP, X: torch.Tensor, chunk: int = 2048) -> list[torch.Tensor]:
    """Exact dead units of every hidden layer of ``model`` on X, from one chunked forward pass.

    A unit is alive as soon as one sample puts its z outside the flat set, so the pass does only
    the work that can still change the answer: a chunk is propagated only up to the deepest layer
    that has undecided units, at that layer (without normalization) only the undecided units' z are
    computed, the read-out is never computed, and the pass stops once every unit is known alive.
    Dropout is left out (the deterministic network); BatchNorm must be in eval mode, since a
    chunked pass has no whole-data batch statistics.

    "Exact" is relative to the computed forward pass: forwards of different shapes may round
    differently, which matters only for a unit whose largest z is within rounding of a flat-set
    edge (a check that needs the very forward of its gradient uses ``exact_dead`` on that trace).
    """
    if model.norm == "batch" and model.training:
        raise ValueError("dead_units needs BatchNorm in eval mode (running statistics): call model.eval()")
    if X.shape[0] == 0:
        raise ValueError("dead_units needs at least one sample")
    undecided = [torch.ones(w, dtype=torch.bool, device=X.device) for w in model.widths[1:-1]]
    for x in X.split(chunk):
        deepest = max((i for i, u in enumerate(undecided) if u.any()), default=-1)
        if deepest < 0:
            break
        h = x
        for i in range(deepest + 1):
            if i == deepest and model.norm is None:
                units = undecided[i].nonzero().squeeze(1)
                undecided[i][units] = exact_dead(_layer_z(model, i, h, units), model.activation)
                break
            z = _layer_z(model, i, h)
            undecided[i] &= exact_dead(z, model.activation)
            h = model.act(z)
    return undecided


@functools.cache
def _relu_like(activation: str) -> bool:
    """f ≡ 0 on (−∞, 0] and f ≥ 0: the sign argument of ``certified_dead`` applies."""
    a = activations.get(activation)
    return bool(a.flat_set.is_superset(sp.Interval(-sp.oo, 0)) and a(sp.S.Zero) == 0
                and a.range[0] >= 0)


@torch.no_grad()
def certified_dead(model: MLP, X: torch.Tensor) -> list[torch.Tensor]:
    """Units dead forever under plain gradient descent on the fixed data set X (module docstring):
    layer 1 from the data (z ≤ 0 on every x ∈ X), deeper layers from signs alone
    (b_j < 0 and w_ji ≤ 0 for every upstream unit i not certified)."""
    if model.norm is not None:
        raise ValueError(f"certified_dead needs a network without normalization (got norm={model.norm!r}): "
                         "normalization mixes units, so the sign argument does not apply")
    if not _relu_like(model.activation):
        raise ValueError(f"certified_dead needs a ReLU-like activation (f = 0 on z ≤ 0, f ≥ 0); "
                         f"{model.activation!r} is not")
    first = model.linears[0]
    certified = [(_layer_z(model, 0, X) <= 0).all(0)]
    for lin in model.hidden[1:]:
        if lin.bias is None:
            certified.append(torch.zeros(lin.out_features, dtype=torch.bool, device=first.weight.device))
            continue
        sign_ok = (lin.weight <= 0) | certified[-1][None, :]
        certified.append((lin.bias < 0) & sign_ok.all(1))
    return certified


# ---- the registry's torch face against its SymPy face -----------------------------------------------

def registry_agreement(a: activations.Activation, grid: np.ndarray) -> tuple[dict, np.ndarray, np.ndarray]:
    """The SymPy expression against the torch function on the grid (float64), and torch's derivative:
    exactly 0.0 inside the flat set, non-zero outside. Returns the statistics, f' and the flat mask."""
    from theory.activations import z as Z

    f = sp.lambdify(Z, a.expr, ["scipy", "numpy"])
    t = torch.tensor(grid, dtype=torch.float64, requires_grad=True)
    y = a.torch_fn(t)
    (grad,) = torch.autograd.grad(y.sum(), t)
    ref = np.broadcast_to(np.asarray(f(grid), dtype=np.float64), grid.shape)
    flat = np.broadcast_to(sp.lambdify(Z, a.flat_set.as_relational(Z), "numpy")(grid), grid.shape)
    g = grad.numpy()
    return ({"max_value_error": float(np.max(np.abs(y.detach().numpy() - ref) / (1 + np.abs(ref)))),
             "flat_points": int(flat.sum()), "flat_points_with_nonzero_grad": int((g[flat] != 0).sum()),
             "active_points_with_zero_grad": int((g[~flat] == 0).sum())}, g, flat)


def fprime_at(a: activations.Activation, x: float) -> float:
    """f'(x) by torch autograd in float64."""
    t = torch.tensor(float(x), dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(a.torch_fn(t), t)
    return float(g)
