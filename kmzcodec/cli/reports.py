"""What the commands print: numbers, tables, JSON, progress bars, and hints about extras."""

from __future__ import annotations

import json
import math
import sys
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TextIO

from .. import explore, metrics
from ..explore import Trial
from .status import PROG, note

#: Shown for a value that was not measured (SSIM without scikit-image).
NOT_MEASURED = "\u2014"
#: The one line a table with an unmeasured SSIM column adds on stderr.
SSIM_HINT = f"SSIM ({NOT_MEASURED}) needs scikit-image: pip install 'kmzcodec[metrics]'"
#: The column of SSIMULACRA2, scored on a centre crop because it is slow (metrics.SSIMULACRA2_CROP).
SSIMULACRA2_HEADER = f"SSIMULACRA2 ({metrics.SSIMULACRA2_CROP}x{metrics.SSIMULACRA2_CROP} centre)"

TRIAL_HEADERS = ("K", "bytes", "ratio", "bits/px", "PSNR dB", "SSIM", SSIMULACRA2_HEADER, "encode s")


def metrics_hint(ssim_missing: bool, ssimulacra2_missing: bool) -> str | None:
    """The one stderr line for unmeasured columns: which metric needs which package, and the extra."""
    needs = [("SSIM", "scikit-image")] if ssim_missing else []
    needs += [("SSIMULACRA2", "the ssimulacra2 package")] if ssimulacra2_missing else []
    if not needs:
        return None
    if len(needs) == 1:
        return f"{needs[0][0]} ({NOT_MEASURED}) needs {needs[0][1]}: pip install 'kmzcodec[metrics]'"
    return (
        f"SSIM and SSIMULACRA2 ({NOT_MEASURED}) need scikit-image and the ssimulacra2 package: "
        "pip install 'kmzcodec[metrics]'"
    )


def _not_measured() -> str:
    # An em dash, or "-" on a terminal whose encoding has none (print would fail).
    encoding = getattr(sys.stdout, "encoding", None)
    if encoding is None:  # a StringIO: holds any text
        return NOT_MEASURED
    try:
        NOT_MEASURED.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return "-"
    return NOT_MEASURED


def fmt_float(value: float | None, digits: int, unit: str = "") -> str:
    """A number for people: ``None`` (not measured) as a dash, nan (undefined) as n/a."""
    if value is None:
        return _not_measured()
    if math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.{digits}f}{unit}"


def relative(ratio: float, digits: int = 1) -> str:
    """A compression ratio in words: "12.8x smaller", or "3.5x larger" for tiny images."""
    if ratio >= 1 or ratio <= 0:
        return f"{fmt_float(ratio, digits, 'x')} smaller"
    return f"{fmt_float(1 / ratio, digits, 'x')} larger"


def table(headers: Sequence[str], rows: Iterable[Sequence[str]], out: TextIO) -> None:
    """Right-aligned columns, first column left-aligned."""
    lines = [list(headers)] + [list(row) for row in rows]
    widths = [max(len(line[i]) for line in lines) for i in range(len(headers))]
    for line in lines:
        cells = [cell.ljust(widths[0]) if i == 0 else cell.rjust(widths[i]) for i, cell in enumerate(line)]
        print("  ".join(cells).rstrip(), file=out)


def _trial_rows(trials: Sequence[Trial], elbow: int | None = None) -> Iterator[list[str]]:
    for trial in trials:
        c = trial.comparison
        yield [
            str(trial.k) if trial.colors == trial.k else f"{trial.k} ({trial.colors} used)",
            f"{c.bytes:,}",
            fmt_float(c.ratio, 1, "x"),
            fmt_float(c.bits_per_pixel, 3),
            fmt_float(c.psnr, 2),
            fmt_float(c.ssim, 4),
            fmt_float(c.ssimulacra2, 2),
            fmt_float(trial.seconds, 2),
        ] + (["<- elbow" if trial.k == elbow else ""] if elbow is not None else [])


def print_trials(source: str, trials: Sequence[Trial], elbow: int | None = None) -> None:
    first = trials[0].comparison
    print(f"{source}: {first.width}x{first.height}, {first.channels} channels, raw {first.raw_bytes:,} bytes")
    headers = TRIAL_HEADERS + (("",) if elbow is not None else ())
    table(headers, _trial_rows(trials, elbow), sys.stdout)


def trials_json(source: str, trials: Sequence[Trial], **extra: object) -> str:
    first = trials[0].comparison
    document = {
        "input": source,
        "width": first.width,
        "height": first.height,
        "channels": first.channels,
        "raw_bytes": first.raw_bytes,
        **extra,
        "results": [t.as_dict() for t in trials],
    }
    return json.dumps(document, indent=2)


def hint_if_ssim_missing(trials: Sequence[Trial], also: str = "") -> None:
    """One line on stderr when the SSIM or SSIMULACRA2 column is empty because its package is missing."""
    hint = metrics_hint(
        any(t.comparison.ssim is None for t in trials) and not metrics.ssim_available(),
        any(t.comparison.ssimulacra2 is None for t in trials) and not metrics.ssimulacra2_available(),
    )
    if hint is not None:
        note(hint + also)


# --------------------------------------------------------------------------- progress


def interactive() -> bool:
    """Progress bars only for a person at a terminal: quiet in pipes, files and CI logs."""
    return sys.stdout.isatty() and sys.stderr.isatty()


def progress(items: Iterable[Any], label: str, unit: str) -> Iterable[Any]:
    """``items`` with a tqdm bar when interactive and tqdm is installed; else ``items`` as they are."""
    if not interactive():
        return items
    try:
        from tqdm import tqdm
    except ImportError:  # an optional extra: no bar, nothing else changes
        return items
    return tqdm(items, desc=label, unit=unit, leave=False, file=sys.stderr)


#: At a terminal, a note is shown when warming the encoder up takes longer than this (seconds) ...
WARM_NOTE_AFTER = 1.0
#: ... which is when the first encode after installing compiles the kernels.
COMPILING_NOTE = "compiling the encoder's kernels, once after installing (numba keeps them on disk) ..."


def warm_encoder(image: Any, ks: Sequence[int], encode_options: dict[str, Any]) -> None:
    """:func:`kmzcodec.explore.warm_up` before the trials, so that the table's "encode s"
    is each encode's own time; at a terminal, COMPILING_NOTE on stderr if that takes over
    WARM_NOTE_AFTER seconds."""
    if not ks:
        return  # the trials say what is wrong
    timer = threading.Timer(WARM_NOTE_AFTER, note, (COMPILING_NOTE,)) if interactive() else None
    if timer is not None:
        timer.daemon = True
        timer.start()
    try:
        explore.warm_up(image, ks, **encode_options)
    finally:
        if timer is not None:
            timer.cancel()


class Reporter:
    """Error lines on stderr that do not tear through a progress bar."""

    def __init__(self) -> None:
        self.bar: Any = None

    def error(self, line: str) -> None:
        text = f"{PROG}: error: {line}"
        if self.bar is not None:
            self.bar.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr)
