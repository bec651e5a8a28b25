"""Checks of the continual family (CLAIMS.md, ``continual.*``; paper §3 experiments, §5, App. B).

Every check reads one shared sweep (``sweep``): seed-batched runs (``numerics.continual``) of

- the bit-flipping problem (``numerics.streams.BitFlip``, the paper's text: one flipping bit inverted
  every T = 10,000 steps) with the 20-5-1 ReLU learner, SGD η = 0.01: backprop and continual backprop
  for the long run (1M steps full), continual backprop's replacement rate swept over the same run
  (1e-6 … 1e-2 full), and a sweep of every intervention of ``numerics.interventions`` that applies
  online (BatchNorm needs a batch: not on a one-sample stream) over widths;
- for the continual.cbp control, a backprop run collapsed after the early window
  (``numerics.continual.collapse``: every hidden unit planted dead, a fixed point of SGD);
- shuffled-label digits (memorise random labels of 128 of scikit-learn's digits, a new shuffle every
  task) with an MLP and a CNN, each plain, with BatchNorm and with LayerNorm, and permuted digits with
  the MLP;
- two runs started from an exact ×2 clone of the 20-5-1 learner, with and without dropout.

Effects are differences between an early window (the tasks after the first, 20% of the run) and a
late window (the last 20%), or between interventions in the late window, per seed; each is given
with a percentile-bootstrap 95% interval over seeds (``checks.common.bootstrap``). The error of a
task is the online mean squared error (bit-flipping; binned by two tasks = 20,000 steps in the
figures, as the papers bin) or 1 − the accuracy on the task's data after its training (digits).
Every claim has a negative control that must come out refuted.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np
from scipy import stats

from cases.executor import executor, map_jobs
from cases.graphs import graph_data, unit_graph
from checks.common import bootstrap, excludes_zero
from numerics import interventions as ivs
from numerics.batched import Net
from numerics.continual import Job, Result, run
from numerics.streams import BitFlip, TaskSequence
from theory.claims import check
from theory.evidence import Config, Evidence, Figure, Panel, Series

NORMS = ("batchnorm", "layernorm")
ARCHS = ("mlp", "cnn")
STABLE = 0.10  # "keeps rank stable": the relative change of effective rank within ±10%
CLONE_TOL = 1e-9  # off-equitable weight entries below this are rounding (refinement tolerance)
RHO_WEAK = 0.3  # "does not predict": the whole interval of Spearman's ρ below this


@dataclass(frozen=True)
class Sizes:
    """Every size the continual checks use; ``SIZES[config.quick]`` picks one."""

    seeds: int = 30
    bitflip_seeds: int | None = None  # the bit-flipping runs' seeds (None: ``seeds``); a seed costs little
    bitflip: BitFlip = BitFlip()  # the paper's text: T = 10,000 steps a task
    long_tasks: int = 100  # bit-flipping backprop vs continual backprop: 100 × 10,000 = 1M steps
    long_probe_every: int = 5
    cbp_rates: tuple[float, ...] = (1e-6, 1e-5, 1e-4, 1e-3, 1e-2)  # continual backprop's sweep, long runs
    collapse_tasks: int = 3  # the planted collapse of the continual.cbp control (after task 2 of 3) …
    collapse_stream: BitFlip = BitFlip(period=1000)  # … on short tasks: the planted loss is exact anyway
    sweep_tasks: int = 20  # the intervention × width sweep: 200,000 steps
    sweep_probe_every: int = 2
    sweep_widths: tuple[int, ...] = (5, 10, 25)
    sweep_interventions: tuple[str, ...] = (
        "bp",
        "cbp",
        "l2",
        "snp",
        "noisy_sgd",
        "redo-0.025",
        "redo-0.1",
        "dropout",
        "layernorm",
    )
    duplicate_widths: tuple[int, ...] = (5, 10, 25, 50)
    clone_tasks: int = 10
    shuffled: TaskSequence = TaskSequence("shuffled", epochs=40, batch=16, samples=128)
    shuffled_tasks: int = 40
    cnn_tasks: int = 40
    permuted: TaskSequence = TaskSequence("permuted", epochs=2, batch=32)
    permuted_tasks: int = 100
    digits_probe_every: int = 2
    digits_lr: float = 0.1
    window: float = 0.2
    snapshot_width: int = 10


SIZES: dict[bool, Sizes] = {
    False: Sizes(),
    True: Sizes(
        seeds=5,
        bitflip_seeds=20,
        long_tasks=3,
        cbp_rates=(1e-4,),  # the long continual-backprop run itself: --quick adds no run for the sweep
        long_probe_every=1,
        sweep_tasks=3,
        sweep_probe_every=1,
        sweep_widths=(5,),
        sweep_interventions=("bp", "cbp", "l2", "redo-0.1", "dropout", "layernorm"),
        duplicate_widths=(5, 10),
        clone_tasks=2,
        shuffled_tasks=14,
        cnn_tasks=5,
        permuted_tasks=10,
        digits_probe_every=1,
        snapshot_width=10,
    ),
}


def _net(width: int) -> Net:
    return Net((BitFlip.m, width, 1), lr=0.01)


def _digits_net(arch: str, lr: float) -> Net:
    if arch == "mlp":
        return Net((64, 64, 64, 10), loss="ce", lr=lr)
    return Net((32, 10), loss="ce", lr=lr, image=(1, 8, 8), channels=(8, 16))


def cbp_at(rate: float) -> str | ivs.Intervention:
    """Continual backprop at replacement rate ``rate`` (the registry's "cbp" at its own rate)."""
    base = ivs.get("cbp")
    if rate == base.cbp.rate:
        return "cbp"
    return replace(base, name=f"cbp@{rate:g}", cbp=replace(base.cbp, rate=rate),
                   description=f"{base.description.rsplit(', rate', 1)[0]}, rate {rate:g}")


def cbp_rate_key(rate: float) -> str:
    return "bitflip/long/cbp" if cbp_at(rate) == "cbp" else f"bitflip/long/cbp@{rate:g}"


def jobs(config: Config) -> dict[str, Job]:
    """Every run the checks read, by key (``numerics.continual.Job``); equal jobs run once."""
    z = SIZES[config.quick]
    digits_seeds = tuple(config.seed * 100_000 + i for i in range(z.seeds))
    seeds = tuple(config.seed * 100_000 + i for i in range(z.bitflip_seeds or z.seeds))
    out: dict[str, Job] = {}
    dev = config.device
    for iv in ("bp", "cbp"):
        out[f"bitflip/long/{iv}"] = Job(
            z.bitflip, _net(5), iv, seeds, z.long_tasks, z.long_probe_every, device=dev
        )
    for rate in z.cbp_rates:
        out[cbp_rate_key(rate)] = Job(
            z.bitflip, _net(5), cbp_at(rate), seeds, z.long_tasks, z.long_probe_every, device=dev
        )
    out["bitflip/collapsed"] = Job(
        z.collapse_stream, _net(5), "bp", seeds, z.collapse_tasks, 1,
        collapse=z.collapse_tasks - 2, device=dev,
    )
    for w in z.sweep_widths:
        for iv in z.sweep_interventions:
            out[f"bitflip/sweep/{iv}/w{w}"] = Job(
                z.bitflip,
                _net(w),
                iv,
                seeds,
                z.sweep_tasks,
                z.sweep_probe_every,
                device=dev,
                snapshots=iv == "bp" and w == z.snapshot_width,
            )
    for w in z.duplicate_widths:
        out.setdefault(
            f"bitflip/sweep/bp/w{w}",
            Job(
                z.bitflip,
                _net(w),
                "bp",
                seeds,
                z.sweep_tasks,
                z.sweep_probe_every,
                device=dev,
                snapshots=w == z.snapshot_width,
            ),
        )
    for iv in ("bp", "dropout"):
        out[f"bitflip/clone/{iv}"] = Job(
            z.bitflip, _net(5), iv, seeds, z.clone_tasks, 1, clone=2, device=dev, snapshots=True
        )
    for arch in ARCHS:
        tasks = z.shuffled_tasks if arch == "mlp" else z.cnn_tasks
        for iv in ("bp", *NORMS):
            out[f"digits/shuffled/{arch}/{iv}"] = Job(
                z.shuffled,
                _digits_net(arch, z.digits_lr),
                iv,
                digits_seeds,
                tasks,
                z.digits_probe_every,
                dtype="float32",
                device=dev,
            )
    out["digits/permuted/mlp/bp"] = Job(
        z.permuted,
        _digits_net("mlp", z.digits_lr),
        "bp",
        digits_seeds,
        z.permuted_tasks,
        max(z.digits_probe_every, z.permuted_tasks // 20),
        dtype="float32",
        device=dev,
    )
    return out


@functools.lru_cache(maxsize=2)
def sweep(config: Config) -> dict[str, Result]:
    """The results of ``jobs(config)``, through the executor the configuration asks for (computed
    once per configuration and shared by the checks)."""
    todo = jobs(config)
    unique = list(dict.fromkeys(todo.values()))
    with executor(config.workers, config.scheduler) as pool:
        results = map_jobs(run, unique, pool, progress=config.progress, desc="continual runs")
    by_job = dict(zip(unique, results))
    return {key: by_job[job] for key, job in todo.items()}


# ---- reading a run -------------------------------------------------------------------------------------


def error(r: Result) -> np.ndarray:
    """(S, tasks): online MSE per task (regression), or 1 − accuracy on the task after training."""
    h = r.history
    return h.loss if h.final_accuracy is None else 1.0 - h.final_accuracy


def _windows(tasks: int, window: float) -> tuple[np.ndarray, np.ndarray]:
    w = max(1, int(round(window * tasks)))
    start = 1 if tasks > w + 1 else 0
    return np.arange(start, min(tasks, start + w)), np.arange(tasks - w, tasks)


def task_window(r: Result, which: str, window: float, values: np.ndarray | None = None) -> np.ndarray:
    """Per seed, the mean of ``values`` (S, tasks; default the error) over the early or late window."""
    values = error(r) if values is None else values
    early, late = _windows(values.shape[1], window)
    return values[:, early if which == "early" else late].mean(1)


def probe_window(r: Result, key: str, which: str, window: float) -> np.ndarray:
    """Per seed, the mean of probe ``key`` over the probes after the early or in the late window
    (at least one probe each); effective rank is the mean over layers of r̃ / width."""
    v = r.probes[key]
    if key == "effective_rank":
        v = (v / np.asarray(r.job.net.units)[None, None, :]).mean(2)
    at = r.probes["task"][0]
    early, late = _windows(r.job.tasks, window)
    trained = np.nonzero(at >= 0)[0]
    if which == "early":
        pick = trained[at[trained] <= early[-1]]
        pick = pick if len(pick) else trained[:1]
    else:
        pick = np.nonzero(at >= late[0])[0]
        pick = pick if len(pick) else trained[-1:]
    return v[:, pick].mean(1)


def curve(
    values: np.ndarray, resamples: int = 500, seed: int = 0
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(mean, lo, hi) over seeds at every point of (S, points): a vectorized percentile bootstrap of the
    mean (the figures' bands)."""
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, values.shape[0], size=(resamples, values.shape[0]))
    means = values[idx].mean(1)
    return values.mean(0), np.percentile(means, 2.5, axis=0), np.percentile(means, 97.5, axis=0)


def _bins(r: Result) -> tuple[np.ndarray, np.ndarray]:
    """(x, per-seed values): the bit-flipping error binned by two tasks (20,000 steps), the digits
    error per task."""
    e = error(r)
    if isinstance(r.job.stream, BitFlip) and e.shape[1] >= 2:
        n = e.shape[1] // 2
        steps = 2 * r.job.stream.period
        return (np.arange(n) + 0.5) * steps, e[:, : 2 * n].reshape(e.shape[0], n, 2).mean(2)
    return np.arange(e.shape[1]), e


def _band(x: np.ndarray, values: np.ndarray, label: str, color: str) -> list[Series]:
    m, lo, hi = curve(values)
    return [
        Series("area", x, lo, y2=hi, style={"color": color, "alpha": 0.2}),
        Series("line", x, m, label, style={"color": color}),
    ]


def _xlabel(r: Result) -> str:
    return "step" if isinstance(r.job.stream, BitFlip) else "task"


def _probe_x(r: Result) -> np.ndarray:
    at = r.probes["task"][0].astype(float) + 1
    return at * r.job.stream.period if isinstance(r.job.stream, BitFlip) else at


PROBE_PANELS = (
    ("exact_dead", "exact dead (fraction)"),
    ("paper_dead", "paper dead (fraction)"),
    ("duplicates", "duplicates, cos > 0.95"),
    ("effective_rank", "effective rank / width"),
    ("trapped", "trapped parameters (fraction)"),
)


def _probe_values(r: Result, key: str) -> np.ndarray:
    v = r.probes[key]
    if key == "effective_rank":
        v = (v / np.asarray(r.job.net.units)[None, None, :]).mean(2)
    return v


def curves_figure(caption: str, runs: dict[str, Result], keys=PROBE_PANELS) -> Figure:
    """Error and every probe over training, one line (mean, 95% band over seeds) per run."""
    first = next(iter(runs.values()))
    panels = [
        Panel(
            [s for i, (name, r) in enumerate(runs.items()) for s in _band(*_bins(r), name, f"C{i}")],
            xlabel=_xlabel(first),
            ylabel="error (MSE, 2-task bins)"
            if isinstance(first.job.stream, BitFlip)
            else "error (1 − accuracy after the task)",
            legend="outside",
        )
    ]
    for key, label in keys:
        series = [
            s
            for i, (name, r) in enumerate(runs.items())
            for s in _band(_probe_x(r), _probe_values(r, key), name, f"C{i}")
        ]
        panels.append(Panel(series, xlabel=_xlabel(first), ylabel=label, legend=None))
    rows = -(-len(panels) // 3)
    return Figure(caption, panels, rows=rows, columns=3, width=11, height=3.0 * rows)


def _effect(values: np.ndarray, seed: int) -> dict[str, Any]:
    return bootstrap(values, seed=seed)


def _setting(config: Config, r: Result, **extra: Any) -> dict[str, Any]:
    job = r.job
    return {
        "stream": job.stream.describe(),
        "learner": job.net.describe(),
        "intervention": job.name,
        "seeds": len(job.seeds),
        "first_seed": job.seeds[0],
        "tasks": job.tasks,
        "dtype": job.dtype,
        "device": job.device,
        "quick": config.quick,
        "bootstrap": "percentile, 2000 resamples over seeds",
        **extra,
    }


def control(
    verdict: str,
    planted: str,
    caught: str,
    setting: dict[str, Any],
    measured: dict[str, Any],
    otherwise: str | None = None,
) -> Evidence:
    """A negative control's Evidence: ``planted`` violates the claim on purpose, so the decision must
    refute (``caught`` says what it saw); any other verdict is reported as not caught (or
    ``otherwise``, for an inconclusive one)."""
    if verdict == "refuted":
        summary = f"Control caught: {caught}"
    elif verdict == "inconclusive" and otherwise:
        summary = otherwise
    else:
        summary = f"CONTROL NOT CAUGHT: {planted} gave {verdict}."
    return Evidence(
        kind="numeric",
        verdict=verdict,
        summary=summary,
        setting={**setting, "control": True, "planted": planted},
        measured=measured,
        counterexample={"planted": planted, **measured} if verdict == "refuted" else None,
    )


# ---- continual.symptoms ------------------------------------------------------------------------------

SYMPTOMS = (("exact_dead", +1), ("paper_dead", +1), ("duplicates", +1), ("effective_rank", -1))


def symptoms(r: Result, window: float, seed: int, reverse_symptoms: bool = False) -> dict[str, Any]:
    """The late − early effect on the error and on every symptom, per seed, with intervals; with
    ``reverse_symptoms`` the symptoms are read from late to early (the negative control)."""
    effects = {"error": _effect(task_window(r, "late", window) - task_window(r, "early", window), seed)}
    for key, _ in (*SYMPTOMS, ("trapped", +1)):
        a, b = probe_window(r, key, "early", window), probe_window(r, key, "late", window)
        effects[key] = _effect(a - b if reverse_symptoms else b - a, seed)
    return effects


def symptoms_verdict(effects: dict[str, Any]) -> tuple[str, list[str], list[str]]:
    """(verdict, symptoms that moved as stated, those that did not). No loss of plasticity (the error
    does not rise) leaves nothing to coincide with: inconclusive."""
    if excludes_zero(effects["error"]) <= 0:
        return "inconclusive", [], []
    moved = [k for k, sign in SYMPTOMS if excludes_zero(effects[k]) == sign]
    missed = [k for k, _ in SYMPTOMS if k not in moved]
    verdict = "confirmed" if not missed else "qualified" if moved else "refuted"
    return verdict, moved, missed


def _fmt(e: dict[str, Any], digits: int = 3) -> str:
    lo, hi = e["ci95"]
    return f"{e['estimate']:+.{digits}g} [{lo:+.{digits}g}, {hi:+.{digits}g}]"


SYMPTOM_SETTINGS = {
    "bitflip": "bitflip/long/bp",
    "shuffled-mlp": "digits/shuffled/mlp/bp",
    "shuffled-cnn": "digits/shuffled/cnn/bp",
    "permuted-mlp": "digits/permuted/mlp/bp",
}


@check("continual.symptoms", "symptoms-{setting}", setting=tuple(SYMPTOM_SETTINGS))
def symptoms_check(config: Config, setting: str) -> Evidence:
    """Late − early: does the error rise while dead and duplicate fractions rise and effective rank
    falls (each with a 95% interval over seeds)?"""
    z = SIZES[config.quick]
    r = sweep(config)[SYMPTOM_SETTINGS[setting]]
    effects = symptoms(r, z.window, config.seed)
    verdict, moved, missed = symptoms_verdict(effects)
    words = "; ".join(f"{k} {_fmt(e)}" for k, e in effects.items())
    if verdict == "inconclusive":
        summary = f"No loss of plasticity to coincide with: the error does not rise (late − early: {words})."
    else:
        summary = (
            f"The error rises and {', '.join(moved) or 'no symptom'} move as stated"
            f"{'; not ' + ', '.join(missed) if missed else ''} (late − early, 95% CI: {words})."
        )
    counterexample = None
    if verdict == "refuted":
        counterexample = {
            "setting": setting,
            "effects": effects,
            "why": "the error rises but no symptom moves in the stated direction",
        }
    return Evidence(
        kind="numeric",
        verdict=verdict,
        summary=summary,
        setting=_setting(config, r, window=z.window),
        measured={"effects": effects, "moved": moved, "not_moved": missed},
        counterexample=counterexample,
        figures=[
            curves_figure(
                f"{setting}: error and symptoms over training (mean and 95% band over "
                f"{len(r.job.seeds)} seeds)",
                {"backprop": r},
            )
        ],
    )


@check("continual.symptoms", "control-symptoms-reversed")
def symptoms_control(config: Config) -> Evidence:
    """Negative control: the shuffled-label MLP's symptoms read backwards in time (late → early) while
    the error keeps its direction; the decision must refute "they move together"."""
    z = SIZES[config.quick]
    r = sweep(config)["digits/shuffled/mlp/bp"]
    effects = symptoms(r, z.window, config.seed, reverse_symptoms=True)
    verdict, moved, _ = symptoms_verdict(effects)
    return control(
        verdict,
        "symptoms read late → early",
        "with the symptoms reversed in time none moves as stated while the error rises, refuted.",
        _setting(config, r),
        {"effects": effects, "moved": moved},
    )


# ---- continual.normalization -------------------------------------------------------------------------

NORM_SETTINGS = {
    "shuffled-mlp": ("digits/shuffled/mlp", NORMS),
    "shuffled-cnn": ("digits/shuffled/cnn", NORMS),
    "bitflip-w5": ("bitflip/sweep", ("layernorm",)),
}
NORM_EFFECTS = (("exact_dead", -1), ("duplicates", -1), ("effective_rank", +1))


def _norm_runs(config: Config, setting: str) -> dict[str, Result]:
    prefix, norms = NORM_SETTINGS[setting]
    results = sweep(config)
    if prefix == "bitflip/sweep":
        w = SIZES[config.quick].sweep_widths[0]
        return {iv: results[f"{prefix}/{iv}/w{w}"] for iv in ("bp", *norms)}
    return {iv: results[f"{prefix}/{iv}"] for iv in ("bp", *norms)}


def normalization_effects(
    runs: dict[str, Result], window: float, seed: int, swap: bool = False
) -> dict[str, dict[str, Any]]:
    """Per norm, the late-window difference norm − none of every measure and of the error (per seed);
    ``swap`` exchanges the two (the negative control)."""
    base = runs["bp"]
    out = {}
    for norm, r in runs.items():
        if norm == "bp":
            continue
        a, b = (r, base) if not swap else (base, r)
        eff = {
            k: _effect(probe_window(a, k, "late", window) - probe_window(b, k, "late", window), seed)
            for k, _ in NORM_EFFECTS
        }
        eff["error"] = _effect(task_window(a, "late", window) - task_window(b, "late", window), seed)
        out[norm] = eff
    return out


def normalization_verdict(effects: dict[str, dict[str, Any]]) -> tuple[str, list[str], list[str]]:
    """confirmed: every norm lowers dead and duplicate fractions and raises effective rank (intervals
    exclude 0); refuted: some norm does the opposite of one of these significantly; otherwise
    qualified (the effects named that are not significant)."""
    held, against = [], []
    for norm, eff in effects.items():
        for k, sign in NORM_EFFECTS:
            s = excludes_zero(eff[k])
            (held if s == sign else against if s == -sign else []).append(f"{norm}:{k}")
    total = len(effects) * len(NORM_EFFECTS)
    if against:
        return "refuted", held, against
    return ("confirmed" if len(held) == total else "qualified"), held, against


@check("continual.normalization", "normalization-{setting}", setting=tuple(NORM_SETTINGS))
def normalization_check(config: Config, setting: str) -> Evidence:
    z = SIZES[config.quick]
    runs = _norm_runs(config, setting)
    effects = normalization_effects(runs, z.window, config.seed)
    verdict, held, against = normalization_verdict(effects)
    words = "; ".join(
        f"{n}: " + ", ".join(f"{k} {_fmt(e)}" for k, e in eff.items()) for n, eff in effects.items()
    )
    not_sig = [f"{n}:{k}" for n in effects for k, _ in NORM_EFFECTS if f"{n}:{k}" not in held + against]
    summary = f"Late window, norm − none (95% CI): {words}. " + (
        "As stated."
        if verdict == "confirmed"
        else f"Against the claim: {', '.join(against)}."
        if against
        else f"Not significant: {', '.join(not_sig)}."
    )
    if setting.startswith("bitflip"):
        summary += " (BatchNorm cannot run on a one-sample online stream: LayerNorm only.)"
    counterexample = (
        {"setting": setting, "against": against, "effects": effects} if verdict == "refuted" else None
    )
    return Evidence(
        kind="numeric",
        verdict=verdict,
        summary=summary,
        setting=_setting(config, runs["bp"], norms=[n for n in runs if n != "bp"], window=z.window),
        measured={"effects": effects, "as_stated": held, "against": against, "not_significant": not_sig},
        counterexample=counterexample,
        figures=[curves_figure(f"{setting}: none vs normalization (mean, 95% band over seeds)", runs)],
    )


@check("continual.normalization", "control-normalization-swapped")
def normalization_control(config: Config) -> Evidence:
    """Negative control: the shuffled-label MLP with the plain and normalized runs exchanged; the
    decision must refute."""
    z = SIZES[config.quick]
    runs = _norm_runs(config, "shuffled-mlp")
    effects = normalization_effects(runs, z.window, config.seed, swap=True)
    verdict, _, against = normalization_verdict(effects)
    return control(
        verdict,
        "plain and normalized runs exchanged",
        f"with plain and normalized runs exchanged {', '.join(against)} go against the claim, refuted.",
        _setting(config, runs["bp"]),
        {"effects": effects, "against": against},
    )


# ---- continual.cbp -----------------------------------------------------------------------------------


def rank_change(r: Result, window: float) -> np.ndarray:
    """Per seed, (late − early) / early effective rank (mean over layers)."""
    a, b = (
        probe_window(r, "effective_rank", "early", window),
        probe_window(r, "effective_rank", "late", window),
    )
    return (b - a) / np.where(a > 0, a, np.nan)


def cbp_verdict(bp: dict[str, Any], cbp: dict[str, Any], diff: dict[str, Any]) -> str:
    """confirmed: backprop's relative rank change is negative (interval below 0), continual backprop's
    interval lies within ±10% and its late rank is higher; refuted: continual backprop loses rank like
    backprop (its interval below −10%, or not higher); inconclusive when backprop loses nothing."""
    if excludes_zero(bp) >= 0:
        return "inconclusive"
    lo, hi = cbp["ci95"]
    stable = lo >= -STABLE and hi <= STABLE
    if stable and excludes_zero(diff) > 0:
        return "confirmed"
    if hi < -STABLE or excludes_zero(diff) <= 0:
        return "refuted"
    return "qualified"


def _cbp_decision(
    config: Config, cbp_key: str, bp_key: str = "bitflip/long/bp"
) -> tuple[str, dict[str, Any], Result, Result]:
    z = SIZES[config.quick]
    res = sweep(config)
    bp, cbp = res[bp_key], res[cbp_key]
    eb, ec = rank_change(bp, z.window), rank_change(cbp, z.window)
    late = probe_window(cbp, "effective_rank", "late", z.window) - probe_window(
        bp, "effective_rank", "late", z.window
    )
    effects = {
        "bp_relative_rank_change": _effect(eb, config.seed),
        "cbp_relative_rank_change": _effect(ec, config.seed),
        "late_rank_cbp_minus_bp": _effect(late, config.seed),
        "late_error_cbp_minus_bp": _effect(
            task_window(cbp, "late", z.window) - task_window(bp, "late", z.window), config.seed
        ),
        "units_replaced_per_run": float(cbp.history.replaced.sum(1).mean())
        if cbp.history.replaced is not None
        else 0.0,
    }
    verdict = cbp_verdict(
        effects["bp_relative_rank_change"],
        effects["cbp_relative_rank_change"],
        effects["late_rank_cbp_minus_bp"],
    )
    return verdict, effects, bp, cbp


@check("continual.cbp")
def cbp_rank(config: Config) -> Evidence:
    """Bit-flipping, 20-5-1 learner: relative change of effective rank from the early to the late
    window under backprop and continual backprop (the paper's text: contribution utility, decay 0.99,
    maturity 100, replacement rate 1e-4)."""
    verdict, effects, bp, cbp = _cbp_decision(config, "bitflip/long/cbp")
    e = effects
    summary = (
        f"Effective rank, relative change late vs early: backprop {_fmt(e['bp_relative_rank_change'])}, "
        f"continual backprop {_fmt(e['cbp_relative_rank_change'])}; late rank CBP − BP "
        f"{_fmt(e['late_rank_cbp_minus_bp'])}; late error CBP − BP {_fmt(e['late_error_cbp_minus_bp'])} "
        f"({e['units_replaced_per_run']:.0f} units replaced per run)."
    )
    counterexample = (
        {"effects": effects, "why": "continual backprop does not keep the rank stable"}
        if verdict == "refuted"
        else None
    )
    return Evidence(
        kind="numeric",
        verdict=verdict,
        summary=summary,
        setting=_setting(config, cbp, cbp=str(ivs.get("cbp").cbp), variant="paper text", stable_band=STABLE),
        measured=effects,
        counterexample=counterexample,
        figures=[
            curves_figure(
                "Bit-flipping: backprop vs continual backprop (mean, 95% band)",
                {"backprop": bp, "continual backprop": cbp},
            )
        ],
    )


@check("continual.cbp", "control-cbp-planted-collapse")
def cbp_control(config: Config) -> Evidence:
    """Negative control: a backprop run whose hidden layer is planted dead after the early window
    (``numerics.continual.collapse``: incoming weights 0, bias −1, a fixed point of SGD, so its late
    effective rank is exactly 0) given as both arms; the decision must refute "keeps rank stable"
    whatever the run's length, since the planted loss is exact (relative change −1 in every run)."""
    verdict, effects, r, _ = _cbp_decision(config, "bitflip/collapsed", "bitflip/collapsed")
    return control(
        verdict,
        "backprop collapsed after the early window, as both arms",
        "the planted collapse loses its rank in the continual-backprop arm too "
        f"({_fmt(effects['cbp_relative_rank_change'])}), refuted.",
        _setting(config, r, collapsed_after_task=r.job.collapse + 1),
        {"effects": effects},
    )


def cbp_rate_effects(config: Config) -> dict[str, dict[str, Any]]:
    """Per replacement rate of the sweep: the continual.cbp decision against backprop and its effects
    (relative rank change, late rank and late error against backprop, units replaced per run)."""
    out = {}
    for rate in SIZES[config.quick].cbp_rates:
        verdict, effects, _, _ = _cbp_decision(config, cbp_rate_key(rate))
        out[f"{rate:g}"] = {"verdict": verdict, **effects}
    return out


def cbp_rates_verdict(per_rate: dict[str, dict[str, Any]]) -> tuple[str, list[str]]:
    """(verdict, rates at which continual backprop keeps the rank stable): confirmed at every rate,
    qualified at some, refuted at none while backprop loses rank, inconclusive when backprop loses
    nothing (every rate's decision inconclusive)."""
    verdicts = {r: e["verdict"] for r, e in per_rate.items()}
    stable = [r for r, v in verdicts.items() if v == "confirmed"]
    if all(v == "inconclusive" for v in verdicts.values()):
        return "inconclusive", stable
    if len(stable) == len(verdicts):
        return "confirmed", stable
    return ("qualified" if stable else "refuted"), stable


def _rate_figure(per_rate: dict[str, dict[str, Any]], seeds: int) -> Figure:
    rates = np.array([float(r) for r in per_rate])
    panels = []
    for key, label in (
        ("cbp_relative_rank_change", "relative change of effective rank, late vs early"),
        ("late_rank_cbp_minus_bp", "late effective rank, CBP − backprop"),
        ("late_error_cbp_minus_bp", "late error, CBP − backprop"),
    ):
        est = np.array([e[key]["estimate"] for e in per_rate.values()])
        lo = np.array([e[key]["ci95"][0] for e in per_rate.values()])
        hi = np.array([e[key]["ci95"][1] for e in per_rate.values()])
        series = [
            Series("area", rates, lo, y2=hi, style={"color": "C1", "alpha": 0.25}),
            Series("line", rates, est, "continual backprop", style={"color": "C1", "marker": "o"}),
            Series("hline", y=0.0, style={"color": "black", "linestyle": "dotted"}),
        ]
        if key == "cbp_relative_rank_change":
            b = next(iter(per_rate.values()))["bp_relative_rank_change"]
            series += [
                Series(
                    "hline", y=b["estimate"], label="backprop", style={"color": "C0", "linestyle": "dashed"}
                ),
                Series("hline", y=-STABLE, label=f"±{STABLE:.0%} (stable)", style={"color": "grey"}),
                Series("hline", y=STABLE, style={"color": "grey"}),
            ]
        panels.append(Panel(series, xlabel="replacement rate", ylabel=label, xscale="log", legend="best"))
    return Figure(
        f"Continual backprop's replacement rate: effects with 95% bootstrap intervals over {seeds} seeds",
        panels,
        columns=3,
        width=11,
        height=3.4,
    )


@check("continual.cbp")
def cbp_rates(config: Config) -> Evidence:
    """Continual backprop's replacement rate swept (1e-6 … 1e-2 full): at which rates does it keep the
    effective rank stable where backprop loses it (the decision of ``cbp_rank`` at every rate)?"""
    z = SIZES[config.quick]
    per_rate = cbp_rate_effects(config)
    verdict, stable = cbp_rates_verdict(per_rate)
    words = "; ".join(
        f"{r}: {e['verdict']}, rank change {_fmt(e['cbp_relative_rank_change'], 2)}, late error − BP "
        f"{_fmt(e['late_error_cbp_minus_bp'], 2)}, {e['units_replaced_per_run']:.0f} replaced"
        for r, e in per_rate.items()
    )
    bp = next(iter(per_rate.values()))["bp_relative_rank_change"]
    summary = (
        f"Backprop's rank change {_fmt(bp, 2)}; continual backprop keeps it stable at "
        f"{', '.join(stable) or 'no rate'} of {', '.join(per_rate)} ({words})."
    )
    counterexample = {"per_rate": per_rate} if verdict == "refuted" else None
    r0 = sweep(config)[cbp_rate_key(z.cbp_rates[0])]
    return Evidence(
        kind="numeric",
        verdict=verdict,
        summary=summary,
        setting=_setting(config, r0, intervention="cbp", rates=list(z.cbp_rates), stable_band=STABLE),
        measured={"per_rate": per_rate, "stable_at": stable},
        counterexample=counterexample,
        figures=[_rate_figure(per_rate, len(r0.job.seeds))],
    )


@check("continual.cbp")
def cbp_duplicates(config: Config) -> Evidence:
    """Under backprop, do more duplicate features appear as width grows? Spearman correlation of the
    late duplicate fraction with width across runs (bootstrap over runs), and exact clone blocks."""
    z = SIZES[config.quick]
    res = sweep(config)
    runs = {w: res[f"bitflip/sweep/bp/w{w}"] for w in z.duplicate_widths}
    widths = np.concatenate([np.full(len(r.job.seeds), w, dtype=float) for w, r in runs.items()])
    dup = np.concatenate([probe_window(r, "duplicates", "late", z.window) for r in runs.values()])
    exact = np.concatenate([probe_window(r, "clone_redundancy", "late", z.window) for r in runs.values()])
    rho = spearman(widths, dup, seed=config.seed)
    per_width = {
        str(w): _effect(probe_window(r, "duplicates", "late", z.window), config.seed) for w, r in runs.items()
    }
    s = excludes_zero(rho)
    verdict = "confirmed" if s > 0 else "refuted" if s < 0 else "inconclusive"
    summary = (
        f"Late duplicate fraction by width {', '.join(f'{w}: {_fmt(e)}' for w, e in per_width.items())}; "
        f"Spearman(width, duplicates) {_fmt(rho)} over {len(dup)} runs; exact clone redundancy at most "
        f"{exact.max():.3g} (duplicates are approximate, never exact clones)."
    )
    counterexample = {"spearman": rho, "per_width": per_width} if verdict == "refuted" else None
    return Evidence(
        kind="numeric",
        verdict=verdict,
        summary=summary,
        setting=_setting(config, runs[z.duplicate_widths[0]], widths=list(z.duplicate_widths)),
        measured={
            "spearman_width_duplicates": rho,
            "duplicates_by_width": per_width,
            "max_exact_clone_redundancy": float(exact.max()),
        },
        counterexample=counterexample,
        figures=[
            curves_figure(
                "Backprop on bit-flipping by width (mean, 95% band)",
                {f"width {w}": r for w, r in runs.items()},
                keys=(("duplicates", "duplicates, cos > 0.95"), ("exact_dead", "exact dead (fraction)")),
            )
        ],
    )


# ---- continual.dropout -------------------------------------------------------------------------------


def escape(r: Result) -> dict[str, Any]:
    """Off-equitable distance of the ×2 clone at the end, per seed, and the exact clone redundancy at
    the start and the end."""
    d = r.probes["clone_distance"][:, -1]
    red = r.probes["clone_redundancy"]
    return {
        "distance_end": d,
        "escaped": d > CLONE_TOL,
        "redundancy_start": red[:, 0],
        "redundancy_end": red[:, -1],
    }


def escape_verdict(e: dict[str, Any]) -> str:
    """confirmed: every run left the clone manifold (distance > tolerance) and its exact clone blocks
    split; refuted when no run did."""
    if e["escaped"].all() and (e["redundancy_end"] < e["redundancy_start"]).all():
        return "confirmed"
    return "refuted" if not e["escaped"].any() else "qualified"


def _graph_figures(r: Result, label: str, picks: int = 3) -> list[Figure]:
    snaps = r.snapshots
    if not snaps:
        return []
    chosen = [snaps[i] for i in sorted({0, len(snaps) // 2, len(snaps) - 1})][:picks]
    out = []
    for s in chosen:
        G = unit_graph(s.network, s.activations, dead=s.dead)
        when = "before training" if s.task < 0 else f"after task {s.task + 1}"
        out.append(
            Figure(
                f"{label}, first seed, {when}: unit-equivalence graph (exact clones solid, "
                f"cosine > 0.95 dashed, dead crossed)",
                graph=graph_data(G, f"{label}: {when}"),
            )
        )
    return out


@check("continual.dropout")
def dropout_clone_escape(config: Config) -> Evidence:
    """Runs started from an exact ×2 clone of the 20-5-1 learner (on M_D) on bit-flipping, with and
    without dropout (p = 0.1): does dropout leave the clone manifold where backprop stays?"""
    res = sweep(config)
    bp, do = res["bitflip/clone/bp"], res["bitflip/clone/dropout"]
    eb, ed = escape(bp), escape(do)
    verdict = escape_verdict(ed)
    stays = not eb["escaped"].any()
    if verdict == "confirmed" and not stays:
        verdict = "qualified"  # plain backprop left the manifold too: dropout is not what made it escape
    late = _effect(
        task_window(do, "late", SIZES[config.quick].window)
        - task_window(bp, "late", SIZES[config.quick].window),
        config.seed,
    )
    summary = (
        f"From an exact ×2 clone: with dropout {int(ed['escaped'].sum())}/{len(ed['escaped'])} runs left "
        f"the clone manifold (median off-equitable entry {np.median(ed['distance_end']):.2g}, exact clone "
        f"redundancy {ed['redundancy_start'].mean():.2f} → {ed['redundancy_end'].mean():.2f}); backprop: "
        f"{int(eb['escaped'].sum())} runs (largest entry {eb['distance_end'].max():.2g}). Late error "
        f"dropout − backprop {_fmt(late)}."
    )
    measured = {
        "dropout": {k: np.asarray(v).tolist() for k, v in ed.items()},
        "backprop": {k: np.asarray(v).tolist() for k, v in eb.items()},
        "late_error_dropout_minus_bp": late,
    }
    counterexample = {"why": "no dropout run left the clone manifold"} if verdict == "refuted" else None
    return Evidence(
        kind="numeric",
        verdict=verdict,
        summary=summary,
        setting=_setting(
            config, do, start="exact ×2 clone (equal split) of the 20-5-1 learner", tolerance=CLONE_TOL
        ),
        measured=measured,
        counterexample=counterexample,
        figures=[
            curves_figure(
                "From an exact ×2 clone: backprop vs dropout (mean, 95% band)",
                {"backprop": bp, "dropout": do},
                keys=(
                    ("clone_distance", "off-equitable distance"),
                    ("clone_redundancy", "exact clone redundancy"),
                    ("exact_dead", "exact dead (fraction)"),
                ),
            ),
            *_graph_figures(do, "dropout from a ×2 clone"),
        ],
    )


@check("continual.dropout", "control-escape-without-dropout")
def dropout_control(config: Config) -> Evidence:
    """Negative control: the escape decision applied to the clone trained without dropout; it must
    refute "leaves the clone manifold"."""
    r = sweep(config)["bitflip/clone/bp"]
    e = escape(r)
    return control(
        escape_verdict(e),
        "backprop from a clone, no dropout",
        "without dropout no run left the "
        f"clone manifold (largest off-equitable entry {e['distance_end'].max():.2g} ≤ {CLONE_TOL:g}), "
        "refuted.",
        _setting(config, r),
        {k: np.asarray(v).tolist() for k, v in e.items()},
    )


@check("continual.dropout")
def dropout_bitflip(config: Config) -> Evidence:
    """Bit-flipping, every width of the sweep: late error with dropout minus without; the claim holds
    where dropout is neutral (interval contains 0) or harmful (above 0)."""
    z = SIZES[config.quick]
    res = sweep(config)
    if "dropout" not in z.sweep_interventions:
        raise ValueError("the sweep has no dropout runs")
    effects = {
        str(w): _effect(
            task_window(res[f"bitflip/sweep/dropout/w{w}"], "late", z.window)
            - task_window(res[f"bitflip/sweep/bp/w{w}"], "late", z.window),
            config.seed,
        )
        for w in z.sweep_widths
    }
    signs = {w: excludes_zero(e) for w, e in effects.items()}
    helps = [w for w, s in signs.items() if s < 0]
    verdict = "refuted" if helps and len(helps) == len(signs) else "qualified" if helps else "confirmed"
    words = ", ".join(
        f"width {w}: {_fmt(e)} ({'harmful' if signs[w] > 0 else 'helps' if signs[w] < 0 else 'neutral'})"
        for w, e in effects.items()
    )
    summary = f"Late error, dropout − backprop (95% CI): {words}."
    counterexample = (
        {"widths_where_dropout_helps": helps, "effects": effects} if verdict == "refuted" else None
    )
    w0 = z.sweep_widths[0]
    return Evidence(
        kind="numeric",
        verdict=verdict,
        summary=summary,
        setting=_setting(config, res[f"bitflip/sweep/dropout/w{w0}"], widths=list(z.sweep_widths)),
        measured={"late_error_dropout_minus_bp": effects, "helps_at": helps},
        counterexample=counterexample,
        figures=[
            curves_figure(
                f"Bit-flipping, width {w0}: backprop vs dropout (mean, 95% band)",
                {"backprop": res[f"bitflip/sweep/bp/w{w0}"], "dropout": res[f"bitflip/sweep/dropout/w{w0}"]},
            )
        ],
    )


# ---- continual.manifolds -----------------------------------------------------------------------------


@dataclass
class Runs:
    """One row per run of the sweep: its configuration, the late trapped fraction (and the paper's
    measures) and its loss of plasticity."""

    intervention: list[str] = field(default_factory=list)
    width: list[int] = field(default_factory=list)
    seed: list[int] = field(default_factory=list)
    measures: dict[str, list[float]] = field(default_factory=dict)
    plasticity_loss: list[float] = field(default_factory=list)

    def array(self, key: str) -> np.ndarray:
        return np.asarray(self.measures[key] if key in self.measures else getattr(self, key), dtype=float)

    @property
    def groups(self) -> np.ndarray:
        return np.array([f"{i}/w{w}" for i, w in zip(self.intervention, self.width)])


PREDICTORS = ("trapped", "exact_dead", "paper_dead", "duplicates", "effective_rank")


def manifold_runs(config: Config) -> Runs:
    """Every run of the intervention × width sweep: the late-window trapped fraction (and the other
    measures), and its loss of plasticity, late − early error relative to the early error."""
    z = SIZES[config.quick]
    res = sweep(config)
    out = Runs()
    for w in z.sweep_widths:
        for iv in z.sweep_interventions:
            r = res[f"bitflip/sweep/{iv}/w{w}"]
            early, late = task_window(r, "early", z.window), task_window(r, "late", z.window)
            out.plasticity_loss += list((late - early) / early)
            for key in PREDICTORS:
                out.measures.setdefault(key, []).extend(probe_window(r, key, "late", z.window))
            out.intervention += [iv] * len(r.job.seeds)
            out.width += [w] * len(r.job.seeds)
            out.seed += list(r.job.seeds)
    return out


def _ranks(v: np.ndarray) -> np.ndarray:
    """Centred ranks along the last axis, ties averaged, scaled to (−½, ½)."""
    n = v.shape[-1]
    return (stats.rankdata(v, axis=-1) - 0.5) / n - 0.5


def _corr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of every row of a with the same row of b (nan for a constant row)."""
    a = a - a.mean(-1, keepdims=True)
    b = b - b.mean(-1, keepdims=True)
    den = np.sqrt((a * a).sum(-1) * (b * b).sum(-1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (a * b).sum(-1) / den, np.nan)


def spearman(
    x: np.ndarray, y: np.ndarray, groups: np.ndarray | None = None, seed: int = 0, resamples: int = 2000
) -> dict[str, Any]:
    """Spearman ρ of x and y with a percentile-bootstrap 95% interval over runs. With ``groups``: x and
    y are ranked within every group (a configuration) and the centred ranks pooled — does x order the
    runs of one configuration as y does? — resampling runs within each group."""
    rng = np.random.default_rng(seed)
    labels = np.zeros(len(x), dtype=int) if groups is None else np.unique(groups, return_inverse=True)[1]
    if groups is None:
        idx = [np.arange(len(x))]
        draws = [rng.integers(0, len(x), size=(resamples, len(x)))]
    else:
        idx = [np.nonzero(labels == g)[0] for g in np.unique(labels)]
        draws = [rng.integers(0, len(i), size=(resamples, len(i))) for i in idx]

    def rho(pick: list[np.ndarray]) -> np.ndarray:
        rx = np.concatenate([_ranks(x[i][p]) for i, p in zip(idx, pick)], -1)
        ry = np.concatenate([_ranks(y[i][p]) for i, p in zip(idx, pick)], -1)
        return _corr(rx, ry)

    est = float(rho([np.arange(len(i)) for i in idx]))
    boot = rho(draws)
    boot = boot[np.isfinite(boot)]
    lo, hi = np.percentile(boot, [2.5, 97.5]) if len(boot) else (np.nan, np.nan)
    return {"estimate": est, "ci95": [float(lo), float(hi)], "n": int(len(x))}


CONTROL_PAIRS = 300  # the shuffled-pairing control pairs every run with at least this many / runs others


def shuffled_pairs(n: int, seed: int, pairs: int = CONTROL_PAIRS) -> tuple[np.ndarray, np.ndarray]:
    """(predictor run, plasticity run) index pairs for the negative control: the runs in a random order,
    each paired with the K runs after it cyclically (K = ⌈pairs / n⌉, at most n − 1), so no run is
    paired with itself and every run's loss is used K times: ≥ ``pairs`` pairs with no association."""
    if n < 2:
        raise ValueError(f"the shuffled pairing needs at least 2 runs (got {n})")
    order = np.random.default_rng(seed).permutation(n)
    k = min(n - 1, -(-pairs // n))
    return np.tile(order, k), np.concatenate([np.roll(order, -j) for j in range(1, k + 1)])


def manifold_effects(runs: Runs, seed: int, shuffle: bool = False) -> dict[str, Any]:
    """Across runs, Spearman ρ of every predictor with the loss of plasticity (bootstrap over runs),
    pooled and within configurations; ``shuffle`` pairs each run's predictor with other runs' losses
    (``shuffled_pairs``: the negative control, with enough pairs to refute an association)."""
    y = runs.array("plasticity_loss")
    groups = runs.groups
    pick = np.arange(len(y))
    if shuffle:
        pick, other = shuffled_pairs(len(y), seed)
        y, groups = y[other], groups[pick]
    out = {}
    for key in PREDICTORS:
        x = runs.array(key)[pick] * (-1.0 if key == "effective_rank" else 1.0)  # a low rank is the symptom
        out[key] = {
            "pooled": spearman(x, y, seed=seed),
            "within_configurations": spearman(x, y, groups, seed),
        }
    return out


def manifolds_verdict(effects: dict[str, Any]) -> str:
    """confirmed: the trapped fraction predicts the loss of plasticity across runs and across the
    seeds of each configuration (both intervals above 0); qualified: only pooled (it separates
    interventions and widths, not seeds); refuted: the pooled interval lies below ``RHO_WEAK`` (at
    most a weak association); inconclusive otherwise (too few runs to tell)."""
    t = effects["trapped"]
    if excludes_zero(t["pooled"]) > 0:
        return "confirmed" if excludes_zero(t["within_configurations"]) > 0 else "qualified"
    return "refuted" if t["pooled"]["ci95"][1] < RHO_WEAK else "inconclusive"


def per_group(runs: Runs, labels: np.ndarray, seed: int) -> dict[str, dict[str, Any]]:
    """Per label (a configuration, or an intervention over widths): the mean trapped fraction and loss of
    plasticity with bootstrap intervals over its runs, and Spearman ρ of the two within it."""
    x, y = runs.array("trapped"), runs.array("plasticity_loss")
    out = {}
    for g in dict.fromkeys(labels.tolist()):
        m = labels == g
        out[g] = {
            "trapped": _effect(x[m], seed),
            "plasticity_loss": _effect(y[m], seed),
            "spearman": spearman(x[m], y[m], seed=seed),
        }
    return out


def counter_cases(runs: Runs, limit: int = 4) -> dict[str, list[dict[str, Any]]]:
    """Runs far off the trend: trapped in the top quarter but plasticity loss in the bottom quarter,
    and the reverse."""
    x, y = runs.array("trapped"), runs.array("plasticity_loss")
    qx, qy = np.quantile(x, [0.25, 0.75]), np.quantile(y, [0.25, 0.75])

    def rows(mask: np.ndarray) -> list[dict[str, Any]]:
        idx = np.nonzero(mask)[0][:limit]
        return [
            {
                "intervention": runs.intervention[i],
                "width": runs.width[i],
                "seed": runs.seed[i],
                "trapped": float(x[i]),
                "plasticity_loss": float(y[i]),
            }
            for i in idx
        ]

    return {
        "trapped_but_plastic": rows((x >= qx[1]) & (y <= qy[0]) & (x > 0)),
        "plasticity_lost_untrapped": rows((x <= qx[0]) & (y >= qy[1])),
    }


def _scatter(runs: Runs) -> Figure:
    x, y = runs.array("trapped"), runs.array("plasticity_loss")
    names = list(dict.fromkeys(runs.intervention))
    series = []
    for i, name in enumerate(names):
        m = np.array([iv == name for iv in runs.intervention])
        series.append(
            Series(
                "line",
                x[m],
                y[m],
                name,
                style={
                    "linestyle": "none",
                    "marker": "o",
                    "markersize": 3,
                    "color": f"C{i % 10}",
                    "alpha": 0.7,
                },
            )
        )
    return Figure(
        "Every run of the sweep: late trapped fraction vs loss of plasticity (late/early error − 1)",
        [
            Panel(
                series,
                xlabel="trapped parameters (fraction, late window)",
                ylabel="loss of plasticity",
                legend="outside",
            )
        ],
        width=7.5,
        height=4.0,
    )


@check("continual.manifolds")
def manifolds_trapped(config: Config) -> Evidence:
    """Across seeds, interventions and widths of the bit-flipping sweep: does the trapped dimension
    (parameters pinned by frozen and cloned structure) predict the loss of plasticity?"""
    z = SIZES[config.quick]
    runs = manifold_runs(config)
    effects = manifold_effects(runs, config.seed)
    verdict = manifolds_verdict(effects)
    t = effects["trapped"]
    others = ", ".join(f"{k} {_fmt(effects[k]['pooled'], 2)}" for k in PREDICTORS if k != "trapped")
    cases = counter_cases(runs)
    summary = (
        f"Spearman ρ(trapped fraction, loss of plasticity) over {len(runs.seed)} runs: pooled "
        f"{_fmt(t['pooled'], 2)}, within configurations {_fmt(t['within_configurations'], 2)}; the paper's "
        f"measures pooled: {others} (effective rank sign-flipped). Counter-cases: "
        f"{len(cases['trapped_but_plastic'])} trapped-but-plastic, {len(cases['plasticity_lost_untrapped'])} "
        "lost-plasticity-untrapped (listed)."
    )
    counterexample = (
        {"why": "the trapped fraction does not predict the loss of plasticity", "effects": t, **cases}
        if verdict == "refuted"
        else None
    )
    res = sweep(config)
    w0 = z.sweep_widths[0]
    curve_runs = {iv: res[f"bitflip/sweep/{iv}/w{w0}"] for iv in z.sweep_interventions}
    snap = res.get(f"bitflip/sweep/bp/w{z.snapshot_width}")
    by_config = per_group(runs, runs.groups, config.seed)
    by_intervention = per_group(runs, np.asarray(runs.intervention), config.seed)
    return Evidence(
        kind="numeric",
        verdict=verdict,
        summary=summary,
        setting=_setting(
            config,
            curve_runs["bp"],
            interventions=list(z.sweep_interventions),
            widths=list(z.sweep_widths),
            plasticity_loss="(late − early error) / early error, windows of 20% of the tasks",
            trapped="numerics.metrics.manifold_dimension via numerics.unitgraph.manifold",
        ),
        measured={
            "spearman": effects,
            "counter_cases": cases,
            "by_configuration": by_config,
            "by_intervention": by_intervention,
            "runs": len(runs.seed),
        },
        counterexample=counterexample,
        figures=[
            _scatter(runs),
            curves_figure(f"Bit-flipping, width {w0}: every intervention (mean, 95% band)", curve_runs),
            *(_graph_figures(snap, f"backprop, width {z.snapshot_width}") if snap else []),
        ],
    )


@check("continual.manifolds", "control-shuffled-pairing")
def manifolds_control(config: Config) -> Evidence:
    """Negative control: every run's trapped fraction paired with the losses of plasticity of other
    runs (``shuffled_pairs``: at least ``CONTROL_PAIRS`` pairs, none a run with itself); the decision
    must refute "it predicts"."""
    runs = manifold_runs(config)
    effects = manifold_effects(runs, config.seed, shuffle=True)
    t = effects["trapped"]["pooled"]
    return control(
        manifolds_verdict(effects),
        "plasticity losses of other runs",
        f"paired with other runs' losses ({t['n']} pairs of {len(runs.seed)} runs), ρ = {_fmt(t, 2)}, "
        f"whose interval lies below {RHO_WEAK}: refuted.",
        {"quick": config.quick, "runs": len(runs.seed)},
        {"spearman": effects},
    )
