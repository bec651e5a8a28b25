"""The straightforward per-step loop on the bit-flipping problem: the reference for the batched
learner (``numerics.batched``) and its speed.

One run, one sample a step: ``optimizer.zero_grad()``, the forward of a plain
``numerics.models.MLP``, ``F.mse_loss``, ``loss.backward()``, ``optimizer.step()`` (torch's SGD,
with its ``weight_decay`` for L2) — and, for continual backprop, the paper's text written out one
unit at a time:

    age_i += 1;  u_i ← η u_i + (1 − η) |h_i| Σ_k |w_ik|
    owed += ρ · #{i : age_i > M};  while owed ≥ 1: replace the mature unit of least u_i / (1 − η^age_i)

with a replaced unit's incoming weights redrawn from the initial distribution, its bias, outgoing
weights, utility and age set to 0. It starts from the batched learner's initial weights for the seed
(``Batched.model``) and draws replacements from the same per-seed generator, so one seed of the
batched learner must follow it to rounding (tests/test_batched.py).
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F

from numerics import interventions as ivs
from numerics.batched import Batched, Net, init_weights
from numerics.streams import BitFlip, seed_generator


def reference_runs(iv: ivs.Intervention) -> bool:
    """Whether the reference loop implements ``iv`` (plain SGD, L2, continual backprop as the text)."""
    return not (iv.noise or iv.perturb or iv.redo or iv.norm or iv.dropout
                or (iv.cbp is not None and iv.cbp.variant != "paper"))


def reference(seed: int, steps: int, problem: BitFlip | None = None, hidden: int = 5, lr: float = 0.01,
              intervention: str | ivs.Intervention = "bp", dtype: torch.dtype = torch.float64) -> np.ndarray:
    """Per-step squared errors (before each update) of one run of ``steps`` steps."""
    problem = problem or BitFlip()
    iv = ivs.get(intervention) if isinstance(intervention, str) else intervention
    if not reference_runs(iv):
        raise ValueError(f"the reference loop runs bp, l2 and cbp (got {iv.name!r})")
    net = Net((problem.m, hidden, 1), lr=lr)
    learner = Batched(net, [seed], iv, dtype=dtype)
    model = learner.model(0)
    first, last = model.linears
    bound = learner.bounds[0]
    reinit = seed_generator(seed, "reinit")
    opt = torch.optim.SGD(model.parameters(), lr=lr, weight_decay=iv.weight_decay)
    c = iv.cbp
    age = torch.zeros(hidden, dtype=dtype)
    utility = torch.zeros(hidden, dtype=dtype)
    owed = 0.0
    errors = np.empty(steps)
    t = 0
    for task in problem.tasks([seed], math.ceil(steps / problem.period), dtype=dtype):
        for x, y in zip(task.X[0], task.Y[0]):
            if t == steps:
                break
            opt.zero_grad()
            trace = model.trace(x[None])
            loss = F.mse_loss(trace.out, y.reshape(1, 1))
            loss.backward()
            opt.step()
            errors[t] = float(loss.detach())
            t += 1
            if c is None:
                continue
            with torch.no_grad():
                h = trace.h[0][0]
                age += 1
                utility.mul_(c.decay).add_(h.abs() * last.weight.abs().sum(0), alpha=1 - c.decay)
                mature = [i for i in range(hidden) if age[i] > c.maturity]
                owed += c.rate * len(mature)
                while owed >= 1 and mature:
                    i = min(mature, key=lambda j: float(utility[j] / (1 - c.decay ** age[j])))
                    first.weight[i] = init_weights(first.weight.shape, bound, reinit, 1)[0].to(dtype)
                    first.bias[i] = 0
                    last.weight[:, i] = 0
                    utility[i] = age[i] = 0
                    mature.remove(i)
                    owed -= 1
    return errors
