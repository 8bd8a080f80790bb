"""KEMDy19 reader: annotation files, the speaker-perspective segment index and its exclusions.

A session has two annotation files, ``annotation/SessionSS_F_res.csv`` and ``SessionSS_M_res.csv``.
Both list every utterance of the session (same ``Numb``, same wav times, same Segment IDs); the file's
gender says whose emotion was rated. The index keeps each utterance once, labelled from its own
speaker's file (the speaker's perspective), and writes every utterance it leaves out, with a reason,
to the exclusion table.

Exclusion reasons (column ``reason`` of the exclusion table; ``detail`` says more):

``unpaired``
    the ``Numb`` row exists in only one of the two files of the session.
``id_mismatch``
    the F and M files give different Segment IDs for the same ``Numb`` (which utterance the row
    describes is ambiguous). One exclusion per id of the pair that is not a valid utterance elsewhere.
``bad_segment_id``
    the id does not match ``SessSS_{script|impro}DD_{M|F}NNN`` or names another session.
``duplicate_segment_id``
    the same id on several rows of the session with different times or labels: every copy is
    excluded. Identical copies (same times, label, valence and arousal) are one utterance listed twice;
    one copy is kept and the collapse is counted in the summary.
``missing_wav`` / ``missing_txt`` / ``unreadable_txt``
    the media files ``wav/SessionSS/SessSS_{dialogue}/{id}.wav|.txt`` are absent or undecodable.
``missing_label`` / ``unknown_label``
    the Total Evaluation emotion is empty, or (after aliases such as ``disqust``) not one of the seven.
``tie``
    a tied label such as ``neutral;happy`` under ``tie_policy: drop``.

An empty transcript is kept with text ``""`` (counted in the summary; the text stage handles it).
"""

from __future__ import annotations

import csv
import io
import logging
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from .constants import CLASS_INDEX, EMOTIONS, KEMDY19_TIE_ORDER, LABEL_ALIASES
from .errors import DataError
from .io import decode_text, read_transcript
from .split import assign_folds, fold_tested, fold_view, split_summary

log = logging.getLogger(__name__)

SEGMENT_COLUMNS = [
    "segment_id", "session", "dialogue", "speaker", "wav_path", "txt_path", "text",
    "start", "end", "emotion", "emotion_raw", "valence", "arousal",
]
EXCLUDED_COLUMNS = ["segment_id", "session", "reason", "detail"]
TIE_POLICIES = ("first", "drop", "rarest")
GENDERS = ("F", "M")

SEGMENT_ID_RE = re.compile(r"Sess(\d+)_(script|impro)(\d+)_([MF])(\d+)")

# (output name, accepted first-header names (lower case), second-header name or "" for a single column)
_FIELDS = [
    ("numb", ("numb",), ""),
    ("wav_start", ("wav",), "start"),
    ("wav_end", ("wav",), "end"),
    ("ecg_start", ("ecg",), "start"),
    ("ecg_end", ("ecg",), "end"),
    ("eda_start", ("e4-eda", "eda"), "start"),
    ("eda_end", ("e4-eda", "eda"), "end"),
    ("temp_start", ("e4-temp", "temp"), "start"),
    ("temp_end", ("e4-temp", "temp"), "end"),
    ("segment_id", ("segment id",), ""),
    ("emotion_raw", ("total evaluation",), "emotion"),
    ("valence", ("total evaluation",), "valence"),
    ("arousal", ("total evaluation",), "arousal"),
]
# How the columns are named in error messages (as KEMDy19 writes them).
_DISPLAY = {
    "numb": "Numb", "wav": "Wav", "ecg": "ECG", "e4-eda": "E4-EDA", "e4-temp": "E4-TEMP",
    "segment id": "Segment ID", "total evaluation": "Total Evaluation",
}
# The fields the index uses as numbers: a non-numeric value there is a DataError. Every other field is
# read as text. The ECG/E4-EDA/E4-TEMP start/end values are not used (they disagree with the tagged
# samples of the signal files in 20-65% of rows), so a non-numeric value there never stops a run.
_NUMERIC_FIELDS = ("numb", "wav_start", "wav_end", "valence", "arousal")
_UNUSED_FIELDS = ("ecg_start", "ecg_end", "eda_start", "eda_end", "temp_start", "temp_end")
_HEADER_WORDS = {"numb", "wav", "start", "end", "ecg", "e4-eda", "e4-temp", "eda", "temp", "segment id",
                 "total evaluation", "emotion", "valence", "arousal"}
_INT_RE = re.compile(r"\d+(\.0*)?")
EXPECTED_WIDTH = 43


def _norm(cell: str) -> str:
    return " ".join(cell.split()).lower()


def _is_header_like(row: list[str]) -> bool:
    cells = {_norm(c) for c in row}
    return bool(cells & _HEADER_WORDS) or any(c.startswith("eval") for c in cells)


# ---------------------------------------------------------------------------------------------------
# One annotation file


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


def _header(path: Path, rows: list[tuple[int, list[str]]]) -> tuple[list[str], list[str], list[str]]:
    """``(top, tops, subs)``: the first header row as written, and both header rows normalised with the
    first-row names carried over their sub-columns (all as wide as the first row)."""
    (n1, top), (n2, sub) = rows[0], rows[1]
    if "numb" not in {_norm(c) for c in top}:
        raise DataError(path, f"line {n1} is not the KEMDy19 header: missing column 'Numb'")
    if sub and _INT_RE.fullmatch(sub[0].strip()):
        raise DataError(path, f"expected 2 header rows, found 1 (line {n2} is already data)")
    width = len(top)
    if len(sub) < width:
        sub = sub + [""] * (width - len(sub))
    elif len(sub) > width:
        if any(c.strip() for c in sub[width:]):
            raise DataError(path, f"the header rows differ in width ({width} and {len(sub)} fields)")
        sub = sub[:width]
    if width != EXPECTED_WIDTH:
        log.warning("%s: %d columns (KEMDy19 has %d); reading by header names", path, width, EXPECTED_WIDTH)
    # First-header names are written once over their sub-columns: carry them to the right.
    tops, current = [], ""
    for cell in top:
        if cell.strip():
            current = _norm(cell)
        tops.append(current)
    return top, tops, [_norm(c) for c in sub]


def _shown(accepted, subname: str) -> str:
    """A ``_FIELDS`` column as KEMDy19 names it, e.g. ``Total Evaluation/Valence``."""
    return _DISPLAY[accepted[0]] + (f"/{subname.capitalize()}" if subname else "")


def _field_column(path: Path, top: list[str], tops: list[str], subs: list[str], accepted,
                  subname: str) -> int:
    """The column of one ``_FIELDS`` entry; DataError when it is missing or repeated."""
    hits = [i for i, (t, s) in enumerate(zip(tops, subs)) if t in accepted and (not subname or s == subname)]
    shown = _shown(accepted, subname)
    if not hits:
        raise DataError(path, f"missing column '{shown}'")
    if not subname:
        # single-cell columns (Numb, Segment ID): the first cell of that header
        firsts = [i for i in hits if top[i].strip()]
        if len(firsts) > 1:
            raise DataError(path, f"column '{shown}' appears {len(firsts)} times in the header")
        hits = firsts or hits
    elif len(hits) > 1:
        raise DataError(path, f"column '{shown}' appears {len(hits)} times in the header")
    return hits[0]


def _columns(path: Path, top: list[str], tops: list[str], subs: list[str]) -> tuple[dict, dict]:
    """``(field -> column, rater column name -> column)``."""
    col_of = {name: _field_column(path, top, tops, subs, accepted, subname)
              for name, accepted, subname in _FIELDS}
    rater_cols = {
        f"{t.replace(' ', '_')}_{s}": i
        for i, (t, s) in enumerate(zip(tops, subs))
        if t.startswith("eval") and s in ("emotion", "valence", "arousal")
    }
    return col_of, rater_cols


def _data_rows(path: Path, rows: list[tuple[int, list[str]]], width: int):
    """``(cells, line numbers, data row numbers)`` of the data rows (empty rows skipped)."""
    data: list[list[str]] = []
    lines: list[int] = []
    row_no: list[int] = []
    n_blank = 0
    for k, (n, row) in enumerate(rows[2:], start=1):
        first = row[0].strip() if row else ""
        if not _INT_RE.fullmatch(first):
            if _is_header_like(row):
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


def _log_unused_text(path: Path, out: pd.DataFrame) -> None:
    """Log how many cells of the unused bio columns are neither empty nor a number (read as text)."""
    n = 0
    for name in _UNUSED_FIELDS:
        cells = out[name]
        n += int((pd.to_numeric(cells.replace("", np.nan), errors="coerce").isna() & (cells != "")).sum())
    if n:
        log.info("%s: %d non-numeric value(s) in the unused ECG/E4-EDA/E4-TEMP start/end columns "
                 "(read as text, not used)", path, n)


def _frame(path: Path, data, lines, row_no, col_of: dict, rater_cols: dict) -> pd.DataFrame:
    """The data rows as typed columns; DataError for a non-numeric used number or a repeated Numb."""
    out = pd.DataFrame({"line": np.asarray(lines, dtype=np.int64)})
    for name, idx in col_of.items():
        raw = pd.Series([r[idx].strip() for r in data], dtype=object)
        if name not in _NUMERIC_FIELDS:
            out[name] = raw.astype(str)
            continue
        num = pd.to_numeric(raw.replace("", np.nan), errors="coerce")
        bad = num.isna() & (raw != "")
        if bad.any():
            j = int(np.flatnonzero(bad.to_numpy())[0])
            what = "Numb" if name == "numb" else name.replace("_", " ")
            column = next(_shown(a, sub) for f, a, sub in _FIELDS if f == name)
            raise DataError(path, f"non-numeric {what} {raw.iloc[j]!r} at data row {row_no[j]} "
                                  f"(line {lines[j]}) in column '{column}'")
        out[name] = num.astype(np.float64)
    out["numb"] = out["numb"].astype(np.int64)
    _log_unused_text(path, out)
    for name, idx in rater_cols.items():
        out[name] = pd.Series([r[idx].strip() for r in data], dtype=object).astype(str)
    dup = out["numb"].duplicated(keep=False)
    if dup.any():
        n = int(out.loc[dup, "numb"].iloc[0])
        at = out.loc[out["numb"] == n, "line"].tolist()
        raise DataError(path, f"Numb {n} appears on several rows (lines {', '.join(map(str, at))})")
    return out[[f[0] for f in _FIELDS] + ["line"] + list(rater_cols)]


def read_annotation(path) -> pd.DataFrame:
    """Read one KEMDy19 annotation file (two header rows) into one row per data line.

    Columns: numb (int), wav_start, wav_end (float), ecg_start, ecg_end, eda_start, eda_end,
    temp_start, temp_end (str as written, stripped; empty cell = ""), segment_id, emotion_raw (str,
    stripped), valence, arousal (float), line (1-based line number in the file), and the raters' raw
    cells as ``{rater}_{emotion|valence|arousal}`` strings (e.g. ``eval01f_emotion``; not validated).
    Only the fields the index uses are parsed as numbers (Numb, Wav start/end, Total Evaluation
    valence/arousal); the ECG/E4-EDA/E4-TEMP start/end values are not used and are read as text, so a
    non-numeric value there never stops a run (counted in the log).
    Header names match case-insensitively; CRLF or LF, optional BOM. Raises DataError naming the file
    for a missing column, a missing or extra header row, a short row, a non-numeric used number (with
    its data row, line and column) or a repeated Numb.
    """
    path = Path(path)
    rows = _read_rows(path)
    top, tops, subs = _header(path, rows)
    col_of, rater_cols = _columns(path, top, tops, subs)
    data, lines, row_no = _data_rows(path, rows, len(top))
    return _frame(path, data, lines, row_no, col_of, rater_cols)


def parse_segment_id(segment_id: str) -> dict | None:
    """``Sess01_script01_M001`` -> {sess, dialogue, speaker, number}; None when it does not match."""
    m = SEGMENT_ID_RE.fullmatch(segment_id)
    if not m:
        return None
    return {"sess": m.group(1), "dialogue": f"{m.group(2)}{m.group(3)}", "speaker": m.group(4),
            "number": int(m.group(5))}


def parse_label(raw: str) -> tuple[list[str], str | None, list[str]]:
    """Split a Total Evaluation cell into canonical labels.

    Returns ``(labels, problem, aliases_used)``: labels in the order written (aliases mapped, duplicates
    removed); ``problem`` is None, ``"missing_label"`` or ``"unknown_label"``.
    """
    parts = [p.strip().lower() for p in str(raw).split(";") if p.strip()]
    if not parts:
        return [], "missing_label", []
    aliases = [p for p in parts if p in LABEL_ALIASES]
    parts = [LABEL_ALIASES.get(p, p) for p in parts]
    if any(p not in EMOTIONS for p in parts):
        return parts, "unknown_label", aliases
    return list(dict.fromkeys(parts)), None, aliases


def _session_number(session: str) -> str:
    m = re.fullmatch(r"Session(\d+)", session)
    if not m:
        raise DataError(session, "session names look like 'Session01'")
    return m.group(1)



# ---------------------------------------------------------------------------------------------------
# A session: the F/M file pair -> speaker-perspective rows


def _read_pair(data_dir: Path, session: str, summary: Counter) -> dict[str, dict[int, dict]]:
    """The rows of the session's F and M files by gender and Numb."""
    by = {}
    for g in GENDERS:
        p = data_dir / "annotation" / f"{session}_{g}_res.csv"
        if not p.is_file():
            raise DataError(p, f"annotation file for the {'female' if g == 'F' else 'male'} participant "
                               f"of {session} not found")
        frame = read_annotation(p)
        summary["rows_read"] += len(frame)
        by[g] = {int(r["numb"]): r for r in frame.to_dict("records")}
    return by


def _candidate(session: str, n: int, fid: str, parsed: dict, by: dict, summary: Counter) -> dict:
    """The speaker-perspective row of utterance ``fid`` (Numb ``n``), from its own speaker's file."""
    own = by[parsed["speaker"]][n]
    other = by["M" if parsed["speaker"] == "F" else "F"][n]
    if not (np.allclose([own["wav_start"], own["wav_end"]], [other["wav_start"], other["wav_end"]],
                        atol=1e-3, equal_nan=True)):
        summary["wav_time_mismatch"] += 1
    sess_prefix = fid.split("_", 1)[0]
    folder = f"wav/{session}/{sess_prefix}_{parsed['dialogue']}"
    return {
        "segment_id": fid, "session": session, "dialogue": parsed["dialogue"],
        "speaker": parsed["speaker"],
        "wav_path": f"{folder}/{fid}.wav", "txt_path": f"{folder}/{fid}.txt",
        "start": float(own["wav_start"]), "end": float(own["wav_end"]),
        "emotion_raw": own["emotion_raw"], "valence": float(own["valence"]),
        "arousal": float(own["arousal"]), "numb": int(n),
    }


def _pair_rows(session: str, by: dict, exclude, summary: Counter):
    """``(candidates, mismatches)``: a row per paired Numb with one valid id, and the Numbs whose F and
    M ids differ as ``(numb, F id, M id)``. Unpaired rows and bad ids are excluded."""
    names = {g: f"{session}_{g}_res.csv" for g in GENDERS}
    sess_no = _session_number(session)
    candidates: list[dict] = []
    mismatches: list[tuple[int, str, str]] = []
    numbs = sorted(set(by["F"]) | set(by["M"]))
    for n in numbs:
        have = [g for g in GENDERS if n in by[g]]
        if len(have) == 1:
            g = have[0]
            row = by[g][n]
            other = "M" if g == "F" else "F"
            exclude(row["segment_id"], "unpaired",
                    f"Numb {n} (line {row['line']} of {names[g]}) has no row in {names[other]}")
            continue
        fid, mid = by["F"][n]["segment_id"], by["M"][n]["segment_id"]
        if fid != mid:
            mismatches.append((n, fid, mid))
            continue
        parsed = parse_segment_id(fid)
        if parsed is None:
            exclude(fid, "bad_segment_id", f"Numb {n}: {fid!r} is not SessSS_{{script|impro}}DD_{{M|F}}NNN")
            continue
        if parsed["sess"] != sess_no:
            exclude(fid, "bad_segment_id", f"Numb {n}: {fid} is listed in the {session} files")
            continue
        candidates.append(_candidate(session, n, fid, parsed, by, summary))
    summary["rows_paired"] += len(numbs)
    summary["speaker_rows"] += len(candidates)
    return candidates, mismatches


def _collapse_duplicates(session: str, candidates: list[dict], exclude, summary: Counter) -> list[dict]:
    """The same id on several rows: identical copies collapse to one, conflicting copies are all excluded."""
    ids = Counter(c["segment_id"] for c in candidates)
    kept = []
    seen: set[str] = set()
    for c in candidates:
        sid = c["segment_id"]
        if ids[sid] == 1:
            kept.append(c)
            continue
        copies = [d for d in candidates if d["segment_id"] == sid]
        keys = {(d["start"], d["end"], d["emotion_raw"], d["valence"], d["arousal"]) for d in copies}
        numb_list = ", ".join(str(d["numb"]) for d in copies)
        if len(keys) == 1:
            if sid not in seen:
                kept.append(c)
                seen.add(sid)
                summary["duplicate_rows_collapsed"] += len(copies) - 1
                log.warning("%s: %s listed identically on Numb %s; kept once", session, sid, numb_list)
        else:
            exclude(sid, "duplicate_segment_id", f"Numb {c['numb']}: the copies on Numb {numb_list} disagree")
    return kept


def _exclude_mismatches(session: str, mismatches, valid_ids: set[str], exclude, summary: Counter) -> None:
    """Rows whose F and M ids disagree: excluded under each id that is not a valid utterance elsewhere."""
    for n, fid, mid in mismatches:
        detail = f"Numb {n}: {session}_F_res.csv has {fid!r}, {session}_M_res.csv has {mid!r}"
        left = [s for s in dict.fromkeys([fid, mid]) if s not in valid_ids]
        if not left:
            summary["id_mismatch_rows_without_own_id"] += 1
            log.warning("%s: %s (both ids are valid utterances on other rows)", session, detail)
        for s in left:
            exclude(s, "id_mismatch", detail)
    summary["id_mismatch_rows"] += len(mismatches)


def _pair_session(data_dir: Path, session: str, excluded: list[dict], summary: Counter) -> list[dict]:
    """Read the F/M file pair of one session; return the speaker-perspective candidate rows."""
    by = _read_pair(data_dir, session, summary)

    def exclude(sid, reason, detail):
        excluded.append({"segment_id": sid, "session": session, "reason": reason, "detail": detail})

    candidates, mismatches = _pair_rows(session, by, exclude, summary)
    kept = _collapse_duplicates(session, candidates, exclude, summary)
    _exclude_mismatches(session, mismatches, {c["segment_id"] for c in candidates}, exclude, summary)
    return kept


def _resolve_ties(rows: list[dict], tie_policy: str, exclude, summary: dict) -> list[dict]:
    """Give every row a single ``emotion``; rows that cannot get one are excluded."""
    labelled = []
    for r in rows:
        labels, problem, aliases = parse_label(r["emotion_raw"])
        for a in aliases:
            summary["aliases"][a] += 1
        if problem == "missing_label":
            exclude(r, "missing_label", "Total Evaluation emotion is empty")
        elif problem == "unknown_label":
            exclude(r, "unknown_label", r["emotion_raw"])
        else:
            labelled.append((r, labels))
    singles = Counter(labels[0] for _, labels in labelled if len(labels) == 1)
    tie_rank = {e: i for i, e in enumerate(KEMDY19_TIE_ORDER)}
    out = []
    ties = summary["ties"]
    for r, labels in labelled:
        if len(labels) == 1:
            r["emotion"] = labels[0]
            out.append(r)
            continue
        ties["n"] += 1
        if [tie_rank[x] for x in labels] != sorted(tie_rank[x] for x in labels):
            ties["not_in_kemdy19_order"] += 1
        if tie_policy == "drop":
            ties["dropped"] += 1
            exclude(r, "tie", r["emotion_raw"])
            continue
        if tie_policy == "first":
            chosen = labels[0]
        else:  # rarest among single-label rows; EMOTIONS order breaks equal counts
            chosen = min(labels, key=lambda e: (singles[e], CLASS_INDEX[e]))
        ties["resolved"][chosen] += 1
        r["emotion"] = chosen
        out.append(r)
    return out



# ---------------------------------------------------------------------------------------------------
# The index


def _attach_media(data_dir: Path, candidates: list[dict], exclude) -> tuple[list[dict], Counter, int]:
    """The rows whose wav and transcript exist, with ``text`` set; ``(rows, encodings, n_empty)``."""
    encodings: Counter = Counter()
    n_empty = 0
    with_media = []
    for r in candidates:
        if not (data_dir / r["wav_path"]).is_file():
            exclude(r, "missing_wav", r["wav_path"])
            continue
        txt = data_dir / r["txt_path"]
        if not txt.is_file():
            exclude(r, "missing_txt", r["txt_path"])
            continue
        try:
            text, enc = read_transcript(txt)
        except DataError as exc:
            exclude(r, "unreadable_txt", exc.problem)
            continue
        encodings[enc] += 1
        if not text:
            n_empty += 1
        r["text"] = text
        with_media.append(r)
    return with_media, encodings, n_empty


def _summary(data_dir: Path, sessions: list[str], segments: pd.DataFrame, excl: pd.DataFrame, counts: Counter,
             labels: dict, encodings: Counter, n_empty: int, tie_policy: str) -> dict:
    """The JSON-ready summary of ``build_index``."""
    ties = labels["ties"]
    return {
        "data_dir": str(data_dir),
        "sessions": len(sessions),
        "annotation_rows_read": int(counts["rows_read"]),
        "annotation_rows_paired": int(counts["rows_paired"]),
        "speaker_rows": int(counts["speaker_rows"]),
        "segments": len(segments),
        "excluded": len(excl),
        "excluded_by_reason": {k: int(v) for k, v in sorted(Counter(excl["reason"]).items())},
        "per_emotion": {e: int((segments["emotion"] == e).sum()) for e in EMOTIONS},
        "per_speaker": {g: int((segments["speaker"] == g).sum()) for g in GENDERS},
        "per_session": {s: int((segments["session"] == s).sum()) for s in sessions},
        "transcript_encodings": dict(sorted(encodings.items())),
        "empty_transcripts": n_empty,
        "tie_policy": tie_policy,
        "ties": {
            "n": ties["n"],
            "dropped": ties["dropped"],
            "resolved": dict(sorted(ties["resolved"].items())),
            "not_in_kemdy19_order": ties["not_in_kemdy19_order"],
        },
        "aliases_mapped": dict(sorted(labels["aliases"].items())),
        "id_mismatch_rows": int(counts["id_mismatch_rows"]),
        "id_mismatch_rows_without_own_id": int(counts["id_mismatch_rows_without_own_id"]),
        "duplicate_rows_collapsed": int(counts["duplicate_rows_collapsed"]),
        "wav_time_mismatch_rows": int(counts["wav_time_mismatch"]),
    }


def _log_summary(summary: dict, n_excluded: int) -> None:
    log.info("%d sessions: %d annotation rows read, %d speaker rows, %d segments kept, %d excluded %s",
             summary["sessions"], summary["annotation_rows_read"], summary["speaker_rows"],
             summary["segments"], n_excluded, summary["excluded_by_reason"])
    if summary["wav_time_mismatch_rows"]:
        log.warning("%d utterances have different wav times in the F and M files (own file's times used)",
                    summary["wav_time_mismatch_rows"])
    log.info("emotions %s; transcripts %s (%d empty); ties %s", summary["per_emotion"],
             summary["transcript_encodings"], summary["empty_transcripts"], summary["ties"])


def build_index(data_dir, sessions, tie_policy: str = "first") -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """The speaker-perspective segment index of a KEMDy19 copy.

    Returns ``(segments, excluded, summary)``: segments with the contract columns (no ``split`` yet),
    sorted by segment_id; excluded (segment_id, session, reason, detail); summary, a JSON-ready dict of
    counts. Paths are relative to ``data_dir`` (posix). See the module docstring for the reasons.
    A missing annotation file raises DataError.
    """
    if tie_policy not in TIE_POLICIES:
        raise ValueError(f"tie_policy must be one of {TIE_POLICIES}, not {tie_policy!r}")
    data_dir = Path(data_dir)
    sessions = list(sessions)
    excluded: list[dict] = []
    counts: Counter = Counter()
    candidates: list[dict] = []
    for session in sessions:
        candidates += _pair_session(data_dir, session, excluded, counts)

    def exclude(r, reason, detail):
        excluded.append({"segment_id": r["segment_id"], "session": r["session"], "reason": reason,
                         "detail": detail})

    with_media, encodings, n_empty = _attach_media(data_dir, candidates, exclude)
    labels = {"aliases": Counter(),
              "ties": {"n": 0, "dropped": 0, "resolved": Counter(), "not_in_kemdy19_order": 0}}
    rows = _resolve_ties(with_media, tie_policy, exclude, labels)

    segments = pd.DataFrame(rows, columns=SEGMENT_COLUMNS)
    segments = segments.sort_values("segment_id", kind="stable").reset_index(drop=True)
    for c in ("start", "end", "valence", "arousal"):
        segments[c] = segments[c].astype(np.float64)
    excl = pd.DataFrame(excluded, columns=EXCLUDED_COLUMNS)
    excl = excl.sort_values(["session", "segment_id", "reason"], kind="stable").reset_index(drop=True)

    if labels["ties"]["not_in_kemdy19_order"]:
        log.warning("%d tied labels are not listed in the KEMDy19 order %s",
                    labels["ties"]["not_in_kemdy19_order"], KEMDY19_TIE_ORDER)
    summary = _summary(data_dir, sessions, segments, excl, counts, labels, encodings, n_empty, tie_policy)
    _log_summary(summary, len(excl))
    return segments, excl, summary


def index_dataset(data_dir, sessions, labels: dict,
                  split: dict) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict]:
    """build_index + assign_folds: the segment index, its folds, exclusions and a summary.

    ``labels`` is the config's ``labels`` section, ``split`` its ``split`` section. Returns
    ``(segments, folds, excluded, summary)``: segments carry ``fold``, the fold whose test part holds
    them (-1 for none: the random scheme tests one part); ``folds`` is the long table (segment_id, fold,
    split) of ``split.assign_folds``. Raises DataError when no segment is left or the data cannot be split
    as asked.
    """
    segments, excluded, summary = build_index(data_dir, sessions, labels["tie_policy"])
    if segments.empty:
        raise DataError(data_dir, f"no usable segments: all {len(excluded)} utterances were excluded "
                                  f"({summary['excluded_by_reason']})")
    try:
        folds = assign_folds(segments, split)
    except ValueError as exc:
        raise DataError(data_dir, f"cannot split the segments: {exc}") from None
    # the fold whose test part holds the segment; -1: never tested (the random scheme's training side)
    segments["fold"] = segments["segment_id"].map(fold_tested(folds)).fillna(-1).astype(np.int64)
    summary["split"] = {"scheme": split["scheme"], "folds": int(split["folds"]), "seed": split["seed"],
                        "per_fold": {}}
    for k in sorted(folds["fold"].unique()):
        view = fold_view(segments, folds, k)
        summary["split"]["per_fold"][str(k)] = split_summary(view)
        log.info("split %s, fold %d: %s", split["scheme"], k, summary["split"]["per_fold"][str(k)]["counts"])
    return segments, folds, excluded, summary
