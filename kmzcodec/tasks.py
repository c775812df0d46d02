"""One file's conversion, as every engine of :mod:`kmzcodec.batch` runs it.

Read the input, encode it, write the output atomically (kmzcodec.fileio), and return
a small :class:`Outcome`: paths and sizes, or the reason it failed; never the bytes.
Worker processes and Dask workers import :func:`convert_file` by name.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from . import fileio, palettes, threads
from .errors import KmzError
from .histogram import ColorCounts
from .request import EncodeOptions, encode, prepare

T = TypeVar("T")

#: Outcome statuses.
CONVERTED, SKIPPED, FAILED = "converted", "skipped", "failed"


@dataclass(frozen=True)
class Task:
    """One file to convert: all a worker needs (small and picklable)."""

    source: str
    output: str
    options: EncodeOptions
    force: bool = False
    #: Encodes running at once on the CPUs of the process that runs this one (its
    #: share of threads is available CPUs / sharers; see kmzcodec.threads).
    sharers: int = 1


@dataclass(frozen=True)
class Outcome:
    """What became of one file; ``subject`` is the path ``reason`` is about."""

    source: str
    output: str
    status: str
    bytes_in: int = 0
    bytes_out: int = 0
    reason: str | None = None
    subject: str | None = None

    @property
    def message(self) -> str:
        """One line for people: ``path: reason``."""
        return f"{self.subject or self.source}: {self.reason}"


def shared(task: Task, sharers: int) -> Task:
    """``task`` run beside ``sharers - 1`` others on its process's CPUs (its thread share)."""
    return Task(task.source, task.output, task.options, task.force, sharers)


def failed(task: Task, reason: str, subject: str | None = None) -> Outcome:
    """The outcome of a task that failed for ``reason`` (about ``subject``: its source by default)."""
    return Outcome(task.source, task.output, FAILED, reason=reason, subject=subject or task.source)


def _threads_in_this_process() -> int:
    """Tasks this process runs at once: a Dask worker's thread count, else 1."""
    if "distributed" not in sys.modules:  # never import Dask just to ask
        return 1
    from distributed import get_worker

    try:
        return max(1, get_worker().state.nthreads)
    except ValueError:  # not in a Dask worker
        return 1


def _guarded(task: Task, work: Callable[[Path], T]) -> T | Outcome:
    """``work(source path)``, with every failure on this file turned into its Outcome."""
    path = Path(task.source)
    try:
        return work(path)
    except KmzError as exc:
        return failed(task, str(exc).removeprefix(f"{path}: "))
    except MemoryError:
        return failed(task, "out of memory")
    except OSError as exc:
        return failed(task, f"cannot read: {exc.strerror or exc}")
    except Exception as exc:  # a bug, or a library failure on this file: report it, go on
        return failed(task, f"{type(exc).__name__}: {exc}")


def _encode(task: Task) -> tuple[bytes, int] | Outcome:
    def work(path: Path) -> tuple[bytes, int]:
        size = path.stat().st_size
        return encode(prepare(path, task.options), task.options).data, size

    return _guarded(task, work)


def _holds(path: str, data: bytes) -> bool:
    try:
        return Path(path).read_bytes() == data
    except OSError:
        return False


def convert_file(task: Task) -> Outcome:
    """Read, encode and write one file; every failure becomes an Outcome (never raises).

    Module-level and built from picklable parts, so worker processes ("spawn",
    "forkserver") and Dask workers import and call it by name.
    """
    with threads.cpu_share(task.sharers * _threads_in_this_process()):
        encoded = _encode(task)
    if isinstance(encoded, Outcome):
        return encoded
    data, size = encoded
    try:
        fileio.write_bytes(task.output, data, inputs=[task.source], force=task.force)
    except fileio.OutputExistsError as exc:
        # A re-run of a task whose worker died after writing finds its own output: same bytes.
        if not _holds(task.output, data):
            return failed(task, str(exc).removeprefix(f"{task.output}: "), task.output)
    except fileio.SameFileError as exc:
        return failed(task, str(exc).removeprefix(f"{task.output}: "), task.output)
    except OSError as exc:
        return failed(task, f"cannot write: {exc.strerror or exc}", task.output)
    return Outcome(task.source, task.output, CONVERTED, size, len(data))


def convert_files(tasks: list[Task]) -> list[Outcome]:
    """:func:`convert_file` for each of a few tasks: one Dask task for a group of files.

    A re-run of the group (its worker died) finds the outputs its first attempt wrote and,
    as for one file, counts them converted when they hold the same bytes.
    """
    return [convert_file(task) for task in tasks]


def count_colors(task: Task) -> ColorCounts | Outcome:
    """One input's colour counts, for a palette shared by every file (the map step).

    Read as :func:`convert_file` reads it; a failure is an Outcome (never raises).
    """
    with threads.cpu_share(task.sharers * _threads_in_this_process()):
        return _guarded(task, lambda path: palettes.color_counts(prepare(path, task.options)))
