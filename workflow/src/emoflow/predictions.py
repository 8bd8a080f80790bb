"""Per-modality prediction tables: build, validate, read, gather.

One row per (seed, segment) of the validation and test splits:
``seed, segment_id, split, emotion, prob_neutral ... prob_fear`` (constants.PROB_COLUMNS order),
probabilities in [0, 1] summing to 1. The fusion stage joins these tables on ``segment_id``.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from .constants import EMOTIONS, PROB_COLUMNS
from .errors import DataError

log = logging.getLogger(__name__)

PREDICTION_COLUMNS = ["seed", "fold", "segment_id", "split", "emotion", *PROB_COLUMNS]
PREDICTION_SPLITS = ("val", "test")
SUM_TOLERANCE = 1e-4


def prediction_table(seed: int, segments: pd.DataFrame, probs: np.ndarray, fold: int = 0) -> pd.DataFrame:
    """Rows of ``segments`` (segment_id, split, emotion) with their probabilities, in that row order,
    from the model of ``fold`` and ``seed``."""
    probs = np.asarray(probs, dtype=np.float64)
    if probs.shape != (len(segments), len(EMOTIONS)):
        raise ValueError(f"probabilities of shape {probs.shape} for {len(segments)} segments")
    df = pd.DataFrame({
        "seed": np.full(len(segments), int(seed), dtype=np.int64),
        "fold": np.full(len(segments), int(fold), dtype=np.int64),
        "segment_id": segments["segment_id"].astype(str).to_numpy(),
        "split": segments["split"].astype(str).to_numpy(),
        "emotion": segments["emotion"].astype(str).to_numpy(),
    })
    for i, col in enumerate(PROB_COLUMNS):
        df[col] = probs[:, i]
    return df


def validate_predictions(df: pd.DataFrame, path) -> pd.DataFrame:
    """Check a prediction table; raise DataError naming ``path`` on the first problem. Returns ``df``."""
    missing = [c for c in PREDICTION_COLUMNS if c not in df.columns]
    if missing:
        raise DataError(path, f"missing column(s) {', '.join(missing)}")
    for col in ("seed", "fold"):
        if not pd.api.types.is_integer_dtype(df[col]):
            raise DataError(path, f"column {col} must be integer, not {df[col].dtype}")
    for col in ("segment_id", "split", "emotion"):
        if not (pd.api.types.is_string_dtype(df[col]) or df[col].dtype == object):
            raise DataError(path, f"column {col} must hold strings, not {df[col].dtype}")
        if df[col].isna().any():
            raise DataError(path, f"column {col} has missing values")
    bad = ~df["split"].isin(PREDICTION_SPLITS)
    if bad.any():
        raise DataError(path, f"split must be val or test; found {sorted(set(df.loc[bad, 'split']))}")
    bad = ~df["emotion"].isin(EMOTIONS)
    if bad.any():
        raise DataError(path, f"unknown emotion label(s) {sorted(set(df.loc[bad, 'emotion']))}")
    for col in PROB_COLUMNS:
        if not pd.api.types.is_float_dtype(df[col]):
            raise DataError(path, f"column {col} must be float, not {df[col].dtype}")
    p = df[PROB_COLUMNS].to_numpy(dtype=np.float64)
    if not np.isfinite(p).all():
        raise DataError(path, "probabilities contain NaN or infinite values")
    if (p < 0).any() or (p > 1).any():
        raise DataError(path, "probabilities outside [0, 1]")
    sums = p.sum(axis=1)
    worst = int(np.argmax(np.abs(sums - 1))) if len(sums) else 0
    if len(sums) and abs(sums[worst] - 1) > SUM_TOLERANCE:
        raise DataError(path, f"probabilities of segment {df['segment_id'].iloc[worst]!r} sum to "
                              f"{sums[worst]:.6f}, not 1")
    dup = df.duplicated(["seed", "fold", "segment_id"])
    if dup.any():
        row = df[dup].iloc[0]
        raise DataError(path, f"duplicate (seed, fold, segment_id) ({row['seed']}, {row['fold']}, "
                              f"{row['segment_id']!r})")
    return df


def checked(df: pd.DataFrame, source) -> pd.DataFrame:
    """``df`` in PREDICTION_COLUMNS order, validated (``source`` names it in errors): ready to write."""
    return validate_predictions(df[PREDICTION_COLUMNS].reset_index(drop=True), source)


def read_predictions(path) -> pd.DataFrame:
    """Read and validate a prediction table (per seed or gathered)."""
    try:
        df = pd.read_parquet(path)
    except Exception as exc:
        raise DataError(path, f"cannot read prediction table ({exc})") from exc
    return validate_predictions(df, path)


def combine_seeds(tables: dict[str, pd.DataFrame], source) -> pd.DataFrame:
    """The per-fold, per-seed tables of one modality (``{path: table}``, validated) in one table sorted
    by (fold, seed, segment_id).

    Within a fold every seed must cover the same segments (same splits and labels): the fusion and the
    table compare seeds on one fixed set of utterances.
    """
    if not tables:
        raise ValueError("no prediction tables to gather")
    names = list(tables)
    frames = [tables[n][PREDICTION_COLUMNS] for n in names]
    reference: dict[int, tuple[str, pd.DataFrame]] = {}
    for name, f in zip(names, frames):
        for fold, part in f.groupby("fold", sort=True):
            rows = part.set_index("segment_id")[["split", "emotion"]].sort_index()
            first = reference.setdefault(int(fold), (name, rows))
            if not first[1].equals(rows):
                raise DataError(name, f"fold {fold}: covers other segments, splits or labels than {first[0]}")
    df = pd.concat(frames, ignore_index=True).sort_values(["fold", "seed", "segment_id"], kind="stable")
    df = validate_predictions(df.reset_index(drop=True), source)
    log.info("gathered %d prediction rows (%d fold(s), %d seed(s), %d segments) from %d file(s)", len(df),
             df["fold"].nunique(), df["seed"].nunique(), df["segment_id"].nunique(), len(names))
    return df
