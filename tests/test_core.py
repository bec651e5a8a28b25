"""The Evidence contract (figures and derivations as data), the claim registry and the activation
registry."""

import ast
import json
import math
import os
from pathlib import Path

import numpy as np
import pytest
import sympy as sp
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from reports.figures import svg
from theory import activations, claims, verify
from theory.claims import CLAIMS, FAMILIES, check, family_claims
from theory.evidence import JSON_KEYS, Config, Evidence, Figure, Panel, Series, dump_json, jsonable, load_json

KINKS = (-3, -1, 0, 1, 3, 6)


def _ev(**kw):
    base = dict(claim="frozen.gradient-zero", check="c", kind="symbolic", verdict="proved", summary="s")
    return Evidence(**{**base, **kw})


def _figure() -> Figure:
    curve = Series("line", np.arange(3), np.array([1.0, float("nan"), 2.0]), "curve")
    return Figure("a caption", [Panel([curve, Series("hline", y=0.5, style={"linestyle": "dotted"})],
                                      xlabel="step", ylabel="d", yscale="log")])


def test_json_has_exactly_the_contract_keys():
    record = json.loads(dump_json([_ev(measured={"x": np.float64(1.5), "n": np.int64(3)})]))[0]
    assert tuple(record) == JSON_KEYS
    assert record["measured"] == {"x": 1.5, "n": 3}
    assert Evidence.from_json(record).to_json() == record


def test_figures_and_derivations_are_data_and_survive_the_round_trip():
    x = sp.Symbol("x")
    ev = _ev(derivation=[("a sum", x**2 + 1), ("why", "because")], figures=[_figure()])
    item, sentence = ev.derivation
    assert item["text"] == "x**2 + 1" and "msup" in item["mathml"] and item["latex"] == "x^{2} + 1"
    assert item["srepr"] == sp.srepr(x**2 + 1)
    assert sentence == {"label": "why", "text": "because", "latex": None, "mathml": None, "srepr": None}
    (back,) = load_json(dump_json([ev]))
    assert back.to_json() == ev.to_json()
    assert back.figures[0].panels[0].series[0].y == [1.0, "nan", 2.0]  # strict JSON, read by the renderer
    assert svg(back.figures[0]).startswith("<svg")


@pytest.mark.parametrize("make, message", [
    (lambda: Series("pie", [1], [2]), "series kind 'pie'"),
    (lambda: Panel(xscale="symlog"), "axis scale 'symlog'"),
    (lambda: Figure("empty"), "neither panels nor a graph"),
    (lambda: Figure("crowded", [Panel(), Panel()]), "2 panels do not fit a 1 × 1 grid"),
])
def test_malformed_figures_are_refused(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_refuted_needs_a_counterexample_and_verdicts_are_closed():
    with pytest.raises(ValueError, match="counterexample"):
        _ev(verdict="refuted")
    with pytest.raises(ValueError, match="verdict"):
        _ev(verdict="true")
    with pytest.raises(ValueError, match="kind"):
        _ev(kind="guess")
    with pytest.raises(ValueError, match="without a claim"):
        Evidence(kind="symbolic", verdict="proved", summary="s").to_json()


@pytest.mark.parametrize("text, message", [
    ("{", "not JSON"), ('{"a": 1}', "a JSON list"), ('[{"claim": "x"}]', "record 0: evidence record lacks"),
    ("[1]", "record 0: an evidence record must be a JSON object"),
])
def test_a_bad_json_file_names_the_problem(text, message):
    with pytest.raises(ValueError, match=message):
        load_json(text)


def test_jsonable_is_strict_json():
    out = jsonable({"a": float("inf"), "b": sp.Rational(1, 2), "c": sp.Symbol("x") + 1,
                    "d": torch.tensor([1.0, float("nan")]), "e": (sp.Integer(2),)})
    assert out == {"a": "inf", "b": 0.5, "c": "x + 1", "d": [1.0, "nan"], "e": [2]}
    json.dumps(out, allow_nan=False)


def test_every_claim_of_claims_md_is_registered_once_per_family():
    assert {c.family for c in CLAIMS.values()} == set(FAMILIES)
    assert all(c.id in CLAIMS for f in FAMILIES for c in family_claims(f))
    with pytest.raises(ValueError, match="accepted"):
        family_claims("plasticity")


def _claims_md(root: Path | None = None) -> Path | None:
    """CLAIMS.md of the shared folder: ``$LOP_SHARED/CLAIMS.md`` when that variable is set (then it must
    exist: the test fails otherwise), else the nearest ``shared/CLAIMS.md`` in a folder above the checkout
    (``../shared`` from /work/main, ``../../shared`` from a worktree /work/wt/NAME), else None."""
    if os.environ.get("LOP_SHARED"):
        return Path(os.environ["LOP_SHARED"]) / "CLAIMS.md"
    root = Path(__file__).resolve().parent.parent if root is None else root
    return next((p / "shared" / "CLAIMS.md" for p in root.parents if (p / "shared" / "CLAIMS.md").is_file()),
                None)


def test_claims_md_is_found_beside_the_checkout_or_through_lop_shared(tmp_path, monkeypatch):
    monkeypatch.delenv("LOP_SHARED", raising=False)
    repo = tmp_path / "wt" / "i1"
    repo.mkdir(parents=True)
    assert _claims_md(repo) is None
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "CLAIMS.md").write_text("x")
    assert _claims_md(repo) == tmp_path / "shared" / "CLAIMS.md"  # a worktree: ../../shared
    (tmp_path / "wt" / "shared").mkdir()
    (tmp_path / "wt" / "shared" / "CLAIMS.md").write_text("y")
    assert _claims_md(repo) == tmp_path / "wt" / "shared" / "CLAIMS.md"  # the nearest: ../shared
    monkeypatch.setenv("LOP_SHARED", str(tmp_path / "elsewhere"))
    assert _claims_md(repo) == tmp_path / "elsewhere" / "CLAIMS.md"


def test_every_id_of_claims_md_is_registered_including_the_as_written_section():
    """Every bold claim id of CLAIMS.md — the families and the "As written" section — is in the registry,
    and every As-written id has a check. Runs wherever the shared CLAIMS.md is (fails, not skips, when
    ``LOP_SHARED`` names a folder without one); skips only where there is none."""
    path = _claims_md()
    if path is None:
        pytest.skip("no shared/CLAIMS.md above this checkout and LOP_SHARED not set")
    assert path.is_file(), f"LOP_SHARED={os.environ.get('LOP_SHARED')} holds no CLAIMS.md"
    import re

    text = path.read_text(encoding="utf-8")
    ids = set(re.findall(r"\*\*([a-z]+\.[a-z0-9-]+)\*\*", text))
    section = text.split("## As written", 1)[1] if "## As written" in text else ""
    as_written = set(re.findall(r"\*\*([a-z]+\.[a-z0-9-]+)\*\*", section))
    assert as_written >= {"rank.prop31-main", "rank.mehler", "cloned.architectures"}
    assert ids - set(CLAIMS) == set()
    import checks.cloned  # noqa: F401  (the families that own As-written ids register their checks)
    import checks.frozen  # noqa: F401
    import checks.rank  # noqa: F401
    assert all(CLAIMS[i].checks for i in as_written), [i for i in as_written if not CLAIMS[i].checks]


def test_implemented_families_have_a_check_for_every_claim_and_one_name_per_check():
    for family in ("frozen", "cloned", "rank", "stability"):
        assert verify.is_implemented(family) and claims.is_implemented(family)
        names = [(c.claim, c.name) for claim in family_claims(family) for c in claim.checks]
        assert len(names) == len(set(names)) and all(c.claim == claim.id for claim in family_claims(family)
                                                     for c in claim.checks)
    assert [c.name for c in CLAIMS["frozen.optimizers"].checks][:2] == ["optimizer-sgd", "optimizer-momentum"]


@pytest.fixture
def empty_claim():
    """metrics.dead with no check, restored afterwards."""
    registered = CLAIMS["metrics.dead"].checks
    saved = list(registered)
    registered.clear()
    yield
    registered[:] = saved


def test_the_decorator_fills_in_claim_and_name_and_refuses_nonsense(empty_claim):
    @check("metrics.dead", "probe-{size}", size=(1, 2))
    def probe(config: Config, size: int) -> Evidence:
        return Evidence(kind="numeric", verdict="confirmed", summary=f"size {size}")

    assert [c.name for c in CLAIMS["metrics.dead"].checks] == ["probe-1", "probe-2"]
    ev = CLAIMS["metrics.dead"].checks[1](Config())
    assert (ev.claim, ev.check, ev.summary) == ("metrics.dead", "probe-2", "size 2")
    with pytest.raises(ValueError, match="unknown claim 'metrics.deadish'"):
        check("metrics.deadish")
    with pytest.raises(ValueError, match="registered twice"):
        check("metrics.dead", "probe-1")(probe)

    @check("metrics.dead", "not-evidence")
    def wrong(config: Config) -> Evidence:
        return {"verdict": "proved"}

    with pytest.raises(TypeError, match="returned dict, not Evidence"):
        wrong(Config())


def test_unknown_activation_names_the_accepted_ones():
    with pytest.raises(ValueError, match="relu, relu6"):
        activations.get("swishy")


@settings(max_examples=25, deadline=None)
@given(name=st.sampled_from(sorted(activations.ACTIVATIONS)),
       x=st.floats(-8, 8, allow_nan=False).filter(lambda v: min(abs(v - k) for k in KINKS) > 1e-6))
def test_sympy_and_torch_agree_on_value_and_derivative(name, x):
    """The registry's two faces are one function: same values, same derivative away from kinks."""
    a = activations.get(name)
    t = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    y = a.torch_fn(t)
    y.backward()
    assert math.isclose(float(y.detach()), float(a(sp.Float(x, 30))), rel_tol=1e-12, abs_tol=1e-12)
    assert math.isclose(float(t.grad), float(a.prime(sp.Float(x, 30))), rel_tol=1e-9, abs_tol=1e-12)


def test_flat_sets_follow_from_the_expressions():
    assert activations.get("relu").flat_set == sp.Interval(-sp.oo, 0)
    assert activations.get("leaky_relu").flat_set == sp.S.EmptySet
    assert activations.get("tanh").freezing() == "asymptotic"
    assert activations.get("identity").freezing() == "never"
    assert abs(activations.get("gelu").critical_points[0] + 0.7517915247) < 1e-9


def _library_modules():
    root = Path(__file__).resolve().parent.parent
    contracts = {"verify.py", "claims.py", "evidence.py"}  # the CLI, the registry, the contract
    for package in ("theory", "numerics", "cases"):
        for path in sorted((root / package).glob("*.py")):
            if not (package == "theory" and path.name in contracts):
                yield path


@pytest.mark.parametrize("path", list(_library_modules()), ids=lambda p: f"{p.parent.name}/{p.name}")
def test_libraries_neither_draw_nor_build_evidence(path):
    """The house's one rule: libraries return plain data; checks/ builds Evidence, reports/ draws."""
    tree = ast.parse(path.read_text())
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
    assert not {m for m in imported if m.split(".")[0] in ("reports", "checks", "matplotlib")}, imported
    named = {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
    assert "Evidence" not in named
    calls = {n.func.attr if isinstance(n.func, ast.Attribute) else getattr(n.func, "id", None)
             for n in ast.walk(tree) if isinstance(n, ast.Call)}
    assert "Evidence" not in calls
