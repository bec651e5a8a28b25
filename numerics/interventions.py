"""Interventions against loss of plasticity: one registry, composable with any learner.

An ``Intervention`` is data: what it changes in the model (normalization before the activation,
dropout after it), in the gradient, in the update, and which units it resets. A learner
(``numerics.batched.Batched``, or ``numerics.train.train`` through ``optimizer``/``hp`` for the
parts a torch optimizer runs) applies every field it is given, so two interventions compose by
merging their fields (``compose``, or ``get("cbp+layernorm")``); composing two that set the same
field differently is an error. With θ the parameters, g the minibatch gradient, η the step size and
t the step (1-based), one step is

    g ← g + λ θ                               L2 (``weight_decay`` λ; every parameter, as torch's SGD)
    g ← g + σ_t ‖g‖ ξ,  σ_t = σ₀ ρ^t          noisy SGD (``noise`` σ₀, ``noise_decay`` ρ; ‖g‖ per run)
    θ ← θ − η g
    θ ← θ + σ ξ'                               shrink & perturb (``perturb`` σ; the shrink is the L2
                                               term: Dohare et al.'s "L2 + noise" form)
    then the unit resets of continual backprop and ReDo,

ξ, ξ' ~ N(0, I) from the run's own generator.

**Continual backprop** (Dohare et al., Nature 2024, Methods; ``CBP``). Per hidden unit i of layer l
an age a_i (steps since it was created) and a contribution utility, updated every step on the step's
minibatch:

    u_i ← η u_i + (1 − η) · mean_x |h_i(x)| · Σ_k |w_ik|,      η = 0.99 (``decay``),

Σ_k |w_ik| its outgoing weight magnitudes. Bias-corrected, û_i = u_i / (1 − η^{a_i}). A unit is mature
once a_i > M (``maturity`` 100). Every step each layer accrues ρ · (number of mature units) to a
replacement count (``rate`` ρ = 1e-4, swept 1e-6 … 1e-2), and while the count is ≥ 1 and a mature
unit is left, the mature unit with the lowest û is replaced and the count drops by 1. Units mature
one by one as their own ages pass M, and the count grows only with mature units: nothing is owed
for the steps before a unit matured, so no burst of replacements at the threshold. Replacing a unit
draws its incoming weights from the initial distribution and zeroes its bias, its outgoing weights,
its utility and its age (and resets its normalization parameters: γ = 1, β = 0, running mean 0,
variance 1).

``CBP(variant="code")`` is the published code's default for this problem (``lop/algos/gnt.py``
called from ``slowly_changing_regression/expr.py``): maturity 10 (the key its configuration sets is
not the key it reads), the "adaptable contribution" utility

    u_i ← η u_i + (1 − η) · mean_k |w_ik| · mean_x |h_i(x) − f̂_i| / mean_j |w_ji|,

with f̂_i ← η f̂_i + (1 − η) mean_x h_i(x) a running mean activation (bias-corrected by 1 − η^{a_i}),
added to the next layer's bias through the outgoing weights when the unit is replaced; and a
fractional replacement count below 1 replaced with that probability instead of accrued.

**ReDo** (Sokar et al., ICML 2023; ``ReDo``): every F steps (``every``), the dormancy score of each
hidden unit on the inputs of the last F steps,

    s_i = mean_x |h_i(x)| / ( (1/U) Σ_j mean_x |h_j(x)| ),

and every unit with s_i ≤ τ (``tau`` 0.025 or 0.1) is reset as above (incoming weights redrawn,
bias and outgoing weights zero).
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace
from typing import TYPE_CHECKING, Any

import torch

from numerics.validate import count, number

if TYPE_CHECKING:  # the learner: numerics.batched.Batched (duck-typed here, no import cycle)
    from numerics.batched import Batched, Trace

NORMS = (None, "batch", "layer")
CBP_VARIANTS = ("paper", "code")


@dataclass(frozen=True)
class CBP:
    """Continual backprop's settings (module docstring)."""

    rate: float = 1e-4
    decay: float = 0.99
    maturity: int = 100
    variant: str = "paper"

    def __post_init__(self) -> None:
        if self.variant not in CBP_VARIANTS:
            raise ValueError(f"unknown CBP variant {self.variant!r} (accepted: {', '.join(CBP_VARIANTS)})")
        number(self.rate, "CBP rate", 0, 1)
        number(self.decay, "CBP decay", 0, 1, lo_open=True, hi_open=True)
        count(self.maturity, "CBP maturity", 0)


@dataclass(frozen=True)
class ReDo:
    """ReDo's settings: reset units with dormancy score ≤ ``tau`` every ``every`` steps."""

    tau: float = 0.1
    every: int = 1000

    def __post_init__(self) -> None:
        number(self.tau, "ReDo tau", 0)
        count(self.every, "ReDo every", 1)


@dataclass(frozen=True)
class Intervention:
    """What an intervention changes (module docstring). ``breaks`` is the theory's prediction for
    an exact clone (CLAIMS.md, cloned.escape / cloned.normalization): True when the intervention is
    not block-symmetric and so moves a clone off M_D."""

    name: str
    description: str = ""
    norm: str | None = None
    dropout: float = 0.0
    weight_decay: float = 0.0
    noise: float = 0.0
    noise_decay: float = 1.0
    perturb: float = 0.0
    cbp: CBP | None = None
    redo: ReDo | None = None
    breaks: bool = False

    def __post_init__(self) -> None:
        if self.norm not in NORMS:
            raise ValueError(f"unknown norm {self.norm!r} (accepted: none, batch, layer)")
        number(self.dropout, "dropout", 0, 1, hi_open=True)
        for name in ("weight_decay", "noise", "perturb"):
            number(getattr(self, name), name, 0)
        number(self.noise_decay, "noise_decay", 0, 1, lo_open=True)
        for name, kind in (("cbp", CBP), ("redo", ReDo)):
            if getattr(self, name) is not None and not isinstance(getattr(self, name), kind):
                raise TypeError(f"{name} must be a numerics.interventions.{kind.__name__} or None, not "
                                f"{type(getattr(self, name)).__name__}")

    @property
    def optimizer(self) -> str:
        """The ``theory.updates`` map a torch optimizer runs for this intervention (``numerics.train``);
        unit resets and perturbation have no such map."""
        if self.cbp is not None or self.redo is not None or self.perturb:
            raise ValueError(f"intervention {self.name!r} resets or perturbs units: only the batched "
                             "learner runs it (numerics.batched)")
        if self.noise and self.weight_decay:
            raise ValueError(f"intervention {self.name!r}: no single optimizer map has both noise and L2")
        return "noisy_sgd" if self.noise else "weight_decay" if self.weight_decay else "sgd"

    @property
    def hp(self) -> tuple[tuple[str, float], ...]:
        """The optimizer map's hyper-parameters (step size aside)."""
        if self.noise:
            return (("sigma0", self.noise), ("decay", self.noise_decay))
        if self.weight_decay:
            return (("weight_decay", self.weight_decay),)
        return ()


_REGISTRY = [
    Intervention("bp", "backpropagation: plain SGD, nothing added"),
    Intervention("l2", "L2 regularization λ = 1e-3", weight_decay=1e-3, breaks=False),
    Intervention("snp", "shrink & perturb: L2 λ = 1e-3 and Gaussian noise σ = 1e-4 after every step",
                 weight_decay=1e-3, perturb=1e-4, breaks=True),
    Intervention("noisy_sgd", "noisy SGD: gradient noise of std 0.01‖g‖", noise=0.01, breaks=True),
    Intervention("cbp", "continual backprop: contribution utility, decay 0.99, maturity 100, rate 1e-4",
                 cbp=CBP(), breaks=True),
    Intervention("cbp-code", "continual backprop as the reference code runs it: adaptable contribution, "
                 "maturity 10, probabilistic fractional replacement", cbp=CBP(maturity=10, variant="code"),
                 breaks=True),
    Intervention("redo-0.025", "ReDo: reset units with dormancy ≤ 0.025 every 1000 steps",
                 redo=ReDo(tau=0.025), breaks=True),
    Intervention("redo-0.1", "ReDo: reset units with dormancy ≤ 0.1 every 1000 steps", redo=ReDo(tau=0.1),
                 breaks=True),
    Intervention("batchnorm", "BatchNorm before every hidden activation", norm="batch"),
    Intervention("layernorm", "LayerNorm before every hidden activation", norm="layer"),
    Intervention("dropout", "dropout p = 0.1 after every hidden activation", dropout=0.1, breaks=True),
]

INTERVENTIONS: dict[str, Intervention] = {i.name: i for i in _REGISTRY}


def compose(*parts: Intervention) -> Intervention:
    """One intervention doing everything ``parts`` do (plain backprop is the identity); a field set
    differently by two parts is an error."""
    if not parts:
        raise ValueError("compose needs at least one intervention")
    base = INTERVENTIONS["bp"]
    out: dict[str, Any] = {}
    for f in fields(Intervention):
        if f.name in ("name", "description", "breaks"):
            continue
        values = {getattr(p, f.name) for p in parts} - {getattr(base, f.name)}
        if len(values) > 1:
            raise ValueError(f"cannot compose {' + '.join(p.name for p in parts)}: they set {f.name} "
                             f"differently ({', '.join(map(str, values))})")
        out[f.name] = values.pop() if values else getattr(base, f.name)
    named = [p for p in parts if p.name != "bp"] or [base]
    return Intervention("+".join(p.name for p in named), "; ".join(p.description for p in named),
                        breaks=any(p.breaks for p in parts), **out)


def get(name: str, **changes: Any) -> Intervention:
    """The registry's intervention ``name`` — or ``"a+b"``, the composition of registered ones — with
    ``changes`` to its fields (``get("cbp", cbp=CBP(rate=1e-3))``)."""
    unknown = [n for n in name.split("+") if n not in INTERVENTIONS]
    if unknown or not name:
        raise ValueError(f"unknown intervention {unknown[0] if unknown else name!r} "
                         f"(accepted: {', '.join(INTERVENTIONS)}, or several joined by +)")
    fixed = ("name", "description", "breaks")
    accepted = [f.name for f in fields(Intervention) if f.name not in fixed]
    wrong = [k for k in changes if k not in accepted]
    if wrong:  # a misspelt setting is refused, never ignored
        raise ValueError(f"unknown intervention setting {wrong[0]!r} (accepted: {', '.join(accepted)})")
    parts = [INTERVENTIONS[n] for n in name.split("+")]
    found = parts[0] if len(parts) == 1 else compose(*parts)
    return replace(found, **changes) if changes else found


# ---- unit resets: the state a learner keeps for them -------------------------------------------------

@dataclass
class UnitResets:
    """The per-run state of continual backprop and ReDo on a learner with S runs and hidden layers of
    U_l units: ages, utilities, running mean activations, replacement counts (all (S, U_l) or (S,))."""

    cbp: CBP | None
    redo: ReDo | None
    age: list[torch.Tensor] = field(default_factory=list)
    utility: list[torch.Tensor] = field(default_factory=list)
    mean_h: list[torch.Tensor] = field(default_factory=list)
    owed: list[torch.Tensor] = field(default_factory=list)
    replaced: list[torch.Tensor] = field(default_factory=list)  # per layer (S,): units replaced so far

    @classmethod
    def start(cls, learner: Batched, intervention: Intervention) -> UnitResets | None:
        if intervention.cbp is None and intervention.redo is None:
            return None
        S, dev, dt = learner.S, learner.device, learner.dtype
        units = learner.units
        return cls(intervention.cbp, intervention.redo,
                   age=[torch.zeros(S, u, device=dev, dtype=dt) for u in units],
                   utility=[torch.zeros(S, u, device=dev, dtype=dt) for u in units],
                   mean_h=[torch.zeros(S, u, device=dev, dtype=dt) for u in units],
                   owed=[torch.zeros(S, device=dev, dtype=dt) for _ in units],
                   replaced=[torch.zeros(S, dtype=torch.long) for _ in units])

    # -- continual backprop ------------------------------------------------------------------------

    def cbp_step(self, learner: Batched, trace: Trace) -> None:
        """Ages, utilities and replacements after one update (module docstring)."""
        c = self.cbp
        for l, h in enumerate(trace.h):
            age = self.age[l].add_(1)
            a = h.abs().mean(1)  # (S, U): mean over the step's rows
            out = learner.outgoing(l).abs()  # (S, U, fan_out)
            if c.variant == "paper":
                new = a * out.sum(2)
            else:
                self.mean_h[l].mul_(c.decay).add_(h.mean(1), alpha=1 - c.decay)
                f_hat = self.mean_h[l] / (1 - c.decay ** age)
                new = (h - f_hat[:, None, :]).abs().mean(1) * out.mean(2) / learner.incoming(l).abs().mean(2)
            self.utility[l].mul_(c.decay).add_(new, alpha=1 - c.decay)
            mature = age > c.maturity
            owed = c.rate * mature.sum(1).to(age.dtype)
            if c.variant == "paper":
                self.owed[l].add_(owed)
                due = self.owed[l] >= 1
            else:  # the code: a fractional count below 1 becomes 1 with that probability
                coin = learner.uniform("cbp", (len(trace.h),))[:, l]
                whole = torch.where(owed < 1, (coin <= owed).to(owed.dtype), torch.floor(owed))
                self.owed[l] = whole
                due = whole >= 1
            if not bool(due.any()):
                continue
            for s in torch.nonzero(due).squeeze(1).tolist():
                candidates = torch.nonzero(mature[s]).squeeze(1)
                n = min(int(self.owed[l][s]), len(candidates))  # the rest stays owed
                if n == 0:
                    continue
                self.owed[l][s] -= n
                corrected = self.utility[l][s, candidates] / (1 - c.decay ** age[s, candidates])
                # the n least useful, ties to the lower index (a stable sort), as a per-unit loop would
                chosen = candidates[torch.sort(corrected, stable=True).indices[:n]]
                transfer = None
                if c.variant == "code":
                    transfer = self.mean_h[l][s, chosen] / (1 - c.decay ** age[s, chosen])
                self._reset(learner, l, s, chosen, transfer)

    # -- ReDo -----------------------------------------------------------------------------------------

    def redo_step(self, learner: Batched, t: int, recent: torch.Tensor) -> None:
        """Every ``every`` steps: reset the units whose dormancy score on ``recent`` inputs (S, R, d)
        is ≤ τ."""
        r = self.redo
        if t % r.every:
            return
        for l, h in enumerate(learner.forward(recent, train=False).h):
            a = h.abs().mean(1)  # (S, U)
            score = a / a.mean(1, keepdim=True).clamp_min(torch.finfo(a.dtype).tiny)
            dormant = score <= r.tau
            for s in torch.nonzero(dormant.any(1)).squeeze(1).tolist():
                self._reset(learner, l, s, torch.nonzero(dormant[s]).squeeze(1), None)

    def _reset(self, learner: Batched, l: int, s: int, units: torch.Tensor,
               transfer: torch.Tensor | None) -> None:
        learner.reset_units(l, s, units, transfer)
        for state in (self.age, self.utility, self.mean_h):
            state[l][s, units] = 0
        self.replaced[l][s] += len(units)


def noisy_sigma(intervention: Intervention, t: int) -> float:
    """σ_t = σ₀ ρ^t of noisy SGD at step t (1-based), as ``theory.updates``' noisy_sgd map."""
    return intervention.noise * intervention.noise_decay ** t if intervention.noise else 0.0

