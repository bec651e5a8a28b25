"""A record that holds a network — a ``weights`` dict of ``"u->v"`` edges (the symbolic checks'
counterexamples), or a torch state dict of ``*.weight`` / ``*.bias`` matrices — shown as a picture
(units in layers, edges coloured by sign) and a small weight table per layer, with the record's other
keys in a table beside it. Anything else is left to the generic table renderer."""

from __future__ import annotations

import re
from fractions import Fraction
from typing import Any

from markupsafe import Markup

from reports import figures
from reports.values import Renderer, scalar

BIAS = "1"  # the constant-1 unit a bias is an edge from (theory/net.py)
MAX_UNITS = 40  # a larger network is left to the tables: a picture of it would be a tangle


def _weight(value: Any) -> float | None:
    """A weight as a float for drawing (exact rationals such as '5/3' included); None for a symbol."""
    if isinstance(value, bool):
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return float(Fraction(str(value).replace("−", "-")))
    except (ValueError, ZeroDivisionError):
        return None


def _natural(name: str) -> list[Any]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


def edges_of(d: dict[str, Any]) -> tuple[str, dict[tuple[str, str], Any]] | None:
    """(key, {(u, v): weight}) when the dict holds a network, else None."""
    weights = d.get("weights")
    if (isinstance(weights, dict) and weights
            and all(isinstance(k, str) and k.count("->") == 1 for k in weights)
            and all(not isinstance(w, (dict, list)) for w in weights.values())):
        return "weights", {tuple(k.split("->")): w for k, w in weights.items()}
    for key, value in d.items():
        edges = _state_dict(value)
        if edges:
            return key, edges
    return None


def _state_dict(value: Any) -> dict[tuple[str, str], Any] | None:
    """The edges of a torch state dict of consecutive linear layers (``*.weight`` out × in,
    ``*.bias``), units named as in theory/net.py: x0.., h1.0.., y0.."""
    if not isinstance(value, dict) or not value or not all(
            isinstance(k, str) and k.endswith((".weight", ".bias")) for k in value):
        return None
    layers = [k[: -len(".weight")] for k in value if k.endswith(".weight")]
    mats = [value[f"{p}.weight"] for p in layers]
    if not layers or not all(isinstance(m, list) and m and all(isinstance(r, list) for r in m) for m in mats):
        return None
    if any(len(mats[i][0]) != len(mats[i - 1]) for i in range(1, len(mats))):
        return None  # not a chain of linear layers

    def name(layer: int, j: int) -> str:
        return f"x{j}" if layer == 0 else f"y{j}" if layer == len(mats) else f"h{layer}.{j}"

    edges: dict[tuple[str, str], Any] = {}
    for layer, (prefix, m) in enumerate(zip(layers, mats), start=1):
        bias = value.get(f"{prefix}.bias")
        for j, row in enumerate(m):
            for i, w in enumerate(row):
                edges[(name(layer - 1, i), name(layer, j))] = w
            if isinstance(bias, list) and j < len(bias):
                edges[(BIAS, name(layer, j))] = bias[j]
    return edges


def _layers(edges: dict[tuple[str, str], Any]) -> list[list[str]]:
    """Units by longest path from the inputs (the bias unit left out)."""
    units = sorted({u for e in edges for u in e} - {BIAS}, key=_natural)
    parents: dict[str, list[str]] = {u: [] for u in units}
    for u, v in edges:
        if u != BIAS:
            parents[v].append(u)
    depth: dict[str, int] = {}

    def level(u: str, seen: frozenset = frozenset()) -> int:
        if u not in depth:
            if u in seen:
                raise ValueError("cycle")
            depth[u] = 1 + max((level(p, seen | {u}) for p in parents[u]), default=-1)
        return depth[u]

    for u in units:
        level(u)
    layers: list[list[str]] = [[] for _ in range(max(depth.values()) + 1)]
    for u in units:
        layers[depth[u]].append(u)
    return layers


def _marked(d: dict[str, Any]) -> set[str]:
    out: set[str] = set()
    for key in ("unit", "units"):
        value = d.get(key)
        out.update([value] if isinstance(value, str) else [v for v in value if isinstance(v, str)]
                   if isinstance(value, list) else [])
    return out


def weight_tables(edges: dict[tuple[str, str], Any], layers: list[list[str]]) -> Markup:
    """One table per layer: rows the sending units (the bias row last), columns the receiving ones."""
    tables = Markup("")
    for layer in layers[1:]:
        sources = sorted({u for u, v in edges if v in layer and u != BIAS}, key=_natural)
        if any((BIAS, v) in edges for v in layer):
            sources.append(BIAS)
        head = Markup("").join(Markup("<th>{}</th>").format(v) for v in layer)
        body = Markup("")
        for u in sources:
            cells = Markup("").join(Markup("<td>{}</td>").format(scalar(edges[(u, v)])) if (u, v) in edges
                                    else Markup('<td class="absent">·</td>') for v in layer)
            body += Markup('<tr><th scope="row">{}</th>{}</tr>').format("bias" if u == BIAS else u, cells)
        tables += Markup('<table class="grid wtable"><thead><tr><th>from \\ to</th>{}</tr></thead>'
                         "<tbody>{}</tbody></table>").format(head, body)
    return tables


def network_view(d: dict[str, Any], render: Renderer) -> Markup | None:
    """The picture, the weight tables and the other keys of a dict that holds a network."""
    found = edges_of(d)
    if found is None:
        return None
    key, edges = found
    try:
        layers = _layers(edges)
    except (ValueError, RecursionError):
        return None
    if sum(len(layer) for layer in layers) > MAX_UNITS:
        return None
    drawn = [(u, v, _weight(w)) for (u, v), w in edges.items() if u != BIAS]
    bias = {v: f"{w:.4g}" if isinstance(w, float) else str(w)
            for (u, v), w in edges.items() if u == BIAS}
    picture = figures.network(layers, drawn, bias, _marked(d))
    rest = {k: v for k, v in d.items() if k != key}
    legend = Markup('<p class="legend">{}: <span class="pos">blue</span> positive, '
                    '<span class="neg">red</span> negative, width ∝ |w|; b: bias{}</p>').format(
        key, "; ringed: " + ", ".join(sorted(_marked(d))) if _marked(d) else "")
    return Markup('<div class="network-view"><figure class="net">{}{}</figure>'
                  '<div class="weights">{}</div></div>{}').format(
        Markup(picture), legend, weight_tables(edges, layers), render.mapping(rest) if rest else "")
