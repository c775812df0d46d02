"""How many threads the numpy-side code of one encode may use: its share of the CPUs.

``kmz convert -j N`` (or N Dask workers on one machine) runs N encodes at once; if
each sized its thread pools to every CPU, N x C threads would fight over C CPUs.
So the code that starts threads (:func:`kmzcodec.bands.map_bands`, which the
histogram and the k-means kernels use) asks :func:`cpu_budget`, and whoever runs
several encodes at once sets each one's share with :func:`cpu_share`.

Decoding shares its work out on :func:`run_all`'s helper threads, which stay for the
life of the process (a decode is too short to start threads each time).
"""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextvars import ContextVar
from typing import TypeVar

T = TypeVar("T")

#: The current budget; None means "all the CPUs this process may use".
_budget: ContextVar[int | None] = ContextVar("kmzcodec_cpu_budget", default=None)


def available_cpus() -> int:
    """CPUs this process may run on: its affinity mask (and, on 3.13+, ``-X cpu_count``),
    not the machine's count, which ignores ``taskset`` and container CPU sets."""
    counter = getattr(os, "process_cpu_count", None)  # Python 3.13+
    if counter is not None:
        return max(1, counter() or 1)
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def cpu_budget() -> int:
    """Threads one encode may use here and now (at least 1)."""
    budget = _budget.get()
    return available_cpus() if budget is None else budget


def share(sharers: int) -> int:
    """Each one's threads when ``sharers`` encodes run at once on this process's CPUs."""
    return max(1, available_cpus() // max(1, sharers))


@contextlib.contextmanager
def cpu_share(sharers: int) -> Iterator[int]:
    """Within the block (this thread or task only), :func:`cpu_budget` is ``share(sharers)``."""
    token = _budget.set(share(sharers))
    try:
        yield _budget.get() or 1
    finally:
        _budget.reset(token)


#: The helper threads of :func:`run_all`: (the process that made them, the pool). Kept for
#: the life of the process, so a decode does not start and join threads each time.
_helpers: tuple[int, ThreadPoolExecutor] | None = None
_helpers_lock = threading.Lock()


def _forked() -> None:
    """In a child of ``os.fork``: a fresh lock (another thread may have held the parent's at
    the fork, and it would never be released here) and no helpers (the parent's threads are
    not in the child)."""
    global _helpers, _helpers_lock  # noqa: PLW0603
    _helpers, _helpers_lock = None, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forked)


def helpers() -> ThreadPoolExecutor:
    """The process's helper threads (one fewer than its CPUs, at least one; started as needed).

    Made again in a child of ``os.fork``, where the parent's threads do not exist.
    """
    global _helpers  # noqa: PLW0603
    with _helpers_lock:
        if _helpers is None or _helpers[0] != os.getpid():
            pool = ThreadPoolExecutor(max(1, available_cpus() - 1), thread_name_prefix="kmz-helper")
            _helpers = (os.getpid(), pool)
        return _helpers[1]


def run_all(jobs: Sequence[Callable[[], T]]) -> list[T]:
    """Every job's result, in order: the last job on this thread, the others on the helper
    threads at the same time (for work that releases the GIL: liblzma, numpy).

    Starting and joining threads for each call cost more than decoding a small image (a
    new ThreadPoolExecutor per call: about 4 ms on a 0.25 MP file whose two halves decode in
    3.6 ms each), hence the helpers that stay. The caller says how many jobs to run at once
    (at most :func:`cpu_budget`). A job the helpers have not started by the time this thread
    is done with its own is run here, so a caller never waits on helpers busy elsewhere
    (other threads decoding at the same time) for work it could do itself.
    """
    if len(jobs) <= 1:
        return [job() for job in jobs]
    pool = helpers()
    futures: list[Future[T]] = []
    try:
        futures.extend(pool.submit(job) for job in jobs[:-1])
    except RuntimeError:  # threads take no new work (the interpreter is exiting): the rest here
        return [*_collect(jobs, futures), *(job() for job in jobs[len(futures) :])]
    try:
        last = jobs[-1]()
    except BaseException:
        for future in futures:  # none is left running on buffers the caller is about to drop
            if not future.cancel():
                future.exception()
        raise
    return [*_collect(jobs, futures), last]


def _collect(jobs: Sequence[Callable[[], T]], futures: list[Future[T]]) -> list[T]:
    """The results of the first jobs, given to helpers as ``futures``: each one a helper has
    not started is taken back and run on this thread."""
    return [job() if future.cancel() else future.result() for job, future in zip(jobs, futures, strict=False)]
