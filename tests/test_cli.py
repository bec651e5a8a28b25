"""The command line: bad input, the verdict table, the report and the JSON, the report rebuilt from the
JSON, end to end."""

import json
import re
import subprocess
import sys

import numpy as np
import pytest

from theory import claims, verify
from theory.claims import Check, Claim
from theory.evidence import Config, Evidence, Figure, Panel, Series


@pytest.mark.parametrize("argv, message", [
    (["bogus"], "unknown family 'bogus' (accepted: frozen, cloned, rank, stability, continual, metrics, "
                "all)"),
    (["frozen", "--device", "tpu"], "unknown device 'tpu' (accepted: cpu, cuda)"),
    (["frozen", "--seed", "x"], "invalid int value"),
    ([], "give at least one FAMILY"),
    (["frozen", "--from-json", "x.json"], "give no FAMILY"),
    (["--from-json", "missing.json"], "is not a readable file"),
])
def test_bad_input_is_one_line_and_exit_2(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert verify.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
    assert not (tmp_path / "reports").exists()  # nothing written


def test_unimplemented_family_is_an_error_not_a_verdict(capsys, monkeypatch):
    monkeypatch.setattr(verify, "is_implemented", lambda f: f == "frozen")
    assert verify.main(["stability"]) == 2
    assert "stability is not implemented yet (implemented: frozen)" in capsys.readouterr().err


def test_json_path_that_is_a_directory_is_rejected(tmp_path, capsys):
    assert verify.main(["frozen", "--json", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err


def _fake_check(config):
    return Evidence(kind="symbolic", verdict="proved", summary="it holds", setting={"seed": config.seed},
                    measured={"n": 1}, derivation=[("why", "because")],
                    figures=[Figure("a curve", [Panel([Series("line", np.arange(4), np.arange(4) ** 2, "x²")],
                                                      xlabel="step", ylabel="value")])])


def _stamped(config):
    ev = _fake_check(config)
    ev.claim, ev.check = "frozen.gradient-zero", "fake"
    return ev


def _broken_check(config):
    raise RuntimeError("boom")


@pytest.fixture
def fake_family(monkeypatch):
    fake = [Claim("frozen.gradient-zero", "statement", "§0",
                  [Check("frozen.gradient-zero", "fake", _stamped),
                   Check("frozen.gradient-zero", "broken", _broken_check)])]
    monkeypatch.setattr(verify, "family_claims", lambda f: fake)
    monkeypatch.setattr(verify, "is_implemented", lambda f: True)


def test_a_failing_check_is_an_error_row_and_exit_1(fake_family, tmp_path, capsys):
    out_json, out_html = tmp_path / "e.json", tmp_path / "r.html"
    code = verify.main(["frozen", "--json", str(out_json), "--html", str(out_html), "--seed", "7",
                        "--no-progress"])
    assert code == 1
    table = capsys.readouterr().out
    assert "proved" in table and "ERROR" in table and "RuntimeError: boom" in table and "broken" in table
    records = json.loads(out_json.read_text())
    assert [r["check"] for r in records] == ["fake"] and records[0]["setting"] == {"seed": 7}
    assert records[0]["seconds"] >= 0 and records[0]["figures"][0]["caption"] == "a curve"
    html = out_html.read_text()
    assert 'id="summary"' in html and "RuntimeError: boom" in html and "it holds" in html and "<svg" in html
    assert not list(tmp_path.glob(".*.tmp"))  # temporary files renamed, none left behind


def _rows_and_figures(html: str) -> tuple[list[str], list[str]]:
    """The checks (verdict and anchor) and the figure captions of a report."""
    rows = re.findall(r'<article class="check c-(\w+)" id="([^"]+)"', html)
    return rows, re.findall(r"<figcaption>(.*?)</figcaption>", html, re.S)


def test_from_json_rebuilds_the_same_report_without_running_anything(fake_family, tmp_path, capsys,
                                                                     monkeypatch):
    out_json, first, second = tmp_path / "e.json", tmp_path / "a.html", tmp_path / "b.html"
    verify.main(["frozen", "--json", str(out_json), "--html", str(first), "--no-progress"])
    monkeypatch.setattr(verify, "run_claims", lambda *a: pytest.fail("--from-json must not run checks"))
    assert verify.main(["--from-json", str(out_json), "--html", str(second)]) == 0
    assert "rebuilt from e.json (1 records)" in second.read_text()
    rows_a, figs_a = _rows_and_figures(first.read_text())
    rows_b, figs_b = _rows_and_figures(second.read_text())
    assert rows_a[:1] == rows_b and figs_a == figs_b == ["a curve"]  # the error row is not in the JSON


def test_from_json_refuses_a_file_that_is_not_evidence(tmp_path, capsys):
    bad = tmp_path / "bad.json"
    bad.write_text('[{"claim": "frozen.nonsense"}]')
    assert verify.main(["--from-json", str(bad), "--html", str(tmp_path / "r.html")]) == 2
    assert "record 0: evidence record lacks" in capsys.readouterr().err
    good = [_stamped(Config()).to_json()]
    good[0]["claim"] = "frozen.nonsense"
    bad.write_text(json.dumps(good))
    assert verify.main(["--from-json", str(bad)]) == 2
    assert "unknown claim 'frozen.nonsense'" in capsys.readouterr().err
    assert not (tmp_path / "r.html").exists()


def test_verify_frozen_quick_end_to_end(tmp_path):
    """The README's worked example, small: exits 0 with Evidence for every frozen claim, and the
    report rebuilt from the JSON has the same verdict rows and figures."""
    out_json, out_html, rebuilt = tmp_path / "out.json", tmp_path / "out.html", tmp_path / "again.html"
    proc = subprocess.run([sys.executable, "-m", "theory.verify", "frozen", "--quick", "--no-progress",
                           "--json", str(out_json), "--html", str(out_html)],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-2000:]
    records = json.loads(out_json.read_text())
    ids = {c.id for c in claims.family_claims("frozen")}
    assert {r["claim"] for r in records} == ids
    manifold = [r for r in records if r["claim"] == "frozen.manifold" and r["counterexample"]]
    assert manifold, "frozen.manifold must carry a concrete counterexample"
    assert {r["setting"].get("optimizer") for r in records if r["claim"] == "frozen.optimizers"} >= {
        "sgd", "momentum", "nesterov", "adam", "adamw", "rmsprop", "weight_decay", "noisy_sgd", "dropout"}
    assert out_html.read_text().startswith("<!DOCTYPE html>")
    again = subprocess.run([sys.executable, "-m", "theory.verify", "--from-json", str(out_json), "--html",
                            str(rebuilt)], capture_output=True, text=True, timeout=600)
    assert again.returncode == 0, again.stderr[-2000:]
    assert _rows_and_figures(rebuilt.read_text()) == _rows_and_figures(out_html.read_text())
