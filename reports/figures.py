"""Matplotlib figures as inline SVG strings (no files, no network)."""

from __future__ import annotations

import io

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

plt.rcParams.update({"svg.fonttype": "none", "figure.dpi": 100, "font.size": 9})


def svg(fig) -> str:
    """The figure as an ``<svg>`` element, and the figure closed."""
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]


def new(width: float = 6.0, height: float = 3.2, ncols: int = 1):
    return plt.subplots(1, ncols, figsize=(width, height), squeeze=ncols == 1)
