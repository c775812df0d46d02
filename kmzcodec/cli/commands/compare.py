"""``kmz compare``: the original and each K side by side, in one figure."""

from __future__ import annotations

import argparse
import functools
from pathlib import Path

from ... import explore, metrics
from ...encoder import DEFAULT_COLORS
from .. import arguments, figures
from ..encoding import encode_options
from ..inputs import prepare, require_file
from ..outputs import check_output, write
from ..reports import hint_if_ssim_missing, print_trials, progress, trials_json, warm_encoder
from ..status import EXIT_OK

SUMMARY = "figure: the original and each K side by side"
DESCRIPTION = (
    "Encode at each K, decode, and draw the original and the results side by side with\n"
    "bytes, compression ratio, PSNR and SSIM under each panel (matplotlib); the table also\n"
    f"has SSIMULACRA2 on the centre {metrics.SSIMULACRA2_CROP}x{metrics.SSIMULACRA2_CROP} pixels "
    "(the metrics extra)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", metavar="INPUT", help="image to compare (as for encode)")
    arguments.color_list_argument(parser, arguments.COMPARE_KS, "palette sizes, one panel each")
    parser.add_argument(
        "-o", "--output", metavar="FIGURE.png", required=True, help="figure to write (PNG; required)"
    )
    arguments.json_argument(parser, "the measurements")
    arguments.dpi_argument(parser)
    arguments.encoding_arguments(parser)
    arguments.value_range_argument(parser)
    arguments.force_argument(parser, "output")


def run(args: argparse.Namespace) -> int:
    source = Path(args.input)
    output = Path(args.output)
    options = encode_options(args, colors=DEFAULT_COLORS)
    require_file(source)
    check_output(output, [source], args.force)
    figures.require("the figure")
    image = prepare(source, options)
    warm_encoder(image, args.colors, options.encoder_kwargs())
    trials = explore.trials(
        image,
        args.colors,
        progress=functools.partial(progress, label="compare", unit="K"),
        **options.encoder_kwargs(),
    )
    title = f"{source.name}: {options.describe()}"
    write(output, figures.comparison_figure(title, image, trials, args.dpi), [source], args.force)
    if args.json:
        print(trials_json(str(source), trials, figure=str(output)))
    else:
        print_trials(str(source), trials)
        print(f"figure: {output}")
    hint_if_ssim_missing(trials)
    return EXIT_OK
