"""The ``kmz`` command end to end, on small generated images, and kmzcodec.fileio.

Most commands run in-process through ``main([...])``; the console script, and the
runs that are interrupted or killed, run as subprocesses.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from PIL import Image

import kmzcodec
from kmzcodec import cli, fileio, metrics, options

pytestmark = pytest.mark.filterwarnings("error::ResourceWarning")


def _photo(height: int = 40, width: int = 56, seed: int = 0) -> np.ndarray:
    """A smooth gradient with noise: thousands of colours, quick to quantize."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 // width, y * 255 // height, (x + y) * 255 // (width + height)], axis=2)
    return np.clip(base + rng.integers(-12, 13, base.shape), 0, 255).astype(np.uint8)


@pytest.fixture
def png(tmp_path: Path) -> Path:
    path = tmp_path / "photo.png"
    Image.fromarray(_photo()).save(path)
    return path


def run(capsys: pytest.CaptureFixture[str], *argv: object) -> tuple[int, str, str]:
    code = cli.main([str(arg) for arg in argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def assert_one_error_line(err: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("kmz: error: ")
    assert "Traceback" not in err


def snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


# ------------------------------------------------------------------ encode


def test_encode_writes_a_kmz_that_decodes(capsys: pytest.CaptureFixture[str], png: Path) -> None:
    out = png.with_name("out.kmz")
    code, stdout, err = run(capsys, "encode", png, "-o", out, "-k", "16")
    assert code == 0, err
    image = kmzcodec.decode(out.read_bytes())
    assert image.size == (56, 40) and image.info["colors"] <= 16
    assert f"{out.stat().st_size:,} bytes" in stdout and "PSNR" in stdout
    # The reported PSNR is the one metrics computes on the decoded file.
    assert f"{metrics.psnr(Image.open(png), image):.2f} dB" in stdout


def test_encode_default_output_and_options(capsys: pytest.CaptureFixture[str], png: Path) -> None:
    code, _, err = run(
        capsys, "encode", png, "-k", "8", "--method", "gmm", "--compression", "lzma", "--dither"
    )
    assert code == 0, err
    info = kmzcodec.decode(png.with_suffix(".kmz").read_bytes()).info
    assert (info["method"], info["compression"], info["dither"]) == ("gmm", "lzma", True)


def test_encode_a_jpeg_in_hsv(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """``kmz encode x.jpg -k 16 --colorspace hsv`` (issue #16): the space is recorded in the header."""
    jpeg = tmp_path / "x.jpg"
    Image.fromarray(_photo()).save(jpeg, quality=90)
    code, stdout, err = run(capsys, "encode", jpeg, "-k", "16", "--colorspace", "hsv")
    assert code == 0, err
    image = kmzcodec.decode(jpeg.with_suffix(".kmz").read_bytes())
    assert (image.info["colorspace"], image.info["method"]) == ("hsv", "kmeans")
    assert image.info["colors"] <= 16 and "hsv" in stdout


def test_encode_resize(capsys: pytest.CaptureFixture[str], png: Path) -> None:
    out = png.with_name("small.kmz")
    assert run(capsys, "encode", png, "-o", out, "-k", "4", "--resize", "28x")[0] == 0
    assert kmzcodec.decode(out.read_bytes()).size == (28, 20)


@pytest.mark.parametrize("size", ["100000x100000", "x9000000"])
def test_encode_resize_beyond_the_pixel_limit_is_refused(
    capsys: pytest.CaptureFixture[str], png: Path, size: str
) -> None:
    """A mistyped --resize (a zero too many) was allocated as asked: 10^10 pixels, and the
    OOM killer (exit 137). It is refused as a usage error before any pixel is made, in
    every command that resizes (convert reports the file as failed)."""
    out = png.with_name("huge.kmz")
    code, _, err = run(capsys, "encode", png, "-o", out, "--resize", size)
    assert code == 2, err
    assert_one_error_line(err)
    assert "exceeds the limit of 268,435,456 pixels" in err and not out.exists()
    code, _, err = run(capsys, "compare", png, "-o", png.with_name("c.png"), "-k", "4,8", "--resize", size)
    assert code == 2 and "exceeds the limit" in err
    code, _, err = run(capsys, "convert", png, "--out-dir", png.with_name("out"), "-j", "1", "--resize", size)
    assert code == 1 and "exceeds the limit" in err
    assert not list(png.with_name("out").rglob("*.kmz"))


def test_encode_refuses_to_overwrite(capsys: pytest.CaptureFixture[str], png: Path) -> None:
    out = png.with_name("out.kmz")
    out.write_bytes(b"precious")
    code, _, err = run(capsys, "encode", png, "-o", out, "-k", "4")
    assert code == 2
    assert_one_error_line(err)
    assert "--force" in err and out.read_bytes() == b"precious"
    assert run(capsys, "encode", png, "-o", out, "-k", "4", "--force")[0] == 0
    assert kmzcodec.decode(out.read_bytes()).info["colors"] <= 4


def test_encode_never_overwrites_its_input(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, png: Path
) -> None:
    before = png.read_bytes()
    code, _, err = run(capsys, "encode", png, "-o", png, "--force")
    assert code == 2 and "same file" in err
    assert_one_error_line(err)
    assert png.read_bytes() == before
    # A .kmz input re-encoded to its default output name is the same file too.
    kmz = tmp_path / "again.kmz"
    kmz.write_bytes(kmzcodec.encode(_photo(), 8))
    code, _, err = run(capsys, "encode", kmz, "-k", "4", "--force")
    assert code == 2 and "same file" in err


@pytest.mark.parametrize("k", ["0", "65537", "abc", "-3", "4.5"])
def test_encode_bad_k(capsys: pytest.CaptureFixture[str], png: Path, k: str) -> None:
    out = png.with_name("out.kmz")
    code, _, err = run(capsys, "encode", png, "-o", out, "-k", k)
    assert code == 2
    assert_one_error_line(err)
    assert "K must be" in err and not out.exists()


@pytest.mark.parametrize("command", ["encode", "decode", "info", "sweep", "gui"])
def test_a_missing_input_is_a_usage_error_in_every_command(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: str
) -> None:
    """Exit 2 and one line, as the exit-code table says (kmz gui gave 1, 'cannot read')."""
    extra = ["--no-browser"] if command == "gui" else []
    for missing in (tmp_path / "missing.png", tmp_path):
        code, _, err = run(capsys, command, missing, *extra)
        assert code == 2, err
        assert_one_error_line(err)
        assert "no such file" in err or "is a folder" in err


def test_encode_bad_inputs(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "out.kmz"
    code, _, err = run(capsys, "encode", tmp_path / "missing.png", "-o", out)
    assert code == 2 and "no such file" in err
    assert_one_error_line(err)
    garbage = tmp_path / "garbage.png"
    garbage.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(100))
    code, _, err = run(capsys, "encode", garbage, "-o", out)
    assert code == 1
    assert_one_error_line(err)
    text = tmp_path / "notes.jpg"
    text.write_text("not an image")
    code, _, err = run(capsys, "encode", text, "-o", out)
    assert code == 1 and "not an image" in err
    code, _, err = run(capsys, "encode", tmp_path, "-o", out)
    assert code == 2 and "folder" in err
    code, _, err = run(capsys, "encode", garbage, "-o", tmp_path / "no" / "such" / "dir.kmz")
    assert code == 2 and "does not exist" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["garbage.png", "notes.jpg"]


def test_usage_errors_are_one_line(capsys: pytest.CaptureFixture[str], png: Path) -> None:
    for argv in (["encode"], ["encode", png, "--method", "nope"], ["bogus"], [], ["compare", png]):
        code, _, err = run(capsys, *argv)
        assert code == 2, argv
        assert_one_error_line(err)


def test_encode_mat_file_finds_the_image(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    bird = _photo(32, 32)  # bird_small.mat: a uint8 array "A", 128 x 128 x 3
    path = tmp_path / "bird_small.mat"
    scipy.io.savemat(path, {"A": bird, "labels": np.arange(10.0)[None, :], "mask": np.ones((6, 6))})
    out = tmp_path / "bird.kmz"
    assert run(capsys, "encode", path, "-o", out, "-k", "256")[0] == 0
    decoded = np.asarray(kmzcodec.decode(out.read_bytes()).convert("RGB"))
    assert decoded.shape == (32, 32, 3)
    assert metrics.psnr(bird, decoded) > 30  # it encoded A, not a decoy
    # Floats in 0..1 under another name, chosen with --mat-key.
    floats = tmp_path / "floats.mat"
    scipy.io.savemat(floats, {"X": bird / 255.0, "Y": np.zeros((40, 40))})
    assert run(capsys, "encode", floats, "--mat-key", "X", "-o", tmp_path / "x.kmz", "-k", "256")[0] == 0
    decoded = np.asarray(kmzcodec.decode((tmp_path / "x.kmz").read_bytes()).convert("RGB"))
    assert metrics.psnr(bird, decoded) > 30
    code, _, err = run(capsys, "encode", floats, "--mat-key", "Z", "-o", tmp_path / "z.kmz")
    assert code == 2 and "'Z'" in err and "X, Y" in err
    empty = tmp_path / "empty.mat"
    scipy.io.savemat(empty, {"v": np.arange(5)[None, :, None].repeat(6, axis=2)})
    code, _, err = run(capsys, "encode", empty, "-o", tmp_path / "e.kmz")
    assert code == 1 and "no image-shaped array" in err
    assert not (tmp_path / "z.kmz").exists() and not (tmp_path / "e.kmz").exists()


def test_encode_mat_file_resized_keeps_its_values(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """A .mat array is resized in its own units (floats stay floats in 0..1), then encoded."""
    bird = _photo(32, 48)
    path = tmp_path / "floats.mat"
    scipy.io.savemat(path, {"X": bird / 255.0})
    out = tmp_path / "small.kmz"
    assert run(capsys, "encode", path, "-o", out, "-k", "256", "--resize", "24x")[0] == 0
    decoded = kmzcodec.decode(out.read_bytes())
    assert decoded.size == (24, 16)
    expected = Image.fromarray(bird).resize((24, 16), Image.Resampling.LANCZOS)
    assert metrics.psnr(expected, decoded) > 30  # not black, not white: the same picture, smaller


def test_value_range_says_which_samples_are_black_and_white(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    grey = _photo(24, 32)[:, :, 0]
    twelve_bit = ((grey.astype(np.uint32) * 4095 + 127) // 255).astype(np.uint16)  # 12 bits in a 16-bit PNG
    deep = tmp_path / "deep.png"
    Image.fromarray(twelve_bit).save(deep)
    out = tmp_path / "deep.kmz"
    code, stdout, err = run(capsys, "encode", deep, "-o", out, "-k", "256", "--value-range", "0,4095")
    assert code == 0, err
    psnr = metrics.psnr(grey, kmzcodec.decode(out.read_bytes()))
    assert psnr > 35
    # The numbers printed are measured against the samples as --value-range maps them (they
    # were against the 16-bit samples taken at full range: PSNR 5.5 dB, SSIM 0.03, for an exact file).
    assert "PSNR inf, SSIM 1.0000" in stdout and psnr == float("inf")  # 241 levels at K = 256: exact
    # convert hands it to the workers too; a .mat of floats in 0..1000 this time.
    source = tmp_path / "in"
    source.mkdir()
    scipy.io.savemat(source / "m.mat", {"X": grey * (1000 / 255)})
    code, _, err = run(
        capsys, "convert", source, "--out-dir", tmp_path / "out", "-k", "256", "--value-range", "0,1000"
    )
    assert code == 0, err
    assert metrics.psnr(grey, kmzcodec.decode((tmp_path / "out" / "m.kmz").read_bytes())) > 35


def test_compare_and_sweep_take_a_value_range(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    grey = _photo(24, 32)[:, :, 0]
    deep = tmp_path / "deep.png"
    Image.fromarray(((grey.astype(np.uint32) * 4095 + 127) // 255).astype(np.uint16)).save(deep)
    figure = tmp_path / "deep-compare.png"
    code, stdout, err = run(
        capsys, "compare", deep, "-k", "4,256", "-o", figure, "--value-range", "0,4095", "--json"
    )
    assert code == 0, err
    rows = json.loads(stdout)["results"]
    assert rows[1]["psnr"] is None  # 241 levels at K = 256: exact (inf, which JSON shows as null)
    assert 10 < rows[0]["psnr"] < 40  # K = 4 of the mapped samples, not of 16-bit ones at full range
    code, stdout, err = run(
        capsys, "sweep", deep, "-k", "4,256", "--elbow-on", "psnr", "--value-range", "0,4095", "--json"
    )
    assert code == 0, err
    assert [row["psnr"] for row in json.loads(stdout)["results"]] == [row["psnr"] for row in rows]


@pytest.mark.parametrize("text", ["5", "1,1", "9,2", "a,b", "0,inf", "0,1,2"])
def test_value_range_is_checked(capsys: pytest.CaptureFixture[str], png: Path, text: str) -> None:
    code, _, err = run(capsys, "encode", png, "--value-range", text)
    assert code == 2 and "value range" in err
    assert_one_error_line(err)
    assert not png.with_suffix(".kmz").exists()


# ------------------------------------------------------------------ auto K


def test_encode_auto_meets_its_psnr_target(capsys: pytest.CaptureFixture[str], png: Path) -> None:
    out = png.with_name("auto.kmz")
    code, stdout, err = run(capsys, "encode", png, "-o", out, "-k", "auto", "--min-psnr", "32")
    assert code == 0, err
    decoded = kmzcodec.decode(out.read_bytes())
    assert metrics.psnr(Image.open(png), decoded) >= 32
    assert f"K = {decoded.info['colors']}" in stdout


def test_encode_auto_respects_max_bytes(capsys: pytest.CaptureFixture[str], png: Path) -> None:
    out = png.with_name("auto.kmz")
    assert run(capsys, "encode", png, "-o", out, "--max-bytes", "600")[0] == 0  # a target implies -k auto
    assert out.stat().st_size <= 600


def test_auto_targets_need_auto(capsys: pytest.CaptureFixture[str], png: Path) -> None:
    code, _, err = run(capsys, "encode", png, "-k", "8", "--min-psnr", "30")
    assert code == 2 and "needs -k auto" in err
    assert_one_error_line(err)
    assert not png.with_suffix(".kmz").exists()


def test_options_the_encoder_refuses_are_one_line(capsys: pytest.CaptureFixture[str], png: Path) -> None:
    """A KmzError from the library is one line, no traceback: a target no K meets for this
    image (no file can be that small) exits 1, as the exit-code table says; an option the
    encoder refuses whatever the image exits 2."""
    out = png.with_name("tiny.kmz")
    code, _, err = run(capsys, "encode", png, "-o", out, "--max-bytes", "1")
    assert code == 1
    assert_one_error_line(err)
    assert "1 bytes" in err and not out.exists()
    code, _, err = run(capsys, "encode", png, "-o", out, "-k", "auto", "--min-psnr", "60", "--dither")
    assert code == 1 and "out of reach" in err
    assert_one_error_line(err)
    code, _, err = run(capsys, "encode", png, "-o", out, "-k", "300", "--dither")
    assert code == 2
    assert_one_error_line(err)
    assert not out.exists()


def test_a_gmm_too_large_is_a_usage_error(capsys: pytest.CaptureFixture[str], png: Path) -> None:
    code, _, err = run(capsys, "encode", png, "-k", "9000", "--method", "gmm")
    assert code == 2
    assert_one_error_line(err)
    assert not png.with_suffix(".kmz").exists()


# ------------------------------------------------------------------ decode


def test_decode_to_png_and_jpeg(capsys: pytest.CaptureFixture[str], png: Path) -> None:
    kmz = png.with_name("in.kmz")
    kmz.write_bytes(kmzcodec.encode(_photo(), 16))
    expected = np.asarray(kmzcodec.decode(kmz.read_bytes()).convert("RGB"))
    out = png.with_name("out.png")
    code, _, err = run(capsys, "decode", kmz, "-o", out)
    assert code == 0, err
    with Image.open(out) as written:
        assert written.format == "PNG"
        assert np.array_equal(np.asarray(written.convert("RGB")), expected)
    jpeg = png.with_name("out.jpg")
    assert run(capsys, "decode", kmz, "-o", jpeg)[0] == 0  # "P" converted for JPEG
    with Image.open(jpeg) as written:
        assert written.format == "JPEG" and written.size == (56, 40)
    assert run(capsys, "decode", kmz)[0] == 0  # default: beside the input, .png
    assert kmz.with_suffix(".png").exists()


def test_decode_bad_inputs(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    data = kmzcodec.encode(_photo(), 16)
    cases = {
        "truncated.kmz": data[: len(data) // 2],
        "flipped.kmz": data[:-10] + bytes([data[-10] ^ 0xFF]) + data[-9:],
        "empty.kmz": b"",
        "zip.kmz": b"PK\x03\x04" + bytes(60),
    }
    for name, content in cases.items():
        (tmp_path / name).write_bytes(content)
        code, _, err = run(capsys, "decode", tmp_path / name, "-o", tmp_path / "out.png")
        assert code == 1, name
        assert_one_error_line(err)
        assert not (tmp_path / "out.png").exists()
    good = tmp_path / "good.kmz"
    good.write_bytes(data)
    code, _, err = run(capsys, "decode", good, "-o", tmp_path / "out.unknownext")
    assert code == 2 and "format" in err
    code, _, err = run(capsys, "decode", good, "-o", tmp_path / "out.kmz")
    assert code == 2 and "kmz encode" in err
    (tmp_path / "taken.png").write_bytes(b"mine")
    code, _, err = run(capsys, "decode", good, "-o", tmp_path / "taken.png")
    assert code == 2 and (tmp_path / "taken.png").read_bytes() == b"mine"
    assert not list(tmp_path.glob(".kmz-tmp-*"))


# ------------------------------------------------------------------ info


def test_info_text_and_json(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    kmz = tmp_path / "x.kmz"
    data = kmzcodec.encode(_photo(), 8, compression="lzma")
    kmz.write_bytes(data)
    code, stdout, _ = run(capsys, "info", kmz)
    assert code == 0
    header = kmzcodec.container.parse_header(data[:40])
    assert f"K = {header.colors} rgb" in stdout and "lzma" in stdout and "56 x 40" in stdout
    code, stdout, _ = run(capsys, "info", kmz, "--json")
    assert code == 0
    info = json.loads(stdout)
    assert (info["width"], info["height"], info["colors"]) == (56, 40, header.colors)
    assert info["file_bytes"] == len(data)
    assert info["raw_bytes"] == 56 * 40 * 3
    assert info["compression_ratio"] == pytest.approx(56 * 40 * 3 / len(data), rel=1e-3)
    assert info["bits_per_pixel"] == pytest.approx(8 * len(data) / (56 * 40), rel=1e-3)
    assert info["header_bytes"] + info["palette_bytes"] + info["data_bytes"] + info["trailer_bytes"] == len(
        data
    )
    palette = np.frombuffer(data[40 : 40 + 3 * header.colors], np.uint8).reshape(-1, 3)
    assert info["palette"] == ["#" + bytes(entry).hex() for entry in palette]
    kmz.write_bytes(data[:-1])
    code, _, err = run(capsys, "info", kmz)
    assert code == 1 and "truncated" in err


# ------------------------------------------------------------------ compare and sweep


def _png_size(path: Path) -> tuple[int, int, np.ndarray]:
    with Image.open(path) as figure:
        assert figure.format == "PNG" and figure.mode == "RGB"
        return figure.width, figure.height, np.asarray(figure)


def test_compare_figure_layout_and_json(capsys: pytest.CaptureFixture[str], png: Path) -> None:
    one, three = png.with_name("one.png"), png.with_name("three.png")
    assert run(capsys, "compare", png, "-k", "4", "-o", one)[0] == 0
    code, stdout, err = run(capsys, "compare", png, "-k", "4,16,64", "-o", three, "--json")
    assert code == 0, err
    w1, h1, _ = _png_size(one)
    w3, h3, pixels = _png_size(three)
    # One panel per image (original + each K), each of the same width.
    assert h1 == h3
    assert (w3 - w1) == pytest.approx(2 * cli.PANEL_INCHES * cli.DEFAULT_DPI, abs=0.35 * cli.DEFAULT_DPI)
    assert w1 > 2 * cli.PANEL_INCHES * cli.DEFAULT_DPI
    # Real pictures, not a blank canvas: many colours from the photo's panels.
    assert len(np.unique(pixels.reshape(-1, 3), axis=0)) > 500 and pixels.std() > 20
    report = json.loads(stdout)
    assert report["figure"] == str(three)
    assert [row["k"] for row in report["results"]] == [4, 16, 64]
    assert report["raw_bytes"] == 56 * 40 * 3
    psnrs = [row["psnr"] for row in report["results"]]
    assert psnrs[0] < psnrs[-1]
    for row in report["results"]:
        assert row["ratio"] == pytest.approx(report["raw_bytes"] / row["bytes"])
        assert 0 < row["ssim"] <= 1
    code, _, err = run(capsys, "compare", png, "-k", "4", "-o", one)
    assert code == 2 and "exists" in err


def test_sweep_table_json_and_plot(capsys: pytest.CaptureFixture[str], png: Path) -> None:
    plot = png.with_name("sweep.png")
    code, stdout, err = run(capsys, "sweep", png, "-k", "2,4,8,16,32", "-o", plot)
    assert code == 0, err
    assert "elbow" in stdout and str(plot) in stdout
    width, height, pixels = _png_size(plot)
    assert height > width > 300 and len(np.unique(pixels.reshape(-1, 3), axis=0)) > 20
    code, stdout, _ = run(capsys, "sweep", png, "-k", "32,2,8,4,16", "--json", "--elbow-on", "psnr")
    assert code == 0
    report = json.loads(stdout)
    ks = [row["k"] for row in report["results"]]
    assert ks == [2, 4, 8, 16, 32]
    assert report["elbow"]["metric"] == "psnr"
    assert report["elbow"]["k"] == metrics.elbow(ks, [row["psnr"] for row in report["results"]])
    sizes = [row["bytes"] for row in report["results"]]
    assert sizes[0] < sizes[-1]
    code, _, err = run(capsys, "sweep", png, "-k", "8")
    assert code == 2 and "two" in err


# ------------------------------------------------------------------ demo


def test_demo_from_the_bundled_image(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, stdout, err = run(capsys, "demo", "-o", tmp_path, "-k", "2,8")
    assert code == 0, err
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "chelsea-compare.png",
        "chelsea-k2.kmz",
        "chelsea-k8.kmz",
    ]
    for k in (2, 8):
        image = kmzcodec.decode((tmp_path / f"chelsea-k{k}.kmz").read_bytes())
        assert image.size == (451, 300) and image.info["colors"] == k
    width, _, _ = _png_size(tmp_path / "chelsea-compare.png")
    assert width > 3 * cli.PANEL_INCHES * cli.DEFAULT_DPI
    assert "K" in stdout and "PSNR" in stdout
    before = snapshot(tmp_path)
    code, _, err = run(capsys, "demo", "-o", tmp_path, "-k", "2,8")
    assert code == 2 and "--force" in err
    assert snapshot(tmp_path) == before


# ------------------------------------------------------------------ convert


def _tree(root: Path) -> dict[str, tuple[int, int]]:
    """A folder of small images, some nested, plus files convert must skip or report."""
    sizes: dict[str, tuple[int, int]] = {}
    for i, name in enumerate(["a.png", "b.jpg", "sub/c.png", "sub/deeper/d.bmp"]):
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(_photo(24 + i, 32, seed=i)).save(path)
        sizes[name] = (32, 24 + i)
    (root / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n-cut-")
    (root / "README.txt").write_text("not an image")
    (root / ".hidden.png").write_bytes(b"skipped")
    return sizes


def test_convert_folder(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    source, out = tmp_path / "in", tmp_path / "out"
    sizes = _tree(source)
    code, stdout, err = run(capsys, "convert", source, "--out-dir", out, "-k", "8", "-j", "1")
    assert code == 1  # broken.png failed, the others went on
    assert err.count("kmz: error:") == 1 and "broken.png" in err
    made = sorted(str(p.relative_to(out)) for p in out.rglob("*.kmz"))
    assert made == sorted(str(Path(name).with_suffix(".kmz")) for name in sizes)
    for name, size in sizes.items():
        assert kmzcodec.decode((out / name).with_suffix(".kmz").read_bytes()).size == size
    headers, values = stdout.splitlines()[:2]
    row = dict(zip(headers.split(), values.split(), strict=False))
    assert (row["files"], row["converted"], row["failed"]) == ("5", "4", "1")
    before = snapshot(out)
    code, stdout, _ = run(capsys, "convert", source / "a.png", "--out-dir", out, "-k", "2")
    assert code == 0 and "kept" in stdout
    assert snapshot(out) == before
    code, _, _ = run(capsys, "convert", source / "a.png", "--out-dir", out, "-k", "2", "--force")
    assert code == 0 and kmzcodec.decode((out / "a.kmz").read_bytes()).info["colors"] <= 2
    code, _, err = run(capsys, "convert", tmp_path / "nowhere", "--out-dir", out)
    assert code == 1 and "no such file or folder" in err


def test_convert_with_worker_processes(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    source, out = tmp_path / "in", tmp_path / "out"
    sizes = _tree(source)
    (source / "broken.png").unlink()
    code, stdout, err = run(capsys, "convert", source, "--out-dir", out, "-k", "4", "-j", "2")
    assert code == 0, err
    assert stdout.split("\n")[1].split()[-1] == "2"  # two workers were used
    for name, size in sizes.items():
        assert kmzcodec.decode((out / name).with_suffix(".kmz").read_bytes()).size == size


def test_convert_scheduler_without_dask_names_the_extra(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    source, out = tmp_path / "in", tmp_path / "out"
    _tree(source)
    monkeypatch.setitem(sys.modules, "distributed", None)  # as if not installed: import fails
    code, stdout, err = run(capsys, "convert", source, "--out-dir", out, "--scheduler", "local")
    assert code == 1 and stdout == ""
    assert err == "kmz: error: --scheduler needs Dask: pip install 'kmzcodec[dask]'\n"
    assert not out.exists()  # refused before any work


NOISE = 160  # pixels a side: big enough that a run takes seconds, small enough to stay quick


def _noise_folder(folder: Path, count: int) -> None:
    folder.mkdir()
    rng = np.random.default_rng(7)
    for i in range(count):  # noise: thousands of colours, so each file takes a while
        pixels = rng.integers(0, 256, (NOISE, NOISE, 3), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"n{i:02d}.png")


def _kmz_command(*argv: object) -> list[str]:
    return [sys.executable, "-m", "kmzcodec", *(str(arg) for arg in argv)]


def _wait_for_output(folder: Path, process: subprocess.Popen[bytes], timeout: float = 90.0) -> None:
    deadline = time.monotonic() + timeout
    while not list(folder.glob("*.kmz")):
        assert process.poll() is None, "convert ended before producing anything"
        assert time.monotonic() < deadline, "no output appeared"
        time.sleep(0.01)


def _assert_only_complete_outputs(out: Path) -> int:
    names = sorted(p.name for p in out.iterdir())
    assert all(name.endswith(".kmz") for name in names), names  # no temporary files left
    for name in names:
        assert kmzcodec.decode((out / name).read_bytes()).size == (NOISE, NOISE)
    return len(names)


@pytest.mark.skipif(sys.platform == "win32", reason="process groups and signals are POSIX")
@pytest.mark.parametrize(
    ("sig", "workers", "code"), [(signal.SIGKILL, 2, -signal.SIGKILL), (signal.SIGINT, 1, 130)]
)
def test_interrupted_convert_leaves_only_complete_files(
    tmp_path: Path, sig: signal.Signals, workers: int, code: int
) -> None:
    source, out = tmp_path / "in", tmp_path / "out"
    count = 30
    _noise_folder(source, count)
    process = subprocess.Popen(
        _kmz_command("convert", source, "--out-dir", out, "-k", "64", "-j", workers),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,  # its own process group: the signal reaches the workers too
    )
    try:
        _wait_for_output(out, process)
        os.killpg(process.pid, sig)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == code, err
    if sig == signal.SIGINT:
        assert err.decode().strip().splitlines()[-1] == "kmz: error: interrupted"
    made = _assert_only_complete_outputs(out)
    assert 0 < made < count  # really stopped mid-run


@pytest.mark.skipif(sys.platform == "win32", reason="process groups and signals are POSIX")
def test_interrupted_convert_on_a_local_cluster_says_one_line(tmp_path: Path) -> None:
    """Ctrl-C reaches the Dask workers too: they stay quiet, the queue is dropped, no partial file."""
    pytest.importorskip("distributed")
    source, out = tmp_path / "in", tmp_path / "out"
    count = 30
    _noise_folder(source, count)
    command = _kmz_command("convert", source, "--out-dir", out, "-k", "64", "--scheduler", "local", "-j", 2)
    process = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, start_new_session=True
    )
    try:
        _wait_for_output(out, process)
        os.killpg(process.pid, signal.SIGINT)
        _, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 130, err
    assert err.decode().splitlines() == ["kmz: error: interrupted"]
    assert 0 < _assert_only_complete_outputs(out) < count


def _group_members(group: int) -> dict[int, int]:
    """{pid: parent pid} of the live processes in a process group (Linux /proc)."""
    members = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:  # gone meanwhile
                continue
            state, parent, pgid = fields[0], int(fields[1]), int(fields[2])
            if pgid == group and state != "Z":
                members[int(entry.name)] = parent
    return members


@pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="finds the workers through /proc")
def test_a_worker_that_dies_stops_convert_with_one_line(tmp_path: Path) -> None:
    """A worker killed from outside (as the OOM killer would) ends the run, no hang."""
    source, out = tmp_path / "in", tmp_path / "out"
    count = 30
    _noise_folder(source, count)
    process = subprocess.Popen(
        _kmz_command("convert", source, "--out-dir", out, "-k", "64", "-j", 2),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        start_new_session=True,
    )
    try:
        _wait_for_output(out, process)
        members = _group_members(process.pid)
        # Workers are the grandchildren: children of the forkserver (or of a spawn helper).
        workers = [pid for pid, parent in members.items() if parent != process.pid and parent in members]
        assert workers, members
        os.kill(workers[0], signal.SIGKILL)
        _, err = process.communicate(timeout=60)
        deadline = time.monotonic() + 20  # a bounded wait for the other worker to be gone
        while _group_members(process.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _group_members(process.pid), "a worker outlived kmz convert"
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert process.returncode == 1, err
    assert err.decode().strip().splitlines()[-1] == (
        "kmz: error: a worker process died (out of memory?); stopping"
    ), err.decode()
    assert 0 < _assert_only_complete_outputs(out) < count


# ------------------------------------------------------------------ help and entry points


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("no subcommands")


def _default_in_words(action: argparse.Action) -> str:
    """What the help of an option must say about its default: the value itself where it has one."""
    if action.required:
        return "required"
    if isinstance(action, argparse._StoreTrueAction):
        return "(default: off"
    if action.default is None:  # no value: the text explains what happens instead
        return "(default: "
    if isinstance(action.default, list):
        return f"(default: {','.join(str(k) for k in action.default)})"
    return f"(default: {action.default})"


def test_every_option_documents_its_default(capsys: pytest.CaptureFixture[str]) -> None:
    commands = _subparsers(cli.build_parser())
    assert set(commands) == {"encode", "decode", "info", "compare", "sweep", "convert", "demo", "gui"}
    checked = 0
    for name, parser in commands.items():
        code, stdout, _ = run(capsys, name, "--help")
        assert code == 0 and stdout.startswith(f"usage: kmz {name}")
        for action in parser._actions:
            if action.option_strings and not isinstance(action, argparse._HelpAction):
                text = (action.help or "") % {**vars(action), "prog": parser.prog}
                assert _default_in_words(action) in text, (name, action.option_strings, text)
                assert " ".join(text.split()) in " ".join(stdout.split())  # as shown by --help
                checked += 1
    assert checked > 50
    # The defaults shown are the encoder's own (one place for each fact).
    encode = commands["encode"].parse_args(["x.png"])
    signature = inspect.signature(kmzcodec.encode).parameters
    for option in ("method", "colorspace", "compression", "seed", "level"):
        assert getattr(encode, option) == signature[option].default, option
    assert commands["sweep"].parse_args(["x.png"]).colors == [2, 4, 8, 16, 32, 64, 128, 256]


def test_choices_come_from_the_options_module() -> None:
    encode = _subparsers(cli.build_parser())["encode"]
    choices = {a.dest: tuple(a.choices) for a in encode._actions if a.choices is not None}
    assert choices["method"] == options.METHODS
    assert choices["colorspace"] == options.COLORSPACES
    assert choices["compression"] == options.COMPRESSIONS


def test_help_lists_every_exit_code(capsys: pytest.CaptureFixture[str]) -> None:
    code, stdout, _ = run(capsys, "--help")
    assert code == 0
    epilog = " ".join(stdout[stdout.index("exit codes:") :].split())
    for exit_code, words in [(0, "success"), (1, "data error"), (2, "usage error"), (130, "interrupted"),
                             (143, "terminated")]:  # fmt: skip
        assert f"{exit_code} {words}" in epilog


def test_console_script_and_module(tmp_path: Path) -> None:
    script = Path(sys.executable).with_name("kmz")  # installed by pip from [project.scripts]
    command = [str(script)] if script.exists() else _kmz_command()
    done = subprocess.run([*command, "--version"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0 and done.stdout.strip() == f"kmz {kmzcodec.__version__}"
    done = subprocess.run(_kmz_command("info", tmp_path / "missing.kmz"), capture_output=True, text=True)
    assert done.returncode == 2 and done.stderr.startswith("kmz: error:") and "Traceback" not in done.stderr


# ------------------------------------------------------------------ a plain install (no extras)

#: The optional extras' packages; ``None`` in sys.modules makes their import fail.
EXTRAS = ("skimage", "ssimulacra2", "matplotlib", "tqdm")

_WITHOUT_EXTRAS = """
import contextlib, io, json, sys
for name in {extras!r}:
    sys.modules[name] = None
from kmzcodec.cli import main
results = []
for argv in json.loads(sys.argv[1]):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(argv)
    results.append([code, out.getvalue(), err.getvalue()])
print(json.dumps(results))
"""


def _without_extras(*commands: list[object]) -> list[tuple[int, str, str]]:
    """Run ``kmz`` commands in one fresh interpreter where scikit-image, matplotlib and tqdm
    cannot be imported, as after a plain ``pip install kmzcodec``."""
    argvs = [[str(arg) for arg in argv] for argv in commands]
    script = _WITHOUT_EXTRAS.format(extras=EXTRAS)
    done = subprocess.run(
        [sys.executable, "-c", script, json.dumps(argvs)], capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    return [(code, out, err) for code, out, err in json.loads(done.stdout)]


def test_a_plain_install_runs_demo_encode_info_and_convert(tmp_path: Path, png: Path) -> None:
    demo, kmz = tmp_path / "demo", tmp_path / "photo.kmz"
    results = _without_extras(
        ["demo", "-o", demo, "-k", "2,8"],
        ["encode", png, "-o", kmz, "-k", "16"],
        ["info", kmz],
        ["convert", png, "--out-dir", tmp_path / "converted", "-k", "4", "-j", "1"],
        ["sweep", png, "-k", "2,4,8,16", "--json"],
    )
    (code, out, err), encode, info, convert, sweep = results
    assert code == 0, err
    # The .kmz files and the table, SSIM and SSIMULACRA2 shown as dashes; no figure, and one
    # line says why.
    assert sorted(p.name for p in demo.iterdir()) == ["chelsea-k2.kmz", "chelsea-k8.kmz"]
    rows = [line.split() for line in out.splitlines() if line.split()[:1] in (["2"], ["8"])]
    assert len(rows) == 2 and all(row[5] == row[6] == "\u2014" for row in rows), out
    assert err.splitlines() == [
        "kmz: note: SSIM and SSIMULACRA2 (\u2014) need scikit-image and the ssimulacra2 package: "
        "pip install 'kmzcodec[metrics]'",
        "kmz: note: no figure: it needs matplotlib: pip install 'kmzcodec[plots]'",
    ]
    code, out, err = encode
    assert code == 0, err
    assert "SSIM \u2014" in out and "SSIMULACRA2 \u2014" in out
    assert kmzcodec.decode(kmz.read_bytes()).info["colors"] <= 16
    assert err.count("kmzcodec[metrics]") == 1 and len(err.splitlines()) == 1
    code, out, err = info
    assert (code, err) == (0, "") and "K = " in out
    code, out, err = convert
    assert (code, err) == (0, "") and (tmp_path / "converted" / "photo.kmz").exists()
    # sweep without SSIM: the elbow on PSNR, said once.
    code, out, err = sweep
    assert code == 0, err
    report = json.loads(out)
    assert report["elbow"]["metric"] == "psnr"
    assert all(row["ssim"] is None and row["ssimulacra2"] is None for row in report["results"])
    assert report["elbow"]["k"] == metrics.elbow([2, 4, 8, 16], [r["psnr"] for r in report["results"]])
    assert len(err.splitlines()) == 1 and "elbow is on PSNR" in err


def test_a_plain_install_refuses_figures_in_one_line(tmp_path: Path, png: Path) -> None:
    figure, plot = tmp_path / "figure.png", tmp_path / "plot.png"
    results = _without_extras(
        ["compare", png, "-k", "4", "-o", figure], ["sweep", png, "-k", "2,4", "-o", plot]
    )
    for code, out, err in results:
        assert code == 1 and out == ""
        assert_one_error_line(err)
        assert "pip install 'kmzcodec[plots]'" in err
    assert not figure.exists() and not plot.exists()


def test_no_progress_bar_without_tqdm(monkeypatch: pytest.MonkeyPatch) -> None:
    from kmzcodec.cli import reports

    monkeypatch.setattr(reports, "interactive", lambda: True)  # as at a terminal
    monkeypatch.setitem(sys.modules, "tqdm", None)
    items = [1, 2, 3]
    assert reports.progress(items, "test", unit="K") is items


# ------------------------------------------------------------------ fileio


@pytest.fixture(params=["anonymous", "named"])
def write_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a fileio test on the O_TMPFILE path (where the OS has it) and on the portable one."""
    if request.param == "named":
        monkeypatch.setattr(fileio, "_anonymous", lambda folder: None)
    return str(request.param)


def test_atomic_write_publishes_complete_files(tmp_path: Path, write_path: str) -> None:
    target = tmp_path / "out.bin"
    fileio.write_bytes(target, b"first")
    assert target.read_bytes() == b"first"
    assert target.stat().st_mode & 0o777 == 0o666 & ~_umask()
    with pytest.raises(fileio.OutputExistsError):
        fileio.write_bytes(target, b"second")
    assert target.read_bytes() == b"first"
    fileio.write_bytes(target, b"second", force=True)
    assert target.read_bytes() == b"second"
    assert os.listdir(tmp_path) == ["out.bin"]


def test_atomic_write_cleans_up_on_interrupt(tmp_path: Path, write_path: str) -> None:
    target = tmp_path / "out.bin"
    for existing in (None, b"old"):
        if existing is not None:
            target.write_bytes(existing)
        with pytest.raises(KeyboardInterrupt), fileio.atomic_write(target, force=True) as handle:
            handle.write(b"partial")
            raise KeyboardInterrupt
        assert os.listdir(tmp_path) == ([] if existing is None else ["out.bin"])
        assert existing is None or target.read_bytes() == existing


def test_atomic_write_refuses_inputs_and_missing_folders(tmp_path: Path, write_path: str) -> None:
    source = tmp_path / "in.png"
    source.write_bytes(b"input")
    link = tmp_path / "link.png"
    os.link(source, link)
    for target in (source, link):
        with pytest.raises(fileio.SameFileError):
            fileio.write_bytes(target, b"x", inputs=[source], force=True)
    assert source.read_bytes() == b"input"
    with pytest.raises(FileNotFoundError):
        fileio.write_bytes(tmp_path / "nope" / "x.bin", b"x")
    with pytest.raises(IsADirectoryError):
        fileio.write_bytes(tmp_path, b"x", force=True)
    # A file that appears while we write is not replaced either.
    late = tmp_path / "late.bin"
    with pytest.raises(fileio.OutputExistsError), fileio.atomic_write(late) as handle:
        handle.write(b"ours")
        late.write_bytes(b"theirs")
    assert late.read_bytes() == b"theirs"
    assert sorted(os.listdir(tmp_path)) == ["in.png", "late.bin", "link.png"]


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


# ------------------------------------------------------------------ SSIMULACRA2 column


def test_tables_show_ssimulacra2_on_the_centre_crop(capsys: pytest.CaptureFixture[str], png: Path) -> None:
    pytest.importorskip("ssimulacra2")
    code, out, err = run(capsys, "sweep", png, "-k", "4,16")
    assert code == 0 and err == "", err
    crop = metrics.SSIMULACRA2_CROP
    assert f"SSIMULACRA2 ({crop}x{crop} centre)" in out.splitlines()[1]
    code, out, _ = run(capsys, "compare", png, "-k", "4,16", "--json", "-o", png.with_name("c.png"))
    rows = json.loads(out)["results"]
    image = np.asarray(Image.open(png))
    for row in rows:
        decoded = kmzcodec.decode(kmzcodec.encode(image, row["k"]))
        assert row["ssimulacra2"] == pytest.approx(metrics.ssimulacra2(image, decoded, crop=crop))
    assert rows[0]["ssimulacra2"] < rows[1]["ssimulacra2"] < 100


def test_without_ssimulacra2_the_column_is_a_dash_and_the_target_names_the_extra(
    capsys: pytest.CaptureFixture[str], png: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "ssimulacra2", None)  # as if not installed: import fails
    code, out, err = run(capsys, "sweep", png, "-k", "4,8")
    assert code == 0
    row = next(line.split() for line in out.splitlines() if line.split()[:1] == ["4"])
    assert row[6] == "\u2014", out
    hint = "kmz: note: SSIMULACRA2 (\u2014) needs the ssimulacra2 package: pip install 'kmzcodec[metrics]'"
    assert err.splitlines() == [hint] or not metrics.ssim_available()
    code, out, err = run(capsys, "encode", png, "-o", png.with_suffix(".kmz"), "--min-ssimulacra2", "50")
    assert code != 0 and out == "" and "kmzcodec[metrics]" in err
    assert_one_error_line(err)
    assert not png.with_suffix(".kmz").exists()


def test_the_encoder_is_warmed_up_once_and_a_slow_warm_up_says_why(
    capsys: pytest.CaptureFixture[str], png: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from kmzcodec import explore
    from kmzcodec.cli import reports

    calls: list[list[int]] = []
    monkeypatch.setattr(explore, "warm_up", lambda image, ks, **options: calls.append(list(ks)) or 0.0)
    assert run(capsys, "compare", png, "-k", "4,16", "-o", png.with_name("c.png"))[0] == 0
    assert run(capsys, "sweep", png, "-k", "2,8,4", "--elbow-on", "psnr")[0] == 0
    assert calls == [[4, 16], [2, 8, 4]]  # once per command; the trials do not repeat it
    # At a terminal, a warm-up that takes long (the kernels compiling after installing) is
    # explained while it runs; in a pipe or a log it is not.
    monkeypatch.setattr(reports, "WARM_NOTE_AFTER", 0.01)
    monkeypatch.setattr(explore, "warm_up", lambda image, ks, **options: time.sleep(0.5) or 0.5)
    reports.warm_encoder(_photo(), [4], {})
    assert capsys.readouterr().err == ""
    monkeypatch.setattr(reports, "interactive", lambda: True)
    reports.warm_encoder(_photo(), [4], {})
    assert capsys.readouterr().err == f"kmz: note: {reports.COMPILING_NOTE}\n"
    monkeypatch.setattr(explore, "warm_up", lambda image, ks, **options: 0.0)
    reports.warm_encoder(_photo(), [4], {})
    time.sleep(0.05)
    assert capsys.readouterr().err == ""


@pytest.mark.parametrize(
    ("extra", "named"),
    [
        (["-k", "auto"], "-k auto"),
        (["--min-psnr", "30"], "--min-psnr"),
        (["--method", "gmm"], "--method gmm"),
    ],
)
def test_a_given_palette_refuses_what_would_choose_one(
    capsys: pytest.CaptureFixture[str], png: Path, extra: list[str], named: str
) -> None:
    # --method gmm was dropped silently (the API refuses it), and -k auto's error named the
    # API's arguments.
    palette = png.with_name("three.txt")
    palette.write_text("#ff0000\n#00ff00\n#0000ff\n")
    out = png.with_name("given.kmz")
    code, _, err = run(capsys, "encode", png, "-o", out, "--palette", palette, *extra)
    assert code == 2 and f"{named} does not apply to --palette" in err
    assert_one_error_line(err)
    assert not out.exists()
    assert run(capsys, "encode", png, "-o", out, "--palette", palette)[0] == 0
