"""The quantizer's tuning, in one frozen object passed to it explicitly.

Every number here trades speed for quality (or memory); the defaults are the
ones the README's tables were measured with. Tests and benchmarks that want
another trade-off make a variant with ``dataclasses.replace(DEFAULT_SETTINGS,
...)`` and hand it to :class:`kmzcodec.quantize.Quantizer`; nothing is changed
process-wide. A settings object is checked when it is made, so one that exists
is valid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

from .bands import BAND_PIXELS
from .errors import KmzError


@dataclass(frozen=True)
class QuantizerSettings:
    """Tuning of the histogram, k-means and Gaussian-mixture stages."""

    #: Cell grids the k-means refines on after seeding, coarse to fine, before the
    #: exact colours, as (bits per channel, least Lloyd steps on that grid): each
    #: starts from the previous answer, so a few Lloyd steps on many fewer points
    #: do most of the work. ``()``: straight from the seeds to the exact colours.
    levels: tuple[tuple[int, int], ...] = ((6, 8), (7, 4))
    #: Least Lloyd steps on the exact colours.
    exact_steps: int = 2
    #: Work (points x log2 K) a refinement stage may spend beyond its least steps.
    step_budget: int = 3_000_000
    #: Most Lloyd steps of a refinement stage, however cheap (8: 22 % less k-means time
    #: on a 0.5 MP photograph at K = 256 than 12, PSNR -0.008..+0.022 dB on 18 photographs)...
    max_steps: int = 8
    #: ...and for palettes of up to ``small_palette`` entries: their clusters are
    #: wide and their centres drift for many steps (evening-glow at K = 16 gains
    #: 0.07 dB going from 12 to 30), while Lloyd stops by itself once no centre
    #: moves; at K = 256 more steps cost 6 % of the time for under 0.01 dB.
    small_palette: int = 64
    small_palette_max_steps: int = 30
    #: Refinement stages with more points than this are skipped (noisy photographs
    #: with a million colours: their clusters are wide, so a coarser grid already
    #: places the centres well, and bounds for every colour would cost more memory
    #: than a look-up).
    stage_limit: int = 1 << 18
    #: Colours drawn per palette entry for seeding.
    seed_sample_per_cluster: int = 32
    #: ...and for small palettes more, up to this many (sample x K, the cost of k-means++).
    seed_sample_work: int = 1 << 18
    #: Large palettes (above ``small_palette``) on histograms of at most this many
    #: colours seed on every colour, with ``seed_all_trials`` candidates per centre
    #: and no Lloyd steps of their own: a sample drops rare colours that count at
    #: high PSNR (kite.jpg, 34 K colours, K = 256: 45.46 dB from a sample, 45.57 from all).
    seed_all_limit: int = 1 << 16
    seed_all_trials: int = 2
    #: Lloyd steps on the seeding sample (it usually converges well before).
    seed_steps: int = 20
    #: ...when several starts compete; a single start (K > 128) takes at most this many,
    #: since the first grid stage refines it at once (8: PSNR -0.009..+0.005 dB against
    #: 20 on the 18 photographs of bench_encode --profile at K = 256, 2 % less k-means time).
    single_seed_steps: int = 8
    #: Stop when no centre moves further than this (colour units; palette entries
    #: are rounded to whole units anyway).
    shift_tolerance: float = 0.05
    #: Grey histograms of up to this many values (all of 8-bit grey) get the exact
    #: k-means by dynamic programming, O(K n^2).
    exact_1d_limit: int = 256
    #: Pixels per band when counting colours (each band is sorted on its own, on
    #: its own thread; the memory stays the pixels, the indices and one table).
    histogram_band: int = BAND_PIXELS
    #: Nearest-centre searches and Lloyd bound checks on at least this many points
    #: share them among the encode's CPU budget, one equal part per thread; fewer points
    #: run on one thread. Not lower: on the shared 2-core machine with both cores busy,
    #: 16 K gave k-means 20 % slower (a thread pool per Lloyd step, no free core).
    threaded_points: int = 1 << 19
    #: Colours drawn (by pixel count) for the Gaussian mixture fit; histograms with
    #: at most this many colours are fitted whole, each colour weighted by its count.
    #: Twice as many draws gained 0.03 dB at K = 64 for 1.5x the time, and lost up
    #: to 0.2 dB at K = 16 (the mixture drifts further from the k-means answer).
    gmm_sample: int = 8_000
    #: Most EM steps of the Gaussian mixture (it starts from the k-means solution,
    #: so a few steps reach the nearby optimum; more mostly cost time).
    gmm_max_iter: int = 10
    #: EM stops once the mean log-likelihood per pixel gains less than this.
    gmm_tolerance: float = 1e-3
    #: Added to every covariance diagonal (squared colour units): keeps components
    #: that sit on a single colour from collapsing.
    gmm_reg_covar: float = 1.0

    def __post_init__(self) -> None:
        for field in fields(self):
            value = getattr(self, field.name)
            if field.name == "levels":
                _check_levels(value)
            elif field.type == "float":
                if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                    _bad(field.name, value, "a finite number")
                if value < 0 or (field.name == "gmm_reg_covar" and value == 0):
                    _bad(field.name, value, "a positive number" if value else "above 0")
            elif isinstance(value, bool) or not isinstance(value, int) or value < _least(field.name):
                _bad(field.name, value, f"an integer >= {_least(field.name)}")


def _least(name: str) -> int:
    """The smallest value an integer setting may take (counts of steps may be 0, sizes not)."""
    return 0 if name.endswith(("_steps", "max_iter")) else 1


def _check_levels(levels: object) -> None:
    """Grids as (bits per channel, least steps) pairs, each finer than the one before."""
    pairs = isinstance(levels, tuple) and all(
        isinstance(level, tuple)
        and len(level) == 2
        and all(isinstance(n, int) and not isinstance(n, bool) for n in level)
        and 1 <= level[0] <= 7
        and level[1] >= 0
        for level in levels
    )
    bits = [level[0] for level in levels] if pairs else []  # type: ignore[attr-defined]
    if not pairs or bits != sorted(set(bits)):
        _bad("levels", levels, "a tuple of (bits 1..7, steps >= 0) pairs, coarse to fine")


def _bad(name: str, value: object, wanted: str) -> None:
    raise KmzError(f"QuantizerSettings.{name} must be {wanted}, not {value!r}", "bad-option")


#: The settings the encoder uses unless told otherwise.
DEFAULT_SETTINGS = QuantizerSettings()
