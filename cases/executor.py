"""Sweeps through one ``concurrent.futures.Executor`` interface: in this process, a local process pool,
or a Dask cluster.

A sweep is a list of jobs (seeds × learners × interventions × widths, each job a batch of seeds)
and a function of one job returning plain data. ``executor`` opens the executor a configuration
asks for and ``map_jobs`` runs every job through it, returning the results in the jobs' order:

- ``InProcess`` (the default): runs each job when it is submitted, in this process;
- ``workers=N``: a ``ProcessPoolExecutor`` of N processes started by ``spawn`` (a fresh interpreter,
  no forked torch state);
- ``scheduler=ADDRESS``: the ``concurrent.futures`` executor of a Dask distributed client connected
  to that scheduler (``pip install distributed``; a cluster of machines, or a ``LocalCluster``).

The jobs fix which seeds run together and each job runs on one thread, so every executor returns
the same numbers (tests/test_executor.py runs a two-worker Dask cluster against this process).
"""

from __future__ import annotations

import contextlib
import importlib.util
import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Executor, Future, ProcessPoolExecutor
from typing import Any, TypeVar

from tqdm import tqdm

J = TypeVar("J")
R = TypeVar("R")


class InProcess(Executor):
    """An executor that runs each call at ``submit``, in the calling process."""

    def submit(self, fn: Callable[..., R], /, *args: Any, **kwargs: Any) -> Future[R]:
        future: Future[R] = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except BaseException as exc:  # noqa: BLE001 — the future carries it to the caller
            future.set_exception(exc)
        return future


def _worker_threads() -> None:
    from theory import threads

    threads.configure()


def check(workers: int = 0, scheduler: str | None = None, reach: bool = False, timeout: float = 10) -> None:
    """ValueError/TypeError unless ``workers`` is an integer ≥ 0 and at most one of workers and
    ``scheduler`` is given; with ``reach``, unless the scheduler answers within ``timeout`` seconds
    (the command line asks before any check runs)."""
    if isinstance(workers, bool) or not isinstance(workers, int):
        raise TypeError(f"workers must be an integer, not {type(workers).__name__}")
    if workers < 0:
        raise ValueError(f"workers must be ≥ 0 (got {workers}; 0: this process)")
    if scheduler is not None and workers:
        raise ValueError("give either workers (a local process pool) or a scheduler address, not both")
    if scheduler is not None:
        if not isinstance(scheduler, str) or not scheduler.strip():
            raise ValueError(f"the scheduler address must be a non-empty text such as tcp://host:8786 "
                             f"(got {scheduler!r})")
        if importlib.util.find_spec("distributed") is None:
            raise ValueError("--scheduler needs Dask distributed (pip install distributed); "
                             "accepted without it: --workers N")
        if reach:
            _connect(scheduler, timeout).close()


def _connect(scheduler: str, timeout: float) -> Any:
    from distributed import Client

    try:
        return Client(scheduler, timeout=timeout)
    except Exception as exc:  # OSError/TimeoutError unreachable, ValueError malformed, ...
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise ValueError(f"cannot reach the Dask scheduler at {scheduler!r} ({first})") from None


@contextlib.contextmanager
def executor(workers: int = 0, scheduler: str | None = None) -> Iterator[Executor]:
    """The executor for ``workers`` processes (0: this process) or a Dask ``scheduler`` address."""
    check(workers, scheduler)
    if scheduler is not None:
        client = _connect(scheduler, 10)
        try:
            yield client.get_executor()
        finally:
            client.close()
    elif workers:
        with ProcessPoolExecutor(workers, mp_context=multiprocessing.get_context("spawn"),
                                 initializer=_worker_threads) as pool:
            yield pool
    else:
        yield InProcess()


def map_jobs(fn: Callable[[J], R], jobs: Sequence[J], pool: Executor, progress: bool = False,
             desc: str = "jobs") -> list[R]:
    """fn(job) for every job, through ``pool``; results in the jobs' order."""
    bar = {"desc": desc, "unit": "job", "leave": False, "disable": not progress or None}
    if isinstance(pool, InProcess):  # one at a time, so the bar moves as they finish
        return [fn(job) for job in tqdm(jobs, **bar)]
    futures = [pool.submit(fn, job) for job in jobs]
    return [f.result() for f in tqdm(futures, **bar)]
