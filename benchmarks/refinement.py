"""Time of the coarsest equitable partition (``cases.equivalence.coarsest_equitable_partition``) of a
large MLP, against a plain networkx colour refinement (``cases.equivalence.refine_digraph``).

    python -m benchmarks.refinement [--width 2048] [--depth 4] [--input 512] [--repeats 3]
                                    [--reference-widths 128 256 512] [--threads 2]

Two networks, float64, biases on (median wall-clock time over ``--repeats`` runs):
- ``random``: a freshly initialised MLP input-width×depth-output (the negative control: all singletons);
- ``clone``: an exact clone of a base MLP of half the width (``numerics.clone.clone``) — blocks of 1, 2
  or 3 units (width in total), units shuffled, made equitable but not block-constant by a doubly
  centred perturbation — which must come out as the planted blocks.
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
    """(name, network, planted partition or None) for the random MLP and the clone."""
    import numpy as np
    import torch

    from numerics import clone as C
    from numerics.models import from_layered, to_layered
    from theory.net import Layered

    rng = np.random.default_rng(seed)

    def random_network(widths):
        W = [rng.standard_normal((b, a)) / np.sqrt(a) for a, b in zip(widths[:-1], widths[1:])]
        return Layered(W, [0.1 * rng.standard_normal(n) for n in widths[1:]])

    network = random_network([n_in] + [width] * depth + [n_out])
    half = width // 2
    sizes = []
    for _ in range(depth):  # as many blocks of 1 as of 3: exactly `width` units per layer
        s = np.full(half, 2)
        perm = rng.permutation(half)
        s[perm[: half // 4]], s[perm[half // 4: half // 2]] = 1, 3
        sizes.append(s)
    widths = [n_in] + [half] * depth + [n_out]
    planted = C.from_sizes(widths, sizes, permute=rng)
    wide = C.clone(from_layered(random_network(widths)), planted)
    C.equitable_perturbation(wide, planted, 0.05, torch.Generator().manual_seed(seed))
    return [("random", network, None), ("clone", to_layered(wide), planted)]


def _size(network) -> str:
    W = network.weights
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
    from theory.partition import Partition

    def edges(network):
        return sum(w.size + w.shape[0] for w in network.weights)  # weights and biases

    print(f"coarsest equitable partition; {args.threads} BLAS threads, {os.cpu_count()} cores; numpy "
          f"{np.__version__}, networkx {nx.__version__}, python {sys.version.split()[0]}; "
          f"median of {args.repeats} runs")
    full = networks(args.width, args.depth, args.input, args.output, seed=0)
    references = [networks(w, args.depth, max(1, args.input * w // args.width), args.output, seed=0)
                  for w in sorted(args.reference_widths)]
    print(f"{'network':8} {'size':>22} {'weights':>8} {'rounds':>6} {'blocks/layer':>12} "
          f"{'vectorized':>10} {'networkx':>24} {'ratio':>6}")
    for k, (name, network, planted) in enumerate(full):
        seconds, (found, rounds) = median_seconds(lambda n=network: eq.coarsest_equitable_partition(n),
                                                  args.repeats)
        expected = planted if planted is not None else \
            Partition.layered([np.arange(n) for n in network.widths])
        blocks = "/".join(sorted({str(c) for c in found.block_counts()[1:-1]}))
        rows = []
        for ref in references:  # both implementations at the reference sizes, and their agreement
            _, small, _ = ref[k]
            small_seconds, (small_found, _) = median_seconds(
                lambda n=small: eq.coarsest_equitable_partition(n), args.repeats)
            build = time.perf_counter()
            G = eq.weighted_dag(small)
            build = time.perf_counter() - build
            nx_seconds, (colors, _) = median_seconds(lambda G=G: eq.refine_digraph(G), 1)
            agree = eq.digraph_partition(small, colors) == small_found
            rows.append((small, small_seconds, nx_seconds, build, agree))
        small, _, nx_seconds, _, _ = rows[-1]
        extrapolated = nx_seconds * edges(network) / edges(small)
        print(f"{name:8} {_size(network):>22} {edges(network) / 1e6:7.1f}M {rounds:6d} {blocks:>12} "
              f"{seconds:9.2f}s {extrapolated:13.0f}s (extrap.) {extrapolated / seconds:5.0f}x"
              + ("" if found == expected else "   WRONG PARTITION"))
        for small, small_seconds, nx_seconds, build, agree in rows:
            print(f"{'':8} {_size(small):>22} {edges(small) / 1e6:7.2f}M {'':6} {'':12} "
                  f"{small_seconds:9.3f}s "
                  f"{nx_seconds:12.2f}s (measured) {nx_seconds / small_seconds:5.0f}x   (DiGraph built in "
                  f"{build:.1f} s; partitions {'agree' if agree else 'DISAGREE'})")
    print(f"target: < 2 s for {args.width} x {args.depth} on 2 cores; the networkx time at full size is "
          "extrapolated from the largest reference size, linearly in the number of edges.")


if __name__ == "__main__":
    main()
