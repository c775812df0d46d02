"""``kmz encode``: one image to .kmz, with its size, ratio, PSNR, SSIM and SSIMULACRA2."""

from __future__ import annotations

import argparse
from pathlib import Path

from ... import metrics
from ...image import decode
from ...pixels import to_pixels
from ...request import encode
from .. import arguments
from ..encoding import encode_options
from ..inputs import prepare, require_file
from ..outputs import check_output, write
from ..reports import fmt_float, metrics_hint, relative
from ..status import EXIT_OK, note

SUMMARY = "encode an image as .kmz"
DESCRIPTION = (
    "Encode an image (anything Pillow reads, a .kmz, or a MATLAB .mat holding an image array)\n"
    "as .kmz, and report its size, compression ratio, PSNR, SSIM and SSIMULACRA2 (the latter\n"
    f"on the centre {metrics.SSIMULACRA2_CROP}x{metrics.SSIMULACRA2_CROP} pixels: it is slow)."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", metavar="INPUT", help="image to encode")
    parser.add_argument(
        "-o", "--output", metavar="OUT.kmz", help="output file (default: INPUT with .kmz extension)"
    )
    arguments.colors_argument(parser)
    arguments.value_range_argument(parser)
    arguments.palette_argument(parser)
    arguments.encoding_arguments(parser)
    arguments.auto_arguments(parser)
    arguments.force_argument(parser, "output")


def run(args: argparse.Namespace) -> int:
    source = Path(args.input)
    output = Path(args.output) if args.output else source.with_suffix(".kmz")
    options = encode_options(args)
    require_file(source)
    check_output(output, [source], args.force)  # refuse before the (slow) encoding
    image = prepare(source, options)
    encoded = encode(image, options)
    write(output, encoded.data, [source], args.force)
    decoded = decode(encoded.data)
    crop = metrics.SSIMULACRA2_CROP
    with_ssim, with_ssimulacra2 = metrics.ssim_available(), metrics.ssimulacra2_available()
    # Measured against what was encoded: with --value-range, the samples mapped by it.
    reference = image if options.value_range is None else to_pixels(image, options.value_range)
    c = metrics.compare(
        reference, decoded, len(encoded.data), with_ssim=with_ssim, with_ssimulacra2=with_ssimulacra2
    )
    print(
        f"{output}: {c.width}x{c.height}, K = {encoded.colors} ({encoded.quantized.method}), "
        f"{c.bytes:,} bytes, {relative(c.ratio)} than raw "
        f"({fmt_float(c.bits_per_pixel, 3)} bits/pixel), "
        f"PSNR {fmt_float(c.psnr, 2, ' dB')}, SSIM {fmt_float(c.ssim, 4)}, "
        f"SSIMULACRA2 {fmt_float(c.ssimulacra2, 2)} (centre {crop}x{crop})"
    )
    hint = metrics_hint(not with_ssim, not with_ssimulacra2)
    if hint is not None:
        note(hint)
    return EXIT_OK
