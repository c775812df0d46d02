"""Signal handling for ``kmz convert``: SIGINT left to the parent, SIGTERM turned into an exception."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from typing import Any

from .status import Terminated


@contextlib.contextmanager
def signal_handled(signum: int, handler: Any) -> Iterator[None]:
    """``handler`` for ``signum`` within the block (outside the main thread: left alone)."""
    try:
        previous = signal.signal(signum, handler)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signum, previous)


def terminate_on_sigterm() -> contextlib.AbstractContextManager[None]:
    """Turn SIGTERM into an exception, so the usual unwinding stops workers and cleans up."""

    def handler(signum: int, frame: object) -> None:
        raise Terminated()

    return signal_handled(signal.SIGTERM, handler)
