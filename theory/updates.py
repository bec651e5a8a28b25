"""Optimizer update maps as maps on (θ, optimizer state): one registry, used by every family.

Each map is written once, coordinate-wise, on numpy arrays. With ``dtype=object`` arrays of SymPy
expressions the same code gives the symbolic update (hyperparameters may then be symbols), so
"is M invariant in the joint (θ, state) space?" is decided on exactly the map the numerics run.
The maps follow torch.optim's formulas (torch 2.x, default flags), and ``numerics.train.TorchUpdate``
runs the real torch optimizers so the numeric checks compare the two.

    sgd           θ ← θ − η g
    momentum      b ← μ b + g;            θ ← θ − η b                 (b₀ = g₁, torch)
    nesterov      b ← μ b + g;            θ ← θ − η (g + μ b)
    adam          m ← β₁m + (1−β₁)g;  v ← β₂v + (1−β₂)g²;  θ ← θ − η m̂/(√v̂ + ε)
    adamw         θ ← θ(1 − ηλ), then the Adam step
    rmsprop       v ← αv + (1−α)g²;       θ ← θ − η g/(√v + ε)
    weight_decay  θ ← θ − η (g + λθ)
    clip          θ ← θ − η g·min(1, c/(‖g‖ + 10⁻⁶))   (global norm; torch's clip_grad_norm_)
    noisy_sgd     θ ← θ − η (g + σ_t‖g‖ ξ),  ξ ~ N(0, I),  σ_t = σ₀ λ^t
    dropout       θ ← θ − η g̃, g̃ the gradient of the loss under a Bernoulli(1−p) unit mask / (1−p)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import sympy as sp

Array = np.ndarray
State = dict[str, Array]


def _sqrt(a: Array) -> Array:
    if getattr(a, "dtype", None) is np.dtype(object):
        return np.frompyfunc(sp.sqrt, 1, 1)(a)
    return np.sqrt(a)


def _min1(a: Any) -> Any:
    return sp.Min(1, a) if isinstance(a, sp.Basic) else min(1.0, float(a))


def global_norm(g: Array) -> Any:
    total = np.sum(g * g)
    return sp.sqrt(total) if isinstance(total, sp.Basic) else float(np.sqrt(total))


@dataclass(frozen=True)
class Optimizer:
    name: str
    description: str
    defaults: dict[str, float]
    state_keys: tuple[str, ...]
    update: Callable[..., tuple[Array, State]]
    # how the gradient fed to the map is produced: the exact gradient, or one with a dropout mask
    gradient: str = "exact"
    torch_name: str = "SGD"
    torch_kwargs: Callable[[dict[str, float]], dict[str, Any]] = field(default=lambda hp: {"lr": hp["lr"]})

    def hyperparameters(self, hp: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """The defaults overridden by ``hp``; a name the optimizer does not have (a misspelt ``lrr``)
        is a ValueError naming the accepted ones, never silently ignored."""
        if hp is None:
            return dict(self.defaults)
        if not isinstance(hp, Mapping):
            raise TypeError(f"hp must be a mapping of hyper-parameter names to values, not "
                            f"{type(hp).__name__}")
        unknown = sorted(set(hp) - set(self.defaults), key=str)
        if unknown:
            raise ValueError(f"unknown hyper-parameter {unknown[0]!r} for optimizer {self.name!r} "
                             f"(accepted: {', '.join(self.defaults)})")
        return {**self.defaults, **hp}

    def init_state(self, theta: Array) -> State:
        return {k: np.zeros_like(theta) for k in self.state_keys}

    def step(self, theta: Array, g: Array, state: State, t: int, hp: dict[str, Any] | None = None,
             noise: Array | None = None) -> tuple[Array, State]:
        """One update at step ``t`` (1-based, as torch counts for bias correction)."""
        return self.update(theta, g, dict(state), t, self.hyperparameters(hp), noise)


def _sgd(theta, g, state, t, hp, noise):
    return theta - hp["lr"] * g, state


def _momentum(theta, g, state, t, hp, noise):
    # torch initialises the buffer to g at the first step; with b = 0 that is μ·0 + g, the same map.
    buf = hp["momentum"] * state["buf"] + g
    return theta - hp["lr"] * buf, {"buf": buf}


def _nesterov(theta, g, state, t, hp, noise):
    buf = hp["momentum"] * state["buf"] + g
    return theta - hp["lr"] * (g + hp["momentum"] * buf), {"buf": buf}


def _adam_core(theta, g, state, t, hp):
    b1, b2 = hp["beta1"], hp["beta2"]
    m = b1 * state["m"] + (1 - b1) * g
    v = b2 * state["v"] + (1 - b2) * g * g
    m_hat = m / (1 - b1**t)
    v_hat = v / (1 - b2**t)
    return theta - hp["lr"] * m_hat / (_sqrt(v_hat) + hp["eps"]), {"m": m, "v": v}


def _adam(theta, g, state, t, hp, noise):
    return _adam_core(theta, g, state, t, hp)


def _adamw(theta, g, state, t, hp, noise):
    return _adam_core(theta * (1 - hp["lr"] * hp["weight_decay"]), g, state, t, hp)


def _rmsprop(theta, g, state, t, hp, noise):
    v = hp["alpha"] * state["v"] + (1 - hp["alpha"]) * g * g
    return theta - hp["lr"] * g / (_sqrt(v) + hp["eps"]), {"v": v}


def _weight_decay(theta, g, state, t, hp, noise):
    return theta - hp["lr"] * (g + hp["weight_decay"] * theta), state


# torch.nn.utils.clip_grad_norm_ divides by ‖g‖ + 1e-6 (hard-coded): the map must too, or it is off
# by a relative 1e-6/‖g‖ from the optimizer it stands for whenever clipping is active.
CLIP_EPS = 1e-6


def _clip(theta, g, state, t, hp, noise):
    scale = _min1(hp["max_norm"] / (global_norm(g) + CLIP_EPS))
    return theta - hp["lr"] * g * scale, state


def _noisy_sgd(theta, g, state, t, hp, noise):
    if noise is None:
        raise ValueError("noisy_sgd needs a noise sample ξ (same shape as θ)")
    sigma = hp["sigma0"] * hp["decay"] ** t
    return theta - hp["lr"] * (g + sigma * global_norm(g) * noise), state


_REGISTRY = [
    Optimizer("sgd", "plain (stochastic) gradient descent", {"lr": 0.1}, (), _sgd),
    Optimizer("momentum", "heavy-ball momentum μ = 0.9", {"lr": 0.1, "momentum": 0.9}, ("buf",),
              _momentum, torch_kwargs=lambda hp: {"lr": hp["lr"], "momentum": hp["momentum"]}),
    Optimizer("nesterov", "Nesterov momentum μ = 0.9", {"lr": 0.1, "momentum": 0.9}, ("buf",),
              _nesterov,
              torch_kwargs=lambda hp: {"lr": hp["lr"], "momentum": hp["momentum"], "nesterov": True}),
    Optimizer("adam", "Adam (β₁, β₂) = (0.9, 0.999), ε = 1e-8",
              {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}, ("m", "v"), _adam,
              torch_name="Adam",
              torch_kwargs=lambda hp: {"lr": hp["lr"], "betas": (hp["beta1"], hp["beta2"]),
                                       "eps": hp["eps"]}),
    Optimizer("adamw", "AdamW, decoupled weight decay λ = 0.01",
              {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8, "weight_decay": 1e-2},
              ("m", "v"), _adamw, torch_name="AdamW",
              torch_kwargs=lambda hp: {"lr": hp["lr"], "betas": (hp["beta1"], hp["beta2"]),
                                       "eps": hp["eps"], "weight_decay": hp["weight_decay"]}),
    Optimizer("rmsprop", "RMSprop α = 0.99, ε = 1e-8, no momentum",
              {"lr": 1e-3, "alpha": 0.99, "eps": 1e-8}, ("v",), _rmsprop, torch_name="RMSprop",
              torch_kwargs=lambda hp: {"lr": hp["lr"], "alpha": hp["alpha"], "eps": hp["eps"]}),
    Optimizer("weight_decay", "SGD with L2 weight decay λ = 0.01", {"lr": 0.1, "weight_decay": 1e-2},
              (), _weight_decay,
              torch_kwargs=lambda hp: {"lr": hp["lr"], "weight_decay": hp["weight_decay"]}),
    Optimizer("clip", "SGD with global gradient-norm clipping at c = 1", {"lr": 0.1, "max_norm": 1.0},
              (), _clip),
    Optimizer("noisy_sgd", "SGD with Gaussian gradient noise of std σ_t‖g‖, σ_t = σ₀λ^t",
              {"lr": 0.1, "sigma0": 0.01, "decay": 1.0}, (), _noisy_sgd),
    Optimizer("dropout", "SGD on the loss of a network with dropout p = 0.1 on hidden units",
              {"lr": 0.1, "p": 0.1}, (), _sgd, gradient="dropout"),
]

OPTIMIZERS: dict[str, Optimizer] = {o.name: o for o in _REGISTRY}


def get(name: str) -> Optimizer:
    try:
        return OPTIMIZERS[name]
    except KeyError:
        raise ValueError(f"unknown optimizer {name!r} (accepted: {', '.join(OPTIMIZERS)})") from None
