"""JSON values as HTML a person reads: numbers at a sensible precision, dicts as key/value tables,
dicts of like dicts and lists of like dicts as one table, short lists inline, long numeric lists as
a small plot with their range. Works on any shape, so a family the report has never seen renders
too. Every leaf is shown (a long numeric list as its plot and range); the exact values are in the
record's raw JSON, one click away in the report.

>>> str(number(0.1 + 0.2)), str(number(0.99999999)), str(number(2 / 3))
('0.3', '1.000', '0.6667')
>>> str(number(4.85722573273506e-17))
'4.857×10<sup>−17</sup>'
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

from markupsafe import Markup, escape

from reports import figures

INLINE = 16  # a numeric list up to this long is written out; longer, it is plotted
INDEX_LIST = 256  # a sorted list of distinct integers (unit indices, steps) is written out up to this long
NONFINITE = {"nan": "NaN", "inf": "∞", "-inf": "−∞"}  # theory.evidence.jsonable's strings
SIGNIFICANT = 4
GROUP = 8  # a column of dicts with at most this many keys becomes a group of columns
LONG_TEXT = 60  # a string longer than this takes a whole row of the key/value grid

_RATIONAL = re.compile(r"^-?\d+(/\d+)?$")

# A hook for dicts a reader wants drawn (a network with its weights): returns HTML or None.
Special = Callable[[dict[str, Any]], "Markup | None"]


def _minus(text: str) -> str:
    return text.replace("-", "−")


def number(x: int | float) -> Markup:
    """A number as text: integers exactly; floats to four significant digits, beyond [1e-3, 1e6) as
    m×10^e. Trailing zeros go only when the shorter number is the value (0.1 + 0.2 reads "0.3",
    0.99999999 reads "1.000")."""
    if isinstance(x, bool):
        return Markup('<span class="b{}">{}</span>').format(int(x), "true" if x else "false")
    if isinstance(x, int):
        return Markup(_minus(str(x)))
    if not math.isfinite(x):
        return scalar("nan" if math.isnan(x) else "inf" if x > 0 else "-inf")
    if x == 0 or (x.is_integer() and abs(x) < 1e6):
        return Markup(_minus(str(int(x))))
    mantissa, exp = f"{x:.{SIGNIFICANT - 1}e}".split("e")
    exponent = int(exp)
    if -3 <= exponent < 6:
        text = _strip(f"{x:.{max(0, SIGNIFICANT - 1 - exponent)}f}", x, "")
        return Markup(_minus(text))
    text = _strip(mantissa, x, f"e{exponent}")
    return Markup("{}×10<sup>{}</sup>").format(_minus(text), _minus(str(exponent)))


def _strip(text: str, x: float, suffix: str) -> str:
    """``text`` without trailing zeros when that shorter number is ``x`` (to 1e-9 relative)."""
    short = text.rstrip("0").rstrip(".") if "." in text else text
    return short if abs(float(short + suffix) - x) <= 1e-9 * abs(x) else text


def key(k: Any) -> Markup:
    """A key, breakable after its underscores (long snake_case names wrap at word ends)."""
    return Markup(str(escape(k)).replace("_", "_<wbr>"))


def _is_number(v: Any) -> bool:
    if isinstance(v, str):
        return v in NONFINITE
    return isinstance(v, (int, float)) and not isinstance(v, bool)


def _float(v: Any) -> float:
    return float(v) if not isinstance(v, str) else float(v.replace("−", "-"))


def scalar(v: Any) -> Markup:
    """One leaf: a number, a boolean, null, or a string (non-finite numbers as ∞, −∞, NaN)."""
    if v is None:
        return Markup('<span class="null">null</span>')
    if isinstance(v, (bool, int, float)):
        return number(v)
    if isinstance(v, str) and v in NONFINITE:
        return Markup('<span class="nf">{}</span>').format(NONFINITE[v])
    if isinstance(v, str) and _RATIONAL.match(v):  # an exact number, written as one
        return Markup(_minus(v))
    return Markup('<span class="s">{}</span>').format(v)


def _cell(v: Any) -> bool:
    """Fits a table cell: a short value, or a small dict of leaves (a group of columns)."""
    return _short(v) or (isinstance(v, dict) and len(v) <= GROUP
                         and all(not isinstance(x, (dict, list)) for x in v.values()))


def _like_records(values: list[Any]) -> bool:
    """Dicts that share most of their keys, each value fitting a cell: one table, a row each."""
    dicts = [v for v in values if isinstance(v, dict)]
    if len(values) < 2 or len(dicts) != len(values) or not all(dicts):
        return False
    if not all(_cell(x) for d in dicts for x in d.values()):
        return False
    keys = [set(d) for d in dicts]
    union = set().union(*keys)
    return sum(len(k) for k in keys) >= 0.5 * len(union) * len(keys)


def _short(v: Any) -> bool:
    """Fits a key/value pair: a leaf, or a list of leaves written inline or plotted."""
    if isinstance(v, dict):
        return not v
    if isinstance(v, list):
        return all(not isinstance(x, (dict, list)) for x in v) and (
            len(v) <= INLINE or all(_is_number(x) for x in v))
    return True


def _columns(rows: list[dict[str, Any]]) -> list[str]:
    return list(dict.fromkeys(k for r in rows for k in r))


def _matrix(v: list[Any]) -> bool:
    return (len(v) >= 1 and all(isinstance(r, list) and r for r in v)
            and len({len(r) for r in v}) == 1 and all(_is_number(x) for r in v for x in r))


class Renderer:
    """Renders values; ``special`` may take over a dict (e.g. draw a network)."""

    def __init__(self, special: Special | None = None) -> None:
        self.special = special

    def __call__(self, v: Any) -> Markup:
        return self.value(v)

    def value(self, v: Any) -> Markup:
        if isinstance(v, dict):
            return self.mapping(v)
        if isinstance(v, list):
            return self.sequence(v)
        return scalar(v)

    def mapping(self, d: dict[str, Any]) -> Markup:
        """Runs of short entries as a grid of key/value pairs; a long entry (a table, a list of
        records, a long text) under its key at full width."""
        if not d:
            return Markup('<span class="null">{}</span>').format("{} (empty)")
        if self.special is not None:
            drawn = self.special(d)
            if drawn is not None:
                return drawn
        if _like_records(list(d.values())):
            return self.records(list(d.keys()), list(d.values()), corner="")
        out, run = Markup(""), Markup("")
        for k, v in d.items():
            if _short(v):
                wide = ' class="long"' if isinstance(v, str) and len(v) > LONG_TEXT else ""
                run += Markup("<div{}><dt>{}</dt><dd>{}</dd></div>").format(Markup(wide), key(k),
                                                                             self.value(v))
                continue
            if run:
                out += Markup('<dl class="pairs">{}</dl>').format(run)
                run = Markup("")
            out += Markup('<div class="entry"><div class="key">{}</div>{}</div>').format(key(k),
                                                                                         self.value(v))
        if run:
            out += Markup('<dl class="pairs">{}</dl>').format(run)
        return Markup('<div class="map">{}</div>').format(out)

    def records(self, names: list[Any], rows: list[dict[str, Any]], corner: str) -> Markup:
        """A table of like dicts: one row per dict, one column per key; a key whose values are small
        dicts of leaves becomes a group of columns under a shared header."""
        columns = _columns(rows)
        groups: dict[str, list[str]] = {}
        for c in columns:
            values = [r[c] for r in rows if c in r]
            if all(isinstance(v, dict) and v and all(not isinstance(x, (dict, list)) for x in v.values())
                   for v in values):
                sub = _columns(values)
                if len(sub) <= GROUP:
                    groups[c] = sub
        if groups:
            top = Markup("").join(
                Markup('<th colspan="{}" class="group">{}</th>').format(len(groups[c]), key(c)) if c in groups
                else Markup('<th rowspan="2">{}</th>').format(key(c)) for c in columns)
            second = Markup("").join(Markup("<th>{}</th>").format(key(k)) for c in columns
                                     for k in groups.get(c, ()))
            head = Markup('<tr><th rowspan="2">{}</th>{}</tr><tr>{}</tr>').format(corner, top, second)
        else:
            head = Markup("<tr><th>{}</th>{}</tr>").format(
                corner, Markup("").join(Markup("<th>{}</th>").format(key(c)) for c in columns))

        def cell(row: dict[str, Any], c: str, k: str | None = None) -> Markup:
            present = c in row and (k is None or k in row[c])
            if not present:
                return Markup('<td class="absent"></td>')
            return Markup("<td>{}</td>").format(self.value(row[c] if k is None else row[c][k]))

        body = Markup("")
        for name, row in zip(names, rows):
            cells = Markup("").join(Markup("").join(cell(row, c, k) for k in groups[c]) if c in groups
                                    else cell(row, c) for c in columns)
            body += Markup('<tr><th scope="row">{}</th>{}</tr>').format(key(name), cells)
        return Markup('<div class="wide"><table class="grid"><thead>{}</thead><tbody>{}</tbody></table></div>'
                      ).format(head, body)

    def sequence(self, v: list[Any]) -> Markup:
        if not v:
            return Markup('<span class="null">[] (none)</span>')
        if all(_is_number(x) for x in v):
            return self.numbers(v)
        if _matrix(v):
            return self.matrix(v)
        if _like_records(v):
            return self.records(list(range(len(v))), v, corner="#")
        if all(not isinstance(x, (dict, list)) for x in v):
            return Markup('<span class="list">[{}]</span>').format(
                Markup(", ").join(scalar(x) for x in v))
        items = Markup("").join(Markup("<li>{}</li>").format(self.value(x)) for x in v)
        return Markup('<ol class="items" start="0">{}</ol>').format(items)

    def numbers(self, v: list[Any]) -> Markup:
        inline = Markup('<span class="list">[{}]</span>').format(Markup(", ").join(scalar(x) for x in v))
        if len(v) <= INLINE:
            return inline
        if all(isinstance(x, int) and not isinstance(x, bool) for x in v) and len(v) <= INDEX_LIST \
                and all(a < b for a, b in zip(v, v[1:])):
            return inline  # indices or steps: a plot of them says nothing
        ys = [_float(x) for x in v]
        finite = [y for y in ys if math.isfinite(y)]
        if finite and min(finite) == max(finite) and len(finite) == len(ys):
            return Markup('<span class="list">{} values, all {}</span>').format(len(v), scalar(v[0]))
        stats = Markup("n = {} · first {} · last {} · min {} · max {}").format(
            len(v), scalar(v[0]), scalar(v[-1]),
            number(min(finite)) if finite else "–", number(max(finite)) if finite else "–")
        if len(finite) < len(ys):
            stats += Markup(" · {} non-finite").format(len(ys) - len(finite))
        return Markup('<span class="spark">{}<span class="stats">{}</span></span>').format(
            Markup(figures.sparkline(ys)), stats)

    def matrix(self, v: list[list[Any]]) -> Markup:
        rows, cols = len(v), len(v[0])
        if cols > INLINE:
            items = Markup("").join(Markup("<li>{}</li>").format(self.numbers(r)) for r in v)
            return Markup('<ol class="items" start="0">{}</ol>').format(items)
        head = Markup("").join(Markup("<th>{}</th>").format(j) for j in range(cols))
        body = Markup("").join(
            Markup('<tr><th scope="row">{}</th>{}</tr>').format(
                i, Markup("").join(Markup("<td>{}</td>").format(scalar(x)) for x in r))
            for i, r in enumerate(v))
        return Markup('<div class="wide"><table class="grid matrix" title="{} × {}"><thead><tr><th></th>{}'
                      '</tr></thead><tbody>{}</tbody></table></div>').format(rows, cols, head, body)

