"""The numeric checks on the researcher's own network (``--model FILE.py:NAME --data X.pt``).

Imported by the command line only with ``--model``; every check here is registered ``on_model`` and
reads the loaded network from ``config.model`` (``numerics.user.UserModel``). Each composes the
probes (``numerics.probes``, ``numerics.unitgraph``) on the first ``SIZES[quick].samples`` samples,
decides one claim on that network and records ``setting.model`` and ``measured.layers`` (one entry per
activation site: name, units, exact_dead, certified_dead, paper_dead, clone_blocks, effective_rank
and the other measures). A claim whose hypothesis the network cannot meet (no ReLU-like
activation, no unit graph for an untraceable model, no site where a unit can be planted) is listed
as not applicable (``inconclusive`` with ``setting.applicable = false`` and the reason), never
decided. Each check has a control that plants a violation in a *copy* of the network — a unit active
on exactly one sample, a 1e-6 near-clone, planted dead units — and must come out refuted.

Training steps (``frozen.manifold``, ``cloned.trajectory``) run on copies in training mode with the
user's loss (cross-entropy for class targets, mean squared error for targets shaped like the output,
the mean square of the output without targets), fresh optimizer state, batches of ``SIZES.batch``.
"""

from __future__ import annotations

import copy
import functools
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from numerics import metrics as M
from numerics import probes as P
from numerics import unitgraph as U
from numerics.user import UserModel
from theory import activations
from theory.claims import check
from theory.evidence import Config, Evidence


@dataclass(frozen=True)
class Sizes:
    samples: int  # samples of X the checks use
    steps: int    # training steps per optimizer
    batch: int    # training batch
    chunk: int    # samples per forward/backward chunk


SIZES = {False: Sizes(samples=4096, steps=10, batch=64, chunk=512),
         True: Sizes(samples=512, steps=3, batch=32, chunk=256)}
LR = {"sgd": 1e-2, "adam": 1e-3}
NO_PLANT_SITE = "no ReLU-like site whose z is made by one biased map alone"


# ---- shared -------------------------------------------------------------------------------------------

def _user(config: Config) -> UserModel:
    if not isinstance(config.model, UserModel):
        raise ValueError("the checks of your network need --model FILE.py:NAME --data X.pt")
    return config.model


def _data(config: Config) -> tuple[torch.Tensor, torch.Tensor | None]:
    user, n = _user(config), SIZES[config.quick].samples
    return user.X[:n], None if user.y is None else user.y[:n]


@functools.lru_cache(maxsize=2)
def _measured(user: UserModel, quick: bool) -> P.Measurement:
    sizes = SIZES[quick]
    X, y = user.X[: sizes.samples], None if user.y is None else user.y[: sizes.samples]
    return P.measure(user.model, X, y, chunk=sizes.chunk, batch_size=min(sizes.batch, len(X)),
                     tapped=user.taps)


def _setting(config: Config, **extra: Any) -> dict[str, Any]:
    user = _user(config)
    X, y = _data(config)
    return {"model": user.spec, "network": type(user.model).__name__,
            "parameters": sum(p.numel() for p in user.model.parameters()), "samples": len(X),
            "input_shape": list(X.shape[1:]), "targets": y is not None, "seed": config.seed,
            "loss": "cross-entropy" if y is not None and not y.is_floating_point() else
                    "mean squared error" if y is not None else "mean square of the output (no targets)",
            **extra}


def _measured_layers(config: Config) -> list[dict[str, Any]]:
    return [layer.record() for layer in _measured(_user(config), config.quick).layers]


def _evidence(config: Config, verdict: str, summary: str, measured: dict[str, Any] | None = None,
              counterexample: dict[str, Any] | None = None, **setting: Any) -> Evidence:
    return Evidence(kind="numeric", verdict=verdict, summary=summary, setting=_setting(config, **setting),
                    measured={"layers": _measured_layers(config), **(measured or {})},
                    counterexample=counterexample)


def _not_applicable(config: Config, reason: str, **setting: Any) -> Evidence:
    return _evidence(config, "inconclusive", f"Not applicable to this network: {reason}.", applicable=False,
                     reason=reason, **setting)


def _relu_sites(measurement: P.Measurement) -> list[int]:
    return [k for k, s in enumerate(measurement.sites) if U.relu_like(s.activation)]


def _train(model: nn.Module, X: torch.Tensor, y: torch.Tensor | None, loss, optimizer: str, steps: int,
           batch: int, seed: int, after=None) -> None:
    """``steps`` updates of ``model`` (training mode) on random batches of (X, y), fresh optimizer state;
    ``after(step)`` after each."""
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.SGD(params, lr=LR["sgd"]) if optimizer == "sgd" else \
        torch.optim.Adam(params, lr=LR["adam"])
    g = torch.Generator().manual_seed(seed)
    was = model.training
    model.train()
    try:
        for step in range(1, steps + 1):
            idx = torch.randperm(len(X), generator=g)[: min(batch, len(X))]
            opt.zero_grad()
            loss(model(X[idx]), None if y is None else y[idx]).backward()
            opt.step()
            if after is not None:
                after(step)
    finally:
        model.train(was)


def _site_z(taps: P.Taps, X: torch.Tensor, site: int, unit: int | None, chunk: int) -> torch.Tensor:
    """One unit's z over the data (every position a sample), or with ``unit`` None each unit's max."""
    parts = []

    def see(i: int, which: str, t: torch.Tensor) -> None:
        if i == site and which == "z":
            parts.append(t[:, unit].clone() if unit is not None else t.amax(0))

    taps.stream(X, see, chunk)
    return torch.cat(parts) if unit is not None else torch.stack(parts).amax(0)


@dataclass
class _Copy:
    model: nn.Module
    taps: P.Taps
    graph: U.UnitGraph
    site: int
    units: list[int]


def _near_dead_copy(config: Config) -> _Copy | None:
    """A copy of the network with one live unit of a ReLU-like site lowered to be active on exactly
    one sample (the bias that makes it; ``numerics.unitgraph.plant_near_dead``)."""
    user, (X, _), chunk = _user(config), _data(config), SIZES[config.quick].chunk
    model = copy.deepcopy(user.model)
    taps = P.taps(model, X)
    graph = taps.unit_graph()
    for site, s in enumerate(taps.sites):
        if not U.relu_like(s.activation) or U.plant_site(graph, site) is None:
            continue
        tops = _site_z(taps, X, site, None, chunk)
        unit = int(tops.argmax())
        if tops[unit] > 0 and U.plant_near_dead(graph, site, unit, _site_z(taps, X, site, unit, chunk)):
            return _Copy(model, taps, graph, site, [unit])
    return None


# ---- frozen.gradient-zero ------------------------------------------------------------------------------

def _dead_gradients(model: nn.Module, taps: P.Taps, graph: U.UnitGraph, X, y, loss, dead, chunk: int
                    ) -> tuple[list[dict[str, Any]], int]:
    """Chunk by chunk: every unit of ``dead`` must get ∂L/∂z = 0 bitwise on every sample, and the
    parameters it blocks (``unitgraph.blocked``) a zero gradient. Returns the offenders and how many
    values were checked."""
    offenders, checked = [], 0
    rows = U.blocked(graph, dead) if graph.supported else None
    for lo in range(0, len(X), chunk):
        x, t = X[lo:lo + chunk], None if y is None else y[lo:lo + chunk]
        _, gz = P.site_gradients(taps, x, t, loss, which="z")
        for k, (g, d) in enumerate(zip(gz, dead)):
            bad = (g[:, d] != 0).any(0)
            checked += int(g[:, d].numel())
            if bad.any():
                unit = int(d.nonzero().flatten()[bad.nonzero()[0]])
                offenders.append({"site": taps.sites[k].name, "unit": unit, "what": "∂L/∂z",
                                  "largest": float(g[:, unit].abs().max())})
        if rows is not None:
            model.zero_grad()
            with P._eval(model):
                loss(model(x), t).backward()
            for i, grp in enumerate(graph.groups):
                if grp.kind != "affine" or not rows[i].any():
                    continue
                (e,) = [e for e in graph.edges if e.dst == i]
                r = torch.from_numpy(rows[i])
                for name, p in (("weight", e.weight), ("bias", grp.bias)):
                    if isinstance(p, nn.Parameter) and p.grad is not None:
                        checked += int(p.grad[r].numel())
                        if (p.grad[r] != 0).any():
                            offenders.append({"group": grp.name, "parameter": name, "what": "∂L/∂θ",
                                              "largest": float(p.grad[r].abs().max())})
            model.zero_grad()
    return offenders, checked


@check("frozen.gradient-zero", "model-gradient-zero", on_model=True)
def model_gradient_zero(config: Config) -> Evidence:
    """Your network's exactly dead units (z in the flat set on every sample) get ∂L/∂z = 0 bitwise on
    every sample, and the parameters that feed only them a zero gradient (frozen.gradient-zero)."""
    user, (X, y) = _user(config), _data(config)
    m = _measured(user, config.quick)
    dead = [layer.masks["exact_dead"] for layer in m.layers]
    n_dead = sum(int(d.sum()) for d in dead)
    if not any(activations.get(s.activation).freezing() == "exact" for s in m.sites):
        return _not_applicable(config, "no activation of it has a flat set, so no unit can be exactly dead")
    if n_dead == 0:
        return _evidence(config, "inconclusive", "No unit of this network is exactly dead on these data: "
                         "nothing to test (the control plants one).", {"exactly_dead": 0})
    offenders, checked = _dead_gradients(user.model, user.taps, m.graph, X, y, user.loss, dead,
                                         SIZES[config.quick].chunk)
    verdict = "refuted" if offenders else "confirmed"
    summary = (f"All {n_dead} exactly dead units get bitwise-zero gradients ({checked} values of ∂L/∂z and "
               "of the parameters feeding only them)." if not offenders else
               f"An exactly dead unit gets a non-zero gradient: {offenders[0]}.")
    return _evidence(config, verdict, summary, {"exactly_dead": n_dead, "values_checked": checked,
                                                "offenders": offenders[:10]},
                     offenders[0] if offenders else None, unit_graph=m.graph.reason or "built")


@check("frozen.gradient-zero", "model-control-near-dead", on_model=True)
def model_control_near_dead(config: Config) -> Evidence:
    """Control: in a copy, a unit lowered to be active on exactly one sample. The hypothesis (flat on
    every sample) is broken, so its ∂L/∂z must be non-zero on that sample."""
    planted = _near_dead_copy(config)
    if planted is None:
        return _not_applicable(config, NO_PLANT_SITE, control=True)
    user, (X, y) = _user(config), _data(config)
    dead = [torch.zeros(s.units, dtype=torch.bool) for s in planted.taps.sites]
    dead[planted.site][planted.units[0]] = True
    offenders, _ = _dead_gradients(planted.model, planted.taps, planted.graph, X, y, user.loss, dead,
                                   SIZES[config.quick].chunk)
    site = planted.taps.sites[planted.site].name
    hit = next((o for o in offenders if o.get("what") == "∂L/∂z"), None)
    verdict = "refuted" if hit else "inconclusive"
    summary = (f"Control caught: unit {planted.units[0]} of {site}, active on one sample, gets ∂L/∂z up to "
               f"{hit['largest']:.3g}." if hit else
               f"Control not caught: unit {planted.units[0]} of {site}, active on one sample, got no "
               "gradient "
               "(its backward signal may vanish there).")
    return _evidence(config, verdict, summary, {"planted": {"site": site, "unit": planted.units[0]}},
                     hit if hit else None, control=True, hypothesis_broken="flat on every sample")


# ---- frozen.manifold -----------------------------------------------------------------------------------

@check("frozen.manifold", "model-certified", on_model=True)
def model_certified(config: Config) -> Evidence:
    """Your network's certified units (numerics.unitgraph.certify) stay exactly dead on the data after
    every one of a few steps of SGD and of Adam on your loss (frozen.manifold)."""
    user, (X, y), sizes = _user(config), _data(config), SIZES[config.quick]
    m = _measured(user, config.quick)
    cert = m.certificate.dead
    n_cert = sum(int(c.sum()) for c in cert)
    reasons = {m.sites[k].name: r for k, r in enumerate(m.certificate.reasons) if r}
    if not _relu_sites(m):
        return _not_applicable(config, "no ReLU-like activation (f = 0 on z ≤ 0, f ≥ 0): no sign certificate",
                               reasons=reasons)
    if n_cert == 0:
        return _evidence(config, "inconclusive", "No unit of this network is certified dead: nothing to "
                         "test" + (f" ({next(iter(reasons.values()))})" if reasons else "") + ".",
                         {"certified": 0}, reasons=reasons)
    violations = []
    for optimizer in ("sgd", "adam"):
        model = copy.deepcopy(user.model)
        taps = P.taps(model, X)

        def after(step: int, model=model, taps=taps, optimizer=optimizer) -> None:
            now = P.dead_units(model, X, sizes.chunk, tapped=taps)
            for k, (c, d) in enumerate(zip(cert, now)):
                if (c & ~d).any():
                    violations.append({"optimizer": optimizer, "step": step, "site": taps.sites[k].name,
                                       "unit": int((c & ~d).nonzero()[0])})

        _train(model, X, y, user.loss, optimizer, sizes.steps, sizes.batch, config.seed, after)
    verdict = "refuted" if violations else "confirmed"
    summary = (f"All {n_cert} certified units stayed exactly dead through {sizes.steps} steps of SGD and "
               "of Adam "
               "on your loss." if not violations else f"A certified unit came alive: {violations[0]}.")
    return _evidence(config, verdict, summary, {"certified": n_cert, "violations": violations[:10]},
                     violations[0] if violations else None, steps=sizes.steps, batch=sizes.batch, lr=LR,
                     reasons=reasons)


@check("frozen.manifold", "model-control-near-dead-certificate", on_model=True)
def model_control_certificate(config: Config) -> Evidence:
    """Control: the unit lowered to be active on exactly one sample must not be certified."""
    planted = _near_dead_copy(config)
    if planted is None:
        return _not_applicable(config, NO_PLANT_SITE, control=True)
    site, unit = planted.site, planted.units[0]
    certified = bool(P.certified_dead(planted.model, _data(config)[0], SIZES[config.quick].batch,
                                      tapped=planted.taps)[site][unit])
    verdict = "inconclusive" if certified else "refuted"
    summary = (f"Control caught: unit {unit} of {planted.taps.sites[site].name}, active on one sample, is "
               "not "
               "certified." if not certified else "Control not caught: a unit active on one sample was "
                                                  "certified.")
    where = {"site": planted.taps.sites[site].name, "unit": unit}
    return _evidence(config, verdict, summary, {"planted": where},
                     None if certified else {"site": planted.taps.sites[site].name, "unit": unit,
                                             "certified": False, "active_samples": 1},
                     control=True, hypothesis_broken="dead on every sample")


# ---- cloned.trajectory ---------------------------------------------------------------------------------

def _blocks(labels: list, graph: U.UnitGraph, sites: list[P.Site]) -> dict[str, list[list[int]]]:
    """Per site: its clone blocks of ≥ 2 units, as unit lists."""
    out = {}
    for k, s in enumerate(sites):
        lab = torch.as_tensor(labels[graph.site_group(k)])
        blocks = [(lab == b).nonzero().flatten().tolist() for b in lab.unique()]
        out[s.name] = [b for b in blocks if len(b) >= 2]
    return out


def _clone_copy(config: Config) -> tuple[nn.Module, P.Taps, U.UnitGraph, str] | None:
    """A copy of the network with units 0 and 1 of its first plantable site made exact clones."""
    X, _ = _data(config)
    model = copy.deepcopy(_user(config).model)
    taps = P.taps(model, X)
    graph = taps.unit_graph()
    for site, s in enumerate(taps.sites):
        if s.units >= 2 and U.can_clone(graph, site):
            U.plant_clone(graph, site, 0, 1)
            return model, taps, graph, s.name
    return None


@check("cloned.trajectory", "model-clones", on_model=True)
def model_clones(config: Config) -> Evidence:
    """Your network's exact clone blocks (coarsest equitable partition of its weights), or one planted
    in a copy when it has none, after a few steps of SGD and of Adam on your loss: still exact blocks?"""
    user, (X, y), sizes = _user(config), _data(config), SIZES[config.quick]
    m = _measured(user, config.quick)
    if m.labels is None:
        return _not_applicable(config, m.graph.reason or "no clone partition")
    start = _blocks(m.labels, m.graph, m.sites)
    planted_at = None
    base = user.model
    if not any(start.values()):
        made = _clone_copy(config)
        if made is None:
            return _not_applicable(config, "it has no exact clones and no site where one can be planted")
        base, taps, graph, planted_at = made
        start = _blocks(U.clone_partition(graph), graph, taps.sites)
    broken, rows = [], []
    for optimizer in ("sgd", "adam"):
        model = copy.deepcopy(base)
        _train(model, X, y, user.loss, optimizer, sizes.steps, sizes.batch, config.seed)
        taps = P.taps(model, X)
        graph = taps.unit_graph()
        now = _blocks(U.clone_partition(graph), graph, taps.sites)
        for site, blocks in start.items():
            for block in blocks:
                kept = any(set(block) <= set(b) for b in now[site])
                rows.append({"optimizer": optimizer, "site": site, "block": block, "kept": kept})
                if not kept:
                    broken.append(rows[-1])
    dropout = any(isinstance(mod, nn.modules.dropout._DropoutNd) for mod in base.modules())
    n_blocks = sum(len(b) for b in start.values())
    verdict = "refuted" if broken else "confirmed"
    where = f" (planted in a copy at {planted_at}: the network has none)" if planted_at else ""
    summary = (f"All {n_blocks} exact clone blocks{where} stay exact through {sizes.steps} steps of SGD "
               "and of "
               "Adam on your loss." if not broken else
               f"A clone block broke under {broken[0]['optimizer']} at {broken[0]['site']}{where}"
               + (" — the network has dropout, which breaks clones (cloned.escape)." if dropout else "."))
    return _evidence(config, verdict, summary, {"blocks": start, "after": rows},
                     broken[0] if broken else None, planted=planted_at, dropout=dropout, steps=sizes.steps,
                     batch=sizes.batch, lr=LR)


@check("cloned.trajectory", "model-control-near-clone", on_model=True)
def model_control_near_clone(config: Config) -> Evidence:
    """Control: a clone pair planted in a copy, then 1e-6 noise on one of its incoming weights; the
    claim "still an exact clone" must be refuted by the exact partition."""
    made = _clone_copy(config)
    if made is None:
        return _not_applicable(config, "no site where a clone can be planted", control=True)
    model, taps, graph, site = made
    k = [s.name for s in taps.sites].index(site)
    before = _blocks(U.clone_partition(graph), graph, taps.sites)[site]
    (e,) = [e for e in graph.edges if e.dst == U.plant_site(graph, k)[0]]
    with torch.no_grad():
        g = torch.Generator().manual_seed(config.seed)
        e.weight[1] += 1e-6 * torch.randn(e.weight[1].shape, generator=g, dtype=e.weight.dtype)
    after = _blocks(U.clone_partition(graph), graph, taps.sites)[site]
    caught = [0, 1] in before and not any({0, 1} <= set(b) for b in after)
    verdict = "refuted" if caught else "inconclusive"
    summary = (f"Control caught: the pair planted at {site} is an exact block, and after 1e-6 noise it is "
               "not."
               if caught else f"Control not caught at {site}: blocks {before} → {after}.")
    return _evidence(config, verdict, summary, {"before": before, "after": after},
                     {"site": site, "units": [0, 1], "noise": 1e-6} if caught else None, control=True)


# ---- rank.hard ------------------------------------------------------------------------------------------

def _structural(layer: P.Layer, labels) -> int:
    dead = layer.masks["exact_dead"]
    lab = torch.as_tensor(labels) if labels is not None else torch.arange(layer.units)
    live = len(set(lab[~dead].tolist()))
    return live + int(bool((dead & ~layer.masks["silent"]).any()))


@check("rank.hard", "model-rank", on_model=True)
def model_rank(config: Config) -> Evidence:
    """Per layer of your network: the numerical rank of its activations against what rank.hard
    predicts once the trapped structure is counted — one dimension per live clone block (plus one for
    a constant dead column), capped by the samples: never more, and equal for a non-polynomial f."""
    user = _user(config)
    m = _measured(user, config.quick)
    rows, above, below = [], [], []
    for k, layer in enumerate(m.layers):
        labels = m.labels[m.graph.site_group(k)] if m.labels is not None else None
        samples = layer.samples
        predicted = min(_structural(layer, labels), samples)
        row = {"site": layer.name, "units": layer.units, "numerical_rank": layer.numerical_rank,
               "predicted": predicted, "effective_rank": layer.effective_rank, "samples": samples}
        rows.append(row)
        if layer.numerical_rank != predicted:
            (above if layer.numerical_rank > predicted else below).append(row)
    verdict = "refuted" if above else "qualified" if below else "confirmed"
    summary = (f"At every one of {len(rows)} layers the numerical rank is the live clone blocks' count (the "
               "rank.hard prediction with the trapped structure counted)." if verdict == "confirmed" else
               f"At {len(below)} of {len(rows)} layers the rank is below the prediction (e.g. "
               f"{below[0]['site']}: "
               f"{below[0]['numerical_rank']} < {below[0]['predicted']}): a loss of rank the dead units "
               "and clones "
               "do not explain." if verdict == "qualified" else
               f"The rank exceeds the structural bound at {above[0]['site']}: {above[0]}.")
    return _evidence(config, verdict, summary, {"sites": rows}, (above or below or [None])[0],
                     clone_blocks="exact partition" if m.labels is not None else f"none ({m.graph.reason})")


@check("rank.hard", "model-control-rank-width", on_model=True)
def model_control_rank_width(config: Config) -> Evidence:
    """Control: units planted dead in a copy (half of a ReLU-like site); the prediction "rank = width"
    must be refuted there."""
    user, (X, _), chunk = _user(config), _data(config), SIZES[config.quick].chunk
    model = copy.deepcopy(user.model)
    taps = P.taps(model, X)
    graph = taps.unit_graph()
    site = next((k for k, s in enumerate(taps.sites) if U.relu_like(s.activation) and s.units >= 2
                 and U.plant_site(graph, k) is not None), None)
    if site is None:
        return _not_applicable(config, NO_PLANT_SITE, control=True)
    tops = _site_z(taps, X, site, None, chunk)
    planted = list(range(taps.sites[site].units // 2 + 1))
    for u in planted:
        U.plant_dead(graph, site, u, tops[u:u + 1])
    layer = P.measure(model, X, chunk=chunk, clones=False, tapped=taps).layers[site]
    caught = layer.numerical_rank < layer.units
    verdict = "refuted" if caught else "inconclusive"
    summary = (f"Control caught: with {len(planted)} units planted dead, {layer.name} has rank "
               f"{layer.numerical_rank} < width {layer.units}." if caught else "Control not caught.")
    return _evidence(config, verdict, summary, {"planted_dead": len(planted), "rank": layer.numerical_rank},
                     {"site": layer.name, "units": layer.units, "rank": layer.numerical_rank}
                     if caught else None,
                     control=True, prediction="rank = width")


# ---- metrics.dead and metrics.duplicate ------------------------------------------------------------------

def _agreement(config: Config, pairs: dict[str, list[tuple[torch.Tensor, torch.Tensor]]], sites: list[str]
               ) -> tuple[dict[str, Any], dict[str, Any] | None]:
    table, counter = {}, None
    for name, per_site in pairs.items():
        fp = sum(int((p & ~t).sum()) for p, t in per_site)
        fn = sum(int((~p & t).sum()) for p, t in per_site)
        table[name] = {"flagged": sum(int(p.sum()) for p, _ in per_site), "false_positive": fp,
                       "false_negative": fn}
        if (fp or fn) and counter is None:
            k = next(k for k, (p, t) in enumerate(per_site) if (p != t).any())
            p, t = per_site[k]
            u = int((p != t).nonzero()[0])
            counter = {"measure": name, "site": sites[k], "unit": u, "measure_says": bool(p[u]),
                       "exact_says": bool(t[u])}
    return table, counter


@check("metrics.dead", "model-dead-measures", on_model=True)
def model_dead_measures(config: Config) -> Evidence:
    """The paper's dead measure and ReDo's (τ = 0.025, 0.1) against exact death on your network."""
    m = _measured(_user(config), config.quick)
    X, _ = _data(config)
    names = [s.name for s in m.sites]
    exact = [layer.masks["exact_dead"] for layer in m.layers]
    stats = _redo(config)
    pairs = {"paper": [(layer.masks["paper_dead"], e) for layer, e in zip(m.layers, exact)],
             **{f"redo-{tau}": [(s.dormant(tau), e) for s, e in zip(stats, exact)] for tau in M.REDO_TAUS}}
    table, counter = _agreement(config, pairs, names)
    verdict = "refuted" if counter else "confirmed"
    summary = ("The paper's and ReDo's dead measures flag exactly the exactly dead units of this network."
               if not counter else
               f"{counter['measure']} is not exact death here: unit {counter['unit']} of {counter['site']} "
               "is "
               f"{'flagged' if counter['measure_says'] else 'missed'} ({table[counter['measure']]}).")
    return _evidence(config, verdict, summary, {"measures": table}, counter)


@functools.lru_cache(maxsize=2)
def _redo_cached(user: UserModel, quick: bool) -> list[M.LayerStats]:
    sizes = SIZES[quick]
    stats = [M.LayerStats(s.activation, moments=False) for s in user.taps.sites]

    def see(i: int, which: str, t: torch.Tensor) -> None:
        (stats[i].add_z if which == "z" else stats[i].add_h)(t)

    user.taps.stream(user.X[: sizes.samples], see, sizes.chunk)
    return stats


def _redo(config: Config) -> list[M.LayerStats]:
    return _redo_cached(_user(config), config.quick)


@check("metrics.dead", "model-control-near-dead-measures", on_model=True)
def model_control_near_dead_measures(config: Config) -> Evidence:
    """Control: the exact probe asked whether a unit lowered to be active on one sample is dead."""
    planted = _near_dead_copy(config)
    if planted is None:
        return _not_applicable(config, NO_PLANT_SITE, control=True)
    X, _ = _data(config)
    dead = P.dead_units(planted.model, X, SIZES[config.quick].chunk, tapped=planted.taps)
    unit, name = planted.units[0], planted.taps.sites[planted.site].name
    said = bool(dead[planted.site][unit])
    verdict = "inconclusive" if said else "refuted"
    summary = (f"Control caught: unit {unit} of {name}, active on one sample, is not exactly dead."
               if not said else "Control not caught: a unit active on one sample was called exactly dead.")
    return _evidence(config, verdict, summary, {"planted": {"site": name, "unit": unit}},
                     None if said else {"site": name, "unit": unit, "exact_dead": False, "active_samples": 1},
                     control=True)


@check("metrics.duplicate", "model-duplicates", on_model=True)
def model_duplicates(config: Config) -> Evidence:
    """The paper's duplicates (cosine, and correlation, > 0.95) against the exact clone blocks of your
    network (every member of a block but its last counts, as the paper counts)."""
    m = _measured(_user(config), config.quick)
    if m.labels is None:
        return _not_applicable(config, m.graph.reason or "no clone partition")
    names = [s.name for s in m.sites]
    truth = []
    for k, _ in enumerate(m.sites):
        lab = torch.as_tensor(m.labels[m.graph.site_group(k)])
        truth.append(torch.tensor([bool((lab[u + 1:] == lab[u]).any()) for u in range(len(lab))]))
    pairs = {"cosine": [(layer.masks["duplicates"], t) for layer, t in zip(m.layers, truth)],
             "correlation": [(layer.masks["duplicates_correlation"], t) for layer, t in zip(m.layers, truth)]}
    table, counter = _agreement(config, pairs, names)
    verdict = "refuted" if counter else "confirmed"
    summary = ("The paper's duplicate measures flag exactly the exact clones of this network."
               if not counter else
               f"{counter['measure']} > 0.95 is not exact cloning here: unit {counter['unit']} of "
               f"{counter['site']} "
               f"is {'flagged' if counter['measure_says'] else 'missed'} ({table[counter['measure']]}).")
    return _evidence(config, verdict, summary, {"measures": table}, counter)


@check("metrics.duplicate", "model-control-near-clone-duplicates", on_model=True)
def model_control_near_clone_duplicates(config: Config) -> Evidence:
    """Control: the same 1e-6 near-clone as cloned.trajectory's control, seen by the exact partition."""
    return model_control_near_clone(config)


# ---- metrics.saturated and metrics.rank ---------------------------------------------------------------

def _saturation(config: Config, replicas: int, invariant: bool) -> list[torch.Tensor]:
    """Saturated masks per site with the checks' batch repeated ``replicas`` times (a larger batch of
    the same samples: only the batch mean's 1/B changes)."""
    user, sizes = _user(config), SIZES[config.quick]
    X, y = _data(config)
    X, y = X[: sizes.batch], None if y is None else y[: sizes.batch]
    Xr = X.repeat(replicas, *[1] * (X.dim() - 1))
    yr = None if y is None else y.repeat(replicas, *[1] * (y.dim() - 1))
    hs, gs = P.site_gradients(user.taps, Xr, yr, user.loss)
    if invariant:
        return [M.saturated_invariant(h, g, batch=len(Xr)) for h, g in zip(hs, gs)]
    return [M.saturated(h, g) for h, g in zip(hs, gs)]


@check("metrics.saturated", "model-saturated-{version}", version=("invariant", "paper"), on_model=True)
def model_saturated(config: Config, version: str) -> Evidence:
    """The saturated measure on one batch of your data and on the same batch repeated 4 and 16 times:
    the batch-size-invariant version must flag the same units; the paper's version is the control
    (its 1/B makes it flag more units in larger batches)."""
    invariant = version == "invariant"
    masks = {k: _saturation(config, k, invariant) for k in (1, 4, 16)}
    counts = {k: sum(int(m.sum()) for m in v) for k, v in masks.items()}
    names = [s.name for s in _user(config).taps.sites]
    changed = next(({"site": names[s], "unit": int((a != b).nonzero()[0]), "replicas": k,
                     "counts": {str(r): c for r, c in counts.items()}}
                    for k in (4, 16) for s, (a, b) in enumerate(zip(masks[1], masks[k]))
                    if not torch.equal(a, b)), None)
    exact = [layer.masks["exact_dead"] for layer in _measured(_user(config), config.quick).layers]
    dead_flagged = sum(int((m & e).sum()) for m, e in zip(masks[1], exact))
    measured = {"saturated_by_replication": {str(k): v for k, v in counts.items()},
                "exactly_dead_among_saturated": dead_flagged}
    if invariant:
        verdict = "refuted" if changed else "confirmed" if counts[1] else "inconclusive"
        summary = (f"The batch-size-invariant measure flags the same {counts[1]} units at ×1, ×4, ×16 "
                   f"({dead_flagged} of them exactly dead)." if verdict == "confirmed" else
                   f"The invariant measure changed with the batch: {changed}." if changed else
                   "No unit is saturated by the invariant measure on this batch: invariance is not tested.")
        return _evidence(config, verdict, summary, measured, changed, version=version)
    verdict = "refuted" if changed else "inconclusive"
    summary = (f"Control caught: the paper's measure flags {counts[1]}, {counts[4]}, {counts[16]} units on "
               "the same "
               "samples at ×1, ×4, ×16." if changed else
               f"The paper's measure did not change with the batch here ({counts[1]} units).")
    return _evidence(config, verdict, summary, measured, changed, version=version, control=True)


@check("metrics.rank", "model-rank-subsample", on_model=True)
def model_rank_subsample(config: Config) -> Evidence:
    """The paper's code computes ranks on 1024 random rows of a layer's activations: per layer of your
    network, is the effective rank on 1024 rows within 5% of all rows? (Centred and uncentred, both.)"""
    user, sizes = _user(config), SIZES[config.quick]
    X, _ = _data(config)
    m = _measured(user, config.quick)
    rows, off = [], None
    for k, layer in enumerate(m.layers):
        if layer.samples <= 1024:
            continue
        keep = torch.randperm(layer.samples, generator=torch.Generator().manual_seed(config.seed))[:1024]
        u = layer.units
        sub = M.Moments(0, torch.zeros(u, dtype=torch.float64), torch.zeros(u, u, dtype=torch.float64))
        seen = [0]

        def see(i: int, which: str, t: torch.Tensor, k=k, keep=keep, sub=sub, seen=seen) -> None:
            if i == k and which == "h":
                lo = seen[0]
                seen[0] += t.shape[0]
                sub.add(t[keep[(keep >= lo) & (keep < seen[0])] - lo])

        user.taps.stream(X, see, sizes.chunk)
        for centred in (False, True):
            full = layer.effective_rank_centred if centred else layer.effective_rank
            part = float(M.effective_rank(sub, centred=centred))
            row = {"site": layer.name, "rows": layer.samples, "centred": centred, "all_rows": full,
                   "1024_rows": part}
            rows.append(row)
            if abs(part - full) > 0.05 * abs(full) and off is None:
                off = row
    if not rows:
        return _not_applicable(config, "no layer has more than 1024 rows of activations on these data")
    verdict = "refuted" if off else "confirmed"
    summary = ("On every layer the effective rank of 1024 random rows is within 5% of all rows."
               if not off else
               f"At {off['site']} the effective rank of 1024 rows is {off['1024_rows']:.2f} against "
               f"{off['all_rows']:.2f} on all {off['rows']} rows{' (centred)' if off['centred'] else ''}.")
    return _evidence(config, verdict, summary, {"sites": rows}, off)


@check("metrics.rank", "model-control-rank-cloning", on_model=True)
def model_control_rank_cloning(config: Config) -> Evidence:
    """Control: "the effective rank does not depend on cloning", tested on each layer of your network
    with its busiest unit cloned width times (the activations of a wider network of the same
    function); it must be refuted."""
    user, sizes = _user(config), SIZES[config.quick]
    X, _ = _data(config)
    m = _measured(user, config.quick)
    for k, layer in enumerate(m.layers):
        stats = M.LayerStats(layer.activation)
        busiest = int(_site_column_means(user, X, k, sizes.chunk).argmax())

        def see(i: int, which: str, t: torch.Tensor, k=k, stats=stats, busiest=busiest) -> None:
            if i == k:
                (stats.add_z if which == "z" else stats.add_h)(
                    t if which == "z" else torch.cat([t, t[:, [busiest] * t.shape[1]]], 1))

        user.taps.stream(X, see, sizes.chunk)
        wide = float(M.effective_rank(stats.moments))
        if abs(wide - layer.effective_rank) > 1e-6 * max(layer.effective_rank, 1.0):
            return _evidence(config, "refuted", f"Control caught: at {layer.name} cloning the busiest unit "
                                                "width "
                             f"times moves the effective rank {layer.effective_rank:.3f} → {wide:.3f}.",
                             {"site": layer.name, "before": layer.effective_rank, "after": wide},
                             {"site": layer.name, "before": layer.effective_rank, "after": wide},
                             control=True)
    return _evidence(config, "inconclusive", "Control not caught: cloning moved no layer's effective rank.",
                     control=True)


def _site_column_means(user: UserModel, X: torch.Tensor, k: int, chunk: int) -> torch.Tensor:
    total = []

    def see(i: int, which: str, t: torch.Tensor) -> None:
        if i == k and which == "h":
            total.append(t.abs().double().sum(0))

    user.taps.stream(X, see, chunk)
    return torch.stack(total).sum(0)
