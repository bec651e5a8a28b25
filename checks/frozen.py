"""Checks of the frozen family (CLAIMS.md, ``frozen.*``; paper §4, Prop. 4.1 (1); App. A.1.2; §5).

- frozen.gradient-zero: proved by the prover with generic activations and loss on MLPs and random
  DAGs, exactly on planted dead units (rational arithmetic and float64 autograd), bitwise on a trained
  network; negative controls: a unit active on one sample, a leaky-ReLU "dead" unit.
- frozen.manifold: the conditions under which M_F = {θ_F = θ_F0} persists — (a) first hidden layer
  on a fixed data set, (b) the sign condition, (c) the box condition — a found counterexample to the
  unconditional statement, and revival on a trained network.
- frozen.activations: which activations can freeze exactly, asymptotically, or never.
- frozen.optimizers: every registry optimizer's map decided on M_F (``theory.optimizers``) and run in
  torch (``numerics.frozen``).
- frozen.normalization: what BatchNorm/LayerNorm can and cannot do to a dead unit.
"""

from __future__ import annotations

import copy
import itertools
import math
import random
from dataclasses import dataclass, field, replace
from typing import Any

import networkx as nx
import numpy as np
import sympy as sp
import torch
from sympy.calculus.util import maximum

from cases.generator import PlantedDead, planted_dead, random_architecture
from checks.common import as_control, as_written, optimizer_verdict
from numerics import frozen as nf
from numerics.models import dag_gradient
from numerics.probes import certified_dead, dead_units, fprime_at, registry_agreement
from numerics.train import Setup, warm_up
from theory import activations, gaussian, manifolds, net
from theory import optimizers as opt
from theory.claims import check
from theory.evidence import Config, Evidence, Figure, Panel, Series
from theory.frozen import (
    critical_root,
    exact_gradient,
    frozen_gradient,
    frozen_hypothesis,
    live,
    zero_weight_unit,
)
from theory.invariance import prove, readable
from theory.updates import OPTIMIZERS

Edge = tuple[str, str]


@dataclass(frozen=True)
class Sizes:
    """Every size the frozen checks use; ``SIZES[config.quick]`` picks one (tests may swap in tiny ones)."""

    mlp_specs: tuple[str, ...] = ("2-2-2-1", "2-3-2-2-1")  # gradient-zero-mlp
    mlp_samples: int = 3
    dag_graphs: int = 4  # gradient-zero-dag: random DAGs and hidden units each
    dag_hidden: int = 4
    planted_per_pair: int = 2  # gradient-zero-exact: cases per (activation, architecture)
    first_layer_spec: str = "2-3-2-1"  # manifold-first-layer
    first_layer_samples: int = 3
    sign_steps: int = 200  # manifold-sign-condition: GD steps on fresh data
    box_max_m: int = 12  # manifold-box-condition: numeric cube dimensions and trials per dimension
    box_trials: int = 200
    revival_steps: int = 200  # manifold-paper-statement: GD steps, seeds searched
    revival_seeds: int = 30
    optimizer_steps: int = 200  # frozen-unit steps K after the freeze
    optimizer_warm: int = 50  # warm-up steps with every unit alive
    optimizer_figures: bool = True
    numeric: nf.Recipe = field(default_factory=nf.Recipe)  # the trained-network recipe


SIZES: dict[bool, Sizes] = {
    False: Sizes(),
    True: Sizes(mlp_specs=("2-2-2-1",), mlp_samples=2, dag_graphs=2, dag_hidden=3, planted_per_pair=1,
                first_layer_spec="2-2-2-1", first_layer_samples=2, sign_steps=60, box_max_m=8, box_trials=100,
                revival_steps=100, revival_seeds=10, optimizer_steps=60, optimizer_warm=20,
                optimizer_figures=False,
                numeric=nf.Recipe(n=1024, width=128, steps=150, batch=128, sgd_steps=300, sgd_batch=32,
                                  check_every=50, seeds=2, seeds_width=128, norm_steps=100)),
}

DTYPES = {"float64": torch.float64, "float32": torch.float32}
ZERO_DEAD = 0.01  # "normalization removes dead units": ≤ 1% dead in every layer and seed
CLEAR_DEAD = 0.05  # "the unnormalized network clearly has dead units": ≥ 5% overall in every seed


def _edge(e: Edge) -> str:
    return f"{e[0]}->{e[1]}"


def _exact_activations() -> list[str]:
    return [n for n, a in activations.ACTIVATIONS.items() if a.freezing() == "exact"]


def _layer(G: nx.DiGraph, k: int) -> list[str]:
    """The hidden units of layer k of an MLP."""
    return [v for v in G if G.nodes[v]["kind"] == "hidden" and G.nodes[v]["layer"] == k]


def _counts(masks: list[torch.Tensor]) -> list[int]:
    return [int(m.sum()) for m in masks]


def _setting(config: Config, recipe: nf.Recipe, model, **extra) -> dict:
    return {"architecture": model.describe(), "activation": model.activation, "task": nf.TASK,
            "samples": recipe.n, "optimizer": "adam", "lr": recipe.lr, "steps": recipe.steps,
            "batch": recipe.batch, "seed": config.seed, "device": config.device, "quick": config.quick,
            **extra}


# ---- frozen.gradient-zero -------------------------------------------------------------------------

@dataclass
class _Component:
    """One component ∂L/∂w(j, u) of a frozen unit, as the prover reduced it."""

    unit: str
    label: str
    before: sp.Expr  # as computed
    after: sp.Expr  # after f'_u(z_u(x_i)) ↦ 0, expanded
    live: bool  # some coefficient of f'_u(z_u(x_i)) is non-zero: the zero is not vacuous
    counterexample: dict | None


def _prove_frozen(graphs: list[nx.DiGraph], units: list[list[str]], n_samples: int, rng: random.Random,
                  seed: int) -> tuple[list[_Component], list[tuple[str, Any]]]:
    """Every component of every (graph, unit) through the prover (whole weight space, generic f_v
    and ℓ, hypothesis f'_u(z_u(x_i)) = 0), and a derivation showing the first unit's first component
    before and after the substitution."""
    components, derivation = [], []
    for G, us in zip(graphs, units):
        whole = manifolds.from_constraints("all weights", G, [])
        for u in us:
            proof = prove(G, whole, frozen_gradient(u), n_samples=n_samples, seed=seed,
                          given=frozen_hypothesis(u))
            components += [_Component(u, r.label, r.before, r.expr, live(r, proof.hypothesis, rng),
                                      proof.counterexample) for r in proof.reductions]
        if not derivation and components:
            c = components[0]
            w = net.weight_symbols(G)
            zs = [net.forward(G, x, w)[0] for x in net.input_symbols(G, n_samples)]
            show = readable(G, zs)
            fprimes = [show[net.dphi_of(G)(c.unit, z[c.unit])] for z in zs]
            derivation = [
                (f"{G.graph['spec']}: {c.label} by sympy.diff, grouped by f'_{c.unit}(z^(i)) (generic f_v "
                 "and ℓ)", sp.collect(c.before.xreplace(show), fprimes)),
                (f"after f'_{c.unit}(z_{c.unit}(x_i)) = 0 for i = 0..{n_samples - 1}", c.after),
            ]
    return components, derivation


def _generic_evidence(components: list[_Component], derivation: list, setting: dict, what: str,
                      n_units: int) -> Evidence:
    nonzero = [c for c in components if c.after != 0]
    dead_weight = [c for c in components if not c.live]
    measured = {"units": n_units, "components": len(components), "samples": setting["samples"],
                "zero_after_substitution": len(components) - len(nonzero),
                "nonzero_before_substitution": len(components) - len(dead_weight)}
    if not components:  # "every component is 0" of no component says nothing
        return Evidence(kind="symbolic", verdict="inconclusive",
                        summary=f"No component of ∂L/∂θ_F to reduce on {what}: the check is vacuous.",
                        setting=setting, measured=measured, derivation=derivation)
    if nonzero:
        c = nonzero[0]
        return Evidence(kind="symbolic", verdict="refuted" if c.counterexample else "inconclusive",
                        summary=f"{c.label} of frozen unit {c.unit} is not 0 after f'_u = 0.",
                        setting=setting, measured=measured,
                        counterexample={"unit": c.unit, "component": c.label,
                                        "after": sp.sstr(c.after)[:2000], "point": c.counterexample}
                        if c.counterexample else None,
                        derivation=derivation)
    if dead_weight:
        return Evidence(kind="symbolic", verdict="inconclusive",
                        summary=f"{len(dead_weight)} components are 0 even without the hypothesis, so the "
                                "check says nothing about them.",
                        setting=setting, measured=measured, derivation=derivation)
    return Evidence(kind="symbolic", verdict="proved",
                    summary=f"On {what}, all {len(components)} components of ∂L/∂θ_F (non-zero "
                            "expressions before) reduce exactly to 0 once f'_u(z_u(x_i)) = 0 on every "
                            "sample, for generic per-unit activations and a generic loss.",
                    setting=setting, measured=measured, derivation=derivation)


@check("frozen.gradient-zero")
def gradient_zero_mlp(config: Config) -> Evidence:
    """Prop. 4.1 (1) on MLPs with 2–3 hidden layers, one unit u per hidden layer, generic f_v
    and ℓ, symbolic data: ∂L/∂θ_F = Σ_i f'_u(z_u(x_i)) c_i(θ, x) reduces to 0."""
    sizes = SIZES[config.quick]
    rng = random.Random(config.seed)
    specs, n = list(sizes.mlp_specs), sizes.mlp_samples
    graphs = [net.mlp(s, activation="generic", output_activation="generic") for s in specs]
    units = [[rng.choice(_layer(G, k)) for k in range(1, len(s.split("-")) - 1)]
             for G, s in zip(graphs, specs)]
    components, derivation = _prove_frozen(graphs, units, n, rng, config.seed)
    setting = {"architecture": specs, "activation": "generic (f_v per unit)", "loss": "generic ℓ",
               "samples": n, "units": units, "seed": config.seed,
               "as_written": as_written(
                   "Let θ_F be the incoming weights and biases of units that are consistently saturated, "
                   "i.e. their activation function's derivative is zero for all inputs encountered; then "
                   "the gradient ∇_{θ_F} L(θ) is zero.", "§4, Prop. 4.1 (1)")}
    return _generic_evidence(components, derivation, setting, f"MLPs {', '.join(specs)}",
                             sum(map(len, units)))


@check("frozen.gradient-zero")
def gradient_zero_dag(config: Config) -> Evidence:
    """The same on random DAGs with skip connections (cases.generator), every hidden unit."""
    sizes = SIZES[config.quick]
    rng = random.Random(config.seed)
    n_graphs = sizes.dag_graphs
    graphs = [random_architecture(rng.randrange(2**31), "dag", "generic", "generic", sizes.dag_hidden)
              for _ in range(n_graphs)]
    units = [[v for v in G if G.nodes[v]["kind"] == "hidden"] for G in graphs]
    components, derivation = _prove_frozen(graphs, units, 2, rng, config.seed)
    skips = sum(1 for G in graphs for u, v in G.edges
                if u != net.BIAS and G.nodes[v]["layer"] - G.nodes[u]["layer"] > 1)
    setting = {"architecture": [G.graph["spec"] for G in graphs], "activation": "generic (f_v per unit)",
               "loss": "generic ℓ", "samples": 2, "seed": config.seed}
    ev = _generic_evidence(components, derivation, setting,
                           f"{n_graphs} random DAGs ({skips} skip connections)", sum(map(len, units)))
    ev.measured["skip_connections"] = skips
    return ev


def _case_gradients(case: PlantedDead) -> tuple[dict[Edge, sp.Rational], dict[Edge, float]]:
    """∂L/∂θ_F of a planted case exactly (SymPy rationals) and by torch autograd in float64 (an
    independent implementation)."""
    exact = exact_gradient(case.graph, case.weights, case.theta_f, case.data, case.targets)
    inputs = net.inputs(case.graph)
    X = np.array([[float(x[k]) for k in inputs] for x in case.data])
    Y = np.array([[float(t) for t in y] for y in case.targets])
    flt = dag_gradient(case.graph, case.weights, X, Y)
    return exact, {e: flt[e] for e in case.theta_f}


def _planted_evidence(cases: list[PlantedDead], control: bool, setting: dict) -> Evidence:
    """The one verdict rule for planted cases. A claim check is proved when every component of
    every case is 0 exactly and 0.0 in float64, refuted at the first non-zero one. A control
    (hypothesis violated) is refuted when every case shows a non-zero component, and
    inconclusive when some violation went unseen."""
    if not cases:
        return Evidence(kind="symbolic", verdict="inconclusive", setting={**setting, "control": control},
                        summary="No planted case to check: the check is vacuous.", measured={"cases": 0})
    rows, hits, hit_cases = [], [], []
    for case in cases:
        exact, flt = _case_gradients(case)
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
                  ("∂L/∂θ_F at θ_F0, exact", sp.Matrix(list(_case_gradients(shown)[0].values())).T)]
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
    return Evidence(kind="symbolic", verdict=verdict, summary=summary, setting=setting, measured=measured,
                    counterexample=hits[0] if verdict == "refuted" else None, derivation=derivation)


@check("frozen.gradient-zero")
def gradient_zero_exact(config: Config) -> Evidence:
    """Activations with an exact flat region: a planted unit with z_u(x_i) in the flat set on
    every sample has ∂L/∂θ_F = 0, exactly and in float64."""
    rng = random.Random(config.seed)
    names = _exact_activations()
    cases = [planted_dead(rng.randrange(2**31), name, arch, n_samples=3)
             for name in names for arch in ("mlp", "dag")
             for _ in range(SIZES[config.quick].planted_per_pair)]
    return _planted_evidence(cases, False, {"architecture": "random MLP and DAG (cases.generator)",
                                            "activation": names, "samples": 3, "seed": config.seed})


@check("frozen.gradient-zero")
def control_active_on_one_sample(config: Config) -> Evidence:
    """Negative control: the planted unit is in its flat set on all samples but one, where
    f'_u(z_u) ≠ 0; the gradient must then be non-zero."""
    rng = random.Random(config.seed)
    names = [n for n in _exact_activations() if activations.get(n).flat_set != sp.S.Reals]
    cases = [planted_dead(rng.randrange(2**31), name, ("mlp", "dag")[k % 2], n_samples=3, active_samples=1)
             for k, name in enumerate(names)]
    return _planted_evidence(cases, True, {"architecture": "random MLP and DAG (cases.generator)",
                                           "activation": names, "samples": 3, "active_samples": 1,
                                           "seed": config.seed,
                                           "note": "step is flat everywhere, so it has no active sample to "
                                                   "plant"})


@check("frozen.gradient-zero")
def control_leaky_relu(config: Config) -> Evidence:
    """Negative control: a leaky-ReLU unit with z_u < 0 on every sample ('dead' in the ReLU sense)
    still has f' = 0.01, so its gradient must be non-zero."""
    rng = random.Random(config.seed)
    cases = [planted_dead(rng.randrange(2**31), "leaky_relu", arch, n_samples=3,
                          region=sp.Interval.open(-sp.oo, 0)) for arch in ("mlp", "dag")]
    return _planted_evidence(cases, True, {"architecture": "random MLP and DAG (cases.generator)",
                                           "activation": "leaky_relu", "samples": 3,
                                           "region": "z_u < 0 on every sample", "seed": config.seed})


@check("frozen.gradient-zero")
def gradient_zero_trained(config: Config) -> Evidence:
    """frozen.gradient-zero on a trained network: dead ⇒ ∂L/∂θ_u = 0 bitwise, float64 and float32."""
    sizes = SIZES[config.quick].numeric
    model32, task, history = nf.trained_network(sizes, config.seed, config.device, progress=config.progress)
    audits = {}
    for name, dtype in DTYPES.items():
        model = copy.deepcopy(model32).to(dtype)
        audits[name] = (nf.audit(model, task.X.to(dtype), task.y), model)
    a64, a32 = audits["float64"][0], audits["float32"][0]
    total = sizes.width * sizes.depth
    dead64, dead32 = _counts(a64.dead), _counts(a32.dead)
    chunked = dead_units(audits["float64"][1], task.X)
    offenders = [(name, layer, int(unit), float(a.top_z[layer][unit]))
                 for name, (a, _) in audits.items() for layer, (d, m) in enumerate(zip(a.dead, a.moved))
                 for unit in (d & m).nonzero().flatten()]
    paper_only = [p & ~d for p, d in zip(a64.paper, a64.dead)]
    alive = [~d for d in a64.dead]
    dead_top = [t[d] for t, d in zip(a64.top_z, a64.dead)]
    measured = {
        "units_per_layer": sizes.width,
        "exact_dead_float64": dead64,
        "exact_dead_float32": dead32,
        "exact_dead_fraction_float64": sum(dead64) / total,
        "exact_dead_fraction_float32": sum(dead32) / total,
        "dead_only_in_float64": _counts([a & ~b for a, b in zip(a64.dead, a32.dead)]),
        "dead_only_in_float32": _counts([b & ~a for a, b in zip(a64.dead, a32.dead)]),
        "dead_with_nonzero_gradient_float64": _counts([d & m for d, m in zip(a64.dead, a64.moved)]),
        "dead_with_nonzero_gradient_float32": _counts([d & m for d, m in zip(a32.dead, a32.moved)]),
        "max_abs_dead_gradient_float64": a64.max_dead_grad,
        "max_abs_dead_gradient_float32": a32.max_dead_grad,
        "negative_zero_gradient_entries": a64.negative_zeros + a32.negative_zeros,
        "dead_largest_preactivation_float64": max((float(t.max()) for t in dead_top if t.numel()),
                                                  default=None),
        "paper_dead_float64": _counts(a64.paper),
        "paper_dead_not_exact": _counts(paper_only),
        "paper_dead_not_exact_nonzero_gradient": _counts([p & m for p, m in zip(paper_only, a64.moved)]),
        "exact_dead_not_paper_dead": _counts([d & ~p for p, d in zip(a64.paper, a64.dead)]),
        "alive_float64": _counts(alive),
        "alive_with_nonzero_gradient_float64": _counts([a & m for a, m in zip(alive, a64.moved)]),
        "chunked_pass_disagreements": _counts([c ^ d for c, d in zip(chunked, a64.dead)]),
        "train_accuracy": nf.accuracy(model32, task.X.float(), task.y),
        "train_final_batch_loss": history.loss[-1],
    }
    setting = _setting(config, sizes, model32, dtype="trained float32; audited float64 and float32",
                       loss="mean cross-entropy over all samples", exact_dead="relu: z ≤ 0 on every sample",
                       paper_dead="|h| < 1e-7 on > 95% of samples")
    n_dead = sum(dead64) + sum(dead32)
    frac = measured["exact_dead_fraction_float64"]
    paper_extra = sum(measured["paper_dead_not_exact"])
    paper_moving = sum(measured["paper_dead_not_exact_nonzero_gradient"])
    if offenders:
        dtype, layer, unit, top = offenders[0]
        verdict = "refuted"
        summary = (f"{len(offenders)} exact-dead unit(s) got a non-zero gradient, first {dtype} layer "
                   f"{layer + 1} unit {unit}.")
        counterexample = {"dtype": dtype, "layer": layer + 1, "unit": unit, "max_preactivation": top,
                          "offenders": len(offenders)}
    elif n_dead == 0:
        verdict, counterexample = "inconclusive", None
        summary = "The recipe killed no unit, so the gradient-zero property was not exercised."
    elif sum(measured["alive_with_nonzero_gradient_float64"]) == 0:
        verdict, counterexample = "inconclusive", None
        summary = "No alive unit has a non-zero gradient either: the gradient measurement is not trusted."
    else:
        verdict, counterexample = "confirmed", None
        zero = ("bitwise-zero (+0.0)" if measured["negative_zero_gradient_entries"] == 0 else
                f"exactly zero ({measured['negative_zero_gradient_entries']} entries −0.0)")
        summary = (f"Every exact-dead unit of a trained {sizes.depth}×{sizes.width} ReLU MLP "
                   f"({sum(dead64)} in float64, {sum(dead32)} in float32; {frac:.0%} of hidden units) has "
                   f"{zero} incoming-weight and bias gradients; {paper_extra} paper-dead units are "
                   f"not exact-dead and {paper_moving} of them get non-zero gradients.")
    layers = np.arange(1, sizes.depth + 1)
    figure = Figure("Dead units per layer after large-step Adam: paper definition vs exact (the theorem's).",
                    [Panel([Series("bar", layers - 0.2,
                                   np.array(measured["paper_dead_float64"]) / sizes.width, "paper dead",
                                   style={"width": 0.4}),
                            Series("bar", layers + 0.2, np.array(dead64) / sizes.width,
                                   "exact dead (float64)", style={"width": 0.4})],
                           xlabel="hidden layer", ylabel="fraction of units", xticks=layers)],
                    width=5.5, height=2.8)
    return Evidence(kind="numeric", verdict=verdict, summary=summary, setting=setting, measured=measured,
                    counterexample=counterexample, figures=[figure])


# ---- frozen.manifold ------------------------------------------------------------------------------

@check("frozen.manifold")
def manifold_first_layer(config: Config) -> Evidence:
    """Case (a). For a first-hidden-layer unit, z_u(x_i) = Σ_j w(x_j, u) x_{ij} + b_u depends on
    θ_F and x_i only: ∂z_u(x_i)/∂θ_j = 0 for every θ_j ∉ θ_F. Each per-sample gradient
    ∂ℓ_i/∂θ_F carries the factor f'_u(z_u(x_i)), so for any batch B of the fixed data set
    ∂L_B/∂θ_F = 0. Induction over steps: θ_F(t+1) = θ_F(t), hence z_u(x_i; θ(t+1)) = z_u(x_i; θ(t))
    and the unit stays frozen under GD/SGD with any batch order. A second-layer unit's z_u depends
    on the first layer's weights, which is why the argument stops at the first layer."""
    sizes = SIZES[config.quick]
    spec, n = sizes.first_layer_spec, sizes.first_layer_samples
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
    show = readable(G, zs)
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
        return Evidence(kind="symbolic", verdict="refuted",
                        summary=f"First-layer unit {u1}: z_u or the per-sample gradient depends on "
                                "parameters outside θ_F.",
                        setting=setting, measured=measured,
                        counterexample={"unit": u1,
                                        "dz": {f"{i}:{_edge(e)}": str(d1[(i, e)]) for i, e in moved1[:5]},
                                        "per_sample_nonzero": [sp.sstr(g)[:500] for g in nonzero[:3]]},
                        derivation=derivation)
    return Evidence(kind="symbolic", verdict="proved",
                    summary=f"(a) First hidden layer, fixed data: z_{u1}(x_i) depends only on θ_F and x_i "
                            f"({len(d1)} derivatives are 0) and every per-sample ∂ℓ_i/∂θ_F vanishes, so by "
                            "induction M_F is invariant and the unit stays frozen under GD/SGD in any batch "
                            "order; a second-layer unit's z depends on "
                            f"{len(measured['second_layer_depends_on'])} upstream parameters, so this "
                            "argument does not reach it.",
                    setting=setting, measured=measured, derivation=derivation)


@check("frozen.manifold")
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
    steps = SIZES[config.quick].sign_steps
    runs = {name: nf.sign_condition_run(name, config.seed, steps) for name in ("relu", "hardtanh")}
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
    return Evidence(kind="symbolic", verdict=verdict, summary=summary, setting=setting, measured=measured,
                    counterexample=None if ok else {"numeric": runs, "z_is_negative": negative,
                                                    "sup_ok": sup_ok},
                    derivation=derivation)


@check("frozen.manifold")
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
    failures, shown, checked = [], [], set()
    for signs in itertools.product((-1, 0, 1), repeat=m):
        checked.add(signs)
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
    max_m, trials = SIZES[config.quick].box_max_m, SIZES[config.quick].box_trials
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
    patterns = len(checked)  # distinct sign patterns in {−, 0, +}^m actually checked
    measured = {"sign_patterns": patterns, "symbolic_failures": len(failures), "numeric_max_error": max_err,
                "numeric_dead_mismatches": mismatches, "tolerance": 1e-12}
    S = b + sp.Add(*[sp.Max(sp.Symbol(f"w_{i}", real=True), 0) for i in range(m)])
    derivation = [*shown, ("dead on all of {0,1}^m ⇔", sp.Le(S, 0) if closed else sp.Lt(S, 0))]
    if not ok:
        return Evidence(kind="symbolic", verdict="refuted",
                        summary="max over the cube differs from b + Σ max(w_i, 0).", setting=setting,
                        measured=measured,
                        counterexample={"symbolic": failures[:3], "numeric_max_error": max_err,
                                        "mismatches": mismatches},
                        derivation=derivation)
    return Evidence(kind="symbolic", verdict="proved",
                    summary=f"(c) On x ∈ {{0,1}}^m, max_x(w·x + b) = b + Σ max(w_i, 0) (all {patterns} sign "
                    "patterns for "
                    f"m = {m} symbolically; m ≤ {max_m} numerically, error {max_err:.1e}), so a ReLU unit is "
                    f"dead on the whole cube iff b + Σ max(w_i, 0) {rel} 0 — a condition on θ_F alone, "
                    "which therefore persists under GD on any binary data.",
                    setting=setting, measured=measured, derivation=derivation)


@check("frozen.manifold")
def manifold_paper_statement(config: Config) -> Evidence:
    """The paper treats M_F = {θ_F = θ_F0} as invariant whenever u is frozen on the data. Search
    (deterministically, over seeds from config.seed) a ReLU MLP with a deeper unit that is dead on
    the whole fixed data set at step 0, is not sign/box-dead, keeps θ_F bit-identical while dead,
    and revives at step k because the first layer moved: then θ(t) leaves M_F."""
    sizes = SIZES[config.quick]
    widths, n, lr, eps = [2, 3, 3, 1], 8, 0.05, 1e-3
    steps = sizes.revival_steps
    found = None
    for seed in range(config.seed * 1000, config.seed * 1000 + sizes.revival_seeds):
        found = nf.revival_search(seed, widths, n, lr, steps, eps)
        if found:
            break
    setting = {"architecture": "-".join(map(str, widths)), "activation": "relu",
               "loss": "mse (½Σ, full batch)", "optimizer": "GD, float64", "lr": lr, "samples": n,
               "steps": steps, "barely_dead_eps": eps, "seed": config.seed,
               "as_written": as_written(
                   "The parameter trajectory becomes confined to a manifold M_F = {θ' : θ'_F = θ_F0}, where "
                   "θ_F0 are the values at which saturation occurred; 'since the frozen manifold argument is "
                   "self explanatory, we will only prove the cloning manifold result'.",
                   "§4, Prop. 4.1 (1); App. A.2 (no proof given)",
                   "M_F is invariant only while the saturation persists: for a first-layer unit on a fixed "
                   "data set, under the sign condition (w ≤ 0, b < 0 on non-negative inputs) or the box "
                   "condition; a deeper unit dead on every sample revives when the layers below move "
                   "(the counterexample here).")}
    conditions = ("holds under (a) first hidden layer on a fixed data set, (b) the sign condition w ≤ 0, "
                  "b < 0 on non-negative inputs, or (c) the box condition b + Σ max(w_i l_i, w_i u_i) in "
                  "the flat set")
    if found is None:
        return Evidence(kind="numeric", verdict="inconclusive",
                        summary=f"M_F {conditions}; no revivable deeper unit was found in the search, so the "
                                "unconditional statement is neither confirmed nor refuted here.",
                        setting=setting, measured={"found": False})
    replay = nf.replay(found, steps)
    k = found["revival_step"]
    zmax = found.pop("zmax")
    measured = {"revival_step": k, "max_z_step0": found["max_z_step0"],
                "max_z_before_revival": found["max_z_before_revival"],
                "max_z_at_revival": found["max_z_at_revival"], "box_sup_S": found["box_sup_S"],
                "theta_F_bitwise_unchanged_while_dead": found["theta_F_bitwise_unchanged_while_dead"],
                "theta_F_moves_after_revival": found["theta_F_moves_after_revival"],
                "replay_identical": replay == zmax}
    figure = Figure(f"max pre-activation of {found['unit']} over the data set during GD; dashed: revival",
                    [Panel([Series("line", np.arange(len(zmax)), zmax, style={"linewidth": 1.2}),
                            Series("hline", y=0, style={"color": "k", "linewidth": 0.6}),
                            Series("vline", x=k, style={"color": "C3", "linewidth": 0.8,
                                                        "linestyle": "dashed"})],
                           xlabel="GD step", ylabel=f"max_i z_{found['unit']}(x_i)")], width=5.5, height=2.6)
    return Evidence(kind="numeric", verdict="qualified",
                    summary=f"M_F {conditions}; not unconditionally: in a {setting['architecture']} ReLU "
                            f"MLP, second-layer unit {found['unit']} is dead on all {n} samples with θ_F "
                            f"bit-identical for {k} GD steps, then revives at step {k} (max z = "
                            f"{found['max_z_at_revival']:.2e}) because layer 1 moved.",
                    setting=setting, measured=measured, counterexample=found,
                    derivation=[("max_i z_u(x_i) at steps 0, k−1, k",
                                 sp.Matrix([[sp.Float(v, 6) for v in (zmax[0], zmax[k - 1], zmax[k])]])),
                                ("why", "z_u = Σ_j w(j,u) h_j(x) + b_u: θ_F is frozen but h_j(x) = "
                                        "relu(W1 x + b1)_j moves with layer 1, so max_i z_u crosses 0.")],
                    figures=[figure])


@check("frozen.manifold")
def manifold_trained(config: Config) -> Evidence:
    """frozen.manifold: plain SGD on a changed task, same inputs, from the trained network.

    The theory (probes.certified_dead) says first-layer dead units and sign-certified deeper ones
    stay dead with bitwise-unchanged parameters; other dead units of deeper layers may revive.
    """
    sizes = SIZES[config.quick].numeric
    model32, task, _ = nf.trained_network(sizes, config.seed, config.device, progress=config.progress)
    model, X, new = model32.double(), task.X, task.changed()
    generator = torch.Generator().manual_seed(config.seed)
    planted = {"first_layer": 0, "certified": [0] * sizes.depth}
    dead0 = dead_units(model, X)
    if not dead0[0].any():
        nf.plant_first_layer_dead(model, X, nf.alive_pick(dead0[0], sizes.plant, generator))
        planted["first_layer"] = sizes.plant
    cert0 = certified_dead(model, X)
    if not any(c.any() for c in cert0[1:]):
        for layer in range(1, sizes.depth):
            units = nf.alive_pick(dead_units(model, X)[layer], sizes.plant, generator)
            nf.plant_sign_dead(model, layer, units)
            planted["certified"][layer] = len(units)
    dead0, cert0 = dead_units(model, X), certified_dead(model, X)
    # the theory's promise: first-layer dead units (fixed data) and certified ones never move
    protected = [cert0[0] | dead0[0], *cert0[1:]]
    other0 = [d & ~p for d, p in zip(dead0, protected)]
    before, accuracy_before = nf.snapshot(model), nf.accuracy(model, X, new.y)
    # updates applied before the unit was first seen active (−1: never)
    revived = nf.first_activity(model, X, new.y, dead0, sizes.sgd_steps, sizes.sgd_lr, sizes.sgd_batch,
                                sizes.check_every, config.seed, config.progress)
    moved = nf.moved_units(model, before)
    ever = [r >= 0 for r in revived]
    dead1 = dead_units(model, X)
    cert_bad = [c & (m | e) for c, m, e in zip(cert0, moved, ever)]
    # a dead unit that moved without ever being seen active on a batch would contradict the theorem
    silent = [d & m & ~e for d, m, e in zip(dead0, moved, ever)]
    bad = [p & (m | e) | q for p, m, e, q in zip(protected, moved, ever, silent)]
    other_revived = [o & e for o, e in zip(other0, ever)]
    measured = {
        "sgd_steps": sizes.sgd_steps,
        "first_layer_dead": int(dead0[0].sum()),
        "first_layer_planted": planted["first_layer"],
        "first_layer_moved": int((dead0[0] & moved[0]).sum()),
        "first_layer_revived": int((dead0[0] & ever[0]).sum()),
        "certified_dead_per_layer": _counts(cert0),
        "certified_planted_per_layer": planted["certified"],
        "certified_moved_or_revived": _counts(cert_bad),
        "dead_not_certified_per_layer": _counts(other0),
        "revived_per_layer": _counts(other_revived),
        "still_dead_per_layer": _counts([o & d for o, d in zip(other0, dead1)]),
        "newly_dead_per_layer": _counts([d & ~d0 for d, d0 in zip(dead1, dead0)]),
        "moved_without_observed_activity": sum(_counts(silent)),
        "new_task_accuracy_before": accuracy_before,
        "new_task_accuracy_after": nf.accuracy(model, X, new.y),
    }
    n_other, n_revived = sum(measured["dead_not_certified_per_layer"]), sum(measured["revived_per_layer"])
    setting = _setting(config, sizes, model, dtype="float64", phase2="sgd", phase2_lr=sizes.sgd_lr,
                       phase2_steps=sizes.sgd_steps, phase2_batch=sizes.sgd_batch, weight_decay=0.0,
                       changed_task=new.describe(),
                       planted="none" if not (planted["first_layer"] or any(planted["certified"])) else
                       f"first layer {planted['first_layer']}, certified {planted['certified']} "
                       "(the trained network had none of that kind)")
    violations = sum(_counts(bad))
    if violations:
        layer = next(i for i, b in enumerate(bad) if b.any())
        unit = int(bad[layer].nonzero()[0])
        verdict = "refuted"
        summary = (f"THEORY VIOLATED: {violations} first-layer/certified dead unit(s) moved or revived under "
                   f"plain SGD, first layer {layer + 1} unit {unit}.")
        counterexample = {"layer": layer + 1, "unit": unit, "updates": int(revived[layer][unit]),
                          "moved": bool(moved[layer][unit])}
    elif n_revived:
        steps_all = torch.cat([r[e] for r, e in zip(revived, other_revived)])
        # the earliest revival: per layer the first revived unit, then the earliest layer
        masked = [r.where(e, r.new_tensor(1 << 62)) for r, e in zip(revived, other_revived)]
        _, layer, unit = min((int(r.min()), i, int(r.argmin())) for i, r in enumerate(masked))
        verdict = "qualified"
        summary = (f"First-layer ({measured['first_layer_dead']}) and sign-certified "
                   f"({sum(measured['certified_dead_per_layer'][1:])}) dead units stayed bitwise frozen "
                   f"for {sizes.sgd_steps} SGD steps on a changed task, but {n_revived} of {n_other} other "
                   f"dead units of deeper layers revived: the frozen manifold is not invariant for them.")
        counterexample = {"layer": layer + 1, "unit": unit,
                          "updates_before_revival": int(revived[layer][unit]),
                          "median_updates_before_revival": float(steps_all.double().median()),
                          "why": "its inputs come from layers that keep learning; it is dead on the data "
                                 "but not certified (some w_ji > 0 from a live upstream unit, or b ≥ 0)"}
    else:
        verdict, counterexample = "confirmed", None
        summary = (f"No dead unit revived in {sizes.sgd_steps} SGD steps on a changed task: "
                   f"{measured['first_layer_dead']} first-layer, "
                   f"{sum(measured['certified_dead_per_layer'][1:])} certified and {n_other} other dead "
                   "units stayed frozen.")
    panel = Panel(xlabel="SGD updates on the changed task", ylabel="dead units revived")
    for layer in range(sizes.depth):
        when = np.sort(revived[layer][other_revived[layer]].cpu().numpy())
        panel.series.append(Series("step", np.r_[0, when, sizes.sgd_steps],
                                   np.r_[0, np.arange(1, when.size + 1), when.size],
                                   f"layer {layer + 1} ({int(other0[layer].sum())} dead at start)"))
    figure = Figure("Revival of dead-but-not-certified units under SGD on a changed task (same inputs); "
                    "first-layer and certified dead units never revive.", [panel], width=5.5, height=2.8)
    return Evidence(kind="numeric", verdict=verdict, summary=summary, setting=setting, measured=measured,
                    counterexample=counterexample, figures=[figure])


# ---- frozen.activations ---------------------------------------------------------------------------

EXPECTED = {"exact": ("relu", "relu6", "hardtanh", "hardsigmoid", "step"),
            "asymptotic": ("tanh", "sigmoid", "gelu", "silu", "elu", "softplus"),
            "never": ("leaky_relu", "identity")}
# App. A.1.1's "half-vanishing" group (Swish is SiLU)
PAPER_HALF_VANISHING = ("relu", "elu", "selu", "gelu", "silu", "softplus")


@check("frozen.activations")
def activations_classify(config: Config) -> Evidence:
    """Classify every registry activation by how it can freeze, from its SymPy expression:
    'exact' when f' ≡ 0 on a set of positive measure (a flat piece), 'asymptotic' when f' → 0
    only as z → ±∞, 'never' otherwise; cross-check the registry against torch; compare with
    CLAIMS.md and with the paper's App. A.1.2 grouping."""
    grid = np.arange(-600, 601) / 100  # exact at the kinks −3, −1, 0, 1, 3, 6
    rows, curves = {}, {}
    for name, a in activations.ACTIVATIONS.items():
        stats, grad, flat = registry_agreement(a, grid)
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
    critical = {}
    for n, a in activations.ACTIVATIONS.items():
        if a.critical_points and a.freezing() == "asymptotic":
            root = critical_root(a)
            critical[n] = {**root, "float64_fprime_at_fl_c_star": fprime_at(a, root["c_star"])}
    z_constant, gradient_zero, component = zero_weight_unit()
    critical_ok = z_constant and gradient_zero and all(
        c["sign_change"] and c["residual_at_40_digits"] < 1e-30 for c in critical.values())
    by_class = {cls: [n for n, r in rows.items() if r["freezing"] == cls] for cls in EXPECTED}
    measured = {"per_activation": rows, "classes": by_class, "paper_half_vanishing": paper,
                "critical_point_freezing": critical, "zero_weight_unit_z_equals_b": z_constant,
                "zero_weight_unit_gradient_zero_at_root": gradient_zero, "torch_disagreements": torch_bad}
    setting = {"activation": list(rows), "grid": "[-6, 6] step 0.01, float64", "value_tolerance": 1e-12,
               "expected": EXPECTED, "seed": config.seed,
               "as_written": as_written(
                   "Half-vanishing half-growth: ReLU, ELU, SELU, GELU, Swish, Softplus; plateauing on "
                   "both sides: Tanh, Sigmoid, Softsign; notable exceptions LeakyReLU and parametric ReLU "
                   "variants that keep non-zero slopes on both sides.",
                   "App. A.1.1, the Remark on activation classes",
                   "The grouping by growth is right, but for freezing it mixes two kinds: ReLU (and ReLU6, "
                   "hardtanh, hard-sigmoid) freeze exactly on a set of positive measure; ELU, SELU, GELU, "
                   "SiLU/Swish, Softplus, tanh, sigmoid, softsign only asymptotically (f' → 0 as z → ±∞)."
                   if conflated else None)}
    derivation = [(f"freezes {cls}", ", ".join(names)) for cls, names in by_class.items()]
    derivation += [("f'_gelu(z)", activations.get("gelu").derivative),
                   ("∂L/∂b_u with w_u = 0 (2-2-1, generic f_u): its only f'_u factor is f'_u(b)", component)]
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
                   + ("The paper's 'half-vanishing' group puts ReLU (exact) with ELU, SELU, GELU, SiLU, "
                      "Softplus (asymptotic only). " if conflated else "")
                   + "Isolated critical points freeze exactly only on a measure-zero set "
                   f"(w = 0, b = c*: {crit}).")
    return Evidence(kind="symbolic", verdict=verdict, summary=summary, setting=setting, measured=measured,
                    counterexample={"mismatched": mismatched} if mismatched else None, derivation=derivation,
                    figures=[_derivative_figure(grid, curves, by_class)])


def _runs(x: np.ndarray, mask: np.ndarray) -> list[float]:
    """The intervals [x_first, x_last] of the runs of ``mask``, flattened (a band's x)."""
    edges = np.flatnonzero(np.diff(np.r_[0, mask.astype(int), 0]))
    return [v for start, stop in zip(edges[::2], edges[1::2]) for v in (x[start], x[stop - 1])]


def _derivative_figure(grid: np.ndarray, curves: dict[str, tuple[np.ndarray, np.ndarray]],
                       by_class: dict[str, list[str]]) -> Figure:
    """One panel per class: f' of each activation; below the axis, a band per activation over its
    flat set (earlier curves drawn thicker so coinciding ones, e.g. relu and relu6, stay visible)."""
    panels = []
    for cls, names in by_class.items():
        series = []
        for k, n in enumerate(names):
            grad, flat = curves[n]
            series.append(Series("line", grid, grad, n,
                                 style={"linewidth": 2.4 - 0.35 * k, "color": f"C{k}"}))
            y0 = -0.1 * (k + 1)
            series.append(Series("band", _runs(grid, flat), y0, y2=y0 + 0.05, style={"color": f"C{k}"}))
        series.append(Series("hline", y=0, style={"color": "k", "linewidth": 0.4}))
        panels.append(Panel(series, title=cls, xlabel="z", ylim=[-0.1 * len(names) - 0.1, 1.2],
                            legend="upper left"))
    panels[0].ylabel = "f'(z)"
    return Figure("f'(z) on [−6, 6] by torch autograd (float64); bars below 0: each activation's flat set",
                  panels, columns=len(panels), width=11, height=3.2)


# ---- frozen.optimizers --------------------------------------------------------------------------

@dataclass
class Outcome:
    """What one experiment family concludes; ``optimizer_check`` turns it into Evidence with the
    shared verdict rule (``checks.common.optimizer_verdict``)."""

    invariant: bool | None  # M_F kept by the map (None: only under the condition the summary names)
    agrees: bool  # torch did what the derivation predicts
    summary: str
    measured: dict[str, Any]
    counterexample: dict[str, Any] | None = None
    setting: dict[str, Any] = field(default_factory=dict)
    runs: list[tuple[str, nf.Run, nf.Comparison | None]] = field(default_factory=list)


@check("frozen.optimizers", "optimizer-{optimizer}", optimizer=tuple(OPTIMIZERS))
def optimizer_check(config: Config, optimizer: str) -> Evidence:
    """Is M_F invariant under ``optimizer``, and does the frozen unit stay dead? Derived from the
    registry map (``theory.optimizers.derive_frozen``), confirmed with the torch optimizer on a float64
    MLP."""
    d = opt.derive_frozen(optimizer)
    sizes = SIZES[config.quick]
    steps, warm_steps = sizes.optimizer_steps, sizes.optimizer_warm
    setup = Setup(optimizer, warm=warm_steps, seed=config.seed)
    experiment = {opt.INVARIANT: _invariant, opt.IFF_STATE: _carried_state,
                  opt.IFF_MASKS: _dropout}.get(d.category)
    if experiment is None:
        experiment = _noisy if d.random else _contraction
    out = experiment(d, setup, steps)
    if not d.closed_form_matches:
        out.agrees = False
        out.summary = (f"{optimizer}: the closed form of the frozen update does not reproduce "
                       f"{d.iterations_checked} iterations of the registry map — " + out.summary)
    measured = {"manifold_invariant": out.measured.pop("manifold_invariant"),
                "stays_dead": out.measured.pop("stays_dead"), **out.measured,
                "closed_form": str(d.drift), "drift_limit": str(d.drift_limit),
                "increment": str(d.increment), "contraction": str(d.contraction),
                "runs": [_run_record(label, run, cmp) for label, run, cmp in out.runs]}
    setting = {"optimizer": optimizer, "hyperparameters": setup.hp,
               "architecture": "-".join(map(str, setup.widths)), "activation": setup.activation,
               "K": steps, "warm_steps": warm_steps, "samples": setup.samples, "seed": config.seed,
               "dtype": "float64", "device": "cpu", "loss": "mse, full batch", **out.setting}
    figures = [_figure(optimizer, out.runs)] if sizes.optimizer_figures else []
    return Evidence(kind="symbolic", verdict=optimizer_verdict(out.invariant, out.agrees, out.counterexample),
                    summary=out.summary, setting=setting, measured=measured,
                    counterexample=out.counterexample, derivation=_derivation_items(d), figures=figures)


def _run_record(label: str, run: nf.Run, cmp: nf.Comparison | None) -> dict[str, Any]:
    record = {"run": label, "layer": run.layer, "unit": run.unit, "carried_steps": run.t0,
              "margin": run.margin, "max_param_change": run.max_change,
              "revived": run.revived_at is not None, "revived_at": run.revived_at,
              "carried_state_max": {k: float(np.abs(v).max()) for k, v in run.state0.items()}}
    if cmp is not None:
        record.update(drift_predicted=cmp.drift_predicted, drift_measured=cmp.drift_measured,
                      relative_error=cmp.error, tolerance=cmp.tolerance,
                      revival_predicted=cmp.revival_predicted)
    return record


def _derivation_items(d: opt.FrozenDerivation) -> list[tuple[str, Any]]:
    items = [("state decay ratios r, s_F ← r s_F with g_F = 0 (" + (", ".join(d.ratios) or "no state") + ")",
              sp.Tuple(*d.ratios.values())),
             ("contraction c = ∂θ_F'/∂θ_F", d.contraction),
             ("increment a(j) at the j-th frozen step: θ_F ← c θ_F + a(j)", d.increment),
             (f"Δθ_F after K frozen steps (matches {d.iterations_checked} literal iterations of the map: "
              f"{d.closed_form_matches})", d.drift)]
    if d.drift_limit is not None:
        items.append(("total drift as K → ∞", d.drift_limit))
    bound = opt.adam_bound(d)
    if bound is not None:
        items.append(("Σ_j |a(j)| ≤ (geometric, ratio β₁/√β₂ < 1; ε dropped)", bound))
    return items


def _figure(optimizer: str, runs: list[tuple[str, nf.Run, nf.Comparison | None]]) -> Figure:
    """‖θ_F(k) − θ_F0‖∞ per run, measured (dots) and predicted (line), and the revival steps."""
    series = []
    for i, (label, run, cmp) in enumerate(runs):
        colour = f"C{i}"
        k = np.arange(run.steps + 1)
        series.append(Series("line", k, np.abs(run.theta - run.theta[0]).max(axis=1), f"{label} (torch)",
                             style={"linestyle": "none", "marker": ".", "markersize": 3, "color": colour}))
        if cmp is not None:  # the closed form holds while the unit is dead
            end = cmp.compared_steps + 1
            series.append(Series("line", k[:end], np.abs(cmp.predicted[:end] - cmp.predicted[0]).max(axis=1),
                                 "closed form", style={"linewidth": 1, "color": colour, "alpha": 0.6}))
        if run.revived_at is not None:
            series.append(Series("vline", x=run.revived_at,
                                 style={"color": colour, "linestyle": "dotted", "linewidth": 1}))
    return Figure(f"{optimizer}: drift of the frozen unit's parameters (dotted lines: revival)",
                  [Panel(series, xlabel="frozen step k", ylabel="‖θ_F(k) − θ_F0‖∞")])


def _invariant(d: opt.FrozenDerivation, setup: Setup, steps: int) -> Outcome:
    """c = 1, a ≡ 0: θ_F never moves, carried state or not. Numerics: bitwise."""
    run = nf.freeze_and_continue(warm_up(setup), steps)
    bitwise = run.max_change == 0.0
    stays_dead = bitwise and run.revived_at is None
    carried = ", ".join(f"{k}_F (max {np.abs(v).max():.2g})" for k, v in run.state0.items())
    carried = f"; the carried {carried} only rescales g_F = 0" if carried else ""
    summary = (f"{d.optimizer}: M_F is invariant and the unit stays dead, because with g_F = 0 the map "
               f"is θ_F ← θ_F exactly (c = 1, a ≡ 0{carried}), so z_u is unchanged; derived symbolically "
               f"and confirmed bitwise over {steps} torch steps.")
    if not stays_dead:
        summary = (f"{d.optimizer}: symbolic and numeric disagree — the map fixes θ_F but torch moved it "
                   f"by {run.max_change:g} (revived at step {run.revived_at}).")
    measured = {"manifold_invariant": d.category == opt.INVARIANT, "stays_dead": stays_dead,
                "drift_predicted": 0.0, "drift_measured": run.max_change, "max_param_change": run.max_change,
                "revived": run.revived_at is not None, "symbolic_numeric_agree": stays_dead}
    return Outcome(True, stays_dead, summary, measured,
                   setting={"frozen_unit": {"layer": 0, "unit": run.unit}},
                   runs=[("carried state", run, None)])


def _drift_words(d: opt.FrozenDerivation) -> str:
    if d.drift_limit is None or d.drift_limit.has(sp.Sum):
        return "Σ_j a(j), finite because β₁ < √β₂" if opt.adam_bound(d) is not None else "Σ_j a(j)"
    return str(d.drift_limit)


def _carried_state(d: opt.FrozenDerivation, setup: Setup, steps: int) -> Outcome:
    """c = 1, a ∝ carried state: θ_F drifts by the closed form from a non-zero state, not at all from
    zero state; the drift revives the unit iff the margin is below R (``revival_margins``)."""
    warm = warm_up(setup)
    R = nf.revival_margins(d, warm, steps)
    unit = int(np.argmax(R))
    safe = nf.freeze_and_continue(warm, steps, unit, margin=float(max(R[unit], 0.0) + 0.5))
    safe_cmp = nf.compare(d, safe, setup.hp)
    runs = [("carried state, margin R + 0.5", safe, safe_cmp)]
    revival_ok, revival_words = True, ""
    if R[unit] > 1e-9:
        revive = nf.freeze_and_continue(warm, steps, unit, margin=float(R[unit] / 2))
        revive_cmp = nf.compare(d, revive, setup.hp)
        revival_ok = revive_cmp.revival_predicted == revive.revived_at and revive_cmp.agrees
        revival_words = (f", margin R/2 revived at step {revive.revived_at} (predicted "
                         f"{revive_cmp.revival_predicted})")
        runs.append(("carried state, margin R/2", revive, revive_cmp))
    zero = nf.freeze_and_continue(warm_up(Setup(setup.optimizer, warm=0, seed=setup.seed)), steps)
    runs.append(("zero state (frozen from initialisation)", zero, None))

    agrees = safe.max_change > 0 and safe_cmp.agrees and zero.max_change == 0.0 and revival_ok
    keys = ", ".join(f"{k}_F" for k in d.vanishing_state)
    summary = (f"{d.optimizer}: M_F is invariant iff the carried {keys} = 0, because with g_F = 0 the "
               f"state only decays and keeps moving θ_F by a(j) = {d.increment} (total {_drift_words(d)}), "
               f"and the unit stays dead iff its margin exceeds that drift's push on z_u; derived "
               f"symbolically, confirmed with torch (drift {safe_cmp.drift_measured:.6g} vs "
               f"{safe_cmp.drift_predicted:.6g}, relative error {safe_cmp.error:.1e}; zero state bitwise "
               f"fixed{revival_words}).")
    if not agrees:
        summary = (f"{d.optimizer}: symbolic and numeric disagree — drift error {safe_cmp.error:.2e} "
                   f"(tolerance {safe_cmp.tolerance:.1e}), zero-state change {zero.max_change:g}, revival "
                   f"as predicted: {revival_ok}.")
    measured = {"manifold_invariant": opt.IFF_STATE, "condition": f"{keys} = 0",
                "stays_dead": f"conditional: dead iff the margin below the flat edge exceeds the push "
                              f"R = max_k,x [z_u(x) + Δθ_F(k)·(x,1)] − max_x z_u(x) of the carried-state "
                              f"drift (R = {R[unit]:.4g} for the unit used)",
                "drift_predicted": safe_cmp.drift_predicted, "drift_measured": safe_cmp.drift_measured,
                "relative_error": safe_cmp.error, "tolerance": safe_cmp.tolerance,
                "max_param_change": safe.max_change, "zero_state_max_change": zero.max_change,
                "revived": safe.revived_at is not None, "revival_as_predicted": revival_ok,
                "symbolic_numeric_agree": agrees}
    bound = opt.adam_bound(d)
    if bound is not None:
        names = [opt.t0, d.state_symbols["m"], d.state_symbols["v"], *d.hp_symbols.values()]
        values = [safe.t0, safe.state0["m"], safe.state0["v"], *(setup.hp[k] for k in d.hp_symbols)]
        limit = sp.lambdify(names, bound, "numpy")(*values)
        measured.update(drift_bound=float(np.max(limit)), rho=float(d.ratios["m"].subs(
            d.hp_symbols["beta1"], setup.hp["beta1"]) / math.sqrt(setup.hp["beta2"])),
            drift_within_bound=bool(np.all(np.abs(safe.theta[-1] - safe.theta[0]) <= limit)))
    return Outcome(None, agrees, summary, measured, setting={"frozen_unit": {"layer": 0, "unit": unit}},
                   runs=runs)


def _contraction(d: opt.FrozenDerivation, setup: Setup, steps: int) -> Outcome:
    """c < 1 (weight decay): θ_F shrinks even from zero state. A ReLU unit stays dead (z → cz keeps
    its sign); a unit whose dead region (−∞, e] has e < 0 revives at the predicted step."""
    warm = warm_up(setup)
    R = nf.revival_margins(d, warm, steps)  # AdamW's carried moments could push a ReLU unit up
    unit = int(np.argmax(R))
    relu = nf.freeze_and_continue(warm, steps, unit, margin=float(max(R[unit], 0.0) + 0.5))
    relu_cmp = nf.compare(d, relu, setup.hp)
    revives = opt.contraction_revives()
    act = next(name for name, yes in revives.items() if yes)  # hardtanh, the first in the registry
    ht_warm = warm_up(Setup(setup.optimizer, activation=act, warm=0, seed=setup.seed))
    R = nf.revival_margins(d, ht_warm, steps)
    ht = nf.freeze_and_continue(ht_warm, steps, int(np.argmax(R)), margin=float(R.max() / 2))
    ht_cmp = nf.compare(d, ht, setup.hp)

    moved = ht.max_change > 0 and relu.max_change > 0
    agrees = relu_cmp.agrees and ht_cmp.agrees and ht_cmp.revival_predicted == ht.revived_at
    c_value = float(d.contraction.subs({d.hp_symbols[k]: setup.hp[k] for k in d.hp_symbols}))
    summary = (f"{d.optimizer}: M_F is not invariant even from zero state, because the frozen update "
               f"θ_F ← ({d.contraction})·θ_F{' + a(j)' if d.increment != 0 else ''} shrinks θ_F towards 0, "
               f"and the unit stays dead only if its flat region contains 0: a ReLU unit "
               f"{'stays dead' if relu.revived_at is None else 'REVIVED'} (z → cz keeps z ≤ 0), a {act} "
               f"unit (flat region (−∞, {ht.edge:g}]) revives at step {ht.revived_at} (predicted "
               f"{ht_cmp.revival_predicted}); derived symbolically, "
               + (f"confirmed with torch (drift relative error {relu_cmp.error:.1e})." if agrees
                  else "but torch deviates from the prediction (see measured)."))
    if not moved:
        summary = f"{d.optimizer}: the map predicts θ_F shrinks but torch left it fixed — disagreement."
    counterexample = {
        "activation": act, "frozen_from_initialisation": True, "contraction": c_value,
        "theta_F0": ht.theta[0], "theta_F_after_1_step": ht.theta[1], "margin_below_edge": ht.margin,
        "edge": ht.edge, "revival_step_predicted": ht_cmp.revival_predicted,
        "revival_step_measured": ht.revived_at}
    kept, lost = (", ".join(n for n, y in revives.items() if y is flag) for flag in (False, True))
    measured = {"manifold_invariant": False,
                "stays_dead": f"conditional: yes for {kept} (flat region contains 0), no for {lost} "
                              "(θ_F → cθ_F pulls z up to 0, out of the flat region)",
                "drift_predicted": relu_cmp.drift_predicted, "drift_measured": relu_cmp.drift_measured,
                "relative_error": relu_cmp.error, "tolerance": relu_cmp.tolerance,
                "symbolic_numeric_agree": agrees, "max_param_change": relu.max_change,
                "revived": relu.revived_at is not None, f"revived_{act}": ht.revived_at is not None,
                "contraction_revives": revives}
    return Outcome(False, moved and agrees, summary, measured, counterexample,
                   {"frozen_unit": {"layer": 0, "unit": unit}, "counterexample_activation": act},
                   [(f"{setup.activation}, carried state", relu, relu_cmp),
                    (f"{act}, zero state, margin R/2", ht, ht_cmp)])


def _noisy(d: opt.FrozenDerivation, setup: Setup, steps: int, draws: int = 6) -> Outcome:
    """a(j) = −η σ_t ‖g_t‖ ξ_t: a random walk on θ_F, no state needed. Numerics: the recovered
    ξ̂_t = Δθ_F,t / (∂a/∂ξ) must be N(0, 1); revival depends on the margin against the walk's
    spread s_K = (Σ_t (∂a/∂ξ)²)^{1/2}: ``draws`` noise draws at margins of ¼ and 4 times
    s_K·median‖(x, 1)‖ (s_K planned from the last warm-up gradient norm)."""
    warm = warm_up(setup)
    hp = [setup.hp[k] for k in d.hp_symbols]
    coef = sp.lambdify([opt.j, opt.t0, sp.Symbol("G", positive=True), *d.hp_symbols.values()],
                       d.noise_coefficient(), "numpy")
    js = np.arange(1, steps + 1)
    spread = np.sqrt(np.sum(coef(js, warm.opt.t, warm.grad_norm, *hp) ** 2))
    scale_x = float(np.median(np.linalg.norm(warm.layer_input(0), axis=1)))

    xis, groups = [], {}
    for factor in (0.25, 4.0):
        runs, p_revive, in_spreads, rms = [], [], [], []
        for draw in range(draws):
            run = nf.freeze_and_continue(warm, steps, margin=float(factor * spread * scale_x), draw=draw)
            end = run.revived_at if run.revived_at is not None else steps  # the walk holds for k ≤ end
            a_scale = coef(js[:end], run.t0, run.grad_norm[:end], *hp)
            xis.append((np.diff(run.theta[: end + 1], axis=0) / a_scale[:, None]).ravel())
            s_end = float(np.sqrt(np.sum(a_scale**2)))
            z = (run.edge - run.inputs @ run.theta[0]) / (s_end * np.linalg.norm(run.inputs, axis=1))
            # reflection principle: P(max_k walk_k > m) ≈ 2Φ̄(m/s) for the sample nearest the edge,
            # a lower estimate for "some sample revives"
            p_revive.append(math.erfc(z.min() / math.sqrt(2)))
            in_spreads.append(float(z.min()))
            rms.append((s_end, float(np.sqrt(np.mean((run.theta[end] - run.theta[0]) ** 2)))))
            runs.append(run)
        groups[factor] = {"runs": runs, "revived": float(np.mean([r.revived_at is not None for r in runs])),
                          "p_estimate": float(np.mean(p_revive)),
                          "margin_in_spreads": float(np.mean(in_spreads)),
                          "spread": float(np.mean([a for a, _ in rms])),
                          "rms_drift": float(np.sqrt(np.mean([b**2 for _, b in rms])))}
    xi = np.concatenate(xis)
    n, mean, var = xi.size, float(xi.mean()), float(xi.var())
    agrees = n > 0 and abs(mean) <= 5 / math.sqrt(n) and abs(var - 1) <= 5 * math.sqrt(2 / n)
    small, large = groups[0.25], groups[4.0]
    first = large["runs"][0]
    moved = all(r.max_change > 0 for g in groups.values() for r in g["runs"])
    words = [f"{g['margin_in_spreads']:.2f} spreads: {g['revived']:.0%} of {draws} walks revived "
             f"(estimate ≳ {g['p_estimate']:.0%})" for g in (small, large)]
    summary = (f"{d.optimizer}: M_F is not invariant, because every step adds −η σ_t‖g_t‖ξ_t to θ_F although "
               f"g_F = 0 (the noise scales with the live units' gradient), and whether the unit revives is "
               f"random, set by its margin against the walk's spread (margin {words[0]}; {words[1]}); "
               f"derived symbolically, confirmed with torch: the recovered ξ̂ has mean {mean:.3f}, "
               f"variance {var:.3f} over {n} draws" + ("." if agrees else " — NOT N(0, 1): disagreement."))
    if not moved:
        summary = f"{d.optimizer}: the map adds noise to θ_F but torch left it fixed — disagreement."
    counterexample = {"theta_F0": first.theta[0], "theta_F_after_1_step": first.theta[1],
                      "change_after_1_step": float(np.abs(first.theta[1] - first.theta[0]).max()),
                      "grad_norm_step_1": float(first.grad_norm[0]),
                      "dead_at_step_0": bool(first.z_max[0] <= first.edge)}
    measured = {"manifold_invariant": False,
                "stays_dead": "conditional (random): revives with probability ≈ 2Φ̄(margin / "
                              "(s_K‖(x,1)‖)) or more, s_K = η(Σ_t σ_t²‖g_t‖²)^{1/2}",
                "drift_predicted": large["spread"], "drift_measured": large["rms_drift"],
                "drift_note": "predicted: the walk's per-coordinate standard deviation s_K; measured: the "
                              f"RMS drift of θ_F's coordinates over the {draws} margin-4 walks",
                "xi_mean": mean, "xi_variance": var, "xi_draws": n, "symbolic_numeric_agree": agrees,
                "max_param_change": max(r.max_change for r in large["runs"]),
                "revived": small["revived"] > 0, "revived_fraction": [small["revived"], large["revived"]],
                "revival_probability_estimate": [small["p_estimate"], large["p_estimate"]],
                "margin_in_spreads": [small["margin_in_spreads"], large["margin_in_spreads"]]}
    return Outcome(False, moved and agrees, summary, measured, counterexample,
                   {"frozen_unit": {"layer": 0, "unit": 0}, "noise_draws": draws},
                   [("margin ¼ spread, first walk", small["runs"][0], None),
                    ("margin 4 spreads, first walk", first, None)])


def _dropout(d: opt.FrozenDerivation, setup: Setup, steps: int) -> Outcome:
    """a(j) = −η g̃_F: zero iff u is dead under the drawn mask. Numerics on a second-layer unit (the
    one dropout feeds): a sign-condition unit stays bitwise fixed; a unit dead only without dropout
    moves, and its eval-mode control does not."""
    analysis = opt.mask_analysis(setup.activation)
    layer, p = 1, setup.hp["p"]
    warm = warm_up(Setup(setup.optimizer, warm=setup.warm, seed=setup.seed, dropout=p))
    sign = nf.freeze_and_continue(warm, steps, layer=layer, plant="sign")
    mixed = nf.freeze_and_continue(warm, steps, layer=layer, margin=0.05)
    moved_at = np.flatnonzero(np.abs(np.diff(mixed.theta, axis=0)).max(axis=1) > 0)
    first_move = int(moved_at[0]) + 1 if moved_at.size else None
    control = nf.freeze_and_continue(warm, first_move or 1, layer=layer, margin=0.05, masks=False)
    w, b = mixed.theta[0][:-1], mixed.theta[0][-1]
    worst = b + np.clip(mixed.inputs[:, :-1] * w, 0, None).sum(axis=1) / (1 - p)  # the worst mask
    alive_predicted = bool((worst > mixed.edge).any())

    sign_fixed = sign.max_change == 0.0 and sign.revived_at is None
    refuted = mixed.max_change > 0 and analysis["counterexample"]["alive_under_mask"]
    agrees = (sign_fixed and control.max_change == 0.0 and analysis["sign_condition_dead_under_every_mask"]
              and alive_predicted == (mixed.revived_at is not None))
    ce = analysis["counterexample"]
    summary = (f"dropout: M_F is invariant iff u is dead under every mask, because the masked gradient "
               f"g̃_F vanishes only where z̃_u = b + Σ_j m_j w_j h_j/(1−p) stays in the flat region, so the "
               f"unit stays dead under the sign condition (w_j h_j ≤ 0, b < e; θ_F bitwise fixed in torch) "
               f"but one dead only without dropout is revived by a mask (z = {ce['z_without_dropout']} → "
               f"{ce['z_under_mask']} for w = {ce['w']}, mask {ce['mask']}; in torch it moved at step "
               f"{first_move}, its eval-mode control did not).")
    if not (refuted and agrees):
        summary = (f"dropout: symbolic and numeric disagree — sign-condition unit change "
                   f"{sign.max_change:g}, control change {control.max_change:g}, mixed unit change "
                   f"{mixed.max_change:g}, alive under some mask predicted {alive_predicted}, measured "
                   f"{mixed.revived_at is not None}.")
    counterexample = {"symbolic": ce,
                      "numeric": {"layer": layer, "unit": mixed.unit, "margin_without_dropout": mixed.margin,
                                  "first_step_theta_F_moved": first_move, "revived_at": mixed.revived_at,
                                  "max_param_change": mixed.max_change,
                                  "control_without_dropout_change": control.max_change}}
    measured = {"manifold_invariant": opt.IFF_MASKS,
                "stays_dead": "conditional: dead iff b + Σ_j (w_j h_j)⁺/(1−p) ≤ e on every input (the worst "
                              "mask); the sign condition w_j h_j ≤ 0, b < e guarantees it",
                "sign_condition_proved": analysis["sign_condition_dead_under_every_mask"],
                "worst_mask_formula_matches": analysis["worst_mask_formula_matches"],
                "drift_predicted": 0.0, "drift_measured": sign.max_change,
                "drift_note": "sign-condition unit: predicted and measured change of θ_F",
                "max_param_change": mixed.max_change, "revived": mixed.revived_at is not None,
                "alive_under_some_mask_predicted": alive_predicted, "worst_mask_z_max": float(worst.max()),
                "symbolic_numeric_agree": agrees}
    return Outcome(False, agrees, summary, measured, counterexample if refuted else None,
                   {"frozen_unit": {"layer": layer, "unit": mixed.unit}, "dropout_p": p},
                   [("sign condition, dropout", sign, None),
                    ("dead without dropout only, dropout", mixed, None),
                    ("same unit, eval mode (control)", control, None)])


# ---- frozen.normalization -------------------------------------------------------------------------

@check("frozen.normalization")
def normalization_bound(config: Config) -> Evidence:
    """frozen.normalization, derived: what BatchNorm/LayerNorm can and cannot do to a dead unit.

    For m values normalized to ẑ_i = (z_i − mean)/√(var + ε) (biased variance): Σ ẑ_i = 0 and
    Σ ẑ_i² = m·var/(var + ε) ≤ m, hence (Samuelson) max_i |ẑ_i| ≤ √(m−1). Without affine
    parameters some ẑ_i > 0 unless the m values are equal, so ReLU(ẑ) cannot be 0 on a whole batch
    (BatchNorm, m = batch size) or a whole layer (LayerNorm, m = width). With them, y = γẑ + β ≤
    |γ|√(m−1) + β < 0 whenever β < −|γ|√(m−1): the unit is dead on every batch whatever the data,
    ∂L/∂γ = ∂L/∂β = 0, so it stays dead forever (its incoming weights are frozen too under
    BatchNorm; under LayerNorm they still move, through the normalization of the other units).
    """
    sizes = SIZES[config.quick].numeric
    generator = torch.Generator().manual_seed(config.seed)
    bounds = {kind: nf.normalized_extremes(kind, m, 2000, generator)
              for kind, m in (("batch", sizes.norm_batch), ("layer", sizes.norm_width))}
    cases = {f"{kind}_{'affine' if affine else 'plain'}":
             nf.norm_case(kind, affine, sizes, config.seed, config.device, config.progress, generator)
             for kind in ("batch", "layer") for affine in (True, False)}
    bound_holds = all(b["max_abs"] <= b["bound"] for b in bounds.values())
    plain_positive = (all(b["nonconstant_with_positive"] == 1.0 for b in bounds.values())
                      and not cases["layer_plain"]["some_input_kills_whole_layer"])

    def frozen_forever(c: dict) -> bool:
        """Dead at start, never active, and the unit's normalization (or, under BatchNorm, all of
        its) parameters exactly unchanged."""
        keep = [k for k in c["unchanged"] if k in ("gamma", "beta") or c["norm"] == "batch"]
        return c["dead_at_start"] and c["steps_active"] == 0 and all(c["unchanged"][k] for k in keep)

    held = [name for name, c in cases.items() if frozen_forever(c)]
    measured = {"bound": bounds, **cases, "counterexamples_holding": held}
    setting = {"architecture": f"{sizes.d}-{sizes.norm_width}-{sizes.norm_width}-{sizes.classes} relu, "
                               "norm before the activation", "optimizer": "sgd", "lr": 0.1,
               "steps": sizes.norm_steps, "batch": sizes.norm_batch, "dtype": "float64", "seed": config.seed,
               "data": "Gaussian, Cauchy, shifted, ×100 and sparse inputs mixed; random labels",
               "device": config.device,
               "as_written": as_written(
                   "Normalization layers like BatchNorm or LayerNorm can help prevent activations from "
                   "becoming frozen: by standardizing pre-activation statistics they keep activations in "
                   "their non-linear range; even with learnable affine parameters (γ, β), these 'often act "
                   "to maintain pre-activations within a healthy range'.",
                   "§5, 'Preventing LoP with Normalization'",
                   None if not held else
                   "Normalization bounds |ẑ| ≤ √(m − 1) and so prevents exact death only without affine "
                   "parameters on non-constant batches; with β < −|γ|√(m − 1) a unit is dead on every batch, "
                   "forever (see the summary).")}
    if not bound_holds:
        verdict, counterexample = "inconclusive", None
        summary = "The derived bound |ẑ| ≤ √(m−1) failed numerically; the construction is not trusted."
    elif held:
        verdict = "qualified" if plain_positive else "refuted"
        b = cases["batch_affine"]
        counterexample = {"constructions": held, "batchnorm_affine": {
            "beta": f"-|gamma|*sqrt({sizes.norm_batch}-1) - 0.5", "steps_active": b["steps_active"],
            "max_abs_gradient": b["max_abs_gradient"]},
            "layernorm_plain_unit_dead_at_start": cases["layer_plain"]["dead_at_start"]}
        described = {"batch_affine": "BatchNorm with β < −|γ|√(B−1)",
                     "layer_affine": "LayerNorm with β_j < −|γ_j|√(n−1)",
                     "batch_plain": "BatchNorm without affine on constant pre-activations (ẑ ≡ 0)",
                     "layer_plain": "LayerNorm without affine, unit below the layer mean"}
        summary = (f"Normalization only bounds |ẑ| ≤ √(m−1); it prevents exact death only for BatchNorm "
                   f"without affine parameters on non-constant batches — units stayed dead for "
                   f"{sizes.norm_steps} SGD steps under: {'; '.join(described[h] for h in held)}.")
    else:
        verdict, counterexample = ("confirmed" if plain_positive else "inconclusive"), None
        summary = "No constructed unit stayed dead under normalization."
    return Evidence(kind="case", verdict=verdict, summary=summary, setting=setting, measured=measured,
                    counterexample=counterexample)


@check("frozen.normalization")
def normalization_trained(config: Config) -> Evidence:
    """frozen.normalization on the recipe: exact dead fraction per layer with BatchNorm, LayerNorm
    and no normalization before the activation, over seeds (BatchNorm read in eval mode). The
    networks are ``sizes.seeds_width`` wide (256 by default: 3 × seeds trainings must fit the time
    budget); depth, optimizer, step size, steps and batch are the recipe's."""
    sizes = SIZES[config.quick].numeric
    variants = (None, "batch", "layer")
    seeds = [config.seed + k for k in range(sizes.seeds)]
    frac = {}  # variant -> (seeds, layers)
    for norm in variants:
        rows = []
        for seed in seeds:
            model, task, _ = nf.trained_network(sizes, seed, config.device, norm, sizes.seeds_width,
                                                config.progress)
            rows.append([float(m.double().mean()) for m in dead_units(model, task.X.float())])
        frac[norm] = np.array(rows)
    name = {None: "none", "batch": "batchnorm", "layer": "layernorm"}
    overall = {v: frac[v].mean(1) for v in variants}  # equal widths: overall = mean over layers
    measured = {f"dead_fraction_{name[v]}_mean": frac[v].mean(0).tolist() for v in variants}
    measured |= {f"dead_fraction_{name[v]}_std": frac[v].std(0).tolist() for v in variants}
    measured |= {f"dead_overall_{name[v]}_per_seed": overall[v].tolist() for v in variants}
    measured |= {"seeds": seeds, "thresholds": {"zero": ZERO_DEAD, "clear": CLEAR_DEAD, "reduced": 0.5}}
    none_mean = float(overall[None].mean())
    zero = {v: bool(frac[v].max() <= ZERO_DEAD) for v in ("batch", "layer")}
    reduced = {v: bool(overall[v].mean() <= 0.5 * none_mean) for v in ("batch", "layer")}
    widths = replace(sizes, width=sizes.seeds_width).widths
    setting = _setting(config, sizes, model, dtype="float32", seeds=len(seeds),
                       architecture="-".join(map(str, widths)) + " relu; none / batchnorm / layernorm",
                       norms="none, batch, layer (before ReLU)", dead="exact (z ≤ 0 on every sample); "
                       "BatchNorm with its running statistics",
                       rule=f"inconclusive if 'none' has < {CLEAR_DEAD:.0%} dead in some seed; confirmed if "
                            f"both norms have ≤ {ZERO_DEAD:.0%} dead in every layer and seed; refuted if "
                            "neither halves the overall dead fraction of 'none'; qualified otherwise")
    counterexample = None
    if overall[None].min() < CLEAR_DEAD:
        verdict = "inconclusive"
        summary = (f"The recipe did not clearly kill units without normalization (overall dead "
                   f"{none_mean:.1%}), so the comparison says nothing.")
    else:
        verdict = ("confirmed" if all(zero.values()) else
                   "refuted" if not any(reduced.values()) else "qualified")
        summary = (f"Dead fraction after large-step Adam: none {none_mean:.1%}, BatchNorm "
                   f"{overall['batch'].mean():.1%}, LayerNorm {overall['layer'].mean():.1%} "
                   f"(mean over {len(seeds)} seeds).")
        worst = [v for v in ("batch", "layer") if not zero[v]]
        if worst:
            v = max(worst, key=lambda v: frac[v].max())
            s, layer = np.unravel_index(frac[v].argmax(), frac[v].shape)
            counterexample = {"norm": v, "seed": seeds[s], "layer": int(layer) + 1,
                              "dead_fraction": float(frac[v][s, layer]), "threshold": ZERO_DEAD}
    layers = np.arange(1, sizes.depth + 1)
    bars = [Series("bar", layers + (k - 1) * 0.27, frac[v].mean(0), name[v], error=frac[v].std(0),
                   style={"width": 0.27}) for k, v in enumerate(variants)]
    figure = Figure(f"Exact dead fraction per layer after Adam lr={sizes.lr}, {sizes.steps} steps; "
                    f"mean ± std over {len(seeds)} seeds.",
                    [Panel(bars, xlabel="hidden layer", ylabel="exact dead fraction", xticks=layers)],
                    width=5.5, height=2.8)
    return Evidence(kind="numeric", verdict=verdict, summary=summary, setting=setting, measured=measured,
                    counterexample=counterexample, figures=[figure])


# ---- frozen.activations as written: App. A.1.3, Validation 4 ------------------------------------------

#: The activations whose gradients the statement says are exactly zero after a large negative shift.
VALIDATION4_FORMS = {"printed": ("relu", "selu"), "corrected": ("relu",), "planted": ("relu", "sigmoid")}
VALIDATION4_SHIFT = -5.0  # the Figure's most negative shift b
VALIDATION4_SCALES = (0.1, 1.0, 10.0)  # its range of scales a
VALIDATION4_TAU = 1e-4  # its frozen criterion |f'| < 1e-4


def _intervals(s: sp.Set) -> list[tuple[float, float]]:
    """A union of intervals (a registry flat set) as (lo, hi) floats."""
    parts = s.args if isinstance(s, sp.Union) else () if s is sp.S.EmptySet else (s,)
    return [(float(p.inf), float(p.sup)) for p in parts]


@check("frozen.activations")
def validation4_as_written(config: Config, form: str = "printed") -> Evidence:
    """App. A.1.3, Validation 4: 'half-vanishing activations (ReLU, SELU): large negative shifts create
    extensive dead zones where gradients are exactly zero'. For g(z) = f(az + b), z ~ N(0, 1), P(g'(z) = 0)
    is the normal mass of the registry's flat set of f, exactly (``gaussian.frozen_fraction``), here at the
    Figure's most negative shift b = −5 for a ∈ {0.1, 1, 10}; a 'dead zone' is exactly-zero gradient on most
    inputs (P > 1/2 at a = 1). Measured beside it: P(|g'(z)| < 1e-4), the Figure's own frozen criterion
    (chain rule included). ``form`` picks the activations the statement is decided for."""
    names = VALIDATION4_FORMS[form]
    b, scales, tau = VALIDATION4_SHIFT, np.array(VALIDATION4_SCALES), VALIDATION4_TAU
    rows = {}
    for name in dict.fromkeys(("relu", "selu", *names)):
        f = activations.get(name)
        exact = gaussian.frozen_fraction(_intervals(f.flat_set), b, scales)
        below = [float(gaussian.frozen_fraction(gaussian.frozen_set(f, tau / a, abs(b) + 9 * a + 1), b, a))
                 for a in scales]
        rows[name] = {"flat_set": str(f.flat_set), "P_exactly_zero": exact, "P_below_tau": below,
                      "dead_zone": bool(exact[list(scales).index(1.0)] > 0.5)}
    failing = [n for n in names if not rows[n]["dead_zone"]]
    measured = {"shift_b": b, "scales_a": scales, "tau": tau, "per_activation": rows, "failing": failing,
                "decided_for": list(names)}
    setting = {"activation": list(names), "shift": b, "scales": list(scales), "tau": tau, "seed": config.seed,
               "P": "exact normal-cdf sums over the flat set (exactly zero) and over {x : a|f'(x)| < τ}"}
    if form == "printed":
        setting["as_written"] = as_written(
            "Half-vanishing activations (ReLU, SELU): large negative shifts create extensive dead zones "
            "where gradients are exactly zero, while positive shifts reduce non-linearity by making the "
            "activation nearly affine.",
            "App. A.1.3, Validation 4 (the insights after the 2D modulation figure)",
            "Exactly zero only for ReLU, on {az + b < 0}: P = Φ(−b/a). SELU's derivative λα e^x is "
            "positive everywhere, so its gradient is never exactly zero; a f'(az + b) falls below 1e-4 only "
            "where az + b < ln(1e-4/(λα a)) (−9.77 at a = 1), which at b = −5 needs a large scale a.")
    if failing:
        n0 = failing[0]
        r = rows[n0]
        summary = (f"Refuted for {', '.join(failing)}: at b = {b:g}, P(g'(z) = 0) = "
                   + ", ".join(f"{p:.3g}" for p in r["P_exactly_zero"])
                   + f" for a = {', '.join(map(str, scales))} (flat set {r['flat_set']}); "
                   f"P(|g'| < {tau:g}) = "
                   + ", ".join(f"{p:.2g}" for p in r["P_below_tau"])
                   + f". ReLU: P(g' = 0) = {rows['relu']['P_exactly_zero'][1]:.6f} at a = 1.")
        counter = {"activation": n0, "b": b, "a": scales, "P_exactly_zero": r["P_exactly_zero"],
                   "P_below_tau": r["P_below_tau"]}
        verdict = "refuted"
    else:
        summary = (f"{', '.join(names)}: at b = {b:g} the gradient is exactly zero with probability "
                   + ", ".join(f"{n} {rows[n]['P_exactly_zero'][1]:.6f}" for n in names) + " (a = 1).")
        verdict, counter = "confirmed", None
    return Evidence(kind="symbolic", verdict=verdict, summary=summary, setting=setting, measured=measured,
                    counterexample=counter)


@check("frozen.activations", name="validation4-as-written-control")
def validation4_as_written_control(config: Config) -> Evidence:
    """Negative control: the corrected statement (ReLU only) with sigmoid planted among the exactly-zero
    activations must be refuted."""
    return as_control(validation4_as_written(config, form="planted"),
                      "large negative shifts give exactly-zero gradients for ReLU and sigmoid")
