"""Intervention sweeps: how a clone's unit-equivalence graph evolves under training.

An exact ×2 clone of a trained base MLP (``numerics.clone.clone``, equal outgoing split) lies on
M_D: its coarsest equitable partition pairs every hidden unit with its copy, so its unit graph
(``cases.graphs.unit_graph``, exact edges only) has one edge per pair. Training the clone
for K steps under an intervention and recomputing the graph shows what the intervention does to
the manifold: exact-clone edges lost and blocks split.

Theory (cloned.trajectory, cloned.optimizers, cloned.normalization, cloned.escape): plain SGD
(``bp``) and normalization with block-constant (γ, β) keep every edge; gradient noise and dropout,
which are not block-constant, break them.
"""

from __future__ import annotations

import networkx as nx
import torch

from cases.graphs import unit_graph
from numerics import interventions as ivs
from numerics.clone import clone
from numerics.data import make_task
from numerics.interventions import Intervention
from numerics.models import MLP, to_layered
from numerics.train import train

# the interventions of the clone sweep, from the one registry (``numerics.interventions``), whose
# ``breaks`` is the theory's prediction for the clone symmetry
INTERVENTIONS: dict[str, Intervention] = {n: ivs.get(n) for n in ("bp", "noisy_sgd", "dropout", "batchnorm",
                                                                   "layernorm")}


def exact_graph(model: MLP) -> nx.Graph:
    """The exact-clone unit graph of ``model`` (equitable weights and shared norm parameters)."""
    return unit_graph(to_layered(model), cosine=None)


def graph_summary(G: nx.Graph) -> dict[str, int]:
    """Exact-clone edges, and non-trivial blocks (connected components of more than one unit)."""
    return {"edges": G.number_of_edges(),
            "blocks": sum(1 for c in nx.connected_components(G) if len(c) > 1)}


def sweep(intervention: Intervention, seed: int, widths: list[int], steps: int
          ) -> tuple[nx.Graph, nx.Graph]:
    """(graph before, graph after ``steps`` training steps) of a ×2 clone of a briefly trained
    base, float64, on the embedded teacher task."""
    task = make_task("teacher", n=512, d=widths[0], classes=widths[-1], seed=seed)
    with torch.random.fork_rng(devices=[]):  # the initialisation and the dropout masks; the global stream
        torch.manual_seed(seed)              # is left as it was
        base = MLP(widths, norm=intervention.norm).double()
        train(base, task.X, task.y, 50, optimizer="adam", hp={"lr": 1e-2}, batch_size=64, seed=seed)
        wide = clone(base, 2, dropout=intervention.dropout)
        before = exact_graph(wide)
        train(wide, task.X, task.y, steps, optimizer=intervention.optimizer, hp=dict(intervention.hp),
              batch_size=64, seed=seed + 1)
    return before, exact_graph(wide)
