"""Generation: build, render and write the dataset one session at a time.

Per session (``build_session``): the plan (dialogues, turns, times), the participants (voice,
physiology), labels (from each speaker's label distribution) and cues, the session quirks, speech,
text, bio signals and ratings, in that order; each purpose draws from its own random stream
(``rng.py``). The layout writer then writes the session's files and the session's heavy arrays are
released. At the end the writer writes its annotation files, and the truth folder and the manifest
(last) are written.

Sizes and time (constants.SYNTH_SIZES): small and full have KEMDy19's utterance durations (median 4.2 s,
~10 % over 13 s, up to 78 s); tiny keeps 1-3.5 s clips so that the test suite stays fast. The small
preset (6 sessions) takes about 16 s of CPU, the full preset (20 sessions, ~10,200 speaker utterances,
4 GB of files) about 225 s of CPU and 1 GB of memory.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

from ..io import write_json
from . import bio, cues, plan, quirks, speech, text, truth
from . import rng as streams
from .layout_kemdy19 import Kemdy19Layout
from .layout_kemdy20 import generate as generate_kemdy20
from .model import Dataset, Participant, Session
from .quirks import QuirkPlan
from .settings import RECORDING_LEAD_S, preset, resolve_config

log = logging.getLogger(__name__)

def layout_writer(name: str, root: Path):
    """The writer of a dataset layout (``kemdy19``)."""
    if name == "kemdy19":
        return Kemdy19Layout(root)
    raise ValueError(f"unknown synthetic layout {name!r}; choose kemdy19")


def build_session(cfg: dict, model: dict, number: int, dialogues: list[str], qplan: QuirkPlan,
                  records: dict, layout) -> Session:
    """One session, fully rendered (audio, text, signals, ratings) and with its quirks marked. ``layout``
    (the writer) names the participants and the segment ids."""
    seed = cfg["seed"]
    dlgs = plan.plan_session(streams.stream(seed, number, streams.PLAN), number, dialogues, preset(cfg),
                             segment_id=layout.segment_id, pair=layout.turn_pair)
    session = Session(number=number, seed=seed, dialogues=dlgs)
    for gi, key in enumerate(layout.participants):
        gender = layout.gender(key)
        voice = speech.make_voice(streams.stream(seed, number, streams.PERSONS, gi), gender)
        physiology = bio.make_physiology(streams.stream(seed, number, streams.PHYSIOLOGY, gi))
        session.participants[key] = Participant(key=key, gender=gender, voice=voice, physiology=physiology)
    rng_l = streams.stream(seed, number, streams.LABELS)
    cues.draw_labels(rng_l, session, model)
    session.clock0_ms = int(rng_l.integers(9 * 3600, 11 * 3600)) * 1000
    cues.draw_cues(streams.stream(seed, number, streams.CUES), session, model)
    quirks.mark_tag_only(qplan, session, records)
    speech.render_session(streams.stream(seed, number, streams.AUDIO), session)
    text.render_session(streams.stream(seed, number, streams.TEXT), session)
    quirks.mark_missing_e4(qplan, session, records)
    quirks.mark_header_only(qplan, session)
    quirks.mark_e4(qplan, session, seed)
    for gi, key in enumerate(layout.participants):
        bio.render_participant(streams.stream(seed, number, streams.BIO, gi), session, session.participants[key],
                               cfg["ecg_fs"], RECORDING_LEAD_S[cfg["size"]])
    quirks.apply_e4(session, records)
    cues.rate_session(streams.stream(seed, number, streams.RATERS), session)
    quirks.mark_id_mismatch(qplan, session, records)
    return session


def generate(root, synthetic: dict, manifest_path, layout: str = "kemdy19") -> dict:
    """Write the synthetic dataset under ``root`` and its manifest (last) at ``manifest_path``.

    Deterministic for ``synthetic['seed']``: the same configuration gives byte-identical files.
    Returns the manifest. ``layout`` kemdy20: ``layout_kemdy20.generate`` (its own sessions: user ids,
    scripts, one E4 recording per user and script).
    """
    if layout == "kemdy20":
        return generate_kemdy20(root, synthetic, manifest_path)
    t_start = time.time()
    cfg = resolve_config(synthetic)
    root = Path(root)
    dataset = Dataset(config=cfg, cue_model=cues.build_cue_model(cfg["cue_accuracy"], cfg["seed"]),
                      dialogues=list(preset(cfg)["dialogues"]), records={k: [] for k in quirks.RECORD_KEYS})
    qplan = quirks.choose(cfg["seed"], cfg["n_sessions"])
    root.mkdir(parents=True, exist_ok=True)
    writer = layout_writer(layout, root)
    for number in range(1, cfg["n_sessions"] + 1):
        session = build_session(cfg, dataset.cue_model, number, dataset.dialogues, qplan, dataset.records, writer)
        writer.write_session(session, dataset.records)
        session.release()
        dataset.sessions.append(session)
        log.info("session %02d: %d utterances", number, len(session.utterances))
    files = writer.finish(dataset, qplan.rng)
    truth.write_truth(root, dataset)
    manifest = truth.manifest(dataset, files)
    write_json(manifest, manifest_path)
    log.info("synthetic KEMDy19 (%s, seed %d): %d utterances in %.1f s", cfg["size"], cfg["seed"],
             manifest["counts"]["utterances"], time.time() - t_start)
    return manifest
