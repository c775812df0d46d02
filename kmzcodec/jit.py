"""numba compilation at first call, cached on disk.

Importing numba costs about 0.3 s, which commands that never reach a compiled
kernel (decoding, ``kmz info``) need not pay; so kernels are plain Python
functions, compiled the first time they are called.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable
from functools import wraps
from typing import Any, Literal


def compiled(function: Callable[..., Any]) -> Callable[..., Any]:
    """``function`` compiled by numba (``nogil``, cached on disk) at its first call."""
    done: list[Callable[..., Any]] = []

    @wraps(function)
    def call(*args: Any) -> Any:
        if not done:
            from numba import njit

            done.append(njit(cache=True, nogil=True)(function))  # nogil: kernels run on threads
        return done[0](*args)

    return call


def compile_in_place(
    namespace: dict[str, Any], names: Iterable[str], done: list[bool], inline: Iterable[str] = ()
) -> None:
    """Replace ``namespace[name]`` by its compiled form, in order (so each kernel calls
    the compiled form of the ones before it), once: ``done`` records that it happened.
    Those ``inline`` are inlined into their callers (numba's inline="always")."""
    if done:
        return
    from numba import njit

    with _LOCK:
        if not done:
            for name in names:
                mode: Literal["never", "always"] = "always" if name in inline else "never"
                namespace[name] = njit(cache=True, nogil=True, inline=mode)(namespace[name])
            done.append(True)


_LOCK = threading.Lock()
