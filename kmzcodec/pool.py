"""Worker processes for batch work (``kmz convert -j N``, the shared palette's histograms).

Each worker is a ``multiprocessing.Process`` with its own pipe: the parent sends it
one job at a time and gets back a small result (for convert: kmzcodec.batch.convert_file,
which writes its output itself, through kmzcodec.fileio, and returns sizes or the reason it
failed). Each worker holds one job at most, so the jobs in flight never exceed the
workers. The parent holds the Process objects, so stopping is
``kill()`` on each (public API: no executor internals), and a worker that dies
(out of memory) is seen on its sentinel instead of hanging the run.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from multiprocessing.connection import Connection, wait
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from .errors import KmzError

Job = TypeVar("Job")
Result = TypeVar("Result")

#: What a run stops with when a worker process dies under it (killed, out of memory).
DIED = "a worker process died (out of memory?); stopping"

#: Seconds to wait for a worker to leave after its last job (it is killed after that).
JOIN_SECONDS = 5.0


def _serve(connection: Connection, function: Callable[[Job], Result]) -> None:
    """A worker's life: jobs in, ``function(job)`` out, until None or the parent goes away."""
    # Ctrl-C reaches the whole process group; only the parent reacts (and kills the workers).
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    with connection:
        while True:
            try:
                job = connection.recv()
            except (EOFError, OSError):
                return
            if job is None:
                return
            try:
                connection.send(function(job))
            except (BrokenPipeError, OSError):
                return


if TYPE_CHECKING:  # ForkServerContext does not exist on Windows
    Context = multiprocessing.context.ForkServerContext | multiprocessing.context.SpawnContext


def _context() -> Context:
    # Not "fork": forking a process that has threads (tqdm's monitor, BLAS pools) can deadlock.
    if "forkserver" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("forkserver")
    return multiprocessing.get_context("spawn")


class _Worker(Generic[Job]):
    def __init__(self, context: Context, number: int, function: Callable[[Job], object]) -> None:
        self.connection, theirs = context.Pipe()
        self.process = context.Process(
            target=_serve, args=(theirs, function), name=f"kmz-convert-{number}", daemon=True
        )
        self.process.start()
        theirs.close()  # the worker holds its end; ours must not keep it open
        self.job: Job | None = None

    def give(self, job: Job | None) -> None:
        self.job = job
        try:
            self.connection.send(job)
        except OSError:  # BrokenPipeError and kin: the worker is gone
            raise KmzError(DIED, "worker-died") from None


def _stop(workers: Sequence[_Worker[Job]]) -> None:
    """Stop at once: the workers ignore SIGINT and would otherwise finish their current file."""
    for worker in workers:
        with contextlib.suppress(Exception):
            worker.process.kill()
    for worker in workers:
        with contextlib.suppress(Exception):
            worker.process.join(JOIN_SECONDS)
        worker.connection.close()


def _every(item: object) -> bool:
    return True


def _pull(
    queue: Iterator[Any], is_job: Callable[[Any], bool], found: list[Any]
) -> Generator[Any, None, None]:
    """Yield the items up to the next job, which is put in ``found`` (None at the end)."""
    for item in queue:
        if is_job(item):
            found.append(item)
            return
        yield item
    found.append(None)


def outcomes(
    jobs: Iterable[Any],
    count: int,
    function: Callable[[Job], Result],
    is_job: Callable[[Any], bool] = _every,
) -> Generator[Result, None, None]:
    """``function(job)`` for every job as they complete, from up to ``count`` worker processes.

    ``function`` must be importable by name (module-level) and must not raise. Jobs are
    taken from ``jobs`` one at a time, as workers become free; items of ``jobs`` that are
    not jobs (``is_job`` false: results known without work) are yielded as they come.
    A worker is started only when there is a job for it. Closing the generator early
    (an interrupt, an error) kills the workers.
    """
    context = _context()
    workers: list[_Worker[Job]] = []
    queue = iter(jobs)
    found: list[Any] = []
    try:
        for number in range(count):
            yield from _pull(queue, is_job, found)
            job = found.pop()
            if job is None:
                break
            workers.append(_Worker(context, number, function))
            workers[-1].give(job)
        while busy := [worker for worker in workers if worker.job is not None]:
            ready = wait([w.connection for w in busy] + [w.process.sentinel for w in busy])
            for worker in busy:
                try:
                    done = worker.connection in ready or worker.connection.poll()
                    outcome: Result = worker.connection.recv() if done else None  # type: ignore[assignment]
                except (EOFError, OSError):  # gone before or while sending: no result, or half of one
                    raise KmzError(DIED, "worker-died") from None
                if done:
                    worker.job = None  # done: reported before the next job goes out, so the
                    yield outcome  # jobs handed out and not yet reported never exceed the workers
                    yield from _pull(queue, is_job, found)
                    worker.give(found.pop())
                elif worker.process.sentinel in ready:
                    raise KmzError(DIED, "worker-died")
    except BaseException:
        _stop(workers)
        raise
    for worker in workers:  # each was sent None: it leaves on its own
        worker.process.join(JOIN_SECONDS)
    _stop(workers)
