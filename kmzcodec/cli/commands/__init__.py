"""One module per ``kmz`` command, each with the same four names:

- ``SUMMARY``: the line in ``kmz --help``; ``DESCRIPTION``: the top of ``kmz NAME --help``;
- ``add_arguments(parser)``: its options;
- ``run(args) -> int``: the command itself, returning the exit code (failures raise
  :class:`kmzcodec.cli.status.CliError`).

The order here is the order in ``kmz --help``.
"""

from __future__ import annotations

from types import ModuleType

from . import compare, convert, decode, demo, encode, gui, info, sweep

COMMANDS: dict[str, ModuleType] = {
    "encode": encode,
    "decode": decode,
    "info": info,
    "compare": compare,
    "sweep": sweep,
    "convert": convert,
    "demo": demo,
    "gui": gui,
}
