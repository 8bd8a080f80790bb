"""Bio-signal features: raw reader, alignment, ECG/EDA/TEMP against known truth, gather and QC."""

from __future__ import annotations

import logging
import runpy
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import neurokit2 as nk
import numpy as np
import pandas as pd
import pytest

from emoflow.errors import DataError, QCError
from emoflow.features.bio import align, base, ecg, eda, extract, gather, recording, registry

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ROOT / "workflow" / "scripts"
ECG_SETTINGS = {"fs": None, "clean_method": "neurokit", "min_beats": 3, "mean_nn_range_ms": [300, 2000]}
EDA_SETTINGS = {"band": [0.05, 5.0], "n_bands": 6, "detrend": "linear", "window": "hann", "min_samples": 4}
TEMP_SETTINGS = {"min_samples": 2}
BIO_SETTINGS = {"ecg": ECG_SETTINGS, "eda": EDA_SETTINGS, "temp": TEMP_SETTINGS}
START = 10 * 3600 + 56 * 60 + 50.0  # 10:56:50


# ------------------------------------------------------------------------------------------------ fixtures


def clock_str(sec: float) -> str:
    ms = int(round(sec * 1000)) % (86400 * 1000)
    h, rem = divmod(ms, 3600 * 1000)
    m, rem = divmod(rem, 60 * 1000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def write_raw(path, signal, value, elapsed, clock, tags=None, crlf=False, elapsed_fmt="{:.3f}"):
    """Write rows in the exact KEMDy19 layout (ECG elapsed-first, EDA/TEMP value-first)."""
    nl = "\r\n" if crlf else "\n"
    tags = tags if tags is not None else [""] * len(value)
    lines = []
    for v, e, c, t in zip(value, elapsed, clock, tags):
        e_s, v_s = elapsed_fmt.format(e), f"{v:.6f}"
        fields = [e_s, v_s] if signal == "ecg" else [v_s, e_s]
        fields.append(clock_str(c))
        if t:
            fields.append(t)
        lines.append(",".join(fields))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes((nl.join(lines) + nl).encode("ascii"))
    return path


def tag_rows(clock, spans):
    """Tags for rows whose clock falls in each (segment_id, t0, t1) span (seconds after START)."""
    tags = np.full(len(clock), "", dtype=object)
    for sid, t0, t1 in spans:
        tags[(clock >= START + t0) & (clock < START + t1)] = sid
    return list(tags)


def segments_df(ids):
    """Segment index rows; without wav times (NaN), so the tags are taken unchecked (see test_bio_realign)."""
    rows = []
    for sid in ids:
        sess = "Session" + sid[4:6]
        speaker = sid.rsplit("_", 1)[1][0]
        rows.append({"segment_id": sid, "session": sess, "speaker": speaker, "dialogue": sid.split("_")[1],
                     "start": np.nan, "end": np.nan})
    return pd.DataFrame(rows)


def ecg_recording(fs, hr, duration, seed=0, spans=(), clock0=START):
    x = nk.ecg_simulate(duration=duration, sampling_rate=fs, heart_rate=hr, method="simple", noise=0.005,
                        random_state=seed)
    n = len(x)
    elapsed = np.arange(1, n + 1) / fs
    clock = clock0 + elapsed
    return x, elapsed, clock, tag_rows(clock, spans)


def extract_participant(signal, participant, raw_path, segments, settings):
    """What the bio_features script does: the participant's segments, their raw file, the features."""
    ids = extract.participant_segments(segments, participant)
    rec = extract.read_participant(raw_path, signal, ids, settings)
    return extract.participant_features(signal, rec, ids, settings)


# ------------------------------------------------------------------------------------------------ reader


def test_reader_ragged_crlf_and_column_order(tmp_path):
    p = tmp_path / "EDA.csv"
    p.write_bytes(
        b"0.000000,0.25,10:56:50.250\r\n"
        b"0.719328,0.5,10:56:50.500\r\n"
        b"0.145914,0.75,10:56:50.750,Sess01_script01_M001\r\n"
        b"0.150000,1.0,10:56:51.000,Sess01_script01_M001\r\n"
        b"0.160000,1.25,10:56:51.250\r\n"
    )
    df = recording.read_bio_csv(p, "eda")
    assert list(df.columns) == ["value", "elapsed", "clock_s", "segment_id"]
    np.testing.assert_allclose(df["value"], [0.0, 0.719328, 0.145914, 0.15, 0.16])
    np.testing.assert_allclose(df["elapsed"], [0.25, 0.5, 0.75, 1.0, 1.25])
    np.testing.assert_allclose(df["clock_s"], START + np.array([0.25, 0.5, 0.75, 1.0, 1.25]))
    assert df["segment_id"].isna().tolist() == [True, True, False, False, True]
    assert df["segment_id"].iloc[2] == "Sess01_script01_M001"  # no stray "\r"

    q = tmp_path / "ECG.csv"  # ECG: elapsed first, value second
    q.write_text("0.004,-0.0289,10:56:50.004\n0.008,2.1437,10:56:50.008,Sess01_script01_F001\n")
    d = recording.read_bio_csv(q, "ecg")
    np.testing.assert_allclose(d["value"], [-0.0289, 2.1437])
    np.testing.assert_allclose(d["elapsed"], [0.004, 0.008])


def test_reader_blank_lines_keep_line_numbers(tmp_path):
    p = tmp_path / "Sess01F.csv"
    p.write_text("0.1,0.25,10:56:50.250\n\n0.2,0.5,10:56:50.500,Sess01_script01_F001\n\n")
    df = recording.read_bio_csv(p, "eda")
    assert df.index.tolist() == [0, 2] and df["segment_id"].tolist()[1] == "Sess01_script01_F001"
    p.write_text("0.1,0.25,10:56:50.250\n\n0.2,0.5,10:5x:50.500\n")
    with pytest.raises(DataError, match="line 3"):
        recording.read_bio_csv(p, "eda")


def test_reader_clock_formats_and_midnight(tmp_path):
    p = tmp_path / "TEMP.csv"
    p.write_text("30.1,0.25,23:59:59.750\n30.2,0.5,0:00:00.0\n30.3,0.75,00:00:00.250,Sess01_impro01_F001\n")
    df = recording.read_bio_csv(p, "temp")
    np.testing.assert_allclose(df["clock_s"], [86399.75, 86400.0, 86400.25])


@pytest.mark.parametrize(
    "body, line, what",
    [
        ("0.1,0.25,10:56:50.250\n0.2,0.5,10:56:50.500\nabc,0.75,10:56:50.750,Sess01_a_F001\n", 3, "value"),
        ("0.1,0.25,10:56:50.250\n,0.5,10:56:50.500\n", 2, "value"),
        ("0.1,0.25,10:56:50.250\n0.2,x,10:56:50.500\n", 2, "elapsed"),
        ("0.1,0.25,10:56:50.250\n0.2,0.5\n", 2, "clock"),
        ("0.1,0.25,10:56:50.250\n0.2,0.5,10:5x:50.500\n", 2, "clock"),
        ("0.1,0.25,10:56:50.250\n0.2,0.5,10:56:50.500,Sess01_script01_F001,extra\n", 2, "more than 4"),
    ],
)
def test_reader_bad_rows_name_file_and_line(tmp_path, body, line, what):
    p = tmp_path / "Sess01F.csv"
    p.write_text(body)
    with pytest.raises(DataError) as err:
        recording.read_bio_csv(p, "eda")
    msg = str(err.value)
    assert "Sess01F.csv" in msg and f"line {line}" in msg and what in msg


def test_parse_clock_fast_and_general_paths_agree():
    secs = START + np.arange(0, 5000) * 0.004
    strs = pd.Series([clock_str(s) for s in secs], dtype="str")
    fast = recording.parse_clock(strs)
    np.testing.assert_allclose(fast, secs, atol=5e-4)
    general = recording.parse_clock(pd.Series([s.lstrip("1") for s in strs[:3]] + ["9:05:01.5"], dtype="str"))
    np.testing.assert_allclose(general[-1], 9 * 3600 + 5 * 60 + 1.5)


def test_infer_fs_from_coarsely_printed_elapsed():
    elapsed = np.round(np.arange(1, 20001) / 128.0, 3)  # 128 Hz printed with 3 decimals
    assert recording.infer_fs(elapsed) == pytest.approx(128.0, rel=1e-3)
    reset = np.concatenate([np.arange(1, 1001) * 0.25, np.arange(1, 1001) * 0.25])
    assert recording.infer_fs(reset) == pytest.approx(4.0)


# ------------------------------------------------------------------------------------------------ ECG


@pytest.mark.parametrize("fs, hr", [(250, 72), (128, 60), (500, 90)])
def test_ecg_mean_nn_matches_known_heart_rate(tmp_path, fs, hr):
    spans = [("Sess01_script01_F001", 5, 25), ("Sess01_script01_M001", 25, 30),
             ("Sess01_script01_F002", 31, 55)]
    x, el, cl, tags = ecg_recording(fs, hr, 60, spans=spans)
    path = write_raw(tmp_path / "ECG/Session01/Original/Sess01F.csv", "ecg", x, el, cl, tags)
    segs = segments_df(["Sess01_script01_F001", "Sess01_script01_M001", "Sess01_script01_F002"])
    out = extract_participant("ecg", "Sess01F", path, segs, ECG_SETTINGS)
    assert out["segment_id"].tolist() == ["Sess01_script01_F001", "Sess01_script01_F002"]  # own segments only
    assert out["ecg_ok"].all() and (out["ecg_reason"] == "").all()
    truth = 60000.0 / hr
    np.testing.assert_allclose(out["ecg_mean_nn"], truth, rtol=0.02)
    assert (out["ecg_sdnn"] < 0.05 * truth).all() and (out["ecg_rmssd"] >= 0).all()
    expected_beats = np.array([20, 24]) * hr / 60
    assert (np.abs(out["ecg_n_beats"] - expected_beats) <= 2).all()


def test_ecg_reader_uses_the_value_column(tmp_path):
    """Elapsed (field 1) changes, value (field 2) is flat: no beats, never a heart rate made of seconds."""
    fs = 250
    n = fs * 30
    el = np.arange(1, n + 1) / fs
    cl = START + el
    tags = tag_rows(cl, [("Sess01_script01_F001", 2, 12), ("Sess01_script01_F002", 14, 28)])
    path = write_raw(tmp_path / "Sess01F.csv", "ecg", np.full(n, 0.5), el, cl, tags)
    out = extract_participant("ecg", "Sess01F", path, segments_df(
        ["Sess01_script01_F001", "Sess01_script01_F002"]), ECG_SETTINGS)
    assert not out["ecg_ok"].any()
    assert (out["ecg_reason"] == "no_beats").all()
    assert (out["ecg_n_beats"] == 0).all()
    assert out[["ecg_mean_nn", "ecg_sdnn", "ecg_rmssd", "ecg_nn50"]].isna().all().all()
    df = recording.read_bio_csv(path, "ecg")
    assert (df["value"] == 0.5).all() and df["elapsed"].iloc[-1] == pytest.approx(30.0)


def test_hrv_values_and_min_beats_against_hand_computation():
    fs = 100.0
    peaks = np.array([100, 180, 265, 345, 440, 520], dtype=np.int64)  # RR 800, 850, 800, 950, 800 ms
    block = np.zeros(peaks.size, dtype=np.int64)
    feats, reason = ecg.hrv_from_peaks(peaks, block, fs, np.array([0]), np.array([600]), min_beats=3)
    rr = np.diff(peaks) / fs * 1000
    assert reason[0] == ""
    assert feats["ecg_mean_nn"][0] == pytest.approx(rr.mean())
    assert feats["ecg_sdnn"][0] == pytest.approx(rr.std(ddof=1))
    assert feats["ecg_rmssd"][0] == pytest.approx(np.sqrt(np.mean(np.diff(rr) ** 2)))
    assert feats["ecg_nn50"][0] == np.sum(np.abs(np.diff(rr)) > 50) == 2
    assert feats["ecg_n_beats"][0] == 6
    # A range holding only peaks 1..3: RR 850, 800 -> still computable with min_beats=3
    f3, r3 = ecg.hrv_from_peaks(peaks, block, fs, np.array([150]), np.array([350]), min_beats=3)
    assert r3[0] == "" and f3["ecg_mean_nn"][0] == pytest.approx(825.0) and f3["ecg_n_beats"][0] == 3
    # The same range with min_beats=4, and a range with 2 beats: missing, count kept, no zeros
    f4, r4 = ecg.hrv_from_peaks(peaks, block, fs, np.array([150, 150, 600]), np.array([350, 270, 700]), 4)
    assert list(r4) == ["too_few_beats", "too_few_beats", "no_beats"]
    assert f4[["ecg_mean_nn", "ecg_sdnn", "ecg_rmssd", "ecg_nn50"]].isna().all().all()
    assert f4["ecg_n_beats"].tolist() == [3, 2, 0]
    # RR intervals never bridge two blocks (a counter reset between peaks 2 and 3)
    split = np.array([0, 0, 0, 1, 1, 1])
    fb, rb = ecg.hrv_from_peaks(peaks, split, fs, np.array([0]), np.array([600]), 3)
    ok_rr = np.concatenate([rr[:2], rr[3:]])
    assert rb[0] == "" and fb["ecg_mean_nn"][0] == pytest.approx(ok_rr.mean())
    within = np.array([rr[1] - rr[0], rr[4] - rr[3]])
    assert fb["ecg_rmssd"][0] == pytest.approx(np.sqrt(np.mean(within**2)))


def test_ecg_short_segment_too_few_beats(tmp_path):
    fs, hr = 250, 60
    spans = [("Sess01_script01_F001", 5, 6.5), ("Sess01_script01_F002", 10, 30)]
    x, el, cl, tags = ecg_recording(fs, hr, 40, spans=spans)
    path = write_raw(tmp_path / "Sess01F.csv", "ecg", x, el, cl, tags)
    out = extract_participant("ecg", "Sess01F", path,
                              segments_df(["Sess01_script01_F001", "Sess01_script01_F002"]), ECG_SETTINGS)
    short, long_ = out.iloc[0], out.iloc[1]
    assert not short["ecg_ok"] and short["ecg_reason"] == "too_few_beats"
    assert 1 <= short["ecg_n_beats"] <= 2 and np.isnan(short["ecg_mean_nn"])
    assert long_["ecg_ok"] and long_["ecg_mean_nn"] == pytest.approx(1000.0, rel=0.02)


def test_counter_reset_segment_after_reset_is_aligned_by_clock(tmp_path):
    """Two recordings: elapsed restarts at 1/fs after a 10-minute break; the second HR differs."""
    fs = 250
    x1, el1, cl1, _ = ecg_recording(fs, 60, 40, seed=1)
    x2, el2, _, _ = ecg_recording(fs, 90, 40, seed=2)
    cl2 = cl1[-1] + 600 + el2
    spans = [("Sess01_script01_F001", 10, 35), ("Sess01_impro01_F001", 650, 675)]
    x, el, cl = np.concatenate([x1, x2]), np.concatenate([el1, el2]), np.concatenate([cl1, cl2])
    tags = tag_rows(cl, spans)
    path = write_raw(tmp_path / "Sess01F.csv", "ecg", x, el, cl, tags)
    out = extract_participant("ecg", "Sess01F", path,
                              segments_df([s for s, _, _ in spans]), ECG_SETTINGS)
    assert out["ecg_ok"].all()
    np.testing.assert_allclose(out["ecg_mean_nn"], [1000.0, 666.67], rtol=0.02)
    rec = recording.load_recording(path, "ecg")
    assert rec.fs == pytest.approx(250.0)
    blocks = base.contiguous_blocks(rec.elapsed, rec.clock, rec.fs)
    assert len(blocks) == 2
    # blocks that no segment touches are skipped
    first_only = ecg.detect_peaks(rec, needed=(np.array([100]), np.array([200])))
    assert first_only[0].size > 30 and (first_only[0] < blocks[0, 1]).all() and (first_only[1] == 0).all()


def test_config_fs_overrides_the_inferred_rate(tmp_path, caplog):
    spans = [("Sess01_script01_F001", 5, 35)]
    x, el, cl, tags = ecg_recording(250, 60, 40, spans=spans)
    path = write_raw(tmp_path / "Sess01F.csv", "ecg", x, el, cl, tags)
    segs = segments_df(["Sess01_script01_F001"])
    with caplog.at_level(logging.WARNING):
        out = extract_participant("ecg", "Sess01F", path, segs, {**ECG_SETTINGS, "fs": 500})
    assert "500" in caplog.text and "elapsed counter implies 250" in caplog.text
    # the same beats (same samples) read as 500 Hz are half as long: the override is used for RR
    assert out.loc[0, "ecg_mean_nn"] == pytest.approx(500.0, rel=0.02)


# ------------------------------------------------------------------------------------------------ alignment


def test_file_without_tags_and_missing_file(tmp_path, caplog):
    fs = 4
    n = 400
    el = np.arange(1, n + 1) / fs
    path = write_raw(tmp_path / "EDA/Session01/Original/Sess01F.csv", "eda", np.ones(n), el, START + el)
    segs = segments_df(["Sess01_script01_F001", "Sess01_script01_F002", "Sess01_script01_M001"])
    with caplog.at_level(logging.WARNING):
        out = extract_participant("eda", "Sess01F", path, segs, EDA_SETTINGS)
    assert (out["eda_reason"] == "no_segment_tags").all() and not out["eda_ok"].any()
    assert "Sess01F.csv" in caplog.text
    assert out.filter(like="eda_band_").drop(columns="eda_band_hi_hz").isna().all().all()

    gone = extract_participant("temp", "Sess01F", tmp_path / "TEMP/Session01/Original/Sess01F.csv", segs,
                               TEMP_SETTINGS)
    assert gone["segment_id"].tolist() == ["Sess01_script01_F001", "Sess01_script01_F002"]
    assert (gone["temp_reason"] == "file_missing").all() and gone["temp_mean"].isna().all()
    # the file where the registry says it is (as the rule passes it, for real and synthetic data alike)
    found = extract_participant("eda", "Sess01F", tmp_path / registry.raw_relpath("eda", "Sess01F"), segs,
                                EDA_SETTINGS)
    assert (found["eda_reason"] == "no_segment_tags").all()
    absent = extract_participant("ecg", "Sess01F", tmp_path / registry.raw_relpath("ecg", "Sess01F"), segs,
                                 ECG_SETTINGS)
    assert (absent["ecg_reason"] == "file_missing").all()


def test_clock_backwards_excludes_only_affected_segments(tmp_path, caplog):
    fs = 4
    el = np.arange(1, 241) / fs  # 60 s
    cl = START + el
    cl[120:] -= 5.0  # at row 121 (30.25 s) the clock steps back 5 s
    spans_rows = {"Sess01_script01_F001": (8, 40), "Sess01_script01_F002": (110, 130),
                  "Sess01_script01_F003": (180, 220)}
    tags = [""] * len(el)
    for sid, (a, b) in spans_rows.items():
        for i in range(a, b):
            tags[i] = sid
    path = write_raw(tmp_path / "Sess01F.csv", "temp", 30 + 0.01 * el, el, cl, tags)
    with caplog.at_level(logging.WARNING):
        out = extract_participant("temp", "Sess01F", path, segments_df(list(spans_rows)),
                                      TEMP_SETTINGS)
    assert out["temp_reason"].tolist() == ["", "clock_backwards", ""]
    assert "line 121" in caplog.text and "backwards" in caplog.text
    assert out.loc[0, "temp_slope"] == pytest.approx(0.01, rel=1e-3)


def test_span_takes_untagged_rows_inside_and_ignores_elapsed(tmp_path):
    """Span = [first tagged clock, last tagged clock]; rows inside it count even without a tag."""
    fs = 4
    el = np.arange(1, 101) / fs
    el[50:] += 100.0  # elapsed jumps (dropout bookkeeping) but the clock is continuous
    cl = START + np.arange(1, 101) / fs
    tags = [""] * 100
    for i in (20, 21, 25, 29):  # sparse tags: span rows 20..29
        tags[i] = "Sess01_script01_F001"
    path = write_raw(tmp_path / "Sess01F.csv", "temp", np.arange(100.0), el, cl, tags)
    rec = recording.load_recording(path, "temp")
    spans = align.align_segments(rec, ["Sess01_script01_F001", "Sess01_script01_F009"])
    assert spans.loc[0, ["start", "stop"]].tolist() == [20, 30]
    assert spans["reason"].tolist() == ["", "no_segment_tags"]


# ------------------------------------------------------------------------------------------------ EDA, TEMP


@pytest.mark.parametrize("freq", [0.08, 0.3, 0.5, 1.2])
def test_eda_sinusoid_lands_in_its_band(tmp_path, freq, caplog):
    fs = 4.0
    n = 400
    el = np.arange(1, n + 1) / fs
    cl = START + el
    t = el - el[0]
    x = 2.0 + 0.002 * t + 0.1 * np.sin(2 * np.pi * freq * t)
    tags = tag_rows(cl, [("Sess01_script01_F001", 1, 91), ("Sess01_script01_F002", 92, 93.2)])
    path = write_raw(tmp_path / "Sess01F.csv", "eda", x, el, cl, tags)
    with caplog.at_level(logging.WARNING):
        segs = segments_df(["Sess01_script01_F001", "Sess01_script01_F002"])
        out = extract_participant("eda", "Sess01F", path, segs, EDA_SETTINGS)
    assert "clamped" in caplog.text and caplog.text.count("clamped") == 1
    edges, clamped = eda.band_edges(EDA_SETTINGS, fs)
    assert clamped and edges[-1] == 2.0 and out["eda_band_hi_hz"].eq(2.0).all()
    bands = out[[f"eda_band_{k}" for k in range(6)]].to_numpy()
    expected = np.searchsorted(edges, freq, side="right") - 1
    assert np.argmax(bands[0]) == expected
    assert bands[0, expected] > bands[0].max() - 1e-9 and bands[0, expected] - np.sort(bands[0])[-2] > 1.0
    assert out.loc[0, "eda_n_samples"] == 360 and out.loc[0, "eda_mean"] == pytest.approx(x[3:363].mean())
    # a short segment (~5 samples) still has a finite value in every band
    assert out.loc[1, "eda_ok"] and np.isfinite(bands[1]).all()


def test_eda_band_power_independent_of_padding_and_too_few_samples():
    fs = 4.0
    rng = np.random.default_rng(0)
    x = rng.normal(size=200)
    edges, _ = eda.band_edges(EDA_SETTINGS, fs)
    mat, mask, ln = x[None, :], np.ones((1, 200), dtype=bool), np.array([200])
    p512 = eda.band_powers(mat, mask, ln, fs, edges, 512, "none", "boxcar")
    p4096 = eda.band_powers(mat, mask, ln, fs, edges, 4096, "none", "boxcar")
    np.testing.assert_allclose(p512.sum(), p4096.sum(), rtol=0.05)  # padding changes the bin grid only
    np.testing.assert_allclose(p512, p4096, rtol=0.25)
    # white noise with unit variance: density 2/fs over [0, fs/2] -> total = band width * 0.5
    assert p4096.sum() == pytest.approx((edges[-1] - edges[0]) * 0.5, rel=0.3)

    rec = base.Recording("x.csv", "eda", np.arange(10.0), np.arange(10.0), START + np.arange(10.0),
                        np.array([0, 0, 0, -1, 1, 1, 1, 1, 1, -1], dtype=np.int32),
                        pd.Index(["Sess01_script01_F001", "Sess01_script01_F002"]), None, 4.0)
    spans = align.align_segments(rec, ["Sess01_script01_F001", "Sess01_script01_F002"])
    feats, reason = eda.compute(rec, spans, EDA_SETTINGS)
    assert list(reason) == ["too_few_samples", ""]
    assert feats.loc[0, "eda_n_samples"] == 3 and np.isnan(feats.loc[0, "eda_band_0"])


def test_temp_linear_ramp_slope_and_intercept(tmp_path):
    fs = 4
    el = np.arange(1, 241) / fs
    cl = START + el
    x = 31.0 + 0.02 * (cl - START)
    tags = tag_rows(cl, [("Sess01_script01_F001", 10, 20), ("Sess01_script01_F002", 30, 30.3)])
    path = write_raw(tmp_path / "Sess01F.csv", "temp", x, el, cl, tags)
    out = extract_participant("temp", "Sess01F", path,
                              segments_df(["Sess01_script01_F001", "Sess01_script01_F002"]),
                              {"min_samples": 3})
    r = out.iloc[0]
    assert r["temp_ok"]
    assert r["temp_slope"] == pytest.approx(0.02, rel=1e-4)
    assert r["temp_intercept"] == pytest.approx(31.0 + 0.02 * 10.0, abs=1e-4)  # value at the first sample
    seg = x[(cl >= START + 10) & (cl < START + 20)]
    assert r["temp_mean"] == pytest.approx(seg.mean(), abs=1e-6)
    assert r["temp_var"] == pytest.approx(seg.var(), rel=1e-3)
    assert out.iloc[1]["temp_reason"] == "too_few_samples" and np.isnan(out.iloc[1]["temp_slope"])


# ------------------------------------------------------------------------------------------------ gather, QC


def _part(signal, ids, ok, reason, settings):
    df = extract.empty_features(signal, ids, settings, "")
    for c in registry.load(signal).feature_columns(settings):
        df[c] = np.where(ok, 1.0, np.nan)
    if signal == "eda":
        df["eda_band_hi_hz"] = 2.0
    df[f"{signal}_ok"] = ok
    df[f"{signal}_reason"] = reason
    return df


def _parts(tmp_path, segs, bad_participant=None):
    """The per-participant parts as gather_bio receives them: part file path -> frame."""
    parts = {}
    for part in ("Sess01F", "Sess01M"):
        own = gather._participant_of(segs) == part
        ids = segs.loc[own, "segment_id"].tolist()
        for s, st in (("ecg", ECG_SETTINGS), ("eda", EDA_SETTINGS), ("temp", TEMP_SETTINGS)):
            ok = np.full(len(ids), part != bad_participant)
            reason = np.where(ok, "", "no_segment_tags")
            parts[str(tmp_path / s / f"{part}.parquet")] = _part(s, ids, ok, reason, st)
    return parts


def test_gather_joins_on_segment_id_and_records_clamp(tmp_path):
    ids = ["Sess01_script01_F001", "Sess01_script01_M001", "Sess01_script01_F002", "Sess01_script01_M002"]
    segs = segments_df(ids).iloc[::-1].reset_index(drop=True)  # row order differs from the parts
    segs = pd.concat([segs, segments_df(["Sess02_script01_F001"])], ignore_index=True)
    parts = _parts(tmp_path, segs)
    feats, qc_table = gather.gather_bio(segs, parts, BIO_SETTINGS)
    assert feats["segment_id"].tolist() == segs["segment_id"].tolist()
    contract = ["segment_id", "ecg_mean_nn", "ecg_sdnn", "ecg_rmssd", "ecg_nn50", "ecg_n_beats",
                *[f"eda_band_{k}" for k in range(6)], "eda_mean", "eda_n_samples",
                "temp_mean", "temp_var", "temp_slope", "temp_intercept"]
    assert list(feats.columns[: len(contract)]) == contract
    last = feats.iloc[-1]  # Session02 has no part at all
    assert not last["ecg_ok"] and last["ecg_reason"] == "not_extracted" and np.isnan(last["ecg_mean_nn"])
    assert feats.iloc[:4]["ecg_ok"].all() and (feats.iloc[:4]["temp_mean"] == 1.0).all()
    note = qc_table[(qc_table["modality"] == "eda") & (qc_table["status"] == "note")]
    assert len(note) == 1 and note["n_segments"].iloc[0] == 4
    assert "band_hi=2Hz" in note["reason"].iloc[0] and "clamped_from=5Hz" in note["reason"].iloc[0]
    miss = qc_table[(qc_table["modality"] == "ecg") & (qc_table["status"] == "missing")]
    assert miss["reason"].tolist() == ["not_extracted"] and miss["n_segments"].tolist() == [1]
    gather.check_bio_missing(segs, feats, {"ecg": 0.5, "eda": 0.5, "temp": 0.5})  # 20% missing: passes


def test_qc_threshold_raises_and_names_the_file(tmp_path):
    ids = ["Sess01_script01_F001", "Sess01_script01_F002", "Sess01_script01_F003", "Sess01_script01_M001"]
    segs = segments_df(ids)
    parts = _parts(tmp_path, segs, bad_participant="Sess01F")
    feats, _ = gather.gather_bio(segs, parts, BIO_SETTINGS)
    with pytest.raises(QCError) as err:
        gather.check_bio_missing(segs, feats, {"ecg": 0.5, "eda": 0.9, "temp": 0.5})
    msg = str(err.value)
    assert "ecg" in msg and "temp" in msg and "eda:" not in msg
    assert "ECG/Session01/Original/Sess01F.csv: 3 (no_segment_tags 3)" in msg


# ------------------------------------------------------------------------------------------------ scripts



def test_scripts_write_parts_bio_parquet_and_qc(tmp_path, restore_logging):
    data = tmp_path / "KEMDy19"
    segs = segments_df(["Sess01_script01_F001", "Sess01_script01_M001"])
    seg_path = tmp_path / "segments.parquet"
    segs.to_parquet(seg_path)
    el = np.arange(1, 241) / 4
    cl = START + el
    tags = tag_rows(cl, [("Sess01_script01_F001", 5, 20), ("Sess01_script01_M001", 21, 40)])
    for signal, folder in (("eda", "EDA"), ("temp", "TEMP")):
        for g in ("F", "M"):
            raw = data / folder / "Session01" / "Original" / f"Sess01{g}.csv"
            write_raw(raw, signal, 30 + 0.01 * el, el, cl, tags)
    settings = BIO_SETTINGS
    parts = []
    for signal in ("ecg", "eda", "temp"):
        for part in ("Sess01F", "Sess01M"):
            raw = data / registry.raw_relpath(signal, part)
            out = tmp_path / "results" / "features" / signal / f"{part}.parquet"
            smk = SimpleNamespace(
                input=SimpleNamespace(segments=str(seg_path), raw=[str(raw)] if raw.exists() else [],
                                      code=[]),
                output=[str(out)], params=SimpleNamespace(settings=settings[signal], data_dir=str(data),
                                                         align={"tolerance_s": 1.0, "min_agree": 3}),
                wildcards=SimpleNamespace(signal=signal, participant=part),
                log=[str(tmp_path / f"{signal}_{part}.log")], threads=1, rule="bio_features",
                scriptdir=str(SCRIPTS),
            )
            runpy.run_path(str(SCRIPTS / "bio_features.py"), init_globals={"snakemake": smk})
            parts.append(str(out))
    eda_f = pd.read_parquet(tmp_path / "results/features/eda/Sess01F.parquet")
    assert eda_f["segment_id"].tolist() == ["Sess01_script01_F001"] and eda_f["eda_ok"].all()
    ecg_m = pd.read_parquet(tmp_path / "results/features/ecg/Sess01M.parquet")
    assert ecg_m["ecg_reason"].tolist() == ["file_missing"]

    gsmk = SimpleNamespace(
        input=SimpleNamespace(segments=str(seg_path), parts=parts, code=[]),
        output=SimpleNamespace(features=str(tmp_path / "results/features/bio.parquet"),
                               qc=str(tmp_path / "results/qc/bio.tsv")),
        params=SimpleNamespace(max_missing={"ecg": 1.0, "eda": 0.5, "temp": 0.5, "audio": 0.05, "text": 0.05},
                               settings=BIO_SETTINGS),
        log=[str(tmp_path / "gather.log")], threads=1, rule="gather_bio", scriptdir=str(SCRIPTS),
    )
    runpy.run_path(str(SCRIPTS / "gather_bio.py"), init_globals={"snakemake": gsmk})
    feats = pd.read_parquet(tmp_path / "results/features/bio.parquet")
    assert feats["segment_id"].tolist() == segs["segment_id"].tolist()
    assert feats["temp_ok"].all() and not feats["ecg_ok"].any()
    assert feats["temp_slope"].to_numpy() == pytest.approx([0.01, 0.01], rel=1e-3)
    qc_table = pd.read_csv(tmp_path / "results/qc/bio.tsv", sep="\t", keep_default_na=False)
    assert set(qc_table["modality"]) == {"ecg", "eda", "temp"}
    assert qc_table.query("modality == 'ecg' and status == 'missing'")["reason"].tolist() == ["file_missing"]

    gsmk.params.max_missing["ecg"] = 0.5  # every ECG file is missing -> QC stops the run, naming them
    with pytest.raises(SystemExit):
        runpy.run_path(str(SCRIPTS / "gather_bio.py"), init_globals={"snakemake": gsmk})
    log_text = (tmp_path / "gather.log").read_text()
    assert "QCError" not in log_text and "ECG/Session01/Original/Sess01F.csv: 1 (file_missing 1)" in log_text


# ------------------------------------------------------------------------------------------------ registry


def test_registry_is_import_light_and_names_every_signal_module():
    code = ("import sys; sys.path.insert(0, sys.argv[1]); from emoflow.features.bio import registry; "
            "print(sorted(m for m in ('numpy', 'pandas') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code, str(ROOT / "workflow" / "src")], check=True,
                         capture_output=True, text=True).stdout
    assert out.strip() == "[]"
    assert registry.SIGNALS == ("ecg", "eda", "temp", "ibi")
    assert registry.load("temp").__name__ == registry.MODULES["temp"] == "emoflow.features.bio.temp"
    assert registry.raw_relpath("temp", "Sess02M") == "TEMP/Session02/Original/Sess02M.csv"
    assert registry.raw_relpath("ibi", "Sess12_script03_User081F") == "IBI/Session12/Sess12_script03_User081F.csv"
    with pytest.raises(ValueError, match="unknown bio signal"):
        registry.load("bvp")


def test_only_the_registry_names_the_signal_modules():
    """Shared code imports no signal module, so editing one reruns only that signal's jobs."""
    import ast

    src = ROOT / "workflow" / "src" / "emoflow" / "features" / "bio"
    files = [SCRIPTS / "bio_features.py", SCRIPTS / "gather_bio.py"]
    files += [p for p in src.glob("*.py") if p.stem not in registry.SIGNALS]
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                names = [node.module or ""] + [a.name for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            else:
                continue
            assert not any(n.split(".")[-1] in registry.SIGNALS for n in names), (path.name, names)
