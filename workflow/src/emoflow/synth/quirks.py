"""The dataset quirks of real KEMDy19 copies, reproduced in small doses.

Session quirks (marked on the in-memory session before rendering or writing; drawn from one stream,
``rng.QUIRKS``, in session order):

- ``tag_only_transcript``: one transcript is a lone ETRI tag (``b/``);
- ``missing_e4``: one participant's E4 (EDA, TEMP) has no rows for a run of 3-4 consecutive
  utterances inside one dialogue (the ECG continues);
- ``id_mismatch``: one row of a session's F file carries the other speaker's letter in its id;
- ``header_only_bio``: the last session's TEMP file of a participant is a header line only (a failed
  export; fixed, no random draw), so its segments have no TEMP features;
- ``e4_dropout``: mid-session E4 dropouts: a participant's EDA and TEMP lose 40-142 s of rows (clock and
  elapsed jump forward between two consecutive rows) inside an own utterance in the second half of the
  last dialogue of a recording block (the recording runs on after the block, so the tags have room;
  fewer than half of the participant's own segments of the dialogue are affected). The tags of that
  dialogue are placed by counting samples from its first tagged row, as in the real files: the tagged
  run of the utterance spanning the gap covers far more clock time than the utterance, and every later
  segment of the dialogue is tagged onto samples shifted by the gap. The next dialogue is re-synchronised
  by clock. One per participant and block with probability ``DROPOUT_RATE``, at least one per dataset
  of two or more sessions;
- ``tags_stop``: in one dialogue per ``TAG_STOP_SESSIONS`` sessions (at least one), a participant's
  EDA/TEMP tags stop from one of their own utterances on (both speakers' tags), while the signal goes on.

Neither E4 quirk touches a participant-session with the missing E4 run or the header-only file. The
truth of both is ``records['bio_tags']`` (``_truth/bio_tags.parquet``): one row per own-speaker segment
of the affected participant and signal (eda, temp) with ``kind`` ``spans_dropout`` (its tagged run spans
the gap), ``shifted`` (tagged after the gap, its tags offset by the gap) or ``untagged`` (tags stopped,
signal present) and ``gap_seconds`` (NaN for untagged). The other speaker's segments are tagged in the
same file too (shifted or stopped alike) but their features come from their own participant's file.

Annotation quirks (applied by the layout writer to its annotation rows once all sessions exist):

- ``disqust``: a few Total Evaluations spell disgust ``disqust`` (at least one in a speaker's own row);
- ``unused_field_text``: two speaker rows get a non-numeric value (``UNUSED_FIELD_TEXTS``) in one of the
  unused ECG/E4-EDA/E4-TEMP start/end cells (its own stream, so no other byte of the dataset changes).

Every quirk is recorded in ``Dataset.records`` (the manifest's ``quirks`` and the ``_truth/`` folder).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import rng as streams
from .model import Dataset, Dropout, MissingE4, Session, Signal, TagStop

UNUSED_FIELD_TEXTS = ["#VALUE!", "-"]  # what a spreadsheet export leaves in a cell
RECORD_KEYS = ("missing_e4", "tag_only_transcript", "id_mismatch", "disqust", "header_only_bio",
               "unused_field_text", "e4_dropout", "tags_stop", "bio_tags")
DROPOUT_RATE = 0.2  # per participant and recording block
DROPOUT_GAP_S = (40.0, 142.0)
TAG_STOP_SESSIONS = 6  # one dialogue with stopped tags per this many sessions (at least one)
E4_SIGNALS = ("EDA", "TEMP")


@dataclass
class QuirkPlan:
    """Which session gets which session quirk; ``rng`` is the shared quirk stream."""

    rng: np.random.Generator
    missing_e4_session: int
    missing_e4_participant: str
    tag_only_session: int
    id_mismatch_session: int
    header_only: tuple[int, str, str]  # (session, participant, signal)
    e4_excluded: set[tuple[int, str]] = field(default_factory=set)  # no E4 quirk: (session, participant)
    forced_dropout: tuple[int, str, str] | None = None  # (session, participant, block)
    tag_stops: set[tuple[int, str]] = field(default_factory=set)  # (session, participant)


def choose(seed: int, n_sessions: int) -> QuirkPlan:
    rng = streams.stream(seed, 0, streams.QUIRKS)
    e4_sess = int(rng.integers(1, n_sessions + 1))
    e4_part = "F" if rng.random() < 0.5 else "M"
    tag_only = int(rng.integers(1, n_sessions + 1))
    mismatch = int(rng.integers(1, n_sessions + 1))
    # a header-only TEMP file: fixed (no draw), the last session's participant without the E4 gap
    last = "F" if (e4_sess, e4_part) == (n_sessions, "M") else "M"
    plan = QuirkPlan(rng=rng, missing_e4_session=e4_sess, missing_e4_participant=e4_part,
                     tag_only_session=tag_only, id_mismatch_session=mismatch,
                     header_only=(n_sessions, last, "TEMP"))
    _choose_e4(plan, seed, n_sessions)
    return plan


def _choose_e4(plan: QuirkPlan, seed: int, n_sessions: int) -> None:
    """The participant-sessions of the E4 quirks (their own stream: the other quirks do not move)."""
    rng = streams.stream(seed, 0, streams.E4_PLAN)
    plan.e4_excluded = {(plan.missing_e4_session, plan.missing_e4_participant), plan.header_only[:2]}
    cand = [(s, g) for s in range(1, n_sessions + 1) for g in ("F", "M") if (s, g) not in plan.e4_excluded]
    if not cand:  # one session: both participants carry another quirk
        return
    s, g = cand[int(rng.integers(len(cand)))]
    plan.forced_dropout = (s, g, "script" if rng.random() < 0.5 else "impro")
    n_stop = max(1, round(n_sessions / TAG_STOP_SESSIONS))
    sessions = rng.permutation(sorted({s for s, _ in cand}))[:n_stop]
    for s in sorted(int(x) for x in sessions):
        options = [g for s2, g in cand if s2 == s]
        plan.tag_stops.add((s, options[int(rng.integers(len(options)))]))




def mark_tag_only(plan: QuirkPlan, session: Session, records: dict) -> None:
    if plan.tag_only_session != session.number:
        return
    utts = session.utterances
    i = int(plan.rng.integers(len(utts)))
    session.quirks.tag_only = i
    utts[i].text = "b/"
    records["tag_only_transcript"].append(utts[i].segment_id)


def mark_missing_e4(plan: QuirkPlan, session: Session, records: dict) -> None:
    """A run of 3-4 consecutive utterances inside one dialogue without E4 rows for one participant."""
    if plan.missing_e4_session != session.number:
        return
    utts = session.utterances
    rng = plan.rng
    d = utts[int(rng.integers(len(utts)))].dialogue
    rows = np.flatnonzero(np.array([u.dialogue == d for u in utts]))
    run = int(rng.integers(3, 5))
    if len(rows) < run + 2:
        return
    first = int(rows[1 + int(rng.integers(len(rows) - run - 1))])
    sel = list(range(first, first + run))
    g = plan.missing_e4_participant
    session.quirks.missing_e4 = MissingE4(participant=g, indices=sel, t0=float(utts[sel[0]].abs_start),
                                          t1=float(utts[sel[-1]].abs_end))
    records["missing_e4"].append({"participant": f"{session.short}{g}", "signals": ["EDA", "TEMP"],
                                  "segment_ids": [utts[i].segment_id for i in sel]})


def mark_id_mismatch(plan: QuirkPlan, session: Session, records: dict) -> None:
    """One F-speaker row whose id the F file writes with an M (the M file keeps the true id)."""
    if plan.id_mismatch_session != session.number:
        return
    utts = session.utterances
    f_rows = [i for i, u in enumerate(utts) if u.speaker == "F"]
    if not f_rows:
        return
    i = f_rows[int(plan.rng.integers(len(f_rows)))]
    u = utts[i]
    session.quirks.id_mismatch = i
    records["id_mismatch"].append({"session": session.name, "numb": u.numb,
                                   "f_file_id": mismatched_id(session, i), "m_file_id": u.segment_id,
                                   "true_id": u.segment_id})


def mismatched_id(session: Session, i: int) -> str:
    u = session.utterances[i]
    return f"{session.short}_{u.dialogue}_M{u.nnn:03d}"


def mark_header_only(plan: QuirkPlan, session: Session) -> None:
    s, participant, signal = plan.header_only
    if s == session.number:
        session.quirks.header_only.add((participant, signal))


# ----------------------------------------------------------------------------------------------------
# E4 dropouts and stopped tags
# ----------------------------------------------------------------------------------------------------
def mark_e4(plan: QuirkPlan, session: Session, seed: int) -> None:
    """Choose the session's dropouts and stopped tags (before the signals are rendered: a dropout keeps
    its recording running ``gap + 5`` s longer). The session of the forced dropout takes the first
    participant-block (the drawn one first) that can hold one."""
    rng = streams.stream(seed, session.number, streams.E4_QUIRKS)
    slots = [(g, b) for g in ("F", "M") for b in ("script", "impro") if (session.number, g) not in plan.e4_excluded]
    draws = {slot: rng.random() < DROPOUT_RATE for slot in slots}
    forced = plan.forced_dropout
    order = []
    if forced and forced[0] == session.number:
        order = sorted(slots, key=lambda sl: (session.number, *sl) != forced)  # the drawn slot first
    for slot in slots:
        if draws[slot]:
            _mark_dropout(rng, session, *slot)
    if order and not session.quirks.dropouts:
        for slot in order:
            if _mark_dropout(rng, session, *slot):
                break
    for g in ("F", "M"):
        if (session.number, g) in plan.tag_stops:
            _mark_tag_stop(rng, session, g)


def _mark_dropout(rng: np.random.Generator, session: Session, g: str, block: str) -> bool:
    """A dropout inside an own utterance of the last dialogue of the block, late enough that fewer than
    half of the participant's own utterances in the dialogue are affected (the dialogue's offset stays
    the majority). False when the dialogue has fewer than 5 own utterances."""
    dlgs = [d for d in session.dialogues if d.block == block]
    if not dlgs:
        return False
    utts = session.utterances
    own = [i for i, u in enumerate(utts) if u.dialogue == dlgs[-1].name and u.speaker == g]
    if len(own) < 5:
        return False
    u = utts[own[int(rng.integers(len(own) // 2 + 1, len(own) - 1))]]
    gap = float(np.round(rng.uniform(*DROPOUT_GAP_S) * 4) / 4)
    session.quirks.dropouts.append(Dropout(participant=g, dialogue=u.dialogue, block=block, gap=gap,
                                           t_gap=u.abs_start + rng.uniform(0.2, 0.8) * u.duration))
    session.quirks.e4_extend[(g, block)] = gap + 5.0
    return True


def _mark_tag_stop(rng: np.random.Generator, session: Session, g: str) -> None:
    utts = session.utterances
    busy = {d.dialogue for d in session.quirks.dropouts if d.participant == g}
    options = []
    for d in session.dialogues:
        own = [i for i, u in enumerate(utts) if u.dialogue == d.name and u.speaker == g]
        if d.name not in busy and len(own) >= 4:
            options.append(own)
    if options:
        own = options[int(rng.integers(len(options)))]
        k = int(rng.integers(int(np.ceil(0.4 * len(own))), len(own) - 1))
        session.quirks.tag_stops.append(TagStop(participant=g, dialogue=utts[own[k]].dialogue, first=own[k]))


def _count_tags(sig: Signal, keep: np.ndarray, in_d: np.ndarray) -> np.ndarray:
    """Tags of the kept rows when the dialogue whose tagged rows are ``in_d`` is tagged by counting
    samples from its first tagged row (rows of other dialogues keep their clock-based tags)."""
    kept = np.flatnonzero(keep)
    new = sig.tags[kept].copy()
    a = int(np.flatnonzero(in_d)[0])
    block_end = a + int(np.argmax(np.diff(sig.elapsed[a:], append=-1.0) < 0))  # last row of the recording
    ja = int(np.searchsorted(kept, a))
    j = np.arange(ja, int(np.searchsorted(kept, block_end, "right")))
    ci = a + (j - ja)  # the row the tagger counted to
    counted = np.where(in_d[ci], sig.tags[ci], -1)
    update = in_d[kept[j]] | (counted >= 0)
    new[j[update]] = counted[update]
    return new


def _dialogue_rows(session: Session, sig: Signal, dialogue: str) -> np.ndarray:
    member = np.array([u.dialogue == dialogue for u in session.utterances] + [False])
    return member[sig.tags]  # tag -1 -> the trailing False


def _apply_dropout(session: Session, sig: Signal, d: Dropout, bio_tags: list) -> list[str]:
    keep = ~((sig.t >= d.t_gap) & (sig.t < d.t_gap + d.gap))
    tags = _count_tags(sig, keep, _dialogue_rows(session, sig, d.dialogue))
    sig.t, sig.elapsed, sig.values, sig.tags = sig.t[keep], sig.elapsed[keep], sig.values[keep], tags
    affected = []
    for i, u in enumerate(session.utterances):
        if u.dialogue != d.dialogue or u.speaker != d.participant:
            continue
        t = sig.t[sig.tags == i]
        before, after = (t < d.t_gap).any(), (t >= d.t_gap + d.gap).any()
        kind = "spans_dropout" if before and after else "shifted" if after else None
        if kind:
            bio_tags.append({"segment_id": u.segment_id, "signal": sig.name.lower(), "kind": kind,
                             "gap_seconds": d.gap})
            affected.append(u.segment_id)
    return affected


def _apply_tag_stop(session: Session, sig: Signal, stop: TagStop, bio_tags: list) -> list[str]:
    later = np.array([u.dialogue == stop.dialogue and i >= stop.first for i, u in enumerate(session.utterances)]
                     + [False])
    sig.tags = np.where(later[sig.tags], -1, sig.tags)
    ids = [u.segment_id for i, u in enumerate(session.utterances) if later[i] and u.speaker == stop.participant]
    bio_tags.extend({"segment_id": sid, "signal": sig.name.lower(), "kind": "untagged",
                     "gap_seconds": float("nan")} for sid in ids)
    return ids


def apply_e4(session: Session, records: dict) -> None:
    """Remove the missing-E4 and dropout rows from the rendered EDA/TEMP signals, re-tag by counting
    samples after a dropout, stop the tags; record the truth (``records['bio_tags']`` and the manifest)."""
    q = session.quirks
    for name in E4_SIGNALS:
        if q.missing_e4 is not None:
            sig = session.participants[q.missing_e4.participant].signals[name]
            keep = ~((sig.t >= q.missing_e4.t0) & (sig.t < q.missing_e4.t1))
            sig.t, sig.elapsed, sig.values, sig.tags = sig.t[keep], sig.elapsed[keep], sig.values[keep], sig.tags[keep]
        for d in q.dropouts:
            ids = _apply_dropout(session, session.participants[d.participant].signals[name], d, records["bio_tags"])
            if name == "EDA":
                records["e4_dropout"].append({"participant": f"{session.short}{d.participant}", "dialogue": d.dialogue,
                                              "signals": list(E4_SIGNALS), "gap_seconds": d.gap, "segment_ids": ids})
        for stop in q.tag_stops:
            ids = _apply_tag_stop(session, session.participants[stop.participant].signals[name], stop,
                                  records["bio_tags"])
            if name == "EDA":
                records["tags_stop"].append({"participant": f"{session.short}{stop.participant}",
                                             "dialogue": stop.dialogue, "signals": list(E4_SIGNALS),
                                             "segment_ids": ids})


# ----------------------------------------------------------------------------------------------------
# Annotation quirks. ``files`` maps an annotation file (relative path) to its rows; a row has the
# fields numb, segment_id (as written), total, the unused bio start/end fields, and ``own`` (the file
# holds the speaker's own rating).
# ----------------------------------------------------------------------------------------------------
def disqust(dataset: Dataset, rng: np.random.Generator, files: dict[str, list]) -> None:
    """A few 'disqust' typos in Total Evaluation (at least one in a speaker's own row when there is one)."""
    cand = [(f, i) for f, rows in files.items() for i, r in enumerate(rows) if "disgust" in r.total]
    pick = [c for c in cand if rng.random() < 0.04] or [cand[int(rng.integers(len(cand)))]]
    own = [c for c in cand if files[c[0]][c[1]].own]  # the rows the reader uses
    if own and not any(c in own for c in pick):
        pick.append(own[int(rng.integers(len(own)))])
    for f, i in pick:
        row = files[f][i]
        row.total = row.total.replace("disgust", "disqust")
        dataset.records["disqust"].append({"file": f, "numb": row.numb, "segment_id": row.segment_id})


def unused_field_text(seed: int, files: dict[str, list], fields: dict[int, tuple[str, str]]) -> list[dict]:
    """Two speaker rows (own file) get a non-numeric value in one of the unused, filled cells ``fields``
    (column index -> (row attribute, column name)). Edits the rows in place and returns the records
    ``{file, numb, segment_id, index, column, value, replaces}``. Its own random stream
    (``[seed, 0, 8]``): no other stream, and no other byte of the dataset, changes."""
    rng = streams.stream(seed, 0, streams.UNUSED_FIELDS)
    cells = [(f, r, c) for f, rows in files.items() for r in rows if r.own
             for c, (attr, _) in fields.items() if getattr(r, attr)]
    records = []
    for j in sorted(rng.choice(len(cells), size=min(2, len(cells)), replace=False).tolist()):
        f, row, c = cells[j]
        attr, column = fields[c]
        value = UNUSED_FIELD_TEXTS[int(rng.integers(len(UNUSED_FIELD_TEXTS)))]
        records.append({"file": f, "numb": row.numb, "segment_id": row.segment_id, "index": c,
                        "column": column, "value": value, "replaces": getattr(row, attr)})
        setattr(row, attr, value)
    return records
