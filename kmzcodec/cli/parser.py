"""The ``kmz`` argument parser: the top level, and one sub-parser per command module."""

from __future__ import annotations

import argparse

from .. import __version__
from .commands import COMMANDS
from .status import EXIT_CODES_HELP, PROG, UsageError


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line (``kmz: error: ...``) and exit code 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise UsageError(f"{message} (see '{self.prog} --help')")


class _Formatter(argparse.RawDescriptionHelpFormatter):
    def __init__(self, prog: str) -> None:
        super().__init__(prog, max_help_position=30)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog=PROG,
        formatter_class=_Formatter,
        description="Encode, decode, inspect and compare .kmz palette images (kmzcodec).",
        epilog=EXIT_CODES_HELP + "\n\nstart with:  kmz demo      (encodes a bundled photo at K = 4, 16, 64)",
    )
    parser.add_argument(
        "--version", action="version", version=f"%(prog)s {__version__}", help="show the version and exit"
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True, parser_class=_Parser)
    for name, module in COMMANDS.items():
        sub = commands.add_parser(
            name, help=module.SUMMARY, description=module.DESCRIPTION, formatter_class=_Formatter
        )
        module.add_arguments(sub)
        sub.set_defaults(command=name, handler=module.run)
    return parser
