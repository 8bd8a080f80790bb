"""The synthetic stand-in in the KEMDy20 layout (``synthetic.layout: kemdy20``).

The same latent cue model, plan, speech, text and physiology as the KEMDy19 stand-in, with KEMDy20's
structure and quirks:

- sessions of two *users* (``User001M``; numbered ``2s-1``, ``2s``, sessions 12 and 17 use 081-084), paired
  MM, FF or FM in turn (``PAIRS``), so the gender letter does not name a speaker;
- the size preset's dialogues are scripts (``script01`` ...), one E4 recording per user and script;
- ``annotation/SessSS_eval.csv``: one file per session, two header rows whose empty cells are a single
  space, 37 columns (Numb, WAV start/end, Segment ID, Total Evaluation, 10 raters x 3), CRLF, each
  utterance rated once (the speaker's own rating); ties ``;``-joined in KEMDy20 order (happy, surprise,
  angry, neutral, disgust, fear, sad);
- a KEMDy20-like label prior: about 87 % neutral (``PRIOR``), written to ``_truth/cue_model.json``;
- flat ``wav/SessionSS/{id}.wav|.txt``, transcripts in CP949;
- per user and script: ``EDA|TEMP/SessionSS/{SessSS_scriptNN_UserNNNX}.csv`` (``unix_start,timestamp``,
  ``4.000000,hz``, rows ``value,YYYY-MMDD-HHMM-SS-mmm[,SegID]``) and ``IBI/...`` (``unix_start,IBI,timestamp``,
  rows ``t_since_start,ibi,timestamp[,SegID]``: the beats behind the heart rate, stamped in 1/64 s, with
  no rows inside motion artefacts, so some segments have too few or no tagged beats); each file tagged
  with its own user's segments only;
- ``zero_byte_ibi``: the last session's second user's IBI file of the last script has 0 bytes (recorded in
  ``_truth/empty_bio.json`` with the segments it leaves without IBI);
- ``disqust``: the first own Total Evaluation ``disgust`` of session 1, if any, is written ``disqust`` (v1.1).

``generate`` writes the dataset, ``_truth/`` (so the oracle works as for KEMDy19) and the manifest.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from pathlib import Path

import numpy as np

from ..constants import EMOTIONS, KEMDY20_TIE_ORDER
from ..io import atomic_path, write_json
from . import bio, cues, fmt, plan, speech, text, truth
from . import rng as streams
from .layout_kemdy19 import mean_str
from .model import Dataset, Participant, Session
from .settings import preset, resolve_config

log = logging.getLogger(__name__)

LAYOUT = "kemdy20"
PAIRS = ("MM", "FF", "FM")  # session s pairs PAIRS[(s - 1) % 3]
REPLACEMENT_USERS = {12: (81, 82), 17: (83, 84)}
# KEMDy20's label distribution of the single-label rows (v1.2: 11,120 neutral of 12,828)
PRIOR = {"neutral": 0.867, "happy": 0.092, "surprise": 0.012, "angry": 0.011, "sad": 0.009, "disgust": 0.005,
         "fear": 0.004}
RATERS = ["Eval01F", "Eval02M", "Eval03M", "Eval04F", "Eval05M", "Eval06F", "Eval07F", "Eval08M", "Eval09F",
          "Eval10M"]
HEADER1 = ["Numb", "WAV", " ", "Segment ID", "Total Evaluation", " ", " "] + [c for r in RATERS for c in (r, " ", " ")]
HEADER2 = [" ", "start", "end", " ", "Emotion", "Valence", "Arousal"] + ["Emotion", "Valence", "Arousal"] * 10
TIE_RANK = {e: i for i, e in enumerate(KEMDY20_TIE_ORDER)}
E4_LEAD_S = (5.0, 20.0)  # the E4 starts this long before the script's first utterance
IBI_STEP = 1.0 / 64  # the E4 stamps beats in 1/64 s
ARTEFACTS_PER_MIN = 2.0  # motion artefacts without IBI rows, 2-12 s each
FIRST_DAY = dt.date(2020, 8, 3)
IBI_STREAM = 20  # per-participant stream key of the IBI detection (after rng's purposes)


def session_users(number: int) -> tuple[str, str]:
    """The two user ids of a session, e.g. ``("User001M", "User002M")``."""
    a, b = REPLACEMENT_USERS.get(number, (2 * number - 1, 2 * number))
    ga, gb = PAIRS[(number - 1) % len(PAIRS)]
    return f"User{a:03d}{ga}", f"User{b:03d}{gb}"


def segment_id(session: int, dialogue: str, key: str, nnn: int) -> str:
    """``Sess01_script01_User002M_014``: the user's utterances counted per script."""
    return f"Sess{session:02d}_{dialogue}_{key}_{nnn:03d}"


def scripts(dialogues: list[str]) -> list[str]:
    """The size preset's dialogues as KEMDy20 scripts (the same number)."""
    return [f"script{i:02d}" for i in range(1, len(dialogues) + 1)]


def cue_model(cfg: dict) -> dict:
    model = cues.build_cue_model(cfg["cue_accuracy"], cfg["seed"])
    model["prior"] = [PRIOR[e] for e in EMOTIONS]
    model["layout"] = LAYOUT
    return model


def kemdy20_total(total: str) -> str:
    """A ``;``-joined tie rewritten in KEMDy20's order."""
    return ";".join(sorted(total.split(";"), key=TIE_RANK.__getitem__))


def build_session(cfg: dict, model: dict, number: int, dialogues: list[str]) -> Session:
    """One session, rendered: plan, labels, cues, users (voice, physiology), speech, text, ratings."""
    seed = cfg["seed"]
    users = session_users(number)
    dlgs = plan.plan_session(streams.stream(seed, number, streams.PLAN), number, dialogues, preset(cfg),
                             segment_id=segment_id, pair=users)
    session = Session(number=number, seed=seed, dialogues=dlgs)
    rng_l = streams.stream(seed, number, streams.LABELS)
    cues.draw_labels(rng_l, session, model)
    session.clock0_ms = int(rng_l.integers(9 * 3600, 11 * 3600)) * 1000
    cues.draw_cues(streams.stream(seed, number, streams.CUES), session, model)
    for gi, key in enumerate(users):
        voice = speech.make_voice(streams.stream(seed, number, streams.PERSONS, gi), key[-1])
        physiology = bio.make_physiology(streams.stream(seed, number, streams.PHYSIOLOGY, gi))
        session.participants[key] = Participant(key=key, gender=key[-1], voice=voice, physiology=physiology)
    speech.render_session(streams.stream(seed, number, streams.AUDIO), session)
    text.render_session(streams.stream(seed, number, streams.TEXT), session)
    cues.rate_session(streams.stream(seed, number, streams.RATERS), session)
    for u in session.utterances:
        u.own_rating.total = kemdy20_total(u.own_rating.total)
    return session


# ---------------------------------------------------------------------------------------------------
# E4 files of one user and script


def timestamps(day: dt.date, wall_ms: np.ndarray) -> np.ndarray:
    """Milliseconds since midnight of ``day`` -> b'YYYY-MMDD-HHMM-SS-mmm'."""
    sec = wall_ms // 1000
    s0 = int(sec.min())
    secs = np.arange(s0, int(sec.max()) + 1)
    prefix = f"{day.year:04d}-{day.month:02d}{day.day:02d}-"
    sec_tab = np.array([f"{prefix}{s // 3600:02d}{(s // 60) % 60:02d}-{s % 60:02d}-".encode() for s in secs.tolist()])
    ms_tab = np.array([f"{i:03d}".encode() for i in range(1000)])
    return np.strings.add(sec_tab[sec - s0], ms_tab[wall_ms % 1000])


def _tags(t: np.ndarray, own) -> np.ndarray:
    """Per time: b',<segment id>' inside one of the user's own utterances, else b''."""
    starts = np.array([u.abs_start for u in own])
    ends = np.array([u.abs_end for u in own])
    table = np.array([("," + u.segment_id).encode() for u in own] + [b""])
    return table[bio.segment_tags(t, starts, ends)] if len(own) else np.full(len(t), b"", dtype="S1")


def _ibi_rows(rng: np.random.Generator, beats: np.ndarray, rec0: float, rec1: float) -> tuple[np.ndarray, np.ndarray]:
    """``(beat times, intervals)`` the E4 reports: beats stamped in 1/64 s; none inside motion artefacts
    (a beat is reported only when the previous one was detected too)."""
    tb = np.unique(np.round((beats - rec0) / IBI_STEP)) * IBI_STEP + rec0
    n_art = rng.poisson(ARTEFACTS_PER_MIN / 60.0 * (rec1 - rec0))
    a0 = rng.uniform(rec0, rec1, n_art)
    a1 = a0 + rng.uniform(2.0, 12.0, n_art)
    detected = ~((tb[:, None] >= a0[None, :]) & (tb[:, None] < a1[None, :])).any(axis=1)
    ok = detected[1:] & detected[:-1]
    return tb[1:][ok], np.diff(tb)[ok]


class Kemdy20Layout:
    """Writes each session as it is built: media, the E4 files per user and script, its annotation file."""

    name = LAYOUT

    def __init__(self, root: Path):
        self.root = Path(root)
        self.files = {"annotation_files": 0, "annotation_rows": 0, "wav_files": 0, "txt_files": 0, "bio_files": 0,
                      "bio_rows": {"EDA": 0, "TEMP": 0, "IBI": 0}}

    def write_session(self, session: Session, records: dict, last: bool) -> None:
        self._write_media(session)
        self._write_bio(session, records, last)
        self._write_annotation(session, records)

    def _write_media(self, session: Session) -> None:
        folder = self.root / "wav" / session.name
        folder.mkdir(parents=True, exist_ok=True)
        for u in session.utterances:
            fmt.write_wav(folder / f"{u.segment_id}.wav", u.audio)
            (folder / f"{u.segment_id}.txt").write_bytes((u.text + "\n").encode("cp949"))
        self.files["wav_files"] += len(session.utterances)
        self.files["txt_files"] += len(session.utterances)

    def _write(self, rel: str, data: bytes, signal: str, n_rows: int) -> None:
        with atomic_path(self.root / rel) as tmp:
            tmp.write_bytes(data)
        self.files["bio_files"] += 1
        self.files["bio_rows"][signal] += n_rows

    def _write_bio(self, session: Session, records: dict, last: bool) -> None:
        day = FIRST_DAY + dt.timedelta(days=session.number - 1)
        midnight = dt.datetime(day.year, day.month, day.day, tzinfo=dt.timezone.utc).timestamp()
        users = list(session.participants)
        for gi, key in enumerate(users):
            p = session.participants[key]
            rng = streams.stream(session.seed, session.number, streams.BIO, gi)
            rng_ibi = streams.stream(session.seed, session.number, IBI_STREAM, gi)
            for d in session.dialogues:
                stem = f"{session.short}_{d.name}_{key}"
                empty = last and gi == 1 and d is session.dialogues[-1]
                own = [u for u in d.utterances if u.speaker == key]
                self._write_script(rng, rng_ibi, session, p, d, own, stem, day, midnight, empty)
                if empty:
                    records["zero_byte_ibi"].append({"participant": key, "signal": "IBI",
                                                     "file": f"IBI/{session.name}/{stem}.csv",
                                                     "segment_ids": [u.segment_id for u in own]})

    def _write_script(self, rng, rng_ibi, session, p, d, own, stem, day, midnight, empty) -> None:
        """The EDA, TEMP and IBI files of one user and script (one E4 recording)."""
        first, last = d.t0 + d.utterances[0].start, d.t0 + d.utterances[-1].end
        rec0 = first - float(np.round(rng.uniform(*E4_LEAD_S), 3))
        rec1 = last + float(rng.uniform(5.0, 15.0))
        turns = bio.OwnTurns(starts=np.array([u.abs_start for u in own]), ends=np.array([u.abs_end for u in own]),
                             cues=[u.cues["bio"] for u in own], dialogues=[d.name] * len(own))
        t = rec0 + np.arange(1, int((rec1 - rec0) * bio.E4_FS) + 1) / bio.E4_FS
        eda = np.rint(bio.eda_signal(rng, t, rec0, turns, p.physiology) * 1e6).astype(np.int64)
        temp = np.rint(bio.temp_signal(rng, t, rec0, turns, p.physiology, {d.name: (first, last)}) * 100)
        start_ms = session.clock0_ms + int(round(rec0 * 1000))
        start_ts = timestamps(day, np.array([start_ms]))[0]
        head = f"{midnight + start_ms / 1000:.6f},".encode() + start_ts
        stamp = np.strings.add(b",", timestamps(day, session.clock0_ms + np.rint(t * 1000).astype(np.int64)))
        tags = _tags(t, own)
        for name, values in (("EDA", fmt.fixed(eda, 6)), ("TEMP", fmt.fixed(temp.astype(np.int64), 2))):
            body = fmt.join_rows(values, stamp, tags)
            self._write(f"{name}/{session.name}/{stem}.csv", head + b"\n4.000000,hz\n" + body, name, len(t))
        beats = bio.beat_times(rng, rec0, rec1, turns, p.physiology)
        tb, ibi = _ibi_rows(rng_ibi, beats, rec0, rec1)
        rel = f"IBI/{session.name}/{stem}.csv"
        if empty:
            self._write(rel, b"", "IBI", 0)
            return
        head = f"{midnight + start_ms / 1000:.6f},IBI,".encode() + start_ts + b"\n"
        rows = b""
        if len(tb):
            ts = timestamps(day, session.clock0_ms + np.rint(tb * 1000).astype(np.int64))
            since = np.array([f"{x:.6f}" for x in tb - rec0], dtype="S")
            ivals = np.array([f"{x:.6f}" for x in ibi], dtype="S")
            rows = fmt.join_rows(since, b",", ivals, b",", ts, _tags(tb, own))
        self._write(rel, head + rows, "IBI", len(tb))

    def _write_annotation(self, session: Session, records: dict) -> None:
        lines = [",".join(HEADER1), ",".join(HEADER2)]
        for u in session.utterances:
            r = u.own_rating
            total = r.total
            if session.number == 1 and total == "disgust" and not records["disqust"]:
                total = "disqust"
                records["disqust"].append(u.segment_id)
            raters = [c for j in range(len(RATERS)) for c in (EMOTIONS[r.votes[j]], str(r.valence[j]),
                                                                str(r.arousal[j]))]
            lines.append(",".join([str(u.numb), fmt.seconds(u.start), fmt.seconds(u.end), u.segment_id, total,
                                   mean_str(r.valence), mean_str(r.arousal)] + raters))
        with atomic_path(self.root / "annotation" / f"{session.short}_eval.csv") as tmp:
            tmp.write_bytes(("\r\n".join(lines) + "\r\n").encode("ascii"))
        self.files["annotation_files"] += 1
        self.files["annotation_rows"] += len(session.utterances)


def generate(root, synthetic: dict, manifest_path) -> dict:
    """Write the KEMDy20-layout stand-in under ``root``, its ``_truth/`` and (last) its manifest.
    Deterministic for ``synthetic['seed']``. Returns the manifest."""
    t_start = time.time()
    cfg = resolve_config(synthetic)
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    records = {k: [] for k in ("header_only_bio", "unused_field_text", "bio_tags", "disqust", "zero_byte_ibi")}
    dataset = Dataset(config=cfg, cue_model=cue_model(cfg), dialogues=scripts(list(preset(cfg)["dialogues"])),
                      records=records)
    writer = Kemdy20Layout(root)
    for number in range(1, cfg["n_sessions"] + 1):
        session = build_session(cfg, dataset.cue_model, number, dataset.dialogues)
        writer.write_session(session, records, last=number == cfg["n_sessions"])
        session.release()
        dataset.sessions.append(session)
        log.info("session %02d (%s): %d utterances", number, "/".join(session.participants), len(session.utterances))
    truth.write_truth(root, dataset)
    write_json(records["zero_byte_ibi"], root / "_truth" / "empty_bio.json")
    manifest = truth.manifest(dataset, writer.files)
    utts = [u for _, u in dataset.utterances]
    manifest["layout"] = LAYOUT
    manifest["counts"]["utterances_by_speaker"] = {k: sum(u.speaker == k for u in utts)
                                                   for k in sorted({u.speaker for u in utts})}
    manifest["truth"]["empty_bio"] = "_truth/empty_bio.json"
    write_json(manifest, manifest_path)
    log.info("synthetic KEMDy20 (%s, seed %d): %d utterances in %.1f s", cfg["size"], cfg["seed"], len(utts),
             time.time() - t_start)
    return manifest
