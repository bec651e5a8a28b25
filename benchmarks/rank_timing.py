"""Wall-clock time of `python -m theory.verify rank`, quick and full, against the issue's targets.

    python benchmarks/rank_timing.py [--repeat N]

Runs the command line in a subprocess (``verify_timing.time_run``) and prints, per size, the seconds,
the exit status, the target and whether it was met, and the slowest checks (``checks.rank``, on the
libraries ``theory.gaussian`` and ``theory.spectra``), whose seconds are the command line's: checks do
not time themselves. The total includes drawing the report's figures from their data. The load
average is printed alongside: on a shared 2-core machine it moves the figures by a factor of two.
Targets (issue 4): --quick < 30 s, full < 3 min, on 2 cores.
"""

from __future__ import annotations

import argparse
import os

from verify_timing import time_run

TARGETS = {"quick": 30.0, "full": 180.0}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeat", type=int, default=1, help="runs per size; the fastest is reported")
    args = p.parse_args()
    print(f"cores: {os.cpu_count()}, load average before: {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    for size, target in TARGETS.items():
        runs = [time_run("rank", size == "quick") for _ in range(args.repeat)]
        seconds, code, records = min(runs, key=lambda r: r[0])
        verdict = "ok" if seconds < target and code == 0 else "OVER" if code == 0 else "FAILED"
        print(f"rank {size:5s} {seconds:6.1f} s  (target < {target:.0f} s: {verdict}), exit {code}, "
              f"{len(records)} evidence records, load {os.getloadavg()[0]:.2f}")
        for r in sorted(records, key=lambda r: -r["seconds"])[:4]:
            print(f"    {r['seconds']:6.1f} s  {r['claim']} / {r['check']}  ({r['verdict']})")


if __name__ == "__main__":
    main()
