"""Frozen units (paper §4, Prop. 4.1 (1); App. A.1.2): the symbolic checks of the claims
``frozen.gradient-zero``, ``frozen.manifold`` and ``frozen.activations``.

A hidden unit u with pre-activation z_u = Σ_j w(j, u) h_j + b_u is *frozen* on a data set
{x_i} when f'_u(z_u(x_i)) = 0 for every i. Its incoming weights and bias θ_F then get the
gradient

    ∂L/∂w(j, u) = Σ_i δ(u)(x_i) · f'_u(z_u(x_i)) · h_j(x_i) = 0,

so a gradient step does not move θ_F. Whether the unit *stays* frozen is a separate question:
z_u(x_i) also depends on the upstream h_j, which keep learning. This module proves the first
statement symbolically (generic activations and loss, then exact flat regions in exact
arithmetic), decides when the second holds (first layer on a fixed data set; data-independent
sign/box conditions on θ_F) and finds a network where it fails.
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Iterable
from dataclasses import dataclass

import mpmath
import networkx as nx
import numpy as np
import sympy as sp
import torch
from sympy.calculus.util import maximum
from sympy.core.function import AppliedUndef

from cases.generator import PlantedDead, planted_dead, random_architecture
from numerics.models import MLP
from reports import figures
from theory import activations, net
from theory.activations import z as Z
from theory.evidence import Config, Evidence

Edge = tuple[str, str]

GRADIENT_ZERO = "frozen.gradient-zero"
MANIFOLD = "frozen.manifold"
ACTIVATIONS = "frozen.activations"


def _edge(e: Edge) -> str:
    return f"{e[0]}->{e[1]}"


def _exact_activations() -> list[str]:
    return [n for n, a in activations.ACTIVATIONS.items() if a.freezing() == "exact"]


def _layer(G: nx.DiGraph, k: int) -> list[str]:
    """The hidden units of layer k of an MLP."""
    return [v for v in G if G.nodes[v]["kind"] == "hidden" and G.nodes[v]["layer"] == k]


# ---- frozen.gradient-zero, generic activations and loss -----------------------------------------

@dataclass
class Reduction:
    """One component ∂L/∂w(j, u): as SymPy computes it, and after substituting the hypothesis
    f'_u(z_u(x_i)) = 0 for every sample; ``live`` when some coefficient of f'_u(z_u(x_i)) in it
    is non-zero at a generic point (so the zero after substitution is not vacuous)."""

    unit: str
    edge: Edge
    before: sp.Expr
    after: sp.Expr
    live: bool


def _nonzero_somewhere(expr: sp.Expr, rng: random.Random) -> bool:
    """True when expr is non-zero with every undefined-function value, derivative and symbol
    replaced by a random non-zero rational. These are independent quantities (f, ℓ, θ and x are
    arbitrary), so True shows expr is not identically zero."""
    atoms = expr.atoms(sp.Subs, sp.Derivative, AppliedUndef) | expr.free_symbols
    value = expr.xreplace({a: sp.Rational(rng.choice((-1, 1)) * rng.randint(1, 97), rng.randint(1, 89))
                           for a in atoms})
    return bool(value.is_Rational and value != 0)


def reduce_gradient(G: nx.DiGraph, L: sp.Expr, zs: list[dict[str, sp.Expr]],
                    w: dict[Edge, sp.Symbol], unit: str, rng: random.Random) -> list[Reduction]:
    """∂L/∂θ_F by ``sympy.diff`` of the dataset loss (not by the δ recursion, which is what is
    being checked), then f'_u(z_u(x_i)) ↦ 0 for the training inputs x_i only."""
    dphi = net.dphi_of(G)
    hypothesis = [dphi(unit, z[unit]) for z in zs]  # the very atoms sympy.diff produces
    marks = [sp.Dummy(f"d{i}") for i in range(len(zs))]
    out = []
    for e in net.incoming(G, unit):
        g = sp.diff(L, w[e])
        marked = g.xreplace(dict(zip(hypothesis, marks)))
        live = any(_nonzero_somewhere(sp.diff(marked, d), rng) for d in marks)
        out.append(Reduction(unit, e, g, marked.xreplace({d: 0 for d in marks}), live))
    return out


def _readable(G: nx.DiGraph, zs: list[dict[str, sp.Expr]], keep: tuple[str, ...] = ()
              ) -> dict[sp.Expr, sp.Expr]:
    """For display only: f_v(z_v(x_i)) ↦ f_v(z_v^(i)) and f'_v(z_v(x_i)) ↦ df_v/dz at z_v^(i)
    for every unit v not in ``keep``, so a gradient component reads as the chain rule rather than
    nested sums."""
    phi, dphi = net.phi_of(G), net.dphi_of(G)
    out: dict[sp.Expr, sp.Expr] = {}
    for i, z in enumerate(zs):
        for v in (v for v in net.units(G) if v not in keep):
            zi = sp.Symbol(f"z_{v}^({i})", real=True)
            out[phi(v, z[v])] = phi(v, zi)
            out[dphi(v, z[v])] = sp.Derivative(phi(v, zi), zi)
    return out


def _prove_generic(graphs: list[nx.DiGraph], units: list[list[str]], n_samples: int,
                   rng: random.Random) -> tuple[list[Reduction], list[tuple[str, sp.Expr]]]:
    """Every Reduction of every (graph, unit), and a derivation showing the first unit's first
    component before and after the substitution."""
    reductions, derivation = [], []
    for G, us in zip(graphs, units):
        w = net.weight_symbols(G)
        L, zs = net.dataset_loss(G, net.input_symbols(G, n_samples), net.target_symbols(G, n_samples), w)
        for u in us:
            reductions += reduce_gradient(G, L, zs, w, u, rng)
        if not derivation:
            r = reductions[0]
            show = _readable(G, zs)
            fprimes = [show[net.dphi_of(G)(r.unit, z[r.unit])] for z in zs]
            derivation = [
                (f"{G.graph['spec']}: ∂L/∂w[{_edge(r.edge)}] by sympy.diff, grouped by "
                 f"f'_{r.unit}(z^(i)) (generic f_v and ℓ)", sp.collect(r.before.xreplace(show), fprimes)),
                (f"after f'_{r.unit}(z_{r.unit}(x_i)) = 0 for i = 0..{n_samples - 1}", r.after),
            ]
    return reductions, derivation


def _generic_evidence(check: str, reductions: list[Reduction], derivation: list, setting: dict,
                      what: str, n_units: int) -> Evidence:
    nonzero = [r for r in reductions if r.after != 0]
    dead_weight = [r for r in reductions if not r.live]
    measured = {"units": n_units, "components": len(reductions), "samples": setting["samples"],
                "zero_after_substitution": len(reductions) - len(nonzero),
                "nonzero_before_substitution": len(reductions) - len(dead_weight)}
    if nonzero:
        r = nonzero[0]
        return Evidence(GRADIENT_ZERO, check, "symbolic", "refuted",
                        f"∂L/∂w[{_edge(r.edge)}] of frozen unit {r.unit} is not 0 after f'_u = 0.",
                        setting, measured, {"unit": r.unit, "component": _edge(r.edge),
                                            "after": sp.sstr(r.after)[:2000]}, derivation=derivation)
    if dead_weight:
        return Evidence(GRADIENT_ZERO, check, "symbolic", "inconclusive",
                        f"{len(dead_weight)} components are 0 even without the hypothesis, so the check "
                        "says nothing about them.", setting, measured, derivation=derivation)
    return Evidence(GRADIENT_ZERO, check, "symbolic", "proved",
                    f"On {what}, all {len(reductions)} components of ∂L/∂θ_F (non-zero expressions "
                    "before) reduce exactly to 0 once f'_u(z_u(x_i)) = 0 on every sample, for generic "
                    "per-unit activations and a generic loss.", setting, measured, derivation=derivation)


def gradient_zero_mlp(config: Config) -> Evidence:
    """Prop. 4.1 (1) on MLPs with 2–3 hidden layers, one unit u per hidden layer, generic f_v
    and ℓ, symbolic data: ∂L/∂θ_F = Σ_i f'_u(z_u(x_i)) c_i(θ, x) reduces to 0."""
    rng = random.Random(config.seed)
    specs = ["2-2-2-1"] if config.quick else ["2-2-2-1", "2-3-2-2-1"]
    n = 2 if config.quick else 3
    graphs = [net.mlp(s, activation="generic", output_activation="generic") for s in specs]
    units = [[rng.choice(_layer(G, k)) for k in range(1, len(s.split("-")) - 1)]
             for G, s in zip(graphs, specs)]
    reductions, derivation = _prove_generic(graphs, units, n, rng)
    setting = {"architecture": specs, "activation": "generic (f_v per unit)", "loss": "generic ℓ",
               "samples": n, "units": units, "seed": config.seed}
    return _generic_evidence("gradient-zero-mlp", reductions, derivation, setting,
                             f"MLPs {', '.join(specs)}", sum(map(len, units)))


def gradient_zero_dag(config: Config) -> Evidence:
    """The same on random DAGs with skip connections (cases.generator), every hidden unit."""
    rng = random.Random(config.seed)
    n_graphs, n_hidden = (2, 3) if config.quick else (4, 4)
    graphs = [random_architecture(rng.randrange(2**31), "dag", "generic", "generic", n_hidden)
              for _ in range(n_graphs)]
    units = [[v for v in G if G.nodes[v]["kind"] == "hidden"] for G in graphs]
    reductions, derivation = _prove_generic(graphs, units, 2, rng)
    skips = sum(1 for G in graphs for u, v in G.edges
                if u != net.BIAS and G.nodes[v]["layer"] - G.nodes[u]["layer"] > 1)
    setting = {"architecture": [G.graph["spec"] for G in graphs], "activation": "generic (f_v per unit)",
               "loss": "generic ℓ", "samples": 2, "seed": config.seed}
    ev = _generic_evidence("gradient-zero-dag", reductions, derivation, setting,
                           f"{n_graphs} random DAGs ({skips} skip connections)", sum(map(len, units)))
    ev.measured["skip_connections"] = skips
    return ev


# ---- frozen.gradient-zero, exact flat regions ---------------------------------------------------

def exact_gradient(case: PlantedDead) -> dict[Edge, sp.Rational]:
    """∂L/∂θ_F at the case's weights, in exact arithmetic: L = Σ_i ½‖ŷ(x_i) − y_i‖² with θ_F
    symbolic and every other weight at its rational value, differentiated by SymPy and evaluated
    at θ_F0.

    SymPy differentiates a Piecewise piece by piece under the same conditions, so evaluating
    d/dθ Piecewise at θ_F0 picks the derivative of the piece whose condition holds there. Each
    activation is therefore replaced by that piece before differentiating: the same number,
    without nesting Piecewise conditions through the network (which costs seconds per case)."""
    G = case.graph
    sym = net.weight_symbols(G)
    w = {e: sym[e] if e in case.theta_f else v for e, v in case.weights.items()}
    at = {sym[e]: case.weights[e] for e in case.theta_f}

    def piece_at_theta0(v: str, arg: sp.Expr) -> sp.Expr:
        a = activations.get(G.nodes[v]["activation"])
        value = arg.xreplace(at)
        return next(p for p, where in a.pieces if where.contains(value)).xreplace({Z: arg})

    L, _ = net.dataset_loss(G, case.data, case.targets, w, loss="mse", phi=piece_at_theta0)
    return {e: sp.diff(L, sym[e]).xreplace(at) for e in case.theta_f}


def float_gradient(case: PlantedDead) -> dict[Edge, float]:
    """The same gradient by torch autograd in float64, through the registry's torch functions: an
    implementation independent of the SymPy one."""
    G = case.graph
    w = {e: torch.tensor(float(v), dtype=torch.float64, requires_grad=True) for e, v in case.weights.items()}
    loss = torch.zeros((), dtype=torch.float64)
    for x, y in zip(case.data, case.targets):
        h = {net.BIAS: torch.ones((), dtype=torch.float64)}
        h.update({k: torch.tensor(float(v), dtype=torch.float64) for k, v in x.items()})
        for v in net.units(G):
            z = sum(w[(u, v)] * h[u] for u in G.predecessors(v))
            h[v] = activations.get(G.nodes[v]["activation"]).torch_fn(z)
        loss = loss + sum((h[o] - float(t)) ** 2 for o, t in zip(net.outputs(G), y)) / 2
    grads = torch.autograd.grad(loss, [w[e] for e in case.theta_f])
    return {e: float(g) for e, g in zip(case.theta_f, grads)}


def _planted_evidence(check: str, cases: list[PlantedDead], control: bool, setting: dict) -> Evidence:
    """The one verdict rule for planted cases. A claim check is proved when every component of
    every case is 0 exactly and 0.0 in float64, refuted at the first non-zero one. A control
    (hypothesis violated) is refuted when every case shows a non-zero component, and
    inconclusive when some violation went unseen."""
    rows, hits, hit_cases = [], [], []
    for case in cases:
        exact, flt = exact_gradient(case), float_gradient(case)
        hit = next((e for e in case.theta_f if exact[e] != 0 or flt[e] != 0.0), None)
        rows.append({"activation": case.activation, "architecture": case.graph.graph["spec"],
                     "unit": case.unit, "samples": len(case.data),
                     "active_samples": list(case.active_samples), "components": len(exact),
                     "max_abs_exact": float(max(abs(g) for g in exact.values())),
                     "max_abs_float64": max(abs(g) for g in flt.values())})
        if hit is not None:
            hits.append({**case.describe(), "component": _edge(hit), "exact": str(exact[hit]),
                         "float64": flt[hit], "gradient_exact": {_edge(e): str(g) for e, g in exact.items()}})
            hit_cases.append(case)
    shown = (hit_cases or cases)[0]
    derivation = [(f"z_{shown.unit}(x_i), i = 0..{len(shown.data) - 1} ({shown.activation}, "
                   f"{shown.graph.graph['spec']})", sp.Matrix(shown.pre_activations()).T),
                  ("∂L/∂θ_F at θ_F0, exact", sp.Matrix(list(exact_gradient(shown).values())).T)]
    measured = {"cases": len(rows), "cases_with_nonzero_gradient": len(hits),
                "components": sum(r["components"] for r in rows), "per_case": rows}
    setting = {**setting, "loss": "mse", "control": control,
               "live": "δ(u)(x_i) ≠ 0 on some sample of every case (cases.generator)"}
    if control:
        verdict = "refuted" if len(hits) == len(rows) else "inconclusive"
        summary = (f"Control caught: with the hypothesis violated, ∂L/∂θ_F ≠ 0 in all {len(hits)} cases "
                   f"(e.g. {hits[0]['component']} = {hits[0]['exact']})." if verdict == "refuted" else
                   f"Control NOT caught: ∂L/∂θ_F = 0 in {len(rows) - len(hits)} of {len(rows)} cases "
                   "although the hypothesis is violated.")
    else:
        verdict = "refuted" if hits else "proved"
        summary = (f"∂L/∂θ_F = 0 exactly (SymPy rationals) and 0.0 in float64 autograd for all "
                   f"{len(rows)} planted dead units ({', '.join(sorted({c.activation for c in cases}))}; "
                   "MLPs and DAGs)." if verdict == "proved" else
                   f"A planted dead unit has ∂L/∂θ_F ≠ 0: {hits[0]['component']} = {hits[0]['exact']}.")
    return Evidence(GRADIENT_ZERO, check, "symbolic", verdict, summary, setting, measured,
                    hits[0] if verdict == "refuted" else None, derivation=derivation)


def gradient_zero_exact(config: Config) -> Evidence:
    """Activations with an exact flat region: a planted unit with z_u(x_i) in the flat set on
    every sample has ∂L/∂θ_F = 0, exactly and in float64."""
    rng = random.Random(config.seed)
    per = 1 if config.quick else 2
    names = _exact_activations()
    cases = [planted_dead(rng.randrange(2**31), name, arch, n_samples=3)
             for name in names for arch in ("mlp", "dag") for _ in range(per)]
    return _planted_evidence("gradient-zero-exact", cases, False,
                             {"architecture": "random MLP and DAG (cases.generator)", "activation": names,
                              "samples": 3, "seed": config.seed})


def control_active_on_one_sample(config: Config) -> Evidence:
    """Negative control: the planted unit is in its flat set on all samples but one, where
    f'_u(z_u) ≠ 0; the gradient must then be non-zero."""
    rng = random.Random(config.seed)
    names = [n for n in _exact_activations() if activations.get(n).flat_set != sp.S.Reals]
    cases = [planted_dead(rng.randrange(2**31), name, ("mlp", "dag")[k % 2], n_samples=3, active_samples=1)
             for k, name in enumerate(names)]
    return _planted_evidence("control-active-on-one-sample", cases, True,
                             {"architecture": "random MLP and DAG (cases.generator)", "activation": names,
                              "samples": 3, "active_samples": 1, "seed": config.seed,
                              "note": "step is flat everywhere, so it has no active sample to plant"})


def control_leaky_relu(config: Config) -> Evidence:
    """Negative control: a leaky-ReLU unit with z_u < 0 on every sample ('dead' in the ReLU sense)
    still has f' = 0.01, so its gradient must be non-zero."""
    rng = random.Random(config.seed)
    cases = [planted_dead(rng.randrange(2**31), "leaky_relu", arch, n_samples=3,
                          region=sp.Interval.open(-sp.oo, 0)) for arch in ("mlp", "dag")]
    return _planted_evidence("control-leaky-relu", cases, True,
                             {"architecture": "random MLP and DAG (cases.generator)",
                              "activation": "leaky_relu", "samples": 3, "region": "z_u < 0 on every sample",
                              "seed": config.seed})


# ---- frozen.manifold ------------------------------------------------------------------------------

def manifold_first_layer(config: Config) -> Evidence:
    """Case (a). For a first-hidden-layer unit, z_u(x_i) = Σ_j w(x_j, u) x_{ij} + b_u depends on
    θ_F and x_i only: ∂z_u(x_i)/∂θ_j = 0 for every θ_j ∉ θ_F. Each per-sample gradient
    ∂ℓ_i/∂θ_F carries the factor f'_u(z_u(x_i)), so for any batch B of the fixed data set
    ∂L_B/∂θ_F = 0. Induction over steps: θ_F(t+1) = θ_F(t), hence z_u(x_i; θ(t+1)) = z_u(x_i; θ(t))
    and the unit stays frozen under GD/SGD with any batch order. A second-layer unit's z_u depends
    on the first layer's weights, which is why the argument stops at the first layer."""
    spec = "2-2-2-1" if config.quick else "2-3-2-1"
    n = 2 if config.quick else 3
    G = net.mlp(spec, activation="generic", output_activation="generic")
    w = net.weight_symbols(G)
    X, T = net.input_symbols(G, n), net.target_symbols(G, n)
    zs = [net.forward(G, x, w)[0] for x in X]
    rng = random.Random(config.seed)
    u1, u2 = rng.choice(_layer(G, 1)), rng.choice(_layer(G, 2))

    def outside_derivatives(u: str) -> dict[tuple[int, Edge], sp.Expr]:
        return {(i, e): sp.diff(z[u], s) for i, z in enumerate(zs)
                for e, s in w.items() if e not in net.incoming(G, u)}

    d1, d2 = outside_derivatives(u1), outside_derivatives(u2)
    moved1 = [k for k, v in d1.items() if v != 0]
    moved2 = [k for k, v in d2.items() if v != 0]
    # per-sample gradients: any batch order draws its gradient as a sum of these
    dphi = net.dphi_of(G)
    per_sample = []
    for i in range(n):
        Li, zi = net.dataset_loss(G, [X[i]], [T[i]], w)
        per_sample += [sp.diff(Li, w[e]).xreplace({dphi(u1, zi[0][u1]): 0}) for e in net.incoming(G, u1)]
    nonzero = [g for g in per_sample if g != 0]
    setting = {"architecture": spec, "activation": "generic (f_v per unit)", "loss": "generic ℓ",
               "samples": n, "unit": u1, "contrast_unit": u2, "seed": config.seed,
               "hypotheses": "u in the first hidden layer; a fixed finite data set; plain GD/SGD on batches "
                             "drawn from it in any order; f'_u(z_u(x_i)) = 0 on every sample of the set"}
    measured = {"parameters_outside_theta_F": len(w) - len(net.incoming(G, u1)),
                "derivatives_checked": len(d1), "nonzero_dz_first_layer": len(moved1),
                "per_sample_gradient_components": len(per_sample), "per_sample_nonzero": len(nonzero),
                "nonzero_dz_second_layer": len(moved2), "derivatives_checked_second_layer": len(d2),
                "second_layer_depends_on": sorted({_edge(e) for _, e in moved2})}
    show = _readable(G, zs)
    i2, e2 = moved2[0] if moved2 else (0, next(iter(w)))
    derivation = [(f"z_{u1}(x^(0))", zs[0][u1]),
                  (f"number of non-zero ∂z_{u1}(x_i)/∂θ_j among all {len(d1)} pairs (i, θ_j ∉ θ_F)",
                   sp.Integer(len(moved1))),
                  (f"per-sample ∂ℓ_i/∂θ_F after f'_{u1}(z_{u1}(x_i)) = 0 (any batch is a sum of these)",
                   sp.Matrix(per_sample).T),
                  (f"contrast: ∂z_{u2}(x^({i2}))/∂w[{_edge(e2)}]",
                   d2.get((i2, e2), sp.Integer(0)).xreplace(show)),
                  ("induction", "θ_F(t+1) = θ_F(t) − η Σ_{i∈B_t} ∂ℓ_i/∂θ_F = θ_F(t), and z_u(x_i) depends on "
                                "θ_F and x_i only, so f'_u(z_u(x_i)) = 0 holds again at step t+1.")]
    if moved1 or nonzero:
        return Evidence(MANIFOLD, "manifold-first-layer", "symbolic", "refuted",
                        f"First-layer unit {u1}: z_u or the per-sample gradient depends on parameters "
                        "outside θ_F.", setting, measured,
                        {"unit": u1, "dz": {f"{i}:{_edge(e)}": str(d1[(i, e)]) for i, e in moved1[:5]},
                         "per_sample_nonzero": [sp.sstr(g)[:500] for g in nonzero[:3]]},
                        derivation=derivation)
    return Evidence(MANIFOLD, "manifold-first-layer", "symbolic", "proved",
                    f"(a) First hidden layer, fixed data: z_{u1}(x_i) depends only on θ_F and x_i "
                    f"({len(d1)} derivatives are 0) and every per-sample ∂ℓ_i/∂θ_F vanishes, so by induction "
                    f"M_F is invariant and the unit stays frozen under GD/SGD in any batch order; a "
                    f"second-layer unit's z depends on {len(measured['second_layer_depends_on'])} upstream "
                    "parameters, so this argument does not reach it.", setting, measured,
                    derivation=derivation)


def _left_flat_end(a: activations.Activation) -> sp.Expr:
    """τ such that (−∞, τ] (or (−∞, τ)) is a piece of the flat set of ``a``."""
    parts = a.flat_set.args if isinstance(a.flat_set, sp.Union) else (a.flat_set,)
    return next(p.sup for p in parts if p.inf == -sp.oo)


def box_sup(w: Iterable[float], ranges: Iterable[tuple[float, float]], b: float) -> float:
    """sup over the box Π_i [l_i, u_i] of Σ_i w_i h_i + b = b + Σ_i max(w_i l_i, w_i u_i), with
    0·∞ = 0 (a zero weight ignores an unbounded input)."""
    return b + sum(max(wi * lo, wi * hi) if wi != 0 else 0.0 for wi, (lo, hi) in zip(w, ranges))


def _gd(model: MLP, batches: Iterable[tuple[torch.Tensor, torch.Tensor]], lr: float, layer: int,
        unit: int) -> tuple[list[float], list[bool]]:
    """Plain GD on L = Σ ½‖ŷ − y‖², one step per batch. For hidden unit ``unit`` of hidden layer
    ``layer`` (0-based) returns, before each step, max z_u over the batch and whether θ_F still
    equals its initial value bit for bit. Mutates ``model`` (training is its job)."""
    lin = model.hidden[layer]
    w0, b0 = lin.weight[unit].detach().clone(), lin.bias[unit].detach().clone()
    zmax, unmoved = [], []
    for X, Y in batches:
        tr = model.trace(X)
        zmax.append(tr.z[layer][:, unit].max().item())
        unmoved.append(bool(torch.equal(lin.weight[unit], w0) and torch.equal(lin.bias[unit], b0)))
        model.zero_grad()
        (0.5 * ((tr.out - Y) ** 2).sum()).backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= lr * p.grad
    return zmax, unmoved


def _mlp(widths: list[int], activation: str, seed: int) -> MLP:
    with torch.random.fork_rng():  # a seeded init that leaves the caller's torch RNG alone
        torch.manual_seed(seed)
        return MLP(widths, activation).double()


def manifold_sign_condition(config: Config) -> Evidence:
    """Case (b), data-independent. If every upstream h_i ≥ 0 (activations with range ⊂ [0, ∞)),
    every incoming weight w_i ≤ 0 and b < 0, then z = Σ w_i h_i + b < 0 on every input, which
    is in the flat set of any activation whose flat set contains (−∞, 0). General form (box
    condition): with h_i ∈ [l_i, u_i] the range of upstream unit i, sup_x z = S(θ_F) =
    b + Σ_i max(w_i l_i, w_i u_i); when S lies in a left flat interval (−∞, a] the unit is dead on
    every possible input. S depends on θ_F only, so the unit gets ∂L/∂θ_F = 0 on any batch of any
    data, θ_F never moves, S never changes: it stays dead forever while upstream layers learn."""
    m = 3
    ws = [sp.Symbol(f"w_{i}", nonpositive=True) for i in range(m)]
    hs = [sp.Symbol(f"h_{i}", nonnegative=True) for i in range(m)]
    b = sp.Symbol("b", negative=True)
    zexpr = sp.Add(*[wi * hi for wi, hi in zip(ws, hs)]) + b
    negative = zexpr.is_negative is True
    acts = activations.ACTIVATIONS
    flat_left = [n for n, a in acts.items()
                 if sp.Complement(sp.Interval.open(-sp.oo, 0), a.flat_set) is sp.S.EmptySet]
    nonneg = [n for n, a in acts.items() if bool(a.range[0] >= 0)]
    # sup of w·h over an interval [l, l + d]: max(w l, w u) for each sign of w
    h, l = sp.Symbol("h", real=True), sp.Symbol("l", real=True)
    d = sp.Symbol("d", positive=True)
    signs = {"w > 0": sp.Symbol("w", positive=True), "w < 0": sp.Symbol("w", negative=True),
             "w = 0": sp.Integer(0)}
    sup_ok = {k: sp.simplify(maximum(wv * h, h, sp.Interval(l, l + d)) - sp.Max(wv * l, wv * (l + d))) == 0
              for k, wv in signs.items()}

    # numeric: sign-dead (ReLU) and box-dead (hardtanh, mixed signs) units in the second hidden layer,
    # GD on fresh random data every step: θ_F never moves, the unit never revives, layer 1 moves
    steps = 60 if config.quick else 200
    runs = {}
    for name in ("relu", "hardtanh"):
        model = _mlp([3, 4, 4, 1], name, config.seed)
        a = activations.get(name)
        rng = torch.Generator().manual_seed(config.seed)
        lin = model.hidden[1]
        with torch.no_grad():
            if name == "relu":
                lin.weight[0] = -lin.weight[0].abs()
                lin.bias[0] = -0.1
            else:  # box condition with mixed signs: b + Σ|w_i| below the left flat end −1
                lin.bias[0] = float(_left_flat_end(a)) - lin.weight[0].abs().sum() - 0.1
        upstream = [(float(a.range[0]), float(a.range[1]))] * 4  # same activation upstream
        S = box_sup(lin.weight[0].tolist(), upstream, lin.bias[0].item())
        w1 = model.hidden[0].weight.detach().clone()
        batches = ((3 * torch.randn(16, 3, generator=rng, dtype=torch.float64),
                    torch.randn(16, 1, generator=rng, dtype=torch.float64)) for _ in range(steps))
        zmax, unmoved = _gd(model, batches, 0.05, 1, 0)
        runs[name] = {"box_sup_S": S, "incoming_weights": lin.weight[0].tolist(),
                      "max_z_over_all_batches": max(zmax), "theta_F_bitwise_unchanged": all(unmoved),
                      "first_layer_change": (model.hidden[0].weight - w1).norm().item(),
                      "dead_throughout": max(zmax) <= float(_left_flat_end(a))}
    numeric_ok = all(r["theta_F_bitwise_unchanged"] and r["dead_throughout"] and r["first_layer_change"] > 0
                     for r in runs.values())
    ok = negative and all(sup_ok.values()) and numeric_ok
    setting = {"architecture": "symbolic unit with 3 inputs; numeric 3-4-4-1 (unit h2.0)",
               "activation": {"flat set ⊇ (−∞,0)": flat_left, "upstream range ⊂ [0,∞)": nonneg},
               "loss": "any (numeric: mse on fresh N(0, 9) data every step)", "lr": 0.05, "steps": steps,
               "seed": config.seed,
               "hypotheses": "(b) upstream h_i ≥ 0, w_i ≤ 0, b < 0; general: b + Σ max(w_i l_i, w_i u_i) "
                             "in the left flat interval of f_u"}
    measured = {"z_is_negative": negative, "sup_formula_per_sign": sup_ok,
                "activations_flat_on_negatives": flat_left, "activations_with_nonnegative_range": nonneg,
                "numeric": runs}
    derivation = [("z (w_i ≤ 0, h_i ≥ 0, b < 0)", zexpr), ("z.is_negative", sp.sympify(negative)),
                  ("sup_{h∈[l,l+d]} w h, w > 0", maximum(signs["w > 0"] * h, h, sp.Interval(l, l + d))),
                  ("sup_{h∈[l,l+d]} w h, w < 0", maximum(signs["w < 0"] * h, h, sp.Interval(l, l + d))),
                  ("box condition", "dead on every input ⇔ S(θ_F) = b + Σ_i max(w_i l_i, w_i u_i) ∈ left "
                                    "flat interval of f_u (closed ranges); S depends on θ_F only")]
    verdict = "proved" if ok else "refuted"
    summary = ("(b) Data-independent: w ≤ 0, b < 0 on non-negative inputs "
               f"({', '.join(nonneg)}) gives z < 0, in the flat set of {', '.join(flat_left)}; in general a "
               "unit with b + Σ max(w_i l_i, w_i u_i) in the left flat interval is dead on every input, and "
               "since this depends on θ_F alone it stays dead forever under GD on any data (numeric: θ_F "
               "bit-identical over the whole run while layer 1 moved).") if ok else \
        "The sign/box condition failed to keep a unit dead."
    return Evidence(MANIFOLD, "manifold-sign-condition", "symbolic", verdict, summary, setting, measured,
                    None if ok else {"numeric": runs, "z_is_negative": negative, "sup_ok": sup_ok},
                    derivation=derivation)


def manifold_box_condition(config: Config) -> Evidence:
    """Case (c), bounded inputs x ∈ {0,1}^m: max_x (w·x + b) = b + Σ_i max(w_i, 0), attained at
    x_i = [w_i > 0]. So a ReLU unit is dead on the whole cube iff b + Σ max(w_i, 0) ≤ 0 (≤ because
    relu'(0) = 0: the registry's flat set (−∞, 0] is closed, torch's convention). Proved for
    m = 3 over every sign pattern of w in {−, 0, +}^m with w_i = ±a_i, a_i > 0, and checked
    numerically for random w up to m = 12 by enumerating all 2^m vertices."""
    m = 3
    a = [sp.Symbol(f"a_{i}", positive=True) for i in range(m)]
    b = sp.Symbol("b", real=True)
    vertices = list(itertools.product((0, 1), repeat=m))
    failures, shown = [], []
    for signs in itertools.product((-1, 0, 1), repeat=m):
        w = [s * ai for s, ai in zip(signs, a)]
        top = sp.Max(*[sp.Add(*[wi * xi for wi, xi in zip(w, x)]) + b for x in vertices])
        formula = b + sp.Add(*[ai for s, ai in zip(signs, a) if s > 0])
        if top != formula:
            failures.append({"signs": signs, "max": str(top), "formula": str(formula)})
        if signs in ((1, -1, 0), (1, 1, -1)):
            shown.append((f"max over {{0,1}}^3 of w·x + b, w = {tuple(w)}", top))
    relu = activations.get("relu")
    closed = bool(relu.flat_set.contains(0))
    rng = np.random.default_rng(config.seed)
    max_m, trials = (8, 100) if config.quick else (12, 200)
    dead = np.less_equal if closed else np.less
    max_err, mismatches = 0.0, 0
    for mm in range(1, max_m + 1):
        X = ((np.arange(2**mm)[:, None] >> np.arange(mm)) & 1).astype(np.float64)  # every vertex
        W = rng.normal(size=(trials, mm))
        B = rng.normal(size=trials)
        top = (X @ W.T).max(axis=0) + B
        formula = np.maximum(W, 0).sum(axis=1) + B
        max_err = max(max_err, float(np.abs(top - formula).max()))
        mismatches += int((dead(top, 0) != dead(formula, 0)).sum())
    ok = not failures and mismatches == 0 and max_err < 1e-12
    rel = "≤" if closed else "<"
    setting = {"architecture": "one ReLU unit on x ∈ {0,1}^m", "activation": "relu", "m_symbolic": m,
               "m_numeric": [1, max_m], "trials_per_m": trials, "seed": config.seed,
               "convention": f"relu'(0) = 0 (flat set (−∞, 0] contains 0: {closed}), so dead ⇔ S {rel} 0"}
    measured = {"sign_patterns": 3**m, "symbolic_failures": len(failures), "numeric_max_error": max_err,
                "numeric_dead_mismatches": mismatches, "tolerance": 1e-12}
    S = b + sp.Add(*[sp.Max(sp.Symbol(f"w_{i}", real=True), 0) for i in range(m)])
    derivation = [*shown, ("dead on all of {0,1}^m ⇔", sp.Le(S, 0) if closed else sp.Lt(S, 0))]
    if not ok:
        return Evidence(MANIFOLD, "manifold-box-condition", "symbolic", "refuted",
                        "max over the cube differs from b + Σ max(w_i, 0).", setting, measured,
                        {"symbolic": failures[:3], "numeric_max_error": max_err, "mismatches": mismatches},
                        derivation=derivation)
    return Evidence(MANIFOLD, "manifold-box-condition", "symbolic", "proved",
                    f"(c) On x ∈ {{0,1}}^m, max_x(w·x + b) = b + Σ max(w_i, 0) (all {3**m} sign patterns for "
                    f"m = {m} symbolically; m ≤ {max_m} numerically, error {max_err:.1e}), so a ReLU unit is "
                    f"dead on the whole cube iff b + Σ max(w_i, 0) {rel} 0 — a condition on θ_F alone, "
                    "which therefore persists under GD on any binary data.", setting, measured,
                    derivation=derivation)


def _revival(seed: int, widths: list[int], n: int, lr: float, steps: int, eps: float) -> dict | None:
    """A second-layer ReLU unit that is barely dead on the data (bias lowered so max z = −eps),
    not sign-dead, and revives under full-batch GD; None when no unit of this seed revives."""
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(n, widths[0], generator=gen, dtype=torch.float64)
    Y = torch.randn(n, widths[-1], generator=gen, dtype=torch.float64)
    for unit in range(widths[2]):
        model = _mlp(widths, "relu", seed)
        lin = model.hidden[1]
        with torch.no_grad():
            lin.bias[unit] -= model.trace(X).z[1][:, unit].max() + eps
        S = box_sup(lin.weight[unit].tolist(), [(0.0, float("inf"))] * widths[1], lin.bias[unit].item())
        if S <= 0:
            continue  # sign-dead: provably never revives (manifold_sign_condition)
        state = {k: v.tolist() for k, v in model.state_dict().items()}
        zmax, unmoved = _gd(model, [(X, Y)] * steps, lr, 1, unit)
        k = next((t for t, v in enumerate(zmax) if v > 0), None)
        if k is not None and zmax[0] <= 0 and k + 1 < steps:
            return {"seed": seed, "architecture": "-".join(map(str, widths)), "lr": lr,
                    "unit": f"h2.{unit}", "data_x": X.tolist(), "data_y": Y.tolist(),
                    "initial_weights": state, "box_sup_S": S, "revival_step": k, "max_z_step0": zmax[0],
                    "max_z_before_revival": zmax[k - 1], "max_z_at_revival": zmax[k],
                    "theta_F_bitwise_unchanged_while_dead": all(unmoved[:k + 1]),
                    "theta_F_moves_after_revival": not unmoved[k + 1], "zmax": zmax}
    return None


def _replay(found: dict, steps: int) -> list[float]:
    """Re-run GD from the counterexample's plain lists (float64 values round-trip exactly)."""
    widths = [int(v) for v in found["architecture"].split("-")]
    model = _mlp(widths, "relu", 0)
    model.load_state_dict({k: torch.tensor(v, dtype=torch.float64)
                           for k, v in found["initial_weights"].items()})
    X = torch.tensor(found["data_x"], dtype=torch.float64)
    Y = torch.tensor(found["data_y"], dtype=torch.float64)
    return _gd(model, [(X, Y)] * steps, found["lr"], 1, int(found["unit"].split(".")[1]))[0]


def manifold_paper_statement(config: Config) -> Evidence:
    """The paper treats M_F = {θ_F = θ_F0} as invariant whenever u is frozen on the data. Search
    (deterministically, over seeds from config.seed) a ReLU MLP with a deeper unit that is dead on
    the whole fixed data set at step 0, is not sign/box-dead, keeps θ_F bit-identical while dead,
    and revives at step k because the first layer moved: then θ(t) leaves M_F."""
    widths, n, lr, eps = [2, 3, 3, 1], 8, 0.05, 1e-3
    steps = 100 if config.quick else 200
    found = None
    for seed in range(config.seed * 1000, config.seed * 1000 + (10 if config.quick else 30)):
        found = _revival(seed, widths, n, lr, steps, eps)
        if found:
            break
    setting = {"architecture": "-".join(map(str, widths)), "activation": "relu",
               "loss": "mse (½Σ, full batch)", "optimizer": "GD, float64", "lr": lr, "samples": n,
               "steps": steps, "barely_dead_eps": eps, "seed": config.seed}
    conditions = ("holds under (a) first hidden layer on a fixed data set, (b) the sign condition w ≤ 0, "
                  "b < 0 on non-negative inputs, or (c) the box condition b + Σ max(w_i l_i, w_i u_i) in "
                  "the flat set")
    if found is None:
        return Evidence(MANIFOLD, "manifold-paper-statement", "numeric", "inconclusive",
                        f"M_F {conditions}; no revivable deeper unit was found in the search, so the "
                        "unconditional statement is neither confirmed nor refuted here.", setting,
                        {"found": False})
    replay = _replay(found, steps)
    k = found["revival_step"]
    zmax = found.pop("zmax")
    measured = {"revival_step": k, "max_z_step0": found["max_z_step0"],
                "max_z_before_revival": found["max_z_before_revival"],
                "max_z_at_revival": found["max_z_at_revival"], "box_sup_S": found["box_sup_S"],
                "theta_F_bitwise_unchanged_while_dead": found["theta_F_bitwise_unchanged_while_dead"],
                "theta_F_moves_after_revival": found["theta_F_moves_after_revival"],
                "replay_identical": replay == zmax}
    fig, ax = figures.new(5.5, 2.6)
    ax.plot(zmax, lw=1.2)
    ax.axhline(0, color="k", lw=0.6)
    ax.axvline(k, color="C3", lw=0.8, ls="--")
    ax.set(xlabel="GD step", ylabel=f"max_i z_{found['unit']}(x_i)")
    return Evidence(MANIFOLD, "manifold-paper-statement", "numeric", "qualified",
                    f"M_F {conditions}; not unconditionally: in a {setting['architecture']} ReLU MLP, "
                    f"second-layer unit {found['unit']} is dead on all {n} samples with θ_F bit-identical "
                    f"for {k} GD steps, then revives at step {k} (max z = {found['max_z_at_revival']:.2e}) "
                    "because layer 1 moved.", setting, measured, found,
                    derivation=[("max_i z_u(x_i) at steps 0, k−1, k",
                                 sp.Matrix([[sp.Float(v, 6) for v in (zmax[0], zmax[k - 1], zmax[k])]])),
                                ("why", "z_u = Σ_j w(j,u) h_j(x) + b_u: θ_F is frozen but h_j(x) = "
                                        "relu(W1 x + b1)_j moves with layer 1, so max_i z_u crosses 0.")],
                    figures=[(f"max pre-activation of {found['unit']} over the data set during GD; "
                              "dashed: revival", figures.svg(fig))])


# ---- frozen.activations ---------------------------------------------------------------------------

EXPECTED = {"exact": ("relu", "relu6", "hardtanh", "hardsigmoid", "step"),
            "asymptotic": ("tanh", "sigmoid", "gelu", "silu", "elu", "softplus"),
            "never": ("leaky_relu", "identity")}
# App. A.1.2's "half-vanishing" group; SELU is not in the registry (it is ELU scaled: asymptotic)
PAPER_HALF_VANISHING = ("relu", "elu", "gelu", "silu", "softplus")


def _torch_agreement(a: activations.Activation, grid: np.ndarray) -> tuple[dict, np.ndarray, np.ndarray]:
    """sympy expression vs torch_fn on the grid (float64), and torch's derivative: exactly 0.0
    inside the flat set, non-zero outside. Returns the statistics, f' and the flat-set mask."""
    f = sp.lambdify(Z, a.expr, ["scipy", "numpy"])
    t = torch.tensor(grid, dtype=torch.float64, requires_grad=True)
    y = a.torch_fn(t)
    (grad,) = torch.autograd.grad(y.sum(), t)
    ref = np.broadcast_to(np.asarray(f(grid), dtype=np.float64), grid.shape)
    flat = np.broadcast_to(sp.lambdify(Z, a.flat_set.as_relational(Z), "numpy")(grid), grid.shape)
    g = grad.numpy()
    return ({"max_value_error": float(np.max(np.abs(y.detach().numpy() - ref) / (1 + np.abs(ref)))),
             "flat_points": int(flat.sum()), "flat_points_with_nonzero_grad": int((g[flat] != 0).sum()),
             "active_points_with_zero_grad": int((g[~flat] == 0).sum())}, g, flat)


def _zero_weight_unit() -> tuple[bool, bool, sp.Expr]:
    """A unit u with incoming weights w = 0 and bias b has z_u(x_i) = b on every sample, so every
    f'_u(z_u(x_i)) is the one value f'_u(b) and ∂L/∂θ_F = f'_u(b)·C. Shown with a generic f_u in
    a 2-2-1 MLP (differentiate first, then set w = 0). Returns (z_u = b on every sample,
    ∂L/∂θ_F = 0 once f'_u(b) = 0, the bias component for display)."""
    G = net.mlp("2-2-1", activation="generic", output_activation="generic")
    w = net.weight_symbols(G)
    u, b = "h1.0", w[(net.BIAS, "h1.0")]
    off = {w[e]: 0 for e in net.incoming(G, u) if e[0] != net.BIAS}
    L, zs = net.dataset_loss(G, net.input_symbols(G, 2), net.target_symbols(G, 2), w)
    grads = [sp.diff(L, w[e]).xreplace(off) for e in net.incoming(G, u)]
    zs_off = [{v: e.xreplace(off) for v, e in z.items()} for z in zs]
    single = net.dphi_of(G)(u, b)
    return (all(z[u] == b for z in zs_off), all(g.xreplace({single: 0}) == 0 for g in grads),
            sp.factor_terms(grads[0].xreplace(_readable(G, zs_off, keep=(u,)))))


def _critical_root(a: activations.Activation) -> dict:
    """The first critical point c* of ``a`` refined to 40 digits, with a sign change of f' around
    it (so an exact root exists there), and f' at the float64 c* by torch autograd."""
    fprime = sp.lambdify(Z, a.derivative, "mpmath")
    with mpmath.workdps(40):
        root = mpmath.findroot(fprime, a.critical_points[0])
        residual = float(abs(fprime(root)))
        sign_change = bool(fprime(root - mpmath.mpf("1e-20")) * fprime(root + mpmath.mpf("1e-20")) < 0)
    t = torch.tensor(float(root), dtype=torch.float64, requires_grad=True)
    (g64,) = torch.autograd.grad(a.torch_fn(t), t)
    return {"c_star": float(root), "residual_at_40_digits": residual, "sign_change": sign_change,
            "float64_fprime_at_fl_c_star": float(g64)}


def activations_classify(config: Config) -> Evidence:
    """Classify every registry activation by how it can freeze, from its SymPy expression:
    'exact' when f' ≡ 0 on a set of positive measure (a flat piece), 'asymptotic' when f' → 0
    only as z → ±∞, 'never' otherwise; cross-check the registry against torch; compare with
    CLAIMS.md and with the paper's App. A.1.2 grouping."""
    grid = np.arange(-600, 601) / 100  # exact at the kinks −3, −1, 0, 1, 3, 6
    rows, curves = {}, {}
    for name, a in activations.ACTIVATIONS.items():
        stats, grad, flat = _torch_agreement(a, grid)
        lo, hi = a.derivative_limits
        rows[name] = {"freezing": a.freezing(), "flat_set": str(a.flat_set),
                      "flat_measure": float(a.flat_set.measure), "fprime_limits": [float(lo), float(hi)],
                      "range": [float(r) for r in a.range], "critical_points": a.critical_points, **stats}
        curves[name] = (grad, flat)
    expected = {n: cls for cls, names in EXPECTED.items() for n in names if n in rows}
    mismatched = {n: {"expected": cls, "computed": rows[n]["freezing"]}
                  for n, cls in expected.items() if rows[n]["freezing"] != cls}
    torch_bad = [n for n, r in rows.items() if r["max_value_error"] > 1e-12
                 or r["flat_points_with_nonzero_grad"] or r["active_points_with_zero_grad"]]
    paper = {n: rows[n]["freezing"] for n in PAPER_HALF_VANISHING}
    conflated = len(set(paper.values())) > 1
    # isolated critical points c* (GELU, SiLU): w = 0, b = c* is an exactly frozen unit
    critical = {n: _critical_root(a) for n, a in activations.ACTIVATIONS.items()
                if a.critical_points and a.freezing() == "asymptotic"}
    z_constant, gradient_zero, component = _zero_weight_unit()
    critical_ok = z_constant and gradient_zero and all(
        c["sign_change"] and c["residual_at_40_digits"] < 1e-30 for c in critical.values())
    by_class = {cls: [n for n, r in rows.items() if r["freezing"] == cls] for cls in EXPECTED}
    measured = {"per_activation": rows, "classes": by_class, "paper_half_vanishing": paper,
                "critical_point_freezing": critical, "zero_weight_unit_z_equals_b": z_constant,
                "zero_weight_unit_gradient_zero_at_root": gradient_zero, "torch_disagreements": torch_bad}
    setting = {"activation": list(rows), "grid": "[-6, 6] step 0.01, float64", "value_tolerance": 1e-12,
               "expected": EXPECTED, "seed": config.seed}
    derivation = [(f"freezes {cls}", ", ".join(names)) for cls, names in by_class.items()]
    derivation += [("f'_gelu(z)", activations.get("gelu").derivative),
                   ("∂L/∂b_u with w_u = 0 (2-2-1, generic f_u): its only f'_u factor is f'_u(b)", component)]
    figure = _derivative_figure(grid, curves, by_class)
    if mismatched:
        n = next(iter(mismatched))
        verdict, summary = "refuted", (f"{n} is classified '{mismatched[n]['computed']}', the claim says "
                                       f"'{mismatched[n]['expected']}'.")
    elif torch_bad:
        verdict, summary = "inconclusive", ("The registry's sympy and torch faces disagree for "
                                            f"{', '.join(torch_bad)}, so the classification is not trusted.")
    elif not critical_ok:
        verdict, summary = "inconclusive", "The critical-point freezing check failed (see measured)."
    else:
        crit = ", ".join(f"{n} c* = {c['c_star']:.4f}" for n, c in critical.items())
        verdict = "qualified" if conflated else "proved"
        summary = (f"Exact (flat piece of positive measure): {', '.join(by_class['exact'])}; asymptotic only "
                   f"(f' → 0 as z → ±∞): {', '.join(by_class['asymptotic'])}; never: "
                   f"{', '.join(by_class['never'])}. "
                   + ("The paper's 'half-vanishing' group puts ReLU (exact) with ELU, GELU, SiLU, Softplus "
                      "(asymptotic only). " if conflated else "")
                   + "Isolated critical points freeze exactly only on a measure-zero set "
                   f"(w = 0, b = c*: {crit}).")
    return Evidence(ACTIVATIONS, "activations-classify", "symbolic", verdict, summary, setting, measured,
                    {"mismatched": mismatched} if mismatched else None, derivation=derivation,
                    figures=[("f'(z) on [−6, 6] by torch autograd (float64); bars below 0: each activation's "
                              "flat set", figure)])


def _derivative_figure(grid: np.ndarray, curves: dict[str, tuple[np.ndarray, np.ndarray]],
                       by_class: dict[str, list[str]]) -> str:
    """One panel per class: f' of each activation; below the axis, a bar per activation over its
    flat set (earlier curves drawn thicker so coinciding ones, e.g. relu and relu6, stay visible)."""
    fig, axes = figures.new(11, 3.2, ncols=len(by_class))
    for ax, (cls, names) in zip(axes[0], by_class.items()):
        for k, n in enumerate(names):
            grad, flat = curves[n]
            ax.plot(grid, grad, lw=2.4 - 0.35 * k, color=f"C{k}", label=n)
            y0 = -0.1 * (k + 1)
            ax.fill_between(grid, y0, y0 + 0.05, where=flat, color=f"C{k}", lw=0)
        ax.axhline(0, color="k", lw=0.4)
        ax.set(title=cls, xlabel="z", ylim=(-0.1 * len(names) - 0.1, 1.2))
        ax.legend(fontsize=7, loc="upper left")
    axes[0][0].set_ylabel("f'(z)")
    return figures.svg(fig)
