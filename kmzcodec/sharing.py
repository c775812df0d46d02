"""One palette for every file a batch converts: map (count colours), reduce (merge), fit once.

Each file's colours are counted where it is read (:func:`kmzcodec.tasks.count_colors`
in a worker process or a Dask task); only the counts travel back, merged as they
arrive (:meth:`kmzcodec.histogram.ColorCounts.merge`, exact integer sums), and the
palette is clustered once (:func:`kmzcodec.palettes.fit`). So it is the same
whichever engine counted and in whatever order the counts came.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterable, Iterator
from typing import Any

from . import palettes
from .batch import options_from, plan
from .cluster import DASK_TASKS_PER_THREAD, dask_workers
from .errors import KmzError
from .histogram import ColorCounts
from .request import EncodeOptions
from .tasks import Outcome, Task, count_colors, shared


def _counts(
    tasks: Iterable[Task], *, client: Any, jobs: int, window: int | None
) -> Iterator[ColorCounts | Outcome]:
    """count_colors of every task, in completion order, at most ``window`` in flight."""
    if client is not None:
        from distributed import as_completed

        threads_total, per_host = dask_workers(client)
        size = max(1, window or DASK_TASKS_PER_THREAD * max(1, threads_total))
        queue = iter(tasks)
        pending = as_completed()
        live: list[Any] = []
        try:
            for task in queue:
                live.append(client.submit(count_colors, shared(task, per_host), pure=False))
                pending.add(live[-1])
                if len(live) >= size:
                    break
            for future in pending:
                live.remove(future)
                yield future.result()
                future.release()
                following = next(queue, None)
                if following is not None:
                    live.append(client.submit(count_colors, shared(following, per_host), pure=False))
                    pending.add(live[-1])
        finally:
            if live:
                client.cancel(live)
        return
    workers = max(1, min(jobs, window or jobs))
    if workers == 1:
        yield from (count_colors(task) for task in tasks)
        return
    from .pool import outcomes

    results = outcomes((shared(task, workers) for task in tasks), workers, count_colors)
    with contextlib.closing(results):
        yield from results


def shared_palette(
    paths: Iterable[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    *,
    client: Any = None,
    jobs: int = 1,
    window: int | None = None,
    **encode_options: Any,
) -> palettes.Palette:
    """One palette for every input :func:`convert` would read (map, reduce, fit once).

    Each file's colours are counted where it is read (a worker, a Dask task): only
    the counts travel back, and they are merged as they arrive. Counts add up
    exactly, so the palette is the same on every engine and in any order. Files
    that cannot be read are left out here and reported by the conversion.
    """
    options = options_from({key: value for key, value in encode_options.items() if key != "palette"})
    return fit_shared(paths, out_dir, options, client=client, jobs=jobs, window=window)


def fit_shared(
    paths: Iterable[str | os.PathLike[str]],
    out_dir: str | os.PathLike[str],
    options: EncodeOptions,
    *,
    client: Any = None,
    jobs: int = 1,
    window: int | None = None,
) -> palettes.Palette:
    """:func:`shared_palette` for options already checked (``kmz convert --shared-palette``)."""
    if not isinstance(options.colors, int):
        raise KmzError("a shared palette needs a number of colours, not colors='auto'", "bad-option")
    tasks = (item for item in plan(paths, out_dir, force=True, options=options) if isinstance(item, Task))
    merged: ColorCounts | None = None
    for result in _counts(tasks, client=client, jobs=jobs, window=window):
        if isinstance(result, ColorCounts):
            merged = result if merged is None else ColorCounts.merge([merged, result])
    if merged is None:
        raise KmzError("no readable input to fit a shared palette on", "bad-input")
    return palettes.fit(
        merged, options.colors, method=options.method, colorspace=options.colorspace, seed=options.seed
    )
