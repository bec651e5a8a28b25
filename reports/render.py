"""Render a list of Evidence into one self-contained HTML file a person would rather read than grep.

First screen: a dashboard (``#summary``) — verdict counts, a claim × verdict grid by family with one
link per check, and the findings (every refuted or qualified claim, every negative control that did
not come out refuted, every crashed check) with links. A navigation column by family and claim stays
in reach while scrolling. Then, when any record carries ``setting.as_written``, the paper's statements
as printed with their verdicts; then one section per claim: its statement and source, and per check
its verdict and summary, the setting and the measured numbers as tables, the derivation as typeset
math, the figures, the counterexample (a network as a picture with its weight tables), and the raw
record one click away. The raw records travel once, as the Evidence JSON itself, in a
``<script type="application/json">`` element: the page holds every value of ``--json`` and offers the
file for download. Any family and any shape of ``measured`` renders; nothing is cut. Everything comes
from the Evidence records, so a report rebuilt from ``--json`` is the same report; nothing is fetched
from anywhere.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import jinja2
from markupsafe import Markup

from reports import derivation, network
from reports.figures import svg
from reports.values import Renderer
from theory.claims import FAMILIES, Claim
from theory.evidence import VERDICTS, Evidence

ERROR = "error"
SEVERITY = (ERROR, "refuted", "qualified", "inconclusive", "confirmed", "proved")  # a claim shows its worst
FINDINGS = ("refuted", "qualified")

_env = jinja2.Environment(loader=jinja2.PackageLoader("reports", "templates"),
                          autoescape=jinja2.select_autoescape(["html", "j2"]),
                          trim_blocks=True, lstrip_blocks=True, undefined=jinja2.StrictUndefined)


class Ids:
    """Unique element ids for one page."""

    def __init__(self) -> None:
        self.taken: set[str] = set()

    def __call__(self, *parts: str) -> str:
        base = re.sub(r"[^A-Za-z0-9._-]+", "-", "--".join(parts)).strip("-") or "x"
        name, k = base, 1
        while name in self.taken:
            k += 1
            name = f"{base}-{k}"
        self.taken.add(name)
        return name


@dataclass
class CheckView:
    id: str
    claim: str
    name: str
    verdict: str  # a verdict, or "error"
    control: bool = False
    kind: str = ""
    seconds: float | None = None
    summary: str = ""
    record: int | None = None  # index into the page's Evidence JSON
    setting: Markup | None = None
    measured: Markup | None = None
    derivation: list[Markup] = field(default_factory=list)
    figures: list[tuple[str, Markup]] = field(default_factory=list)
    counterexample: Markup | None = None
    as_written: Markup | None = None

    @property
    def surprising(self) -> bool:
        """A negative control must come out refuted; anything else is a finding about the verifier."""
        return self.control and self.verdict != "refuted"


@dataclass
class ClaimView:
    claim: Claim
    id: str
    checks: list[CheckView]

    @property
    def family(self) -> str:
        return self.claim.family

    @property
    def verdict(self) -> str:
        """The worst verdict of its checks, negative controls aside (their verdict says whether the
        verifier can say "false", not whether the claim holds); "none" without a check."""
        own = [c.verdict for c in self.checks if not c.control] or [c.verdict for c in self.checks
                                                                  if c.verdict == ERROR]
        return min(own, key=SEVERITY.index) if own else "none"

    @property
    def finding(self) -> str | None:
        """"refuted" or "qualified" when a check (a control aside) says so, whatever else crashed."""
        found = [c.verdict for c in self.checks if not c.control and c.verdict in FINDINGS]
        return min(found, key=SEVERITY.index) if found else None

    def by_verdict(self, verdict: str) -> list[CheckView]:
        return [c for c in self.checks if c.verdict == verdict]


def _special(render: Renderer):
    return lambda d: network.network_view(d, render)


def _check_view(e: Evidence, record: dict[str, Any], index: int, ids: Ids, render: Renderer) -> CheckView:
    """One check's view, drawn from its JSON record (so a report rebuilt from ``--json`` is the same)."""
    setting = {k: v for k, v in record["setting"].items() if k not in ("control", "as_written")}
    view = CheckView(id=ids(e.claim, e.check), claim=e.claim, name=e.check, verdict=e.verdict,
                     control=bool(record["setting"].get("control")), kind=e.kind, seconds=e.seconds,
                     summary=e.summary, record=index,
                     setting=render(setting) if setting else None,
                     measured=render(record["measured"]) if record["measured"] else None,
                     derivation=[derivation.step(d, index, k) for k, d in enumerate(record["derivation"])],
                     counterexample=render(record["counterexample"]) if record["counterexample"] else None)
    if "as_written" in record["setting"]:
        view.as_written = render(record["setting"]["as_written"])
    for f in e.figures:
        view.figures.append((f.caption, Markup(svg(f, ids("fig")))))
    return view


def _claims(evidence: Sequence[Evidence], claims: Sequence[Claim], errors: Sequence[tuple[str, str, str]]
            ) -> list[Claim]:
    """The claims given, plus any a record or an error names that is not among them (a family this
    renderer has never heard of still gets its sections), ordered by family."""
    known = {c.id: c for c in claims}
    for claim_id in [e.claim for e in evidence] + [c for c, _, _ in errors]:
        if claim_id not in known:
            known[claim_id] = Claim(claim_id, "(not in this version's claim registry)", "")
    order = {f: i for i, f in enumerate(FAMILIES)}
    return sorted(known.values(), key=lambda c: (order.get(c.family, len(order)), c.family))


def _json_for_script(records: list[dict[str, Any]]) -> Markup:
    """The Evidence list as JSON that an HTML script element holds verbatim."""
    text = json.dumps(records, ensure_ascii=False, allow_nan=False, separators=(",", ":"))
    return Markup(text.replace("</", "<\\/").replace("<!--", "\\u003c!--"))


def render(evidence: Sequence[Evidence], claims: Sequence[Claim], title: str, run: str,
           errors: Sequence[tuple[str, str, str]] = ()) -> str:
    """The report. ``run`` describes how the evidence was made (seed, sizes, device, or the JSON file
    it was rebuilt from); ``errors`` are (claim, check, message) rows of checks that crashed."""
    ids = Ids()
    for reserved in ("summary", "findings", "as-written", "nav", "evidence-json", "download"):
        ids(reserved)
    render_value = Renderer()
    render_value.special = _special(render_value)
    records = [e.to_json() for e in evidence]
    views = [_check_view(e, r, i, ids, render_value) for i, (e, r) in enumerate(zip(evidence, records))]
    crashed = [CheckView(id=ids(c, k), claim=c, name=k, verdict=ERROR, summary=m) for c, k, m in errors]
    sections = [ClaimView(c, "", [v for v in views + crashed if v.claim == c.id])
                for c in _claims(evidence, claims, errors)]
    for s in sections:
        s.id = ids(s.claim.id)
    families: dict[str, list[ClaimView]] = {}
    for s in sections:
        families.setdefault(s.family, []).append(s)
    family_ids = {f: ids("family", f) for f in families}
    checks = views + crashed
    counts = Counter(c.verdict for c in checks)
    controls = [c for c in checks if c.control]
    page = _env.get_template("report.html.j2").render(
        title=title, run=run, css=Markup(_asset("report.css")), js=Markup(_asset("report.js")),
        generated=_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        families=families, family_ids=family_ids, columns=(*VERDICTS, ERROR), checks=checks,
        counts=counts, controls=controls,
        findings=[s for s in sections if s.finding],
        surprising=[c for c in checks if c.surprising], crashed=crashed,
        as_written=[c for c in views if c.as_written is not None],
        evidence_json=_json_for_script(records))
    return page


def _asset(name: str) -> str:
    return resources.files("reports").joinpath("templates", name).read_text(encoding="utf-8")
