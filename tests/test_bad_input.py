"""Library functions that take user data refuse bad data with a one-line TypeError/ValueError naming the
argument, and never answer quietly: a vacuous statement is inconclusive, a NaN unit is not everyone's
clone, a diverged training run stops, a misspelt hyper-parameter is refused."""

import math

import numpy as np
import pytest
import sympy as sp
import torch
from torch import nn

from cases import equivalence, graphs
from numerics import batched as B
from numerics import clone as C
from numerics import curvature as K
from numerics import interventions as I
from numerics import metrics as M
from numerics import models, train
from numerics import probes as P
from numerics import streams as S
from theory import invariance, manifolds, net
from theory.partition import partition

G = net.mlp("2-2-1", activation="generic", output_activation="generic")
ONES = {e: sp.Integer(1) for e in G.edges}
X = torch.randn(16, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
Y = torch.arange(16) % 2
Z = torch.randn(8, 4, dtype=torch.float64, generator=torch.Generator().manual_seed(1))


def _mlp():
    return models.seeded([3, 4, 2])


def _nan_model():
    m = _mlp()
    with torch.no_grad():
        m.linears[0].weight[0, 0] = math.nan
    return m


def _mse(a, b):
    return ((a - b) ** 2).mean()


@pytest.mark.parametrize("call, error, message", [
    # a frozen manifold that would constrain nothing, or cannot be built
    (lambda: manifolds.frozen(G, ["nope"], ONES), ValueError, "frozen unit 'nope' is not a node"),
    (lambda: manifolds.frozen(G, ["x0"], ONES), ValueError, "is an input node, which has no incoming"),
    (lambda: manifolds.frozen(G, ["1"], ONES), ValueError, "is an bias node"),
    (lambda: manifolds.frozen(G, [], ONES), ValueError, "at least one unit"),
    (lambda: manifolds.frozen(G, "h1.0", ONES), TypeError, "write ['h1.0']"),
    (lambda: manifolds.frozen(G, ["h1.0"], {}), ValueError, "values has no weight for w(1,h1.0)"),
    (lambda: manifolds.incoming_equitable(G, [["h1.0", "h1.1"]]), TypeError, "expected a theory.partition"),
    (lambda: manifolds.block_constant(G, partition(net.mlp("2-3-1"), [])), ValueError, "names 'h1.2'"),
    (lambda: invariance.prove(G, manifolds.frozen(G, ["h1.0"], ONES), lambda *a: {}, n_samples=0),
     ValueError, "n_samples must be a positive integer"),
    (lambda: invariance.prove(G, "whole space", lambda *a: {}), TypeError, "AffineManifold"),
    (lambda: net.random_dag(2, 2.5, 1), TypeError, "n_hidden must be an integer"),
    (lambda: net.random_dag(2, 2, 1, output_activation="bogus"), ValueError, "unknown activation 'bogus'"),
    # training
    (lambda: train.train(_mlp(), X, Y, steps=-3), ValueError, "steps must be an integer ≥ 0 (got -3)"),
    (lambda: train.train(_mlp(), X, Y, steps=2.5), TypeError, "steps must be an integer, not float"),
    (lambda: train.train(_nan_model(), X, Y, 2), ValueError, "'linears.0.weight' contains NaN"),
    (lambda: train.train(_mlp(), X, Y, 2, hp={"lrr": 0.1}), ValueError,
     "unknown hyper-parameter 'lrr' for optimizer 'adam' (accepted: lr, beta1, beta2, eps)"),
    (lambda: train.train(_mlp(), X, Y, 2, hp={"lr": math.nan}), ValueError,
     "'lr' of 'adam' must be a finite"),
    (lambda: train.TorchUpdate("sgd", _mlp().parameters(), {"momentum": 0.9}), ValueError,
     "unknown hyper-parameter 'momentum' for optimizer 'sgd' (accepted: lr)"),
    (lambda: train.train(nn.Sequential(nn.Linear(3, 2)).double(), X, Y, 2), TypeError,
     "model must be a numerics.models MLP or CNN"),
    (lambda: train.train(_mlp(), X.numpy(), Y, 2), TypeError, "X must be a torch tensor"),
    (lambda: train.train(_mlp(), X[:, 0], Y, 2), ValueError, "X must have shape (samples, features...); got "
     "shape (16,)"),
    (lambda: train.train(_mlp(), X, Y[:5], 2), ValueError, "y has shape (5,), X has 16 samples"),
    (lambda: train.train(_mlp(), X, torch.full((16, 2), math.nan, dtype=torch.float64), 2, loss_fn=_mse),
     ValueError, "y contains NaN"),
    (lambda: train.train(_mlp(), X.new_zeros(0, 3), Y[:0], 2), ValueError, "X has no samples"),
    # equivalence graphs
    (lambda: graphs.weight_distance(np.array([[math.nan, 1.0], [1.0, 2.0]])), ValueError, "W contains NaN"),
    (lambda: graphs.weight_distance(np.ones((2, 2)), np.array([0.0, math.inf])), ValueError,
     "b contains NaN"),
    (lambda: graphs.weight_distance(np.ones(3)), ValueError, "W has shape (3,)"),
    (lambda: graphs.weight_distance(np.ones((3, 2)), np.ones(2)), ValueError, "b has shape (2,)"),
    (lambda: graphs.cosine_similarity(np.array([[math.nan, 1.0], [1.0, 1.0]])), ValueError, "H contains NaN"),
    (lambda: equivalence.coarsest_equitable_partition([np.ones((2, 1)), np.ones((1, 2))]), TypeError,
     "network must be a theory.net.Layered"),
    # clones
    (lambda: C.clone(_mlp(), 2.5), TypeError, "cloning must be an expansion factor"),
    (lambda: C.clone(_mlp(), "two"), TypeError, "cloning must be an expansion factor"),
    (lambda: C.clone(_mlp(), True), TypeError, "cloning must be an expansion factor"),
    (lambda: C.clone(_nan_model(), 2), ValueError, "linears.0.weight contains NaN"),
    (lambda: C.lambda_split(C.expand([3, 4, 2], 2), math.nan), ValueError, "lam must be a finite number"),
    (lambda: C.forward_gap(_mlp(), C.clone(_mlp(), 2), torch.full((4, 3), math.nan, dtype=torch.float64)),
     ValueError, "finite values"),
    # the metrics of numerics.metrics: thresholds, fractions and labels that would mark no unit quietly
    (lambda: M.exact_dead(torch.randn(5)), ValueError,
     "z must have shape (..., samples, units); got shape (5,)"),
    (lambda: M.exact_dead(torch.full((3, 2), math.nan)), ValueError, "z contains NaN or inf"),
    (lambda: M.exact_dead([[1.0, 2.0]]), TypeError, "z must be a torch tensor"),
    (lambda: M.exact_dead(Z, "nope"), ValueError, "unknown activation 'nope' (accepted: relu"),
    (lambda: M.paper_dead(Z, threshold=math.nan), ValueError, "threshold must be a finite number > 0"),
    (lambda: M.paper_dead(Z, threshold=-1), ValueError, "threshold must be a finite number > 0"),
    (lambda: M.paper_dead(Z, fraction=2), ValueError, "fraction must be a finite number in [0, 1)"),
    (lambda: M.paper_dead(Z, fraction="most"), TypeError, "fraction must be a real number, not str"),
    (lambda: M.dormant(Z, tau=math.nan), ValueError, "tau must be a finite number ≥ 0"),
    (lambda: M.saturated(Z, Z, threshold=math.inf), ValueError, "threshold must be a finite number > 0"),
    (lambda: M.saturated_invariant(Z, Z, batch=0), ValueError, "batch must be an integer ≥ 1"),
    (lambda: M.duplicates(Z, threshold=5), ValueError, "threshold must be a finite number in [-1, 1)"),
    (lambda: M.duplicates(Z, threshold=1), ValueError, "threshold must be a finite number in [-1, 1)"),
    (lambda: M.duplicates(Z, threshold=-1.5), ValueError, "threshold must be a finite number in [-1, 1)"),
    (lambda: M.paper_dead(Z, threshold=0), ValueError, "threshold must be a finite number > 0"),
    (lambda: M.paper_dead(Z, fraction=1), ValueError, "fraction must be a finite number in [0, 1)"),
    (lambda: M.paper_dead(Z, fraction=-0.1), ValueError, "fraction must be a finite number in [0, 1)"),
    (lambda: M.effective_rank(torch.full((3, 2), math.inf)), ValueError, "h contains NaN or inf"),
    (lambda: M.effective_rank("h"), TypeError, "h must be a torch tensor"),
    (lambda: M.block_sizes([0.5, 1.0]), TypeError, "labels must be integer block numbers, not float64"),
    (lambda: M.clone_redundancy([-1, 0]), ValueError, "labels must be non-negative block numbers"),
    # probes on any nn.Module
    (lambda: P.dead_units("model", X), TypeError, "model must be a torch nn.Module, not str"),
    (lambda: P.dead_units(_nan_model(), X), ValueError, "model parameter 'linears.0.weight' contains NaN"),
    (lambda: P.dead_units(_mlp(), X.new_full((4, 3), math.nan)), ValueError, "X contains NaN or inf"),
    (lambda: P.dead_units(_mlp(), X[:, 0]), ValueError, "X must have shape (samples, features...)"),
    (lambda: P.dead_units(_mlp(), torch.randn(4, 5, dtype=torch.float64)), ValueError,
     "the model cannot run on X of shape (samples, 5): mat1 and mat2 shapes cannot be multiplied"),
    (lambda: P.dead_units(_mlp(), X, chunk=0), ValueError, "chunk must be an integer ≥ 1 (got 0)"),
    (lambda: P.certified_dead(3, X), TypeError, "model must be a torch nn.Module, not int"),
    (lambda: P.certified_dead(_mlp(), X, batch_size=0), ValueError, "batch_size must be an integer ≥ 1"),
    (lambda: P.measure(_mlp(), X, torch.zeros(3, dtype=torch.long)), ValueError, "targets has 3 samples"),
    (lambda: P.measure(_mlp(), X, Y, saturation_samples=0), ValueError,
     "saturation_samples must be an integer"),
    (lambda: P.Probe(_mlp(), X, chunk=-1), ValueError, "chunk must be an integer ≥ 1"),
    # seed-batched learners, streams and interventions
    (lambda: B.Net((3, 4.5, 1)), TypeError, "each of widths must be an integer, not float"),
    (lambda: B.Net((3, 4, 1), lr=math.nan), ValueError, "lr must be a finite number > 0"),
    (lambda: B.Net((3, 4, 1), activation="bogus"), ValueError, "unknown activation 'bogus'"),
    (lambda: B.Batched(B.Net((3, 4, 1)), "ab"), TypeError, "seeds must be a sequence of integers, not str"),
    (lambda: B.Batched(B.Net((3, 4, 1)), [0.5]), TypeError, "each seed must be an integer, not float"),
    (lambda: B.Batched(B.Net((3, 4, 1)), [1, 1]), ValueError, "seeds must be distinct"),
    (lambda: B.Batched(B.Net((3, 4, 1)), [0], "bogus"), ValueError,
     "unknown intervention 'bogus' (accepted: bp"),
    (lambda: I.get("bp", lrr=0.1), ValueError,
     "unknown intervention setting 'lrr' (accepted: norm, dropout, weight_decay, noise"),
    (lambda: I.get("cbp", cbp=I.CBP(rate=-1)), ValueError, "CBP rate must be a finite number in [0, 1]"),
    (lambda: I.CBP(maturity=2.5), TypeError, "CBP maturity must be an integer"),
    (lambda: I.ReDo(tau=math.nan), ValueError, "ReDo tau must be a finite number ≥ 0"),
    (lambda: I.Intervention("x", noise=math.nan), ValueError, "noise must be a finite number ≥ 0"),
    (lambda: I.Intervention("x", cbp=0.1), TypeError, "cbp must be a numerics.interventions.CBP or None"),
    (lambda: S.BitFlip(beta=math.nan), ValueError, "beta must be a finite number (got nan)"),
    (lambda: list(S.BitFlip(period=4).tasks([0], -1)), ValueError, "count must be an integer ≥ 0 (got -1)"),
    (lambda: list(S.TaskSequence(samples=10).tasks([0], -1)), ValueError, "count must be an integer ≥ 0"),
    (lambda: S.TaskSequence(epochs=1.5), TypeError, "epochs must be an integer"),
    (lambda: S.dataset("cifar"), ValueError, "unknown data set 'cifar' (accepted: digits, mnist1d)"),
    # curvature
    (lambda: K.Objective(_nan_model(), X, Y), ValueError, "'linears.0.weight' contains NaN"),
    (lambda: K.Objective(_mlp(), X.new_full((16, 3), math.inf), Y), ValueError, "X contains NaN or inf"),
    (lambda: K.Objective(_mlp(), X, Y[:3]), ValueError, "X has 16 samples and y 3"),
    (lambda: K.clone_inertia(K.Objective(_mlp(), X, Y), 0), ValueError, "factor must be an integer ≥ 2"),
    (lambda: K.converge(K.Objective(_mlp(), X, Y), gtol=-1), ValueError, "gtol must be a finite number > 0"),
    (lambda: K.split_clone(_mlp(), 0, 0, math.nan), ValueError, "lam must be a finite number"),
    (lambda: K.one_unit_cloning([3, 4, 2], 0, 9), ValueError, "unit 9 of hidden layer 0 does not exist"),
])
def test_bad_input_is_a_one_line_error_naming_the_argument(call, error, message):
    with pytest.raises(error) as info:
        call()
    assert isinstance(info.value, error) and message in str(info.value) and "\n" not in str(info.value)


def test_a_diverging_run_stops_with_the_step_and_the_loss():
    model = _mlp().eval()
    target = torch.ones(16, 2, dtype=torch.float64)
    with pytest.raises(FloatingPointError, match=r"the loss is (nan|inf) at step \d+ of 50 \(sgd"):
        train.train(model, X, target, 50, "sgd", {"lr": 1e30}, loss_fn=_mse)
    assert not model.training  # left in the mode it came in


def test_zero_steps_is_an_empty_history_not_an_error():
    assert train.train(_mlp(), X, Y, 0).loss == []


# ---- a vacuous statement is never proved ---------------------------------------------------------------

def test_a_quantity_with_no_component_is_inconclusive_not_proved():
    trivial = partition(G, [])
    M = manifolds.equitable(G, trivial)
    for quantity in (invariance.forward_differences(trivial), invariance.backward_differences(trivial),
                     invariance.normal_gradient(M)):
        proof = invariance.prove(G, M, quantity)
        assert proof.vacuous and proof.reductions == [] and proof.verdict == "inconclusive"


def test_one_component_that_reduces_is_proved():
    """The other side of the vacuity guard: a single reducing component is a proof."""
    M = manifolds.frozen(G, ["h1.0"], ONES)
    proof = invariance.prove(G, M, lambda G, w, X, Y, loss: {"w − w": w[("x0", "h1.0")] - 1})
    assert not proof.vacuous and proof.verdict == "proved"


def test_the_verdict_rules_of_the_checks_refuse_an_empty_case_list():
    import checks.cloned
    import checks.frozen

    assert checks.cloned._verdict([]) == ("inconclusive", None)
    ev = checks.frozen._generic_evidence([], [], {"samples": 1}, "nothing", 0)
    assert ev.verdict == "inconclusive" and "vacuous" in ev.summary
    for control in (False, True):
        assert checks.frozen._planted_evidence([], control, {}).verdict == "inconclusive"


def test_a_diverging_batched_run_stops_naming_the_seed_and_task():
    """numerics.batched.train: a NaN loss is never returned as a history (numerics.train does the same)."""
    learner = B.Batched(B.Net((3, 4, 1), lr=1e30), [0, 7])
    big = torch.full((2, 4, 3), 1e300, dtype=torch.float64)
    with pytest.raises(FloatingPointError, match=r"the loss is (nan|inf) on task 0 for seed\(s\) \[0, 7\]"):
        B.train(learner, [S.TaskData(0, big, torch.ones(2, 4, dtype=torch.float64))])


def test_the_scheduler_is_reached_before_use():
    """cases.executor.check: an empty, malformed or unreachable scheduler address is one ValueError."""
    from cases import executor

    for address, message in (("", "non-empty text"),
                             ("nonsense", "cannot reach the Dask scheduler at 'nonsense'")):
        with pytest.raises(ValueError, match=message):
            executor.check(0, address, reach=True, timeout=1)
    with pytest.raises(TypeError, match="workers must be an integer"):
        executor.check(1.5)
