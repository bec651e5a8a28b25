"""Unit-equivalence: colour refinement recovers planted clones and nothing else, the quotient is the
base network, one network in three forms (arrays, DAG, torch) that agree, unit graphs, the checks, and
bad input."""

import doctest

import numpy as np
import pytest
import sympy as sp
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

import cases.equivalence as eq
import cases.graphs as graphs
import numerics.clone as C
import theory.partition as partition_module
from checks import cloned as checks
from numerics.models import MLP, dag_gradient, from_layered, hidden_activations, seeded, to_layered
from reports.figures import svg
from theory import net
from theory.evidence import Config, Figure
from theory.net import Layered
from theory.partition import Partition, quotient_network

PROPERTY = settings(max_examples=25, deadline=None)
SPLITS = ("uniform", "equitable", "incoming")


def base_network(widths, seed, activation="relu") -> Layered:
    """Random weights W_l ~ N(0, 1/fan_in) and biases ~ N(0, 0.1²): generic, so no two units agree."""
    rng = np.random.default_rng(seed)
    W = [rng.standard_normal((b, a)) / np.sqrt(a) for a, b in zip(widths[:-1], widths[1:])]
    return Layered(W, [0.1 * rng.standard_normal(n) for n in widths[1:]], activation)


def planted_clone(widths, sizes, seed, split="uniform", activation="relu"):
    """(base MLP, its clone, the planted partition): the one clone builder over blocks of ``sizes``
    scattered over each layer; "equitable" adds a doubly centred perturbation (equitable, not
    block-constant), "incoming" splits the outgoing weights at random (forward clones only)."""
    base = from_layered(base_network(widths, seed, activation))
    P = C.from_sizes(widths, sizes, permute=np.random.default_rng(seed))
    fractions = C.random_split(P, 0.5, torch.Generator().manual_seed(seed)) if split == "incoming" else None
    wide = C.clone(base, P, fractions)
    if split == "equitable":
        C.equitable_perturbation(wide, P, 0.5, torch.Generator().manual_seed(seed))
    return base, wide, P


@st.composite
def planted(draw, max_depth=3, max_width=6):
    """A random MLP (1–3 hidden layers) and a random partition of its clone: block sizes 1–4."""
    hidden = draw(st.lists(st.integers(1, max_width), min_size=1, max_size=max_depth))
    widths = [draw(st.integers(1, 5)), *hidden, draw(st.integers(1, 3))]
    sizes = [np.array(draw(st.lists(st.integers(1, 4), min_size=n, max_size=n))) for n in hidden]
    return widths, sizes, draw(st.integers(0, 2**16))


def singletons(P: Partition, widths) -> bool:
    return P.block_counts() == list(widths)


def scale(network: Layered) -> float:
    return max(float(np.abs(w).max()) for w in network.weights + network.biases)


# ---- the theorem-shaped properties ------------------------------------------------------------

@PROPERTY
@given(planted(), st.sampled_from(["uniform", "equitable"]))
def test_refinement_of_every_exact_clone_recovers_the_planted_partition(case, split):
    widths, sizes, seed = case
    _, wide, P = planted_clone(widths, sizes, seed, split)
    network = to_layered(wide)
    found, rounds = eq.coarsest_equitable_partition(network)
    assert found == P
    assert rounds >= 1
    # refinement keeps units whose block sums are within 2q, so the equitable distance is ≤ 4q
    assert C.family_distance(wide, found).value <= 4 * eq.TOL * scale(network)
    reference = eq.digraph_partition(network, eq.refine_digraph(eq.weighted_dag(network))[0])
    assert reference == found  # the networkx reference agrees


@PROPERTY
@given(planted(max_width=12))
def test_random_networks_have_only_singletons(case):
    widths, _, seed = case
    assert singletons(eq.coarsest_equitable_partition(base_network(widths, seed))[0], widths)


def test_torch_default_init_has_only_singletons():
    network = to_layered(seeded([8, 32, 32, 3], seed=0))
    assert network.features is None
    assert singletons(eq.coarsest_equitable_partition(network)[0], [8, 32, 32, 3])


@PROPERTY
@given(planted(), st.sampled_from(SPLITS))
def test_quotient_of_a_clone_is_its_base_network(case, split):
    widths, sizes, seed = case
    base, wide, P = planted_clone(widths, sizes, seed, split, "tanh")
    q, b = quotient_network(to_layered(wide), P), to_layered(base)
    assert all(np.allclose(x, y, rtol=0, atol=1e-12)
               for x, y in zip(q.weights + q.biases, b.weights + b.biases))
    X = torch.randn(7, widths[0], dtype=torch.float64, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        assert torch.allclose(wide(X), base(X), rtol=0, atol=1e-12)


def test_quotient_averages_over_the_receiving_block_not_the_source_block():
    # one input → a block of 2 clones → a block of 3 clones → output; sizes differ on purpose
    b = base_network([1, 1, 1, 1], seed=3)
    P = C.from_sizes([1, 1, 1, 1], [[2], [3]])
    wide = to_layered(C.clone(from_layered(b), P))
    q = quotient_network(wide, P)
    assert np.isclose(q.weights[1][0, 0], b.weights[1][0, 0])
    claims_md = wide.weights[1].sum() / 2  # (1/|S_i|) Σ w(u, v), S_i the source block of size 2
    assert np.isclose(claims_md, b.weights[1][0, 0] * 3 / 2)  # off by |S_j|/|S_i| = 3/2: not the base


@PROPERTY
@given(planted())
def test_forward_only_clones_are_not_merged(case):
    """Net2Net split: incoming-equitable (forward clones, recovered by incoming-only refinement)
    but not outgoing-equitable, so two-sided refinement never keeps clones with unequal outgoing
    sums together."""
    widths, sizes, seed = case
    _, wide, P = planted_clone(widths, sizes, seed, "incoming")
    network = to_layered(wide)
    assert eq.coarsest_equitable_partition(network, direction="incoming")[0] == P
    found = eq.coarsest_equitable_partition(network)[0]
    assert C.Gauge(wide, found).outgoing().value <= 2 * eq.TOL * scale(network)
    if any(s.max() > 1 for s in sizes):
        # the planted split is detectably not outgoing-equitable (a random split can come out nearly
        # equal: 1e-3 · scale failed 2 of 1000 draws), so two-sided refinement must not return it
        assert C.Gauge(wide, P).outgoing().value > 1e3 * eq.TOL * scale(network)
        assert found != P


def test_outgoing_direction_alone_ignores_incoming_weights():
    network = Layered([np.array([[1.0], [2.0]]), np.array([[0.5, 0.5]])])  # unequal inputs, equal outputs
    outgoing, _ = eq.coarsest_equitable_partition(network, direction="outgoing")
    assert outgoing.layer_labels(1).tolist() == [0, 0]
    assert eq.coarsest_equitable_partition(network)[0].layer_labels(1).tolist() == [0, 1]


# ---- one network, three forms -----------------------------------------------------------------

@PROPERTY
@given(planted(max_depth=2, max_width=4))
def test_arrays_dag_and_torch_are_one_network(case):
    """Layered → DAG → Layered is the identity, and the DAG's gradient (``dag_gradient``, one torch
    op per unit) equals the MLP's (one matmul per layer): two implementations, one function."""
    widths, _, seed = case
    network = base_network(widths, seed, "tanh")
    G, w = network.to_dag()
    back = Layered.from_dag(G, w, "tanh")
    assert all(np.array_equal(x, y)
               for x, y in zip(back.weights + back.biases, network.weights + network.biases))
    rng = np.random.default_rng(seed)
    X, Y = rng.standard_normal((5, widths[0])), rng.standard_normal((5, widths[-1]))
    model = from_layered(network)
    (0.5 * ((model(torch.from_numpy(X)) - torch.from_numpy(Y)) ** 2).sum()).backward()
    g = dag_gradient(G, w, X, Y)
    for k, lin in enumerate(model.linears, 1):
        src, dst = network.nodes(k - 1), network.nodes(k)
        Wg = np.array([[g[(u, v)] for u in src] for v in dst])
        bg = np.array([g[(net.BIAS, v)] for v in dst])
        assert np.allclose(Wg, lin.weight.grad.numpy(), rtol=1e-12, atol=1e-14)
        assert np.allclose(bg, lin.bias.grad.numpy(), rtol=1e-12, atol=1e-14)


def test_the_dag_quotient_and_the_layered_one_are_one_quotient():
    """``quotient_network`` is ``partition.quotient`` of the DAG, with symbolic weights too."""
    G = net.mlp("1-2-1")
    P = partition_module.partition(G, [["h1.0", "h1.1"]])
    w = {e: sp.Symbol(f"w{k}") for k, e in enumerate(sorted(G.edges))}
    B = partition_module.quotient(G, P, w)
    i, j = P.block_of["h1.0"], P.block_of["y0"]
    assert sp.simplify(B.edges[i, j]["weight"] - (w[("h1.0", "y0")] + w[("h1.1", "y0")])) == 0


def test_mlp_round_trip_and_activations():
    network = base_network([3, 5, 2], seed=4, activation="tanh")
    model = from_layered(network)
    again = to_layered(model)
    assert all(np.array_equal(x, y)
               for x, y in zip(network.weights + network.biases, again.weights + again.biases))
    X = torch.randn(9, 3, dtype=torch.float64)
    (H,) = hidden_activations(model, X)
    assert H.shape == (9, 5) and np.allclose(H, np.tanh(X.numpy() @ network.weights[0].T + network.biases[0]))
    assert model.training  # mode restored


# ---- tolerance --------------------------------------------------------------------------------

def test_rounding_noise_below_tolerance_keeps_clones_and_larger_noise_splits_them():
    _, wide, P = planted_clone([5, 8, 8, 2], [np.full(8, 3)] * 2, 1, "equitable")
    network = to_layered(wide)
    rng = np.random.default_rng(0)
    for noise, kept in ((1e-3 * eq.TOL, True), (1e3 * eq.TOL, False)):
        noisy = Layered([w + noise * rng.standard_normal(w.shape) for w in network.weights], network.biases)
        assert (eq.coarsest_equitable_partition(noisy)[0] == P) is kept


def test_leader_check_splits_a_chain_wider_than_the_tolerance():
    # incoming weights 1, 1 + 0.9q, 1 + 1.8q: within q of the leader, or not
    tol = 1e-3
    q = tol * (1 + 1.8e-3)
    network = Layered([np.array([[1.0], [1 + 0.9 * q], [1 + 1.8 * q]]), np.ones((1, 3))])
    assert eq.coarsest_equitable_partition(network, tol=tol)[0].layer_labels(1).tolist() == [0, 0, 1]


def test_features_must_agree_for_units_to_merge():
    _, wide, P = planted_clone([3, 2, 1], [np.array([2, 2])], 0)
    network = to_layered(wide)
    same = Layered(network.weights, network.biases, features=[np.column_stack([np.ones(4), np.zeros(4)])])
    differ = Layered(network.weights, network.biases,
                     features=[np.column_stack([np.arange(4.0), np.zeros(4)])])
    assert eq.coarsest_equitable_partition(same)[0] == P
    assert singletons(eq.coarsest_equitable_partition(differ)[0], [3, 4, 1])


def test_normalization_parameters_become_features():
    assert [f.shape for f in to_layered(MLP([3, 4, 2], norm="layer").double()).features] == [(4, 2)]
    assert [f.shape for f in to_layered(MLP([3, 4, 2], norm="batch").double()).features] == [(4, 4)]


# ---- unit-equivalence graphs ------------------------------------------------------------------

def test_unit_graph_joins_exact_clones_by_cliques_and_records_attributes():
    base = from_layered(base_network([3, 2, 2], seed=2))
    P = C.from_sizes([3, 2, 2], [[3, 1]])
    wide = C.clone(base, P)
    network = to_layered(wide)
    X = np.random.default_rng(0).standard_normal((50, 3))
    H = np.maximum(X @ network.weights[0].T + network.biases[0], 0)
    H[:, 3] = 0.0  # a dead unit
    G = graphs.unit_graph(network, [H], cosine=None)
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
    network = Layered([rng.standard_normal((6, 3)), rng.standard_normal((1, 6))])
    G = graphs.unit_graph(network, [H], equitable=None)
    assert list(G.edges(data="kinds")) == [((1, 1), (1, 4), ("cosine",))]
    assert G.edges[(1, 1), (1, 4)]["cosine"] > 0.99
    Csim = graphs.cosine_similarity(rng.standard_normal((2000, 50)))
    assert np.abs(Csim[np.triu_indices(50, 1)]).max() < 0.2  # independent columns: far below 0.95


def test_weight_distance_edges_join_near_equal_incoming_weights():
    network = Layered([np.array([[1.0, 2.0], [1.01, 2.0], [-2.0, 1.0]]), np.ones((1, 3))])
    G = graphs.unit_graph(network, equitable=None, distance=0.05)
    assert list(G.edges) == [((1, 0), (1, 1))] and G.edges[(1, 0), (1, 1)]["distance"] < 0.01
    assert np.allclose(np.diag(graphs.weight_distance(network.weights[0])), 0)


def test_graph_data_draws_as_svg_and_subsamples_large_graphs():
    _, wide, _ = planted_clone([4, 60, 60, 2], [np.full(60, 2)] * 2, 0)
    data = graphs.graph_data(graphs.unit_graph(to_layered(wide)), "clone")
    assert len(data["nodes"]) == 240 and all(e["kinds"] == ["exact"] for e in data["edges"])
    drawn = svg(Figure("a clone", graph=data))
    assert drawn.startswith("<svg") and "showing 100 of 240 units" in drawn
    small = svg(Figure("a base", graph=graphs.graph_data(graphs.unit_graph(base_network([2, 3, 1], seed=0)))))
    assert small.startswith("<svg") and "showing" not in small


def test_partition_forms_agree():
    by_labels = Partition.layered([np.arange(2), np.array([1, 0, 1]), np.arange(1)])
    by_blocks = Partition.layered([[(0,), (1,)], [(1,), (0, 2)], [(0,)]])
    assert by_labels == by_blocks and by_labels.nontrivial == [("h1.0", "h1.2")]
    assert by_labels.block_counts() == [2, 2, 1] and by_labels.nontrivial_counts() == [0, 1, 0]


def test_module_examples_run():
    for module in (eq, graphs, partition_module, C):
        assert doctest.testmod(module).failed == 0, module.__name__


# ---- checks -----------------------------------------------------------------------------------

def test_checks_reach_their_verdicts():
    config = Config(quick=True, progress=False)
    planted_ev = checks.refinement_recovers_planted(config)
    assert planted_ev.verdict == "confirmed" and planted_ev.kind == "case"
    assert planted_ev.measured["recovered_after_training_count"] == planted_ev.measured["trials"]
    assert planted_ev.figures and planted_ev.figures[0].graph["nodes"]
    random_ev = checks.refinement_control_random_init(config)
    assert random_ev.verdict == "refuted" and random_ev.setting["control"] is True
    assert random_ev.counterexample["partition"] == "all singletons"
    incoming_ev = checks.refinement_control_incoming_only(config)
    assert incoming_ev.verdict == "refuted" and incoming_ev.setting["control"] is True
    assert incoming_ev.measured["incoming_refinement_blocks"] == incoming_ev.measured["planted_blocks"]
    for ev in (planted_ev, random_ev, incoming_ev):
        ev.to_json()
        assert ev.claim == "cloned.trajectory"


def test_refinement_needs_a_second_round_when_a_split_propagates():
    """Units u, v of layer 2 receive the same total from layer 1 (1 + 2 = 2 + 1) and send the same
    weight on, so the first round, which sees layer 1 as one block, keeps them together; only after
    layer 1 splits (its units have different input weights) does the second round tell them apart.
    A refinement that stopped after one round would merge them."""
    network = Layered([np.array([[1.0], [2.0]]), np.array([[1.0, 2.0], [2.0, 1.0]]), np.array([[1.0, 1.0]])])
    P, rounds = eq.coarsest_equitable_partition(network)
    assert P.layer_labels(2).tolist() == [0, 1] and rounds >= 2
    assert eq.digraph_partition(network, eq.refine_digraph(eq.weighted_dag(network))[0]) == P


# ---- bad input --------------------------------------------------------------------------------

@pytest.mark.parametrize("labels, message", [
    ([np.arange(2), [(0, 1), (1, 2)], np.arange(1)], "unit 1 is in two blocks"),
    ([np.arange(2), [(0, 1), (3,)], np.arange(1)], "outside 0..2"),
    ([np.arange(2), [(0, 1, 2), ()], np.arange(1)], "block 1 is empty"),
    ([np.arange(2), np.array([0.0, 1.0, 1.0]), np.arange(1)], "expected integer labels"),
    ([np.array([0, 0]), np.arange(3), np.arange(1)], "inputs and outputs must be singletons"),
    ([np.arange(3)], "needs labels for every layer"),
])
def test_a_partition_that_is_not_a_partition_is_refused(labels, message):
    with pytest.raises(ValueError, match=message) as err:
        Partition.layered(labels)
    assert "\n" not in str(err.value)


def test_a_partition_of_another_network_is_refused():
    with pytest.raises(ValueError, match="partition is of a network of widths"):
        quotient_network(base_network([2, 3, 1], seed=0),
                         Partition.layered([np.arange(2), np.arange(4), np.arange(1)]))


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
        Layered(weights, biases)
    assert "\n" not in str(err.value)


def test_bad_options_are_refused_with_the_accepted_values():
    network = base_network([2, 3, 1], seed=0)
    with pytest.raises(ValueError, match="accepted: both, incoming, outgoing"):
        eq.coarsest_equitable_partition(network, direction="sideways")
    with pytest.raises(ValueError, match=r"tol must lie in \(0, 1\)"):
        eq.coarsest_equitable_partition(network, tol=0.0)
    with pytest.raises(ValueError, match="spread must lie in"):
        C.random_split(C.expand([2, 3, 1], 2), 1.5, torch.Generator())
    with pytest.raises(ValueError, match="must be positive integers"):
        C.from_sizes([2, 3, 1], [np.array([1, 0, 2])])
    with pytest.raises(ValueError, match="does not match hidden layer 1 of width 3"):
        graphs.unit_graph(network, [np.ones((10, 4))])
    with pytest.raises(ValueError, match=r"activations\[0\] contains NaN or inf"):
        graphs.unit_graph(network, [np.full((10, 3), np.nan)])
    with pytest.raises(ValueError, match="no DAG form"):
        to_layered(MLP([2, 3, 1], norm="layer").double()).to_dag()


def test_refinement_reads_the_loss_of_a_trained_clone():
    """SGD keeps an exact clone exactly on its partition (the refinement check's second stage)."""
    _, wide, P = planted_clone([3, 4, 2], [np.array([2, 1, 3, 2])], 7, "equitable", "tanh")
    X = torch.randn(16, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    opt = torch.optim.SGD(wide.parameters(), lr=0.1)
    for _ in range(20):
        opt.zero_grad()
        F.mse_loss(wide(X), torch.zeros(16, 2, dtype=torch.float64)).backward()
        opt.step()
    assert eq.coarsest_equitable_partition(to_layered(wide))[0] == P
