"""Thread use: small problems on one thread, large ones on every core.

Two thread pools live in this process once numpy and torch are loaded: OpenBLAS behind numpy and
OpenMP behind torch. Their idle threads spin for a while before they sleep, and on a machine with few
cores that spinning takes the cores from the other pool and from other processes: on 2 cores a
1000 × 50 numpy SVD took 1.8 s right after a torch operation instead of 0.045 s on one thread, and a
small clone-training check ran 10× slower next to other work. Small matrices and small models gain
nothing from threads, so the sections that handle them run inside ``one_thread()``; sections with
large matrices keep every thread, so a big workstation loses nothing.

``configure()`` (called by the command line and the tests before torch is imported) makes idle
OpenMP threads sleep instead of spin, and only on machines with at most ``FEW_CORES`` cores, where the
spinning costs more than the wake-up latency; a user's own ``OMP_WAIT_POLICY`` is left alone.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

FEW_CORES = 4


def configure() -> None:
    """Passive OpenMP waits on machines with few cores (before torch is imported; no-op after)."""
    if (os.cpu_count() or 1) <= FEW_CORES:
        os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")


@contextlib.contextmanager
def one_thread() -> Iterator[None]:
    """Run the section on one thread in both pools (torch intra-op and the BLAS/OpenMP libraries
    threadpoolctl finds), restored afterwards."""
    import torch
    from threadpoolctl import threadpool_limits

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(1):
            yield
    finally:
        torch.set_num_threads(threads)
