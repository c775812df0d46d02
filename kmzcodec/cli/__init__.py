"""The ``kmz`` command: encode, decode, info, compare, sweep, convert, demo.

The notebook workflow as a tool: load an image, choose K, look at the result side
by side with its size, PSNR and SSIM, plot the effect of K; and convert folders.
The library does the work (``kmzcodec.encode`` / ``decode``, the measurements in
:mod:`kmzcodec.explore` and :mod:`kmzcodec.metrics`); this package parses options,
reads inputs, prints, draws and writes every output through :mod:`kmzcodec.fileio`
(temporary file, then rename: never a partial file, never an overwritten input).

Layout, modelled on pip's ``_internal/commands``:

- ``entry``: :func:`main`, which only parses and dispatches, and maps failures to exit codes;
- ``parser``: the top-level parser, built from ``commands`` (one module per command);
- ``arguments``: argument types and the option groups commands share;
- ``encoding``: the encoder options a command was given, checked together;
- ``inputs`` / ``outputs``: reading images (.mat and resizing included), writing files;
- ``reports``: tables, JSON, progress bars; ``figures``: matplotlib;
- ``workers``: ``convert``'s worker processes and signals; ``status``: exit codes.

Exit codes (also in ``kmz --help``):

- 0: success.
- 1: data error: an input that cannot be read or decoded (unreadable or corrupt
  file, not an image, a .mat file without an image array), an encoding that
  cannot meet its target, a failed write, an optional package a command cannot
  work without (the figure of ``compare``, ``sweep -o``; SSIM for ``-k auto``
  without a PSNR or size target); for ``convert``, at least one file failed (the
  others were still converted).
- 2: usage error: a bad option or value (K out of range, unknown format, an option
  the encoder refuses), a missing input path or output folder, an existing output
  without ``--force``, an output that is one of the inputs.
- 130: interrupted (Ctrl-C, SIGINT).
- 143: terminated (SIGTERM, during ``convert``).

Every error is one line on stderr, ``kmz: error: ...``; no traceback.
"""

from __future__ import annotations

from .entry import main
from .figures import DEFAULT_DPI, PANEL_INCHES
from .parser import build_parser
from .status import EXIT_DATA, EXIT_INTERRUPTED, EXIT_OK, EXIT_TERMINATED, EXIT_USAGE

__all__ = [
    "DEFAULT_DPI",
    "EXIT_DATA",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_TERMINATED",
    "EXIT_USAGE",
    "PANEL_INCHES",
    "build_parser",
    "main",
]
