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

from cases import generator
from cases.generator import planted_dead, planted_dead_cases, random_architecture
from numerics.models import MLP
from theory import activations, frozen, net
from theory.claims import CLAIMS
from theory.evidence import Config, Evidence

QUICK = Config(quick=True, progress=False)
WITH_ACTIVE_REGION = ["relu", "relu6", "hardtanh", "hardsigmoid"]
FROZEN_CHECKS = [(claim.id, spec) for claim in CLAIMS.values() for spec in claim.checks
                 if spec.target.startswith("theory.frozen:")]
EXPECTED_VERDICT = {
    "gradient-zero-mlp": "proved", "gradient-zero-dag": "proved", "gradient-zero-exact": "proved",
    "control-active-on-one-sample": "refuted", "control-leaky-relu": "refuted",
    "manifold-first-layer": "proved", "manifold-sign-condition": "proved", "manifold-box-condition": "proved",
    "manifold-paper-statement": "qualified", "activations-classify": "qualified",
}


# ---- the theorem, as a property --------------------------------------------------------------------

@settings(max_examples=15, deadline=None)
@given(case=planted_dead_cases())
def test_planted_dead_unit_has_zero_gradient_exactly_and_in_float64(case):
    zs = case.pre_activations()
    assert all(case.region.contains(v) for v in zs)
    assert all(activations.get(case.activation).prime(v) == 0 for v in zs)
    assert set(frozen.exact_gradient(case).values()) == {0}
    assert set(frozen.float_gradient(case).values()) == {0.0}


@settings(max_examples=4, deadline=None)
@given(seed=st.integers(0, 2**31 - 1))
def test_generic_gradient_reduces_to_zero_on_random_dags(seed):
    """Generic f_v and ℓ: every component of ∂L/∂θ_F is a non-zero expression that becomes 0 once
    f'_u(z_u(x_i)) = 0 on every sample."""
    rng = random.Random(seed)
    G = random_architecture(seed, "dag", "generic", "generic", n_hidden=3)
    unit = rng.choice([v for v in G if G.nodes[v]["kind"] == "hidden"])
    w = net.weight_symbols(G)
    L, zs = net.dataset_loss(G, net.input_symbols(G, 2), net.target_symbols(G, 2), w)
    for r in frozen.reduce_gradient(G, L, zs, w, unit, rng):
        assert r.after == 0 and r.live and r.before != 0


# ---- negative controls -------------------------------------------------------------------------------

@settings(max_examples=10, deadline=None)
@given(case=planted_dead_cases(WITH_ACTIVE_REGION, active_samples=1))
def test_one_active_sample_gives_a_nonzero_gradient(case):
    (i,) = case.active_samples
    assert activations.get(case.activation).prime(case.pre_activations()[i]) != 0
    assert any(g != 0 for g in frozen.exact_gradient(case).values())
    assert any(g != 0.0 for g in frozen.float_gradient(case).values())


@settings(max_examples=6, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), architecture=st.sampled_from(["mlp", "dag"]))
def test_leaky_relu_unit_below_zero_is_not_frozen(seed, architecture):
    case = planted_dead(seed, "leaky_relu", architecture, region=sp.Interval.open(-sp.oo, 0))
    assert all(v < 0 for v in case.pre_activations())
    assert any(g != 0 for g in frozen.exact_gradient(case).values())


def test_revivable_deep_unit_is_found_and_replays_with_torch_sgd():
    """The counterexample to the unconditional M_F, re-run with torch.optim.SGD (an update code
    path independent of the check's own loop) from the plain numbers in the evidence."""
    ev = frozen.manifold_paper_statement(QUICK)
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
    return {spec.name: (claim_id, spec.resolve()(QUICK)) for claim_id, spec in FROZEN_CHECKS}


def test_every_frozen_check_is_registered_and_named(evidence):
    assert set(evidence) == set(EXPECTED_VERDICT)


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
    monkeypatch.setattr(frozen, "planted_dead",
                        lambda *a, **k: _relabel_unit(generator.planted_dead(*a, **k), "leaky_relu"))
    ev = frozen.gradient_zero_exact(QUICK)
    assert ev.verdict == "refuted" and ev.counterexample["activation"] == "leaky_relu"


def test_a_control_without_its_violation_is_not_caught(monkeypatch):
    monkeypatch.setattr(frozen, "planted_dead",
                        lambda *a, **k: generator.planted_dead(*a, **{**k, "active_samples": 0}))
    ev = frozen.control_active_on_one_sample(QUICK)
    assert ev.verdict == "inconclusive" and "NOT caught" in ev.summary


def test_a_misclassified_activation_refutes_the_classification(monkeypatch):
    relu = activations.get("relu")
    fake = activations.Activation("leaky_relu", relu.expr, F.relu, "relu in disguise")
    monkeypatch.setitem(activations.ACTIVATIONS, "leaky_relu", fake)
    ev = frozen.activations_classify(QUICK)
    assert ev.verdict == "refuted"
    assert ev.counterexample["mismatched"]["leaky_relu"] == {"expected": "never", "computed": "exact"}
