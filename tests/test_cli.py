"""The command line: bad input, the verdict table, the report and the JSON, end to end."""

import json
import subprocess
import sys

import pytest

from theory import claims, verify
from theory.claims import CheckSpec, Claim
from theory.evidence import Evidence


@pytest.mark.parametrize("argv, message", [
    (["bogus"], "unknown family 'bogus' (accepted: frozen, cloned, rank, stability, continual, all)"),
    (["frozen", "--device", "tpu"], "unknown device 'tpu' (accepted: cpu, cuda)"),
    (["frozen", "--seed", "x"], "invalid int value"),
    ([], "the following arguments are required"),
])
def test_bad_input_is_one_line_and_exit_2(argv, message, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert verify.main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and message in err
    assert not (tmp_path / "reports").exists()  # nothing written


def test_unimplemented_family_is_an_error_not_a_verdict(capsys, monkeypatch):
    monkeypatch.setattr(claims, "is_implemented", lambda f: f == "frozen")
    monkeypatch.setattr(verify, "is_implemented", lambda f: f == "frozen")
    assert verify.main(["stability"]) == 2
    assert "stability is not implemented yet (implemented: frozen)" in capsys.readouterr().err


def test_json_path_that_is_a_directory_is_rejected(tmp_path, capsys):
    assert verify.main(["frozen", "--json", str(tmp_path)]) == 2
    assert "is a directory" in capsys.readouterr().err


def _fake_checks(config):
    return Evidence("frozen.gradient-zero", "fake", "symbolic", "proved", "it holds",
                    setting={"seed": config.seed}, measured={"n": 1})


def _broken_check(config):
    raise RuntimeError("boom")


@pytest.fixture
def fake_family(monkeypatch):
    fake = [Claim("frozen.gradient-zero", "statement", "§0",
                  (CheckSpec("tests.test_cli:_fake_checks"), CheckSpec("tests.test_cli:_broken_check")))]
    monkeypatch.setattr(verify, "family_claims", lambda f: fake)
    monkeypatch.setattr(verify, "is_implemented", lambda f: True)


def test_a_failing_check_is_an_error_row_and_exit_1(fake_family, tmp_path, capsys):
    out_json, out_html = tmp_path / "e.json", tmp_path / "r.html"
    code = verify.main(["frozen", "--json", str(out_json), "--html", str(out_html), "--seed", "7",
                        "--no-progress"])
    assert code == 1
    table = capsys.readouterr().out
    assert "proved" in table and "ERROR" in table and "RuntimeError: boom" in table
    records = json.loads(out_json.read_text())
    assert [r["check"] for r in records] == ["fake"] and records[0]["setting"] == {"seed": 7}
    html = out_html.read_text()
    assert "<table>" in html and "RuntimeError: boom" in html and "it holds" in html
    assert not list(tmp_path.glob(".*.tmp"))  # temporary files renamed, none left behind


def test_verify_frozen_quick_end_to_end(tmp_path):
    """The README's worked example, small: exits 0 with Evidence for every frozen claim."""
    out_json, out_html = tmp_path / "out.json", tmp_path / "out.html"
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
