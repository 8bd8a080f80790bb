"""What every dataset's reader shares: the index columns, labels and ties, media, the summary.

A reader turns its dataset's annotation files into *candidate* rows (one dict per utterance with the
keys of ``SEGMENT_COLUMNS`` except ``emotion`` and ``text``); ``finish`` attaches the media, resolves the
labels and builds the two tables.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import numpy as np
import pandas as pd

from ..constants import CLASS_INDEX, EMOTIONS, LABEL_ALIASES
from ..errors import DataError
from ..io import read_transcript

log = logging.getLogger(__name__)

SEGMENT_COLUMNS = [
    "segment_id", "session", "dialogue", "speaker", "wav_path", "txt_path", "text",
    "start", "end", "emotion", "emotion_raw", "valence", "arousal",
]
EXCLUDED_COLUMNS = ["segment_id", "session", "reason", "detail"]
TIE_POLICIES = ("first", "drop", "rarest")


def check_tie_policy(tie_policy: str) -> None:
    if tie_policy not in TIE_POLICIES:
        raise ValueError(f"tie_policy must be one of {TIE_POLICIES}, not {tie_policy!r}")


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


def new_label_summary() -> dict:
    return {"aliases": Counter(), "ties": {"n": 0, "dropped": 0, "resolved": Counter(), "not_in_order": 0}}


def _labelled(rows: list[dict], exclude, summary: dict) -> list[tuple[dict, list[str]]]:
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
    return labelled


def resolve_ties(rows: list[dict], tie_policy: str, tie_order: list[str], exclude, summary: dict) -> list[dict]:
    """Give every row a single ``emotion``; rows that cannot get one are excluded. ``tie_order`` is the
    order in which the dataset lists tied labels (a tie written in another order is counted)."""
    labelled = _labelled(rows, exclude, summary)
    singles = Counter(labels[0] for _, labels in labelled if len(labels) == 1)
    tie_rank = {e: i for i, e in enumerate(tie_order)}
    out = []
    ties = summary["ties"]
    for r, labels in labelled:
        if len(labels) == 1:
            r["emotion"] = labels[0]
            out.append(r)
            continue
        ties["n"] += 1
        if [tie_rank[x] for x in labels] != sorted(tie_rank[x] for x in labels):
            ties["not_in_order"] += 1
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


def attach_media(data_dir: Path, candidates: list[dict], exclude) -> tuple[list[dict], Counter, int]:
    """The rows whose wav and transcript exist, with ``text`` set; ``(rows, encodings, n_empty)``.
    Transcripts are UTF-8 (KEMDy19) or CP949 (KEMDy20): both are read."""
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


def collapse_duplicates(session: str, candidates: list[dict], exclude, summary: Counter) -> list[dict]:
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


def _tables(rows: list[dict], excluded: list[dict]) -> tuple[pd.DataFrame, pd.DataFrame]:
    segments = pd.DataFrame(rows, columns=SEGMENT_COLUMNS)
    segments = segments.sort_values("segment_id", kind="stable").reset_index(drop=True)
    for c in ("start", "end", "valence", "arousal"):
        segments[c] = segments[c].astype(np.float64)
    excl = pd.DataFrame(excluded, columns=EXCLUDED_COLUMNS)
    excl = excl.sort_values(["session", "segment_id", "reason"], kind="stable").reset_index(drop=True)
    return segments, excl


def finish(dataset: str, data_dir: Path, sessions: list[str], candidates: list[dict], excluded: list[dict],
           tie_policy: str, tie_order: list[str], counts: dict) -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """Media, labels and the tables: ``(segments, excluded, summary)``. ``counts`` are the reader's own
    counts (rows read, ...), copied into the summary."""
    def exclude(r, reason, detail):
        excluded.append({"segment_id": r["segment_id"], "session": r["session"], "reason": reason,
                         "detail": detail})

    with_media, encodings, n_empty = attach_media(data_dir, candidates, exclude)
    labels = new_label_summary()
    rows = resolve_ties(with_media, tie_policy, tie_order, exclude, labels)
    segments, excl = _tables(rows, excluded)
    if labels["ties"]["not_in_order"]:
        log.warning("%d tied labels are not listed in the %s order %s", labels["ties"]["not_in_order"],
                    dataset, tie_order)
    summary = {
        "dataset": dataset,
        "data_dir": str(data_dir),
        "sessions": len(sessions),
        **{k: int(v) for k, v in counts.items()},
        "segments": len(segments),
        "excluded": len(excl),
        "excluded_by_reason": {k: int(v) for k, v in sorted(Counter(excl["reason"]).items())},
        "per_emotion": {e: int((segments["emotion"] == e).sum()) for e in EMOTIONS},
        "per_speaker": {k: int(v) for k, v in sorted(Counter(segments["speaker"]).items())},
        "per_session": {s: int((segments["session"] == s).sum()) for s in sessions},
        "transcript_encodings": dict(sorted(encodings.items())),
        "empty_transcripts": n_empty,
        "tie_policy": tie_policy,
        "ties": {**{k: v for k, v in labels["ties"].items() if k != "resolved"},
                 "resolved": dict(sorted(labels["ties"]["resolved"].items())), "order": list(tie_order)},
        "aliases_mapped": dict(sorted(labels["aliases"].items())),
    }
    log.info("%s, %d sessions: %d segments kept, %d excluded %s", dataset, summary["sessions"],
             summary["segments"], len(excl), summary["excluded_by_reason"])
    log.info("emotions %s; transcripts %s (%d empty); ties %s", summary["per_emotion"],
             summary["transcript_encodings"], summary["empty_transcripts"], summary["ties"])
    return segments, excl, summary
