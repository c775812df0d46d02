"""Dithering: kmzcodec.diffusion through encode, the plugin and the command."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import kmzcodec
from kmzcodec import cli, diffusion, options, quantize, threads


def gradient(height: int = 48, width: int = 96) -> np.ndarray:
    """A smooth horizontal ramp in three channels: where a small palette bands."""
    x = np.linspace(0, 255, width)
    ramp = np.stack([x, x * 0.6 + 40, 255 - x * 0.8], axis=1)
    return np.rint(np.broadcast_to(ramp, (height, width, 3))).astype(np.uint8)


def photo(height: int = 48, width: int = 64, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 / width, y * 255 / height, (x + y) * 127 / (width + height) + 64], axis=2)
    return np.clip(np.rint(base + rng.normal(0, 12, base.shape)), 0, 255).astype(np.uint8)


def rendered(data: bytes) -> np.ndarray:
    image = kmzcodec.decode(data)
    return np.asarray(image.convert("RGBA" if "A" in image.info.get("palette_kind", "") else "RGB"))


def block_means(values: np.ndarray, size: int = 8) -> np.ndarray:
    height, width, channels = values.shape
    blocks = values[: height // size * size, : width // size * size].astype(np.float64)
    return blocks.reshape(height // size, size, width // size, size, channels).mean(axis=(1, 3))


def roughness(values: np.ndarray) -> float:
    """Mean absolute difference between horizontal neighbours: the noise dithering adds."""
    return float(np.abs(np.diff(values.astype(np.float64), axis=1)).mean())


@pytest.mark.parametrize("off", [False, 0, 0.0])
def test_strength_zero_is_no_dither(off: object) -> None:
    pixels = photo()
    plain = kmzcodec.encode(pixels, 8)
    assert kmzcodec.encode(pixels, 8, dither=off) == plain
    assert kmzcodec.decode(plain).info["dither"] is False


def test_same_input_same_bytes_and_the_header_flag() -> None:
    pixels = photo()
    first = kmzcodec.encode(pixels, 8, dither=0.6)
    assert kmzcodec.encode(pixels.copy(), 8, dither=0.6) == first
    assert kmzcodec.decode(first).info["dither"] is True
    assert first != kmzcodec.encode(pixels, 8)


def test_true_is_the_default_strength() -> None:
    pixels = gradient()
    assert kmzcodec.encode(pixels, 6, dither=True) == kmzcodec.encode(
        pixels, 6, dither=options.DEFAULT_DITHER_STRENGTH
    )


def test_dithering_keeps_the_local_mean_of_a_gradient() -> None:
    pixels = gradient()
    original = block_means(pixels)
    plain = np.abs(block_means(rendered(kmzcodec.encode(pixels, 4))) - original).mean()
    dithered = np.abs(block_means(rendered(kmzcodec.encode(pixels, 4, dither=True))) - original).mean()
    assert dithered < 0.6 * plain


def test_stronger_dithering_adds_more_noise() -> None:
    pixels = gradient()
    noise = [roughness(rendered(kmzcodec.encode(pixels, 4, dither=s))) for s in (0.0, 0.3, 0.6, 1.0)]
    assert all(a < b for a, b in zip(noise, noise[1:], strict=False)), noise


def test_grey_is_dithered() -> None:
    pixels = gradient()[:, :, :1]
    data = kmzcodec.encode(Image.fromarray(pixels[:, :, 0], "L"), 4, dither=True)
    decoded = np.asarray(kmzcodec.decode(data).convert("L"))[:, :, None]
    assert len(np.unique(decoded)) <= 4
    plain = np.asarray(kmzcodec.decode(kmzcodec.encode(pixels, 4)).convert("L"))[:, :, None]
    original = block_means(pixels)
    assert np.abs(block_means(decoded) - original).mean() < np.abs(block_means(plain) - original).mean()


def test_rgba_dithers_only_opaque_pixels() -> None:
    pixels = np.dstack([gradient(), np.full((48, 96), 255, dtype=np.uint8)])
    pixels[:16, :, 3] = 0  # transparent band
    pixels[16:24, :, 3] = 128  # half-transparent band
    plain = kmzcodec.decode(kmzcodec.encode(pixels, 6))
    dithered = kmzcodec.decode(kmzcodec.encode(pixels, 6, dither=True))
    before, after = np.asarray(plain.convert("RGBA")), np.asarray(dithered.convert("RGBA"))
    assert (after[:16, :, 3] == 0).all()
    np.testing.assert_array_equal(after[16:24], before[16:24])  # not opaque: nearest entry, as undithered
    assert (after[24:] != before[24:]).any()
    assert (after[24:, :, 3] == 255).all()


def test_more_than_256_colours_cannot_be_dithered() -> None:
    with pytest.raises(kmzcodec.KmzError) as caught:
        kmzcodec.encode(photo(64, 96), 300, dither=True)
    assert caught.value.reason == "bad-option"


@pytest.mark.parametrize("bad", [-0.1, 1.5, float("nan"), "high", None, [0.5]])
def test_bad_strengths_raise(bad: object) -> None:
    with pytest.raises(kmzcodec.KmzError) as caught:
        kmzcodec.encode(photo(), 8, dither=bad)
    assert caught.value.reason == "bad-option"


def test_search_finds_the_nearest_entry() -> None:
    """From a bad starting guess the kernel's pruned search still finds an exact nearest entry."""
    rng = np.random.default_rng(5)
    palette = rng.integers(0, 256, (200, 3), dtype=np.uint8)
    pixels = rng.integers(0, 256, (20, 30, 3), dtype=np.uint8)
    chosen = diffusion.diffuse(pixels, palette, np.zeros((20, 30), dtype=np.int32), 1e-9)
    # Distances in the space the error is diffused in.
    colors, entries = diffusion._to_working(pixels).astype(np.float64), diffusion._to_working(palette)
    distances = ((colors[:, :, None, :] - entries[None, None]) ** 2).sum(-1)
    np.testing.assert_array_equal(
        np.take_along_axis(distances, chosen[..., None], 2)[..., 0], distances.min(2)
    )


def reference_nearest(target: np.ndarray, palette: np.ndarray, guess: int) -> tuple[int, float]:
    """Brute force: every entry measured as the kernel measures (float32 differences and squares,
    float64 sums in channel order); of the nearest, the first in ``guess``'s search order,
    ``guess`` itself first."""
    diff = target[None, :] - palette
    squares = diff * diff
    d2 = squares[:, 0].astype(np.float64) + squares[:, 1] + squares[:, 2]
    order = diffusion._search_tables(palette.astype(np.float64))[0][guess]
    rank = np.empty(len(palette))
    rank[order] = np.arange(len(palette))
    rank[guess] = -1
    nearest = np.flatnonzero(d2 == d2.min())
    best = int(nearest[np.argmin(rank[nearest])])
    return best, float(d2[best])


@pytest.mark.parametrize("colors", [1, 2, 3, 5, 7, 16, 64, 256])
def test_the_search_is_brute_force_with_its_tie_rule(colors: int) -> None:
    """The kernel's nearest-entry search (diffusion._nearest) against brute force, on random
    palettes: real-valued, on a coarse lattice with targets on lattice points and midpoints (exact
    ties everywhere), and with duplicate entries; from random starts."""
    rng = np.random.default_rng(colors)
    diffusion._compile()
    ties = 0
    for kind in ("random", "lattice", "duplicates"):
        if kind == "lattice":
            palette = (rng.integers(0, 6, (colors, 3)) * 40.0).astype(np.float32)
        else:
            palette = diffusion._to_working(rng.integers(0, 256, (colors, 3), dtype=np.uint8))
        if kind == "duplicates":
            palette[rng.integers(0, colors, colors // 2)] = palette[rng.integers(0, colors, colors // 2)]
        tables = diffusion._search_tables(palette.astype(np.float64))
        for _ in range(400):
            if kind == "lattice":
                target = (rng.integers(0, 11, 3) * 20.0).astype(np.float32)
            else:
                target = rng.uniform(0, 255, 3).astype(np.float32)
                if rng.random() < 0.2:
                    target = palette[rng.integers(colors)].copy()
            guess = int(rng.integers(colors))
            expected = reference_nearest(target, palette, guess)
            found = diffusion._nearest(*target, palette, np.uint8(guess), *tables)
            assert (int(found[0]), float(found[1])) == expected, (kind, target, guess)
            ties += int(np.count_nonzero(((target - palette) ** 2).sum(1) == expected[1]) > 1)
    assert ties > 0 or colors < 7  # the tie rule was exercised


def test_dither_map_is_weaker_on_edges() -> None:
    pixels = gradient()
    pixels[:, 48:] = 0  # a hard vertical edge in the middle
    weights = diffusion.dither_map(pixels, np.zeros(pixels.shape[:2], dtype=np.int32))
    assert weights[:, 47:49].mean() < 0.5 * weights[:, 10:30].mean()


def test_plugin_save_option() -> None:
    image = Image.fromarray(photo())
    buffer = io.BytesIO()
    image.save(buffer, "KMZ", colors=8, dither=0.5)
    assert buffer.getvalue() == kmzcodec.encode(image, 8, dither=0.5)
    assert kmzcodec.decode(buffer.getvalue()).info["dither"] is True


def test_command_dither_strength(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "photo.png"
    Image.fromarray(photo()).save(source)
    for extra, expected in (
        ([], False),
        (["--dither"], True),
        (["--dither", "0.5"], True),
        (["--dither", "0"], False),
    ):
        out = tmp_path / "out.kmz"
        assert cli.main(["encode", str(source), "-o", str(out), "-k", "8", "--force", *extra]) == 0
        assert kmzcodec.decode(out.read_bytes()).info["dither"] is expected
    half = out.read_bytes()
    assert cli.main(["encode", str(source), "-o", str(out), "-k", "8", "--force", "--dither", "0.5"]) == 0
    assert out.read_bytes() == kmzcodec.encode(Image.open(source), 8, dither=0.5)
    assert half == kmzcodec.encode(Image.open(source), 8)
    capsys.readouterr()
    assert cli.main(["encode", str(source), "-o", str(out), "-k", "8", "--force", "--dither", "2"]) == 2
    assert "dither strength must be a number from 0 to 1" in capsys.readouterr().err


# ---------------------------------------------------------------- the quantizer's own dither step


def ramp(channels: int) -> np.ndarray:
    """A smooth ramp with a little noise: dithering shows on it as a finer average."""
    rng = np.random.default_rng(channels)
    y, x = np.mgrid[0:64, 0:96]
    grey = x * 255 / 95 + rng.normal(0, 3, x.shape)
    planes = [grey, y * 255 / 63, 255 - grey][:channels] if channels != 1 else [grey]
    pixels = np.clip(np.rint(np.stack(planes, axis=2)), 0, 255).astype(np.uint8)
    if channels == 4:
        pixels = np.concatenate([ramp(3), np.full((64, 96, 1), 255, np.uint8)], axis=2)
    return pixels


@pytest.mark.parametrize("channels", [1, 3, 4])
def test_dithering_follows_the_image_closer_on_average_than_nearest_colours(channels: int) -> None:
    pixels = ramp(channels)
    plain = quantize.quantize(pixels, 8)
    dithered = quantize.quantize(pixels, 8, dither=True)
    assert dithered.dithered and len(dithered.palette) == len(plain.palette)
    if channels == 4:  # with alpha the clustered palette is kept...
        assert np.array_equal(dithered.palette, plain.palette)
    else:  # ...else it is widened about the mean (test_the_dithered_palette_has_the_images_variance)
        assert (dithered.palette.min(axis=0) <= plain.palette.min(axis=0)).all()
        assert (dithered.palette.max(axis=0) >= plain.palette.max(axis=0)).all()
    # Pixel by pixel each index stays near its colour (not an all-black or all-one-entry image)...
    error = np.abs(dithered.palette[dithered.indices].astype(float) - pixels).mean()
    assert error < 2 * np.abs(plain.palette[plain.indices].astype(float) - pixels).mean()
    # ...and over small blocks the dithered image keeps the ramp's average, where nearest colours band.
    band_error = np.abs(block_means(plain.palette[plain.indices]) - block_means(pixels)).mean()
    dither_error = np.abs(block_means(dithered.palette[dithered.indices]) - block_means(pixels)).mean()
    assert dither_error < 0.6 * band_error


def test_the_contrast_made_beside_the_clustering_gives_the_same_bytes() -> None:
    """A large dithered image has its dither map's contrast made on a second CPU while the
    palette is clustered; an encode with one CPU makes it afterwards: same bytes."""
    rng = np.random.default_rng(11)
    side = int(np.ceil(np.sqrt(quantize.BESIDE_PIXELS))) + 8
    y, x = np.mgrid[0:side, 0:side]
    image = np.stack([x % 256, y % 256, (x + y) % 256], axis=-1) + rng.integers(0, 12, (side, side, 3))
    image = np.clip(image, 0, 255).astype(np.uint8)
    if threads.available_cpus() > 1:
        quantizer = quantize.Quantizer(image)
        beside = quantizer.quantize(16, dither=True)
        assert quantizer._contrast is not None  # it was made beside
    with threads.cpu_share(2 * threads.available_cpus()):  # one CPU: no thread, made afterwards
        alone = quantize.Quantizer(image)
        after = alone.quantize(16, dither=True)
        assert alone._contrast is None
    if threads.available_cpus() > 1:
        assert np.array_equal(beside.indices, after.indices)
    assert kmzcodec.encode(image, 16, dither=True) == kmzcodec.encode(image, 16, dither=True)


def palette_variance(pixels: np.ndarray, palette: np.ndarray) -> tuple[float, float]:
    """(the image's variance, its palette's): each pixel counts its nearest entry, about the image's mean."""
    flat = pixels.reshape(-1, pixels.shape[2]).astype(np.float64)
    entries = palette.astype(np.float64)
    nearest = (((flat[:, None, :] - entries[None]) ** 2).sum(axis=2)).argmin(axis=1)
    mean = flat.mean(axis=0)
    return float(((flat - mean) ** 2).sum(axis=1).mean()), float(
        ((entries[nearest] - mean) ** 2).sum(axis=1).mean()
    )


@pytest.mark.parametrize("colors", [4, 16])
def test_the_dithered_palette_has_the_images_variance(colors: int) -> None:
    """Cluster centres are means, so a plain palette has less variance than the image; the
    widening step gives a palette of means the image's variance, half as much at half
    strength. Before it, the partner step moves entries outwards (they are no longer means,
    so T - W understates their variance and the widening overshoots): the palette dithered
    with is wider than the plain one, more so at full strength, within a third of the
    image's variance above it."""
    pixels = photo()
    quantizer = quantize.Quantizer(pixels)
    hist = quantizer._histogram
    clustered, labels = quantize.cluster(hist.colors, hist.counts, colors, "kmeans", "rgb", 0)
    shortfall = {}
    for strength in (0.0, 0.5, 1.0):
        widened = quantizer._spread(clustered, labels, strength)[0] if strength else clustered
        total, palette = palette_variance(pixels, widened)
        shortfall[strength] = 1.0 - palette / total
    assert shortfall[0.0] > 0.05
    assert abs(shortfall[1.0]) < 0.5 * shortfall[0.0]
    assert abs(shortfall[1.0]) < shortfall[0.5] < shortfall[0.0]
    dithered = {}
    for strength in (False, 0.5, True):
        total, palette = palette_variance(pixels, quantize.quantize(pixels, colors, dither=strength).palette)
        dithered[strength] = 1.0 - palette / total
    assert -1 / 3 < dithered[True] < dithered[0.5] < dithered[False] == pytest.approx(shortfall[0.0])


def test_the_partner_step_moves_an_entry_out_towards_a_one_sided_tail() -> None:
    """Error diffusion renders a colour between two entries by alternating them, so a colour
    with no entry beyond it needs a partner: the dithered palette's partner step raises the
    weight of such colours (their mirror point about their entry is far from every entry).
    Grey: a block of 0..10 (symmetric about its entry: stays) and a block at 200 with a thin
    tail up to 255 (one-sided: its entry moves up, towards the tail)."""
    rng = np.random.default_rng(5)
    values = np.concatenate([rng.integers(0, 11, 4000), np.full(3000, 200), np.linspace(201, 255, 1000)])
    pixels = np.rint(values).astype(np.uint8).reshape(80, 100, 1)
    quantizer = quantize.Quantizer(pixels)
    hist = quantizer._histogram
    clustered, labels = quantize.cluster(hist.colors, hist.counts, 2, "kmeans", "rgb", 0)
    partnered, moved = quantizer._partnered(clustered, labels, 1.0)
    low, high = sorted(int(entry) for entry in clustered[:, 0])
    after = sorted(int(entry) for entry in partnered[:, 0])
    assert len(after) == 2 and abs(after[0] - low) <= 1
    assert high + 4 < after[1] < 255
    # Every colour is labelled with its nearest entry of the moved palette, and the step repeats.
    gaps = np.abs(hist.colors.astype(int) - partnered[:, 0].astype(int)[None, :])
    assert np.array_equal(moved, gaps.argmin(axis=1))
    again, _ = quantize.Quantizer(pixels)._partnered(clustered, labels, 1.0)
    assert np.array_equal(again, partnered)


@pytest.mark.parametrize("channels", [3, 4])
def test_the_partner_step_keeps_entries_in_range_and_alpha_palettes(channels: int) -> None:
    """Mirror points fall outside the gamut, the entries never do; K does not grow; an RGBA
    palette is kept as clustered."""
    pixels = photo() if channels == 3 else np.concatenate([photo(), np.full((48, 64, 1), 255, np.uint8)], 2)
    quantizer = quantize.Quantizer(pixels)
    hist = quantizer._histogram
    clustered, labels = quantize.cluster(hist.colors, hist.counts, 16, "kmeans", "rgb", 0)
    partnered, moved = quantizer._partnered(clustered, labels, 1.0)
    if channels == 4:
        assert partnered is clustered and moved is labels
        return
    assert partnered.dtype == np.uint8 and 2 <= len(partnered) <= 16
    assert len(np.unique(partnered, axis=0)) == len(partnered)
    assert not np.array_equal(partnered, clustered)
    assert moved.min() >= 0 and moved.max() < len(partnered)
