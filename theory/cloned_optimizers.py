"""Cloned units under each optimizer: is the clone manifold invariant in the joint (θ, state) space?

Paper Remark 4.2 says momentum, Adam and weight decay "might violate" the clone symmetry (§4 adds
that Adam empirically fails to escape anyway). This module decides it for every optimizer of
``theory.updates`` from the registry's own update map, and confirms the answer with torch.

**Two manifolds.** For blocks S_1..S_k of cloned units (``theory.manifolds``), the *family* is the
linear space of equitable weights (incoming- and outgoing-equitable: clones stay clones, forward
and backward), and the *leaf* through an equitable W₀ is M_D(W₀) = W₀ + {block-constant}. On an
MLP every block pair is biregular, so the leaf lies in the family; on the family the gradient g is
block-constant (claim cloned.backward, proved in ``theory.cloned``).

**Derivation** (``derive``). One step of the registry map (θ, s) ↦ (θ + Δθ, s') runs on SymPy
object arrays over the edges of a small cloned MLP (2-2-2-1, blocks {h1.0, h1.1}, {h2.0, h2.1}; full
runs add 2-3-2-1 with blocks of 3 and 2): θ a generic equitable point (every leaf point is one, and
the leaf through θ is M_D(θ) = M_D(W₀)), g one symbol per block pair, the state s one symbol per
block pair and key, the hyperparameters and the step count t symbols, gradient noise ξ one symbol
per edge, dropout masks one symbol per hidden unit (the masked gradient is then computed from the
network, generic activations and loss).
With A_bc, A_eq the constraint matrices,

    A_bc Δθ = 0  ⇔  θ + Δθ ∈ M_D(W₀)        (Δθ block-constant: the leaf is kept)
    A_eq Δθ = 0  ⇔  θ + Δθ is equitable      (Δθ equitable: the family is kept)
    A_bc s' = 0  ⇔  the state stays block-constant.

Every residual is brought to 0 by expansion or shown non-zero at a concrete point. If the leaf
(family) residuals vanish and the state stays block-constant, the set {θ ∈ M_D(W₀), s block-constant}
({θ equitable, s block-constant}) is mapped into itself, so by induction it holds for every number
of steps, on any batches (g is block-constant at every point of it). A map that is coordinate-wise
in (θ, g, s) — momentum, Nesterov, Adam, RMSprop — sends block-constant inputs to block-constant
outputs; clipping multiplies g by one global scalar; L2 / decoupled weight decay add −ηλθ, which is
equitable but block-constant only when W₀ is; noise and dropout masks are drawn per coordinate /
per unit. When a residual does not vanish, the relaxations that make it vanish are tried (θ
block-constant, noise block-constant, masks constant on every block), giving the exact condition.

**Which state.** Freshly started (zero) state is block-constant. State carried over from training
the base is block-constant once cloned with the weights; the consistent rule follows from the
gradient of the equal-split clone, ∂L'/∂w'(u, v) = ∂L/∂w(s(u), s(v)) / |S_{s(v)}| for an edge
u → v (the receiver's block size: each clone carries 1/|S| of its unit's backward signal;
``gradient_rule`` proves it), and from the registry map's homogeneity s'(c g, c^k s) = c^k s'(g, s)
(k = 1 for momentum buffers and first moments, 2 for second moments; ``state_degrees``): in torch's
weight[receiver, sender] layout, s'[a, b] = s[s(a), s(b)] / |S_{s(a)}|^k (``clone_tensor``).
Copying the base's state unchanged (k = 0) is also block-constant, hence also safe. A state that is
*not* block-constant — the original unit keeps its moments while its copies start fresh — is the
negative control (``control_state``).

**Numerics** (``optimizer_check``). The derivation's three predictions are confirmed on torch:
(A) ``numerics.cloned.optimizer_trajectory`` at its quick sizes — a ReLU MLP 32-64-64-10 trained on
the embedded teacher task, cloned ×2 and given an equitable perturbation (so the leaf and the family
differ), fresh (zero) optimizer state, K minibatch cross-entropy steps, float64 and float32; (B) the
same question with carried state: the float64 8-16-16-1 regression MLP of
``theory.frozen_optimizers.warm_up`` trained with the optimizer, cloned ×2 with its state by the
rule above, perturbed equitably, K full-batch steps; (C) as (B) from the exact (block-constant)
clone. Distances are ``numerics.clone.Gauge``'s (largest off-manifold entry) against the tolerance
of ``numerics.cloned.tolerance`` (for (A) with adaptive optimizers, ``optimizer_trajectory``'s
η/ε-amplified one). A kept manifold must stay within tolerance at every reading, a left one must be
above it at the end; float32 is reported beside float64, never used for the verdict. Negative
control (``control_state``): momentum and Adam from a state that is not block-constant.
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
import sympy as sp
import torch

from numerics import clone as C
from numerics import cloned as numeric
from numerics.train import one_thread
from theory import cloned, invariance, manifolds, net, updates
from theory.evidence import Config, Evidence
from theory.frozen_optimizers import HP_SYMBOLS, TORCH_STATE, Setup, warm_up
from theory.manifolds import AffineManifold, Edge

CLAIM = "cloned.optimizers"

BLOCK_CONSTANT = "block-constant"
EQUITABLE = "equitable, not block-constant"
NEITHER = "neither block-constant nor equitable"

PAPER = {"momentum": "Remark 4.2: might violate the symmetry",
         "adam": "Remark 4.2: might violate the symmetry; §4: empirically fails to escape",
         "weight_decay": "Remark 4.2: might violate the symmetry"}
CONTROL_OPTIMIZERS = ("momentum", "adam")
# (architecture, block sizes per hidden layer): the smallest MLP whose leaf and family differ, then one
# with blocks of unequal sizes (full runs only)
Network = tuple[str, tuple[tuple[int, ...], ...]]
NETWORKS: tuple[Network, ...] = (("2-2-2-1", ((2,), (2,))), ("2-3-2-1", ((3,), (2,))))

t = sp.Symbol("t", integer=True, positive=True)  # torch's step count (bias correction, σ_t)


# ---- the symbolic network -------------------------------------------------------------------

@dataclass(frozen=True)
class Clones:
    """A small MLP with blocks of clones, its generic-activation network and its manifolds."""

    case: cloned.Case
    network: Any  # networkx.DiGraph with one generic f_S per block
    equitable: AffineManifold
    block_constant: AffineManifold

    @property
    def edges(self) -> tuple[Edge, ...]:
        return self.block_constant.edges

    def pair(self, e: Edge) -> tuple[str, str]:
        P = self.case.partition
        return P.label(P.block_of[e[0]]), P.label(P.block_of[e[1]])

    def per_pair(self, name: str, positive: bool = False) -> np.ndarray:
        """A generic block-constant vector: one symbol name[S_i→S_j] per block pair."""
        return np.array([_symbol(f"{name}[{'→'.join(self.pair(e))}]", positive) for e in self.edges],
                        dtype=object)

    def per_edge(self, name: str, positive: bool = False) -> np.ndarray:
        """A generic vector: one symbol name[u→v] per edge."""
        return np.array([_symbol(f"{name}[{u}→{v}]", positive) for u, v in self.edges], dtype=object)

    def vector(self, values: Mapping[Edge, Any]) -> np.ndarray:
        return np.array([sp.sympify(values[e]) for e in self.edges], dtype=object)

    def mapping(self, values: np.ndarray) -> dict[Edge, Any]:
        return dict(zip(self.edges, values))


def _symbol(name: str, positive: bool) -> sp.Symbol:
    return sp.Symbol(name, positive=True) if positive else sp.Symbol(name, real=True)


@cache
def clones(network: Network = NETWORKS[0]) -> Clones:
    spec, blocks = network
    case = cloned.mlp_case(spec, [list(b) for b in blocks])
    G, P = case.graph, case.partition
    return Clones(case, cloned.block_activations(G, P), manifolds.equitable(G, P),
                  manifolds.block_constant(G, P))


def masked_gradient(c: Clones, theta: np.ndarray, masks: Mapping[str, sp.Expr]) -> np.ndarray:
    """∂L/∂θ for one symbolic sample when hidden unit v outputs m_v f_S(z(v)) / (1 − p) (torch's
    inverted dropout), generic f_S per block and generic loss ℓ, evaluated at θ."""
    G = c.network
    phi0, p = invariance.phi_of(G), HP_SYMBOLS["p"]

    def phi(v: str, z: sp.Expr) -> sp.Expr:
        return phi0(v, z) * masks[v] / (1 - p) if v in masks else phi0(v, z)

    sym = net.weight_symbols(G)
    X, Y = net.input_symbols(G, 1), net.target_symbols(G, 1)
    L = invariance.dataset_loss(G, X, Y, sym, "generic", phi=phi)
    at = {sym[e]: th for e, th in zip(c.edges, theta)}
    return np.array([sp.diff(L, sym[e]).xreplace(at) for e in c.edges], dtype=object)


# ---- one step of the registry map -------------------------------------------------------------

@dataclass
class Step:
    """One step of an optimizer's map from a generic point θ of the family (the leaf through it is
    M_D(θ)), and the residuals that decide where θ + Δθ lies (module docstring)."""

    optimizer: str
    network: Network
    assumptions: dict[str, str]
    theta: np.ndarray
    delta: np.ndarray
    new_state: dict[str, np.ndarray]
    leaf: dict[str, sp.Expr]  # A_bc Δθ, expanded
    family: dict[str, sp.Expr]  # A_eq Δθ, expanded
    state: dict[str, dict[str, sp.Expr]]  # key -> A_bc s', expanded

    @staticmethod
    def _zero(residuals: Mapping[str, sp.Expr]) -> bool:
        return all(r == 0 for r in residuals.values())

    @property
    def state_block_constant(self) -> bool:
        return all(self._zero(r) for r in self.state.values())

    @property
    def delta_class(self) -> str:
        if self._zero(self.leaf):
            return BLOCK_CONSTANT
        return EQUITABLE if self._zero(self.family) else NEITHER

    @property
    def leaf_invariant(self) -> bool:
        return self.delta_class == BLOCK_CONSTANT and self.state_block_constant

    @property
    def family_invariant(self) -> bool:
        return self.delta_class != NEITHER and self.state_block_constant


def _residuals(M: AffineManifold, values: np.ndarray, prefix: str) -> dict[str, sp.Expr]:
    """A values − b per constraint of M, expanded (``invariance.canonical``), by label."""
    return {f"{prefix}[{label}]": invariance.canonical(r)
            for label, r in zip(M.labels, M.residual(dict(zip(M.edges, values))))}


@cache
def one_step(optimizer: str, base: str = "equitable", state: str = BLOCK_CONSTANT, noise: str = "per edge",
             masks: str = "per unit", network: Network = NETWORKS[0]) -> Step:
    """The registry map of ``optimizer`` once, on ``clones(network)``, from a generic point θ.

    base: θ a generic ``equitable`` point (the family) or a generic ``block-constant`` one (an exact
    clone, whose leaf is the block-constant space); state: one symbol per block pair
    (``block-constant``) or per edge (``per edge``, the negative control), second moments positive;
    noise ξ: i.i.d. ``per edge`` (torch) or ``block-constant``; dropout masks: ``per unit`` (torch)
    or ``per block`` (constant on every block). The gradient is block-constant (cloned.backward)
    unless the optimizer's gradient is the dropout one, which is computed from the network.
    """
    c = clones(network)
    spec = updates.get(optimizer)
    hp = {k: HP_SYMBOLS[k] for k in spec.defaults}
    theta = c.per_pair("θ") if base == BLOCK_CONSTANT else c.vector(c.equitable.parametrize("a")[0])
    make = c.per_pair if state == BLOCK_CONSTANT else c.per_edge
    s = {k: make(k, positive=k == "v") for k in spec.state_keys}
    xi = c.per_pair("ξ") if noise == BLOCK_CONSTANT else c.per_edge("ξ")
    if spec.gradient == "dropout":
        P = c.case.partition
        hidden = [v for v in net.units(c.network) if c.network.nodes[v]["kind"] == "hidden"]
        g = masked_gradient(c, theta, {v: mask_symbol(P.label(P.block_of[v]) if masks == "per block" else v)
                                       for v in hidden})
    else:
        g = c.per_pair("g")
    new, new_state = spec.step(theta, g, s, t, hp, noise=xi)
    leaf = manifolds.clone_manifold(c.case.graph, c.case.partition, c.mapping(theta))
    gradient = "masked, from the network" if spec.gradient == "dropout" else BLOCK_CONSTANT
    assumptions = {"θ": base, "g": gradient, "state": state, "noise ξ": noise, "dropout masks": masks}
    return Step(optimizer, network, assumptions, theta, new - theta, new_state,
                leaf=_residuals(leaf, new, "A_bc Δθ"), family=_residuals(c.equitable, new, "A_eq Δθ"),
                state={k: _residuals(c.block_constant, v, f"A_bc {k}'") for k, v in new_state.items()})


def mask_symbol(unit: str) -> sp.Symbol:
    return sp.Symbol(f"mask[{unit}]", nonnegative=True)


# ---- the derivation per optimizer -------------------------------------------------------------

# what a non-vanishing residual can be blamed on: (words, the relaxation, the symbols it replaces)
RELAXATIONS = (("θ block-constant (the leaf through an exact clone)", {"base": BLOCK_CONSTANT}, "a"),
               ("noise ξ block-constant", {"noise": BLOCK_CONSTANT}, "ξ["),
               ("dropout masks constant on every block", {"masks": "per block"}, "mask["))


@dataclass(frozen=True)
class Derivation:
    """An optimizer's map decided on every network of ``networks``."""

    optimizer: str
    steps: tuple[Step, ...]  # one per network
    leaf_condition: str | None  # the relaxation under which the leaf is kept, when it is not always
    family_condition: str | None
    counterexample: dict[str, Any] | None  # a concrete point where a non-vanishing residual ≠ 0

    @property
    def step(self) -> Step:
        """The first network's step (the one shown)."""
        return self.steps[0]

    @property
    def leaf_invariant(self) -> bool:
        return all(s.leaf_invariant for s in self.steps)

    @property
    def family_invariant(self) -> bool:
        return all(s.family_invariant for s in self.steps)


def _condition(optimizer: str, holds: str, steps: tuple[Step, ...]) -> str | None:
    """The first relaxation under which ``holds`` ("leaf_invariant" or "family_invariant") is true on
    every network; relaxations whose symbols do not occur in a non-zero residual are skipped."""
    residuals = [r for s in steps for r in (*s.leaf.values(), *s.family.values()) if r != 0]
    names = {str(x) for r in residuals for x in r.free_symbols}
    for words, kwargs, prefix in RELAXATIONS:
        if any(n.startswith(prefix) for n in names) and all(
                getattr(one_step(optimizer, **kwargs, network=s.network), holds) for s in steps):
            return words
    return None


def concrete(expr: sp.Expr, optimizer: str, masks: Mapping[str, int] | None = None) -> sp.Expr:
    """The registry's default hyperparameters (as exact rationals), step t = 1 and, for dropout, a
    concrete 0/1 mask substituted into ``expr``."""
    at = {HP_SYMBOLS[k]: sp.nsimplify(v) for k, v in updates.get(optimizer).defaults.items()}
    at[t] = sp.Integer(1)
    at.update({mask_symbol(v): m for v, m in (masks or {}).items()})
    return expr.xreplace(at)


def drop_one_clone(c: Clones) -> dict[str, int]:
    """Keep every hidden unit but the second member of the first block (a legal dropout mask)."""
    dropped = c.case.partition.nontrivial[0][1]
    return {v: int(v != dropped) for v in net.units(c.network) if c.network.nodes[v]["kind"] == "hidden"}


def find_counterexample(step: Step, residuals: Mapping[str, sp.Expr], seed: int) -> dict[str, Any] | None:
    """A concrete point (random rationals for θ, g, state, noise, data; registry hyperparameters;
    generic activations and loss replaced by concrete ones) where a residual is non-zero."""
    c = clones(step.network)
    masks = drop_one_clone(c) if updates.get(step.optimizer).gradient == "dropout" else None
    exprs = {k: concrete(v, step.optimizer, masks) for k, v in residuals.items() if v != 0}
    found = invariance.counterexample(c.network, c.mapping(step.theta), exprs, seed)
    if found is not None:
        found.update(optimizer=step.optimizer, hyperparameters=dict(updates.get(step.optimizer).defaults),
                     step_t=1, assumptions=step.assumptions)
        if masks:
            found["dropout_mask"] = masks
    return found


def _first_counterexample(steps: tuple[Step, ...], seed: int) -> dict[str, Any] | None:
    """For the first network where the leaf is not kept: a point where a family residual (or, if the
    family is kept, a leaf residual) is non-zero."""
    for s in steps:
        if not s.leaf_invariant:
            return find_counterexample(s, s.leaf if s.family_invariant else s.family, seed)
    return None


@cache
def derive(optimizer: str, seed: int = 0, networks: tuple[Network, ...] = NETWORKS[:1]) -> Derivation:
    """Decide the leaf and the family for ``optimizer`` from its registry map on every network
    (module docstring)."""
    steps = tuple(one_step(optimizer, network=n) for n in networks)
    leaf = all(s.leaf_invariant for s in steps)
    family = all(s.family_invariant for s in steps)
    return Derivation(optimizer, steps,
                      None if leaf else _condition(optimizer, "leaf_invariant", steps),
                      None if family else _condition(optimizer, "family_invariant", steps),
                      _first_counterexample(steps, seed))


@cache
def control_derivation(optimizer: str, seed: int = 0) -> Derivation:
    """The negative control: the same map with a state that is not block-constant."""
    steps = (one_step(optimizer, state="per edge"),)
    return Derivation(optimizer, steps, None, None, _first_counterexample(steps, seed))


@cache
def state_degrees(optimizer: str) -> dict[str, int]:
    """k per state key with s'(c g, c^k s) = c^k s'(g, s) for the registry map: the gradient degree
    of each state entry (1 for buffers and first moments, 2 for second moments). Found as the
    degree of s'(c g, 0) in c and checked on the whole map."""
    spec = updates.get(optimizer)
    hp = {k: HP_SYMBOLS[k] for k in spec.defaults}
    scale = sp.Symbol("c", positive=True)
    g, s = sp.Symbol("g", real=True), {k: sp.Symbol(f"{k}₀", real=True) for k in spec.state_keys}
    theta, nil = np.array([sp.Symbol("θ", real=True)], dtype=object), np.array([sp.Integer(0)], dtype=object)

    def state_after(grad: sp.Expr, state: dict[str, sp.Expr]) -> dict[str, sp.Expr]:
        new = spec.step(theta, np.array([grad], dtype=object),
                        {k: np.array([v], dtype=object) for k, v in state.items()}, t, hp, noise=nil)[1]
        return {k: v[0] for k, v in new.items()}

    fresh = state_after(scale * g, {k: sp.Integer(0) for k in s})
    degrees = {k: int(sp.degree(sp.expand(fresh[k]), scale)) for k in s}
    scaled = state_after(scale * g, {k: scale ** degrees[k] * s[k] for k in s})
    plain = state_after(g, s)
    for k in s:
        if sp.expand(scaled[k] - scale ** degrees[k] * plain[k]) != 0:
            raise NotImplementedError(f"{optimizer}: state {k} is not homogeneous in the gradient")
    return degrees


@cache
def gradient_rule() -> dict[str, sp.Expr]:
    """∂L'/∂w'(u, v) − ∂L/∂w(s(u), s(v)) / |S_{s(v)}| for every edge u → v of the equal-split ×2 clone
    1-2-2-1 of a 1-1-1-1 MLP (incoming weights copied, outgoing weights halved), generic
    activations per layer and generic loss: every entry expands to 0, which is the rule by which
    carried optimizer state must be cloned (module docstring)."""
    base, wide = net.mlp("1-1-1-1"), net.mlp("1-2-2-1")
    for G in (base, wide):
        for v in net.units(G):
            G.nodes[v]["activation"] = f"generic:f{G.nodes[v]['layer']}"

    def unit(v: str) -> str:  # s(v): the base unit a wide unit copies
        return v.split(".")[0] + ".0" if wide.nodes[v]["kind"] == "hidden" else v

    def size(v: str) -> int:
        return 2 if wide.nodes[v]["kind"] == "hidden" else 1

    sym = net.weight_symbols(base)
    w = {(u, v): sym[(unit(u), unit(v))] / size(u) for u, v in wide.edges}
    X, Y = net.input_symbols(base, 1), net.target_symbols(base, 1)
    g_base = invariance.loss_gradient(base, sym, X, Y)
    g_wide = invariance.loss_gradient(wide, w, X, Y)
    return {f"∂L'/∂w'({u},{v}) − ∂L/∂w({unit(u)},{unit(v)})/{size(v)}":
            invariance.canonical(g_wide[(u, v)] - g_base[(unit(u), unit(v))] / size(v))
            for u, v in sorted(wide.edges)}


# ---- numerics: carried state ------------------------------------------------------------------

def clone_tensor(x: torch.Tensor, layer: int, cloning: C.Cloning, degree: int = 0,
                 fresh_copies: bool = False) -> torch.Tensor:
    """A per-parameter tensor of the base's weight layer ``layer`` (weight: rows = receivers,
    columns = senders; bias: rows) cloned to the wide network: x'[a, b] = x[s(a), s(b)] / |S_{s(a)}|^k,
    k = ``degree`` (0 copies; 1 is the gradient, ``gradient_rule``). ``fresh_copies`` zeroes the
    rows and columns of every clone but the first of its block."""
    assign = cloning.assign
    rows = assign[layer] if layer < len(assign) else None
    cols = assign[layer - 1] if layer > 0 else None
    if rows is not None:
        shape = (-1, *[1] * (x.dim() - 1))
        x = x[rows] / cloning.sizes(layer).to(x.dtype)[rows].view(shape) ** degree
        if fresh_copies:
            x = x * _firsts(rows).view(shape)
    if cols is not None and x.dim() == 2:
        x = x[:, cols] * (_firsts(cols)[None, :] if fresh_copies else 1)
    return x


def _firsts(assign: torch.Tensor) -> torch.Tensor:
    """1.0 for the first wide unit of every block, 0.0 for the other clones."""
    pos = torch.arange(len(assign))
    first = torch.full((int(assign.max()) + 1,), len(assign)).scatter_reduce(0, assign, pos, "amin")
    return (pos == first[assign]).double()


def clone_state(base_opt: updates.TorchUpdate, wide_opt: updates.TorchUpdate, base: torch.nn.Module,
                wide: torch.nn.Module, cloning: C.Cloning, fresh_copies: bool = False) -> None:
    """Give ``wide_opt`` the state of ``base_opt`` cloned like the gradient history: every state tensor
    by ``clone_tensor`` with its gradient degree k (``state_degrees``), step counters copied;
    ``fresh_copies`` for the negative control (the original keeps its moments, copies start at 0)."""
    degree = {name: k for key, k in state_degrees(base_opt.spec.name).items() for name in TORCH_STATE[key]}
    for layer, (lb, lw) in enumerate(zip(base.linears, wide.linears)):
        for pb, pw in ((lb.weight, lw.weight), (lb.bias, lw.bias)):
            entry = base_opt.opt.state.get(pb) if pb is not None else None
            if entry:
                wide_opt.opt.state[pw] = {
                    name: clone_tensor(value.detach(), layer, cloning, degree[name], fresh_copies).clone()
                    if torch.is_tensor(value) and value.shape == pb.shape else copy.deepcopy(value)
                    for name, value in entry.items()}
    wide_opt.t = base_opt.t


def gradient_rule_error(base: torch.nn.Module, wide: torch.nn.Module, cloning: C.Cloning, x: torch.Tensor,
                        y: torch.Tensor) -> float:
    """max |∇_wide L − clone_tensor(∇_base L, k = 1)| for the full-batch MSE, both in eval mode (no
    dropout): the numeric side of ``gradient_rule``, at the exact clone."""
    grads = []
    for model in (base, wide):
        mode = model.training
        model.eval()
        loss = ((model(x) - y) ** 2).mean()
        grads.append(torch.autograd.grad(loss, [p for lin in model.linears for p in (lin.weight, lin.bias)]))
        model.train(mode)
    pairs = zip(grads[0], grads[1], [k for k in range(len(base.linears)) for _ in range(2)])
    return max(float((gw - clone_tensor(gb, layer, cloning, 1)).abs().max()) for gb, gw, layer in pairs)


@dataclass
class Curves:
    """Leaf and family distances (float64) of one continuation, at ``steps``."""

    label: str
    steps: list[int]
    leaf: list[float]
    family: list[float]
    tolerance: list[float]
    state_spread: float  # distance of the cloned state to the block-constant tensors at the start
    gradient_rule_error: float = math.nan  # ``gradient_rule_error`` at the exact clone

    def stays(self, which: str) -> bool:
        return all(d <= tol for d, tol in zip(getattr(self, which), self.tolerance))

    def leaves(self, which: str) -> bool:
        return getattr(self, which)[-1] > self.tolerance[-1]


def _state_spread(opt: updates.TorchUpdate, wide: torch.nn.Module, cloning: C.Cloning) -> float:
    """max over state tensors of the distance to the block-constant tensors (0: block-constant)."""
    spread = 0.0
    names = [n for k in opt.spec.state_keys for n in TORCH_STATE[k]]
    for name in names:
        probe = copy.deepcopy(wide)
        with torch.no_grad():
            for p, q in zip(wide.parameters(), probe.parameters()):
                value = opt.opt.state.get(p, {}).get(name)
                q.copy_(torch.zeros_like(p) if value is None else value)
        spread = max(spread, C.distance(probe, cloning).value)
    return spread


def carried_run(optimizer: str, config: Config, steps: int, warm: int, perturb: float = 0.1,
                fresh_copies: bool = False) -> Curves:
    """(B) / (C) of the module docstring: base trained ``warm`` steps with ``optimizer`` (state
    non-zero), cloned ×2 with its state (``clone_state``), optionally perturbed equitably
    (``perturb`` × rms of the hidden-to-hidden weights; 0: the exact clone), then ``steps``
    full-batch MSE steps; distances read on ``numerics.cloned.grid(steps)``."""
    spec = updates.get(optimizer)
    setup = Setup(optimizer, warm=warm, seed=config.seed,
                  dropout=spec.defaults["p"] if spec.gradient == "dropout" else 0.0)
    base = warm_up(setup)
    cloning = C.expand(list(setup.widths[1:-1]), 2)
    wide = C.clone(base.model, cloning)
    opt = updates.TorchUpdate(optimizer, wide.parameters(), setup.hp,
                              generator=torch.Generator().manual_seed(config.seed + 1))
    clone_state(base.opt, opt, base.model, wide, cloning, fresh_copies)
    rule_error = gradient_rule_error(base.model, wide, cloning, base.x, base.y)
    if perturb:
        hidden = torch.cat([lin.weight.detach().flatten() for lin in wide.hidden[1:]])
        rms = float(hidden.pow(2).mean().sqrt())
        C.equitable_perturbation(wide, cloning, perturb * rms, torch.Generator().manual_seed(config.seed))
    spread = _state_spread(opt, wide, cloning)
    gauge = C.Gauge(wide, cloning, reference=copy.deepcopy(wide))
    points = numeric.grid(steps)
    tol1 = numeric.tolerance(wide, torch.float64, 1)
    leaf, family = [], []
    with one_thread(), torch.random.fork_rng(devices=[]):
        torch.manual_seed(config.seed + 2)  # the dropout masks
        for k in range(steps + 1):
            if k:
                opt.zero_grad()
                ((wide(base.x) - base.y) ** 2).mean().backward()
                opt.step()
            if k in points:
                leaf.append(gauge.leaf().value)
                family.append(gauge.family().value)
    label = ("copies fresh (control)" if fresh_copies else "carried state") + \
        (", perturbed" if perturb else ", exact clone")
    return Curves(label, points, leaf, family, [tol1 * math.sqrt(max(k, 1)) for k in points], spread,
                  rule_error)


def fresh_run(optimizer: str, config: Config, steps: int) -> numeric.OptimizerRun:
    """(A): ``numerics.cloned.optimizer_trajectory`` on one thread (with torch's intra-op threads a
    shared 2-core machine ran these small matrices ~10× slower), at its quick sizes whatever
    ``config.quick``: ten optimizers at its full sizes (4 × 256 → 4 × 512) take 1–2 minutes, over
    this family's budget; the realistic-size curves belong to numerics.cloned's own checks."""
    with one_thread():
        return numeric.optimizer_trajectory(Config(config.seed, True, config.device, config.progress),
                                            optimizer, steps=steps)


def _curves(run: numeric.OptimizerRun, dtype: str) -> Curves:
    return Curves(f"fresh state, {dtype}", run.steps, run.leaf[dtype], run.family[dtype],
                  run.tolerance[dtype], 0.0)


# ---- the checks --------------------------------------------------------------------------------

def _sizes(config: Config) -> tuple[int, int, tuple[Network, ...]]:
    """(K steps after cloning, warm-up steps of the carried-state base, symbolic networks)."""
    return (60, 20, NETWORKS[:1]) if config.quick else (200, 50, NETWORKS)


def _worry(optimizer: str, d: Derivation) -> str:
    """Whether the paper's statement about this optimizer stands, from the derivation."""
    if optimizer not in PAPER:
        return "not raised by the paper"
    if d.leaf_invariant:
        answer = "does not stand: the leaf M_D(W₀) is exactly invariant given block-constant state"
    elif d.family_invariant:
        answer = (f"stands only for the leaf M_D(W₀) (kept iff {d.leaf_condition}); the family is invariant: "
                  "clones stay clones")
    else:
        answer = "stands: the symmetry is broken"
    return f"{PAPER[optimizer]} — {answer}"


def _agreement(d: Derivation, exact: bool, runs: list[Curves], exact_run: Curves) -> dict[str, bool]:
    """Does each float64 run do what the derivation predicts? A kept manifold: every reading within
    the tolerance; a left one: the last reading above it."""
    out = {}
    for r in runs:
        out[f"{r.label}: leaf"] = r.stays("leaf") if d.leaf_invariant else r.leaves("leaf")
        out[f"{r.label}: family"] = r.stays("family") if d.family_invariant else r.leaves("family")
    out[f"{exact_run.label}: leaf"] = exact_run.stays("leaf") if exact else exact_run.leaves("leaf")
    return out


def example_residual(step: Step, limit: int = 40) -> str | None:
    """The leaf residual in words: "A_bc Δθ = r·A_bc θ" when every non-zero component is the same
    multiple r of θ's own block spread (weight decay), else the first non-zero component, factored,
    with the global norm written ‖g‖ (None when all vanish or it is too long to quote)."""
    c = clones(step.network)
    spread = c.block_constant.residual(c.mapping(step.theta))
    nonzero = [(k, r, s) for (k, r), s in zip(step.leaf.items(), spread) if r != 0]
    if not nonzero:
        return None
    ratios = {sp.factor(sp.cancel(r / s)) if s != 0 else None for _, r, s in nonzero}
    theta_symbols = set().union(*(sp.sympify(x).free_symbols for x in step.theta))
    ratio = ratios.pop() if len(ratios) == 1 else None
    if ratio is not None and not ratio.free_symbols & theta_symbols:
        return f"A_bc Δθ = {ratio}·A_bc θ"
    label, expr, _ = nonzero[0]
    expr = sp.factor(expr.xreplace({updates.global_norm(c.per_pair("g")): sp.Symbol("‖g‖", positive=True)}))
    return None if sp.count_ops(expr) > limit else f"{label} = {expr}"


def _representative(step: Step) -> list[tuple[str, Any]]:
    """Δθ on the two clones' edges into one hidden unit, and the residuals (first three of each)."""
    c = clones(step.network)
    block = c.case.partition.nontrivial[0]
    target = next(v for u, v in c.edges if u == block[0] and c.case.graph.nodes[v]["kind"] == "hidden")
    k0, k1 = c.edges.index((block[0], target)), c.edges.index((block[1], target))
    items = [(f"Δθ on {block[0]}→{target} ({', '.join(f'{k}: {v}' for k, v in step.assumptions.items())})",
              step.delta[k0]),
             (f"Δθ on {block[1]}→{target}", step.delta[k1])]
    for name, res in (("leaf residuals A_bc Δθ (0 ⇔ Δθ block-constant)", step.leaf),
                      ("family residuals A_eq Δθ (0 ⇔ Δθ equitable)", step.family)):
        shown = sorted(res.items(), key=lambda kv: kv[1] == 0)[:3]
        items.append((f"{name}, {sum(v != 0 for v in res.values())} of {len(res)} non-zero",
                      sp.Tuple(*[v for _, v in shown])))
    for key, res in step.state.items():
        items.append((f"new state A_bc {key}' ({sum(v != 0 for v in res.values())} of {len(res)} non-zero)",
                      sp.Tuple(*list(res.values())[:3])))
    return items


def optimizer_check(config: Config, optimizer: str) -> Evidence:
    """Is the clone manifold invariant under ``optimizer``? Decided from the registry map
    (``derive``: the leaf M_D(W₀) and the family of equitable networks), confirmed with torch
    (module docstring, runs A, B, C)."""
    start = time.perf_counter()
    steps, warm, networks = _sizes(config)
    d = derive(optimizer, config.seed, networks)
    exact = all(one_step(optimizer, base=BLOCK_CONSTANT, network=n).leaf_invariant for n in networks)
    fresh = fresh_run(optimizer, config, steps)
    f64, f32 = _curves(fresh, "float64"), _curves(fresh, "float32")
    carried = carried_run(optimizer, config, steps, warm)
    exact_run = carried_run(optimizer, config, steps, warm, perturb=0.0)
    agree = _agreement(d, exact, [f64, carried], exact_run)
    agrees = all(agree.values())

    if not agrees:
        verdict = "inconclusive"
    elif d.leaf_invariant:
        verdict = "proved"
    elif d.family_invariant:
        verdict = "qualified"
    else:
        verdict = "refuted" if d.counterexample else "inconclusive"
    counterexample = None
    if d.counterexample is not None:
        run = carried if carried.leaves("leaf") else f64
        counterexample = {"symbolic": d.counterexample,
                          "numeric": {"run": run.label, "step": run.steps[-1], "leaf_distance": run.leaf[-1],
                                      "family_distance": run.family[-1], "tolerance": run.tolerance[-1]}}
    step = d.step
    measured = {
        "leaf_invariant": d.leaf_invariant, "family_invariant": d.family_invariant,
        "delta_theta": step.delta_class,
        "delta_theta_per_network": {clones(s.network).case.note: s.delta_class for s in d.steps},
        "state_stays_block_constant": all(s.state_block_constant for s in d.steps),
        "leaf_condition": d.leaf_condition, "family_condition": d.family_condition,
        "leaf_invariant_from_exact_clone": exact,
        "example_residual": example_residual(step),
        "paper_worry": _worry(optimizer, d),
        "K": steps,
        "distance_leaf_f64": f64.leaf[-1], "distance_family_f64": f64.family[-1],
        "tolerance_f64": f64.tolerance[-1],
        "distance_f32": {"leaf": f32.leaf[-1], "family": f32.family[-1], "max_leaf": max(f32.leaf),
                         "tolerance": f32.tolerance[-1], "leaf_within_tolerance": f32.stays("leaf")},
        "carried_state": {"leaf": carried.leaf[-1], "family": carried.family[-1],
                          "tolerance": carried.tolerance[-1], "state_spread_at_clone": carried.state_spread,
                          "gradient_rule_error": carried.gradient_rule_error},
        "exact_clone_carried_state": {"leaf": exact_run.leaf[-1], "family": exact_run.family[-1],
                                      "tolerance": exact_run.tolerance[-1]},
        "state_degrees": state_degrees(optimizer),
        "symbolic_numeric_agree": agrees, "agreement": agree,
        "leaf_residuals_nonzero": sum(v != 0 for s in d.steps for v in s.leaf.values()),
        "family_residuals_nonzero": sum(v != 0 for s in d.steps for v in s.family.values()),
        "residuals": sum(len(s.leaf) + len(s.family) + sum(map(len, s.state.values())) for s in d.steps),
        "fresh_run_start": fresh.start,
    }
    setting = {"optimizer": optimizer, "hyperparameters": dict(updates.get(optimizer).defaults),
               "symbolic_networks": [clones(n).case.note for n in networks], "K": steps, "seed": config.seed,
               "quick": config.quick,
               "fresh_state_run": fresh.setting,
               "carried_state_run": {"architecture": "8-16-16-1 relu, cloned ×2 (equal split)",
                                     "warm_steps": warm, "loss": "mse, full batch, 64 samples",
                                     "dtype": "float64", "state": "cloned by the gradient rule",
                                     "perturbation": "equitable, 0.1 × rms of the hidden-to-hidden weights"},
               "tolerance": numeric.TOL_TEXT + " (adaptive optimizers' fresh-state run: plus the η/ε "
                                               "amplification of numerics.cloned.optimizer_trajectory)"}
    rule = gradient_rule()
    measured["gradient_rule_proved"] = all(v == 0 for v in rule.values())
    derivation = _representative(step)
    if step.state:
        derivation.append(("the state-cloning rule: ∂L'/∂w'(u, v) − ∂L/∂w(s(u), s(v))/|S_s(v)| on every "
                           f"edge of the ×2 clone 1-2-2-1 of a 1-1-1-1 MLP, expanded ({len(rule)} edges)",
                           sp.Tuple(*rule.values())))
    if d.leaf_condition:
        kwargs = next(r[1] for r in RELAXATIONS if r[0] == d.leaf_condition)
        derivation.append((f"leaf residuals A_bc Δθ with {d.leaf_condition}",
                           sp.Tuple(*list(one_step(optimizer, **kwargs).leaf.values())[:3])))
    return Evidence(CLAIM, f"optimizer-{optimizer}", "symbolic", verdict,
                    _summary(optimizer, d, f64, f32, carried, exact_run, agree, steps), setting,
                    measured, counterexample, time.perf_counter() - start, derivation=derivation,
                    figures=[_figure(optimizer, [f64, f32, carried, exact_run])])


def _fmt(x: float) -> str:
    return "0" if x == 0 else f"{x:.1e}"


def _summary(name: str, d: Derivation, f64: Curves, f32: Curves, carried: Curves,
             exact_run: Curves, agree: dict[str, bool], steps: int) -> str:
    numbers = (f"after {steps} torch steps the leaf distance is {_fmt(f64.leaf[-1])} (fresh state) / "
               f"{_fmt(carried.leaf[-1])} (carried state), the family distance {_fmt(f64.family[-1])} / "
               f"{_fmt(carried.family[-1])} (float64 tolerance {f64.tolerance[-1]:.1e}; float32 leaf "
               f"{_fmt(f32.leaf[-1])})")
    if not all(agree.values()):
        bad = ", ".join(k for k, ok in agree.items() if not ok)
        return (f"{name}: symbolic and numeric disagree — the map predicts the leaf "
                f"{'kept' if d.leaf_invariant else 'left'} and the family "
                f"{'kept' if d.family_invariant else 'left'}, torch does not ({bad}); {numbers}.")
    example = example_residual(d.step)
    example = f", e.g. {example}" if example else ""
    if d.leaf_invariant:
        return (f"{name}: the clone manifold M_D(W₀) is invariant, because with block-constant g and state "
                f"the map's Δθ is block-constant (all {sum(len(s.leaf) for s in d.steps)} leaf residuals on "
                f"{len(d.steps)} network(s) reduce to 0) and the state stays block-constant; {numbers}.")
    if d.family_invariant:
        return (f"{name}: the leaf M_D(W₀) is not invariant but clones stay clones, because Δθ is equitable "
                f"and not block-constant{example} (the leaf is kept iff {d.leaf_condition}: "
                f"from the exact clone the distance stays {_fmt(exact_run.leaf[-1])}); {numbers}.")
    condition = f"; kept iff {d.family_condition}" if d.family_condition else ""
    return (f"{name}: the clone symmetry breaks, because Δθ is neither block-constant nor equitable"
            f"{example}{condition}; {numbers}.")


def _figure(optimizer: str, runs: list[Curves]) -> tuple[str, str]:
    curves = {}
    for r in runs:
        curves[f"leaf, {r.label}"] = r.leaf
        if "exact" not in r.label:
            curves[f"family, {r.label}"] = r.family
    steps = runs[0].steps
    if any(r.steps != steps for r in runs):
        raise ValueError("the runs of one figure must share their step grid")
    svg = numeric.distance_figure(steps, curves, "distance (largest entry)", runs[0].tolerance)
    return (f"{optimizer}: distance to the leaf M_D(W₀) and to the family of equitable networks vs step "
            f"(exact zeros at {numeric.FLOOR:g}; dotted: the float64 tolerance of the fresh-state run)", svg)


def control_state(config: Config) -> Evidence:
    """Negative control: momentum and Adam with a state that is not block-constant — the original unit
    keeps its moments, its copies start fresh. Statement checked: "the clone manifold is invariant
    under this optimizer with this state"; it must be refuted, symbolically and in torch."""
    start = time.perf_counter()
    steps, warm, _ = _sizes(config)
    found, runs, measured = {}, {}, {}
    for name in CONTROL_OPTIMIZERS:
        d = control_derivation(name, config.seed)
        run = carried_run(name, config, steps, warm, perturb=0.0, fresh_copies=True)
        run.label = f"{name}, {run.label}"
        found[name], runs[name] = d, run
        measured[name] = {"leaf_invariant": d.leaf_invariant, "delta_theta": d.step.delta_class,
                          "leaf_residuals_nonzero": sum(v != 0 for v in d.step.leaf.values()),
                          "state_spread_at_clone": run.state_spread, "leaf_distance": run.leaf[-1],
                          "family_distance": run.family[-1], "tolerance": run.tolerance[-1],
                          "first_step_over_tolerance": next((k for k, v, tol in zip(run.steps, run.leaf,
                                                                                   run.tolerance) if v > tol),
                                                            None)}
    caught = all(not found[n].leaf_invariant and found[n].counterexample and runs[n].state_spread > 0
                 and runs[n].leaves("leaf") for n in CONTROL_OPTIMIZERS)
    setting = {"control": True, "optimizers": list(CONTROL_OPTIMIZERS), "K": steps, "warm_steps": warm,
               "state": "original keeps its cloned moments, copies start from zero (rows and columns)",
               "symbolic_state": "one symbol per edge", "seed": config.seed, "quick": config.quick,
               "statement": "the clone manifold is invariant under this optimizer with this state"}
    words = "; ".join(f"{n}: {measured[n]['leaf_residuals_nonzero']} leaf residuals ≠ 0, torch leaf distance "
                      f"{runs[n].leaf[-1]:.2e} > {runs[n].tolerance[-1]:.1e} from step "
                      f"{measured[n]['first_step_over_tolerance']}" for n in CONTROL_OPTIMIZERS)
    counterexample = None
    if caught:
        verdict = "refuted"
        summary = ("Caught: with a state that is not block-constant (copies fresh, original keeps its "
                   f"moments) the clone leaves M_D — {words}.")
        counterexample = {n: {"symbolic": found[n].counterexample,
                              "numeric": {"step": runs[n].steps[-1], "leaf_distance": runs[n].leaf[-1],
                                          "tolerance": runs[n].tolerance[-1]}} for n in CONTROL_OPTIMIZERS}
    else:
        verdict = "inconclusive"
        summary = ("CONTROL NOT CAUGHT: a non-block-constant state did not make the clone leave M_D "
                   f"({words}).")
    derivation = [item for n in CONTROL_OPTIMIZERS for item in _representative(found[n].step)[:3]]
    return Evidence(CLAIM, "control-unsymmetric-state", "symbolic", verdict, summary, setting, measured,
                    counterexample, time.perf_counter() - start, derivation=derivation,
                    figures=[_figure("control", list(runs.values()))])
