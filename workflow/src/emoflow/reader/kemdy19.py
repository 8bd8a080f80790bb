"""KEMDy19: a session's F/M annotation file pair -> the speaker-perspective candidate rows.

A session has two annotation files, ``annotation/SessionSS_F_res.csv`` and ``SessionSS_M_res.csv``.
Both list every utterance of the session (same ``Numb``, same wav times, same Segment IDs); the file's
gender says whose emotion was rated. The index keeps each utterance once, labelled from its own
speaker's file (the speaker's perspective). Speaker = the gender letter (one actor per gender and
session); media ``wav/SessionSS/SessSS_{dialogue}/{id}.wav|.txt``; tied labels are listed in
``constants.KEMDY19_TIE_ORDER``.

Exclusion reasons of this reader (the shared ones are listed in ``emoflow.reader``):

``unpaired``
    the ``Numb`` row exists in only one of the two files of the session.
``id_mismatch``
    the F and M files give different Segment IDs for the same ``Numb`` (which utterance the row
    describes is ambiguous). One exclusion per id of the pair that is not a valid utterance elsewhere.
``bad_segment_id``
    the id does not match ``SessSS_{script|impro}DD_{M|F}NNN`` or names another session.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from ..constants import KEMDY19_TIE_ORDER
from ..errors import DataError
from .annotation import Layout, read_with_layout
from .contract import check_tie_policy, collapse_duplicates, finish

log = logging.getLogger(__name__)

DATASET = "kemdy19"
GENDERS = ("F", "M")
SEGMENT_ID_RE = re.compile(r"Sess(\d+)_(script|impro)(\d+)_([MF])(\d+)")

LAYOUT = Layout(
    name="KEMDy19",
    width=43,
    fields=(
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
    ),
    display={"numb": "Numb", "wav": "Wav", "ecg": "ECG", "e4-eda": "E4-EDA", "e4-temp": "E4-TEMP",
             "segment id": "Segment ID", "total evaluation": "Total Evaluation"},
    # The ECG/E4-EDA/E4-TEMP start/end values are not used (they disagree with the tagged samples of the
    # signal files in 20-65% of rows), so a non-numeric value there never stops a run.
    unused=("ecg_start", "ecg_end", "eda_start", "eda_end", "temp_start", "temp_end"),
    extra_header_words=frozenset({"ecg", "e4-eda", "e4-temp", "eda", "temp"}),
)


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
    return read_with_layout(path, LAYOUT)


def parse_segment_id(segment_id: str) -> dict | None:
    """``Sess01_script01_M001`` -> {sess, dialogue, speaker, number}; None when it does not match."""
    m = SEGMENT_ID_RE.fullmatch(segment_id)
    if not m:
        return None
    return {"sess": m.group(1), "dialogue": f"{m.group(2)}{m.group(3)}", "speaker": m.group(4),
            "number": int(m.group(5))}


def session_number(session: str) -> str:
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
    sess_no = session_number(session)
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
    kept = collapse_duplicates(session, candidates, exclude, summary)
    _exclude_mismatches(session, mismatches, {c["segment_id"] for c in candidates}, exclude, summary)
    return kept


def build_index(data_dir, sessions, tie_policy: str = "first") -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """The speaker-perspective segment index of a KEMDy19 copy: ``(segments, excluded, summary)``
    (see ``emoflow.reader.build_index``). A missing annotation file raises DataError."""
    check_tie_policy(tie_policy)
    data_dir = Path(data_dir)
    sessions = list(sessions)
    excluded: list[dict] = []
    counts: Counter = Counter()
    candidates: list[dict] = []
    for session in sessions:
        candidates += _pair_session(data_dir, session, excluded, counts)
    if counts["wav_time_mismatch"]:
        log.warning("%d utterances have different wav times in the F and M files (own file's times used)",
                    counts["wav_time_mismatch"])
    log.info("%d annotation rows read, %d speaker rows", counts["rows_read"], counts["speaker_rows"])
    reader_counts = {
        "annotation_rows_read": counts["rows_read"],
        "annotation_rows_paired": counts["rows_paired"],
        "speaker_rows": counts["speaker_rows"],
        "id_mismatch_rows": counts["id_mismatch_rows"],
        "id_mismatch_rows_without_own_id": counts["id_mismatch_rows_without_own_id"],
        "duplicate_rows_collapsed": counts["duplicate_rows_collapsed"],
        "wav_time_mismatch_rows": counts["wav_time_mismatch"],
    }
    return finish(DATASET, data_dir, sessions, candidates, excluded, tie_policy, KEMDY19_TIE_ORDER,
                  reader_counts)
