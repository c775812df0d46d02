"""The figures: the original and each K side by side; PSNR, SSIM and bytes against K.

matplotlib is an optional extra (``kmzcodec[plots]``): it is imported only when a
figure is drawn, and its object API is used with the Agg canvas (no pyplot, no
global backend, no display).
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from typing import Any

import numpy as np
from PIL import Image

from ..explore import Trial
from ..pixels import to_pixels
from .reports import fmt_float, relative
from .status import CliError

#: Width of one panel of the comparison figure, in inches (x dpi = pixels).
PANEL_INCHES = 3.2
DEFAULT_DPI = 100
#: What is missing without the extra, for the one line that says so.
FIGURE_HINT = "needs matplotlib: pip install 'kmzcodec[plots]'"


def available() -> bool:
    try:
        _figure_classes()
    except ImportError:
        return False
    return True


def require(what: str) -> None:
    """Fail early, before any slow work, when the figure a command must draw cannot be drawn."""
    if not available():
        raise CliError(f"{what} {FIGURE_HINT}")


def _figure_classes() -> tuple[Any, Any]:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

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


def _shown(image: Image.Image | np.ndarray) -> np.ndarray:
    """An image as matplotlib should draw it: uint8, palettes expanded, grey as 2-D."""
    pixels = to_pixels(image)
    return pixels[:, :, 0] if pixels.shape[2] == 1 else pixels


def comparison_figure(
    title: str, original: Image.Image | np.ndarray, trials: Sequence[Trial], dpi: int = DEFAULT_DPI
) -> bytes:
    """PNG: the original and each K side by side, each with bytes, ratio, PSNR and SSIM below it."""
    Figure, Canvas = _figure_classes()
    panels = 1 + len(trials)
    first = trials[0].comparison
    width, height = first.width, first.height
    panel_w = PANEL_INCHES
    panel_h = panel_w * height / width
    gap, caption, top = 0.15, 0.6, 0.6
    figure = Figure(figsize=(panels * panel_w + (panels + 1) * gap, top + panel_h + caption))
    fig_w, fig_h = figure.get_size_inches()
    captions = [("original", f"{width}x{height}, {first.channels} channels\nraw {first.raw_bytes:,} bytes")]
    for trial in trials:
        c = trial.comparison
        captions.append(
            (
                f"K = {trial.k}" + (f" ({trial.colors} used)" if trial.colors != trial.k else ""),
                f"{c.bytes:,} bytes, {relative(c.ratio)}\n"
                f"PSNR {fmt_float(c.psnr, 1, ' dB')}, SSIM {fmt_float(c.ssim, 3)}",
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
    """PNG: PSNR, SSIM (when measured) and bytes against K (log2 axis), the elbow marked."""
    Figure, Canvas = _figure_classes()
    ks = [trial.k for trial in trials]
    sizes = [t.comparison.bytes for t in trials]
    unit, scale = ("KB", 1000) if max(sizes) >= 10_000 else ("bytes", 1)
    series: list[tuple[str, list[float | None], str]] = [
        ("PSNR (dB)", [t.comparison.psnr for t in trials], "psnr"),
        ("SSIM", [t.comparison.ssim for t in trials], "ssim"),
        (f"file size ({unit})", [size / scale for size in sizes], "bytes"),
    ]
    series = [entry for entry in series if any(v is not None for v in entry[1])]  # no empty SSIM panel
    figure = Figure(figsize=(6.4, 2.4 * len(series)), layout="constrained")
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
