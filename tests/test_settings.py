"""QuantizerSettings: checked when made, passed explicitly, never changed process-wide."""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from kmzcodec import KmzError, quantize
from kmzcodec.settings import DEFAULT_SETTINGS, QuantizerSettings


def photo(height: int = 96, width: int = 128, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    base = np.stack([x * 255 / width, y * 255 / height, (x + y) * 127 / (width + height) + 64], axis=2)
    return np.clip(np.rint(base + rng.normal(0, 12, base.shape)), 0, 255).astype(np.uint8)


@pytest.mark.parametrize(
    "change",
    [
        {"levels": (6, 7)},  # bits without their steps
        {"levels": ((7, 4), (6, 8))},  # fine before coarse
        {"levels": ((9, 4),)},
        {"levels": ((6, -1),)},
        {"exact_steps": -1},
        {"max_steps": 2.5},
        {"stage_limit": 0},
        {"histogram_band": True},
        {"seed_sample_per_cluster": "32"},
        {"shift_tolerance": float("nan")},
        {"shift_tolerance": -0.1},
        {"gmm_reg_covar": 0.0},
        {"gmm_sample": None},
    ],
)
def test_a_bad_setting_is_refused_when_made(change: dict) -> None:
    with pytest.raises(KmzError) as error:
        dataclasses.replace(DEFAULT_SETTINGS, **change)
    assert error.value.reason == "bad-option"
    assert next(iter(change)) in str(error.value)


def test_settings_are_frozen_and_the_default_is_the_plain_constructor() -> None:
    assert QuantizerSettings() == DEFAULT_SETTINGS
    with pytest.raises(dataclasses.FrozenInstanceError):
        DEFAULT_SETTINGS.levels = ()  # type: ignore[misc]


def test_the_quantizer_takes_only_a_settings_object() -> None:
    with pytest.raises(KmzError) as error:
        quantize.Quantizer(photo(8, 8), settings={"levels": ()})  # type: ignore[arg-type]
    assert error.value.reason == "bad-option"


def test_settings_reach_the_quantizer_and_change_nothing_else() -> None:
    pixels = photo()
    default = quantize.quantize(pixels, 16)
    # No Lloyd steps anywhere: the palette is the seeds', so it differs from the default one.
    frozen = dataclasses.replace(
        DEFAULT_SETTINGS, levels=(), exact_steps=0, seed_steps=0, single_seed_steps=0, max_steps=0
    )
    seeds_only = quantize.quantize(pixels, 16, settings=frozen)
    assert not np.array_equal(default.palette, seeds_only.palette)
    again = quantize.quantize(pixels, 16)
    assert np.array_equal(default.palette, again.palette)
    assert np.array_equal(default.indices, again.indices)


def test_different_settings_on_threads_do_not_interfere() -> None:
    pixels = photo()
    frozen = dataclasses.replace(
        DEFAULT_SETTINGS, levels=(), exact_steps=0, seed_steps=0, single_seed_steps=0, max_steps=0
    )
    alone = {
        name: quantize.quantize(pixels, 16, settings=s)
        for name, s in (("d", DEFAULT_SETTINGS), ("f", frozen))
    }
    jobs = [("d", DEFAULT_SETTINGS), ("f", frozen)] * 4
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda job: (job[0], quantize.quantize(pixels, 16, settings=job[1])), jobs))
    for name, result in results:
        assert np.array_equal(result.palette, alone[name].palette)
