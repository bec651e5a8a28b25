"""Wall-clock time of `python -m theory.verify FAMILY` in quick and full sizes.

    python benchmarks/verify_timing.py frozen [rank ...] [--quick-only]

Prints one line per (family, size) with seconds and the exit status, and the per-check times of
the slowest checks (from the Evidence JSON). Targets (issue text): frozen --quick < 30 s, full
< 3 min; rank --quick < 30 s, full < 3 min; on 2 cores.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def time_run(family: str, quick: bool) -> tuple[float, int, list[dict]]:
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "e.json"
        cmd = [sys.executable, "-m", "theory.verify", family, "--no-progress", "--json", str(out),
               "--html", str(Path(tmp) / "r.html")] + (["--quick"] if quick else [])
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        records = json.loads(out.read_text()) if out.exists() else []
    if proc.returncode:
        print(proc.stderr[-2000:], file=sys.stderr)
    return seconds, proc.returncode, records


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("families", nargs="+")
    p.add_argument("--quick-only", action="store_true")
    args = p.parse_args()
    for family in args.families:
        for quick in (True,) if args.quick_only else (True, False):
            seconds, code, records = time_run(family, quick)
            size = "quick" if quick else "full"
            print(f"{family:10s} {size:5s} {seconds:7.1f} s  exit {code}  ({len(records)} evidence records)")
            for r in sorted(records, key=lambda r: -r["seconds"])[:5]:
                print(f"    {r['seconds']:6.1f} s  {r['claim']} / {r['check']}")


if __name__ == "__main__":
    main()
