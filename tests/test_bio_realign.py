"""Bio segment tags checked against the dialogue's clock offset: re-aligned, recovered or excluded.

Fixtures are small 4 Hz files in the KEMDy19 E4 layout (``value,elapsed,clock[,SegID]``) written by the
tests. A dialogue's wav times map onto the bio clock with one offset (``OFFSET`` s after ``START``); each
utterance starts and ends half a sample period after a sample, so the tags placed by time and the rows
taken by time are the same rows. An E4 dropout removes rows (clock and elapsed jump); tags placed by
counting samples then shift every later segment by the gap.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from emoflow.features.bio import align, extract, gather, offset, recording
from test_bio_features import ECG_SETTINGS, EDA_SETTINGS, START, TEMP_SETTINGS, ecg_recording, write_raw

FS = 4.0
OFFSET = 20.0  # clock of wav time 0, seconds after START
STEP = 6.0  # one utterance every 6 s: 5.5 s of speech, 0.5 s pause
ALIGN = dict(offset.DEFAULTS)
SETTINGS = {"eda": EDA_SETTINGS, "temp": TEMP_SETTINGS}


def plan(n: int, dialogue: str = "script01", first: float = 5.125, t0: float = 0.0) -> pd.DataFrame:
    """``n`` utterances alternating F/M; wav times in the dialogue (``t0`` shifts its clock offset)."""
    rows = []
    for i in range(n):
        g = "FM"[i % 2]
        ws = first + STEP * i
        rows.append({"segment_id": f"Sess01_{dialogue}_{g}{i // 2 + 1:03d}", "session": "Session01", "speaker": g,
                     "dialogue": dialogue, "start": ws, "end": ws + 5.5, "t0": t0})
    return pd.DataFrame(rows)


def continuous(seconds: float, clock0: float = START):
    """A gap-free 4 Hz recording: elapsed, clock, and a value with slow and fast parts."""
    el = np.arange(1, int(seconds * FS) + 1) / FS
    x = 2.0 + 0.3 * np.sin(2 * np.pi * 0.05 * el) + 0.05 * np.sin(2 * np.pi * 0.7 * el) + 0.002 * el
    return el, clock0 + el, x


def time_tags(clock: np.ndarray, segs: pd.DataFrame) -> np.ndarray:
    """Tags placed by time: rows whose clock lies in [wav start, wav end) + the dialogue's offset."""
    tags = np.full(clock.size, "", dtype=object)
    for r in segs.itertuples():
        lo = START + OFFSET + r.t0
        tags[(clock >= lo + r.start) & (clock < lo + r.end)] = r.segment_id
    return tags


def dropout(el, clock, x, tags, at: float, gap: float):
    """Remove ``gap`` seconds of rows from clock ``START + at`` on; the tags stay where they were counted
    (row by row), so every tag after the gap lands ``gap`` seconds late."""
    keep = ~((clock >= START + at) & (clock < START + at + gap))
    return el[keep], clock[keep], x[keep], tags[: int(keep.sum())]


def features(tmp_path, name, signal, el, clock, x, tags, segs, timing=True, participant="Sess01F"):
    path = write_raw(tmp_path / f"{name}_{signal}.csv", signal, x, el, clock, list(tags))
    ids = extract.participant_segments(segs, participant)
    rec = extract.read_participant(path, signal, ids, SETTINGS[signal])
    kw = {"timing": extract.session_timing(segs, participant), "align": ALIGN} if timing else {}
    return extract.participant_features(signal, rec, ids, SETTINGS[signal], **kw).set_index("segment_id")


def assert_same_features(a: pd.DataFrame, b: pd.DataFrame, signal: str, ids) -> None:
    cols = [c for c in a.columns if c.startswith(f"{signal}_") and a[c].dtype.kind == "f"]
    np.testing.assert_allclose(a.loc[ids, cols].to_numpy(float), b.loc[ids, cols].to_numpy(float), rtol=1e-12)
    assert a.loc[ids, f"{signal}_ok"].all() and b.loc[ids, f"{signal}_ok"].all()


# ------------------------------------------------------------------------------------------------ the offset


def test_dialogue_offset_explains_shifts_by_the_missing_clock_time():
    ws = np.arange(10.0)
    d = np.r_[[5.0] * 2, [65.0] * 8]  # a 60 s dropout after 2 segments: the shifted ones are the majority
    missing = np.r_[[0.0] * 2, [60.0] * 8]  # clock time without samples from the first tagged row on
    assert offset.dialogue_offset(d + 0.1, d - 0.1, ws, missing, 1.25, 3) == (pytest.approx(5.0), 10, "count")
    # rows lost with their tags (tags placed by time): the same clock gap, every offset agrees
    assert offset.dialogue_offset(np.full(10, 5.0), np.full(10, 5.0), ws, missing, 1.25, 3) == (5.0, 10, "time")
    # without the missing time the majority wins: the shifted offset
    assert offset.dialogue_offset(d, d, ws, np.zeros(10), 1.25, 3)[:2] == (65.0, 8)
    # two agreeing segments only: no trustworthy offset; a tagged span much longer than its utterance
    # (tags across a dropout) does not count
    assert offset.dialogue_offset(d[:2], d[:2], ws[:2], missing[:2], 1.25, 3) == (None, 0, "")
    assert offset.dialogue_offset(d[:3], np.r_[d[:2], 60.0], ws[:3], missing[:3], 1.25, 3) == (None, 0, "")
    # scattered offsets: no group of three
    scattered = 5.0 + 1.7 * np.arange(6)
    assert offset.dialogue_offset(scattered, scattered, ws[:6], np.zeros(6), 1.25, 3) == (None, 0, "")


# ------------------------------------------------------------------------------------------------ dropout


@pytest.mark.parametrize("signal", ["eda", "temp"])
@pytest.mark.parametrize("gap_at", [33.0, 45.0, 120.0])  # after 1, 3 (shifted majority) or 16 utterances
def test_dropout_with_sample_counted_tags_is_realigned_by_time(tmp_path, signal, gap_at, caplog):
    segs = plan(30)
    el, clock, x = continuous(260.0)
    tags = time_tags(clock, segs)
    gap = 45.0
    d_el, d_clock, d_x, counted = dropout(el, clock, x, tags, gap_at, gap)
    correct = time_tags(d_clock, segs)  # the same rows tagged by time: the truth
    with caplog.at_level(logging.INFO):
        got = features(tmp_path, "counted", signal, d_el, d_clock, d_x, counted, segs)
        logged = caplog.text
    want = features(tmp_path, "correct", signal, d_el, d_clock, d_x, correct, segs, timing=False)

    own = segs[segs.speaker == "F"].set_index("segment_id")
    true_lo = START + OFFSET + own["start"]
    before = own.index[true_lo + 5.5 <= START + gap_at]
    spans_gap = own.index[(true_lo < START + gap_at) & (true_lo + 5.5 > START + gap_at)]
    after = own.index[true_lo >= START + gap_at]
    assert len(before) >= 1 and len(after) >= 4
    assert (got.loc[before, f"{signal}_align"] == "tags").all()
    assert (got.loc[after.union(spans_gap), f"{signal}_align"] == "realigned_by_offset").all()
    # features from exactly the rows the segment really covers; inside the gap there are none
    in_gap = own.index[(true_lo >= START + gap_at) & (true_lo + 5.5 <= START + gap_at + gap)]
    assert len(in_gap) >= 2
    assert (got.loc[in_gap, f"{signal}_reason"] == "too_few_samples").all()
    usable = want.index[want[f"{signal}_ok"]]
    assert set(got.index[got[f"{signal}_ok"]]) == set(usable)
    assert_same_features(got, want, signal, usable)
    assert "re-aligned by time" in logged and "(+45.0 s)" in logged


def test_tags_that_stop_part_way_are_recovered(tmp_path):
    segs = plan(24)
    el, clock, x = continuous(200.0)
    tags = time_tags(clock, segs)
    stop_at = START + OFFSET + segs["end"].iloc[13]
    cut = tags.copy()
    cut[clock >= stop_at] = ""
    got = features(tmp_path, "cut", "eda", el, clock, x, cut, segs)
    want = features(tmp_path, "full", "eda", el, clock, x, tags, segs, timing=False)
    own = segs[segs.speaker == "F"]
    lost = own.loc[own.index > 13, "segment_id"]
    kept = own.loc[own.index <= 13, "segment_id"]
    assert (got.loc[lost, "eda_align"] == "recovered_by_offset").all()
    assert (got.loc[kept, "eda_align"] == "tags").all()
    assert_same_features(got, want, "eda", own["segment_id"])
    # without the wav times nothing is recovered
    plain = features(tmp_path, "cut2", "eda", el, clock, x, cut, segs, timing=False)
    assert (plain.loc[lost, "eda_reason"] == "no_segment_tags").all()


def test_no_recovery_where_the_device_recorded_nothing(tmp_path):
    """Untagged segments inside a gap (the E4 was off) stay ``no_segment_tags``, even when a sample at an
    edge of the gap falls inside their window."""
    segs = plan(16)
    el, clock, x = continuous(150.0)
    tags = time_tags(clock, segs)
    lo = START + OFFSET + segs["start"].iloc[6] - 0.05
    hi = START + OFFSET + segs["end"].iloc[9] + 0.05
    keep = ~((clock >= lo) & (clock < hi))
    stray = np.flatnonzero(~keep)[[0, -1]]
    keep[stray] = True  # one untagged stray sample at each edge, inside the windows of segments 6 and 9
    tags[stray] = ""
    got = features(tmp_path, "off", "temp", el[keep], clock[keep], x[keep], tags[keep], segs)
    gone = segs.loc[6:9].query("speaker == 'F'")["segment_id"]
    assert (got.loc[gone, "temp_reason"] == "no_segment_tags").all()
    assert (got.loc[gone, "temp_align"] == "").all()
    assert (got.drop(gone)["temp_align"] == "tags").all()


# ------------------------------------------------------------------------------------------------ no offset


def test_no_trustworthy_offset_excludes_the_dialogue_as_tag_misaligned(tmp_path, caplog):
    good = plan(12, "script01")
    bad = plan(12, "script02", t0=100.0)
    short = plan(2, "impro01", t0=200.0)
    segs = pd.concat([good, bad, short], ignore_index=True)
    el, clock, x = continuous(320.0)
    tags = time_tags(clock, good)
    for i, r in enumerate(bad.itertuples()):  # every segment of script02 tagged at its own offset
        lo = START + OFFSET + r.t0 + r.start + 1.7 * i
        tags[(clock >= lo) & (clock < lo + 5.5) & (tags == "")] = r.segment_id
    tags = np.where(tags == "", time_tags(clock, short), tags)  # impro01: two utterances, both tagged
    with caplog.at_level(logging.WARNING):
        got = features(tmp_path, "mixed", "eda", el, clock, x, tags, segs)
    f_bad = bad.query("speaker == 'F'")["segment_id"]
    assert (got.loc[f_bad, "eda_reason"] == "tag_misaligned").all() and not got.loc[f_bad, "eda_ok"].any()
    assert got.loc[f_bad, "eda_mean"].isna().all() and (got.loc[f_bad, "eda_align"] == "").all()
    assert got.loc[short.query("speaker == 'F'")["segment_id"], "eda_reason"].tolist() == ["tag_misaligned"]
    f_good = good.query("speaker == 'F'")["segment_id"]
    assert got.loc[f_good, "eda_ok"].all() and (got.loc[f_good, "eda_align"] == "tags").all()
    assert "script02: no trustworthy clock offset" in caplog.text


# ------------------------------------------------------------------------------------------------ unchanged


@pytest.mark.parametrize("signal", ["eda", "temp"])
def test_consistent_tags_are_unchanged(tmp_path, signal):
    rng = np.random.default_rng(3)
    segs = plan(20)
    # utterances at arbitrary times (not half-way between samples), still tagged by time
    segs["start"] = 5.0 + np.cumsum(rng.uniform(3.0, 8.0, len(segs)))
    segs["end"] = segs["start"] + rng.uniform(1.0, 3.0, len(segs))
    el, clock, x = continuous(200.0)
    tags = time_tags(clock, segs)
    path = write_raw(tmp_path / "ok.csv", signal, x, el, clock, list(tags))
    rec = recording.load_recording(path, signal)
    ids = extract.participant_segments(segs, "Sess01F")
    plain = align.align_segments(rec, ids)
    checked = align.align_segments(rec, ids, extract.session_timing(segs, "Sess01F"), ALIGN)
    pd.testing.assert_frame_equal(plain, checked)
    assert (checked["method"] == "tags").all()


def test_ecg_gets_the_same_check(tmp_path):
    """250 Hz ECG with tags by time: every segment keeps its tags and its HRV values; with tags that stop
    part-way the rest is recovered with the same values."""
    segs = plan(16)
    spans = [(r.segment_id, OFFSET + r.start, OFFSET + r.end) for r in segs.itertuples()]
    x, el, clock, tags = ecg_recording(250, 70, 130.0, spans=spans)
    tags = np.array(tags, dtype=object)
    path = write_raw(tmp_path / "ecg.csv", "ecg", x, el, clock, list(tags))
    ids = extract.participant_segments(segs, "Sess01F")
    timing = extract.session_timing(segs, "Sess01F")
    rec = extract.read_participant(path, "ecg", ids, ECG_SETTINGS)
    plain = extract.participant_features("ecg", rec, ids, ECG_SETTINGS)
    checked = extract.participant_features("ecg", rec, ids, ECG_SETTINGS, timing, ALIGN)
    pd.testing.assert_frame_equal(plain, checked)
    assert checked["ecg_ok"].all() and (checked["ecg_align"] == "tags").all()
    cut = tags.copy()
    cut[clock >= START + OFFSET + segs["end"].iloc[9]] = ""
    path2 = write_raw(tmp_path / "ecg_cut.csv", "ecg", x, el, clock, list(cut))
    rec2 = extract.read_participant(path2, "ecg", ids, ECG_SETTINGS)
    rec2_out = extract.participant_features("ecg", rec2, ids, ECG_SETTINGS, timing, ALIGN)
    assert rec2_out["ecg_align"].tolist()[-3:] == ["recovered_by_offset"] * 3
    cols = ["ecg_mean_nn", "ecg_sdnn", "ecg_rmssd", "ecg_n_beats"]
    np.testing.assert_allclose(rec2_out[cols].to_numpy(float), plain[cols].to_numpy(float), rtol=1e-6)


# ------------------------------------------------------------------------------------------------ QC counts


def test_gather_counts_alignment_methods_in_the_qc_table(tmp_path):
    segs = plan(30)
    el, clock, x = continuous(260.0)
    d_el, d_clock, d_x, counted = dropout(el, clock, x, time_tags(clock, segs), 120.0, 45.0)
    counted = np.where(d_clock >= START + 230.0, "", counted)  # and the tags stop near the end
    parts = {}
    for g in ("F", "M"):
        part = features(tmp_path, g, "temp", d_el, d_clock, d_x, counted, segs, participant=f"Sess01{g}")
        parts[f"features/temp/Sess01{g}.parquet"] = part.reset_index()
    _, qc_table = gather.gather_bio(segs, parts, {"temp": TEMP_SETTINGS})
    aligned = qc_table[qc_table["status"] == "aligned"].set_index("reason")["n_segments"]
    methods = pd.concat(parts.values())["temp_align"].value_counts()
    assert aligned.to_dict() == {"by_tags": methods["tags"], "realigned_by_offset": methods["realigned_by_offset"],
                                 "recovered_by_offset": methods["recovered_by_offset"]}
    assert min(aligned) >= 1 and aligned.sum() <= len(segs)
    missing = qc_table[qc_table["status"] == "missing"].set_index("reason")["n_segments"]
    assert missing["too_few_samples"] >= 2  # the segments inside the gap


# ------------------------------------------------------------------------------------------------ synthetic truth


@pytest.fixture(scope="module")
def synthetic_alignment(tmp_path_factory):
    """The tiny synthetic data, its bio tag truth, and what the bio_features jobs make of its EDA/TEMP
    files (what the script runs, per participant and signal)."""
    from emoflow import synth
    from emoflow.constants import session_participants
    from emoflow.reader import build_index

    base = tmp_path_factory.mktemp("synth_tags")
    tiny = {"size": "tiny", "seed": 19, "n_sessions": None, "ecg_fs": 250,
            "cue_accuracy": {"audio": 0.7, "text": 0.55, "bio": 0.6}}
    data = base / "KEMDy19"
    synth.generate(data, tiny, base / "manifest.json")
    sessions = sorted(p.name for p in (data / "wav").iterdir())
    segments, _, _ = build_index(data, sessions)
    rows = []
    for signal in ("eda", "temp"):
        for participant in [p for s in sessions for p in session_participants(s)]:
            out = extract.unit_features(signal, participant, segments, data, SETTINGS[signal], ALIGN)
            rows.append(pd.DataFrame({"segment_id": out["segment_id"], "signal": signal,
                                      "align": out[f"{signal}_align"], "reason": out[f"{signal}_reason"]}))
    truth = pd.read_parquet(data / "_truth" / "bio_tags.parquet")
    return pd.concat(rows, ignore_index=True), truth


def test_synthetic_truth_is_realigned_recovered_or_excluded_exactly(synthetic_alignment):
    got, truth = synthetic_alignment
    assert {"segment_id", "signal", "kind", "gap_seconds"} <= set(truth.columns)
    assert set(truth["kind"]) <= {"spans_dropout", "shifted", "untagged"}
    assert {"shifted", "untagged"} <= set(truth["kind"]), "the generator plants both cases"
    assert truth["gap_seconds"][truth["kind"] != "untagged"].between(40, 142).all()
    merged = got.merge(truth, on=["segment_id", "signal"], how="left", validate="one_to_one")
    assert {"shifted", "untagged"} <= set(merged["kind"].dropna()), "the planted segments are in the index"
    moved = merged["kind"].isin(["shifted", "spans_dropout"])
    assert ((merged.loc[moved, "align"] == "realigned_by_offset") | (merged.loc[moved, "reason"] != "")).all()
    assert not (merged.loc[moved, "align"] == "tags").any(), "a shifted segment kept its tags"
    assert (merged.loc[merged["kind"] == "untagged", "align"] == "recovered_by_offset").all()
    others = merged["kind"].isna()
    assert (merged.loc[others, "align"].isin(["tags", ""])).all()
    assert not (merged.loc[others, "reason"] == "tag_misaligned").any()
    # a re-aligned segment is usable, or has too few samples at its own time (they fell into the gap)
    realigned = merged[moved & (merged["align"] == "realigned_by_offset")]
    assert realigned["reason"].isin(["", "too_few_samples"]).all()
