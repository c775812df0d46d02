"""The ``kmz`` command: encode, decode, info, compare, sweep, convert, demo.

The notebook workflow as a tool: load an image, choose K, look at the result side
by side with its size, PSNR and SSIM, plot the effect of K; and convert folders.
The codec does the work (``kmzcodec.encode`` / ``decode`` on bytes in memory);
this module parses options, reads inputs, measures with :mod:`kmzcodec.metrics`,
draws with matplotlib and writes every output through :mod:`kmzcodec.fileio`
(temporary file, then rename: never a partial file, never an overwritten input).

Exit codes (also in ``kmz --help``):

- 0: success.
- 1: data error: an input that cannot be read or decoded (unreadable or corrupt
  file, not an image, a .mat file without an image array), an encoding that
  cannot meet its target, a failed write, a missing optional dependency; for
  ``convert``, at least one file failed (the others were still converted).
- 2: usage error: a bad option or value (K out of range, unknown format), a
  missing input path or output folder, an existing output without ``--force``,
  an output that is one of the inputs.
- 130: interrupted (Ctrl-C); 143: terminated (SIGTERM, ``convert``).

Every error is one line on stderr, ``kmz: error: ...``; no traceback.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import importlib.resources
import inspect
import io
import json
import math
import multiprocessing
import os
import signal
import sys
import time
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import numpy as np
from PIL import Image, ImageOps

from . import __version__, container, fileio, metrics
from .encoder import DEFAULT_COLORS, Encoded, encode_details
from .errors import KmzError
from .format import MAGIC, MAX_COLORS, MAX_DIMENSION, TRAILER_SIZE
from .image import decode
from .pixels import from_array, to_pixels

PROG = "kmz"
EXIT_OK = 0
EXIT_DATA = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130
EXIT_TERMINATED = 143

METHODS = ("kmeans", "gmm")
COLORSPACES = ("rgb", "oklab", "lab")
COMPRESSIONS = ("zlib", "lzma", "none")
COMPARE_KS = (4, 16, 64)
SWEEP_KS = (2, 4, 8, 16, 32, 64, 128, 256)
DEMO_IMAGE = "chelsea.jpg"
#: Width of one panel of the comparison figure, in inches (x dpi = pixels).
PANEL_INCHES = 3.2
DEFAULT_DPI = 100


class CliError(Exception):
    """A failure reported as one line, ``kmz: error: <message>``, and an exit code."""

    code = EXIT_DATA

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class UsageError(CliError):
    code = EXIT_USAGE


class Terminated(BaseException):
    """SIGTERM during ``convert``: unwinds like KeyboardInterrupt, so temporary files go."""


# --------------------------------------------------------------------------- options


def _k(text: str, also: str = "") -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if not 1 <= value <= MAX_COLORS:
        msg = f"K must be an integer from 1 to {MAX_COLORS}{also}, not {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _colors(text: str) -> int | str:
    """-k value: an integer K in 1..65536, or "auto"."""
    return "auto" if text.strip().lower() == "auto" else _k(text, " or 'auto'")


def _color_list(text: str) -> list[int]:
    """-k list: comma-separated K values, e.g. 4,16,64 (duplicates dropped, order kept)."""
    return list(dict.fromkeys(_k(item) for item in text.split(",")))


def _size(text: str) -> tuple[int | None, int | None]:
    """--resize WxH; one side may be left out (Wx, xH) to keep the aspect ratio."""
    parts = text.lower().split("x")
    msg = f"size must be WIDTHxHEIGHT, WIDTHx or xHEIGHT in pixels, not {text!r}"
    if len(parts) != 2 or not any(parts):
        raise argparse.ArgumentTypeError(msg)
    try:
        width, height = (int(part) if part else None for part in parts)
    except ValueError:
        raise argparse.ArgumentTypeError(msg) from None
    if any(side is not None and not 1 <= side <= MAX_DIMENSION for side in (width, height)):
        raise argparse.ArgumentTypeError(msg)
    return width, height


def _positive(kind: type, upper: float | None = None) -> Callable[[str], Any]:
    def parse(text: str) -> Any:
        try:
            value = kind(text)
        except ValueError:
            value = None
        if (
            value is None
            or not value > 0
            or (upper is not None and value > upper)
            or not math.isfinite(value)
        ):
            bound = f" up to {upper}" if upper is not None else ""
            msg = f"expected a positive {kind.__name__}{bound}, not {text!r}"
            raise argparse.ArgumentTypeError(msg)
        return value

    parse.__name__ = kind.__name__
    return parse


def _level(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if not 0 <= value <= 9:
        msg = f"compression level must be 0..9, not {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


def _jobs(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        msg = f"the number of worker processes must be 1 or more, not {text!r}"
        raise argparse.ArgumentTypeError(msg)
    return value


@dataclass(frozen=True)
class EncodeOptions:
    """Everything that shapes the encoded bytes (picklable: sent to convert's workers)."""

    colors: int | str = DEFAULT_COLORS
    method: str = "kmeans"
    colorspace: str = "rgb"
    dither: bool = False
    compression: str = "zlib"
    level: int | None = None
    seed: int = 0
    min_psnr: float | None = None
    min_ssim: float | None = None
    max_bytes: int | None = None
    resize: tuple[int | None, int | None] | None = None
    mat_key: str | None = None

    def describe(self) -> str:
        text = f"{self.method}, {self.colorspace}, {self.compression}"
        return text + (", dithered" if self.dither else "")


def _auto_supported() -> bool:
    """Whether this kmzcodec's encoder can choose K itself (``colors="auto"``)."""
    return "min_psnr" in inspect.signature(encode_details).parameters


def _encode_options(args: argparse.Namespace, colors: int | str | None = None) -> EncodeOptions:
    targets = {
        "min_psnr": getattr(args, "min_psnr", None),
        "min_ssim": getattr(args, "min_ssim", None),
        "max_bytes": getattr(args, "max_bytes", None),
    }
    chosen = colors if colors is not None else getattr(args, "colors", None)
    named = [f"--{name.replace('_', '-')}" for name, value in targets.items() if value is not None]
    if chosen is None:
        chosen = "auto" if named else DEFAULT_COLORS
    if named and chosen != "auto":
        raise UsageError(f"{', '.join(named)} needs -k auto (K was given as {chosen})")
    if chosen == "auto" and not _auto_supported():
        raise UsageError(
            "-k auto needs a kmzcodec whose encoder chooses K (colors='auto'); this one does not"
        )
    if args.dither and isinstance(chosen, int) and chosen > 256:
        raise UsageError(f"--dither works with K up to 256, not {chosen}")
    return EncodeOptions(
        colors=chosen,
        method=args.method,
        colorspace=args.colorspace,
        dither=args.dither,
        compression=args.compression,
        level=args.level,
        seed=args.seed,
        resize=getattr(args, "resize", None),
        mat_key=getattr(args, "mat_key", None),
        **targets,
    )


def _encode(image: Image.Image, options: EncodeOptions, colors: int | str | None = None) -> Encoded:
    chosen = options.colors if colors is None else colors
    extra: dict[str, Any] = {}
    if chosen == "auto":
        extra = {"min_psnr": options.min_psnr, "min_ssim": options.min_ssim, "max_bytes": options.max_bytes}
    return encode_details(
        image,
        chosen,  # type: ignore[arg-type]
        method=options.method,
        colorspace=options.colorspace,
        dither=options.dither,
        seed=options.seed,
        compression=options.compression,
        level=options.level,
        **extra,
    )


# --------------------------------------------------------------------------- inputs


def _require_file(path: Path) -> None:
    if not path.exists():
        raise UsageError(f"{path}: no such file")
    if path.is_dir():
        raise UsageError(f"{path}: is a folder, not a file")


def _mat_array(path: Path, key: str | None) -> np.ndarray:
    """The image array in a MATLAB file: ``key``, or the largest image-shaped array."""
    import scipy.io

    try:
        contents = scipy.io.loadmat(path)
    except NotImplementedError:  # scipy's answer to v7.3 (HDF5-based) files
        raise CliError(f"{path}: MATLAB v7.3 files are not supported (save with -v7)") from None
    except Exception as exc:  # scipy raises many types for a bad file
        raise CliError(f"{path}: cannot read MATLAB file: {exc}") from None
    variables = {name: value for name, value in contents.items() if not name.startswith("__")}
    if key is not None:
        if key not in variables:
            names = ", ".join(sorted(variables)) or "none"
            raise UsageError(f"{path}: no variable {key!r} (variables: {names})")
        if not _image_shaped(variables[key]):
            shape = getattr(variables[key], "shape", None)
            raise CliError(f"{path}: variable {key!r} is not an image array (shape {shape})")
        return variables[key]
    candidates = [(value.size, value.ndim, name) for name, value in variables.items() if _image_shaped(value)]
    if not candidates:
        raise CliError(f"{path}: no image-shaped array (H x W, or H x W x 1/3/4) among {sorted(variables)}")
    return variables[max(candidates)[2]]


def _image_shaped(value: object) -> bool:
    if not isinstance(value, np.ndarray) or value.dtype.kind not in "uifb" or value.size == 0:
        return False
    return value.ndim == 2 or (value.ndim == 3 and value.shape[2] in (1, 2, 3, 4))


def _from_pixels(values: np.ndarray) -> Image.Image:
    pixels = from_array(values)
    mode = {1: "L", 3: "RGB", 4: "RGBA"}[pixels.shape[2]]
    return Image.fromarray(pixels[:, :, 0] if mode == "L" else pixels, mode)


def load_image(path: Path, mat_key: str | None = None) -> Image.Image:
    """Any input the command accepts as a Pillow image: a .kmz, a .mat, or what Pillow reads.

    Photographs are turned upright by their EXIF orientation, as viewers show them.
    """
    _require_file(path)
    try:
        with path.open("rb") as handle:
            prefix = handle.read(len(MAGIC))
    except OSError as exc:
        raise CliError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if prefix == MAGIC:
        try:
            return decode(path.read_bytes())
        except KmzError as exc:
            raise CliError(f"{path}: {exc}") from None
    if path.suffix.lower() == ".mat" or prefix.startswith(b"MATLAB"):
        return _from_pixels(_mat_array(path, mat_key))
    try:
        with Image.open(path) as opened:
            image = ImageOps.exif_transpose(opened)
            image.load()
            return image
    except Image.UnidentifiedImageError:
        raise CliError(f"{path}: not an image file that Pillow can read") from None
    except Image.DecompressionBombError as exc:
        raise CliError(f"{path}: {exc}") from None
    except (OSError, ValueError, SyntaxError, EOFError, IndexError, TypeError) as exc:
        # Pillow's plugins raise a variety of types for a damaged file.
        raise CliError(f"{path}: cannot read image: {exc}") from None


def _resized(image: Image.Image, size: tuple[int | None, int | None] | None) -> Image.Image:
    if size is None:
        return image
    width, height = size
    if width is None:
        assert height is not None
        width = max(1, round(image.width * height / image.height))
    if height is None:
        height = max(1, round(image.height * width / image.width))
    if image.mode == "P":  # resampling a palette image would fall back to nearest neighbour
        image = image.convert("RGBA" if image.has_transparency_data else "RGB")
    return image.resize((width, height), Image.Resampling.LANCZOS)


def _prepare(path: Path, options: EncodeOptions) -> Image.Image:
    return _resized(load_image(path, options.mat_key), options.resize)


# --------------------------------------------------------------------------- outputs


def _check_output(path: Path, inputs: Sequence[Path] = (), force: bool = False) -> None:
    try:
        fileio.check_output(path, inputs=inputs, force=force)
    except (fileio.OutputExistsError, fileio.SameFileError, FileNotFoundError, IsADirectoryError) as exc:
        raise UsageError(str(exc)) from None


def _write(path: Path, data: bytes, inputs: Sequence[Path] = (), force: bool = False) -> None:
    try:
        fileio.write_bytes(path, data, inputs=inputs, force=force)
    except (fileio.OutputExistsError, fileio.SameFileError, FileNotFoundError, IsADirectoryError) as exc:
        raise UsageError(str(exc)) from None
    except OSError as exc:
        raise CliError(f"{path}: cannot write: {exc.strerror or exc}") from None


def _save_format(path: Path) -> str:
    """Pillow's format name for an output file's extension."""
    Image.init()
    suffix = path.suffix.lower()
    if suffix == ".kmz":
        raise UsageError(f"{path}: to write .kmz files use 'kmz encode'")
    name = Image.registered_extensions().get(suffix)
    if name is None or name not in Image.SAVE:
        shown = suffix or "no extension"
        raise UsageError(
            f"{path}: cannot tell an image format Pillow writes from {shown} (try .png, .tif, .webp)"
        )
    return name


def _render(image: Image.Image, fmt: str, path: Path) -> bytes:
    """Encode ``image`` with Pillow, converting the mode only if the format needs it."""
    alpha = image.mode in ("RGBA", "LA", "PA") or image.has_transparency_data
    candidates = [image]
    if image.mode not in ("RGB", "L"):
        candidates += [image.convert("RGBA")] if alpha else []
        candidates += [image.convert("RGB")]
    last: Exception | None = None
    for candidate in candidates:
        buffer = io.BytesIO()
        try:
            candidate.save(buffer, format=fmt)
        except (OSError, ValueError, KeyError, TypeError) as exc:
            last = exc
            continue
        if alpha and candidate.mode == "RGB":
            print(f"{PROG}: note: {fmt} cannot store transparency; {path} is opaque", file=sys.stderr)
        return buffer.getvalue()
    raise CliError(f"{path}: Pillow cannot write this image as {fmt}: {last}")


# --------------------------------------------------------------------------- measuring


@dataclass(frozen=True)
class Trial:
    """One K tried on one image: the file, its decoded pixels and how they measure."""

    k: int  # as asked for
    colors: int  # palette entries used: fewer than K when the image has fewer colours
    data: bytes
    decoded: Image.Image
    comparison: metrics.Comparison
    seconds: float  # encoding time

    def as_dict(self) -> dict[str, object]:
        return {
            "k": self.k,
            "colors": self.colors,
            **self.comparison.as_dict(),
            "seconds": round(self.seconds, 4),
        }


def _trial(image: Image.Image, options: EncodeOptions, k: int, with_ssim: bool) -> Trial:
    start = time.perf_counter()
    encoded = _encode(image, options, k)
    seconds = time.perf_counter() - start
    decoded = decode(encoded.data)
    comparison = metrics.compare(image, decoded, len(encoded.data), with_ssim=with_ssim)
    return Trial(k, encoded.colors, encoded.data, decoded, comparison, seconds)


def _trials(image: Image.Image, options: EncodeOptions, ks: Sequence[int], label: str) -> list[Trial]:
    return [_trial(image, options, k, with_ssim=True) for k in _progress(ks, label, unit="K")]


def _require(module: str, extra: str, purpose: str) -> None:
    try:
        __import__(module)
    except ImportError:
        raise CliError(f"{purpose} needs {module}: pip install 'kmzcodec[{extra}]'") from None


def _fmt_float(value: float | None, digits: int, unit: str = "") -> str:
    if value is None or math.isnan(value):
        return "n/a"
    if math.isinf(value):
        return "inf" if value > 0 else "-inf"
    return f"{value:.{digits}f}{unit}"


def _relative(ratio: float, digits: int = 1) -> str:
    """A compression ratio in words: "12.8x smaller", or "3.5x larger" for tiny images."""
    if ratio >= 1 or ratio <= 0:
        return f"{_fmt_float(ratio, digits, 'x')} smaller"
    return f"{_fmt_float(1 / ratio, digits, 'x')} larger"


def _table(headers: Sequence[str], rows: Iterable[Sequence[str]], out: TextIO) -> None:
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
            _fmt_float(c.ratio, 1, "x"),
            _fmt_float(c.bits_per_pixel, 3),
            _fmt_float(c.psnr, 2),
            _fmt_float(c.ssim, 4),
            _fmt_float(trial.seconds, 2),
        ] + (["<- elbow" if trial.k == elbow else ""] if elbow is not None else [])


TRIAL_HEADERS = ("K", "bytes", "ratio", "bits/px", "PSNR dB", "SSIM", "encode s")


def _print_trials(source: str, trials: Sequence[Trial], elbow: int | None = None) -> None:
    first = trials[0].comparison
    print(f"{source}: {first.width}x{first.height}, {first.channels} channels, raw {first.raw_bytes:,} bytes")
    headers = TRIAL_HEADERS + (("",) if elbow is not None else ())
    _table(headers, _trial_rows(trials, elbow), sys.stdout)


def _trials_json(source: str, trials: Sequence[Trial], **extra: object) -> str:
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


# --------------------------------------------------------------------------- progress


def _interactive() -> bool:
    """Progress bars only for a person at a terminal: quiet in pipes, files and CI logs."""
    return sys.stdout.isatty() and sys.stderr.isatty()


def _progress(items: Iterable[Any], label: str, unit: str) -> Iterable[Any]:
    if not _interactive():
        return items
    try:
        from tqdm import tqdm
    except ImportError:
        return items
    return tqdm(items, desc=label, unit=unit, leave=False, file=sys.stderr)


# --------------------------------------------------------------------------- figures


def _figure_module():  # type: ignore[no-untyped-def]
    # matplotlib's object API with the Agg canvas: no pyplot, no global backend, no display.
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        raise CliError("figures need matplotlib: pip install 'kmzcodec[plots]'") from None
    return Figure, FigureCanvasAgg


def _png(figure: Any, canvas_class: Any, dpi: int) -> bytes:
    canvas_class(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=dpi, facecolor="white")
    # Opaque RGB: smaller than matplotlib's RGBA and nothing in the figure is transparent.
    with Image.open(io.BytesIO(buffer.getvalue())) as drawn:
        out = io.BytesIO()
        drawn.convert("RGB").save(out, format="PNG", optimize=True)
    return out.getvalue()


def _shown(image: Image.Image) -> np.ndarray:
    """An image as matplotlib should draw it: uint8, palettes expanded, grey as 2-D."""
    pixels = to_pixels(image)
    return pixels[:, :, 0] if pixels.shape[2] == 1 else pixels


def comparison_figure(
    title: str, original: Image.Image, trials: Sequence[Trial], dpi: int = DEFAULT_DPI
) -> bytes:
    """PNG: the original and each K side by side, each with bytes, ratio, PSNR and SSIM below it."""
    Figure, Canvas = _figure_module()
    panels = 1 + len(trials)
    width, height = original.size
    panel_w = PANEL_INCHES
    panel_h = panel_w * height / width
    gap, caption, top = 0.15, 0.6, 0.6
    figure = Figure(figsize=(panels * panel_w + (panels + 1) * gap, top + panel_h + caption))
    fig_w, fig_h = figure.get_size_inches()
    first = trials[0].comparison
    captions = [("original", f"{width}x{height}, {first.channels} channels\nraw {first.raw_bytes:,} bytes")]
    for trial in trials:
        c = trial.comparison
        captions.append(
            (
                f"K = {trial.k}" + (f" ({trial.colors} used)" if trial.colors != trial.k else ""),
                f"{c.bytes:,} bytes, {_relative(c.ratio)}\n"
                f"PSNR {_fmt_float(c.psnr, 1, ' dB')}, SSIM {_fmt_float(c.ssim, 3)}",
            )
        )
    images = [original] + [trial.decoded for trial in trials]
    for index, (image, (heading, text)) in enumerate(zip(images, captions, strict=True)):
        left = gap + index * (panel_w + gap)
        axes = figure.add_axes((left / fig_w, caption / fig_h, panel_w / fig_w, panel_h / fig_h))
        pixels = _shown(image)
        axes.imshow(
            pixels, cmap="gray" if pixels.ndim == 2 else None, vmin=0, vmax=255, interpolation="antialiased"
        )
        axes.set_xticks([])
        axes.set_yticks([])
        axes.set_title(heading, fontsize=10, fontweight="bold")
        figure.text(
            (left + panel_w / 2) / fig_w, (caption - 0.08) / fig_h, text, ha="center", va="top", fontsize=8.5
        )
    figure.suptitle(title, fontsize=10, y=1 - 0.05 / fig_h, va="top", x=gap / fig_w, ha="left")
    return _png(figure, Canvas, dpi)


def sweep_figure(
    title: str, trials: Sequence[Trial], elbow: int, elbow_metric: str, dpi: int = DEFAULT_DPI
) -> bytes:
    """PNG: PSNR, SSIM and bytes against K (log2 axis), the elbow marked."""
    Figure, Canvas = _figure_module()
    ks = [trial.k for trial in trials]
    sizes = [t.comparison.bytes for t in trials]
    unit, scale = ("KB", 1000) if max(sizes) >= 10_000 else ("bytes", 1)
    series: list[tuple[str, list[float | None], str]] = [
        ("PSNR (dB)", [t.comparison.psnr for t in trials], "psnr"),
        ("SSIM", [t.comparison.ssim for t in trials], "ssim"),
        (f"file size ({unit})", [size / scale for size in sizes], "bytes"),
    ]
    figure = Figure(figsize=(6.4, 7.2), layout="constrained")
    axes_list = figure.subplots(len(series), 1, sharex=True)
    for axes, (label, values, key) in zip(axes_list, series, strict=True):
        shown = [math.nan if v is None or not math.isfinite(v) else v for v in values]
        axes.plot(ks, shown, marker="o", color="tab:blue")
        lossless = [k for k, v in zip(ks, values, strict=True) if v == math.inf]
        if lossless:  # PSNR of an exact palette: no finite point to draw
            axes.text(0.98, 0.05, f"lossless from K = {lossless[0]}", transform=axes.transAxes, ha="right")
        axes.axvline(elbow, color="tab:red", linestyle="--", linewidth=1)
        axes.set_ylabel(label)
        axes.grid(True, alpha=0.3)
        if key == elbow_metric:
            axes.annotate(
                f"elbow: K = {elbow}",
                xy=(elbow, 0.5),
                xycoords=("data", "axes fraction"),
                xytext=(6, 0),
                textcoords="offset points",
                color="tab:red",
            )
    bottom = axes_list[-1]
    bottom.set_xscale("log", base=2)
    bottom.set_xticks(ks, [str(k) for k in ks])
    bottom.minorticks_off()
    bottom.set_xlabel("K (palette colours, log2 scale)")
    figure.suptitle(title, fontsize=10)
    return _png(figure, Canvas, dpi)


# --------------------------------------------------------------------------- commands


def cmd_encode(args: argparse.Namespace) -> int:
    source = Path(args.input)
    output = Path(args.output) if args.output else source.with_suffix(".kmz")
    options = _encode_options(args)
    _require_file(source)
    _check_output(output, [source], args.force)  # refuse before the (slow) encoding
    image = _prepare(source, options)
    encoded = _encode(image, options)
    _write(output, encoded.data, [source], args.force)
    decoded = decode(encoded.data)
    c = metrics.compare(image, decoded, len(encoded.data), with_ssim=metrics.ssim_available())
    quality = f"PSNR {_fmt_float(c.psnr, 2, ' dB')}"
    if c.ssim is not None:
        quality += f", SSIM {_fmt_float(c.ssim, 4)}"
    print(
        f"{output}: {c.width}x{c.height}, K = {encoded.colors} ({encoded.quantized.method}), "
        f"{c.bytes:,} bytes, {_relative(c.ratio)} than raw "
        f"({_fmt_float(c.bits_per_pixel, 3)} bits/pixel), {quality}"
    )
    return EXIT_OK


def cmd_decode(args: argparse.Namespace) -> int:
    source = Path(args.input)
    output = Path(args.output) if args.output else source.with_suffix(".png")
    fmt = _save_format(output)
    _require_file(source)
    _check_output(output, [source], args.force)
    image = _read_kmz(source)
    _write(output, _render(image, fmt, output), [source], args.force)
    print(f"{output}: {image.width}x{image.height} {fmt}, K = {image.info['colors']}")
    return EXIT_OK


def _read_kmz(path: Path) -> Image.Image:
    _require_file(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CliError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        return decode(data)
    except KmzError as exc:
        raise CliError(f"{path}: {exc}") from None


def _hex(entry: np.ndarray) -> str:
    if len(entry) == 1:
        return "#" + f"{int(entry[0]):02x}" * 3
    return "#" + "".join(f"{int(v):02x}" for v in entry)


def _swatch(entries: np.ndarray, limit: int = 64) -> str:
    """A line of coloured blocks (24-bit ANSI colour), for terminals."""
    blocks = []
    for entry in entries[:limit]:
        red, green, blue = (int(entry[0]),) * 3 if len(entry) == 1 else (int(v) for v in entry[:3])
        blocks.append(f"\x1b[38;2;{red};{green};{blue}m\u2588\u2588")
    return "".join(blocks) + "\x1b[0m"


def cmd_info(args: argparse.Namespace) -> int:
    path = Path(args.input)
    _require_file(path)
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CliError(f"{path}: cannot read: {exc.strerror or exc}") from None
    try:
        payload = container.read(data)
        indices = container.indices(payload.header, payload.rows)
        used = int(np.count_nonzero(np.bincount(indices.ravel(), minlength=payload.header.colors)))
    except KmzError as exc:
        raise CliError(f"{path}: {exc}") from None
    header = payload.header
    channels = int(header.palette_kind)
    entries = np.frombuffer(payload.palette, dtype=np.uint8).reshape(header.colors, channels)
    raw = metrics.raw_bytes(header.width, header.height, channels)
    document: dict[str, object] = {
        "file": str(path),
        "file_bytes": len(data),
        "version": data[len(MAGIC)],
        "width": header.width,
        "height": header.height,
        **header.info(),
        "palette_entries_used": used,
        "header_bytes": header.data_offset - header.palette_length,
        "palette_bytes": header.palette_length,
        "data_bytes": header.data_length,
        "index_bytes": header.raw_length,
        "trailer_bytes": TRAILER_SIZE,
        "raw_bytes": raw,
        "compression_ratio": round(metrics.compression_ratio(raw, len(data)), 4),
        "bits_per_pixel": round(metrics.bits_per_pixel(len(data), header.width, header.height), 4),
        "palette": [_hex(entry) for entry in entries],
    }
    if args.json:
        print(json.dumps(document, indent=2))
        return EXIT_OK
    shown = min(len(entries), 8)
    more = f" ... ({header.colors - shown} more)" if header.colors > shown else ""
    rows = [
        ("file", f"{path} ({len(data):,} bytes)"),
        ("format", f"KMZ version {document['version']}"),
        ("size", f"{header.width} x {header.height} pixels"),
        ("palette", f"K = {header.colors} {header.palette_kind.label} entries, {used} used"),
        ("bits/index", f"{header.bits_per_index}"),
        ("compression", header.compression.label),
        ("method", f"{header.method.label} (colour space {header.colorspace.label})"),
        ("dithered", "yes" if header.dithered else "no"),
        (
            "layout",
            f"header {document['header_bytes']} + palette {header.palette_length:,} + "
            f"data {header.data_length:,} + trailer {TRAILER_SIZE} bytes",
        ),
        ("index rows", f"{header.raw_length:,} bytes before compression"),
        ("raw size", f"{raw:,} bytes ({header.width} x {header.height} x {channels})"),
        ("ratio", f"{_relative(raw / len(data), 2)} than raw"),
        ("bits/pixel", _fmt_float(8 * len(data) / (header.width * header.height), 3)),
        ("entries", " ".join(_hex(entry) for entry in entries[:shown]) + more),
    ]
    if sys.stdout.isatty():
        rows.append(("swatch", _swatch(entries)))
    width = max(len(name) for name, _ in rows)
    for name, value in rows:
        print(f"{name.ljust(width)}  {value}")
    return EXIT_OK


def cmd_compare(args: argparse.Namespace) -> int:
    source = Path(args.input)
    output = Path(args.output)
    options = _encode_options(args, colors=DEFAULT_COLORS)
    _require_file(source)
    _check_output(output, [source], args.force)
    _require("skimage", "metrics", "SSIM")
    _figure_module()
    image = _prepare(source, options)
    trials = _trials(image, options, args.colors, "compare")
    title = f"{source.name}: {options.describe()}"
    _write(output, comparison_figure(title, image, trials, args.dpi), [source], args.force)
    if args.json:
        print(_trials_json(str(source), trials, figure=str(output)))
    else:
        _print_trials(str(source), trials)
        print(f"figure: {output}")
    return EXIT_OK


def cmd_sweep(args: argparse.Namespace) -> int:
    source = Path(args.input)
    output = Path(args.output) if args.output else None
    options = _encode_options(args, colors=DEFAULT_COLORS)
    _require_file(source)
    if output is not None:
        _check_output(output, [source], args.force)
        _figure_module()
    _require("skimage", "metrics", "SSIM")
    if len(args.colors) < 2:
        raise UsageError("a sweep needs at least two values of K")
    ks = sorted(args.colors)
    image = _prepare(source, options)
    trials = _trials(image, options, ks, "sweep")
    metric = args.elbow_on
    elbow_k = metrics.elbow(ks, [getattr(trial.comparison, metric) for trial in trials])
    if output is not None:
        title = f"{source.name}, {image.width}x{image.height}: {options.describe()}"
        _write(output, sweep_figure(title, trials, elbow_k, metric, args.dpi), [source], args.force)
    if args.json:
        extra: dict[str, object] = {"elbow": {"k": elbow_k, "metric": metric}}
        if output is not None:
            extra["figure"] = str(output)
        print(_trials_json(str(source), trials, **extra))
    else:
        _print_trials(str(source), trials, elbow_k)
        print(f"elbow (on {metric.upper()} against log2 K): K = {elbow_k}")
        if output is not None:
            print(f"figure: {output}")
    return EXIT_OK


# --------------------------------------------------------------------------- convert


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
    """Read and encode one file (runs in a worker process; the parent writes the output).

    Module-level and built from picklable parts, so "spawn" and "forkserver"
    workers can import and call it.
    """
    path = Path(job.source)
    try:
        size = path.stat().st_size
        image = _prepare(path, job.options)
        data = _encode(image, job.options).data
    except (CliError, KmzError) as exc:
        return Outcome(job.source, job.output, None, 0, str(exc).removeprefix(f"{path}: "))
    except MemoryError:
        return Outcome(job.source, job.output, None, 0, "out of memory")
    except OSError as exc:
        return Outcome(job.source, job.output, None, 0, f"cannot read: {exc.strerror or exc}")
    return Outcome(job.source, job.output, data, size)


def _worker_init() -> None:
    # Ctrl-C reaches the whole process group; only the parent reacts (and stops the workers).
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _readable_suffixes() -> set[str]:
    Image.init()
    readable = {suffix for suffix, name in Image.registered_extensions().items() if name in Image.OPEN}
    return (readable | {".mat"}) - {".kmz"}


def _walk(folder: Path, skip: Path) -> Iterator[Path]:
    """Image files under ``folder``, sorted; hidden entries, our temporaries and ``skip`` left out."""
    suffixes = _readable_suffixes()
    for root, dirs, files in os.walk(folder):
        base = Path(root)
        dirs[:] = sorted(d for d in dirs if not d.startswith(".") and not _same_dir(base / d, skip))
        for name in sorted(files):
            if not name.startswith(".") and Path(name).suffix.lower() in suffixes:
                yield base / name


def _same_dir(first: Path, second: Path) -> bool:
    try:
        return os.path.samefile(first, second)
    except OSError:
        return False


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


def _pool_context() -> multiprocessing.context.BaseContext:
    # Not "fork": forking a process that has threads (tqdm's monitor, BLAS pools) can deadlock.
    methods = multiprocessing.get_all_start_methods()
    return multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")


def _stop_workers(executor: concurrent.futures.ProcessPoolExecutor) -> None:
    """Stop at once: the workers ignore SIGINT and would otherwise finish their current file."""
    stop = getattr(executor, "kill_workers", None)  # Python 3.14+
    if stop is not None:
        with contextlib.suppress(Exception):
            stop()
    else:  # older Pythons: the pool's own process table (taken before shutdown clears it)
        for process in list((getattr(executor, "_processes", None) or {}).values()):
            with contextlib.suppress(Exception):
                process.kill()
    with contextlib.suppress(Exception):
        executor.shutdown(wait=False, cancel_futures=True)


def _outcomes(jobs: Sequence[Job], workers: int) -> Generator[Outcome, None, None]:
    """Outcomes as they complete: in this process for one worker, else from a process pool."""
    if workers == 1:
        for job in jobs:
            try:
                yield convert_one(job)
            except Exception as exc:  # as in the pool: report this file and go on
                yield Outcome(job.source, job.output, None, 0, f"{type(exc).__name__}: {exc}")
        return
    executor = concurrent.futures.ProcessPoolExecutor(
        workers, mp_context=_pool_context(), initializer=_worker_init
    )
    try:
        futures = {executor.submit(convert_one, job): job for job in jobs}
        for future in concurrent.futures.as_completed(futures):
            job = futures[future]
            try:
                yield future.result()
            except concurrent.futures.process.BrokenProcessPool:
                raise CliError("a worker process died (out of memory?); stopping") from None
            except Exception as exc:  # a bug, or a library failure on this file: report, go on
                yield Outcome(job.source, job.output, None, 0, f"{type(exc).__name__}: {exc}")
    except BaseException:
        _stop_workers(executor)
        raise
    executor.shutdown(wait=True)


def cmd_convert(args: argparse.Namespace) -> int:
    out_dir = Path(args.out_dir)
    options = _encode_options(args)
    if out_dir.exists() and not out_dir.is_dir():
        raise UsageError(f"{out_dir}: exists and is not a folder")
    jobs, errors = _plan(args.paths, out_dir, options)
    report = _Reporter()
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
    bar = _progress(range(len(todo)), "convert", unit="file") if todo else []
    report.bar = bar if hasattr(bar, "update") else None
    with _terminate_on_sigterm(), contextlib.closing(_outcomes(todo, workers)) as outcomes:
        for outcome in outcomes:  # closing: an interrupt here also stops the workers at once
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
        "in/out": _fmt_float(bytes_in / bytes_out, 2, "x") if bytes_out else "n/a",
        "time s": f"{seconds:.2f}",
        "workers": str(workers),
    }
    _table(list(summary), [list(summary.values())], sys.stdout)
    if skipped:
        print(f"{skipped} existing output(s) kept (use --force to overwrite)")
    return EXIT_DATA if failed else EXIT_OK


class _Reporter:
    """Error lines on stderr that do not tear through a progress bar."""

    def __init__(self) -> None:
        self.bar: Any = None

    def error(self, line: str) -> None:
        text = f"{PROG}: error: {line}"
        if self.bar is not None:
            self.bar.write(text, file=sys.stderr)
        else:
            print(text, file=sys.stderr)


@contextlib.contextmanager
def _terminate_on_sigterm() -> Iterator[None]:
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


# --------------------------------------------------------------------------- demo


def _bundled_image() -> Image.Image:
    resource = importlib.resources.files("kmzcodec") / "data" / DEMO_IMAGE
    with Image.open(io.BytesIO(resource.read_bytes())) as opened:
        opened.load()
        return opened.copy()


def cmd_demo(args: argparse.Namespace) -> int:
    folder = Path(args.output_dir)
    options = _encode_options(args, colors=DEFAULT_COLORS)
    stem = Path(DEMO_IMAGE).stem
    ks = args.colors
    _require("skimage", "metrics", "SSIM")
    _figure_module()
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{folder}: exists and is not a folder")
    outputs = [folder / f"{stem}-k{k}.kmz" for k in ks]
    figure_path = folder / f"{stem}-compare.png"
    if folder.is_dir():
        for path in [*outputs, figure_path]:  # refuse before writing anything
            _check_output(path, force=args.force)
    image = _bundled_image()
    trials = _trials(image, options, ks, "demo")
    folder.mkdir(parents=True, exist_ok=True)
    for trial, path in zip(trials, outputs, strict=True):
        _write(path, trial.data, force=args.force)
    title = f"{DEMO_IMAGE} (bundled, CC0): {options.describe()}"
    _write(figure_path, comparison_figure(title, image, trials, args.dpi), force=args.force)
    _print_trials(f"{DEMO_IMAGE} (bundled sample)", trials)
    print("wrote " + ", ".join(str(path) for path in [*outputs, figure_path]))
    middle = outputs[len(outputs) // 2]
    print(f"next: kmz info {middle}   kmz decode {middle} -o {middle.with_suffix('.png')}")
    return EXIT_OK


# --------------------------------------------------------------------------- parser


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (``kmz: error: ...``) and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see '{self.prog} --help')")


class _Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=30)


def _encoding_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("encoding")
    group.add_argument(
        "--method",
        choices=METHODS,
        default="kmeans",
        help="how the palette is chosen: k-means or a Gaussian mixture (default: %(default)s)",
    )
    group.add_argument(
        "--colorspace",
        choices=COLORSPACES,
        default="rgb",
        help="colour space the clustering runs in (default: %(default)s)",
    )
    group.add_argument(
        "--dither", action="store_true", help="Floyd-Steinberg error diffusion, K <= 256 (default: off)"
    )
    group.add_argument(
        "--compression",
        choices=COMPRESSIONS,
        default="zlib",
        help="how the index data is compressed (default: %(default)s)",
    )
    group.add_argument(
        "--level",
        type=_level,
        default=None,
        metavar="0-9",
        help=f"zlib compression level (default: libdeflate {container.FAST_LIBDEFLATE_LEVEL}, or "
        f"zlib {container.THOROUGH_ZLIB_LEVEL} where a trial on a sample shows it pays; "
        f"preset {container.DEFAULT_LZMA_PRESET} for lzma)",
    )
    group.add_argument(
        "--seed", type=int, default=0, help="random seed of the clustering (default: %(default)s)"
    )
    group.add_argument(
        "--resize",
        type=_size,
        default=None,
        metavar="WxH",
        help="resize first (Lanczos); Wx or xH keeps the aspect ratio (default: keep the size)",
    )
    group.add_argument(
        "--mat-key",
        default=None,
        metavar="NAME",
        help="variable to read from a MATLAB .mat input (default: the largest image-shaped array)",
    )


def _auto_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("automatic K (-k auto)")
    group.add_argument(
        "--min-psnr",
        type=_positive(float),
        default=None,
        metavar="DB",
        help="smallest K whose PSNR reaches DB decibels (default: no target)",
    )
    group.add_argument(
        "--min-ssim",
        type=_positive(float, 1.0),
        default=None,
        metavar="S",
        help="smallest K whose SSIM reaches S, 0 < S <= 1 (default: no target)",
    )
    group.add_argument(
        "--max-bytes",
        type=_positive(int),
        default=None,
        metavar="N",
        help="largest K whose file fits in N bytes (default: no limit; "
        "with no target at all, -k auto takes the elbow of the quality curve)",
    )


def _force_argument(parser: argparse.ArgumentParser, what: str = "outputs") -> None:
    parser.add_argument("--force", action="store_true", help=f"overwrite existing {what} (default: refuse)")


def _dpi_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--dpi",
        type=_positive(int, 600),
        default=DEFAULT_DPI,
        help=f"figure resolution; a panel is {PANEL_INCHES} inches wide (default: %(default)s)",
    )


def _json_argument(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument(
        "--json", action="store_true", help=f"print {what} as JSON on stdout (default: a table)"
    )


def _k_list(values: Sequence[int]) -> str:
    return ",".join(str(k) for k in values)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        formatter_class=_Formatter,
        description="Encode, decode, inspect and compare .kmz palette images (kmzcodec).",
        epilog=(
            "exit codes: 0 success; 1 data error (unreadable or corrupt input, failed write,\n"
            "missing optional dependency; convert: some files failed); 2 usage error (bad\n"
            "option, missing input, existing output without --force, output == input);\n"
            "130 interrupted.\n\n"
            "start with:  kmz demo      (encodes a bundled photo at K = 4, 16, 64)"
        ),
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}", help="show the version and exit"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=_Parser)

    def command(name: str, summary: str, description: str = "") -> argparse.ArgumentParser:
        sub = commands.add_parser(
            name, help=summary, description=description or summary, formatter_class=_Formatter
        )
        sub.set_defaults(command=name)
        return sub

    sub = command(
        "encode",
        "encode an image as .kmz",
        "Encode an image (anything Pillow reads, a .kmz, or a MATLAB .mat holding an image array)\n"
        "as .kmz, and report its size, compression ratio, PSNR and SSIM.",
    )
    sub.add_argument("input", metavar="INPUT", help="image to encode")
    sub.add_argument(
        "-o", "--output", metavar="OUT.kmz", help="output file (default: INPUT with .kmz extension)"
    )
    sub.add_argument(
        "-k",
        "--colors",
        type=_colors,
        default=None,
        metavar="K",
        help=f"palette size 1..{MAX_COLORS}, or 'auto' (default: {DEFAULT_COLORS}; "
        "auto when a target below is given)",
    )
    _encoding_arguments(sub)
    _auto_arguments(sub)
    _force_argument(sub, "output")
    sub.set_defaults(handler=cmd_encode)

    sub = command(
        "decode",
        "decode a .kmz to PNG, TIFF, WebP, ...",
        "Decode a .kmz file to any format Pillow writes, chosen by the output's extension.",
    )
    sub.add_argument("input", metavar="INPUT.kmz", help=".kmz file to decode")
    sub.add_argument(
        "-o", "--output", metavar="OUT.png", help="output image (default: INPUT with .png extension)"
    )
    _force_argument(sub, "output")
    sub.set_defaults(handler=cmd_decode)

    sub = command(
        "info",
        "show a .kmz file's header, palette and sizes",
        "Validate a .kmz file and show its header, palette summary, sizes and compression ratio.",
    )
    sub.add_argument("input", metavar="FILE.kmz", help=".kmz file to inspect")
    _json_argument(sub, "everything, the whole palette included,")
    sub.set_defaults(handler=cmd_info)

    sub = command(
        "compare",
        "figure: the original and each K side by side",
        "Encode at each K, decode, and draw the original and the results side by side with\n"
        "bytes, compression ratio, PSNR and SSIM under each panel (matplotlib).",
    )
    sub.add_argument("input", metavar="INPUT", help="image to compare (as for encode)")
    sub.add_argument(
        "-k",
        "--colors",
        type=_color_list,
        default=list(COMPARE_KS),
        metavar="K,K,...",
        help=f"palette sizes, one panel each (default: {_k_list(COMPARE_KS)})",
    )
    sub.add_argument(
        "-o", "--output", metavar="FIGURE.png", required=True, help="figure to write (PNG; required)"
    )
    _json_argument(sub, "the measurements")
    _dpi_argument(sub)
    _encoding_arguments(sub)
    _force_argument(sub, "output")
    sub.set_defaults(handler=cmd_compare)

    sub = command(
        "sweep",
        "PSNR, SSIM and bytes against K, with the elbow",
        "Encode at each K and measure PSNR, SSIM and size; print the table (or JSON) and\n"
        "optionally plot them against K on a log2 axis, the elbow marked.",
    )
    sub.add_argument("input", metavar="INPUT", help="image to sweep (as for encode)")
    sub.add_argument(
        "-k",
        "--colors",
        type=_color_list,
        default=list(SWEEP_KS),
        metavar="K,K,...",
        help=f"palette sizes to try, at least two (default: {_k_list(SWEEP_KS)})",
    )
    sub.add_argument(
        "-o", "--output", metavar="PLOT.png", default=None, help="plot to write (default: no plot)"
    )
    sub.add_argument(
        "--elbow-on",
        choices=("psnr", "ssim"),
        default="ssim",
        help="curve whose elbow is reported and marked (default: %(default)s)",
    )
    _json_argument(sub, "the table and the elbow")
    _dpi_argument(sub)
    _encoding_arguments(sub)
    _force_argument(sub, "plot")
    sub.set_defaults(handler=cmd_sweep)

    sub = command(
        "convert",
        "encode many files and folders to .kmz",
        "Encode files, and image files found in folders (recursively; hidden ones skipped), into\n"
        "OUT_DIR, keeping the folders' layout. Files that fail are reported and the others go on;\n"
        "the exit code is 1 if any failed. Outputs that exist are skipped unless --force.",
    )
    sub.add_argument("paths", nargs="+", metavar="PATH", help="image files and folders")
    sub.add_argument(
        "--out-dir", required=True, metavar="DIR", help="where the .kmz files go (required; created)"
    )
    sub.add_argument(
        "-k",
        "--colors",
        type=_colors,
        default=None,
        metavar="K",
        help=f"palette size, or 'auto' (default: {DEFAULT_COLORS}; auto when a target is given)",
    )
    sub.add_argument(
        "-j",
        "--jobs",
        type=_jobs,
        default=None,
        metavar="N",
        help="worker processes (default: the number of CPUs)",
    )
    _encoding_arguments(sub)
    _auto_arguments(sub)
    _force_argument(sub)
    sub.set_defaults(handler=cmd_convert)

    sub = command(
        "demo",
        "encode the bundled sample photo at a few K; write the figure",
        "Encode the bundled photograph (Chelsea the cat, CC0) at a few K into DIR, write the\n"
        "comparison figure there and print the table.",
    )
    sub.add_argument(
        "-o", "--output-dir", default=".", metavar="DIR", help="folder for the outputs (default: .)"
    )
    sub.add_argument(
        "-k",
        "--colors",
        type=_color_list,
        default=list(COMPARE_KS),
        metavar="K,K,...",
        help=f"palette sizes (default: {_k_list(COMPARE_KS)})",
    )
    _dpi_argument(sub)
    _encoding_arguments(sub)
    _force_argument(sub)
    sub.set_defaults(handler=cmd_demo)

    from . import gui  # the web app is its own package; the command only dispatches to it

    sub = command(
        "gui",
        "explore K in the browser (a local web app)",
        "Start a local web app (127.0.0.1, with an access token) to compare K, methods and\n"
        "dithering side by side on an image, and to download the .kmz. Ctrl-C stops it.",
    )
    gui.add_arguments(sub)
    sub.set_defaults(handler=gui.run)
    return parser


# --------------------------------------------------------------------------- main


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``kmz`` with ``argv`` (default: the command line); return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return int(args.handler(args))
    except SystemExit as exc:  # --help, --version
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    except CliError as exc:
        _error(str(exc))
        return exc.code
    except KmzError as exc:  # options the codec refuses (bad-option) are usage errors
        _error(str(exc))
        return EXIT_USAGE if exc.reason == "bad-option" else EXIT_DATA
    except ImportError as exc:
        _error(str(exc))
        return EXIT_DATA
    except KeyboardInterrupt:
        _error("interrupted")
        return EXIT_INTERRUPTED
    except Terminated:
        _error("terminated")
        return EXIT_TERMINATED
    except BrokenPipeError:
        # The reader went away (kmz info x.kmz | head): stop quietly, as Unix tools do.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_DATA
    except MemoryError:
        _error("out of memory")
        return EXIT_DATA


def _error(message: str) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr)
