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
from collections.abc import Mapping, Sequence
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
    combination,
    loss_gradient,
    normal_support,
    random_rational,
)
from theory.manifolds import AffineManifold, Edge
from theory.partition import Partition, partition

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
