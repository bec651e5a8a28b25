"""The claim registry: every claim of ../shared/CLAIMS.md with its id, statement, source and the
checks that decide it.

A check is named by ``"module:function"`` plus fixed keyword arguments and resolved lazily, so
asking for one family imports only that family's code (and never imports the rest of the
project into this module).
"""

from __future__ import annotations

import functools
import importlib
from collections.abc import Callable
from dataclasses import dataclass

from theory.evidence import Config, Evidence
from theory.updates import OPTIMIZERS

FAMILIES = ("frozen", "cloned", "rank", "stability", "continual")


@dataclass(frozen=True)
class CheckSpec:
    target: str  # "package.module:function"
    kwargs: tuple[tuple[str, object], ...] = ()

    @property
    def name(self) -> str:
        base = self.target.split(":")[1].replace("_", "-")
        return base + "".join(f"[{v}]" for _, v in self.kwargs)

    def resolve(self) -> Callable[[Config], Evidence]:
        module, func = self.target.split(":")
        fn = getattr(importlib.import_module(module), func)
        return functools.partial(fn, **dict(self.kwargs)) if self.kwargs else fn


@dataclass(frozen=True)
class Claim:
    id: str
    statement: str
    source: str
    checks: tuple[CheckSpec, ...] = ()

    @property
    def family(self) -> str:
        return self.id.split(".")[0]


def _checks(*targets: str) -> tuple[CheckSpec, ...]:
    return tuple(CheckSpec(t) for t in targets)


_CLAIMS = [
    # ---- frozen -------------------------------------------------------------------------------
    Claim("frozen.gradient-zero",
          "If f'_u(z(u)) = 0 for every training input, then dL/dθ_F = 0 for the incoming weights and "
          "bias θ_F of u.",
          "§4, Prop. 4.1 (1)",
          _checks("theory.frozen:gradient_zero_mlp", "theory.frozen:gradient_zero_dag",
                  "theory.frozen:gradient_zero_exact", "theory.frozen:control_active_on_one_sample",
                  "theory.frozen:control_leaky_relu", "numerics.frozen:gradient_zero_trained")),
    Claim("frozen.manifold",
          "A frozen unit confines gradient descent to the affine manifold M_F = {θ : θ_F = θ_F0}.",
          "§4, Prop. 4.1 (1)",
          _checks("theory.frozen:manifold_first_layer", "theory.frozen:manifold_sign_condition",
                  "theory.frozen:manifold_box_condition", "theory.frozen:manifold_paper_statement",
                  "numerics.frozen:manifold_trained")),
    Claim("frozen.activations",
          "Activations with a flat region freeze exactly; those that only plateau asymptotically "
          "freeze approximately; leaky ReLU (and identity) never freeze.",
          "App. A.1.2, remark",
          _checks("theory.frozen:activations_classify")),
    Claim("frozen.optimizers",
          "Whether the frozen manifold M_F is invariant, and the unit stays dead, under each "
          "optimizer (not stated in the paper; decided here).",
          "Remark 4.2 (by analogy); not in the paper",
          tuple(CheckSpec("theory.frozen_optimizers:optimizer_check", (("optimizer", name),))
                for name in OPTIMIZERS)),
    Claim("frozen.normalization",
          "Normalization (BatchNorm/LayerNorm before the activation) prevents units from freezing.",
          "§5, 'Preventing LoP with Normalization'",
          _checks("numerics.frozen:normalization_bound", "numerics.frozen:normalization_trained")),
    # ---- cloned -------------------------------------------------------------------------------
    Claim("cloned.forward",
          "Incoming-equitable weights give identical forward activations inside each block.",
          "§4, Prop. 4.1 (2); App. A.2, Prop. A.5",
          _checks("theory.cloned:forward", "theory.cloned:control_edge_in_block",
                  "theory.cloned:control_mixed_activations")),
    Claim("cloned.backward",
          "Incoming- and outgoing-equitable weights give identical backward signals inside each block "
          "and block-constant gradients.",
          "§4, Prop. 4.1 (2); App. A.2, Prop. A.5",
          _checks("theory.cloned:backward", "theory.cloned:control_incoming_only")),
    Claim("cloned.trajectory",
          "W(0) ∈ M_D implies W(t) ∈ M_D after any number of gradient steps on any batches.",
          "§4, Prop. 4.1 (2)",
          _checks("theory.cloned:trajectory", "theory.cloned:trajectory_unequal_degrees",
                  "cases.equivalence:refinement_recovers_planted",
                  "cases.equivalence:refinement_control_random_init",
                  "cases.equivalence:refinement_control_incoming_only",
                  "numerics.cloned:trajectory_trained", "numerics.cloned:control_unequal_split")),
    Claim("cloned.dimension",
          "dim M_D equals the number of connected block pairs of the base network.",
          "App. A.2",
          _checks("theory.cloned:dimension")),
    Claim("cloned.optimizers",
          "Momentum, Adam and weight decay 'might violate' the clone symmetry.",
          "Remark 4.2; §4",
          (*(CheckSpec("theory.cloned_optimizers:optimizer_check", (("optimizer", name),))
             for name in OPTIMIZERS), CheckSpec("theory.cloned_optimizers:control_state"))),
    Claim("cloned.escape",
          "Noisy SGD and dropout break the clone symmetry; a single step with noise of relative size "
          "0.01 suffices to initiate escape in MLPs.",
          "§4",
          _checks("numerics.cloned:escape_noise", "numerics.cloned:escape_dropout",
                  "numerics.cloned:escape_rounding", "cases.sweeps:graph_sweep")),
    Claim("cloned.normalization",
          "Normalization alone does not break established clones.",
          "§5",
          _checks("theory.cloned:normalization", "theory.cloned:control_norm_unequal_affine",
                  "numerics.cloned:normalization_trained")),
    # ---- rank ---------------------------------------------------------------------------------
    Claim("rank.hard",
          "For f square-integrable under N(0,1) and not a polynomial, C_f is full rank even when X is "
          "rank-deficient.",
          "§3, App. A.1",
          _checks("theory.rank:hard", "theory.rank:hard_controls")),
    Claim("rank.alpha",
          "Rank recovery strength α_f = E f'(z)² / E f(z)² − 1: ReLU 0.5000, Tanh 0.6667, GELU 0.5449.",
          "App. A.1.3",
          _checks("theory.rank:alpha")),
    Claim("rank.lemma",
          "corr(X, Y) = 1 − ε implies corr(f(X), f(Y)) ≈ 1 − (α_f + 1) ε.",
          "App. A.1",
          _checks("theory.rank:lemma")),
    Claim("rank.effective",
          "For C_ij = 1 − ε, r̃(C_f) ≈ r̃(C)(1 + α_f ε ln(n/ε)).",
          "App. A.1",
          _checks("theory.rank:effective")),
    Claim("rank.corollary",
          "A family f_s with α → ∞ and E f_s² bounded has f'_s(z) → 0 in probability.",
          "App. A.1",
          _checks("theory.rank:corollary", "theory.rank:corollary_maps")),
    Claim("rank.validation",
          "10,000 samples, 50 dims, intrinsic rank 10: ReLU and ELU recover nearly full rank, tanh and "
          "sigmoid less.",
          "App. A.1.3",
          _checks("theory.rank:validation")),
    # ---- stability ----------------------------------------------------------------------------
    Claim("stability.classify",
          "LoP manifolds are often unstable or saddle-like (normal-space Hessian spectrum).",
          "§4, Def. 4.2"),
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
]

CLAIMS: dict[str, Claim] = {c.id: c for c in _CLAIMS}


def family_claims(family: str) -> list[Claim]:
    if family not in FAMILIES:
        raise ValueError(f"unknown family {family!r} (accepted: {', '.join(FAMILIES)}, all)")
    return [c for c in _CLAIMS if c.family == family]


def is_implemented(family: str) -> bool:
    """A family is implemented when every one of its claims has at least one check."""
    return all(c.checks for c in family_claims(family))
