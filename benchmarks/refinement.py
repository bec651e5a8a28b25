"""Time of the coarsest equitable partition (``cases.equivalence.coarsest_equitable_partition``) of a
large MLP, against a plain networkx colour refinement (``cases.equivalence.refine_digraph``).

    python -m benchmarks.refinement [--width 2048] [--depth 4] [--input 512] [--repeats 3]
                                    [--reference-widths 128 256 512] [--threads 2]

Two networks, float64, biases on (median wall-clock time over ``--repeats`` runs):
- ``random``: a freshly initialised MLP input-width×depth-output (the negative control: all singletons);
- ``clone``: an exact clone of a base MLP of half the width — blocks of 1, 2 or 3 units (width in
  total), non-uniform equitable split, units shuffled — which must come out as the planted blocks.
The networkx baseline runs on the same kind of network at the ``--reference-widths`` (a full-size
DiGraph of 13M edges does not fit a laptop's memory; the input width shrinks in proportion), with
both implementations timed there and their partitions compared; its full-size time is
extrapolated from the largest reference, linearly in the number of edges (a round of the
node-by-node refinement visits every edge twice and the number of rounds does not depend on the
width here; the measured rows show the scaling), and the printed ratio says so.
Target (issue 3): < 2 s at 4 × 2048 on 2 cores.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time


def _limit_threads(n: int) -> None:
    """BLAS/OpenMP thread pools read these at import: set them before numpy is imported."""
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        os.environ[var] = str(n)


def median_seconds(fn, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def networks(width: int, depth: int, n_in: int, n_out: int, seed: int):
    """(name, weights, biases, planted partition or None) for the random MLP and the clone."""
    import numpy as np

    from cases import equivalence as eq

    rng = np.random.default_rng(seed)

    def random_weights(widths):
        W = [rng.standard_normal((b, a)) / np.sqrt(a) for a, b in zip(widths[:-1], widths[1:])]
        return W, [0.1 * rng.standard_normal(n) for n in widths[1:]]

    W, b = random_weights([n_in] + [width] * depth + [n_out])
    half = width // 2
    sizes = []
    for _ in range(depth):  # as many blocks of 1 as of 3: exactly `width` units per layer
        s = np.full(half, 2)
        perm = rng.permutation(half)
        s[perm[: half // 4]], s[perm[half // 4: half // 2]] = 1, 3
        sizes.append(s)
    Wb, bb = random_weights([n_in] + [half] * depth + [n_out])
    Wc, bc, planted = eq.clone(Wb, bb, sizes, split="equitable", seed=seed)
    return [("random", W, b, None), ("clone", Wc, bc, planted)]


def _size(W) -> str:
    return f"{W[0].shape[1]}-{W[0].shape[0]}x{len(W) - 1}-{W[-1].shape[0]}"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--width", type=int, default=2048)
    p.add_argument("--depth", type=int, default=4)
    p.add_argument("--input", type=int, default=512)
    p.add_argument("--output", type=int, default=10)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--reference-widths", type=int, nargs="+", default=[128, 256, 512])
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    _limit_threads(args.threads)
    import networkx as nx
    import numpy as np

    from cases import equivalence as eq

    def edges(W):
        return sum(w.size + w.shape[0] for w in W)  # weights and biases

    print(f"coarsest equitable partition; {args.threads} BLAS threads, {os.cpu_count()} cores; numpy "
          f"{np.__version__}, networkx {nx.__version__}, python {sys.version.split()[0]}; "
          f"median of {args.repeats} runs")
    full = networks(args.width, args.depth, args.input, args.output, seed=0)
    references = [networks(w, args.depth, max(1, args.input * w // args.width), args.output, seed=0)
                  for w in sorted(args.reference_widths)]
    print(f"{'network':8} {'size':>22} {'weights':>8} {'rounds':>6} {'blocks/layer':>12} "
          f"{'vectorized':>10} {'networkx':>24} {'ratio':>6}")
    for k, (name, W, b, planted) in enumerate(full):
        seconds, (labels, rounds) = median_seconds(lambda W=W, b=b: eq.coarsest_equitable_partition(W, b),
                                                   args.repeats)
        expected = planted if planted is not None else [np.arange(n) for n in eq._widths(W)]
        blocks = "/".join(sorted({str(int(x.max()) + 1) for x in labels[1:-1]}))
        rows = []
        for ref in references:  # both implementations at the reference sizes, and their agreement
            _, Ws, bs, _ = ref[k]
            small_seconds, (small_labels, _) = median_seconds(
                lambda W=Ws, b=bs: eq.coarsest_equitable_partition(W, b), args.repeats)
            build = time.perf_counter()
            G = eq.to_digraph(Ws, bs)
            build = time.perf_counter() - build
            nx_seconds, (colors, _) = median_seconds(lambda G=G: eq.refine_digraph(G), 1)
            agree = eq.same_partition(eq.digraph_labels(G, colors), small_labels)
            rows.append((Ws, small_seconds, nx_seconds, build, agree))
        Ws, _, nx_seconds, _, _ = rows[-1]
        extrapolated = nx_seconds * edges(W) / edges(Ws)
        print(f"{name:8} {_size(W):>22} {edges(W) / 1e6:7.1f}M {rounds:6d} {blocks:>12} {seconds:9.2f}s "
              f"{extrapolated:13.0f}s (extrap.) {extrapolated / seconds:5.0f}x"
              + ("" if eq.same_partition(labels, expected) else "   WRONG PARTITION"))
        for Ws, small_seconds, nx_seconds, build, agree in rows:
            print(f"{'':8} {_size(Ws):>22} {edges(Ws) / 1e6:7.2f}M {'':6} {'':12} {small_seconds:9.3f}s "
                  f"{nx_seconds:12.2f}s (measured) {nx_seconds / small_seconds:5.0f}x   (DiGraph built in "
                  f"{build:.1f} s; partitions {'agree' if agree else 'DISAGREE'})")
    print(f"target: < 2 s for {args.width} x {args.depth} on 2 cores; the networkx time at full size is "
          "extrapolated from the largest reference size, linearly in the number of edges.")


if __name__ == "__main__":
    main()
