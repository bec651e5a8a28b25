"""What the check families share: the verdict rule of the optimizer checks, used alike by the frozen
and the cloned families (both decide a manifold's invariance from the registry's map and confirm it
in torch)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

LEVEL = 0.95
RESAMPLES = 2000


def optimizer_verdict(invariant: bool | None, agrees: bool, counterexample: Any) -> str:
    """``invariant``: the manifold is kept by the map (True), kept only under a condition the check
    names (None), or not kept (False); ``agrees``: torch did what the derivation predicts.

    proved — kept, and confirmed; qualified — kept only under the condition, confirmed; refuted — not
    kept, with a concrete counterexample, confirmed; inconclusive — the symbolic and numeric sides
    disagree, or no counterexample was found."""
    if not agrees:
        return "inconclusive"
    if invariant is True:
        return "proved"
    if invariant is None:
        return "qualified"
    return "refuted" if counterexample else "inconclusive"


def as_written(statement: str, where: str, corrected: str | None = None, **more: Any) -> dict[str, Any]:
    """``setting["as_written"]`` of a record that decides a statement of the paper as printed: the printed
    statement, where it is printed, and the corrected form that holds where it fails (None when it holds)."""
    return {"statement": statement, "where": where, "corrected": corrected, **more}


def as_control(evidence: Any, misprint: str, **more: Any) -> Any:
    """Turn the record of a planted misprint into a negative control: no ``as_written`` (the paper did not
    print it), ``control`` and the planted statement in its setting. Returns the same record."""
    evidence.setting = {k: v for k, v in evidence.setting.items() if k != "as_written"} | {
        "control": True, "planted_misprint": misprint, **more}
    return evidence


def bootstrap(data: np.ndarray | Sequence[np.ndarray], statistic: Callable[..., float] = np.mean,
              resamples: int = RESAMPLES, level: float = LEVEL, seed: int = 0) -> dict[str, Any]:
    """The percentile bootstrap interval of ``statistic`` over the first axis of ``data`` (seeds, or
    runs): rows are resampled with replacement, together across the arrays when ``data`` is a
    sequence of arrays of equal length (paired samples). Returns {"estimate", "ci95": [lo, hi], "n"}
    with the estimate on the data themselves."""
    arrays = [np.asarray(a, dtype=float) for a in (data if isinstance(data, (list, tuple)) else [data])]
    n = len(arrays[0])
    if n < 2 or any(len(a) != n for a in arrays):
        raise ValueError(f"bootstrap needs ≥ 2 paired samples of equal length "
                         f"(got {[len(a) for a in arrays]})")
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(resamples, n))
    values = np.array([statistic(*[a[i] for a in arrays]) for i in idx], dtype=float)
    values = values[np.isfinite(values)]
    tail = (1 - level) / 2 * 100
    lo, hi = (np.percentile(values, [tail, 100 - tail]) if len(values) else (np.nan, np.nan))
    return {"estimate": float(statistic(*arrays)), "ci95": [float(lo), float(hi)], "n": int(n)}


def excludes_zero(effect: dict[str, Any]) -> int:
    """+1 when the interval lies above 0, −1 below, 0 when it contains 0 (or is undefined)."""
    lo, hi = effect["ci95"]
    return 1 if lo > 0 else -1 if hi < 0 else 0
