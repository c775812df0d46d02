"""Small generated images shared by several test modules."""

from __future__ import annotations

import numpy as np


def photo(height: int = 96, width: int = 128, seed: int = 3) -> np.ndarray:
    """Smooth gradients plus sensor-like noise: many colours, like a photograph."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width].astype(np.float64)
    smooth = np.stack([x * 1.6 + 20 * np.sin(y / 9), y * 2.2, (x + y) * 0.8 + 30 * np.cos(x / 13)], axis=-1)
    return np.clip(smooth + rng.normal(0, 5, smooth.shape), 0, 255).astype(np.uint8)
