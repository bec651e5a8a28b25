"""Seed-batched learners: every gradient against autograd, one seed against the per-step reference
loop, seeds independent of their batch, and the streams and interventions they run."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from benchmarks.bitflip_reference import reference
from numerics import batched as nb
from numerics import interventions as ivs
from numerics import streams
from numerics.batched import Batched, Net, SeedDraws, train
from numerics.streams import BitFlip, TaskSequence

SMALL = BitFlip(period=500)


def _autograd(learner: Batched, net: Net, x: torch.Tensor, y: torch.Tensor, s: int) -> list[torch.Tensor]:
    """The gradients of run s's loss by autograd on ``numerics.models``, in ``parameters()`` order."""
    m = learner.model(s)
    xs = x[s].reshape(-1, *net.image) if net.convolutional else x[s]
    out = m(xs)
    loss = F.mse_loss(out, y[s][:, None]) if net.loss == "mse" else F.cross_entropy(out, y[s])
    order = []
    for l, layer in enumerate(m.hidden):
        order += [layer.weight, layer.bias]
        if m.norms is not None:
            order += [m.norms[l].weight, m.norms[l].bias]
    order += [m.linears[-1].weight, m.linears[-1].bias]
    return list(torch.autograd.grad(loss, order)), out


@pytest.mark.parametrize("norm", [None, "batch", "layer"])
@pytest.mark.parametrize("activation", ["relu", "tanh", "gelu"])
@pytest.mark.parametrize("conv", [False, True])
def test_every_gradient_is_autograds(norm, activation, conv):
    net = (Net((3, 2), activation, norm, loss="ce", image=(1, 8, 8), channels=(4, 5)) if conv
           else Net((6, 5, 4, 3), activation, norm, loss="ce"))
    learner = Batched(net, [3, 7, 11])
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 4, net.inputs, generator=g, dtype=torch.float64)
    y = torch.randint(0, net.widths[-1], (3, 4), generator=g)
    trace = learner.forward(x, train=True)
    grads = learner.backward(trace, learner.dloss(trace.out, y))
    for s in range(3):
        ref, out = _autograd(learner, net, x, y, s)
        assert torch.allclose(trace.out[s], out, rtol=0, atol=1e-12)
        for mine, theirs in zip(grads, ref):
            assert torch.allclose(mine[s].reshape(theirs.shape), theirs, rtol=1e-10, atol=1e-12)


def test_regression_gradient_with_one_sample_is_autograds():
    net = Net((6, 5, 1))
    learner = Batched(net, [1, 2])
    x = torch.rand(2, 1, 6, dtype=torch.float64)
    y = torch.randn(2, 1, dtype=torch.float64)
    trace = learner.forward(x)
    grads = learner.backward(trace, learner.dloss(trace.out, y))
    for s in range(2):
        for mine, theirs in zip(grads, _autograd(learner, net, x, y, s)[0]):
            assert torch.allclose(mine[s].reshape(theirs.shape), theirs, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("conv", [False, True])
def test_dropout_backward_is_autograd_through_the_same_masks(conv):
    """Autograd through the learner's own forward (the same dropout masks) gives its gradients."""
    net = (Net((3, 2), "relu", loss="ce", dropout=0.3, image=(1, 8, 8), channels=(4,)) if conv
           else Net((6, 5, 4, 3), "relu", loss="ce", dropout=0.3))
    learner = Batched(net, [5, 6])
    x = torch.rand(2, 4, net.inputs, dtype=torch.float64)
    y = torch.randint(0, 3 if not conv else 2, (2, 4))
    leaves = [p.clone().requires_grad_(True) for p in learner.parameters()]
    learner.W = leaves[0::2]
    learner.b = leaves[1::2]
    with torch.enable_grad():
        trace = learner.forward(x, train=True)
        loss = learner.loss(trace.out, y).sum()
        auto = torch.autograd.grad(loss, leaves)
    mine = learner.backward(trace, learner.dloss(trace.out.detach(), y))
    assert any("mask" for _ in trace.cache)
    for a, b in zip(mine, auto):
        assert torch.allclose(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", ["relu", "leaky_relu", "tanh", "sigmoid", "identity", "elu"])
def test_closed_form_activation_backward_is_autograds(name):
    from theory import activations

    z = torch.tensor([-3.0, -1.0, -1e-9, 0.0, 1e-9, 0.5, 2.0], dtype=torch.float64, requires_grad=True)
    h = activations.get(name).torch_fn(z)
    dh = torch.linspace(-1, 1, 7, dtype=torch.float64)
    (auto,) = torch.autograd.grad(h, z, dh)
    mine = nb.backward_activation(name)(dh, z.detach(), h.detach())
    if name in ("relu", "leaky_relu", "identity"):  # piecewise linear: bit for bit, kinks included
        assert torch.equal(mine, auto)
    else:
        assert torch.allclose(mine, auto, rtol=1e-13, atol=1e-17)  # 1 − h² cancels near saturation


def _errors(learner: Batched, problem: BitFlip, steps: int) -> np.ndarray:
    out, t = [], 0
    for task in problem.tasks(learner.seeds, math.ceil(steps / problem.period)):
        for x, y in task.batches():
            if t == steps:
                return np.array(out).T
            o = learner.step(x, y)
            out.append(((o[:, 0, 0] - y[:, 0]) ** 2).numpy())
            t += 1
    return np.array(out).T


@pytest.mark.parametrize("iv", [ivs.get("bp"), ivs.get("l2"),
                                ivs.get("cbp", cbp=ivs.CBP(rate=1e-2, maturity=40))])
def test_one_seed_follows_the_per_step_reference_loop(iv):
    steps = 1500
    learner = Batched(Net((20, 5, 1)), [4, 9, 2], iv)
    batched = _errors(learner, SMALL, steps)
    ref = reference(9, steps, SMALL, intervention=iv)
    assert np.abs(batched[1] - ref).max() < 1e-11
    if iv.cbp:
        assert int(learner.resets.replaced[0][1]) > 10  # the comparison covered replacements


@pytest.mark.parametrize("name", ["bp", "dropout", "noisy_sgd", "snp", "cbp-code", "redo-0.1"])
def test_a_seed_does_not_depend_on_its_batch(name):
    iv = ivs.get(name)
    if iv.redo:
        iv = ivs.get(name, redo=ivs.ReDo(tau=0.1, every=100))
    alone = Batched(Net((20, 5, 1)), [7], iv)
    shared = Batched(Net((20, 5, 1)), [3, 7, 8], iv)
    h_alone = train(alone, SMALL.tasks([7], 3))
    h_shared = train(shared, SMALL.tasks([3, 7, 8], 3))
    assert np.allclose(h_alone.loss[0], h_shared.loss[1], rtol=1e-10, atol=1e-12)
    for a, b in zip(alone.parameters(), shared.parameters()):
        assert torch.allclose(a[0], b[1], rtol=1e-9, atol=1e-12)


def test_seed_draws_do_not_depend_on_where_a_consumer_stops():
    a = SeedDraws([1, 2], "x", (3,), "normal", torch.float64, "cpu")
    b = SeedDraws([2], "x", (3,), "normal", torch.float64, "cpu")
    first = torch.stack([a.next() for _ in range(5)])
    second = torch.stack([b.next() for _ in range(5)])
    assert torch.equal(first[:, 1], second[:, 0])


def test_bitflip_paper_flips_one_bit_per_period_and_code_redraws():
    paper = [t.X[0, 0, :15] for t in BitFlip(period=50).tasks([0], 12)]
    assert all(int((a != b).sum()) == 1 for a, b in zip(paper, paper[1:]))
    code = [t.X[0, 0, :15] for t in BitFlip(period=50, variant="code").tasks([0], 12)]
    assert max(int((a != b).sum()) for a, b in zip(code, code[1:])) > 1


def test_bitflip_targets_follow_the_threshold_rule():
    problem = BitFlip(period=64)
    target = problem.target(3)
    V = target.V
    assert torch.equal(target.theta, (problem.m + 1) * problem.beta - (V < 0).sum(1).double())
    task = next(problem.tasks([3], 1))
    x = task.X[0]
    z = x @ V[:, :-1].T + V[:, -1]
    assert torch.equal(task.Y[0], (z > target.theta).double() @ target.v)
    code = BitFlip(variant="code").target(3)
    S_code = (problem.m - V[:, :-1].sum(1) + V[:, -1]) / 2
    assert torch.equal(code.theta, (problem.m + 1) * problem.beta - S_code)
    assert code.v0 in (-1.0, 1.0)


def test_digit_task_sequences():
    perm = list(TaskSequence("permuted", samples=100).tasks([0, 1], 2))
    assert torch.equal(perm[0].Y, perm[1].Y) and not torch.equal(perm[0].X, perm[1].X)
    assert torch.equal(perm[0].X[0].sort(1).values, perm[1].X[0].sort(1).values)  # the same pixels, moved
    shuf = list(TaskSequence("shuffled", samples=100).tasks([0], 2))
    assert torch.equal(torch.bincount(shuf[0].Y[0]), torch.bincount(shuf[1].Y[0]))
    assert not torch.equal(shuf[0].Y, shuf[1].Y)
    inc = list(TaskSequence("incremental", samples=20).tasks([0, 5], 3))
    assert [int(t.classes[0].sum()) for t in inc] == [2, 4, 6]
    assert inc[2].X.shape == (2, 120, 64)
    again = next(TaskSequence("permuted", samples=100).tasks([1], 1))
    assert torch.equal(again.X[0], perm[0].X[1])  # seed 1's task, whatever the batch


def test_class_incremental_masks_the_logits_of_unseen_classes():
    seq = TaskSequence("incremental", samples=20, batch=8, epochs=1)
    learner = Batched(Net((64, 16, 10), loss="ce", lr=0.1), [0, 1], dtype=torch.float32)
    history = train(learner, seq.tasks([0, 1], 2, dtype=torch.float32))
    assert history.final_accuracy.shape == (2, 2) and np.isfinite(history.loss).all()


def test_cbp_replaces_nothing_before_maturity_and_no_burst_at_it():
    """Width 4, rate 1/16, maturity 100: the units mature at step 101 and accrue 4/16 a step from then
    on, so the first replacement is at step 104, one unit per run (a count accrued from step 1 would
    owe 25 at maturity and replace every unit at once)."""
    iv = ivs.get("cbp", cbp=ivs.CBP(rate=1 / 16, maturity=100))
    learner = Batched(Net((20, 4, 1)), [0, 1], iv)
    task = next(BitFlip(period=300).tasks([0, 1], 1))
    counts = []
    for x, y in task.batches():
        learner.step(x, y)
        counts.append(learner.resets.replaced[0].tolist())
    assert counts[102] == [0, 0] and counts[103] == [1, 1]
    assert all(b[0] - a[0] <= 1 for a, b in zip(counts, counts[1:]))


def test_redo_resets_a_planted_dead_unit():
    iv = ivs.get("redo-0.1", redo=ivs.ReDo(tau=0.1, every=50))
    learner = Batched(Net((20, 5, 1)), [0], iv)
    learner.W[0][0, 2] = -1.0  # unit 2 can never fire on 0/1 inputs
    learner.b[0][0, 2] = -1.0
    train(learner, BitFlip(period=50).tasks([0], 1))
    assert int(learner.resets.replaced[0][0]) >= 1
    assert float(learner.b[0][0, 2]) == 0.0 and float(learner.W[1][0, 0, 2]) != -1.0


def test_interventions_compose_and_refuse_conflicts():
    both = ivs.get("cbp+layernorm")
    assert both.cbp is not None and both.norm == "layer" and both.breaks
    with pytest.raises(ValueError, match="norm"):
        ivs.get("batchnorm+layernorm")
    with pytest.raises(ValueError, match="unknown intervention 'adam'"):
        ivs.get("adam")
    assert ivs.get("noisy_sgd").optimizer == "noisy_sgd"
    with pytest.raises(ValueError, match="only the batched learner"):
        _ = ivs.get("cbp").optimizer


@pytest.mark.parametrize("make, message", [
    (lambda: Net((20, 1)), "widths"),
    (lambda: Net((20, 5, 1), loss="hinge"), "unknown loss"),
    (lambda: Net((20, 5, 1), norm="group"), "unknown norm"),
    (lambda: Net((20, 5, 1), activation="swish"), "unknown activation"),
    (lambda: Batched(Net((20, 5, 1)), [1, 1]), "distinct"),
    (lambda: BitFlip(variant="paperish"), "variant"),
    (lambda: TaskSequence("rotated"), "unknown task sequence"),
    (lambda: TaskSequence(data="cifar"), "unknown data set"),
    (lambda: ivs.CBP(variant="x"), "CBP variant"),
])
def test_bad_input_names_the_problem(make, message):
    with pytest.raises(ValueError, match=message):
        make()


def test_batchnorm_refuses_a_one_sample_batch():
    learner = Batched(Net((20, 5, 1), norm="batch"), [0])
    with pytest.raises(ValueError, match="BatchNorm needs at least 2"):
        learner.step(torch.zeros(1, 1, 20, dtype=torch.float64), torch.zeros(1, 1, dtype=torch.float64))


def test_mnist1d_generates_offline_or_is_refused_by_name():
    try:
        import mnist1d  # noqa: F401
    except ImportError:
        with pytest.raises(ValueError, match="mnist1d package"):
            streams.dataset("mnist1d")
        return
    state = np.random.get_state()[1].copy()
    ds = streams.dataset("mnist1d")
    assert ds.X.shape == (5000, 40) and set(np.unique(ds.y)) == set(range(10))
    assert np.array_equal(np.random.get_state()[1], state)  # numpy's global stream left as it was


def test_cbp_breaks_utility_ties_towards_the_lower_unit():
    """Units dead on every input have utility exactly 0: the first replacement takes the lowest of
    them, as the per-unit reference loop does (``topk`` breaks such ties arbitrarily, and a tie broken
    otherwise makes the runs diverge)."""
    iv = ivs.get("cbp", cbp=ivs.CBP(rate=1 / 16, maturity=10))
    learner = Batched(Net((20, 4, 1)), [0], iv)
    for u in (1, 2, 3):
        learner.W[0][0, u] = -learner.W[0][0, u].abs()
        learner.b[0][0, u] = -1.0
    kept = learner.W[0][0, 2:].clone()
    for x, y in next(BitFlip(period=14).tasks([0], 1)).batches():
        learner.step(x, y)
    assert learner.resets.replaced[0].tolist() == [1]
    assert float(learner.b[0][0, 1]) == 0.0 and torch.equal(learner.W[0][0, 2:], kept)


# ---- property: random architectures (the continual family's learner) ----------------------------------

@settings(max_examples=8, deadline=None)
@given(widths=st.lists(st.integers(1, 6), min_size=3, max_size=5), seeds=st.integers(1, 3),
       activation=st.sampled_from(["relu", "tanh", "sigmoid", "leaky_relu", "elu"]),
       norm=st.sampled_from([None, "batch", "layer"]), loss=st.sampled_from(["mse", "ce"]),
       batch=st.integers(2, 5), seed=st.integers(0, 2**16))
def test_every_gradient_is_autograds_on_random_architectures(widths, seeds, activation, norm, loss, batch,
                                                             seed):
    """The written-out backward pass of a random MLP learner (depth, widths, activation, normalization,
    loss, runs per batch drawn) is autograd's on every run's ``numerics.models`` network."""
    if loss == "mse":
        widths[-1] = 1
    elif widths[-1] < 2:
        widths[-1] = 2
    # a LayerNorm over one unit is the constant β: its input gradient is 0, which the written-out pass
    # gives exactly and autograd up to rounding amplified by 1/√ε (~3e-9; found by the thorough profile)
    assume(norm != "layer" or min(widths[1:-1]) >= 2)
    net = Net(tuple(widths), activation, norm, loss=loss)
    learner = Batched(net, [seed + k for k in range(seeds)])
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(seeds, batch, net.inputs, generator=g, dtype=torch.float64)
    y = (torch.randn(seeds, batch, generator=g, dtype=torch.float64) if loss == "mse"
         else torch.randint(0, widths[-1], (seeds, batch), generator=g))
    trace = learner.forward(x, train=True)
    grads = learner.backward(trace, learner.dloss(trace.out, y))
    for s in range(seeds):
        ref, out = _autograd(learner, net, x, y, s)
        assert torch.allclose(trace.out[s].reshape(out.shape), out, rtol=0, atol=1e-12)
        for mine, theirs in zip(grads, ref):
            assert torch.allclose(mine[s].reshape(theirs.shape), theirs, rtol=1e-9, atol=1e-11)
