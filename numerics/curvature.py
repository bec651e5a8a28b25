"""The Hessian of the loss restricted to the normal space of a frozen or cloned manifold, on torch
networks: exact (every Hessian-vector product on a basis of the normal space) and by Lanczos (the
extreme eigenpairs from products alone), in float64.

**The objective.** L(θ) = loss(model_θ(X), y) with θ the flat vector of the model's parameters (in
``named_parameters`` order), the model in eval mode (no dropout; ``Objective``). Its gradient and
Hessian-vector products come from ``torch.func``: Hv = d/dε ∇L(θ + εv) at ε = 0, forward-mode over
reverse-mode (``torch.func.jvp`` of ``torch.func.grad``), one product for the cost of a few gradients.

**Normal spaces** (``NormalSpace``: the orthogonal projector P onto N_θM, as a function of flat vectors):

- frozen, M_F = {θ_F = θ_F0}: N is spanned by the coordinates of θ_F (the incoming weights and bias of
  the frozen units), so P keeps those coordinates and zeroes the rest (``frozen_space``);
- cloned, the leaf M_D(θ₀) = θ₀ + {block-constant}: P v = v − avg(v), the component orthogonal to the
  block-constant tensors; the family (the equitable parameters): the (A − M) + (B − M) component
  (``clone_space``; both are ``numerics.clone.Gauge.components``);
- both, M_F ∩ M_D: T = T_F ∩ T_D, N = N_F + N_D. When the frozen units are whole blocks the two
  projectors commute and P = P_F + P_D − P_F P_D (``intersection``; refused otherwise).

**The normal Hessian** H_N = Qᵀ H Q for an orthonormal basis Q of N (``normal_hessian``): its
eigenvalues are those of P H P on N. Near M a gradient step maps a normal deviation n to
(I − η H_N) n + O(‖n‖²), so the sign of H_N's spectrum decides whether M attracts or repels (paper
Def. 4.2; ``theory.curvature.classify``).

**Lanczos** (``lanczos``): ``scipy.sparse.linalg.eigsh`` on the operator v ↦ P H P v, started from a
vector of N. Every product lands in N, so the Krylov space never leaves it and the tangent space's
zero eigenvalues of P H P never appear; the eigenvectors' share in N is returned to show it. The
extreme pair of each end costs a few dozen products, so it runs on networks with millions of
parameters (``benchmarks/stability.py``).
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import cached_property

import numpy as np
import torch
import torch.nn.functional as F
from scipy.sparse.linalg import LinearOperator, eigsh
from torch import nn
from torch.func import functional_call, grad, jvp, vmap

from numerics import clone as C
from numerics import validate
from numerics.models import MLP
from theory.partition import Partition


def mse(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """½ ‖ŷ − y‖² averaged over samples."""
    return 0.5 * (out - y).pow(2).sum(-1).mean()


MAX_EXACT = 6000  # ambient dimension up to which ``NormalSpace.basis`` forms the n × n projector

LOSSES: dict[str, Callable[[torch.Tensor, torch.Tensor], torch.Tensor]] = {
    "cross_entropy": F.cross_entropy,
    "mse": mse,
}


class Objective:
    """L(θ) of a copy of ``model`` (eval mode, ``dtype``) on (X, y), as a function of the flat
    parameter vector θ; ``theta`` is the model's own point. The model itself is not modified."""

    def __init__(
        self,
        model: nn.Module,
        X: torch.Tensor,
        y: torch.Tensor,
        loss: str = "cross_entropy",
        dtype: torch.dtype = torch.float64,
    ):
        if loss not in LOSSES:
            raise ValueError(f"unknown loss {loss!r} (accepted: {', '.join(LOSSES)})")
        validate.check_finite_parameters(model)
        X = validate.check_data(X, "X")
        if not isinstance(y, torch.Tensor) or y.dim() == 0:
            raise TypeError(f"y must be a torch tensor with one target per sample, not {type(y).__name__}")
        if y.is_floating_point() and not torch.isfinite(y).all():
            raise ValueError("y contains NaN or inf")
        if X.shape[0] != y.shape[0]:
            raise ValueError(
                f"X has {X.shape[0]} samples and y {y.shape[0]}; give one target per sample, "
                "at least one sample"
            )
        self.model = copy.deepcopy(model).to(dtype).eval()
        self.loss_name, self.loss_fn, self.dtype = loss, LOSSES[loss], dtype
        self.X = X.to(dtype)
        self.y = y.to(dtype) if y.is_floating_point() else y
        named = list(self.model.named_parameters())
        self.names = [k for k, _ in named]
        self.shapes = [p.shape for _, p in named]
        self.numels = [p.numel() for _, p in named]
        self.theta = torch.cat([p.detach().flatten() for _, p in named])
        self._grad = grad(self.loss)

    @property
    def n(self) -> int:
        return self.theta.numel()

    def unflatten(self, v: torch.Tensor) -> dict[str, torch.Tensor]:
        return {k: part.view(s) for k, s, part in zip(self.names, self.shapes, v.split(self.numels))}

    def flatten(self, tensors: dict[str, torch.Tensor]) -> torch.Tensor:
        return torch.cat([tensors[k].reshape(-1) for k in self.names])

    def loss(self, theta: torch.Tensor) -> torch.Tensor:
        return self.loss_fn(functional_call(self.model, self.unflatten(theta), (self.X,)), self.y)

    def batch_loss(self, theta: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """L on the samples ``idx`` only (a minibatch)."""
        return self.loss_fn(functional_call(self.model, self.unflatten(theta), (self.X[idx],)), self.y[idx])

    def gradient(self, theta: torch.Tensor | None = None) -> torch.Tensor:
        return self._grad(self.theta if theta is None else theta)

    def hvp(self, v: torch.Tensor, theta: torch.Tensor | None = None) -> torch.Tensor:
        """H(θ) v by forward-over-reverse differentiation."""
        return jvp(self._grad, (self.theta if theta is None else theta,), (v,))[1]

    def hvps(self, V: torch.Tensor, chunk: int = 64) -> torch.Tensor:
        """H V for the rows of V (k × n), ``chunk`` products at a time (vmap)."""
        validate.count(chunk, "chunk", 1)
        return torch.cat([vmap(self.hvp)(V[i : i + chunk]) for i in range(0, V.shape[0], chunk)])

    def hessian(self) -> torch.Tensor:
        """The full n × n Hessian by ``torch.func.hessian`` (small networks: n² entries)."""
        return torch.func.hessian(self.loss)(self.theta)

    def at(self, theta: torch.Tensor) -> nn.Module:
        """A copy of the model with parameters θ."""
        model = copy.deepcopy(self.model)
        with torch.no_grad():
            for p, v in zip(model.parameters(), self.unflatten(theta).values()):
                p.copy_(v)
        return model


# ---- normal spaces ----------------------------------------------------------------------------------


@dataclass
class NormalSpace:
    """N_θM as the orthogonal projector ``project`` on flat vectors of R^n; ``coordinates`` (a boolean
    mask) when N is spanned by coordinate vectors (frozen manifolds)."""

    name: str
    n: int
    project: Callable[[torch.Tensor], torch.Tensor]
    coordinates: torch.Tensor | None = field(default=None, repr=False)

    @cached_property
    def basis(self) -> torch.Tensor:
        """An orthonormal basis Q of N (n × dim): coordinate vectors for a mask; otherwise, with the
        projector matrix P (n projections, n² memory: medium networks), dim = tr P and Q from the QR
        factorization of P G for a Gaussian n × dim matrix G (whose range is N with probability 1),
        factorized twice so Q lies in N to rounding."""
        if self.coordinates is not None:
            return torch.eye(self.n, dtype=torch.float64)[:, self.coordinates]
        if self.n > MAX_EXACT:
            raise ValueError(
                f"an explicit basis of a normal space in R^{self.n} needs {self.n}² numbers; "
                f"the exact path takes n ≤ {MAX_EXACT} (use lanczos)"
            )
        P = torch.stack([self.project(e) for e in torch.eye(self.n, dtype=torch.float64)])
        P = (P + P.T) / 2
        dim = int(round(float(P.diagonal().sum())))
        G = torch.randn(self.n, dim, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        Q = torch.linalg.qr(P @ G).Q
        return torch.linalg.qr(P @ Q).Q

    @property
    def dim(self) -> int:
        if self.coordinates is not None:
            return int(self.coordinates.sum())
        return self.basis.shape[1]


def frozen_space(obj: Objective, layer: int, units: Sequence[int]) -> NormalSpace:
    """The normal space of M_F for ``units`` of hidden layer ``layer`` (0-based) of an MLP: the
    coordinates of their incoming weights and biases."""
    if not isinstance(obj.model, MLP):
        raise ValueError(f"frozen_space supports numerics.models MLP (got {type(obj.model).__name__})")
    if not 0 <= layer < len(obj.model.hidden):
        raise ValueError(f"layer {layer} is not a hidden layer (0..{len(obj.model.hidden) - 1})")
    units = list(units)
    width = obj.model.hidden[layer].out_features
    if not units or min(units) < 0 or max(units) >= width:
        raise ValueError(f"units {units} must be a non-empty list of units of layer {layer} (0..{width - 1})")
    mask = {k: torch.zeros(s, dtype=torch.bool) for k, s in zip(obj.names, obj.shapes)}
    mask[f"linears.{layer}.weight"][units] = True
    if f"linears.{layer}.bias" in mask:
        mask[f"linears.{layer}.bias"][units] = True
    coords = obj.flatten(mask)
    return NormalSpace(
        f"frozen (layer {layer + 1}, units {units})", obj.n, lambda v: v * coords.to(v.dtype), coords
    )


def clone_space(obj: Objective, cloning: Partition, side: str = "leaf") -> NormalSpace:
    """The normal space of the clone manifold of ``cloning`` at obj's point: the leaf M_D(θ₀)
    (``side="leaf"``) or the family of equitable parameters (``"both"``), projected by
    ``numerics.clone.Gauge.components``."""
    gauge = C.Gauge(obj.model, cloning)
    name_of = {id(p): k for k, p in obj.model.named_parameters()}
    keys = [name_of.get(id(t.value)) for t in gauge.tensors]
    missing = set(obj.names) - set(keys)
    if missing:
        raise ValueError(f"parameters {sorted(missing)} are not covered by the clone manifold")

    def project(v: torch.Tensor) -> torch.Tensor:
        parts = obj.unflatten(v)
        values = [
            parts[k] if k is not None else torch.zeros_like(t.value, dtype=v.dtype)
            for k, t in zip(keys, gauge.tensors)
        ]
        out = gauge.components(values, side)
        return obj.flatten({k: o for k, o in zip(keys, out) if k is not None})

    labels = {"leaf": "cloned (leaf M_D(θ₀))", "both": "cloned (family: equitable)"}
    return NormalSpace(labels.get(side, f"cloned ({side})"), obj.n, project)


def intersection(a: NormalSpace, b: NormalSpace, seed: int = 0) -> NormalSpace:
    """The normal space of the intersection of two manifolds, N_a + N_b, when their projectors commute
    (checked on random vectors to 1e-12): P = P_a + P_b − P_a P_b. ValueError otherwise (e.g. frozen
    units that are not whole clone blocks)."""
    if a.n != b.n:
        raise ValueError(f"normal spaces of different ambient dimension ({a.n}, {b.n})")
    gen = torch.Generator().manual_seed(seed)
    for _ in range(3):
        v = torch.randn(a.n, generator=gen, dtype=torch.float64)
        gap = float((a.project(b.project(v)) - b.project(a.project(v))).norm())
        if gap > 1e-12 * float(v.norm()):
            raise ValueError(
                f"the projectors of {a.name} and {b.name} do not commute (gap {gap:.2g}); "
                "frozen units must be whole clone blocks"
            )
    return NormalSpace(
        f"{a.name} ∩ {b.name}", a.n, lambda v: a.project(v) + b.project(v) - a.project(b.project(v))
    )


# ---- the normal Hessian ---------------------------------------------------------------------------


@dataclass
class Spectrum:
    """Eigenvalues of H_N (ascending) with the eigenvectors in the ambient coordinates (columns)."""

    values: torch.Tensor
    vectors: torch.Tensor
    space: str
    dim: int


def normal_hessian(obj: Objective, space: NormalSpace, chunk: int = 64) -> tuple[torch.Tensor, torch.Tensor]:
    """(Q, H_N = Qᵀ H Q): one Hessian-vector product per basis vector of N, symmetrized (the two
    triangles differ by rounding only)."""
    Q = space.basis
    if Q.shape[1] == 0:
        raise ValueError(f"the normal space of {space.name} is 0-dimensional: nothing to classify")
    HN = Q.T @ obj.hvps(Q.T.contiguous(), chunk).T
    return Q, (HN + HN.T) / 2


def spectrum(obj: Objective, space: NormalSpace, chunk: int = 64) -> Spectrum:
    """Every eigenpair of H_N, exact up to float64 rounding (``normal_hessian``)."""
    Q, HN = normal_hessian(obj, space, chunk)
    values, vectors = torch.linalg.eigh(HN)
    return Spectrum(values, Q @ vectors, space.name, Q.shape[1])


@dataclass
class Extremes:
    """The lowest and highest eigenpairs of H_N from Lanczos."""

    lowest: float
    highest: float
    lowest_vector: torch.Tensor
    highest_vector: torch.Tensor
    products: int  # Hessian-vector products used
    normal_share: tuple[float, float]  # ‖P v‖ / ‖v‖ of the two eigenvectors (1: inside N)
    space: str


def lanczos(
    obj: Objective,
    space: NormalSpace,
    tol: float = 0.0,
    seed: int = 0,
    ncv: int | None = None,
    maxiter: int | None = None,
) -> Extremes:
    """The extreme eigenpairs of H_N: ``eigsh(k=2, which="BE")`` on v ↦ P H P v from a random vector of
    N (module docstring). ``tol`` is ARPACK's relative accuracy (0: machine precision).

    When N is smaller than the Krylov space, or rounding lets a tangent vector in, an end can come out
    as a tangent eigenvector of P H P (eigenvalue 0, share in N < 1 − 1e-8): that end is computed again
    on P H P ± c (I − P), c = 1 + 2 max|λ|, which moves the tangent eigenvalues past the other end."""
    validate.number(tol, "tol", 0)
    count = [0]

    def operator(shift: float) -> LinearOperator:
        def matvec(v: np.ndarray) -> np.ndarray:
            count[0] += 1
            x = torch.from_numpy(np.ascontiguousarray(v, dtype=np.float64).reshape(-1))
            px = space.project(x)
            return (space.project(obj.hvp(px)) + shift * (x - px)).numpy()

        return LinearOperator((obj.n, obj.n), matvec=matvec, dtype=np.float64)

    gen = torch.Generator().manual_seed(seed)
    v0 = space.project(torch.randn(obj.n, generator=gen, dtype=torch.float64))
    if float(v0.norm()) == 0:
        raise ValueError(f"the normal space of {space.name} is 0-dimensional: nothing to classify")
    values, vectors = eigsh(operator(0.0), k=2, which="BE", v0=v0.numpy(), tol=tol, ncv=ncv, maxiter=maxiter)
    order = np.argsort(values)
    ends = [[float(values[k]), torch.from_numpy(vectors[:, k].copy())] for k in order]

    def share(v: torch.Tensor) -> float:
        return float(space.project(v).norm() / v.norm())

    c = 1.0 + 2.0 * max(abs(e[0]) for e in ends)
    for j, (sign, which) in enumerate(((1.0, "SA"), (-1.0, "LA"))):
        if share(ends[j][1]) < 1 - 1e-8:
            value, vector = eigsh(operator(sign * c), k=1, which=which, v0=v0.numpy(), tol=tol,
                                  maxiter=maxiter)
            ends[j] = [float(value[0]), torch.from_numpy(vector[:, 0].copy())]
    (lo, vlo), (hi, vhi) = ends
    return Extremes(lo, hi, vlo, vhi, count[0], (share(vlo), share(vhi)), space.name)


# ---- clones of a critical point ------------------------------------------------------------------


def converge(obj: Objective, gtol: float = 1e-11, maxiter: int = 500) -> tuple[torch.Tensor, float]:
    """A critical point of L near obj's point by Newton's method in a trust region
    (``scipy.optimize.minimize(method="trust-exact")`` with the exact Hessian: small networks), and
    the gradient's norm there. Converges quadratically near a non-degenerate minimum."""
    from scipy.optimize import minimize

    validate.number(gtol, "gtol", 0, lo_open=True)
    validate.count(maxiter, "maxiter", 1)

    def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
        theta = torch.from_numpy(x)
        return float(obj.loss(theta)), obj.gradient(theta).numpy()

    def hess(x: np.ndarray) -> np.ndarray:
        return torch.func.hessian(obj.loss)(torch.from_numpy(x)).numpy()

    result = minimize(
        fun,
        obj.theta.numpy(),
        jac=True,
        hess=hess,
        method="trust-exact",
        options={"gtol": gtol, "maxiter": maxiter},
    )
    theta = torch.from_numpy(result.x)
    return theta, float(obj.gradient(theta).norm())


def one_unit_cloning(widths: Sequence[int], layer: int, unit: int) -> Partition:
    """The cloning in which unit ``unit`` of hidden layer ``layer`` (0-based) has two clones, wide
    units ``unit`` and ``unit + 1`` of that layer, and every other unit one."""
    if not 0 <= layer < len(widths) - 2 or not 0 <= unit < widths[layer + 1]:
        raise ValueError(f"unit {unit} of hidden layer {layer} does not exist in widths {list(widths)}")
    sizes = [[2 if (k == layer and j == unit) else 1 for j in range(w)] for k, w in enumerate(widths[1:-1])]
    return C.from_sizes(widths, sizes)


@dataclass
class SplitTerms:
    """The base quantities of the split block (``theory.curvature`` module docstring) for every unit u
    of one hidden layer: K_u = Σ_i δ_u f''(z_u) h̃h̃ᵀ, C_u = Σ_i f'(z_u) h̃ gᵀ (h̃ = (the layer's
    inputs, 1), g = ∂L/∂z of the next layer), the outgoing weights a_u and the gradient ∇_{w_u}L̃ of
    u's incoming weights and bias (= C_u a_u)."""

    K: torch.Tensor  # units × m × m
    C: torch.Tensor  # units × m × k
    a: torch.Tensor  # units × k
    grad_in: torch.Tensor  # units × m

    def block(self, unit: int, lam: float = 0.5) -> np.ndarray:
        """[[λ(1 − λ) K_u, C_u], [C_uᵀ, 0]] (``theory.curvature.split_block``)."""
        from theory.curvature import split_block

        return split_block(self.K[unit].numpy(), self.C[unit].numpy(), lam)


def split_terms(obj: Objective, layer: int) -> SplitTerms:
    """``SplitTerms`` of hidden layer ``layer`` (0-based) of obj's MLP at obj's point, from one forward
    and backward pass over all samples (autograd of the mean loss: every sum carries its 1/n), one
    einsum per quantity for the whole layer."""
    model = obj.model
    if not isinstance(model, MLP) or model.norms is not None:
        raise ValueError("split_terms supports numerics.models MLP without normalization")
    if not 0 <= layer < len(model.hidden):
        raise ValueError(f"layer {layer} is not a hidden layer (0..{len(model.hidden) - 1})")
    trace = model.trace(obj.X)
    later = trace.z[layer + 1] if layer + 1 < len(trace.z) else trace.out
    delta, g = torch.autograd.grad(obj.loss_fn(trace.out, obj.y), [trace.h[layer], later])
    h_in = obj.X if layer == 0 else trace.h[layer - 1].detach()
    h = torch.cat([h_in, torch.ones_like(h_in[:, :1])], 1)
    z = trace.z[layer].detach().requires_grad_()
    f1 = torch.autograd.grad(model.act(z).sum(), z, create_graph=True)[0]
    f2 = torch.autograd.grad(f1.sum(), z)[0]
    f1 = f1.detach()
    K = torch.einsum("iu,ij,ik->ujk", delta * f2, h, h)
    Cm = torch.einsum("iu,ij,ik->ujk", f1, h, g)
    grad_in = torch.einsum("iu,ij->uj", delta * f1, h)
    return SplitTerms(K, Cm, model.linears[layer + 1].weight.detach().T.clone(), grad_in)


def clone_inertia(obj: Objective, factor: int = 2) -> tuple[int, int, int]:
    """The inertia (negative, zero, positive) of the normal Hessian of the leaf M_D of the equal-split
    ×``factor`` clone of obj's MLP, predicted from the base alone: the clone is fixed by the swaps of
    clones, which H commutes with, so H_N splits by characters (``theory.curvature`` module
    docstring): (factor − 1)² neutral directions per hidden-to-hidden block pair, and (factor − 1)
    copies of the split block [[K_u/4, C_u], [C_uᵀ, 0]] per base unit u (up to a congruence, which
    keeps the inertia). A block's zero eigenvalues are decided by ``theory.curvature.zero_tolerance``
    of the block."""
    from theory.curvature import inertia

    validate.count(factor, "factor", 2)  # factor 1 clones nothing; below it the counts would be negative
    model = obj.model
    widths = [model.widths[0], *[lin.out_features for lin in model.hidden]]
    neutral = sum(a * b for a, b in zip(widths[1:-1], widths[2:])) * (factor - 1) ** 2
    counts = np.array([0, neutral, 0])
    for layer in range(len(model.hidden)):
        terms = split_terms(obj, layer)
        for u in range(terms.K.shape[0]):
            i = inertia(np.linalg.eigvalsh(terms.block(u)))
            counts += (factor - 1) * np.array([i.negative, i.zero, i.positive])
    return int(counts[0]), int(counts[1]), int(counts[2])


@dataclass
class Split:
    """The clone of one unit with split λ and the basis of the derivation's coordinates: the columns
    of ``basis`` are φ_λ(e_k) for every base parameter (the base directions), then s-directions ξ = e_j
    (u₁'s incoming weight j by 1 − λ, u₂'s by −λ; the bias last), then o-directions (u₁'s outgoing
    weight into unit k of the next layer by +1, u₂'s by −1)."""

    wide: MLP
    cloning: Partition
    basis: torch.Tensor
    sizes: tuple[int, int, int]  # base parameters, s-directions, o-directions


def split_clone(base: MLP, layer: int, unit: int, lam: float) -> Split:
    """The wide network with unit ``unit`` of hidden layer ``layer`` cloned (``one_unit_cloning``,
    ``clone.lambda_split``) and the derivation's basis (``Split``), float64."""
    validate.number(lam, "lam")
    base = copy.deepcopy(base).double()
    cloning = one_unit_cloning(C.widths(base), layer, unit)
    split = C.lambda_split(cloning, lam)
    wide = C.clone(base, cloning, split)

    def flat(model: nn.Module) -> torch.Tensor:
        return torch.cat([p.detach().flatten() for p in model.parameters()])

    columns = []
    params = list(base.parameters())
    probe = copy.deepcopy(base)
    with torch.no_grad():
        for p in probe.parameters():
            p.zero_()
        for q in probe.parameters():
            for k in range(q.numel()):
                q.view(-1)[k] = 1.0
                columns.append(flat(C.clone(probe, cloning, split)))
                q.view(-1)[k] = 0.0
    wide_obj_names = [k for k, _ in wide.named_parameters()]
    zero = {k: torch.zeros_like(p) for k, p in wide.named_parameters()}
    u1, u2 = unit, unit + 1
    fan_in = wide.linears[layer].weight.shape[1]
    for j in range(fan_in + 1):
        d = {k: v.clone() for k, v in zero.items()}
        target, index = (
            (f"linears.{layer}.weight", (slice(None), j))
            if j < fan_in
            else (f"linears.{layer}.bias", (slice(None),))
        )
        column = torch.zeros(d[target].shape[0], dtype=torch.float64)
        column[u1], column[u2] = 1 - lam, -lam
        d[target][index] = column
        columns.append(torch.cat([d[k].flatten() for k in wide_obj_names]))
    fan_out = wide.linears[layer + 1].weight.shape[0]
    for k in range(fan_out):
        d = {key: v.clone() for key, v in zero.items()}
        d[f"linears.{layer + 1}.weight"][k, u1], d[f"linears.{layer + 1}.weight"][k, u2] = 1.0, -1.0
        columns.append(torch.cat([d[key].flatten() for key in wide_obj_names]))
    basis = torch.stack(columns, 1)
    n_base = sum(p.numel() for p in params)
    return Split(wide, cloning, basis, (n_base, fan_in + 1, fan_out))


# ---- a normal deviation under SGD, to first order -------------------------------------------------


def tangent_linear(
    obj: Objective,
    space: NormalSpace,
    n1: torch.Tensor,
    lr: float,
    stream: Iterator[torch.Tensor],
    steps: int,
    record: Sequence[int],
    keep: Sequence[int] = (),
) -> tuple[dict[int, float], dict[int, torch.Tensor]]:
    """The first-order model of a normal deviation under SGD: from θ₀ = obj's point (on M) and the
    batch stream of the real run, step t (t = 1, …, steps) draws B_t and maps

        n_t = n_{t−1} − η P H_{B_t}(θ_{t−1}) n_{t−1},     θ_t = θ_{t−1} − η ∇L_{B_t}(θ_{t−1}),

    θ_t the on-manifold run (M invariant: P ∇L = 0 and P H τ = 0 for tangent τ, so tangent parts of
    the deviation do not feed the normal part at this order). The deviation starts as ``n1`` after
    step 1 (a kick at step 1). Returns ‖n_t‖ at the ``record`` steps and θ_t at the ``keep`` steps."""
    validate.number(lr, "lr", 0, lo_open=True)
    validate.count(steps, "steps", 0)
    theta, n = obj.theta.clone(), space.project(n1)
    norms, kept = {}, {}
    for t in range(1, steps + 1):
        idx = next(stream)
        g, hn = jvp(grad(lambda th, idx=idx: obj.batch_loss(th, idx)), (theta,), (n,))
        if t > 1:
            n = n - lr * space.project(hn)
        theta = theta - lr * g
        if t in record:
            norms[t] = float(n.norm())
        if t in keep:
            kept[t] = theta.clone()
    return norms, kept
