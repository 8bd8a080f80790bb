"""Fast byte formatting of sample rows (numpy bytes arrays) and the wav writer, shared by the layouts."""

from __future__ import annotations

import wave
from pathlib import Path

import numpy as np

from .bio import ECG_STEP
from .speech import AUDIO_SR

_S = np.strings


def fixed(ints: np.ndarray, decimals: int) -> np.ndarray:
    """Non-negative integers scaled by 10**decimals -> b'12.345678'."""
    ints = np.asarray(ints, dtype=np.int64)
    q, r = np.divmod(ints, 10**decimals)
    return _S.add(_S.add(q.astype("S"), b"."), _S.zfill(r.astype("S"), decimals))


def ecg_strings(k: np.ndarray) -> np.ndarray:
    """Quantised ECG levels -> '%.7g' strings (the real files' float32-like printing)."""
    lo, hi = int(k.min()), int(k.max())
    table = np.array([("%.7g" % (i * ECG_STEP)).encode() for i in range(lo, hi + 1)])
    return table[k - lo]


def clock(wall_ms: np.ndarray) -> np.ndarray:
    """Milliseconds since midnight -> b'HH:MM:SS.fff'."""
    secs, inv = np.unique(wall_ms // 1000, return_inverse=True)
    sec_tab = np.array(
        [f"{(s // 3600) % 24:02d}:{(s // 60) % 60:02d}:{s % 60:02d}".encode() for s in secs.tolist()]
    )
    ms_tab = np.array([f".{i:03d}".encode() for i in range(1000)])
    return _S.add(sec_tab[inv], ms_tab[wall_ms % 1000])


def elapsed_strings(elapsed: np.ndarray, rate: float) -> np.ndarray:
    """Elapsed seconds (multiples of 1/rate) -> their shortest repr (b'0.25', b'238.0'), as numpy prints
    them. Fast path for rates whose steps are finite decimals (250 Hz, 4 Hz, ...)."""
    fs = int(round(rate))
    m = fs
    while m % 2 == 0:
        m //= 2
    while m % 5 == 0:
        m //= 5
    if fs != rate or m != 1 or not len(elapsed):
        return elapsed.astype("S")
    k = np.rint(elapsed * fs).astype(np.int64)
    frac = np.array([repr(r / fs)[1:].encode() for r in range(fs)])
    return _S.add(np.divmod(k, fs)[0].astype("S"), frac[k % fs])


def join_rows(*cols: np.ndarray) -> bytes:
    """Columns of byte strings (or scalars) -> LF-terminated rows."""
    out = cols[0]
    for c in cols[1:]:
        out = _S.add(out, c)
    return b"\n".join(out.tolist()) + b"\n"


def write_wav(path: Path, data: np.ndarray, sr: int = AUDIO_SR) -> None:
    """16-bit mono PCM WAV with the plain 44-byte header."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes(data.astype("<i2").tobytes())


def seconds(x: float) -> str:
    """Annotation wav times: at most 3 decimals, Python's shortest repr."""
    return repr(round(float(x), 3))
