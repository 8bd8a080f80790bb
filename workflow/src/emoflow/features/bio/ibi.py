"""IBI (inter-beat intervals of the E4 wristband, KEMDy20) -> time-domain HRV per segment.

An IBI file has one row per detected beat: ``t_since_start,ibi_seconds,timestamp[,SegID]`` (see ``e4``);
beats the device could not detect are absent, so the rows are irregular. The features come from the
intervals directly (no peak detection, no resampling). A segment's intervals are the rows in its tagged
span (the beats inside the segment); two intervals are *successive* only when no beat is missing between
them (the row's time minus the previous row's time equals its interval within ``GAP_TOLERANCE_S``).

* ``ibi_mean``     mean interval (ms),
* ``ibi_sdnn``     standard deviation of the intervals (ms, ddof=1),
* ``ibi_rmssd``    root mean square of the successive differences (ms),
* ``ibi_nn50``     number of successive differences larger than 50 ms,
* ``ibi_n_beats``  number of intervals in the segment (a real count, also when the others are missing).

Minimum: at least ``min_beats`` intervals (config ``bio.ibi.min_beats``, default 3) and at least one
successive difference; below it the four HRV values are NaN with reason ``too_few_beats``. Segments
without a tagged beat are ``no_segment_tags`` (``align``); a 0-byte file makes its segments ``file_empty``.
The bio model imputes a missing signal per segment and flags it (``models.bio``), so sparse IBI never
stops a run unless more than ``qc.max_missing_fraction.ibi`` of the segments lack it.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from .base import Recording, no_extra_columns, no_qc_notes, segment_matrices

#: IBI rows are ``t_since_start,ibi_seconds,timestamp[,SegID]`` (read by ``e4``).
FIELDS = ("elapsed", "value")
FEATURES = ["ibi_mean", "ibi_sdnn", "ibi_rmssd", "ibi_nn50", "ibi_n_beats"]
#: Largest difference (s) between a row's time step and its interval for the two beats to be successive
#: (the E4 stamps beats in 1/64 s; a missed beat adds a whole interval).
GAP_TOLERANCE_S = 0.1


def feature_columns(settings: Mapping) -> list[str]:
    return list(FEATURES)


extra_columns = no_extra_columns
qc_notes = no_qc_notes


def successive(elapsed: np.ndarray, ibi_s: np.ndarray) -> np.ndarray:
    """Per row: True when the previous row is the previous beat (no beat missing in between)."""
    out = np.zeros(elapsed.size, dtype=bool)
    if elapsed.size > 1:
        out[1:] = np.abs(np.diff(elapsed) - ibi_s[1:]) <= GAP_TOLERANCE_S
    return out


def hrv(mat: np.ndarray, cons: np.ndarray, mask: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """``[mean, sdnn, rmssd, nn50, n, n_successive]`` per row of padded interval (ms) / successive matrices."""
    n = lengths.astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = mat.sum(axis=1) / n
        dev = np.where(mask, mat - mean[:, None], 0.0)
        sdnn = np.sqrt((dev * dev).sum(axis=1) / (n - 1))
        diff = mat[:, 1:] - mat[:, :-1]
        ok = mask[:, 1:] & cons[:, 1:].astype(bool)
        n_sd = ok.sum(axis=1).astype(np.float64)
        rmssd = np.sqrt(np.where(ok, diff * diff, 0.0).sum(axis=1) / n_sd)
        nn50 = (ok & (np.abs(diff) > 50.0)).sum(axis=1).astype(np.float64)
    return np.stack([mean, sdnn, rmssd, nn50, n, n_sd], axis=1)


def compute(rec: Recording, spans: pd.DataFrame, settings: Mapping) -> tuple[pd.DataFrame, np.ndarray]:
    n = len(spans)
    out = np.full((n, len(FEATURES)), np.nan)
    reason = spans["reason"].to_numpy(dtype=object).copy()
    aligned = np.flatnonzero(reason == "")
    if aligned.size:
        start = spans["start"].to_numpy()[aligned]
        stop = spans["stop"].to_numpy()[aligned]
        ms = rec.value * 1000.0
        cons = successive(rec.elapsed, rec.value).astype(np.float64)
        res = np.full((aligned.size, 6), np.nan)
        for rows, mask, ln, (mat, cmat) in segment_matrices(start, stop, [ms, cons]):
            # the first beat of a segment has no predecessor inside it
            cmat[:, 0] = 0.0
            res[rows] = hrv(mat, cmat, mask, ln)
        enough = (res[:, 4] >= max(int(settings["min_beats"]), 2)) & (res[:, 5] >= 1)
        out[aligned, 4] = res[:, 4]
        out[aligned[enough], :4] = res[enough, :4]
        reason[aligned[~enough]] = "too_few_beats"
    return pd.DataFrame(out, columns=FEATURES), reason
