"""Command line: ``python -m theory.verify FAMILY [FAMILY ...]``, or ``--from-json PATH``.

Runs every check of the chosen families' claims (timing each one), prints a verdict table, writes
the HTML report (default ``reports/out/verify-FAMILIES.html``) and, with ``--json``, the Evidence
list. ``--from-json PATH`` rebuilds the report from such a list without running any check.

Exit status: 0 when every check returned a verdict (refuted is a verdict); 1 when a check failed
with an error (the others still run and are reported); 2 on bad input (one line on stderr, nothing
written; every argument, output paths included, is checked before any check runs); 130 on Ctrl-C
(one line; the report and JSON are written together or not at all: ``theory.evidence.write_together``,
which also says how devices, FIFOs and symbolic links are written).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import importlib.util
import os
import stat
import sys
import time
import traceback
from pathlib import Path

import checks
from reports.terminal import verdict_table
from theory import claims, threads
from theory.claims import CLAIMS, FAMILIES, Claim, family_claims
from theory.evidence import (
    WRITTEN,
    Config,
    Evidence,
    check_output,
    dump_json,
    load_json,
    write_atomic,
    write_together,
)


class UsageError(Exception):
    """Bad input: reported as one line, exit status 2."""


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not argparse's usage block
        raise UsageError(message)


def _parser() -> argparse.ArgumentParser:
    p = _Parser(prog="python -m theory.verify",
                description="Verify the claims of the loss-of-plasticity theory (see CLAIMS.md).")
    p.add_argument("families", nargs="*", metavar="FAMILY",
                   help=f"one or more of: {', '.join(FAMILIES)}, all")
    p.add_argument("--json", metavar="PATH", help="write the Evidence list as JSON")
    p.add_argument("--html", metavar="PATH", help="report path (default reports/out/verify-FAMILIES.html)")
    p.add_argument("--from-json", metavar="PATH", dest="from_json",
                   help="rebuild the report from an Evidence JSON file, running no check")
    p.add_argument("--seed", type=int, default=0, help="seed for every random choice (default 0)")
    p.add_argument("--quick", action="store_true", help="small sizes (for CI)")
    p.add_argument("--device", default="cpu", help="torch device: cpu or cuda (default cpu)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.add_argument("--model", metavar="FILE.py:NAME",
                   help="check your own network: an nn.Module, or a callable returning one, in FILE.py")
    p.add_argument("--data", metavar="X.pt", help="with --model: inputs, a torch.save tensor or .npy file")
    p.add_argument("--targets", metavar="y.pt", help="with --model: targets (class indices or like the "
                                                     "output)")
    p.add_argument("--workers", type=int, default=0, metavar="N",
                   help="run sweeps on N local processes (default 0: in this process)")
    p.add_argument("--scheduler", metavar="ADDRESS",
                   help="run sweeps on the Dask distributed scheduler at ADDRESS (pip install distributed)")
    return p


def load(family: str) -> bool:
    """Import the family's module of ``checks`` (its checks register with the claim registry); False
    when the family has no module yet."""
    family_claims(family)  # validates the name
    module = f"{checks.__name__}.{family}"
    if importlib.util.find_spec(module) is None:
        return False
    importlib.import_module(module)
    return True


def is_implemented(family: str) -> bool:
    """The family's checks module exists and every claim of the family has a check."""
    return load(family) and claims.is_implemented(family)


def _families(requested: list[str]) -> tuple[list[str], list[str]]:
    """(families to run, families skipped because not implemented yet)."""
    if not requested:
        raise UsageError(f"give at least one FAMILY (accepted: {', '.join(FAMILIES)}, all) "
                         "or --from-json PATH")
    for f in requested:
        if f not in (*FAMILIES, "all"):
            raise UsageError(f"unknown family {f!r} (accepted: {', '.join(FAMILIES)}, all)")
    if "all" in requested:
        done = [f for f in FAMILIES if is_implemented(f)]
        return done, [f for f in FAMILIES if f not in done]
    chosen = list(dict.fromkeys(requested))
    missing = [f for f in chosen if not is_implemented(f)]
    if missing:
        done = [f for f in FAMILIES if is_implemented(f)]
        raise UsageError(f"family {', '.join(missing)} is not implemented yet "
                         f"(implemented: {', '.join(done) or 'none'})")
    return chosen, []


SEED_MAX = 2**32 - 1  # every seed a check derives (seed + k, 1000·seed + k) stays valid for numpy and torch


def _seed(seed: int) -> int:
    if not 0 <= seed <= SEED_MAX:
        raise UsageError(f"--seed {seed} is out of range (accepted: integers 0..{SEED_MAX})")
    return seed


def _writable(path: str | None, what: str) -> Path | None:
    """The output path of ``--what``, validated completely before anything runs (``check_output``)."""
    if path is None:
        return None
    try:
        return check_output(path)
    except ValueError as exc:
        raise UsageError(f"--{what} {exc}") from None


def _distinct(**paths: Path | None) -> None:
    """Two options naming one file would overwrite each other (character devices such as /dev/null
    excepted: writing twice to them is harmless)."""
    seen: dict[str, str] = {}
    for what, path in paths.items():
        if path is None or (path.exists() and stat.S_ISCHR(path.stat().st_mode)):
            continue
        key = os.path.realpath(path)
        if key in seen:
            raise UsageError(f"--{seen[key]} and --{what} name the same file {str(path)!r}; give two paths")
        seen[key] = what


def _device(name: str) -> str:
    if name not in ("cpu", "cuda"):
        raise UsageError(f"unknown device {name!r} (accepted: cpu, cuda)")
    if name == "cuda":
        import torch

        if not torch.cuda.is_available():
            raise UsageError("--device cuda: no CUDA device is available here (accepted: cpu)")
    return name


def _user_model(args: argparse.Namespace):
    """``--model/--data/--targets`` loaded and validated (``numerics.user``), or None; the checks of the
    user's network (``checks.model``) are imported with it."""
    if args.model is None:
        if args.data is not None or args.targets is not None:
            raise UsageError("--data and --targets go with --model FILE.py:NAME")
        return None
    if args.data is None:
        raise UsageError("--model needs --data X.pt (a tensor of inputs, or a .npy file)")
    from numerics import user

    try:
        loaded = user.load(args.model, args.data, args.targets, args.device)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    importlib.import_module(f"{checks.__name__}.model")
    return loaded


def _sweeps(workers: int, scheduler: str | None) -> dict:
    """``--workers``/``--scheduler`` checked before any work: the scheduler must answer (5 s)."""
    from cases import executor

    try:
        executor.check(workers, scheduler, reach=True, timeout=5)
    except ValueError as exc:
        given = f"--workers {workers}" if scheduler is None else f"--scheduler {scheduler!r}" + (
            f" with --workers {workers}" if workers else "")
        raise UsageError(f"{given}: {exc}") from None
    return {"workers": workers, "scheduler": scheduler}


def run_claims(claims: list[Claim], config: Config) -> tuple[list[Evidence], list[tuple[str, str, str]]]:
    """Run and time every check of ``claims``; returns (evidence, errors as (claim, check, message))."""
    from tqdm import tqdm

    checks = [c for claim in claims for c in claim.checks if c.on_model == (config.model is not None)]
    evidence, errors = [], []
    bar = tqdm(checks, desc="checks", unit="check", disable=not config.progress or None, leave=False)
    for check in bar:
        bar.set_postfix_str(f"{check.claim} {check.name}")
        start = time.perf_counter()
        try:
            ev = check(config)
        except Exception as exc:  # a broken check is an error row, never a verdict
            errors.append((check.claim, check.name, f"{type(exc).__name__}: {exc}"))
            traceback.print_exc(file=sys.stderr)
            continue
        ev.seconds = round(time.perf_counter() - start, 3)
        evidence.append(ev)
    return evidence, errors


def _rebuild(args: argparse.Namespace, written: list[Path]) -> int:
    """``--from-json``: the report of an Evidence file, no check run."""
    try:
        if args.families:
            raise UsageError("--from-json rebuilds a report from its file; give no FAMILY")
        source = Path(args.from_json)
        if not source.is_file():
            raise UsageError(f"--from-json {args.from_json!r} is not a readable file")
        html_arg = args.html if args.html is not None else f"reports/out/{source.stem}.html"
        html_path = _writable(html_arg, "html")
        _distinct(**{"from-json": source, "html": html_path})
        try:
            evidence = load_json(source.read_text(encoding="utf-8"))
        except (ValueError, UnicodeDecodeError) as exc:
            raise UsageError(f"--from-json {args.from_json!r}: {exc}") from None
        unknown = sorted({e.claim for e in evidence} - set(CLAIMS))
        if unknown:
            raise UsageError(f"--from-json {args.from_json!r}: unknown claim {unknown[0]!r} "
                             f"(accepted: {', '.join(CLAIMS)})")
    except UsageError as exc:
        print(f"verify: error: {exc}", file=sys.stderr)
        return 2
    from reports.render import render

    ids = {e.claim for e in evidence}
    claims = [c for c in CLAIMS.values() if c.id in ids]
    families = list(dict.fromkeys(c.family for c in claims))
    write_atomic(html_path, render(evidence, claims, f"Loss-of-plasticity verifier: {', '.join(families)}",
                                   f"rebuilt from {source.name} ({len(evidence)} records)"))
    written.append(html_path)
    _say(verdict_table(evidence, []), f"\nreport: {html_arg}")
    return 0


def _say(*lines: str) -> None:
    """Print to stdout (after the files are written); once the reader has gone (``| head -1``: a broken
    pipe) stdout is sent to /dev/null."""
    try:
        for line in lines:
            print(line, flush=True)
    except BrokenPipeError:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)


def _tolerant_streams() -> None:
    """A terminal or pipe that cannot encode a character (PYTHONIOENCODING=ascii, LC_ALL=C) gets it
    as an escape (α → \\u03b1) instead of a UnicodeEncodeError; files are always UTF-8."""
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(AttributeError, ValueError):
            stream.reconfigure(errors="backslashreplace")


def main(argv: list[str] | None = None) -> int:
    """The command line (module docstring). Ctrl-C: one line on stderr, exit status 130, and the
    report and JSON either both written or both left as they were (``write_together``)."""
    _tolerant_streams()
    written: list[Path] = []
    try:
        return _main(argv, written)
    except KeyboardInterrupt as exc:
        done = bool(written) or exc.args == (WRITTEN,)
        print(f"verify: interrupted; {'the report and JSON were written' if done else 'nothing written'}",
              file=sys.stderr)
        return 130


def _main(argv: list[str] | None, written: list[Path]) -> int:
    """``main`` without the Ctrl-C handling; appends the paths to ``written`` once they are."""
    threads.configure()  # before the families import torch
    try:
        args = _parser().parse_args(argv)
        if args.from_json is not None:
            return _rebuild(args, written)
        families, skipped = _families(args.families)
        json_path = _writable(args.json, "json")
        html_arg = args.html if args.html is not None else f"reports/out/verify-{'-'.join(families)}.html"
        html_path = _writable(html_arg, "html")
        _distinct(json=json_path, html=html_path)
        config = Config(seed=_seed(args.seed), quick=args.quick, device=_device(args.device),
                        progress=not args.no_progress, model=_user_model(args),
                        **_sweeps(args.workers, args.scheduler))
    except UsageError as exc:
        print(f"verify: error: {exc}", file=sys.stderr)
        return 2

    claims = [c for f in families for c in family_claims(f)]
    evidence, errors = run_claims(claims, config)

    from reports.render import render

    title = f"Loss-of-plasticity verifier: {', '.join(families)}"
    run = (f"seed {config.seed} · {'quick sizes' if config.quick else 'full sizes'} · "
           f"device {config.device}")
    outputs = [(html_path, render(evidence, claims, title, run, errors))]
    if json_path is not None:
        outputs.append((json_path, dump_json(evidence)))
    write_together(outputs)  # before printing: a closed pipe or a narrow terminal loses nothing
    written += [path for path, _ in outputs]

    _say(verdict_table(evidence, errors),
         *([f"\nnot implemented yet (no verdict): {', '.join(skipped)}"] if skipped else []),
         f"\nreport: {html_arg}", *([f"evidence: {args.json}"] if json_path is not None else []))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
