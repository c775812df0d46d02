"""`kmz gui` in a real browser: headless Chromium driven by Playwright against the real server.

The browser tests skip without Playwright or Chromium (they fail instead when
KMZ_REQUIRE_BROWSER=1, as in CI); the server and lane tests run everywhere.

The page is used as a person would: open a generated image, change K and dithering,
read the numbers, download the .kmz; the file is then decoded in Python and must
hold exactly the pixels the page showed. Bad uploads must give a message in the
page and leave the server serving. Without the token, every request is refused.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

import kmzcodec
from kmzcodec import gui
from kmzcodec.gui import headless
from kmzcodec.gui.lanes import Lane, Superseded

CHROMIUM = headless.executable() or "/usr/bin/chromium"
#: Small limits, so the oversized upload and the decompression bomb stay small files.
MAX_UPLOAD = 400_000
MAX_PIXELS = 2_000_000
REPO = Path(__file__).resolve().parents[1]


def png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, "PNG")
    return buffer.getvalue()


def field_image() -> np.ndarray:
    """A smooth colour field with some noise: K changes the picture visibly and measurably."""
    rng = np.random.default_rng(7)
    y, x = np.mgrid[0:120, 0:180]
    rgb = np.stack([x * 255 / 179, y * 255 / 119, (x + y) * 255 / 298], axis=2)
    return np.clip(rgb + rng.normal(0, 6, rgb.shape), 0, 255).astype(np.uint8)


@pytest.fixture(scope="module")
def server() -> Iterator[gui.Running]:
    with gui.start(max_upload_bytes=MAX_UPLOAD, max_pixels=MAX_PIXELS) as running:
        yield running


def _no_browser(why: str) -> None:
    # CI sets KMZ_REQUIRE_BROWSER=1: there a missing browser is a failure, not a skip.
    if os.environ.get("KMZ_REQUIRE_BROWSER") == "1":
        pytest.fail(why)
    pytest.skip(why)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright import sync_api
    except ImportError:
        _no_browser("the browser tests need Playwright: pip install 'kmzcodec[browser]'")
    if not Path(CHROMIUM).exists():
        _no_browser(f"no Chromium at {CHROMIUM} (apt-get install chromium, or set KMZ_CHROMIUM)")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=headless.ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: Any, server: gui.Running) -> Iterator[Any]:
    context = browser.new_context(accept_downloads=True, viewport={"width": 1280, "height": 800})
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(server.url)
    page.wait_for_selector("body[data-ready=true]")
    assert "token" not in page.url  # the token leaves the address bar at once
    yield page
    context.close()
    assert errors == []


#: What each side is doing, for a failure message.
SIDES_STATE = """JSON.stringify(Object.values(window.kmzGui.sides).map((side) => ({
    side: side.name, generation: side.generation, busy: side.busy, stage: side.canvas.dataset.stage,
    shown: side.canvas.dataset.generation, status: side.root.querySelector('.status').textContent})))"""


def until(page: Any, expression: str, timeout: float = 30.0) -> Any:
    """Poll a page expression until it is truthy (the page's CSP rules out wait_for_function's eval)."""
    deadline = time.monotonic() + timeout
    while not (value := page.evaluate(expression)):
        if time.monotonic() > deadline:
            debug = page.evaluate(SIDES_STATE)
            raise AssertionError(f"timed out waiting for {expression}; message: {message(page)!r}; {debug}")
        time.sleep(0.05)
    return value


def message(page: Any) -> str:
    return page.evaluate(
        "document.querySelector('#message').hidden ? '' : document.querySelector('#message').innerText"
    )


def open_file(page: Any, name: str, data: bytes) -> None:
    page.set_input_files(
        "#file", files=[{"name": name, "mimeType": "application/octet-stream", "buffer": data}]
    )


def shown(page: Any, side: str = "b") -> int:
    """Wait until the side's current generation is shown at full size; return the generation."""
    return until(
        page,
        f"""(() => {{ const side = window.kmzGui.sides.{side};
        const canvas = side.canvas;
        return canvas.dataset.stage === 'full' && canvas.dataset.generation === String(side.generation)
            && !side.busy && side.generation; }})()""",
    )


def canvas_pixels(page: Any, side: str = "b") -> np.ndarray:
    encoded, width, height = page.evaluate(f"""(() => {{
        const canvas = document.querySelector('#canvas-{side}');
        const data = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
        let text = '';
        for (let i = 0; i < data.length; i += 0x8000) {{
            text += String.fromCharCode(...data.subarray(i, i + 0x8000));
        }}
        return [btoa(text), canvas.width, canvas.height]; }})()""")
    return np.frombuffer(base64.b64decode(encoded), dtype=np.uint8).reshape(height, width, 4)


def numbers(page: Any, side: str = "b") -> dict[str, str]:
    return page.evaluate(f"""Object.fromEntries([...document.querySelectorAll('#side-{side} [data-n]')]
        .map((cell) => [cell.dataset.n, cell.textContent]))""")


def request(
    server: gui.Running,
    path: str,
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    call = urllib.request.Request(server.base_url + path, data=data, headers=headers or {})
    try:
        with urllib.request.urlopen(call, timeout=30) as answer:
            return answer.status, dict(answer.headers), answer.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def test_flow_k_dither_download(page: Any, tmp_path: Path) -> None:
    pixels = field_image()
    data = png(pixels)
    open_file(page, "field.png", data)
    until(page, "kmzGui.image && kmzGui.image.name === 'field.png'")
    assert "field.png — 180 × 120" in page.inner_text("#image-info")
    shown(page)
    first_numbers, first_picture = numbers(page), canvas_pixels(page)
    assert first_numbers["k"] == "16"
    assert re.fullmatch(r"[\d.]+ KiB|\d+ B", first_numbers["bytes"])

    before = page.evaluate("window.kmzGui.sides.b.generation")
    page.locator("#side-b .k-number").fill("4")
    page.locator("#side-b .k-number").press("Enter")  # a typed value counts when committed
    assert shown(page) == before + 1
    until(page, "document.querySelector('#side-b [data-n=ssim]').textContent !== 'measuring…'")
    second_numbers, second_picture = numbers(page), canvas_pixels(page)
    assert second_numbers["k"] == "4"
    assert second_numbers["bytes"] != first_numbers["bytes"]
    assert float(second_numbers["psnr"].split()[0]) < float(first_numbers["psnr"].split()[0])
    assert not np.array_equal(first_picture, second_picture)
    assert len(np.unique(second_picture.reshape(-1, 4), axis=0)) <= 4

    before = page.evaluate("window.kmzGui.sides.b.generation")
    page.locator("#side-b .dither").fill("0.5")  # the strength slider, as if dragged to the middle
    assert shown(page) == before + 1
    assert page.inner_text("#side-b .dither-value") == "0.50"
    assert not page.is_disabled("#side-b .quality")  # the knob works with dithering too
    third_picture = canvas_pixels(page)
    assert not np.array_equal(second_picture, third_picture)

    with page.expect_download() as download_info:
        page.click("#side-b .download-kmz")
    download = download_info.value
    assert download.suggested_filename == "field-k4-dither.kmz"
    saved = tmp_path / "result.kmz"
    download.save_as(saved)
    decoded = kmzcodec.decode(saved.read_bytes()).convert("RGBA")
    assert np.array_equal(np.asarray(decoded), third_picture)  # what was shown is what was saved
    # ... and it is the file `kmz encode` writes for the same options.
    assert saved.read_bytes() == kmzcodec.encode(Image.open(io.BytesIO(data)), 4, dither=0.5)

    with page.expect_download() as download_info:
        page.click("#side-b .download-png")
    png_path = tmp_path / "result.png"
    download_info.value.save_as(png_path)
    assert np.array_equal(np.asarray(Image.open(png_path).convert("RGBA")), third_picture)

    # Dithering off, quality 40: the file kmz encode writes with that knob; the two combine too.
    page.locator("#side-b .dither").fill("0")
    shown(page)
    assert page.inner_text("#side-b .dither-value") == "off" and page.is_enabled("#side-b .quality")
    page.locator("#side-b .quality").fill("40")
    shown(page)
    assert page.is_enabled("#side-b .dither") and page.inner_text("#side-b .quality-value") == "40"
    with page.expect_download() as download_info:
        page.click("#side-b .download-kmz")
    traded = tmp_path / "traded.kmz"
    download_info.value.save_as(traded)
    assert download_info.value.suggested_filename == "field-k4.kmz"
    assert traded.read_bytes() == kmzcodec.encode(Image.open(io.BytesIO(data)), 4, quality=40)
    assert traded.read_bytes() != kmzcodec.encode(Image.open(io.BytesIO(data)), 4)
    page.locator("#side-b .dither").fill("0.5")
    shown(page)
    with page.expect_download() as download_info:
        page.click("#side-b .download-kmz")
    both = tmp_path / "both.kmz"
    download_info.value.save_as(both)
    assert both.read_bytes() == kmzcodec.encode(Image.open(io.BytesIO(data)), 4, dither=0.5, quality=40)

    # The effect-of-K chart fills in and marks an elbow.
    state = until(
        page, "window.kmzGui.sweep.state && window.kmzGui.sweep.state.done && window.kmzGui.sweep.state"
    )
    assert [point["k"] for point in state["points"]] == list(kmzcodec.autok.ELBOW_KS)
    assert state["elbow"] in kmzcodec.autok.ELBOW_KS
    assert page.locator("#chart circle").count() >= 2 * len(state["points"])
    page.screenshot(path=str(os.environ.get("KMZ_GUI_SCREENSHOT") or tmp_path / "gui.png"))


def test_bad_inputs_message_and_server_keeps_serving(page: Any, server: gui.Running) -> None:
    good = png(field_image())
    truncated = kmzcodec.encode(field_image(), 8)[:-30]
    bomb = io.BytesIO()
    Image.new("L", (3000, 3000)).save(bomb, "PNG")  # 9 MP of zeros: a few kilobytes
    oversized = np.random.default_rng(1).bytes(MAX_UPLOAD + 1)
    cases = [
        ("notes.txt", b"just some text, not a picture", "not an image"),
        ("cut.kmz", truncated, "not a valid .kmz"),
        ("bomb.png", bomb.getvalue(), "too large"),
        ("huge.png", oversized, "upload limit"),
    ]
    for name, data, expected in cases:
        open_file(page, name, data)
        until(page, f"document.querySelector('#message').innerText.includes({json.dumps(expected)})")
        assert name in message(page)
        page.click("#message .close")
    # Still serving: a good image opens and is encoded.
    open_file(page, "good.png", good)
    until(page, "kmzGui.image && kmzGui.image.name === 'good.png'")
    shown(page)
    assert message(page) == ""
    # The server's own checks, without the page's: an oversized body is refused with JSON.
    token = {"X-Kmz-Token": server.app.token}
    status, _, body = request(server, "/api/image", np.random.default_rng(2).bytes(MAX_UPLOAD + 10), token)
    assert status == 413 and "too large" in json.loads(body)["error"]
    status, _, body = request(server, "/api/image", bomb.getvalue(), token)
    assert status == 413 and json.loads(body)["reason"] == "too-large"
    assert request(server, "/api/state", headers=token)[0] == 200


def test_mat_and_kmz_uploads(server: gui.Running) -> None:
    scipy_io = pytest.importorskip("scipy.io")
    buffer = io.BytesIO()
    scipy_io.savemat(buffer, {"label": np.arange(3), "picture": field_image()})
    status, _, body = request(
        server, "/api/image", buffer.getvalue(), {"X-Kmz-Token": server.app.token, "X-Kmz-Name": "scan.mat"}
    )
    assert status == 200
    image = json.loads(body)["image"]
    assert (image["kind"], image["width"], image["height"]) == ("mat", 180, 120)
    kmz = kmzcodec.encode(field_image(), 8)
    status, _, body = request(server, "/api/image", kmz, {"X-Kmz-Token": server.app.token})
    assert status == 200 and json.loads(body)["image"]["kind"] == "kmz"


def test_token_required(server: gui.Running) -> None:
    token = server.app.token
    for path in ["/", "/static/app.js", "/api/state", "/api/original?image=x", f"/api/state?token={token}x"]:
        assert request(server, path)[0] == 403, path
    assert request(server, "/api/image", b"data")[0] == 403
    assert request(server, "/api/state", headers={"X-Kmz-Token": token[:-1]})[0] == 403
    assert request(server, "/api/state", headers={"Cookie": f"kmz-gui-token-{server.port}=wrong"})[0] == 403
    assert request(server, "/api/state", headers={"Cookie": f"kmz-gui-token-{server.port}={token}"})[0] == 200
    status, headers, _ = request(server, f"/api/state?token={token}")
    assert status == 200 and "HttpOnly" in headers["Set-Cookie"]
    # Another host name pointing here (DNS rebinding) is refused even with the token.
    assert request(server, "/api/state", headers={"X-Kmz-Token": token, "Host": "evil.example:80"})[0] == 403
    # Only the shipped files are served; no path of the client's is ever opened.
    assert request(server, "/static/../server.py", headers={"X-Kmz-Token": token})[0] == 404
    assert request(server, "/static/%2e%2e/gui/server.py", headers={"X-Kmz-Token": token})[0] == 404


def test_command_prints_url_and_stops_on_ctrl_c(tmp_path: Path) -> None:
    image = tmp_path / "start.png"
    image.write_bytes(png(field_image()))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "kmzcodec", "gui", "--no-browser", "--port", "0", str(image)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(2)]
        url = lines[1].strip()
        match = re.fullmatch(r"http://127\.0\.0\.1:(\d+)/\?token=([\w-]{40,})", url)
        assert match, lines
        base = f"http://127.0.0.1:{match[1]}"
        with urllib.request.urlopen(
            urllib.request.Request(f"{base}/api/state", headers={"X-Kmz-Token": match[2]})
        ) as answer:
            state = json.load(answer)
        assert state["image"]["name"] == "start.png"  # IMAGE is open from the start
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(f"{base}/api/state")
        assert refused.value.code == 403
    finally:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=15)
    assert process.returncode == 0, err
    assert "stopping" in out and "Traceback" not in err


def test_command_bad_image_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not a png")
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "kmzcodec", "gui", "--no-browser", str(bad)],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert done.returncode == 1
    assert done.stderr.count("\n") == 1 and "not an image" in done.stderr and done.stdout == ""


def test_port_in_use_is_a_clear_error(server: gui.Running) -> None:
    with pytest.raises(kmzcodec.KmzError, match="cannot listen on 127.0.0.1"):
        gui.start(port=server.port)


def test_older_change_never_replaces_newer(server: gui.Running) -> None:
    token = {"X-Kmz-Token": server.app.token}
    status, _, body = request(server, "/api/image", png(field_image()), token)
    image = json.loads(body)["image"]["id"]

    def encode(generation: int, client: str = "page-1") -> int:
        call = {"image": image, "side": "a", "stage": "full", "generation": generation, "client": client,
                "settings": {"k": 8}}  # fmt: skip
        return request(server, "/api/encode", json.dumps(call).encode(), token)[0]

    assert encode(5) == 200
    assert encode(3) == 409  # overtaken on the way: superseded
    assert encode(1, client="page-2") == 200  # a reloaded page counts from 1 again


def test_large_image_preview_first(page: Any) -> None:
    """Over ~1 MP a change shows a preview from a smaller copy first, then the full image."""
    y, x = np.mgrid[0:900, 0:1300]
    pixels = np.stack([x % 256, y % 256, (x // 5 + y // 7) % 256], axis=2).astype(np.uint8)
    open_file(page, "large.png", png(pixels))
    until(page, "kmzGui.image && kmzGui.image.name === 'large.png'")
    generation = shown(page)
    stages = page.evaluate(f"kmzGui.timings.filter((t) => t.side === 'b' && t.generation === {generation})")
    assert [t["stage"] for t in stages] == ["preview", "full"]
    preview = page.evaluate("kmzGui.image.preview")
    assert preview["width"] * preview["height"] <= 1 << 20 and preview["width"] < 1300
    assert canvas_pixels(page).shape == (900, 1300, 4)  # the full image replaced the preview


def test_lane_runs_only_the_newest_job() -> None:
    lane = Lane("test")
    started, release = threading.Event(), threading.Event()

    def slow(check: Any) -> str:
        started.set()
        release.wait(10)
        check()  # a newer job was submitted meanwhile: this one stops here
        return "slow"

    try:
        first = lane.submit(slow)
        assert started.wait(10)
        second = lane.submit(lambda check: "second")  # waits behind the running one ...
        third = lane.submit(lambda check: "third")  # ... and is dropped for this one
        release.set()
        with pytest.raises(Superseded):
            first.result(10)
        with pytest.raises(Superseded):
            second.result(10)
        assert third.result(10) == "third"
    finally:
        lane.close(wait=5)


def test_settings_take_a_dither_strength_and_quality() -> None:
    from kmzcodec.gui.jobs import Settings

    settings = Settings.from_json({"k": 8, "dither": 0.25})
    assert (settings.dither, settings.quality) == (0.25, 100)
    assert settings.options()["dither"] == 0.25
    assert Settings.from_json({"k": 8, "dither": True}).dither == kmzcodec.options.DEFAULT_DITHER_STRENGTH
    assert Settings.from_json({"k": 8}).options()["quality"] == 100
    assert Settings.from_json({"k": 8, "quality": 60}).options()["quality"] == 60
    both = Settings.from_json({"k": 8, "quality": 60, "dither": 0.5}).options()
    assert (both["quality"], both["dither"]) == (60, 0.5)
    auto = Settings.from_json({"k": "auto", "target": "ssimulacra2", "target_value": 60})
    assert auto.options()["min_ssimulacra2"] == 60.0
    for bad in (
        {"dither": 1.5},
        {"dither": "yes"},
        {"quality": 101},
        {"quality": 50.5},
    ):
        with pytest.raises(kmzcodec.KmzError) as caught:
            Settings.from_json({"k": 8, **bad})
        assert caught.value.reason == "bad-option"


def test_zoom_split_and_chart_pick(page: Any) -> None:
    """The viewer's zoom buttons and split handle, and a click on the chart choosing K."""
    open_file(page, "field.png", png(field_image()))
    until(page, "kmzGui.image && kmzGui.image.name === 'field.png'")
    shown(page)
    ratio = page.evaluate("devicePixelRatio")
    for zoom in ("1", "2", "4"):
        page.locator(f"#zoom button[data-zoom='{zoom}']").click()
        assert page.inner_text("#zoom-level") == f"{int(zoom) * 100} %"
        assert page.evaluate("kmzGui.view.scale") * ratio == pytest.approx(int(zoom))
    page.locator("#zoom button[data-zoom='fit']").click()
    assert page.evaluate("kmzGui.view.zoom") == "fit"
    handle = page.locator("#handle")
    assert handle.get_attribute("aria-valuenow") == "50"
    handle.focus()
    handle.press("ArrowRight")
    assert handle.get_attribute("aria-valuenow") == "52"
    until(page, "kmzGui.sweep.state && kmzGui.sweep.state.points.length >= 2")
    before = page.evaluate("window.kmzGui.sides.b.generation")
    page.locator("#chart circle").first.dispatch_event("click")  # K = 2, the chart's first point
    assert shown(page) == before + 1
    assert numbers(page)["k"] == "2"


def test_the_page_offers_every_compression(server: gui.Running) -> None:
    status, _, body = request(server, "/api/state", headers={"X-Kmz-Token": server.app.token})
    offered = json.loads(body)["options"]["compressions"]
    assert status == 200 and offered == ["zlib", "lzma", "none", "smallest"]  # kmz.js decodes lzma too


def test_the_page_shows_lzma_and_smallest_results(page: Any, tmp_path: Path) -> None:
    """The page shows lzma and "smallest" results through kmz.js: what is shown is what the
    downloaded file decodes to."""
    data = png(field_image())
    open_file(page, "field.png", data)
    until(page, "kmzGui.image && kmzGui.image.name === 'field.png'")
    shown(page)
    for compression in ("lzma", "smallest"):
        before = page.evaluate("window.kmzGui.sides.b.generation")
        page.locator("#side-b .compression").select_option(compression)
        # A newer generation than before the change is shown in full (the page may have had
        # one more in flight from the upload, so not necessarily before + 1).
        assert shown(page) > before
        assert not message(page)
        picture = canvas_pixels(page)
        with page.expect_download() as download_info:
            page.click("#side-b .download-kmz")
        saved = tmp_path / f"{compression}.kmz"
        download_info.value.save_as(saved)
        written = saved.read_bytes()
        if compression == "lzma":
            assert written[11] == kmzcodec.format.Compression.LZMA
        assert np.array_equal(np.asarray(kmzcodec.decode(written).convert("RGBA")), picture)
