"""cloned.* in the words of the theorems: for every network and every equitable partition the
gradient is block-constant (symbolic on small networks, float64 torch gradients on larger ones);
every negative control is refuted; dim M_D is the number of connected block pairs; a partition
that is not one is rejected."""

import json

import numpy as np
import pytest
import sympy as sp
import torch
from hypothesis import assume, given, settings
from hypothesis import strategies as st

import checks.cloned
from cases.generator import pruned_case
from theory import activations, cloned, manifolds, net
from theory.evidence import Config, dump_json
from theory.invariance import forward_differences, normal_gradient, prove
from theory.partition import block_pairs, partition, quotient, unequal_degree_pairs

SMOOTH = ("tanh", "sigmoid", "softplus", "silu", "gelu")
QUICK = Config(quick=True)


# ---- strategies -------------------------------------------------------------------------------

@st.composite
def mlps(draw, max_width: int = 4, max_depth: int = 2):
    hidden = draw(st.lists(st.integers(2, max_width), min_size=1, max_size=max_depth))
    widths = [draw(st.integers(1, 2)), *hidden, draw(st.integers(1, 2))]
    return net.mlp("-".join(map(str, widths)), activation="generic:f", output_activation="generic:g")


@st.composite
def dags(draw, max_hidden: int = 4):
    return net.random_dag(draw(st.integers(1, 2)), draw(st.integers(2, max_hidden)), draw(st.integers(1, 2)),
                          p=draw(st.floats(0.3, 0.9)), seed=draw(st.integers(0, 2**16)),
                          activation="generic:f", output_activation="generic:g")


@st.composite
def partitions(draw, G, max_size: int = 3):
    """Any valid partition with at least one block of two or more units (all singletons would make
    every statement vacuous): a drawn pair of hidden units without an edge between them opens the
    first block, then the other hidden units in a drawn order, cut into blocks of ≤ max_size at drawn
    places; a unit that has an edge to a unit already in its block starts a new block. Networks
    whose hidden units are pairwise adjacent admit no such partition and are skipped."""
    hidden = [v for v in net.units(G) if G.nodes[v]["kind"] == "hidden"]
    pairs = [(u, v) for i, u in enumerate(hidden) for v in hidden[i + 1:]
             if not (G.has_edge(u, v) or G.has_edge(v, u))]
    assume(pairs)
    first = draw(st.sampled_from(pairs))
    order = draw(st.permutations([v for v in hidden if v not in first]))
    cuts = draw(st.lists(st.booleans(), min_size=len(order), max_size=len(order)))
    blocks: list[list[str]] = [list(first)]
    for v, cut in zip(order, cuts):
        block = blocks[-1] if blocks else None
        if (block is None or cut or len(block) == max_size
                or any(G.has_edge(u, v) or G.has_edge(v, u) for u in block)):
            blocks.append([v])
        else:
            block.append(v)
    return partition(G, blocks)


def networks(max_width: int = 4, max_depth: int = 2, max_hidden: int = 4):
    return st.one_of(mlps(max_width, max_depth), dags(max_hidden))


# ---- numeric gradients of a DAG in torch float64 ----------------------------------------------

def torch_gradient(G, theta: np.ndarray, X: np.ndarray, Y: np.ndarray, act: dict[str, str]) -> np.ndarray:
    """∇L of L = ½ Σ_i ‖ŷ(x_i) − y_i‖², z(v) = Σ_u w(u, v) h(u) in topological order, by autograd."""
    edges = sorted(G.edges)
    index = {e: k for k, e in enumerate(edges)}
    w = torch.tensor(theta, dtype=torch.float64, requires_grad=True)
    x = torch.tensor(X, dtype=torch.float64)
    h = {v: x[:, k] for k, v in enumerate(net.inputs(G))}
    h[net.BIAS] = torch.ones(len(X), dtype=torch.float64)
    for v in net.units(G):
        z = sum(w[index[(u, v)]] * h[u] for u in G.predecessors(v))
        h[v] = activations.get(act[v]).torch_fn(z)
    yhat = torch.stack([h[o] for o in net.outputs(G)], dim=1)
    loss = 0.5 * ((yhat - torch.tensor(Y, dtype=torch.float64)) ** 2).sum()
    loss.backward()
    return w.grad.numpy()


def project(M: manifolds.AffineManifold, theta: np.ndarray) -> np.ndarray:
    """Orthogonal projection onto the linear space {A θ = 0}."""
    if not M.rows:
        return theta
    A = np.array(M.A.tolist(), dtype=float)
    return theta - np.linalg.pinv(A) @ (A @ theta)


def block_spread(G, P, g: np.ndarray) -> float:
    """max over connected block pairs of (max − min) of the gradient entries in the pair."""
    index = {e: k for k, e in enumerate(sorted(G.edges))}
    return max(np.ptp([g[index[e]] for e in es]) for es in block_pairs(G, P).values())


def numeric_setting(G, P, seed: int):
    rng = np.random.default_rng(seed)
    act = {}
    for block in P.blocks:
        name = SMOOTH[rng.integers(len(SMOOTH))]
        act.update({v: name if G.nodes[v]["kind"] == "hidden" else "identity" for v in block})
    X = rng.normal(size=(6, len(net.inputs(G))))
    Y = rng.normal(size=(6, len(net.outputs(G))))
    return rng.normal(size=G.number_of_edges()), X, Y, act


# ---- the theorem: block-constant gradients ----------------------------------------------------

@settings(max_examples=6, deadline=None)
@given(data=st.data())
def test_every_equitable_partition_gives_block_constant_gradients_symbolically(data):
    G = data.draw(networks(max_width=3, max_depth=2, max_hidden=3))
    P = data.draw(partitions(G))
    H = cloned.block_activations(G, P)
    proof = prove(H, manifolds.equitable(G, P), normal_gradient(manifolds.block_constant(G, P)))
    assert proof.verdict == "proved", proof.nonzero[:1]
    assert all(r.expr == 0 for r in proof.reductions)


@settings(max_examples=15, deadline=None)
@given(data=st.data(), seed=st.integers(0, 2**16))
def test_every_equitable_partition_gives_block_constant_gradients_numerically(data, seed):
    G = data.draw(networks(max_width=8, max_depth=3, max_hidden=10))
    P = data.draw(partitions(G))
    theta, X, Y, act = numeric_setting(G, P, seed)
    theta = project(manifolds.equitable(G, P), theta)
    g = torch_gradient(G, theta, X, Y, act)
    # float64: clones' pre-activations agree to rounding (summation order differs); 1e-9 relative
    # is ~10⁶ ulps, far above depth × ulps and far below a genuine difference.
    assert block_spread(G, P, g) <= 1e-9 * (1 + np.abs(g).max())


@settings(max_examples=10, deadline=None)
@given(G=mlps(max_width=6, max_depth=2), seed=st.integers(0, 2**16))
def test_incoming_equitable_alone_does_not_give_block_constant_gradients(G, seed):
    """Negative control on random MLPs: a generic point of the incoming-equitable manifold (one
    block of two units in the first hidden layer) breaks outgoing equitability, and the gradients
    of the forward clones differ."""
    P = partition(G, [["h1.0", "h1.1"]])
    theta, X, Y, act = numeric_setting(G, P, seed)
    theta = project(manifolds.incoming_equitable(G, P), theta)
    g = torch_gradient(G, theta, X, Y, act)
    assert block_spread(G, P, g) > 1e-6 * (1 + np.abs(g).max())


# ---- the derived conditions -------------------------------------------------------------------

def test_incoming_equitable_sums_over_senders_and_outgoing_over_receivers():
    """Block S = {h1.0, h1.1} feeding block T = {h2.0, h2.1}: with W[u, v] (rows = senders) the
    incoming condition fixes column sums, the outgoing condition row sums."""
    G = net.mlp("1-2-2-1")
    P = partition(G, [["h1.0", "h1.1"], ["h2.0", "h2.1"]])
    base = {e: sp.Integer(1) for e in G.edges}

    def with_block(W):
        return {**base, **{(f"h1.{a}", f"h2.{b}"): sp.Integer(W[a][b]) for a in (0, 1) for b in (0, 1)}}

    equal_columns = with_block([[1, 3], [4, 2]])  # column sums 5, 5; row sums 4, 6
    equal_rows = with_block([[1, 3], [2, 2]])  # row sums 4, 4; column sums 3, 5
    IE, OE = manifolds.incoming_equitable(G, P), manifolds.outgoing_equitable(G, P)
    assert IE.contains(equal_columns) and not OE.contains(equal_columns)
    assert OE.contains(equal_rows) and not IE.contains(equal_rows)
    # the classic λ/(1 − λ) split of a duplicated unit's outgoing weight is incoming- but not
    # outgoing-equitable
    split = {**base, ("h2.0", "y0"): sp.Rational(1, 4), ("h2.1", "y0"): sp.Rational(3, 4)}
    assert IE.contains(split) and not OE.contains(split)


def test_manifold_bases_and_dimensions_agree():
    G = net.mlp("2-4-3-1")
    P = partition(G, [["h1.0", "h1.1"], ["h1.2", "h1.3"], ["h2.0", "h2.1"]])
    for M in (manifolds.incoming_equitable(G, P), manifolds.outgoing_equitable(G, P),
              manifolds.equitable(G, P), manifolds.block_constant(G, P)):
        assert len(M.tangent) == M.dimension and len(M.normal) == M.rank
        assert all((M.A * t).is_zero_matrix for t in M.tangent)
        theta, cs = M.parametrize()
        assert M.contains(theta) and len(cs) == M.dimension
    # block-constant directions are equitable here (every block pair is complete bipartite)
    E = manifolds.equitable(G, P)
    assert all((E.A * t).is_zero_matrix for t in manifolds.block_constant(G, P).tangent)


def test_frozen_manifold_fixes_the_incoming_weights():
    G = net.mlp("2-2-1")
    values = {e: sp.Rational(k, 3) for k, e in enumerate(net.incoming(G, "h1.0"))}
    M = manifolds.frozen(G, ["h1.0"], values)
    assert M.dimension == G.number_of_edges() - 3
    theta, _ = M.parametrize()
    assert M.contains(theta) and all(theta[e] == v for e, v in values.items())


# ---- dimension ---------------------------------------------------------------------------------

@settings(max_examples=25, deadline=None)
@given(data=st.data())
def test_dim_clone_manifold_is_the_number_of_connected_block_pairs(data):
    G = data.draw(networks(max_width=6, max_depth=3, max_hidden=8))
    P = data.draw(partitions(G))
    pairs = quotient(G, P).number_of_edges()
    assert manifolds.block_constant(G, P).dimension == pairs
    w0, _ = manifolds.equitable(G, P).parametrize("a")
    assert manifolds.clone_manifold(G, P, w0).dimension == pairs


def test_block_constant_directions_leave_equitability_exactly_when_degrees_differ():
    case = pruned_case()
    G, P = case.graph, case.partition
    assert unequal_degree_pairs(G, P)
    E = manifolds.equitable(G, P)
    assert not all((E.A * t).is_zero_matrix for t in manifolds.block_constant(G, P).tangent)


# ---- bad input ---------------------------------------------------------------------------------

@pytest.mark.parametrize("blocks, message", [
    ([["h1.0", "h1.1"], ["h1.1", "h1.2"]], "disjoint"),
    ([["h1.0", "h9.9"]], "not a node"),
    ([[]], "empty"),
    ([["x0", "x1"]], "input node"),
    ([["y0", "h1.0"]], "output node"),
    ([["1", "h1.0"]], "bias node"),
    ([["h1.0", "h2.0"]], "inside the block"),
])
def test_a_partition_that_is_not_one_is_rejected(blocks, message):
    G = net.mlp("2-3-2-1")
    with pytest.raises(ValueError, match=message):
        partition(G, blocks)


def test_clone_manifold_needs_an_equitable_point():
    G = net.mlp("1-2-1")
    P = partition(G, [["h1.0", "h1.1"]])
    w = {e: sp.Integer(k) for k, e in enumerate(sorted(G.edges))}
    with pytest.raises(ValueError, match="equitable"):
        manifolds.clone_manifold(G, P, w)


# ---- the prover and the checks -----------------------------------------------------------------

def test_the_prover_returns_the_expressions_it_reduced():
    """In the second layer the incoming-equitable weights differ per edge, so z(h2.0) − z(h2.1)
    is a non-zero expression as computed that only expansion brings to 0."""
    case = cloned.mlp_case("1-2-2-1", [[2], [2]])
    H = cloned.block_activations(case.graph, case.partition)
    proof = prove(H, manifolds.incoming_equitable(case.graph, case.partition),
                  forward_differences(case.partition))
    assert proof.verdict == "proved"
    assert all(r.expr == 0 for r in proof.reductions)
    second = [r for r in proof.reductions if "h2.0" in r.label]
    assert second and all(r.before != 0 for r in second)


@pytest.mark.parametrize("check", [checks.cloned.control_incoming_only, checks.cloned.control_edge_in_block,
                                   checks.cloned.control_mixed_activations,
                                   checks.cloned.control_norm_unequal_affine])
def test_every_negative_control_is_refuted_with_a_counterexample(check):
    ev = check(QUICK)
    assert ev.setting["control"] is True
    assert ev.verdict == "refuted"
    assert ev.counterexample["nonzero"] and all(abs(v) > 1e-6 for v in ev.counterexample["nonzero"].values())
    json.loads(dump_json([ev]))


def test_the_checks_decide_their_claims():
    expected = {checks.cloned.forward: "proved", checks.cloned.backward: "proved",
                checks.cloned.trajectory: "proved", checks.cloned.dimension: "proved",
                checks.cloned.normalization: "proved", checks.cloned.trajectory_unequal_degrees: "qualified"}
    evidence = [check(QUICK) for check in expected]
    assert [e.verdict for e in evidence] == list(expected.values())
    trajectory = evidence[2]
    assert trajectory.measured["gd_max_residual_mpmath"] < trajectory.measured["gd_tolerance"]
    assert trajectory.measured["gd_moved_min"] > 0.1
    assert evidence[5].counterexample["gd"]["residual_M_D_per_step"][-1] > 1e-3
    json.loads(dump_json(evidence))


def test_base_network_computes_the_clone_function_with_unequal_block_sizes():
    """W̃_ij divides by the receiving block: a 1-unit block feeding a 3-unit block (each receiver
    gets c = 2 from it) has base weight 2, not 6 (CLAIMS.md's 1/|S_i| would give 6)."""
    G = net.mlp("1-1-3-1", activation="generic:f")
    P = partition(G, [["h2.0", "h2.1", "h2.2"]])
    w = {e: sp.Integer(2) if e == ("h1.0", e[1]) and e[1].startswith("h2") else sp.Integer(1)
         for e in G.edges}
    B = quotient(G, P, w)
    i, j = P.block_of["h1.0"], P.block_of["h2.0"]
    assert B.edges[i, j]["weight"] == 2
    k = P.block_of["y0"]
    assert B.edges[j, k]["weight"] == 3  # three senders of weight 1 into one receiver


def test_dimension_check_says_false_when_the_manifold_is_wrong(monkeypatch):
    """Negative control: a clone manifold that forgets its constraints (dimension = all edges)
    must be refuted against the number of connected block pairs."""
    loose = lambda G, P, w: manifolds.from_constraints("unconstrained", G, [])  # noqa: E731
    monkeypatch.setattr(manifolds, "clone_manifold", loose)
    ev = checks.cloned.dimension(Config(quick=True, progress=False))
    assert ev.verdict == "refuted"
    assert ev.counterexample["dim_M_D"] > ev.counterexample["base_edges"]
