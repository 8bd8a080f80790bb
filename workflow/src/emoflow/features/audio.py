"""Audio features: every clip loaded, resampled, normalised, and cropped/padded to one fixed length or cut
into fixed-length windows.

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
    zero-pad at the end to exactly ``max_seconds * sample_rate`` samples: one window per clip.
Whole clips (``max_seconds: null``)
    nothing is cropped; the whole clip is normalised and cut into windows of ``window_seconds``
    (``windows``): ``ceil(duration / window_seconds)`` windows, one every ``window_seconds`` from the
    start, the last one moved back to end where the clip ends (it overlaps its predecessor instead of
    holding padding); a clip shorter than one window is one zero-padded window. A clip of 3.5 windows is
    4 windows. The model pools the windows of a clip (``models.audio``).
Layout
    the array has one row per window ``[windows, window samples]``; the index has one row per segment:
    ``row`` (its first window), ``n_windows`` (its windows, consecutive rows) and ``dropped_s`` (seconds
    of the clip the crop left out; 0 with ``max_seconds: null``). With a number for ``max_seconds`` every
    clip is one window, row = segment.
Crop report
    the gathered QC table notes how many usable clips the crop cut (``cropped``, fraction of the usable
    clips), the speech seconds it dropped (``cropped_seconds``, fraction of all usable speech seconds) and
    how many clips were seen as more than one window (``windowed``); the same is logged.
Unusable clips (a reason, never an exception)
    ``missing_wav`` (no file), ``empty_wav`` (0 bytes or 0 frames), ``truncated_wav`` (the header
    promises more data than the file holds, or a RIFF file whose header is cut), ``unreadable_wav``
    (not a sound file libsndfile can open), ``not_wav`` (another container, e.g. FLAC named .wav),
    ``not_pcm`` (see above), ``too_short`` (shorter than ``min_seconds``). They get one row in the array,
    NaN, so a consumer that ignores ``ok`` fails loudly instead of learning from silence.
"""

from __future__ import annotations

import logging
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np
import pandas as pd

from ..errors import DataError
from ..qc import QC_COLUMNS, qc_table

log = logging.getLogger(__name__)

PCM_SUBTYPES = {"PCM_16", "PCM_24", "PCM_32", "PCM_U8", "PCM_S8", "FLOAT", "DOUBLE"}
WAV_FORMATS = {"WAV", "WAVEX", "RF64", "W64"}
RMS_TARGET = 0.1
INDEX_COLUMNS = ["segment_id", "row", "n_windows", "ok", "reason", "duration_s", "dropped_s", "orig_sample_rate"]
GATHERED_COLUMNS = [*INDEX_COLUMNS, "session"]
INDEX_DTYPES = {"segment_id": str, "row": np.int64, "n_windows": np.int64, "ok": bool, "reason": str,
                "duration_s": np.float64, "dropped_s": np.float64, "orig_sample_rate": np.int64}


@dataclass
class Clip:
    """One loaded clip: ``samples`` (float32; fixed length, or the whole clip with ``max_seconds`` None)
    or None with a ``reason``."""

    samples: np.ndarray | None
    reason: str = ""
    duration_s: float = float("nan")  # of the original file, before crop/pad
    orig_sample_rate: int = 0
    dropped_s: float = 0.0  # seconds the crop left out

    @property
    def ok(self) -> bool:
        return self.samples is not None


def n_samples(sample_rate: int, max_seconds: float) -> int:
    return int(round(max_seconds * sample_rate))


def window_samples(sample_rate: int, max_seconds: float | None, window_seconds: float) -> int:
    """Samples per window: the whole fixed-length clip, or ``window_seconds`` for whole clips."""
    return n_samples(sample_rate, window_seconds if max_seconds is None else max_seconds)


def windows(x: np.ndarray, length: int) -> np.ndarray:
    """A clip as ``ceil(len / length)`` windows [n, length] (see the module doc): one every ``length``
    samples, the last ending where the clip ends; a clip no longer than one window is zero-padded."""
    n = max(1, -(-len(x) // length))
    out = np.zeros((n, length), dtype=np.float32)
    if n == 1:
        out[0, : len(x)] = x
        return out
    starts = [i * length for i in range(n - 1)] + [len(x) - length]
    for i, start in enumerate(starts):
        out[i] = x[start : start + length]
    return out


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


def _file_problem(path: Path):
    """``(reason, orig_sample_rate)`` when the file cannot be used as it is (reason "" otherwise:
    then the sample rate is that of the header)."""
    import soundfile as sf

    if not path.is_file():
        return "missing_wav", 0
    size = path.stat().st_size
    if size == 0:
        return "empty_wav", 0
    try:
        shortfall = _riff_data_shortfall(path, size)
    except OSError:
        return "unreadable_wav", 0
    try:
        info = sf.info(str(path))
    except (sf.LibsndfileError, RuntimeError, OSError):
        return ("truncated_wav" if shortfall is not None else "unreadable_wav"), 0
    orig_sr = int(info.samplerate)
    if info.format not in WAV_FORMATS:
        return "not_wav", orig_sr
    if info.subtype not in PCM_SUBTYPES:
        return "not_pcm", orig_sr
    if shortfall:
        return "truncated_wav", orig_sr
    return "", orig_sr


def _read_mono(path: Path, orig_sr: int, min_seconds: float) -> Clip:
    """The file's samples mixed to mono (in ``Clip.samples``, not yet fixed in length), or a reason."""
    import soundfile as sf

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
    return Clip(x, "", duration, orig_sr)


def _fixed_length(x: np.ndarray, orig_sr: int, sample_rate: int, max_seconds: float | None, crop: str,
                  normalize: str) -> np.ndarray:
    """Resample, crop, normalise and zero-pad to ``max_seconds * sample_rate`` float32 samples (``None``:
    resample and normalise the whole clip, no crop, no padding)."""
    if orig_sr != sample_rate:
        import torch
        from torchaudio.functional import resample

        x = resample(torch.from_numpy(np.ascontiguousarray(x)), orig_sr, sample_rate).numpy()
    if max_seconds is None:
        return _normalise(np.asarray(x, dtype=np.float32), normalize)
    length = n_samples(sample_rate, max_seconds)
    x = _normalise(_fit_length(x, length, crop), normalize)
    out = np.zeros(length, dtype=np.float32)
    out[: len(x)] = x
    return out


def load_wav(path, *, sample_rate: int = 16000, max_seconds: float | None = 4.0, crop: str = "center",
             normalize: str = "peak", min_seconds: float = 0.1) -> Clip:
    """Load one WAV as a mono float32 array of ``max_seconds * sample_rate`` samples, or the whole clip
    when ``max_seconds`` is None (see module doc)."""
    if crop not in ("start", "center"):
        raise ValueError(f"unknown crop policy {crop!r}")
    if normalize not in ("peak", "rms", "none"):
        raise ValueError(f"unknown normalisation {normalize!r}")
    path = Path(path)
    reason, orig_sr = _file_problem(path)
    if reason:
        return Clip(None, reason, orig_sample_rate=orig_sr)
    clip = _read_mono(path, orig_sr, min_seconds)
    if not clip.ok:
        return clip
    samples = _fixed_length(clip.samples, clip.orig_sample_rate, sample_rate, max_seconds, crop, normalize)
    dropped = 0.0 if max_seconds is None else max(0.0, clip.duration_s - max_seconds)
    return Clip(samples, "", clip.duration_s, clip.orig_sample_rate, dropped)


# ---------------------------------------------------------------------------------------------
# Per-session extraction and gathering


class SessionAudio(NamedTuple):
    """One session's clips: float16 ``[windows, samples]`` array (one NaN row per unusable clip) + index."""

    array: np.ndarray
    index: pd.DataFrame


class GatheredAudio(NamedTuple):
    """Every segment's windows: float16 array, index by segment_id (``GATHERED_COLUMNS``), QC table."""

    array: np.ndarray
    index: pd.DataFrame
    qc: pd.DataFrame


def _require(df: pd.DataFrame, cols, source) -> None:
    for col in cols:
        if col not in df.columns:
            raise DataError(source, f"missing column {col!r}")


def session_segments(segments: pd.DataFrame, session: str, source="segments.parquet") -> pd.DataFrame:
    """The session's segments in segment_id order (the row order of its array)."""
    _require(segments, ("segment_id", "session", "wav_path"), source)
    part = segments[segments["session"] == session]
    return part.sort_values("segment_id", kind="stable").reset_index(drop=True)


def extract_session(part: pd.DataFrame, wav_files: Sequence, session: str, *, sample_rate: int,
                    max_seconds: float | None, window_seconds: float, crop: str, normalize: str,
                    min_seconds: float) -> SessionAudio:
    """One session's clips (``part`` from ``session_segments``; ``wav_files`` the file of each row), one
    window per clip, or the whole clips in windows when ``max_seconds`` is None (module doc)."""
    length = window_samples(sample_rate, max_seconds, window_seconds)
    pieces, rows, first = [], [], 0
    for sid, path in zip(part["segment_id"], wav_files):
        clip = load_wav(path, sample_rate=sample_rate, max_seconds=max_seconds, crop=crop,
                        normalize=normalize, min_seconds=min_seconds)
        if clip.ok:
            pieces.append(windows(clip.samples, length).astype(np.float16))
        else:
            log.warning("%s: %s (%s)", sid, clip.reason, path)
            pieces.append(np.full((1, length), np.nan, dtype=np.float16))
        rows.append({"segment_id": sid, "row": first, "n_windows": len(pieces[-1]), "ok": clip.ok,
                     "reason": clip.reason, "duration_s": clip.duration_s, "dropped_s": clip.dropped_s,
                     "orig_sample_rate": clip.orig_sample_rate})
        first += len(pieces[-1])
    array = np.concatenate(pieces) if pieces else np.zeros((0, length), dtype=np.float16)
    index = pd.DataFrame(rows, columns=INDEX_COLUMNS).astype(INDEX_DTYPES)
    log.info("%s: %d clips, %d usable, %d windows of %d samples", session, len(index), int(index["ok"].sum()),
             len(array), length)
    return SessionAudio(array, index)


def _check_sessions(sessions: Sequence[tuple[str, np.ndarray, pd.DataFrame]]) -> int:
    """The common window width (0 without sessions); DataError for an array that does not fit."""
    width = None
    for name, arr, idx in sessions:
        _require(idx, ("segment_id", "row", "n_windows"), name)
        n_rows = int(idx["n_windows"].sum())
        if arr.ndim != 2 or len(arr) != n_rows or (idx["n_windows"] < 1).any():
            raise DataError(name, f"array shape {arr.shape} does not match its index ({len(idx)} clips, "
                                  f"{n_rows} windows)")
        if width is None:
            width = arr.shape[1]
        elif arr.shape[1] != width:
            raise DataError(name, f"{arr.shape[1]} samples per window, other sessions have {width}")
    return width or 0


def _stacked_index(sessions, known: set[str], source) -> pd.DataFrame:
    """The session indexes one after the other, ``row`` renumbered to the gathered array."""
    pieces, offset = [], 0
    for name, _, idx in sessions:
        idx = idx.copy()
        stray = ~idx["segment_id"].astype(str).isin(known)
        if stray.any():
            raise DataError(name, f"{int(stray.sum())} segment(s) not in {source}, e.g. "
                                  f"{idx.loc[stray, 'segment_id'].iloc[0]} (stale per-session output?)")
        counts = idx["n_windows"].to_numpy(dtype=np.int64)
        first = np.concatenate([[0], np.cumsum(counts)[:-1]]).astype(np.int64)
        if not np.array_equal(idx["row"].to_numpy(), first):
            raise DataError(name, "index rows are not the clips' consecutive windows in order")
        idx["row"] = offset + first
        offset += int(counts.sum())
        pieces.append(idx)
    index = pd.concat(pieces, ignore_index=True) if pieces else pd.DataFrame(columns=INDEX_COLUMNS)
    dup = index["segment_id"].duplicated()
    if dup.any():
        sid = index.loc[dup, "segment_id"].iloc[0]
        where = [name for name, _, idx in sessions if (idx["segment_id"].astype(str) == str(sid)).any()]
        raise DataError(where[-1], f"segment {sid} appears in two sessions (also in {where[0]})")
    return index


def _add_not_extracted(index: pd.DataFrame, known: set[str], offset: int) -> pd.DataFrame:
    """Rows (``not_extracted``, one NaN window each from ``offset``) for the segments no session covers."""
    missing = sorted(known - set(index["segment_id"].astype(str)))
    if not missing:
        return index
    log.warning("%d segment(s) were not extracted by any session job, e.g. %s", len(missing), missing[0])
    extra = pd.DataFrame({"segment_id": missing, "row": offset + np.arange(len(missing), dtype=np.int64),
                          "n_windows": 1, "ok": False, "reason": "not_extracted", "duration_s": np.nan,
                          "dropped_s": 0.0, "orig_sample_rate": 0})
    return pd.concat([index, extra], ignore_index=True)


def crop_notes(index: pd.DataFrame) -> pd.DataFrame:
    """QC ``note`` rows on what the crop cut and the windows, over the usable clips (module doc), logged.

    ``cropped``: clips the crop cut (fraction of the usable clips); ``cropped_seconds``: the same clips,
    with the fraction of all usable speech seconds the crop dropped; ``windowed``: clips seen as more
    than one window (fraction of the usable clips)."""
    ok = index["ok"].astype(bool).to_numpy()
    dropped = index["dropped_s"].to_numpy(dtype=np.float64)[ok]
    total = float(np.nansum(index["duration_s"].to_numpy(dtype=np.float64)[ok]))
    n_ok, n_cut = int(ok.sum()), int((dropped > 0).sum())
    n_multi = int((index["n_windows"].to_numpy()[ok] > 1).sum())
    frac_s = float(dropped.sum()) / total if total > 0 else 0.0
    log.info("audio crop: %d of %d usable clips cut (%.1f%%), %.1f of %.1f speech seconds dropped (%.1f%%); "
             "%d clips seen as more than one window", n_cut, n_ok, 100 * n_cut / max(n_ok, 1),
             float(dropped.sum()), total, 100 * frac_s, n_multi)
    rows = [("cropped", n_cut, n_cut / n_ok if n_ok else 0.0), ("cropped_seconds", n_cut, frac_s),
            ("windowed", n_multi, n_multi / n_ok if n_ok else 0.0)]
    return pd.DataFrame([{"modality": "audio", "status": "note", "reason": r, "n_segments": n, "fraction": f}
                         for r, n, f in rows], columns=QC_COLUMNS)


def gather_sessions(segments: pd.DataFrame, sessions: Sequence[tuple[str, np.ndarray, pd.DataFrame]],
                    source="segments.parquet") -> GatheredAudio:
    """Per-session ``(name, array, index)`` in the given (session) order -> one array + index + QC.

    Every segment of the segment index gets a row; one no session extracted is ``not_extracted`` (NaN
    window). ``name`` (the array's file) and ``source`` (the segment index) name the files in errors.
    """
    width = _check_sessions(sessions)
    _require(segments, ("segment_id", "session"), source)
    known = set(segments["segment_id"].astype(str))
    session_of = dict(zip(segments["segment_id"].astype(str), segments["session"].astype(str)))
    index = _stacked_index(sessions, known, source)
    n_extracted = sum(len(arr) for _, arr, _ in sessions)
    index = _add_not_extracted(index, known, n_extracted)
    array = np.zeros((int(index["n_windows"].sum()), width), dtype=np.float16)
    start = 0
    for _, arr, _ in sessions:
        array[start : start + len(arr)] = arr
        start += len(arr)
    array[n_extracted:] = np.nan
    index["session"] = index["segment_id"].map(session_of).astype(str)
    index = index.astype(INDEX_DTYPES)[GATHERED_COLUMNS]
    qc = pd.concat([qc_table("audio", index["ok"], index["reason"]), crop_notes(index)], ignore_index=True)
    return GatheredAudio(array, index, qc)
