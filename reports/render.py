"""Render a list of Evidence into one self-contained HTML file.

A verdict table at the top; then one section per claim: its statement and source, and for each
check its verdict, summary, setting, the measured numbers, the derivation (SymPy expressions as
MathML, which browsers render natively, with the plain text beside), the figures (inline SVG) and
the counterexample. No scripts, styles or fonts are fetched from anywhere.
"""

from __future__ import annotations

import datetime as _dt
import json
from typing import Any

import jinja2
import sympy as sp

from theory.claims import Claim
from theory.evidence import Config, Evidence, jsonable

_env = jinja2.Environment(loader=jinja2.PackageLoader("reports", "templates"),
                          autoescape=jinja2.select_autoescape(["html", "j2"]),
                          trim_blocks=True, lstrip_blocks=True)


def _math(expr: Any) -> dict[str, str]:
    """MathML (presentation) and plain text of a derivation item."""
    if isinstance(expr, sp.Basic):
        try:
            mathml = sp.printing.mathml(expr, printer="presentation")
        except Exception:  # some unevaluated objects have no MathML printer: plain text only
            mathml = ""
        return {"mathml": f'<math display="block">{mathml}</math>' if mathml else "",
                "text": sp.sstr(expr)}
    return {"mathml": "", "text": str(expr)}


def _compact(value: Any, limit: int = 600) -> str:
    text = json.dumps(jsonable(value), ensure_ascii=False)
    return text if len(text) <= limit else text[:limit] + " …"


def render(evidence: list[Evidence], claims: list[Claim], title: str, config: Config,
           errors: list[tuple[str, str, str]] = ()) -> str:
    sections = []
    for claim in claims:
        items = [e for e in evidence if e.claim == claim.id]
        sections.append({
            "claim": claim,
            "errors": [(k, m) for c, k, m in errors if c == claim.id],
            "evidence": [{
                "e": e,
                "setting": _compact(e.setting),
                "measured": [(k, _compact(v)) for k, v in e.measured.items()],
                "counterexample": json.dumps(jsonable(e.counterexample), indent=1, ensure_ascii=False)
                if e.counterexample else None,
                "derivation": [(label, _math(x)) for label, x in e.derivation],
                "figures": e.figures,
            } for e in items],
        })
    return _env.get_template("report.html.j2").render(
        title=title, sections=sections, evidence=evidence, errors=errors, config=config,
        generated=_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
