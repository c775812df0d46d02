"""``kmz decode``: a .kmz to any format Pillow writes."""

from __future__ import annotations

import argparse
from pathlib import Path

from .. import arguments
from ..inputs import read_kmz, require_file
from ..outputs import check_output, render, save_format, write
from ..status import EXIT_OK

SUMMARY = "decode a .kmz to PNG, TIFF, WebP, ..."
DESCRIPTION = "Decode a .kmz file to any format Pillow writes, chosen by the output's extension."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("input", metavar="INPUT.kmz", help=".kmz file to decode")
    parser.add_argument(
        "-o", "--output", metavar="OUT.png", help="output image (default: INPUT with .png extension)"
    )
    arguments.force_argument(parser, "output")


def run(args: argparse.Namespace) -> int:
    source = Path(args.input)
    output = Path(args.output) if args.output else source.with_suffix(".png")
    fmt = save_format(output)
    require_file(source)
    check_output(output, [source], args.force)
    image = read_kmz(source)
    write(output, render(image, fmt, output), [source], args.force)
    print(f"{output}: {image.width}x{image.height} {fmt}, K = {image.info['colors']}")
    return EXIT_OK
