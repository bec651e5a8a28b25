"""frozen.optimizers: is M_F = {θ_F = θ_F0} invariant under each optimizer, and does u stay dead?"""

import json

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

import checks.frozen
from numerics import frozen as nf
from numerics.train import Setup, warm_up
from reports import figures
from theory import optimizers as opt
from theory import updates
from theory.claims import CLAIMS
from theory.evidence import VERDICTS, Config, Evidence, dump_json
from theory.frozen import dead_edge

QUICK = Config(quick=True, progress=False)
STEPS = 40


@pytest.fixture(scope="module")
def evidence() -> dict[str, Evidence]:
    return {name: checks.frozen.optimizer_check(QUICK, optimizer=name) for name in updates.OPTIMIZERS}


def test_every_optimizer_gets_a_computed_verdict(evidence):
    assert [dict(c.params)["optimizer"] for c in CLAIMS["frozen.optimizers"].checks] == list(evidence)
    for name, e in evidence.items():
        assert e.claim == "frozen.optimizers" and e.kind == "symbolic" and e.verdict in VERDICTS
        assert e.check == f"optimizer-{name}"
        assert e.setting["optimizer"] == name and e.setting["K"] > 0
        for key in ("manifold_invariant", "stays_dead", "drift_predicted", "drift_measured",
                    "max_param_change", "revived", "closed_form"):
            assert key in e.measured, (name, key)
        assert e.derivation and e.summary.startswith(name)
    json.loads(dump_json(list(evidence.values())))  # strict JSON, contract keys


def test_the_verdicts_follow_from_the_maps(evidence):
    verdicts = {name: e.verdict for name, e in evidence.items()}
    assert verdicts == {"sgd": "proved", "rmsprop": "proved", "clip": "proved",
                        "momentum": "qualified", "nesterov": "qualified", "adam": "qualified",
                        "weight_decay": "refuted", "adamw": "refuted", "noisy_sgd": "refuted",
                        "dropout": "refuted"}
    for e in evidence.values():
        assert (e.counterexample is not None) == (e.verdict == "refuted")
    assert evidence["momentum"].measured["manifold_invariant"] == "iff carried state = 0"
    assert evidence["adam"].measured["condition"] == "m_F = 0"  # v alone does not matter
    assert evidence["adam"].measured["drift_within_bound"]
    assert evidence["weight_decay"].counterexample["revival_step_measured"] == \
        evidence["weight_decay"].counterexample["revival_step_predicted"]


# ---- the derivation ----------------------------------------------------------------------------

def test_momentum_closed_form_is_the_geometric_series():
    d = opt.derive_frozen("momentum")
    eta, mu, b0 = opt.HP_SYMBOLS["lr"], opt.HP_SYMBOLS["momentum"], d.state_symbols["buf"]
    assert sp.simplify(d.drift - (-eta * mu * (1 - mu**opt.K) / (1 - mu) * b0)) == 0
    assert sp.simplify(d.drift_limit - (-eta * mu / (1 - mu) * b0)) == 0
    assert d.category == opt.IFF_STATE and d.vanishing_state == ("buf",) and d.closed_form_matches


def test_categories_and_contractions():
    cats = {name: opt.derive_frozen(name).category for name in updates.OPTIMIZERS}
    assert [n for n, c in cats.items() if c == opt.INVARIANT] == ["sgd", "rmsprop", "clip"]
    assert cats["dropout"] == opt.IFF_MASKS
    lr, lam = opt.HP_SYMBOLS["lr"], opt.HP_SYMBOLS["weight_decay"]
    assert sp.simplify(opt.derive_frozen("weight_decay").contraction - (1 - lr * lam)) == 0
    assert opt.derive_frozen("noisy_sgd").random and opt.derive_frozen("adam").vanishing_state == ("m",)


@settings(max_examples=10, deadline=None)
@given(name=st.sampled_from(["momentum", "nesterov", "adam", "adamw", "weight_decay", "rmsprop"]),
       seed=st.integers(0, 2**16), start=st.integers(0, 30), steps=st.integers(1, 25))
def test_closed_form_is_the_map_iterated(name, seed, start, steps):
    """For random hyperparameters and carried states, the closed-form trajectory equals the numpy
    registry map iterated with g_F = 0."""
    spec, d = updates.get(name), opt.derive_frozen(name)
    rng = np.random.default_rng(seed)
    hp = dict(spec.defaults)
    hp.update({k: hp[k] * rng.uniform(0.5, 2.0) for k in ("lr", "weight_decay") if k in hp})
    hp.update({k: rng.uniform(0.5, 0.95) for k in ("momentum", "beta1") if k in hp})
    theta0 = rng.normal(size=5)
    state = {k: rng.uniform(0.01, 1, 5) if k == "v" else rng.normal(size=5) for k in spec.state_keys}
    c, D = d.drift_part(hp, state, steps, start, theta0.shape)
    theta = theta0
    for k in range(1, steps + 1):
        theta, state = spec.step(theta, np.zeros(5), state, start + k, hp)
        np.testing.assert_allclose(theta, c**k * theta0 + D[k], rtol=1e-12, atol=1e-14)


def test_dead_edges_and_what_a_contraction_revives():
    assert [dead_edge(a) for a in ("relu", "hardtanh", "hardsigmoid")] == [0.0, -1.0, -3.0]
    with pytest.raises(ValueError, match="no flat region"):
        dead_edge("leaky_relu")
    assert opt.contraction_revives() == {"relu": False, "relu6": False, "hardtanh": True,
                                        "hardsigmoid": True, "step": False}


def test_mask_analysis():
    a = opt.mask_analysis("relu")
    assert a["sign_condition_dead_under_every_mask"] and a["worst_mask_formula_matches"]
    ce = a["counterexample"]
    assert ce["dead_without_dropout"] and ce["alive_under_mask"]
    assert ce["z_under_mask"] == sp.Rational(11, 18)


# ---- negative controls: planted violations come out as predicted ------------------------------

@pytest.mark.parametrize("name", ["momentum", "adam"])
def test_carried_state_moves_theta_F_by_the_predicted_amount(name):
    d = opt.derive_frozen(name)
    warm = warm_up(Setup(name, warm=10))
    R = nf.revival_margins(d, warm, STEPS)
    unit = int(np.argmax(R))
    run = nf.freeze_and_continue(warm, STEPS, unit, margin=float(R[unit]) + 0.5)
    cmp = nf.compare(d, run, warm.setup.hp)
    assert run.max_change > 0 and run.revived_at is None
    assert cmp.agrees and cmp.error < 1e-10
    zero = nf.freeze_and_continue(warm_up(Setup(name, warm=0)), STEPS)
    assert zero.max_change == 0.0


def test_a_wrong_prediction_is_caught(monkeypatch):
    """The comparison can fail: predict momentum with μ = 0.8 while torch runs μ = 0.9."""
    d = opt.derive_frozen("momentum")
    warm = warm_up(Setup("momentum", warm=10))
    run = nf.freeze_and_continue(warm, STEPS, int(np.argmax(nf.revival_margins(d, warm, STEPS))), margin=2.0)
    assert not nf.compare(d, run, {**warm.setup.hp, "momentum": 0.8}).agrees
    real = nf.compare
    monkeypatch.setattr(nf, "compare", lambda d, run, hp: real(d, run, {**hp, "momentum": 0.8}))
    assert checks.frozen.optimizer_check(QUICK, optimizer="momentum").verdict == "inconclusive"


@pytest.mark.parametrize("name", ["weight_decay", "adamw"])
def test_weight_decay_revives_a_hardtanh_unit_at_the_predicted_step(name):
    d = opt.derive_frozen(name)
    warm = warm_up(Setup(name, activation="hardtanh", warm=0))
    R = nf.revival_margins(d, warm, STEPS)
    run = nf.freeze_and_continue(warm, STEPS, int(np.argmax(R)), margin=float(R.max() / 2))
    cmp = nf.compare(d, run, warm.setup.hp)
    assert run.revived_at is not None and run.revived_at == cmp.revival_predicted
    relu = nf.freeze_and_continue(warm_up(Setup(name, warm=0)), STEPS)
    assert relu.max_change > 0 and relu.revived_at is None  # shrunk, but still dead


def test_dropout_revives_a_unit_that_is_not_sign_dead():
    warm = warm_up(Setup("dropout", warm=5, dropout=0.1))
    mixed = nf.freeze_and_continue(warm, 10, layer=1, margin=0.05)
    assert mixed.max_change > 0 and mixed.revived_at is not None
    sign = nf.freeze_and_continue(warm, 10, layer=1, plant="sign")
    assert sign.max_change == 0.0 and sign.revived_at is None
    control = nf.freeze_and_continue(warm, 1, layer=1, margin=0.05, masks=False)
    assert control.max_change == 0.0


@pytest.mark.parametrize("name", ["sgd", "rmsprop", "clip"])
def test_invariant_optimizers_leave_theta_F_bitwise_unchanged(name):
    warm = warm_up(Setup(name, warm=10))
    run = nf.freeze_and_continue(warm, STEPS)
    assert run.max_change == 0.0 and run.revived_at is None
    assert np.array_equal(run.theta[-1], run.theta[0])


def test_the_experiment_does_not_touch_the_warm_model():
    warm = warm_up(Setup("momentum", warm=5))
    before = warm.layer_theta(0).copy(), {k: v.copy() for k, v in warm.layer_state(0).items()}
    nf.freeze_and_continue(warm, 5)
    assert np.array_equal(warm.layer_theta(0), before[0])
    assert all(np.array_equal(warm.layer_state(0)[k], v) for k, v in before[1].items())


def test_full_run_draws_a_figure():
    e = checks.frozen.optimizer_check(Config(quick=False, progress=False), optimizer="nesterov")
    assert e.figures and e.figures[0].panels
    assert figures.svg(e.figures[0]).startswith("<svg")


def test_noise_draws_are_reproducible_and_distinct():
    warm = warm_up(Setup("noisy_sgd", warm=5))
    a, b, c = (nf.freeze_and_continue(warm, 5, draw=i) for i in (0, 0, 1))
    assert a.max_change > 0  # g_F = 0, yet θ_F moves: the noise scales with the live gradient
    assert np.array_equal(a.theta, b.theta) and not np.array_equal(a.theta, c.theta)
