"""The ``kmz gui`` web server: standard-library HTTP on loopback, a token, a small content-based API.

Safety (as a local Jupyter server does it):

- it listens on 127.0.0.1 only and checks the Host header (no DNS rebinding);
- a random token is made at start; every request must carry it, in the URL query
  once (the answer sets a cookie and, for the page, redirects to a clean URL), then
  in that cookie or in an ``X-Kmz-Token`` header; anything else gets 403;
- it never opens a path a client names: images arrive as request bodies, capped
  in size, and ``Image.MAX_IMAGE_PIXELS`` plus a check of the header's size come
  before any decode (kmzcodec.gui.loading);
- a bad upload or a failed encode is a JSON error ``{"error", "reason"}`` that the
  page shows; the server keeps serving.

API (all under /api, JSON unless said otherwise):

- ``GET state``: limits, option lists, the current image (the one named on the
  command line, if any).
- ``POST image`` (body: the file's bytes; ``X-Kmz-Name``: its URI-encoded name,
  used only for display and to spot a MATLAB v4 file): loads it, answers its
  description and id.
- ``GET original?image=ID``: the image's pixels as PNG, for the page to show.
- ``POST encode`` ``{image, side, stage, generation, client, settings}``: the
  ``.kmz`` bytes as the body, the numbers as JSON in the ``X-Kmz-Result`` header.
  ``generation`` counts the page's changes per side (``client`` names the page):
  an older one than already seen is refused as superseded.
- ``POST ssim`` ``{side, generation, client}``: SSIM of that side's latest full result.
- ``POST sweep`` ``{image, settings}`` starts the effect-of-K sweep;
  ``GET sweep?id=ID`` reports its progress.

Stale work answers 409 ``{"superseded": true}``.
"""

from __future__ import annotations

import hmac
import http.cookies
import importlib.resources
import json
import secrets
import sys
import threading
import traceback
import urllib.parse
from collections import OrderedDict
from collections.abc import Callable
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .. import metrics
from ..errors import KmzError
from ..options import COLORSPACES, COMPRESSIONS, METHODS
from . import jobs, loading
from .lanes import Activity, Lane, Superseded

HOST = "127.0.0.1"
SIDES = ("a", "b")
#: Default cap on an upload's size, and on an image's pixel count (both options of ``kmz gui``).
DEFAULT_MAX_UPLOAD = 64 << 20
DEFAULT_MAX_PIXELS = 50_000_000
#: Pages (browser tabs, reloads) whose newest generation per side is remembered.
KEPT_CLIENTS = 8
#: Images kept in memory: the current one and the one before (requests for it may still be in flight).
KEPT_IMAGES = 2
#: An oversized upload is read and dropped up to this multiple of the cap (so the browser sees the
#: 413 answer); beyond it the connection is closed.
DRAIN_FACTOR = 16
MAX_JSON_BYTES = 1 << 16
#: How long a sweep waits for interactive work to finish before taking its next step anyway.
SWEEP_YIELD_SECONDS = 10.0
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' blob: data:; script-src 'self'; style-src 'self'; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class HttpError(Exception):
    def __init__(self, status: HTTPStatus, message: str, reason: str) -> None:
        super().__init__(message)
        self.status, self.reason = status, reason


def web_files() -> dict[str, Any]:
    """The page's files shipped in the package (kmzcodec/web), by name."""
    folder = importlib.resources.files("kmzcodec") / "web"
    return {
        entry.name: entry for entry in folder.iterdir() if entry.is_file() and not entry.name.startswith(".")
    }


class App:
    """The server's state: the token, the images, the lanes and the latest results."""

    def __init__(self, *, max_upload_bytes: int, max_pixels: int) -> None:
        self.token = secrets.token_urlsafe(32)
        self.max_upload_bytes, self.max_pixels = max_upload_bytes, max_pixels
        self.files = web_files()
        self.port = 0
        self._lock = threading.Lock()
        self.images: OrderedDict[str, loading.Loaded] = OrderedDict()
        self.current: str | None = None
        self.activity = Activity()
        self.lanes = {
            f"{side}-{stage}": Lane(f"{side}-{stage}", self.activity)
            for side in SIDES
            for stage in jobs.STAGES
        }
        self.lanes["load"] = Lane("load", self.activity)
        self.lanes["original"] = Lane("original", self.activity)  # PNGs of originals: never drop an upload
        # SSIM of a 4 MP image takes seconds: on its own lanes, it never delays the next picture.
        self.lanes.update({f"{side}-ssim": Lane(f"{side}-ssim") for side in SIDES})
        self.lanes["sweep"] = Lane("sweep")
        self.results: dict[str, tuple[str, int, jobs.Result]] = {}
        self.latest: OrderedDict[tuple[str, str], int] = OrderedDict()  # newest generation per page and side
        self._order = threading.Lock()
        self.sweeps: OrderedDict[str, jobs.Sweep] = OrderedDict()

    def close(self) -> None:
        for lane in self.lanes.values():
            lane.close()

    def add_image(self, loaded: loading.Loaded) -> str:
        image_id = secrets.token_hex(8)
        with self._lock:
            self.images[image_id] = loaded
            while len(self.images) > KEPT_IMAGES:
                self.images.popitem(last=False)
            self.current = image_id
            self.results.clear()
        for name, lane in self.lanes.items():  # work on the previous image is stale now
            if name not in ("load", "original"):
                lane.cancel()
        return image_id

    def image(self, image_id: object) -> loading.Loaded:
        with self._lock:
            loaded = self.images.get(image_id) if isinstance(image_id, str) else None
        if loaded is None:
            raise HttpError(HTTPStatus.NOT_FOUND, "that image is no longer open: open it again", "no-image")
        return loaded

    def describe(self, image_id: str) -> dict[str, object]:
        return {"id": image_id, **self.image(image_id).describe()}

    def state(self) -> dict[str, object]:
        return {
            "image": self.describe(self.current) if self.current else None,
            "limits": {
                "max_upload_bytes": self.max_upload_bytes,
                "max_pixels": self.max_pixels,
                "preview_pixels": loading.PREVIEW_PIXELS,
            },
            "options": {
                "methods": METHODS,
                "colorspaces": COLORSPACES,
                # all of them: the page shows each result through kmz.js, which reads every one
                "compressions": COMPRESSIONS,
                "max_k": jobs.SLIDER_MAX_COLORS,
                "targets": list(jobs.TARGETS),
            },
            "ssim": metrics.ssim_available(),
        }

    def run(self, lane: str, work: Callable[[Callable[[], None]], Any]) -> Any:
        """Run ``work`` on a lane and wait for it (the request thread does none of the work)."""
        return self.lanes[lane].submit(work).result()

    # ---------------------------------------------------------------- API operations

    def upload(self, data: bytes, name: str) -> dict[str, object]:
        loaded = self.run("load", lambda check: loading.load(data, name, self.max_pixels))
        return {"image": self.describe(self.add_image(loaded))}

    def original_png(self, image_id: str) -> bytes:
        loaded = self.image(image_id)
        if "png" not in loaded.cache:
            loaded.cache["png"] = self.run("original", lambda check: loading.png_bytes(loaded.pixels))
        return loaded.cache["png"]

    def encode(self, request: dict[str, Any]) -> tuple[bytes, dict[str, object]]:
        side, stage = request.get("side"), request.get("stage")
        if side not in SIDES or stage not in jobs.STAGES:
            raise KmzError(f"bad side {side!r} or stage {stage!r}", "bad-request")
        generation = _integer(request.get("generation"), "generation")
        client = _client(request)
        loaded = self.image(request.get("image"))
        settings = jobs.Settings.from_json(request.get("settings"))
        with self._order:
            # Requests can overtake each other on their way here (one connection each): an older
            # change must not replace a newer one. Generations count per page (client).
            if generation < self.latest.get((client, side), -1):
                raise Superseded()
            self.latest[(client, side)] = generation
            self.latest.move_to_end((client, side))
            while len(self.latest) > KEPT_CLIENTS * len(SIDES):
                self.latest.popitem(last=False)
            if stage == "preview":  # a new change: that side's full-size work is stale
                self.lanes[f"{side}-full"].cancel()
                self.lanes[f"{side}-ssim"].cancel()
            lane = self.lanes[f"{side}-{stage}"]
            work = lane.submit(lambda check: jobs.encode(loaded, settings, stage, check))
        result = work.result()
        if result.numbers["stage"] == "full":
            with self._lock:
                self.results[side] = (client, generation, result)
        return result.data, {**result.numbers, "side": side, "generation": generation}

    def ssim(self, request: dict[str, Any]) -> dict[str, object]:
        side, generation, client = request.get("side"), request.get("generation"), _client(request)
        with self._lock:
            latest = self.results.get(side) if isinstance(side, str) else None
        if latest is None or latest[:2] != (client, generation):
            raise Superseded()
        result = latest[2]
        value = self.run(f"{side}-ssim", lambda check: jobs.ssim(result))
        return {"side": side, "generation": generation, "ssim": value}

    def start_sweep(self, request: dict[str, Any]) -> dict[str, object]:
        loaded = self.image(request.get("image"))
        settings = jobs.Settings.from_json(request.get("settings"), need_colors=False)
        state = jobs.new_sweep(loaded)
        sweep_id = secrets.token_hex(8)
        with self._lock:
            self.sweeps[sweep_id] = state
            while len(self.sweeps) > 2:
                self.sweeps.popitem(last=False)

        def wait() -> None:
            self.activity.wait_idle(SWEEP_YIELD_SECONDS)

        future = self.lanes["sweep"].submit(lambda check: jobs.sweep(loaded, settings, state, check, wait))
        future.add_done_callback(lambda done: _mark_stopped(state, done.exception()))
        return {"sweep": sweep_id, **state.snapshot()}

    def sweep_state(self, sweep_id: str) -> dict[str, object]:
        with self._lock:
            state = self.sweeps.get(sweep_id)
        if state is None:
            raise Superseded()
        return state.snapshot()


def _mark_stopped(state: jobs.Sweep, error: BaseException | None) -> None:
    if error is None:
        return
    with state.lock:
        state.done = True
        state.error = "cancelled" if isinstance(error, Superseded) else f"failed: {error}"


def _client(request: dict[str, Any]) -> str:
    """The page's own random id (one per page load): its generations count from 1."""
    client = request.get("client", "")
    if not isinstance(client, str) or len(client) > 64:
        raise KmzError("client must be a short string", "bad-request")
    return client


def _integer(value: object, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise KmzError(f"{name} must be an integer", "bad-request")
    return value


class Handler(BaseHTTPRequestHandler):
    """Routes requests to :class:`App`; every answer has a length, so connections are kept alive."""

    protocol_version = "HTTP/1.1"
    server_version = "kmz-gui"
    app: App  # set on the subclass made by kmzcodec.gui.start

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass  # quiet: a URL may hold the token, and the terminal is the user's

    # ---------------------------------------------------------------- plumbing

    @property
    def cookie_name(self) -> str:
        return f"kmz-gui-token-{self.app.port}"  # cookies ignore ports: one name per server

    def _authorised(self, query: dict[str, list[str]]) -> tuple[bool, bool]:
        """(allowed, token came in the query)."""
        token = self.app.token
        given = query.get("token", [None])[0]
        if given is not None and hmac.compare_digest(given.encode(), token.encode()):
            return True, True
        header = self.headers.get("X-Kmz-Token")
        if header is not None and hmac.compare_digest(header.encode(), token.encode()):
            return True, False
        cookies = http.cookies.SimpleCookie()
        try:
            cookies.load(self.headers.get("Cookie", ""))
        except http.cookies.CookieError:
            return False, False
        morsel = cookies.get(self.cookie_name)
        return morsel is not None and hmac.compare_digest(morsel.value.encode(), token.encode()), False

    def _host_allowed(self) -> bool:
        host = self.headers.get("Host")
        return host is None or host in (f"{HOST}:{self.app.port}", f"localhost:{self.app.port}")

    def _send(
        self,
        status: HTTPStatus,
        body: bytes,
        content_type: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in {**SECURITY_HEADERS, **(headers or {})}.items():
            self.send_header(name, value)
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _json(self, status: HTTPStatus, payload: object, headers: dict[str, str] | None = None) -> None:
        self._send(status, json.dumps(payload).encode(), "application/json", headers)

    def _error(self, status: HTTPStatus, message: str, reason: str) -> None:
        self._json(status, {"error": message, "reason": reason})

    def _body(self, limit: int, what: str) -> bytes:
        length_header = self.headers.get("Content-Length")
        if length_header is None or not length_header.isdigit():
            self.close_connection = True
            raise HttpError(HTTPStatus.LENGTH_REQUIRED, "the request needs a Content-Length", "bad-request")
        length = int(length_header)
        if length > limit:
            self._drain(length, limit)
            raise HttpError(
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                f"{what} too large: {length:,} bytes (this server takes at most {limit:,})",
                "too-large",
            )
        return self.rfile.read(length)

    def _drain(self, length: int, limit: int) -> None:
        """Read and drop an oversized body, so the browser reads our answer instead of a reset."""
        if length > DRAIN_FACTOR * max(limit, 1 << 20):
            self.close_connection = True
            return
        while length > 0:
            chunk = self.rfile.read(min(length, 1 << 20))
            if not chunk:
                break
            length -= len(chunk)

    def _request_json(self) -> dict[str, Any]:
        try:
            value = json.loads(self._body(MAX_JSON_BYTES, "request"))
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise HttpError(HTTPStatus.BAD_REQUEST, f"bad JSON: {exc}", "bad-request") from None
        if not isinstance(value, dict):
            raise HttpError(HTTPStatus.BAD_REQUEST, "expected a JSON object", "bad-request")
        return value

    # ---------------------------------------------------------------- dispatch

    def do_GET(self) -> None:
        self._handle()

    def do_HEAD(self) -> None:
        self._handle()

    def do_POST(self) -> None:
        self._handle()

    def _handle(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        query = urllib.parse.parse_qs(url.query)
        if not self._host_allowed():
            self.close_connection = True
            self._error(HTTPStatus.FORBIDDEN, "wrong Host header", "forbidden")
            return
        allowed, in_query = self._authorised(query)
        if not allowed:
            if self.command == "POST":
                self.close_connection = True  # the body is not read
            text = "forbidden: open the URL that `kmz gui` printed (it holds the access token)"
            if url.path.startswith("/api/"):
                self._error(HTTPStatus.FORBIDDEN, text, "forbidden")
            else:  # a person at the address bar
                self._send(HTTPStatus.FORBIDDEN, (text + "\n").encode(), "text/plain; charset=utf-8")
            return
        cookie = {}
        if in_query:
            cookie = {"Set-Cookie": f"{self.cookie_name}={self.app.token}; Path=/; HttpOnly; SameSite=Strict"}
        try:
            self._route(url.path, query, cookie)
        except HttpError as exc:
            self._error(exc.status, str(exc), exc.reason)
        except Superseded:
            self._json(HTTPStatus.CONFLICT, {"superseded": True})
        except KmzError as exc:
            status = (
                HTTPStatus.REQUEST_ENTITY_TOO_LARGE if exc.reason == "too-large" else HTTPStatus.BAD_REQUEST
            )
            self._error(status, str(exc), exc.reason)
        except MemoryError:
            self._error(
                HTTPStatus.INSUFFICIENT_STORAGE, "out of memory: try a smaller image", "out-of-memory"
            )
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True
        except Exception as exc:  # the server must keep serving; the page shows the message
            traceback.print_exc(file=sys.stderr)
            self._error(
                HTTPStatus.INTERNAL_SERVER_ERROR, f"internal error: {type(exc).__name__}: {exc}", "internal"
            )

    def _route(self, path: str, query: dict[str, list[str]], cookie: dict[str, str]) -> None:
        app, command = self.app, self.command
        if command in ("GET", "HEAD") and path == "/":
            if cookie:  # drop the token from the address bar (and from the history)
                self._send(HTTPStatus.SEE_OTHER, b"", "text/plain", {**cookie, "Location": "/"})
                return
            self._static("index.html")
        elif command in ("GET", "HEAD") and path.startswith("/static/"):
            self._static(path.removeprefix("/static/"), cookie)
        elif command == "GET" and path == "/api/state":
            self._json(HTTPStatus.OK, app.state(), cookie)
        elif command == "GET" and path == "/api/original":
            self._send(HTTPStatus.OK, app.original_png(query.get("image", [""])[0]), "image/png", cookie)
        elif command == "GET" and path == "/api/sweep":
            self._json(HTTPStatus.OK, app.sweep_state(query.get("id", [""])[0]))
        elif command == "POST" and path == "/api/image":
            name = urllib.parse.unquote(self.headers.get("X-Kmz-Name", "image"))[:200]
            self._json(HTTPStatus.OK, app.upload(self._body(app.max_upload_bytes, "upload"), name))
        elif command == "POST" and path == "/api/encode":
            data, numbers = app.encode(self._request_json())
            self._send(HTTPStatus.OK, data, "application/octet-stream", {"X-Kmz-Result": json.dumps(numbers)})
        elif command == "POST" and path == "/api/ssim":
            self._json(HTTPStatus.OK, app.ssim(self._request_json()))
        elif command == "POST" and path == "/api/sweep":
            self._json(HTTPStatus.OK, app.start_sweep(self._request_json()))
        else:
            raise HttpError(HTTPStatus.NOT_FOUND, f"no such page: {command} {path}", "not-found")

    def _static(self, name: str, headers: dict[str, str] | None = None) -> None:
        entry = self.app.files.get(name)  # names of the shipped files only: never a path from the client
        if entry is None:
            raise HttpError(HTTPStatus.NOT_FOUND, f"no such file: {name}", "not-found")
        suffix = name[name.rfind(".") :]
        self._send(
            HTTPStatus.OK, entry.read_bytes(), CONTENT_TYPES.get(suffix, "application/octet-stream"), headers
        )


class Server(ThreadingHTTPServer):
    daemon_threads = True  # a browser's idle keep-alive connection must not hold up Ctrl-C
