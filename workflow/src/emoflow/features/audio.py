"""Audio features: every clip loaded, resampled, normalised and cropped/padded to one fixed length.

Reading
    WAV files are read with ``soundfile`` (libsndfile, no system dependency). ``torchaudio.load`` is
    not used: since torchaudio 2.9 it needs TorchCodec and FFmpeg. Resampling uses
    ``torchaudio.functional.resample`` (pure torch).
Accepted encodings
    linear PCM (``PCM_16``, ``PCM_24``, ``PCM_32``, ``PCM_U8``) and IEEE float (``FLOAT``, ``DOUBLE``,
    lossless with a well-defined amplitude). Companded or compressed encodings (u-law, A-law, ADPCM,
    GSM, MP3 ...) are rejected as ``not_pcm``: KEMDy19 is 16-bit PCM, so anything else signals a
    foreign file.
Pipeline per clip
    mix to mono (channel mean) -> resample to ``sample_rate`` -> crop when longer than ``max_seconds``
    (``center``: the middle of the utterance is kept; ``start``: the beginning) -> normalise the kept
    samples (``peak``: max |x| = 1; ``rms``: RMS = 0.1, about -20 dBFS, no clipping; ``none``) ->
    zero-pad at the end to exactly ``max_seconds * sample_rate`` samples.
Unusable clips (a reason, never an exception)
    ``missing_wav`` (no file), ``empty_wav`` (0 bytes or 0 frames), ``truncated_wav`` (the header
    promises more data than the file holds, or a RIFF file whose header is cut), ``unreadable_wav``
    (not a sound file libsndfile can open), ``not_wav`` (another container, e.g. FLAC named .wav),
    ``not_pcm`` (see above), ``too_short`` (shorter than ``min_seconds``). Their rows in the arrays are
    NaN, so a consumer that ignores ``ok`` fails loudly instead of learning from silence.
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError
from ..io import atomic_path, write_parquet, write_tsv
from ..qc import check_missing, qc_table

log = logging.getLogger(__name__)

PCM_SUBTYPES = {"PCM_16", "PCM_24", "PCM_32", "PCM_U8", "PCM_S8", "FLOAT", "DOUBLE"}
WAV_FORMATS = {"WAV", "WAVEX", "RF64", "W64"}
RMS_TARGET = 0.1
INDEX_COLUMNS = ["segment_id", "row", "ok", "reason", "duration_s", "orig_sample_rate"]
GATHERED_COLUMNS = ["segment_id", "row", "ok", "reason", "duration_s", "orig_sample_rate", "session"]


@dataclass
class Clip:
    """One loaded clip: ``samples`` (float32, fixed length) or None with a ``reason``."""

    samples: np.ndarray | None
    reason: str = ""
    duration_s: float = float("nan")  # of the original file, before crop/pad
    orig_sample_rate: int = 0

    @property
    def ok(self) -> bool:
        return self.samples is not None


def n_samples(sample_rate: int, max_seconds: float) -> int:
    return int(round(max_seconds * sample_rate))


def _riff_data_shortfall(path: Path, size: int) -> bool | None:
    """True when a RIFF/WAVE header declares more data bytes than the file holds.

    None when the file is not RIFF/WAVE (nothing to check); True also when the chunk list is cut
    before a ``data`` chunk.
    """
    with open(path, "rb") as f:
        head = f.read(12)
        if len(head) < 12 or head[:4] not in (b"RIFF", b"RIFX") or head[8:12] != b"WAVE":
            return None
        endian = "<" if head[:4] == b"RIFF" else ">"
        pos = 12
        while True:
            f.seek(pos)
            hdr = f.read(8)
            if len(hdr) < 8:
                return True  # no data chunk before the end of the file
            cid, csize = hdr[:4], struct.unpack(endian + "I", hdr[4:])[0]
            if cid == b"data":
                if csize in (0, 0xFFFFFFFF):  # streaming writers leave the size open
                    return False
                return pos + 8 + csize > size
            pos += 8 + csize + (csize & 1)
            if pos > size:
                return True


def _fit_length(x: np.ndarray, length: int, crop: str) -> np.ndarray:
    if len(x) > length:
        start = (len(x) - length) // 2 if crop == "center" else 0
        return x[start : start + length]
    return x


def _normalise(x: np.ndarray, how: str) -> np.ndarray:
    if how == "none" or x.size == 0:
        return x
    if how == "peak":
        peak = float(np.max(np.abs(x)))
        return x / peak if peak > 0 else x
    if how == "rms":
        rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64))))
        return x * (RMS_TARGET / rms) if rms > 0 else x
    raise ValueError(f"unknown normalisation {how!r}")


def load_wav(path, *, sample_rate: int = 16000, max_seconds: float = 4.0, crop: str = "center",
             normalize: str = "peak", min_seconds: float = 0.1) -> Clip:
    """Load one WAV as a mono float32 array of ``max_seconds * sample_rate`` samples (see module doc)."""
    import soundfile as sf

    if crop not in ("start", "center"):
        raise ValueError(f"unknown crop policy {crop!r}")
    if normalize not in ("peak", "rms", "none"):
        raise ValueError(f"unknown normalisation {normalize!r}")
    path = Path(path)
    if not path.is_file():
        return Clip(None, "missing_wav")
    size = path.stat().st_size
    if size == 0:
        return Clip(None, "empty_wav")
    try:
        shortfall = _riff_data_shortfall(path, size)
    except OSError:
        return Clip(None, "unreadable_wav")
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, OSError):
        return Clip(None, "truncated_wav" if shortfall is not None else "unreadable_wav")
    orig_sr = int(info.samplerate)
    if info.format not in WAV_FORMATS:
        return Clip(None, "not_wav", orig_sample_rate=orig_sr)
    if info.subtype not in PCM_SUBTYPES:
        return Clip(None, "not_pcm", orig_sample_rate=orig_sr)
    if shortfall:
        return Clip(None, "truncated_wav", orig_sample_rate=orig_sr)
    try:
        data, orig_sr = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, OSError):
        return Clip(None, "truncated_wav", orig_sample_rate=orig_sr)
    if data.shape[0] == 0:
        return Clip(None, "empty_wav", 0.0, orig_sr)
    duration = data.shape[0] / orig_sr
    if duration < min_seconds:
        return Clip(None, "too_short", duration, orig_sr)
    x = data.mean(axis=1) if data.shape[1] > 1 else data[:, 0]
    if not np.all(np.isfinite(x)):
        return Clip(None, "unreadable_wav", duration, orig_sr)
    if orig_sr != sample_rate:
        import torch
        from torchaudio.functional import resample

        x = resample(torch.from_numpy(np.ascontiguousarray(x)), orig_sr, sample_rate).numpy()
    length = n_samples(sample_rate, max_seconds)
    x = _normalise(_fit_length(x, length, crop), normalize)
    out = np.zeros(length, dtype=np.float32)
    out[: len(x)] = x
    return Clip(out, "", duration, orig_sr)


# ---------------------------------------------------------------------------------------------
# Per-session extraction and gathering


def _save_npy(array: np.ndarray, path) -> None:
    with atomic_path(path) as tmp:
        with open(tmp, "wb") as f:  # a file object: np.save would append .npy to a path
            np.save(f, array)


def session_segments(segments: pd.DataFrame, session: str) -> pd.DataFrame:
    """The session's segments in segment_id order (the row order of its array)."""
    part = segments[segments["session"] == session]
    return part.sort_values("segment_id", kind="stable").reset_index(drop=True)


def extract_session(segments_path, session: str, data_dir, out_array, out_index, *, sample_rate: int,
                    max_seconds: float, crop: str, normalize: str, min_seconds: float) -> pd.DataFrame:
    """The audio_features rule: one session's clips -> float16 [n, samples] array + index parquet."""
    segments = pd.read_parquet(segments_path)
    for col in ("segment_id", "session", "wav_path"):
        if col not in segments.columns:
            raise DataError(segments_path, f"missing column {col!r}")
    part = session_segments(segments, session)
    length = n_samples(sample_rate, max_seconds)
    array = np.full((len(part), length), np.nan, dtype=np.float16)
    rows = []
    for i, (sid, rel) in enumerate(zip(part["segment_id"], part["wav_path"])):
        clip = load_wav(Path(data_dir) / str(rel), sample_rate=sample_rate, max_seconds=max_seconds,
                        crop=crop, normalize=normalize, min_seconds=min_seconds)
        if clip.ok:
            array[i] = clip.samples.astype(np.float16)
        else:
            log.warning("%s: %s (%s)", sid, clip.reason, rel)
        rows.append({"segment_id": sid, "row": i, "ok": clip.ok, "reason": clip.reason,
                     "duration_s": clip.duration_s, "orig_sample_rate": clip.orig_sample_rate})
    index = pd.DataFrame(rows, columns=INDEX_COLUMNS).astype(
        {"segment_id": str, "row": np.int64, "ok": bool, "reason": str, "duration_s": np.float64,
         "orig_sample_rate": np.int64})
    log.info("%s: %d clips, %d usable, %d samples each", session, len(index), int(index["ok"].sum()), length)
    _save_npy(array, out_array)
    write_parquet(index, out_index)
    return index


def gather_sessions(segments_path, arrays, indexes, out_array, out_index, out_qc, *,
                    max_missing: float) -> pd.DataFrame:
    """The gather_audio rule: per-session arrays in the given (session) order -> one array + index.

    Every segment of segments.parquet gets a row; one no session extracted is ``not_extracted`` (NaN
    row). The output array is written through a memory map, one session at a time.
    """
    from numpy.lib.format import open_memmap

    segments = pd.read_parquet(segments_path)
    if len(arrays) != len(indexes):
        raise ValueError("arrays and indexes differ in length")
    parts, width = [], None
    for arr_path, idx_path in zip(arrays, indexes):
        arr = np.load(arr_path, mmap_mode="r")
        idx = pd.read_parquet(idx_path)
        if arr.ndim != 2 or len(arr) != len(idx):
            raise DataError(arr_path, f"array shape {arr.shape} does not match its index ({len(idx)} rows)")
        if width is None:
            width = arr.shape[1]
        elif arr.shape[1] != width:
            raise DataError(arr_path, f"{arr.shape[1]} samples per clip, other sessions have {width}")
        parts.append((arr_path, idx))
    width = width or 0
    for col in ("segment_id", "session"):
        if col not in segments.columns:
            raise DataError(segments_path, f"missing column {col!r}")
    known = set(segments["segment_id"].astype(str))
    session_of = dict(zip(segments["segment_id"].astype(str), segments["session"].astype(str)))

    pieces, offset = [], 0
    for arr_path, idx in parts:
        idx = idx.copy()
        stray = ~idx["segment_id"].astype(str).isin(known)
        if stray.any():
            raise DataError(arr_path, f"{int(stray.sum())} segment(s) not in {segments_path}, e.g. "
                                      f"{idx.loc[stray, 'segment_id'].iloc[0]} (stale per-session output?)")
        if not np.array_equal(idx["row"].to_numpy(), np.arange(len(idx))):
            raise DataError(arr_path, "index rows are not 0..n-1 in order")
        idx["row"] = offset + np.arange(len(idx), dtype=np.int64)
        offset += len(idx)
        pieces.append((arr_path, idx))
    if pieces:
        index = pd.concat([p[1] for p in pieces], ignore_index=True)
    else:
        index = pd.DataFrame(columns=INDEX_COLUMNS)
    dup = index["segment_id"].duplicated()
    if dup.any():
        raise DataError(out_index, f"segment {index.loc[dup, 'segment_id'].iloc[0]} appears in two sessions")
    missing = sorted(known - set(index["segment_id"].astype(str)))
    if missing:
        log.warning("%d segment(s) were not extracted by any session job, e.g. %s", len(missing), missing[0])
        extra = pd.DataFrame({"segment_id": missing, "row": offset + np.arange(len(missing), dtype=np.int64),
                              "ok": False, "reason": "not_extracted", "duration_s": np.nan,
                              "orig_sample_rate": 0})
        index = pd.concat([index, extra], ignore_index=True)
    total = len(index)

    with atomic_path(out_array) as tmp:
        out = open_memmap(tmp, mode="w+", dtype=np.float16, shape=(total, width))
        for arr_path, idx in pieces:
            if len(idx):
                start = int(idx["row"].iloc[0])
                out[start : start + len(idx)] = np.load(arr_path, mmap_mode="r")
        if missing:
            out[offset:total] = np.nan
        out.flush()
        del out

    index["session"] = index["segment_id"].map(session_of).astype(str)
    index = index.astype({"segment_id": str, "row": np.int64, "ok": bool, "reason": str,
                          "duration_s": np.float64, "orig_sample_rate": np.int64})[GATHERED_COLUMNS]
    write_parquet(index, out_index)
    qc = qc_table("audio", index["ok"], index["reason"])
    write_tsv(qc, out_qc)
    check_missing("audio", index["ok"], max_missing)
    return index
