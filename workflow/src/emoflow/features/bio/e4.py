"""Reading a KEMDy20 bio file (an Empatica E4 export, one per user and script) into a ``Recording``.

Formats (``{EDA,TEMP,IBI}/SessionSS/SessSS_scriptNN_UserNNN{M|F}.csv``, comma-separated, LF or CRLF;
timestamps ``YYYY-MMDD-HHMM-SS-mmm``, e.g. ``2020-0821-1123-34-250``):

* EDA, TEMP: line 1 ``unix_start,timestamp`` (the E4's start), line 2 ``<rate>,hz`` (``4.000000,hz``),
  then rows ``value,timestamp[,SegID]``. There is no elapsed column: the rate is line 2's, and
  ``elapsed`` is the time since the start of line 1 (used only to find contiguous stretches).
* IBI: one header line ``unix_start,IBI,timestamp``, then rows ``t_since_start,ibi_seconds,timestamp[,SegID]``:
  one row per detected beat (irregular, beats the device could not detect are absent). ``value`` is
  the interval in seconds, ``elapsed`` the time since the start; the rate is undefined (``fs`` NaN).

Each file is tagged with its own user's segment ids only. ``clock`` is seconds since midnight of the
first row's date (the date is in the timestamp, so no rollover needs unwrapping). A file with the header
only, or with no bytes, has no data rows (``recording.empty_file_reason``). Bad values or timestamps raise
DataError naming the file and line.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from ...errors import DataError
from .base import Recording

log = logging.getLogger(__name__)

TIMESTAMP_FORMAT = "%Y-%m%d-%H%M-%S-%f"
#: header kind -> (header lines, data columns)
KINDS = {
    "sampled": (2, ["value", "ts", "tag"]),
    "ibi": (1, ["elapsed", "value", "ts", "tag"]),
}


def header_kind(lines: list[str]) -> str | None:
    """``"sampled"`` (EDA/TEMP: a ``<rate>,hz`` line 2), ``"ibi"`` (an ``...,IBI,...`` line 1) or None (no
    E4 header: a KEMDy19 file) from the first non-blank lines of a file."""
    if not lines:
        return None
    first = [c.strip() for c in lines[0].split(",")]
    if len(first) >= 2 and first[1].upper() == "IBI":
        return "ibi"
    if len(lines) >= 2:
        second = [c.strip() for c in lines[1].split(",")]
        if len(second) == 2 and second[1].lower() == "hz":
            return "sampled"
    return None


def sniff(path) -> str | None:
    """The E4 header kind of a file (``header_kind``), reading only its start."""
    with open(path, "rb") as fh:
        head = fh.read(512).decode("latin-1")
    return header_kind([ln for ln in head.splitlines() if ln.strip()][:2])


def parse_timestamps(ts: pd.Series, path: str, first_line: int) -> np.ndarray:
    """``YYYY-MMDD-HHMM-SS-mmm`` -> seconds since midnight of the first timestamp's date."""
    dt = pd.to_datetime(ts.astype(str).str.strip(), format=TIMESTAMP_FORMAT, errors="coerce")
    bad = dt.isna().to_numpy()
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise DataError(path, f"line {first_line + i}: timestamp {ts.iloc[i]!r} is not YYYY-MMDD-HHMM-SS-mmm")
    midnight = dt.iloc[0].normalize()
    return ((dt - midnight).dt.total_seconds()).to_numpy(dtype=np.float64)


def _header_fields(path: str, kind: str) -> tuple[float | None, str]:
    """``(rate, start timestamp)`` from the header line(s); the rate is None for IBI."""
    with open(path, encoding="latin-1") as fh:
        lines = [fh.readline().strip(), fh.readline().strip()]
    start_ts = lines[0].split(",")[-1].strip()
    if kind != "sampled":
        return None, start_ts
    try:
        rate = float(lines[1].split(",")[0])
    except ValueError:
        raise DataError(path, f"line 2: the sampling rate {lines[1]!r} is not '<rate>,hz'") from None
    if not np.isfinite(rate) or rate <= 0:
        raise DataError(path, f"line 2: sampling rate {rate} Hz is not positive")
    return rate, start_ts


def _read_rows(path: str, kind: str) -> tuple[pd.DataFrame, int]:
    skip, names = KINDS[kind]
    try:
        df = pd.read_csv(path, header=None, names=names, skiprows=skip, dtype=str, na_filter=False,
                         skip_blank_lines=False, engine="c")
    except pd.errors.ParserError:
        raise DataError(path, f"a row has more than {len(names)} comma-separated fields") from None
    except pd.errors.EmptyDataError:
        raise DataError(path, "file has no data rows after its header") from None
    line = pd.Series(np.arange(len(df)) + skip + 1)
    blank = (df.apply(lambda c: c.str.strip()) == "").all(axis=1).to_numpy()
    df, line = df[~blank].reset_index(drop=True), line[~blank].reset_index(drop=True)
    if df.empty:
        raise DataError(path, "file has no data rows after its header")
    return df, line.to_numpy(dtype=np.int64)


def _numbers(col: pd.Series, path: str, what: str, lines: np.ndarray) -> np.ndarray:
    arr = pd.to_numeric(col.str.strip(), errors="coerce").to_numpy(dtype=np.float64)
    bad = ~np.isfinite(arr)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        cell = col.iloc[i]
        shown = "empty" if not cell.strip() else repr(cell)
        raise DataError(path, f"line {lines[i]}: {what} field is not a number ({shown})")
    return arr


def _tags(tag: pd.Series) -> tuple[np.ndarray, pd.Index]:
    codes, uniques = pd.factorize(tag.str.strip().replace("", np.nan), sort=False)
    return codes.astype(np.int32), pd.Index(list(uniques), dtype=object)


def load_e4(path, signal: str, fs: float | None = None, kind: str | None = None) -> Recording:
    """Read a KEMDy20 E4 file into a ``Recording`` (module docstring). ``fs`` overrides the header's rate
    (EDA/TEMP); an IBI file has ``fs`` NaN. DataError for a header that does not fit the signal."""
    path = str(path)
    kind = kind or sniff(path)
    if kind is None:
        raise DataError(path, "no E4 header (line 1 'unix_start,timestamp' and line 2 '<rate>,hz', or "
                              "'unix_start,IBI,timestamp')")
    if (kind == "ibi") != (signal == "ibi"):
        want = "'unix_start,IBI,timestamp'" if signal == "ibi" else "'unix_start,timestamp' + '<rate>,hz'"
        raise DataError(path, f"the header is an E4 {'IBI' if kind == 'ibi' else 'sampled-signal'} header, "
                              f"but a {signal.upper()} file starts with {want}")
    rate, start_ts = _header_fields(path, kind)
    df, lines = _read_rows(path, kind)
    value = _numbers(df["value"], path, "value", lines)
    clock = parse_timestamps(df["ts"], path, int(lines[0]))
    first_date = pd.to_datetime(df["ts"].iloc[0].strip(), format=TIMESTAMP_FORMAT).normalize()
    start = pd.to_datetime(start_ts, format=TIMESTAMP_FORMAT, errors="coerce")
    start_s = (start - first_date).total_seconds() if not pd.isna(start) else clock[0]
    elapsed = (_numbers(df["elapsed"], path, "t_since_start", lines) if kind == "ibi" else clock - start_s)
    codes, tags = _tags(df["tag"])
    rec = Recording(path=path, signal=signal, value=value, elapsed=elapsed, clock=clock, codes=codes, tags=tags,
                    lines=lines, fs=float("nan"))
    if kind == "sampled":
        rec.counter_fs = float(rate)
        rec.fs = float(fs) if fs else float(rate)
    else:
        log.info("%s: %d beats (IBI rows), %d tagged", path, len(value), int((codes >= 0).sum()))
    return rec
