"""Checks of the stability family (CLAIMS.md, ``stability.*``; paper §4, Def. 4.2): are the traps stable?

The mathematics is in ``theory.curvature`` (normal curvature of frozen units and clones, the split λ
of a clone of a critical point, the classes of a spectrum); the numbers in ``numerics.curvature``
(the normal Hessian of torch networks, exact and by Lanczos) and ``numerics.cloned`` (the escape
runs). Here each check composes them and decides:

- stability.classify — frozen units: the normal Hessian δ_u f''(z_u) h̃h̃ᵀ, proved for generic f and
  ℓ; zero in a flat region (neutral: bitwise on a trained ReLU network, with the radius of
  neutrality measured); clones: the spectrum predicted from the base alone (neutral doubly centred
  directions, one split block per unit) against the exact spectrum, along training and with width,
  exact against Lanczos; a frozen block inside a clone (both manifolds); a clone with over a million
  parameters by Lanczos; planted classes that must come out as planted;
- stability.clone-critical — the split identities proved symbolically, the wide Hessian in the
  derivation's basis against diag(H̃, split block) on networks trained to a critical point, the class
  along λ; controls: an unbalanced split, a base that is not critical;
- stability.escape-rate — the growth of the off-manifold distance predicted from the most negative
  normal eigenvalue against the measured one: gradient descent at a critical clone, and the noisy-
  SGD and dropout runs of cloned.escape; control: a deliberately wrong prediction.

Every size read from ``config.quick`` is in ``SIZES``.
"""

from __future__ import annotations

import copy
import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
import sympy as sp
import torch

from numerics import clone as C
from numerics import cloned as nc
from numerics import curvature as K
from numerics.data import make_task
from numerics.metrics import exact_dead
from numerics.models import MLP, seeded
from numerics.train import batches, train
from theory import activations
from theory import curvature as T
from theory.claims import check
from theory.evidence import Config, Evidence, Figure, Panel, Series
from theory.frozen import critical_root
from theory.threads import one_thread

AGREE = 1e-8  # exact against Lanczos: |Δλ| ≤ AGREE · max(1, max|λ|)
CONGRUENCE = 1e-8  # Bᵀ H B against diag(H̃, split block): max entry, relative to max|H|
RATE_FACTOR = 2.0  # a predicted escape rate agrees when measured/predicted ∈ [1/2, 2]
CRITICAL_RATE = 0.05  # at a critical clone under GD the rate must agree to 5% (a constant H_N)
GRADIENT_ZERO = 1e3  # eigenvalues below GRADIENT_ZERO · ‖∇L‖ are not decided at an approximate critical point
KICK = 0.01  # the paper's single noisy step (σ relative to ‖g‖), as in cloned.escape


@dataclass(frozen=True)
class Sizes:
    """Every size the stability checks use: ``SIZES[config.quick]``."""

    frozen_specs: tuple = (("2-2-1", "h1.0"), ("2-2-2-1", "h2.0"))  # symbolic frozen curvature
    split_nets: tuple = ((2, 2, 1), (2, 2, 2))  # inputs, base width, outputs of the symbolic split
    n: int = 1024  # samples of the teacher task (trained networks of classify)
    d: int = 32
    classes: int = 10
    widths: tuple[int, ...] = (8, 16, 32)  # base hidden widths (2 hidden layers), ×2 clones
    exact_max: int = 6000  # exact spectra up to this many parameters of the clone
    checkpoints: tuple[int, ...] = (0, 100, 1000)  # Adam lr 1e-2, batch 64: the last is the training length
    lanczos_tol: float = 0.0
    frozen_width: int = 64  # the trained ReLU network of classify-frozen-relu: d-w-w-classes
    frozen_steps: int = 300
    frozen_units: int = 8  # at most this many dead units span the normal space
    large: tuple[int, ...] = (32, 256, 256, 256, 256, 10)  # base of classify-large (cloned ×large_factor)
    large_factor: int = 3
    large_samples: int = 512
    large_steps: int = 300
    large_tol: float = 1e-6
    critical_n: int = 64  # clone-critical: regression samples, tanh bases d-w-k
    critical_nets: tuple = ((3, 3, 1), (3, 3, 2), (2, 4, 1), (4, 5, 3))
    escape_net: tuple = (3, 3, 2)  # escape-rate-critical: the clone of this critical base
    lambdas: tuple[float, ...] = (-0.5, 0.0, 0.25, 0.5, 0.75, 1.0, 1.5)
    escape: nc.Recipe = field(default_factory=nc.Recipe)  # the cloned.escape runs
    snapshots: tuple[int, ...] = (1, 10, 100, 316, 1000, 2000)  # steps at which λ_min is computed
    escape_tol: float = 1e-4  # Lanczos accuracy of the escape predictions (two digits suffice)
    gd_max_steps: int = 20000  # escape-rate-critical: GD until the kick grew e^8 or this many steps
    gd_kick: float = 1e-7


SIZES: dict[bool, Sizes] = {
    False: Sizes(),
    True: Sizes(
        split_nets=((1, 2, 1), (1, 2, 2)), n=256, widths=(8, 16), exact_max=1000, checkpoints=(0, 50, 500),
        lanczos_tol=1e-10, frozen_steps=200, frozen_units=2, large=(32, 64, 64, 10), large_factor=2,
        large_samples=256, large_steps=100, lambdas=(-0.5, 0.0, 0.5, 1.0, 1.5),
        escape=nc.Recipe(n=1024, narrow_pretrain=500, escape_steps=500), snapshots=(1, 100, 500),
        escape_tol=1e-3, gd_max_steps=5000,
    ),
}


# ---- shared pieces ----------------------------------------------------------------------------------


def _classification(
    manifold: str,
    activation: str,
    spectrum_class: str,
    inertia: T.Inertia | None,
    lowest: float,
    highest: float,
    **extra: Any,
) -> tuple[dict, dict]:
    """(setting, measured) entries every classification record carries."""
    setting = {"manifold": manifold, "activation": activation}
    measured = {"class": spectrum_class, "normal_eigenvalues": {"smallest": lowest, "largest": highest}}
    if inertia is not None:
        measured["counts"] = {
            "negative": inertia.negative,
            "zero": inertia.zero,
            "positive": inertia.positive,
            "zero_tolerance": inertia.tolerance,
        }
    measured.update(extra)
    return setting, measured


def _spectrum_figure(caption: str, curves: dict[str, Sequence[float]]) -> Figure:
    """Sorted normal eigenvalues (index against value), one line per spectrum."""
    series = [
        Series("line", np.arange(len(v)), np.asarray(v, dtype=float), label, style={"linewidth": 1.2})
        for label, v in curves.items()
    ]
    series.append(Series("hline", y=0.0, style={"color": "gray", "linestyle": "dotted"}))
    return Figure(
        caption,
        [Panel(series, xlabel="index (ascending)", ylabel="eigenvalue of H_N")],
        width=5.8, height=3.0,
    )


def _task(sizes: Sizes, seed: int):
    return make_task("teacher", sizes.n, sizes.d, sizes.classes, seed)


@functools.lru_cache(maxsize=8)
def _trained(sizes: Sizes, activation: str, width: int, seed: int) -> dict[int, MLP]:
    """The base d-width-width-classes trained by Adam (lr 1e-2, batch 64) on the teacher task, float64,
    at every step of ``sizes.checkpoints``."""
    task = _task(sizes, seed)
    model = seeded([sizes.d, width, width, sizes.classes], activation, seed)
    kept = {0: copy.deepcopy(model)} if 0 in sizes.checkpoints else {}

    def keep(t: int, trace, idx) -> None:
        if t in sizes.checkpoints:
            kept[t] = copy.deepcopy(model)

    with one_thread():
        train(model, task.X, task.y, max(sizes.checkpoints), "adam", {"lr": 1e-2}, 64, seed, on_step=keep)
    return kept


# ---- stability.classify: frozen units ------------------------------------------------------------


@check("stability.classify")
def classify_frozen_symbolic(config: Config) -> Evidence:
    """The normal Hessian of M_F for generic f and ℓ: H_N = Σ δ_u f''(z_u) h̃h̃ᵀ on M_F, 0 in a flat
    region, and the third derivatives along θ_F vanish there too (``theory.curvature.frozen_curvature``)."""
    results = [T.frozen_curvature(spec, unit) for spec, unit in SIZES[config.quick].frozen_specs]
    proved = all(r.proved for r in results)
    derivation: list[tuple[str, Any]] = []
    for r in results:
        derivation += [
            (f"{r.network}, unit {r.unit}: ∂²L/∂θ_F² entry (1, 1) as computed", r.hessian[0, 0]),
            (f"{r.network}: formula δ_u f''(z_u) h̃h̃ᵀ, entry (1, 1)", r.formula[0, 0]),
            (f"{r.network}: hessian − formula with f'(z_u) = 0", r.on_manifold),
            (f"{r.network}: hessian with f'(z_u) = f''(z_u) = 0", r.flat),
            (f"{r.network}: third derivatives along θ_F with f' = f'' = f''' = 0", sp.Matrix(r.third)),
        ]
    derivation.append(
        (
            "meaning",
            "L depends on θ_F only through z_u = θ_F·h̃. In a flat region every "
            "derivative of f vanishes, so L is constant on a neighbourhood of θ_F: the normal "
            "curvature is exactly zero (neutral) — no force pulls θ_F back or pushes it out; "
            "noise makes it diffuse until z_u leaves the flat region and the unit revives. At an "
            "isolated critical point c of f (GELU's minimum) the class follows the signs of "
            "δ_u(x_i) f''(c) over the data: stable, unstable or a saddle.",
        )
    )
    dim = sum(len(r.edges) for r in results)
    setting, measured = _classification(
        "frozen",
        "generic (f' = f'' = 0 on the flat region)",
        "neutral" if proved else "inconclusive",
        None,
        0.0,
        0.0,
    )
    setting |= {
        "networks": [f"{r.network} unit {r.unit}" for r in results],
        "loss": "generic ℓ",
        "samples": "one symbolic sample (the loss is a sum over samples)",
    }
    measured |= {
        "proved": proved,
        "normal_dimension": dim,
        "nonzero_entries": sum(int(e != 0) for r in results for e in [*r.on_manifold, *r.flat, *r.third]),
    }
    summary = (
        "On M_F the normal Hessian is Σ_i δ_u f''(z_u) h̃h̃ᵀ (proved for generic f, ℓ); in a flat "
        "region it is exactly 0 and so are the third derivatives: neutral, not stable, unstable or a "
        "saddle."
        if proved
        else "The frozen normal Hessian did not reduce to the formula."
    )
    return Evidence(kind="symbolic", verdict="proved" if proved else "inconclusive", summary=summary,
                    setting=setting, measured=measured, derivation=derivation)


@functools.lru_cache(maxsize=4)
def _frozen_network(sizes: Sizes, seed: int) -> tuple[MLP, Any]:
    """A ReLU MLP d-w-w-classes trained by Adam at lr 1e-2 (the killing recipe of the frozen family)."""
    task = _task(sizes, seed)
    model = seeded([sizes.d, sizes.frozen_width, sizes.frozen_width, sizes.classes], "relu", seed)
    with one_thread():
        train(model, task.X, task.y, sizes.frozen_steps, "adam", {"lr": 1e-2}, 64, seed)
    return model, task


def neutrality_radius(obj: K.Objective, layer: int, units: Sequence[int], v: torch.Tensor) -> float:
    """ε* = min over the units u and the samples i with s_ui = v_u · h̃_i > 0 of −z_u(x_i)/s_ui: moving θ_F by
    εv changes z_u(x_i) to z_u(x_i) + ε s_ui, so every z stays ≤ 0 (ReLU's flat region) exactly for ε ≤ ε*
    and a unit revives on one sample beyond it (the first-layer inputs h̃ do not move with θ_F)."""
    model = obj.model
    with torch.no_grad():
        trace = model.trace(obj.X)
        h_in = obj.X if layer == 0 else trace.h[layer - 1]
        h = torch.cat([h_in, torch.ones_like(h_in[:, :1])], 1)
        parts = obj.unflatten(v)
        w = torch.cat([parts[f"linears.{layer}.weight"], parts[f"linears.{layer}.bias"][:, None]], 1)
        speed = h @ w[list(units)].T
        z = trace.z[layer][:, list(units)]
        times = torch.where(speed > 0, -z / speed, torch.full_like(z, math.inf))
    return float(times.min())


@check("stability.classify")
def classify_frozen_relu(config: Config) -> Evidence:
    """Frozen units of a trained ReLU network: the exact normal Hessian of M_F for the first-layer units
    dead on the whole data set (zero, bitwise?), and the higher-order evidence of neutrality: the loss is
    bitwise unchanged along a random normal direction up to the radius ε* where a unit revives, and
    changes beyond it."""
    sizes = SIZES[config.quick]
    model, task = _frozen_network(sizes, config.seed)
    model = copy.deepcopy(model)
    with one_thread():
        obj = K.Objective(model, task.X, task.y)
        with torch.no_grad():
            zs = obj.model.trace(obj.X).z
        found = [
            [int(u) for u in torch.nonzero(exact_dead(z, "relu") & (z.max(0).values < 0)).flatten()]
            for z in zs
        ]
        layer = max(range(len(zs)), key=lambda k: len(found[k]))
        units, planted = found[layer][: sizes.frozen_units], False
        if not units:  # no unit died: plant one by its bias (numerics.frozen.plant_first_layer_dead)
            from numerics.frozen import plant_first_layer_dead

            plant_first_layer_dead(model, task.X.to(model.linears[0].weight.dtype), torch.tensor([0]), 0.1)
            obj, layer, units, planted = K.Objective(model, task.X, task.y), 0, [0], True
        space = K.frozen_space(obj, layer, units)
        Q, HN = K.normal_hessian(obj, space)
        values = torch.linalg.eigvalsh(HN)
        gen = torch.Generator().manual_seed(config.seed)
        v = space.project(torch.randn(obj.n, generator=gen, dtype=torch.float64))
        v = v / v.norm()
        radius = neutrality_radius(obj, layer, units, v)
        L0 = float(obj.loss(obj.theta))
        inside = [float(obj.loss(obj.theta + f * radius * v)) - L0 for f in (0.25, 0.5, 0.99)]
        outside = [float(obj.loss(obj.theta + f * radius * v)) - L0 for f in (1.5, 3.0)]
    zero = float(HN.abs().max())
    flat = all(d == 0.0 for d in inside)
    revives = any(d != 0.0 for d in outside)
    i = T.inertia(values.numpy(), 0.0)
    cls = T.classify(i, neutral=space.dim if flat else 0)
    setting, measured = _classification("frozen", "relu", cls, i, float(values[0]), float(values[-1]))
    setting |= {
        "architecture": obj.model.describe(),
        "task": f"teacher n={sizes.n}",
        "seed": config.seed,
        "training": f"adam lr=1e-2 {sizes.frozen_steps} steps batch 64 (kills units)",
        "units": f"hidden layer {layer + 1}: every unit dead on every sample with a positive margin"
        + (" (planted: none died)" if planted else ""),
        "dtype": "float64",
    }
    measured |= {
        "frozen_units": len(units),
        "normal_dimension": space.dim,
        "max_abs_normal_hessian": zero,
        "neutrality_radius": radius,
        "loss_change_inside_radius": inside,
        "loss_change_outside_radius": outside,
        "higher_order": "loss bitwise constant inside ε*" if flat else "loss changed inside ε*",
    }
    ok = zero == 0.0 and flat and revives
    verdict = "qualified" if ok else "inconclusive"
    summary = (
        f"{len(units)} dead units (layer {layer + 1}) of a trained ReLU MLP: the {space.dim}×{space.dim} "
        f"normal Hessian of M_F is exactly 0 (bitwise) and the loss is bitwise constant along a random "
        f"normal direction up to ε* = {radius:.3g}, where a unit revives (loss change {outside[0]:.2g} at "
        f"1.5ε*): neutral — not unstable or a saddle as the paper suggests, and not stable either."
        if ok
        else f"Frozen ReLU units: max|H_N| = {zero:.2g}, loss constant inside ε*: {flat}, "
        f"changes outside: {revives}."
    )
    fig = Figure(
        "Loss change along a random normal direction of M_F, as a multiple of the radius of "
        "neutrality ε* (exact zeros drawn at 1e-20).",
        [
            Panel(
                [
                    Series(
                        "line",
                        [0.25, 0.5, 0.99, 1.5, 3.0],
                        np.maximum(np.abs(inside + outside), 1e-20),
                        "|L(θ + εv) − L(θ)|",
                        style={"marker": "o"},
                    ),
                    Series("vline", x=1.0, style={"color": "gray", "linestyle": "dotted"}),
                ],
                xlabel="ε / ε*", ylabel="|ΔL|", yscale="log",
            )
        ],
        width=5.0, height=3.0,
    )
    return Evidence(
        kind="numeric", verdict=verdict, summary=summary, setting=setting, measured=measured, figures=[fig]
    )


# ---- stability.classify: clones -------------------------------------------------------------------


def _clone_row(base: MLP, task, exact_max: int, tol: float, seed: int) -> dict:
    """The ×2 equal-split clone of ``base``: predicted inertia (base alone), exact spectrum (when small
    enough), Lanczos ends, class."""
    cloning = C.expand(C.widths(base), 2)
    wide = C.clone(copy.deepcopy(base).double(), cloning)
    obj = K.Objective(wide, task.X, task.y)
    space = K.clone_space(obj, cloning)
    widths = C.widths(base)
    neutral = sum(a * b for a, b in zip(widths[1:-2], widths[2:-1]))
    predicted = K.clone_inertia(K.Objective(base, task.X, task.y), 2)
    ends = K.lanczos(obj, space, tol=tol, seed=seed)
    row = {
        "parameters": obj.n,
        "normal_dimension": None,
        "predicted_counts": predicted,
        "lanczos": [ends.lowest, ends.highest],
        "lanczos_products": ends.products,
        "lanczos_normal_share": list(ends.normal_share),
        "neutral_directions": neutral,
        "gradient_norm": float(obj.gradient().norm()),
    }
    if obj.n <= exact_max:
        s = K.spectrum(obj, space)
        i = T.inertia(s.values.numpy())
        scale = max(1.0, float(s.values.abs().max()))
        row |= {
            "normal_dimension": s.dim,
            "counts": (i.negative, i.zero, i.positive),
            "exact": [i.smallest, i.largest],
            "zero_tolerance": i.tolerance,
            "class": T.classify(i, neutral),
            "lanczos_gap": max(abs(ends.lowest - i.smallest), abs(ends.highest - i.largest)) / scale,
            "spectrum": s.values.numpy(),
            "symmetry": float((s.values + s.values.flip(0)).abs().max()),
        }
    else:
        tol_ends = 1e-8 * max(abs(ends.lowest), abs(ends.highest))
        row["class"] = "saddle" if ends.lowest < -tol_ends and ends.highest > tol_ends else "inconclusive"
    return row


@check("stability.classify", "classify-cloned-{activation}", activation=("relu", "tanh"))
def classify_cloned(config: Config, activation: str) -> Evidence:
    """The leaf M_D of ×2 clones of trained networks: the normal spectrum's inertia predicted from the base
    alone (``numerics.curvature.clone_inertia``: neutral doubly centred directions, one split block
    [[K/4, C], [Cᵀ, 0]] per unit) against the exact spectrum; exact against Lanczos; the class along
    training (checkpoints) and with width."""
    sizes = SIZES[config.quick]
    task = _task(sizes, config.seed)
    neutral_proof = T.clone_neutral()
    rows = {}
    with one_thread():
        for width in sizes.widths:  # along training at the first width, at the end of training beyond it
            nets = _trained(sizes, activation, width, config.seed)
            for step, base in nets.items():
                if width == sizes.widths[0] or step == max(sizes.checkpoints):
                    rows[(width, step)] = _clone_row(
                        base, task, sizes.exact_max, sizes.lanczos_tol, config.seed
                    )
    exact = {k: r for k, r in rows.items() if "counts" in r}
    mismatched = [k for k, r in exact.items() if tuple(r["counts"]) != tuple(r["predicted_counts"])]
    disagree = [k for k, r in exact.items() if r["lanczos_gap"] > AGREE]
    classes = {f"width {w}, step {s}": r["class"] for (w, s), r in rows.items()}
    main = rows[(sizes.widths[0], max(sizes.checkpoints))]
    lo, hi = main["exact"] if "exact" in main else main["lanczos"]
    i_main = T.Inertia(*main["counts"], lo, hi, main["zero_tolerance"]) if "counts" in main else None
    setting, measured = _classification("cloned", activation, main["class"], i_main, lo, hi)
    setting |= {
        "architecture": f"{sizes.d}-w-w-{sizes.classes} {activation}, ×2 equal-split clone",
        "widths": list(sizes.widths),
        "checkpoints": list(sizes.checkpoints),
        "task": f"teacher n={sizes.n}",
        "training": "adam lr=1e-2 batch 64, float64",
        "seed": config.seed,
        "loss": "cross-entropy (mean)",
        "class_of": f"width {sizes.widths[0]} at step {max(sizes.checkpoints)}",
        "agreement": f"exact vs Lanczos |Δλ| ≤ {AGREE:g}·max(1, max|λ|)",
    }
    measured |= {
        "neutral_directions_proved": neutral_proof.proved,
        "classes": classes,
        "rows": {
            f"width {w}, step {s}": {k: v for k, v in r.items() if k != "spectrum"}
            for (w, s), r in rows.items()
        },
        "predicted_equals_measured": not mismatched,
        "exact_vs_lanczos_max_gap": max((r["lanczos_gap"] for r in exact.values()), default=None),
    }
    saddles = sum(c == "saddle" for c in classes.values())
    if mismatched or disagree or not neutral_proof.proved:
        verdict = "refuted" if mismatched else "inconclusive"
        key = (mismatched or disagree or [next(iter(rows))])[0]
        counterexample = (
            {
                "width": key[0],
                "step": key[1],
                "measured": rows[key].get("counts"),
                "predicted": rows[key]["predicted_counts"],
            }
            if mismatched
            else None
        )
        summary = (
            f"The predicted inertia missed {len(mismatched)} of {len(exact)} exact spectra; exact and "
            f"Lanczos disagreed in {len(disagree)}; neutral directions proved: {neutral_proof.proved}."
        )
    else:
        verdict, counterexample = "confirmed", None
        sym = (
            f"; the spectrum is symmetric about 0 (ReLU has f'' = 0, so each split block is "
            f"[[0, C], [Cᵀ, 0]]: max|λ_k + λ_(n−k)| = {max(r['symmetry'] for r in exact.values()):.1g})"
            if activation == "relu"
            else ""
        )
        summary = (
            f"×2 clones of trained {activation} networks: the leaf M_D is a saddle in {saddles} of "
            f"{len(classes)} cases (widths {', '.join(map(str, sizes.widths))}, steps "
            f"{', '.join(map(str, sizes.checkpoints))}); the base alone predicts the exact inertia in all "
            f"{len(exact)} exact spectra, with {main['neutral_directions']} exactly neutral doubly centred "
            f"directions (proved: ∇L constant along them){sym}; Lanczos agrees with the exact ends to "
            f"{measured['exact_vs_lanczos_max_gap']:.1g}."
        )
    curves = {
        f"width {w}, step {s}": r["spectrum"] for (w, s), r in exact.items() if s == max(sizes.checkpoints)
    }
    figs = (
        [
            _spectrum_figure(
                f"Normal spectrum of the leaf M_D of ×2 {activation} clones after training "
                "(exact; eigenvalues ascending).",
                curves,
            )
        ]
        if curves
        else []
    )
    w0 = sizes.widths[0]
    ends = [
        Series(
            "line",
            list(sizes.checkpoints),
            [rows[(w0, s)]["lanczos"][j] for s in sizes.checkpoints],
            f"width {w0} λ_{'min' if j == 0 else 'max'}",
            style={"marker": "o"},
        )
        for j in (0, 1)
    ]
    figs.append(
        Figure(
            f"Ends of the normal spectrum of the ×2 {activation} clone along the base's training (Lanczos).",
            [Panel(ends, xlabel="training step of the base", ylabel="λ of H_N")],
            width=5.8, height=3.0,
        )
    )
    derivation = [
        (label, 0 if value == 0 else value) for label, value in list(neutral_proof.reduced.items())[:3]
    ]
    derivation.insert(
        0,
        (
            "neutral directions",
            "∇L(θ + tR) − ∇L(θ) for R doubly centred on a hidden block "
            f"pair of a {neutral_proof.network} clone, generic f per block and generic ℓ: every "
            "component reduces to 0 (first three shown)",
        ),
    )
    derivation.append(
        (
            "prediction",
            "H commutes with the swaps of clones, so H_N splits by characters: the "
            "doubly centred directions (H R = 0) and, per base unit u, a copy of "
            "[[K_u/4, C_u], [C_uᵀ, 0]] (K_u = Σ δ_u f'' h̃h̃ᵀ, C_u = Σ f' h̃ gᵀ); its zero block "
            "makes it indefinite as soon as C_u ≠ 0 — a saddle.",
        )
    )
    return Evidence(kind="numeric", verdict=verdict, summary=summary, setting=setting, measured=measured,
                    counterexample=counterexample, derivation=derivation, figures=figs)


@check("stability.classify")
def classify_both(config: Config) -> Evidence:
    """M_F ∩ M_D: a ×2 clone of a trained ReLU base one of whose first-layer units is made dead (by its
    bias; its clones form a dead block). The normal space adds the dead block's incoming weights; the
    predicted inertia is the clone's plus that many neutral zeros."""
    sizes = SIZES[config.quick]
    task = _task(sizes, config.seed)
    from numerics.frozen import plant_first_layer_dead

    with one_thread():
        base = copy.deepcopy(_trained(sizes, "relu", sizes.widths[0], config.seed)[max(sizes.checkpoints)])
        plant_first_layer_dead(base, task.X, torch.tensor([0]), 0.1)
        cloning = C.expand(C.widths(base), 2)
        wide = C.clone(base, cloning)
        obj = K.Objective(wide, task.X, task.y)
        both = K.intersection(K.frozen_space(obj, 0, [0, 1]), K.clone_space(obj, cloning))
        s = K.spectrum(obj, both)
        i = T.inertia(s.values.numpy())
        leaf = K.clone_inertia(K.Objective(base, task.X, task.y), 2)
        widths = C.widths(base)
        extra = widths[0] + 1  # the dead block's block-constant incoming weights and bias
        predicted = (leaf[0], leaf[1] + extra, leaf[2])
        neutral = widths[1] * widths[2] + extra
    cls = T.classify(i, neutral)
    setting, measured = _classification("both", "relu", cls, i, i.smallest, i.largest)
    setting |= {
        "architecture": f"{'-'.join(map(str, widths))} relu ×2 equal split, first-layer unit 0 dead "
        "(bias planted, margin 0.1)",
        "seed": config.seed,
        "task": f"teacher n={sizes.n}",
    }
    measured |= {"normal_dimension": s.dim, "predicted_counts": predicted, "dead_block_directions": extra}
    ok = (i.negative, i.zero, i.positive) == predicted
    summary = (
        f"Frozen ∩ cloned (a dead block in a ×2 clone): {s.dim} normal directions, inertia "
        f"{(i.negative, i.zero, i.positive)} as predicted (the clone's plus {extra} neutral directions of "
        f"the dead block): {cls}."
        if ok
        else f"Frozen ∩ cloned: inertia {(i.negative, i.zero, i.positive)}, predicted {predicted}."
    )
    return Evidence(
        kind="numeric", verdict="confirmed" if ok else "refuted", summary=summary, setting=setting,
        measured=measured,
        counterexample=None if ok else {"measured": (i.negative, i.zero, i.positive), "predicted": predicted},
        figures=[
            _spectrum_figure(
                "Normal spectrum of M_F ∩ M_D (a dead block in a ×2 ReLU clone).",
                {"M_F ∩ M_D": s.values.numpy()},
            )
        ],
    )


@check("stability.classify")
def classify_large(config: Config) -> Evidence:
    """The extreme normal eigenpairs of a large clone (over a million parameters at full size) by Lanczos
    on projected Hessian-vector products: the class from the two ends."""
    sizes = SIZES[config.quick]
    task = make_task("teacher", sizes.large_samples, sizes.large[0], sizes.large[-1], config.seed)
    base = seeded(list(sizes.large), "relu", config.seed, dtype=torch.float32)
    train(base, task.X.float(), task.y, sizes.large_steps, "adam", {"lr": 1e-3}, 128, config.seed)
    cloning = C.expand(list(sizes.large), sizes.large_factor)
    obj = K.Objective(C.clone(base.double(), cloning), task.X, task.y)
    space = K.clone_space(obj, cloning)
    ends = K.lanczos(obj, space, tol=sizes.large_tol, seed=config.seed)
    tol = 1e-8 * max(abs(ends.lowest), abs(ends.highest))
    cls = "saddle" if ends.lowest < -tol and ends.highest > tol else "inconclusive"
    setting, measured = _classification("cloned", "relu", cls, None, ends.lowest, ends.highest)
    setting |= {
        "architecture": f"{'-'.join(map(str, sizes.large))} relu ×{sizes.large_factor} equal split",
        "parameters": obj.n,
        "samples": sizes.large_samples,
        "seed": config.seed,
        "training": f"adam lr=1e-3 {sizes.large_steps} steps float32, then float64",
        "method": f"scipy eigsh (k=2, both ends) on P H P, tol {sizes.large_tol:g}",
    }
    measured |= {"hessian_vector_products": ends.products, "normal_share": list(ends.normal_share)}
    summary = (
        f"A ×{sizes.large_factor} ReLU clone with {obj.n:,} parameters: normal spectrum from "
        f"{ends.lowest:.4g} to {ends.highest:.4g} by {ends.products} Hessian-vector products (eigenvectors "
        f"{min(ends.normal_share):.6f} inside N): {cls}."
    )
    return Evidence(kind="numeric", verdict="confirmed" if cls == "saddle" else "inconclusive",
                    summary=summary, setting=setting, measured=measured)


def planted_frozen(
    kind: str, seed: int, d: int = 3, m: int = 4, n: int = 32
) -> tuple[K.Objective, K.NormalSpace]:
    """A 1-hidden-layer MLP d-m-1 (MSE) whose unit 0 sits on a frozen manifold of known class.

    ``stable`` / ``unstable`` / ``saddle``: GELU, unit 0 at GELU's critical point (w = 0, b = c*, so
    z_u ≡ c*, f'(c*) = 0) with outgoing weight +1; targets set so the residuals ŷ_i − y_i are all +1/2,
    all −1/2, or alternate: H_N = f''(c*) Σ_i δ_i h̃h̃ᵀ with δ_i = r_i/n, f''(c*) > 0, is positive definite,
    negative definite or indefinite. ``neutral``: ReLU, unit 0 dead (w = 0, b = −1)."""
    gen = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=gen, dtype=torch.float64)
    act = "relu" if kind == "neutral" else "gelu"
    model = seeded([d, m, 1], act, seed)
    with torch.no_grad():
        model.linears[0].weight[0] = 0.0
        model.linears[0].bias[0] = (
            -1.0 if kind == "neutral" else critical_root(activations.get("gelu"))["c_star"]
        )
        model.linears[1].weight[0, 0] = 1.0
        out = model(X)
    r = {
        "stable": torch.full((n, 1), 0.5),
        "unstable": torch.full((n, 1), -0.5),
        "saddle": 0.5 * (-1.0) ** torch.arange(n)[:, None],
        "neutral": torch.full((n, 1), 0.5),
    }[kind]
    obj = K.Objective(model, X, out - r.double(), "mse")
    return obj, K.frozen_space(obj, 0, [0])


WRONG = {"stable": "unstable", "unstable": "stable", "saddle": "stable", "neutral": "saddle"}


@check("stability.classify")
def control_planted_classes(config: Config) -> Evidence:
    """Negative control: frozen manifolds planted with a known class (``planted_frozen``) must come out as
    planted, and the statement "each planted case has the wrong class" (stable ↔ unstable, saddle →
    stable, neutral → saddle) must be refuted. Also H_N against the formula f''(c*) Σ δ h̃h̃ᵀ."""
    rows = {}
    with one_thread():
        for kind in ("stable", "unstable", "saddle", "neutral"):
            obj, space = planted_frozen(kind, config.seed)
            Q, HN = K.normal_hessian(obj, space)
            values = torch.linalg.eigvalsh(HN)
            i = T.inertia(values.numpy())
            flat = (
                kind == "neutral"
                and float(HN.abs().max()) == 0.0
                and float(obj.loss(obj.theta + 0.1 * Q[:, 0])) == float(obj.loss(obj.theta))
            )
            cls = T.classify(i, neutral=space.dim if flat else 0)
            terms = K.split_terms(obj, 0)
            rows[kind] = {
                "class": cls,
                "normal_eigenvalues": [i.smallest, i.largest],
                "counts": (i.negative, i.zero, i.positive),
                "formula_gap": float((HN - terms.K[0]).abs().max()),
                "gradient_theta_F": float(space.project(obj.gradient()).abs().max()),
            }
    recovered = all(r["class"] == k for k, r in rows.items())
    formula = max(r["formula_gap"] for r in rows.values()) < 1e-12
    wrong_holds = [k for k, r in rows.items() if r["class"] == WRONG[k]]
    setting = {
        "manifold": "frozen",
        "activation": "gelu (critical point c*) and relu (dead)",
        "control": True,
        "statement": "each planted case has the wrong class: "
        + ", ".join(f"{k} → {v}" for k, v in WRONG.items()),
        "network": "3-4-1 MLP, MSE, 32 Gaussian samples, unit 0 frozen",
        "seed": config.seed,
    }
    measured = {
        "class": rows["saddle"]["class"],
        "normal_eigenvalues": {
            "smallest": min(r["normal_eigenvalues"][0] for r in rows.values()),
            "largest": max(r["normal_eigenvalues"][1] for r in rows.values()),
        },
        "planted": rows,
        "all_recovered": recovered,
        "formula_matches": formula,
    }
    if wrong_holds or not recovered:
        verdict = "confirmed" if wrong_holds else "inconclusive"
        counterexample = None
        summary = (
            f"CONTROL NOT CAUGHT: {', '.join(wrong_holds) or 'none'} came out with the wrong class; "
            f"recovered: {recovered}."
        )
    else:
        verdict = "refuted"
        counterexample = {
            k: {
                "planted": k,
                "claimed": WRONG[k],
                "measured": r["class"],
                "normal_eigenvalues": r["normal_eigenvalues"],
            }
            for k, r in rows.items()
        }
        summary = (
            "Caught: every planted frozen manifold came out as planted (stable, unstable, saddle at GELU's "
            "critical point; neutral for a dead ReLU unit), so the deliberately wrong classes are refuted; "
            f"H_N matches f''(c*) Σ δ h̃h̃ᵀ to {max(r['formula_gap'] for r in rows.values()):.1g}."
        )
    return Evidence(kind="numeric", verdict=verdict, summary=summary, setting=setting, measured=measured,
                    counterexample=counterexample)


# ---- stability.clone-critical ---------------------------------------------------------------------


@check("stability.clone-critical")
def clone_critical_symbolic(config: Config) -> Evidence:
    """The split identities (``theory.curvature.split_curvature``) for generic f, ℓ and output
    activations, one and several outputs."""
    results = [T.split_curvature(*net_) for net_ in SIZES[config.quick].split_nets]
    proved = all(r.proved for r in results)
    derivation: list[tuple[str, Any]] = []
    for r in results:
        derivation += [(f"{r.network}: {label}", reduced) for label, _, reduced in r.identities]
    derivation += [
        (
            "at a critical point",
            "C a = ∇_{w_u}L̃ = 0, so in the basis (base directions, sξ, o) the wide Hessian is "
            "diag(H̃, [[λ(1 − λ)K, C], [Cᵀ, 0]]); Sylvester's law of inertia gives its signature",
        ),
        (
            "one output",
            "o is the line direction (C a = 0 makes C = 0): the split block is λ(1 − λ)K ⊕ 0. For K ≻ 0 "
            "the segment 0 < λ < 1 is minima-like (flat along the line) and λ ∉ [0, 1] saddles; K ≺ 0 the "
            "other way round; K indefinite: saddles for every λ ∉ {0, 1}; at λ ∈ {0, 1} the block is 0 "
            "(second order inconclusive)",
        ),
        (
            "several outputs",
            "C has columns beyond a: where C ≠ 0 on a⊥ the zero o-block makes every point of the "
            "line a saddle, whatever K and λ (Haynsworth: the Schur complement −Cᵀ(λ(1 − λ)K)⁻¹C adds "
            "rank(C) negative directions when K ≻ 0)",
        ),
    ]
    setting = {
        "manifold": "cloned", "manifold_detail": "the line of clones of a critical point",
        "activation": "generic f (clones), generic g (the other units and outputs)",
        "loss": "generic ℓ",
        "networks": [r.network for r in results],
        "samples": "one symbolic sample",
    }
    measured = {
        "proved": proved,
        "identities": sum(len(r.identities) for r in results),
        "failing": [f"{r.network}: {label}" for r in results for label, _, _ in r.failing],
    }
    summary = (
        "Cloning a unit with split (λ, 1 − λ): the wide network is the base for every λ, the split and "
        "outgoing directions do not couple to the base, ∂²L/∂s² = λ(1 − λ) ξᵀKξ and ∂²L/∂s∂o = ξᵀC, "
        "∂²L/∂o² = 0 (proved for generic f, ℓ, one and two outputs): the class along λ follows K and C."
        if proved
        else f"The split identities failed: {measured['failing']}."
    )
    return Evidence(kind="symbolic", verdict="proved" if proved else "inconclusive", summary=summary,
                    setting=setting, measured=measured, derivation=derivation)


@check("stability.clone-critical")
def control_unbalanced_split(config: Config) -> Evidence:
    """Negative control: perturbing the clones' incoming weights by +sξ and −sξ whatever λ (instead of
    (1 − λ)sξ and −λsξ) changes the function at first order for λ ≠ 1/2; the statement "∂L/∂s = 0 and the
    split identities hold" must be refuted with a point."""
    inputs, width, outputs = SIZES[config.quick].split_nets[-1]
    r = T.split_curvature(inputs, width, outputs, balanced=False)
    counter = r.counterexample(config.seed)
    setting = {
        "manifold": "cloned", "manifold_detail": "line of clones",
        "activation": "generic",
        "control": True,
        "statement": "with incoming perturbations +sξ, −sξ the split identities hold",
        "network": r.network,
    }
    measured = {"failing": [label for label, _, _ in r.failing]}
    if counter:
        verdict = "refuted"
        summary = (
            f"Caught: the unbalanced split fails {len(r.failing)} identities (first: {r.failing[0][0]}); "
            f"non-zero at a concrete point, e.g. {next(iter(counter['nonzero'].items()))[0]} = "
            f"{next(iter(counter['nonzero'].values())):.3g}."
        )
    else:
        verdict = "confirmed" if not r.failing else "inconclusive"
        summary = "CONTROL NOT CAUGHT: the unbalanced split passed the identities (or no point was found)."
    return Evidence(kind="symbolic", verdict=verdict, summary=summary, setting=setting, measured=measured,
                    counterexample=counter)


def _regression(d: int, k: int, n: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """x ~ N(0, I_d); y = ½ tanh(xA)B + 0.05 ξ from a 6-unit tanh teacher: a base narrower than the
    teacher cannot fit it, so its critical points have residuals (K, C ≠ 0)."""
    gen = torch.Generator().manual_seed(1000 + seed)
    X = torch.randn(n, d, generator=gen, dtype=torch.float64)
    A = torch.randn(d, 6, generator=gen, dtype=torch.float64)
    B = torch.randn(6, k, generator=gen, dtype=torch.float64)
    return X, torch.tanh(X @ A) @ B / 2 + 0.05 * torch.randn(n, k, generator=gen, dtype=torch.float64)


@functools.lru_cache(maxsize=8)
def _critical_base(
    net_: tuple[int, int, int], n: int, seed: int, converge: bool = True
) -> tuple[MLP, torch.Tensor, torch.Tensor, float]:
    """A tanh MLP d-w-k trained by Adam (2000 full-batch steps, lr 1e-2) on ``_regression``, then (with
    ``converge``) to a critical point by Newton's method; returns (model, X, y, ‖∇L‖)."""
    d, w, k = net_
    X, y = _regression(d, k, n, seed)
    model = seeded([d, w, k], "tanh", seed)
    with one_thread():
        train(model, X, y, 2000 if converge else 20, "adam", {"lr": 1e-2}, None, seed, loss_fn=K.mse)
        obj = K.Objective(model, X, y, "mse")
        if converge:
            theta, gnorm = K.converge(obj, gtol=1e-13)
            model = obj.at(theta)
        else:
            gnorm = float(obj.gradient().norm())
    return model, X, y, gnorm


def _split_row(
    base: MLP,
    X: torch.Tensor,
    y: torch.Tensor,
    unit: int,
    lam: float,
    H_base: torch.Tensor,
    terms: K.SplitTerms,
) -> dict:
    split = K.split_clone(base, 0, unit, lam)
    wobj = K.Objective(split.wide, X, y, "mse")
    H = wobj.hessian()
    M = split.basis.T @ H @ split.basis
    predicted = torch.block_diag(H_base, torch.from_numpy(terms.block(unit, lam)))
    gnorm = float(wobj.gradient().norm())
    values = torch.linalg.eigvalsh(H).numpy()
    tol = max(T.zero_tolerance(values), GRADIENT_ZERO * gnorm)
    i = T.inertia(values, tol)
    ip = T.inertia(torch.linalg.eigvalsh(predicted).numpy(), tol)
    return {
        "congruence_gap": float((M - predicted).abs().max()) / max(1.0, float(H.abs().max())),
        "wide_gradient_norm": gnorm,
        "counts": (i.negative, i.zero, i.positive),
        "predicted_counts": (ip.negative, ip.zero, ip.positive),
        "smallest": i.smallest,
        "class": T.classify(i, neutral=1),
        "zero_tolerance": tol,
    }


@check("stability.clone-critical")
def clone_critical_trained(config: Config) -> Evidence:
    """tanh bases trained to a critical point (Newton), one and two outputs; every unit cloned with every
    split λ: the wide Hessian in the derivation's basis against diag(H̃, split block), its inertia against
    the prediction, the class along λ (neutral: the line direction, flat by the derivation)."""
    sizes = SIZES[config.quick]
    rows, K_inertia = {}, {}
    with one_thread():
        for net_ in sizes.critical_nets:
            base, X, y, gnorm = _critical_base(tuple(net_), sizes.critical_n, config.seed)
            bobj = K.Objective(base, X, y, "mse")
            H_base = bobj.hessian()
            terms = K.split_terms(bobj, 0)
            for unit in range(net_[1]):
                ki = T.inertia(torch.linalg.eigvalsh(terms.K[unit]).numpy())
                K_inertia[f"{'-'.join(map(str, net_))} unit {unit}"] = (ki.negative, ki.zero, ki.positive)
                for lam in sizes.lambdas:
                    rows[("-".join(map(str, net_)), unit, lam)] = _split_row(
                        base, X, y, unit, lam, H_base, terms
                    ) | {
                        "base_gradient_norm": gnorm,
                        "base_smallest": float(torch.linalg.eigvalsh(H_base)[0]),
                    }
    gaps = max(r["congruence_gap"] for r in rows.values())
    mismatch = [k for k, r in rows.items() if r["counts"] != r["predicted_counts"]]
    classes: dict[str, dict[str, int]] = {}
    for (name, _, lam), r in rows.items():
        entry = classes.setdefault(f"{name} λ={lam:g}", {})
        entry[r["class"]] = entry.get(r["class"], 0) + 1
    saddles = sum(r["class"] == "saddle" for r in rows.values())
    definite = [k for k, v in K_inertia.items() if v[0] == 0 or v[2] == 0]
    inner = [r for (name, _, lam), r in rows.items() if 0 < lam < 1]
    setting = {
        "manifold": "cloned", "manifold_detail": "clones of a critical point, split λ",
        "activation": "tanh",
        "networks": ["-".join(map(str, n_)) for n_ in sizes.critical_nets],
        "lambdas": list(sizes.lambdas),
        "data": f"{sizes.critical_n} samples, 6-unit tanh teacher + noise",
        "loss": "mse (½‖ŷ − y‖², mean)",
        "seed": config.seed,
        "critical_point": "Adam, then Newton (trust-exact) to ‖∇L‖ ≤ 1e-13",
        "zero_tolerance": f"max(64 ε n max|λ|, {GRADIENT_ZERO:g}·‖∇L‖)",
    }
    measured = {
        "class": "saddle" if saddles else "inconclusive",
        "normal_eigenvalues": {"smallest": min(r["smallest"] for r in rows.values()), "largest": None},
        "max_congruence_gap": gaps,
        "inertia_mismatches": len(mismatch),
        "K_inertia": K_inertia,
        "classes_by_lambda": classes,
        "saddles": saddles,
        "cases": len(rows),
        "rows": {f"{a} unit {b} λ={c:g}": r for (a, b, c), r in rows.items()},
    }
    measured["normal_eigenvalues"]["largest"] = max(r["smallest"] for r in rows.values())
    if mismatch or gaps > CONGRUENCE:
        verdict = "refuted"
        k = mismatch[0] if mismatch else max(rows, key=lambda k: rows[k]["congruence_gap"])
        counterexample = {"network": k[0], "unit": k[1], "lambda": k[2], **rows[k]}
        summary = (
            f"The derivation's block structure failed on a trained network: {len(mismatch)} inertia "
            f"mismatches, congruence gap {gaps:.2g}."
        )
    else:
        verdict, counterexample = "qualified", None
        inside = sum(r["class"] == "saddle" for r in inner)
        summary = (
            f"On {len(rows)} clones of tanh networks at critical points (‖∇L̃‖ ≤ "
            f"{max(r['base_gradient_norm'] for r in rows.values()):.1g}) the wide Hessian is diag(H̃, split "
            f"block) to {gaps:.1g} and its inertia is the predicted one in every case. {saddles} of "
            f"{len(rows)} points are saddles — {inside} of {len(inner)} with 0 < λ < 1, where Fukumizu–Amari "
            f"place the minima: K_u was definite for {len(definite)} of {len(K_inertia)} units, so "
            "'part of the line' is in fact all of it but the degenerate ends λ ∈ {0, 1} (second order "
            "inconclusive there)."
        )
    series = []
    for name in dict.fromkeys(k[0] for k in rows):  # measured order (a set follows the hash seed)
        for unit in dict.fromkeys(k[1] for k in rows if k[0] == name):
            lams = [lam for lam in sizes.lambdas]
            series.append(
                Series(
                    "line",
                    lams,
                    [rows[(name, unit, lam)]["counts"][0] for lam in lams],
                    f"{name} unit {unit}",
                    style={"marker": "o"},
                )
            )
    fig = Figure(
        "Negative directions of the wide Hessian at the clone of a critical point, against the split λ "
        "(measured; the prediction from H̃, K, C agrees in every case).",
        [Panel(series, xlabel="λ", ylabel="negative eigenvalues", legend="outside")],
        width=6.4, height=3.0,
    )
    return Evidence(kind="numeric", verdict=verdict, summary=summary, setting=setting, measured=measured,
                    counterexample=counterexample, figures=[fig])


@check("stability.clone-critical")
def control_not_critical(config: Config) -> Evidence:
    """Negative control: the same tanh base after only 20 Adam steps (not a critical point). The statement
    "cloning gives a line of critical points" must be refuted: the wide gradient is far from 0."""
    sizes = SIZES[config.quick]
    net_ = tuple(sizes.critical_nets[-1])
    base, X, y, gnorm = _critical_base(net_, sizes.critical_n, config.seed, converge=False)
    grads = {}
    with one_thread():
        for lam in sizes.lambdas:
            split = K.split_clone(base, 0, 0, lam)
            grads[f"{lam:g}"] = float(K.Objective(split.wide, X, y, "mse").gradient().norm())
    setting = {
        "manifold": "cloned", "manifold_detail": "clones of a non-critical base",
        "activation": "tanh",
        "control": True,
        "statement": "the clones of this base form a line of critical points",
        "network": "-".join(map(str, net_)),
        "base": "20 Adam steps",
        "seed": config.seed,
    }
    measured = {"base_gradient_norm": gnorm, "wide_gradient_norm": grads}
    worst = max(grads, key=grads.get)
    if grads[worst] > 1e-6:
        verdict = "refuted"
        counterexample = {
            "lambda": float(worst),
            "wide_gradient_norm": grads[worst],
            "base_gradient_norm": gnorm,
        }
        summary = (
            f"Caught: at a base that is not critical (‖∇L̃‖ = {gnorm:.3g}) the clones are not critical "
            f"points (‖∇L‖ = {grads[worst]:.3g} at λ = {worst})."
        )
    else:
        verdict, counterexample = "confirmed", None
        summary = "CONTROL NOT CAUGHT: the clones of a non-critical base had zero gradient."
    return Evidence(kind="numeric", verdict=verdict, summary=summary, setting=setting, measured=measured,
                    counterexample=counterexample)


# ---- stability.escape-rate ------------------------------------------------------------------------


@dataclass
class CriticalEscape:
    """Gradient descent from a kicked clone of a critical point (``_critical_escape``)."""

    steps: list[int]
    distance: list[float]  # ‖P θ_t‖, the off-manifold distance (P θ* = 0)
    linear: list[float]  # ‖(I − η H_N)^t n₀‖: the first-order prediction with the whole spectrum
    lr: float
    lowest: float  # λ_min(H_N)
    highest: float  # λ_max(H_N)
    full_highest: float  # λ_max(H), which sets the step
    normal_dimension: int
    gradient_norm: float
    network: str

    def rate(self, start: int) -> float:
        """Measured exponential rate per step from ``steps[start]`` to the end."""
        return math.log(self.distance[-1] / self.distance[start]) / (self.steps[-1] - self.steps[start])


@functools.lru_cache(maxsize=4)
def _critical_escape(sizes: Sizes, seed: int) -> CriticalEscape:
    """The ×2 equal-split clone of the two-output tanh base at its critical point (a point of the leaf
    M_D and a critical point of the wide network), kicked by ``gd_kick`` along a random normal direction,
    then full-batch gradient descent at η = 1/λ_max(H) until the distance grew e⁸ or ``gd_max_steps``."""
    net_ = tuple(sizes.escape_net)
    base, X, y, gnorm = _critical_base(net_, sizes.critical_n, seed)
    with one_thread():
        cloning = C.expand(C.widths(base), 2)
        obj = K.Objective(C.clone(base, cloning), X, y, "mse")
        space = K.clone_space(obj, cloning)
        s = K.spectrum(obj, space)
        full = float(torch.linalg.eigvalsh(obj.hessian())[-1])
        lr = 1.0 / full
        gen = torch.Generator().manual_seed(seed)
        n0 = space.project(torch.randn(obj.n, generator=gen, dtype=torch.float64))
        n0 = sizes.gd_kick * n0 / n0.norm()
        theta = obj.theta + n0
        coeff = s.vectors.T @ n0  # n₀ in the eigenbasis of H_N
        factor = 1 - lr * s.values
        steps, distance, linear = [0], [float(n0.norm())], [float(n0.norm())]
        points = set(nc.grid(sizes.gd_max_steps, 16))
        for t in range(1, sizes.gd_max_steps + 1):
            theta = theta - lr * obj.gradient(theta)
            d = float(space.project(theta).norm())
            if t in points or d > math.exp(8) * distance[0]:
                steps.append(t)
                distance.append(d)
                linear.append(float((coeff * factor**t).norm()))
                if d > math.exp(8) * distance[0]:
                    break
    return CriticalEscape(
        steps,
        distance,
        linear,
        lr,
        float(s.values[0]),
        float(s.values[-1]),
        full,
        s.dim,
        gnorm,
        f"{'-'.join(map(str, net_))} tanh ×2 clone",
    )


def _escape_setting(run: CriticalEscape, sizes: Sizes, seed: int) -> dict:
    return {
        "manifold": "cloned",
        "activation": "tanh",
        "network": run.network,
        "seed": seed,
        "optimizer": f"full-batch gradient descent, η = 1/λ_max(H) = {run.lr:.4g}",
        "kick": f"{sizes.gd_kick:g} along a random normal direction of the leaf M_D",
        "base": f"critical point, ‖∇L̃‖ = {run.gradient_norm:.1g}",
    }


@check("stability.escape-rate")
def escape_rate_critical(config: Config) -> Evidence:
    """At a clone of a critical point H_N is constant along gradient descent (the point does not move), so
    the normal deviation is multiplied by I − ηH_N every step and its norm must grow at the rate
    log(1 − ηλ_min) per step once the most unstable direction dominates: measured over the last quarter of
    the run, it must agree to 5%. Also the whole first-order curve ‖(I − ηH_N)^t n₀‖."""
    sizes = SIZES[config.quick]
    run = _critical_escape(sizes, config.seed)
    predicted = math.log(1 - run.lr * run.lowest) if run.lowest < 0 else 0.0
    quarter = min(range(len(run.steps)), key=lambda k: abs(run.steps[k] - 0.75 * run.steps[-1]))
    measured_rate = run.rate(quarter)
    linear_gap = max(abs(a - b) / b for a, b in zip(run.distance, run.linear))
    ratio = measured_rate / predicted if predicted else math.inf
    setting = _escape_setting(run, sizes, config.seed)
    setting["agreement"] = f"measured/predicted rate within {CRITICAL_RATE:.0%}"
    measured = {
        "class": "saddle" if run.lowest < 0 < run.highest else "inconclusive",
        "normal_eigenvalues": {"smallest": run.lowest, "largest": run.highest},
        "predicted_rate_per_step": predicted,
        "measured_rate_per_step": measured_rate,
        "ratio": ratio,
        "window": [run.steps[quarter], run.steps[-1]],
        "growth": run.distance[-1] / run.distance[0],
        "first_order_curve_max_relative_gap": linear_gap,
        "lr_times_lambda_max_full": run.lr * run.full_highest,
    }
    ok = predicted > 0 and abs(ratio - 1) <= CRITICAL_RATE
    if ok:
        verdict, counterexample = "confirmed", None
        summary = (
            f"Gradient descent at a critical ×2 tanh clone (a saddle of the leaf M_D, λ_min = "
            f"{run.lowest:.3g}): the off-manifold distance grew ×{measured['growth']:.3g} in "
            f"{run.steps[-1]} steps at {measured_rate:.4g} per step against log(1 − ηλ_min) = "
            f"{predicted:.4g} (ratio {ratio:.4f}); "
            f"the first-order curve ‖(I − ηH_N)^t n₀‖ matches the whole run to {linear_gap:.1g}."
        )
    else:
        verdict = "refuted"
        counterexample = {
            "predicted_rate": predicted,
            "measured_rate": measured_rate,
            "steps": run.steps[-1],
            "lambda_min": run.lowest,
        }
        summary = (
            f"At a critical clone the measured rate {measured_rate:.4g} per step does not match "
            f"log(1 − ηλ_min) = {predicted:.4g}."
        )
    pred_curve = [run.distance[0] * math.exp(predicted * t) for t in run.steps]
    fig = Figure(
        "Off-manifold distance under gradient descent from a kicked critical clone: measured, the "
        "first-order curve with the whole normal spectrum, and the rate of the most negative eigenvalue "
        "alone.",
        [
            Panel(
                [
                    Series("line", run.steps, run.distance, "measured", style={"linewidth": 2}),
                    Series("line", run.steps, run.linear, "‖(I − ηH_N)^t n₀‖", style={"linestyle": "dashed"}),
                    Series("line", run.steps, pred_curve, "d₀ (1 − ηλ_min)^t", style={"linestyle": "dotted"}),
                ],
                xlabel="step", ylabel="‖P θ_t‖", yscale="log",
            )
        ],
        width=5.8, height=3.0,
    )
    return Evidence(kind="numeric", verdict=verdict, summary=summary, setting=setting, measured=measured,
                    counterexample=counterexample, figures=[fig])


@check("stability.escape-rate")
def control_wrong_prediction(config: Config) -> Evidence:
    """Negative control: the same run predicted from the wrong end of the normal spectrum, the largest
    eigenvalue (rate log|1 − ηλ_max| < 0: decay). The statement "the distance follows this rate" must be
    refuted by the measured growth."""
    sizes = SIZES[config.quick]
    run = _critical_escape(sizes, config.seed)
    wrong = math.log(abs(1 - run.lr * run.highest))
    quarter = min(range(len(run.steps)), key=lambda k: abs(run.steps[k] - 0.75 * run.steps[-1]))
    measured_rate = run.rate(quarter)
    setting = _escape_setting(run, sizes, config.seed) | {
        "control": True,
        "statement": "the distance changes at log|1 − ηλ_max| per step (the largest normal "
        "eigenvalue instead of the smallest)",
    }
    measured = {
        "class": "saddle" if run.lowest < 0 < run.highest else "inconclusive",
        "normal_eigenvalues": {"smallest": run.lowest, "largest": run.highest},
        "wrong_rate_per_step": wrong,
        "measured_rate_per_step": measured_rate,
    }
    agrees = wrong != 0 and 1 / RATE_FACTOR <= measured_rate / wrong <= RATE_FACTOR
    if agrees:
        verdict, counterexample = "confirmed", None
        summary = "CONTROL NOT CAUGHT: the wrong-end prediction matched the measured rate."
    else:
        verdict = "refuted"
        counterexample = {
            "wrong_rate": wrong,
            "measured_rate": measured_rate,
            "window": [run.steps[quarter], run.steps[-1]],
        }
        summary = (
            f"Caught: the prediction from λ_max ({wrong:.3g} per step, decay) is refuted by the measured "
            f"{measured_rate:.3g} per step (growth)."
        )
    return Evidence(kind="numeric", verdict=verdict, summary=summary, setting=setting, measured=measured,
                    counterexample=counterexample)


KICK_RUN, NOISE_RUN, DROPOUT_RUN = f"one step σ={KICK}", f"σ0={KICK} λ=1.0", "dropout p=0.1"
NOISY_RUNS = {
    "plain sgd": {},
    KICK_RUN: {"kick": ("noisy_sgd", {"sigma0": KICK, "decay": 1.0})},
    NOISE_RUN: {"optimizer": "noisy_sgd", "hp": {"sigma0": KICK, "decay": 1.0}},
    DROPOUT_RUN: {"dropout": 0.1},
}


@dataclass
class SgdEscape:
    """The cloned.escape runs with the normal curvature along them (``_sgd_escape``)."""

    run: nc.Escape
    lowest: dict[str, dict[int, float]]  # run → snapshot step → λ_min(H_N) at its projection onto M_D
    highest: dict[str, dict[int, float]]
    first_order: dict[int, float]  # the kick's first-order model ‖n_t‖ (numerics.curvature.tangent_linear)
    lr: float
    recipe: nc.Recipe


@functools.lru_cache(maxsize=4)
def _sgd_escape(sizes: Sizes, seed: int, device: str, activation: str = "relu") -> SgdEscape:
    """``numerics.cloned.escape`` on the narrow base (of ``activation``) with plain SGD and one noisy kick
    (ReLU: also persistent noise and dropout); λ_min and λ_max of the leaf's normal Hessian (full data,
    eval mode) at the projection of each run onto M_D at ``sizes.snapshots``; the first-order model of the
    kick along the plain run (``numerics.curvature.tangent_linear``, the run's own batches)."""
    recipe = replace(sizes.escape, activation=activation)
    kept: dict[int, dict[str, list[torch.Tensor]]] = {}

    def observe(t: int, models: dict[str, MLP]) -> None:
        if t in sizes.snapshots:
            kept[t] = {k: [p.detach().cpu().clone() for p in m.parameters()] for k, m in models.items()}

    names = list(NOISY_RUNS) if activation == "relu" else ["plain sgd", KICK_RUN]
    runs = {
        k: ({"kick": (v["kick"][0], {"lr": recipe.lr, **v["kick"][1]})} if "kick" in v else v)
        for k, v in NOISY_RUNS.items()
        if k in names
    }
    with one_thread():
        run = nc.escape(
            recipe, seed, runs, fresh=False, desc=f"escape rate {activation}", device=device, observe=observe
        )
        base32, task = nc.base_network(recipe, seed, device, narrow=True)
        task = task.to(device="cpu")  # the curvature is computed on the CPU, whatever ran the escape
        cloning = C.expand(recipe.narrow_widths, recipe.factor)
        obj = K.Objective(C.clone(copy.deepcopy(base32).cpu().double(), cloning), task.X, task.y)
        space = K.clone_space(obj, cloning)
        lowest: dict[str, dict[int, float]] = {}
        highest: dict[str, dict[int, float]] = {}
        for name in (n for n in names if n != KICK_RUN):
            for t, params in sorted(kept.items()):
                theta = torch.cat([p.double().flatten() for p in params[name]])
                at = K.Objective(obj.at(theta - space.project(theta)), task.X, task.y)
                ends = K.lanczos(at, K.clone_space(at, cloning), tol=sizes.escape_tol, seed=seed)
                lowest.setdefault(name, {})[t] = ends.lowest
                highest.setdefault(name, {})[t] = ends.highest
        n1 = space.project(torch.cat([p.double().flatten() for p in kept[1][KICK_RUN]]))
        stream = batches(task.X.shape[0], recipe.escape_batch, torch.Generator().manual_seed(seed))
        first, _ = K.tangent_linear(obj, space, n1, recipe.lr, stream, run.steps[-1], run.steps)
    # the kicked run stays within ‖n‖ of the plain one, whose curvature it sees
    lowest[KICK_RUN], highest[KICK_RUN] = lowest["plain sgd"], highest["plain sgd"]
    return SgdEscape(run, lowest, highest, first, recipe.lr, recipe)


def _predicted_log_growth(steps: Sequence[int], lowest: dict[int, float], lr: float) -> list[float]:
    """Σ_{u ≤ t} log(1 − η λ_min(u)) from step 1, λ_min held from each snapshot to the next."""
    marks = sorted(lowest)
    out, total, last = [], 0.0, 1
    for t in steps:
        for u in range(last + 1, t + 1):
            lam = lowest[max([m for m in marks if m <= u - 1] or marks[:1])]
            total += math.log(max(1 - lr * lam, 1e-300))
        last = max(last, t)
        out.append(total if t >= 1 else 0.0)
    return out


def _escape_rows(data: SgdEscape, names: Sequence[str], label: str) -> tuple[dict, dict]:
    """Per run: measured and predicted rates over the second half, growths, the first-order model of a
    kick; and the curves for the figure."""
    run, steps = data.run, data.run.steps
    half = min(range(len(steps)), key=lambda k: abs(steps[k] - steps[-1] / 2))
    rows, curves = {}, {}
    for name in names:
        d = run.norm[name]
        pred = _predicted_log_growth(steps, data.lowest[name], data.lr)
        predicted_rate = (pred[-1] - pred[half]) / (steps[-1] - steps[half])
        measured_rate = math.log(d[-1] / d[half]) / (steps[-1] - steps[half])
        key = f"{label} {name}"
        rows[key] = {
            "lambda_min": data.lowest[name],
            "lambda_max": data.highest[name],
            "predicted_rate_per_step": predicted_rate,
            "measured_rate_per_step": measured_rate,
            "ratio": measured_rate / predicted_rate if predicted_rate else math.inf,
            "predicted_growth": math.exp(pred[-1]),
            "measured_growth": d[-1] / d[1],
            "distance": nc.at(steps, d, nc.marks(steps[-1])),
            "window": [steps[half], steps[-1]],
        }
        curves[f"{key} measured"] = d
        curves[f"{key} predicted (λ_min)"] = [
            d[1] * math.exp(p) if t >= 1 else d[0] for t, p in zip(steps, pred)
        ]
        if name == KICK_RUN:
            first = [data.first_order.get(t, math.nan) for t in steps]
            rows[key] |= {
                "first_order_growth": first[-1] / first[1],
                "first_order_gap": max(abs(a - b) / a for a, b in zip(d[1:], first[1:])),
            }
            curves[f"{key} first order"] = first
    return rows, curves


def _escape_rate_evidence(config: Config, parts: Sequence[tuple[str, Sequence[str]]], what: str) -> Evidence:
    """``parts``: (activation, run names) of the cloned.escape runs to predict."""
    sizes = SIZES[config.quick]
    rows, curves, lam_lo, lam_hi = {}, {}, [], []
    for activation, names in parts:
        data = _sgd_escape(sizes, config.seed, config.device, activation)
        r, c = _escape_rows(data, names, activation)
        steps = data.run.steps  # one grid: every run has the recipe's length
        rows |= r
        curves |= c
        lam_lo += [v for n in names for v in data.lowest[n].values()]
        lam_hi += [v for n in names for v in data.highest[n].values()]
    recipe = sizes.escape
    agree = [k for k, r in rows.items() if 1 / RATE_FACTOR <= r["ratio"] <= RATE_FACTOR]
    setting = {
        "manifold": "cloned",
        "activation": ", ".join(a for a, _ in parts),
        "seed": config.seed,
        "device": f"{config.device} (the escape runs); cpu (the curvature)",
        "runs": list(rows),
        "recipe": f"cloned.escape: narrow base {'-'.join(map(str, recipe.narrow_widths))} ×{recipe.factor}, "
        f"sgd lr {recipe.lr}, batch {recipe.escape_batch}, {recipe.escape_steps} steps, "
        f"n = {recipe.n}",
        "prediction": "λ_min of the leaf's normal Hessian (full data, eval mode) at the run's projection "
        "onto M_D at the snapshots, held between them: rate Σ log(1 − ηλ_min)",
        "first_order": "n_t = n_{t−1} − η P H_{B_t} n_{t−1} along the plain run, its own batches",
        "agreement": f"measured/predicted rate over the second half within ×{RATE_FACTOR:g}",
        "snapshots": list(sizes.snapshots),
    }
    measured = {
        "class": "saddle" if min(lam_lo) < 0 < max(lam_hi) else "inconclusive",
        "normal_eigenvalues": {"smallest": min(lam_lo), "largest": max(lam_hi)},
        "runs": rows,
    }
    text = "; ".join(
        f"{k}: measured {r['measured_rate_per_step']:.2g}/step vs predicted "
        f"{r['predicted_rate_per_step']:.2g}/step (×{r['measured_growth']:.3g} vs "
        f"×{r['predicted_growth']:.3g} over the run)"
        for k, r in rows.items()
    )
    kicks = {k: r for k, r in rows.items() if "first_order_growth" in r}
    first = "".join(
        f" {k.split()[0]} kick, first-order model (I − ηH_B) with the run's batches: ×"
        f"{r['first_order_growth']:.3g}, within {r['first_order_gap']:.1g} of the measured distance."
        for k, r in kicks.items()
    )
    if len(agree) == len(rows):
        verdict, counterexample = "confirmed", None
        summary = f"Under {what} the most negative normal eigenvalue predicts the escape rate: {text}.{first}"
    else:
        verdict = "refuted"
        bad = next(k for k in rows if k not in agree)
        counterexample = {"run": bad, **{k: v for k, v in rows[bad].items() if k != "distance"}}
        within = ", ".join(agree) or "none"
        summary = (
            f"Under {what} λ_min does not predict the escape rate (×{RATE_FACTOR:g} allowed; within it: "
            f"{within}): {text}.{first}"
            " The unstable directions of H_N turn from step to step, so the instantaneous λ_min is no rate; "
            "where the first order fails (ReLU) the clones' activation patterns split at the kinks."
        )
    fig = Figure(
        f"Off-manifold distance ‖Pθ‖ under {what}: measured (solid), predicted from λ_min along the run "
        "(dashed), and the first-order model of a kick (dotted).",
        [
            Panel(
                [
                    Series(
                        "line",
                        steps[1:],
                        np.maximum(np.asarray(v[1:], dtype=float), nc.FLOOR),
                        k,
                        style={
                            "linestyle": "dashed"
                            if "predicted" in k
                            else ("dotted" if "first order" in k else "solid"),
                            "color": f"C{list(rows).index(next(r for r in rows if k.startswith(r)))}",
                        },
                    )
                    for k, v in curves.items()
                ],
                xlabel="step", ylabel="‖P θ_t‖", xscale="log", yscale="log", legend="outside",
            )
        ],
        width=7.2, height=3.4,
    )
    return Evidence(kind="numeric", verdict=verdict, summary=summary, setting=setting, measured=measured,
                    counterexample=counterexample, figures=[fig])


@check("stability.escape-rate")
def escape_rate_noise(config: Config) -> Evidence:
    """The cloned.escape noisy-SGD runs (the paper's single kick of relative size 0.01, then plain SGD; and
    persistent noise σ₀ = 0.01) on the ReLU base, and the kick on a tanh base: the growth of the
    off-manifold distance predicted from λ_min of the normal Hessian along the run, against the measured
    growth; for the kicks also the first-order model."""
    return _escape_rate_evidence(config, [("relu", [KICK_RUN, NOISE_RUN]), ("tanh", [KICK_RUN])], "noisy SGD")


@check("stability.escape-rate")
def escape_rate_dropout(config: Config) -> Evidence:
    """The cloned.escape dropout run (p = 0.1 after every hidden activation of the clone): the growth of the
    off-manifold distance predicted from λ_min along the run against the measured growth."""
    return _escape_rate_evidence(config, [("relu", [DROPOUT_RUN])], "dropout")
