"""openSMILE functionals of every utterance (``audio.encoder: egemaps``): one table per session, gathered.

Feature sets (``audio.egemaps.feature_set``)
    ``eGeMAPSv02`` (default): the extended Geneva Minimalistic Acoustic Parameter Set, 88 functionals
    (pitch, jitter, shimmer, loudness, formants, spectral slope and balance, MFCC 1-4, rates and
    lengths of voiced and unvoiced stretches); ``ComParE_2016``: 6,373 functionals (a 70x wider table).
    Both computed by the ``opensmile`` package at the functionals level.
Input
    the whole utterance (never cropped, padded or normalised: loudness is a feature), read by
    ``features.audio.load_wav`` with ``max_seconds=None``: mixed to mono, resampled to
    ``audio.sample_rate`` when the file has another rate.
Unusable clips
    the reasons of ``features.audio`` (``missing_wav``, ``empty_wav``, ``truncated_wav``,
    ``unreadable_wav``, ``not_wav``, ``not_pcm``, ``too_short``), and ``nonfinite_features`` when openSMILE
    returns a NaN or infinite value; their features are NaN and ``ok`` is false. A segment no session
    job extracted is ``not_extracted`` in the gathered table.
Table
    ``segment_id, ok, reason, duration_s`` (``META_COLUMNS``), then the feature columns in openSMILE's
    order, float32 as openSMILE computes them. It depends on the clips only, never on the split.
"""

from __future__ import annotations

import logging
import time
from typing import Sequence

import numpy as np
import pandas as pd

from ..errors import DataError
from ..qc import qc_table
from .audio import load_wav

log = logging.getLogger(__name__)

FEATURE_SETS = ("eGeMAPSv02", "ComParE_2016")
META_COLUMNS = ["segment_id", "ok", "reason", "duration_s"]


def smile(feature_set: str):
    """An ``opensmile.Smile`` extractor of the feature set's functionals."""
    import opensmile

    if feature_set not in FEATURE_SETS:
        raise ValueError(f"openSMILE feature set must be one of {FEATURE_SETS}, not {feature_set!r}")
    return opensmile.Smile(feature_set=getattr(opensmile.FeatureSet, feature_set),
                           feature_level=opensmile.FeatureLevel.Functionals)


def feature_columns(table: pd.DataFrame) -> list[str]:
    """The feature columns of an openSMILE table (every column but ``META_COLUMNS`` and ``session``)."""
    return [str(c) for c in table.columns if c not in META_COLUMNS and c != "session"]


def _one_clip(extractor, path, sample_rate: int, min_seconds: float) -> tuple[np.ndarray | None, str, float]:
    """(features or None, reason, duration in seconds) of one file."""
    clip = load_wav(path, sample_rate=sample_rate, max_seconds=None, normalize="none", min_seconds=min_seconds)
    if not clip.ok:
        return None, clip.reason, clip.duration_s
    values = extractor.process_signal(clip.samples, sample_rate).to_numpy(dtype=np.float32).reshape(-1)
    if not np.isfinite(values).all():
        return None, "nonfinite_features", clip.duration_s
    return values, "", clip.duration_s


def extract_session(part: pd.DataFrame, wav_files: Sequence, session: str, *, feature_set: str, sample_rate: int,
                    min_seconds: float, extractor=None) -> pd.DataFrame:
    """One session's table (``part`` from ``features.audio.session_segments``, ``wav_files`` the file of
    each row), in ``part``'s order. ``extractor``: an ``opensmile.Smile`` (built from ``feature_set``
    when None)."""
    extractor = extractor or smile(feature_set)
    names = list(extractor.feature_names)
    values = np.full((len(part), len(names)), np.nan, dtype=np.float32)
    ok, reasons, durations = [], [], []
    t0, cpu0 = time.perf_counter(), time.process_time()
    for i, (sid, path) in enumerate(zip(part["segment_id"], wav_files)):
        row, reason, duration = _one_clip(extractor, path, sample_rate, min_seconds)
        if row is not None:
            values[i] = row
        else:
            log.warning("%s: %s (%s)", sid, reason, path)
        ok.append(row is not None)
        reasons.append(reason)
        durations.append(duration)
    seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    meta = pd.DataFrame({"segment_id": part["segment_id"].astype(str).to_numpy(), "ok": np.array(ok, dtype=bool),
                         "reason": np.array(reasons, dtype=object).astype(str),
                         "duration_s": np.array(durations, dtype=np.float64)})
    table = pd.concat([meta, pd.DataFrame(values, columns=names)], axis=1)
    speech = float(np.nansum(durations))
    log.info("%s: %d clips, %d usable, %d %s functionals each; %.1f s (%.1f CPU s) for %.1f s of speech: %.1f "
             "clips per CPU second, %.0fx real time", session, len(table), int(table["ok"].sum()), len(names),
             feature_set, seconds, cpu, speech, len(table) / cpu if cpu else float("nan"),
             speech / cpu if cpu else float("nan"))
    return table


def _check_parts(parts: Sequence[tuple[str, pd.DataFrame]], known: set[str], source) -> list[str]:
    """The common feature columns of the session tables; DataError naming the table that does not fit."""
    columns = None
    for name, table in parts:
        missing = [c for c in META_COLUMNS if c not in table.columns]
        if missing:
            raise DataError(name, f"missing column(s) {', '.join(missing)}")
        cols = feature_columns(table)
        if columns is None:
            columns = cols
        elif cols != columns:
            raise DataError(name, "feature columns differ from the other sessions' (another feature set?)")
        stray = ~table["segment_id"].astype(str).isin(known)
        if stray.any():
            raise DataError(name, f"{int(stray.sum())} segment(s) not in {source}, e.g. "
                                  f"{table.loc[stray, 'segment_id'].iloc[0]} (stale per-session output?)")
    return columns or []


def gather(segments: pd.DataFrame, parts: Sequence[tuple[str, pd.DataFrame]],
           source="segments.parquet") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Per-session ``(name, table)`` -> one table with a row per segment of the index (sorted by
    segment_id; ``not_extracted`` rows, NaN, for segments no session covers) and its QC table."""
    for col in ("segment_id", "session"):
        if col not in segments.columns:
            raise DataError(source, f"missing column {col!r}")
    known = set(segments["segment_id"].astype(str))
    columns = _check_parts(parts, known, source)
    frames = [t.assign(segment_id=t["segment_id"].astype(str)) for _, t in parts]
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=META_COLUMNS + columns)
    dup = table["segment_id"].duplicated()
    if dup.any():
        sid = table.loc[dup, "segment_id"].iloc[0]
        where = [name for name, t in parts if (t["segment_id"].astype(str) == sid).any()]
        raise DataError(where[-1], f"segment {sid} appears in two sessions (also in {where[0]})")
    missing = sorted(known - set(table["segment_id"]))
    if missing:
        log.warning("%d segment(s) were not extracted by any session job, e.g. %s", len(missing), missing[0])
        extra = pd.DataFrame({"segment_id": missing, "ok": False, "reason": "not_extracted", "duration_s": np.nan})
        table = pd.concat([table, extra.reindex(columns=table.columns)], ignore_index=True)
    session_of = dict(zip(segments["segment_id"].astype(str), segments["session"].astype(str)))
    table = table.astype({"ok": bool, "reason": str, "duration_s": np.float64})
    table[columns] = table[columns].astype(np.float32)
    table.insert(len(META_COLUMNS), "session", table["segment_id"].map(session_of).astype(str))
    table = table.sort_values("segment_id", kind="stable").reset_index(drop=True)
    return table, qc_table("audio", table["ok"], table["reason"])
