"""How many threads the numpy-side code of one encode may use: its share of the CPUs.

``kmz convert -j N`` (or N Dask workers on one machine) runs N encodes at once; if
each sized its thread pools to every CPU, N x C threads would fight over C CPUs.
So the code that shares work out (:func:`run_all`, and :func:`kmzcodec.bands.map_bands`
on it, which the histogram and the k-means kernels use) asks :func:`cpu_budget`, and
whoever runs several encodes at once sets each one's share with :func:`cpu_share`.
:func:`run_all`'s helper threads stay for the life of the process (a decode is too short
to start threads each time).
"""

from __future__ import annotations

import contextlib
import contextvars
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


def run_all(jobs: Sequence[Callable[[], T]], workers: int | None = None) -> list[T]:
    """Every job's result, in order, run on up to ``workers`` threads at once (default: this
    encode's :func:`cpu_budget`): this thread and the process's helper threads, which take
    the jobs one at a time, in order, until none is left. For work that releases the GIL
    (numpy, liblzma, zlib); the results never depend on how many threads took part.

    The helpers stay for the life of the process: a new ThreadPoolExecutor per call cost
    more than decoding a small image (about 4 ms on a 0.25 MP file whose two halves decode
    in 3.6 ms each). This thread takes jobs too, and a helper that starts late (busy
    elsewhere: other threads encoding or decoding at once, or a call from inside a job)
    finds fewer or none left, so a caller never waits on busy helpers for work it could do
    itself, and calls inside jobs cannot deadlock. Helpers run in a copy of the caller's
    context (its CPU budget). When a job raises, no new job is started, the jobs running
    finish, and the error of the first failing job in order is raised (every job before it
    was taken, so that is the same error however the jobs were shared).
    """
    count = min(len(jobs), workers or cpu_budget())
    if count <= 1:
        return [job() for job in jobs]
    results: list[T | None] = [None] * len(jobs)
    failures: dict[int, BaseException] = {}
    lock = threading.Lock()
    taken = 0

    def drain() -> None:
        nonlocal taken
        while True:
            with lock:
                if failures or taken == len(jobs):
                    return
                at = taken
                taken += 1
            try:
                results[at] = jobs[at]()
            except BaseException as error:  # noqa: BLE001 - raised by the caller, below
                with lock:
                    failures[at] = error
                return

    futures: list[Future[None]] = []
    with contextlib.suppress(RuntimeError):  # helpers take no new work (interpreter exit): all here
        for _ in range(count - 1):
            futures.append(helpers().submit(contextvars.copy_context().run, drain))
    drain()
    for future in futures:
        if not future.cancel():  # a helper that never started is simply dropped
            future.result()
    if failures:
        raise failures[min(failures)]
    return results  # type: ignore[return-value]
