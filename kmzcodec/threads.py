"""How many threads the numpy-side code of one encode may use: its share of the CPUs.

``kmz convert -j N`` (or N Dask workers on one machine) runs N encodes at once; if
each sized its thread pools to every CPU, N x C threads would fight over C CPUs.
So the code that starts threads (:func:`kmzcodec.bands.map_bands`, which the
histogram and the k-means kernels use) asks :func:`cpu_budget`, and whoever runs
several encodes at once sets each one's share with :func:`cpu_share`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from contextvars import ContextVar

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
