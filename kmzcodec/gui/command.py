"""Starting and stopping the GUI server, and the ``kmz gui`` command's options.

``start`` runs the server on a background thread and returns at once (tests,
benchmarks, notebooks); ``serve`` is the command: it prints the URL with its
token, opens the browser and blocks until Ctrl-C.
"""

from __future__ import annotations

import argparse
import sys
import threading
import webbrowser
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from PIL import Image

from ..errors import KmzError
from . import loading
from .server import DEFAULT_MAX_PIXELS, DEFAULT_MAX_UPLOAD, HOST, App, Handler, Server


@dataclass
class Running:
    """A server started by :func:`start`; ``url`` carries the token."""

    server: Server
    app: App
    thread: threading.Thread

    @property
    def port(self) -> int:
        return self.app.port

    @property
    def base_url(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def url(self) -> str:
        return f"{self.base_url}/?token={self.app.token}"

    def close(self) -> None:
        """Stop accepting requests, stop the workers, free the port."""
        self.server.shutdown()
        self.server.server_close()
        self.app.close()
        self.thread.join(timeout=5)

    def __enter__(self) -> Running:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _initial_image(path: str | Path, max_upload_bytes: int, max_pixels: int) -> loading.Loaded:
    """The one file the server ever opens by name: the IMAGE of the command line, read at start."""
    source = Path(path)
    try:
        size = source.stat().st_size
        if source.is_dir():
            raise KmzError(f"{source}: is a folder, not a file", "bad-input")
        if size > max_upload_bytes:
            raise KmzError(
                f"{source}: {size:,} bytes is over the upload limit ({max_upload_bytes:,})", "too-large"
            )
        data = source.read_bytes()
    except OSError as exc:
        raise KmzError(f"{source}: cannot read: {exc.strerror or exc}", "bad-input") from None
    try:
        return loading.load(data, source.name, max_pixels)
    except KmzError as exc:
        raise KmzError(f"{source}: {exc}", exc.reason) from None


def start(
    image_path: str | Path | None = None,
    *,
    port: int = 0,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD,
    max_pixels: int = DEFAULT_MAX_PIXELS,
) -> Running:
    """Start the GUI server on 127.0.0.1 (``port=0``: a free one) in a background thread.

    ``image_path`` is opened right away and shown when the page loads. Raises
    KmzError for an unreadable image or a port that is taken.
    """
    # Before anything is decoded: Pillow refuses larger images itself (and we check first).
    Image.MAX_IMAGE_PIXELS = max_pixels
    first = None if image_path is None else _initial_image(image_path, max_upload_bytes, max_pixels)
    app = App(max_upload_bytes=max_upload_bytes, max_pixels=max_pixels)
    handler = type("BoundHandler", (Handler,), {"app": app})
    try:
        server = Server((HOST, port), handler)
    except OSError as exc:
        app.close()
        raise KmzError(f"cannot listen on {HOST}:{port}: {exc.strerror or exc}", "bad-option") from None
    app.port = server.server_address[1]
    if first is not None:
        app.add_image(first)
    thread = threading.Thread(target=server.serve_forever, name="kmz-gui-server", daemon=True)
    thread.start()
    return Running(server, app, thread)


def serve(
    image_path: str | Path | None = None,
    port: int = 0,
    open_browser: bool = True,
    *,
    max_upload_bytes: int = DEFAULT_MAX_UPLOAD,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    out: TextIO | None = None,
) -> None:
    """Run the GUI until Ctrl-C: print the URL (with its token), open the browser, serve."""
    out = out or sys.stdout
    running = start(image_path, port=port, max_upload_bytes=max_upload_bytes, max_pixels=max_pixels)
    print(
        "kmz gui: open this URL in a browser (it holds the access token; Ctrl-C stops the server):", file=out
    )
    print(f"    {running.url}", file=out, flush=True)
    if open_browser:  # some browsers make webbrowser.open wait until they exit
        threading.Thread(target=webbrowser.open, args=(running.url,), daemon=True).start()
    try:
        while running.thread.is_alive():
            running.thread.join(0.5)
    except KeyboardInterrupt:
        print("kmz gui: stopping", file=out, flush=True)
    finally:
        running.close()


def _megabytes(text: str) -> int:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number of megabytes: {text!r}") from None
    if not 0 < value <= 1 << 20:
        raise argparse.ArgumentTypeError(f"must be above 0, not {text!r}")
    return int(value * (1 << 20))


def _pixels(text: str) -> int:
    try:
        value = int(float(text))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a pixel count: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {text!r}")
    return value


def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 0..65535 (0: any free port), not {text!r}")
    return int(text)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of ``kmz gui``."""
    parser.add_argument("image", nargs="?", metavar="IMAGE", help="image to open at start (optional)")
    parser.add_argument(
        "--port", type=_port, default=0, help="port on 127.0.0.1, 0 for any free one (default: 0)"
    )
    parser.add_argument(
        "--no-browser",
        action="store_true",
        help="only print the URL (default: off, also open it in a browser)",
    )
    parser.add_argument(
        "--max-upload",
        type=_megabytes,
        default=str(DEFAULT_MAX_UPLOAD >> 20),  # a string default goes through type=, as typed
        metavar="MB",
        help="largest upload accepted, in MiB (default: %(default)s)",
    )
    parser.add_argument(
        "--max-pixels",
        type=_pixels,
        default=str(DEFAULT_MAX_PIXELS),
        metavar="N",
        help="largest image accepted, in pixels (default: %(default)s)",
    )


def run(args: argparse.Namespace) -> int:
    """``kmz gui``: serve until Ctrl-C; 0 on a clean stop. Bad IMAGE: KmzError (the command reports it)."""
    serve(
        args.image,
        args.port,
        not args.no_browser,
        max_upload_bytes=args.max_upload,
        max_pixels=args.max_pixels,
    )
    return 0
