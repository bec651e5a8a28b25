"""Cloned units (paper §4, Prop. 4.1 (2); App. A.2, Prop. A.5): the symbolic checks of the claims
``cloned.forward``, ``cloned.backward``, ``cloned.trajectory``, ``cloned.dimension`` and
``cloned.normalization``.

Blocks S_1..S_k partition the units (``manifolds.partition``); units of one block share their
activation f_S (a hypothesis: ``control_mixed_activations`` shows it is needed). Then, with the
conditions derived in ``theory.manifolds``:

- incoming-equitable weights (Σ_{u ∈ S_i} w(u, v) the same for every receiver v ∈ S_j) give
  z(v) = Σ_i h_i Σ_{u ∈ S_i} w(u, v), the same on each block, by induction along the DAG;
- incoming- and outgoing-equitable weights (also Σ_{v ∈ S_j} w(u, v) the same for every sender
  u ∈ S_i) give δ(u) = Σ_j δ_j f'_j(z_j) Σ_{v ∈ S_j} w(u, v), the same on each block, so
  ∂L/∂w(u, v) = Σ_x δ(v) f'(z(v)) h(u) depends only on (s(u), s(v)): block-constant;
- hence on M_D(w) = {w + T : T block-constant} the gradient is tangent, and every gradient step,
  on any batch, stays in M_D(w) — provided M_D(w) stays equitable, which needs every connected
  block pair to be biregular (``trajectory_unequal_degrees`` shows what happens otherwise).

Every statement is decided by ``invariance.prove`` on a family of small networks: MLPs of depth
2–3 with blocks of size 2–3 in several layers at once, DAGs with skip connections obtained by
cloning the units of a random DAG, random DAGs with random valid partitions; biases throughout.
"""

from __future__ import annotations

import itertools
import random
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import mpmath
import networkx as nx
import numpy as np
import sympy as sp

from theory import manifolds, net, updates
from theory.evidence import Config, Evidence
from theory.invariance import (
    Data,
    Proof,
    Quantity,
    Targets,
    at_free_weights,
    backward_differences,
    combination,
    forward_differences,
    generic_name,
    loss_gradient,
    normal_gradient,
    normal_support,
    phi_of,
    prove,
    random_rational,
    sample_loss,
)
from theory.manifolds import AffineManifold, Edge, Partition

FORWARD = "cloned.forward"
BACKWARD = "cloned.backward"
TRAJECTORY = "cloned.trajectory"
DIMENSION = "cloned.dimension"
NORMALIZATION = "cloned.normalization"

GENERIC = "generic: one undefined f_S per block (f_v for a singleton), f' undefined"
DPS = 50  # working precision of the exact-arithmetic gradient descent


# ---- the family of networks -------------------------------------------------------------------

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
    return Case(G, manifolds.partition(G, blocks), note)


def lift(base: nx.DiGraph, sizes: Mapping[str, int], rng: random.Random) -> Case:
    """Clone every hidden unit v of ``base`` into ``sizes[v]`` copies v.0, v.1, …; a base edge
    u → v becomes all edges between the copies, or (at random, when both have the same number
    ≥ 2 of copies) a perfect matching u.k → v.k. Every block pair is biregular."""
    copies = {v: [f"{v}.{k}" for k in range(sizes[v])] if sizes.get(v, 1) > 1 else [v] for v in base}
    G = nx.DiGraph(spec=f"lift of {base.graph['spec']} by {dict(sorted(sizes.items()))}")
    for v in base:
        G.add_nodes_from(copies[v], **base.nodes[v])
    for u, v in base.edges:
        U, V = copies[u], copies[v]
        G.add_edges_from(zip(U, V) if len(U) == len(V) > 1 and rng.random() < 0.5
                         else itertools.product(U, V))
    blocks = [copies[v] for v in base if len(copies[v]) > 1]
    return Case(G, manifolds.partition(G, blocks), f"DAG {G.graph['spec']}")


def lifted_dag(seed: int, n_hidden: int = 3) -> Case:
    """A random DAG with skip connections (``net.random_dag``) whose hidden units are cloned
    into 1–3 copies (at least two of them into ≥ 2)."""
    rng = random.Random(seed)
    base = net.random_dag(2, n_hidden, 1, p=0.6, seed=rng.randrange(2**31),
                          activation="generic:f", output_activation="generic:g")
    hidden = [v for v in base if base.nodes[v]["kind"] == "hidden"]
    sizes = {v: rng.choice((1, 2, 2, 3)) for v in hidden}
    for v in rng.sample(hidden, 2):
        sizes[v] = max(sizes[v], 2)
    return lift(base, sizes, rng)


def random_partition(G: nx.DiGraph, rng: random.Random, max_size: int = 3, tries: int = 200
                     ) -> Partition:
    """Hidden units shuffled and cut into blocks of 1..max_size, redrawn until no block holds an
    edge and some block has ≥ 2 units (all singletons if ``tries`` draws fail)."""
    hidden = [v for v in net.units(G) if G.nodes[v]["kind"] == "hidden"]
    for _ in range(tries):
        rng.shuffle(hidden)
        blocks, k = [], 0
        while k < len(hidden):
            n = rng.randint(1, max_size)
            blocks.append(hidden[k:k + n])
            k += n
        if any(len(b) > 1 for b in blocks) and not any(G.has_edge(u, v) for b in blocks
                                                       for u in b for v in b):
            return manifolds.partition(G, blocks)
    return manifolds.partition(G, [])


def random_dag_case(seed: int, n_hidden: int = 4) -> Case:
    """A random DAG with a random valid partition: block pairs need not be biregular, so the
    equitable conditions may force some sums to 0."""
    rng = random.Random(seed)
    G = net.random_dag(2, n_hidden, 1, p=0.5, seed=rng.randrange(2**31),
                       activation="generic:f", output_activation="generic:g")
    return Case(G, random_partition(G, rng), f"DAG {G.graph['spec']}, random partition")


def family(config: Config, biregular_only: bool = False) -> list[Case]:
    """The architectures every cloned check runs on (smaller with ``config.quick``)."""
    cases = [mlp_case("2-4-4-1", [[2, 2], [2, 2]]), lifted_dag(config.seed)]
    if not config.quick:
        cases += [mlp_case("1-3-2-1", [[3], [2]]), mlp_case("2-3-2-2-1", [[3], [2], [2]]),
                  lifted_dag(config.seed + 1)]
    if not biregular_only:
        cases += [random_dag_case(config.seed + k) for k in range(1 if config.quick else 2)]
    return cases


def _skips(G: nx.DiGraph) -> int:
    return sum(1 for u, v in G.edges if u != net.BIAS and G.nodes[v]["layer"] - G.nodes[u]["layer"] > 1)


# ---- evidence from proofs ---------------------------------------------------------------------

def _size(e: sp.Expr) -> int:
    return sum(1 for _ in sp.preorder_traversal(e))


@dataclass
class Run:
    """One call of the prover, with what is needed to show it."""

    case: Case
    network: nx.DiGraph  # the case's graph with its (generic) activations
    quantity: Quantity
    samples: int
    proof: Proof


def _prove(case: Case, M: AffineManifold, quantity: Quantity, n: int, config: Config,
           H: nx.DiGraph | None = None) -> Run:
    H = block_activations(case.graph, case.partition) if H is None else H
    return Run(case, H, quantity, n, prove(H, M, quantity, n_samples=n, seed=config.seed))


def _derivation(runs: Sequence[Run], manifold: str, limit: int = 4000) -> list[tuple[str, Any]]:
    """On the smallest network of ``runs``: its smallest component with unconstrained weights
    (what the manifold has to make vanish), then the same component on the manifold, expanded;
    a component that does not vanish is shown in preference."""
    run = min(runs, key=lambda r: r.case.graph.number_of_edges())
    free = at_free_weights(run.network, run.quantity, run.samples)
    reduced = {r.label: r.expr for r in run.proof.reductions}
    pool = [k for k, v in reduced.items() if v != 0] or list(reduced)
    shown = {k: free[k] for k in pool if free[k] != 0} or {k: free[k] for k in pool}
    label = min(shown, key=lambda k: _size(shown[k]))
    out = [(f"{run.case.note}: {label}, unconstrained weights", shown[label])] \
        if _size(shown[label]) <= limit else []
    return out + [(f"{label} at θ ∈ {manifold} (θ = θ0 + Σ_k c_k t_k), expanded", reduced[label])]


def _verdict(runs: Sequence[Run]) -> tuple[str, dict | None]:
    refuted = [r.proof for r in runs if r.proof.verdict == "refuted"]
    if refuted:
        return "refuted", refuted[0].counterexample
    if any(r.proof.verdict == "inconclusive" for r in runs):
        return "inconclusive", None
    return "proved", None


def _counts(runs: Sequence[Run]) -> dict[str, int]:
    total = sum(len(r.proof.reductions) for r in runs)
    nonzero = sum(len(r.proof.nonzero) for r in runs)
    return {"components": total, "reduced_to_zero": total - nonzero, "nonzero": nonzero}


def _setting(config: Config, cases: Sequence[Case], samples: int, **extra: Any) -> dict[str, Any]:
    return {"architecture": [c.note for c in cases], "activation": GENERIC, "loss": "generic ℓ(ŷ, y)",
            "samples": samples, "seed": config.seed, "quick": config.quick, **extra}


def _family_measured(cases: Sequence[Case]) -> dict[str, Any]:
    return {"architectures": len(cases), "blocks": sum(len(c.partition.nontrivial) for c in cases),
            "block_sizes": sorted({len(b) for c in cases for b in c.partition.nontrivial}),
            "skip_connections": sum(_skips(c.graph) for c in cases),
            "parameters": [c.graph.number_of_edges() for c in cases]}


# ---- cloned.forward ---------------------------------------------------------------------------

def forward(config: Config) -> Evidence:
    """Incoming-equitable weights ⇒ h(v) = h(v') for v, v' in one block, on every sample, for
    generic activations shared per block: h(v) − h(v') reduces to 0 on the whole
    incoming-equitable manifold (parametrized by its tangent basis)."""
    t0 = time.perf_counter()
    n = 1 if config.quick else 2
    cases = family(config)
    runs = [_prove(c, manifolds.incoming_equitable(c.graph, c.partition), forward_differences(c.partition),
                   n, config) for c in cases]
    verdict, cex = _verdict(runs)
    counts = _counts(runs)
    measured = {**_family_measured(cases), **counts,
                "manifold_dimensions": [r.proof.parameters for r in runs]}
    summary = (f"On {len(cases)} networks ({measured['blocks']} blocks, {measured['skip_connections']} "
               f"skip connections), all {counts['components']} differences z(v) − z(v'), h(v) − h(v') inside "
               "blocks reduce to 0 on the incoming-equitable manifold, for generic per-block activations."
               if verdict == "proved" else
               f"{counts['nonzero']} of {counts['components']} activation differences do not reduce to 0.")
    return Evidence(FORWARD, "forward", "symbolic", verdict, summary, _setting(config, cases, n), measured,
                    cex, time.perf_counter() - t0,
                    derivation=_derivation(runs, "incoming-equitable"))


# ---- cloned.backward --------------------------------------------------------------------------

def backward(config: Config) -> Evidence:
    """Incoming- and outgoing-equitable weights ⇒ δ(v) = δ(v') inside blocks and ∇L
    block-constant: δ(v) − δ(v') (δ = ∂ℓ/∂h by differentiation) and every normal component
    n · ∇L of the block-constant space reduce to 0 on the equitable manifold."""
    t0 = time.perf_counter()
    n = 1 if config.quick else 2
    cases = family(config)
    deltas, grads = [], []
    for c in cases:
        M = manifolds.equitable(c.graph, c.partition)
        deltas.append(_prove(c, M, backward_differences(c.partition), n, config))
        grads.append(_prove(c, M, normal_gradient(manifolds.block_constant(c.graph, c.partition)), n, config))
    verdict, cex = _verdict(deltas + grads)
    dc, gc = _counts(deltas), _counts(grads)
    measured = {**_family_measured(cases), "delta_components": dc["components"],
                "delta_reduced_to_zero": dc["reduced_to_zero"], "gradient_components": gc["components"],
                "gradient_reduced_to_zero": gc["reduced_to_zero"],
                "manifold_dimensions": [r.proof.parameters for r in grads]}
    summary = (f"On {len(cases)} networks, all {dc['components']} differences δ(v) − δ(v') and all "
               f"{gc['components']} normal components of ∇L (w.r.t. the block-constant space) reduce to 0 "
               "on the incoming- and outgoing-equitable manifold, for a generic loss and activations."
               if verdict == "proved" else
               f"{dc['components'] - dc['reduced_to_zero'] + gc['nonzero']} components do not reduce to 0.")
    return Evidence(BACKWARD, "backward", "symbolic", verdict, summary, _setting(config, cases, n),
                    measured, cex, time.perf_counter() - t0,
                    derivation=_derivation(deltas, "equitable") + _derivation(grads, "equitable"))


# ---- cloned.trajectory ------------------------------------------------------------------------

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


def _max_residual(M: AffineManifold, theta: Mapping[Edge, Any]) -> float:
    return float(max((abs(r) for r in M.residual(theta)), default=0))


def _gd_run(case: Case, config: Config, steps: int) -> dict[str, Any]:
    """Gradient descent from a random rational point θ(0) of M_D(w0), w0 a random rational
    equitable point: the largest residual |A θ(t) − b| of M_D(w0) over the run, in mpmath
    (``DPS`` digits) and float64, and how far θ moved."""
    rng = random.Random(config.seed)
    G, P = case.graph, case.partition
    MD = manifolds.clone_manifold(G, P, random_point(manifolds.equitable(G, P), rng))
    theta0 = random_point(MD, rng)
    H = concrete_network(G)
    X = [{x: random_rational(rng) for x in net.inputs(G)} for _ in range(4)]
    Y = [[random_rational(rng) for _ in net.outputs(G)] for _ in range(4)]
    out: dict[str, Any] = {"network": case.note, "steps": steps}
    with mpmath.workdps(DPS):
        path = descend(H, theta0, X, Y, steps, 2, sp.Rational(1, 10), random.Random(config.seed), "mpmath")
        out["max_residual_mpmath"] = max(_max_residual(MD, th) for th in path)
        out["moved"] = float(mpmath.sqrt(sum((path[-1][e] - path[0][e]) ** 2 for e in MD.edges)))
    path64 = descend(H, theta0, X, Y, steps, 2, sp.Rational(1, 10), random.Random(config.seed), "float64")
    out["max_residual_float64"] = max(_max_residual(MD, th) for th in path64)
    return out


def trajectory(config: Config) -> Evidence:
    """W(0) ∈ M_D(w) ⇒ ∇L(W) tangent to M_D(w) at every W ∈ M_D(w), hence every GD step on any
    batch stays in M_D(w). Proved with a *symbolic* base point w (a generic point of the equitable
    manifold) and symbolic coordinates along the block-constant directions, on networks whose
    connected block pairs are biregular; then confirmed by gradient descent in 50-digit
    arithmetic (tanh, squared error, random batches)."""
    t0 = time.perf_counter()
    n = 1 if config.quick else 2
    cases = family(config, biregular_only=True)
    proofs, inside = [], []
    for c in cases:
        eq = manifolds.equitable(c.graph, c.partition)
        MD = manifolds.clone_manifold(c.graph, c.partition, eq.parametrize("a")[0])
        inside.append(all(r.is_zero_matrix for r in (eq.A * t for t in MD.tangent)))
        proofs.append(_prove(c, MD, normal_gradient(MD), n, config))
    steps = 4 if config.quick else 10
    gd = [_gd_run(c, config, steps) for c in cases]
    worst = max(r["max_residual_mpmath"] for r in gd)
    moved = min(r["moved"] for r in gd)
    worst64 = max(r["max_residual_float64"] for r in gd)
    verdict, cex = _verdict(proofs)
    tol = 10.0 ** (10 - DPS)
    if verdict == "proved" and (worst > tol or not all(inside)):
        verdict, cex = "inconclusive", None
    counts = _counts(proofs)
    measured = {**_family_measured(cases), **counts,
                "dim_M_D": [r.proof.parameters for r in proofs],
                "block_constant_inside_equitable": all(inside),
                "unequal_degree_pairs": sum(len(manifolds.unequal_degree_pairs(c.graph, c.partition))
                                            for c in cases),
                "gd_steps": steps, "gd_moved_min": moved, "gd_max_residual_mpmath": worst,
                "gd_max_residual_float64": worst64, "gd_tolerance": tol}
    summary = (f"On {len(cases)} networks with biregular block pairs, all {counts['components']} normal "
               "components of ∇L at a generic point of M_D(w) (w generic equitable) reduce to 0; GD in "
               f"{DPS}-digit arithmetic ({steps} steps, random batches of 2 of 4 samples, tanh, squared "
               f"error) moves θ by ≥ {moved:.3g} and stays in M_D to {worst:.1e} (float64: {worst64:.1e})."
               if verdict == "proved" else
               f"Tangency fails or GD leaves M_D: {counts['nonzero']} non-zero components, "
               f"GD residual {worst:.1e}.")
    setting = _setting(config, cases, n, gradient_descent={"steps": steps, "batch": 2, "samples": 4,
                                                           "lr": "1/10", "activation": "tanh",
                                                           "loss": "mse", "digits": DPS})
    return Evidence(TRAJECTORY, "trajectory", "symbolic", verdict, summary, setting, measured, cex,
                    time.perf_counter() - t0, derivation=_derivation(proofs, "M_D(w)"))


def pruned_case() -> Case:
    """MLP 2-2-1 with the edge x1 → h1.1 removed and block {h1.0, h1.1}: a valid partition (no
    edge inside the block) whose block pair ({x1}, S) is not biregular."""
    G = net.mlp("2-2-1", activation="generic:f", output_activation="generic:g")
    G.remove_edge("x1", "h1.1")
    G.graph["spec"] = "2-2-1 without x1→h1.1"
    return Case(G, manifolds.partition(G, [["h1.0", "h1.1"]]), "MLP 2-2-1 without x1→h1.1, block h1.*")


def clone_gap(H: nx.DiGraph, P: Partition, theta: Mapping[Edge, Any], X: Data) -> float:
    """max |h(v) − h(v')| over the samples X and the members v, v' of each block, for H at the
    numeric weights θ (``net.forward`` on 30-digit SymPy floats)."""
    w = {e: sp.Float(str(t), 30) for e, t in theta.items()}
    gaps = [0.0]
    for x in X:
        _, h = net.forward(H, x, w)
        gaps += [abs(float(h[a] - h[b])) for block in P.nontrivial for a, b in zip(block[:-1], block[1:])]
    return max(gaps)


def trajectory_unequal_degrees(config: Config) -> Evidence:
    """The statement needs every connected block pair to be biregular. On a pruned MLP whose
    clones have different in-degrees from x1, equitability forces w(x1, h1.0) = 0; the gradient
    there is block-constant (a single edge) but not 0, so the first step keeps θ in M_D(w0) and
    breaks incoming-equitability; the clones split and the next step leaves M_D(w0)."""
    t0 = time.perf_counter()
    case = pruned_case()
    G, P = case.graph, case.partition
    eq = manifolds.equitable(G, P)
    w, _ = eq.parametrize("a")
    MD = manifolds.clone_manifold(G, P, w)
    run = _prove(case, MD, normal_gradient(MD), 1, config)
    proof = run.proof
    rng = random.Random(config.seed)
    w0 = random_point(eq, rng)
    MD0 = manifolds.clone_manifold(G, P, w0)
    X = [{x: random_rational(rng) for x in net.inputs(G)} for _ in range(4)]
    Y = [[random_rational(rng) for _ in net.outputs(G)] for _ in range(4)]
    H = concrete_network(G)
    with mpmath.workdps(DPS):
        path = descend(H, w0, X, Y, 3, 2, sp.Rational(1, 2), random.Random(config.seed))
        residuals = [_max_residual(MD0, th) for th in path]
        equitable_residuals = [_max_residual(eq, th) for th in path]
        gaps = [clone_gap(H, P, th, X) for th in path]
    bad = manifolds.unequal_degree_pairs(G, P)
    measured = {"unequal_degree_pairs": [[P.label(i), P.label(j)] for i, j in bad],
                "nonzero_normal_components": len(proof.nonzero),
                "gd_residual_M_D_per_step": residuals, "gd_residual_equitable_per_step": equitable_residuals,
                "gd_clone_gap_per_step": gaps}
    left = residuals[-1] > 10.0 ** (10 - DPS) and proof.verdict == "refuted"
    cex = None
    if left:
        cex = {**proof.counterexample, "gd": {"w0": {f"{u}->{v}": str(x) for (u, v), x in w0.items()},
                                              "lr": "1/2", "batch": 2, "activation": "tanh",
                                              "residual_M_D_per_step": residuals}}
    verdict = "qualified" if left else "inconclusive"
    summary = ("W(0) ∈ M_D ⇒ W(t) ∈ M_D needs every connected block pair to be biregular (equal in- and "
               f"out-degrees): on {case.note}, M_D(w0) is not invariant ({len(proof.nonzero)} non-zero "
               f"normal components); exact GD stays in M_D(w0) for one step and leaves it at step "
               f"{next(k for k, r in enumerate(residuals) if r > 1e-40)} (residual {residuals[-1]:.2e}), "
               f"while the clones split (max |h(h1.0) − h(h1.1)| {gaps[0]:.0e} → {gaps[-1]:.2e})."
               if left else
               "The pruned network did not leave M_D(w0): the degree condition could not be shown necessary.")
    setting = {"architecture": case.note, "activation": GENERIC, "loss": "generic ℓ; GD: tanh, mse",
               "seed": config.seed, "condition": "every connected block pair biregular"}
    return Evidence(TRAJECTORY, "trajectory-unequal-degrees", "symbolic", verdict, summary, setting,
                    measured, cex, time.perf_counter() - t0,
                    derivation=_derivation([run], "M_D(w)"))


# ---- cloned.dimension -------------------------------------------------------------------------

def random_network(rng: random.Random) -> nx.DiGraph:
    """An MLP with 1–3 hidden layers of width 2–5, or a random DAG with 3–8 hidden units."""
    if rng.random() < 0.5:
        hidden = [rng.randint(2, 5) for _ in range(rng.randint(1, 3))]
        return net.mlp("-".join(map(str, [rng.randint(1, 3), *hidden, rng.randint(1, 2)])))
    return net.random_dag(rng.randint(1, 3), rng.randint(3, 8), rng.randint(1, 2), p=rng.uniform(0.3, 0.8),
                          seed=rng.randrange(2**31))


def dimension(config: Config) -> Evidence:
    """dim M_D(w) = |E| − rank A (exact rank over ℚ of its constraint matrix) against the number
    of edges of the base network (``networkx.quotient_graph``), on random partitions of random
    MLPs and DAGs; and the fraction of parameters it leaves for MLPs cloned ×n."""
    t0 = time.perf_counter()
    rng = random.Random(config.seed)
    trials = 12 if config.quick else 40
    rows = []
    for _ in range(trials):
        G = random_network(rng)
        P = random_partition(G, rng)
        MD = manifolds.clone_manifold(G, P, random_point(manifolds.equitable(G, P), rng))
        rows.append({"network": G.graph["spec"], "blocks": len(P.nontrivial), "edges": G.number_of_edges(),
                     "dim_M_D": MD.dimension, "base_edges": manifolds.base_network(G, P).number_of_edges(),
                     "dim_equitable": manifolds.equitable(G, P).dimension,
                     "biregular": not manifolds.unequal_degree_pairs(G, P)})
    mismatches = [r for r in rows if r["dim_M_D"] != r["base_edges"]]
    clones = []
    for n in (2, 3):
        spec = f"3-{4 * n}-{4 * n}-2"
        G = net.mlp(spec)
        P = manifolds.partition(G, layer_blocks(spec, [[n] * 4, [n] * 4]))
        d = manifolds.block_constant(G, P).dimension
        hh = [ij for ij, es in manifolds.block_pairs(G, P).items()
              if es[0][0][:2] == "h1" and es[0][1][:2] == "h2"]
        hidden = sum(1 for u, v in G.edges if u[:2] == "h1" and v[:2] == "h2")
        clones.append({"network": spec, "n": n, "edges": G.number_of_edges(), "dim_M_D": d,
                       "fraction": d / G.number_of_edges(), "hidden_to_hidden_fraction": len(hh) / hidden,
                       "one_over_n_squared": 1 / n**2})
    measured = {"trials": trials, "mismatches": len(mismatches),
                "partitions_biregular": sum(r["biregular"] for r in rows),
                "dims": [[r["dim_M_D"], r["base_edges"]] for r in rows],
                "dim_equitable_exceeds_dim_M_D": sum(r["dim_equitable"] > r["dim_M_D"] for r in rows),
                "cloned_mlps": clones}
    setting = {"networks": "random MLPs (1–3 hidden layers, width 2–5) and random DAGs (3–8 hidden)",
               "partitions": "random, blocks of 1–3 hidden units, no edge inside a block",
               "rank": "exact over ℚ (DomainMatrix)", "seed": config.seed, "quick": config.quick}
    if mismatches:
        r = mismatches[0]
        return Evidence(DIMENSION, "dimension", "symbolic", "refuted",
                        f"dim M_D = {r['dim_M_D']} but the base network has {r['base_edges']} edges.",
                        setting, measured, r, time.perf_counter() - t0)
    summary = (f"On {trials} random partitions of random MLPs and DAGs, dim M_D (exact rank) equals the "
               "number of connected block pairs every time; cloning an MLP ×2 / ×3 leaves "
               f"{clones[0]['fraction']:.3f} / {clones[1]['fraction']:.3f} of the parameters "
               "(hidden-to-hidden exactly 1/n²).")
    return Evidence(DIMENSION, "dimension", "symbolic", "proved", summary, setting, measured, None,
                    time.perf_counter() - t0)


# ---- negative controls ------------------------------------------------------------------------

def _control(claim: str, check: str, proof: Proof, summary: str, setting: dict, measured: dict,
             t0: float, derivation: list) -> Evidence:
    setting = {**setting, "control": True}
    if proof.verdict != "refuted":
        return Evidence(claim, check, "symbolic", "inconclusive",
                        "Negative control not refuted: the planted violation went undetected.", setting,
                        measured, None, time.perf_counter() - t0, derivation=derivation)
    return Evidence(claim, check, "symbolic", "refuted", summary, setting, measured, proof.counterexample,
                    time.perf_counter() - t0, derivation=derivation)


def control_incoming_only(config: Config) -> Evidence:
    """A duplicated unit whose outgoing weight is split λ : (1 − λ) with λ = 1/4 (incoming-
    equitable, not outgoing-equitable): forward clones (proved) whose gradients differ
    (counterexample), and gradient descent drifts off the block-constant offsets."""
    t0 = time.perf_counter()
    case = mlp_case("2-2-1", [[2]])
    G, P = case.graph, case.partition
    H = block_activations(G, P)
    lam = sp.Rational(1, 4)
    split = manifolds.from_constraints(
        "λ-split", G, [(f"w(h1.1,y0) = {(1 - lam) / lam}·w(h1.0,y0)",
                        {("h1.1", "y0"): 1, ("h1.0", "y0"): -int((1 - lam) / lam)}, 0)])
    M = manifolds.incoming_equitable(G, P).intersect(split, "incoming-equitable ∩ λ-split")
    fwd = prove(H, M, forward_differences(P), seed=config.seed)
    run = _prove(case, M, normal_gradient(manifolds.block_constant(G, P)), 1, config, H)
    grad = run.proof
    rng = random.Random(config.seed)
    w0 = random_point(M, rng)
    X = [{x: random_rational(rng) for x in net.inputs(G)} for _ in range(4)]
    Y = [[random_rational(rng) for _ in net.outputs(G)] for _ in range(4)]
    BC = manifolds.block_constant(G, P)
    with mpmath.workdps(DPS):
        path = descend(concrete_network(G), w0, X, Y, 5, 2, sp.Rational(1, 10), random.Random(config.seed))
        drift = [_max_residual(BC, {e: th[e] - w0[e] for e in th}) for th in path]
    measured = {"lambda": float(lam), "forward_components": len(fwd.reductions),
                "forward_components_reduced_to_zero": len(fwd.reductions) - len(fwd.nonzero),
                "gradient_components_nonzero": len(grad.nonzero),
                "gd_offset_residual_per_step": drift}
    if grad.counterexample:
        grad.counterexample["forward_clones_proved"] = fwd.verdict == "proved"
    summary = (f"Incoming-equitable with the outgoing weight split λ = {lam}: h(h1.0) = h(h1.1) is proved, "
               "yet "
               f"{len(grad.nonzero)} normal components of ∇L are non-zero (e.g. "
               f"{next(iter(grad.counterexample['nonzero'].items()))[1]:.3g} at a rational point) and GD "
               f"drifts off θ0 + block-constant by {drift[-1]:.2e} in {len(drift) - 1} steps."
               if grad.counterexample and fwd.verdict == "proved" else "")
    setting = {"architecture": case.note, "activation": GENERIC, "loss": "generic ℓ", "seed": config.seed}
    return _control(BACKWARD, "control-incoming-only", grad if fwd.verdict == "proved" else fwd, summary,
                    setting, measured, t0, _derivation([run], M.name))


def control_edge_in_block(config: Config) -> Evidence:
    """A 'partition' with an edge inside a block (h0 → h1, both in S): the between-block
    incoming-equitable conditions no longer give clones, since h1 also hears h0."""
    t0 = time.perf_counter()
    G = net.random_dag(1, 2, 1, p=1.0, seed=config.seed, activation="generic:f",
                       output_activation="generic:g")
    P = manifolds.partition(G, [["h0", "h1"]], allow_internal_edges=True)
    case = Case(G, P, f"DAG {G.graph['spec']} with block {{h0, h1}} and the edge h0→h1 inside it")
    M = manifolds.incoming_equitable(G, P)
    run = _prove(case, M, forward_differences(P), 1, config)
    proof = run.proof
    first = next(iter(proof.counterexample["nonzero"].items())) if proof.counterexample else ("", 0.0)
    summary = (f"With the edge h0→h1 inside the block, {len(proof.nonzero)} of {len(proof.reductions)} "
               f"differences do not reduce on the incoming-equitable manifold; {first[0]} = {first[1]:.3g} "
               "at a rational point.")
    setting = {"architecture": case.note, "activation": GENERIC, "seed": config.seed}
    measured = {"components": len(proof.reductions), "nonzero": len(proof.nonzero), "dim": proof.parameters}
    return _control(FORWARD, "control-edge-in-block", proof, summary, setting, measured, t0,
                    _derivation([run], M.name))


def control_mixed_activations(config: Config) -> Evidence:
    """A block whose two units compute different functions f and g (identical incoming weights):
    h(h1.0) − h(h1.1) = f(z) − g(z) does not reduce, and tanh ≠ sigmoid gives a point."""
    t0 = time.perf_counter()
    case = mlp_case("2-2-1", [[2]])
    G, P = case.graph, case.partition
    H = block_activations(G, P)
    H.nodes["h1.1"]["activation"] = "generic:g_other"
    M = manifolds.incoming_equitable(G, P)
    run = _prove(case, M, forward_differences(P), 1, config, H)
    proof = run.proof
    f, g = generic_name(H, "h1.0"), generic_name(H, "h1.1")
    summary = ("With h1.0 computing f and h1.1 computing g on identical incoming weights, h(h1.0) − h(h1.1) "
               f"= {proof.nonzero[0].expr if proof.nonzero else 0} is "
               f"{next(iter(proof.counterexample['nonzero'].values())):.3g} with f = "
               f"{proof.counterexample['activations'][f]}, g = {proof.counterexample['activations'][g]}."
               if proof.counterexample else "")
    setting = {"architecture": case.note, "activation": "f on h1.0, g on h1.1 (generic)", "seed": config.seed}
    measured = {"components": len(proof.reductions), "nonzero": len(proof.nonzero)}
    return _control(FORWARD, "control-mixed-activations", proof, summary, setting, measured, t0,
                    _derivation([run], M.name))


# ---- cloned.normalization ---------------------------------------------------------------------

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
        phi = phi_of(G)
        if what == "forward":
            hs = normalized_forward(G, X, w, gamma_at, beta_at, norm, eps, phi)
            return {f"h({a}) − h({b}) at x^({i})": h[a] - h[b] for i, h in enumerate(hs)
                    for block in P.nontrivial for a, b in zip(block[:-1], block[1:])}
        sym = net.weight_symbols(G)
        gamma = {v: sp.Symbol(f"γ[{v}]", real=True) for v in hidden}
        beta = {v: sp.Symbol(f"β[{v}]", real=True) for v in hidden}
        hs = normalized_forward(G, X, sym, gamma, beta, norm, eps, phi)
        L = sp.Add(*[sample_loss(G, [h[o] for o in net.outputs(G)], y, loss) for h, y in zip(hs, Y)])
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


def _norm_cases(config: Config) -> list[tuple[Case, int]]:
    """(network, BatchNorm batch size): one normalized hidden layer with biases; then (full) two
    normalized layers without biases, the usual layout (BatchNorm cancels a bias exactly, and β
    takes its place) and a third of the cost."""
    if config.quick:
        return [(mlp_case("2-3-1", [[2, 1]]), 2)]
    return [(mlp_case("2-3-1", [[2, 1]]), 3), (mlp_case("2-3-3-1", [[2, 1], [2, 1]], bias=False), 2)]


def normalization(config: Config) -> Evidence:
    """BatchNorm and LayerNorm before the activation, per-unit (γ, β) block-constant: on the
    equitable manifold (generic activations and loss, symbolic data, ε > 0 symbolic) the clones'
    activations stay equal and every normal component of ∇L (w, γ, β) reduces to 0. BatchNorm:
    clones have identical columns over the batch, hence identical per-unit statistics (a symbolic
    batch of 2–3); LayerNorm: the layer statistics are symmetric functions of the layer's units,
    the same for every clone (it acts on each sample alone, so one generic sample proves it for
    every batch)."""
    t0 = time.perf_counter()
    cases = _norm_cases(config)
    proofs: dict[str, list[Run]] = {"batch": [], "layer": []}
    for c, batch in cases:
        M = manifolds.equitable(c.graph, c.partition)
        for norm, n in (("batch", batch), ("layer", 1)):
            for what in ("forward", "gradient"):
                proofs[norm].append(_prove(c, M, normalized_quantity(c.partition, norm, what), n, config))
    all_proofs = [r for runs in proofs.values() for r in runs]
    verdict, cex = _verdict(all_proofs)
    measured = {"architectures": len(cases), "batch_sizes": [b for _, b in cases]}
    for norm, runs in proofs.items():
        measured.update({f"{norm}_{k}": v for k, v in _counts(runs).items()})
    summary = (f"With BatchNorm (symbolic batches of {', '.join(str(b) for _, b in cases)}) or LayerNorm "
               f"before the activation and block-constant γ, β, all {_counts(all_proofs)['components']} "
               "activation differences and normal gradient components (w, γ, β) reduce to 0 on the equitable "
               f"manifold of {len(cases)} MLP(s): normalization keeps established clones."
               if verdict == "proved" else
               f"{_counts(all_proofs)['nonzero']} components do not reduce to 0 under normalization.")
    setting = _setting(config, [c for c, _ in cases], 1, normalization=["batch", "layer"],
                       placement="before activation", affine="per-unit γ, β, block-constant",
                       eps="positive symbol ε", batch_sizes=[b for _, b in cases])
    derivation = _derivation([proofs["layer"][0]], "equitable, LayerNorm") + \
        _derivation([proofs["batch"][1]], "equitable, BatchNorm")
    return Evidence(NORMALIZATION, "normalization", "symbolic", verdict, summary, setting, measured, cex,
                    time.perf_counter() - t0, derivation=derivation)


def control_norm_unequal_affine(config: Config) -> Evidence:
    """LayerNorm with per-unit γ_v, β_v that differ inside a block: the clones' activations
    f(γ_v ẑ + β_v) differ although their pre-activations agree."""
    t0 = time.perf_counter()
    case = mlp_case("2-3-1", [[2, 1]])
    G, P = case.graph, case.partition
    M = manifolds.equitable(G, P)
    run = _prove(case, M, normalized_quantity(P, "layer", "forward", shared_affine=False), 1, config)
    proof = run.proof
    summary = ("LayerNorm with γ, β not constant on the block: h(h1.0) − h(h1.1) does not reduce and is "
               f"{next(iter(proof.counterexample['nonzero'].values())):.3g} at a rational point."
               if proof.counterexample else "")
    setting = {"architecture": case.note, "activation": GENERIC, "normalization": "layer",
               "affine": "per-unit γ_v, β_v, not block-constant", "seed": config.seed}
    measured = {"components": len(proof.reductions), "nonzero": len(proof.nonzero)}
    return _control(NORMALIZATION, "control-norm-unequal-affine", proof, summary, setting, measured, t0,
                    _derivation([run], "equitable, LayerNorm"))


CHECKS: tuple[Callable[[Config], Evidence], ...] = (
    forward, backward, trajectory, trajectory_unequal_degrees, dimension, normalization,
    control_incoming_only, control_edge_in_block, control_mixed_activations, control_norm_unequal_affine)
