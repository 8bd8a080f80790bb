"""KEMDy19 bio-signal files: the raw reader, segment alignment and the per-participant job.

Raw format (one file per participant and signal, ``{ECG,EDA,TEMP}/SessionSS/Original/SessSS{F|M}.csv``):
no header, comma-separated, LF or CRLF, 3 or 4 fields per row. EDA and TEMP rows are
``value,elapsed,clock[,SegID]``; ECG rows are ``elapsed,value,clock[,SegID]`` (the value is the SECOND
field). ``clock`` is the wall-clock time ``HH:MM:SS.fff``; ``elapsed`` counts seconds since the start of the
current device recording and resets to ~0 between recordings and jumps across dropouts, so it is used only
to infer the sampling rate and to find contiguous stretches, never to align segments.

Clock handling (documented choices):

* A step back of more than 12 h is a day rollover past midnight: 86,400 s are added from that row on.
* Any other step back of the clock ("clock goes backwards") does NOT stop the run. The rows on both sides
  of such a step are split into monotonic runs; a segment whose tagged rows straddle a step, or whose clock
  span is also covered by another run (the same wall-clock times occur twice, so the samples are
  ambiguous), is excluded with reason ``clock_backwards``. Every step is logged with the file and line.
  Segments elsewhere in the file are aligned normally.

Alignment: a segment's samples are found through its Segment ID tags. Its span is
[clock of the first tagged row, clock of the last tagged row] and it takes every row whose clock lies in
that span (inclusive). Only the participant's own segments are computed (file ``Sess01F`` -> the
``speaker == "F"`` segments of Session01 in segments.parquet). Reasons for a missing segment:
``file_missing`` (no raw file), ``no_segment_tags`` (the id never appears in the file),
``clock_backwards`` (see above), plus the signal-specific reasons of ecg/eda/temp.
"""

from __future__ import annotations

import functools
import importlib
import logging
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ..constants import BIO_SIGNALS
from ..errors import DataError

log = logging.getLogger(__name__)

#: Which of the first two fields holds the value and which the elapsed counter.
FIELD_ORDER = {"ecg": ("elapsed", "value"), "eda": ("value", "elapsed"), "temp": ("value", "elapsed")}
DAY_S = 86400.0
ROLLOVER_S = 43200.0  # a backward step larger than this is a day rollover
_NAMES = ["f0", "f1", "clock", "tag"]


def _check_signal(signal: str) -> None:
    if signal not in FIELD_ORDER:
        raise ValueError(f"unknown bio signal {signal!r}; expected one of {sorted(FIELD_ORDER)}")


def _read_arrays(path, signal: str):
    """The parsed columns as arrays: ``(value, elapsed, clock_s, tag_codes, tag_names, rows)``; ``rows`` is
    None, or the 0-based file row of each kept row when blank lines were skipped."""
    _check_signal(signal)
    path = str(path)
    try:
        # na_filter=False: no NA-string matching (much faster); empty fields stay "" and are checked below.
        df = pd.read_csv(path, header=None, names=_NAMES, skip_blank_lines=False, na_filter=False, engine="c")
    except pd.errors.ParserError as exc:
        m = re.search(r"line (\d+)", str(exc))
        where = f"line {m.group(1)}" if m else "a row"
        raise DataError(path, f"{where} has more than 4 comma-separated fields") from None
    except pd.errors.EmptyDataError:
        raise DataError(path, "file is empty") from None
    if len(df) == 0:
        raise DataError(path, "file is empty")

    first, second = FIELD_ORDER[signal]
    cols = {first: df["f0"], second: df["f1"]}
    blank = None
    if not (_is_num(df["f0"]) and _is_num(df["f1"])):
        blank = ((df["f0"].astype(str) == "") & (df["f1"].astype(str) == "") & (df["clock"].astype(str) == "")
                 & (df["tag"].astype(str) == "")).to_numpy()
        if blank.all():
            raise DataError(path, "file has no data rows")
        if not blank.any():
            blank = None
    value = _numeric(cols["value"], path, "value", blank)
    elapsed = _numeric(cols["elapsed"], path, "elapsed", blank)
    clock_raw = df["clock"]
    tag = df["tag"]
    index = None
    if blank is not None:
        keep = ~blank
        log.info("%s: skipping %d blank line(s)", path, int(blank.sum()))
        value, elapsed = value[keep], elapsed[keep]
        clock_raw, tag = clock_raw[keep], tag[keep]
        index = np.flatnonzero(keep)
    clock = unwrap_midnight(parse_clock(clock_raw, path, index))
    codes, tags = _tag_codes(tag)
    return value, elapsed, clock, codes, tags, index


def read_bio_csv(path, signal: str) -> pd.DataFrame:
    """Read one raw bio file into ``DataFrame(value, elapsed, clock_s, segment_id)``.

    ``clock_s`` is seconds since midnight of the first row (day rollovers unwrapped); ``segment_id`` is a
    categorical (NaN on untagged rows). The index is the 0-based row of the file (line number - 1);
    blank lines are skipped. Raises DataError naming the file and the first bad line for empty or
    non-numeric values, rows with fewer than 3 or more than 4 fields, or malformed clocks.
    """
    value, elapsed, clock, codes, tags, index = _read_arrays(path, signal)
    seg = pd.Categorical.from_codes(codes, categories=tags, validate=False)
    return pd.DataFrame(
        {"value": value, "elapsed": elapsed, "clock_s": clock, "segment_id": seg},
        index=pd.RangeIndex(len(value)) if index is None else pd.Index(index),
    )


def _is_num(col: pd.Series) -> bool:
    return pd.api.types.is_numeric_dtype(col.dtype) and not pd.api.types.is_bool_dtype(col.dtype)


def _numeric(col: pd.Series, path: str, what: str, blank: np.ndarray | None) -> np.ndarray:
    """The column as float64; DataError with the first bad line when a cell is empty or not a number."""
    if _is_num(col):
        arr = col.to_numpy(dtype=np.float64)
    else:
        arr = pd.to_numeric(col.astype(str).str.strip(), errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(arr)
    if blank is not None:
        bad &= ~blank
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        cell = str(col.iloc[i])
        shown = "empty" if cell.strip() == "" else repr(cell)
        raise DataError(path, f"line {i + 1}: {what} field is not a number ({shown})")
    return arr.copy() if blank is None else arr


def parse_clock(clock: pd.Series, path: str = "<clock>", rows: np.ndarray | None = None) -> np.ndarray:
    """``HH:MM:SS[.fff]`` strings -> float seconds since midnight (vectorised).

    Fast path: every string is exactly ``HH:MM:SS.fff`` (12 bytes) -> decoded straight from the Arrow
    buffer. Otherwise the strings are split on ':' with Arrow compute. DataError names the first bad line
    (``rows`` maps positions to 0-based file rows when some lines were skipped).
    """
    line_of = (lambda i: int(rows[i]) + 1) if rows is not None else (lambda i: i + 1)
    try:
        arr = pa.array(clock.array) if isinstance(clock, pd.Series) else pa.array(clock)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        arr = pa.array(clock.astype(str).to_numpy(dtype=object))
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    if not pa.types.is_string(arr.type) and not pa.types.is_large_string(arr.type):
        arr = pc.cast(arr, pa.large_string()) if arr.null_count < len(arr) else arr
    missing = arr.is_null()
    if arr.null_count == 0:
        secs = _clock_fixed_width(arr)
        if secs is not None:
            return secs
        missing = pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(arr)), 0)
    missing = missing.to_numpy(zero_copy_only=False)
    if missing.any():
        i = int(np.flatnonzero(missing)[0])
        raise DataError(path, f"line {line_of(i)}: clock field is missing (fewer than 3 fields)")
    return _clock_split(arr, path, line_of)


def _clock_fixed_width(arr: pa.Array) -> np.ndarray | None:
    """Decode ``HH:MM:SS.fff`` straight from the Arrow buffers (8 + 4 bytes per row read as integers and
    checked digit by digit in parallel); None when the strings are not all in exactly that form."""
    n = len(arr)
    if n == 0:
        return None
    off_type = np.int64 if pa.types.is_large_string(arr.type) else np.int32
    bufs = arr.buffers()
    offsets = np.frombuffer(bufs[1], dtype=off_type)[arr.offset : arr.offset + n + 1]
    if offsets[-1] - offsets[0] != 12 * n or not np.all(np.diff(offsets) == 12):
        return None
    data = np.frombuffer(bufs[2], dtype=np.uint8)
    base = int(offsets[0])
    hms = np.ndarray((n,), dtype="<u8", buffer=data, offset=base, strides=(12,)).copy()
    frac = np.ndarray((n,), dtype="<u4", buffer=data, offset=base + 8, strides=(12,)).copy()
    # "HH:MM:SS": bytes 0,1,3,4,6,7 digits, bytes 2,5 ':' ; ".fff": byte 0 '.', bytes 1-3 digits
    x = hms - np.uint64(0x3030303030303030)  # a byte below '0' wraps to >= 0xD0 and fails the nibble test
    hi_nib = np.uint64(0xF0F0F0F0F0F0F0F0)
    ok = (x & hi_nib) == 0
    ok &= ((x + np.uint64(0x0606000606000606)) & hi_nib) == 0  # digits <= 9
    ok &= (x & np.uint64(0x0000FF0000FF0000)) == np.uint64(0x00000A00000A0000)  # ':' at 2 and 5
    z = frac - np.uint32(0x30303000)
    ok &= (z & np.uint32(0xF0F0F000)) == 0
    ok &= ((z + np.uint32(0x06060600)) & np.uint32(0xF0F0F000)) == 0
    ok &= (z & np.uint32(0xFF)) == 0x2E
    if not ok.all():
        return None
    # Pairs of digit bytes -> 10 * tens + ones in the low byte of each pair (no carries: bytes <= 10).
    # In-place arithmetic: fresh 8-byte temporaries per row cost more than the arithmetic itself.
    u, u4 = np.uint64, np.uint32
    v = x * u(10)
    v += x >> u(8)
    t = v >> u(24)
    t &= u(0xFF)  # minutes
    if t.max() > 59:
        return None  # let the general path report the bad line
    total = v & u(0xFF)  # hours
    total *= u(60)
    total += t
    total *= u(60)
    np.right_shift(v, u(48), out=t)
    t &= u(0xFF)  # seconds
    if t.max() > 60:
        return None
    total += t
    total *= u(1000)
    z >>= u4(8)  # the three millisecond digits
    q = z & u4(0xFF)
    q *= u4(100)
    total += q
    np.right_shift(z, u4(8), out=q)
    q &= u4(0xFF)
    q *= u4(10)
    total += q
    z >>= u4(16)
    total += z
    secs = total.astype(np.float64)
    secs /= 1000.0
    return secs


def _clock_split(arr: pa.Array, path: str, line_of) -> np.ndarray:
    parts = pc.split_pattern(pc.utf8_trim_whitespace(arr), ":")
    lens = pc.list_value_length(parts).to_numpy(zero_copy_only=False)
    if (lens != 3).any():
        i = int(np.flatnonzero(lens != 3)[0])
        raise DataError(path, f"line {line_of(i)}: clock {arr[i].as_py()!r} is not HH:MM:SS.fff")
    flat = pc.list_flatten(parts)
    try:
        num = pc.cast(flat, pa.float64()).to_numpy(zero_copy_only=False)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        cells = pd.Series(flat.to_numpy(zero_copy_only=False))
        num = pd.to_numeric(cells, errors="coerce").to_numpy(np.float64)
    hms = num.reshape(-1, 3)
    bad = np.isnan(hms).any(axis=1) | (hms[:, 1] >= 60) | (hms[:, 2] >= 61) | (hms < 0).any(axis=1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(path, f"line {line_of(i)}: clock {arr[i].as_py()!r} is not HH:MM:SS.fff")
    return hms[:, 0] * 3600.0 + hms[:, 1] * 60.0 + hms[:, 2]


def unwrap_midnight(clock: np.ndarray) -> np.ndarray:
    """Add 86,400 s after every backward step larger than 12 h (the clock passed midnight)."""
    if len(clock) < 2:
        return clock
    step = np.diff(clock)
    roll = step < -ROLLOVER_S
    if not roll.any():
        return clock
    add = np.concatenate([[0.0], np.cumsum(roll) * DAY_S])
    return clock + add


def _tag_codes(tag: pd.Series) -> tuple[np.ndarray, pd.Index]:
    """Segment ID per row as integer codes (-1 = untagged) and the code -> id index."""
    n = len(tag)
    if _is_num(tag):  # an all-empty 4th column
        return np.full(n, -1, dtype=np.int32), pd.Index([], dtype=object)
    try:
        arr = pa.array(tag.array)
    except (pa.ArrowInvalid, pa.ArrowTypeError):
        arr = pa.array(tag.astype(str).to_numpy(dtype=object))
    if isinstance(arr, pa.ChunkedArray):
        arr = arr.combine_chunks()
    arr = pc.fill_null(arr, "") if arr.null_count else arr
    # Tags come in runs of equal values: encode only the first row of each run, then repeat.
    same = pc.equal(arr.slice(1), arr.slice(0, n - 1)).to_numpy(zero_copy_only=False)
    starts = np.concatenate([[0], np.flatnonzero(~same) + 1])
    enc = pc.dictionary_encode(arr.take(pa.array(starts)))
    run_codes = enc.indices.to_numpy(zero_copy_only=False).astype(np.int32)
    cats = [str(c).strip() for c in enc.dictionary.to_pylist()]
    keep = np.array([c != "" for c in cats], dtype=bool)
    if not keep.all():  # the empty 4th field of untagged rows
        remap = np.where(keep, np.cumsum(keep) - 1, -1).astype(np.int32)
        run_codes = remap[run_codes]
        cats = [c for c, k in zip(cats, keep) if k]
    if len(set(cats)) != len(cats):  # e.g. "id" and " id" after stripping
        uniq, inv = np.unique(np.array(cats, dtype=object), return_inverse=True)
        run_codes = np.where(run_codes >= 0, inv[np.maximum(run_codes, 0)], -1).astype(np.int32)
        cats = list(uniq)
    codes = np.repeat(run_codes, np.diff(np.append(starts, n)))
    return codes, pd.Index(cats, dtype=object)


def infer_fs(elapsed: np.ndarray, path: str = "<elapsed>", step: np.ndarray | None = None) -> float:
    """Sampling rate from the elapsed counter: the median positive step gives the nominal step, the mean
    of the steps within 0.5x-1.5x of it refines it (robust to counters printed with few decimals).
    ``step`` may pass ``np.diff(elapsed)`` when already computed."""
    step = np.diff(elapsed) if step is None else step
    pos = step[step > 0]
    if pos.size == 0:
        raise DataError(path, "cannot infer the sampling rate: the elapsed column never increases")
    nominal = float(np.median(pos if pos.size <= 200_000 else pos[:: pos.size // 200_000 + 1]))
    near = pos[(pos > 0.5 * nominal) & (pos < 1.5 * nominal)]
    return round(1.0 / float(near.mean()), 6)


def contiguous_blocks(
    elapsed: np.ndarray, clock: np.ndarray, fs: float, max_gap_s: float = 1.0, steps=None
) -> np.ndarray:
    """Start/stop rows ``[[a, b), ...]`` of uninterrupted stretches: split where the elapsed counter does
    not advance by ~1/fs (reset, jump, repeat) or the clock steps back or jumps by more than ``max_gap_s``."""
    n = len(elapsed)
    if n == 0:
        return np.zeros((0, 2), dtype=np.int64)
    de, dc = (np.diff(elapsed), np.diff(clock)) if steps is None else steps
    dt = 1.0 / fs
    brk = (de < 0.5 * dt) | (de > 1.5 * dt) | (dc < 0) | (dc > max_gap_s)
    cuts = np.flatnonzero(brk) + 1
    starts = np.concatenate([[0], cuts])
    stops = np.concatenate([cuts, [n]])
    return np.stack([starts, stops], axis=1)


@dataclass
class Recording:
    """One participant's raw signal as arrays in file order."""

    path: str
    signal: str
    value: np.ndarray
    elapsed: np.ndarray
    clock: np.ndarray
    codes: np.ndarray  # int32 tag code per row, -1 untagged
    tags: pd.Index  # code -> Segment ID
    lines: np.ndarray | None  # 1-based line per row when blank lines were skipped, else None
    fs: float  # sampling rate used for the features (config override or inferred)
    counter_fs: float = 0.0  # rate implied by the elapsed counter (used to find contiguous stretches)

    def line(self, i: int) -> int:
        return int(self.lines[i]) if self.lines is not None else int(i) + 1

    @functools.cached_property
    def elapsed_step(self) -> np.ndarray:
        return np.diff(self.elapsed)

    @functools.cached_property
    def clock_step(self) -> np.ndarray:
        return np.diff(self.clock)

    def blocks(self) -> np.ndarray:
        """Contiguous stretches ``[[start, stop), ...]`` (see ``contiguous_blocks``)."""
        fs = self.counter_fs or self.fs
        return contiguous_blocks(self.elapsed, self.clock, fs, steps=(self.elapsed_step, self.clock_step))


def load_recording(path, signal: str, fs: float | None = None) -> Recording:
    """Read a raw file and infer its sampling rate (``fs`` overrides when given)."""
    value, elapsed, clock, codes, tags, rows = _read_arrays(path, signal)
    rec = Recording(
        path=str(path), signal=signal, value=value, elapsed=elapsed, clock=clock, codes=codes, tags=tags,
        lines=None if rows is None else rows + 1, fs=0.0,
    )
    rec.counter_fs = infer_fs(elapsed, str(path), rec.elapsed_step)
    rec.fs = float(fs) if fs else rec.counter_fs
    if fs and abs(rec.fs / rec.counter_fs - 1) > 0.01:
        log.warning("%s: configured fs %.3f Hz, but the elapsed counter implies %.3f Hz; using %.3f Hz",
                    path, rec.fs, rec.counter_fs, rec.fs)
    return rec


def align_segments(rec: Recording, segment_ids: Sequence[str]) -> pd.DataFrame:
    """Row ranges of each segment: ``DataFrame(segment_id, clock_lo, clock_hi, start, stop, reason)``.

    ``start``/``stop`` are file rows ``[start, stop)`` whose clock lies in the segment's tagged span;
    ``reason`` is "" when aligned, else ``no_segment_tags`` or ``clock_backwards`` (start = stop = -1).
    """
    ids = np.array(list(segment_ids), dtype=object)
    n_seg = ids.size
    res = {
        "segment_id": ids,
        "clock_lo": np.full(n_seg, np.nan),
        "clock_hi": np.full(n_seg, np.nan),
        "start": np.full(n_seg, -1, dtype=np.int64),
        "stop": np.full(n_seg, -1, dtype=np.int64),
        "reason": np.full(n_seg, "no_segment_tags", dtype=object),
    }
    out = lambda: pd.DataFrame(res)  # noqa: E731
    if n_seg == 0:
        return out()
    codes = rec.codes
    # Runs of equal codes; first and last tagged row per code over its runs.
    chg = np.flatnonzero(codes[1:] != codes[:-1]) + 1
    run_start = np.concatenate([[0], chg])
    run_stop = np.concatenate([chg, [codes.size]])
    run_code = codes[run_start]
    tagged_run = run_code >= 0
    if not tagged_run.any():
        log.warning("%s: no row carries a Segment ID tag; all %d segments are missing", rec.path, n_seg)
        return out()
    n_codes = len(rec.tags)
    first = np.full(n_codes, np.iinfo(np.int64).max, dtype=np.int64)
    last = np.full(n_codes, -1, dtype=np.int64)
    np.minimum.at(first, run_code[tagged_run], run_start[tagged_run])
    np.maximum.at(last, run_code[tagged_run], run_stop[tagged_run] - 1)

    seg_code = rec.tags.get_indexer(ids)
    has = seg_code >= 0
    if not has.any():
        log.warning("%s: none of the participant's %d segments is tagged in the file", rec.path, n_seg)
        return out()
    sc = seg_code[has].astype(np.int64)
    r0, r1 = first[sc], last[sc]
    clock = rec.clock
    lo, hi = clock[r0], clock[r1]

    back = np.flatnonzero(rec.clock_step < 0) + 1  # rows where the clock stepped back
    start = np.full(sc.size, -1, dtype=np.int64)
    stop = np.full(sc.size, -1, dtype=np.int64)
    reason = np.full(sc.size, "", dtype=object)
    if back.size == 0:
        start[:] = np.searchsorted(clock, lo, side="left")
        stop[:] = np.searchsorted(clock, hi, side="right")
    else:
        for b in back[:10]:
            log.warning(
                "%s: line %d: clock goes backwards (%.3f s -> %.3f s); segments overlapping it are excluded",
                rec.path, rec.line(b), clock[b - 1], clock[b],
            )
        if back.size > 10:
            log.warning("%s: %d more backward clock steps", rec.path, back.size - 10)
        bounds = np.concatenate([[0], back, [len(clock)]])
        run_of_row0 = np.searchsorted(back, r0, side="right")
        run_of_row1 = np.searchsorted(back, r1, side="right")
        run_lo = clock[bounds[:-1]]
        run_hi = clock[bounds[1:] - 1]
        for r in range(len(bounds) - 1):
            sel = np.flatnonzero(run_of_row0 == r)
            if sel.size == 0:
                continue
            a, b = bounds[r], bounds[r + 1]
            seg_lo, seg_hi = lo[sel], hi[sel]
            bad = run_of_row1[sel] != r
            others = np.arange(len(bounds) - 1) != r
            overlap = (seg_lo[:, None] <= run_hi[None, others]) & (seg_hi[:, None] >= run_lo[None, others])
            bad |= overlap.any(axis=1)
            start[sel] = a + np.searchsorted(clock[a:b], seg_lo, side="left")
            stop[sel] = a + np.searchsorted(clock[a:b], seg_hi, side="right")
            reason[sel[bad]] = "clock_backwards"
            start[sel[bad]] = -1
            stop[sel[bad]] = -1
    res["clock_lo"][has] = lo
    res["clock_hi"][has] = hi
    res["start"][has] = start
    res["stop"][has] = stop
    res["reason"][has] = reason
    bad = res["reason"] != ""
    if bad.any():
        names, counts = np.unique(res["reason"][bad].astype(str), return_counts=True)
        log.info("%s: %d of %d segments not aligned (%s)", rec.path, int(bad.sum()), n_seg,
                 dict(zip(names.tolist(), counts.tolist())))
    return out()


# ---------------------------------------------------------------------------------------------------
# Per-participant job


def participant_session(participant: str) -> tuple[str, str]:
    """``"Sess01F"`` -> ``("Session01", "F")``."""
    m = re.fullmatch(r"Sess(\d+)([FM])", participant)
    if not m:
        raise ValueError(f"participant {participant!r} is not of the form SessSS{{F|M}}")
    return f"Session{m.group(1)}", m.group(2)


def participant_segments(segments: pd.DataFrame, participant: str) -> list[str]:
    """The participant's own segments (their session and speaker letter), in segments.parquet order."""
    session, speaker = participant_session(participant)
    sel = (segments["session"] == session) & (segments["speaker"] == speaker)
    return segments.loc[sel, "segment_id"].astype(str).tolist()


def bio_relpath(signal: str, participant: str) -> str:
    """Raw file of one participant relative to the dataset root (``ECG/Session01/Original/Sess01F.csv``)."""
    session, _ = participant_session(participant)
    return f"{BIO_SIGNALS[signal]}/{session}/Original/{participant}.csv"


def resolve_raw(raw: Sequence[str], data_dir, signal: str, participant: str) -> Path | None:
    """The raw CSV to read, or None when it is missing.

    ``raw`` is the rule's input list: empty when the file is absent; a ``.csv`` path for a real dataset;
    otherwise a stand-in (e.g. the synthetic dataset's manifest), in which case the file is looked up
    under ``data_dir``.
    """
    raw = [str(r) for r in raw]
    if not raw:
        return None
    if raw[0].lower().endswith(".csv"):
        path = Path(raw[0])
    else:
        if data_dir is None:
            raise ValueError("data_dir is needed to locate the raw file")
        path = Path(data_dir) / bio_relpath(signal, participant)
    return path if path.is_file() else None


def signal_module(signal: str):
    _check_signal(signal)
    return importlib.import_module(f"{__package__}.{signal}")


def empty_features(signal: str, segment_ids: Sequence[str], settings: Mapping, reason: str) -> pd.DataFrame:
    """Every segment missing with one reason (features NaN)."""
    mod = signal_module(signal)
    n = len(segment_ids)
    df = pd.DataFrame({"segment_id": pd.Series(list(segment_ids), dtype=object)})
    for col in mod.feature_columns(settings):
        df[col] = np.full(n, np.nan)
    for col, val in mod.extra_columns(None, settings).items():
        df[col] = val
    df[f"{signal}_ok"] = np.zeros(n, dtype=bool)
    df[f"{signal}_reason"] = pd.Series([reason] * n, dtype=object)
    return df


def extract_participant(
    signal: str,
    participant: str,
    raw: Sequence[str],
    segments,
    settings: Mapping,
    data_dir=None,
) -> pd.DataFrame:
    """Features of one signal for one participant: one row per own segment in ``segments``.

    Columns: segment_id, the signal's feature columns, ``{signal}_ok`` (bool), ``{signal}_reason``
    ("" when ok). ``segments`` is segments.parquet (path or DataFrame).
    """
    mod = signal_module(signal)
    if not isinstance(segments, pd.DataFrame):
        segments = pd.read_parquet(segments, columns=["segment_id", "session", "speaker"])
    seg_ids = participant_segments(segments, participant)
    path = resolve_raw(raw, data_dir, signal, participant)
    if path is None:
        log.warning("%s %s: raw file %s is missing; all %d segments are missing", signal, participant,
                    bio_relpath(signal, participant), len(seg_ids))
        return empty_features(signal, seg_ids, settings, "file_missing")
    if not seg_ids:
        log.info("%s: the participant has no segments", path)
        return empty_features(signal, seg_ids, settings, "")
    rec = load_recording(path, signal, settings.get("fs"))
    spans = align_segments(rec, seg_ids)
    feats, reason = mod.compute(rec, spans, settings)
    span_reason = spans["reason"].to_numpy()
    reason = np.where(span_reason != "", span_reason, reason).astype(object)
    cols = {"segment_id": spans["segment_id"].to_numpy()}
    cols.update({c: feats[c].to_numpy() for c in feats.columns})
    cols.update(mod.extra_columns(rec, settings))
    cols[f"{signal}_ok"] = reason == ""
    cols[f"{signal}_reason"] = reason
    df = pd.DataFrame(cols)
    n_ok = int(df[f"{signal}_ok"].sum())
    log.info("%s: %d of %d segments usable (fs %.3f Hz)", path, n_ok, len(df), rec.fs)
    return df


def segment_matrices(
    start: np.ndarray, stop: np.ndarray, arrays: Sequence[np.ndarray], max_cells: int = 2_000_000
):
    """Yield ``(rows, mask, lengths, mats)`` for the row ranges ``[start, stop)`` padded into 2-D arrays,
    one matrix per array in ``arrays``.

    ``rows`` indexes into ``start``/``stop``; segments are grouped by length so that no chunk holds more
    than ``max_cells`` cells (one very long segment cannot blow up memory). Padded cells are 0 and
    ``mask`` is False there.
    """
    start = np.asarray(start, dtype=np.int64)
    lengths = np.asarray(stop, dtype=np.int64) - start
    order = np.argsort(lengths, kind="stable")
    i = 0
    while i < order.size:
        j = i + 1
        while j < order.size and (j + 1 - i) * lengths[order[j]] <= max_cells:
            j += 1
        rows = order[i:j]
        ln = lengths[rows]
        width = max(int(ln.max()), 1)
        cols = np.arange(width)
        mask = cols[None, :] < ln[:, None]
        idx = np.where(mask, start[rows][:, None] + cols[None, :], 0)
        yield rows, mask, ln, [np.where(mask, a[idx], 0.0) for a in arrays]
        i = j
