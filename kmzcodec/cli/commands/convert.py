"""``kmz convert``: many files and folders to .kmz, in worker processes, the folders' layout kept."""

from __future__ import annotations

import argparse
import contextlib
import os
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from PIL import Image

from ... import fileio
from .. import arguments
from ..encoding import EncodeOptions, encode_options
from ..reports import Reporter, fmt_float, progress, table
from ..status import EXIT_DATA, EXIT_OK, CliError, UsageError
from ..workers import Job, outcomes, terminate_on_sigterm

SUMMARY = "encode many files and folders to .kmz"
DESCRIPTION = (
    "Encode files, and image files found in folders (recursively; hidden ones skipped), into\n"
    "OUT_DIR, keeping the folders' layout. Files that fail are reported and the others go on;\n"
    "the exit code is 1 if any failed. Outputs that exist are skipped unless --force."
)


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
        help="worker processes (default: the number of CPUs)",
    )
    arguments.value_range_argument(parser)
    arguments.encoding_arguments(parser)
    arguments.auto_arguments(parser)
    arguments.force_argument(parser)


def _readable_suffixes() -> set[str]:
    Image.init()
    readable = {suffix for suffix, name in Image.registered_extensions().items() if name in Image.OPEN}
    return (readable | {".mat"}) - {".kmz"}


def _same_dir(first: Path, second: Path) -> bool:
    try:
        return os.path.samefile(first, second)
    except OSError:
        return False


def _walk(folder: Path, skip: Path) -> Iterator[Path]:
    """Image files under ``folder``, sorted; hidden entries, our temporaries and ``skip`` left out."""
    suffixes = _readable_suffixes()
    for root, dirs, files in os.walk(folder):
        base = Path(root)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not _same_dir(base / d, skip))
        for name in sorted(files):
            if not name.startswith(".") and Path(name).suffix.lower() in suffixes:
                yield base / name


def _plan(paths: Sequence[str], out_dir: Path, options: EncodeOptions) -> tuple[list[Job], list[str]]:
    """Jobs for every input file, and one error line per input that cannot be planned."""
    jobs: list[Job] = []
    errors: list[str] = []
    claimed: dict[Path, Path] = {}
    for given in paths:
        path = Path(given)
        if path.is_dir():
            pairs = [
                (file, out_dir / file.relative_to(path).with_suffix(".kmz")) for file in _walk(path, out_dir)
            ]
        elif path.exists():
            pairs = [(path, out_dir / (path.stem + ".kmz"))]
        else:
            errors.append(f"{path}: no such file or folder")
            continue
        for source, output in pairs:
            if output in claimed:
                errors.append(
                    f"{source}: skipped, its output {output} is already made from {claimed[output]}"
                )
                continue
            claimed[output] = source
            jobs.append(Job(str(source), str(output), options))
    return jobs, errors


def run(args: argparse.Namespace) -> int:
    out_dir = Path(args.out_dir)
    options = encode_options(args)
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"{out_dir}: exists and is not a folder")
    jobs, errors = _plan(args.paths, out_dir, options)
    report = Reporter()
    for line in errors:
        report.error(line)
    if not jobs and errors:
        return EXIT_DATA
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CliError(f"{out_dir}: cannot create folder: {exc.strerror or exc}") from None
    todo = [job for job in jobs if args.force or not Path(job.output).exists()]
    skipped = len(jobs) - len(todo)
    for job in todo:  # create sub-folders up front, in this process only
        Path(job.output).parent.mkdir(parents=True, exist_ok=True)
    workers = max(1, min(args.jobs or os.cpu_count() or 1, len(todo)))
    start = time.perf_counter()
    done = failed = bytes_in = bytes_out = 0
    bar = progress(range(len(todo)), "convert", unit="file") if todo else []
    report.bar = bar if hasattr(bar, "update") else None
    with terminate_on_sigterm(), contextlib.closing(outcomes(todo, workers)) as results:
        for outcome in results:  # closing: an interrupt here also stops the workers at once
            if outcome.data is None:
                failed += 1
                report.error(f"{outcome.source}: {outcome.error}")
            else:
                try:
                    fileio.write_bytes(
                        outcome.output, outcome.data, inputs=[outcome.source], force=args.force
                    )
                except (fileio.OutputExistsError, fileio.SameFileError) as exc:
                    failed += 1
                    report.error(str(exc))
                except OSError as exc:
                    failed += 1
                    report.error(f"{outcome.output}: cannot write: {exc.strerror or exc}")
                else:
                    done += 1
                    bytes_in += outcome.bytes_in
                    bytes_out += len(outcome.data)
            if report.bar is not None:
                report.bar.update(1)
    if report.bar is not None:
        report.bar.close()
    seconds = time.perf_counter() - start
    failed += len(errors)
    summary = {
        "files": str(len(jobs) + len(errors)),
        "converted": str(done),
        "skipped": str(skipped),
        "failed": str(failed),
        "bytes in": f"{bytes_in:,}",
        "bytes out": f"{bytes_out:,}",
        "in/out": fmt_float(bytes_in / bytes_out, 2, "x") if bytes_out else "n/a",
        "time s": f"{seconds:.2f}",
        "workers": str(workers),
    }
    table(list(summary), [list(summary.values())], sys.stdout)
    if skipped:
        print(f"{skipped} existing output(s) kept (use --force to overwrite)")
    return EXIT_DATA if failed else EXIT_OK
