"""``kmz``'s entry point: parse, dispatch to the command, turn every failure into an exit code."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Sequence

from ..errors import KmzError
from .parser import build_parser
from .status import (
    EXIT_DATA,
    EXIT_INTERRUPTED,
    EXIT_TERMINATED,
    EXIT_USAGE,
    CliError,
    Terminated,
    error,
)


def main(argv: Sequence[str] | None = None) -> int:
    """Run ``kmz`` with ``argv`` (default: the command line); return the exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        return int(args.handler(args))
    except SystemExit as exc:  # --help, --version
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    except CliError as exc:
        error(str(exc))
        return exc.code
    except KmzError as exc:  # options the codec refuses (bad-option) are usage errors
        error(str(exc))
        return EXIT_USAGE if exc.reason == "bad-option" else EXIT_DATA
    except ImportError as exc:  # an optional package a command cannot work without
        error(str(exc))
        return EXIT_DATA
    except KeyboardInterrupt:
        error("interrupted")
        return EXIT_INTERRUPTED
    except Terminated:
        error("terminated")
        return EXIT_TERMINATED
    except BrokenPipeError:
        # The reader went away (kmz info x.kmz | head): stop quietly, as Unix tools do.
        with contextlib.suppress(OSError):
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_DATA
    except MemoryError:
        error("out of memory")
        return EXIT_DATA
