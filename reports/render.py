"""Render a list of Evidence into one self-contained HTML file.

A verdict table at the top; then one section per claim: its statement and source, and for each
check its verdict, summary, setting, the measured numbers, the derivation (MathML, which browsers
render natively, with the plain text beside), the figures (inline SVG, drawn here from the figure
data) and the counterexample. Everything comes from the Evidence records, so a report rebuilt from
``--json`` is the same report. No scripts, styles or fonts are fetched from anywhere.
"""

from __future__ import annotations

import datetime as _dt
import json
from collections.abc import Sequence
from typing import Any

import jinja2

from reports.figures import svg
from theory.claims import Claim
from theory.evidence import Evidence, jsonable

_env = jinja2.Environment(loader=jinja2.PackageLoader("reports", "templates"),
                          autoescape=jinja2.select_autoescape(["html", "j2"]),
                          trim_blocks=True, lstrip_blocks=True)


def _compact(value: Any, limit: int = 600) -> str:
    text = json.dumps(jsonable(value), ensure_ascii=False)
    return text if len(text) <= limit else text[:limit] + " …"


def _math(item: dict[str, Any]) -> dict[str, str]:
    mathml = item.get("mathml")
    return {"label": item["label"], "text": item["text"],
            "mathml": f'<math display="block">{mathml}</math>' if mathml else ""}


def render(evidence: Sequence[Evidence], claims: Sequence[Claim], title: str, run: str,
           errors: Sequence[tuple[str, str, str]] = ()) -> str:
    """The report. ``run`` describes how the evidence was made (seed, sizes, device, or the JSON file
    it was rebuilt from); ``errors`` are (claim, check, message) rows of checks that crashed."""
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
                "derivation": [_math(d) for d in e.derivation],
                "figures": [(f.caption, svg(f)) for f in e.figures],
            } for e in items],
        })
    return _env.get_template("report.html.j2").render(
        title=title, sections=sections, evidence=evidence, errors=errors, run=run,
        generated=_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"))
