"""Numeric side of the frozen family: dead-unit probes, certified death, the checks on tiny sizes."""

import dataclasses
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import checks.frozen
from numerics import frozen
from numerics.data import TASKS, make_task
from numerics.metrics import exact_dead, flat_mask, paper_dead
from numerics.models import MLP
from numerics.probes import certified_dead, dead_units
from numerics.train import train
from theory import activations
from theory.evidence import VERDICTS, Config, Evidence

TINY = frozen.Recipe(n=256, d=8, classes=3, width=32, depth=3, lr=3e-2, steps=40, batch=64, sgd_steps=40,
                    sgd_batch=32, check_every=20, plant=2, seeds=2, seeds_width=32, norm_width=8,
                    norm_batch=16, norm_steps=20)
FLAT_ACTIVATIONS = [a for a in activations.ACTIVATIONS if activations.get(a).freezing() == "exact"]


def _net(widths, activation="relu", seed=0):
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        return MLP(widths, activation).double().eval()


def _data(n=64, d=8, seed=0):
    return torch.randn(n, d, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


def _planted():
    """A 8-16-16-16-3 ReLU network with dead units planted in every layer, and its data."""
    model, X = _net([8, 16, 16, 16, 3]), _data()
    frozen.plant_first_layer_dead(model, X, torch.tensor([0, 3]))
    for layer in (1, 2):
        frozen.plant_sign_dead(model, layer, torch.tensor([1, 5]))
    return model, X


# ---- probes ------------------------------------------------------------------------------------

def test_planted_dead_units_are_found_exactly_and_one_active_sample_is_not_dead():
    model, X = _planted()
    lin = model.linears[0]
    with torch.no_grad():  # unit 7: active on exactly one sample (its largest w·x), nowhere else
        s = (X @ lin.weight[7]).sort().values
        lin.bias[7] = -(s[-1] + s[-2]) / 2
    found = dead_units(model, X, chunk=7)
    trace = model.trace(X)
    assert bool(found[0][[0, 3]].all()) and all(bool(m[[1, 5]].all()) for m in found[1:])
    assert not bool(found[0][7])  # the negative control is alive...
    assert bool(paper_dead(trace.h[0])[7])  # ...though the paper's 95% definition calls it dead
    assert all(torch.equal(a, exact_dead(z.detach())) for a, z in zip(found, trace.z))


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 10_000), depth=st.integers(1, 3), width=st.integers(1, 12),
       n=st.integers(1, 40), chunk=st.integers(1, 50), shift=st.floats(0, 3),
       activation=st.sampled_from(["relu", "relu6", "hardtanh", "hardsigmoid", "step"]))
def test_chunked_pruned_pass_equals_the_definition(seed, depth, width, n, chunk, shift, activation):
    """For every network and data set: dead_units (chunked, pruned, early-stopping) and exact_dead
    (reductions) return exactly 'z in the flat set on every sample' of the plain forward trace."""
    model, X = _net([5] + [width] * depth + [2], activation, seed), _data(n, 5, seed)
    with torch.no_grad():
        for lin in model.hidden:
            lin.bias -= shift  # push units towards the flat set so dead ones occur
    found = dead_units(model, X, chunk)
    for a, z in zip(found, model.trace(X).z):
        definition = flat_mask(z.detach(), activation).all(0)
        assert torch.equal(a, definition) and torch.equal(exact_dead(z.detach(), activation), definition)


@pytest.mark.parametrize("name", FLAT_ACTIVATIONS)
def test_flat_mask_agrees_with_torch_derivative(name):
    """z in the registry's flat set ⇒ torch's derivative is exactly 0 there (kinks included)."""
    z = torch.cat([torch.linspace(-8, 8, 801, dtype=torch.float64),
                   torch.tensor([-3.0, -1.0, 0.0, 1.0, 3.0, 6.0], dtype=torch.float64)]).requires_grad_()
    (grad,) = torch.autograd.grad(activations.get(name).torch_fn(z).sum(), z)
    mask = flat_mask(z.detach(), name)
    assert mask.any() and bool((grad[mask] == 0).all())


def test_certified_dead_follows_the_sign_induction():
    model, X = _planted()
    cert = certified_dead(model, X)
    assert [m.nonzero().flatten().tolist() for m in cert] == [[0, 3], [1, 5], [1, 5]]
    with torch.no_grad():
        model.linears[1].weight[1, 0] = 5.0  # from a certified-dead unit: layer-2 unit 1 still certified
        model.linears[1].weight[5, 2] = 1e-3  # from a live unit: layer-2 unit 5 no longer certified
        model.linears[2].weight[1, 5] = 2.0  # from layer-2 unit 5, now uncertified: nor is this one
    cert = certified_dead(model, X)
    assert [bool(cert[l][u]) for l, u in ((1, 1), (1, 5), (2, 1), (2, 5))] == [True, False, False, True]
    with pytest.raises(ValueError, match="ReLU-like"):
        certified_dead(_net([4, 3, 2], "leaky_relu"), _data(d=4))
    # LayerNorm mixes units, so only its own bound certifies: β + |γ|√(width − 1) < 0
    normed = MLP([4, 3, 3, 2], norm="layer")
    assert not any(m.any() for m in certified_dead(normed, _data(d=4).float()))
    with torch.no_grad():
        normed.norms[1].bias[2] = -1.01 * 2 ** 0.5
        normed.norms[1].bias[0] = -0.99 * 2 ** 0.5
    assert [m.tolist() for m in certified_dead(normed, _data(d=4).float())] == [[False] * 3,
                                                                                 [False, False, True]]


def test_certified_units_never_move_under_sgd():
    model, X = _planted()
    cert = certified_dead(model, X)
    before = [(lin.weight.detach().clone(), lin.bias.detach().clone()) for lin in model.hidden]
    y = torch.randint(0, 3, (X.shape[0],), generator=torch.Generator().manual_seed(1))
    train(model, X, y, 40, "sgd", {"lr": 0.5}, batch_size=16, seed=1)
    for (w0, b0), lin, c in zip(before, model.hidden, cert):
        assert torch.equal(lin.weight[c], w0[c]) and torch.equal(lin.bias[c], b0[c])
    assert all(bool(d[c].all()) for d, c in zip(dead_units(model.eval(), X), cert))


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_dead_units_get_bitwise_zero_gradients_alive_ones_do_not(dtype):
    model, X = _planted()
    model, X = model.to(dtype), X.to(dtype)
    y = torch.randint(0, 3, (X.shape[0],), generator=torch.Generator().manual_seed(2))
    trace = model.trace(X)
    grads = torch.autograd.grad(F.cross_entropy(trace.out, y), [p for lin in model.hidden
                                                               for p in (lin.weight, lin.bias)])
    for z, gw, gb in zip(trace.z, grads[0::2], grads[1::2]):
        dead = exact_dead(z.detach())
        assert dead.any()
        assert bool((gw[dead] == 0).all()) and bool((gb[dead] == 0).all())
        assert bool(((gw[~dead] != 0).any(1) | (gb[~dead] != 0)).all())


# ---- normalization: the bound and the β counterexample -----------------------------------------

@settings(max_examples=40, deadline=None)
@given(st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=2, max_size=64))
def test_batchnorm_values_are_bounded_by_sqrt_b_minus_1(values):
    z = torch.tensor(values, dtype=torch.float64)[:, None]
    zhat = F.batch_norm(z, None, None, training=True)
    assert float(zhat.abs().max()) <= math.sqrt(len(values) - 1) * (1 + 1e-12)


@pytest.mark.parametrize("margin, dead", [(0.5, True), (-0.5, False)])
def test_batchnorm_beta_below_the_bound_kills_forever_and_above_does_not(margin, dead):
    B = 16
    bn = torch.nn.BatchNorm1d(1).double()
    with torch.no_grad():
        bn.bias.fill_(-bn.weight.abs().item() * math.sqrt(B - 1) - margin)
    g = torch.Generator().manual_seed(0)
    batches = [torch.randn(B, 1, generator=g, dtype=torch.float64) * 10 ** k for k in range(-3, 4)]
    batches.append(torch.tensor([[1.0]] + [[0.0]] * (B - 1), dtype=torch.float64))  # the extremal batch
    active = False
    for z in batches:
        h = torch.relu(bn(z))
        h.sum().backward()
        active |= bool((h > 0).any())
        if dead:
            assert bn.weight.grad.item() == 0.0 and bn.bias.grad.item() == 0.0
        bn.zero_grad()
    assert active is not dead


# ---- data and training -------------------------------------------------------------------------

@pytest.mark.parametrize("kind", sorted(TASKS))
def test_changed_task_keeps_inputs_and_changes_labels(kind):
    task = make_task(kind, n=300, d=6, classes=4, seed=3)
    new = task.changed()
    assert torch.equal(new.X, task.X) and (new.y != task.y).float().mean() > 0.3
    assert torch.equal(make_task(kind, n=300, d=6, classes=4, seed=3).y, task.y)
    assert torch.equal(make_task(kind, n=300, d=6, classes=4, seed=3, dtype=torch.float32).X,
                       task.X.float())
    with pytest.raises(ValueError, match="accepted: mixture, teacher|accepted: teacher, mixture"):
        make_task("cifar")


def test_train_calls_the_hook_every_step_with_equal_batches_and_learns():
    task = make_task("mixture", n=200, d=6, classes=3, seed=0)
    model, sizes = _net([6, 16, 3]), []
    history = train(model, task.X, task.y, 30, "adam", {"lr": 1e-2}, batch_size=32,
                    on_step=lambda t, trace, idx: sizes.append(len(idx)))
    assert sizes == [32] * 30 and history.loss[-1] < history.loss[0]
    assert not model.training  # left in the mode it came in


# ---- the checks, on tiny sizes -----------------------------------------------------------------

@pytest.fixture
def tiny(monkeypatch):
    sizes = dataclasses.replace(checks.frozen.SIZES[True], numeric=TINY)
    monkeypatch.setitem(checks.frozen.SIZES, True, sizes)
    return Config(seed=0, quick=True, progress=False)


@pytest.mark.parametrize("check, claim, allowed", [
    ("gradient_zero_trained", "frozen.gradient-zero", {"confirmed", "inconclusive"}),
    ("manifold_trained", "frozen.manifold", {"confirmed", "qualified"}),
    ("normalization_bound", "frozen.normalization", {"qualified"}),
    ("normalization_trained", "frozen.normalization", set(VERDICTS)),
])
def test_each_check_returns_computed_evidence(tiny, check, claim, allowed):
    ev = getattr(checks.frozen, check)(tiny)
    assert isinstance(ev, Evidence) and ev.claim == claim and ev.verdict in allowed
    assert ev.check == check.replace("_", "-") and ev.measured and ev.setting["seed"] == 0
    Evidence.from_json(ev.to_json())


def test_gradient_zero_check_sees_dead_units_in_both_precisions(tiny):
    ev = checks.frozen.gradient_zero_trained(tiny)
    m = ev.measured
    assert sum(m["exact_dead_float64"]) > 0 and m["max_abs_dead_gradient_float64"] == 0.0
    assert m["max_abs_dead_gradient_float32"] == 0.0
    assert m["alive_with_nonzero_gradient_float64"] == m["alive_float64"]  # the negative control


def test_normalization_bound_batchnorm_counterexample_has_exact_zero_gradients(tiny):
    m = checks.frozen.normalization_bound(tiny).measured
    case = m["batch_affine"]
    assert case["dead_at_start"] and case["steps_active"] == 0 and all(case["unchanged"].values())
    assert set(case["max_abs_gradient"].values()) == {0.0}
    assert m["layer_affine"]["max_abs_gradient"]["beta"] == 0.0
    assert m["bound"]["batch"]["max_abs"] <= m["bound"]["batch"]["bound"]
