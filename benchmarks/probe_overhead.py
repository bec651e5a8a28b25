"""Overhead of the training-time probe (``numerics.probes.Probe``) on a training loop.

    python -m benchmarks.probe_overhead [--width 512 ...] [--depth 4] [--batch 256] [--steps 1000]
                                        [--every 100] [--probe 1024] [--repeats 3]

Trains a ReLU MLP (``numerics.models.MLP``, 32 inputs, ``depth`` × ``width`` hidden, 10 classes) with
SGD on synthetic data, ``steps`` updates of batch ``batch``, in one process, in turns (so a load spike
from other processes hits every variant alike), for each ``--width`` given (one configuration each):

- ``plain``: the loop alone;
- ``probe (default)``: the loop with ``Probe(model, X, y).every(n)`` (``probe`` samples of X): every
  measure, the second moments (duplicates, ranks) from the first ``Probe.SPECTRA_SAMPLES`` inputs;
- ``probe, spectra on 256`` and ``probe, spectra on all``: the second moments from 256 inputs and
  from all ``probe`` inputs (what the default's cap saves);
- ``probe, no spectra``: without the second moments;
- ``probe, no spectra, no clones``: also without the clone partition.

Prints CPU seconds (user + system of this process) and wall seconds per variant (the median over
``repeats`` turns), and each probe variant's overhead per step over the plain loop (CPU: the figure
to read on a shared machine).
Target (issue 8): ≤ 5% overhead per step at every(100), with every measure the probe records by default.
"""

from __future__ import annotations

import argparse
import statistics
import time

from benchmarks.metrics_scale import cpu_seconds
from theory import threads


def main() -> None:
    threads.configure()
    import torch
    import torch.nn.functional as F

    from numerics.models import MLP
    from numerics.probes import Probe

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--width", type=int, nargs="+", default=[512])
    p.add_argument("--depth", type=int, default=4)
    p.add_argument("--batch", type=int, default=256)
    p.add_argument("--steps", type=int, default=1000)
    p.add_argument("--every", type=int, default=100)
    p.add_argument("--probe", type=int, default=1024)
    p.add_argument("--repeats", type=int, default=3)
    args = p.parse_args()
    torch.manual_seed(0)
    X = torch.randn(8192, 32)
    y = torch.randint(0, 10, (8192,))
    variants = {"plain": None, "probe (default)": {}, "probe, spectra on 256": {"spectra_samples": 256},
                "probe, spectra on all": {"spectra_samples": None}, "probe, no spectra": {"spectra": False},
                "probe, no spectra, no clones": {"spectra": False, "clones": False}}
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; median of {args.repeats} turns; "
          f"default spectra_samples {Probe.SPECTRA_SAMPLES}")
    for width in args.width:
        print(f"MLP 32-{'-'.join([str(width)] * args.depth)}-10 ReLU, SGD, batch {args.batch}, "
              f"{args.steps} steps, probe every {args.every} on {args.probe} samples")

        def run(options, width=width):
            torch.manual_seed(1)
            model = MLP([32] + [width] * args.depth + [10])
            opt = torch.optim.SGD(model.parameters(), lr=0.01)
            probe = None if options is None else \
                Probe(model, X[: args.probe], y[: args.probe], **options).every(args.every)
            g = torch.Generator().manual_seed(2)
            wall, cpu = time.perf_counter(), cpu_seconds()
            for _ in range(args.steps):
                idx = torch.randint(0, len(X), (args.batch,), generator=g)
                opt.zero_grad()
                F.cross_entropy(model(X[idx]), y[idx]).backward()
                opt.step()
                if probe is not None:
                    probe.step()
            return cpu_seconds() - cpu, time.perf_counter() - wall

        times = {name: [] for name in variants}
        for _ in range(args.repeats):
            for name, options in variants.items():
                times[name].append(run(options))
        plain_cpu = statistics.median(c for c, _ in times["plain"])
        plain_wall = statistics.median(w for _, w in times["plain"])
        for name in variants:
            cpu = statistics.median(c for c, _ in times[name])
            wall = statistics.median(w for _, w in times[name])
            extra = "" if name == "plain" else (f"   overhead {100 * (cpu / plain_cpu - 1):+.1f}% CPU, "
                                                f"{100 * (wall / plain_wall - 1):+.1f}% wall")
            print(f"  {name:30s} {cpu:7.2f} s CPU {wall:7.2f} s wall  ({1000 * cpu / args.steps:.2f} ms CPU "
                  f"per step){extra}", flush=True)


if __name__ == "__main__":
    main()
