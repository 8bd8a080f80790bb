"""EDA -> spectral band powers per segment.

For each segment (rows whose clock lies in its tagged span): remove the trend (``detrend``: linear,
constant or none), apply a periodic ``window`` (hann, hamming, boxcar), and take the real FFT at the
file's sampling rate (inferred from the elapsed column: 4 Hz in KEMDy19).

Bands: the configured ``band`` [lo, hi] keeps its lower edge; the upper edge is CLAMPED to the Nyquist
frequency fs/2 (2 Hz at 4 Hz), with one warning per file; the edge used is stored in the column
``eda_band_hi_hz``. Segments differ in length, so the spectrum is mapped onto ``n_bands`` fixed bands with
log-spaced edges between lo and the clamped hi: every segment is zero-padded to one FFT length per file
(the next power of two that holds the longest segment and puts at least 4 frequency bins into the
narrowest band), and a band's power is the one-sided periodogram density integrated over the bins of
the band (sum of density x bin width). Because the density is normalised by the window energy and
integrated, the power does not depend on the padding, so every band has a value even for a short segment
and files with different FFT lengths are comparable. Bins in [edge_k, edge_k+1) belong to band k (the last
band includes its upper edge).

Columns: ``eda_band_0 .. eda_band_{n-1}`` = log10(band power in uS^2 + 1e-12) (the floor keeps a flat
segment finite: -12), ``eda_mean`` (uS, raw samples), ``eda_n_samples``. Fewer than ``min_samples``
samples -> NaN features with reason ``too_few_samples`` (``eda_n_samples`` still holds the count).
"""

from __future__ import annotations

import logging
import math
from typing import Mapping

import numpy as np
import pandas as pd

from ...errors import DataError
from .base import Recording, segment_matrices

log = logging.getLogger(__name__)

#: EDA rows are ``value,elapsed,clock[,SegID]``.
FIELDS = ("value", "elapsed")
LOG_FLOOR = 1e-12
MIN_BINS_PER_BAND = 4


def feature_columns(settings: Mapping) -> list[str]:
    n = int(settings["n_bands"])
    return [f"eda_band_{k}" for k in range(n)] + ["eda_mean", "eda_n_samples"]


def band_edges(settings: Mapping, fs: float | None, path: str = "") -> tuple[np.ndarray, bool]:
    """Log-spaced band edges and whether the upper edge was clamped to Nyquist."""
    lo, hi = (float(v) for v in settings["band"])
    n = int(settings["n_bands"])
    clamped = False
    if fs is not None and hi > fs / 2:
        hi, clamped = fs / 2, True
    if not 0 < lo < hi:
        raise DataError(path or "bio.eda.band", f"EDA band [{lo:g}, {hi:g}] Hz is empty at fs = {fs} Hz "
                        "(check bio.eda.band against the sampling rate)")
    return np.geomspace(lo, hi, n + 1), clamped


def extra_columns(rec: Recording | None, settings: Mapping) -> dict:
    """``eda_band_hi_hz``: the upper band edge actually used (NaN when there is no file)."""
    if rec is None:
        return {"eda_band_hi_hz": np.nan}
    edges, _ = band_edges(settings, rec.fs, rec.path)
    return {"eda_band_hi_hz": float(edges[-1])}


def qc_notes(extra: pd.DataFrame, settings: Mapping, n_total: int) -> list[dict]:
    """One note per upper band edge used (``band_hi=<Hz>``, with ``clamped_from=<Hz>`` when the
    configured edge was above Nyquist) and how many segments it applies to."""
    hi_used = pd.to_numeric(extra["eda_band_hi_hz"], errors="coerce")
    configured = float(settings["band"][1])
    rows = []
    for hi, count in sorted(hi_used.dropna().round(6).value_counts().items()):
        reason = f"band_hi={hi:g}Hz"
        if hi < configured - 1e-9:
            reason += f" clamped_from={configured:g}Hz (Nyquist)"
        rows.append({"modality": "eda", "status": "note", "reason": reason, "n_segments": int(count),
                     "fraction": count / n_total if n_total else 0.0})
        if hi < configured - 1e-9:
            log.warning("EDA band upper edge clamped from %g Hz to Nyquist %g Hz for %d segments",
                        configured, hi, count)
    return rows


def _window(kind: str, lengths: np.ndarray, width: int) -> np.ndarray:
    """Periodic (DFT-even) windows of each row's own length, zero beyond it."""
    k = np.arange(width)[None, :]
    n = np.maximum(lengths, 1)[:, None].astype(np.float64)
    if kind == "hann":
        w = 0.5 - 0.5 * np.cos(2 * np.pi * k / n)
    elif kind == "hamming":
        w = 0.54 - 0.46 * np.cos(2 * np.pi * k / n)
    elif kind == "boxcar":
        w = np.ones((len(lengths), width))
    else:
        raise ValueError(f"unknown EDA window {kind!r}")
    return np.where(k < lengths[:, None], w, 0.0)


def _detrend(mat: np.ndarray, mask: np.ndarray, lengths: np.ndarray, kind: str) -> np.ndarray:
    if kind == "none":
        return mat
    n = lengths.astype(np.float64)
    mean = mat.sum(axis=1) / n
    if kind == "constant":
        return np.where(mask, mat - mean[:, None], 0.0)
    if kind != "linear":
        raise ValueError(f"unknown EDA detrend {kind!r}")
    t = np.arange(mat.shape[1], dtype=np.float64)[None, :] - (n[:, None] - 1) / 2  # centred per row
    t = np.where(mask, t, 0.0)
    stt = (t * t).sum(axis=1)
    slope = np.divide((t * mat).sum(axis=1), stt, out=np.zeros_like(stt), where=stt > 0)
    return np.where(mask, mat - mean[:, None] - slope[:, None] * t, 0.0)


def nfft_for(max_len: int, edges: np.ndarray, fs: float) -> int:
    narrowest = float(np.min(np.diff(edges)))
    need = max(max_len, int(math.ceil(MIN_BINS_PER_BAND * fs / narrowest)), 8)
    return 1 << (need - 1).bit_length()


def band_powers(
    mat: np.ndarray, mask: np.ndarray, lengths: np.ndarray, fs: float, edges: np.ndarray, nfft: int,
    detrend: str = "linear", window: str = "hann",
) -> np.ndarray:
    """Band power (uS^2) per row of a padded segment matrix."""
    x = _detrend(mat, mask, lengths, detrend)
    w = _window(window, lengths, mat.shape[1])
    xw = x * w
    spec = np.fft.rfft(xw, n=nfft, axis=1)
    dens = (spec.real**2 + spec.imag**2) / (fs * (w * w).sum(axis=1))[:, None]
    dens[:, 1:] *= 2.0
    if nfft % 2 == 0:
        dens[:, -1] /= 2.0  # the Nyquist bin is not mirrored
    freqs = np.fft.rfftfreq(nfft, 1.0 / fs)
    nb = len(edges) - 1
    which = np.searchsorted(edges, freqs, side="right") - 1
    which[np.isclose(freqs, edges[-1])] = nb - 1
    inside = (which >= 0) & (which < nb)
    assign = np.zeros((freqs.size, nb))
    assign[np.flatnonzero(inside), which[inside]] = 1.0
    return dens @ assign * (fs / nfft)


def compute(rec: Recording, spans: pd.DataFrame, settings: Mapping) -> tuple[pd.DataFrame, np.ndarray]:
    cols = feature_columns(settings)
    nb = len(cols) - 2
    n = len(spans)
    out = np.full((n, len(cols)), np.nan)
    reason = spans["reason"].to_numpy(dtype=object).copy()
    aligned = np.flatnonzero(reason == "")
    edges, clamped = band_edges(settings, rec.fs, rec.path)
    if clamped:
        hi = float(settings["band"][1])
        log.warning("%s: EDA band upper edge %.3g Hz is above Nyquist at %.3g Hz; clamped to %.3g Hz",
                    rec.path, hi, rec.fs, edges[-1])
    if aligned.size:
        start = spans["start"].to_numpy()[aligned]
        stop = spans["stop"].to_numpy()[aligned]
        lengths = stop - start
        min_samples = int(settings["min_samples"])
        enough = lengths >= min_samples
        out[aligned, nb + 1] = lengths
        reason[aligned[~enough]] = "too_few_samples"
        good = aligned[enough]
        if good.size:
            gs, ge = start[enough], stop[enough]
            nfft = nfft_for(int((ge - gs).max()), edges, rec.fs)
            detrend = settings["detrend"]
            window = settings["window"]
            for rows, mask, ln, (mat,) in segment_matrices(gs, ge, [rec.value]):
                p = band_powers(mat, mask, ln, rec.fs, edges, nfft, detrend, window)
                out[good[rows], :nb] = np.log10(p + LOG_FLOOR)
                out[good[rows], nb] = mat.sum(axis=1) / ln
    return pd.DataFrame(out, columns=cols), reason
