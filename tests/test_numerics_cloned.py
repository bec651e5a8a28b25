"""Numeric side of the cloned family: exact clones, distances, cloning R², effective rank, the checks
on tiny sizes."""

import copy
import dataclasses

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

import checks.cloned as checks
from numerics import clone as C
from numerics import cloned
from numerics.models import CNN, MLP
from theory.evidence import Config, Evidence

EPS = torch.finfo(torch.float64).eps
TINY = cloned.Recipe(n=256, d=8, classes=3, width=12, depth=2, pretrain_steps=30, batch=16, steps=30,
                    probe=64, opt_steps=12, norm_steps=15, narrow=4, narrow_pretrain=60, escape_steps=40,
                    escape_batch=32, sigmas=(0.01,), decays=(1.0,), dropouts=(0.1,), rounding_steps=20)


def _mlp(widths, norm=None, bias=True, seed=0):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return MLP(widths, "relu", norm, bias=bias).double()


def _cnn(norm=None, bias=True, seed=0):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return CNN((2, 7, 6), [3, 4], [5], 3, "relu", norm, bias=bias).double()


def _x(*shape, seed=1):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _settle(model, X):
    """BatchNorm running statistics from a few training-mode passes, then eval mode."""
    model.train()
    with torch.no_grad():
        for _ in range(3):
            model(X)
    return model.eval()


def _forward_tolerance(model, X):
    """A few ulps per layer, relative to the output scale."""
    with torch.no_grad():
        scale = max(1.0, float(model.eval()(X).abs().max()))
    return 8 * EPS * (len(model.hidden) + 1) * scale


# ---- exact clones --------------------------------------------------------------------------------

@pytest.mark.parametrize("norm", [None, "batch", "layer"])
@pytest.mark.parametrize("bias", [True, False])
@pytest.mark.parametrize("factor, layout", [(2, "blocked"), (3, "tiled")])
def test_cloned_mlp_reproduces_the_base_in_float64_and_lies_on_the_manifold(norm, bias, factor, layout):
    base, X = _mlp([6, 5, 7, 4, 3], norm, bias), _x(40, 6)
    _settle(base, X)
    before = copy.deepcopy(base.state_dict())
    cloning = C.expand([6, 5, 7, 4, 3], factor, layout)
    wide = C.clone(base, cloning)
    assert all(torch.equal(t, before[k]) for k, t in base.state_dict().items())  # the base is not modified
    assert wide.widths == [6, 5 * factor, 7 * factor, 4 * factor, 3] and not wide.training
    assert C.forward_gap(base, wide, X) <= _forward_tolerance(base, X)
    assert C.distance(wide, cloning).value == 0.0 and C.family_distance(wide, cloning).value == 0.0


@pytest.mark.parametrize("norm", [None, "batch", "layer"])
@pytest.mark.parametrize("bias", [True, False])
def test_cloned_cnn_reproduces_the_base_through_the_clone_aware_flatten(norm, bias):
    base, X = _cnn(norm, bias), _x(10, 2, 7, 6)
    _settle(base, X)
    sizes = [[1, 2, 3], [2, 1, 2, 2], [3, 1, 1, 2, 1]]
    cloning = C.from_sizes(C.widths(base), sizes) if norm != "layer" else C.expand(C.widths(base), 2, "tiled")
    wide = C.clone(base, cloning)
    assert C.widths(wide) == list(cloning.widths)
    assert C.forward_gap(base, wide, X) <= _forward_tolerance(base, X)
    assert C.distance(wide, cloning).value <= 4 * EPS and C.family_distance(wide, cloning).value <= 4 * EPS
    trace = wide.eval().trace(X)
    assert trace.h[0].shape == (10 * 4 * 3, cloning.widths[1])  # (images · positions, channels)
    assert C.cloning_r2(wide, cloning, X, torch.zeros(10, dtype=torch.long)).mean == 1.0


@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_for_every_mlp_and_every_partition_the_clone_is_exact_and_gradient_steps_keep_it_on_m_d(data):
    """The theorem, numerically: the equal-split clone of any MLP over any partition computes the
    base function, and gradient steps on any batches keep it on M_D (block-constant)."""
    widths = data.draw(st.lists(st.integers(1, 5), min_size=1, max_size=3), label="hidden widths")
    sizes = [data.draw(st.lists(st.integers(1, 3), min_size=w, max_size=w)) for w in widths]
    norm = data.draw(st.sampled_from([None, "batch"]))
    seed = data.draw(st.integers(0, 10_000))
    base, X = _mlp([4, *widths, 2], norm, seed=seed), _x(16, 4, seed=seed)
    _settle(base, X)
    perm = [torch.randperm(sum(s), generator=torch.Generator().manual_seed(seed)).tolist() for s in sizes]
    blocks = [[p[sum(s[:u]):sum(s[:u + 1])] for u in range(len(s))] for s, p in zip(sizes, perm)]
    cloning = C.from_blocks([4, *widths, 2], blocks)  # clones scattered over the layer
    wide = C.clone(base, cloning)
    assert C.forward_gap(base, wide, X) <= _forward_tolerance(base, X)
    opt = torch.optim.SGD(wide.parameters(), lr=0.1)
    y = torch.randint(0, 2, (16,), generator=torch.Generator().manual_seed(seed))
    wide.train()
    for k in range(3):
        opt.zero_grad()
        F.cross_entropy(wide(X[4 * k:4 * k + 8]), y[4 * k:4 * k + 8]).backward()
        opt.step()
    scale = max(float(p.detach().abs().max()) for p in wide.parameters())
    assert C.distance(wide, cloning).value <= 16 * EPS * scale


def test_layernorm_with_unequal_blocks_changes_the_function_but_its_clones_stay_clones():
    base, X = _mlp([6, 4, 4, 3], "layer"), _x(32, 6)
    cloning = C.from_sizes([6, 4, 4, 3], [[1, 3, 1, 3], [2, 2, 2, 2]])
    wide = C.clone(base, cloning)
    assert C.forward_gap(base, wide, X) > 1e-3  # LayerNorm statistics are now block-size weighted
    opt = torch.optim.SGD(wide.parameters(), lr=0.1)
    for _ in range(5):
        opt.zero_grad()
        F.cross_entropy(wide(X), torch.arange(32) % 3).backward()
        opt.step()
    assert C.distance(wide, cloning).value <= 16 * EPS


def test_a_lambda_split_keeps_the_function_but_is_not_outgoing_equitable():
    base, X = _mlp([6, 5, 5, 3]), _x(32, 6)
    cloning = C.expand([6, 5, 5, 3], 2)
    wide = C.clone(base, cloning, C.lambda_split(cloning, 0.3))
    assert C.forward_gap(base, wide, X) <= _forward_tolerance(base, X)
    w = wide.linears[1].weight  # 10 × 10: the clones of input unit 0 are columns 0 and 1
    assert torch.allclose(w[:, 0] / 0.3, w[:, 1] / 0.7)
    assert C.distance(wide, cloning).value > 0 and C.family_distance(wide, cloning).value > 0
    gauge = C.Gauge(wide, cloning)  # forward clones: incoming-equitable, only the outgoing side is off
    assert gauge.incoming().value < 1e-15 < gauge.outgoing().value == pytest.approx(gauge.family().value)
    assert torch.allclose(C.lambda_split(cloning, 0.5)[0], C.equal_split(cloning)[0])


def test_the_clone_follows_the_base_with_quotient_step_factors_and_not_with_plain_sgd():
    base, X = _mlp([6, 5, 5, 3], "layer"), _x(64, 6)
    y = torch.arange(64) % 3
    cloning = C.expand([6, 5, 5, 3], 3)
    wide, plain = C.clone(base, cloning), copy.deepcopy(base)
    factors = C.quotient_steps(base, cloning)
    opts = [torch.optim.SGD(m.parameters(), lr=0.1) for m in (base, wide, plain)]
    for _ in range(20):
        for model, opt in zip((base, wide, plain), opts):
            opt.zero_grad()
            F.cross_entropy(model(X), y).backward()
            if model is base:
                for p, f in factors:
                    p.grad.mul_(f)
            opt.step()
    assert C.forward_gap(base, wide, X) < 1e-12
    assert C.forward_gap(plain, wide, X) > 1e-3


# ---- distances -------------------------------------------------------------------------------------

def test_the_distance_is_zero_for_an_exact_clone_and_half_a_planted_spread_otherwise():
    base = _mlp([6, 5, 5, 3], "batch")
    cloning = C.expand([6, 5, 5, 3], 2)
    wide = C.clone(base, cloning)
    with torch.no_grad():
        wide.linears[1].weight[3, 6] += 1e-3  # row block 1, column block 3
    d = C.distance(wide, cloning)
    assert d.value == pytest.approx(1e-3 * (1 - 1 / 4), rel=1e-6)  # 2×2 block pair: e − e/4
    assert d.where == {"layer": 2, "parameter": "weight", "entry": [3, 6], "row_block": 1, "column_block": 3}
    assert d.per_layer[0] == 0 and d.per_layer[1] == d.value
    with torch.no_grad():
        wide.norms[0].running_var[4] += 1.0
    assert C.distance(wide, cloning).where["parameter"] == "norm.running_var"


def test_an_equitable_perturbation_leaves_the_leaf_but_not_the_family():
    base, X = _mlp([6, 4, 4, 4, 3]), _x(32, 6)
    cloning = C.expand([6, 4, 4, 4, 3], 3)
    wide = C.clone(base, cloning)
    reference = copy.deepcopy(wide)
    C.equitable_perturbation(wide, cloning, 0.1, torch.Generator().manual_seed(0))
    assert C.distance(wide, cloning, reference).value > 0.01
    assert C.family_distance(wide, cloning).value < 1e-15
    assert C.forward_gap(base, wide, X) < 1e-13  # same function


# ---- cloning R² and effective rank -------------------------------------------------------------------

def test_cloning_r2_is_one_for_exact_clones_and_below_one_for_random_networks():
    base, X, y = _mlp([6, 8, 8, 3]), _x(64, 6), torch.arange(64) % 3
    cloning = C.expand([6, 8, 8, 3], 2)
    r2 = C.cloning_r2(C.clone(base, cloning), cloning, X, y)
    assert r2.forward == [1.0, 1.0] and r2.backward == [1.0, 1.0] and r2.mean == 1.0
    random = C.cloning_r2(_mlp([6, 16, 16, 3], seed=5), cloning, X, y)
    assert all(0 <= v < 0.9 for v in random.forward + random.backward)
    assert C.block_r2(torch.ones(5, 4), torch.tensor([0, 0, 1, 1])) == 1.0  # no variance at all


def test_effective_rank_of_a_clone_equals_the_base_and_known_matrices():
    base, X = _mlp([6, 8, 3]), _x(64, 6)
    wide = C.clone(base, 3)
    with torch.no_grad():
        rb, rw = (C.effective_rank(m.trace(X).h[0]) for m in (base, wide))
    assert rw == pytest.approx(rb, rel=1e-12)
    assert C.effective_rank(torch.eye(7)) == pytest.approx(7.0)
    assert C.effective_rank(torch.ones(5, 4)) == pytest.approx(1.0)


# ---- bad input ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("make, message", [
    (lambda: C.from_blocks([2, 2, 1], [[[0, 1], [1, 2]]]), "unit 1 is in two blocks"),
    (lambda: C.from_blocks([2, 2, 1], [[[0, 1], [3]]]), "outside 0..2"),
    (lambda: C.from_blocks([2, 2, 1], [[[0], []]]), "block 1 is empty"),
    (lambda: C.from_sizes([2, 2, 1], [[2, 0]]), "must be positive integers"),
    (lambda: C.expand([4, 3, 2], 0), "expansion factor"),
    (lambda: C.expand([4, 3, 2], 2, "zigzag"), "unknown layout"),
    (lambda: C.clone(_mlp([4, 3, 2]), C.expand([4, 4, 2], 2)), "block count mismatch"),
    (lambda: C.clone(_mlp([4, 3, 2]), C.expand([4, 3, 3, 2], 2)), "block count mismatch"),
    (lambda: C.clone(_mlp([4, 3, 2]), C.expand([5, 3, 2], 2)), "block count mismatch: inputs"),
    (lambda: C.clone(_mlp([4, 3, 2]), C.expand([4, 3, 2], 2), [torch.full((6,), 0.4, dtype=torch.float64)]),
     "sum to"),
    (lambda: C.clone(nn.Sequential(nn.Linear(2, 2)), 2), "cloning supports"),
    (lambda: C.Gauge(_mlp([4, 3, 2]), C.expand([4, 3, 2], 2)), "block count mismatch"),
])
def test_bad_partitions_are_one_line_errors(make, message):
    with pytest.raises(ValueError, match=message) as info:
        make()
    assert "\n" not in str(info.value)


# ---- the checks, on tiny sizes -------------------------------------------------------------------------

@pytest.fixture
def tiny(monkeypatch):
    monkeypatch.setitem(checks.SIZES, True, dataclasses.replace(checks.SIZES[True], numeric=TINY))
    cloned.main_runs.cache_clear()
    yield Config(seed=0, quick=True, progress=False)
    cloned.main_runs.cache_clear()


@pytest.mark.parametrize("check, claim, allowed", [
    ("trajectory_trained", "cloned.trajectory", {"confirmed"}),
    ("control_unequal_split", "cloned.trajectory", {"refuted"}),
    ("escape_noise", "cloned.escape", {"confirmed", "qualified", "refuted"}),
    ("escape_dropout", "cloned.escape", {"confirmed", "qualified"}),
    ("escape_rounding", "cloned.escape", {"confirmed", "qualified"}),
    ("normalization_trained", "cloned.normalization", {"confirmed"}),
])
def test_each_check_returns_computed_evidence(tiny, check, claim, allowed):
    ev = getattr(checks, check)(tiny)
    assert isinstance(ev, Evidence) and ev.claim == claim and ev.kind == "numeric" and ev.verdict in allowed
    assert ev.check == check.replace("_", "-") and ev.measured and ev.setting["seed"] == 0 and ev.figures
    assert Evidence.from_json(ev.to_json()).to_json() == ev.to_json()


def test_the_negative_control_is_flagged_and_caught_at_step_one(tiny):
    ev = checks.control_unequal_split(tiny)
    assert ev.setting["control"] is True and ev.verdict == "refuted"
    assert ev.counterexample["step"] == 1 and ev.counterexample["distance"] > ev.counterexample["tolerance"]
    assert ev.measured["forward_gap_at_clone"] < 1e-12  # the function is the base's: only the split is wrong


def test_a_clone_off_the_manifold_refutes_the_trajectory_check(tiny, monkeypatch):
    real = C.clone
    monkeypatch.setattr(C, "clone", lambda base, cl, split=None, **kw: real(base, cl, C.lambda_split(cl, 0.4),
                                                                             **kw))
    ev = checks.trajectory_trained(tiny)
    assert ev.verdict == "refuted" and ev.counterexample["step"] == 1


@pytest.mark.parametrize("optimizer, leaves_leaf, leaves_family", [
    ("sgd", False, False), ("adam", False, False), ("weight_decay", True, False), ("noisy_sgd", True, True),
])
def test_optimizer_trajectory_tells_the_leaf_from_the_family(tiny, optimizer, leaves_leaf, leaves_family):
    run = cloned.optimizer_trajectory(TINY, tiny.seed, optimizer)
    assert run.steps[0] == 0 and len(run.leaf["float64"]) == len(run.steps) == len(run.loss_clone["float32"])
    tol = run.tolerance["float64"][-1]
    assert (run.leaf["float64"][-1] > tol) == leaves_leaf
    assert (run.family["float64"][-1] > tol) == leaves_family
    assert run.start["block_constant_float64"] > 0 and run.start["family_float64"] < 1e-15
    if optimizer in ("sgd", "weight_decay"):  # the shadow is the clone's exact quotient
        assert max(abs(a - b) for a, b in zip(run.loss_clone["float64"], run.loss_shadow["float64"])) < 1e-12


def test_grid_is_log_spaced_and_holds_the_powers_of_ten():
    g = cloned.grid(1000)
    assert g[:3] == [0, 1, 2] and {1, 10, 100, 1000} <= set(g) and g == sorted(set(g)) and len(g) < 40
