"""Unit-equivalence graphs: which hidden units of a layered network are clones — exactly (the
coarsest equitable partition, ``cases.equivalence``) or approximately (duplicate activations by the
paper's cosine > 0.95, near-equal incoming weights) — as a ``networkx`` graph, and as plain data for
a figure.

    >>> net = Layered([np.array([[1.0], [1.0]]), np.array([[0.5, 0.5]])])
    >>> graph_data(unit_graph(net))["edges"]
    [{'u': [1, 0], 'v': [1, 1], 'kinds': ['exact']}]
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import networkx as nx
import numpy as np
import torch

from cases.equivalence import TOL, coarsest_equitable_partition
from numerics.metrics import paper_dead
from theory.net import Layered, hidden_arrays

COSINE = 0.95  # CLAIMS.md, App. B.2: duplicate pair when the cosine of activation columns > 0.95


def cosine_similarity(H: np.ndarray) -> np.ndarray:
    """Cosine similarity of the columns of H (samples × units), each scaled to unit norm: one
    matmul. A zero column (a unit silent on every sample) has similarity 0 with every unit."""
    H = np.asarray(H, dtype=np.float64)
    if H.ndim != 2:
        raise ValueError(f"H has shape {H.shape}; expected (samples, units)")
    if not np.isfinite(H).all():
        raise ValueError("H contains NaN or inf: a unit with a non-finite activation has no cosine")
    norm = np.linalg.norm(H, axis=0)
    Hn = np.divide(H, norm, out=np.zeros_like(H), where=norm > 0)
    return Hn.T @ Hn


def weight_distance(W: np.ndarray, b: np.ndarray | None = None) -> np.ndarray:
    """Relative distance of incoming weight vectors θ_v = (W[v, :], b[v]):
    ‖θ_u − θ_v‖ / max(‖θ_u‖, ‖θ_v‖) (0 for two zero vectors), from one Gram matmul. W is
    (units, inputs) and b (units,); a NaN or inf entry is a ValueError (a NaN unit would otherwise be
    at distance 0 from every unit)."""
    W = np.asarray(W, dtype=np.float64)
    if W.ndim != 2:
        raise ValueError(f"W has shape {W.shape}; expected (units, inputs)")
    if b is not None:
        b = np.asarray(b, dtype=np.float64)
        if b.shape != (W.shape[0],):
            raise ValueError(f"b has shape {b.shape}; expected ({W.shape[0]},), one bias per row of W")
    theta = np.column_stack([W, b]) if b is not None else W
    if not np.isfinite(theta).all():
        raise ValueError(f"{'W' if not np.isfinite(W).all() else 'b'} contains NaN or inf")
    gram = theta @ theta.T
    sq = np.diag(gram)
    dist = np.sqrt(np.maximum(sq[:, None] + sq[None, :] - 2 * gram, 0.0))
    top = np.sqrt(np.maximum(sq[:, None], sq[None, :]))
    return np.divide(dist, top, out=np.zeros_like(dist), where=top > 0)


EDGE_KINDS = ("exact", "cosine", "weight")


def unit_graph(network: Layered, activations: Sequence[np.ndarray] | None = None, *, tol: float = TOL,
               equitable: str | None = "both", cosine: float | None = COSINE, distance: float | None = None,
               dead: Sequence[np.ndarray] | None = None, saturated: Sequence[np.ndarray] | None = None
               ) -> nx.Graph:
    """The unit-equivalence graph of a layered network's hidden units.

    Nodes (l, i) for hidden layer l = 1..L−1 and unit i, with attributes ``layer``, ``index``,
    ``block`` (its block of the coarsest ``equitable`` partition, or None), ``dead`` (given, or
    the paper's definition |h| < 1e-7 on > 95% of samples when ``activations`` are given) and
    ``saturated`` (when given). An edge joins two units of one layer that are clones by at least
    one criterion, listed in its ``kinds``:

    - ``exact``: same block of the coarsest equitable partition (``equitable`` ∈ both, incoming,
      outgoing, or None to skip), with tolerance ``tol`` (the network's ``features`` must agree too);
    - ``cosine``: cosine similarity of their activation columns above ``cosine`` (the paper's
      duplicate pair; needs ``activations``: per hidden layer samples × units);
    - ``weight``: relative distance of incoming weights below ``distance`` (``weight_distance``).

    Edges carry the measured ``cosine`` and ``distance`` where computed. ``G.graph`` records the
    widths, thresholds and the refinement rounds.

    >>> net = Layered([np.array([[1.0], [1.0], [-1.0]]), np.array([[0.5, 0.5, 1.0]])])
    >>> sorted(unit_graph(net).edges)
    [((1, 0), (1, 1))]
    """
    Ws, bs, widths = network.weights, network.biases, network.widths
    none = [None] * (len(widths) - 2)
    acts = hidden_arrays(activations, widths, "activations", 2, unit_axis=1) or none
    dead_in = hidden_arrays(dead, widths, "dead", 1) or none
    sat_in = hidden_arrays(saturated, widths, "saturated", 1) or none
    P, rounds = (coarsest_equitable_partition(network, tol, direction=equitable)
                 if equitable is not None else (None, 0))
    labels = None if P is None else [P.layer_labels(k) for k in range(len(widths))]
    G = nx.Graph(widths=widths, tol=tol, equitable=equitable, cosine=cosine, distance=distance,
                 rounds=rounds)
    for l in range(1, len(widths) - 1):
        n, H = widths[l], acts[l - 1]
        is_dead = dead_in[l - 1] if dead_in[l - 1] is not None else (
            paper_dead(torch.from_numpy(np.asarray(H))).numpy() if H is not None else None)
        for i in range(n):
            G.add_node((l, i), layer=l, index=i,
                       block=int(labels[l][i]) if labels is not None else None,
                       dead=bool(is_dead[i]) if is_dead is not None else None,
                       saturated=bool(sat_in[l - 1][i]) if sat_in[l - 1] is not None else None)
        masks, values = {}, {}
        if labels is not None:
            masks["exact"] = labels[l][:, None] == labels[l][None, :]
        if cosine is not None and H is not None:
            values["cosine"] = cosine_similarity(H)
            masks["cosine"] = values["cosine"] > cosine
        if distance is not None:
            values["distance"] = weight_distance(Ws[l - 1], bs[l - 1])
            masks["weight"] = values["distance"] < distance
        if not masks:
            continue
        any_edge = np.triu(np.logical_or.reduce(list(masks.values())), 1)
        for i, j in zip(*np.nonzero(any_edge)):
            kinds = tuple(k for k in EDGE_KINDS if k in masks and masks[k][i, j])
            measures = {k: float(v[i, j]) for k, v in values.items()}
            G.add_edge((l, int(i)), (l, int(j)), kinds=kinds, **measures)
    return G


def graph_data(G: nx.Graph, title: str | None = None) -> dict[str, Any]:
    """A unit graph as plain data (``theory.evidence.Figure.graph``): the nodes with their layer, index,
    block and dead flag, the edges with their kinds."""
    return {"title": title,
            "nodes": [{"layer": d["layer"], "index": d["index"], "block": d["block"], "dead": d["dead"]}
                      for _, d in sorted(G.nodes(data=True), key=lambda nd: nd[0])],
            "edges": [{"u": list(u), "v": list(v), "kinds": list(d["kinds"])}
                      for u, v, d in sorted(G.edges(data=True), key=lambda e: (e[0], e[1]))]}
