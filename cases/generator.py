"""Random architectures, planted dead units and cloned networks: the situations the checks run on.

**Frozen units.**
A *planted dead unit* is a hidden unit u of a network with exact rational weights and data whose
pre-activation z_u(x_i) = Σ_j w(j, u) h_j(x_i) + b_u lies in a chosen region R (by default the
flat set of u's activation, where f'_u ≡ 0) on every training sample, except on the samples
listed as ``active`` (there f'_u(z_u(x_i)) ≠ 0). Only the bias b_u is chosen to plant it: the
other weights and the data are drawn at random, so every case is an ordinary network with one
unit pushed into (or just out of) its flat region.

Cases are *live*: u's backward signal δ(u)(x_i) is non-zero on some sample (on every active
sample when there are active samples), so a zero gradient of θ_u can only come from f'_u = 0 and
never from u being disconnected from the loss.

    >>> case = planted_dead(seed=1, activation="relu")
    >>> all(z <= 0 for z in case.pre_activations())
    True

**Cloned units.** Small symbolic networks with a partition into blocks of clones (``Case``): MLPs
with blocks in several layers (``theory.cloned.mlp_case``), DAGs with skip connections whose units are
cloned (``lift``, ``lifted_dag``: every block pair biregular), random DAGs with random valid
partitions (``random_dag_case``: block pairs need not be biregular) and the pruned MLP whose block
pair is not biregular (``pruned_case``).
"""

from __future__ import annotations

import itertools
import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import networkx as nx
import sympy as sp

from theory import activations, net
from theory.cloned import Case, mlp_case
from theory.partition import Partition, partition

Edge = tuple[str, str]
ARCHITECTURES = ("mlp", "dag")


def random_rational(rng: random.Random, bound: int = 2) -> sp.Rational:
    """A small non-zero rational p/q with |p/q| ≤ bound and q ≤ 3: exact, cheap for SymPy, and
    never 0, so no edge of a random network is secretly absent."""
    q = rng.randint(1, 3)
    return sp.Rational(rng.choice((-1, 1)) * rng.randint(1, bound * q), q)


def random_architecture(seed: int, kind: str = "mlp", activation: str = "generic",
                        output_activation: str = "identity", n_hidden: int | None = None
                        ) -> nx.DiGraph:
    """A small random network: an MLP with 1–2 hidden layers of width 1–3, or a random DAG with
    skip connections (``n_hidden`` units, default 2–4); 1–3 inputs, 1–2 outputs, biases on."""
    if kind not in ARCHITECTURES:
        raise ValueError(f"unknown architecture kind {kind!r} (accepted: {', '.join(ARCHITECTURES)})")
    rng = random.Random(seed)
    n_in, n_out = rng.randint(1, 3), rng.randint(1, 2)
    if kind == "mlp":
        hidden = [rng.randint(1, 3) for _ in range(rng.randint(1, 2))]
        spec = "-".join(map(str, [n_in, *hidden, n_out]))
        return net.mlp(spec, activation=activation, output_activation=output_activation)
    n_hidden = rng.randint(2, 4) if n_hidden is None else n_hidden
    return net.random_dag(n_in, n_hidden, n_out, p=0.5, seed=rng.randrange(2**31),
                          activation=activation, output_activation=output_activation)


@dataclass(frozen=True)
class PlantedDead:
    """A network with exact weights and data and one planted unit (see the module docstring)."""

    graph: nx.DiGraph
    unit: str
    weights: dict[Edge, sp.Rational]
    data: list[dict[str, sp.Rational]]
    targets: list[list[sp.Rational]]
    activation: str
    region: sp.Set  # where z_u lies on the samples that are not active
    active_samples: tuple[int, ...] = ()

    @property
    def theta_f(self) -> list[Edge]:
        """θ_F: the planted unit's incoming weights and bias."""
        return net.incoming(self.graph, self.unit)

    def pre_activations(self) -> list[sp.Rational]:
        """z_u(x_i) for every sample i, exactly."""
        return [net.forward(self.graph, x, self.weights)[0][self.unit] for x in self.data]

    def describe(self) -> dict:
        """Plain data for an Evidence setting or counterexample."""
        return {"architecture": self.graph.graph["spec"], "activation": self.activation,
                "unit": self.unit, "weights": {f"{u}->{v}": str(w) for (u, v), w in self.weights.items()},
                "data": [{k: str(v) for k, v in x.items()} for x in self.data],
                "targets": [[str(t) for t in y] for y in self.targets],
                "pre_activations": [str(z) for z in self.pre_activations()],
                "active_samples": list(self.active_samples)}


def _bias(s: Sequence[sp.Rational], interval: sp.Set, n_active: int, rng: random.Random
          ) -> sp.Rational | None:
    """A bias b that puts s_i + b in ``interval`` for all samples but the ``n_active`` ones that
    lie furthest towards the interval's finite end, which are pushed just past it; None when two
    of those samples tie. The interval must be unbounded on at least one side."""
    if interval.inf == -sp.oo and interval.sup == sp.oo:
        if n_active:
            raise ValueError("the region is the whole real line: no sample can leave it")
        return random_rational(rng)
    if interval.inf != -sp.oo and interval.sup != sp.oo:
        raise ValueError(f"bounded region {interval} is not supported (no registry activation has one)")
    # mirror a region [a, ∞) to (−∞, −a] so one rule serves both sides: b ≤ a − s_i for the dead
    sign = 1 if interval.inf == -sp.oo else -1
    a = sign * (interval.sup if sign == 1 else interval.inf)
    t = sorted((sign * v for v in s), reverse=True)
    if n_active == 0:
        margin = sp.Rational(rng.randint(1, 8), 4)  # strictly inside, so float64 agrees with the exact z
        return sign * (a - t[0] - margin)
    if t[n_active - 1] == t[n_active]:
        return None
    return sign * (a - (t[n_active - 1] + t[n_active]) / 2)


def _delta(G: nx.DiGraph, weights: dict[Edge, sp.Rational], x: dict[str, sp.Rational],
           y: list[sp.Rational], unit: str) -> sp.Rational:
    """δ(u)(x) = ∂ℓ/∂h_u for the MSE loss ℓ = ½‖ŷ − y‖²."""
    z, h = net.forward(G, x, weights)
    dl_dh = {o: h[o] - t for o, t in zip(net.outputs(G), y)}
    return net.backward(G, z, h, weights, dl_dh)[0][unit]


def planted_dead(seed: int, activation: str = "relu", architecture: str | None = None,
                 n_samples: int = 3, active_samples: int = 0, region: sp.Set | None = None,
                 attempts: int = 200) -> PlantedDead:
    """A random live network (``architecture`` "mlp", "dag" or None for either) with every hidden
    unit using ``activation`` and a planted unit u: z_u(x_i) ∈ ``region`` (default: the flat set
    of ``activation``) on all samples except ``active_samples`` of them, where f'_u(z_u) ≠ 0.

    Raises ValueError when no such case exists (e.g. an activation without a flat set and no
    ``region``, or active samples for an activation that is flat everywhere)."""
    act = activations.get(activation)
    region = act.flat_set if region is None else region
    if region is sp.S.EmptySet:
        raise ValueError(f"activation {activation!r} has no flat set: give a region to plant in")
    if not 0 <= active_samples < n_samples:  # at least one sample must be dead
        raise ValueError(f"active_samples={active_samples} must be in [0, n_samples) "
                         f"for n_samples={n_samples}")
    intervals = list(region.args) if isinstance(region, sp.Union) else [region]
    rng = random.Random(seed)
    for _ in range(attempts):
        kind = architecture or rng.choice(ARCHITECTURES)
        G = random_architecture(rng.randrange(2**31), kind, activation)
        unit = rng.choice([v for v in G if G.nodes[v]["kind"] == "hidden"])
        weights = {e: random_rational(rng) for e in sorted(G.edges)}
        data = [{x: random_rational(rng) for x in net.inputs(G)} for _ in range(n_samples)]
        targets = [[random_rational(rng) for _ in net.outputs(G)] for _ in range(n_samples)]
        bias_edge = (net.BIAS, unit)
        weights[bias_edge] = sp.Integer(0)
        s = [net.forward(G, x, weights)[0][unit] for x in data]
        b = _bias(s, rng.choice(intervals), active_samples, rng)
        if b is None:
            continue
        weights[bias_edge] = b
        zs = [v + b for v in s]
        active = tuple(i for i, v in enumerate(zs) if not region.contains(v))
        if len(active) != active_samples or any(act.prime(zs[i]) == 0 for i in active):
            continue  # pushed past the flat interval into another flat piece
        deltas = [_delta(G, weights, x, y, unit) for x, y in zip(data, targets)]
        live = all(deltas[i] != 0 for i in active) if active else any(d != 0 for d in deltas)
        if live:
            return PlantedDead(G, unit, weights, data, targets, activation, region, active)
    raise ValueError(f"no live planted case for {activation!r} in {attempts} attempts (seed {seed})")


def planted_dead_cases(activation_names: Sequence[str] | None = None,
                       architectures: Sequence[str] = ARCHITECTURES, active_samples: int = 0,
                       max_samples: int = 3):
    """Hypothesis strategy of planted cases: every activation with an exact flat set (default),
    MLPs and DAGs, 1..``max_samples`` samples (at least ``active_samples`` + 1)."""
    from hypothesis import strategies as st  # a test dependency: imported only when asked for

    names = activation_names or [n for n, a in activations.ACTIVATIONS.items() if a.freezing() == "exact"]
    return st.builds(planted_dead, seed=st.integers(0, 2**31 - 1), activation=st.sampled_from(list(names)),
                     architecture=st.sampled_from(list(architectures)),
                     n_samples=st.integers(active_samples + 1, max(max_samples, active_samples + 1)),
                     active_samples=st.just(active_samples))


# ---- cloned networks -------------------------------------------------------------------------

def lift(base: nx.DiGraph, sizes: Mapping[str, int], rng: random.Random) -> Case:
    """Clone every hidden unit v of ``base`` into ``sizes[v]`` copies v.0, v.1, …; a base edge
    u → v becomes all edges between the copies, or (at random, when both have the same number
    ≥ 2 of copies) a perfect matching u.k → v.k. Every block pair is biregular."""
    copies = {v: [f"{v}.{k}" for k in range(sizes[v])] if sizes.get(v, 1) > 1 else [v] for v in base}
    G = nx.DiGraph(spec=f"lift of {base.graph['spec']} by {dict(sorted(sizes.items()))}")
    for v in base:
        G.add_nodes_from(copies[v], **base.nodes[v])
    for u, v in base.edges:
        U, V = copies[u], copies[v]
        G.add_edges_from(zip(U, V) if len(U) == len(V) > 1 and rng.random() < 0.5
                         else itertools.product(U, V))
    blocks = [copies[v] for v in base if len(copies[v]) > 1]
    return Case(G, partition(G, blocks), f"DAG {G.graph['spec']}")


def lifted_dag(seed: int, n_hidden: int = 3) -> Case:
    """A random DAG with skip connections (``net.random_dag``) whose hidden units are cloned
    into 1–3 copies (at least two of them into ≥ 2)."""
    rng = random.Random(seed)
    base = net.random_dag(2, n_hidden, 1, p=0.6, seed=rng.randrange(2**31),
                          activation="generic:f", output_activation="generic:g")
    hidden = [v for v in base if base.nodes[v]["kind"] == "hidden"]
    sizes = {v: rng.choice((1, 2, 2, 3)) for v in hidden}
    for v in rng.sample(hidden, 2):
        sizes[v] = max(sizes[v], 2)
    return lift(base, sizes, rng)


def random_partition(G: nx.DiGraph, rng: random.Random, max_size: int = 3, tries: int = 200
                     ) -> Partition:
    """Hidden units shuffled and cut into blocks of 1..max_size, redrawn until no block holds an
    edge and some block has ≥ 2 units (all singletons if ``tries`` draws fail)."""
    hidden = [v for v in net.units(G) if G.nodes[v]["kind"] == "hidden"]
    for _ in range(tries):
        rng.shuffle(hidden)
        blocks, k = [], 0
        while k < len(hidden):
            n = rng.randint(1, max_size)
            blocks.append(hidden[k:k + n])
            k += n
        if any(len(b) > 1 for b in blocks) and not any(G.has_edge(u, v) for b in blocks
                                                       for u in b for v in b):
            return partition(G, blocks)
    return partition(G, [])


def random_dag_case(seed: int, n_hidden: int = 4) -> Case:
    """A random DAG with a random valid partition: block pairs need not be biregular, so the
    equitable conditions may force some sums to 0. A DAG that admits no block of two units (every
    pair of hidden units joined by an edge) is redrawn: a partition of singletons would make every
    statement about clones vacuous."""
    rng = random.Random(seed)
    for _ in range(100):
        G = net.random_dag(2, n_hidden, 1, p=0.5, seed=rng.randrange(2**31),
                           activation="generic:f", output_activation="generic:g")
        P = random_partition(G, rng)
        if P.nontrivial:
            return Case(G, P, f"DAG {G.graph['spec']}, random partition")
    raise ValueError(f"no random DAG with {n_hidden} hidden units admitted a block of two units")


def family(seed: int, extended: bool, biregular_only: bool = False) -> list[Case]:
    """The architectures the symbolic cloned checks run on: an MLP with blocks in two layers, a lifted
    random DAG and a random DAG with a random partition; ``extended`` adds MLPs with blocks of 3 and
    in three layers, and one more of each DAG; ``biregular_only`` leaves out the random partitions."""
    cases = [mlp_case("2-4-4-1", [[2, 2], [2, 2]]), lifted_dag(seed)]
    if extended:
        cases += [mlp_case("1-3-2-1", [[3], [2]]), mlp_case("2-3-2-2-1", [[3], [2], [2]]),
                  lifted_dag(seed + 1)]
    if not biregular_only:
        cases += [random_dag_case(seed + k) for k in range(2 if extended else 1)]
    return cases


def random_network(rng: random.Random) -> nx.DiGraph:
    """An MLP with 1–3 hidden layers of width 2–5, or a random DAG with 3–8 hidden units."""
    if rng.random() < 0.5:
        hidden = [rng.randint(2, 5) for _ in range(rng.randint(1, 3))]
        return net.mlp("-".join(map(str, [rng.randint(1, 3), *hidden, rng.randint(1, 2)])))
    return net.random_dag(rng.randint(1, 3), rng.randint(3, 8), rng.randint(1, 2), p=rng.uniform(0.3, 0.8),
                          seed=rng.randrange(2**31))


def pruned_case() -> Case:
    """MLP 2-2-1 with the edge x1 → h1.1 removed and block {h1.0, h1.1}: a valid partition (no
    edge inside the block) whose block pair ({x1}, S) is not biregular."""
    G = net.mlp("2-2-1", activation="generic:f", output_activation="generic:g")
    G.remove_edge("x1", "h1.1")
    G.graph["spec"] = "2-2-1 without x1→h1.1"
    return Case(G, partition(G, [["h1.0", "h1.1"]]), "MLP 2-2-1 without x1→h1.1, block h1.*")
