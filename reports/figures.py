"""Figures drawn from data: a ``theory.evidence.Figure`` in, an inline SVG string out (matplotlib,
no files, no network), made lean for a page that holds many of them: no metadata, no style block
(the page's stylesheet has it), coordinates to 0.1 pt, and only the element ids that something
refers to, each prefixed so that ids stay unique across the page. Beside them, the small pictures a
table needs, written as SVG directly: a sparkline for a long list, a network with its weights. The
only place in the project that draws."""

from __future__ import annotations

import io
import math
import re
import xml.etree.ElementTree as ET
from collections import Counter
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib import ticker  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.lines import Line2D  # noqa: E402

from theory.evidence import Figure, Panel, Series  # noqa: E402

# One look for every figure of a report: text as text, open axes, a faint grid, no legend frame.
plt.rcParams.update({"svg.fonttype": "none", "figure.dpi": 100, "font.size": 9, "axes.titlesize": 9,
                     "axes.spines.top": False, "axes.spines.right": False, "axes.edgecolor": "#555555",
                     "axes.grid": True, "grid.color": "#e6e6e6", "grid.linewidth": 0.6,
                     "axes.axisbelow": True, "legend.frameon": False})
REFERENCE = {"color": "0.35", "linestyle": "--", "linewidth": 0.9}  # an unstyled hline/vline: not data

LINESTYLES = {"solid": "-", "dashed": "--", "dotted": ":", "dashdot": "-.", "none": "none"}
FLOOR = 1e-300  # non-positive values on a log axis are left out, as matplotlib would


def _floats(values: Any) -> np.ndarray:
    """JSON numbers back to floats: "nan", "inf" and "-inf" strings, None as nan."""
    def one(v: Any) -> float:
        return float(v) if v is not None else math.nan
    return np.vectorize(one, otypes=[float])(np.asarray(values, dtype=object)) if np.size(values) else \
        np.zeros(0)


def _kwargs(style: dict[str, Any]) -> dict[str, Any]:
    out = {}
    for key, value in style.items():
        if key == "linestyle":
            out["linestyle"] = LINESTYLES.get(value, value)
        elif key in ("color", "linewidth", "marker", "markersize", "alpha", "zorder"):
            out[key] = value
    return out


def _series(ax, s: Series) -> None:
    kw = _kwargs(s.style)
    if s.kind == "line":
        ax.plot(_floats(s.x), _floats(s.y), label=s.label, **kw)
    elif s.kind == "step":
        ax.step(_floats(s.x), _floats(s.y), where="post", label=s.label, **kw)
    elif s.kind == "bar":
        err = None if s.error is None else _floats(s.error)
        ax.bar(_floats(s.x), _floats(s.y), s.style.get("width", 0.8), yerr=err, capsize=2 if err is not None
               else 0, label=s.label, **{k: v for k, v in kw.items() if k in ("color", "alpha")})
    elif s.kind == "band":
        x = _floats(s.x)
        for k, (lo, hi) in enumerate(zip(x[0::2], x[1::2])):
            ax.fill_between([lo, hi], float(s.y), float(s.y2), linewidth=0,
                            label=s.label if k == 0 else None, **{k2: v for k2, v in kw.items()
                                                                  if k2 in ("color", "alpha")})
    elif s.kind == "area":
        ax.fill_between(_floats(s.x), _floats(s.y), _floats(s.y2), linewidth=0, label=s.label,
                        **{k: v for k, v in kw.items() if k in ("color", "alpha")})
    elif s.kind == "hline":
        ax.axhline(float(s.y), label=s.label, **{**REFERENCE, **kw})
    elif s.kind == "vline":
        ax.axvline(float(s.x), label=s.label, **{**REFERENCE, **kw})
    elif s.kind == "heatmap":
        x, y = _floats(s.x), _floats(s.y)
        image = ax.imshow(_floats(s.z), origin="lower", aspect="auto", extent=[x[0], x[-1], y[0], y[-1]],
                          cmap=s.style.get("colormap", "viridis"), vmin=s.style.get("vmin"),
                          vmax=s.style.get("vmax"))
        return image
    return None


def _panel(fig, ax, panel: Panel) -> None:
    images = [_series(ax, s) for s in panel.series]
    if any(s.kind == "heatmap" for s in panel.series):
        ax.grid(False)
    ax.set_xscale(panel.xscale)
    ax.set_yscale(panel.yscale)
    for axis, scale in ((ax.xaxis, panel.xscale), (ax.yaxis, panel.yscale)):
        if scale == "log":  # plain '{:g}' labels: mathtext 10^k labels make each figure ~1 s slower
            axis.set_major_formatter(ticker.FuncFormatter(lambda v, _: f"{v:g}"))
            axis.set_minor_formatter(ticker.NullFormatter())
    ax.set(title=panel.title, xlabel=panel.xlabel, ylabel=panel.ylabel)
    if panel.title:
        ax.title.set_fontsize(8)
    if panel.xlim is not None:
        ax.set_xlim(*_floats(panel.xlim))
    if panel.ylim is not None:
        ax.set_ylim(*_floats(panel.ylim))
    if panel.xticks is not None:
        labels = panel.xticklabels
        ax.set_xticks(_floats(panel.xticks), labels)
        if labels and max(len(str(t)) for t in labels) > 3:
            plt.setp(ax.get_xticklabels(), rotation=45, ha="right")
    if panel.colorbar:
        image = next((i for i in images if i is not None), None)
        if image is not None:
            fig.colorbar(image, ax=ax, fraction=0.046)
    if panel.legend and any(s.label for s in panel.series):
        small = {"fontsize": 7 if sum(bool(s.label) for s in panel.series) < 12 else 5}
        if panel.legend == "outside":
            ax.legend(loc="center left", bbox_to_anchor=(1.0, 0.5), **small)
        else:
            ax.legend(loc=panel.legend, **small)


def svg(figure: Figure, prefix: str = "f") -> str:
    """The figure as a lean ``<svg>`` element whose ids all start with ``prefix`` (give each figure
    of a page its own)."""
    return lean(_to_svg(draw(figure)), prefix)


def draw(figure: Figure):
    """The figure as a matplotlib figure (``svg`` writes it; ``draw(f).savefig("f.png")`` to look)."""
    if figure.graph is not None:
        return unit_graph(figure.graph)
    fig, axes = plt.subplots(figure.rows, figure.columns, figsize=(figure.width, figure.height),
                             squeeze=False)
    flat = axes.ravel()
    for ax, panel in zip(flat, figure.panels):
        _panel(fig, ax, panel)
    for ax in flat[len(figure.panels):]:
        ax.axis("off")
    if figure.rows > 1:
        fig.tight_layout()
    return fig


def _to_svg(fig) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None})
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]


# ---- lean SVG ----------------------------------------------------------------------------------------

_SVG, _XLINK = "http://www.w3.org/2000/svg", "http://www.w3.org/1999/xlink"
_REF = re.compile(r"url\(#([^)]+)\)")
_NUMBER = re.compile(r"-?\d+\.\d{3,}")
_GEOMETRY = {"d", "points", "x", "y", "x1", "x2", "y1", "y2", "width", "height", "cx", "cy", "r",
             "transform", "viewBox"}
_COMMAND = re.compile(r"([A-Za-z])([^A-Za-z]*)")
_FONT = re.compile(r"font-family:[^;\"]*;?\s*")  # the page's stylesheet sets the font


def _round(text: str) -> str:
    return _NUMBER.sub(lambda m: f"{float(m.group()):.1f}".rstrip("0").rstrip("."), text)


def _path(d: str) -> str:
    """Path data without the spaces around command letters, and without an ``L`` that follows an
    ``M`` or ``L`` (SVG repeats the line-to implicitly)."""
    out, last = [], ""
    for command, args in _COMMAND.findall(d):
        args = args.strip()
        out.append((" " if command == "L" and last in "ML" and last else command) + args)
        last = command
    return "".join(out)


def lean(text: str, prefix: str) -> str:
    """A matplotlib SVG without its metadata, style block and unreferenced ids, geometry rounded to
    0.1 pt, and the ids that are referred to renamed ``prefix-N``."""
    root = ET.fromstring(text)
    href = f"{{{_XLINK}}}href"
    referred: set[str] = set()
    for el in root.iter():
        for key, value in el.attrib.items():
            referred.update(_REF.findall(value))
            if key in (href, "href") and value.startswith("#"):
                referred.add(value[1:])
    names = {old: f"{prefix}-{k}" for k, old in enumerate(sorted(referred))}

    def clean(parent: ET.Element) -> None:
        kept: list[ET.Element] = []
        for el in list(parent):
            tag = el.tag.split("}")[-1]
            if tag in ("metadata", "style"):
                continue
            clean(el)
            if tag == "defs" and not len(el):
                continue
            attrib = {}
            for key, value in el.attrib.items():
                if key == "id":
                    if value in names:
                        attrib["id"] = names[value]
                    continue
                if key == href:
                    key = "href"
                if key == "href" and value[1:] in names:
                    value = "#" + names[value[1:]]
                value = _REF.sub(lambda m: f"url(#{names.get(m.group(1), m.group(1))})", value)
                if key in _GEOMETRY:
                    value = _round(" ".join(value.split()))
                if key == "d":
                    value = _path(value)
                if key == "style":
                    value = _FONT.sub("", value).strip().rstrip(";")
                    if not value:
                        continue
                attrib[key] = value
            el.attrib.clear()
            el.attrib.update(attrib)
            for side in ("text", "tail"):  # the indentation between elements
                if getattr(el, side) is not None and not getattr(el, side).strip():
                    setattr(el, side, None)
            if tag == "g" and not attrib:  # a bare group: its children take its place
                kept.extend(el)
            else:
                kept.append(el)
        parent[:] = kept

    clean(root)
    root.attrib.pop("version", None)
    for key in ("width", "height", "viewBox"):
        root.set(key, _round(root.get(key, "")))
    ET.register_namespace("", _SVG)
    root.text = None
    out = ET.tostring(root, encoding="unicode")
    return out.replace(f' xmlns:xlink="{_XLINK}"', "").replace(" />", "/>")


# ---- small pictures for tables ---------------------------------------------------------------------

def sparkline(ys: list[float], width: int = 120, height: int = 22, most: int = 240) -> str:
    """A long list of numbers as a line (non-finite values leave gaps). Past ``most`` points each
    pixel column keeps its minimum and maximum, so spikes stay visible."""
    n = len(ys)
    finite = [y for y in ys if math.isfinite(y)]
    if not finite:
        return ""
    lo, hi = min(finite), max(finite)
    span = (hi - lo) or 1.0
    step = max(1, math.ceil(n / (most / 2)))
    segments: list[list[tuple[float, float]]] = [[]]
    for start in range(0, n, step):
        chunk = [(i, y) for i, y in enumerate(ys[start:start + step], start) if math.isfinite(y)]
        if not chunk:
            if segments[-1]:
                segments.append([])
            continue
        picks = sorted({min(chunk, key=lambda p: p[1]), max(chunk, key=lambda p: p[1])})
        for i, y in picks:
            x = 1 + (width - 2) * i / max(1, n - 1)
            segments[-1].append((x, height - 2 - (height - 4) * (y - lo) / span))
    lines = "".join(
        '<polyline points="{}"/>'.format(" ".join(f"{x:.1f},{y:.1f}" for x, y in seg))
        if len(seg) > 1 else '<circle cx="{:.1f}" cy="{:.1f}" r="1"/>'.format(*seg[0])
        for seg in segments if seg)
    return (f'<svg class="sparkline" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
            f'role="img" aria-label="{n} values">{lines}</svg>')


def network(layers: list[list[str]], edges: list[tuple[str, str, float | None]], bias: dict[str, str],
            marked: set[str]) -> str:
    """A small network: units in columns by layer, edges blue for positive and red for negative
    weights with width ∝ |w| (grey dotted: a symbol, not a number), each unit's bias under it, and
    the ``marked`` units ringed."""
    dx, dy, top = 130, 52, 26
    tallest = max(len(layer) for layer in layers)
    where: dict[str, tuple[float, float]] = {}
    for i, layer in enumerate(layers):
        offset = (tallest - len(layer)) * dy / 2
        for j, unit in enumerate(layer):
            where[unit] = (40 + i * dx, top + offset + j * dy)
    largest = max((abs(w) for _, _, w in edges if w is not None), default=1.0) or 1.0
    parts = []
    for u, v, w in edges:
        (x1, y1), (x2, y2) = where[u], where[v]
        if w is None:
            cls, stroke = "sym", 1.0
        else:
            cls, stroke = ("pos" if w > 0 else "neg" if w < 0 else "zero"), 0.8 + 2.7 * abs(w) / largest
        parts.append(f'<line class="{cls}" x1="{x1:.0f}" y1="{y1:.0f}" x2="{x2:.0f}" y2="{y2:.0f}" '
                     f'stroke-width="{stroke:.1f}"/>')
    for unit, (x, y) in where.items():
        ring = ' class="marked"' if unit in marked else ""
        parts.append(f'<circle{ring} cx="{x:.0f}" cy="{y:.0f}" r="8"/>'
                     f'<text x="{x:.0f}" y="{y - 12:.0f}">{_xml(unit)}</text>')
        if unit in bias:
            parts.append(f'<text class="bias" x="{x:.0f}" y="{y + 20:.0f}">b {_xml(bias[unit])}</text>')
    width, height = 80 + (len(layers) - 1) * dx, top + tallest * dy
    return (f'<svg class="network" width="{width}" height="{height}" viewBox="0 0 {width} {height}" '
            f'role="img" aria-label="network">{"".join(parts)}</svg>')


def _xml(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def unit_graph(graph: dict[str, Any], max_units: int = 100):
    """A unit-equivalence graph: hidden layers left to right, the units of a connected component next
    to each other and coloured by exact block (grey: no exact clone), exact-clone edges solid in the
    block's colour, approximate-only edges dashed, dead units crossed. Beyond ``max_units`` units each
    layer shows an equal share, units with clones first, and the title says how many are shown."""
    nodes = {(n["layer"], n["index"]): n for n in graph["nodes"]}
    edges = [(tuple(e["u"]), tuple(e["v"]), tuple(e["kinds"])) for e in graph["edges"]]
    layers = sorted({layer for layer, _ in nodes})
    quota = max(2, max_units // max(1, len(layers)))
    neighbours: dict[Any, set] = {v: set() for v in nodes}
    for u, v, _ in edges:
        neighbours[u].add(v)
        neighbours[v].add(u)
    component: dict[Any, Any] = {}
    for start in sorted(nodes):  # connected components, named by their smallest unit
        if start in component:
            continue
        stack, seen = [start], {start}
        while stack:
            u = stack.pop()
            for w in neighbours[u] - seen:
                seen.add(w)
                stack.append(w)
        for u in seen:
            component[u] = min(seen)

    def block(v: Any) -> int:
        b = nodes[v]["block"]
        return -1 if b is None else b

    pos: dict[Any, tuple[int, int]] = {}
    for x, layer in enumerate(layers):
        units = sorted((v for v in nodes if v[0] == layer),
                       key=lambda v: (not neighbours[v], component[v], block(v), v[1]))
        for y, v in enumerate(sorted(units[:quota], key=lambda v: (component[v], block(v), v[1]))):
            pos[v] = (x, -y)
    size = Counter((v[0], block(v)) for v in nodes)
    cmap = plt.get_cmap("tab10")

    def colour(v: Any) -> tuple:
        clone = block(v) >= 0 and size[(v[0], block(v))] > 1
        return cmap(block(v) % 10) if clone else (0.75, 0.75, 0.75, 1.0)

    tallest = max(Counter(x for x, _ in pos.values()).values(), default=1)
    fig, ax = plt.subplots(figsize=(1.6 + 1.4 * len(layers), min(9.0, 1.2 + 0.1 * tallest)))
    t = np.linspace(0, 1, 16)
    for exact in (False, True):  # clone edges join units of one layer: arcs bulging to the right
        segs, cols = [], []
        for u, v, kinds in edges:
            if u in pos and v in pos and ("exact" in kinds) == exact:
                (x, y1), (_, y2) = pos[u], pos[v]
                bulge = min(0.42, 0.08 + 0.03 * abs(y2 - y1))
                segs.append(np.column_stack([x + bulge * np.sin(np.pi * t), y1 + (y2 - y1) * t]))
                cols.append(colour(u) if exact else (0.4, 0.4, 0.4, 0.8))
        if segs:
            ax.add_collection(LineCollection(segs, colors=cols, linewidths=1.0 if exact else 0.7,
                                             linestyles="solid" if exact else "dashed"))
    shown = list(pos)
    xy = np.array([pos[v] for v in shown], dtype=float).reshape(-1, 2)
    ax.scatter(xy[:, 0], xy[:, 1], s=18, c=[colour(v) for v in shown], edgecolors="black", linewidths=0.5,
               zorder=3)
    dead = np.array([bool(nodes[v]["dead"]) for v in shown], dtype=bool)
    ax.scatter(xy[dead, 0], xy[dead, 1], s=22, marker="x", c="black", linewidths=0.9, zorder=4)
    for x, layer in enumerate(layers):
        n = sum(1 for v in nodes if v[0] == layer)
        ax.text(x, 0.8, f"layer {layer}\n({n} units)", ha="center", va="bottom", fontsize=7)
    handles = [Line2D([], [], color=cmap(0), label="exact clones (same block)"),
               Line2D([], [], color="0.4", ls="--", label="approximate only"),
               Line2D([], [], ls="", marker="x", color="black", label="dead unit")]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.0, 1.0), fontsize=7, frameon=False)
    ax.set_xlim(-0.5, len(layers) - 0.3)
    ax.set_ylim(-tallest, 2.0)
    ax.axis("off")
    note = f" (showing {len(shown)} of {len(nodes)} units)" if len(shown) < len(nodes) else ""
    ax.set_title((graph.get("title") or "unit-equivalence graph") + note, fontsize=8, pad=10)
    return fig
