"""Reading a KEMDy19 bio-signal file into a ``Recording``.

Raw format (one file per participant and signal, ``{ECG,EDA,TEMP}/SessionSS/Original/SessSS{F|M}.csv``):
no header, comma-separated, LF or CRLF, 3 or 4 fields per row. EDA and TEMP rows are
``value,elapsed,clock[,SegID]``; ECG rows are ``elapsed,value,clock[,SegID]`` (the value is the SECOND
field; each signal module says which in ``FIELDS``). ``clock`` is the wall-clock time ``HH:MM:SS.fff``;
``elapsed`` counts seconds since the start of the current device recording and resets to ~0 between
recordings and jumps across dropouts, so it is used only to infer the sampling rate and to find
contiguous stretches, never to align segments.

A step back of the clock of more than 12 h is a day rollover past midnight: 86,400 s are added from that
row on (``unwrap_midnight``). Other backward steps are kept as they are; ``align`` deals with them.

Two rates are known for every file: ``counter_fs`` from the elapsed column (``infer_fs``) and ``clock_fs``,
the rows over the clock span of the continuous stretches (``clock_rate``); both are logged. A device that
stamps its samples in packets would fool the first one; the ECG module compares them (``ecg.check_rate``).

KEMDy20 files (an E4 export: a header with the start time and the rate) are read by ``e4``;
``load_recording`` tells them apart by their header.

A file without data rows (no bytes, only blank lines, or a single header line) is not read:
``empty_file_reason`` says so, and the job counts the participant's segments missing (``file_empty``).
"""

from __future__ import annotations

import logging
import re

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from ...errors import DataError
from . import e4, registry
from .base import Recording

log = logging.getLogger(__name__)

DAY_S = 86400.0
ROLLOVER_S = 43200.0  # a backward step larger than this is a day rollover
_NAMES = ["f0", "f1", "clock", "tag"]
MIN_SPAN_S = 2.0  # shortest continuous stretch that ``clock_rate`` counts
HEAD_PROBE_BYTES = 4096  # a file larger than this is not a header alone


def _read_table(path: str) -> pd.DataFrame:
    """The file as four string-or-number columns (``_NAMES``); DataError when empty or too wide."""
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
    return df


def _blank_rows(df: pd.DataFrame, path: str) -> np.ndarray | None:
    """Mask of the blank lines, or None when there are none."""
    if _is_num(df["f0"]) and _is_num(df["f1"]):
        return None
    blank = ((df["f0"].astype(str) == "") & (df["f1"].astype(str) == "") & (df["clock"].astype(str) == "")
             & (df["tag"].astype(str) == "")).to_numpy()
    if blank.all():
        raise DataError(path, "file has no data rows")
    return blank if blank.any() else None


def _read_arrays(path, signal: str):
    """The parsed columns as arrays: ``(value, elapsed, clock_s, tag_codes, tag_names, rows)``; ``rows`` is
    None, or the 0-based file row of each kept row when blank lines were skipped."""
    first, second = registry.load(signal).FIELDS
    path = str(path)
    df = _read_table(path)
    cols = {first: df["f0"], second: df["f1"]}
    blank = _blank_rows(df, path)
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



def _fixed_width_fields(arr: pa.Array) -> tuple[np.ndarray, np.ndarray] | None:
    """The 8 ``HH:MM:SS`` bytes and 4 ``.fff`` bytes of each row read as integers, or None when the
    strings are not all exactly 12 bytes long."""
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
    return hms, frac


def _fixed_width_digits(hms: np.ndarray, frac: np.ndarray) -> tuple[np.ndarray, np.ndarray] | None:
    """The bytes minus ``'0'`` (checked digit by digit in parallel), or None when a row is not
    ``HH:MM:SS.fff``."""
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
    return x, z


def _fixed_width_seconds(x: np.ndarray, z: np.ndarray) -> np.ndarray | None:
    """Seconds from the digit bytes of ``_fixed_width_digits`` (None for minutes > 59 or seconds > 60)."""
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


def _clock_fixed_width(arr: pa.Array) -> np.ndarray | None:
    """Decode ``HH:MM:SS.fff`` straight from the Arrow buffers; None when the strings are not all in
    exactly that form."""
    fields = _fixed_width_fields(arr)
    digits = None if fields is None else _fixed_width_digits(*fields)
    return None if digits is None else _fixed_width_seconds(*digits)


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



def clock_rate(elapsed: np.ndarray, clock: np.ndarray, max_gap_s: float = 1.0, min_span_s: float = MIN_SPAN_S,
               steps: tuple[np.ndarray, np.ndarray] | None = None) -> float:
    """Rows per second of clock time, independent of the elapsed counter's step: ``(rows - 1) / span``
    summed over the continuous stretches (split where the elapsed counter or the clock steps back, or the
    clock jumps by more than ``max_gap_s``); stretches shorter than ``min_span_s`` are left out (a clock
    stamped per packet is off by at most one packet per stretch). NaN when no stretch is long enough.
    ``steps`` may pass ``(np.diff(elapsed), np.diff(clock))`` when already computed."""
    n = len(clock)
    if n < 2:
        return float("nan")
    de, dc = (np.diff(elapsed), np.diff(clock)) if steps is None else steps
    cuts = np.flatnonzero((de < 0) | (dc < 0) | (dc > max_gap_s)) + 1
    starts = np.concatenate([[0], cuts])
    stops = np.concatenate([cuts, [n]])
    span = clock[stops - 1] - clock[starts]
    use = span >= min_span_s
    if not use.any():
        return float("nan")
    return round(float((stops - starts - 1)[use].sum() / span[use].sum()), 6)


def empty_file_reason(path) -> str | None:
    """Why a raw file holds no samples (``"it is empty"``, ``"it has only a header line"``), or None when
    it has data rows (or more than a few KiB, i.e. it is not a header alone). Reads only the file's start.
    A header line is a single non-blank line whose first two fields are not both numbers."""
    with open(path, "rb") as fh:
        head = fh.read(HEAD_PROBE_BYTES + 1)
    if len(head) > HEAD_PROBE_BYTES:
        return None
    lines = [ln.strip() for ln in head.decode("latin-1").splitlines() if ln.strip()]
    if not lines:
        return "it is empty" if not head else "it has only blank lines"
    if len(lines) == 2 and e4.header_kind(lines) == "sampled":
        return "it has only the E4 header"
    if len(lines) > 1:
        return None
    fields = lines[0].split(",")
    if len(fields) >= 3 and all(_is_number(f) for f in fields[:2]):
        return None  # one data row: read normally
    return "it has only a header line"


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def load_recording(path, signal: str, fs: float | None = None) -> Recording:
    """Read a raw file and infer its sampling rate (``fs`` overrides when given); logs the rate of the
    elapsed counter and the rate of the rows over the clock span."""
    kind = e4.sniff(path)
    if kind is not None:  # a KEMDy20 file (E4 export with a header): the rate is in the header
        rec = e4.load_e4(path, signal, fs, kind)
        if kind == "sampled":
            rec.clock_fs = clock_rate(rec.elapsed, rec.clock, steps=(rec.elapsed_step, rec.clock_step))
            log.info("%s: %.3f Hz from the header, %.3f Hz from the rows over the clock span; using %.3f Hz%s",
                     path, rec.counter_fs, rec.clock_fs, rec.fs, " (configured)" if fs else "")
        return rec
    value, elapsed, clock, codes, tags, rows = _read_arrays(path, signal)
    rec = Recording(
        path=str(path), signal=signal, value=value, elapsed=elapsed, clock=clock, codes=codes, tags=tags,
        lines=None if rows is None else rows + 1, fs=0.0,
    )
    rec.counter_fs = infer_fs(elapsed, str(path), rec.elapsed_step)
    rec.clock_fs = clock_rate(elapsed, clock, steps=(rec.elapsed_step, rec.clock_step))
    rec.fs = float(fs) if fs else rec.counter_fs
    log.info("%s: %.3f Hz from the elapsed counter, %.3f Hz from the rows over the clock span; using %.3f Hz%s",
             path, rec.counter_fs, rec.clock_fs, rec.fs, " (configured)" if fs else "")
    if fs and abs(rec.fs / rec.counter_fs - 1) > 0.01:
        log.warning("%s: configured fs %.3f Hz, but the elapsed counter implies %.3f Hz; using %.3f Hz",
                    path, rec.fs, rec.counter_fs, rec.fs)
    return rec
