"""The measures the field uses, against exact ground truth: the checks of the claims ``metrics.*``.

Every check runs on the same suite of generated models (``cases.modules.planted``: MLPs and CNNs with
residual blocks, any activation style) with planted ground truth — exactly dead units, a unit active
on exactly one sample, live clone pairs and triples, dead clone pairs — and asks one question of one
measure: *does it flag exactly the units the exact answer flags?* Precision and recall are over
units, pooled over the suite. The exact answers are the model's own recorded pre-activations (dead:
z in the flat set on every sample) and the planted clone blocks. A measure that disagrees is refuted
with the unit that shows it; what a measure depends on that it should not (batch size, cloning,
sample count) is measured beside it by changing only that.

Controls (``setting.control``) break a hypothesis on purpose and must come out refuted: the exact
probe asked to call a unit active on one sample dead, the exact partition asked to call a 1e-6
near-clone a clone, the rank of a layer predicted as its width.

Every size read from ``config.quick`` is in ``SIZES``.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from cases import modules as gen
from numerics import metrics as M
from numerics import probes as P
from theory import activations
from theory.claims import check
from theory.evidence import Config, Evidence, Figure, Panel, Series


@dataclass(frozen=True)
class Sizes:
    """Every size the metrics checks use: ``SIZES[config.quick]``."""

    models: int            # planted models in the suite
    samples: int           # samples per model
    subsample: int         # the "few samples" of the sample-count dependence
    steps: int             # training steps the certificate must survive (per optimizer)
    replicas: tuple[int, ...]  # data replications: the batch size grows, nothing else changes
    rank_rows: int         # rows the paper's code keeps for its SVD (1024)


SIZES: dict[bool, Sizes] = {
    False: Sizes(models=24, samples=512, subsample=32, steps=20, replicas=(1, 4, 16), rank_rows=1024),
    True: Sizes(models=6, samples=96, subsample=16, steps=5, replicas=(1, 4), rank_rows=48),
}


# ---- the suite ---------------------------------------------------------------------------------------

@dataclass
class _Case:
    planted: gen.Planted
    measured: P.Measurement
    dead: list[torch.Tensor]  # the exact answer: z in the flat set on every sample (model's own record)


@functools.lru_cache(maxsize=4)
def _suite(seed: int, quick: bool) -> tuple[_Case, ...]:
    sizes = SIZES[quick]
    out = []
    for k in range(sizes.models):
        case = gen.planted(1000 * seed + k, sizes.samples)
        measured = P.measure(case.model, case.X, case.y, batch_size=32)
        dead = [M.flat_mask(z, case.spec.activation).all(0) for z in case.z]
        out.append(_Case(case, measured, dead))
    return tuple(out)


def _confusion(pairs: list[tuple[torch.Tensor, torch.Tensor]]) -> dict[str, Any]:
    """Pooled precision and recall of predicted unit masks against true ones."""
    tp = sum(int((p & t).sum()) for p, t in pairs)
    fp = sum(int((p & ~t).sum()) for p, t in pairs)
    fn = sum(int((~p & t).sum()) for p, t in pairs)
    return {"true_positive": tp, "false_positive": fp, "false_negative": fn,
            "precision": tp / (tp + fp) if tp + fp else None, "recall": tp / (tp + fn) if tp + fn else None}


def _pct(x: float | None) -> str:
    return "n/a (nothing flagged)" if x is None else f"{x:.2f}"


def _first_mismatch(cases: tuple[_Case, ...], predicted, truth, what: str) -> dict[str, Any] | None:
    """The first unit where ``predicted(case, site)`` and ``truth(case, site)`` disagree."""
    for i, c in enumerate(cases):
        for site, layer in enumerate(c.measured.layers):
            p, t = predicted(c, site), truth(c, site)
            bad = (p != t).nonzero().flatten()
            if len(bad):
                unit = int(bad[0])
                z = c.planted.z[site][:, unit]
                return {"model": i, "spec": repr(c.planted.spec), "site": layer.name, "unit": unit,
                        "measure_says": bool(p[unit]), "exact_says": bool(t[unit]), "what": what,
                        "activation": c.planted.spec.activation,
                        "samples_in_flat_set": int(M.flat_mask(z, c.planted.spec.activation).sum()),
                        "samples": int(z.numel()), "z_max": float(z.max()), "z_min": float(z.min())}
    return None


def _setting(config: Config, cases: tuple[_Case, ...], **extra: Any) -> dict[str, Any]:
    specs = [c.planted.spec for c in cases]
    return {"models": len(cases), "samples": SIZES[config.quick].samples, "seed": config.seed,
            "suite": "cases.modules.planted: MLP/CNN, plain and residual blocks, module/function/method "
                     "activations; dead units 0-1, a unit active on one sample, clone pair, dead clone pair, "
                     "clone triple, a quiet unit (outgoing weights 0)",
            "kinds": sorted({s.kind for s in specs}), "activations": sorted({s.activation for s in specs}),
            **extra}


def _bars(rows: dict[str, dict[str, Any]], caption: str) -> Figure:
    names = list(rows)
    x = np.arange(len(names), dtype=float)
    return Figure(caption, [Panel([
        Series("bar", (x - 0.2).tolist(), [rows[n]["precision"] or 0.0 for n in names],
               "precision (0: nothing flagged)", style={"color": "C0", "width": 0.4}),
        Series("bar", (x + 0.2).tolist(), [rows[n]["recall"] or 0.0 for n in names], "recall",
               style={"color": "C1", "width": 0.4})],
        ylabel="against the exact answer", ylim=[0, 1.05], xticks=x.tolist(), xticklabels=names)])


def _verdict_of_measure(confusion: dict[str, Any], counterexample: dict[str, Any] | None) -> str:
    exact = confusion["false_positive"] == 0 and confusion["false_negative"] == 0
    return "confirmed" if exact else "refuted" if counterexample else "inconclusive"


# ---- metrics.dead ------------------------------------------------------------------------------------

def _dead_masks(c: _Case, site: int, measure: str, n: int | None = None) -> torch.Tensor:
    layer = c.measured.layers[site]
    if measure == "exact":
        return layer.masks["exact_dead"]
    if measure == "certified":
        return layer.masks["certified_dead"]
    z = c.planted.z[site] if n is None else _rows(c, site, n)
    h = _activation(c)(z)
    if measure == "paper":
        return M.paper_dead(h)
    tau = float(measure.split("-")[1])
    return M.dormant(h, tau)


def _rows(c: _Case, site: int, n: int) -> torch.Tensor:
    """z of the first n data samples (all positions of each)."""
    z = c.planted.z[site]
    return z[: n * (z.shape[0] // len(c.planted.X))]


def _activation(c: _Case):
    return activations.get(c.planted.spec.activation).torch_fn


def _dead_evidence(config: Config, measure: str) -> Evidence:
    sizes = SIZES[config.quick]
    cases = _suite(config.seed, config.quick)
    pairs = [(_dead_masks(c, s, measure), c.dead[s]) for c in cases for s in range(len(c.dead))]
    conf = _confusion(pairs)
    few = _confusion([(_dead_masks(c, s, measure, sizes.subsample),
                       M.flat_mask(_rows(c, s, sizes.subsample), c.planted.spec.activation).all(0))
                      for c in cases for s in range(len(c.dead))])
    counter = _first_mismatch(cases, lambda c, s: _dead_masks(c, s, measure), lambda c, s: c.dead[s],
                              f"{measure} dead against exactly dead")
    measured = {"measure": measure, **conf, f"on_{sizes.subsample}_samples": few,
                "per_activation": {a: _confusion([(_dead_masks(c, s, measure), c.dead[s]) for c in cases
                                                  if c.planted.spec.activation == a
                                                  for s in range(len(c.dead))])
                                   for a in sorted({c.planted.spec.activation for c in cases})}}
    verdict = _verdict_of_measure(conf, counter)
    definition = {"exact": "z in the activation's flat set on every sample (the probe, on any nn.Module)",
                  "paper": "|h| < 1e-7 on more than 95% of samples (App. B.2)",
                  "redo-0.025": "ReDo: E|h_j| / mean_k E|h_k| ≤ 0.025",
                  "redo-0.1": "ReDo: E|h_j| / mean_k E|h_k| ≤ 0.1"}[measure]
    if verdict == "confirmed":
        summary = (f"{measure} dead agrees with exact death on every unit: {conf['true_positive']} dead "
                   "units "
                   f"found, none extra, in {len(cases)} planted models.")
    else:
        summary = (f"{measure} dead is not exact death: precision {_pct(conf['precision'])}, recall "
                   f"{_pct(conf['recall'])} over {len(cases)} planted models; e.g. a "
                   f"{counter['activation']} unit "
                   f"in its flat set on {counter['samples_in_flat_set']} of {counter['samples']} samples is "
                   f"called {'dead' if counter['measure_says'] else 'alive'}.")
    return Evidence(kind="numeric", verdict=verdict, summary=summary,
                    setting=_setting(config, cases, measure=measure, definition=definition),
                    measured=measured, counterexample=counter if verdict == "refuted" else None,
                    figures=[_bars({"all samples": conf, f"{sizes.subsample} samples": few},
                                   f"{measure} dead against exact death, pooled over the planted suite")])


@check("metrics.dead", "dead-{measure}", measure=("exact", "paper", "redo-0.025", "redo-0.1"))
def dead_measure(config: Config, measure: str) -> Evidence:
    """One dead-unit measure against exact death (z in the flat set on every sample, as the models
    record it themselves), pooled over the planted suite, on all samples and on a few."""
    return _dead_evidence(config, measure)


@check("metrics.dead")
def dead_certified(config: Config) -> Evidence:
    """The certificate's promise on every planted model: certified ⊆ exactly dead now, and every
    certified unit still exactly dead after each of a few steps of SGD and of Adam on a fresh loss."""
    sizes = SIZES[config.quick]
    cases = _suite(config.seed, config.quick)
    violations, certified, dead_total, rows = [], 0, 0, []
    for i, c in enumerate(cases):
        cert = [layer.masks["certified_dead"] for layer in c.measured.layers]
        certified += sum(int(m.sum()) for m in cert)
        dead_total += sum(int(d.sum()) for d in c.dead)
        for site, (m, d) in enumerate(zip(cert, c.dead)):
            if (m & ~d).any():
                violations.append({"model": i, "site": site, "step": 0, "optimizer": None,
                                   "unit": int((m & ~d).nonzero()[0])})
        for optimizer in ("sgd", "adam"):
            model = copy.deepcopy(c.planted.model).train()
            opt = torch.optim.SGD(model.parameters(), lr=0.1) if optimizer == "sgd" else \
                torch.optim.Adam(model.parameters(), lr=0.01)
            g = torch.Generator().manual_seed(config.seed + i)
            for step in range(1, sizes.steps + 1):
                batch = torch.randperm(len(c.planted.X), generator=g)[:32]
                opt.zero_grad()
                F.mse_loss(model(c.planted.X[batch]), c.planted.y[batch]).backward()
                opt.step()
                zs = gen.Planted(c.planted.spec, model, c.planted.X, c.planted.y)
                now = [M.flat_mask(z.movedim(1, -1).reshape(-1, z.shape[1]) if z.dim() == 4 else z,
                                   c.planted.spec.activation).all(0) for z in model.pre_activations(zs.X)]
                for site, (m, d) in enumerate(zip(cert, now)):
                    if (m & ~d).any():
                        violations.append({"model": i, "site": site, "step": step, "optimizer": optimizer,
                                           "unit": int((m & ~d).nonzero()[0])})
            rows.append({"model": i, "optimizer": optimizer, "certified": sum(int(m.sum()) for m in cert)})
    measured = {"certified": certified, "exactly_dead": dead_total,
                "certified_fraction_of_dead": certified / dead_total if dead_total else 1.0,
                "steps": sizes.steps, "violations": len(violations), "per_model": rows}
    verdict = "refuted" if violations else "confirmed" if certified else "inconclusive"
    summary = (f"All {certified} certified units (of {dead_total} exactly dead) stayed exactly dead through "
               f"{sizes.steps} steps of SGD and of Adam in {len(cases)} planted "
               "models." if verdict == "confirmed"
               else f"A certified unit came alive: {violations[0]}." if violations
               else "No unit was certified: nothing to test.")
    return Evidence(kind="numeric", verdict=verdict, summary=summary,
                    setting=_setting(config, cases, loss="mse to N(0, 1) targets", batch=32,
                                     lr={"sgd": 0.1, "adam": 0.01}),
                    measured=measured, counterexample=violations[0] if violations else None)


@check("metrics.dead")
def dead_control_near_dead(config: Config) -> Evidence:
    """Negative control: the exact probe asked whether the planted unit active on one sample is dead.
    It must answer no. Its bias gradient is recorded: non-zero unless its backward signal happens to
    vanish on its one active sample."""
    cases = _suite(config.seed, config.quick)
    shown = []
    for i, c in enumerate(cases):
        if c.planted.near is None:
            continue
        site, unit = c.planted.near
        flagged = bool(c.measured.layers[site].masks["exact_dead"][unit])
        model = copy.deepcopy(c.planted.model).eval()
        F.mse_loss(model(c.planted.X), c.planted.y).backward()
        grad = model._producer(site).bias.grad[unit]
        shown.append({"model": i, "site": site, "unit": unit, "probe_says_dead": flagged,
                      "paper_says_dead": bool(c.measured.layers[site].masks["paper_dead"][unit]),
                      "bias_gradient": float(grad), "active_samples": int(
                          (~M.flat_mask(c.planted.z[site][:, unit], c.planted.spec.activation)).sum())})
    caught = [s for s in shown if not s["probe_says_dead"]]
    moving = [s for s in caught if s["bias_gradient"] != 0.0]
    verdict = "refuted" if shown and len(caught) == len(shown) else "inconclusive"
    summary = (f"Control caught: none of the {len(shown)} units active on one sample is called dead; "
               f"{len(moving)} of them get a non-zero gradient (the others' backward signal vanishes on "
               f"their one active sample); the paper's measure calls "
               f"{sum(s['paper_says_dead'] for s in shown)} of them dead." if verdict == "refuted" else
               "Control not caught: a unit active on one sample was called exactly dead.")
    return Evidence(kind="numeric", verdict=verdict, summary=summary,
                    setting=_setting(config, cases, control=True, hypothesis_broken="dead on every sample"),
                    measured={"cases": shown, "non_zero_gradient": len(moving)},
                    counterexample=(moving or caught)[0] if verdict == "refuted" else None)


@check("metrics.dead")
def dead_redo_cloning(config: Config) -> Evidence:
    """What ReDo's score depends on that it should not: cloning units of a layer (the function and
    every unit's own activations unchanged) moves the layer mean, so other units' dormancy flips.
    Exact death and the paper's measure read each unit alone and cannot flip."""
    cases = _suite(config.seed, config.quick)
    flips = []
    for i, c in enumerate(cases):
        for site in range(len(c.dead)):
            h = _activation(c)(c.planted.z[site])
            busiest = int(h.abs().mean(0).argmax())
            wide = torch.cat([h, h[:, [busiest] * h.shape[1]]], 1)  # the busiest unit cloned U more times
            for tau in M.REDO_TAUS:
                before, after = M.dormant(h, tau), M.dormant(wide, tau)[: h.shape[1]]
                changed = (before != after).nonzero().flatten()
                if len(changed):
                    u = int(changed[0])
                    flips.append({"model": i, "site": site, "tau": tau, "unit": u, "busiest": busiest,
                                  "score_before": float(M.dormancy(h)[u]),
                                  "score_after": float(M.dormancy(wide)[u]),
                                  "exact_dead": bool(c.dead[site][u])})
    measured = {"flips": len(flips), "examples": flips[:10]}
    verdict = "refuted" if flips else "confirmed"
    summary = (f"ReDo's dormancy depends on cloning: cloning one busy unit of a layer flips {len(flips)} "
               f"(site, τ) verdicts of other units, e.g. a score {flips[0]['score_before']:.3f} → "
               f"{flips[0]['score_after']:.3f} at τ = {flips[0]['tau']}; exact death cannot change."
               if flips else "Cloning the busiest unit never flipped a ReDo verdict in the suite.")
    return Evidence(kind="numeric", verdict=verdict, summary=summary,
                    setting=_setting(config, cases, intervention="the busiest unit of a layer cloned width "
                                                                 "times"),
                    measured=measured, counterexample=flips[0] if flips else None)


# ---- metrics.duplicate --------------------------------------------------------------------------------

def _duplicate_truth(c: _Case, site: int) -> torch.Tensor:
    """The paper's duplicate count on exact clones: every member of a block but its last unit."""
    labels = c.planted.block_labels(site)
    n = len(labels)
    later = torch.zeros(n, dtype=torch.bool)
    for u in range(n):
        later[u] = bool((labels[u + 1:] == labels[u]).any())
    return later


@check("metrics.duplicate")
def duplicate_exact(config: Config) -> Evidence:
    """The exact clone blocks of the probe (coarsest equitable partition of the real weights,
    conv and residual included) against the planted blocks, every site of every model."""
    cases = _suite(config.seed, config.quick)
    mismatch = None
    blocks = 0
    for i, c in enumerate(cases):
        for site, layer in enumerate(c.measured.layers):
            expected = sorted((len(b) for b in c.planted.blocks.get(site, [])), reverse=True)
            blocks += len(expected)
            if layer.clone_blocks != expected and mismatch is None:
                mismatch = {"model": i, "spec": repr(c.planted.spec), "site": layer.name,
                            "found": layer.clone_blocks, "planted": expected}
    verdict = "refuted" if mismatch else "confirmed"
    summary = (f"The exact clone blocks are exactly the {blocks} planted blocks (pairs, triples, dead pairs) "
               f"of {len(cases)} models, nothing else." if verdict == "confirmed" else
               f"Exact clone blocks differ from the planted ones: {mismatch}.")
    return Evidence(kind="numeric", verdict=verdict, summary=summary, setting=_setting(config, cases),
                    measured={"planted_blocks": blocks}, counterexample=mismatch)


@check("metrics.duplicate")
def duplicate_control_near_clone(config: Config) -> Evidence:
    """Negative control: 1e-6 noise on one unit of each planted live pair; the claim "it is still an
    exact clone" must be refuted by the exact partition."""
    cases = _suite(config.seed, config.quick)
    rows = []
    for i, c in enumerate(cases):
        model = copy.deepcopy(c.planted.model)
        site = next(iter(c.planted.blocks))
        gen.perturb(model, site, 4, 1e-6, torch.Generator().manual_seed(i))
        found = P.measure(model, c.planted.X[:8], clones=True).layers[site].clone_blocks
        rows.append({"model": i, "site": site, "blocks_before": c.measured.layers[site].clone_blocks,
                     "blocks_after": found})
    caught = [r for r in rows if len(r["blocks_after"]) == len(r["blocks_before"]) - 1]
    verdict = "refuted" if len(caught) == len(rows) else "inconclusive"
    summary = (f"Control caught: in all {len(rows)} models the pair perturbed by 1e-6 is no exact block "
               "(the other planted blocks remain)." if verdict == "refuted" else
               "Control not caught: a 1e-6 near-clone was kept as an exact block.")
    return Evidence(kind="numeric", verdict=verdict, summary=summary,
                    setting=_setting(config, cases, control=True, noise=1e-6), measured={"cases": rows},
                    counterexample=caught[0] if verdict == "refuted" else None)


@check("metrics.duplicate", "duplicate-{similarity}", similarity=("cosine", "correlation"))
def duplicate_measure(config: Config, similarity: str) -> Evidence:
    """The paper's duplicates (a later unit with similarity > 0.95) against exact clones; on all
    samples and on a few."""
    sizes = SIZES[config.quick]
    cases = _suite(config.seed, config.quick)
    centred = similarity == "correlation"

    def predicted(c: _Case, site: int, n: int | None = None) -> torch.Tensor:
        z = c.planted.z[site] if n is None else _rows(c, site, n)
        return M.duplicates(_activation(c)(z), centred=centred)

    conf = _confusion([(predicted(c, s), _duplicate_truth(c, s)) for c in cases for s in range(len(c.dead))])
    few = _confusion([(predicted(c, s, sizes.subsample), _duplicate_truth(c, s))
                      for c in cases for s in range(len(c.dead))])
    counter = _first_mismatch(cases, predicted, _duplicate_truth, f"{similarity} duplicate against exact "
                                                                  "clone")
    verdict = _verdict_of_measure(conf, counter)
    summary = (f"{similarity} > 0.95 finds exactly the exact clones." if verdict == "confirmed" else
               f"{similarity} > 0.95 is not exact cloning: precision {_pct(conf['precision'])}, recall "
               f"{_pct(conf['recall'])} ({conf['false_positive']} units flagged that have no clone, "
               f"{conf['false_negative']} clones missed, e.g. dead clone pairs have zero columns); on "
               f"{sizes.subsample} samples precision {_pct(few['precision'])}.")
    return Evidence(kind="numeric", verdict=verdict, summary=summary,
                    setting=_setting(config, cases, similarity=similarity, threshold=M.DUPLICATE_THRESHOLD),
                    measured={**conf, f"on_{sizes.subsample}_samples": few},
                    counterexample=counter if verdict == "refuted" else None,
                    figures=[_bars({"all samples": conf, f"{sizes.subsample} samples": few},
                                   f"{similarity} duplicates against exact clones")])


# ---- metrics.saturated --------------------------------------------------------------------------------

def _saturation_counts(c: _Case, replicas: int, invariant: bool) -> list[torch.Tensor]:
    """Saturated masks per site with the data set repeated ``replicas`` times: the batch grows,
    every per-sample quantity is unchanged."""
    X = c.planted.X.repeat(replicas, *[1] * (c.planted.X.dim() - 1))
    y = c.planted.y.repeat(replicas, 1)
    taps = P.taps(c.planted.model, X)
    hs, gs = P.site_gradients(taps, X, y, F.mse_loss)
    if invariant:
        return [M.saturated_invariant(h, g, batch=len(X)) for h, g in zip(hs, gs)]
    return [M.saturated(h, g) for h, g in zip(hs, gs)]


def _saturated_evidence(config: Config, invariant: bool) -> Evidence:
    sizes = SIZES[config.quick]
    cases = _suite(config.seed, config.quick)
    by_replica = {k: [_saturation_counts(c, k, invariant) for c in cases] for k in sizes.replicas}
    counts = {k: sum(int(m.sum()) for masks in v for m in masks) for k, v in by_replica.items()}
    base = by_replica[sizes.replicas[0]]
    conf = _confusion([(m, c.dead[s]) for c, masks in zip(cases, base) for s, m in enumerate(masks)])
    changed = None
    for k in sizes.replicas[1:]:
        for i, (a, b) in enumerate(zip(base, by_replica[k])):
            for s, (ma, mb) in enumerate(zip(a, b)):
                if not torch.equal(ma, mb) and changed is None:
                    u = int((ma != mb).nonzero()[0])
                    changed = {"model": i, "site": s, "unit": u, "replicas": [sizes.replicas[0], k],
                               "saturated": [bool(ma[u]), bool(mb[u])],
                               "exact_dead": bool(cases[i].dead[s][u])}
    missed = _first_mismatch(cases, lambda c, s: base[cases.index(c)][s], lambda c, s: c.dead[s],
                             "saturated against exactly dead (frozen)")
    name = "batch-size-invariant" if invariant else "paper's"
    measured = {"saturated_units_by_replication": {str(k): v for k, v in counts.items()},
                "against_exact_dead": conf}
    if invariant:
        verdict = "refuted" if changed else "confirmed" if counts[sizes.replicas[0]] else "inconclusive"
        summary = (f"The invariant measure flags the same {counts[sizes.replicas[0]]} units whatever the "
                   "batch "
                   f"(data repeated {', '.join(map(str, sizes.replicas))} times); against exact death it has "
                   f"precision {_pct(conf['precision'])}, recall {_pct(conf['recall'])} (it reads ∂L/∂h, "
                   "not f')."
                   if not changed else f"The invariant measure changed with the batch size: {changed}.")
        counter = changed
    else:
        verdict = "refuted" if changed or missed else "confirmed"
        summary = (f"The paper's saturated measure depends on the batch size alone: "
                   f"{', '.join(f'{v} units at ×{k}' for k, v in counts.items())} on the same data repeated; "
                   f"against exact death precision {_pct(conf['precision'])}, recall {_pct(conf['recall'])} "
                   "(an exactly dead unit has h ≡ 0 and is almost never 'saturated').")
        counter = changed or missed
    return Evidence(kind="numeric", verdict=verdict, summary=summary,
                    setting=_setting(config, cases, measure=name, loss="mean squared error, batch mean",
                                     definition="|∂L/∂h| / max(mean|h|, 1e-12) < 1e-4 on > 99% of samples"
                                                + (" with ∂L/∂h × batch size" if invariant else "")),
                    measured=measured, counterexample=counter if verdict == "refuted" else None)


@check("metrics.saturated", "saturated-{version}", version=("paper", "invariant"))
def saturated_measure(config: Config, version: str) -> Evidence:
    """The saturated measure on the planted suite, the data set repeated k times (a k-times larger
    batch of the same samples): the paper's changes with k, the batch-size-invariant one must not;
    both against exact frozen (dead) units."""
    return _saturated_evidence(config, version == "invariant")


# ---- metrics.rank -------------------------------------------------------------------------------------

def _structural_rank(c: _Case, site: int) -> int:
    """The rank the trapped structure allows: one column per live clone block, plus one constant
    column when some dead unit's flat value is not 0 (hardtanh at −1)."""
    labels = c.planted.block_labels(site)
    dead = c.dead[site]
    live = len(set(labels[~dead].tolist()))
    h = _activation(c)(c.planted.z[site])
    constant = bool((h[:, dead] != 0).any()) if dead.any() else False
    return live + int(constant)


@check("metrics.rank")
def rank_numerical(config: Config) -> Evidence:
    """rank.hard on trained-free planted layers: the numerical rank of each site's activations
    equals the rank the dead units and clone blocks leave (never more; less would be a further loss
    the trapped structure does not explain)."""
    cases = _suite(config.seed, config.quick)
    rows, above, below = [], [], []
    for i, c in enumerate(cases):
        for site, layer in enumerate(c.measured.layers):
            k = _structural_rank(c, site)
            row = {"model": i, "site": layer.name, "units": layer.units,
                   "numerical_rank": layer.numerical_rank,
                   "structural_rank": k, "samples": int(c.planted.z[site].shape[0])}
            rows.append(row)
            (above if layer.numerical_rank > k else below if layer.numerical_rank < k else []).append(row)
    verdict = "refuted" if above else "qualified" if below else "confirmed"
    summary = (f"Numerical rank = live clone blocks (+1 for a constant dead column) at all {len(rows)} sites."
               if verdict == "confirmed" else
               f"Numerical rank equals the structural rank at {len(rows) - len(below)} of {len(rows)} "
               "sites and "
               f"is lower at {len(below)} (e.g. {below[0]}): the activation leaves less rank than the "
               "trapped "
               "structure explains there." if verdict == "qualified" else
               f"Numerical rank exceeds the structural bound: {above[0]}.")
    return Evidence(kind="numeric", verdict=verdict, summary=summary, setting=_setting(config, cases),
                    measured={"sites": rows, "below": len(below), "above": len(above)},
                    counterexample=above[0] if above else (below[0] if below else None))


@check("metrics.rank")
def rank_control_width(config: Config) -> Evidence:
    """Negative control: predict each layer's rank as its width (ignoring dead units and clones);
    the prediction must be refuted on the planted layers."""
    cases = _suite(config.seed, config.quick)
    wrong = [{"model": i, "site": layer.name, "units": layer.units, "numerical_rank": layer.numerical_rank}
             for i, c in enumerate(cases) for layer in c.measured.layers
             if c.planted.blocks.get(c.measured.layers.index(layer)) and layer.numerical_rank != layer.units]
    verdict = "refuted" if wrong else "inconclusive"
    summary = (f"Control caught: 'rank = width' fails at all {len(wrong)} layers with planted clones "
               f"(e.g. rank {wrong[0]['numerical_rank']} of {wrong[0]['units']} units)." if wrong else
               "Control not caught: a layer with planted clones had full rank.")
    return Evidence(kind="numeric", verdict=verdict, summary=summary,
                    setting=_setting(config, cases, control=True, prediction="rank = number of units"),
                    measured={"layers": wrong}, counterexample=wrong[0] if wrong else None)


_SPECTRAL = {"effective": M.effective_rank, "stable": M.stable_rank, "participation": M.participation_ratio}
_RANKS = {"numerical": M.numerical_rank, **_SPECTRAL}


@check("metrics.rank", "rank-cloning-{measure}", measure=tuple(_RANKS))
def rank_cloning(config: Config, measure: str) -> Evidence:
    """Is the measure invariant under cloning (the same function, units duplicated)? Every site's
    activations widened two ways: every unit cloned once (equal blocks) and one unit cloned width
    times (unequal blocks). Numerical rank must not move; the spectral measures move with unequal
    blocks, since a cloned column adds its weight again to the spectrum."""
    cases = _suite(config.seed, config.quick)
    fn = lambda h: float(_RANKS[measure](h))  # noqa: E731
    rows, moved = [], None
    for i, c in enumerate(cases):
        for site in range(len(c.dead)):
            h = _activation(c)(c.planted.z[site]).double()
            if not h.abs().sum():
                continue
            base = fn(h)
            equal = fn(torch.cat([h, h], 1))
            busiest = int(h.abs().mean(0).argmax())
            unequal = fn(torch.cat([h, h[:, [busiest] * h.shape[1]]], 1))
            row = {"model": i, "site": site, "base": base, "equal_blocks": equal, "unequal_blocks": unequal}
            rows.append(row)
            rel = max(abs(equal - base), abs(unequal - base)) / max(abs(base), 1e-12)
            if rel > 1e-6 and moved is None:
                moved = {**row, "relative_change": rel}
    verdict = "refuted" if moved else "confirmed"
    summary = (f"{measure} rank is unchanged by cloning at all {len(rows)} sites (equal and unequal blocks)."
               if not moved else
               f"{measure} rank depends on cloning: {moved['base']:.3f} → {moved['unequal_blocks']:.3f} "
               "with one "
               f"unit cloned width times ({moved['equal_blocks']:.3f} with every unit cloned once).")
    return Evidence(kind="numeric", verdict=verdict, summary=summary,
                    setting=_setting(config, cases, measure=measure), measured={"sites": rows},
                    counterexample=moved)


@check("metrics.rank", "rank-subsample-{measure}", measure=("effective", "stable", "participation"))
def rank_subsample(config: Config, measure: str) -> Evidence:
    """The paper's code computes ranks on 1024 random rows: does the measure on that subsample agree
    with all rows (within 5%)? And how far apart are the centred and uncentred versions?"""
    sizes = SIZES[config.quick]
    cases = _suite(config.seed, config.quick)
    fn = _SPECTRAL[measure]
    rows, off = [], None
    for i, c in enumerate(cases):
        for site in range(len(c.dead)):
            h = _activation(c)(c.planted.z[site]).double()
            if h.shape[0] <= sizes.rank_rows or not h.abs().sum():
                continue
            idx = torch.randperm(h.shape[0], generator=torch.Generator().manual_seed(i))[: sizes.rank_rows]
            full, sub = float(fn(h)), float(fn(h[idx]))
            row = {"model": i, "site": site, "rows": h.shape[0], "all_rows": full, "subsample": sub,
                   "centred": float(fn(h, centred=True)), "uncentred": float(fn(h, centred=False))}
            rows.append(row)
            if abs(sub - full) > 0.05 * abs(full) and off is None:
                off = row
    if not rows:
        return Evidence(kind="numeric", verdict="inconclusive", summary="No site had more rows than the "
                                                                        "subsample.",
                        setting=_setting(config, cases, measure=measure), measured={})
    gap = max(abs(r["centred"] - r["uncentred"]) / max(r["uncentred"], 1e-12) for r in rows)
    verdict = "refuted" if off else "confirmed"
    summary = (f"{measure} rank on {sizes.rank_rows} random rows is within 5% of all rows at {len(rows)} "
               "sites; "
               f"centring changes it by up to {gap:.0%}." if not off else
               f"{measure} rank on {sizes.rank_rows} rows is {off['subsample']:.2f} against "
               f"{off['all_rows']:.2f} "
               f"on all {off['rows']} rows; centring changes it by up to {gap:.0%}.")
    return Evidence(kind="numeric", verdict=verdict, summary=summary,
                    setting=_setting(config, cases, measure=measure, rows_kept=sizes.rank_rows),
                    measured={"sites": rows, "largest_centring_change": gap}, counterexample=off)
