"""The verdict table the command line prints: one line per check under its claim, the summary cut to
the terminal's width, colour on a terminal. Written to a pipe or a file, lines are not cut (a log
keeps every word) and carry no colour."""

from __future__ import annotations

import io
import shutil
import sys
from collections import Counter
from collections.abc import Sequence
from typing import TextIO

from rich.console import Console
from rich.table import Table
from rich.text import Text

from theory.evidence import Evidence

STYLE = {"proved": "bold green", "confirmed": "green", "refuted": "bold red", "qualified": "yellow",
         "inconclusive": "dim", "ERROR": "bold white on red"}
UNCUT = 100_000  # the width when the output is not a terminal: no line is cut


def verdict_table(evidence: Sequence[Evidence], errors: Sequence[tuple[str, str, str]] = (),
                  stream: TextIO | None = None) -> str:
    """The table as text for ``stream`` (default stdout): fitted to its width with colour when it is
    a terminal, uncut and plain otherwise."""
    stream = sys.stdout if stream is None else stream
    tty = hasattr(stream, "isatty") and stream.isatty()
    width = shutil.get_terminal_size().columns if tty else UNCUT
    rows: dict[str, list[tuple[str, str, str, str]]] = {}
    for e in evidence:
        verdict = e.verdict + (" (control)" if e.setting.get("control") else "")
        rows.setdefault(e.claim, []).append((e.check, verdict, f"{e.seconds:.1f}", e.summary))
    for claim, check, message in errors:
        rows.setdefault(claim, []).append((check, "ERROR", "-", message))
    lines = [r for checks in rows.values() for r in checks]
    fixed = [max([len("claim / check")] + [len(c) for c in rows] + [2 + len(r[0]) for r in lines]),
             max([len("verdict")] + [len(r[1]) for r in lines]),
             max([1] + [len(r[2]) for r in lines])]
    table = Table(box=None, pad_edge=False, show_edge=False, header_style="bold", expand=False,
                  padding=(0, 1, 0, 0))
    for name, w, justify in zip(("claim / check", "verdict", "s"), fixed, ("left", "left", "right")):
        table.add_column(name, no_wrap=True, min_width=w, justify=justify)
    table.add_column("summary", no_wrap=True, overflow="ellipsis" if tty else "ignore",
                     max_width=max(10, width - sum(fixed) - len(fixed) - 1))
    for claim, checks in rows.items():
        table.add_row(Text(claim, style="bold"), "", "", "")
        for check, verdict, seconds, summary in checks:
            table.add_row("  " + check, Text(verdict, style=STYLE[verdict.split()[0]]), seconds,
                          summary)
    counts = Counter(e.verdict for e in evidence)
    tally = ", ".join(f"{counts[v]} {v}" for v in STYLE if counts[v])
    controls = sum(1 for e in evidence if e.setting.get("control"))
    footer = f"{len(evidence) + len(errors)} checks: {tally or 'none'}" + (
        f" ({controls} negative controls)" if controls else "") + (
        f", {len(errors)} ERROR" if errors else "")
    buffer = io.StringIO()
    console = Console(file=buffer, width=width, force_terminal=tty, no_color=not tty, highlight=False,
                      soft_wrap=False)
    console.print(table)
    console.print(footer, overflow="ellipsis" if tty else "ignore")
    return "\n".join(line.rstrip() for line in buffer.getvalue().rstrip("\n").split("\n"))
