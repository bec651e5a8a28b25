"""Validation of the numbers a user passes to the numerics libraries (thresholds, fractions, step
counts, chunk sizes, seeds): a one-line TypeError (not a number, a bool, a float where a count is
needed) or ValueError (NaN, infinite, out of range) naming the argument and the accepted range, never
a quiet answer (a NaN threshold marks no unit, a negative step count trains nothing) or a raw error
from deep inside torch.

    >>> number(0.5, "fraction", 0, 1, hi_open=True)
    0.5
    >>> count(0, "chunk", 1)
    Traceback (most recent call last):
    ...
    ValueError: chunk must be an integer ≥ 1 (got 0)
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch
from torch import nn


def _range(lo: float | None, hi: float | None, lo_open: bool, hi_open: bool) -> str:
    if lo is not None and hi is not None:
        return f"in {'(' if lo_open else '['}{lo:g}, {hi:g}{')' if hi_open else ']'}"
    if lo is not None:
        return f"{'>' if lo_open else '≥'} {lo:g}"
    if hi is not None:
        return f"{'<' if hi_open else '≤'} {hi:g}"
    return ""


def number(value: object, name: str, lo: float | None = None, hi: float | None = None, *,
           lo_open: bool = False, hi_open: bool = False) -> float:
    """``value`` as a finite real number within the bounds (None: unbounded on that side)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, not {type(value).__name__}")
    v = float(value)
    ok = math.isfinite(v) and (lo is None or (v > lo if lo_open else v >= lo)) and (
        hi is None or (v < hi if hi_open else v <= hi))
    if not ok:
        where = _range(lo, hi, lo_open, hi_open)
        raise ValueError(f"{name} must be a finite number{' ' + where if where else ''} (got {value!r})")
    return v


def count(value: object, name: str, lo: int = 0, hi: int | None = None) -> int:
    """``value`` as an integer in [lo, hi] (a float, even 2.0, or a bool is refused)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{name} must be an integer, not {type(value).__name__} ({value!r})")
    v = int(value)
    if v < lo or (hi is not None and v > hi):
        raise ValueError(f"{name} must be an integer {_range(lo, hi, False, False)} (got {v})")
    return v


def finite(t: torch.Tensor) -> bool:
    """Every entry of the floating-point tensor t finite: its smallest and largest entry are (NaN
    propagates through both), one pass without a mask the size of t (20× faster on large weights)."""
    if t.numel() == 0:
        return True
    lo, hi = torch.aminmax(t.detach().reshape(-1))
    return bool(torch.isfinite(lo) & torch.isfinite(hi))


def check_finite_parameters(model: nn.Module) -> None:
    """ValueError naming the first parameter or buffer with NaN or inf entries (TypeError for a
    non-module)."""
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch nn.Module, not {type(model).__name__}")
    for kind, named in (("parameter", model.named_parameters()), ("buffer", model.named_buffers())):
        for name, p in named:
            if p.is_floating_point() and not finite(p):
                raise ValueError(f"model {kind} {name!r} contains NaN or inf")


def check_data(X: object, name: str = "X") -> torch.Tensor:
    """``X`` as a tensor with a leading sample axis, at least one sample and finite entries."""
    if isinstance(X, np.ndarray):
        X = torch.from_numpy(X)
    if not isinstance(X, torch.Tensor):
        raise TypeError(f"{name} must be a torch tensor with samples on axis 0, not {type(X).__name__}")
    if X.dim() < 2:
        raise ValueError(f"{name} must have shape (samples, features...); got shape {tuple(X.shape)}")
    if X.shape[0] == 0:
        raise ValueError(f"{name} has no samples")
    if X.is_floating_point() and not finite(X):
        raise ValueError(f"{name} contains NaN or inf")
    return X
