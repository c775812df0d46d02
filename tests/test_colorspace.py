"""kmzcodec.colorspace checked against published reference values, and its round trips.

The expected numbers are not computed here: they are copied from public test tables
(sources in each test's docstring), in the units those tables use, and converted with
the scales the colorspace module documents (OKLab L 0..1 and Lab L* 0..100 both map to
0..255, a and b alike).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

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
])  # fmt: skip
def test_colours_outside_srgb_are_clipped_to_its_gamut(space: str, outside: list[list[float]]) -> None:
    rgb = colorspace.to_rgb(np.array(outside), space)
    assert np.isfinite(rgb).all() and rgb.min() >= 0.0 and rgb.max() <= 255.0


def test_an_unknown_space_is_refused() -> None:
    with pytest.raises(ValueError, match="hsv"):
        colorspace.from_rgb(np.zeros((1, 3)), "hsv")
    with pytest.raises(ValueError, match="hsv"):
        colorspace.to_rgb(np.zeros((1, 3)), "hsv")
