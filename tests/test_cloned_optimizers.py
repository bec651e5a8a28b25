"""cloned.optimizers: is the clone manifold invariant under each optimizer — the leaf M_D(W₀), the family
of equitable networks, or neither?"""

import json

import numpy as np
import pytest
import sympy as sp
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import checks.cloned
from numerics import clone as C
from numerics import cloned as nc
from reports import figures
from theory import optimizers as opt
from theory import updates
from theory.evidence import VERDICTS, Config, Evidence, dump_json
from theory.optimizers import HP_SYMBOLS

QUICK = Config(quick=True, progress=False)
KEEP_LEAF = ("sgd", "momentum", "nesterov", "adam", "rmsprop", "clip")
KEEP_FAMILY_ONLY = ("weight_decay", "adamw")
BREAK = ("noisy_sgd", "dropout")
STATEFUL = tuple(n for n, o in updates.OPTIMIZERS.items() if o.state_keys)


@pytest.fixture(scope="module")
def evidence() -> dict[str, Evidence]:
    return {name: checks.cloned.optimizer_check(QUICK, optimizer=name) for name in updates.OPTIMIZERS}


@pytest.fixture(scope="module")
def control() -> Evidence:
    return checks.cloned.control_unsymmetric_state(QUICK)


# ---- the checks --------------------------------------------------------------------------------

def test_every_optimizer_gets_a_computed_verdict(evidence):
    assert set(evidence) == set(updates.OPTIMIZERS) == {*KEEP_LEAF, *KEEP_FAMILY_ONLY, *BREAK}
    for name, e in evidence.items():
        assert e.claim == "cloned.optimizers" and e.check == f"optimizer-{name}" and e.verdict in VERDICTS
        assert e.setting["optimizer"] == name and e.setting["K"] > 0 and e.measured["K"] == e.setting["K"]
        for key in ("leaf_invariant", "family_invariant", "delta_theta", "distance_leaf_f64",
                    "distance_family_f64", "distance_f32", "paper_worry", "symbolic_numeric_agree"):
            assert key in e.measured, (name, key)
        assert e.summary.startswith(name) and e.derivation and e.figures
        assert e.figures[0].panels and figures.svg(e.figures[0]).startswith("<svg")
        assert e.measured["symbolic_numeric_agree"], (name, e.measured["agreement"])
    json.loads(dump_json(list(evidence.values())))  # strict JSON, contract keys


def test_sgd_momentum_adam_rmsprop_clip_keep_the_leaf(evidence):
    for name in KEEP_LEAF:
        e = evidence[name]
        m = e.measured
        assert e.verdict == "proved" and e.counterexample is None, name
        assert m["leaf_invariant"] and m["family_invariant"] and m["delta_theta"] == opt.BLOCK_CONSTANT
        assert m["distance_leaf_f64"] <= m["tolerance_f64"] and m["distance_leaf_f64"] < 1e-13, name
        assert m["carried_state"]["leaf"] <= m["carried_state"]["tolerance"]
        assert m["carried_state"]["state_spread_at_clone"] == 0.0  # the state was cloned block-constant
    assert evidence["adam"].measured["paper_worry"].endswith("does not stand: the leaf M_D(W₀) is exactly "
                                                             "invariant given block-constant state")


def test_weight_decay_and_adamw_keep_the_family_but_leave_the_leaf(evidence):
    for name in KEEP_FAMILY_ONLY:
        e = evidence[name]
        m = e.measured
        assert e.verdict == "qualified" and e.counterexample is not None, name
        assert m["family_invariant"] and not m["leaf_invariant"] and m["delta_theta"] == opt.EQUITABLE
        assert m["distance_family_f64"] <= m["tolerance_f64"] < m["distance_leaf_f64"], name
        assert m["carried_state"]["family"] <= m["carried_state"]["tolerance"] < m["carried_state"]["leaf"]
        # the leaf through an exact (block-constant) clone is kept: −ηλθ is block-constant there
        assert m["leaf_invariant_from_exact_clone"] and m["exact_clone_carried_state"]["leaf"] == 0.0
        assert m["example_residual"] == "A_bc Δθ = -η*λ·A_bc θ"
    assert "stands only for the leaf" in evidence["weight_decay"].measured["paper_worry"]


def test_noisy_sgd_and_dropout_leave_the_family(evidence):
    for name in BREAK:
        e = evidence[name]
        m = e.measured
        assert e.verdict == "refuted" and e.counterexample["symbolic"]["nonzero"], name
        assert not m["family_invariant"] and m["delta_theta"] == opt.NEITHER
        assert m["distance_family_f64"] > 1e6 * m["tolerance_f64"], name
        assert m["carried_state"]["family"] > m["carried_state"]["tolerance"]
    assert evidence["noisy_sgd"].measured["family_condition"] == "noise ξ block-constant"
    assert evidence["dropout"].measured["family_condition"] == "dropout masks constant on every block"
    assert 0 in evidence["dropout"].counterexample["symbolic"]["dropout_mask"].values()


def test_a_state_that_is_not_block_constant_is_caught(control):
    assert control.verdict == "refuted" and control.setting["control"] is True
    assert "optimizer" not in control.setting  # not one of the per-optimizer records
    for name in checks.cloned.CONTROL_OPTIMIZERS:
        m = control.measured[name]
        assert not m["leaf_invariant"] and m["state_spread_at_clone"] > 0
        assert m["leaf_distance"] > 1e6 * m["tolerance"] and m["first_step_over_tolerance"] == 1
        assert control.counterexample[name]["symbolic"]["nonzero"]
    Evidence.from_json(control.to_json())


def test_a_disagreement_with_torch_is_reported_not_hidden(monkeypatch):
    real = nc.carried_run

    def escaped(*args, **kwargs):
        run = real(*args, **kwargs)
        run.leaf = [d + 1e-3 * k for k, d in enumerate(run.leaf)]
        return run

    monkeypatch.setattr(nc, "carried_run", escaped)
    e = checks.cloned.optimizer_check(QUICK, optimizer="momentum")
    assert e.verdict == "inconclusive" and "disagree" in e.summary
    assert not e.measured["symbolic_numeric_agree"]


# ---- the derivation ----------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(updates.OPTIMIZERS))
def test_block_constant_inputs_give_a_block_constant_state(name):
    assert opt.one_step(name).state_block_constant


def test_the_classification_holds_on_blocks_of_unequal_size():
    wide = opt.NETWORKS[1]
    assert opt.clones(wide).case.partition.nontrivial[0] == ("h1.0", "h1.1", "h1.2")
    for name, expected in (("adam", opt.BLOCK_CONSTANT), ("clip", opt.BLOCK_CONSTANT),
                           ("weight_decay", opt.EQUITABLE), ("noisy_sgd", opt.NEITHER)):
        assert opt.one_step(name, network=wide).delta_class == expected


def test_weight_decay_moves_theta_by_its_own_block_spread():
    step = opt.one_step("weight_decay")
    c = opt.clones()
    spread = c.block_constant.residual(c.mapping(step.theta))
    eta, lam = HP_SYMBOLS["lr"], HP_SYMBOLS["weight_decay"]
    assert all(sp.expand(r + eta * lam * s) == 0 for r, s in zip(step.leaf.values(), spread))
    assert any(s != 0 for s in spread)  # θ generic equitable: not block-constant
    assert opt.one_step("weight_decay", base=opt.BLOCK_CONSTANT).leaf_invariant


def test_noise_and_masks_break_it_unless_constant_on_blocks():
    noisy = opt.one_step("noisy_sgd")
    assert any(str(x).startswith("ξ[") for r in noisy.leaf.values() for x in r.free_symbols)
    assert opt.one_step("noisy_sgd", noise=opt.BLOCK_CONSTANT).leaf_invariant
    assert opt.one_step("dropout", masks="per block").leaf_invariant


@pytest.mark.parametrize("name", STATEFUL)
def test_a_per_edge_state_leaves_the_leaf(name):
    assert not opt.one_step(name, state="per edge").leaf_invariant


def test_state_degrees_and_the_gradient_rule():
    assert opt.state_degrees("momentum") == {"buf": 1}
    assert opt.state_degrees("adam") == {"m": 1, "v": 2} and opt.state_degrees("rmsprop") == {"v": 2}
    assert opt.state_degrees("sgd") == {}
    rule = opt.gradient_rule()
    assert len(rule) == 13 and all(v == 0 for v in rule.values())


@settings(max_examples=40, deadline=None)
@given(name=st.sampled_from(KEEP_LEAF + KEEP_FAMILY_ONLY), data=st.data())
def test_for_every_block_constant_point_gradient_and_state_the_float_map_stays_block_constant(name, data):
    """The registry map in float64 from block-constant (θ, g, state): θ' and the state are
    block-constant bitwise — why an exact clone's torch distance is exactly 0."""
    spec = updates.get(name)
    c = opt.clones()
    pairs = sorted({c.pair(e) for e in c.edges})
    value = st.floats(-10, 10, allow_nan=False, width=64)

    def block_constant(positive: bool = False) -> np.ndarray:
        of = {p: data.draw(value) for p in pairs}
        return np.array([abs(of[c.pair(e)]) if positive else of[c.pair(e)] for e in c.edges])

    state = {k: block_constant(positive=k == "v") for k in spec.state_keys}
    new, new_state = spec.step(block_constant(), block_constant(), state, data.draw(st.integers(1, 1000)))
    for x in (new, *new_state.values()):
        by_pair = {}
        for e, v in zip(c.edges, x):
            by_pair.setdefault(c.pair(e), set()).add(float(v))
        assert all(len(vs) == 1 for vs in by_pair.values()), by_pair


# ---- the numerics' building blocks -----------------------------------------------------------------

def test_cloned_state_is_block_constant_and_the_gradient_rule_holds_in_torch():
    run = nc.carried_run("adam", QUICK.seed, steps=3, warm=5, perturb=0.0)
    assert run.state_spread == 0.0 and run.gradient_rule_error < 1e-15
    control = nc.carried_run("adam", QUICK.seed, steps=3, warm=5, perturb=0.0, fresh_copies=True)
    assert control.state_spread > 0 and control.leaves("leaf")


def test_clone_tensor_copies_rows_and_columns_and_scales_by_the_receiving_block():
    cloning = C.expand([1, 2, 3, 1], 2)  # the base's widths: hidden layers of 2 and 3
    x = torch.arange(1.0, 7.0, dtype=torch.float64).view(3, 2)  # layer 1: 3 receivers, 2 senders
    y = nc.clone_tensor(x, 1, cloning, degree=2)
    assert y.shape == (6, 4) and float(y[1, 3]) == float(x[0, 1]) / 4
    fresh = nc.clone_tensor(x, 1, cloning, degree=0, fresh_copies=True)
    assert float(fresh[0, 0]) == float(x[0, 0]) and float(fresh[1, 0]) == 0.0 and float(fresh[0, 1]) == 0.0
    assert float(fresh[2, 2]) == float(x[1, 1])
