"""The system's Chromium, headless, as the page's tests and benchmarks drive it through Playwright.

Browsers cannot be downloaded by pip (nor by ``playwright install`` on machines without
network), so Playwright is pointed at Debian's ``chromium`` package; ``KMZ_CHROMIUM``
names another executable. The flags keep it headless and off the network (no
background requests, no updates, no sync): pages are served from 127.0.0.1.
"""

from __future__ import annotations

import functools
import os
import shutil
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

#: Chromium's command-line flags for Playwright's ``launch(args=...)``.
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def executable() -> str | None:
    """The Chromium to launch: ``KMZ_CHROMIUM``, else ``chromium`` on the PATH, or None."""
    return os.environ.get("KMZ_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")


class StaticFiles(SimpleHTTPRequestHandler):
    """Files of a folder, quietly, ``.js`` as JavaScript (ES modules need it); subclasses may
    add ``in_memory`` bodies served at their paths first."""

    in_memory: ClassVar[dict[str, bytes]] = {}

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        pass

    def do_GET(self) -> None:
        body = self.in_memory.get(self.path)
        if body is None:
            super().do_GET()
            return
        self.send_response(200)
        self.send_header("Content-Type", self.guess_type(self.path) if "." in self.path else "text/html")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def guess_type(self, path: str | os.PathLike[str]) -> str:
        return "text/javascript" if str(path).endswith(".js") else super().guess_type(path)


@contextmanager
def serving(folder: Path, handler: type[StaticFiles] = StaticFiles) -> Iterator[str]:
    """``http://127.0.0.1:PORT`` serving ``folder`` (pages load ES modules over http, not file:)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(handler, directory=str(folder)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
