"""Converting many files to ``.kmz``: in this process, in worker processes, or on a Dask cluster.

For scripts and notebooks as well as ``kmz convert``::

    from kmzcodec import batch
    summary = batch.convert(["photos/"], "out/", jobs=2, colors=64)
    summary = batch.convert(["photos/"], "out/", client=distributed.Client("tcp://host:8786"))

Every engine runs the same per-file work, :func:`convert_file`: read the input,
encode it, write the output atomically (kmzcodec.fileio: the file appears
complete or not at all) and send back a small :class:`Outcome` (paths, sizes, or
the reason it failed), never the bytes. So the parent only plans and counts; the
workers read and write on a file system they share with it.

Memory stays flat in the number of files: the folders are walked lazily (:func:`plan`),
at most ``window`` tasks are in flight (a new one is submitted as each finishes) and
each outcome is dropped once reported. On Dask (:mod:`kmzcodec.cluster`) a task is a small
group of files: the cluster's cost per task is that of a small file's encode.
A file that fails is reported with its path and reason and the others go on. On Dask
a worker that dies has its tasks re-run elsewhere; a re-run that finds the output
its first attempt wrote (same bytes) counts it as converted.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from . import fileio, palettes
from .cluster import DASK_TASKS_PER_THREAD, dask_workers, on_dask
from .errors import KmzError
from .request import EncodeOptions, encode
from .tasks import CONVERTED, FAILED, SKIPPED, Outcome, Task, convert_file, shared

__all__ = [
    "CONVERTED",
    "FAILED",
    "SKIPPED",
    "Flight",
    "Outcome",
    "Summary",
    "Task",
    "convert",
    "convert_file",
    "count",
    "iter_convert",
    "plan",
    "run",
]


# --------------------------------------------------------------------------- planning


def readable_suffixes() -> set[str]:
    Image.init()
    readable = {suffix for suffix, name in Image.registered_extensions().items() if name in Image.OPEN}
    return (readable | {".mat"}) - {".kmz"}


def _same_dir(first: Path, second: Path) -> bool:
    try:
        return os.path.samefile(first, second)
    except OSError:
        return False


def walk(folder: Path, skip: Path) -> Iterator[Path]:
    """Image files under ``folder``, sorted; hidden entries (our temporaries too) and ``skip`` left out."""
    suffixes = readable_suffixes()
    for root, dirs, files in os.walk(folder):
        base = Path(root)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not _same_dir(base / d, skip))
        for name in sorted(files):
            if not name.startswith(".") and Path(name).suffix.lower() in suffixes:
                yield base / name


Item = Task | Outcome


def _pairs(path: Path, target: Path) -> Iterator[tuple[Path, Path]]:
    """(input, output) for a given path: a file, or the files under a folder."""
    if path.is_dir():
        for file in walk(path, target):
            yield file, target / file.relative_to(path).with_suffix(".kmz")
    else:
        yield path, target / (path.stem + ".kmz")


def path_list(paths: Iterable[str | os.PathLike[str]] | str | os.PathLike[str]) -> list[Any]:
    """The input paths as a list; one path given alone (a str or path object) is a list of
    one, never its characters (``convert("photos/", ...)`` once walked "p", "h", ... and "/")."""
    if isinstance(paths, (str, os.PathLike)):
        return [paths]
    return list(paths)


def count(paths: Iterable[str | os.PathLike[str]], out_dir: str | os.PathLike[str]) -> int:
    """How many outcomes :func:`plan` will give (for a progress bar's total): one more walk."""
    target = Path(out_dir)
    return sum(
        1 if not Path(p).exists() else sum(1 for _ in _pairs(Path(p), target)) for p in path_list(paths)
    )


def plan(
    paths: Iterable[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    force: bool = False,
    options: EncodeOptions | None = None,
) -> Generator[Item, None, None]:
    """A :class:`Task` per input file (folders walked, their layout kept under ``out_dir``),
    or the :class:`Outcome` of a file settled without work, as the walk finds them.

    Outputs that exist are skipped unless ``force``; an input that does not exist, or
    whose output another input already claims, is refused. Output folders are made as
    they are found. Lazy, so memory does not grow with the number of files: two files
    of one walk can only claim the same output from the same folder, so only a folder's
    worth of outputs is remembered (all of them only when several paths are given).
    """
    target = Path(out_dir)
    options = options or EncodeOptions()
    given = [Path(path) for path in path_list(paths)]
    everywhere: dict[str, str] | None = {} if len(given) > 1 else None
    made: Path | None = None  # the output folder of the files seen last
    here: dict[str, str] = {}  # the outputs claimed in it
    for path in given:
        if not path.exists():
            yield Outcome(str(path), "", FAILED, reason="no such file or folder")
            continue
        for source, output in _pairs(path, target):
            name, origin = str(output), str(source)
            if output.parent != made:
                made, here = output.parent, {}
                try:
                    made.mkdir(parents=True, exist_ok=True)  # here, once, not racing in the workers
                except OSError as exc:  # this file fails so; the next ones here fail when written
                    yield Outcome(origin, name, FAILED, reason=f"cannot create folder: {exc}", subject=name)
                    continue
            claimed = everywhere if everywhere is not None else here
            if name in claimed:
                reason = f"skipped, its output {name} is already made from {claimed[name]}"
                yield Outcome(origin, name, FAILED, reason=reason)
                continue
            claimed[name] = origin
            if not force and output.exists():
                yield Outcome(origin, name, SKIPPED)
                continue
            yield Task(origin, name, options, force)


def options_from(encode_options: dict[str, Any]) -> EncodeOptions:
    """:class:`EncodeOptions` from keyword arguments, checked once before any file is read."""
    known = {f.name for f in fields(EncodeOptions)}
    unknown = sorted(set(encode_options) - known)
    if unknown:
        raise KmzError(f"unknown encode option(s): {', '.join(unknown)}", "bad-option")
    if encode_options.get("palette") is not None:  # a path, an array, ...: read it once, here
        encode_options = {**encode_options, "palette": palettes.as_palette(encode_options["palette"])}
    options = EncodeOptions(**encode_options)
    try:  # one pixel: the encoder's own checks of the options, before thousands of files fail alike
        encode(np.zeros((1, 1, 3), np.uint8), options)
    except KmzError as exc:
        if exc.reason == "bad-option":
            raise
    return options


# --------------------------------------------------------------------------- engines


@dataclass
class Flight:
    """Counts of tasks handed to an engine and not yet reported (instrumentation for tests)."""

    in_flight: int = 0
    peak: int = 0
    #: Local worker processes, or the Dask cluster's threads, when the run started.
    workers: int = 0

    def submitted(self) -> None:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)

    def reported(self) -> None:
        self.in_flight -= 1


def _local(items: Iterable[Item], workers: int, flight: Flight) -> Generator[Outcome, None, None]:
    live: set[str] = set()  # outputs being written now

    def queue() -> Iterator[Item]:
        for item in items:
            if isinstance(item, Task):
                flight.submitted()
                live.add(item.output)
                yield shared(item, workers)
            else:
                yield item

    try:
        if workers == 1:
            for item in queue():
                outcome = convert_file(item) if isinstance(item, Task) else item
                if isinstance(item, Task):
                    live.discard(outcome.output)
                    flight.reported()
                yield outcome
            return
        from .pool import outcomes  # the process pool: one task per worker in flight

        results = outcomes(queue(), workers, convert_file, is_job=lambda item: isinstance(item, Task))
        with contextlib.closing(results):  # an interrupt here also stops the workers at once
            for outcome in results:
                if outcome.output in live:
                    live.discard(outcome.output)
                    flight.reported()
                yield outcome
    finally:
        flight.workers = max(1, flight.peak)  # the processes that were started
        if workers > 1:  # in this process, atomic_write's own cleanup has run
            _sweep(live)


def _sweep(outputs: Iterable[str]) -> None:
    """Remove the named temporaries that killed workers may leave beside ``outputs``.

    Only fileio's fallback path has such names (on Linux, O_TMPFILE leaves nothing).
    """
    for folder in {Path(output).parent for output in outputs}:
        with contextlib.suppress(OSError):
            for entry in folder.iterdir():
                if fileio.is_temp_name(entry.name):
                    with contextlib.suppress(OSError):
                        entry.unlink()


def run(
    items: Iterable[Item],
    *,
    client: Any = None,
    jobs: int = 1,
    window: int | None = None,
    flight: Flight | None = None,
) -> Generator[Outcome, None, None]:
    """Outcomes of ``items`` (from :func:`plan`) as they complete: tasks run locally on up to
    ``jobs`` processes or on ``client``'s cluster; outcomes already settled pass through."""
    flight = flight or Flight()
    if client is not None:
        flight.workers, per_host = dask_workers(client)
        size = window or DASK_TASKS_PER_THREAD * max(1, flight.workers)
        return on_dask(client, items, max(1, size), per_host, flight)
    return _local(items, max(1, min(jobs, window or jobs)), flight)


# --------------------------------------------------------------------------- summary


@dataclass
class Summary:
    """Counts of a finished (or stopped) batch."""

    files: int = 0
    converted: int = 0
    skipped: int = 0
    failed: int = 0
    bytes_in: int = 0
    bytes_out: int = 0
    seconds: float = 0.0
    workers: int = 1
    peak_in_flight: int = 0
    failures: list[tuple[str, str]] = field(default_factory=list)

    def add(self, outcome: Outcome) -> None:
        self.files += 1
        if outcome.status == CONVERTED:
            self.converted += 1
            self.bytes_in += outcome.bytes_in
            self.bytes_out += outcome.bytes_out
        elif outcome.status == SKIPPED:
            self.skipped += 1
        else:
            self.failed += 1
            self.failures.append((outcome.subject or outcome.source, outcome.reason or ""))

    @property
    def ratio(self) -> float | None:
        """Bytes in over bytes out of the converted files."""
        return self.bytes_in / self.bytes_out if self.bytes_out else None

    def row(self) -> dict[str, str]:
        """The summary table's columns, as text."""
        return {
            "files": str(self.files),
            "converted": str(self.converted),
            "skipped": str(self.skipped),
            "failed": str(self.failed),
            "bytes in": f"{self.bytes_in:,}",
            "bytes out": f"{self.bytes_out:,}",
            "in/out": f"{self.ratio:.2f}x" if self.ratio is not None else "n/a",
            "time s": f"{self.seconds:.2f}",
            "workers": str(self.workers),
        }

    def __str__(self) -> str:
        row = self.row()
        widths = [max(len(k), len(v)) for k, v in row.items()]
        return "\n".join(
            "  ".join(cell.rjust(w) for cell, w in zip(cells, widths, strict=True))
            for cells in (list(row), list(row.values()))
        )


def iter_convert(
    paths: Iterable[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    client: Any = None,
    jobs: int = 1,
    window: int | None = None,
    force: bool = False,
    flight: Flight | None = None,
    shared: bool = False,
    **encode_options: Any,
) -> Generator[Outcome, None, None]:
    """Every file's :class:`Outcome`, as they are settled or complete.

    Arguments as :func:`convert`'s; ``flight`` counts the tasks in flight. Options are
    checked (and a shared palette fitted) at the first ``next``, before any file.
    """
    paths = path_list(paths)
    if shared:
        encode_options = _with_shared(paths, out_dir, client, jobs, window, encode_options)
    options = options_from(encode_options)
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    yield from run(
        plan(paths, out_dir, force=force, options=options),
        client=client,
        jobs=jobs,
        window=window,
        flight=flight,
    )


def _with_shared(
    paths: list[Any], out_dir: Any, client: Any, jobs: int, window: int | None, encode_options: dict[str, Any]
) -> dict[str, Any]:
    if encode_options.get("palette") is not None:
        raise KmzError("give a palette or ask for a shared one, not both", "bad-option")
    from .sharing import shared_palette  # it builds on this module's planning and engines

    palette = shared_palette(paths, out_dir, client=client, jobs=jobs, window=window, **encode_options)
    return {**encode_options, "palette": palette, "colors": len(palette)}


def _bar(total: int) -> Any:
    """A tqdm bar (files/s, ETA) for notebooks and terminals, or None without tqdm."""
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm(total=total, desc="convert", unit="file")


def convert(
    paths: Iterable[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    client: Any = None,
    jobs: int = 1,
    window: int | None = None,
    force: bool = False,
    progress: bool | Callable[[Outcome], object] | None = None,
    shared: bool = False,
    **encode_options: Any,
) -> Summary:
    """Convert files and folders (walked, their layout kept) into ``out_dir``.

    ``jobs`` worker processes here, or with a ``distributed.Client`` as ``client`` the
    workers of its cluster, which must see ``paths`` and ``out_dir`` at the same names.
    At most ``window`` tasks are in flight (default: ``jobs``; on Dask two per worker
    thread, each task a small group of files). Outputs that exist are skipped unless
    ``force``. ``progress``: True for a tqdm bar, or a function called with each file's
    :class:`Outcome`. ``encode_options`` are :class:`EncodeOptions` fields: ``colors``,
    ``method``, ``colorspace``, ``dither``, ``compression``, ``level``, ``seed``, ``resize``,
    ``palette`` (a palette to map every file onto), ... With ``shared``, one palette of
    ``colors`` entries is fitted to all inputs first (:func:`kmzcodec.sharing.shared_palette`) and every file
    is mapped onto it.
    """
    start = time.perf_counter()
    paths = path_list(paths)
    summary = Summary()
    flight = Flight()
    outcomes = iter_convert(
        paths, out_dir, client=client, jobs=jobs, window=window, force=force, flight=flight, shared=shared,
        **encode_options,
    )  # fmt: skip
    bar = _bar(count(paths, out_dir)) if progress is True else None
    try:
        with contextlib.closing(outcomes):  # an interrupt here also stops the workers at once
            for outcome in outcomes:
                summary.add(outcome)
                if bar is not None:
                    bar.update(1)
                elif callable(progress):
                    progress(outcome)
    finally:
        if bar is not None:
            bar.close()
    summary.seconds = time.perf_counter() - start
    summary.workers = flight.workers or 1
    summary.peak_in_flight = flight.peak
    return summary
