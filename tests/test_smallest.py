"""compression="smallest" (issue 12, part 3): the smallest of the ways kmzcodec.smallest tries.

It is a writer policy: the file records the compression that won, decodes to the
same pixels as any other compression, and is never larger than the zlib and lzma
defaults.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

import kmzcodec
from kmzcodec import cli, container, options, smallest
from kmzcodec.encoder import encode_details
from kmzcodec.format import Compression, Method, min_bits


def graphic(width: int = 96, height: int = 64) -> tuple[np.ndarray, np.ndarray]:
    """A flat drawing (bars, a line, text) quantised to K = 16: the graphics case."""
    image = Image.new("RGB", (width, height), (240, 240, 235))
    draw = ImageDraw.Draw(image)
    for bar in range(6):
        draw.rectangle(
            (4 + bar * 15, 60 - bar * 8, 14 + bar * 15, height), fill=(30 * bar, 120, 200 - 20 * bar)
        )
    draw.line([(0, 10), (width, 40)], fill=(200, 30, 30), width=2)
    draw.text((5, 5), "kmz 12", fill=(10, 10, 10))
    quantized = encode_details(image, 16).quantized
    return quantized.palette, quantized.indices


def noisy(rng: np.random.Generator, shape: tuple[int, int], colors: int) -> tuple[np.ndarray, np.ndarray]:
    """Smooth ramps plus noise over K entries: the photograph case."""
    height, width = shape
    ramp = np.add.outer(np.arange(height), np.arange(width)) * (colors - 1) // (height + width)
    indices = np.clip(ramp + rng.integers(-2, 3, shape), 0, colors - 1)
    palette = rng.integers(0, 256, (colors, 3), dtype=np.uint8)
    return palette, indices


def cases(rng: np.random.Generator) -> list[tuple[np.ndarray, np.ndarray]]:
    tiny = (np.array([[0, 0, 0], [255, 255, 255]], np.uint8), np.array([[0, 1], [1, 0]]))
    grey = (np.arange(0, 256, 4, dtype=np.uint8)[:, None], rng.integers(0, 64, (20, 30)))
    wide = (rng.integers(0, 256, (300, 4), dtype=np.uint8), rng.integers(0, 300, (12, 40)))
    return [tiny, graphic(), noisy(rng, (48, 64), 256), noisy(rng, (40, 50), 16), grey, wide]


def test_never_larger_than_the_defaults_and_the_same_pixels(rng: np.random.Generator) -> None:
    for palette, indices in cases(rng):
        least = container.write(palette, indices, compression="smallest")
        for other in ("zlib", "lzma", "none"):
            data = container.write(palette, indices, compression=other)
            assert len(least) <= len(data), (other, indices.shape, len(palette))
        decoded = kmzcodec.decode(least)
        expected = kmzcodec.decode(container.write(palette, indices))
        np.testing.assert_array_equal(np.asarray(decoded), np.asarray(expected))
        assert decoded.info["compression"] in {c.label for c in Compression}  # the winner, never "smallest"


def test_a_small_image_gets_the_smallest_of_every_candidate(rng: np.random.Generator) -> None:
    for palette, indices in cases(rng):
        widths = container._candidate_bits(len(palette))
        sizes = [
            len(smallest.compress(container.bitpack.pack(indices, bits), candidate))
            for bits in widths
            for candidate in smallest.CANDIDATES
        ]
        # And the row filters' (spec 6.5) ways, the palette as given (the method is unspecified).
        sizes += [len(way.stored) for way in smallest._filtered_ways(indices, widths, [None])]
        data = container.write(palette, indices, compression="smallest")
        header = container.parse_header(data)
        assert header.data_length == min(sizes)
        assert header.bits_per_index in widths


def test_tiny_images_are_stored_uncompressed() -> None:
    # A 2x2 image: every stream's own header is larger than the four index bytes.
    data = container.write(
        np.array([[0], [255]], np.uint8), np.array([[0, 1], [1, 0]]), compression="smallest"
    )
    assert container.parse_header(data).compression is Compression.NONE


def test_a_large_image_prunes_on_the_sample_and_still_wins(rng: np.random.Generator) -> None:
    # More pixels than the trial sample: candidates are ranked on bands of rows first.
    palette, indices = noisy(rng, (480, 320), 256)
    assert indices.size > container.TRIAL_PIXELS
    least = container.write(palette, indices, compression="smallest")
    assert len(least) <= min(len(container.write(palette, indices, compression=c)) for c in ("zlib", "lzma"))
    np.testing.assert_array_equal(np.asarray(kmzcodec.decode(least).convert("RGB")), palette[indices])


def test_same_input_same_bytes_and_a_forced_width_is_kept(rng: np.random.Generator) -> None:
    palette, indices = noisy(rng, (30, 40), 16)
    assert container.write(palette, indices, compression="smallest") == container.write(
        palette, indices, compression="smallest"
    )
    for bits in (min_bits(16), 8, 16):
        data = container.write(palette, indices, compression="smallest", bits_per_index=bits)
        assert container.parse_header(data).bits_per_index == bits


@pytest.mark.parametrize("compression", ["smallest", "none"])
def test_level_does_not_apply(compression: str) -> None:
    with pytest.raises(kmzcodec.KmzError, match=f"does not apply to compression='{compression}'") as caught:
        container.write(
            np.zeros((1, 3), np.uint8), np.zeros((2, 2), np.uint8), compression=compression, level=9
        )
    assert caught.value.reason == "bad-option"
    with pytest.raises(kmzcodec.KmzError, match="does not apply"):
        kmzcodec.encode(np.zeros((2, 2, 3), np.uint8), 2, compression=compression, level=5)
    assert options.SMALLEST in options.COMPRESSIONS


def test_encode_plugin_and_cli(tmp_path: Path) -> None:
    image = Image.new("RGB", (64, 48), (250, 250, 250))
    ImageDraw.Draw(image).ellipse((8, 8, 50, 40), fill=(20, 90, 200), outline=(0, 0, 0), width=3)
    data = kmzcodec.encode(image, 8, compression="smallest")
    assert len(data) <= len(kmzcodec.encode(image, 8, compression="lzma"))
    assert len(data) <= len(kmzcodec.encode(image, 8))
    saved = io.BytesIO()
    image.save(saved, "KMZ", colors=8, compression="smallest")
    assert saved.getvalue() == data
    source = tmp_path / "drawing.png"
    image.save(source)
    assert cli.main(["encode", str(source), "-k", "8", "--compression", "smallest"]) == 0
    assert source.with_suffix(".kmz").read_bytes() == data


def test_the_encoders_own_palette_may_be_reordered_a_given_one_never(rng: np.random.Generator) -> None:
    palette, indices = noisy(rng, (60, 80), 64)
    rgb = palette[indices]
    kept = container.write(palette, indices, compression="smallest")
    moved = container.write(palette, indices, compression="smallest", method=Method.KMEANS)
    assert len(moved) <= len(kept)
    for data in (kept, moved):
        np.testing.assert_array_equal(np.asarray(kmzcodec.decode(data).convert("RGB")), rgb)
    stored = np.asarray(kmzcodec.decode(kept).getpalette()).reshape(-1, 3)[:64]
    np.testing.assert_array_equal(stored, palette)  # method unspecified: the caller's order
    given = container.write(palette, indices, compression="smallest", method=Method.GIVEN)
    assert given[container.HEADER_SIZE :] == kept[container.HEADER_SIZE :]  # the header's method differs


def test_a_given_palette_keeps_its_order_through_encode() -> None:
    image = Image.linear_gradient("L").convert("RGB").resize((64, 64))
    entries = np.array([[255, 255, 255], [0, 0, 0], [128, 128, 128], [64, 64, 64]], np.uint8)
    decoded = kmzcodec.decode(kmzcodec.encode(image, palette=entries, compression="smallest"))
    np.testing.assert_array_equal(np.asarray(decoded.getpalette()).reshape(-1, 3)[:4], entries)


def test_neighbour_order_is_a_permutation_that_groups_neighbours() -> None:
    # Entries 0, 5, 9 touch each other, as do 1, 2, 7; the two groups never touch.
    indices = np.array([[0, 5, 9, 0, 5, 9], [5, 9, 0, 5, 9, 0], [1, 2, 7, 1, 2, 7], [2, 7, 1, 2, 7, 1]] * 3)
    order = smallest.neighbour_order(indices, 10)
    assert sorted(order.tolist()) == list(range(10))
    position = {entry: place for place, entry in enumerate(order.tolist())}
    for group in ((0, 5, 9), (1, 2, 7)):
        places = sorted(position[entry] for entry in group)
        assert places[-1] - places[0] == 2, order  # each group is contiguous
