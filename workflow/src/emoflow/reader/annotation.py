"""Reading one annotation file with two header rows, for either dataset's columns (a ``Layout``).

Both datasets write two header rows: the first names a column group (``Wav``, ``Total Evaluation``,
``Eval01F`` ...) once over its sub-columns, the second names the sub-columns (``start``, ``Emotion`` ...).
Empty header cells are empty (KEMDy19) or a single space (KEMDy20); names match case-insensitively
(``Wav`` / ``WAV``). CRLF or LF, optional BOM. Only the fields the index uses are parsed as numbers.
"""

from __future__ import annotations

import csv
import io
import logging
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..errors import DataError
from ..io import decode_text

log = logging.getLogger(__name__)

_INT_RE = re.compile(r"\d+(\.0*)?")
_BASE_HEADER_WORDS = {"numb", "wav", "start", "end", "segment id", "total evaluation", "emotion", "valence",
                      "arousal"}


@dataclass(frozen=True)
class Layout:
    """The columns of one dataset's annotation files.

    ``fields``: (output name, accepted first-header names (lower case), second-header name or "" for a
    single column); ``display``: first-header name -> as the dataset writes it (error messages);
    ``numeric``: the fields parsed as numbers (a non-numeric value there is a DataError); ``unused``: text
    fields whose non-numeric cells are only counted in the log.
    """

    name: str
    width: int
    fields: tuple
    display: dict
    numeric: tuple = ("numb", "wav_start", "wav_end", "valence", "arousal")
    unused: tuple = ()
    extra_header_words: frozenset = frozenset()

    @property
    def header_words(self) -> set[str]:
        return _BASE_HEADER_WORDS | set(self.extra_header_words)


def _norm(cell: str) -> str:
    return " ".join(cell.split()).lower()


def _is_header_like(row: list[str], layout: Layout) -> bool:
    cells = {_norm(c) for c in row}
    return bool(cells & layout.header_words) or any(c.startswith("eval") for c in cells)


def _read_rows(path: Path) -> list[tuple[int, list[str]]]:
    """The non-blank CSV rows of the file as ``(line number, cells)``; at least two (the headers)."""
    if not path.is_file():
        raise DataError(path, "annotation file not found")
    text, _ = decode_text(path.read_bytes(), path, what="annotation file")
    rows: list[tuple[int, list[str]]] = []
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        for row in reader:
            rows.append((reader.line_num, row))
    except csv.Error as exc:
        raise DataError(path, f"line {reader.line_num}: malformed CSV ({exc})") from None
    rows = [(n, r) for n, r in rows if r]  # blank lines
    if len(rows) < 2:
        raise DataError(path, f"expected 2 header rows, the file has only {len(rows)} non-blank line(s)")
    return rows


def _header(path: Path, rows: list[tuple[int, list[str]]], layout: Layout):
    """``(top, tops, subs)``: the first header row as written, and both header rows normalised with the
    first-row names carried over their sub-columns (all as wide as the first row)."""
    (n1, top), (n2, sub) = rows[0], rows[1]
    if "numb" not in {_norm(c) for c in top}:
        raise DataError(path, f"line {n1} is not the {layout.name} header: missing column 'Numb'")
    if sub and _INT_RE.fullmatch(sub[0].strip()):
        raise DataError(path, f"expected 2 header rows, found 1 (line {n2} is already data)")
    width = len(top)
    if len(sub) < width:
        sub = sub + [""] * (width - len(sub))
    elif len(sub) > width:
        if any(c.strip() for c in sub[width:]):
            raise DataError(path, f"the header rows differ in width ({width} and {len(sub)} fields)")
        sub = sub[:width]
    if width != layout.width:
        log.warning("%s: %d columns (%s has %d); reading by header names", path, width, layout.name, layout.width)
    # First-header names are written once over their sub-columns: carry them to the right.
    tops, current = [], ""
    for cell in top:
        if cell.strip():
            current = _norm(cell)
        tops.append(current)
    return top, tops, [_norm(c) for c in sub]


def shown(layout: Layout, accepted, subname: str) -> str:
    """A field's column as the dataset names it, e.g. ``Total Evaluation/Valence``."""
    return layout.display[accepted[0]] + (f"/{subname.capitalize()}" if subname else "")


def _field_column(path: Path, layout: Layout, header, accepted, subname: str) -> int:
    """The column of one field; DataError when it is missing or repeated."""
    top, tops, subs = header
    hits = [i for i, (t, s) in enumerate(zip(tops, subs)) if t in accepted and (not subname or s == subname)]
    name = shown(layout, accepted, subname)
    if not hits:
        raise DataError(path, f"missing column '{name}'")
    if not subname:
        # single-cell columns (Numb, Segment ID): the first cell of that header
        firsts = [i for i in hits if top[i].strip()]
        if len(firsts) > 1:
            raise DataError(path, f"column '{name}' appears {len(firsts)} times in the header")
        hits = firsts or hits
    elif len(hits) > 1:
        raise DataError(path, f"column '{name}' appears {len(hits)} times in the header")
    return hits[0]


def _columns(path: Path, layout: Layout, header) -> tuple[dict, dict]:
    """``(field -> column, rater column name -> column)``."""
    _top, tops, subs = header
    col_of = {name: _field_column(path, layout, header, accepted, subname)
              for name, accepted, subname in layout.fields}
    rater_cols = {
        f"{t.replace(' ', '_')}_{s}": i
        for i, (t, s) in enumerate(zip(tops, subs))
        if t.startswith("eval") and s in ("emotion", "valence", "arousal")
    }
    return col_of, rater_cols


def _data_rows(path: Path, rows: list[tuple[int, list[str]]], width: int, layout: Layout):
    """``(cells, line numbers, data row numbers)`` of the data rows (empty rows skipped)."""
    data: list[list[str]] = []
    lines: list[int] = []
    row_no: list[int] = []
    n_blank = 0
    for k, (n, row) in enumerate(rows[2:], start=1):
        first = row[0].strip() if row else ""
        if not _INT_RE.fullmatch(first):
            if _is_header_like(row, layout):
                which = "a third" if k == 1 else "another"
                raise DataError(path, f"expected 2 header rows, found {which} header-like row at line {n}")
            if not any(c.strip() for c in row):
                n_blank += 1
                continue
        if len(row) != width:
            if len(row) > width and not any(c.strip() for c in row[width:]):
                row = row[:width]
            else:
                raise DataError(path, f"data row {k} (line {n}): {len(row)} fields, expected {width}")
        if not first:
            raise DataError(path, f"data row {k} (line {n}): empty Numb")
        if not _INT_RE.fullmatch(first):
            raise DataError(path, f"non-numeric Numb {first!r} at data row {k} (line {n})")
        data.append(row)
        lines.append(n)
        row_no.append(k)
    if n_blank:
        log.info("%s: skipped %d row(s) with only empty cells", path, n_blank)
    return data, lines, row_no


def _log_unused_text(path: Path, out: pd.DataFrame, layout: Layout) -> None:
    """Log how many cells of the unused columns are neither empty nor a number (read as text)."""
    n = 0
    for name in layout.unused:
        cells = out[name]
        n += int((pd.to_numeric(cells.replace("", np.nan), errors="coerce").isna() & (cells != "")).sum())
    if n:
        log.info("%s: %d non-numeric value(s) in the unused ECG/E4-EDA/E4-TEMP start/end columns "
                 "(read as text, not used)", path, n)


def _numbers(path: Path, layout: Layout, name: str, raw: pd.Series, lines, row_no) -> pd.Series:
    num = pd.to_numeric(raw.replace("", np.nan), errors="coerce")
    bad = num.isna() & (raw != "")
    if bad.any():
        j = int(np.flatnonzero(bad.to_numpy())[0])
        what = "Numb" if name == "numb" else name.replace("_", " ")
        column = next(shown(layout, a, sub) for f, a, sub in layout.fields if f == name)
        raise DataError(path, f"non-numeric {what} {raw.iloc[j]!r} at data row {row_no[j]} "
                              f"(line {lines[j]}) in column '{column}'")
    return num.astype(np.float64)


def _frame(path: Path, layout: Layout, data, lines, row_no, col_of: dict, rater_cols: dict) -> pd.DataFrame:
    """The data rows as typed columns; DataError for a non-numeric used number or a repeated Numb."""
    out = pd.DataFrame({"line": np.asarray(lines, dtype=np.int64)})
    for name, idx in col_of.items():
        raw = pd.Series([r[idx].strip() for r in data], dtype=object)
        out[name] = (_numbers(path, layout, name, raw, lines, row_no) if name in layout.numeric
                     else raw.astype(str))
    out["numb"] = out["numb"].astype(np.int64)
    _log_unused_text(path, out, layout)
    for name, idx in rater_cols.items():
        out[name] = pd.Series([r[idx].strip() for r in data], dtype=object).astype(str)
    dup = out["numb"].duplicated(keep=False)
    if dup.any():
        n = int(out.loc[dup, "numb"].iloc[0])
        at = out.loc[out["numb"] == n, "line"].tolist()
        raise DataError(path, f"Numb {n} appears on several rows (lines {', '.join(map(str, at))})")
    return out[[f[0] for f in layout.fields] + ["line"] + list(rater_cols)]


def read_with_layout(path, layout: Layout) -> pd.DataFrame:
    """One annotation file -> one row per data line: the layout's fields (numbers as float64, ``numb`` as
    int, the rest as stripped text), ``line`` (1-based line in the file) and the raters' raw cells as
    ``{rater}_{emotion|valence|arousal}`` strings (not validated). Raises DataError naming the file for a
    missing column, a missing or extra header row, a short row, a non-numeric used number (with its data
    row, line and column) or a repeated Numb."""
    path = Path(path)
    rows = _read_rows(path)
    header = _header(path, rows, layout)
    col_of, rater_cols = _columns(path, layout, header)
    data, lines, row_no = _data_rows(path, rows, len(header[0]), layout)
    return _frame(path, layout, data, lines, row_no, col_of, rater_cols)
