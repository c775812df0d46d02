"""``kmz convert``: many files and folders to .kmz, in worker processes or on a Dask cluster.

The work is kmzcodec.batch's (the same for scripts and notebooks); this module adds the
options, the progress bar, the error lines and the summary table.
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import signal
import sys
import time
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ... import threads
from ...request import EncodeOptions
from .. import arguments
from ..encoding import encode_options
from ..reports import Reporter, interactive, progress, table
from ..signals import signal_handled, terminate_on_sigterm
from ..status import EXIT_DATA, EXIT_OK, CliError, UsageError

SUMMARY = "encode many files and folders to .kmz"
DESCRIPTION = (
    "Encode files, and image files found in folders (recursively; hidden ones skipped), into\n"
    "OUT_DIR, keeping the folders' layout. Files that fail are reported and the others go on;\n"
    "the exit code is 1 if any failed. Outputs that exist are skipped unless --force.\n"
    "With --scheduler the files are converted on a Dask cluster whose workers see the same\n"
    "paths (a shared file system); outputs are the same bytes as a local run's."
)

#: The one line a --scheduler without Dask prints.
DASK_MISSING = "--scheduler needs Dask: pip install 'kmzcodec[dask]'"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("paths", nargs="+", metavar="PATH", help="image files and folders")
    parser.add_argument(
        "--out-dir", required=True, metavar="DIR", help="where the .kmz files go (required; created)"
    )
    arguments.colors_argument(parser)
    parser.add_argument(
        "-j",
        "--jobs",
        type=arguments.jobs,
        default=None,
        metavar="N",
        help="worker processes, here or in --scheduler local's cluster (default: the CPUs this "
        "process may use)",
    )
    parser.add_argument(
        "--scheduler",
        default=None,
        metavar="ADDRESS",
        help="run on the Dask cluster at ADDRESS (e.g. tcp://host:8786), or 'local' for a "
        "LocalCluster of -j worker processes (default: off, local worker processes; needs "
        "kmzcodec[dask])",
    )
    arguments.value_range_argument(parser)
    arguments.palette_argument(parser)
    parser.add_argument(
        "--shared-palette",
        action="store_true",
        help="fit one palette of K colours to all inputs (their colour counts merged) and map "
        "every file onto it, e.g. for animation frames (default: off, a palette per file)",
    )
    arguments.encoding_arguments(parser)
    arguments.auto_arguments(parser)
    arguments.force_argument(parser)


@contextlib.contextmanager
def _environment(name: str, value: str) -> Iterator[None]:
    """``name=value`` in this process's environment (inherited by its children) within the block."""
    previous = os.environ.get(name)
    os.environ[name] = value
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop(name, None)
        else:
            os.environ[name] = previous


@contextlib.contextmanager
def dask_client(scheduler: str | None, jobs: int) -> Iterator[Any]:
    """None without --scheduler; else a Client of the cluster at the address, or of a new
    LocalCluster of ``jobs`` single-threaded worker processes (closed afterwards)."""
    if scheduler is None:
        yield None
        return
    from distributed import Client, LocalCluster

    if scheduler == "local":
        # The workers' own log lines (a cancelled task, a heartbeat cut short at the end of an
        # interrupted run) are not for kmz's user: one line per failed file is. Set for the
        # cluster's life: a worker that dies is restarted, with the same environment.
        with _environment("DASK_LOGGING__DISTRIBUTED", "critical"):
            # Worker processes started here inherit an ignored SIGINT: Ctrl-C reaches the whole
            # process group, and only this process should act on it (not print a traceback each).
            with warnings.catch_warnings(), signal_handled(signal.SIGINT, signal.SIG_IGN):
                # The scheduler's HTTP routes move if 8787 is taken: no news to a user.
                warnings.filterwarnings("ignore", message="Port .* is already in use", category=UserWarning)
                cluster = LocalCluster(
                    n_workers=jobs, threads_per_worker=1, processes=True, dashboard_address=None
                )
            with cluster, Client(cluster) as client:
                yield client
        return
    try:
        client = Client(scheduler, timeout="20s")
    except OSError as exc:
        raise CliError(f"cannot reach the Dask scheduler at {scheduler}: {exc}") from None
    except ValueError as exc:  # not an address Dask can parse ("node0", "tcp://node0"): a traceback before
        raise UsageError(
            f"--scheduler {scheduler!r} is not a Dask scheduler address (tcp://host:port or 'local'): {exc}"
        ) from None
    with client:
        yield client


def run(args: argparse.Namespace) -> int:
    out_dir = Path(args.out_dir)
    options = encode_options(args)
    if args.scheduler is not None:  # before any work: one line naming the extra
        try:
            import distributed  # noqa: F401
        except ImportError:
            raise CliError(DASK_MISSING) from None
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"{out_dir}: exists and is not a folder")
    if args.shared_palette and options.palette is not None:
        raise UsageError("--shared-palette and --palette: give one")
    if args.shared_palette and not isinstance(options.colors, int):
        raise UsageError("--shared-palette needs a number of colours (-k K), not -k auto")
    made = not out_dir.exists()
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CliError(f"{out_dir}: cannot create folder: {exc.strerror or exc}") from None
    try:
        return _convert(args, out_dir, options)
    except CliError:
        if made and not any(out_dir.iterdir()):  # a run that never started leaves nothing behind
            out_dir.rmdir()
        raise


def _convert(args: argparse.Namespace, out_dir: Path, options: EncodeOptions) -> int:
    # Imported here: kmzcodec.batch imports parts of this package, and a Dask worker's first
    # import of kmzcodec.tasks must not loop back through kmzcodec.cli to itself.
    from ... import batch

    report = Reporter()
    summary = batch.Summary()
    jobs = args.jobs or threads.available_cpus()
    start = time.perf_counter()
    flight = batch.Flight()
    # The bar's total costs one more walk of the folders: only for a person at a terminal.
    bar = progress(range(batch.count(args.paths, out_dir)), "convert", unit="file") if interactive() else []
    report.bar = bar if hasattr(bar, "update") else None
    with terminate_on_sigterm(), dask_client(args.scheduler, jobs) as client:
        if args.shared_palette:
            from ...sharing import fit_shared

            shared = fit_shared(args.paths, out_dir, options, client=client, jobs=jobs)
            options = dataclasses.replace(options, palette=shared, colors=len(shared))
        work = batch.plan(args.paths, out_dir, force=args.force, options=options)
        outcomes = batch.run(work, client=client, jobs=jobs, flight=flight)
        with contextlib.closing(outcomes):  # an interrupt here also stops the workers at once
            for outcome in outcomes:
                summary.add(outcome)
                if outcome.status == batch.FAILED:
                    report.error(outcome.message)
                if report.bar is not None:
                    report.bar.update(1)
    if report.bar is not None:
        report.bar.close()
    summary.seconds = time.perf_counter() - start
    summary.workers = flight.workers or 1
    row = summary.row()
    table(list(row), [list(row.values())], sys.stdout)
    if summary.skipped:
        print(f"{summary.skipped} existing output(s) kept (use --force to overwrite)")
    return EXIT_DATA if summary.failed else EXIT_OK
