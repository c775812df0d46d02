"""kmzcodec.colorspace checked against published reference values, and its round trips.

The expected numbers are not computed here: they are copied from public test tables
(sources in each test's docstring), in the units those tables use, and converted with
the scales the colorspace module documents (OKLab L 0..1 and Lab L* 0..100 both map to
0..255, a and b alike).
"""

from __future__ import annotations

import colorsys
import math
from collections.abc import Sequence

import numpy as np
import pytest

import kmzcodec
from kmzcodec import colorspace

#: The module's documented scales: one OKLab unit and one Lab unit in its coordinates.
OKLAB_UNIT = 255.0
LAB_UNIT = 255.0 / 100.0

#: sRGB (0..255) -> OKLab (L, a, b), six decimals. Source: the conversion tests of color.js
#: (colorjs.io, by the editors of CSS Color 4), test/conversions.js, "sRGB ... (D65) to
#: OKlab"; the same values appear in Chris Lilley's OKLab notes and several other
#: libraries' tests (white, black and the six primaries and secondaries).
SRGB_TO_OKLAB = [
    ((255, 255, 255), (1.000000, 0.000000, 0.000000)),
    ((255, 0, 0), (0.627955, 0.224863, 0.125846)),
    ((0, 255, 0), (0.866440, -0.233888, 0.179498)),
    ((0, 0, 255), (0.452014, -0.032457, -0.311528)),
    ((0, 255, 255), (0.905399, -0.149444, -0.039398)),
    ((255, 0, 255), (0.701674, 0.274566, -0.169156)),
    ((255, 255, 0), (0.967983, -0.071369, 0.198570)),
    ((0, 0, 0), (0.000000, 0.000000, 0.000000)),
]

#: sRGB in 0..1 -> CIE L*a*b* (D65) with L*, a*, b* divided by 100, six decimals. Source:
#: go-colorful (github.com/lucasb-eyer/go-colorful), colors_test.go, table ``vals``,
#: column ``lab``, whose values were checked with Bruce Lindbloom's colour calculator
#: (brucelindbloom.com). Red (255, 0, 0) is L*a*b* (53.24, 80.09, 67.20), green
#: (87.73, -86.18, 83.18), blue (32.30, 79.19, -107.86), as widely published.
SRGB_TO_LAB = [
    ((1.0, 1.0, 1.0), (1.000000, 0.000000, 0.000000)),
    ((0.5, 1.0, 1.0), (0.931390, -0.353319, -0.108946)),
    ((1.0, 0.5, 1.0), (0.720892, 0.651673, -0.422133)),
    ((1.0, 1.0, 0.5), (0.977637, -0.165795, 0.602017)),
    ((0.5, 0.5, 1.0), (0.590453, 0.332846, -0.637099)),
    ((1.0, 0.5, 0.5), (0.681085, 0.483884, 0.228328)),
    ((0.5, 1.0, 0.5), (0.906026, -0.600870, 0.498993)),
    ((0.5, 0.5, 0.5), (0.533890, 0.000000, 0.000000)),
    ((0.0, 1.0, 1.0), (0.911132, -0.480875, -0.141312)),
    ((1.0, 0.0, 1.0), (0.603242, 0.982343, -0.608249)),
    ((1.0, 1.0, 0.0), (0.971393, -0.215537, 0.944780)),
    ((0.0, 0.0, 1.0), (0.322970, 0.791875, -1.078602)),
    ((0.0, 1.0, 0.0), (0.877347, -0.861827, 0.831793)),
    ((1.0, 0.0, 0.0), (0.532408, 0.800925, 0.672032)),
    ((0.0, 0.0, 0.0), (0.000000, 0.000000, 0.000000)),
]


def _table(rows: Sequence[tuple[Sequence[float], Sequence[float]]]) -> tuple[np.ndarray, np.ndarray]:
    return np.array([rgb for rgb, _ in rows], dtype=np.float64), np.array([ref for _, ref in rows])


def test_srgb_to_oklab_matches_the_published_values() -> None:
    rgb, expected = _table(SRGB_TO_OKLAB)
    got = colorspace.from_rgb(rgb, "oklab") / OKLAB_UNIT
    # The table has six decimals: half a unit of the last, plus float32-level differences
    # between the published matrices.
    np.testing.assert_allclose(got, expected, rtol=0, atol=2e-6)


def test_srgb_green_008000_is_the_web_platform_tests_oklab() -> None:
    """web-platform-tests css/css-color/oklab-001.html (CSS Color 4): sRGB #008000 is
    ``oklab(51.975% -0.1403 0.10768)``."""
    got = colorspace.from_rgb(np.array([[0.0, 128.0, 0.0]]), "oklab")[0] / OKLAB_UNIT
    np.testing.assert_allclose(got, [0.51975, -0.1403, 0.10768], rtol=0, atol=6e-5)


def test_srgb_to_lab_d65_matches_the_published_values() -> None:
    rgb, expected = _table(SRGB_TO_LAB)
    got = colorspace.from_rgb(rgb * 255.0, "lab") / LAB_UNIT
    # Six decimals of L*/100: 1e-4 in L*a*b* units (a D65 white point of (0.9505, 1, 1.089)
    # instead of (0.95047, 1, 1.08883) is off by about 1e-2).
    np.testing.assert_allclose(got, expected * 100, rtol=0, atol=2e-4)


@pytest.mark.parametrize(("space", "rows", "unit", "rgb_scale"), [
    ("oklab", SRGB_TO_OKLAB, OKLAB_UNIT, 1.0),
    ("lab", SRGB_TO_LAB, LAB_UNIT * 100, 255.0),
])  # fmt: skip
def test_the_published_values_convert_back_to_their_srgb(
    space: str, rows: Sequence[tuple[Sequence[float], Sequence[float]]], unit: float, rgb_scale: float
) -> None:
    rgb, reference = _table(rows)
    np.testing.assert_allclose(colorspace.to_rgb(reference * unit, space), rgb * rgb_scale, rtol=0, atol=0.01)


@pytest.mark.parametrize("space", colorspace.SPACES)
def test_round_trip_from_srgb(space: str) -> None:
    rng = np.random.default_rng(7)
    rgb = np.vstack([rng.uniform(0, 255, (2000, 3)), rng.integers(0, 256, (2000, 3)), np.eye(3) * 255])
    np.testing.assert_allclose(
        colorspace.to_rgb(colorspace.from_rgb(rgb, space), space), rgb, rtol=0, atol=1e-6
    )


@pytest.mark.parametrize("space", colorspace.SPACES)
def test_round_trip_to_srgb_and_back_within_the_gamut(space: str) -> None:
    """Coordinates of in-gamut colours survive the way back too (the inverse is two-sided)."""
    coords = colorspace.from_rgb(np.random.default_rng(8).uniform(0, 255, (2000, 3)), space)
    back = colorspace.from_rgb(colorspace.to_rgb(coords, space), space)
    np.testing.assert_allclose(back, coords, rtol=0, atol=1e-6)


@pytest.mark.parametrize(("space", "outside"), [
    ("rgb", [[-40.0, 300.0, 128.0]]),
    ("oklab", [[1.2 * OKLAB_UNIT, 0.0, 0.0], [0.6 * OKLAB_UNIT, 0.5 * OKLAB_UNIT, 0.0]]),
    ("lab", [[50 * LAB_UNIT, 150 * LAB_UNIT, 0.0], [-10 * LAB_UNIT, 0.0, 0.0]]),
    ("hsv", [[300.0, 400.0, -400.0], [-20.0, 0.0, 0.0], [0.0, 50.0, 50.0], [100.0, 1e-300, -1e-300]]),
])  # fmt: skip
def test_colours_outside_srgb_are_clipped_to_its_gamut(space: str, outside: list[list[float]]) -> None:
    rgb = colorspace.to_rgb(np.array(outside), space)
    assert np.isfinite(rgb).all() and rgb.min() >= 0.0 and rgb.max() <= 255.0


def test_an_unknown_space_is_refused() -> None:
    with pytest.raises(ValueError, match="hsl"):
        colorspace.from_rgb(np.zeros((1, 3)), "hsl")
    with pytest.raises(ValueError, match="hsl"):
        colorspace.to_rgb(np.zeros((1, 3)), "hsl")


# ---------------------------------------------------------------- HSV (the cone)


def _hsv_rgb(hue_degrees: float, saturation: float, value: float) -> list[float]:
    """sRGB 0..255 of an HSV colour, by the standard library (an implementation independent of ours)."""
    return [255.0 * c for c in colorsys.hsv_to_rgb(hue_degrees / 360.0, saturation, value)]


def test_srgb_to_the_hsv_cone_matches_the_standard_librarys_hsv() -> None:
    """Coordinates (V, S·V·cos H, S·V·sin H) in 0..255, with H, S, V from ``colorsys.rgb_to_hsv``."""
    rgb = np.vstack([np.random.default_rng(9).integers(0, 256, (3000, 3)), np.eye(3) * 255, np.zeros((1, 3))])
    expected = []
    for red, green, blue in rgb / 255.0:
        hue, saturation, value = colorsys.rgb_to_hsv(red, green, blue)
        chroma = 255.0 * saturation * value
        angle = 2 * math.pi * hue
        expected.append((255.0 * value, chroma * math.cos(angle), chroma * math.sin(angle)))
    np.testing.assert_allclose(colorspace.from_rgb(rgb, "hsv"), expected, rtol=0, atol=1e-9)


def test_hues_either_side_of_the_seam_are_as_close_as_anywhere() -> None:
    """359° and 1° are 2° apart on the cone, as 1° and 3° are: hue is an angle, not a number."""
    seam = colorspace.from_rgb(np.array([_hsv_rgb(359, 1, 1), _hsv_rgb(1, 1, 1)]), "hsv")
    inside = colorspace.from_rgb(np.array([_hsv_rgb(1, 1, 1), _hsv_rgb(3, 1, 1)]), "hsv")
    assert np.linalg.norm(seam[0] - seam[1]) == pytest.approx(np.linalg.norm(inside[0] - inside[1]))
    # Their mean is red again (hue 0°: G = B), not cyan (180°, the mean of the numbers 359 and 1);
    # a chord's midpoint is inside the circle, so S drops by 1 - cos 1° (G and B 0.04).
    red = colorspace.to_rgb(seam.mean(axis=0, keepdims=True), "hsv")[0]
    assert red[1] == pytest.approx(red[2], abs=1e-9)
    np.testing.assert_allclose(red, [255.0, 0.0, 0.0], atol=255 * (1 - math.cos(math.radians(1))) + 1e-9)


def test_greys_lie_on_the_axis_and_come_back_exactly() -> None:
    """A grey has no hue: whatever the formula would make of it, it maps to (v, 0, 0) and back."""
    greys = np.repeat(np.arange(256.0)[:, None], 3, axis=1)
    cone = colorspace.from_rgb(greys, "hsv")
    np.testing.assert_array_equal(cone, np.stack([np.arange(256.0), np.zeros(256), np.zeros(256)], axis=1))
    np.testing.assert_array_equal(colorspace.to_rgb(cone, "hsv"), greys)
    # A grey nudged by one level in any channel moves by at most 1 in V and 1 in chroma: no jump
    # through the hue, however close to grey.
    nudges = np.array([[1, 0, 0], [0, 1, 0], [0, 0, 1], [-1, 0, 0], [0, -1, 0], [0, 0, -1]], dtype=float)
    nudged = np.clip(greys[:, None, :] + nudges[None], 0, 255).reshape(-1, 3)
    moved = colorspace.from_rgb(nudged, "hsv") - np.repeat(cone, len(nudges), axis=0)
    assert np.linalg.norm(moved, axis=1).max() <= math.sqrt(2) + 1e-9


def test_black_and_the_cone_tip_give_no_nan() -> None:
    """V = 0 with a non-zero radius (outside the cone, e.g. a centre drifting past the tip) is black."""
    tip = np.array([[0.0, 30.0, -40.0], [0.0, 0.0, 0.0], [1e-12, 1e-12, 0.0], [-5.0, -1.0, 1.0]])
    with np.errstate(all="raise"):
        rgb = colorspace.to_rgb(tip, "hsv")
    np.testing.assert_allclose(rgb, np.zeros((4, 3)), atol=1e-9)


def _seam_image() -> np.ndarray:
    """Rows of red at hue 359°, red at hue 1° and cyan (180°), all fully saturated and bright."""
    colours = np.rint([_hsv_rgb(359, 1, 1), _hsv_rgb(1, 1, 1), _hsv_rgb(180, 1, 1)]).astype(np.uint8)
    assert len({tuple(c) for c in colours}) == 3  # (255, 0, 4), (255, 4, 0), (0, 255, 255)
    return np.repeat(colours[:, None, :], 8, axis=1).repeat(4, axis=0)  # 12 x 8


def test_red_split_across_the_seam_is_clustered_as_one_colour() -> None:
    image = _seam_image()
    decoded = np.asarray(kmzcodec.decode(kmzcodec.encode(image, 2, colorspace="hsv")).convert("RGB"))
    reds, cyan = decoded[:8].reshape(-1, 3), decoded[8:].reshape(-1, 3)
    assert len(np.unique(reds, axis=0)) == 1 and len(np.unique(cyan, axis=0)) == 1
    assert reds[0].tolist() != cyan[0].tolist()
    # The one entry is red: R 255, G and B both small (their hues' mean on the circle is 0°).
    assert reds[0][0] == 255 and max(reds[0][1:]) <= 4 and reds[0][1] == reds[0][2]
    assert cyan[0].tolist() == [0, 255, 255]


def test_one_entry_for_reds_either_side_of_the_seam_is_red() -> None:
    image = _seam_image()[:8]
    decoded = np.asarray(kmzcodec.decode(kmzcodec.encode(image, 1, colorspace="hsv")).convert("RGB"))
    # (255, 0, 4) and (255, 4, 0) are hues 359.06° and 0.94°: their centre is hue 0°, pure red
    # (chroma 255 cos 0.94° rounds back to 255), where averaging the hue numbers would give cyan.
    assert np.unique(decoded.reshape(-1, 3), axis=0).tolist() == [[255, 0, 0]]


@pytest.mark.parametrize("mode", ["RGB", "L"])
def test_greys_are_stable_under_hsv_clustering(mode: str) -> None:
    """Grey images cluster as the same greys as in RGB (their hue is undefined, the result is not)."""
    rng = np.random.default_rng(3)
    levels = np.clip(np.rint(np.linspace(0, 255, 40 * 30) + rng.normal(0, 9, 40 * 30)), 0, 255)
    grey = levels.astype(np.uint8).reshape(30, 40)
    image = np.repeat(grey[:, :, None], 3, axis=2) if mode == "RGB" else grey
    data = kmzcodec.encode(image, 6, colorspace="hsv")
    assert data == kmzcodec.encode(image, 6, colorspace="hsv")
    palette = np.asarray(kmzcodec.decode(data).convert("RGB")).reshape(-1, 3)
    assert (palette == palette[:, :1]).all()  # every entry is grey: R = G = B
    in_rgb = np.asarray(kmzcodec.decode(kmzcodec.encode(image, 6, colorspace="rgb")).convert("RGB"))
    np.testing.assert_array_equal(palette.reshape(in_rgb.shape), in_rgb)
