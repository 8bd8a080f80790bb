"""The E4 tag quirks of the synthetic data (issue: bio tags after device dropouts), read from its files.

The tiny preset (presets/tiny.yaml) is generated once (a few seconds). A dropout makes the clock and the
elapsed column of a participant's EDA and TEMP files jump forward by 40-142 s between two consecutive rows;
the tags are placed by counting samples, so the segment whose tagged run spans the gap covers far more
clock time than its utterance and every later segment of the dialogue is tagged onto samples shifted by
the gap. Tags that stop part-way leave segments without tags while the signal goes on.
``_truth/bio_tags.parquet`` lists exactly the affected own-speaker segments; every other segment's tags
agree with its dialogue's clock offset.
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import yaml

from emoflow import synth

ROOT = Path(__file__).resolve().parents[1]
E4 = ("EDA", "TEMP")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    cfg = yaml.safe_load((ROOT / "presets" / "tiny.yaml").read_text())["synthetic"]
    base = tmp_path_factory.mktemp("bio_tags")
    manifest = synth.generate(base / "KEMDy19", cfg, base / "manifest.json")
    truth = pd.read_parquet(base / "KEMDy19" / "_truth" / "bio_tags.parquet")
    return SimpleNamespace(root=base / "KEMDy19", manifest=manifest, truth=truth)


def seconds(clock: str) -> float:
    h, m, s = clock.split(":")
    return int(h) * 3600 + int(m) * 60 + float(s)


def read_e4(root: Path, signal: str, participant: str) -> pd.DataFrame:
    path = root / signal / f"Session{participant[4:6]}" / "Original" / f"{participant}.csv"
    rows = [line.split(",") for line in path.read_text(encoding="ascii").splitlines()]
    return pd.DataFrame({"elapsed": [float(r[1]) for r in rows], "clock": [seconds(r[2]) for r in rows],
                         "tag": [r[3] if len(r) == 4 else "" for r in rows]})


def wav_times(root: Path, session: str) -> pd.DataFrame:
    """Wav start/end (dialogue seconds) per segment id, from the M annotation file (true ids)."""
    lines = (root / "annotation" / f"{session}_M_res.csv").read_text(encoding="ascii").splitlines()[2:]
    rows = [line.split(",") for line in lines]
    return pd.DataFrame({"segment_id": [r[9] for r in rows], "start": [float(r[1]) for r in rows],
                         "end": [float(r[2]) for r in rows]}).set_index("segment_id")


def own_offsets(data, signal: str, participant: str) -> pd.DataFrame:
    """Per own segment tagged in the file: first/last tagged clock, row count, offset (first tagged clock
    minus wav start) and its deviation from the dialogue's median offset."""
    df = read_e4(data.root, signal, participant)
    own = df[df.tag.str[-4:-3] == participant[-1]]
    seg = own.groupby("tag").agg(first=("clock", "min"), last=("clock", "max"), rows=("clock", "size"))
    seg = seg.join(wav_times(data.root, f"Session{participant[4:6]}"))
    seg["offset"] = seg["first"] - seg["start"]
    seg["dialogue"] = [sid.split("_")[1] for sid in seg.index]
    seg["deviation"] = seg.offset - seg.groupby("dialogue").offset.transform("median")
    return seg


def test_truth_table_contract(data):
    t = data.truth
    assert list(t.columns) == ["segment_id", "signal", "kind", "gap_seconds"]
    assert set(t.signal) == {"eda", "temp"} and set(t.kind) <= {"spans_dropout", "shifted", "untagged"}
    assert {"shifted", "untagged"} <= set(t.kind)  # the tiny preset holds a dropout and stopped tags
    assert t.gap_seconds.dtype == np.float64
    assert t.loc[t.kind == "untagged", "gap_seconds"].isna().all()
    assert t.loc[t.kind != "untagged", "gap_seconds"].between(40, 142).all()
    # both E4 signals of a participant share the recording: the same segments, kinds and gaps
    eda, temp = (t[t.signal == s].drop(columns="signal").reset_index(drop=True) for s in ("eda", "temp"))
    pd.testing.assert_frame_equal(eda, temp)
    assert not t.duplicated(["segment_id", "signal"]).any()
    assert len(data.manifest["quirks"]["e4_dropout"]) >= 1 and len(data.manifest["quirks"]["tags_stop"]) >= 1


def test_dropouts_jump_clock_and_elapsed_between_two_rows(data):
    for rec in data.manifest["quirks"]["e4_dropout"]:
        for signal in E4:
            df = read_e4(data.root, signal, rec["participant"])
            d_el, d_clock = np.diff(df.elapsed), np.diff(df.clock)
            jumps = np.flatnonzero(d_el > 0.25 + 1e-6)
            gaps = [r["gap_seconds"] for r in data.manifest["quirks"]["e4_dropout"]
                    if r["participant"] == rec["participant"]]
            assert sorted(d_el[jumps] - 0.25) == pytest.approx(sorted(gaps))
            assert d_clock[jumps] == pytest.approx(d_el[jumps], abs=0.002)  # both columns jump alike


def test_tags_after_a_dropout_are_shifted_by_the_gap(data):
    truth = data.truth[data.truth.signal == "eda"].set_index("segment_id")
    for rec in data.manifest["quirks"]["e4_dropout"]:
        for signal in E4:
            seg = own_offsets(data, signal, rec["participant"])
            in_dialogue = seg[seg.dialogue == rec["dialogue"]]
            kinds = truth.kind.reindex(in_dialogue.index)
            shifted = in_dialogue[kinds == "shifted"]
            spans = in_dialogue[kinds == "spans_dropout"]
            assert len(shifted) + len(spans) == len(rec["segment_ids"]) >= 1
            assert shifted.deviation.to_numpy() == pytest.approx(rec["gap_seconds"], abs=0.5)
            for _, s in spans.iterrows():  # the run counts the utterance's samples over far more clock time
                assert s.rows == pytest.approx((s.end - s.start) * 4, abs=1.5)
                assert s["last"] - s["first"] == pytest.approx(s.end - s.start + rec["gap_seconds"], abs=0.6)
            others = in_dialogue[kinds.isna()]
            assert len(others) > len(shifted) + len(spans)  # the dialogue's offset stays the majority
            assert others.deviation.abs().max() < 0.5


def test_stopped_tags_leave_the_signal_running(data):
    untagged = set(data.truth.loc[data.truth.kind == "untagged", "segment_id"])
    for rec in data.manifest["quirks"]["tags_stop"]:
        assert set(rec["segment_ids"]) <= untagged
        for signal in E4:
            df = read_e4(data.root, signal, rec["participant"])
            seg = own_offsets(data, signal, rec["participant"])
            assert not set(rec["segment_ids"]) & set(seg.index)
            offset = seg[seg.dialogue == rec["dialogue"]].offset.median()
            wav = wav_times(data.root, f"Session{rec['participant'][4:6]}").loc[rec["segment_ids"]]
            for start, end in zip(wav.start + offset, wav.end + offset):
                inside = df[(df.clock >= start) & (df.clock < end)]
                assert len(inside) >= 2 and (inside.tag == "").all()


def test_every_other_segment_is_tagged_at_its_dialogue_offset(data):
    """Outside the recorded quirks the tags agree with the clock: the same offset across a dialogue, and
    one tagged row per 0.25 s of the utterance."""
    listed = set(data.truth.segment_id)
    missing = {sid for q in data.manifest["quirks"]["missing_e4"] for sid in q["segment_ids"]}
    header_only = {q["participant"] for q in data.manifest["quirks"]["header_only_bio"]}
    n = 0
    for session in data.manifest["sessions"]:
        for g in "FM":
            part = f"Sess{session[-2:]}{g}"
            seg = own_offsets(data, "EDA", part)
            if part in header_only:
                continue
            normal = seg[~seg.index.isin(listed | missing)]
            assert normal.deviation.abs().max() < 0.5
            assert (normal.rows - (normal.end - normal.start) * 4).abs().max() <= 1.5
            n += len(normal)
    assert n > 50
