"""ECG -> time-domain HRV per segment.

R peaks are detected ONCE per participant on the continuous recording, not per segment: the file is split
into contiguous blocks (where the elapsed counter resets or jumps, or the clock jumps by more than 1 s),
each block of at least 1 s that overlaps one of the participant's segments is cleaned with
``neurokit2.ecg_clean(method=clean_method)`` and its peaks found with ``neurokit2.ecg_peaks`` (the
matching detector; ``biosppy`` cleaning uses ``gamboa2008``). A block whose values do not vary (flat ECG),
or on which the detector fails (logged with the file and lines), has no beats.

Per segment (rows whose clock lies in the segment's tagged span) the RR intervals are those whose two
beats both fall inside the segment and in the same block:

* ``ecg_n_beats``  R peaks inside the segment (a real count, also when the HRV values are missing),
* ``ecg_mean_nn``  mean RR interval (ms),
* ``ecg_sdnn``     standard deviation of the RR intervals (ms, ddof=1 as in ``neurokit2.hrv_time``),
* ``ecg_rmssd``    root mean square of successive RR differences (ms),
* ``ecg_nn50``     number of successive RR differences larger than 50 ms.

Minimum: the HRV values need at least ``min_beats`` R peaks (config, default 3) AND at least two RR
intervals inside one block (SDNN and RMSSD are undefined with fewer), so the effective minimum is
``max(min_beats, 3)`` beats. Below it the four HRV values are NaN with ``ecg_ok`` False and reason
``too_few_beats``; a segment without any R peak (e.g. a flat ECG) gets reason ``no_beats``. Never a
silent zero.

Sampling rate: every RR interval is a row count divided by the rate, so a wrong rate scales every HRV
value. Without ``bio.ecg.fs`` the rate inferred from the elapsed column must agree within 5 % with the
rows over the clock span (``recording.clock_rate``), else a DataError names the file and both rates
(``check_rate``); with ``bio.ecg.fs`` set, that rate is used (a disagreement with the clock is logged).
The rate used is kept per file (``ecg_fs_hz``). QC notes (``qc_notes``): one ``fs=<Hz>`` row per rate
used, and one ``implausible_mean_nn`` row per participant whose mean NN over its usable segments lies
outside ``bio.ecg.mean_nn_range_ms`` (default 300-2000 ms, i.e. 30-200 bpm): a sign of a wrong rate.
"""

from __future__ import annotations

import logging
import warnings
from typing import Mapping

import numpy as np
import pandas as pd

from ...errors import DataError
from .base import Recording

log = logging.getLogger(__name__)

#: ECG rows are ``elapsed,value,clock[,SegID]``.
FIELDS = ("elapsed", "value")
FEATURES = ["ecg_mean_nn", "ecg_sdnn", "ecg_rmssd", "ecg_nn50", "ecg_n_beats"]
PEAK_METHOD = {"biosppy": "gamboa2008"}
MIN_BLOCK_S = 1.0
RATE_TOLERANCE = 0.05  # largest relative disagreement of the elapsed-counter and clock-span rates


def feature_columns(settings: Mapping) -> list[str]:
    return list(FEATURES)


def extra_columns(rec: Recording | None, settings: Mapping) -> dict:
    """``ecg_fs_hz``: the sampling rate used for the file (NaN when there is no file)."""
    return {"ecg_fs_hz": np.nan if rec is None else float(rec.fs)}


def qc_notes(table: pd.DataFrame, settings: Mapping, n_total: int) -> list[dict]:
    """One ``fs=<Hz>`` note per sampling rate used, and one ``implausible_mean_nn`` note per participant
    whose mean NN (over its usable segments) is outside ``mean_nn_range_ms``."""
    def note(reason: str, count: int) -> dict:
        return {"modality": "ecg", "status": "note", "reason": reason, "n_segments": int(count),
                "fraction": count / n_total if n_total else 0.0}

    fs = pd.to_numeric(table["ecg_fs_hz"], errors="coerce")
    rows = [note(f"fs={hz:g}Hz", c) for hz, c in sorted(fs.dropna().round(3).value_counts().items())]
    lo, hi = (float(v) for v in settings["mean_nn_range_ms"])
    ok = table["ecg_ok"].astype(bool).to_numpy()
    per = table[ok].groupby("participant")["ecg_mean_nn"].mean()
    n_seg = table["participant"].value_counts()
    for participant, mean_nn in per.items():
        if not lo <= mean_nn <= hi:
            log.warning("ECG %s: mean NN %.0f ms over its segments is outside %g-%g ms (%.0f bpm); "
                        "check the sampling rate (bio.ecg.fs)", participant, mean_nn, lo, hi, 60000 / mean_nn)
            rows.append(note(f"implausible_mean_nn {participant}={mean_nn:.0f}ms (outside {lo:g}-{hi:g} ms; "
                             "check bio.ecg.fs)", n_seg[participant]))
    return rows


def check_rate(rec: Recording, settings: Mapping) -> None:
    """DataError when the rate inferred from the elapsed column (no ``fs`` configured) disagrees with the
    rows over the clock span by more than ``RATE_TOLERANCE``; with ``fs`` configured, a warning."""
    clock_fs = rec.clock_fs
    if not np.isfinite(clock_fs) or clock_fs <= 0:
        log.warning("%s: no continuous stretch long enough; the sampling rate %.3f Hz is not checked "
                    "against the clock", rec.path, rec.fs)
        return
    off = rec.fs / clock_fs - 1
    if abs(off) <= RATE_TOLERANCE:
        return
    if settings["fs"]:
        log.warning("%s: configured bio.ecg.fs %.3f Hz, but the rows over the clock span give %.3f Hz",
                    rec.path, rec.fs, clock_fs)
        return
    raise DataError(rec.path, f"the sampling rate inferred from the elapsed column ({rec.counter_fs:.3f} Hz) "
                              f"disagrees with the rows over the clock span ({clock_fs:.3f} Hz) by "
                              f"{100 * abs(off):.1f}% (the elapsed counter may be stamped per packet); "
                              "every HRV value would be scaled by it. Set bio.ecg.fs to the device's "
                              "sampling rate in Hz")


def _blocks_in_use(blocks: np.ndarray, needed: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray:
    """Which blocks any of the row ranges ``needed = (start, stop)`` touches (all when None)."""
    if needed is None:
        return np.ones(len(blocks), dtype=bool)
    first_block = np.searchsorted(blocks[:, 1], needed[0], side="right")
    last_block = np.searchsorted(blocks[:, 0], needed[1] - 1, side="right") - 1
    used = np.zeros(len(blocks) + 1, dtype=np.int64)
    np.add.at(used, first_block, 1)
    np.add.at(used, last_block + 1, -1)
    return np.cumsum(used)[:-1] > 0


def _block_peaks(rec: Recording, a: int, b: int, clean_method: str, peak_method: str):
    """``(peak rows relative to a, number of neurokit2 warnings)`` of the rows ``[a, b)``; None when the
    block is flat or the detector fails on it (no beats there)."""
    import neurokit2 as nk

    x = rec.value[a:b]
    if np.ptp(x) <= 1e-12 * max(1.0, float(np.abs(x[0]))):
        return None  # flat: no beats
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            cleaned = nk.ecg_clean(x, sampling_rate=rec.fs, method=clean_method)
            _, info = nk.ecg_peaks(cleaned, sampling_rate=rec.fs, method=peak_method)
        except (ValueError, IndexError, np.linalg.LinAlgError) as exc:
            # e.g. a detector whose windows exceed a short block: that block has no beats
            log.warning("%s: lines %d-%d: R-peak detection failed (%s); no beats there",
                        rec.path, rec.line(a), rec.line(b - 1), exc)
            return None
    return np.unique(np.asarray(info["ECG_R_Peaks"], dtype=np.int64)), len(caught)


def detect_peaks(
    rec: Recording, clean_method: str = "neurokit", needed: tuple[np.ndarray, np.ndarray] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """R-peak rows (file order) and the block number of each, block by block over the recording.

    ``needed`` (row ranges ``(start, stop)``) skips blocks that no range touches: they could not
    contribute a beat to any segment.
    """
    peak_method = PEAK_METHOD.get(clean_method, clean_method)
    blocks = rec.blocks()
    use = _blocks_in_use(blocks, needed)
    min_len = max(int(np.ceil(MIN_BLOCK_S * rec.fs)), 8)
    peaks, block_of = [], []
    n_warn = 0
    for k, (a, b) in enumerate(blocks):
        if b - a < min_len or not use[k]:
            continue
        found = _block_peaks(rec, a, b, clean_method, peak_method)
        if found is None:
            continue
        p, warned = found
        n_warn += warned
        if p.size:
            peaks.append(a + p)
            block_of.append(np.full(p.size, k, dtype=np.int64))
    if n_warn:
        log.info("%s: neurokit2 raised %d warning(s) during peak detection", rec.path, n_warn)
    if not peaks:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    return np.concatenate(peaks), np.concatenate(block_of)


def _expand(lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Flatten the index ranges ``[lo, hi)``: (range number, index) per element."""
    counts = np.maximum(hi - lo, 0)
    total = int(counts.sum())
    which = np.repeat(np.arange(lo.size), counts)
    offsets = np.repeat(lo - (np.cumsum(counts) - counts), counts)
    return which, np.arange(total) + offsets


def hrv_from_peaks(
    peaks: np.ndarray,
    block_of: np.ndarray,
    fs: float,
    start: np.ndarray,
    stop: np.ndarray,
    min_beats: int = 3,
) -> tuple[pd.DataFrame, np.ndarray]:
    """Per-range HRV from peak rows (sorted) and their block ids; ranges are rows ``[start, stop)``."""
    n = len(start)
    p0 = np.searchsorted(peaks, start, side="left")
    p1 = np.searchsorted(peaks, stop, side="left")
    n_beats = (p1 - p0).astype(np.float64)

    rr = np.diff(peaks) / fs * 1000.0  # RR k joins peaks k and k+1
    rr_ok = np.diff(block_of) == 0  # never across a reset or gap
    sd = np.diff(rr)  # successive difference j joins RR j and j+1
    sd_ok = rr_ok[:-1] & rr_ok[1:]

    # RR k inside the range: p0 <= k and k + 1 <= p1 - 1; successive difference j: p0 <= j <= p1 - 3
    seg, k = _expand(p0, p1 - 1)
    keep = rr_ok[k]
    seg, k = seg[keep], k[keep]
    n_rr = np.bincount(seg, minlength=n).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.bincount(seg, weights=rr[k], minlength=n) / n_rr
        var = np.bincount(seg, weights=(rr[k] - mean[seg]) ** 2, minlength=n) / (n_rr - 1)
    seg2, j = _expand(p0, p1 - 2)
    keep = sd_ok[j]
    seg2, j = seg2[keep], j[keep]
    n_sd = np.bincount(seg2, minlength=n)
    s2 = np.bincount(seg2, weights=sd[j] ** 2, minlength=n)
    n50 = np.bincount(seg2, weights=(np.abs(sd[j]) > 50.0).astype(np.float64), minlength=n)

    ok = (n_beats >= min_beats) & (n_rr >= 2) & (n_sd >= 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        df = pd.DataFrame(
            {
                "ecg_mean_nn": np.where(ok, mean, np.nan),
                "ecg_sdnn": np.where(ok, np.sqrt(var), np.nan),
                "ecg_rmssd": np.where(ok, np.sqrt(s2 / n_sd), np.nan),
                "ecg_nn50": np.where(ok, n50, np.nan),
                "ecg_n_beats": n_beats,
            }
        )
    reason = np.where(ok, "", np.where(n_beats == 0, "no_beats", "too_few_beats")).astype(object)
    return df, reason


def compute(rec: Recording, spans: pd.DataFrame, settings: Mapping) -> tuple[pd.DataFrame, np.ndarray]:
    """Features for every row of ``spans`` (NaN where the span is not aligned) and the reasons."""
    min_beats = int(settings["min_beats"])
    clean_method = settings["clean_method"]
    n = len(spans)
    out = pd.DataFrame({c: np.full(n, np.nan) for c in FEATURES})
    reason = spans["reason"].to_numpy(dtype=object).copy()
    aligned = np.flatnonzero(reason == "")
    if aligned.size == 0:
        return out, reason
    check_rate(rec, settings)
    start = spans["start"].to_numpy()[aligned]
    stop = spans["stop"].to_numpy()[aligned]
    peaks, block_of = detect_peaks(rec, clean_method, needed=(start, stop))
    log.info("%s: %d R peaks at %.3f Hz", rec.path, peaks.size, rec.fs)
    feats, why = hrv_from_peaks(peaks, block_of, rec.fs, start, stop, min_beats)
    out.iloc[aligned] = feats.to_numpy()
    reason[aligned] = why
    return out, reason
