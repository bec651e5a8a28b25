"""What the check families share: the verdict rule of the optimizer checks, used alike by the frozen
and the cloned families (both decide a manifold's invariance from the registry's map and confirm it
in torch)."""

from __future__ import annotations

from typing import Any


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
