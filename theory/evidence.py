"""The Evidence record: the one interface between checks, the command line and the report.

Its JSON form is a public contract (DESIGN.md, "Evidence"): exactly the keys
``claim, check, kind, verdict, summary, setting, measured, counterexample, seconds``.
Two report-only attachments ride along in memory and are not part of the JSON:
``derivation`` (label, SymPy expression) pairs a reader can re-derive, and ``figures``
(caption, inline SVG).

A check is a plain function ``(Config) -> Evidence``.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

VERDICTS = ("proved", "confirmed", "refuted", "qualified", "inconclusive")
KINDS = ("symbolic", "numeric", "case")
JSON_KEYS = ("claim", "check", "kind", "verdict", "summary", "setting", "measured", "counterexample",
             "seconds")


@dataclass(frozen=True)
class Config:
    """What every check is given: sizes (``quick`` for CI), the seed and the torch device."""

    seed: int = 0
    quick: bool = False
    device: str = "cpu"
    progress: bool = True


@dataclass
class Evidence:
    claim: str
    check: str
    kind: str
    verdict: str
    summary: str
    setting: dict[str, Any] = field(default_factory=dict)
    measured: dict[str, Any] = field(default_factory=dict)
    counterexample: dict[str, Any] | None = None
    seconds: float = 0.0
    derivation: list[tuple[str, Any]] = field(default_factory=list, repr=False)
    figures: list[tuple[str, str]] = field(default_factory=list, repr=False)

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict {self.verdict!r} is not one of {', '.join(VERDICTS)}")
        if self.kind not in KINDS:
            raise ValueError(f"kind {self.kind!r} is not one of {', '.join(KINDS)}")
        if self.verdict == "refuted" and not self.counterexample:
            raise ValueError(f"{self.claim}/{self.check}: a refuted verdict needs a counterexample")

    def to_json(self) -> dict[str, Any]:
        return {key: jsonable(getattr(self, key)) for key in JSON_KEYS}

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> Evidence:
        missing = set(JSON_KEYS) - set(record)
        if missing:
            raise ValueError(f"evidence record lacks {', '.join(sorted(missing))}")
        return cls(**{key: record[key] for key in JSON_KEYS})


def jsonable(value: Any) -> Any:
    """Plain JSON data from numpy/sympy/torch scalars and containers; non-finite floats become
    the strings "inf", "-inf", "nan" so the output stays strict JSON."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, (bool, str)) or value is None:
        return value
    if isinstance(value, int):
        return value
    if hasattr(value, "tolist") and not hasattr(value, "free_symbols"):  # numpy / torch
        return jsonable(value.tolist())
    if hasattr(value, "free_symbols"):  # sympy
        if value.is_Integer:
            return int(value)
        if value.is_number and value.is_real:
            return jsonable(float(value))
        return str(value)
    if isinstance(value, float) or hasattr(value, "__float__"):
        x = float(value)
        if math.isfinite(x):
            return x
        return "nan" if math.isnan(x) else ("inf" if x > 0 else "-inf")
    return str(value)


def write_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename: never half-written."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a report should read like any file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def dump_json(evidence: list[Evidence]) -> str:
    return json.dumps([e.to_json() for e in evidence], indent=2, allow_nan=False)
