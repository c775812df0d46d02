"""Exit codes, the exceptions that carry them, and the one-line messages on stderr."""

from __future__ import annotations

import sys

PROG = "kmz"

#: Success.
EXIT_OK = 0
#: Data error: unreadable or corrupt input, a failed write, a target that cannot be met,
#: an optional package a command cannot work without; convert: at least one file failed.
EXIT_DATA = 1
#: Usage error: a bad option or value, a missing input, an existing output without --force,
#: an output that is one of the inputs.
EXIT_USAGE = 2
#: Interrupted (Ctrl-C, SIGINT): 128 + 2, as shells report it.
EXIT_INTERRUPTED = 130
#: Terminated (SIGTERM) during ``convert``: 128 + 15.
EXIT_TERMINATED = 143

#: The epilog of ``kmz --help``: every code above, in words.
EXIT_CODES_HELP = (
    f"exit codes: {EXIT_OK} success; {EXIT_DATA} data error (unreadable or corrupt input, failed\n"
    "write, a target that cannot be met, a missing optional package a command needs;\n"
    f"convert: some files failed); {EXIT_USAGE} usage error (bad option, missing input, existing\n"
    f"output without --force, output == input); {EXIT_INTERRUPTED} interrupted (Ctrl-C);\n"
    f"{EXIT_TERMINATED} terminated (SIGTERM, convert)."
)


class CliError(Exception):
    """A failure reported as one line, ``kmz: error: <message>``, and an exit code."""

    code = EXIT_DATA

    def __init__(self, message: str, code: int | None = None) -> None:
        super().__init__(message)
        if code is not None:
            self.code = code


class UsageError(CliError):
    code = EXIT_USAGE


class Terminated(BaseException):
    """SIGTERM during ``convert``: unwinds like KeyboardInterrupt, so temporary files go."""


def error(message: str) -> None:
    print(f"{PROG}: error: {message}", file=sys.stderr)


def note(message: str) -> None:
    """A remark that is not a failure (a missing optional package, a lossy format)."""
    print(f"{PROG}: note: {message}", file=sys.stderr)
