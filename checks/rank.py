"""Rank recovery by activations (paper §3, App. A.1): the checks of the claims ``rank.*``.

The mathematics (Gaussian moments, α, Hermite coefficients, dual kernels, frozen sets) is in
``theory.gaussian``; ranks and the random test matrices in ``theory.spectra``. Here each check
composes them, decides its verdict against a stated threshold and records the numbers, the
derivation and the figures as data:

- ``hard`` (rank.hard): Mehler's expansion proved symbolically, then full rank of C_f certified by a
  PSD partial sum and by sampled f(X); ``hard_controls``: planted rank deficiencies that must come
  out exactly as predicted (polynomials, duplicates, anti-duplicates);
- ``alpha`` (rank.alpha): α_f for every registry activation against the paper's values, and every
  candidate definition that might have produced them;
- ``lemma`` (rank.lemma): 1 − corr(f(X), f(Y)) against (α_f + 1)ε;
- ``effective`` (rank.effective): r̃(C_f) against r̃(C)(1 + α_f ε ln(n/ε)) on an (n, ε) grid;
- ``corollary`` (rank.corollary): the paper's α → ∞ families and a counterexample family;
  ``corollary_maps``: α against the frozen fraction over (a, b) maps of f(a z + b);
- ``validation`` (rank.validation): the paper's 10,000 × 50, rank-10 experiment.

Every size read from ``config.quick`` is in ``SIZES``.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import mpmath
import numpy as np
import sympy as sp
import torch
from scipy import integrate
from scipy.special import ndtr

from checks.common import as_control, as_written
from theory import activations, gaussian, spectra
from theory.activations import Activation, z
from theory.claims import check
from theory.evidence import Config, Evidence, Figure, Panel, Series
from theory.threads import one_thread

#: The paper's stated rank-recovery strengths (App. A.1.3, validation 2 caption).
PAPER_ALPHA = {"relu": 0.5, "tanh": 0.6667, "gelu": 0.5449}
TAU = 1e-4            # frozen: |f'| < TAU (paper App. A.1.3)
LEMMA_TOL = 1e-2      # relative deviation from (α+1)ε allowed at the smallest ε
EFFECTIVE_TOL = 0.10  # relative error allowed on the effective-rank gain
N_SHOWN = 1000        # the n reported in rank.effective's summary and figure (in both grids)
MAP_ACTIVATIONS = ("relu", "selu", "tanh", "sigmoid")
MAP_CORR = 0.5        # Spearman correlation (α, frozen fraction) needed to call the trade-off present
A_RANGE, B_MAX = (0.1, 10.0), 5.0  # the map's (a, b) box
NEARLY_FULL = 0.9     # r̃ after f on rank-r input ≥ 90% of r̃ after f on full-rank isotropic input


@dataclass(frozen=True)
class Sizes:
    """Every size the rank checks use: ``SIZES[config.quick]``."""

    hard_samples: int                  # rows of f(X) in rank.hard (d = 50, intrinsic rank 10)
    control_samples: int               # rows of f(X) per negative control of rank.hard
    lemma_eps: tuple[float, ...]       # ε grid of rank.lemma
    effective_n: tuple[int, ...]       # n grid of rank.effective (contains N_SHOWN)
    effective_eps: tuple[float, ...]   # ε grid of rank.effective
    effective_samples: int             # rows behind each sampled r̃ in rank.effective
    tanh_a: tuple[float, ...]          # rank.corollary: tanh(a z)
    relu_c: tuple[float, ...]          # rank.corollary: relu(z + b), b = −c
    sin_s: tuple[float, ...]           # rank.corollary: sin(s z)
    map_points: int                    # points along a and along b in the (a, b) maps
    validation_samples: int            # n of rank.validation (the paper's 10,000)
    prop31_n: tuple[int, ...] = (10, 100, 1000)   # matrix sizes of rank.prop31-main
    prop31_eps: tuple[float, ...] = tuple(10.0**-k for k in range(2, 13))  # correlation gaps δ
    mehler_order: int = 6              # Hermite degrees k, l ≤ this in rank.mehler
    growth_c: tuple[float, ...] = (1.0, 2.0, 3.0, 4.0, 5.0, 6.0)  # |b/a| (half-vanishing sequences)
    growth_a: tuple[float, ...] = tuple(2.0**k for k in range(13))  # a_k (plateauing sequences)
    figure_samples: int = 10000        # rows of Fig. 3.1's inputs (the paper's 10,000)
    figure_a: tuple[float, ...] = (0.01, 0.03, 0.1, 0.3, 1.0, 2.0, 5.0, 10.0, 20.0, 50.0, 100.0)
    setting_samples: int = 10000       # rows of validation 2 as the authors ran it (their 10,000)
    setting_eps: int = 10              # ε points, log-spaced in [1e-3, 1e-1] (their 10)


SIZES: dict[bool, Sizes] = {
    False: Sizes(hard_samples=4000, control_samples=6000,
                 lemma_eps=(1e-1, 3e-2, 1e-2, 3e-3, 1e-3, 3e-4, 1e-4, 1e-5, 1e-6),
                 effective_n=(10, 100, N_SHOWN, 10000), effective_eps=(1e-1, 1e-2, 1e-3, 1e-4, 1e-5, 1e-6),
                 effective_samples=20000, tanh_a=tuple(2.0**k for k in range(11)),
                 relu_c=(0.0, 1.0, 2.0, 3.0, 4.0, 6.0, 8.0, 12.0), sin_s=tuple(2.0**k for k in range(7)),
                 map_points=61, validation_samples=10000),
    True: Sizes(hard_samples=1000, control_samples=2000, lemma_eps=(1e-1, 1e-2, 1e-3, 1e-4, 1e-6),
                effective_n=(10, N_SHOWN), effective_eps=(1e-1, 1e-2, 1e-4), effective_samples=5000,
                tanh_a=tuple(2.0**k for k in range(9)), relu_c=(0.0, 1.0, 2.0, 4.0, 8.0),
                sin_s=tuple(2.0**k for k in range(5)), map_points=21, validation_samples=2000,
                prop31_n=(10, 1000), prop31_eps=(1e-2, 1e-4, 1e-8, 1e-12), mehler_order=4,
                growth_c=(1.0, 2.0, 4.0, 6.0), growth_a=tuple(4.0**k for k in range(7)), figure_samples=4000,
                figure_a=(0.01, 0.1, 1.0, 5.0, 20.0, 100.0), setting_samples=4000, setting_eps=4),
}


# ---- shared helpers ------------------------------------------------------------------------------

def _registry() -> list[Activation]:
    return list(activations.ACTIVATIONS.values())


def _finite(x: float) -> float | str:
    return x if math.isfinite(x) else ("inf" if x > 0 else "-inf")


def _exact_text(x: sp.Expr | None) -> str | None:
    return None if x is None else sp.sstr(x)


def _line(x: Any, y: Any, label: str | None = None, **style: Any) -> Series:
    """y against x; ``style`` as in ``theory.evidence.Series`` (color, linestyle, marker, ...)."""
    return Series("line", x=x, y=y, label=label, style=style)


def _bars(x: Any, y: Any, label: str, color: str, width: float = 0.4) -> Series:
    return Series("bar", x=x, y=y, label=label, style={"color": color, "width": width})


def _hline(y: float, label: str | None = None, **style: Any) -> Series:
    return Series("hline", y=y, label=label, style=style)


# ---- rank.hard ------------------------------------------------------------------------------------

@check("rank.hard")
def hard(config: Config) -> Evidence:
    """C_f = Σ a_k² C^{∘k} proved symbolically (d = 3, cubic f with symbolic coefficients; closed-form
    kernels against their Mehler series to order 12), then full rank of C_f for a rank-10 C (d = 50)
    for every non-polynomial registry activation: certified by λ_min(S_K) > tolerance (S_K ⪯ C_f), and
    by the numerical rank of sampled f(X)."""
    sizes = SIZES[config.quick]
    rng = np.random.default_rng(config.seed)
    d, r, n = 50, 10, sizes.hard_samples
    Cf_sym, residual = gaussian.mehler_identity()
    proved = residual == sp.zeros(*residual.shape)
    order = 12
    series_ok = {}
    for f in _registry():
        k = gaussian.kernel_exact(f)
        if k is None or gaussian.is_polynomial(f):
            continue
        a = gaussian.hermite_exact(f, order)
        series_ok[f.name] = all(gaussian.is_zero(c - ak**2)
                                for c, ak in zip(gaussian.taylor_at_zero(k, order), a))
    C = spectra.correlation_of_rank(d, r, rng)
    X = spectra.sample_of_rank(C, r, n, rng)
    rank_C, _ = spectra.numerical_rank(C)
    rows, eigenvalues = {}, {"C (rank 10)": np.linalg.eigvalsh(C)[::-1]}
    for f in _registry():
        if gaussian.is_polynomial(f):
            continue
        Cf, S, err = gaussian.kernel_matrix(f, C)
        rank_exact, lam_min, tol = spectra.psd_rank(Cf, err)
        cert = float(np.linalg.eigvalsh(S).min())
        rank_sampled, tol_s = spectra.numerical_rank(spectra.apply(f, X))
        rows[f.name] = {"rank_C_f": rank_exact, "lambda_min_C_f": lam_min, "certificate_lambda_min_S_K": cert,
                        "tolerance": tol, "entry_error": err, "rank_sampled_f_X": rank_sampled,
                        "sampled_tolerance": tol_s,
                        "full": rank_exact == d and cert > tol and rank_sampled == d}
        eigenvalues[f.name] = np.linalg.eigvalsh(Cf)[::-1]
    deficient = [n_ for n_, row in rows.items() if not row["full"]]
    measured = {"d": d, "intrinsic_rank": r, "rank_C": rank_C,
                "max_offdiag_|C_ij|": float(np.max(np.abs(C - np.eye(d)))), "per_activation": rows,
                "mehler_identity_proved_d3_cubic": proved,
                "closed_form_kernels_match_mehler_to_order_12": series_ok}
    setting = {"d": d, "intrinsic_rank": r, "samples": n, "K_mehler": gaussian.KMEHLER, "seed": config.seed,
               "rank_tolerance": "λ > λ_max·d·eps + d·entry_error (exact); σ > σ_max·max(n,d)·eps (sampled)",
               "as_written": as_written(
                   "If f is not a bounded degree polynomial and E f(z)² < ∞, C_f = (1/n) E f(X)ᵀ f(X) has "
                   "full rank even if X is rank-deficient (rows N(0, C), unit diagonal, off-diagonals in "
                   "(−1, 1)); App. A.1: 'full rank, unless some features are perfectly correlated or "
                   "anti-correlated (|Σ_ij| = 1) or are exact duplicates'.",
                   "§3, Prop. 3.1 (first part); App. A.1, Prop. A.3", None,
                   note="The exception clause is loose: C_ij = +1 costs one rank per pair for every f, "
                        "C_ij = −1 only where f has a reflection identity (odd, even, or f(−x) = c ± f(x)); "
                        "ReLU keeps full rank with anti-duplicates (hard-controls).")}
    derivation = [("C_f[0,1] for f = c0 + c1 z + c2 z^2 + c3 z^3", Cf_sym[0, 1]),
                  ("C_f - sum_k a_k^2 C^(o k)  (d = 3)", residual),
                  ("k_relu(rho) (arc-cosine)", gaussian.kernel_exact(activations.get("relu"))),
                  ("k_step(rho)", gaussian.kernel_exact(activations.get("step")))]
    if not proved or not all(series_ok.values()):
        verdict, summary, counter = "inconclusive", "The symbolic Mehler identity did not reduce to 0.", None
    elif deficient:
        verdict = "refuted"
        summary = f"C_f is rank-deficient for the non-polynomial {', '.join(deficient)}."
        counter = {"activation": deficient[0], **rows[deficient[0]], "C": "rank-10 correlation, d = 50"}
    else:
        worst = min(rows, key=lambda k: rows[k]["certificate_lambda_min_S_K"])
        verdict, counter = "confirmed", None
        summary = (f"C_f = Σ a_k² C^(∘k) proved symbolically (d = 3, cubic f); for a rank-{r} C (d = {d}) "
                   f"C_f has rank {d} for all {len(rows)} non-polynomial activations, certified by "
                   f"λ_min(Σ_(k≤{gaussian.KMEHLER}) a_k² C^(∘k)) > tolerance (smallest: {worst} "
                   f"{rows[worst]['certificate_lambda_min_S_K']:.2e}), and sampled f(X) ({n}×{d}) has full "
                   "column rank.")
    return Evidence(kind="numeric", verdict=verdict, summary=summary, setting=setting, measured=measured,
                    counterexample=counter, derivation=derivation, figures=[_spectrum_figure(eigenvalues)])


def _spectrum_figure(eigenvalues: dict[str, np.ndarray]) -> Figure:
    names = [n for n in ("C (rank 10)", "relu", "tanh", "step", "sigmoid", "hardsigmoid") if n in eigenvalues]
    series = [_line(np.arange(1, len(eigenvalues[name]) + 1), np.clip(eigenvalues[name], 1e-18, None), name,
                    color="k" if i == 0 else f"C{i}", marker=".", markersize=3)
              for i, name in enumerate(names)]
    return Figure("Eigenvalues of a rank-10 correlation matrix C (d = 50) and of C_f = k(C) entrywise (exact "
                  "kernel or Mehler sum to K = 200 with a rigorous tail bound); C's zero eigenvalues are "
                  "clipped at 1e-18.",
                  [Panel(series, xlabel="index", ylabel="eigenvalue", yscale="log")], width=6.0, height=3.0)


@check("rank.hard", name="hard-controls")
def hard_controls(config: Config) -> Evidence:
    """Negative controls of rank.hard, which must come out rank-deficient exactly as predicted:
    polynomial f on a rank-r C (``gaussian.polynomial_rank``: the spherical-harmonic count, below the
    monomial bound C(r+p, p) because C has a unit diagonal) and exact duplicates C_ij = +1 (one rank
    lost per pair, whatever f). Anti-duplicates C_ij = −1 cost rank only through a reflection identity
    f(−x) = c ± f(x) (``gaussian.reflection``): one rank per pair when c = 0 (tanh), one less in all
    when c ≠ 0 (sigmoid: f_i + f_j = 1 for every pair), none otherwise (relu); the controls predict and
    check it."""
    sizes = SIZES[config.quick]
    rng = np.random.default_rng(config.seed + 1)
    d, n = 50, sizes.control_samples
    cases = []
    for f, r in ((activations.get("identity"), 10), (gaussian.adhoc("1 + z + z^2", 1 + z + z**2), 3),
                 (gaussian.adhoc("z + z^3", z + z**3), 4)):
        a = gaussian.hermite_exact(f, int(sp.degree(f.expr, z)))
        pred, bound = gaussian.polynomial_rank([k for k, ak in enumerate(a) if ak != 0], r)
        cases.append((f"polynomial {f.name}, intrinsic rank {r}", f, spectra.correlation_of_rank(d, r, rng),
                      min(pred, d), bound))
    base = spectra.correlation_of_rank(d, d, rng)
    pairs = [(2 * i, 2 * i + 1) for i in range(5)]
    for sign in (+1, -1):
        W = np.linalg.cholesky(base)
        for i, j in pairs:
            W[j] = sign * W[i]
        C = W @ W.T
        for name in ("relu", "tanh", "gelu", "sigmoid") if sign > 0 else ("tanh", "relu", "sigmoid"):
            f = activations.get(name)
            refl = gaussian.reflection(f)
            lost = len(pairs) if sign > 0 else 0 if refl is None else len(pairs) - (abs(refl[1]) > 1e-12)
            pred = d - lost
            cases.append((f"{name}, {len(pairs)} pairs with C_ij = {sign:+d}", f, C, pred, None))
    rows = {}
    for label, f, C, pred, bound in cases:
        Cf, _, err = gaussian.kernel_matrix(f, C)
        rank_exact, lam_min, tol = spectra.psd_rank(Cf, err)
        r_lat = int(np.linalg.matrix_rank(C))
        rank_sampled, _ = spectra.numerical_rank(spectra.apply(f, spectra.sample_of_rank(C, r_lat, n, rng)))
        rows[label] = {"activation": f.name, "rank_C": r_lat, "predicted_rank_C_f": pred,
                       "rank_C_f": rank_exact, "monomial_bound": bound, "rank_sampled_f_X": rank_sampled,
                       "lambda_min_C_f": lam_min, "tolerance": tol,
                       "as_predicted": rank_exact == pred == rank_sampled}
    bad = [k for k, v in rows.items() if not v["as_predicted"]]
    deficient = {k: v for k, v in rows.items() if v["predicted_rank_C_f"] < d}
    measured = {"d": d, "controls": rows, "not_as_predicted": bad}
    setting = {"control": True, "d": d, "samples": n, "seed": config.seed,
               "prediction": "polynomial: Σ_{j ∈ J} dim H_j (spherical harmonics); C_ij = +1: d − m for m "
                             "pairs; C_ij = −1: d − m if f(−x) = ±f(x), d − m + 1 if f(−x) = c ± f(x) with "
                             "c ≠ 0, else d"}
    if bad:
        verdict = "inconclusive"
        summary = f"A negative control did not behave as predicted: {bad[0]} ({rows[bad[0]]})."
        counter = None
    else:  # the example: a control whose rank falls below the monomial count, else the first deficient one
        first = next((k for k, v in deficient.items()
                      if v["monomial_bound"] and v["rank_C_f"] < v["monomial_bound"]), next(iter(deficient)))
        ex = deficient[first]
        verdict = "refuted"
        summary = (f"All {len(rows)} controls came out as predicted: a polynomial f keeps the rank of its "
                   f"spherical harmonics, below the monomial bound C(r+p, p) (e.g. {first}: rank "
                   f"{ex['rank_C_f']}, bound {ex['monomial_bound']}, d = {d}); exact duplicates "
                   "(C_ij = +1) lose one rank per pair for every f; anti-duplicates (C_ij = −1) lose one per "
                   "pair for odd tanh, one less in all for sigmoid (σ(−x) = 1 − σ(x)), and none for relu: "
                   "'|C_ij| = 1 stays deficient' needs C_ij = +1 or a reflection identity.")
        counter = {"control": first, **deficient[first]}
    return Evidence(kind="numeric", verdict=verdict, summary=summary, setting=setting, measured=measured,
                    counterexample=counter)


# ---- rank.alpha -----------------------------------------------------------------------------------

@check("rank.alpha")
def alpha(config: Config, paper_alpha: dict[str, float] | None = None) -> Evidence:
    """α_f = E f'²/E f² − 1 for every registry activation (exact where the moments are), the centred
    variant and the other candidate definitions in ``gaussian.DEFINITIONS``, against the paper's stated
    values (ReLU 0.5000, Tanh 0.6667, GELU 0.5449; ``paper_alpha`` overrides them, for tests). A
    definition reproduces the paper when it rounds to the stated value at 4 decimals for all three."""
    stated = PAPER_ALPHA if paper_alpha is None else paper_alpha
    definitions = gaussian.DEFINITIONS
    acts = _registry()
    ms = {f.name: gaussian.moments(f) for f in acts}
    table = {key: {n: _finite(fn(m)) for n, m in ms.items()} for key, (_, fn) in definitions.items()}
    exact = {f.name: _exact_text(gaussian.alpha_exact(f)) for f in acts}
    gelu_closed = gaussian.gelu_alpha_closed_form()
    gelu_check = abs(gaussian.as_float(gelu_closed) - ms["gelu"].alpha)
    if gelu_check > 1e-10:
        raise ArithmeticError(f"α_GELU closed form off by {gelu_check}")

    def hits(key: str) -> dict[str, bool]:
        return {n: isinstance(table[key][n], float) and abs(table[key][n] - v) <= 5e-5
                for n, v in stated.items()}
    matches = {key: all(hits(key).values()) for key in definitions}
    sigma2 = {n: gaussian.input_variance_for(activations.get(n), v) for n, v in stated.items()}
    sig_vals = [s for s in sigma2.values() if s is not None]
    variance_match = len(sig_vals) == len(stated) and max(sig_vals) - min(sig_vals) < 1e-3
    matching = [k for k, ok in matches.items() if ok] + (["input_variance"] if variance_match else [])
    per_def_hits = {key: [n for n, ok in hits(key).items() if ok] for key in definitions}

    measured = {
        "alpha": table["uncentred"], "alpha_centred": table["centred"], "paper_alpha": dict(stated),
        "alpha_exact": {n: e for n, e in exact.items() if e}, "alpha_gelu_closed_form": sp.sstr(gelu_closed),
        "definitions": {k: d for k, (d, _) in definitions.items()}, "by_definition": table,
        "matching_definitions": matching, "activations_matched_per_definition": per_def_hits,
        "input_variance_reproducing_each_value": sigma2,
        "moments": {n: {"E f": m.mean, "E f^2": m.second, "E f'^2": _finite(m.slope), "a1 = E f'": m.a1,
                        "quadrature_error": m.error, "exact": sorted(m.exact)} for n, m in ms.items()},
    }
    wrong = {n: {"stated": v, "computed": table["uncentred"][n], "centred": table["centred"][n]}
             for n, v in stated.items() if not hits("uncentred")[n]}
    if matches["uncentred"]:
        verdict, summary, counter = "confirmed", (
            "The stated α values follow from α = E f'²/E f² − 1: " + ", ".join(
                f"{n} {table['uncentred'][n]:.4f}" for n in stated) + "."), None
    else:
        ours = ", ".join(f"{n} {table['uncentred'][n]:.4f} (stated {stated[n]:.4f})" for n in stated)
        counter = {"definition": definitions["uncentred"][0], "mismatches": wrong}
        if matching:
            verdict = "qualified"
            summary = (f"The stated values do not follow from α = E f'²/E f² − 1 ({ours}); they do follow "
                       f"from {', '.join(matching)}.")
        else:
            verdict = "refuted"
            partial = "; ".join(f"{k} matches only {', '.join(v)}" for k, v in per_def_hits.items() if v)
            summary = (f"The stated values do not follow from α = E f'²/E f² − 1 ({ours}; exactly α_ReLU = 0 "
                       f"since E relu² = E relu'² = 1/2), nor from the centred variant (" + ", ".join(
                           f"{n} {table['centred'][n]:.4f}" for n in stated) + ") or any other candidate "
                       f"definition tried ({len(definitions) - 1} plus the input variance σ²)"
                       + (f"; partial: {partial}." if partial else "."))
    derivation = [("E relu(z)^2", ms["relu"].exact["second"]), ("E relu'(z)^2", ms["relu"].exact["slope"]),
                  ("alpha_relu", gaussian.alpha_exact(activations.get("relu"))),
                  ("alpha_gelu = 1/(3 + 2 sqrt(3) pi) (Stein's lemma, by hand; matches quadrature)",
                   sp.nsimplify(sp.simplify(gelu_closed))),
                  *[(f"alpha_{n} (exact)", gaussian.alpha_exact(activations.get(n)))
                    for n in ("relu6", "hardtanh", "elu")]]
    setting = {"activations": [f.name for f in acts], "z": "N(0, 1)",
               "match_tolerance": "|value − stated| ≤ 5e-5",
               "quadrature": f"composite Gauss–Legendre, |z| ≤ {gaussian.L}, {gaussian.NODES} nodes per ≤ "
                             f"{gaussian.PANEL}-wide panel, split at kinks", "seed": config.seed,
               "as_written": as_written(
                   "α_f = E f'(z)²/E f(z)² − 1, z ~ N(0, 1); 'ReLU with α_f = 0.5000, Tanh with α_f = "
                   "0.6667, and GELU "
                   "with α_f = 0.5449'.", "§3, Prop. 3.1; App. A.1.3, caption of the validation-2 figure",
                   "ReLU 0, Tanh 0.1778, GELU 1/(3 + 2√3π) = 0.0720 with the printed definition; the centred "
                   "E f'²/Var f − 1 gives 0.4669, 0.1778, 0.3188")}
    return Evidence(kind="symbolic", verdict=verdict, summary=summary, setting=setting, measured=measured,
                    counterexample=counter, derivation=derivation, figures=[_alpha_figure(table, stated)])


def _alpha_figure(table: dict[str, dict[str, float | str]], stated: dict[str, float]) -> Figure:
    names = list(table["uncentred"])
    x = np.arange(len(names))
    cap = 3.0
    series = []
    for off, key, color in ((-0.2, "uncentred", "C0"), (0.2, "centred", "C1")):
        vals = [v if isinstance(v, float) else cap for v in table[key].values()]
        series.append(_bars(x + off, np.minimum(vals, cap), f"ours, {key}", color))
    paper = [(names.index(n), v) for n, v in stated.items() if n in names]
    series.append(_line([i for i, _ in paper], [v for _, v in paper], "paper", color="k", linestyle="none",
                        marker="*", markersize=10))
    series.append(_hline(0, color="k", linewidth=0.5))
    return Figure(f"α_f = E f'²/E f² − 1 (uncentred, the paper's formula) and E f'²/Var f − 1 (centred) "
                  f"per registry activation, exact or quadrature (error < 1e-12); stars: the paper's stated "
                  f"values. Bars are capped at {cap} (step: α = ∞, f ∉ H¹).",
                  [Panel(series, ylabel="α_f", ylim=(-1.05, cap), xticks=x, xticklabels=names)],
                  width=7.5, height=3.0)


# ---- rank.lemma -----------------------------------------------------------------------------------

def _first_order(ratio: np.ndarray, rate: float) -> tuple[np.ndarray, bool]:
    """(relative deviation of (1 − corr)/ε from the predicted rate, whether the law holds: deviation ≤
    LEMMA_TOL at the smallest ε and not larger than at the largest)."""
    if not math.isfinite(rate):
        return np.full_like(ratio, -1.0), False
    dev = ratio / rate - 1
    return dev, bool(abs(dev[-1]) <= LEMMA_TOL and abs(dev[-1]) <= max(abs(dev[0]), 1e-12))


@check("rank.lemma")
def lemma(config: Config) -> Evidence:
    """1 − corr(f(X), f(Y)) against (α_f + 1)ε for corr(X, Y) = 1 − ε on a grid of ε, for every registry
    activation: exact series where k has a closed form, quadrature of ½E(f(X) − f(Y))² otherwise.
    The first-order law holds for f when the relative deviation is ≤ LEMMA_TOL at the smallest ε."""
    sizes = SIZES[config.quick]
    eps = gaussian.represented(sizes.lemma_eps)
    rows, curves = {}, {}
    for f in _registry():
        m = gaussian.moments(f)
        dec = [gaussian.decorrelation(f, e) for e in eps]
        unc = np.array([d["uncentred"] for d in dec])
        cen = np.array([d["centred"] for d in dec])
        ratio = unc / eps
        dev, holds = _first_order(ratio, m.alpha + 1)
        dev_c, holds_c = _first_order(cen / eps, m.alpha_centred + 1)
        log_step = np.log(eps[-2] / eps[-1])
        q = float(np.log(unc[-2] / unc[-1]) / log_step)  # 1 − corr ~ ε^q
        p = float(np.log(abs(dev[-2] / dev[-1])) / log_step) if abs(dev[-1]) > 1e-12 else math.inf
        rows[f.name] = {"alpha_plus_1": _finite(m.alpha + 1), "ratio_(1-corr)/eps": ratio,
                        "relative_deviation": dev, "relative_deviation_centred": dev_c,
                        "power_q_of_1-corr": q, "deviation_order_p": _finite(p), "holds": holds,
                        "holds_centred": holds_c, "continuous": not gaussian.jumps(f),
                        "max_error": max(d["error"] for d in dec)}
        curves[f.name] = (ratio, m.alpha + 1)
    paper_dev = {n: float(rows[n]["ratio_(1-corr)/eps"][-1] / (v + 1) - 1) for n, v in PAPER_ALPHA.items()
                 if n in rows}
    fails = [n for n, r in rows.items() if not r["holds"]]
    same_centred = all(r["holds"] == r["holds_centred"] for r in rows.values())
    discontinuous = [n for n, r in rows.items() if not r["continuous"]]
    # symbolic: generic identity, Price's theorem and the series of closed-form kernels
    identity = gaussian.generic_slope_identity()
    derivation: list[tuple[str, object]] = [("sum_k k a_k^2 - E f'^2, f = c0 + ... + c5 z^5", identity)]
    price = {}
    for f in _registry():
        k = gaussian.kernel_exact(f)
        if k is None:
            continue
        series = gaussian.near_one_series(k)
        derivation.append((f"1 - corr, {f.name} (series in epsilon)", series))
        if not gaussian.jumps(f):
            kp = gaussian.kernel_exact(gaussian.adhoc(f"{f.name}'", f.derivative))
            price[f.name] = sp.simplify(sp.diff(k, gaussian.RHO) - kp) == 0
            derivation.append((f"d/drho k_{f.name} - k_{f.name}' (Price)",
                               sp.simplify(sp.diff(k, gaussian.RHO) - kp)))
    measured = {"epsilon": eps, "per_activation": rows, "fails": fails, "discontinuous": discontinuous,
                "generic_identity_zero": identity == 0, "price_theorem_closed_forms": price,
                "relative_deviation_at_smallest_eps_with_paper_alpha": paper_dev}
    setting = {"activations": list(rows), "epsilon": eps,
               "tolerance": f"|(1 − corr)/((α+1)ε) − 1| ≤ {LEMMA_TOL} at ε = {eps[-1]:g}, and not larger "
                            f"than at ε = {eps[0]:g}",
               "correlation": "uncentred (centred alongside)", "seed": config.seed,
               "as_written": as_written(
                   "If X, Y ~ N(0, 1) are nearly identical, E XY = 1 − ε, then E f(X)f(Y)/√(E f(X)² E f(Y)²) "
                   "≈ "
                   "1 − (α_f + 1)ε.", "App. A.1, lemma before the effective-rank proposition",
                   "1 − corr = (α_f + 1)ε + o(ε) for f continuous with f' ∈ L² (f in the Gaussian Sobolev "
                   "space "
                   "H¹); for f with a jump (step) 1 − corr ~ √ε")}
    step_q = {n: round(rows[n]["power_q_of_1-corr"], 3) for n in fails}
    if identity != 0 or not all(price.values()):
        verdict, counter = "inconclusive", None
        summary = "A symbolic identity (Σ k a_k² = E f'², Price) failed."
    elif not fails:
        verdict, counter = "confirmed", None
        summary = (f"1 − corr = (α_f + 1)ε + o(ε) for every activation (deviation ≤ {LEMMA_TOL} at "
                   f"ε = {eps[-1]:g}).")
    elif len(fails) < len(rows):
        verdict = "qualified"
        cond = ("exactly the discontinuous ones (f ∉ H¹, E f'² = ∞)" if set(fails) == set(discontinuous)
                else "not only the discontinuous ones")
        summary = (f"Holds for {len(rows) - len(fails)} of {len(rows)} activations with 1 − corr = (α+1)ε "
                   f"+ O(ε^(1+p)) (p = 1/2 at a kink of f', e.g. ReLU: −(2√2/3π)ε^(3/2)); fails for "
                   f"{', '.join(fails)}, {cond}: there 1 − corr ~ ε^q with q = {step_q}. The centred "
                   + ("correlation obeys the same law with α_centred. " if same_centred
                      else "correlation behaves differently (see measured). ")
                   + "With the paper's α values the law is off by "
                   + ", ".join(f"{n} {v:+.0%}" for n, v in paper_dev.items()) + ".")
        counter = {"activation": fails[0], "epsilon": eps,
                   "one_minus_corr": rows[fails[0]]["ratio_(1-corr)/eps"] * eps,
                   "alpha_plus_1": rows[fails[0]]["alpha_plus_1"]}
    else:
        verdict = "refuted"
        summary = "The first-order law fails for every registry activation."
        counter = {"activation": fails[0], "relative_deviation": rows[fails[0]]["relative_deviation"]}
    return Evidence(kind="symbolic", verdict=verdict, summary=summary, setting=setting, measured=measured,
                    counterexample=counter, derivation=derivation, figures=[_lemma_figure(eps, curves)])


def _lemma_figure(eps: np.ndarray, curves: dict[str, tuple[np.ndarray, float]]) -> Figure:
    ratios, deviations = [], []
    for i, (name, (ratio, pred)) in enumerate(curves.items()):
        style = {"color": f"C{i % 10}", "linestyle": "solid" if i < 10 else "dashed", "marker": "o",
                 "markersize": 3}
        ratios.append(_line(eps, ratio, name, **style))
        if math.isfinite(pred):
            ratios.append(_hline(pred, color=style["color"], linewidth=0.6, linestyle="dotted"))
            dev = np.abs(ratio / pred - 1)
            if np.any(dev > 1e-14):
                deviations.append(_line(eps, np.clip(dev, 1e-16, None), **style))
    deviations.append(_hline(LEMMA_TOL, color="k", linewidth=0.8))
    xlabel = "ε  (corr(X, Y) = 1 − ε)"
    return Figure("Correlation amplification for corr(X, Y) = 1 − ε (uncentred; exact kernel or "
                  "quadrature with error < 1e-9 relative). Left: (1 − corr)/ε, dotted: the lemma's α_f + 1 "
                  "(step's ratio grows like ε^(−1/2)). Right: the lemma's relative error: slope 1/2 where "
                  f"f' jumps, 1 where f' is continuous (orders in measured); black line: the tolerance "
                  f"{LEMMA_TOL}.",
                  [Panel(ratios, xlabel=xlabel, ylabel="(1 − corr) / ε", xscale="log", yscale="log"),
                   Panel(deviations, xlabel=xlabel, ylabel="|(1 − corr)/((α+1)ε) − 1|", xscale="log",
                         yscale="log", legend=None)],
                  columns=2, width=10.0, height=3.4)


# ---- rank.effective --------------------------------------------------------------------------------

def _regime(holds: dict[int, np.ndarray], eps: np.ndarray) -> dict[str, object]:
    """Where a formula holds on the (n, ε) grid: for each n the largest ε* such that it holds at every
    ε ≤ ε* (None when it fails at the smallest ε); 'everywhere', 'nowhere' or 'regime'."""
    eps_max = {}
    for n, ok in holds.items():
        order = np.argsort(eps)
        good = np.cumprod(ok[order]).astype(bool)
        eps_max[n] = float(eps[order][good][-1]) if good.any() else None
    total = sum(int(ok.sum()) for ok in holds.values())
    points = sum(len(ok) for ok in holds.values())
    kind = "everywhere" if total == points else "nowhere" if total == 0 else "regime"
    return {"kind": kind, "points_holding": total, "points": points, "largest_eps_by_n": eps_max}


@check("rank.effective")
def effective(config: Config) -> Evidence:
    """r̃(C_f) ≈ r̃(C)(1 + α_f ε ln(n/ε)) for C = (1 − ε)11ᵀ + εI. C_f = k(1)[(1 − δ)11ᵀ + δI] with
    δ = 1 − k(1 − ε)/k(1), so r̃(C) = R(n, ε) and r̃(C_f) = R(n, δ) exactly
    (``spectra.effective_rank_equicorrelated``). The formula's content is the gain
    G = r̃(C_f)/r̃(C) − 1 ≈ α ε ln(n/ε); it holds at a grid point when |G_formula − G_exact| ≤
    10% |G_exact| (+ 1e-14 for round-off). The relative error of r̃ itself is reported too (it is small
    wherever r̃ ≈ 1, whatever α is), and so is ``spectra.refined_gain``. Sampled data check the exact
    values."""
    sizes = SIZES[config.quick]
    ns = list(sizes.effective_n)
    eps = gaussian.represented(sizes.effective_eps)
    rows, regimes, refined_regimes, curves = {}, {}, {}, {}
    for f in _registry():
        m = gaussian.moments(f)
        delta = np.array([gaussian.decorrelation(f, e)["uncentred"] for e in eps])
        grid, holds, holds_refined = {}, {}, {}
        for n in ns:
            R0 = spectra.effective_rank_equicorrelated(n, eps)
            Rf = spectra.effective_rank_equicorrelated(n, delta)
            G_exact = Rf / R0 - 1
            finite = math.isfinite(m.alpha)
            G_pred = m.alpha * eps * np.log(n / eps) if finite else np.full_like(eps, np.inf)
            G_ref = spectra.refined_gain(m.alpha, n, eps) if finite else np.full_like(eps, np.inf)
            with np.errstate(invalid="ignore", divide="ignore"):
                err_G = np.abs(G_pred - G_exact) / np.abs(G_exact)
                err_ref = np.abs(G_ref - G_exact) / np.abs(G_exact)
            holds[n] = np.abs(G_pred - G_exact) <= EFFECTIVE_TOL * np.abs(G_exact) + 1e-14
            holds_refined[n] = np.abs(G_ref - G_exact) <= EFFECTIVE_TOL * np.abs(G_exact) + 1e-14
            grid[n] = {"r_C": R0, "r_C_f": Rf, "gain_exact": G_exact, "gain_formula": G_pred,
                       "rel_error_gain": err_G, "gain_refined": G_ref, "rel_error_gain_refined": err_ref,
                       "rel_error_r": np.abs(R0 * (1 + G_pred) - Rf) / Rf, "holds": holds[n]}
        shown = grid[N_SHOWN]
        curves[f.name] = (shown["gain_exact"], shown["gain_formula"], shown["rel_error_gain"])
        rows[f.name] = {"alpha": _finite(m.alpha), "delta": delta, "by_n": grid}
        regimes[f.name] = _regime(holds, eps)
        refined_regimes[f.name] = _regime(holds_refined, eps)
    sampled = _effective_sampled(config.seed, sizes.effective_samples)
    kinds = {k: v["kind"] for k, v in regimes.items()}
    sampled_ok = all(s["rel_diff"] <= EFFECTIVE_TOL for s in sampled.values())
    never_n = [n for n in ns if not any(v["largest_eps_by_n"][n] for v in regimes.values())]
    measured = {"n": ns, "epsilon": eps, "regimes": regimes, "regimes_refined_formula": refined_regimes,
                "n_where_it_never_holds": never_n, "per_activation": rows, "sampled": sampled}
    setting = {"C": "(1 − ε)11ᵀ + εI", "n": ns, "epsilon": eps, "alpha": "uncentred", "seed": config.seed,
               "tolerance": f"{EFFECTIVE_TOL:.0%} on the gain",
               "as_written": as_written(
                   "C_ij = 1 − ε for all i ≠ j: for sufficiently small ε and sufficiently large n, "
                   "r̃(C_f) ≈ r̃(C)(1 + α_f ε ln(n/ε)).", "App. A.1, effective-rank proposition",
                   "r̃(C_f)/r̃(C) − 1 ≈ ((n − 1)/n) ε [α_f(1 + ln(n/ε)) − (1 + α_f) ln(1 + α_f)] "
                   "(spectra.refined_gain), of which α_f ε ln(n/ε) is the leading term only for small n·ε")}
    n_big = N_SHOWN
    where = {k: v["largest_eps_by_n"][n_big] for k, v in regimes.items() if v["kind"] == "regime"}
    nowhere = [k for k, v in kinds.items() if v == "nowhere"]
    if not sampled_ok:
        verdict, counter = "inconclusive", None
        summary = ("Sampled effective ranks disagree with the exact ones by more than 10%: the exact "
                   "machinery is suspect.")
    elif all(v == "everywhere" for v in kinds.values()):
        verdict, counter = "confirmed", None
        summary = "The formula holds within 10% on the whole (n, ε) grid."
    elif len(nowhere) == len(kinds):
        verdict = "refuted"
        f0 = nowhere[0]
        counter = {"activation": f0, "n": ns[0], "epsilon": eps[0],
                   **{k: v[0] for k, v in rows[f0]["by_n"][ns[0]].items()}}
        summary = "The formula misses the exact effective-rank gain by more than 10% everywhere on the grid."
    else:
        verdict, counter = "qualified", None
        never = (f"; never at n = {', '.join(map(str, never_n))} (the formula drops the factor (n−1)/n)"
                 if never_n else "")
        summary = (f"The gain α ε ln(n/ε) matches the exact r̃(C_f)/r̃(C) − 1 within 10% only for small "
                   f"n·ε and large n: at n = {n_big} for ε ≤ "
                   + ", ".join(f"{k} {v:g}" for k, v in where.items() if v)
                   + never + f". It fails everywhere for {', '.join(nowhere)}: α = 0 (ReLU family) predicts "
                   "no gain while ReLU's exact gain is negative (−(2√2/3π)ε^(3/2) in 1 − corr), and step has "
                   "α = ∞. r̃ itself is within 10% wherever r̃ ≈ 1, which says nothing about α. The refined "
                   "((n−1)/n) ε [α(1 + ln(n/ε)) − (1+α) ln(1+α)] is in measured.")
    return Evidence(kind="numeric", verdict=verdict, summary=summary, setting=setting, measured=measured,
                    counterexample=counter, figures=[_effective_figure(eps, curves, n_big)])


def _effective_sampled(seed: int, m: int) -> dict[str, dict[str, float]]:
    """r̃ of the sampled C_f = f(X)ᵀf(X)/m (m rows) for X with C = (1 − ε)11ᵀ + εI, against the exact r̃."""
    rng = np.random.default_rng(seed + 2)
    out = {}
    for name in ("tanh", "relu", "gelu"):
        f = activations.get(name)
        for n in (20, 100):
            for e in (1e-1, 1e-2):
                shared, own = rng.standard_normal((m, 1)), rng.standard_normal((m, n))
                X = math.sqrt(1 - e) * shared + math.sqrt(e) * own
                H = spectra.apply(f, X)
                sampled = spectra.effective_rank(spectra.moment_spectrum(H))
                exact = float(spectra.effective_rank_equicorrelated(
                    n, np.array(gaussian.decorrelation(f, e)["uncentred"])))
                out[f"{name}, n={n}, eps={e:g}"] = {"sampled": sampled, "exact": exact, "samples": m,
                                                    "rel_diff": abs(sampled - exact) / exact}
    return out


def _effective_figure(eps: np.ndarray, curves: dict[str, tuple], n: int) -> Figure:
    shown = [k for k in ("tanh", "gelu", "elu", "sigmoid", "relu6") if k in curves] or list(curves)[:5]
    gains = []
    for i, name in enumerate(shown):
        G_exact, G_pred, _ = curves[name]
        gains.append(_line(eps, np.abs(G_exact), f"{name} exact", color=f"C{i}", marker="o", markersize=3))
        gains.append(_line(eps, np.abs(G_pred), color=f"C{i}", linestyle="dashed", linewidth=0.8))
    errors = [_line(eps, np.clip(err, 1e-6, 1e3), name, color=f"C{i % 10}", marker=".", markersize=3,
                    linestyle="solid" if i < 10 else "dashed")
              for i, (name, (_, _, err)) in enumerate(curves.items())]
    errors.append(_hline(EFFECTIVE_TOL, color="k", linewidth=0.8))
    return Figure(f"Effective-rank gain for C = (1 − ε)11ᵀ + εI, n = {n}: exact (solid, from the exact "
                  "dual kernel: r̃ of an equicorrelated matrix in closed form) vs the paper's α ε ln(n/ε) "
                  f"(dashed), and the formula's relative error; black line: the {EFFECTIVE_TOL:.0%} "
                  "tolerance.",
                  [Panel(gains, xlabel="ε", ylabel=f"|r̃(C_f)/r̃(C) − 1|  (n = {n})", xscale="log",
                         yscale="log"),
                   Panel(errors, xlabel="ε", ylabel=f"relative error of the gain (n = {n})", xscale="log",
                         yscale="log", legend="outside")],
                  columns=2, width=9.0, height=3.2)


# ---- rank.corollary ---------------------------------------------------------------------------------

def _tanh_family(a_seq: np.ndarray) -> tuple[dict, list, bool]:
    """tanh(a z): α(a)/a → φ(0) ∫ tanh'(u)² du = 4/(3√(2π)) (dominated convergence), E f² → 1, and
    |g'| = a tanh'(a z) < τ ⇔ |z| > x_(τ/a)/a with tanh'(x_t) = t, so P = erfc(x_(τ/a)/(√2 a)) → 1."""
    tanh = activations.get("tanh")
    al, e2 = gaussian.affine_alpha(tanh, 0.0, a_seq)
    p_g = np.array([gaussian.frozen_fraction(gaussian.frozen_set(tanh, TAU / a, 30.0), 0.0, a)
                    for a in a_seq])
    p_f = gaussian.frozen_fraction(gaussian.frozen_set(tanh, TAU, 30.0), 0.0, a_seq)
    # the registry's tanh' is a polynomial in y = tanh z, and dy = tanh'(z) dz
    y, t, a = sp.Symbol("y", real=True), sp.Symbol("t", positive=True), sp.Symbol("a", positive=True)
    d_y = tanh.derivative.subs(sp.tanh(z), y)
    sech4 = sp.integrate(d_y, (y, -1, 1))  # ∫ tanh'(u)² du = ∫_{-1}^{1} tanh'(y) dy
    limit_over_a = sech4 / sp.sqrt(2 * sp.pi)
    x_t = sp.atanh(max(sp.solve(sp.Eq(d_y, t), y), key=lambda r: float(r.subs(t, sp.Rational(1, 10)))))
    x_a = x_t.subs(t, sp.Rational(1, 10000) / a)
    ratio_limit = sp.limit(x_a / a, a, sp.oo)
    p_closed = sp.erfc(x_a / (sp.sqrt(2) * a))
    with mpmath.workdps(30):  # (SymPy's own .subs(a, 256) of p_closed evaluates to exactly 1, wrongly)
        p_check = abs(float(sp.lambdify(a, p_closed, "mpmath")(mpmath.mpf(a_seq[-1]))) - p_g[-1])
    ok = bool(np.all(np.diff(al) > 0) and p_g[-1] > 0.9 and np.all(e2 <= 1) and ratio_limit == 0
              and p_check < 1e-9 and abs(al[-1] / a_seq[-1] / gaussian.as_float(limit_over_a) - 1) < 0.02)
    measured = {"a": a_seq, "alpha": al, "alpha_over_a": al / a_seq,
                "alpha_over_a_limit": gaussian.as_float(limit_over_a), "E f^2": e2, "P(|f_a'| < 1e-4)": p_g,
                "P(|tanh'(a z)| < 1e-4)": p_f,
                "closed_form_P_minus_numeric_at_largest_a": p_check}
    derivation = [("int tanh'(u)^2 du", sech4), ("lim alpha(tanh(a z))/a", limit_over_a),
                  ("x_t with tanh'(x_t) = t (x_t > 0)", x_t), ("lim_(a->oo) x_(1e-4/a)/a", ratio_limit),
                  ("P(|d/dz tanh(a z)| < 1e-4)", p_closed)]
    return measured, derivation, ok


def _relu_family(b_seq: np.ndarray) -> tuple[dict, list, bool]:
    """relu(z + b), b → −∞ (a = 1): α exact (``gaussian.relu_shift_alpha``; quadrature alongside where
    the mass stays in the window), E f² → 0, P(f' = 0) = Φ(−b) → 1."""
    relu = activations.get("relu")
    al, e2 = gaussian.relu_shift_values(-b_seq)
    al_quad = gaussian.affine_alpha(relu, b_seq[b_seq >= -6], 1.0)[0]
    p = gaussian.frozen_fraction(gaussian.frozen_set(relu, TAU, 30.0), b_seq, 1.0)
    alpha_c, _, lower, lower_limit = gaussian.relu_shift_alpha()
    cs = np.array([1.0, 2.0, 4.0, 8.0, 16.0, 50.0])
    bound_ok = bool(np.all(gaussian.relu_shift_values(cs)[0] + 1 >= sp.lambdify(gaussian.C_SHIFT, lower)(cs)))
    ok = bool(np.all(np.diff(al) > 0) and p[-1] > 0.9 and np.all(e2 <= 1) and bound_ok
              and lower_limit == sp.oo)
    measured = {"b": b_seq, "alpha": al, "alpha_quadrature_b>=-6": al_quad, "E f^2": e2, "P(f' = 0)": p,
                "mills_lower_bound_holds": bound_ok}
    derivation = [("alpha of relu(z - c) + 1 (exact)", sp.simplify(alpha_c + 1)),
                  ("Mills-ratio lower bound on alpha + 1", lower),
                  ("limit of the bound, c -> oo", lower_limit)]
    return measured, derivation, ok


def _sin_family(s_seq: np.ndarray) -> tuple[dict, list]:
    """sin(s z): E f² = (1 − e^{−2s²})/2, α → ∞ exactly; |f'| = s|cos(s z)| < τ only on shrinking
    windows around the zeros of cos, and for the 1-Lipschitz sin(s z)/s, P(|f'| ≥ 1/2) → 2/3."""
    s = sp.Symbol("s", positive=True)
    e2 = sp.simplify(gaussian.gaussian_integral(sp.sin(s * z).rewrite(sp.exp)**2))
    slope = sp.simplify(gaussian.gaussian_integral(sp.diff(sp.sin(s * z), z).rewrite(sp.exp)**2))
    alpha_s = sp.simplify(slope / e2 - 1)
    sin = gaussian.adhoc("sin", sp.sin(z))
    rows = {}
    for sv in s_seq:
        def prob(tau: float, sv: float = sv) -> float:  # P(|cos(s z)| < tau)
            where = gaussian.frozen_set(sin, tau, sv * gaussian.L + 1, step=1e-2)
            return float(gaussian.frozen_fraction(where, 0.0, sv))
        rows[float(sv)] = {"alpha": gaussian.as_float(alpha_s.subs(s, sv)),
                           "E f^2": gaussian.as_float(e2.subs(s, sv)),
                           "P(|f'| < 1e-4), f = sin(sz)": prob(TAU / sv),
                           "P(|f'| < 1e-4), f = sin(sz)/s": prob(TAU),
                           "P(|f'| >= 1/2), f = sin(sz)/s": 1 - prob(0.5)}
    derivation = [("E sin(s z)^2", e2), ("alpha of sin(s z)", alpha_s),
                  ("lim_(s->oo) alpha", sp.limit(alpha_s, s, sp.oo)),
                  ("lim_(s->oo) E sin(s z)^2", sp.limit(e2, s, sp.oo))]
    return rows, derivation


@check("rank.corollary")
def corollary(config: Config) -> Evidence:
    """The paper's examples, α → ∞ with E f² bounded and f' → 0 in probability: tanh(a z), a → ∞, and
    relu(z + b), b → −∞ (b/a → −∞); and the general statement, tested on sin(s z) (and sin(s z)/s,
    which is 1-Lipschitz): α → ∞, E f² ≤ 1/2, yet |f'| stays large with probability → 1."""
    sizes = SIZES[config.quick]
    a_seq = np.array(sizes.tanh_a)
    b_seq = -np.array(sizes.relu_c)
    s_seq = np.array(sizes.sin_s)
    tanh_m, tanh_d, tanh_ok = _tanh_family(a_seq)
    relu_m, relu_d, relu_ok = _relu_family(b_seq)
    sin_rows, sin_d = _sin_family(s_seq)
    last = sin_rows[float(s_seq[-1])]
    p_small, p_big = last["P(|f'| < 1e-4), f = sin(sz)"], last["P(|f'| >= 1/2), f = sin(sz)/s"]
    examples_ok = tanh_ok and relu_ok
    counterexample_ok = last["alpha"] > 100 and last["E f^2"] <= 0.5 and p_small < 0.01
    measured = {"tanh(a z)": tanh_m, "relu(z + b)": relu_m, "sin(s z)": sin_rows,
                "examples_behave_as_stated": examples_ok, "counterexample_found": bool(counterexample_ok)}
    setting = {"tau": TAU, "a": a_seq, "b": b_seq, "s": s_seq, "seed": config.seed,
               "statement": "α_(f_s) → ∞ and E f_s² bounded ⇒ f_s'(z) → 0 in probability",
               "as_written": as_written(
                   "If α_{f_{s_k}} → ∞ and E f_{s_k}(z)² ≤ M for all k, then lim P(|f'_{s_k}(z)| < ε) = 1 "
                   "for every "
                   "ε > 0, z ~ N(0, 1).", "§3, Corollary 3.3 (and its tanh/ReLU examples, §3 and App. A.1.1)",
                   "false in general (f_s = sin(s z)); true for the affine families f(a z + b) of the two "
                   "classes "
                   "of App. A.1.1 under the conditions of rank.growth")}
    p_tanh, p_relu = tanh_m["P(|f_a'| < 1e-4)"][-1], relu_m["P(f' = 0)"][-1]
    examples = (f"The paper's two examples do behave as stated: α(tanh(az)) ≈ 0.53 a, P(|f'| < 1e-4) = "
                f"{p_tanh:.3f} at a = {a_seq[-1]:g}; relu(z + b): α + 1 ≥ (c⁴−c²)/(2c²+3), P(f' = 0) = "
                f"Φ(−b) = {p_relu:.4f} at b = {b_seq[-1]:g}." if examples_ok else
                "The paper's examples do not all behave as stated either (see measured).")
    if counterexample_ok:
        verdict = "refuted"
        counter = {"family": "f_s(z) = sin(s z)  (and sin(s z)/s, 1-Lipschitz)", "s": float(s_seq[-1]),
                   **last}
        summary = (f"False as a general statement: f_s = sin(s z) has α = {last['alpha']:.0f} at s = "
                   f"{s_seq[-1]:g} (→ ∞), E f² ≤ 1/2, yet P(|f_s'| < 1e-4) = {p_small:.1e} and, for the "
                   f"1-Lipschitz sin(sz)/s, P(|f'| ≥ 1/2) = {p_big:.2f}. " + examples)
    elif examples_ok:
        verdict, counter = "confirmed", None
        summary = "The examples behave as stated and the counterexample family did not reach the thresholds."
    else:
        verdict, counter = "refuted", {"examples": "tanh(az) or relu(z + b) did not behave as stated"}
        summary = "The paper's examples do not behave as stated (see measured)."
    return Evidence(kind="symbolic", verdict=verdict, summary=summary, setting=setting, measured=measured,
                    counterexample=counter, derivation=relu_d + tanh_d + sin_d,
                    figures=[_corollary_figure(tanh_m, relu_m, sin_rows)])


def _corollary_figure(tanh_m: dict, relu_m: dict, sin_rows: dict) -> Figure:
    s_seq = np.array(list(sin_rows))
    al_s = np.array([r["alpha"] for r in sin_rows.values()])
    p_s = np.array([r["P(|f'| < 1e-4), f = sin(sz)"] for r in sin_rows.values()])
    a_seq, b_seq = tanh_m["a"], relu_m["b"]
    alphas = [_line(a_seq, tanh_m["alpha"], "tanh(a z) vs a", color="C0", marker="o"),
              _line(-b_seq[1:], relu_m["alpha"][1:], "relu(z + b) vs −b", color="C1", marker="s"),
              _line(s_seq, al_s, "sin(s z) vs s", color="C2", marker="^")]
    frozen = [_line(a_seq, tanh_m["P(|f_a'| < 1e-4)"], "tanh(a z)", color="C0", marker="o"),
              _line(np.maximum(-b_seq, 0.5), relu_m["P(f' = 0)"], "relu(z + b) (b = 0 at 0.5)", color="C1",
                    marker="s"),
              _line(s_seq, np.maximum(p_s, 1e-6), "sin(s z)", color="C2", marker="^")]
    return Figure(f"Corollary sequences: α_f and the frozen probability P(|f'| < {TAU:g}) (f' of the whole "
                  "family member; exact normal-cdf sums over the set |f'| < τ). tanh and relu freeze as α "
                  "grows; sin(s z) does not.",
                  [Panel(alphas, xlabel="a, −b, s", ylabel="α_f", xscale="log", yscale="log"),
                   Panel(frozen, xlabel="a, −b, s", ylabel=f"P(|f'| < {TAU:g})", xscale="log")],
                  columns=2, width=9.0, height=3.0)


@check("rank.corollary", name="corollary-maps")
def corollary_maps(config: Config) -> Evidence:
    """Maps over (a, b) of α of g(z) = f(a z + b) (α = a² E f'(x)²/E f(x)² − 1, chain rule included) and of
    the frozen fraction P(|f'(a z + b)| < 1e-4) for relu, selu, tanh, sigmoid (paper App. A.1.3,
    validation 4). The measured quantity is the Spearman correlation of the two over the grid; the
    trade-off 'high α ⇔ many frozen units' is present for f when it is ≥ MAP_CORR."""
    from scipy.stats import spearmanr  # imported here: scipy.stats costs ~0.6 s of start-up

    sizes = SIZES[config.quick]
    na = sizes.map_points
    a = np.geomspace(A_RANGE[0], A_RANGE[1], na)
    b = np.linspace(-B_MAX, B_MAX, na)
    A, B = np.meshgrid(a, b, indexing="ij")
    maps, corr = {}, {}
    inside = np.abs(B / A) <= 6.0  # where the quadrature window |z| ≤ L holds relu's mass
    for name in MAP_ACTIVATIONS:
        f = activations.get(name)
        al, _ = gaussian.affine_alpha(f, B, A)
        if name == "relu":  # relu(a z + b) = a relu(z + b/a): α is exact in c = −b/a, and must agree
            exact = gaussian.relu_shift_values(-B / A)[0]
            relu_map_error = float(np.max(np.abs(al - exact)[inside]))
            al = exact
        where = gaussian.frozen_set(f, TAU, gaussian.L * a.max() + B_MAX + 1.0, step=1e-3)
        fr = gaussian.frozen_fraction(where, B, A)
        maps[name] = (al, fr)
        corr[name] = float(spearmanr(al.ravel(), fr.ravel()).statistic)
    pooled = float(spearmanr(np.concatenate([m[0].ravel() for m in maps.values()]),
                             np.concatenate([m[1].ravel() for m in maps.values()])).statistic)
    present = [n for n, r in corr.items() if r >= MAP_CORR]
    measured = {"spearman_alpha_vs_frozen": corr, "pooled_spearman": pooled, "trade_off_present": present,
                "relu_map_max_error_vs_closed_form": relu_map_error,
                "alpha_range": {n: [float(m[0].min()), float(m[0].max())] for n, m in maps.items()},
                "frozen_range": {n: [float(m[1].min()), float(m[1].max())] for n, m in maps.items()}}
    absent = [n for n in MAP_ACTIVATIONS if n not in present]
    setting = {"a": f"{na} log-spaced in {list(A_RANGE)}", "b": f"{na} in [−{B_MAX}, {B_MAX}]", "tau": TAU,
               "alpha": "of g(z) = f(a z + b), chain rule g' = a f'(a z + b)",
               "frozen": "P(|f'(a z + b)| < τ)",
               "relu": "α from its closed form in c = −b/a (30 digits), checked against quadrature where "
                       "|b|/a ≤ 6",
               "threshold": f"Spearman ≥ {MAP_CORR}", "activations": list(MAP_ACTIVATIONS),
               "seed": config.seed,
               "as_written": as_written(
                   "Universal trade-off: all activation types (ReLU, SELU, Tanh, Sigmoid) exhibit regions in "
                   "(a, b) where high rank recovery α_f coincides with high fractions of frozen units; for "
                   "tanh(ax) α_f and the frozen fraction (|f'| < 1e-4) both grow with a, for ReLU(x + b) the "
                   "dead fraction grows as b becomes more negative.",
                   "App. A.1.3, Validations 3 and 4",
                   None if len(present) == len(MAP_ACTIVATIONS) else
                   f"the trade-off is weak or absent for {', '.join(absent)} (see the summary)")}
    if relu_map_error > 1e-8:
        raise ArithmeticError(f"relu's α map is off its closed form by {relu_map_error:.2e}")
    if len(present) == len(MAP_ACTIVATIONS):
        verdict, counter = "confirmed", None
        summary = "High α goes with a high frozen fraction for all four: Spearman " + ", ".join(
            f"{n} {r:.2f}" for n, r in corr.items()) + "."
    else:
        n0 = min(corr, key=corr.get)
        al, fr = maps[n0]
        i = np.unravel_index(np.argmax(fr - (al - al.min()) / (np.ptp(al) + 1e-300)), al.shape)
        counter = {"activation": n0, "spearman": corr[n0], "a": float(A[i]), "b": float(B[i]),
                   "alpha": float(al[i]), "frozen_fraction": float(fr[i])}
        verdict = "qualified" if present else "refuted"
        summary = ("Spearman(α, frozen fraction) over the (a, b) grid: "
                   + ", ".join(f"{n} {r:.2f}" for n, r in corr.items())
                   + f". The trade-off holds for {', '.join(present) or 'none'}; for {', '.join(absent)} "
                   "saturation by the bias freezes units while lowering α (g ≈ constant), so a high frozen "
                   "fraction does not need a high α.")
    return Evidence(kind="numeric", verdict=verdict, summary=summary, setting=setting, measured=measured,
                    counterexample=counter, figures=[_maps_figure(a, b, maps)])


def _maps_figure(a: np.ndarray, b: np.ndarray, maps: dict) -> Figure:
    """Row 1: log10(α + 1) per activation; row 2: the frozen fraction (rows of each map along a)."""
    x, y = [b[0], b[-1]], [math.log10(a[0]), math.log10(a[-1])]

    def panel(title: str, values: np.ndarray, **style: Any) -> Panel:
        return Panel([Series("heatmap", x=x, y=y, z=values, style=style)], title=title, xlabel="b",
                     ylabel="log10 a", colorbar=True, legend=None)
    top = [panel(f"{name}: log10(α + 1)", np.log10(np.clip(al + 1, 1e-3, None)), colormap="viridis")
           for name, (al, _) in maps.items()]
    bottom = [panel(f"{name}: frozen fraction", fr, colormap="magma", vmin=0, vmax=1)
              for name, (_, fr) in maps.items()]
    return Figure(f"(a, b) maps for g(z) = f(a z + b), z ~ N(0, 1): log10(α_g + 1) (top; quadrature, "
                  f"error < 1e-10; relu from its closed form) and P(|f'(a z + b)| < {TAU:g}) (bottom; exact "
                  "normal-cdf sums over the set where |f'| < τ).",
                  top + bottom, rows=2, columns=len(maps), width=10.0, height=4.6)


# ---- rank.validation ------------------------------------------------------------------------------

@check("rank.validation")
def validation(config: Config) -> Evidence:
    """Paper App. A.1.3, validation 1: n samples, d = 50, intrinsic rank r = 10, each registry activation:
    hard rank of f(X) (σ > σ_max · max(n, d) · eps) and effective rank of the uncentred C_f = f(X)ᵀf(X)/n
    (and of the centred covariance), both from the eigenvalues of those matrices. 'Nearly full' is
    r̃ ≥ 90% of r̃ for the same f on full-rank isotropic input (C = I, same n); 'tanh and sigmoid less'
    is max(tanh, sigmoid) < min(relu, elu) in r̃."""
    sizes = SIZES[config.quick]
    rng = np.random.default_rng(config.seed + 3)
    n, d, r = sizes.validation_samples, 50, 10
    C = spectra.correlation_of_rank(d, r, rng)
    X = spectra.sample_of_rank(C, r, n, rng)
    Xiso = rng.standard_normal((n, d))
    rows = {}
    for f in _registry():
        H, Hiso = spectra.apply(f, X), spectra.apply(f, Xiso)
        rank, tol = spectra.numerical_rank(H)
        row = {"hard_rank": rank, "tolerance": tol}
        for key, centred in (("uncentred", False), ("centred", True)):
            er = spectra.effective_rank(spectra.moment_spectrum(H, centred))
            er_iso = spectra.effective_rank(spectra.moment_spectrum(Hiso, centred))
            row[f"effective_rank_{key}"] = er
            row[f"recovery_{key}"] = er / er_iso
        rows[f.name] = row
    input_er = spectra.effective_rank(spectra.moment_spectrum(X))
    parts = {}
    for key in ("uncentred", "centred"):
        er = {k: rows[k][f"effective_rank_{key}"] for k in ("relu", "elu", "tanh", "sigmoid")}
        parts[key] = {"hard_full": rows["relu"]["hard_rank"] == d and rows["elu"]["hard_rank"] == d,
                      "nearly_full": all(rows[k][f"recovery_{key}"] >= NEARLY_FULL for k in ("relu", "elu")),
                      "ordering": max(er["tanh"], er["sigmoid"]) < min(er["relu"], er["elu"]),
                      "effective_ranks": er}
    measured = {"n": n, "d": d, "intrinsic_rank": r, "input_effective_rank": input_er, "per_activation": rows,
                "claim_parts": parts}
    setting = {"n": n, "d": d, "intrinsic_rank": r,
               "nearly_full": f"r̃ ≥ {NEARLY_FULL} × r̃ on isotropic input",
               "rank_tolerance": "σ > σ_max·max(n, d)·eps_float64", "seed": config.seed,
               "as_written": as_written(
                   "10,000 samples in 50-dimensional space with intrinsic rank 10: all non-linear "
                   "activations "
                   "increase the rank; 'ReLU and ELU achieve nearly full rank recovery, while bounded "
                   "activations "
                   "like Tanh and Sigmoid show more moderate but still significant recovery'.",
                   "App. A.1.3, validation 1", "every non-polynomial f recovers full hard rank (50); the "
                   "differences are in effective rank only")}
    u, c = parts["uncentred"], parts["centred"]
    fmt = ", ".join(f"{k} {v:.1f}" for k, v in u["effective_ranks"].items())
    fmt_c = ", ".join(f"{k} {v:.1f}" for k, v in c["effective_ranks"].items())
    if u["hard_full"] and u["nearly_full"] and u["ordering"]:
        verdict, counter = "confirmed", None
        summary = f"Uncentred effective ranks (d = {d}, input r̃ {input_er:.1f}): {fmt}; as stated."
    elif not u["ordering"] and not c["ordering"]:
        verdict = "refuted"
        counter = {"uncentred": u["effective_ranks"], "centred": c["effective_ranks"]}
        summary = (f"tanh/sigmoid do not recover less than relu/elu: r̃ uncentred {fmt}; centred {fmt_c}. "
                   f"Hard rank is {d} for every non-polynomial f.")
    else:
        verdict, counter = "qualified", None
        held = [k for k in ("hard_full", "nearly_full", "ordering") if u[k]]
        failed = [k for k in ("hard_full", "nearly_full", "ordering") if not u[k]]
        rec = " and ".join(f"{k} {rows[k]['recovery_uncentred']:.0%}" for k in ("relu", "elu"))
        summary = (f"Holds: {', '.join(held) or 'none'}; fails: {', '.join(failed)}. Hard rank is {d} for "
                   f"every non-polynomial f (identity {rows['identity']['hard_rank']}), so it cannot single "
                   f"out ReLU/ELU. Effective rank (input {input_er:.1f}) uncentred: {fmt}; centred: {fmt_c}. "
                   f"Relative to the r̃ the same activation gives on full-rank isotropic input: {rec} "
                   "(nearly "
                   f"full needs {NEARLY_FULL:.0%}).")
    return Evidence(kind="numeric", verdict=verdict, summary=summary, setting=setting, measured=measured,
                    counterexample=counter, figures=[_validation_figure(rows, d, input_er)])


def _validation_figure(rows: dict, d: int, input_er: float) -> Figure:
    names = list(rows)
    x = np.arange(len(names))
    series = [_bars(x - 0.2, [rows[k]["effective_rank_uncentred"] for k in names], "uncentred C_f", "C0"),
              _bars(x + 0.2, [rows[k]["effective_rank_centred"] for k in names], "centred covariance", "C1"),
              _hline(input_er, "input r̃", color="k", linestyle="dotted", linewidth=0.8),
              _hline(d, color="k", linewidth=0.5)]
    return Figure(f"Effective rank after each activation of rank-10 Gaussian data (d = {d}; exp of the "
                  "entropy of the normalised eigenvalues); hard rank with tolerance σ_max·max(n, d)·eps is "
                  "in measured.",
                  [Panel(series, ylabel="effective rank", xticks=x, xticklabels=names)],
                  width=7.5, height=3.0)


# ---- the paper as written ---------------------------------------------------------------------------
#
# Each check below decides one printed statement with its printed normalizations and constants: the
# printed form is in ``setting["as_written"]`` (statement, where, and the corrected form where it
# fails). Every one takes the statement it decides as a parameter, so a negative control can plant a
# misprint into a form that holds and see it refuted.

AS_WRITTEN_TOL = 0.10  # relative error allowed wherever a printed approximation is judged


def _continuous() -> list[Activation]:
    """Registry activations with a finite α that are not polynomials (the hypotheses of Prop. 3.1)."""
    return [f for f in _registry() if not gaussian.is_polynomial(f) and not gaussian.jumps(f)]


#: Forms of Prop. 3.1's second part: r̃(C_f) − 1 ≈ coefficient(α_f) · (r̃(C) − 1).
PROP31_FORMS: dict[str, tuple[str, Any]] = {
    "printed": ("r̃(C_f) ≈ 1 + α_f ε  (ε = r̃(C) − 1)", lambda a: a),
    "corrected": ("r̃(C_f) ≈ 1 + (1 + α_f) ε  (ε = r̃(C) − 1)", lambda a: 1 + a),
    "planted": ("r̃(C_f) ≈ 1 + (1 + 2α_f) ε  (a planted misprint of the corrected form)",
                lambda a: 1 + 2 * a),
}


@check("rank.prop31-main")
def prop31_main(config: Config, form: str = "printed") -> Evidence:
    """Prop. 3.1, second part, as printed in §3 (and restated in App. A.1): inputs 'highly correlated with
    effective rank 1 + ε' give r̃(C_f) ≈ 1 + α_f ε. Decided exactly on C = (1 − δ)11ᵀ + δI, where
    C_f ∝ (1 − δ_f)11ᵀ + δ_f I with δ_f = 1 − k(1 − δ)/k(1) (the uncentred kernel, as the paper's C_f),
    so r̃(C) − 1 = expm1(H(n, δ)) and r̃(C_f) − 1 = expm1(H(n, δ_f)) in closed form. A point holds when the
    predicted excess r̃(C_f) − 1 is within 10% of the exact one. ``form`` picks the statement decided
    (``PROP31_FORMS``); the appendix's r̃(C)(1 + α_f δ ln(n/δ)) is measured alongside."""
    text, coefficient = PROP31_FORMS[form]
    sizes = SIZES[config.quick]
    ns = list(sizes.prop31_n)
    eps = gaussian.represented(sizes.prop31_eps)
    rows, regimes, appendix, ratios = {}, {}, {}, {}
    for f in _continuous():
        m = gaussian.moments(f)
        delta_f = np.array([gaussian.decorrelation(f, e)["uncentred"] for e in eps])
        by_n, holds, holds_app = {}, {}, {}
        for n in ns:
            excess0 = np.expm1(spectra.entropy_equicorrelated(n, eps))
            excess_f = np.expm1(spectra.entropy_equicorrelated(n, delta_f))
            pred = coefficient(m.alpha) * excess0
            pred_app = (1 + excess0) * (1 + m.alpha * eps * np.log(n / eps)) - 1
            err, err_app = np.abs(pred - excess_f) / excess_f, np.abs(pred_app - excess_f) / excess_f
            holds[n], holds_app[n] = err <= AS_WRITTEN_TOL, err_app <= AS_WRITTEN_TOL
            by_n[n] = {"r_C_minus_1": excess0, "r_C_f_minus_1": excess_f, "predicted_r_C_f_minus_1": pred,
                       "rel_error": err, "ratio_of_excesses": excess_f / excess0,
                       "appendix_form_rel_error": err_app}
        rows[f.name] = {"alpha": m.alpha, "delta_f": delta_f, "by_n": by_n}
        regimes[f.name] = _regime(holds, eps)
        appendix[f.name] = _regime(holds_app, eps)
        ratios[f.name] = (by_n[ns[-1]]["ratio_of_excesses"], m.alpha)
    at_smallest = {k: [bool(rows[k]["by_n"][n]["rel_error"][-1] <= AS_WRITTEN_TOL) for n in ns] for k in rows}
    failing = [k for k, ok in at_smallest.items() if not all(ok)]
    kinds = {k: v["kind"] for k, v in regimes.items()}
    measured = {"n": ns, "delta": eps, "form": text, "regimes": regimes, "regimes_appendix_form": appendix,
                "holds_at_smallest_delta": at_smallest, "per_activation": rows}
    setting = {"C": "(1 − δ)11ᵀ + δI, δ the correlation gap", "n": ns, "delta": eps, "seed": config.seed,
               "C_f": "uncentred, (1/n) E f(X)ᵀ f(X) as printed", "tolerance": f"{AS_WRITTEN_TOL:.0%} on r̃ "
                                                                               "− 1",
               "form_decided": text,
               "as_written": as_written(
                   "If the input features are highly correlated with effective rank 1 + ε for some small ε > "
                   "0, "
                   "the effective rank of C_f will be approximately 1 + α_f ε, α_f = E f'(z)²/E f(z)² − 1.",
                   "§3, Prop. 3.1 (second part); App. A.1, the restated proposition",
                   "r̃(C_f) − 1 ≈ (1 + α_f)(r̃(C) − 1) as ε → 0 (relative correction ln(1 + α_f)/ln(ne/δ), δ "
                   "the "
                   "correlation gap); the appendix's own form r̃(C)(1 + α_f δ ln(n/δ)) reads ε as the "
                   "correlation "
                   "gap δ, not as r̃(C) − 1, and does not reduce to 1 + α_f ε")}
    if all(v == "everywhere" for v in kinds.values()):
        verdict, counter = "confirmed", None
        summary = f"{text} holds within {AS_WRITTEN_TOL:.0%} on the whole (n, δ) grid."
    elif not failing:
        verdict, counter = "qualified", None
        summary = (f"{text} holds as ε → 0 for every activation (within {AS_WRITTEN_TOL:.0%} at δ = "
                   f"{eps[-1]:.0e}), "
                   "but only for small enough ε: largest δ at n = " + str(ns[-1]) + ": " + ", ".join(
                       f"{k} {regimes[k]['largest_eps_by_n'][ns[-1]]:.0e}" for k in regimes
                       if regimes[k]['largest_eps_by_n'][ns[-1]]) + ".")
    else:
        verdict = "refuted"
        f0 = "relu" if "relu" in failing else failing[0]
        # a small ε where the corrected form holds
        n0, i0 = ns[-1], int(np.argmin(np.abs(np.log(eps / 1e-4))))
        row = rows[f0]["by_n"][n0]
        counter = {"activation": f0, "alpha": rows[f0]["alpha"], "n": n0, "delta": float(eps[i0]),
                   "r_C_minus_1": float(row["r_C_minus_1"][i0]),
                   "r_C_f_minus_1": float(row["r_C_f_minus_1"][i0]),
                   "predicted_r_C_f_minus_1": float(row["predicted_r_C_f_minus_1"][i0])}
        ratio = {k: float(rows[k]["by_n"][n0]["ratio_of_excesses"][-1]) for k in ("relu", "tanh", "gelu",
                                                                                  "sigmoid")
                 if k in rows}
        summary = (f"{text} fails for {len(failing)} of {len(rows)} activations even at δ = {eps[-1]:.0e}; "
                   "e.g. "
                   f"{f0} (α = {rows[f0]['alpha']:.4g}, n = {n0}, δ = {eps[i0]:.0e}): r̃(C) − 1 = "
                   f"{counter['r_C_minus_1']:.4e}, exact r̃(C_f) − 1 = {counter['r_C_f_minus_1']:.4e}, "
                   "predicted "
                   f"{counter['predicted_r_C_f_minus_1']:.4e}. The excess is multiplied by about 1 + α_f: "
                   "(r̃(C_f) − 1)/(r̃(C) − 1) = " + ", ".join(f"{k} {v:.3f}" for k, v in ratio.items())
                   + " against 1 + α_f = " + ", ".join(f"{rows[k]['alpha'] + 1:.3f}" for k in ratio)
                   + f" (δ = {eps[-1]:.0e}). The appendix form reads ε as the correlation gap "
                     "(rank.effective).")
    return Evidence(kind="numeric", verdict=verdict, summary=summary, setting=setting, measured=measured,
                    counterexample=counter, figures=[_prop31_figure(eps, ratios, ns[-1])])


def _prop31_figure(eps: np.ndarray, ratios: dict[str, tuple[np.ndarray, float]], n: int) -> Figure:
    shown = [k for k in ("relu", "tanh", "gelu", "sigmoid", "elu") if k in ratios] or list(ratios)[:4]
    series = []
    for i, name in enumerate(shown):
        ratio, alpha_f = ratios[name]
        series.append(_line(eps, ratio, f"{name} exact", color=f"C{i}", marker="o", markersize=3))
        series.append(_hline(1 + alpha_f, color=f"C{i}", linestyle="dashed", linewidth=0.8))
        series.append(_hline(max(alpha_f, 1e-3), color=f"C{i}", linestyle="dotted", linewidth=0.8))
    return Figure(f"Prop. 3.1 as printed: (r̃(C_f) − 1)/(r̃(C) − 1) for C = (1 − δ)11ᵀ + δI, n = {n} (exact, "
                  "closed form). Dashed: 1 + α_f (the corrected coefficient); dotted: α_f (the printed one; "
                  "ReLU's α = 0 drawn at 1e-3).",
                  [Panel(series, xlabel="δ (correlation gap)", ylabel="(r̃(C_f) − 1)/(r̃(C) − 1)",
                         xscale="log",
                         yscale="log")], width=6.5, height=3.2)


@check("rank.prop31-main", name="prop31-main-control")
def prop31_main_control(config: Config) -> Evidence:
    """Negative control: a planted misprint of the corrected form, r̃(C_f) ≈ 1 + (1 + 2α_f) ε, must be
    refuted by the same check that finds the corrected form holding as ε → 0."""
    ev = prop31_main(config, form="planted")
    return as_control(ev, PROP31_FORMS["planted"][0])


#: Readings of the Mehler identity of the hard-rank proof: (Hermite convention, variance, right side).
MEHLER_READINGS: dict[str, tuple[str, Any, Any]] = {
    "printed, He_k probabilists', variance 1": ("probabilists", 1, lambda k: 2**k * sp.factorial(k)),
    "printed, H_k physicists', variance 1": ("physicists", 1, lambda k: 2**k * sp.factorial(k)),
    "corrected, He_k probabilists', variance 1": ("probabilists", 1, lambda k: sp.factorial(k)),
    "corrected, H_k physicists', variance 1/2": ("physicists", sp.Rational(1, 2),
                                                 lambda k: 2**k * sp.factorial(k)),
    "planted, He_k probabilists', (k+1)!": ("probabilists", 1, lambda k: sp.factorial(k + 1)),
}
MEHLER_PRINTED = ("printed, He_k probabilists', variance 1", "printed, H_k physicists', variance 1")
MEHLER_CORRECTED = ("corrected, He_k probabilists', variance 1", "corrected, H_k physicists', variance 1/2")


def _mehler_residual(reading: str, K: int) -> sp.Matrix:
    convention, variance, rhs = MEHLER_READINGS[reading]
    M = gaussian.hermite_product_moments(K, convention, variance)
    return sp.Matrix(K + 1, K + 1, lambda k, l: sp.expand(M[k,
                                                            l] - (rhs(k) * gaussian.RHO**k if k == l else 0)))


@check("rank.mehler")
def mehler(config: Config, readings: tuple[str, ...] = MEHLER_PRINTED) -> Evidence:
    """The Mehler identity of the hard-rank proof, E[He_k(Z_i) He_l(Z_j)] = δ_kl 2^k k! ρ^k for unit-variance
    (Z_i, Z_j) with correlation ρ, decided exactly for k, l ≤ K under each reading the text allows (it names
    He_k the probabilists' polynomials, then switches to 'the physicist's convention' with the same symbol):
    every E P_k(X) P_l(Y) is an exact polynomial in ρ (``gaussian.hermite_product_moments``). Then the
    proof's chain C_ij = Σ_k c_k² 2^k k! Σ_ij^k with its physicists' c_k, against the true E f(Z_i) f(Z_j)
    for a generic cubic (symbolic coefficients) and for tanh at ρ = 1/2."""
    K = SIZES[config.quick].mehler_order
    residuals = {r: _mehler_residual(r, K) for r in (*readings, *MEHLER_CORRECTED)}
    zero = {r: m == sp.zeros(K + 1, K + 1) for r, m in residuals.items()}
    failing = [r for r in readings if not zero[r]]
    # the proof's chain with physicists' coefficients, on f = c0 + c1 z + c2 z^2 + c3 z^3
    c = sp.symbols("c0:4")
    cubic = gaussian.adhoc("generic cubic", sum(cj * z**j for j, cj in enumerate(c)))
    ck = [gaussian.physicists_coefficient(cubic, k) for k in range(4)]
    chain = sp.expand(sum(ck[k]**2 * 2**k * sp.factorial(k) * gaussian.RHO**k for k in range(4)))
    true1 = gaussian.polynomial_kernel(cubic.expr, cubic.expr, 1)
    true_half = gaussian.polynomial_kernel(cubic.expr, cubic.expr, sp.Rational(1, 2))
    chain_vs_1, chain_vs_half = sp.expand(chain - true1), sp.expand(chain - true_half)
    # tanh: the chain computes the kernel of tanh at variance 1/2, i.e. of tanh(z/√2) at variance 1
    rho = 0.5
    tanh = activations.get("tanh")
    half = gaussian.adhoc("tanh(z/sqrt(2))", sp.tanh(z / sp.sqrt(2)))
    k_true = gaussian.moments(tanh).second - gaussian.kernel_gap(tanh, rho)[0]
    k_chain = gaussian.moments(half).second - gaussian.kernel_gap(half, rho)[0]
    positive = {"relu": bool(np.all(gaussian.hermite(activations.get("relu"), 40)**2 >= 0))}
    measured = {"K": K, "residual_is_zero": zero, "failing_readings": failing,
                "chain_minus_true_kernel_variance_1 (generic cubic)": sp.sstr(chain_vs_1),
                "chain_minus_true_kernel_variance_1/2 (generic cubic)": sp.sstr(chain_vs_half),
                "tanh_kernel_at_rho_1/2": {"true E tanh(Z_i) tanh(Z_j)": k_true, "printed chain": k_chain},
                "conclusion_unaffected": "a_k = c_k² 2^k k! ≥ 0 with infinitely many > 0 in either reading, "
                                         "so "
                                         "C = Σ a_k Σ^(∘k) stays a sum of PSD Hadamard powers: full rank "
                                         "stands",
                "a_k_nonnegative": positive}
    derivation = [(f"E P_k P_l - rhs, {r}", residuals[r]) for r in (*readings, *MEHLER_CORRECTED)]
    derivation += [("printed chain sum_k c_k^2 2^k k! rho^k, generic cubic", chain),
                   ("chain - E f(X) f(Y), variance 1", chain_vs_1),
                   ("chain - E f(X) f(Y), variance 1/2", chain_vs_half)]
    setting = {"K": K, "readings": list(readings), "rho": "symbolic", "seed": config.seed,
               "as_written": as_written(
                   "For (Z_i, Z_j) jointly Gaussian with mean 0, variance 1 and correlation ρ, "
                   "E[He_k(Z_i) He_l(Z_j)] = δ_kl 2^k k! ρ^k, with 'the physicist's convention' "
                   "f(x) = Σ c_k He_k(x), c_k = (1/(2^k k! √π)) ∫ f(x) He_k(x) e^{−x²} dx, hence "
                   "C_ij = Σ_k c_k² (2^k k!) Σ_ij^k.",
                   "App. A.1, proof of the hard-rank proposition (Mehler's formula)",
                   "E[He_k(Z_i) He_l(Z_j)] = δ_kl k! ρ^k for the probabilists' He_k at variance 1 (so "
                   "C_ij = Σ_k (E f He_k)²/k! · Σ_ij^k); the printed 2^k k! belongs to the physicists' H_k "
                   "at "
                   "variance 1/2. The conclusion (full rank) is unaffected.")}
    if failing:
        r0 = failing[0]
        M = residuals[r0]
        k0, l0 = next((k, l) for k in range(K + 1) for l in range(K + 1) if M[k, l] != 0)
        convention, variance, rhs = MEHLER_READINGS[r0]
        exact = gaussian.hermite_product_moments(K, convention, variance)[k0, l0]
        counter = {"reading": r0, "k": k0, "l": l0, "exact": sp.sstr(exact),
                   "printed": sp.sstr(rhs(k0) * gaussian.RHO**k0 if k0 == l0 else sp.S.Zero)}
        verdict = "refuted"
        summary = (f"The identity fails under {len(failing)} of {len(readings)} readings: e.g. {r0}, "
                   f"E P_{k0}(Z_i) P_{l0}(Z_j) = {counter['exact']}, stated {counter['printed']}. It holds "
                   "as "
                   "δ_kl k! ρ^k for the probabilists' He_k at variance 1, "
                   "and as δ_kl 2^k k! ρ^k for the physicists' H_k at variance 1/2; the proof's chain with "
                   "its "
                   f"c_k computes the kernel at variance 1/2 (tanh at ρ = 1/2: {k_chain:.5f} against the "
                   "true "
                   f"{k_true:.5f}). The conclusion, full rank, is unaffected: the a_k stay ≥ 0.")
    else:
        verdict, counter = "proved", None
        summary = (f"E P_k(X) P_l(Y) equals the stated right side exactly for k, l ≤ {K} under "
                   f"{', '.join(readings)}.")
    return Evidence(kind="symbolic", verdict=verdict, summary=summary, setting=setting, measured=measured,
                    counterexample=counter, derivation=derivation)


@check("rank.mehler", name="mehler-control")
def mehler_control(config: Config) -> Evidence:
    """Negative control: the corrected identity proves; a planted misprint of it, δ_kl (k+1)! ρ^k, must be
    refuted by the same check."""
    ok = mehler(config, readings=MEHLER_CORRECTED)
    ev = mehler(config, readings=("planted, He_k probabilists', (k+1)!",))
    as_control(ev, "E[He_k He_l] = δ_kl (k+1)! ρ^k", corrected_form_verdict=ok.verdict)
    if ok.verdict != "proved":
        ev.verdict, ev.summary = "inconclusive", "The corrected Mehler identity did not prove: " + ok.summary
    return ev


#: The eigen-structure steps of the effective-rank proof: (top eigenvalue, the other n − 1, entropy H(C)).
EIGEN_FORMS: dict[str, tuple[Any, Any, Any]] = {
    "printed": (lambda n, e: 1 + (n - 1) * (1 - e), lambda n, e: e, lambda n, e: e * sp.log(n * sp.E / e)),
    "planted": (lambda n, e: 1 + n * (1 - e), lambda n, e: e, lambda n, e: e * sp.log(n * sp.E / e)),
}


@check("rank.eigen")
def eigen(config: Config, form: str = "printed") -> Evidence:
    """The proof's linear algebra for C = (1 − ε)11ᵀ + εI (n × n): C1 = (1 + (n − 1)(1 − ε))1 and Cv = εv for
    v ⊥ 1, proved for symbolic n and ε, and the exact spectrum checked by SymPy for n = 2..6; then
    H(C) ≈ ε ln(ne/ε) against the exact entropy: its series in ε at fixed n (leading term
    ((n − 1)/n) ε ln(ne/ε)) and its relative error on the (n, ε) grid of rank.prop31-main. 'For sufficiently
    large n' and small ε the approximation holds when the relative error at the largest n and smallest ε is
    within 10% and shrinks along both."""
    top_f, small_f, entropy_f = EIGEN_FORMS[form]
    n, e = sp.Symbol("n", positive=True, integer=True), gaussian.EPS
    top_sym = 1 + (n - 1) * (1 - e)  # (C1)_i = C_ii + Σ_{j≠i} C_ij
    v_sym = sp.expand(e)  # Cv = εv + (1 − ε)1(1ᵀv) = εv for 1ᵀv = 0
    top_res, small_res = sp.simplify(top_f(n, e) - top_sym), sp.simplify(small_f(n, e) - v_sym)
    concrete = {}
    for m in range(2, 7):
        C = sp.ones(m, m) * (1 - e) + sp.eye(m) * e
        ev = {sp.simplify(k): v for k, v in C.eigenvals().items()}
        want = {sp.simplify(top_f(m, e)): 1, sp.simplify(small_f(m, e)): m - 1}
        concrete[m] = ev == want
    H_exact = -(top_sym / n) * sp.log(top_sym / n) - (n - 1) * (e / n) * sp.log(e / n)
    sizes = SIZES[config.quick]
    ns, eps = list(sizes.prop31_n), np.array(sizes.prop31_eps)
    err = {}
    for m in ns:
        exact = spectra.entropy_equicorrelated(m, eps)
        approx = np.array([float(entropy_f(m, sp.Float(x, 30))) for x in eps])
        err[m] = np.abs(approx - exact) / exact
    p1_err = {m: 1 / m for m in ns}  # 1 − p_1 = (n − 1)ε/n against the printed ε: relative error exactly 1/n
    eigen_ok = top_res == 0 and small_res == 0 and all(concrete.values())
    H_ok = err[ns[-1]][-1] <= AS_WRITTEN_TOL and err[ns[-1]][-1] <= err[ns[0]][-1] + 1e-15
    series = sp.series(H_exact.subs(n, 10), e, 0, 2).removeO()
    measured = {"top_eigenvalue_residual": sp.sstr(top_res), "small_eigenvalue_residual": sp.sstr(small_res),
                "spectrum_matches_for_n": concrete, "n": ns, "epsilon": eps,
                "H_relative_error_by_n": err, "p1_relative_error_of_1_minus_p1": p1_err,
                "leading_term": "H(C) = ((n − 1)/n) ε ln(ne/ε) + O(ε²)"}
    derivation = [("(C 1)_i", top_sym), ("C v for 1^T v = 0, divided by v", v_sym),
                  ("H(C) exact", H_exact), ("H(C) at n = 10, series in epsilon", series)]
    setting = {"C": "(1 − ε)11ᵀ + εI", "n_symbolic": "n, ε symbols; spectra for n = 2..6", "n": ns,
               "epsilon": eps, "tolerance": f"{AS_WRITTEN_TOL:.0%} on H(C)", "seed": config.seed,
               "form_decided": form,
               "as_written": as_written(
                   "C will have top eigenvalue 1 + (n − 1)(1 − ε) and n − 1 smaller eigenvalues ε; for "
                   "sufficiently large n, p_1 ≈ 1 − ε, p_2..p_n ≈ ε/n ⇒ H(C) ≈ ε ln(ne/ε).",
                   "App. A.1, proof of the effective-rank proposition",
                   None)}
    if not eigen_ok:
        verdict = "refuted"
        bad = next((m for m, ok in concrete.items() if not ok), 2)
        C = sp.ones(bad, bad) * (1 - e) + sp.eye(bad) * e
        counter = {"n": bad, "eigenvalues": sp.sstr(C.eigenvals()), "stated_top": sp.sstr(top_f(bad, e)),
                   "stated_small": sp.sstr(small_f(bad, e))}
        summary = (f"The stated spectrum is wrong: for n = {bad}, C's eigenvalues are "
                   f"{counter['eigenvalues']}, "
                   f"stated top {counter['stated_top']} and {bad - 1} × {counter['stated_small']}.")
    elif H_ok:
        verdict, counter = "proved", None
        summary = ("Proved: C1 = (1 + (n − 1)(1 − ε))1 and Cv = εv for v ⊥ 1 (symbolic n, ε; SymPy spectra "
                   "for "
                   "n = 2..6). The entropy step holds as printed for large n: H(C) = ((n − 1)/n) ε ln(ne/ε) "
                   "+ "
                   f"O(ε²), relative error of ε ln(ne/ε) {err[ns[-1]][-1]:.1e} at n = {ns[-1]}, ε = "
                   f"{eps[-1]:.0e} "
                   f"({err[ns[0]][-1]:.1e} at n = {ns[0]}: the factor (n − 1)/n); p_1 ≈ 1 − ε is off by "
                   "exactly "
                   "a factor (n − 1)/n in 1 − p_1.")
    else:
        verdict = "refuted"
        counter = {"n": ns[-1], "epsilon": float(eps[-1]), "relative_error_of_H": float(err[ns[-1]][-1])}
        summary = (f"The stated entropy misses the exact H(C) by {err[ns[-1]][-1]:.0%} at n = {ns[-1]}, "
                   f"ε = {eps[-1]:.0e}.")
    return Evidence(kind="symbolic", verdict=verdict, summary=summary, setting=setting, measured=measured,
                    counterexample=counter, derivation=derivation)


@check("rank.eigen", name="eigen-control")
def eigen_control(config: Config) -> Evidence:
    """Negative control: a planted misprint, top eigenvalue 1 + n(1 − ε), must be refuted."""
    ev = eigen(config, form="planted")
    return as_control(ev, "top eigenvalue 1 + n(1 − ε)")


@check("rank.hard", name="hard-proof-as-written")
def hard_proof(config: Config, every_k: bool = False) -> Evidence:
    """The hard-rank proof's remaining steps as printed: Σ^(∘0) = 11ᵀ has rank 1; for |Σ_ij| < 1 the Hadamard
    power Σ^(∘k) is strictly diagonally dominant, hence positive definite, for large k — from
    k* = ⌈ln(d − 1)/ln(1/m)⌉ on, m = max_{i≠j}|Σ_ij| — so a non-polynomial f (a_k > 0 for infinitely many k)
    puts a positive-definite term into C = Σ a_k Σ^(∘k). Measured on random rank-r correlations (d = 20): k*,
    the first k with Σ^(∘k) positive definite, and dominance from k* on. ``every_k`` plants the misprint
    'Σ^(∘k) is positive definite for every k ≥ 1', which a rank-deficient Σ must refute."""
    rng = np.random.default_rng(config.seed + 11)
    d, trials = 20, 6 if config.quick else 20
    rows = []
    for _ in range(trials):
        r = int(rng.integers(2, 8))
        S = spectra.correlation_of_rank(d, r, rng)
        off = np.abs(S - np.diag(np.diag(S)))
        m = float(off.max())
        k_star = math.ceil(math.log(d - 1) / math.log(1 / m))
        tol = d * np.finfo(float).eps

        def lam_min(k: int, S: np.ndarray = S) -> float:
            return float(np.linalg.eigvalsh(S**k).min())
        first_pd = next((k for k in range(1, min(k_star, 64) + 1) if lam_min(k) > tol), None)
        dominant = bool(np.all((off**k_star).sum(1) < 1))
        rows.append({"rank": r, "max_offdiag": m, "k_star": k_star, "first_positive_definite_k": first_pd,
                     "dominant_at_k_star": dominant, "lambda_min_at_k_star": lam_min(k_star),
                     "rank_of_power_0": int(np.linalg.matrix_rank(np.ones((d, d)))),
                     "lambda_min_k1": lam_min(1)})
    holds = all(r["dominant_at_k_star"] and r["first_positive_definite_k"] is not None
                and r["lambda_min_at_k_star"] > 0 and r["rank_of_power_0"] == 1 for r in rows)
    planted_fails = [r for r in rows if r["lambda_min_k1"] <= d * np.finfo(float).eps]
    dependent = sum(r["rank"] < d and r["max_offdiag"] < 1 for r in rows)
    measured = {"d": d, "trials": rows, "steps_hold": holds,
                "linearly_dependent_with_all_|Σ_ij|_below_1": dependent}
    setting = {"d": d, "trials": trials, "seed": config.seed, "tolerance": "λ_min > d·eps_float64",
               "as_written": as_written(
                   "Σ^(∘0) is a matrix of all ones (rank 1); as k increases the off-diagonal (Σ_ij)^k "
                   "decay, and by Gershgorin for large enough k Σ^(∘k) becomes strictly diagonally dominant "
                   "and thus positive definite, 'provided Σ doesn't represent linearly dependent variables "
                   "(which is implied by |Σ_ij| < 1)'; C = Σ a_k Σ^(∘k) with a PSD sum and one "
                   "positive-definite term is full rank.", "App. A.1, proof of the hard-rank proposition",
                   None,
                   note=f"The parenthetical is false — all {dependent} of {trials} Σ here are linearly "
                        "dependent (rank < d) with every |Σ_ij| < 1 — and not needed: the Gershgorin step "
                        "uses only |Σ_ij| < 1, which is why the conclusion holds for rank-deficient inputs.")}
    if every_k:
        setting = {k: v for k, v in setting.items() if k != "as_written"} | {
            "control": True, "planted_misprint": "Σ^(∘k) is positive definite for every k ≥ 1"}
        if planted_fails:
            r0 = planted_fails[0]
            return Evidence(kind="numeric", verdict="refuted", setting=setting, measured=measured,
                            summary=f"Σ^(∘1) = Σ of rank {r0['rank']} (d = {d}) has λ_min = "
                                    f"{r0['lambda_min_k1']:.1e}: not positive definite for k = 1.",
                            counterexample={"k": 1, **r0})
        return Evidence(kind="numeric", verdict="inconclusive", setting=setting, measured=measured,
                        summary="No rank-deficient trial refuted the planted misprint.")
    first = sorted({r["first_positive_definite_k"] for r in rows if r["first_positive_definite_k"]})
    if holds:
        verdict, counter = "confirmed", None
        summary = (f"The proof's steps hold on {trials} random rank-deficient Σ (d = {d}): Σ^(∘k) is "
                   "strictly "
                   "diagonally dominant from k* = ⌈ln(d−1)/ln(1/m)⌉ (k* from "
                   f"{min(r['k_star'] for r in rows)} to "
                   f"{max(r['k_star'] for r in rows)}), positive definite already from k = {first} on; only "
                   "the Mehler normalization is misprinted (rank.mehler).")
    else:
        verdict = "refuted"
        bad = next(r for r in rows if not (r["dominant_at_k_star"] and r["lambda_min_at_k_star"] > 0))
        counter = bad
        summary = f"A trial broke the proof's Gershgorin step: {bad}."
    return Evidence(kind="numeric", verdict=verdict, summary=summary, setting=setting, measured=measured,
                    counterexample=counter)


@check("rank.hard", name="hard-proof-control")
def hard_proof_control(config: Config) -> Evidence:
    """Negative control of hard-proof-as-written: 'Σ^(∘k) is positive definite for every k ≥ 1'."""
    return hard_proof(config, every_k=True)


# ---- rank.growth: App. A.1.1 ----------------------------------------------------------------------

HALF_VANISHING = ("relu", "elu", "selu", "softplus", "gelu", "silu")
PLATEAUING = ("tanh", "sigmoid", "softsign", "hardtanh")


def _activation(name: str) -> Activation:
    """A registry activation, or softsign x/(1 + |x|) (the remark's third plateauing example; not in the
    registry), written piecewise so that its kink at 0 is seen."""
    if name == "softsign":
        return gaussian.adhoc("softsign", sp.Piecewise((z / (1 - z), z < 0), (z / (1 + z), True)))
    if name == "sigmoid":  # the same function; this form's derivative does not overflow to inf/inf in float64
        return gaussian.adhoc("sigmoid", (1 + sp.tanh(z / 2)) / 2)
    return activations.get(name)


# The growth check and its control walk the same sequences: the SymPy limits and the α/P sequences are
# computed once per process (keyed by activation name and the sequence), so the control costs its verdict.

@functools.cache
def _tail_constant(name: str) -> tuple[float, float]:
    """(C₋, C₊) = lim f at −∞ and +∞ (+∞ where f grows), f = ``_activation(name)``."""
    f = _activation(name)
    return tuple(float(sp.limit(f.expr if not isinstance(f.expr, sp.Piecewise) else piece, z, end))
                 for end, piece in ((-sp.oo, min(f.pieces, key=lambda pw: float(pw[1].inf))[0]),
                                    (sp.oo, max(f.pieces, key=lambda pw: float(pw[1].sup))[0])))


def _affine(name: str, a: np.ndarray, b: np.ndarray, tau: float) -> tuple[np.ndarray, np.ndarray]:
    """(α, P(f'_{a,b}(z) < τ)) of g(z) = f(a z + b) along a sequence, f = ``_activation(name)``: α by
    quadrature (ReLU from its closed form in c = −b/a: relu(a z + b) = a relu(z − c)), P from the exact set
    {x : a f'(x) < τ}. Cached per (name, a, b, τ)."""
    al, p = _affine_cached(name, tuple(map(float, a)), tuple(map(float, b)), tau)
    return np.array(al), np.array(p)


@functools.cache
def _affine_cached(name: str, a_seq: tuple[float, ...], b_seq: tuple[float, ...], tau: float
                   ) -> tuple[tuple[float, ...], tuple[float, ...]]:
    f, a, b = _activation(name), np.array(a_seq), np.array(b_seq)
    al = gaussian.relu_shift_values(-b / a)[0] if f.name == "relu" else gaussian.affine_alpha(f, b, a)[0]
    d = gaussian.numeric(f.derivative)
    xmax = float(np.max(np.abs(b) + gaussian.L * a)) + 1.0
    p = []
    for ak, bk in zip(a, b):
        grid = np.linspace(-xmax, xmax, 400001)
        # f' ≥ 0 for every class member; the window is coarse only where f' is flat
        small = ak * d(grid) < tau
        edges = np.flatnonzero(np.diff(np.concatenate([[0], small.astype(int), [0]])))
        sets = [(-math.inf if lo == 0 else grid[lo], math.inf if hi == len(grid) else grid[hi - 1])
                for lo, hi in zip(edges[::2], edges[1::2])]
        p.append(float(gaussian.frozen_fraction(sets, bk, ak)))
    return tuple(map(float, al)), tuple(p)


@check("rank.growth")
def growth(config: Config, half_rate: float = 2.0, plateau_rate: float = 1.0) -> Evidence:
    """App. A.1.1 as printed, on the classic members of each class. Half-vanishing f (ReLU, ELU, SELU,
    softplus, GELU, SiLU): α of f(a_k z + b_k) along the printed condition a_k/b_k → −∞ (a_k = c², b_k = −c)
    and along b_k/a_k → −∞ with both large (a_k = c, b_k = −c²); the printed rate is α ∝ (b_k/a_k)^2
    (``half_rate``). Plateauing f (tanh, sigmoid, softsign, hardtanh): a_k → ∞ with a_k/b_k ∈ {∞, −2, 1};
    printed rate α ∝ a_k (``plateau_rate``): α/a_k must converge to φ(c)∫f'²/(C₊²Φ(−c) + C₋²Φ(c)),
    c = −b/a. And in both cases P(f'_{a_k,b_k}(z) < τ) → 1 (τ = 1e-4). A rate 'holds' when α/rate changes
    by less than 10% over the last two points and stays away from 0."""
    sizes = SIZES[config.quick]
    c = np.array(sizes.growth_c)
    rows, fails = {}, []
    for name in HALF_VANISHING:
        f = _activation(name)
        c_minus, _ = _tail_constant(name)
        seqs = {"printed: a/b → −∞ (a = c², b = −c)": (c**2, -c),
                "b/a → −∞ (a = c, b = −c²)": (c, -c**2)}
        if abs(c_minus) > 0:
            seqs["b/a → −∞, a = e^(c²/2)"] = (np.exp(c**2 / 2), -c * np.exp(c**2 / 2))
        out = {}
        for label, (a, b) in seqs.items():
            al, p = _affine(name, a, b, TAU)
            ratio = al / (b / a)**half_rate
            settles = abs(ratio[-1] / ratio[-2] - 1) <= AS_WRITTEN_TOL and ratio[-1] > 1e-3
            out[label] = {"a": a, "b": b, "alpha": al, "alpha_over_rate": ratio, "rate_holds": bool(settles),
                          "unbounded": bool(al[-1] > 10 * max(al[0], 1e-3) and np.all(np.diff(al) > 0)),
                          "P_frozen": p, "P_to_1": bool(p[-1] > 0.9 and p[-1] >= p[0])}
        printed, corrected = out["printed: a/b → −∞ (a = c², b = −c)"], out["b/a → −∞ (a = c, b = −c²)"]
        rows[name] = {"C_minus": c_minus, "sequences": out,
                      "printed_condition_holds": (printed["unbounded"] and printed["P_to_1"]
                                                  and printed["rate_holds"]),
                      "b_over_a_condition_holds": corrected["rate_holds"] and corrected["P_to_1"]}
        if not rows[name]["printed_condition_holds"]:
            fails.append(name)
    plateau = {}
    for name in PLATEAUING:
        f = _activation(name)
        c_minus, c_plus = _tail_constant(name)
        fn_d = gaussian.numeric(f.derivative)
        slope_int = sum(integrate.quad(lambda x, fn_d=fn_d: float(fn_d(np.array(x))**2), lo, hi)[0]
                        for lo, hi in ((-np.inf, 0.0), (0.0, np.inf)))
        a = np.array(sizes.growth_a)
        out = {}
        for label, shift in (("b = 0", 0.0), ("a/b = −2", -0.5), ("a/b = 1", 1.0)):
            b = shift * a
            al, p = _affine(name, a, b, TAU)
            cc = -shift
            limit = (math.exp(-cc**2 / 2) / math.sqrt(2 * math.pi) * slope_int
                     / (c_plus**2 * float(ndtr(-cc)) + c_minus**2 * float(ndtr(cc))))
            ratio = al / a**plateau_rate
            out[label] = {"a": a, "b": b, "alpha": al, "alpha_over_rate": ratio,
                          "limit_alpha_over_a": float(limit),
                          "rate_holds": bool(abs(ratio[-1] / ratio[-2] - 1) <= AS_WRITTEN_TOL
                                             and ratio[-1] > 1e-3),
                          "P_frozen": p, "P_increasing": bool(np.all(np.diff(p) >= -1e-12))}
        plateau[name] = {"C_minus": c_minus, "C_plus": c_plus, "integral_f'^2": slope_int, "sequences": out}
        if not all(v["rate_holds"] and v["P_increasing"] for v in out.values()):
            fails.append(name)
    measured = {"half_vanishing": rows, "plateauing": plateau, "failing": fails,
                "rates_decided": {"half_vanishing": f"(b/a)^{half_rate:g}",
                                  "plateauing": f"a^{plateau_rate:g}"}}
    setting = {"tau": TAU, "c": c, "a_plateau": list(sizes.growth_a), "seed": config.seed,
               "alpha": "of g(z) = f(a z + b), chain rule included; quadrature (relu: closed form)",
               "P": "exact normal-cdf sums over {x : a f'(x) < τ}",
               "as_written": as_written(
                   "(1) Half-vanishing, half-growth f (f ≈ x^p, p > 1/2, on x ≥ 0; f = C + O(1/|x|), f' = "
                   "O(1/|x|²) "
                   "on x < 0): α_{f_{a_k,b_k}} grows as (b_k/a_k)² for large (a_k, b_k), b_k < 0, 'which is "
                   "unbounded if lim a_k/b_k → −∞'. (2) Plateauing f (f → C_±, |f'| = O(1/x²)): α grows "
                   "roughly as "
                   "a_k when a_k → ∞ and lim a_k/b_k ≠ 0. In both cases lim P(f'_{a_k,b_k}(z) < ε) = 1.",
                   "App. A.1.1",
                   "(1) for C = 0 (ReLU, softplus, GELU, SiLU): α + 1 ≈ p c²/(2(2p − 1)) with c = −b/a, "
                   "unbounded iff "
                   "b_k/a_k → −∞ (a_k/b_k → 0⁻, as the ReLU example itself says), and then P(f' < ε) → 1; "
                   "under the "
                   "printed a_k/b_k → −∞, c → 0, α → α_f and P(f' < ε) → 1/2. For C ≠ 0 (ELU, SELU) E f² → "
                   "C² and "
                   "α → −1 along b/a → −∞ unless a_k grows like e^{c²/4} or faster. (2) holds, α/a_k → "
                   "φ(c)∫f'²/(C₊²Φ(−c) + C₋²Φ(c)), but for power-law plateaus (softsign) P(f' < ε) → 1 only "
                   "once "
                   "a_k ≫ 1/ε.")}
    relu = rows["relu"]["sequences"]
    elu = rows["elu"]["sequences"]["b/a → −∞ (a = c, b = −c²)"]
    pr = relu["printed: a/b → −∞ (a = c², b = −c)"]
    p_printed = pr["P_frozen"][-1]
    soft = plateau["softsign"]["sequences"]["b = 0"]["P_frozen"][-1]
    works = [n for n, r in rows.items() if r["b_over_a_condition_holds"]]
    measured["members_where_b_over_a_to_minus_infinity_works"] = works
    if fails:
        verdict = "refuted"
        counter = {"relu, printed condition": {"a": pr["a"], "b": pr["b"], "alpha": pr["alpha"],
                                               "P_frozen": pr["P_frozen"]},
                   "elu, b/a → −∞": {"a": elu["a"], "b": elu["b"], "alpha": elu["alpha"]}}
        summary = (f"As printed the statement fails for {', '.join(fails)}. Under the printed condition "
                   "a_k/b_k → −∞ (a = c², b = −c) the shift c = −b/a → 0: ReLU's α goes "
                   f"{pr['alpha'][0]:.3g} → "
                   f"{pr['alpha'][-1]:.3g} (→ α_ReLU = 0) and P(f' < 1e-4) → {p_printed:.3f}, not 1. "
                   "The condition that works is the ReLU example's own, b_k/a_k → −∞: then α/(b/a)² → 1/2 "
                   "for "
                   f"the C = 0 members ({', '.join(works)}). For ELU and SELU (C ≠ 0) E f² → C² and α → −1 "
                   "instead "
                   f"(ELU: α = {elu['alpha'][-1]:.4f} at c = {c[-1]:g}), unless a grows like e^(c²/2). The "
                   f"plateauing case holds (α/a → its limit); softsign's P(f' < 1e-4) is {soft:.2f} at "
                   f"a = {sizes.growth_a[-1]:g}: → 1 only for a ≫ 1/ε.")
    else:
        verdict, counter = "confirmed", None
        summary = "Both classes grow at the stated rates along the stated conditions, and freeze."
    return Evidence(kind="numeric", verdict=verdict, summary=summary, setting=setting, measured=measured,
                    counterexample=counter, figures=[_growth_figure(rows, plateau)])


def _growth_figure(rows: dict, plateau: dict) -> Figure:
    half = []
    for i, name in enumerate(("relu", "softplus", "elu")):
        for label, seq in rows[name]["sequences"].items():
            if label.startswith("b/a → −∞ (") or label.startswith("printed"):
                half.append(_line(-seq["b"] / seq["a"], np.clip(seq["alpha"] + 1, 1e-12, None),
                                  f"{name}, {label.split(' (')[0]}", color=f"C{i}", marker="o", markersize=3,
                                  linestyle="dashed" if label.startswith("printed") else "solid"))
    flat = [_line(seq["a"], seq["alpha"], f"{name}, {label}", color=f"C{i}", marker=".",
                  linestyle={"b = 0": "solid", "a/b = −2": "dashed", "a/b = 1": "dotted"}[label])
            for i, (name, r) in enumerate(plateau.items()) for label, seq in r["sequences"].items()]
    return Figure("App. A.1.1: α + 1 of half-vanishing f(a z + b) against |b/a| (dashed: the printed "
                  "condition "
                  "a/b → −∞, where |b/a| → 0; solid: b/a → −∞) and α of plateauing f against a.",
                  [Panel(half, xlabel="|b/a|", ylabel="α + 1", xscale="log", yscale="log", legend="outside"),
                   Panel(flat, xlabel="a", ylabel="α", xscale="log", yscale="log", legend="outside")],
                  columns=2, width=11.0, height=3.4)


@check("rank.growth", name="growth-control")
def growth_control(config: Config) -> Evidence:
    """Negative control: the plateauing case holds at rate a_k; a planted misprint, 'α grows as a_k²', must
    be refuted."""
    ev = growth(config, plateau_rate=2.0)
    as_control(ev, "plateauing: α grows as a_k²")
    flat = [n for n in PLATEAUING if n in ev.measured["failing"]]
    if flat:
        n0 = flat[0]
        seq = ev.measured["plateauing"][n0]["sequences"]["b = 0"]
        ev.verdict, ev.counterexample = "refuted", {"activation": n0, "a": seq["a"],
                                                    "alpha_over_a^2": seq["alpha_over_rate"]}
        ev.summary = (f"The planted rate a_k² fails for {', '.join(flat)}: e.g. {n0}, α/a² = "
                      f"{seq['alpha_over_rate'][-1]:.2e} at a = {seq['a'][-1]:g} (→ 0).")
    else:
        ev.verdict, ev.counterexample = "inconclusive", None
        ev.summary = "The planted rate a_k² was not refuted."
    return ev


# ---- rank.figure31: Fig. 3.1 at small scale ---------------------------------------------------------

def _cov_spectrum(H: torch.Tensor) -> np.ndarray:
    """The authors' spectrum: singular values of torch.cov(Hᵀ) (the centred sample covariance), in H's
    dtype."""
    with one_thread():
        return torch.linalg.svdvals(torch.cov(H.T)).double().numpy()


@check("rank.figure31")
def figure31(config: Config, direction: int = +1) -> Evidence:
    """Fig. 3.1 in its own setting, scaled down: z = L Aᵀ with unit-norm rows of A (20 × 5: 20-dimensional,
    rank 5, unit variance), h_a = tanh(a z) for the figure's a; effective rank of the eigenvalues of Cov(h)
    computed as the authors' code does (float32, centred ``torch.cov``, singular values) and in float64;
    the exact limits r̃(C) (a → 0: tanh(az)/a → z) and r̃((2/π) arcsin C) (a → ∞: sign); α of tanh(az) exact
    by quadrature. ``direction`` = −1 plants the misprint 'the effective rank falls as a grows'."""
    sizes = SIZES[config.quick]
    rng = np.random.default_rng(config.seed + 31)
    d, r, n = 20, 5, sizes.figure_samples
    a_grid = np.array(sizes.figure_a)
    C = spectra.correlation_of_rank(d, r, rng)
    Z = torch.as_tensor(spectra.sample_of_rank(C, r, n, rng))
    tanh = activations.get("tanh")
    er32, er64, rank32, spectra64 = [], [], [], {}
    for a in a_grid:
        h64 = torch.tanh(a * Z)
        s32, s64 = _cov_spectrum(torch.tanh(a * Z.float())), _cov_spectrum(h64)
        er32.append(spectra.effective_rank(s32))
        er64.append(spectra.effective_rank(s64))
        rank32.append(int(np.sum(s32 > 1e-7)))  # their figure's absolute tolerance 1e-7
        spectra64[float(a)] = s64 / s64.sum()
    er32, er64 = np.array(er32), np.array(er64)
    input_er = spectra.effective_rank(_cov_spectrum(Z))
    sign_er = spectra.effective_rank(_cov_spectrum(torch.sign(Z)))
    exact_small = spectra.effective_rank(np.linalg.eigvalsh(C))
    exact_large = spectra.effective_rank(np.linalg.eigvalsh(2 / np.pi * np.arcsin(np.clip(C, -1, 1))))
    alpha_a = gaussian.affine_alpha(tanh, 0.0, a_grid)[0]
    hard = spectra.numerical_rank(spectra.apply(tanh, Z.numpy() * a_grid[len(a_grid) // 2]))[0]
    steps = np.diff(er64) * direction
    monotone = bool(np.all(steps >= -0.01 * er64[:-1]))
    ends = (abs(er64[0] / input_er - 1) <= 0.01 and abs(er64[-1] / sign_er - 1) <= 0.05)
    alpha_limits = bool(alpha_a[0] < 1e-3 and alpha_a[-1] / a_grid[-1] > 0.4)
    measured = {"a": a_grid, "effective_rank_float32_centred (authors' code)": er32,
                "effective_rank_float64_centred": er64, "input_effective_rank_sampled": input_er,
                "sign_effective_rank_sampled": sign_er, "limit_a_to_0_exact_r(C)": exact_small,
                "limit_a_to_inf_exact_r(2/pi arcsin C)": exact_large, "alpha_of_tanh(az)": alpha_a,
                "numerical_rank_float32_abs_tol_1e-7 (authors' code)": rank32,
                "hard_rank_float64_at_a_mid": hard, "monotone_in_direction": monotone, "limits_reached": ends,
                "alpha_limits": alpha_limits,
                "misprints": {"caption": "'Effect of input shifting': the figure varies the scale a of "
                                         "tanh(a x), "
                                         "not a shift", "notation": "h_a = tanh(a x) with input called z"}}
    setting = {"d": d, "rank": r, "samples": n, "a": a_grid, "seed": config.seed,
               "inputs": "z = L Aᵀ, L ~ N(0, 1)^(n×5), A's rows normalized (unit variance)",
               "spectrum": "singular values of torch.cov(hᵀ) (centred), float32 as the authors' code and "
                           "float64",
               "direction_decided": "rises with a" if direction > 0 else "falls with a (planted)",
               "as_written": as_written(
                   "Fig. 3.1: 'Effect of input shifting on post-activation effective rank for h_a = tanh(a "
                   "x), "
                   "with rank-deficient z (20 dimensional with rank 5). Left: normalized eigenvalue spectra "
                   "of "
                   "Cov(h) vs. scale a. Right: effective rank of Cov(h) vs. scale a.' The example before it: "
                   "'If a is small, tanh(ax) ≈ ax … with α converging to 0; if a is very large, tanh(ax) "
                   "approaches "
                   "a sign function, and α tends to infinity.'",
                   "§3, Fig. 3.1 and the example after Prop. 3.1",
                   "'Effect of input scaling' (the figure varies a); otherwise as printed",
                   misprints=["caption: 'input shifting' for the scale a"])}
    if monotone and ends and alpha_limits:
        verdict, counter = "confirmed", None
        summary = (f"Reproduced at n = {n}: r̃(Cov(tanh(a z))) rises with a from the input's {input_er:.2f} "
                   f"(exact r̃(C) = {exact_small:.2f}) at a = {a_grid[0]:g} to {er64[-1]:.2f} at a = "
                   f"{a_grid[-1]:g} "
                   f"(sign: {sign_er:.2f}, exact r̃((2/π) arcsin C) = {exact_large:.2f}); float32 as the "
                   "authors "
                   f"compute it: {er32[0]:.2f} → {er32[-1]:.2f}. α(tanh(az)) = {alpha_a[0]:.1e} at a = "
                   f"{a_grid[0]:g} and {alpha_a[-1]:.1f} at a = {a_grid[-1]:g}. Hard rank is {hard} for "
                   "every a > 0, "
                   f"though the authors' tolerance 1e-7 shows {rank32[0]} at a = {a_grid[0]:g}. Caption "
                   "misprint: "
                   "'input shifting' for the scale a.")
    else:
        verdict = "refuted"
        i = int(np.argmin(steps)) if not monotone else 0
        counter = {"a": float(a_grid[i]), "a_next": float(a_grid[min(i + 1, len(a_grid) - 1)]),
                   "effective_rank": float(er64[i]), "effective_rank_next": float(er64[min(i + 1,
                                                                                           len(er64) - 1)]),
                   "limits_reached": ends, "alpha_limits": alpha_limits}
        summary = ("The figure's statement fails: " + ("the effective rank does not move in the stated "
                   f"direction between a = {counter['a']:g} and {counter['a_next']:g} "
                   f"({counter['effective_rank']:.2f}"
                   f" → {counter['effective_rank_next']:.2f})" if not monotone else "its limits are not "
                                                                                    "reached")
                   + ".")
    return Evidence(kind="numeric", verdict=verdict, summary=summary, setting=setting, measured=measured,
                    counterexample=counter, figures=[_figure31(a_grid, er32, er64, spectra64, input_er,
                                                               sign_er)])


def _figure31(a: np.ndarray, er32, er64, spec: dict, input_er: float, sign_er: float) -> Figure:
    shown = [x for x in (0.01, 0.1, 1.0, 5.0, 20.0, 100.0) if x in spec]
    left = [_line(np.arange(1, len(spec[x]) + 1), np.clip(spec[x], 1e-16, None), f"a = {x:g}", color=f"C{i}",
                  marker=".") for i, x in enumerate(shown)]
    right = [_line(a, er64, "float64", color="C0", marker="o"),
             _line(a, er32, "float32 (authors' code)", color="C1", marker="s", linestyle="dashed"),
             _hline(input_er, "input z", color="k", linestyle="dotted"),
             _hline(sign_er, "sign(z)", color="k", linestyle="dashed", linewidth=0.8)]
    return Figure("Fig. 3.1 at small scale: normalized eigenvalues of Cov(tanh(a z)) (left, float64, clipped "
                  "at "
                  "1e-16) and their effective rank against a (right), z 20-dimensional of rank 5.",
                  [Panel(left, xlabel="eigenvalue index", ylabel="normalized eigenvalue", yscale="log"),
                   Panel(right, xlabel="a", ylabel="effective rank of Cov(h)", xscale="log")],
                  columns=2, width=10.0, height=3.2)


@check("rank.figure31", name="figure31-control")
def figure31_control(config: Config) -> Evidence:
    """Negative control: the planted misprint 'the effective rank of Cov(h) falls as a grows' is refuted."""
    ev = figure31(config, direction=-1)
    return as_control(ev, "the effective rank of Cov(h) falls as a grows")


# ---- rank.validation-setting: validation 2 as the authors ran it ------------------------------------

SETTING_ACTIVATIONS = ("relu", "tanh", "gelu")


def _code_alpha(f: Activation) -> float:
    """α as the authors' code computes it: E f'²/E f² − 1 on [−8, 8], f' by float32 autograd of the torch
    function (here on the composite Gauss–Legendre nodes of ``gaussian.gauss_rule``; their adaptive quad
    evaluates the same integrands)."""
    zz, ww = gaussian.gauss_rule(gaussian.kinks(f))
    keep = np.abs(zz) <= 8.0
    x = torch.tensor(zz[keep], dtype=torch.float32, requires_grad=True)
    y = f.torch_fn(x)
    (g,) = torch.autograd.grad(y.sum(), x)
    w = ww[keep]
    return float(np.sum(w * g.double().numpy()**2) / np.sum(w * y.detach().double().numpy()**2) - 1)


def _their_curve(f: Activation, eps: np.ndarray, d: int, n: int, seed: int, dtype: torch.dtype) -> np.ndarray:
    """r̃ after f as the authors' validation computes it, one fresh sample per ε: n rows of
    MultivariateNormal(0, (1 − ε)11ᵀ + εI) in ``dtype``, f applied, singular values of torch.cov. Cached per
    (activation, ε, d, n, seed, dtype), so validation-setting's control reuses the samples."""
    return np.array(_their_curve_cached(f.name, tuple(map(float, eps)), d, n, seed, dtype))


@functools.cache
def _their_curve_cached(name: str, eps: tuple[float, ...], d: int, n: int, seed: int, dtype: torch.dtype
                        ) -> tuple[float, ...]:
    f = activations.get(name)
    out = []
    for k, e in enumerate(eps):
        X = torch.as_tensor(spectra.sample_equicorrelated(n, d, float(e), seed + k, dtype))
        with torch.no_grad():
            out.append(spectra.effective_rank(_cov_spectrum(f.torch_fn(X))))
    return tuple(out)


@check("rank.validation-setting")
def validation_setting(config: Config, stated_alpha: dict[str, float] | None = None) -> Evidence:
    """App. A.1.3, validation 2, as the authors ran it: d = 100, C = (1 − ε)11ᵀ + εI for ε log-spaced in
    [1e-3, 1e-1], n samples drawn in float32 by torch's MultivariateNormal, f(X), r̃ of the singular values of
    the centred torch.cov, against r̃(C)(1 + α ε ln(d/ε)) (their n in ln(n/ε) is the dimension d). Beside
    it: the exact centred and uncentred r̃(C_f) (closed form from the kernel), the α their code computes
    (uncentred, float32 autograd on [−8, 8]), the centred α, and the α the measured gain tracks (least
    squares of G = r̃_post/r̃_pre − 1 on ε ln(d/ε)). 'Close agreement' holds for an activation when the
    predicted gain with the stated α is within 10% of the measured one at every ε."""
    stated = dict(PAPER_ALPHA if stated_alpha is None else stated_alpha)
    sizes = SIZES[config.quick]
    d, n = 100, sizes.setting_samples
    eps = np.logspace(-3, -1, sizes.setting_eps)
    x = eps * np.log(d / eps)
    pre = spectra.effective_rank_equicorrelated(d, eps)
    rows, fits = {}, {}
    for name in SETTING_ACTIVATIONS:
        f = activations.get(name)
        m = gaussian.moments(f)
        dec = [gaussian.decorrelation(f, e) for e in eps]
        gap = {key: np.array([q[key] for q in dec]) for key in ("uncentred", "centred")}
        post = {"exact_uncentred": spectra.effective_rank_equicorrelated(d, gap["uncentred"]),
                "exact_centred": spectra.effective_rank_equicorrelated(d, gap["centred"])}
        for key, dtype in (("sampled_float32_centred (their code)", torch.float32),
                           ("sampled_float64_centred", torch.float64)):
            post[key] = _their_curve(f, eps, d, n, config.seed, dtype)
        gains = {k: v / pre - 1 for k, v in post.items()}
        fit = {k: float(np.sum(g * x) / np.sum(x * x)) for k, g in gains.items()}
        alphas = {"stated": stated[name], "their_code": _code_alpha(f), "uncentred": m.alpha,
                  "centred": m.alpha_centred}
        measured_gain = gains["sampled_float32_centred (their code)"]
        rel = {k: np.abs(a * x - measured_gain) / np.abs(measured_gain) for k, a in alphas.items()}
        # ties (odd f: centred = uncentred) go to the centred α, the one the centred covariance has
        tracks = min(("centred", "uncentred", "stated"),
                     key=lambda k: abs(alphas[k] - fit["sampled_float32_centred (their code)"])
                     - 1e-12 * (k == "centred"))
        rows[name] = {"effective_rank": post, "gain": gains, "alpha": alphas, "fitted_alpha": fit,
                      "rel_error_of_predicted_gain": rel, "tracks": tracks,
                      "close_with_stated": bool(np.all(rel["stated"] <= AS_WRITTEN_TOL)),
                      "close_with_their_code": bool(np.all(rel["their_code"] <= AS_WRITTEN_TOL))}
        fits[name] = (post, alphas)
    far = [k for k, v in rows.items() if not v["close_with_stated"]]
    measured = {"d": d, "samples": n, "epsilon": eps, "r_C": pre, "per_activation": rows,
                "not_close_with_stated_alpha": far,
                "tracked_alpha": {k: v["tracks"] for k, v in rows.items()}}
    setting = {"d": d, "samples": n, "epsilon": eps, "seed": config.seed,
               "activations": list(SETTING_ACTIVATIONS),
               "stated_alpha": stated, "tolerance": f"{AS_WRITTEN_TOL:.0%} on the gain r̃(C_f)/r̃(C) − 1",
               "their_pipeline": "float32 MultivariateNormal samples, torch.cov (centred), singular values "
                                 "of the "
                                 "covariance, n in ln(n/ε) read as d = 100",
               "as_written": as_written(
                   "Validation of r̃(C_f) ≈ r̃(C)(1 + α_f ε ln(n/ε)) for ReLU (α_f = 0.5000), Tanh (0.6667) "
                   "and GELU "
                   "(0.5449), 100-dimensional Gaussian data, correlation 1 − ε: 'The close agreement between "
                   "theory "
                   "and experiment validates our formula'; 'the empirical results closely match our "
                   "theoretical "
                   "predictions across all tested activation functions and correlation levels'.",
                   "App. A.1.3, validation 2 (caption and text)",
                   "the measured curve (their code's centred covariance) tracks the centred α = E f'²/Var f "
                   "− 1 "
                   "(ReLU 0.467, Tanh 0.178, GELU 0.319), not the stated values nor the uncentred α their "
                   "code "
                   "computes (ReLU 0, Tanh 0.178, GELU 0.072); agreement holds for Tanh only, where the two "
                   "α "
                   "coincide")}
    text = "; ".join(f"{k}: fitted α {v['fitted_alpha']['sampled_float32_centred (their code)']:.3f} (stated "
                     f"{v['alpha']['stated']:.4f}, their code {v['alpha']['their_code']:.3f}, centred "
                     f"{v['alpha']['centred']:.3f}) → tracks {v['tracks']}" for k, v in rows.items())
    if far:
        verdict = "refuted"
        k0 = far[0]
        i0 = int(np.argmax(rows[k0]["rel_error_of_predicted_gain"]["stated"]))
        counter = {"activation": k0, "epsilon": float(eps[i0]), "stated_alpha": stated[k0],
                   "measured_gain": float(rows[k0]["gain"]["sampled_float32_centred (their code)"][i0]),
                   "predicted_gain": float(stated[k0] * x[i0]),
                   "relative_error": float(rows[k0]["rel_error_of_predicted_gain"]["stated"][i0])}
        summary = (f"No close agreement with the stated α for {', '.join(far)} ({k0} at ε = {eps[i0]:.1e}: "
                   f"measured gain {counter['measured_gain']:.3g}, predicted "
                   f"{counter['predicted_gain']:.3g}). "
                   f"{text}. The authors' pipeline centres the covariance, so its curve follows the centred "
                   "α.")
    else:
        verdict, counter = "confirmed", None
        summary = f"The stated α values predict the measured gains within {AS_WRITTEN_TOL:.0%}: {text}."
    return Evidence(kind="numeric", verdict=verdict, summary=summary, setting=setting, measured=measured,
                    counterexample=counter, figures=[_setting_figure(eps, pre, fits, d)])


def _setting_figure(eps: np.ndarray, pre: np.ndarray, fits: dict, d: int) -> Figure:
    panels = []
    for name, (post, alphas) in fits.items():
        series = [_line(eps, post["sampled_float32_centred (their code)"], "measured (their code)",
                        color="C0",
                        marker="o", markersize=3),
                  _line(eps, post["exact_uncentred"], "exact, uncentred C_f", color="C2", linestyle="dotted")]
        for j, key in enumerate(("stated", "their_code", "centred")):
            series.append(_line(eps, pre * (1 + alphas[key] * eps * np.log(d / eps)), f"formula, α {key} "
                                f"{alphas[key]:.3f}", color=f"C{j + 3}", linestyle="dashed", linewidth=0.9))
        series.append(_line(eps, pre, "pre-activation", color="k", linestyle="dotted", linewidth=0.8))
        panels.append(Panel(series, title=name, xlabel="ε", ylabel="effective rank", xscale="log",
                            legend="best" if name == "relu" else None))
    return Figure(f"Validation 2 as the authors ran it (d = {d}, correlation 1 − ε): measured r̃ of the "
                  "centred "
                  "sample covariance against r̃(C)(1 + α ε ln(d/ε)) with the stated α, the α their code "
                  "computes, "
                  "and the centred α.", panels, columns=len(panels), width=12.0, height=3.4)


@check("rank.validation-setting", name="validation-setting-control")
def validation_setting_control(config: Config) -> Evidence:
    """Negative control: a planted misprint, α = 2 × the centred α (the α the measured curve tracks), must be
    refuted. (That the check confirms a curve which does follow the formula is tested with a planted
    curve.)"""
    centred = {n: gaussian.moments(activations.get(n)).alpha_centred for n in SETTING_ACTIVATIONS}
    ev = validation_setting(config, stated_alpha={k: 2 * v for k, v in centred.items()})
    return as_control(ev, "α = 2 × the centred α")


# ---- Remark 3.2 and Example 3.3 as written ----------------------------------------------------------

#: Remark 3.2's 'improved effective rank': (statement, centred covariance?, factor r̃(after) ≥ factor·r̃(C)).
REMARK32_FORMS: dict[str, tuple[str, bool, float]] = {
    "printed": ("r̃(C_f) ≥ r̃(C) with the paper's uncentred C_f = E f(x) f(x)ᵀ", False, 1.0),
    "corrected": ("r̃(Cov f(x)) ≥ r̃(C), the centred covariance", True, 1.0),
    "planted": ("r̃(Cov f(x)) ≥ 2 r̃(C): the centred covariance at least doubles the effective rank (a "
                "planted misprint)", True, 2.0),
}
REMARK32_N, REMARK32_DELTA = 100, (1e-1, 1e-3)  # equicorrelated inputs (1 − δ)11ᵀ + δI, n × n
REMARK32_LOW_RANK = ((20, 5), (20, 5), (50, 10))  # (d, r): Fig. 3.1's setting twice, validation 1's once
REMARK32_TOL = 1e-9  # relative: r̃ equal to this is not a loss


@check("rank.effective", name="remark-improved-rank-as-written")
def remark_improved_rank(config: Config, form: str = "printed") -> Evidence:
    """Remark 3.2: 'as long as pre-activation correlations are within (−1, 1), their post-activations will be
    [full] hard rank and improved effective rank'. The hard-rank half is rank.hard; here r̃ of the covariance
    of f(x), x ~ N(0, C), against r̃(C), exactly: on equicorrelated C (closed form through the kernel gap,
    ``gaussian.decorrelation``) and on random low-rank correlations (``gaussian.kernel_matrix``), for every
    non-polynomial registry activation. ``form`` picks the covariance and the claimed factor."""
    text, centred, factor = REMARK32_FORMS[form]
    rng = np.random.default_rng(config.seed + 32)
    low_rank = [(d, r, spectra.correlation_of_rank(d, r, rng)) for d, r in REMARK32_LOW_RANK]
    key = "centred" if centred else "uncentred"
    rows, losses = {}, []
    for f in _registry():
        if gaussian.is_polynomial(f):
            continue
        m = gaussian.moments(f)
        cases = {}
        for delta in REMARK32_DELTA:
            before = float(spectra.effective_rank_equicorrelated(REMARK32_N, delta))
            after = float(spectra.effective_rank_equicorrelated(REMARK32_N,
                                                               gaussian.decorrelation(f, delta)[key]))
            cases[f"equicorrelated n = {REMARK32_N}, δ = {delta:g}"] = (before, after)
        for k, (d, r, C) in enumerate(low_rank):
            Cf, _, _ = gaussian.kernel_matrix(f, C)
            after = spectra.effective_rank(np.linalg.eigvalsh(Cf - m.mean**2 if centred else Cf))
            cases[f"random rank-{r} correlation #{k}, d = {d}"] = (
                spectra.effective_rank(np.linalg.eigvalsh(C)), after)
        rows[f.name] = {"alpha": m.alpha, "mean": m.mean, "r_C": {c: b for c, (b, _) in cases.items()},
                        "r_after": {c: a for c, (_, a) in cases.items()}}
        losses += [(after / (factor * before), f.name, c, before, after)
                   for c, (before, after) in cases.items() if after < factor * before * (1 - REMARK32_TOL)]
    failing = sorted({name for _, name, *_ in losses})
    measured = {"covariance": key, "factor": factor, "per_activation": rows, "failing": failing}
    inputs = (f"(1 − δ)11ᵀ + δI (n = {REMARK32_N}, δ ∈ {list(REMARK32_DELTA)}) and random rank-r "
              f"correlations (d, r) = {list(REMARK32_LOW_RANK)}")
    setting = {"covariance": key, "inputs": inputs,
               "tolerance": f"relative {REMARK32_TOL:g}", "seed": config.seed, "form_decided": text}
    if form == "printed":
        setting["as_written"] = as_written(
            "As long as pre-activation correlations are within (−1, 1), their post-activations will be [of "
            "full] hard rank and improved effective rank; with C_f = (1/n) E f(X)ᵀ f(X) (uncentred) as in "
            "Prop. 3.1.", "§3, Remark 3.2",
            "For the centred covariance Cov f(x) = Σ_{k≥1} a_k² C^(∘k) it holds on every input tried (and "
            "for equicorrelated C ≥ 0 always: its correlation Σ_{k≥1} a_k² ρ^k / Σ_{k≥1} a_k² ≤ ρ). The "
            "paper's uncentred C_f adds a_0² 11ᵀ, the squared mean, and loses effective rank where the mean "
            "dominates (near rank 1 exactly when α_f < 0, and at second order for ReLU's α_f = 0).")
    if losses:
        worst = min(losses)
        _, name, case, before, after = worst
        counter = {"activation": name, "input": case, "r_C": before, "r_after": after, "factor": factor,
                   "alpha": rows[name]["alpha"]}
        summary = (f"{text} fails for {len(failing)} activations ({', '.join(failing)}): e.g. {name} (α = "
                   f"{rows[name]['alpha']:.3f}) on {case}: r̃ {before:.4g} → {after:.4g}"
                   + (f" (claimed ≥ {factor * before:.4g})." if factor != 1 else "."))
        verdict = "refuted"
    else:
        counter, verdict = None, "confirmed"
        summary = f"{text} holds for all {len(rows)} non-polynomial activations on every input tried."
    return Evidence(kind="numeric", verdict=verdict, summary=summary, setting=setting, measured=measured,
                    counterexample=counter)


@check("rank.effective", name="remark-improved-rank-as-written-control")
def remark_improved_rank_control(config: Config) -> Evidence:
    """Negative control: the corrected remark (centred covariance) with a planted factor 2 must be refuted."""
    ev = remark_improved_rank(config, form="planted")
    ok = remark_improved_rank(config, form="corrected")
    as_control(ev, REMARK32_FORMS["planted"][0], corrected_form_verdict=ok.verdict)
    if ok.verdict != "confirmed":
        ev.verdict, ev.summary = "inconclusive", "The corrected remark did not hold: " + ok.summary
    return ev


#: Example 3.3 decided on α: (statement, predicate on (relu shifts b, α_b, tanh scales a, α_a)).
EXAMPLE33_FORMS: dict[str, tuple[str, Any]] = {
    "printed": ("tanh(a z): α → 0 as a → 0 and α → ∞ as a → ∞; relu(z + b): α < 0 for b > 0 (a shifted "
                "identity cannot recover rank), α > 0 for b < 0, growing without bound as b → −∞",
                lambda b, ab, a, aa: bool(np.all(ab[b > 0] < 0) and np.all(ab[b < 0] > 0)
                                          and np.all(np.diff(ab[b < 0]) < 0) and ab[0] > 10
                                          and aa[0] < 1e-6 and aa[-1] > 10 and np.all(np.diff(aa) > 0))),
    "planted": ("relu(z + b) recovers rank for large positive shifts too: α > 0 for b > 0 (a planted "
                "misprint)", lambda b, ab, a, aa: bool(np.all(ab[b > 0] > 0))),
}
EXAMPLE33_B = np.array([-8.0, -4.0, -2.0, -1.0, -0.5, -0.1, 0.1, 0.5, 1.0, 2.0, 4.0, 8.0])
EXAMPLE33_A = np.array([1e-3, 1e-2, 0.1, 1.0, 10.0, 100.0])


@check("rank.corollary", name="example-modulation-as-written")
def example_modulation(config: Config, form: str = "printed") -> Evidence:
    """Example 3.3: α of tanh(a z) for small and large a, and of relu(z + b) (= relu(a z + b)/a with b/a for
    b) for positive and negative shifts: ReLU from its closed form in c = −b at 30 digits
    (``gaussian.relu_shift_values``), tanh by quadrature (``gaussian.affine_alpha``)."""
    text, holds = EXAMPLE33_FORMS[form]
    alpha_b, second_b = gaussian.relu_shift_values(-EXAMPLE33_B)
    alpha_a, _ = gaussian.affine_alpha(activations.get("tanh"), np.zeros_like(EXAMPLE33_A), EXAMPLE33_A)
    ok = holds(EXAMPLE33_B, alpha_b, EXAMPLE33_A, alpha_a)
    measured = {"relu_b": EXAMPLE33_B, "relu_alpha": alpha_b, "relu_E_f2": second_b, "tanh_a": EXAMPLE33_A,
                "tanh_alpha": alpha_a, "holds": ok}
    setting = {"relu": "relu(z + b), closed form at 30 digits", "tanh": "tanh(a z), quadrature",
               "seed": config.seed, "form_decided": text}
    if form == "printed":
        setting["as_written"] = as_written(
            "For tanh(ax): if a is small, tanh(ax) ≈ ax behaves linearly, with α converging to 0; if a is "
            "very large it approaches a sign function and α tends to infinity. For ReLU(ax + b): a large "
            "positive shift b makes f a shifted identity on most inputs, which cannot recover rank; negative "
            "shifts keep it non-linear, highly so for large negative shifts.", "§3, Example 3.3")
    pos, neg = alpha_b[EXAMPLE33_B > 0], alpha_b[EXAMPLE33_B < 0]
    bn, bp = EXAMPLE33_B[EXAMPLE33_B < 0], EXAMPLE33_B[EXAMPLE33_B > 0]
    text_vals = (f"relu(z + b): α = {neg[0]:.3g} at b = {bn[0]:g} … {neg[-1]:.3g} at b = {bn[-1]:g}, "
                 f"{pos[0]:.3g} at b = {bp[0]:g} … {pos[-1]:.4f} at b = {bp[-1]:g} (→ −1); tanh(az): α = "
                 f"{alpha_a[0]:.1e} at a = {EXAMPLE33_A[0]:g}, {alpha_a[-1]:.3g} at a = {EXAMPLE33_A[-1]:g}")
    if ok:
        verdict, counter = "confirmed", None
        summary = f"As stated: {text_vals}."
    else:
        verdict = "refuted"
        counter = {"relu_b": EXAMPLE33_B, "relu_alpha": alpha_b, "tanh_a": EXAMPLE33_A,
                   "tanh_alpha": alpha_a}
        summary = f"'{text}' is false: {text_vals}."
    return Evidence(kind="symbolic", verdict=verdict, summary=summary, setting=setting, measured=measured,
                    counterexample=counter)


@check("rank.corollary", name="example-modulation-as-written-control")
def example_modulation_control(config: Config) -> Evidence:
    """Negative control: 'relu(z + b) recovers rank for large positive shifts too' must be refuted."""
    return as_control(example_modulation(config, form="planted"), EXAMPLE33_FORMS["planted"][0])
