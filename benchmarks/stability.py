"""The extreme normal eigenpairs of a clone with over a million parameters, by Lanczos on projected
Hessian-vector products (``numerics.curvature.lanczos``), against the target of 60 s on 2 cores.

    python -m benchmarks.stability [--factor 3] [--width 256] [--samples 512] [--tol 1e-6]

The base is a ReLU MLP 32-width×4-10 trained 300 Adam steps (lr 1e-3, float32) on the teacher task; its
×factor equal-split clone (float64) has 1.8M parameters at the defaults. Prints the parameter count, the
two ends of the normal spectrum, the Hessian-vector products used, and wall and CPU seconds (user + sys
of this process: the machine may be shared) of the Lanczos step alone, of one product, and of training.
"""

from __future__ import annotations

import argparse
import os
import time

from theory import threads

threads.configure()

import torch  # noqa: E402

from numerics import clone as C  # noqa: E402
from numerics import curvature as K  # noqa: E402
from numerics.data import make_task  # noqa: E402
from numerics.models import seeded  # noqa: E402
from numerics.train import train  # noqa: E402


def clock() -> tuple[float, float]:
    t = os.times()
    return time.perf_counter(), t.user + t.system


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--factor", type=int, default=3)
    p.add_argument("--width", type=int, default=256)
    p.add_argument("--samples", type=int, default=512)
    p.add_argument("--tol", type=float, default=1e-6)
    p.add_argument("--seed", type=int, default=0)
    args = p.parse_args()
    widths = [32, *[args.width] * 4, 10]
    w0, c0 = clock()
    task = make_task("teacher", args.samples, 32, 10, args.seed)
    base = seeded(widths, "relu", args.seed, dtype=torch.float32)
    train(base, task.X.float(), task.y, 300, "adam", {"lr": 1e-3}, 128, args.seed)
    cloning = C.expand(widths, args.factor)
    obj = K.Objective(C.clone(base.double(), cloning), task.X, task.y)
    space = K.clone_space(obj, cloning)
    w1, c1 = clock()
    v = space.project(torch.randn(obj.n, dtype=torch.float64))
    obj.hvp(v)
    w2, c2 = clock()
    for _ in range(3):
        obj.hvp(v)
    w3, c3 = clock()
    ends = K.lanczos(obj, space, tol=args.tol, seed=args.seed)
    w4, c4 = clock()
    print(f"clone ×{args.factor} of {'-'.join(map(str, widths))}: {obj.n:,} parameters, "
          f"{args.samples} samples, {torch.get_num_threads()} threads")
    print(f"normal spectrum: λ_min = {ends.lowest:.6g}, λ_max = {ends.highest:.6g} "
          f"(eigenvectors {min(ends.normal_share):.6f} inside N)")
    print(f"lanczos (k=2, both ends, tol {args.tol:g}): {ends.products} Hessian-vector products, "
          f"wall {w4 - w3:.1f} s, cpu {c4 - c3:.1f} s   [target: ≤ 60 s on 2 cores]")
    print(f"one Hessian-vector product: wall {(w3 - w2) / 3:.3f} s, cpu {(c3 - c2) / 3:.3f} s")
    print(f"training the base and cloning: wall {w1 - w0:.1f} s, cpu {c1 - c0:.1f} s")


if __name__ == "__main__":
    main()
