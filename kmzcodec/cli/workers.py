"""``convert``'s worker processes and signals.

Each worker is a ``multiprocessing.Process`` with its own pipe: the parent sends it
one job at a time and gets back the encoded bytes (the parent alone writes files,
through kmzcodec.fileio). The parent holds the Process objects, so stopping is
``kill()`` on each (public API: no executor internals), and a worker that dies
(out of memory) is seen on its sentinel instead of hanging the run.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import signal
from collections.abc import Generator, Iterator, Sequence
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import KmzError
from .encoding import EncodeOptions, encode
from .inputs import prepare
from .status import CliError, Terminated

#: Seconds to wait for a worker to leave after its last job (it is killed after that).
JOIN_SECONDS = 5.0


@dataclass(frozen=True)
class Job:
    source: str
    output: str
    options: EncodeOptions


@dataclass(frozen=True)
class Outcome:
    """What a worker sends back: the encoded bytes, or one line saying why not."""

    source: str
    output: str
    data: bytes | None
    bytes_in: int
    error: str | None = None


def convert_one(job: Job) -> Outcome:
    """Read and encode one file (in a worker process, or in this one for -j 1).

    Module-level and built from picklable parts, so "spawn" and "forkserver"
    workers can import and call it. Any failure becomes an Outcome: one bad file
    never stops the others.
    """
    path = Path(job.source)
    try:
        size = path.stat().st_size
        image = prepare(path, job.options)
        data = encode(image, job.options).data
    except (CliError, KmzError) as exc:
        return Outcome(job.source, job.output, None, 0, str(exc).removeprefix(f"{path}: "))
    except MemoryError:
        return Outcome(job.source, job.output, None, 0, "out of memory")
    except OSError as exc:
        return Outcome(job.source, job.output, None, 0, f"cannot read: {exc.strerror or exc}")
    except Exception as exc:  # a bug, or a library failure on this file: report it, go on
        return Outcome(job.source, job.output, None, 0, f"{type(exc).__name__}: {exc}")
    return Outcome(job.source, job.output, data, size)


def _serve(connection: Connection) -> None:
    """A worker's life: jobs in, outcomes out, until None or the parent goes away."""
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
                connection.send(convert_one(job))
            except (BrokenPipeError, OSError):
                return


if TYPE_CHECKING:  # ForkServerContext does not exist on Windows
    Context = multiprocessing.context.ForkServerContext | multiprocessing.context.SpawnContext


def _context() -> Context:
    # Not "fork": forking a process that has threads (tqdm's monitor, BLAS pools) can deadlock.
    if "forkserver" in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("forkserver")
    return multiprocessing.get_context("spawn")


class _Worker:
    def __init__(self, context: Context, number: int) -> None:
        self.connection, theirs = context.Pipe()
        self.process = context.Process(
            target=_serve, args=(theirs,), name=f"kmz-convert-{number}", daemon=True
        )
        self.process.start()
        theirs.close()  # the worker holds its end; ours must not keep it open
        self.job: Job | None = None

    def give(self, job: Job | None) -> None:
        self.job = job
        try:
            self.connection.send(job)
        except OSError:  # BrokenPipeError and kin: the worker is gone
            raise CliError("a worker process died (out of memory?); stopping") from None


def _stop(workers: Sequence[_Worker]) -> None:
    """Stop at once: the workers ignore SIGINT and would otherwise finish their current file."""
    for worker in workers:
        with contextlib.suppress(Exception):
            worker.process.kill()
    for worker in workers:
        with contextlib.suppress(Exception):
            worker.process.join(JOIN_SECONDS)
        worker.connection.close()


def outcomes(jobs: Sequence[Job], count: int) -> Generator[Outcome, None, None]:
    """Outcomes as they complete: in this process for one worker, else from ``count`` workers.

    Closing the generator early (an interrupt, an error) kills the workers.
    """
    if count == 1:
        for job in jobs:
            yield convert_one(job)
        return
    context = _context()
    workers: list[_Worker] = []
    try:
        workers = [_Worker(context, number) for number in range(count)]
        queue = iter(jobs)
        for worker in workers:
            worker.give(next(queue, None))
        while busy := [worker for worker in workers if worker.job is not None]:
            ready = wait([w.connection for w in busy] + [w.process.sentinel for w in busy])
            for worker in busy:
                if worker.connection in ready or worker.connection.poll():
                    try:
                        outcome = worker.connection.recv()
                    except EOFError:
                        raise CliError("a worker process died (out of memory?); stopping") from None
                    worker.give(next(queue, None))
                    yield outcome
                elif worker.process.sentinel in ready:
                    raise CliError("a worker process died (out of memory?); stopping")
    except BaseException:
        _stop(workers)
        raise
    for worker in workers:  # each was sent None: it leaves on its own
        worker.process.join(JOIN_SECONDS)
    _stop(workers)


@contextlib.contextmanager
def terminate_on_sigterm() -> Iterator[None]:
    """Turn SIGTERM into an exception, so the usual unwinding stops workers and cleans up."""

    def handler(signum: int, frame: object) -> None:
        raise Terminated()

    try:
        previous = signal.signal(signal.SIGTERM, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)
