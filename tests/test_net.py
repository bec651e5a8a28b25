"""The DAG network formalism: builders, bad input, and the δ recursion against sympy.diff."""

import networkx as nx
import pytest
import sympy as sp
from hypothesis import given, settings
from hypothesis import strategies as st

from cases.generator import random_architecture
from theory import net


def test_mlp_builds_layers_units_and_bias_edges():
    G = net.mlp("3-4-4-1", activation="tanh")
    assert net.inputs(G) == ["x0", "x1", "x2"] and net.outputs(G) == ["y0"]
    assert [G.nodes[v]["layer"] for v in ("x0", "h1.0", "h2.3", "y0")] == [0, 1, 2, 3]
    assert G.number_of_edges() == 3 * 4 + 4 * 4 + 4 * 1 + (4 + 4 + 1)  # weights + one bias per unit
    assert net.incoming(G, "h2.0") == sorted([(net.BIAS, "h2.0")] + [(f"h1.{i}", "h2.0") for i in range(4)])
    assert {G.nodes[v]["activation"] for v in G if G.nodes[v]["kind"] == "hidden"} == {"tanh"}
    assert G.nodes["y0"]["activation"] == "identity"
    assert net.BIAS not in net.mlp("2-1", bias=False)


@pytest.mark.parametrize("spec", ["", "3", "3-", "3--1", "0-2-1", "3-0-1", "a-b", "3-4-1 ", "-3-1", "03-1x"])
def test_bad_architecture_strings_name_the_accepted_form(spec):
    with pytest.raises(ValueError, match=r"is not of the form 'IN-H1-\.\.\.-OUT' .* e\.g\. '3-4-4-1'"):
        net.mlp(spec)


def test_bad_builder_arguments_are_rejected():
    with pytest.raises(ValueError, match="accepted: relu"):
        net.mlp("2-2-1", activation="swish2")
    with pytest.raises(ValueError, match="accepted: relu"):
        net.random_dag(2, 2, 1, activation="nope")
    with pytest.raises(ValueError, match="n_inputs >= 1"):
        net.random_dag(0, 2, 1)
    with pytest.raises(ValueError, match="0 < p <= 1"):
        net.random_dag(2, 2, 1, p=0.0)
    with pytest.raises(ValueError, match="accepted: generic, mse, cross_entropy"):
        net.loss_of(net.mlp("1-1"), [sp.Integer(0)], [sp.Integer(0)], loss="hinge")
    with pytest.raises(ValueError, match="accepted: mlp, dag"):
        random_architecture(0, kind="resnet")


@settings(max_examples=30, deadline=None)
@given(n_in=st.integers(1, 3), n_hidden=st.integers(0, 6), n_out=st.integers(1, 3),
       p=st.floats(0.05, 1.0), seed=st.integers(0, 2**31 - 1))
def test_random_dag_is_a_dag_whose_hidden_units_all_reach_an_output(n_in, n_hidden, n_out, p, seed):
    G = net.random_dag(n_in, n_hidden, n_out, p=p, seed=seed)
    assert nx.is_directed_acyclic_graph(G)
    ys = net.outputs(G)
    for v in G:
        kind = G.nodes[v]["kind"]
        preds = [u for u in G.predecessors(v) if u != net.BIAS]
        if kind in ("input", "bias"):
            assert not preds
        else:
            assert preds and G.nodes[v]["layer"] == 1 + max(G.nodes[u]["layer"] for u in preds)
        if kind == "hidden":
            assert any(nx.has_path(G, v, y) for y in ys), f"{v} reaches no output"


def test_forward_on_a_tiny_relu_net_matches_the_hand_computation():
    G = net.mlp("1-1-1", activation="relu")
    w = {("x0", "h1.0"): 2, (net.BIAS, "h1.0"): -1, ("h1.0", "y0"): 3, (net.BIAS, "y0"): 1}
    z, h = net.forward(G, {"x0": sp.Integer(2)}, w)
    assert (z["h1.0"], h["h1.0"], h["y0"]) == (3, 3, 10)
    z, h = net.forward(G, {"x0": sp.Integer(0)}, w)
    assert (z["h1.0"], h["h1.0"], h["y0"]) == (-1, 0, 1)


@settings(max_examples=8, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), kind=st.sampled_from(["dag", "mlp"]))
def test_backward_equals_sympy_diff_of_the_loss(seed, kind):
    """The paper's δ recursion gives ∂ℓ/∂w(u, v) = δ(v) f'_v(z(v)) h(u) for every edge, with
    generic per-unit activations and a generic loss ℓ."""
    G = random_architecture(seed, kind, activation="generic", output_activation="generic")
    w = net.weight_symbols(G)
    (x,), (t,) = net.input_symbols(G, 1), net.target_symbols(G, 1)
    z, h = net.forward(G, x, w)
    yhat = [h[o] for o in net.outputs(G)]
    loss = net.loss_of(G, yhat, t)
    # ∂ℓ/∂ŷ_k as the derivative of ℓ in its k-th slot, evaluated at ŷ
    slots = sp.symbols(f"s0:{len(yhat)}", real=True)
    ell = net.loss_of(G, list(slots), t)
    dl_dh = {o: sp.diff(ell, s).subs(dict(zip(slots, yhat))) for o, s in zip(net.outputs(G), slots)}
    _, grad = net.backward(G, z, h, w, dl_dh)
    for e, s in w.items():
        assert sp.expand(grad[e] - sp.diff(loss, s)) == 0, e


def test_dataset_loss_is_the_sum_of_per_sample_losses():
    G = net.mlp("2-2-1", activation="tanh")
    w = net.weight_symbols(G)
    X, T = net.input_symbols(G, 3), net.target_symbols(G, 3)
    total, zs = net.dataset_loss(G, X, T, w, loss="mse")
    parts = [net.dataset_loss(G, [x], [t], w, loss="mse")[0] for x, t in zip(X, T)]
    assert sp.expand(total - sum(parts)) == 0 and len(zs) == 3
