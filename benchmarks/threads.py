"""Thread defaults (``theory.threads``): what they cost and save, small and large work, idle and busy.

    python -m benchmarks.threads [--repeats 5]

Each row is a fresh process (thread pools are configured at start-up), so the OpenMP wait policy of
``threads.configure()`` applies exactly as in the command line. Three pieces of work, median seconds:
- ``small svd``: a 1000 × 50 numpy SVD right after a small torch matmul (the rank checks' pattern:
  torch's idle OpenMP threads spin while numpy's BLAS threads want the cores);
- ``small train``: 200 SGD steps of a 8-16-16-1 float64 MLP on 64 samples (the optimizer checks);
- ``large matmul``: a 2048 × 2048 float32 matmul (work that threads do speed up).
Each piece runs with the default thread counts and inside ``one_thread()``; the ``busy`` rows run
while a second process keeps one core busy, as on a shared 2-core machine. The policy column is the
OpenMP wait policy (``active``: the library default, threads spin; ``passive``: ``configure()`` on
machines with ≤ 4 cores). The project runs small work inside ``one_thread()`` and large work with
every thread; the table shows why.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

WORK = ("small svd", "small train", "large matmul")


def _child(section: str, repeats: int) -> dict[str, float]:
    import numpy as np
    import torch

    from theory.threads import one_thread

    rng = np.random.default_rng(0)
    A = rng.standard_normal((1000, 50))
    t = torch.randn(256, 256)
    big = torch.randn(2048, 2048)
    x = torch.randn(64, 8, dtype=torch.float64)
    y = torch.randn(64, 1, dtype=torch.float64)

    def small_svd():
        _ = t @ t
        np.linalg.svd(A, full_matrices=False)

    def small_train():
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(8, 16), torch.nn.ReLU(), torch.nn.Linear(16, 16),
                                    torch.nn.ReLU(), torch.nn.Linear(16, 1)).double()
        opt = torch.optim.SGD(model.parameters(), lr=0.01)
        for _ in range(200):
            opt.zero_grad()
            ((model(x) - y) ** 2).mean().backward()
            opt.step()

    def large_matmul():
        _ = big @ big

    out = {}
    for name, fn in zip(WORK, (small_svd, small_train, large_matmul)):
        fn()  # warm-up
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            if section == "one_thread":
                with one_thread():
                    fn()
            else:
                fn()
            times.append(time.perf_counter() - start)
        out[name] = statistics.median(times)
    return out


def _busy() -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-c", "while True: pass"])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--child", choices=("default", "one_thread"))
    args = p.parse_args()
    if args.child:
        print(json.dumps(_child(args.child, args.repeats)))
        return
    print(f"{os.cpu_count()} cores; median of {args.repeats} runs per cell, seconds")
    print(f"{'load':5} {'policy':8} {'section':11} " + " ".join(f"{w:>13}" for w in WORK))
    for load in ("idle", "busy"):
        for policy in ("active", "passive"):
            for section in ("default", "one_thread"):
                env = {**os.environ, "OMP_WAIT_POLICY": policy.upper()}
                burner = _busy() if load == "busy" else None
                try:
                    proc = subprocess.run([sys.executable, "-m", "benchmarks.threads", "--child", section,
                                           "--repeats", str(args.repeats)], env=env, capture_output=True,
                                          text=True, check=True)
                finally:
                    if burner is not None:
                        burner.kill()
                times = json.loads(proc.stdout)
                print(f"{load:5} {policy:8} {section:11} " + " ".join(f"{times[w]:13.4f}" for w in WORK))


if __name__ == "__main__":
    main()
