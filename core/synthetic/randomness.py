"""Randomness: an independent generator per purpose, derived from the seed, and a weighted draw."""

from __future__ import annotations

import zlib

import numpy as np


def _rng(seed: int, *labels: str) -> np.random.Generator:
    """An independent generator per purpose, derived from the seed and stable labels.

    crc32 rather than hash(): Python salts string hashes per process.
    """
    return np.random.default_rng([seed, *(zlib.crc32(label.encode()) for label in labels)])


def _weighted_choice(weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One column index per row of `weights` (rows need not be normalized)."""
    cumulative = weights.cumsum(axis=1)
    threshold = rng.random(len(weights)) * cumulative[:, -1]
    return (cumulative <= threshold[:, None]).sum(axis=1)
