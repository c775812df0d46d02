"""``kmz demo``: the bundled photograph at a few K, the .kmz files, the table and the figure.

Works on a plain ``pip install kmzcodec``: without scikit-image (or the ssimulacra2
package) the SSIM (or SSIMULACRA2) column shows a dash, without matplotlib the figure
is left out; one line says which extra would add each.
"""

from __future__ import annotations

import argparse
import functools
import importlib.resources
import io
from pathlib import Path

from PIL import Image

from ... import explore
from ...encoder import DEFAULT_COLORS
from .. import arguments, figures
from ..encoding import encode_options
from ..outputs import check_output, write
from ..reports import hint_if_ssim_missing, print_trials, progress, warm_encoder
from ..status import EXIT_OK, UsageError, note

SUMMARY = "encode the bundled sample photo at a few K; write the figure"
DESCRIPTION = (
    "Encode the bundled photograph (Chelsea the cat, CC0) at a few K into DIR, write the\n"
    "comparison figure there and print the table."
)
DEMO_IMAGE = "chelsea.jpg"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "-o", "--output-dir", default=".", metavar="DIR", help="folder for the outputs (default: %(default)s)"
    )
    arguments.color_list_argument(parser, arguments.COMPARE_KS, "palette sizes")
    arguments.dpi_argument(parser)
    arguments.encoding_arguments(parser)
    arguments.force_argument(parser)


def bundled_image() -> Image.Image:
    resource = importlib.resources.files("kmzcodec") / "data" / DEMO_IMAGE
    with Image.open(io.BytesIO(resource.read_bytes())) as opened:
        opened.load()
        return opened.copy()


def run(args: argparse.Namespace) -> int:
    folder = Path(args.output_dir)
    options = encode_options(args, colors=DEFAULT_COLORS)
    stem = Path(DEMO_IMAGE).stem
    drawing = figures.available()
    if folder.exists() and not folder.is_dir():
        raise UsageError(f"{folder}: exists and is not a folder")
    outputs = [folder / f"{stem}-k{k}.kmz" for k in args.colors]
    figure_path = folder / f"{stem}-compare.png"
    written = [*outputs, figure_path] if drawing else outputs
    if folder.is_dir():
        for path in written:  # refuse before writing anything
            check_output(path, force=args.force)
    image = bundled_image()
    warm_encoder(image, args.colors, options.encoder_kwargs())
    trials = explore.trials(
        image,
        args.colors,
        progress=functools.partial(progress, label="demo", unit="K"),
        **options.encoder_kwargs(),
    )
    folder.mkdir(parents=True, exist_ok=True)
    for trial, path in zip(trials, outputs, strict=True):
        write(path, trial.data, force=args.force)
    if drawing:
        title = f"{DEMO_IMAGE} (bundled, CC0): {options.describe()}"
        write(figure_path, figures.comparison_figure(title, image, trials, args.dpi), force=args.force)
    print_trials(f"{DEMO_IMAGE} (bundled sample)", trials)
    print("wrote " + ", ".join(str(path) for path in written))
    middle = outputs[len(outputs) // 2]
    print(f"next: kmz info {middle}   kmz decode {middle} -o {middle.with_suffix('.png')}")
    hint_if_ssim_missing(trials)
    if not drawing:
        note(f"no figure: it {figures.FIGURE_HINT}")
    return EXIT_OK
