"""Background work where only the newest request counts.

A :class:`Lane` is one worker thread with a single waiting slot. Submitting a
job bumps the lane's generation: a job still waiting is dropped at once (its
future raises :class:`Superseded`), and a running one sees that it is stale at
its next ``check()`` (between stages: quantize, write, measure) and stops there.
So dragging the K slider never builds a queue: at most one job runs and one
waits per lane. Request threads only submit and wait; the work itself runs here.

Interactive lanes share an :class:`Activity` count that background lanes (the
K sweep) wait on between steps, so a sweep never slows down the picture a user
is waiting for by more than the step it is in.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from concurrent.futures import Future
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

Check = Callable[[], None]


class Superseded(Exception):
    """A newer request for the same lane replaced this one."""


class Activity:
    """How many interactive jobs are running; background work waits for zero."""

    def __init__(self) -> None:
        self._count = 0
        self._changed = threading.Condition()

    @contextmanager
    def busy(self) -> Iterator[None]:
        with self._changed:
            self._count += 1
        try:
            yield
        finally:
            with self._changed:
                self._count -= 1
                self._changed.notify_all()

    def wait_idle(self, timeout: float) -> None:
        """Wait until no interactive job runs (at most ``timeout`` seconds: a sweep must not starve)."""
        with self._changed:
            self._changed.wait_for(lambda: self._count == 0, timeout)


@dataclass
class _Job:
    generation: int
    work: Callable[[Check], Any]
    future: Future[Any]


class Lane:
    """One worker thread running the newest job submitted to it (see the module docstring)."""

    def __init__(self, name: str, activity: Activity | None = None) -> None:
        self.name = name
        self._activity = activity
        self._generation = 0
        self._pending: _Job | None = None
        self._closed = False
        self._wake = threading.Condition()
        self._thread = threading.Thread(target=self._loop, name=f"kmz-gui-{name}", daemon=True)
        self._thread.start()

    def submit(self, work: Callable[[Check], Any]) -> Future[Any]:
        """Run ``work(check)`` after dropping the waiting job; ``check()`` raises Superseded when stale."""
        future: Future[Any] = Future()
        with self._wake:
            if self._closed:
                future.set_exception(Superseded("the server is stopping"))
                return future
            self._drop_pending()
            self._generation += 1
            self._pending = _Job(self._generation, work, future)
            self._wake.notify()
        return future

    def cancel(self) -> None:
        """Make the running job stale and drop the waiting one (the image changed)."""
        with self._wake:
            self._drop_pending()
            self._generation += 1

    def close(self, wait: float = 0.0) -> None:
        """Stop taking jobs; a running one stops at its next check (or with the process: daemon thread)."""
        with self._wake:
            self._closed = True
            self._drop_pending()
            self._generation += 1
            self._wake.notify()
        self._thread.join(timeout=wait)

    def _drop_pending(self) -> None:
        if self._pending is not None:
            self._pending.future.set_exception(Superseded())
            self._pending = None

    def _stale(self, generation: int) -> bool:
        with self._wake:
            return generation != self._generation

    def _loop(self) -> None:
        while True:
            with self._wake:
                self._wake.wait_for(lambda: self._pending is not None or self._closed)
                if self._closed:
                    return
                job, self._pending = self._pending, None
            assert job is not None

            def check(generation: int = job.generation) -> None:
                if self._stale(generation):
                    raise Superseded()

            try:
                if self._activity is None:
                    result = job.work(check)
                else:
                    with self._activity.busy():
                        result = job.work(check)
            except BaseException as exc:  # handed to the waiting request thread, which reports it
                job.future.set_exception(exc)
            else:
                job.future.set_result(result)
