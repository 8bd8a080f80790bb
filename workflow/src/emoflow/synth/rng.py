"""Random streams: one independent generator per (seed, session, purpose[, participant]) key, so that a
change in how one thing is drawn never shifts the draws of another."""

from __future__ import annotations

import numpy as np

# purpose keys of the per-session streams (the second key after the session number)
PLAN, LABELS, CUES, PERSONS, AUDIO, TEXT, BIO, RATERS, PHYSIOLOGY, E4_QUIRKS = range(10)
# dataset-level streams use session 0
QUIRKS, UNUSED_FIELDS, E4_PLAN = 7, 8, 9


def stream(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng([seed, *keys])


def sample_rows(rng: np.random.Generator, probs: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """One categorical draw per entry of ``rows`` from ``probs[rows]``."""
    cdf = np.cumsum(probs, axis=1)
    cdf[:, -1] = 1.0
    u = rng.random(len(rows))
    return (u[:, None] > cdf[rows]).sum(axis=1)
