"""Random torch models written the way people write them — a custom ``forward`` with functional or
module activations, residual blocks, conv stacks — and ground truth planted in them: exactly dead
units, units dead on all but one sample, exact clones, near-clones.

A ``Spec`` describes the model: MLP or CNN, a stack of blocks (``plain``: affine → f;
``res``: t = f(affine(x)), h = f(x + affine'(t)), the stream keeping its width), the registry
activation and how it is called (``module``: ``nn.ReLU()``-style modules, ``function``:
``F.relu(z)``, ``method``: ``z.relu()``). ``Generated`` builds it; its ``forward`` is one plain
function fx can trace, and with ``record`` set to a list it also appends every site's
pre-activation z — an implementation path independent of the probes, the ground truth the tests
compare against.

Planting works on the *affine sites* (the output of a plain block or the inner activation of a
residual block, whose z = affine(input) has its own bias):

- ``plant_dead``: b_u ← b_u − max_x z_u − margin, so z_u ≤ −margin on every sample (exactly dead
  for ReLU, ReLU6 and hardtanh at the default margin 2);
- ``plant_near_dead``: b_u lowered to between the two largest z_u, so u is active on exactly one
  sample: the paper's measure calls it dead, it is not, and no certificate may say it is;
- ``plant_clone``: units b, c, ... copy unit a's incoming weights and bias, and the one affine map
  that reads the site gets the average of their columns in all of them: incoming- and
  outgoing-equitable, an exact clone block (the site must be read by exactly one affine map:
  ``clone_sites``);
- ``perturb``: noise on one unit's incoming weights (a near-clone at 1e-6 is no exact clone).

``planted`` draws a suite of such models with all of it planted at once, and the ground truth.

    >>> model = Generated(Spec("mlp", 3, (4, 4), ("plain", "res"), "relu", "function", 2), seed=0)
    >>> [s for s in model.affine_sites()], model.clone_sites()
    ([0, 1], [1])
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F
from torch import nn

KINDS = ("mlp", "conv")
BLOCKS = ("plain", "res")
STYLES = ("module", "function", "method")
# the activations generated models use, with their torch module and function
ACTIVATIONS = {
    "relu": (nn.ReLU, F.relu, "relu"),
    "relu6": (nn.ReLU6, F.relu6, None),
    "hardtanh": (nn.Hardtanh, F.hardtanh, None),
    "leaky_relu": (nn.LeakyReLU, F.leaky_relu, None),
    "tanh": (nn.Tanh, torch.tanh, "tanh"),
}


@dataclass(frozen=True)
class Spec:
    """``kind`` mlp or conv; ``d_in`` input features (channels); ``widths`` one per block (a res
    block's inner width); ``blocks`` plain/res (the first is plain); ``activation`` a key of
    ``ACTIVATIONS``; ``style`` how it is called; ``out`` outputs; ``image`` the side of a conv input."""

    kind: str
    d_in: int
    widths: tuple[int, ...]
    blocks: tuple[str, ...]
    activation: str = "relu"
    style: str = "function"
    out: int = 2
    image: int = 4

    def __post_init__(self) -> None:
        if self.kind not in KINDS or self.style not in STYLES or self.activation not in ACTIVATIONS:
            raise ValueError(f"spec needs kind in {KINDS}, style in {STYLES}, activation in "
                             f"{tuple(ACTIVATIONS)}; got {self.kind}, {self.style}, {self.activation}")
        if len(self.widths) != len(self.blocks) or not self.blocks or self.blocks[0] != "plain" \
                or not set(self.blocks) <= set(BLOCKS) or min(self.widths) < 1:
            raise ValueError(f"spec needs one positive width per block and a plain first block: {self}")

    def inputs(self, n: int, generator: torch.Generator) -> torch.Tensor:
        shape = (n, self.d_in) if self.kind == "mlp" else (n, self.d_in, self.image, self.image)
        return torch.randn(shape, generator=generator, dtype=torch.float64)


class Generated(nn.Module):
    """The model a ``Spec`` describes (float64, weights drawn from ``seed``)."""

    def __init__(self, spec: Spec, seed: int = 0):
        super().__init__()
        self.spec, self.record = spec, None
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.inner, self.outer = nn.ModuleList(), nn.ModuleList()
            self.acts = nn.ModuleList()
            stream = spec.d_in
            for block, width in zip(spec.blocks, spec.widths):
                if block == "plain":
                    self.inner.append(self._affine(stream, width))
                    self.outer.append(nn.Identity())
                    stream = width
                else:
                    self.inner.append(self._affine(stream, width))
                    self.outer.append(self._affine(width, stream))
                    self.acts.append(ACTIVATIONS[spec.activation][0]())
                self.acts.append(ACTIVATIONS[spec.activation][0]())
            self.head = nn.Linear(stream, spec.out)
        self.double()

    def _affine(self, a: int, b: int) -> nn.Module:
        return nn.Linear(a, b) if self.spec.kind == "mlp" else nn.Conv2d(a, b, 3, padding=1)

    def _f(self, z: torch.Tensor, k: int) -> torch.Tensor:
        if self.record is not None:
            self.record.append(z.detach().clone())
        module, function, method = ACTIVATIONS[self.spec.activation]
        if self.spec.style == "module":
            return self.acts[k](z)
        if self.spec.style == "method" and method is not None:
            return getattr(z, method)()
        return function(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        k = 0
        for block, inner, outer in zip(self.spec.blocks, self.inner, self.outer):
            if block == "plain":
                x = self._f(inner(x), k)
                k += 1
            else:
                t = self._f(inner(x), k)
                x = self._f(x + outer(t), k + 1)
                k += 2
        if self.spec.kind == "conv":
            x = F.adaptive_avg_pool2d(x, 1).flatten(1)
        return self.head(x)

    # ---- where ground truth can be planted --------------------------------------------------------
    def sites(self) -> list[tuple[str, int]]:
        """Per activation site in forward order: (role, block): plain, inner (of a res block) or sum."""
        out = []
        for i, block in enumerate(self.spec.blocks):
            out += [("plain", i)] if block == "plain" else [("inner", i), ("sum", i)]
        return out

    def affine_sites(self) -> list[int]:
        """Sites whose z is one affine map of the block's input (a bias to plant with)."""
        return [k for k, (role, _) in enumerate(self.sites()) if role != "sum"]

    def _reader(self, site: int) -> tuple[nn.Module, bool] | None:
        """The one affine map that reads the site's output (and whether it is the head), or None
        when the output is also a residual stream (read by a sum)."""
        role, i = self.sites()[site]
        if role == "inner":
            return self.outer[i], False
        if i + 1 < len(self.spec.blocks):
            return (self.inner[i + 1], False) if self.spec.blocks[i + 1] == "plain" else None
        return self.head, True

    def clone_sites(self) -> list[int]:
        return [k for k in self.affine_sites() if self._reader(k) is not None and self.sites()[k][0] != "sum"]

    def _producer(self, site: int) -> nn.Module:
        role, i = self.sites()[site]
        if role == "sum":
            raise ValueError(f"site {site} is a residual sum: it has no bias of its own")
        return self.inner[i]

    def pre_activations(self, X: torch.Tensor) -> list[torch.Tensor]:
        """Every site's z on X (eval mode), recorded by the forward itself: the ground truth."""
        self.record = []
        try:
            with torch.no_grad():
                self.eval()(X)
            return self.record
        finally:
            self.record = None


def _unit_rows(z: torch.Tensor, units: torch.Tensor) -> torch.Tensor:
    """z of the given units as (samples × positions, units): channels of a conv, features of an MLP."""
    z = z.movedim(1, -1).reshape(-1, z.shape[1]) if z.dim() == 4 else z
    return z[:, units]


@torch.no_grad()
def plant_dead(model: Generated, X: torch.Tensor, site: int, units: torch.Tensor,
               margin: float = 2.0) -> None:
    """Lower the bias of ``units`` at an affine site so that z ≤ −margin on every sample of X."""
    z = _unit_rows(model.pre_activations(X)[site], units)
    model._producer(site).bias[units] -= z.amax(0) + margin


@torch.no_grad()
def plant_near_dead(model: Generated, X: torch.Tensor, site: int, unit: int) -> None:
    """Lower one unit's bias to between its two largest z: active on exactly one sample (position)."""
    z = _unit_rows(model.pre_activations(X)[site], torch.tensor([unit]))[:, 0]
    top = z.topk(2).values
    if not top[0] > top[1]:
        raise ValueError(f"unit {unit} of site {site} has no single largest z on these data")
    model._producer(site).bias[unit] -= (top[0] + top[1]) / 2


@torch.no_grad()
def plant_clone(model: Generated, site: int, units: Sequence[int]) -> None:
    """Make ``units`` of the site one block of exact clones of ``units[0]`` (module docstring)."""
    reader = model._reader(site)
    if reader is None or site not in model.clone_sites():
        raise ValueError(f"site {site} is read by more than one map: clones there need the whole stream")
    producer, (consumer, _) = model._producer(site), reader
    units = list(units)
    producer.weight[units] = producer.weight[units[0]].clone()
    producer.bias[units] = producer.bias[units[0]].clone()
    consumer.weight[:, units] = consumer.weight[:, units].mean(1, keepdim=True)


@torch.no_grad()
def perturb(model: Generated, site: int, unit: int, size: float, generator: torch.Generator) -> None:
    """Add size · N(0, 1) noise to one unit's incoming weights."""
    w = model._producer(site).weight
    w[unit] += size * torch.randn(w[unit].shape, generator=generator, dtype=w.dtype)


# ---- a suite of planted cases --------------------------------------------------------------------

@dataclass
class Planted:
    """A generated model with planted ground truth, on data X with regression targets y:
    ``dead`` the units planted exactly dead (site → units), ``near`` a unit active on exactly one
    sample (site, unit) or None, ``blocks`` the planted clone blocks (site → list of unit tuples; a
    dead block is dead and cloned), ``quiet`` a live unit whose outgoing weights are 0 (site, unit):
    its backward signal vanishes though f' does not, ``z`` every site's pre-activations as the model
    records them itself, (samples × positions, units): the ground truth of exact death."""

    spec: Spec
    model: Generated
    X: torch.Tensor
    y: torch.Tensor
    dead: dict[int, list[int]] = field(default_factory=dict)
    near: tuple[int, int] | None = None
    quiet: tuple[int, int] | None = None
    blocks: dict[int, list[tuple[int, ...]]] = field(default_factory=dict)
    z: list[torch.Tensor] = field(default_factory=list)

    def block_labels(self, site: int) -> torch.Tensor:
        """The planted partition of a site's units (every other unit its own block)."""
        labels = torch.arange(self.z[site].shape[1])
        for block in self.blocks.get(site, []):
            labels[list(block)] = block[0]
        return labels


def planted(seed: int, n: int, activations: Sequence[str] = ("relu", "relu6", "hardtanh")) -> Planted:
    """One random model (MLP or CNN, 1–3 blocks, widths 11–13, any activation style) with: units 0, 1
    of its first affine site exactly dead; unit 2 there active on one sample; at its last clone site a
    live clone pair (3, 4), a dead clone pair (5, 6), a clone triple (7, 8, 9) and a quiet unit 10
    (outgoing weights 0); n samples of N(0, I) data and N(0, I) regression targets."""
    g = torch.Generator().manual_seed(seed)
    pick = lambda options: options[int(torch.randint(len(options), (1,), generator=g))]  # noqa: E731
    depth = int(torch.randint(1, 4, (1,), generator=g))
    blocks = ("plain", *(pick(BLOCKS) for _ in range(depth - 1)))
    widths = tuple(int(w) for w in torch.randint(11, 14, (depth,), generator=g))
    spec = Spec(pick(KINDS), int(torch.randint(2, 5, (1,), generator=g)), widths, blocks,
                pick(list(activations)), pick(STYLES), 3, image=3)
    model = Generated(spec, seed)
    X = spec.inputs(n, g)
    y = torch.randn(n, spec.out, generator=g, dtype=torch.float64)
    case = Planted(spec, model, X, y)
    clone_site = model.clone_sites()[-1]
    case.blocks[clone_site] = [(3, 4), (5, 6), (7, 8, 9)]
    for block in case.blocks[clone_site]:
        plant_clone(model, clone_site, block)
    plant_dead(model, X, clone_site, torch.tensor([5, 6]))
    with torch.no_grad():
        model._reader(clone_site)[0].weight[:, 10] = 0.0
    case.quiet = (clone_site, 10)
    plant_dead(model, X, 0, torch.tensor([0, 1]))
    case.dead = {0: [0, 1]}
    case.dead.setdefault(clone_site, []).extend([5, 6])
    try:
        plant_near_dead(model, X, 0, 2)
        case.near = (0, 2)
    except ValueError:
        case.near = None
    case.z = [(z.movedim(1, -1).reshape(-1, z.shape[1]) if z.dim() == 4 else z)
                  for z in model.pre_activations(X)]
    return case
