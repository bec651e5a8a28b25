"""Equivalence-graph sweeps: plain SGD keeps a clone's graph, noise breaks it, and a wrong
prediction turns the verdict to refuted."""

import dataclasses

import checks.cloned
from cases import sweeps
from theory.evidence import Config

TINY = [6, 8, 8, 3]


def test_sgd_keeps_every_clone_edge_and_noise_breaks_them():
    before, after = sweeps.sweep(sweeps.INTERVENTIONS["bp"], seed=1, widths=TINY, steps=10)
    assert sweeps.graph_summary(before)["edges"] == 16 == sweeps.graph_summary(after)["edges"]
    _, noisy = sweeps.sweep(sweeps.INTERVENTIONS["noisy_sgd"], seed=1, widths=TINY, steps=10)
    assert sweeps.graph_summary(noisy)["edges"] < 16


def test_a_wrong_prediction_is_refuted(monkeypatch):
    wrong = dataclasses.replace(sweeps.INTERVENTIONS["bp"], breaks=True)  # the theory says it keeps
    monkeypatch.setattr(checks.cloned, "INTERVENTIONS", {"bp": wrong})
    ev = checks.cloned.graph_sweep(Config(quick=True, progress=False))
    assert ev.verdict == "refuted"
    assert ev.counterexample["mismatches"][0]["intervention"] == "bp"
