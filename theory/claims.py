"""The claim registry: every claim of ../shared/CLAIMS.md with its id, statement and source, and the
checks that decide it.

Checks live in the package ``checks``, one module per family (``checks.frozen`` for the claims
``frozen.*``), and register themselves with the ``check`` decorator when their module is imported:
the registry knows the claims, the checks know the registry, and nothing here imports a check. The
command line imports the families asked for (``theory.verify.load``), so asking for one family imports
only that family's code.

A registered check has one name, used everywhere (the verdict table, error rows, the JSON and the
report): the function's name with ``-`` for ``_`` unless given, formatted with its parameters
(``optimizer-{optimizer}``).
"""

from __future__ import annotations

import functools
import inspect
import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from theory.evidence import Config, Evidence

FAMILIES = ("frozen", "cloned", "rank", "stability", "continual", "metrics")


@dataclass(frozen=True)
class Check:
    """One registered check: ``function(config, **params)`` returns the Evidence of ``claim``;
    ``on_model`` checks run on the user's network (``--model``) and only there."""

    claim: str
    name: str
    function: Callable[..., Evidence]
    params: tuple[tuple[str, Any], ...] = ()
    on_model: bool = False

    def __call__(self, config: Config) -> Evidence:
        return self.function(config, **dict(self.params))


@dataclass(frozen=True)
class Claim:
    id: str
    statement: str
    source: str
    checks: list[Check] = field(default_factory=list, compare=False, repr=False)

    @property
    def family(self) -> str:
        return self.id.split(".")[0]


_CLAIMS = [
    # ---- frozen -------------------------------------------------------------------------------
    Claim("frozen.gradient-zero",
          "If f'_u(z(u)) = 0 for every training input, then dL/dθ_F = 0 for the incoming weights and "
          "bias θ_F of u.",
          "§4, Prop. 4.1 (1)"),
    Claim("frozen.manifold",
          "A frozen unit confines gradient descent to the affine manifold M_F = {θ : θ_F = θ_F0}.",
          "§4, Prop. 4.1 (1)"),
    Claim("frozen.activations",
          "Activations with a flat region freeze exactly; those that only plateau asymptotically "
          "freeze approximately; leaky ReLU (and identity) never freeze.",
          "App. A.1.2, remark"),
    Claim("frozen.optimizers",
          "Whether the frozen manifold M_F is invariant, and the unit stays dead, under each "
          "optimizer (not stated in the paper; decided here).",
          "Remark 4.2 (by analogy); not in the paper"),
    Claim("frozen.normalization",
          "Normalization (BatchNorm/LayerNorm before the activation) prevents units from freezing.",
          "§5, 'Preventing LoP with Normalization'"),
    # ---- cloned -------------------------------------------------------------------------------
    Claim("cloned.forward",
          "Incoming-equitable weights give identical forward activations inside each block.",
          "§4, Prop. 4.1 (2); App. A.2, Prop. A.5"),
    Claim("cloned.backward",
          "Incoming- and outgoing-equitable weights give identical backward signals inside each block "
          "and block-constant gradients.",
          "§4, Prop. 4.1 (2); App. A.2, Prop. A.5"),
    Claim("cloned.trajectory",
          "W(0) ∈ M_D implies W(t) ∈ M_D after any number of gradient steps on any batches.",
          "§4, Prop. 4.1 (2)"),
    Claim("cloned.dimension",
          "dim M_D equals the number of connected block pairs of the base network.",
          "App. A.2"),
    Claim("cloned.optimizers",
          "Momentum, Adam and weight decay 'might violate' the clone symmetry.",
          "Remark 4.2; §4"),
    Claim("cloned.escape",
          "Noisy SGD and dropout break the clone symmetry; a single step with noise of relative size "
          "0.01 suffices to initiate escape in MLPs.",
          "§4"),
    Claim("cloned.normalization",
          "Normalization alone does not break established clones.",
          "§5"),
    # ---- rank ---------------------------------------------------------------------------------
    Claim("rank.hard",
          "For f square-integrable under N(0,1) and not a polynomial, C_f is full rank even when X is "
          "rank-deficient.",
          "§3, App. A.1"),
    Claim("rank.alpha",
          "Rank recovery strength α_f = E f'(z)² / E f(z)² − 1: ReLU 0.5000, Tanh 0.6667, GELU 0.5449.",
          "App. A.1.3"),
    Claim("rank.lemma",
          "corr(X, Y) = 1 − ε implies corr(f(X), f(Y)) ≈ 1 − (α_f + 1) ε.",
          "App. A.1"),
    Claim("rank.effective",
          "For C_ij = 1 − ε, r̃(C_f) ≈ r̃(C)(1 + α_f ε ln(n/ε)).",
          "App. A.1"),
    Claim("rank.corollary",
          "A family f_s with α → ∞ and E f_s² bounded has f'_s(z) → 0 in probability.",
          "App. A.1"),
    Claim("rank.validation",
          "10,000 samples, 50 dims, intrinsic rank 10: ReLU and ELU recover nearly full rank, tanh and "
          "sigmoid less.",
          "App. A.1.3"),
    # ---- as written (the paper's printed statements, with their normalizations and constants) ----
    Claim("rank.prop31-main",
          "If the input features are highly correlated with effective rank 1 + ε, the effective rank of C_f "
          "is approximately 1 + α_f ε.",
          "§3, Prop. 3.1 (second part); restated in App. A.1"),
    Claim("rank.mehler",
          "For (Z_i, Z_j) jointly Gaussian with mean 0, variance 1, correlation ρ: "
          "E[He_k(Z_i) He_l(Z_j)] = δ_kl 2^k k! ρ^k, with c_k = (1/(2^k k! √π)) ∫ f He_k e^{−x²} dx and "
          "C_ij = Σ_k c_k² 2^k k! Σ_ij^k.",
          "App. A.1, proof of the hard-rank proposition"),
    Claim("rank.eigen",
          "C with unit diagonal and 1 − ε off it has top eigenvalue 1 + (n − 1)(1 − ε) and n − 1 eigenvalues "
          "ε; p_1 ≈ 1 − ε, p_i ≈ ε/n, H(C) ≈ ε ln(ne/ε).",
          "App. A.1, proof of the effective-rank proposition"),
    Claim("rank.growth",
          "For f_{a,b}(z) = f(az + b): half-vanishing f: α grows as (b_k/a_k)², unbounded if "
          "lim a_k/b_k → −∞; plateauing f: α grows roughly as a_k when a_k → ∞ and lim a_k/b_k ≠ 0; in "
          "both cases lim P(f'_{a_k,b_k}(z) < ε) = 1.",
          "App. A.1.1"),
    Claim("rank.figure31",
          "Fig. 3.1: tanh(a x) on 20-dimensional inputs of rank 5; the effective rank of Cov(h) against a "
          "(α → 0 as a → 0, α → ∞ as a → ∞).",
          "§3, Fig. 3.1 and the example before it"),
    Claim("rank.validation-setting",
          "The appendix validation of r̃(C_f) ≈ r̃(C)(1 + α_f ε ln(n/ε)) as the authors ran it (10,000 × 100 "
          "samples, ε from 1e-3 to 0.1): 'close agreement' with ReLU 0.5000, Tanh 0.6667, GELU 0.5449.",
          "App. A.1.3, validation 2 (caption and text)"),
    Claim("cloned.architectures",
          "Cloning beyond MLPs: CNN, ResNet and ViT clones stay clones under SGD and Adam ('Adam cannot "
          "escape'), noisy SGD and dropout break them, and a ViT escapes after a small perturbation but does "
          "not move far.",
          "§4 (cloning experiments); App. B, Figs. B.6–B.12"),
    # ---- stability ----------------------------------------------------------------------------
    Claim("stability.classify",
          "LoP manifolds are often unstable or saddle-like (normal-space Hessian spectrum).",
          "§4, Def. 4.2"),
    Claim("stability.clone-critical",
          "Duplicating a unit of a network at a critical point gives a line of critical points, part of "
          "which are saddles.",
          "Fukumizu & Amari 2000; Simsek et al. 2021"),
    Claim("stability.escape-rate",
          "Near a manifold a gradient step multiplies a normal deviation by (I − ηH_N): the most negative "
          "normal eigenvalue predicts the growth of the off-manifold distance.",
          "not in the paper"),
    # ---- continual ----------------------------------------------------------------------------
    Claim("continual.symptoms",
          "During continual training dead/duplicate fractions rise and effective rank falls together "
          "with the drop in accuracy.",
          "§3, App. B"),
    Claim("continual.normalization",
          "BatchNorm/LayerNorm reduce dead and duplicate fractions and keep effective rank higher.",
          "§5, App. B"),
    Claim("continual.cbp",
          "On bit-flipping, continual backprop keeps rank stable where backprop loses it.",
          "App. B"),
    Claim("continual.dropout",
          "Dropout helps escape an artificial cloning manifold but can be neutral or harmful in "
          "continual bit-flipping.",
          "App. B"),
    Claim("continual.manifolds",
          "The loss of plasticity coincides with the network entering frozen and cloned manifolds.",
          "the theory's thesis; not tested by the paper"),
    # ---- metrics ------------------------------------------------------------------------------
    Claim("metrics.dead",
          "The paper's dead-unit measure and ReDo's dormancy score against exact and certified dead units.",
          "App. B.2"),
    Claim("metrics.duplicate",
          "Cosine / correlation > 0.95 against exact clone blocks.",
          "App. B.2"),
    Claim("metrics.saturated",
          "The paper's saturated-unit measure against exact frozen units.",
          "App. B.2"),
    Claim("metrics.rank",
          "Effective, stable and numerical rank of the same activations: centring, samples, subsampling.",
          "App. B.2"),
]

CLAIMS: dict[str, Claim] = {c.id: c for c in _CLAIMS}


def check(claim: str, name: str | None = None, *, on_model: bool = False, **params: Sequence[Any]
          ) -> Callable[[Callable[..., Evidence]], Callable[..., Evidence]]:
    """Register the decorated function as a check of ``claim``.

    ``name`` defaults to the function's name with ``-`` for ``_``; ``params`` registers one check per
    combination of values, the name formatted with them (``@check("frozen.optimizers",
    "optimizer-{optimizer}", optimizer=("sgd", "adam"))``). The returned function fills in the
    Evidence's ``claim`` and ``check``, whoever calls it. ``on_model`` marks a check of the user's
    network (``config.model``, from ``--model``)."""
    if claim not in CLAIMS:
        raise ValueError(f"unknown claim {claim!r} (accepted: {', '.join(CLAIMS)})")

    def register(function: Callable[..., Evidence]) -> Callable[..., Evidence]:
        pattern = name or function.__name__.replace("_", "-")

        signature = inspect.signature(function)

        @functools.wraps(function)
        def run(config: Config, *args: Any, **kwargs: Any) -> Evidence:
            bound = signature.bind(config, *args, **kwargs)
            evidence = function(*bound.args, **bound.kwargs)
            if not isinstance(evidence, Evidence):
                raise TypeError(f"check {pattern} returned {type(evidence).__name__}, not Evidence")
            evidence.claim, evidence.check = claim, pattern.format(**bound.arguments)
            return evidence

        keys = list(params)
        for values in itertools.product(*params.values()):
            chosen = dict(zip(keys, values))
            registered = Check(claim, pattern.format(**chosen), run, tuple(chosen.items()), on_model)
            if any(c.name == registered.name for c in CLAIMS[claim].checks):
                raise ValueError(f"check {registered.name!r} of {claim} is registered twice")
            CLAIMS[claim].checks.append(registered)
        return run

    return register


def family_claims(family: str) -> list[Claim]:
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r} (accepted: {', '.join(FAMILIES)}, all)")
    return [c for c in _CLAIMS if c.family == family]


def is_implemented(family: str) -> bool:
    """A family is implemented when every one of its claims has a registered check (its checks module
    must have been imported: ``theory.verify.load``); checks of the user's network do not count."""
    return all(any(not k.on_model for k in c.checks) for c in family_claims(family))
