"""The report's parts without a browser: numbers, value tables (every leaf shown), lean SVG (unique,
resolving ids), networks drawn from counterexamples, matrices typeset, the dashboard's verdicts, and
the terminal table. The page in a real browser: tests/test_browser.py."""

from __future__ import annotations

import io
import json
import math
import re
from html import unescape

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reports import derivation, figures, network, terminal
from reports.render import render
from reports.values import INLINE, Renderer, number, scalar
from theory.claims import Claim
from theory.evidence import Evidence, Figure, Panel, Series


def _text(html: str) -> str:
    return unescape(re.sub(r"<[^>]+>", "", str(html)))


@pytest.mark.parametrize("x, shown", [
    (0.1 + 0.2, "0.3"), (2 / 3, "0.6667"), (0.99999999, "1.000"), (0.19301823784652417, "0.1930"),
    (1e-4, "1×10−4"), (4.85722573273506e-17, "4.857×10−17"), (-0.00258252, "−0.002583"), (50.0, "50"),
    (1234567.8, "1.235×106"), (7, "7"), (-3, "−3"), (True, "true"), (False, "false"),
    (math.inf, "∞"), (-math.inf, "−∞"), (math.nan, "NaN"), (9.99996e-5, "1.000×10−4"),
])
def test_numbers_read_at_four_significant_digits(x, shown):
    assert _text(number(x)) == shown


def test_scalars_keep_their_kind():
    assert _text(scalar(None)) == "null" and _text(scalar("inf")) == "∞" and _text(scalar("-5/3")) == "−5/3"
    assert _text(scalar("<b>")) == "<b>" and "<b>" not in str(scalar("<b>"))  # escaped


_leaf = st.one_of(st.none(), st.booleans(), st.integers(-10**12, 10**12),
                  st.floats(allow_nan=False, allow_infinity=False, width=64),
                  st.sampled_from(["nan", "inf", "-inf", "3/4"]), st.text(min_size=1, max_size=12))
_key = st.text(st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), min_size=1, max_size=10)
_json = st.recursive(_leaf, lambda inner: st.one_of(st.lists(inner, max_size=24),
                                                     st.dictionaries(_key, inner, max_size=6)), max_leaves=40)


def _expected(v, out: list, plotted: list) -> None:
    """What the rendered value must show: each key, and each leaf unless it sits in a plotted list."""
    if isinstance(v, dict):
        for k, x in v.items():
            out.append(str(k))
            _expected(x, out, plotted)
    elif isinstance(v, list):
        numeric = all((isinstance(x, (int, float)) and not isinstance(x, bool)) or x in ("nan", "inf", "-inf")
                      for x in v if not isinstance(x, (dict, list)))
        if v and numeric and all(not isinstance(x, (dict, list)) for x in v) and len(v) > INLINE:
            plotted.append(v)
            return
        for x in v:
            _expected(x, out, plotted)
    else:
        out.append(_text(scalar(v)))


@settings(max_examples=60, deadline=None)
@given(_json)
def test_every_key_and_leaf_is_shown(value):
    """Tables, sub-tables, record tables, inline lists: nothing of a value is dropped; a long numeric
    list shows its length (its plot and range beside it, its values in the raw record)."""
    html = str(Renderer()(value))
    text = _text(html)
    shown, plotted = [], []
    _expected(value, shown, plotted)
    for item in shown:
        assert item in text, item
    for v in plotted:
        assert f"n = {len(v)}" in text or f"{len(v)} values, all" in text or "[" in text


def test_dicts_of_like_dicts_become_one_table_with_grouped_columns():
    html = str(Renderer()({"relu": {"alpha": 0.5, "by_n": {"10": 1, "1000": 2}},
                           "tanh": {"alpha": 0.1, "by_n": {"10": 3, "1000": 4}}}))
    assert html.count("<table") == 1 and 'colspan="2" class="group"' in html
    assert [_text(c) for c in re.findall(r"<td>(.*?)</td>", html)] == ["0.5", "1", "2", "0.1", "3", "4"]


def test_a_long_numeric_list_is_a_sparkline_with_its_range():
    html = str(Renderer()(list(np.linspace(-1, 2, 50))))
    assert "<polyline" in html and "n = 50" in html and "min −1" in html and "max 2" in html
    assert "<polyline" not in str(Renderer()(list(range(40))))  # indices are written out
    short = [k / 7 for k in range(INLINE)]
    assert "<polyline" not in str(Renderer()(short)) and _text(number(short[-1])) in _text(Renderer()(short))


def _figure(k: int) -> Figure:
    return Figure(f"figure {k}", [Panel([Series("line", [1, 2, 3], [k, 2, 1], "a"), Series("hline", y=1.5)],
                                        xlabel="x", ylabel="y", yscale="log"),
                                  Panel([Series("heatmap", [0, 1], [0, 1], z=[[1, 2], [3, 4]])],
                                        colorbar=True)],
                  columns=2)


def test_lean_svgs_have_unique_resolving_ids_and_no_boilerplate():
    raw = figures._to_svg(figures.draw(_figure(0)))
    page = figures.svg(_figure(0), "fig-1") + figures.svg(_figure(1), "fig-2")
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids)) and all(i.startswith(("fig-1-", "fig-2-")) for i in ids)
    refs = re.findall(r'url\(#([^)]+)\)', page) + re.findall(r'href="#([^"]+)"', page)
    assert refs and set(refs) <= set(ids)
    assert "<metadata" not in page and "<style" not in page and "font-family" not in page
    assert len(figures.svg(_figure(0), "f")) < 0.7 * len(raw)


def test_a_counterexample_with_weights_is_drawn_with_its_weight_tables():
    cx = {"network": "1-2-1", "unit": "h1.1", "seed": 3,
          "weights": {"x0->h1.0": "5/3", "x0->h1.1": -0.5, "1->h1.1": "-1/2", "h1.0->y0": 2,
                      "h1.1->y0": "a3"}}
    render_value = Renderer()
    html = str(network.network_view(cx, render_value))
    assert "<svg class=\"network\"" in html and 'class="marked"' in html and "sym" in html  # a3: a symbol
    tables = re.findall(r'<table class="grid wtable">.*?</table>', html)
    assert len(tables) == 2
    cells = _text("".join(tables))
    for w in ("5/3", "−0.5", "−1/2", "2", "a3", "bias"):
        assert w in cells
    assert "seed" in _text(html) and "1-2-1" in _text(html)


def test_a_state_dict_is_a_network_and_other_dicts_are_not():
    sd = {"l.0.weight": [[1.0, -2.0], [0.5, 0.0], [3.0, 1.0]], "l.0.bias": [0.1, 0.2, 0.3],
          "l.1.weight": [[1.0, 1.0, -1.0]], "l.1.bias": [0.0]}
    key, edges = network.edges_of({"initial_weights": sd})
    assert key == "initial_weights" and len(edges) == 6 + 3 + 3 + 1
    assert edges[("x1", "h1.0")] == -2.0 and edges[("1", "y0")] == 0.0 and edges[("h1.2", "y0")] == -1.0
    assert network.edges_of({"weights": {"a": 1}}) is None
    assert network.edges_of({"w": {"l.0.weight": [[1.0]], "l.1.weight": [[1.0, 2.0]]}}) is None  # shapes
    assert network.network_view({"weights": {"a->b": 1, "b->a": 2}}, Renderer()) is None  # a cycle


def test_a_matrix_written_as_text_is_typeset():
    mathml = str(derivation.matrix_mathml("Matrix([[-5/2, 1], [x, f(a, b)]])"))
    assert mathml.count("<mtr>") == 2 and mathml.count("<mtd>") == 4 and "<mfrac>" in mathml
    assert "f(a, b)" in mathml
    assert derivation.matrix_mathml("not a matrix") is None
    step = str(derivation.step({"label": "z", "text": "Matrix([[0, 0]])", "mathml": None}))
    assert "<math" in step and "Matrix(" not in step
    long = str(derivation.step({"label": "big", "text": "x" * 5000, "mathml": "<mi>x</mi>"}))
    assert "<details" in long and "5,000 characters" in long and "<mi>x</mi>" in long
    lazy = str(derivation.step({"label": "big", "text": "x" * 5000, "mathml": "<mi>x</mi>"}, 3, 1))
    assert 'data-record="3" data-step="1"' in lazy and "<mi>" not in lazy  # typeset from the record


@pytest.mark.parametrize("mathml", ['<mi>x</mi><img src="x" onerror="alert(1)">',
                                    '<mtext onclick="a">x</mtext>', "<mi>x</mi><script>alert(1)</script>",
                                    '<mi href="javascript:x">x</mi>', "<mi>a</mi> < <mi>b</mi>"])
def test_mathml_from_a_record_that_is_not_plain_mathml_is_shown_as_text(mathml):
    html = str(derivation.step({"label": "l", "text": "x = y", "mathml": mathml}))
    assert "<math" not in html and "x = y" in html
    assert derivation.safe_mathml('<mrow><mo stretchy="false">(</mo><mi>x</mi><mo>&lt;</mo></mrow>')


def _record(claim, check, verdict, control=False, **kw):
    e = Evidence(kind="numeric", verdict=verdict, summary=f"{check} says {verdict}",
                 setting={"control": True} if control else {},
                 counterexample={"why": 1} if verdict == "refuted" else None, **kw)
    e.claim, e.check = claim, check
    return e


def test_dashboard_verdicts_findings_and_unknown_families():
    evidence = [_record("a.one", "holds", "proved"), _record("a.one", "control", "refuted", control=True),
                _record("a.two", "partly", "qualified"), _record("a.two", "fails", "refuted"),
                _record("a.three", "control-missed", "proved", control=True),
                _record("zeta.new", "odd", "confirmed", measured={"x": [1, 2]})]
    claims = [Claim("a.one", "one", "§1"), Claim("a.two", "two", "§2"), Claim("a.three", "three", "§3"),
              Claim("a.four", "four, no check", "§4")]
    html = render(evidence, claims, "t", "r", [("a.two", "boom", "RuntimeError: x")])
    summary = html.split('id="summary"')[1].split("</section>")[0]
    for claim in ("a.one", "a.two", "a.three", "a.four", "zeta.new"):
        assert f'href="#{claim}"' in summary
    row = r'<a href="#([^"]+)" title="[^"]*">[^<]+</a></th><td><span class="v v-(\w+)"'
    rows = dict(re.findall(row, summary))
    assert rows == {"a.one": "proved", "a.two": "error", "a.three": "none", "a.four": "none",
                    "zeta.new": "confirmed"}  # controls aside; a crash is the worst
    findings = summary.split('id="findings"')[1]
    assert "control-missed" in findings and "boom" in findings and "a.one" not in findings
    assert 'v-refuted">refuted</span> <a href="#a.two"' in findings  # a crash beside it hides nothing
    ids = re.findall(r'\bid="([^"]+)"', html)
    assert len(ids) == len(set(ids))
    for check in re.findall(r'<article class="check[^"]*" id="([^"]+)"', html):
        assert f'href="#{check}"' in summary
    embedded = json.loads(re.search(r'id="evidence-json">(.*?)</script>', html, re.S).group(1))
    assert [r["check"] for r in embedded] == [e.check for e in evidence]
    assert "As written in the paper" not in html.split("<main>")[1]  # no record carries one


def test_the_embedded_json_cannot_close_its_script_element():
    e = _record("a.one", "x", "proved", measured={"s": "</script><script>alert(1)</script><!--"})
    html = render([e], [Claim("a.one", "one", "§1")], "t", "r")
    body = re.search(r'id="evidence-json">(.*?)</script>', html, re.S).group(1)
    assert json.loads(body)[0]["measured"]["s"] == "</script><script>alert(1)</script><!--"
    assert "alert(1)</script>" not in html.replace(r"<\/script>", "")


class _Stream(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


def test_terminal_table_is_one_line_per_check_cut_only_on_a_terminal(monkeypatch):
    long = "word " * 60
    evidence = [_record("a.one", "holds", "proved"), _record("a.one", "control", "refuted", control=True)]
    evidence[0].summary = long.strip()
    errors = [("a.two", "boom", "RuntimeError: x")]
    plain = terminal.verdict_table(evidence, errors, _Stream(False))
    lines = plain.splitlines()
    assert "\x1b[" not in plain and long.strip() in plain  # a log keeps every word
    assert len(lines) == 1 + 2 + 2 + 1 + 1  # header, claims, checks, error, tally
    assert "refuted (control)" in plain and "ERROR" in plain and "3 checks: 1 proved, 1 refuted" in lines[-1]
    monkeypatch.setenv("COLUMNS", "80")
    coloured = terminal.verdict_table(evidence, errors, _Stream(True))
    assert "\x1b[" in coloured
    visible = [re.sub(r"\x1b\[[0-9;]*m", "", line) for line in coloured.splitlines()]
    assert len(visible) == len(lines) and max(map(len, visible)) <= 80 and "…" in visible[2]


def test_figures_share_one_style():
    svg = figures.svg(Figure("c", [Panel([Series("line", [1, 2], [1, 2]), Series("vline", x=1.5)],
                                         xlabel="x", ylabel="y")]), "f")
    assert "#595959" in svg  # the unstyled reference line is grey and dashed, not a data colour
