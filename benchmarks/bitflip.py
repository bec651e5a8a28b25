"""Seed-batched training against the per-step reference loop, on the bit-flipping problem.

    python -m benchmarks.bitflip [--seeds 30] [--steps 20000] [--interventions bp,cbp]
                                 [--reference-seeds N] [--no-reference] [--device cpu|cuda]

For each intervention: the batched learner (``numerics.batched``, all seeds in one process) and the
straightforward loop of ``benchmarks/bitflip_reference.py`` (one seed at a time, one sample a step,
autograd and ``optimizer.step()``) on the same seeds and steps, from the same initial weights and
data. Printed per side: wall and CPU seconds (user + system of this process), microseconds per step,
seed-steps per CPU-second, and the largest difference of the per-step squared errors between the two
(they compute the same trajectories, in another summation order). Data generation is included on
both sides. The last line is ``speedup: <R>x`` for the first intervention: seed-steps per CPU-second,
batched over reference. With ``--no-reference`` only the batched side runs (for long runs such as
``--steps 1000000``; the last line is then the first intervention's batched seed-steps per
CPU-second).

For scale (issue text): the public reference code takes about 236 µs per step for backprop and
463 µs for continual backprop on a machine of this class.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

from theory import threads


def _clock() -> tuple[float, float]:
    t = os.times()
    return time.perf_counter(), t.user + t.system


def main(argv: list[str] | None = None) -> int:
    threads.configure()  # the command line's thread defaults, before torch is imported
    import torch

    from benchmarks.bitflip_reference import reference, reference_runs
    from numerics import interventions as ivs
    from numerics.batched import Batched, Net
    from numerics.streams import BitFlip

    p = argparse.ArgumentParser(prog="python -m benchmarks.bitflip")
    p.add_argument("--seeds", type=int, default=30)
    p.add_argument("--steps", type=int, default=20_000)
    p.add_argument("--interventions", default="bp,cbp",
                   help="comma-separated (the reference runs bp, l2, cbp)")
    p.add_argument("--reference-seeds", type=int, default=None,
                   help="run the reference on the first N seeds only (default: all)")
    p.add_argument("--no-reference", action="store_true")
    p.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
    p.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = p.parse_args(argv)
    if args.seeds < 1 or args.steps < 1:
        p.error("--seeds and --steps must be positive")
    if args.device == "cuda" and not torch.cuda.is_available():
        print("bitflip: error: --device cuda: no CUDA device is available here (accepted: cpu)",
              file=sys.stderr)
        return 2
    torch.set_num_threads(args.threads)
    problem = BitFlip()
    seeds = list(range(args.seeds))
    ref_seeds = seeds[: args.reference_seeds] if args.reference_seeds else seeds
    tasks = -(-args.steps // problem.period)
    speedups, rates = [], []
    for name in args.interventions.split(","):
        iv = ivs.get(name)
        wall0, cpu0 = _clock()
        learner = Batched(Net((problem.m, 5, 1)), seeds, iv, device=args.device)
        sampled, t = {}, 0  # step → squared errors of every seed, every 997th step
        for task in problem.tasks(seeds, tasks, device=args.device):
            for x, y in task.batches():
                if t == args.steps:
                    break
                out = learner.step(x, y)
                if t % 997 == 0:
                    sampled[t] = ((out[:, 0, 0] - y[:, 0]) ** 2).cpu().numpy()
                t += 1
        if args.device == "cuda":
            torch.cuda.synchronize()
        wall1, cpu1 = _clock()
        b_wall, b_cpu = wall1 - wall0, cpu1 - cpu0
        b_rate = len(seeds) * args.steps / b_cpu
        rates.append(b_rate)
        print(f"{name}: batched   {len(seeds)} seeds × {args.steps} steps on {args.device}: "
              f"wall {b_wall:.1f} s, CPU {b_cpu:.1f} s, {1e6 * b_wall / args.steps:.1f} µs per step "
              "(all seeds), "
              f"{b_rate:,.0f} seed-steps per CPU-second")
        if args.no_reference:
            speedups.append(None)
            continue
        if not reference_runs(iv):
            print(f"{name}: the reference loop runs bp, l2 and cbp only")
            speedups.append(None)
            continue
        wall0, cpu0 = _clock()
        worst = 0.0
        for i, s in enumerate(ref_seeds):
            ref = reference(s, args.steps, problem, intervention=iv)
            worst = max(worst, max(abs(float(ref[t]) - float(e[i])) for t, e in sampled.items()))
        wall1, cpu1 = _clock()
        r_wall, r_cpu = wall1 - wall0, cpu1 - cpu0
        r_rate = len(ref_seeds) * args.steps / r_cpu
        print(f"{name}: reference {len(ref_seeds)} seeds × {args.steps} steps: wall {r_wall:.1f} s, "
              f"CPU {r_cpu:.1f} s, "
              f"{1e6 * r_wall / (len(ref_seeds) * args.steps):.1f} µs per step (one seed), "
              f"{r_rate:,.0f} seed-steps per CPU-second")
        print(f"{name}: largest difference of per-step squared errors (every 997th step): {worst:.3g}")
        speedups.append(b_rate / r_rate)
    first = speedups[0]
    if first is None:
        print(f"batched seed-steps per CPU-second ({args.interventions.split(',')[0]}): {rates[0]:,.0f}")
    else:
        print(f"speedup: {first:.0f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
