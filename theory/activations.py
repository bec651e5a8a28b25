"""The activation registry: one place that says what each activation is.

Every entry gives the SymPy expression f(z) (piecewise where the function is), and the torch
function with the same convention at the kinks (torch's subgradients: relu'(0) = 0,
hardtanh'(±1) = 0, ...). What the theory needs is derived from the expression, never restated:

- ``derivative``: f'(z), piece by piece;
- ``pieces``: the analytic pieces of f with the real interval each one holds on;
- ``flat_set``: {z : f' ≡ 0 on a neighbourhood}, the union of the pieces whose derivative is
  identically zero. Each piece is analytic, so a piece whose derivative is not identically zero
  has only isolated zeros: the flat set has positive measure iff some piece is constant;
- ``derivative_limits``: lim f'(z) at −∞ and +∞;
- ``range``: inf and sup of f over the reals.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import sympy as sp
import torch
import torch.nn.functional as F
from scipy.optimize import brentq

z = sp.Symbol("z", real=True)


@dataclass(frozen=True)
class Activation:
    name: str
    expr: sp.Expr  # in the symbol ``z``
    torch_fn: Callable[[torch.Tensor], torch.Tensor]
    note: str = ""

    def __call__(self, arg: sp.Expr) -> sp.Expr:
        """f(arg) as a SymPy expression."""
        return self.expr.subs(z, arg)

    def prime(self, arg: sp.Expr) -> sp.Expr:
        """f'(arg) as a SymPy expression."""
        return self.derivative.subs(z, arg)

    @cached_property
    def derivative(self) -> sp.Expr:
        return sp.diff(self.expr, z)

    @cached_property
    def pieces(self) -> list[tuple[sp.Expr, sp.Set]]:
        """(expression, interval) pairs covering the real line, in the order SymPy reads them."""
        if not isinstance(self.expr, sp.Piecewise):
            return [(self.expr, sp.S.Reals)]
        out, covered = [], sp.S.EmptySet
        for piece, cond in self.expr.args:
            where = (sp.S.Reals if cond is sp.true else cond.as_set()) - covered
            if where is not sp.S.EmptySet:
                out.append((piece, where))
            covered = covered | where
        return out

    @cached_property
    def flat_set(self) -> sp.Set:
        flat = [where for piece, where in self.pieces if sp.simplify(sp.diff(piece, z)) == 0]
        return sp.Union(*flat) if flat else sp.S.EmptySet

    @cached_property
    def derivative_limits(self) -> tuple[sp.Expr, sp.Expr]:
        # the limit at ±∞ is the limit of the piece whose interval is unbounded on that side
        left = next(piece for piece, where in self.pieces if where.inf == -sp.oo)
        right = next(piece for piece, where in self.pieces if where.sup == sp.oo)
        return sp.limit(sp.diff(left, z), z, -sp.oo), sp.limit(sp.diff(right, z), z, sp.oo)

    @cached_property
    def critical_points(self) -> list[float]:
        """Isolated zeros of f' outside the flat set (e.g. GELU's minimum near −0.75), found by a
        sign-change scan on [−20, 20] refined with Brent's method (to 1e-12)."""
        grid = np.linspace(-20.0, 20.0, 40001)
        roots: list[float] = []
        for piece, where in self.pieces:
            d = sp.diff(piece, z)
            if sp.simplify(d) == 0:
                continue
            fd = sp.lambdify(z, d, ["scipy", "numpy"])
            mask = sp.lambdify(z, where.as_relational(z), "numpy")(grid)
            inside = grid[np.broadcast_to(mask, grid.shape)]
            vals = np.broadcast_to(fd(inside), inside.shape)
            # strict sign changes only: f' underflowing to 0.0 in a tail is not a critical point
            for a, b, fa, fb in zip(inside[:-1], inside[1:], vals[:-1], vals[1:]):
                if fa * fb < 0:
                    roots.append(float(brentq(fd, a, b, xtol=1e-12)))
        return sorted(set(roots))

    @cached_property
    def range(self) -> tuple[float, float]:
        """(inf f, sup f) over the reals: exact where SymPy finds the image of each piece, else
        from the limits at ±∞ and the values at the critical points."""
        lows, highs = [], []
        for piece, where in self.pieces:
            try:
                image = sp.calculus.util.function_range(piece, z, where)
                lows.append(image.inf)
                highs.append(image.sup)
            except NotImplementedError:
                ends = [sp.limit(piece, z, -sp.oo), sp.limit(piece, z, sp.oo)]
                ends += [piece.subs(z, c) for c in self.critical_points]
                lows.append(sp.Min(*ends))
                highs.append(sp.Max(*ends))
        return sp.Min(*lows), sp.Max(*highs)

    def freezing(self) -> str:
        """'exact' (f' vanishes on a set of positive measure), 'asymptotic' (f' → 0 only in a
        limit z → ±∞) or 'never'."""
        if self.flat_set.measure > 0:
            return "exact"
        if 0 in self.derivative_limits:
            return "asymptotic"
        return "never"


def _pw(*pieces: tuple[sp.Expr, sp.Basic]) -> sp.Expr:
    return sp.Piecewise(*pieces)


_half = sp.Rational(1, 2)
_leak = sp.Rational(1, 100)
_selu_alpha = sp.Float("1.6732632423543772848170429916717", 32)
_selu_scale = sp.Float("1.0507009873554804934193349852946", 32)

_REGISTRY = [
    Activation("relu", _pw((0, z <= 0), (z, True)), F.relu),
    Activation("relu6", _pw((0, z <= 0), (z, z < 6), (6, True)), F.relu6),
    Activation("hardtanh", _pw((-1, z <= -1), (z, z < 1), (1, True)), F.hardtanh),
    # not F.hardsigmoid: its backward uses a float32 constant 1/6 even in float64 (0.1666666716)
    Activation("hardsigmoid", _pw((0, z <= -3), (z / 6 + _half, z < 3), (1, True)),
               lambda x: F.relu6(x + 3) / 6, "relu6(z + 3)/6"),
    # Heaviside with H(0) = 0; the x*0 term keeps the autograd graph so the gradient is an exact 0.
    Activation("step", _pw((0, z <= 0), (1, True)), lambda x: (x > 0).to(x.dtype) + x * 0,
               "Heaviside step, H(0) = 0"),
    Activation("tanh", sp.tanh(z), torch.tanh),
    Activation("sigmoid", 1 / (1 + sp.exp(-z)), torch.sigmoid),
    Activation("gelu", z * (1 + sp.erf(z / sp.sqrt(2))) / 2, F.gelu, "exact (erf) GELU"),
    Activation("silu", z / (1 + sp.exp(-z)), F.silu, "SiLU / Swish"),
    Activation("elu", _pw((sp.exp(z) - 1, z <= 0), (z, True)), F.elu, "α = 1"),
    # torch's constants (Klambauer et al. 2017) to 32 digits, the scale inside each piece
    Activation("selu", _pw((_selu_scale * _selu_alpha * (sp.exp(z) - 1), z <= 0), (_selu_scale * z, True)),
               F.selu, "λ = 1.0507009873554805, α = 1.6732632423543772"),
    Activation("softplus", sp.log(1 + sp.exp(z)), F.softplus),
    Activation("leaky_relu", _pw((_leak * z, z <= 0), (z, True)), F.leaky_relu, "slope 0.01"),
    Activation("identity", z, lambda x: x),
]

ACTIVATIONS: dict[str, Activation] = {a.name: a for a in _REGISTRY}


def get(name: str) -> Activation:
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(f"unknown activation {name!r} (accepted: {', '.join(ACTIVATIONS)})") from None
