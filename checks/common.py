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
