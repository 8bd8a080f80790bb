"""KEMDy20: one annotation file per session -> the candidate rows.

``annotation/SessSS_eval.csv`` lists every utterance of the session's six scripts, by both users, each
rated once (no listener file, no bio columns): 37 columns, ``Numb``, ``WAV`` start/end, ``Segment ID``,
Total Evaluation (Emotion, Valence, Arousal) and 10 raters x 3; two header rows whose empty cells hold a
single space; CRLF (v1.2) or LF (v1.1). Segment ids are ``SessSS_scriptNN_UserNNN{M|F}_NNN``.

Speaker = the user id with its gender letter (``User002M``): users are numbered across the dataset
(sessions 12 and 17 have users 081-084) and a session pairs two men, two women or a man and a woman,
so the gender letter alone does not name a speaker. Media are flat: ``wav/SessionSS/{id}.wav|.txt``
(transcripts in CP949). Tied labels are listed in ``constants.KEMDY20_TIE_ORDER``; ``disqust`` (v1.1)
is read as disgust. A wav start may be negative (kept as written).

Exclusion reason of this reader (the shared ones are listed in ``emoflow.reader``):

``bad_segment_id``
    the id does not match ``SessSS_scriptNN_UserNNN{M|F}_NNN`` or names another session.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from pathlib import Path

import pandas as pd

from ..constants import KEMDY20_TIE_ORDER
from ..errors import DataError
from .annotation import Layout, read_with_layout
from .contract import check_tie_policy, collapse_duplicates, finish

log = logging.getLogger(__name__)

DATASET = "kemdy20"
SEGMENT_ID_RE = re.compile(r"Sess(\d+)_(script\d+)_(User\d+[MF])_(\d+)")

LAYOUT = Layout(
    name="KEMDy20",
    width=37,
    fields=(
        ("numb", ("numb",), ""),
        ("wav_start", ("wav",), "start"),
        ("wav_end", ("wav",), "end"),
        ("segment_id", ("segment id",), ""),
        ("emotion_raw", ("total evaluation",), "emotion"),
        ("valence", ("total evaluation",), "valence"),
        ("arousal", ("total evaluation",), "arousal"),
    ),
    display={"numb": "Numb", "wav": "WAV", "segment id": "Segment ID", "total evaluation": "Total Evaluation"},
)


def read_annotation(path) -> pd.DataFrame:
    """Read one KEMDy20 annotation file (two header rows) into one row per data line: numb (int),
    wav_start, wav_end (float), segment_id, emotion_raw (str), valence, arousal (float), line, and the
    raters' raw cells (``eval01f_emotion`` ...). DataError as for KEMDy19 (``annotation.read_with_layout``)."""
    return read_with_layout(path, LAYOUT)


def parse_segment_id(segment_id: str) -> dict | None:
    """``Sess01_script01_User002M_014`` -> {sess, dialogue, speaker, number}; None when it does not match."""
    m = SEGMENT_ID_RE.fullmatch(segment_id)
    if not m:
        return None
    return {"sess": m.group(1), "dialogue": m.group(2), "speaker": m.group(3), "number": int(m.group(4))}


def annotation_path(data_dir: Path, session: str) -> Path:
    m = re.fullmatch(r"Session(\d+)", session)
    if not m:
        raise DataError(session, "session names look like 'Session01'")
    return data_dir / "annotation" / f"Sess{m.group(1)}_eval.csv"


def _session_rows(data_dir: Path, session: str, exclude, counts: Counter) -> list[dict]:
    """The candidate rows of one session's annotation file (bad ids excluded)."""
    path = annotation_path(data_dir, session)
    if not path.is_file():
        raise DataError(path, f"annotation file of {session} not found")
    frame = read_annotation(path)
    counts["annotation_rows_read"] += len(frame)
    sess_no = session[len("Session"):]
    rows = []
    for r in frame.to_dict("records"):
        sid, n = r["segment_id"], int(r["numb"])
        parsed = parse_segment_id(sid)
        if parsed is None:
            exclude(sid, "bad_segment_id", f"Numb {n}: {sid!r} is not SessSS_scriptNN_UserNNN{{M|F}}_NNN")
            continue
        if parsed["sess"] != sess_no:
            exclude(sid, "bad_segment_id", f"Numb {n}: {sid} is listed in {path.name}")
            continue
        rows.append({
            "segment_id": sid, "session": session, "dialogue": parsed["dialogue"], "speaker": parsed["speaker"],
            "wav_path": f"wav/{session}/{sid}.wav", "txt_path": f"wav/{session}/{sid}.txt",
            "start": float(r["wav_start"]), "end": float(r["wav_end"]), "emotion_raw": r["emotion_raw"],
            "valence": float(r["valence"]), "arousal": float(r["arousal"]), "numb": n,
        })
    return rows


def pair_types(candidates: list[dict]) -> dict[str, int]:
    """Sessions by the genders of their users: ``{"FF": n, "FM": n, "MM": n}`` (others as written)."""
    users: dict[str, set[str]] = {}
    for c in candidates:
        users.setdefault(c["session"], set()).add(c["speaker"])
    kinds = Counter("".join(sorted(u[-1] for u in us)) for us in users.values())
    return {k: int(kinds[k]) for k in sorted(kinds)}


def build_index(data_dir, sessions, tie_policy: str = "drop") -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """The segment index of a KEMDy20 copy: ``(segments, excluded, summary)`` (see
    ``emoflow.reader.build_index``). A missing annotation file raises DataError."""
    check_tie_policy(tie_policy)
    data_dir = Path(data_dir)
    sessions = list(sessions)
    excluded: list[dict] = []
    counts: Counter = Counter()
    candidates: list[dict] = []
    for session in sessions:
        def exclude(sid, reason, detail, session=session):
            excluded.append({"segment_id": sid, "session": session, "reason": reason, "detail": detail})

        rows = _session_rows(data_dir, session, exclude, counts)
        candidates += collapse_duplicates(session, rows, exclude, counts)
    users = sorted({c["speaker"] for c in candidates})
    pairs = pair_types(candidates)
    log.info("%d annotation rows read; %d users; sessions by pair: %s", counts["annotation_rows_read"],
             len(users), pairs)
    reader_counts = {"annotation_rows_read": counts["annotation_rows_read"], "speaker_rows": len(candidates),
                     "duplicate_rows_collapsed": counts["duplicate_rows_collapsed"], "users": len(users)}
    segments, excl, summary = finish(DATASET, data_dir, sessions, candidates, excluded, tie_policy,
                                     KEMDY20_TIE_ORDER, reader_counts)
    summary["session_pairs"] = pairs
    return segments, excl, summary
