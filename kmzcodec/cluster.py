"""Batch tasks on a Dask cluster (:func:`kmzcodec.batch.run` with a ``client``).

The same per-file work as the local engines (:func:`kmzcodec.tasks.convert_file`), sent as
Dask tasks of a few files each: a Dask task costs the cluster milliseconds of scheduling
and messages, as much as a small file's encode, so files travel in groups that shrink as
the run ends (:func:`group_size`). At most ``window`` tasks are in flight; outcomes come
back as they complete, per file; a group whose workers died too often fails file by file.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable, Iterator
from typing import Any, Protocol

from .tasks import Outcome, Task, convert_files, failed, shared

#: Tasks in flight per Dask worker thread: one running, one queued beside it, so no thread
#: waits for the client's next submission.
DASK_TASKS_PER_THREAD = 2
#: Files per Dask task while the run is far from its end (see :func:`group_size`).
DASK_FILES_PER_TASK = 4
#: Tasks read ahead of submission: enough to see the end of the run coming.
DASK_LOOKAHEAD = 64


class Counter(Protocol):
    """What the engine reports to: a task handed out, a task's outcomes reported."""

    def submitted(self) -> None: ...

    def reported(self) -> None: ...


def dask_workers(client: Any) -> tuple[int, int]:
    """(threads in the cluster, most worker processes on one host) as the scheduler sees them."""
    try:  # newer versions list only a few workers unless asked for all
        workers = client.scheduler_info(n_workers=-1)["workers"]
    except TypeError:
        workers = client.scheduler_info()["workers"]
    per_host: dict[str, int] = {}
    for info in workers.values():
        per_host[info["host"]] = per_host.get(info["host"], 0) + 1
    return sum(info["nthreads"] for info in workers.values()), max(per_host.values(), default=1)


def on_dask(
    client: Any, items: Iterable[Task | Outcome], window: int, per_host: int, flight: Counter
) -> Generator[Outcome, None, None]:
    from distributed import as_completed

    queue = iter(items)
    ahead: list[Task] = []  # tasks read ahead of submission, to size the groups
    exhausted = False
    live: dict[Any, list[Task]] = {}
    pending = as_completed()

    def read_ahead() -> Iterator[Outcome]:
        """Fill ``ahead`` to DASK_LOOKAHEAD tasks; yield what needs no work on the way."""
        nonlocal exhausted
        while not exhausted and len(ahead) < DASK_LOOKAHEAD:
            item = next(queue, None)
            if item is None:
                exhausted = True
            elif isinstance(item, Outcome):
                yield item
            else:
                ahead.append(item)

    def fill() -> Iterator[Outcome]:
        """Submit groups of tasks until ``window`` are in flight."""
        while len(live) < window:
            yield from read_ahead()
            if not ahead:
                return
            group = ahead[: group_size(len(ahead), exhausted, window)]
            del ahead[: len(group)]
            future = client.submit(convert_files, [shared(t, per_host) for t in group], pure=False)
            live[future] = group
            flight.submitted()
            pending.add(future)

    try:
        yield from fill()
        for future in pending:
            group = live.pop(future)
            if future.status == "finished":
                outcomes = future.result()
            elif future.status == "error":  # e.g. KilledWorker: the task's workers died too often
                error = future.exception()
                outcomes = [failed(task, f"{type(error).__name__}: {error}") for task in group]
            else:  # cancelled from elsewhere (another client, the scheduler's restart)
                outcomes = [failed(task, f"task {future.status} on the cluster") for task in group]
            future.release()  # the scheduler forgets it; so do we (del below)
            del future
            flight.reported()
            yield from fill()
            yield from outcomes
    finally:  # an interrupt or an early close: what is queued never starts
        if live:
            client.cancel(list(live))
            live.clear()


def group_size(ahead: int, last: bool, window: int) -> int:
    """Files in the next Dask task: up to DASK_FILES_PER_TASK while more are coming (each task
    costs the cluster milliseconds of scheduling and messages, as much as a small file's
    encode); fewer as the run ends (``last``: only the ``ahead`` files remain), so the
    workers finish together instead of one waiting for another's last group."""
    if not last:
        return DASK_FILES_PER_TASK
    return max(1, min(DASK_FILES_PER_TASK, ahead // max(1, window)))
