"""Command line: ``python -m theory.verify FAMILY [FAMILY ...]``.

Runs every check of the chosen families' claims, prints a verdict table, writes the HTML report
(default ``reports/out/verify-FAMILIES.html``) and, with ``--json``, the Evidence list.

Exit status: 0 when every check returned a verdict (refuted is a verdict); 1 when a check failed
with an error (the others still run and are reported); 2 on bad input (one line on stderr, nothing
written).
"""

from __future__ import annotations

import argparse
import sys
import textwrap
import time
import traceback
from pathlib import Path

from theory.claims import CLAIMS, FAMILIES, Claim, family_claims, is_implemented
from theory.evidence import Config, Evidence, dump_json, write_atomic


class UsageError(Exception):
    """Bad input: reported as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not argparse's usage block
        raise UsageError(message)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m theory.verify",
                description="Verify the claims of the loss-of-plasticity theory (see CLAIMS.md).")
    p.add_argument("families", nargs="+", metavar="FAMILY",
                   help=f"one or more of: {', '.join(FAMILIES)}, all")
    p.add_argument("--json", metavar="PATH", help="write the Evidence list as JSON")
    p.add_argument("--html", metavar="PATH", help="report path (default reports/out/verify-FAMILIES.html)")
    p.add_argument("--seed", type=int, default=0, help="seed for every random choice (default 0)")
    p.add_argument("--quick", action="store_true", help="small sizes (for CI)")
    p.add_argument("--device", default="cpu", help="torch device: cpu or cuda (default cpu)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    return p


def _families(requested: list[str]) -> tuple[list[str], list[str]]:
    """(families to run, families skipped because not implemented yet)."""
    for f in requested:
        if f not in (*FAMILIES, "all"):
            raise UsageError(f"unknown family {f!r} (accepted: {', '.join(FAMILIES)}, all)")
    if "all" in requested:
        return [f for f in FAMILIES if is_implemented(f)], [f for f in FAMILIES if not is_implemented(f)]
    chosen = list(dict.fromkeys(requested))
    missing = [f for f in chosen if not is_implemented(f)]
    if missing:
        done = [f for f in FAMILIES if is_implemented(f)]
        raise UsageError(f"family {', '.join(missing)} is not implemented yet "
                         f"(implemented: {', '.join(done) or 'none'})")
    return chosen, []


def _writable(path: str | None, what: str) -> Path | None:
    if path is None:
        return None
    p = Path(path)
    if p.is_dir():
        raise UsageError(f"--{what} {path!r} is a directory; give a file path")
    if p.parent.exists() and not p.parent.is_dir():
        raise UsageError(f"--{what} {path!r}: {p.parent} is not a directory")
    return p


def _device(name: str) -> str:
    if name not in ("cpu", "cuda"):
        raise UsageError(f"unknown device {name!r} (accepted: cpu, cuda)")
    if name == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise UsageError("--device cuda: no CUDA device is available here (accepted: cpu)")
    return name


def run_claims(claims: list[Claim], config: Config) -> tuple[list[Evidence], list[tuple[str, str, str]]]:
    """Run every check of ``claims``; returns (evidence, errors as (claim, check, message))."""
    from tqdm import tqdm

    specs = [(c, s) for c in claims for s in c.checks]
    evidence, errors = [], []
    bar = tqdm(specs, desc="checks", unit="check", disable=not config.progress or None, leave=False)
    for claim, spec in bar:
        bar.set_postfix_str(f"{claim.id} {spec.name}")
        start = time.perf_counter()
        try:
            ev = spec.resolve()(config)
        except Exception as exc:  # a broken check is an error row, never a verdict
            errors.append((claim.id, spec.name, f"{type(exc).__name__}: {exc}"))
            traceback.print_exc(file=sys.stderr)
            continue
        if ev.claim != claim.id:
            errors.append((claim.id, spec.name, f"check returned evidence for {ev.claim!r}"))
            continue
        ev.seconds = round(time.perf_counter() - start, 3)
        evidence.append(ev)
    return evidence, errors


def verdict_table(evidence: list[Evidence], errors: list[tuple[str, str, str]], width: int = 110) -> str:
    rows = [(e.claim, e.check, e.kind, e.verdict + (" (control)" if e.setting.get("control") else ""),
             f"{e.seconds:.1f}", e.summary) for e in evidence]
    rows += [(c, k, "-", "ERROR", "-", msg) for c, k, msg in errors]
    head = ("claim", "check", "kind", "verdict", "s", "summary")
    cols = [max(len(str(r[i])) for r in [head, *rows]) for i in range(5)]
    lead = sum(cols) + 2 * 5
    lines = ["  ".join(str(x).ljust(n) for x, n in zip(head[:5], cols)) + "  " + head[5]]
    lines.append("-" * min(width + lead, lead + 60))
    for r in rows:
        wrapped = textwrap.wrap(r[5], max(40, width - lead)) or [""]
        lines.append("  ".join(str(x).ljust(n) for x, n in zip(r[:5], cols)) + "  " + wrapped[0])
        lines += [" " * lead + w for w in wrapped[1:]]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    try:
        args = _parser().parse_args(argv)
        families, skipped = _families(args.families)
        json_path = _writable(args.json, "json")
        html_path = _writable(args.html or f"reports/out/verify-{'-'.join(families)}.html", "html")
        config = Config(seed=args.seed, quick=args.quick, device=_device(args.device),
                        progress=not args.no_progress)
    except UsageError as exc:
        print(f"verify: error: {exc}", file=sys.stderr)
        return 2

    claims = [c for f in families for c in family_claims(f)]
    evidence, errors = run_claims(claims, config)
    print(verdict_table(evidence, errors))
    if skipped:
        print(f"\nnot implemented yet (no verdict): {', '.join(skipped)}")

    from reports.render import render

    title = f"Loss-of-plasticity verifier: {', '.join(families)}"
    write_atomic(html_path, render(evidence, [CLAIMS[c.id] for c in claims], title, config, errors))
    print(f"\nreport: {html_path}")
    if json_path is not None:
        write_atomic(json_path, dump_json(evidence))
        print(f"evidence: {json_path}")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
