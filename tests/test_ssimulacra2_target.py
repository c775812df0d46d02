"""colors="auto" with min_ssimulacra2: through encode, the Pillow plugin and ``kmz encode``."""

from __future__ import annotations

import io
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import kmzcodec
from kmzcodec import autok, cli, metrics
from kmzcodec.encoder import encode_details


def _gradient(height: int = 64, width: int = 64) -> np.ndarray:
    """Smooth and many-coloured: SSIMULACRA2 rises steadily with K."""
    y, x = np.mgrid[0:height, 0:width]
    return np.stack([x * 255 // width, y * 255 // height, (x + y) * 255 // (width + height)], -1).astype(
        np.uint8
    )


def _score(image: np.ndarray, data: bytes) -> float:
    return metrics.ssimulacra2(image, kmzcodec.decode(data), crop=metrics.SSIMULACRA2_CROP)


def test_the_fewest_colours_that_reach_the_target() -> None:
    pytest.importorskip("ssimulacra2")
    image, target = _gradient(32, 32), 45.0
    encoded = encode_details(image, "auto", min_ssimulacra2=target)
    assert _score(image, encoded.data) >= target
    assert 1 < encoded.colors < len(np.unique(image.reshape(-1, 3), axis=0))
    # One colour fewer misses it: the search found the boundary, not just some K that meets it.
    assert _score(image, kmzcodec.encode(image, encoded.colors - 1)) < target
    higher = encode_details(image, "auto", min_ssimulacra2=target + 15)
    assert higher.colors > encoded.colors
    assert kmzcodec.encode(image, "auto", min_ssimulacra2=target) == encoded.data  # deterministic


def test_a_wide_image_is_searched_on_the_small_crop_and_checked_on_the_large_one() -> None:
    pytest.importorskip("ssimulacra2")
    # Wider than the search crop: the K found on the centre is confirmed on the larger crop,
    # which here sees the whole image, so the score kmz encode reports meets the target.
    image = _gradient(40, autok.SSIMULACRA2_SEARCH_CROP + 64)
    target = 60.0
    encoded = encode_details(image, "auto", min_ssimulacra2=target)
    assert _score(image, encoded.data) >= target
    # The search crop's boundary: one colour fewer misses the target on the centre it sees.
    fewer = kmzcodec.decode(kmzcodec.encode(image, encoded.colors - 1))
    assert metrics.ssimulacra2(image, fewer, crop=autok.SSIMULACRA2_SEARCH_CROP) < target


def test_the_plugin_takes_the_target() -> None:
    pytest.importorskip("ssimulacra2")
    image = _gradient(32, 32)
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="KMZ", colors="auto", min_ssimulacra2=50)
    assert buffer.getvalue() == kmzcodec.encode(image, "auto", min_ssimulacra2=50)
    assert _score(image, buffer.getvalue()) >= 50


def test_without_the_package_the_target_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ssimulacra2", None)  # as if not installed: import fails
    with pytest.raises(kmzcodec.KmzError, match=r"kmzcodec\[metrics\]") as caught:
        kmzcodec.encode(_gradient(16, 16), "auto", min_ssimulacra2=50)
    assert caught.value.reason == "missing-extra"


def test_kmz_encode_min_ssimulacra2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    pytest.importorskip("ssimulacra2")
    source, output = tmp_path / "g.png", tmp_path / "g.kmz"
    image = _gradient(32, 32)
    Image.fromarray(image).save(source)
    assert cli.main(["encode", str(source), "-o", str(output), "--min-ssimulacra2", "55"]) == 0
    out = capsys.readouterr().out
    crop = metrics.SSIMULACRA2_CROP
    assert f"SSIMULACRA2 {_score(image, output.read_bytes()):.2f} (centre {crop}x{crop})" in out
    assert _score(image, output.read_bytes()) >= 55
    assert output.read_bytes() == kmzcodec.encode(image, "auto", min_ssimulacra2=55)
    # A target needs -k auto; a score above 100 is refused by the parser.
    assert (
        cli.main(["encode", str(source), "-o", str(tmp_path / "x.kmz"), "-k", "8", "--min-ssimulacra2", "50"])
        == 2
    )
    assert cli.main(["encode", str(source), "-o", str(tmp_path / "x.kmz"), "--min-ssimulacra2", "101"]) == 2
    assert not (tmp_path / "x.kmz").exists()
