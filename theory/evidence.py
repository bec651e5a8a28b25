"""The Evidence record: the one interface between checks, the command line and the report.

Its JSON form is a public contract (DESIGN.md, "Evidence"): the keys
``claim, check, kind, verdict, summary, setting, measured, counterexample, seconds`` and what the
report shows, as data:

- ``derivation``: items ``{"label", "text", "latex", "mathml", "srepr"}``, one per step a reader
  can re-derive; a SymPy expression keeps its structure (``srepr``), its typeset forms (LaTeX and
  presentation MathML) and its plain text; a sentence has ``text`` only;
- ``figures``: ``Figure`` records (panels of series with their axes, labels and scales, or a
  unit-equivalence graph), drawn by ``reports`` alone.

So the report can be rebuilt from the JSON without running anything. ``seconds`` is set by the
command line, which times every check; nothing inside ``measured`` depends on wall time.

A check is a plain function ``(Config) -> Evidence`` registered with the claim registry
(``theory.claims.check``), which fills in ``claim`` and ``check``.
"""

from __future__ import annotations

import contextlib
import errno
import json
import math
import os
import signal
import stat
import tempfile
import threading
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

VERDICTS = ("proved", "confirmed", "refuted", "qualified", "inconclusive")
KINDS = ("symbolic", "numeric", "case")
JSON_KEYS = ("claim", "check", "kind", "verdict", "summary", "setting", "measured", "counterexample",
             "seconds", "derivation", "figures")
SERIES_KINDS = ("line", "step", "bar", "band", "area", "hline", "vline", "heatmap")
SCALES = ("linear", "log")


@dataclass(frozen=True)
class Config:
    """What every check is given: sizes (``quick`` for CI), the seed and the torch device; ``model``
    the user's network and data (``numerics.user.UserModel``, from ``--model``) or None; sweeps run
    on ``workers`` local processes (0: this process) or a Dask ``scheduler`` address."""

    seed: int = 0
    quick: bool = False
    device: str = "cpu"
    progress: bool = True
    model: Any = field(default=None, compare=False)
    workers: int = 0
    scheduler: str | None = None


# ---- figures as data -------------------------------------------------------------------------------

@dataclass
class Series:
    """One thing drawn in a panel, as numbers.

    ``line``/``step``: y against x (``step`` holds each value until the next x); ``bar``: bars of
    height y at positions x, with optional ``error`` bars; ``band``: filled between y and ``y2`` over
    each x-interval ``[x[2k], x[2k+1]]`` (y, y2 scalars); ``area``: filled between the curves y and y2
    over x (e.g. a confidence interval around a line); ``hline``/``vline``: a horizontal line at y
    or a vertical one at x; ``heatmap``: the matrix ``z`` (rows along y, columns along x; x and y give
    the extent ``[first, last]``). ``style`` holds only looks: color (``C0``..``C9``, a name or
    ``#rrggbb``), linestyle (solid, dashed, dotted, none), linewidth, marker, markersize, alpha,
    width (bars), colormap, vmin, vmax."""

    kind: str
    x: Any = None
    y: Any = None
    label: str | None = None
    y2: Any = None
    error: Any = None
    z: Any = None
    style: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.kind not in SERIES_KINDS:
            raise ValueError(f"series kind {self.kind!r} is not one of {', '.join(SERIES_KINDS)}")
        for name in ("x", "y", "y2", "error", "z"):
            setattr(self, name, jsonable(getattr(self, name)))


@dataclass
class Panel:
    """One set of axes: its series, axis labels, scales (linear or log) and limits."""

    series: list[Series] = field(default_factory=list)
    title: str = ""
    xlabel: str = ""
    ylabel: str = ""
    xscale: str = "linear"
    yscale: str = "linear"
    xlim: Any = None
    ylim: Any = None
    xticks: Any = None  # positions
    xticklabels: Any = None  # text at those positions (rotated when long)
    legend: str | None = "best"  # a location, "outside" (right of the axes) or None
    colorbar: bool = False  # for a heatmap

    def __post_init__(self) -> None:
        for scale in (self.xscale, self.yscale):
            if scale not in SCALES:
                raise ValueError(f"axis scale {scale!r} is not one of {', '.join(SCALES)}")
        self.series = [s if isinstance(s, Series) else Series(**s) for s in self.series]
        self.xlim, self.ylim, self.xticks = jsonable(self.xlim), jsonable(self.ylim), jsonable(self.xticks)


@dataclass
class Figure:
    """A figure as data: ``panels`` on a grid of ``rows`` × ``columns`` (row by row), a size in
    inches, and a caption; or, with ``graph``, a unit-equivalence graph (``{"title", "nodes": [{layer,
    index, block, dead}], "edges": [{u, v, kinds}]}``, u and v as [layer, index])."""

    caption: str
    panels: list[Panel] = field(default_factory=list)
    rows: int = 1
    columns: int = 1
    width: float = 6.0
    height: float = 3.2
    graph: dict[str, Any] | None = None

    def __post_init__(self) -> None:
        self.panels = [p if isinstance(p, Panel) else Panel(**p) for p in self.panels]
        if self.graph is None and not self.panels:
            raise ValueError(f"figure {self.caption[:40]!r} has neither panels nor a graph")
        if self.graph is None and len(self.panels) > self.rows * self.columns:
            raise ValueError(f"{len(self.panels)} panels do not fit a {self.rows} × {self.columns} grid")
        self.graph = jsonable(self.graph)

    def to_json(self) -> dict[str, Any]:
        return jsonable(asdict(self))

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> Figure:
        names = {f.name for f in fields(cls)}
        unknown = set(record) - names
        if unknown:
            raise ValueError(f"figure record has unknown keys {', '.join(sorted(unknown))}")
        return cls(**record)


# ---- derivations as expressions --------------------------------------------------------------------

def derivation_item(label: str, value: Any) -> dict[str, Any]:
    """One derivation step as data: a SymPy object keeps ``srepr``, ``latex``, presentation
    ``mathml`` and ``text``; anything else is its text."""
    import sympy as sp

    item: dict[str, Any] = {"label": str(label), "text": str(value), "latex": None, "mathml": None,
                            "srepr": None}
    if isinstance(value, sp.MatrixBase) and not isinstance(value, sp.Basic):
        value = sp.ImmutableMatrix(value)  # a mutable matrix is no SymPy expression: it would be text only
    if isinstance(value, sp.Basic):
        item["text"] = sp.sstr(value)
        item["srepr"] = sp.srepr(value)
        with contextlib.suppress(Exception):  # an unevaluated object without a printer: text only
            item["latex"] = sp.latex(value)
        with contextlib.suppress(Exception):
            item["mathml"] = sp.printing.mathml(value, printer="presentation")
    return item


# ---- the record --------------------------------------------------------------------------------------

@dataclass(kw_only=True)
class Evidence:
    """One check's outcome. ``claim`` and ``check`` are filled in by the registry (the name the check
    is registered under); ``derivation`` accepts (label, SymPy expression or text) pairs and keeps
    them as data (``derivation_item``)."""

    kind: str
    verdict: str
    summary: str
    setting: dict[str, Any] = field(default_factory=dict)
    measured: dict[str, Any] = field(default_factory=dict)
    counterexample: dict[str, Any] | None = None
    derivation: list[Any] = field(default_factory=list)
    figures: list[Figure] = field(default_factory=list)
    claim: str = ""
    check: str = ""
    seconds: float = 0.0

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict {self.verdict!r} is not one of {', '.join(VERDICTS)}")
        if self.kind not in KINDS:
            raise ValueError(f"kind {self.kind!r} is not one of {', '.join(KINDS)}")
        if self.verdict == "refuted" and not self.counterexample:
            raise ValueError(f"{self.claim or self.kind}/{self.check}: a refuted verdict needs a "
                             "counterexample")
        self.derivation = [d if isinstance(d, dict) else derivation_item(*d) for d in self.derivation]
        self.figures = [f if isinstance(f, Figure) else Figure.from_json(f) for f in self.figures]

    def to_json(self) -> dict[str, Any]:
        if not self.claim or not self.check:
            raise ValueError("evidence without a claim or a check name (not produced by a registered check)")
        record = {key: jsonable(getattr(self, key)) for key in JSON_KEYS if key != "figures"}
        record["figures"] = [f.to_json() for f in self.figures]
        return record

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> Evidence:
        if not isinstance(record, dict):
            raise ValueError(f"an evidence record must be a JSON object, not {type(record).__name__}")
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


# ---- writing outputs -------------------------------------------------------------------------------
#
# A report or JSON file is written to a temporary file beside it and renamed over it, so a reader never
# sees a half-written file; the pair (report, JSON) of one run is renamed together, with Ctrl-C held
# back between the renames, so a reader never sees a new report beside an old JSON. Two kinds of
# existing targets are not files to replace: a character device (``/dev/null``, a terminal) and a FIFO
# (``--json >(jq .)``) are written through, opened and written like any stream (a rename would replace
# the device node or the pipe with a regular file). A symbolic link is followed: the file it points at
# is replaced (created if the link dangles) and the link stays. Anything else that exists and is not a
# regular file (a directory, a socket, a block device) is refused.

def _stat(path: Path) -> os.stat_result | None:
    try:
        return os.stat(path)
    except FileNotFoundError:
        return None


def _is_stream(path: Path) -> bool:
    st = _stat(path)
    return st is not None and (stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode))


def _temporary_name(name: str) -> str:
    """The prefix of a target's temporary file: short whatever the target's name, so a name that fits
    the file system still fits once the temporary suffix is added."""
    return f".{name[:40]}."


def check_output(path: str | os.PathLike) -> Path:
    """Validate an output path before any work is done (ValueError, one line, naming the problem):
    not empty, not a directory, an existing target a regular file, a character device or a FIFO, and
    otherwise a file that can be created: its first existing ancestor a directory in which a file can
    be created, every missing name within the file system's limit. Returns the path to write: symbolic
    links resolved for a file (the link's target is what gets replaced), the path itself for a stream.
    """
    text = os.fspath(path)
    if not text:
        raise ValueError("the path is empty; give a file path")
    if text.endswith(("/", os.sep)):
        raise ValueError(f"{text!r} names a directory; give a file path")
    p = Path(text)
    try:
        st = _stat(p)
    except OSError as exc:  # a path through a regular file, a name too long, a symlink loop, …
        if exc.errno == errno.ENOTDIR:
            blocker = next(a for a in reversed(p.parents) if a.exists() and not a.is_dir())
            raise ValueError(f"{text!r}: {blocker} is not a directory") from None
        if exc.errno == errno.ENAMETOOLONG:
            longest = max(p.parts, key=lambda n: len(os.fsencode(n)))
            raise ValueError(f"{text!r}: the name {longest[:20]}… has {len(os.fsencode(longest))} bytes; "
                             "this file system allows fewer") from None
        raise ValueError(f"{text!r}: {exc.strerror}") from None
    if st is not None:
        if stat.S_ISDIR(st.st_mode):
            raise ValueError(f"{text!r} is a directory; give a file path")
        if stat.S_ISCHR(st.st_mode) or stat.S_ISFIFO(st.st_mode):
            if not os.access(p, os.W_OK):
                raise ValueError(f"{text!r} is not writable")
            return p  # written through (module comment above)
        if not stat.S_ISREG(st.st_mode):
            raise ValueError(f"{text!r} exists and is neither a regular file, a character device nor a FIFO")
    target = Path(os.path.realpath(p))
    missing = [target.name]
    ancestor = target.parent
    while not ancestor.exists() and ancestor != ancestor.parent:
        missing.append(ancestor.name)
        ancestor = ancestor.parent
    if not ancestor.is_dir():
        raise ValueError(f"{text!r}: {ancestor} is not a directory")
    limit = os.pathconf(ancestor, "PC_NAME_MAX")
    long = next((n for n in missing if len(os.fsencode(n)) > limit), None)
    if long is not None:
        raise ValueError(f"{text!r}: the name {long[:20]}… has {len(os.fsencode(long))} bytes; this file "
                         f"system allows {limit}")
    try:  # the one sure test that a file can be created there (read-only mounts, /proc, permissions)
        fd, probe = tempfile.mkstemp(dir=ancestor, prefix=".verify-probe.")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise ValueError(f"{text!r}: cannot create a file in {ancestor} ({exc.strerror})") from None
    return target


@contextlib.contextmanager
def _interrupts_held() -> Iterator[None]:
    """Hold Ctrl-C (SIGINT) back until the block is done, then raise it as ``KeyboardInterrupt(WRITTEN)``
    (the block's work is complete): the renames of one pair are all done or none (the main thread only;
    elsewhere the block runs as it is)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    caught: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda signum, frame: caught.append(signum))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if caught:
        raise KeyboardInterrupt(WRITTEN)


WRITTEN = "interrupted after the files were written"


def write_together(items: Sequence[tuple[str | os.PathLike, str]]) -> None:
    """Write every (path, text) so that no reader sees a half-written file or a mix of old and new
    files: each file's text goes to a temporary file beside it first, then all are renamed with Ctrl-C
    held back; streams (character devices, FIFOs) are written last. Symbolic links are followed (module
    comment above). On any error, or Ctrl-C before the renames, the temporary files are removed and
    the old files are left as they were."""
    files, streams, temps = [], [], []
    for path, text in items:
        (streams if _is_stream(Path(path)) else files).append((Path(path), text))
    try:
        for path, text in files:
            target = Path(os.path.realpath(path))
            target.parent.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(dir=target.parent, prefix=_temporary_name(target.name), suffix=".tmp")
            temps.append((tmp, target))
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(text)
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a report should read like any file
        with _interrupts_held():
            for tmp, target in temps:
                os.replace(tmp, target)
    except BaseException:
        for tmp, _ in temps:
            Path(tmp).unlink(missing_ok=True)
        raise
    for path, text in streams:
        with open(path, "w", encoding="utf-8") as fh:
            fh.write(text)


def write_atomic(path: str | os.PathLike, text: str) -> None:
    """Write ``text`` to ``path`` through a temporary file and a rename: never half-written
    (``write_together`` of one file)."""
    write_together([(path, text)])


def dump_json(evidence: Sequence[Evidence]) -> str:
    return json.dumps([e.to_json() for e in evidence], indent=1, allow_nan=False, ensure_ascii=False)


def load_json(text: str) -> list[Evidence]:
    """The Evidence list of a ``--json`` file (ValueError naming what is wrong)."""
    try:
        records = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not JSON ({exc.msg} at line {exc.lineno})") from None
    if not isinstance(records, list):
        raise ValueError("expected a JSON list of evidence records")
    out = []
    for i, record in enumerate(records):
        try:
            out.append(Evidence.from_json(record))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"record {i}: {exc}") from None
    return out
