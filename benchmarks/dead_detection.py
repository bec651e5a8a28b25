"""Time of exact dead-unit detection (``numerics.probes.dead_units``) on a large ReLU MLP.

    python -m benchmarks.dead_detection [--samples 10000] [--width 2048] [--depth 4] [--repeats 5]

Prints the median wall-clock time over ``--repeats`` runs, in float32 and float64, for:
- ``fresh``: the freshly initialized network. Torch's default init already leaves a few units of
  the last hidden layer dead on the data, so every chunk runs to the last layer (the pass stops
  early only when no undecided unit is left);
- ``dead in every layer``: 8 planted dead units per hidden layer (first layer dead on the data,
  deeper ones sign-certified), so every chunk must be propagated to the last hidden layer — the
  worst case for early stopping;
- ``full forward``: a plain chunked ``MLP.trace`` over all samples, for reference (the naive way);
- ``floor``: the bare matmuls of hidden layers 2..L−1 on all samples, measured on this machine.
The variants are interleaved within each repeat, so a load spike from other processes hits them
alike.
Target (issue text): < 1 s on 2 cores. The floor of the worst case is the forward pass of hidden
layers 2..L−1 (2·N·(L−2)·width² flops), which no exact method can skip.
"""

from __future__ import annotations

import argparse
import statistics
import time

from theory import threads


def seconds(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    threads.configure()  # the command line's thread defaults, before torch is imported
    import torch

    from numerics.frozen import plant_first_layer_dead, plant_sign_dead
    from numerics.models import MLP
    from numerics.probes import dead_units

    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--samples", type=int, default=10_000)
    p.add_argument("--input", type=int, default=64)
    p.add_argument("--width", type=int, default=2048)
    p.add_argument("--depth", type=int, default=4)
    p.add_argument("--repeats", type=int, default=5)
    args = p.parse_args()
    torch.manual_seed(0)
    widths = [args.input] + [args.width] * args.depth + [10]
    print(f"{args.depth} x {args.width} ReLU MLP, {args.samples} samples of dimension {args.input}, "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads; median of {args.repeats} runs")
    for dtype in (torch.float32, torch.float64):
        model = MLP(widths).to(dtype).eval()
        X = torch.randn(args.samples, args.input, dtype=dtype)
        planted = MLP(widths).to(dtype).eval()
        planted.load_state_dict(model.state_dict())
        units = torch.arange(8)
        plant_first_layer_dead(planted, X, units)
        for layer in range(1, args.depth):
            plant_sign_dead(planted, layer, units)
        found = dead_units(planted, X)
        assert all(bool(m[units].all()) for m in found), "planted dead units must be found"
        h = torch.rand(args.samples, args.width, dtype=dtype)
        w = torch.randn(args.width, args.width, dtype=dtype)

        def full(m=planted, X=X):
            with torch.no_grad():
                for x in X.split(2048):
                    m.trace(x)

        runs = {"fresh": lambda m=model, X=X: dead_units(m, X),
                "dead in every layer": lambda m=planted, X=X: dead_units(m, X),
                "full forward": full,
                "floor": lambda h=h, w=w: [h @ w for _ in range(args.depth - 2)]}
        # interleaved repeats: a load spike from other processes hits every variant alike
        times = {k: [] for k in runs}
        for _ in range(args.repeats):
            for k, fn in runs.items():
                times[k].append(seconds(fn))
        med = {k: statistics.median(v) for k, v in times.items()}
        name = str(dtype).removeprefix("torch.")
        print(f"{name:8s} " + "   ".join(f"{k} {v:6.3f} s" for k, v in med.items())
              + f"   (dead per layer: fresh {[int(m.sum()) for m in dead_units(model, X)]}, "
              f"planted {[int(m.sum()) for m in found]})")

if __name__ == "__main__":
    main()
