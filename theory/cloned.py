"""Cloned units (paper §4, Prop. 4.1 (2); App. A.2, Prop. A.5), symbolically: networks whose blocks of
clones share their activation, points of the clone manifolds, gradient descent in exact arithmetic,
and networks with BatchNorm or LayerNorm before the activation.

Blocks S_1..S_k partition the units (``theory.partition``); units of one block share their
activation f_S (a hypothesis: the claim fails for clones computing different functions). Then, with
the conditions derived in ``theory.manifolds``:

- incoming-equitable weights (Σ_{u ∈ S_i} w(u, v) the same for every receiver v ∈ S_j) give
  z(v) = Σ_i h_i Σ_{u ∈ S_i} w(u, v), the same on each block, by induction along the DAG;
- incoming- and outgoing-equitable weights (also Σ_{v ∈ S_j} w(u, v) the same for every sender
  u ∈ S_i) give δ(u) = Σ_j δ_j f'_j(z_j) Σ_{v ∈ S_j} w(u, v), the same on each block, so
  ∂L/∂w(u, v) = Σ_x δ(v) f'(z(v)) h(u) depends only on (s(u), s(v)): block-constant;
- hence on M_D(w) = {w + T : T block-constant} the gradient is tangent, and every gradient step,
  on any batch, stays in M_D(w) — provided M_D(w) stays equitable, which needs every connected
  block pair to be biregular (``theory.partition.unequal_degree_pairs``).

``invariance.prove`` decides each statement; the families of networks it runs on are generated in
``cases.generator``.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import mpmath
import networkx as nx
import numpy as np
import sympy as sp

from theory import manifolds, net, updates
from theory.invariance import (
    Data,
    Quantity,
    Targets,
    backward_signals,
    combination,
    loss_gradient,
    normal_support,
    random_rational,
)
from theory.manifolds import AffineManifold, Edge
from theory.partition import Partition, partition, quotient

DPS = 50  # working precision of the exact-arithmetic gradient descent


@dataclass
class Case:
    graph: nx.DiGraph
    partition: Partition
    note: str


def block_activations(G: nx.DiGraph, P: Partition) -> nx.DiGraph:
    """A copy of G whose units of block S_i all compute one generic function f_{S_i}; a singleton
    unit v (outputs included) gets its own f_v."""
    H = G.copy()
    for i, block in enumerate(P.blocks):
        for v in block:
            if H.nodes[v]["kind"] in ("hidden", "output"):
                H.nodes[v]["activation"] = f"generic:f_{P.label(i)}"
    return H


def layer_blocks(spec: str, sizes: Sequence[Sequence[int]]) -> list[list[str]]:
    """Consecutive units of hidden layer k grouped by ``sizes[k-1]`` (e.g. [[2, 2], [3]])."""
    blocks = []
    for layer, parts in enumerate(sizes, start=1):
        start = 0
        for n in parts:
            blocks.append([f"h{layer}.{k}" for k in range(start, start + n)])
            start += n
    return blocks


def mlp_case(spec: str, sizes: Sequence[Sequence[int]], bias: bool = True) -> Case:
    G = net.mlp(spec, activation="generic:f", output_activation="generic:g", bias=bias)
    blocks = layer_blocks(spec, sizes)
    blocks_note = "/".join("+".join(map(str, s)) for s in sizes)
    note = f"MLP {spec}{'' if bias else ' (no biases)'}, blocks {blocks_note}"
    return Case(G, partition(G, blocks), note)


def concrete_network(G: nx.DiGraph, activation: str = "tanh") -> nx.DiGraph:
    """G with every hidden unit computing ``activation`` and identity outputs."""
    H = G.copy()
    for v in net.units(H):
        H.nodes[v]["activation"] = activation if H.nodes[v]["kind"] == "hidden" else "identity"
    return H


def random_point(M: AffineManifold, rng: random.Random) -> dict[Edge, sp.Rational]:
    """θ0 + Σ c_k t_k with random rational c_k: a rational point of M."""
    theta, cs = M.parametrize()
    at = {c: random_rational(rng) for c in cs}
    return {e: sp.Rational(sp.sympify(t).xreplace(at)) for e, t in theta.items()}


def descend(H: nx.DiGraph, w0: Mapping[Edge, sp.Rational], X: Data, Y: Targets, steps: int,
            batch: int, lr: sp.Rational, rng: random.Random, dtype: str = "mpmath"
            ) -> list[dict[Edge, Any]]:
    """Gradient descent on the squared error of H (the ``sgd`` map of ``theory.updates``), each
    step on a random batch of ``batch`` samples, in mpmath at the current working precision or
    in float64; returns θ(0), θ(1), …, θ(steps)."""
    edges = sorted(H.edges)
    sym = net.weight_symbols(H)
    xs, ys = net.input_symbols(H, 1)[0], net.target_symbols(H, 1)[0]
    g = loss_gradient(H, sym, [xs], [ys], "mse")
    args = [sym[e] for e in edges] + list(xs.values()) + list(ys)
    grad = sp.lambdify(args, [g[e] for e in edges], modules="mpmath" if dtype == "mpmath" else "numpy",
                       cse=True)
    num = (lambda r: mpmath.mpf(r.p) / r.q) if dtype == "mpmath" else float
    data = [[num(sp.Rational(x[k])) for k in xs] + [num(sp.Rational(v)) for v in y] for x, y in zip(X, Y)]
    theta = np.array([num(w0[e]) for e in edges], dtype=object if dtype == "mpmath" else float)
    sgd = updates.get("sgd")
    path = [dict(zip(edges, theta))]
    for t in range(1, steps + 1):
        chosen = rng.sample(range(len(data)), batch)
        gt = sum(np.array(grad(*theta, *data[i]), dtype=theta.dtype) for i in chosen)
        theta, _ = sgd.step(theta, gt, {}, t, {"lr": num(lr)})
        path.append(dict(zip(edges, theta)))
    return path


def max_residual(M: AffineManifold, theta: Mapping[Edge, Any]) -> float:
    return float(max((abs(r) for r in M.residual(theta)), default=0))


def descent_run(case: Case, seed: int, steps: int) -> dict[str, Any]:
    """Gradient descent from a random rational point θ(0) of M_D(w0), w0 a random rational
    equitable point: the largest residual |A θ(t) − b| of M_D(w0) over the run, in mpmath
    (``DPS`` digits) and float64, and how far θ moved."""
    rng = random.Random(seed)
    G, P = case.graph, case.partition
    MD = manifolds.clone_manifold(G, P, random_point(manifolds.equitable(G, P), rng))
    theta0 = random_point(MD, rng)
    H = concrete_network(G)
    samples, batch, lr = 4, 2, sp.Rational(1, 10)
    X = [{x: random_rational(rng) for x in net.inputs(G)} for _ in range(samples)]
    Y = [[random_rational(rng) for _ in net.outputs(G)] for _ in range(samples)]
    out: dict[str, Any] = {"network": case.note, "steps": steps, "samples": samples, "batch": batch,
                           "lr": str(lr)}
    with mpmath.workdps(DPS):
        path = descend(H, theta0, X, Y, steps, batch, lr, random.Random(seed), "mpmath")
        out["max_residual_mpmath"] = max(max_residual(MD, th) for th in path)
        out["moved"] = float(mpmath.sqrt(sum((path[-1][e] - path[0][e]) ** 2 for e in MD.edges)))
    path64 = descend(H, theta0, X, Y, steps, batch, lr, random.Random(seed), "float64")
    out["max_residual_float64"] = max(max_residual(MD, th) for th in path64)
    return out


def clone_gap(H: nx.DiGraph, P: Partition, theta: Mapping[Edge, Any], X: Data) -> float:
    """max |h(v) − h(v')| over the samples X and the members v, v' of each block, for H at the
    numeric weights θ (``net.forward`` on 30-digit SymPy floats)."""
    w = {e: sp.Float(str(t), 30) for e, t in theta.items()}
    gaps = [0.0]
    for x in X:
        _, h = net.forward(H, x, w)
        gaps += [abs(float(h[a] - h[b])) for block in P.nontrivial for a, b in zip(block[:-1], block[1:])]
    return max(gaps)


def normalized_forward(G: nx.DiGraph, X: Data, w: Mapping[Edge, sp.Expr], gamma: Mapping[str, sp.Expr],
                       beta: Mapping[str, sp.Expr], norm: str, eps: sp.Expr,
                       phi: net.Phi) -> list[dict[str, sp.Expr]]:
    """h for every sample of the batch X, for a layered network whose hidden units compute
    h(v) = f_v(γ_v ẑ(v) + β_v) with ẑ the standardized pre-activation:

        batch:  ẑ_i(v) = (z_i(v) − μ(v)) / √(σ²(v) + ε),  μ, σ² over the samples i of the batch;
        layer:  ẑ_i(v) = (z_i(v) − μ_i) / √(σ²_i + ε),    μ_i, σ²_i over the units v of v's layer.

    z(v) = Σ_u w(u, v) h(u) as in ``net.forward`` (which computes one sample and one unit at a
    time, so cannot couple them); outputs are not normalized."""
    hs = [{**({net.BIAS: sp.Integer(1)} if net.BIAS in G else {}), **x} for x in X]
    layers: dict[int, list[str]] = {}
    for v in net.units(G):
        layers.setdefault(G.nodes[v]["layer"], []).append(v)
    for layer in sorted(layers):
        units = layers[layer]
        z = [{v: sp.Add(*[w[(u, v)] * h[u] for u in G.predecessors(v)]) for v in units} for h in hs]
        hidden = [v for v in units if G.nodes[v]["kind"] == "hidden"]
        if norm == "batch":
            mu = {v: sp.Add(*[zi[v] for zi in z]) / len(z) for v in hidden}
            var = {v: sp.Add(*[(zi[v] - mu[v]) ** 2 for zi in z]) / len(z) for v in hidden}
            zhat = [{v: (zi[v] - mu[v]) / sp.sqrt(var[v] + eps) for v in hidden} for zi in z]
        else:
            zhat = []
            for zi in z:
                mu = sp.Add(*[zi[v] for v in hidden]) / len(hidden)
                var = sp.Add(*[(zi[v] - mu) ** 2 for v in hidden]) / len(hidden)
                zhat.append({v: (zi[v] - mu) / sp.sqrt(var + eps) for v in hidden})
        for h, zi, zh in zip(hs, z, zhat):
            for v in units:
                h[v] = phi(v, gamma[v] * zh[v] + beta[v]) if v in zh else phi(v, zi[v])
    return hs


def normalized_quantity(P: Partition, norm: str, what: str = "gradient", shared_affine: bool = True
                        ) -> Quantity:
    """For the network with ``norm`` ("batch" or "layer") before every hidden activation and per-
    unit (γ_v, β_v): the normal components of ∇L — block-constant space for w, γ_v − γ_v' and
    β_v − β_v' inside blocks — (``what="gradient"``) or h(v) − h(v') on every sample
    (``what="forward"``). γ, β are block-constant symbols γ_S, β_S when ``shared_affine``, else one
    symbol per unit; ε is a positive symbol. With "batch", the data X is one batch."""

    def quantity(G, w, X, Y, loss):
        hidden = [v for v in net.units(G) if G.nodes[v]["kind"] == "hidden"]
        key = {v: P.label(P.block_of[v]) if shared_affine else v for v in hidden}
        gamma_at = {v: sp.Symbol(f"γ_{key[v]}", real=True) for v in hidden}
        beta_at = {v: sp.Symbol(f"β_{key[v]}", real=True) for v in hidden}
        eps = sp.Symbol("ε", positive=True)
        phi = net.phi_of(G)
        if what == "forward":
            hs = normalized_forward(G, X, w, gamma_at, beta_at, norm, eps, phi)
            return {f"h({a}) − h({b}) at x^({i})": h[a] - h[b] for i, h in enumerate(hs)
                    for block in P.nontrivial for a, b in zip(block[:-1], block[1:])}
        sym = net.weight_symbols(G)
        gamma = {v: sp.Symbol(f"γ[{v}]", real=True) for v in hidden}
        beta = {v: sp.Symbol(f"β[{v}]", real=True) for v in hidden}
        hs = normalized_forward(G, X, sym, gamma, beta, norm, eps, phi)
        L = sp.Add(*[net.loss_of(G, [h[o] for o in net.outputs(G)], y, loss) for h, y in zip(hs, Y)])
        at = {**{sym[e]: w[e] for e in sym}, **{gamma[v]: gamma_at[v] for v in hidden},
              **{beta[v]: beta_at[v] for v in hidden}}
        BC = manifolds.block_constant(G, P)
        g = {e: sp.diff(L, sym[e]).xreplace(at) for e in normal_support(BC)}
        out = {combination(n, BC.edges): sp.Add(*[n[k] * g[e] for k, e in enumerate(BC.edges) if n[k]])
               for _, n in BC.normal}
        for block in P.nontrivial:
            for a, b in zip(block[:-1], block[1:]):
                for name, p in (("γ", gamma), ("β", beta)):
                    d = sp.diff(L, p[a]) - sp.diff(L, p[b])
                    out[f"∂L/∂{name}[{a}] − ∂L/∂{name}[{b}]"] = d.xreplace(at)
        return out

    return quantity


# ---- App. A.2 as printed: the base network and back-propagation --------------------------------------

Divisor = Callable[[int, int], int]  # (|S_i|, |S_j|) ↦ the number W̃_ij divides the block pair's sum by


def base_network(G: nx.DiGraph, P: Partition, w: Mapping[Edge, sp.Expr], divisor: Divisor = lambda si, sj: sj
                 ) -> tuple[nx.DiGraph, dict[Edge, sp.Expr], dict[int, str]]:
    """The base network of G under P at the weights w, as a DAG ``net.forward`` runs: block S_i becomes
    its first member (with its attributes, so one activation per block), and the block pair (i, j) one
    edge of weight W̃_ij = Σ_{u ∈ S_i, v ∈ S_j} w(u, v) / divisor(|S_i|, |S_j|). The default divides by
    the receiving block, which is what incoming-equitable weights need (``theory.partition.quotient``);
    App. A.2 prints the sending block, ``divisor=lambda si, sj: si``. Returns (B, W̃, block → its node);
    B's nodes keep G's order, so its outputs are listed as G's."""
    Q = quotient(G, P, w)
    rep = {i: P.blocks[i][0] for i in Q}
    kept = set(rep.values())
    B = nx.DiGraph(spec=f"base of {G.graph.get('spec', 'G')}")
    for v in G:
        if v in kept:
            B.add_node(v, **G.nodes[v])
    wb = {}
    for i, j, value in Q.edges(data="weight"):
        si, sj = len(P.blocks[i]), len(P.blocks[j])
        B.add_edge(rep[i], rep[j])
        wb[(rep[i], rep[j])] = value * sp.Rational(sj, divisor(si, sj))
    return B, wb, rep


def base_forward_differences(P: Partition, divisor: Divisor = lambda si, sj: sj) -> Quantity:
    """h(v) − h̃(ṽ) for every unit v, ṽ the base unit of v's block (``base_network`` with ``divisor``), on
    every sample: zero on the incoming-equitable manifold with the receiving block's size."""

    def quantity(G, w, X, Y, loss):
        B, wb, rep = base_network(G, P, w, divisor)
        out = {}
        for i, x in enumerate(X):
            _, h = net.forward(G, x, w)
            _, hb = net.forward(B, x, wb)
            for v in net.units(G):
                out[f"h({v}) − h̃({rep[P.block_of[v]]}) at x^({i})"] = h[v] - hb[rep[P.block_of[v]]]
        return out

    return quantity


def base_backward_differences(P: Partition, power: int = 1, divisor: Divisor = lambda si, sj: sj) -> Quantity:
    """|S(v)|^power δ(v) − δ̃(ṽ) for every hidden unit v, on every sample (δ by ``backward_signals`` in
    both networks). On the equitable manifold, with the receiving block's size in W̃, power 1 gives 0:
    δ(u) = Σ_j δ_j f'_j Σ_{v ∈ S_j} w(u, v) = (1/|S_i|) Σ_j W̃_ij f'_j |S_j| δ_j, so |S| δ is the base's δ̃."""

    def quantity(G, w, X, Y, loss):
        B, wb, rep = base_network(G, P, w, divisor)
        hidden = [v for v in net.units(G) if G.nodes[v]["kind"] == "hidden"]
        out = {}
        for i, (x, y) in enumerate(zip(X, Y)):
            d = backward_signals(G, x, y, w, loss, hidden)
            db = backward_signals(B, x, y, wb, loss, {rep[P.block_of[v]] for v in hidden})
            for v in hidden:
                r = rep[P.block_of[v]]
                scale = sp.Integer(len(P.blocks[P.block_of[v]]))**power
                out[f"|S|^{power} δ({v}) − δ̃({r}) at x^({i})"] = scale * d[v] - db[r]
        return out

    return quantity


#: ∂ℓ/∂w(u, v) as App. A.2 writes it (``definition``, with its recursion for δ), as the proof of its
#: Prop. A.5 abbreviates it (``shorthand``: 'the gradient of an edge from u to v is simply h(u)δ(v)'),
#: and a planted misprint of the definition (the receiver's h for the sender's).
BACKPROP_FORMS = ("definition", "shorthand", "planted")


def backprop_residuals(form: str = "definition") -> Quantity:
    """The paper's back-propagation formulas against ``sympy.diff`` of ℓ, on every sample: for
    ``definition`` the recursion δ(v) − Σ_{u ∈ out(v)} δ(u) w(v, u) f'_u(z(u)) at every hidden unit and
    ∂ℓ/∂w(u, v) − δ(v) f'_v(z(v)) h(u) on every edge; for ``shorthand`` ∂ℓ/∂w(u, v) − h(u) δ(v); for
    ``planted`` ∂ℓ/∂w(u, v) − δ(v) f'_v(z(v)) h(v). δ(v) = ∂ℓ/∂h(v) (``backward_signals``)."""
    if form not in BACKPROP_FORMS:
        raise ValueError(f"unknown form {form!r} (accepted: {', '.join(BACKPROP_FORMS)})")

    def quantity(G, w, X, Y, loss):
        dphi = net.dphi_of(G)
        out = {}
        for i, (x, y) in enumerate(zip(X, Y)):
            z, h = net.forward(G, x, w)
            d = backward_signals(G, x, y, w, loss, net.units(G))
            g = loss_gradient(G, w, [x], [y], loss)
            if form == "definition":
                for v in net.units(G):
                    if G.nodes[v]["kind"] == "hidden":
                        rec = sp.Add(*[d[u] * w[(v, u)] * dphi(u, z[u]) for u in G.successors(v)])
                        out[f"δ({v}) − Σ δ(u) w({v},u) f'_u(z(u)) at x^({i})"] = d[v] - rec
            for u, v in sorted(G.edges):
                formula = {"definition": d[v] * dphi(v, z[v]) * h[u], "shorthand": h[u] * d[v],
                           "planted": d[v] * dphi(v, z[v]) * h[v]}[form]
                out[f"∂ℓ/∂w({u},{v}) − formula at x^({i})"] = g[(u, v)] - formula
        return out

    return quantity
