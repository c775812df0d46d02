"""The seeding's weighted draws give the very indices of numpy's Generator.choice (kmzcodec.kmeans)."""

from __future__ import annotations

import numpy as np
import pytest

from kmzcodec.kmeans import weighted_draw, weighted_sample


def _weights(kind: str, n: int, rng: np.random.Generator) -> np.ndarray:
    if kind == "counts":
        return rng.integers(1, 50, n).astype(np.float64)
    if kind == "skewed":  # a few colours hold most pixels, as in flat graphics
        weights = np.ones(n)
        weights[rng.integers(0, n, 5)] = 1e6
        return weights
    if kind == "equal":  # equal steps of the cumulative sum: uniforms fall on the boundaries
        return np.ones(n)
    weights = rng.random(n)  # fractions, and zeros (never drawn by either)
    weights[rng.random(n) < 0.3] = 0.0
    return weights


@pytest.mark.parametrize("kind", ["counts", "skewed", "equal", "fractions"])
@pytest.mark.parametrize("n", [1, 2, 7, 1000, 40_000])
def test_weighted_sample_counts_what_choice_draws(kind: str, n: int) -> None:
    for seed in range(20):
        weights = _weights(kind, n, np.random.default_rng(seed))
        if not weights.any():
            continue
        size = int(np.random.default_rng(seed).integers(1, 3 * n + 10))
        ours, numpys = np.random.default_rng(seed + 100), np.random.default_rng(seed + 100)
        drawn, counts = weighted_sample(ours, weights, size)
        expected, expected_counts = np.unique(
            numpys.choice(n, size=size, p=weights / weights.sum()), return_counts=True
        )
        assert np.array_equal(drawn, expected) and np.array_equal(counts, expected_counts)
        assert counts.sum() == size and weights[drawn].all()
        # The generators are left in the same state: the draws that follow agree too.
        assert ours.random() == numpys.random()


@pytest.mark.parametrize("kind", ["counts", "skewed", "equal", "fractions"])
def test_weighted_draw_is_choices_index(kind: str) -> None:
    weights = _weights(kind, 5000, np.random.default_rng(3))
    ours, numpys = np.random.default_rng(8), np.random.default_rng(8)
    for _ in range(500):
        assert weighted_draw(ours, weights) == numpys.choice(len(weights), p=weights / weights.sum())
    assert ours.random() == numpys.random()


class _Uniforms:
    """A stand-in generator whose ``random`` returns given numbers (choice's own draws hit a
    boundary of the cumulative sum about once in 2**40 draws)."""

    def __init__(self, values: np.ndarray) -> None:
        self.values = values

    def random(self, size: int | None = None) -> np.ndarray | float:
        return float(self.values[0]) if size is None else self.values[:size].copy()


def test_a_uniform_on_a_boundary_goes_to_the_next_index_as_in_choice() -> None:
    # numpy's choice: cdf.searchsorted(u, side="right"); weights 1, 1, 0, 2 give the
    # boundaries 0.25, 0.5, 0.5, 1.0, and u = 0.25 or 0.5 picks the entry after them.
    weights = np.array([1.0, 1.0, 0.0, 2.0])
    uniforms = np.array([0.5, 0.25, 0.0, 0.5, 0.75])
    drawn, counts = weighted_sample(_Uniforms(uniforms), weights, len(uniforms))  # type: ignore[arg-type]
    assert drawn.tolist() == [0, 1, 3] and counts.tolist() == [1, 1, 3]
    assert weighted_draw(_Uniforms(np.array([0.25])), weights) == 1  # type: ignore[arg-type]
    assert weighted_draw(_Uniforms(np.array([0.5])), weights) == 3  # type: ignore[arg-type]
