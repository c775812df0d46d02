"""``kmz gui``: explore K in the browser; the web app is the kmzcodec.gui package."""

from __future__ import annotations

import argparse

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

    return gui.run(args)
