"""The metrics family on tiny sizes: every verdict as the measures' definitions imply, controls refuted,
and deliberate bugs in the deciding code turn a confirmed check into a refuted one."""

from __future__ import annotations

import pytest

import checks.metrics as family
import numerics.metrics as M
import numerics.unitgraph as U
from theory.claims import CLAIMS
from theory.evidence import Config

TINY = family.Sizes(models=3, samples=48, subsample=12, steps=2, replicas=(1, 4), rank_rows=24)


@pytest.fixture
def tiny(monkeypatch):
    monkeypatch.setitem(family.SIZES, True, TINY)
    family._suite.cache_clear()
    yield Config(quick=True, progress=False)
    family._suite.cache_clear()


def _run(config: Config, name: str):
    check = next(c for claim in CLAIMS.values() if claim.family == "metrics" for c in claim.checks
                 if c.name == name)
    return check(config)


EXPECTED = {"dead-exact": "confirmed", "dead-certified": "confirmed", "dead-paper": "refuted",
            "dead-redo-0.025": "refuted", "dead-control-near-dead": "refuted", "duplicate-exact": "confirmed",
            "duplicate-control-near-clone": "refuted", "duplicate-cosine": "refuted",
            "saturated-invariant": "confirmed", "saturated-paper": "refuted", "rank-numerical": "confirmed",
            "rank-control-width": "refuted", "rank-cloning-numerical": "confirmed",
            "rank-cloning-effective": "refuted"}


def test_verdicts_follow_the_definitions(tiny):
    for name, verdict in EXPECTED.items():
        ev = _run(tiny, name)
        assert ev.verdict == verdict, (name, ev.summary)
        assert ev.verdict != "refuted" or ev.counterexample


def test_every_metrics_claim_has_a_control(tiny):
    for claim in ("metrics.dead", "metrics.duplicate", "metrics.rank"):
        assert any("control" in c.name for c in CLAIMS[claim].checks)


# ---- deliberate bugs ----------------------------------------------------------------------------------

def test_a_wrong_flat_set_test_is_caught(tiny, monkeypatch):
    planted = family.gen.planted
    monkeypatch.setattr(family.gen, "planted", lambda seed, n: planted(seed, n, activations=("relu",)))
    real = M.flat_extremes
    monkeypatch.setattr(M, "flat_extremes", lambda lo, hi, a="relu": real(lo, hi - 10.0, a))
    assert _run(tiny, "dead-exact").verdict == "refuted"


def test_a_certificate_that_ignores_weights_is_caught(tiny, monkeypatch):
    monkeypatch.setattr(M, "sign_certificate", lambda w, b, zero, nonneg: b.detach() < 0)
    assert _run(tiny, "dead-certified").verdict == "refuted"


def test_a_loose_clone_tolerance_is_caught(tiny, monkeypatch):
    real = U.coarsest_equitable_groups
    monkeypatch.setattr(U, "coarsest_equitable_groups", lambda *a, **k: real(*a, **{**k, "tol": 0.9}))
    assert _run(tiny, "duplicate-exact").verdict == "refuted"


def test_an_invariant_saturation_without_the_batch_factor_is_caught(tiny, monkeypatch):
    monkeypatch.setattr(M, "saturated_invariant", lambda h, g, batch=None: M.saturated(h, g))
    assert _run(tiny, "saturated-invariant").verdict == "refuted"
