"""Skin temperature -> level and trend per segment.

Over the segment's samples (rows whose clock lies in its tagged span), with t = clock time in seconds
relative to the segment's first sample:

* ``temp_mean``       mean temperature (deg C),
* ``temp_var``        variance (ddof=0),
* ``temp_slope``      least-squares slope of temperature against t (deg C per second),
* ``temp_intercept``  value of that line at t = 0 (the segment's first sample).

Fewer than ``min_samples`` samples (config, default 2) -> NaN features with reason ``too_few_samples``;
samples that all share one clock time (no slope) -> reason ``duplicate_clock``.
"""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

from .base import Recording, no_extra_columns, no_qc_notes, segment_matrices

#: TEMP rows are ``value,elapsed,clock[,SegID]``.
FIELDS = ("value", "elapsed")
FEATURES = ["temp_mean", "temp_var", "temp_slope", "temp_intercept"]


def feature_columns(settings: Mapping) -> list[str]:
    return list(FEATURES)


extra_columns = no_extra_columns
qc_notes = no_qc_notes


def trend(mat: np.ndarray, tmat: np.ndarray, mask: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """``[mean, var, slope, intercept]`` per row of padded value/time matrices (time from the row's start)."""
    n = lengths.astype(np.float64)
    mean = mat.sum(axis=1) / n
    xc = np.where(mask, mat - mean[:, None], 0.0)
    var = (xc * xc).sum(axis=1) / n
    tmean = tmat.sum(axis=1) / n
    tc = np.where(mask, tmat - tmean[:, None], 0.0)
    stt = (tc * tc).sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = np.where(stt > 0, (tc * xc).sum(axis=1) / stt, np.nan)
    intercept = mean - slope * tmean
    return np.stack([mean, var, slope, intercept], axis=1)


def compute(rec: Recording, spans: pd.DataFrame, settings: Mapping) -> tuple[pd.DataFrame, np.ndarray]:
    n = len(spans)
    out = np.full((n, len(FEATURES)), np.nan)
    reason = spans["reason"].to_numpy(dtype=object).copy()
    aligned = np.flatnonzero(reason == "")
    if aligned.size:
        start = spans["start"].to_numpy()[aligned]
        stop = spans["stop"].to_numpy()[aligned]
        enough = (stop - start) >= int(settings["min_samples"])
        reason[aligned[~enough]] = "too_few_samples"
        good = aligned[enough]
        gs, ge = start[enough], stop[enough]
        rel = rec.clock - rec.clock[0]  # small numbers before subtracting each segment's start
        for rows, mask, ln, (mat, tmat) in segment_matrices(gs, ge, [rec.value, rel]):
            tmat = np.where(mask, tmat - rel[gs[rows]][:, None], 0.0)
            out[good[rows]] = trend(mat, tmat, mask, ln)
        flat_time = good[np.isnan(out[good, 2])]
        reason[flat_time] = "duplicate_clock"  # all samples share one clock time: no slope
        out[flat_time] = np.nan
    return pd.DataFrame(out, columns=FEATURES), reason
