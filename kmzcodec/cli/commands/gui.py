"""``kmz gui``: explore K in the browser; the web app is the kmzcodec.gui package."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..inputs import require_file

SUMMARY = "explore K in the browser (a local web app)"
DESCRIPTION = (
    "Start a local web app (127.0.0.1, with an access token) to compare K, methods and\n"
    "dithering side by side on an image, and to download the .kmz. Ctrl-C stops it."
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ... import gui

    gui.add_arguments(parser)


def run(args: argparse.Namespace) -> int:
    from ... import gui

    if args.image is not None:  # a missing IMAGE is a usage error (exit 2), as in every command
        require_file(Path(args.image))
    return gui.run(args)
