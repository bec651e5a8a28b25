"""Unit-equivalence graphs: colour refinement recovers planted clones and nothing else, the quotient
is the base network, approximate-clone edges, figures, checks and bad input."""

import doctest
import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import cases.equivalence as eq
from numerics.models import MLP
from theory.evidence import Config

PROPERTY = settings(max_examples=25, deadline=None)


def base_network(widths, seed):
    """Random weights W_l ~ N(0, 1/fan_in) and biases ~ N(0, 0.1²): generic, so no two units agree."""
    rng = np.random.default_rng(seed)
    W = [rng.standard_normal((b, a)) / np.sqrt(a) for a, b in zip(widths[:-1], widths[1:])]
    return W, [0.1 * rng.standard_normal(n) for n in widths[1:]]


@st.composite
def planted(draw, max_depth=3, max_width=6):
    """A random MLP (1–3 hidden layers) and a random partition of its clone: block sizes 1–4."""
    hidden = draw(st.lists(st.integers(1, max_width), min_size=1, max_size=max_depth))
    widths = [draw(st.integers(1, 5)), *hidden, draw(st.integers(1, 3))]
    sizes = [np.array(draw(st.lists(st.integers(1, 4), min_size=n, max_size=n))) for n in hidden]
    return widths, sizes, draw(st.integers(0, 2**16))


def singletons(labels, widths):
    return [int(lab.max()) + 1 for lab in labels] == list(widths)


# ---- the theorem-shaped properties ------------------------------------------------------------

@PROPERTY
@given(planted(), st.sampled_from(["uniform", "equitable"]))
def test_refinement_of_every_exact_clone_recovers_the_planted_partition(case, split):
    widths, sizes, seed = case
    W, b = base_network(widths, seed)
    Wc, bc, partition = eq.clone(W, b, sizes, split=split, seed=seed)
    found, rounds = eq.coarsest_equitable_partition(Wc, bc)
    assert eq.same_partition(found, partition)
    assert rounds >= 1
    assert max(eq.equitable_residual(Wc, bc, found).values()) <= 2 * eq.TOL
    G = eq.to_digraph(Wc, bc)  # the networkx reference agrees
    assert eq.same_partition(eq.digraph_labels(G, eq.refine_digraph(G)[0]), found)


@PROPERTY
@given(planted(max_width=12))
def test_random_networks_have_only_singletons(case):
    widths, _, seed = case
    W, b = base_network(widths, seed)
    assert singletons(eq.coarsest_equitable_partition(W, b)[0], widths)


def test_torch_default_init_has_only_singletons():
    W, b, features = eq.mlp_arrays(eq.random_mlp([8, 32, 32, 3], seed=0))
    assert features is None
    assert singletons(eq.coarsest_equitable_partition(W, b)[0], [8, 32, 32, 3])


@PROPERTY
@given(planted(), st.sampled_from(eq.SPLITS))
def test_quotient_of_a_clone_is_its_base_network(case, split):
    widths, sizes, seed = case
    W, b = base_network(widths, seed)
    Wc, bc, partition = eq.clone(W, b, sizes, split=split, seed=seed)
    Wq, bq = eq.quotient(Wc, bc, partition)
    assert all(np.allclose(x, y, rtol=0, atol=1e-12) for x, y in zip(Wq + bq, W + b))
    X = torch.randn(7, widths[0], dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        assert torch.allclose(eq.to_mlp(Wc, bc, "tanh")(X), eq.to_mlp(W, b, "tanh")(X), rtol=0, atol=1e-12)


def test_quotient_averages_over_the_receiving_block_not_the_source_block():
    # one input → a block of 2 clones → a block of 3 clones → output; sizes differ on purpose
    W, b = base_network([1, 1, 1, 1], seed=3)
    Wc, bc, partition = eq.clone(W, b, [np.array([2]), np.array([3])], split="uniform", shuffle=False)
    Wq, _ = eq.quotient(Wc, bc, partition)
    assert np.isclose(Wq[1][0, 0], W[1][0, 0])
    claims_md = Wc[1].sum() / 2  # (1/|S_i|) Σ w(u, v), S_i the source block of size 2
    assert np.isclose(claims_md, W[1][0, 0] * 3 / 2)  # off by |S_j|/|S_i| = 3/2: not the base


@PROPERTY
@given(planted())
def test_forward_only_clones_are_not_merged(case):
    """Net2Net split: incoming-equitable (forward clones, recovered by incoming-only refinement)
    but not outgoing-equitable, so two-sided refinement never keeps clones with unequal outgoing
    sums together."""
    widths, sizes, seed = case
    W, b = base_network(widths, seed)
    Wc, bc, partition = eq.clone(W, b, sizes, split="incoming", seed=seed)
    assert eq.same_partition(eq.coarsest_equitable_partition(Wc, bc, direction="incoming")[0], partition)
    found = eq.coarsest_equitable_partition(Wc, bc)[0]
    assert eq.equitable_residual(Wc, bc, found)["outgoing"] <= 2 * eq.TOL
    if any(s.max() > 1 for s in sizes):
        assert eq.equitable_residual(Wc, bc, partition)["outgoing"] > 1e-3
        assert not eq.same_partition(found, partition)


def test_outgoing_direction_alone_ignores_incoming_weights():
    W = [np.array([[1.0], [2.0]]), np.array([[0.5, 0.5]])]  # different inputs, equal outgoing weights
    assert eq.coarsest_equitable_partition(W, direction="outgoing")[0][1].tolist() == [0, 0]
    assert eq.coarsest_equitable_partition(W)[0][1].tolist() == [0, 1]


# ---- tolerance --------------------------------------------------------------------------------

def test_rounding_noise_below_tolerance_keeps_clones_and_larger_noise_splits_them():
    W, b = base_network([5, 8, 8, 2], seed=1)
    Wc, bc, partition = eq.clone(W, b, [np.full(8, 3)] * 2, split="equitable", seed=1)
    rng = np.random.default_rng(0)
    for noise, kept in ((1e-3 * eq.TOL, True), (1e3 * eq.TOL, False)):
        noisy = [w + noise * rng.standard_normal(w.shape) for w in Wc]
        assert eq.same_partition(eq.coarsest_equitable_partition(noisy, bc)[0], partition) is kept


def test_leader_check_splits_a_chain_wider_than_the_tolerance():
    # incoming weights 1, 1 + 0.9q, 1 + 1.8q: within q of the leader, or not
    tol = 1e-3
    q = tol * (1 + 1.8e-3)
    W = [np.array([[1.0], [1 + 0.9 * q], [1 + 1.8 * q]]), np.ones((1, 3))]
    labels = eq.coarsest_equitable_partition(W, tol=tol)[0]
    assert labels[1].tolist() == [0, 0, 1]


def test_features_must_agree_for_units_to_merge():
    W, b = base_network([3, 2, 1], seed=0)
    Wc, bc, partition = eq.clone(W, b, [np.array([2, 2])], split="uniform")
    same = [np.column_stack([np.ones(4), np.zeros(4)])]
    differ = [np.column_stack([np.arange(4.0), np.zeros(4)])]
    assert eq.same_partition(eq.coarsest_equitable_partition(Wc, bc, features=same)[0], partition)
    assert singletons(eq.coarsest_equitable_partition(Wc, bc, features=differ)[0], [3, 4, 1])


def test_layernorm_parameters_become_features():
    model = MLP([3, 4, 2], norm="layer").double()
    W, b, features = eq.mlp_arrays(model)
    assert [f.shape for f in features] == [(4, 2)] and len(W) == len(b) == 2


# ---- unit-equivalence graphs ------------------------------------------------------------------

def test_unit_graph_joins_exact_clones_by_cliques_and_records_attributes():
    W, b = base_network([3, 2, 2], seed=2)
    Wc, bc, partition = eq.clone(W, b, [np.array([3, 1])], split="equitable", shuffle=False)
    H = np.maximum(np.random.default_rng(0).standard_normal((50, 3)) @ Wc[0].T + bc[0], 0)
    H[:, 3] = 0.0  # a dead unit
    G = eq.unit_graph(Wc, bc, [H], cosine=None)
    assert sorted(G.nodes) == [(1, i) for i in range(4)]
    assert sorted(G.edges) == [((1, 0), (1, 1)), ((1, 0), (1, 2)), ((1, 1), (1, 2))]
    assert all(d["kinds"] == ("exact",) for *_, d in G.edges(data=True))
    assert [G.nodes[(1, i)]["dead"] for i in range(4)] == [False, False, False, True]
    assert G.nodes[(1, 0)]["block"] == G.nodes[(1, 2)]["block"] != G.nodes[(1, 3)]["block"]


def test_cosine_edges_join_duplicated_activation_columns_and_not_independent_ones():
    rng = np.random.default_rng(0)
    H = rng.standard_normal((500, 6))
    H[:, 4] = 2.5 * H[:, 1] + 1e-3 * rng.standard_normal(500)  # a scaled, slightly noisy duplicate
    H[:, 5] = 0.0  # a silent unit duplicates nothing
    W = [rng.standard_normal((6, 3)), rng.standard_normal((1, 6))]
    G = eq.unit_graph(W, None, [H], equitable=None)
    assert list(G.edges(data="kinds")) == [((1, 1), (1, 4), ("cosine",))]
    assert G.edges[(1, 1), (1, 4)]["cosine"] > 0.99
    C = eq.cosine_similarity(rng.standard_normal((2000, 50)))
    assert np.abs(C[np.triu_indices(50, 1)]).max() < 0.2  # independent columns: far below 0.95


def test_weight_distance_edges_join_near_equal_incoming_weights():
    W = [np.array([[1.0, 2.0], [1.01, 2.0], [-2.0, 1.0]]), np.ones((1, 3))]
    G = eq.unit_graph(W, [np.zeros(3), np.zeros(1)], equitable=None, distance=0.05)
    assert list(G.edges) == [((1, 0), (1, 1))] and G.edges[(1, 0), (1, 1)]["distance"] < 0.01
    assert np.allclose(np.diag(eq.weight_distance(W[0])), 0)


def test_drawing_is_svg_and_subsamples_large_graphs():
    W, b = base_network([4, 60, 60, 2], seed=0)
    Wc, bc, _ = eq.clone(W, b, [np.full(60, 2)] * 2, split="uniform")
    svg = eq.draw_unit_graph(eq.unit_graph(Wc, bc), max_units=100, title="clone")
    assert svg.startswith("<svg") and "showing 100 of 240 units" in svg
    small = eq.draw_unit_graph(eq.unit_graph(*base_network([2, 3, 1], seed=0)))
    assert small.startswith("<svg") and "showing" not in small


def test_mlp_round_trip_and_activations():
    W, b = base_network([3, 5, 2], seed=4)
    model = eq.to_mlp(W, b, "tanh")
    W2, b2, _ = eq.mlp_arrays(model)
    assert all(np.array_equal(x, y) for x, y in zip(W + b, W2 + b2))
    X = torch.randn(9, 3, dtype=torch.float64)
    (H,) = eq.mlp_activations(model, X)
    assert H.shape == (9, 5) and np.allclose(H, np.tanh(X.numpy() @ W[0].T + b[0]))
    assert model.training  # mode restored


def test_blocks_and_partition_forms_agree():
    labels = [np.arange(2), np.array([1, 0, 1]), np.arange(1)]
    assert eq.blocks(labels)[1] == [(1,), (0, 2)]
    as_blocks = eq.partition_labels([[(1,), (0, 2)]], [2, 3, 1])
    assert eq.same_partition(as_blocks, eq.partition_labels(labels, [2, 3, 1]))


def test_module_examples_run():
    assert doctest.testmod(eq).failed == 0


# ---- checks -----------------------------------------------------------------------------------

def test_checks_reach_their_verdicts():
    config = Config(quick=True, progress=False)
    planted_ev = eq.refinement_recovers_planted(config)
    assert planted_ev.verdict == "confirmed" and planted_ev.kind == "case"
    assert planted_ev.measured["recovered_after_training_count"] == planted_ev.measured["trials"]
    assert planted_ev.figures and planted_ev.figures[0][1].startswith("<svg")
    random_ev = eq.refinement_control_random_init(config)
    assert random_ev.verdict == "refuted" and random_ev.setting["control"] is True
    assert random_ev.counterexample["partition"] == "all singletons"
    incoming_ev = eq.refinement_control_incoming_only(config)
    assert incoming_ev.verdict == "refuted" and incoming_ev.setting["control"] is True
    assert incoming_ev.measured["incoming_refinement_blocks"] == incoming_ev.measured["planted_blocks"]
    for ev in (planted_ev, random_ev, incoming_ev):
        json.dumps(ev.to_json(), allow_nan=False)
        assert ev.claim == "cloned.trajectory"


# ---- bad input --------------------------------------------------------------------------------

W_OK, B_OK = base_network([2, 3, 1], seed=0)


@pytest.mark.parametrize("partition, message", [
    ([[(0, 1), (1, 2)]], "unit 1 is in two blocks"),
    ([[(0, 1)]], "unit 2 is in no block"),
    ([[(0, 1, 2), (5,)]], "outside 0..2"),
    ([[(0, 1, 2), ()]], "block 1 is empty"),
    ([np.array([0, 1])], "expected 3 integer labels"),
    ([np.array([0.0, 1.0, 1.0])], "expected 3 integer labels"),
    ([np.array([0, 0]), np.arange(3), np.arange(1)], "inputs and outputs must be singletons"),
    ([np.arange(3), np.arange(3)], "partition has 2 layers"),
])
def test_a_partition_that_is_not_a_partition_is_refused(partition, message):
    for fn in (eq.quotient, eq.equitable_residual):
        with pytest.raises(ValueError, match=message) as err:
            fn(W_OK, B_OK, partition)
        assert "\n" not in str(err.value)


@pytest.mark.parametrize("weights, biases, message", [
    ([np.ones((3, 2)), np.ones((1, 4))], None, "W_2 has 4 inputs but W_1 has 3 outputs"),
    ([np.ones(3)], None, "must be 2-D"),
    ([], None, "weights is empty"),
    ([np.array([[np.nan, 1.0]]), np.ones((1, 1))], None, "W_1 contains NaN or inf"),
    ([np.ones((3, 2)), np.ones((1, 3))], [np.ones(3), np.array([np.inf])], "b_2 contains NaN or inf"),
    ([np.ones((3, 2)), np.ones((1, 3))], [np.ones(2), np.ones(1)], r"b_1 has shape \(2,\), expected \(3,\)"),
    ([np.ones((3, 2)), np.ones((1, 3))], [np.ones(3)], "1 bias vectors for 2 weight matrices"),
])
def test_malformed_networks_are_refused(weights, biases, message):
    with pytest.raises(ValueError, match=message) as err:
        eq.coarsest_equitable_partition(weights, biases)
    assert "\n" not in str(err.value)


def test_bad_options_are_refused_with_the_accepted_values():
    with pytest.raises(ValueError, match="accepted: both, incoming, outgoing"):
        eq.coarsest_equitable_partition(W_OK, B_OK, direction="sideways")
    with pytest.raises(ValueError, match=r"tol must lie in \(0, 1\)"):
        eq.coarsest_equitable_partition(W_OK, B_OK, tol=0.0)
    with pytest.raises(ValueError, match="accepted: uniform, equitable, incoming"):
        eq.clone(W_OK, B_OK, [np.ones(3, dtype=int)], split="random")
    with pytest.raises(ValueError, match="sizes must be positive integers"):
        eq.clone(W_OK, B_OK, [np.array([1, 0, 2])])
    with pytest.raises(ValueError, match="does not match hidden layer 1 of width 3"):
        eq.unit_graph(W_OK, B_OK, [np.ones((10, 4))])
    with pytest.raises(ValueError, match="activations\\[0\\] contains NaN or inf"):
        eq.unit_graph(W_OK, B_OK, [np.full((10, 3), np.nan)])
