"""kmzcodec.explore: the compare / sweep measurements, called as a notebook would."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import kmzcodec
from kmzcodec import explore, metrics


def _photo(height: int = 32, width: int = 40, seed: int = 1) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 // width, y * 255 // height, (x + y) * 255 // (width + height)], axis=2)
    return np.clip(base + rng.integers(-12, 13, base.shape), 0, 255).astype(np.uint8)


def test_trials_are_the_files_encode_writes_and_measure_as_metrics_does() -> None:
    image = _photo()
    seen: list[int] = []

    def progress(ks: Iterable[int]) -> Iterable[int]:
        for k in ks:
            seen.append(k)
            yield k

    trials = explore.trials(image, [16, 4], colorspace="oklab", compression="lzma", progress=progress)
    assert [t.k for t in trials] == [16, 4] == seen  # the order given, each K through progress
    for trial in trials:
        assert trial.data == kmzcodec.encode(image, trial.k, colorspace="oklab", compression="lzma")
        assert trial.decoded.info["compression"] == "lzma"
        assert trial.colors == trial.decoded.info["colors"] <= trial.k
        measured = metrics.compare(
            image, trial.decoded, len(trial.data), with_ssimulacra2=metrics.ssimulacra2_available()
        )
        assert trial.comparison == measured
        row = trial.as_dict()
        assert (row["k"], row["bytes"], row["psnr"]) == (trial.k, len(trial.data), trial.comparison.psnr)
    assert trials[0].comparison.psnr > trials[1].comparison.psnr


def test_results_echoed_in_a_notebook_show_sizes_not_bytes(tmp_path: Path) -> None:
    """kmzcodec.save(...) and explore.trials(...) as the last line of a notebook cell (or
    in a REPL) printed every byte of every file; now their sizes and measurements."""
    image = _photo(64, 80)
    encoded = kmzcodec.save(image, tmp_path / "x.kmz", 16)
    shown = repr(encoded)
    assert f"data=<{len(encoded.data):,} bytes>" in shown and "colors=16" in shown
    assert "\\x" not in shown and len(shown) < 200
    (trial,) = explore.trials(image, [16], with_ssim=False, with_ssimulacra2=False)
    shown = repr(trial)
    assert shown.startswith("Trial(k=16, colors=16, data=<") and "bytes>" in shown
    assert f"psnr={trial.comparison.psnr!r}" in shown and "\\x" not in shown and len(shown) < 400


def test_trials_with_value_range_measure_the_samples_it_maps() -> None:
    """12-bit data in 16-bit samples: the trial is measured against what was encoded (the
    samples mapped by value_range), not against the samples taken at their full range."""
    grey = _photo()[:, :, 0]
    twelve_bit = ((grey.astype(np.uint32) * 4095 + 127) // 255).astype(np.uint16)
    (trial,) = explore.trials(twelve_bit, [64], value_range=(0, 4095), with_ssim=False)
    assert trial.comparison.psnr == metrics.psnr(grey, trial.decoded) > 35


def test_ssim_is_optional() -> None:
    image = Image.fromarray(_photo())
    (without,) = explore.trials(image, [8], with_ssim=False)
    assert without.comparison.ssim is None
    (measured,) = explore.trials(image, [8])  # default: measured when scikit-image is there
    assert (measured.comparison.ssim is not None) == metrics.ssim_available()
    assert measured.data == without.data


def test_ssimulacra2_is_measured_on_the_centre_crop_and_optional() -> None:
    pytest.importorskip("ssimulacra2")
    image = _photo(48, 64)
    (trial,) = explore.trials(image, [8])  # default: measured when the package is there
    expected = metrics.ssimulacra2(image, trial.decoded, crop=metrics.SSIMULACRA2_CROP)
    assert trial.comparison.ssimulacra2 == pytest.approx(expected) and expected < 100
    assert trial.as_dict()["ssimulacra2"] == trial.comparison.ssimulacra2
    (better,) = explore.trials(image, [64], with_ssim=False)
    assert better.comparison.ssimulacra2 > trial.comparison.ssimulacra2  # more colours, higher score
    (skipped,) = explore.trials(image, [8], with_ssimulacra2=False)
    assert skipped.comparison.ssimulacra2 is None and skipped.as_dict()["ssimulacra2"] is None
    # A crop smaller than the image scores only its centre: a different number.
    cropped = metrics.compare(
        image, trial.decoded, len(trial.data), with_ssimulacra2=True, ssimulacra2_crop=24
    )
    assert cropped.ssimulacra2 == pytest.approx(metrics.ssimulacra2(image, trial.decoded, crop=24))
    assert cropped.ssimulacra2 != pytest.approx(expected)


def test_an_image_with_few_colours_uses_fewer_than_k() -> None:
    image = np.zeros((8, 8, 3), np.uint8)
    image[:, 4:] = (200, 10, 10)
    trial = explore.trial(image, 16, with_ssim=False)
    assert (trial.k, trial.colors, trial.comparison.psnr) == (16, 2, float("inf"))
    assert trial.as_dict()["psnr"] is None  # JSON-ready: inf becomes None


@pytest.mark.parametrize("metric", ["ssim", "psnr"])
def test_sweep_sorts_k_and_takes_the_elbow_with_metrics_elbow(metric: str) -> None:
    result = explore.sweep(_photo(), [32, 2, 8, 4, 16], metric=metric)
    assert result.ks == [2, 4, 8, 16, 32] and result.metric == metric
    values = [getattr(t.comparison, metric) for t in result.trials]
    assert result.elbow == metrics.elbow(result.ks, values)
    sizes = [t.comparison.bytes for t in result.trials]
    assert sizes[0] < sizes[-1]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda img: explore.trials(img, [4, 4]), "distinct"),
        (lambda img: explore.trials(img, [0]), "integer from 1"),
        (lambda img: explore.trials(img, [True]), "integer from 1"),
        (lambda img: explore.trials(img, [4.0]), "integer from 1"),
        (lambda img: explore.trials(img, []), "no K"),
        (lambda img: explore.trial(img, 70000), "integer from 1"),
        (lambda img: explore.sweep(img, [8]), "at least two"),
        (lambda img: explore.sweep(img, [2, 8], metric="mse"), "metric"),
    ],
)
def test_bad_arguments_are_kmz_errors(call, message: str) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(kmzcodec.KmzError, match=message) as raised:
        call(_photo(8, 8))
    assert raised.value.reason == "bad-option"


def test_trials_warm_the_encoder_up_first_when_asked(monkeypatch: pytest.MonkeyPatch) -> None:
    # The first encode after installing compiles the kernels: with warm=True trials do that
    # first, so no trial's seconds counts it.
    calls: list[tuple[list[int], dict[str, object]]] = []
    real = explore.warm_up

    def recording(image: object, ks: list[int], **options: object) -> float:
        calls.append((list(ks), options))
        return real(image, ks, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(explore, "warm_up", recording)
    image = _photo()
    explore.trials(image, [4, 16, 8], colorspace="oklab", warm=True)
    assert calls == [([4, 16, 8], {"colorspace": "oklab"})]
    explore.trials(image, [4])  # by default not: it is one more encode
    explore.sweep(image, [2, 4], metric="psnr")
    assert len(calls) == 1
    explore.sweep(image, [4, 2], metric="psnr", warm=True)
    assert calls[-1] == ([2, 4], {})


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "P", "1"])
def test_warm_up_encodes_the_image_at_the_least_k_and_small_copies_at_the_others(
    mode: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[tuple[object, int, dict[str, object]]] = []
    real = explore.encode_details

    def recording(image: object, k: int, **options: object) -> object:
        seen.append((image, k, options))
        return real(image, k, **options)  # type: ignore[arg-type]

    monkeypatch.setattr(explore, "encode_details", recording)
    image = Image.fromarray(_photo(300, 200)).convert(mode)
    assert explore.warm_up(image, [16, 4, 64], dither=True) >= 0
    assert [(k, options) for _, k, options in seen] == [(k, {"dither": True}) for k in (4, 16, 64)]
    assert seen[0][0] is image
    for copy, _, _ in seen[1:]:
        assert isinstance(copy, Image.Image) and copy.mode == mode
        assert copy.width * copy.height <= explore.WARM_UP_PIXELS < image.width * image.height
    small = Image.fromarray(_photo(20, 30)).convert(mode)
    explore.warm_up(small, [2, 8])
    assert seen[-1][0] is small  # small enough already: the image itself


def test_warm_up_shrinks_arrays_and_leaves_bad_options_to_the_trials() -> None:
    array = _photo(400, 300)
    shrunk = explore._shrunk(array)
    assert isinstance(shrunk, np.ndarray) and shrunk.dtype == array.dtype and shrunk.shape[2] == 3
    assert shrunk.shape[0] * shrunk.shape[1] <= explore.WARM_UP_PIXELS
    assert np.asarray(explore._shrunk(array[:, :, 0])).ndim == 2
    assert explore.warm_up(array, [8], colorspace="no-such-space") >= 0  # no error here ...
    with pytest.raises(kmzcodec.KmzError, match="colorspace"):
        explore.trials(array, [8], colorspace="no-such-space")  # ... but from the trial
