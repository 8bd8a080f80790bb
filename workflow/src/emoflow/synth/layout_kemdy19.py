"""Writing the in-memory dataset in the KEMDy19 on-disk layout.

- ``annotation/SessionSS_{F,M}_res.csv``: two header rows, 43 columns; every utterance of the session
  in both files, rated from the file participant's perspective; the ECG/E4-EDA/E4-TEMP columns hold the
  file participant's values at the segment's first and last tagged sample;
- ``wav/SessionSS/SessSS_<dialogue>/<segment id>.wav|.txt``: 16 kHz mono int16, UTF-8 one-line text;
- ``{ECG,EDA,TEMP}/SessionSS/Original/SessSS{F,M}.csv``: no header; EDA/TEMP rows
  ``value,elapsed,HH:MM:SS.fff[,id]``, ECG rows ``elapsed,value,HH:MM:SS.fff[,id]``.

``Kemdy19Layout.write_session`` writes a session's media and bio files and keeps its annotation rows;
``finish`` applies the annotation quirks and writes the annotation files.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path

import numpy as np

from ..constants import EMOTIONS
from ..io import atomic_path
from . import fmt, quirks
from .cues import N_RATERS
from .model import Dataset, Rating, Session, Signal
from .plan import kemdy19_segment_id

SIGNALS = ("ECG", "EDA", "TEMP")
PARTICIPANTS = ("F", "M")
HEADER_ONLY_BIO = b"value,elapsed,clock,SegID\n"  # the one header-only bio file (quirk header_only_bio)
RATERS = ["Eval01F", "Eval02M", "Eval03F", "Eval04F", "Eval05M",
          "Eval06M", "Eval07M", "Eval08F", "Eval09M", "Eval10F"]
HEADER1 = ["Numb", "Wav", "", "ECG", "", "E4-EDA", "", "E4-TEMP", "", "Segment ID",
           "Total Evaluation", "", ""] + [c for r in RATERS for c in (r, "", "")]
HEADER2 = ["", "start", "end", "start", "end", "start", "end", "start", "end", "",
           "Emotion", "Valence", "Arousal"] + ["Emotion", "Valence", "Arousal"] * N_RATERS
# the columns the workflow does not use: index -> (AnnotationRow field, name)
UNUSED_FIELDS = {3: ("ecg_start", "ECG/start"), 4: ("ecg_end", "ECG/end"), 5: ("eda_start", "E4-EDA/start"),
                 6: ("eda_end", "E4-EDA/end"), 7: ("temp_start", "E4-TEMP/start"), 8: ("temp_end", "E4-TEMP/end")}
UNUSED_FIELD_COLUMNS = {c: name for c, (_, name) in UNUSED_FIELDS.items()}


@dataclass
class AnnotationRow:
    """One row of an annotation file, every cell as written (columns 0-12, then 10 raters x 3)."""

    file_participant: str  # whose perspective the file holds (not written)
    numb: int
    wav_start: str
    wav_end: str
    ecg_start: str
    ecg_end: str
    eda_start: str
    eda_end: str
    temp_start: str
    temp_end: str
    segment_id: str
    total: str
    valence: str
    arousal: str
    raters: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def own(self) -> bool:
        """The file holds the speaker's own rating (judged from the id as written)."""
        return self.segment_id[-4] == self.file_participant

    def cells(self) -> list[str]:
        named = [getattr(self, f.name) for f in fields(self)[1:-1]]
        return [str(named[0])] + named[1:] + [c for r in self.raters for c in r]


def mean_str(ints: np.ndarray) -> str:
    """The mean of 10 integer ratings as the files print it ('3', '2.7')."""
    s = int(ints.sum())
    return str(s // 10) if s % 10 == 0 else f"{s / 10:.1f}"


def signal_path(session: Session, name: str, participant: str) -> str:
    return f"{name}/{session.name}/Original/{session.short}{participant}.csv"


def format_values(sig: Signal) -> np.ndarray:
    if sig.name == "ECG":
        return fmt.ecg_strings(sig.values)
    return fmt.fixed(sig.values, 6 if sig.name == "EDA" else 2)


def _bio_bytes(session: Session, sig: Signal, values: np.ndarray) -> bytes:
    """EDA/TEMP rows ``value,elapsed,clock[,id]``; ECG rows ``elapsed,value,clock[,id]``."""
    tag_tab = np.array([("," + u.segment_id).encode() for u in session.utterances] + [b""])
    tags = tag_tab[sig.tags]  # -1 -> the trailing empty tag
    el = fmt.elapsed_strings(sig.elapsed, sig.rate)
    wall = session.clock0_ms + np.rint(sig.t * 1000).astype(np.int64)
    clk = np.strings.add(b",", fmt.clock(wall))
    if sig.name == "ECG":
        return fmt.join_rows(el, b",", values, clk, tags)
    return fmt.join_rows(values, b",", el, clk, tags)


def first_last_values(session: Session, sig: Signal, values: np.ndarray) -> tuple[list[str], list[str]]:
    """Per utterance: the value at its first and last tagged sample ('' when it has none)."""
    n = len(session.utterances)
    tagged = np.flatnonzero(sig.tags >= 0)
    tags = sig.tags[tagged]
    first = np.full(n, -1)
    last = np.full(n, -1)
    ids, i0 = np.unique(tags, return_index=True)
    first[ids] = tagged[i0]
    ids, i1 = np.unique(tags[::-1], return_index=True)
    last[ids] = tagged[len(tagged) - 1 - i1]
    return ([values[a].decode() if a >= 0 else "" for a in first],
            [values[b].decode() if b >= 0 else "" for b in last])


def _rating_row(g: str, u, rating: Rating, sid: str, bio: dict) -> AnnotationRow:
    raters = [(EMOTIONS[rating.votes[j]], str(rating.valence[j]), str(rating.arousal[j])) for j in range(N_RATERS)]
    return AnnotationRow(file_participant=g, numb=u.numb, wav_start=fmt.seconds(u.start),
                         wav_end=fmt.seconds(u.end), **bio, segment_id=sid, total=rating.total,
                         valence=mean_str(rating.valence), arousal=mean_str(rating.arousal), raters=raters)


class Kemdy19Layout:
    """Writes sessions as they are built (media, bio files) and the annotation files at the end."""

    name = "kemdy19"
    participants = PARTICIPANTS  # participant keys, in the order of their random streams
    turn_pair = ("M", "F")  # the plan's participant pair (the first speaker of a dialogue: pair[0] or pair[1])
    segment_id = staticmethod(kemdy19_segment_id)

    @staticmethod
    def gender(key: str) -> str:
        return key

    def __init__(self, root: Path):
        self.root = Path(root)
        self.annotations: dict[str, list[AnnotationRow]] = {}  # relative path -> rows, session/F/M order
        self.bio_rows = {name: 0 for name in SIGNALS}

    def write_session(self, session: Session, records: dict) -> None:
        self._write_media(session)
        bio = self._write_bio(session, records)
        self._keep_annotations(session, bio)

    def _write_media(self, session: Session) -> None:
        for u in session.utterances:
            folder = self.root / "wav" / session.name / f"{session.short}_{u.dialogue}"
            folder.mkdir(parents=True, exist_ok=True)
            fmt.write_wav(folder / f"{u.segment_id}.wav", u.audio)
            (folder / f"{u.segment_id}.txt").write_bytes((u.text + "\n").encode("utf-8"))

    def _write_bio(self, session: Session, records: dict) -> dict[tuple[str, str], tuple[list, list]]:
        """Every participant's bio files; returns the annotation's start/end values per (participant, signal)."""
        values_at = {}
        for g in PARTICIPANTS:
            for name in SIGNALS:
                sig = session.participants[g].signals[name]
                values = format_values(sig)
                rel = signal_path(session, name, g)
                with atomic_path(self.root / rel) as tmp:
                    if (g, name) in session.quirks.header_only:  # a failed export: the header line only
                        tmp.write_bytes(HEADER_ONLY_BIO)
                        records["header_only_bio"].append(
                            {"participant": f"{session.short}{g}", "signal": name, "file": rel,
                             "segment_ids": [u.segment_id for u in session.utterances if u.speaker == g]})
                    else:
                        tmp.write_bytes(_bio_bytes(session, sig, values))
                        self.bio_rows[name] += len(sig.t)
                values_at[(g, name)] = first_last_values(session, sig, values)
        return values_at

    def _keep_annotations(self, session: Session, bio: dict) -> None:
        for g in PARTICIPANTS:
            rows = []
            for i, u in enumerate(session.utterances):
                rating = u.own_rating if u.speaker == g else u.listener_rating
                sid = u.segment_id
                if g == "F" and i == session.quirks.id_mismatch:
                    sid = quirks.mismatched_id(session, i)
                cells = {}
                for name, attr in (("ECG", "ecg"), ("EDA", "eda"), ("TEMP", "temp")):
                    starts, ends = bio[(g, name)]
                    cells[f"{attr}_start"], cells[f"{attr}_end"] = starts[i], ends[i]
                rows.append(_rating_row(g, u, rating, sid, cells))
            self.annotations[f"annotation/{session.name}_{g}_res.csv"] = rows

    def finish(self, dataset: Dataset, quirk_rng: np.random.Generator) -> dict:
        """Annotation quirks, then the annotation files; returns the file counts for the manifest."""
        quirks.disqust(dataset, quirk_rng, self.annotations)
        dataset.records["unused_field_text"] = quirks.unused_field_text(
            dataset.config["seed"], self.annotations, UNUSED_FIELDS)
        n_rows = 0
        for rel, rows in self.annotations.items():
            lines = [",".join(HEADER1), ",".join(HEADER2)] + [",".join(r.cells()) for r in rows]
            with atomic_path(self.root / rel) as tmp:
                tmp.write_bytes(("\n".join(lines) + "\n").encode("ascii"))
            n_rows += len(rows)
        n = len(dataset.sessions)
        n_utts = sum(len(s.utterances) for s in dataset.sessions)
        return {"annotation_files": 2 * n, "annotation_rows": n_rows, "wav_files": n_utts, "txt_files": n_utts,
                "bio_files": 6 * n, "bio_rows": dict(self.bio_rows)}

