"""Derivation steps as typeset math: the record's presentation MathML (browsers render MathML Core
natively, nothing is fetched), a matrix written as text (``Matrix([[1, -1/2]])``) typeset as a
matrix, a sentence as a sentence. A very long expression is folded away behind its size: typeset it
would be one line tens of thousands of pixels wide. Folded, its MathML is not written twice: the page
typesets it from the record's JSON (which the page carries anyway) when it is opened.

MathML from a record is written into the page only when it is made of MathML elements and harmless
attributes (an Evidence file from elsewhere must not bring scripts into a report); otherwise the step
shows its text."""

from __future__ import annotations

import re
from typing import Any

from markupsafe import Markup

LONG = 1200  # characters of the plain text beyond which the typeset form is folded
_MATRIX = re.compile(r"^(?:Immutable)?(?:Dense)?Matrix\(\[(.*)\]\)$", re.S)
_RATIONAL = re.compile(r"^(-?)(\d+)/(\d+)$")
_NUMBER = re.compile(r"^-?\d+(\.\d*)?([eE][-+]?\d+)?$")
_TAG = re.compile(r"<(/?)([A-Za-z][\w:-]*)([^<>]*)>|[<>]")
_ATTRIBUTE = re.compile(r"""\s+([\w:-]+)\s*=\s*("[^"]*"|'[^']*')""")
ELEMENTS = frozenset({"math", "mi", "mn", "mo", "ms", "mtext", "mspace", "mrow", "mfrac", "msqrt", "mroot",
                      "mstyle", "merror", "mpadded", "mphantom", "menclose", "msub", "msup", "msubsup",
                      "munder", "mover", "munderover", "mmultiscripts", "mprescripts", "none", "mtable",
                      "mtr", "mtd", "mfenced", "semantics", "annotation"})
ATTRIBUTES = frozenset({"mathvariant", "stretchy", "fence", "separator", "lspace", "rspace", "form",
                        "largeop", "movablelimits", "accent", "accentunder", "columnalign", "rowalign",
                        "columnspacing", "rowspacing", "linethickness", "notation", "displaystyle",
                        "scriptlevel", "open", "close", "separators", "width", "height", "depth",
                        "encoding", "columnlines", "rowlines", "frame"})


def safe_mathml(mathml: str) -> bool:
    """Only MathML elements with presentation attributes (no scripts, links or event handlers)."""
    for m in _TAG.finditer(mathml):
        if not m.group(2) or m.group(2).lower() not in ELEMENTS:
            return False
        rest = _ATTRIBUTE.sub("", m.group(3)).strip().rstrip("/").strip()
        if rest or any(a.lower() not in ATTRIBUTES for a, _ in _ATTRIBUTE.findall(m.group(3))):
            return False
    return True


def _split(text: str) -> list[str]:
    """Split at the commas that are not inside brackets."""
    parts, depth, start = [], 0, 0
    for i, ch in enumerate(text):
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append(text[start:i].strip())
            start = i + 1
    parts.append(text[start:].strip())
    return [p for p in parts if p]


def _entry(text: str) -> Markup:
    m = _RATIONAL.match(text)
    if m:
        frac = Markup("<mfrac><mn>{}</mn><mn>{}</mn></mfrac>").format(m.group(2), m.group(3))
        return Markup("<mrow><mo>−</mo>{}</mrow>").format(frac) if m.group(1) else frac
    if _NUMBER.match(text):
        return Markup("<mn>{}</mn>").format(text.replace("-", "−"))
    return Markup("<mi>{}</mi>").format(text) if re.fullmatch(r"\w", text) else \
        Markup("<mtext>{}</mtext>").format(text)


def matrix_mathml(text: str) -> Markup | None:
    """``Matrix([[a, b], [c, d]])`` (SymPy's text of a mutable matrix) as a MathML matrix; None when the
    text is not one."""
    m = _MATRIX.match(text.strip())
    if not m:
        return None
    rows = _split(m.group(1))
    if not rows or not all(r.startswith("[") and r.endswith("]") for r in rows):
        return None
    body = Markup("").join(
        Markup("<mtr>{}</mtr>").format(Markup("").join(Markup("<mtd>{}</mtd>").format(_entry(e))
                                                       for e in _split(r[1:-1])))
        for r in rows)
    return Markup("<mrow><mo>[</mo><mtable>{}</mtable><mo>]</mo></mrow>").format(body)


def step(item: dict[str, Any], record: int | None = None, index: int = 0) -> Markup:
    """One derivation item as HTML: its label, then the typeset expression or the sentence. A long
    expression of item ``index`` of page record ``record`` is typeset from that record when opened."""
    text = item.get("text") or ""
    given = item.get("mathml") if item.get("mathml") and safe_mathml(item["mathml"]) else None
    mathml = Markup(given) if given else matrix_mathml(text)
    label = Markup('<p class="label">{}</p>').format(item.get("label", ""))
    if mathml is None:
        return label + Markup('<p class="prose">{}</p>').format(text)
    if len(text) <= LONG:
        return label + Markup('<div class="math"><math display="block">{}</math></div>').format(mathml)
    summary = Markup("<summary>typeset expression, {:,} characters as text</summary>").format(len(text))
    if given and record is not None:
        return label + Markup('<details class="long" data-record="{}" data-step="{}">{}<div class="math">'
                              "</div></details>").format(record, index, summary)
    return label + Markup('<details class="long">{}<div class="math"><math display="block">{}</math></div>'
                          "</details>").format(summary, mathml)

