"""``kmz sweep``: PSNR, SSIM and bytes against K, and the elbow of the quality curve."""

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
from ..status import EXIT_OK, UsageError

SUMMARY = "PSNR, SSIM and bytes against K, with the elbow"
DESCRIPTION = (
    "Encode at each K and measure PSNR, SSIM, SSIMULACRA2 (on the centre "
    f"{metrics.SSIMULACRA2_CROP}x{metrics.SSIMULACRA2_CROP} pixels)\n"
    "and size; print the table (or JSON) and optionally plot them against K on a log2 axis,\n"
    "the elbow marked."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", metavar="INPUT", help="image to sweep (as for encode)")
    arguments.color_list_argument(parser, arguments.SWEEP_KS, "palette sizes to try, at least two")
    parser.add_argument(
        "-o", "--output", metavar="PLOT.png", default=None, help="plot to write (default: no plot)"
    )
    parser.add_argument(
        "--elbow-on",
        choices=explore.ELBOW_METRICS,
        default="ssim",
        help="curve whose elbow is reported and marked; PSNR when scikit-image is missing "
        "(default: %(default)s)",
    )
    arguments.json_argument(parser, "the table and the elbow")
    arguments.dpi_argument(parser)
    arguments.encoding_arguments(parser)
    arguments.value_range_argument(parser)
    arguments.force_argument(parser, "plot")


def run(args: argparse.Namespace) -> int:
    source = Path(args.input)
    output = Path(args.output) if args.output else None
    options = encode_options(args, colors=DEFAULT_COLORS)
    require_file(source)
    if output is not None:
        check_output(output, [source], args.force)
        figures.require("the plot (-o)")
    if len(args.colors) < 2:
        raise UsageError("a sweep needs at least two values of K")
    metric = args.elbow_on
    fallback = metric == "ssim" and not metrics.ssim_available()
    if fallback:  # the table is still worth having; say which curve the elbow is on
        metric = "psnr"
    image = prepare(source, options)
    warm_encoder(image, args.colors, options.encoder_kwargs())
    result = explore.sweep(
        image,
        args.colors,
        metric=metric,
        progress=functools.partial(progress, label="sweep", unit="K"),
        **options.encoder_kwargs(),
    )
    trials, elbow_k = result.trials, result.elbow
    if output is not None:
        first = trials[0].comparison
        title = f"{source.name}, {first.width}x{first.height}: {options.describe()}"
        write(output, figures.sweep_figure(title, trials, elbow_k, metric, args.dpi), [source], args.force)
    if args.json:
        extra: dict[str, object] = {"elbow": {"k": elbow_k, "metric": metric}}
        if output is not None:
            extra["figure"] = str(output)
        print(trials_json(str(source), trials, **extra))
    else:
        print_trials(str(source), trials, elbow_k)
        print(f"elbow (on {metric.upper()} against log2 K): K = {elbow_k}")
        if output is not None:
            print(f"figure: {output}")
    hint_if_ssim_missing(trials, "; the elbow is on PSNR" if fallback else "")
    return EXIT_OK
