"""Frozen units, symbolically: for every random architecture, every flat-region activation and every
planted dead unit, ∂L/∂θ_F = 0 exactly and numerically; the negative controls are caught; every
check returns Evidence for its claim with a verdict it computed."""

import dataclasses
import random

import pytest
import sympy as sp
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import checks.frozen
from cases import generator
from cases.generator import planted_dead, planted_dead_cases, random_architecture
from numerics.models import MLP
from theory import activations, frozen, manifolds
from theory.claims import family_claims
from theory.evidence import Config, Evidence
from theory.invariance import prove
from theory.updates import OPTIMIZERS

QUICK = Config(quick=True, progress=False)
WITH_ACTIVE_REGION = ["relu", "relu6", "hardtanh", "hardsigmoid"]
EXPECTED_VERDICT = {
    "gradient-zero-mlp": "proved", "gradient-zero-dag": "proved", "gradient-zero-exact": "proved",
    "control-active-on-one-sample": "refuted", "control-leaky-relu": "refuted",
    "manifold-first-layer": "proved", "manifold-sign-condition": "proved", "manifold-box-condition": "proved",
    "manifold-paper-statement": "qualified", "activations-classify": "qualified",
}
# the frozen family's other checks: trained networks and normalization (test_numerics_frozen), the
# optimizers (test_frozen_optimizers)
OTHER_CHECKS = {"gradient-zero-trained", "manifold-trained", "normalization-bound", "normalization-trained",
                "validation4-as-written", "validation4-as-written-control"}  # the last two: test_as_written
FROZEN_CHECKS = [c for claim in family_claims("frozen") for c in claim.checks if c.name in EXPECTED_VERDICT]


# ---- the theorem, as a property --------------------------------------------------------------------

@settings(max_examples=15, deadline=None)
@given(case=planted_dead_cases())
def test_planted_dead_unit_has_zero_gradient_exactly_and_in_float64(case):
    zs = case.pre_activations()
    assert all(case.region.contains(v) for v in zs)
    assert all(activations.get(case.activation).prime(v) == 0 for v in zs)
    exact, float64 = checks.frozen._case_gradients(case)
    assert set(exact.values()) == {0}
    assert set(float64.values()) == {0.0}


@settings(max_examples=4, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_generic_gradient_reduces_to_zero_on_random_dags(seed):
    """Generic f_v and ℓ: every component of ∂L/∂θ_F is a non-zero expression that becomes 0 once
    f'_u(z_u(x_i)) = 0 on every sample."""
    rng = random.Random(seed)
    G = random_architecture(seed, "dag", "generic", "generic", n_hidden=3)
    unit = rng.choice([v for v in G if G.nodes[v]["kind"] == "hidden"])
    proof = prove(G, manifolds.from_constraints("all weights", G, []), frozen.frozen_gradient(unit),
                  n_samples=2, given=frozen.frozen_hypothesis(unit))
    assert len(proof.reductions) == len(list(G.predecessors(unit)))
    for r in proof.reductions:
        assert r.after == 0 and r.expr == 0 and frozen.live(r, proof.hypothesis, rng) and r.before != 0


# ---- negative controls -------------------------------------------------------------------------------

@settings(max_examples=10, deadline=None)
@given(case=planted_dead_cases(WITH_ACTIVE_REGION, active_samples=1))
def test_one_active_sample_gives_a_nonzero_gradient(case):
    (i,) = case.active_samples
    assert activations.get(case.activation).prime(case.pre_activations()[i]) != 0
    exact, float64 = checks.frozen._case_gradients(case)
    assert any(g != 0 for g in exact.values())
    assert any(g != 0.0 for g in float64.values())


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), architecture=st.sampled_from(["mlp", "dag"]))
def test_leaky_relu_unit_below_zero_is_not_frozen(seed, architecture):
    case = planted_dead(seed, "leaky_relu", architecture, region=sp.Interval.open(-sp.oo, 0))
    assert all(v < 0 for v in case.pre_activations())
    assert any(g != 0 for g in frozen.exact_gradient(case.graph, case.weights, case.theta_f, case.data,
                                                     case.targets).values())


def test_revivable_deep_unit_is_found_and_replays_with_torch_sgd():
    """The counterexample to the unconditional M_F, re-run with torch.optim.SGD (an update code
    path independent of the check's own loop) from the plain numbers in the evidence."""
    ev = checks.frozen.manifold_paper_statement(QUICK)
    assert ev.verdict == "qualified" and ev.counterexample is not None
    cx = ev.counterexample
    widths = [int(v) for v in cx["architecture"].split("-")]
    model = MLP(widths, "relu").double()
    model.load_state_dict({k: torch.tensor(v, dtype=torch.float64) for k, v in cx["initial_weights"].items()})
    X, Y = (torch.tensor(cx[k], dtype=torch.float64) for k in ("data_x", "data_y"))
    unit, k = int(cx["unit"].split(".")[1]), cx["revival_step"]
    opt = torch.optim.SGD(model.parameters(), lr=cx["lr"])
    theta0 = torch.cat([model.hidden[1].weight[unit], model.hidden[1].bias[unit:unit + 1]]).detach().clone()
    assert cx["box_sup_S"] > 0  # not sign-dead: the box condition does not protect it
    for step in range(k + 1):
        trace = model.trace(X)
        zmax = trace.z[1][:, unit].max().item()
        theta = torch.cat([model.hidden[1].weight[unit], model.hidden[1].bias[unit:unit + 1]])
        assert torch.equal(theta, theta0)  # frozen while dead, bit for bit
        assert (zmax > 0) == (step == k)
        opt.zero_grad()
        (0.5 * ((trace.out - Y) ** 2).sum()).backward()
        opt.step()


# ---- the generator's contract --------------------------------------------------------------------

def test_generator_rejects_impossible_cases():
    with pytest.raises(ValueError, match="no flat set"):
        planted_dead(0, "tanh")
    with pytest.raises(ValueError, match="whole real line"):
        planted_dead(0, "step", active_samples=1)
    with pytest.raises(ValueError, match="active_samples=3"):
        planted_dead(0, "relu", n_samples=3, active_samples=3)
    with pytest.raises(ValueError, match="accepted: relu"):
        planted_dead(0, "swish2")


def test_generator_is_deterministic_in_its_seed():
    a, b = planted_dead(7, "hardtanh"), planted_dead(7, "hardtanh")
    assert a.describe() == b.describe()
    assert a.describe() != planted_dead(8, "hardtanh").describe()


# ---- every check: claim id, name and a computed verdict ---------------------------------------------

@pytest.fixture(scope="module")
def evidence():
    return {c.name: (c.claim, c(QUICK)) for c in FROZEN_CHECKS}


def test_every_frozen_check_is_registered_and_named(evidence):
    assert set(evidence) == set(EXPECTED_VERDICT)
    others = {c.name for claim in family_claims("frozen") for c in claim.checks if not c.on_model} \
        - set(EXPECTED_VERDICT)
    assert others == OTHER_CHECKS | {f"optimizer-{name}" for name in OPTIMIZERS}


@pytest.mark.parametrize("name", sorted(EXPECTED_VERDICT))
def test_check_returns_evidence_for_its_claim(evidence, name):
    claim_id, ev = evidence[name]
    assert isinstance(ev, Evidence) and ev.claim == claim_id and ev.check == name
    assert ev.verdict == EXPECTED_VERDICT[name], ev.summary
    assert ev.setting.get("seed") == QUICK.seed and ev.derivation
    assert ev.setting.get("control", False) == name.startswith("control-")
    if ev.verdict == "refuted":
        assert ev.counterexample and "component" in ev.counterexample


def _relabel_unit(case, name):
    """The same planted case with the dead unit's activation swapped for ``name``."""
    G = case.graph.copy()
    G.nodes[case.unit]["activation"] = name
    return dataclasses.replace(case, graph=G, activation=name)


def test_an_activation_without_flat_region_flips_the_exact_verdict(monkeypatch):
    monkeypatch.setattr(checks.frozen, "planted_dead",
                        lambda *a, **k: _relabel_unit(generator.planted_dead(*a, **k), "leaky_relu"))
    ev = checks.frozen.gradient_zero_exact(QUICK)
    assert ev.verdict == "refuted" and ev.counterexample["activation"] == "leaky_relu"


def test_a_control_without_its_violation_is_not_caught(monkeypatch):
    monkeypatch.setattr(checks.frozen, "planted_dead",
                        lambda *a, **k: generator.planted_dead(*a, **{**k, "active_samples": 0}))
    ev = checks.frozen.control_active_on_one_sample(QUICK)
    assert ev.verdict == "inconclusive" and "NOT caught" in ev.summary


def test_a_misclassified_activation_refutes_the_classification(monkeypatch):
    relu = activations.get("relu")
    fake = activations.Activation("leaky_relu", relu.expr, F.relu, "relu in disguise")
    monkeypatch.setitem(activations.ACTIVATIONS, "leaky_relu", fake)
    ev = checks.frozen.activations_classify(QUICK)
    assert ev.verdict == "refuted"
    assert ev.counterexample["mismatched"]["leaky_relu"] == {"expected": "never", "computed": "exact"}
