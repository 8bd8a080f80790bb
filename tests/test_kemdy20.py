"""KEMDy20: layout detection and per-dataset defaults, the reader, the E4 bio files and IBI features.

Every fixture is written here in the real format (``_kemdy20_data``), one format detail per test.
"""

from __future__ import annotations

import json
import logging
import time

import numpy as np
import pandas as pd
import pytest

from _kemdy20_data import (
    DATE,
    T0,
    annotation_rows,
    ibi_file,
    make_kemdy20,
    regular_beats,
    sampled_file,
    ts,
    utt,
    write_lines,
)
from conftest import TINY, copy_workflow, planned_outputs, snakemake
from emoflow import datasets, dataview, synth
from emoflow.constants import KEMDY20_TIE_ORDER
from emoflow.errors import DataError
from emoflow.features.bio import e4, extract, gather, ibi, recording
from emoflow.models import bio as bio_model
from emoflow.reader import SEGMENT_COLUMNS, build_index, index_dataset
from emoflow.reader.kemdy20 import read_annotation
from emoflow.split import assign_folds, group_keys
from test_reader import make_kemdy19

SPLIT = {"scheme": "speaker", "folds": 2, "val_groups": 1, "test_fraction": 0.2, "val_fraction": 0.15, "seed": 0}
IBI = {"min_beats": 3}
EDA = {"band": [0.05, 5.0], "n_bands": 3, "detrend": "linear", "window": "hann", "min_samples": 4}
TEMP = {"min_samples": 2}

# Sess01: two men (MM); Sess12: the replacement users 081/082, two women (FF)
MM = [utt("Sess01_script01_User001M_001", "happy"), utt("Sess01_script01_User002M_001"),
      utt("Sess01_script01_User001M_002"), utt("Sess01_script02_User002M_001", "angry")]
FF = [utt("Sess12_script01_User081F_001", "sad"), utt("Sess12_script01_User082F_001"),
      utt("Sess12_script01_User081F_002", "surprise")]


# ------------------------------------------------------------------------------------------------ detection


def test_detect_layout_and_clear_error_when_neither(tmp_path):
    k19 = make_kemdy19(tmp_path / "a")
    k20 = make_kemdy20(tmp_path / "b", {"01": MM}, bio=False)
    assert datasets.detect(str(k19)) == "kemdy19" and datasets.detect(str(k20)) == "kemdy20"
    (tmp_path / "c" / "annotation").mkdir(parents=True)
    with pytest.raises(datasets.DatasetError, match="neither known layout.*SessionSS_F_res.*SessSS_eval"):
        datasets.detect(str(tmp_path / "c"))
    with pytest.raises(datasets.DatasetError, match="does not exist"):
        datasets.detect(str(tmp_path / "nowhere"))
    assert datasets.sessions(str(k20), "kemdy20") == ["Session01"]
    with pytest.raises(datasets.DatasetError, match="not in the KEMDy19 layout"):
        datasets.sessions(str(k20), "kemdy19")


def test_per_dataset_defaults_fill_only_null_keys():
    def config(**bio):
        return {"bio": {"signals": None, "select": None, "class_weights": None, **bio},
                "audio": {"select": None, "class_weights": None}, "text": {"select": "loss", "class_weights": None},
                "labels": {"tie_policy": None},
                "qc": {"max_missing_fraction": {"ecg": None, "eda": 0.3, "temp": None, "ibi": None}}}

    c20 = config()
    chosen = datasets.resolve(c20, "kemdy20")
    assert c20["bio"]["signals"] == ["eda", "temp", "ibi"] and c20["labels"]["tie_policy"] == "drop"
    assert c20["qc"]["max_missing_fraction"] == {"ecg": None, "eda": 0.3, "temp": 0.5, "ibi": 0.8}
    assert chosen["qc.max_missing_fraction.eda"] == {"value": 0.3, "source": "configured"}
    assert chosen["labels.tie_policy"]["source"] == "KEMDy20 default"
    assert (c20["audio"]["select"], c20["audio"]["class_weights"], c20["bio"]["select"]) == ("f1", True, "f1")
    assert c20["text"]["select"] == "loss" and chosen["text.select"]["source"] == "configured"
    c19 = config()
    datasets.resolve(c19, "kemdy19")
    assert c19["bio"]["signals"] == ["ecg", "eda", "temp"] and c19["labels"]["tie_policy"] == "first"
    assert (c19["audio"]["select"], c19["audio"]["class_weights"], c19["bio"]["class_weights"]) == (
        "loss", False, False)
    bad = config()
    bad["bio"]["signals"] = ["ecg", "eda"]
    with pytest.raises(datasets.DatasetError, match="ecg, which KEMDy20 does not have"):
        datasets.resolve(bad, "kemdy20")
    order = config()
    order["bio"]["signals"] = ["ibi", "eda"]
    datasets.resolve(order, "kemdy20")
    assert order["bio"]["signals"] == ["eda", "ibi"], "column order follows the signal registry"


def test_bio_units_and_raw_files(tmp_path):
    root = make_kemdy20(tmp_path / "K", {"01": MM})
    assert datasets.bio_units("kemdy20", ["Session01", "Session12"]) == ["Sess01", "Sess12"]
    assert datasets.bio_units("kemdy19", ["Session01"]) == ["Sess01F", "Sess01M"]
    assert datasets.unit_relpaths("IBI", "Sess01", str(root)) == [
        "IBI/Session01/Sess01_script01_User001M.csv", "IBI/Session01/Sess01_script01_User002M.csv",
        "IBI/Session01/Sess01_script02_User002M.csv"]
    assert datasets.annotation_relpaths("kemdy20", ["Session01"]) == ["annotation/Sess01_eval.csv"]


# ------------------------------------------------------------------------------------------------ annotation


def test_two_header_rows_with_space_cells_crlf_and_lf_read_alike(tmp_path):
    rows = annotation_rows(MM)
    crlf = write_lines(tmp_path / "crlf" / "Sess01_eval.csv", [",".join(r) for r in rows], "\r\n")
    lf = write_lines(tmp_path / "lf" / "Sess01_eval.csv", [",".join(r) for r in rows], "\n")
    assert b"\r\n" in crlf.read_bytes() and b"\r" not in lf.read_bytes()
    a, b = read_annotation(crlf), read_annotation(lf)
    pd.testing.assert_frame_equal(a, b)
    assert a["segment_id"].tolist() == [u["id"] for u in MM]
    assert a["line"].tolist() == [3, 4, 5, 6] and a["numb"].tolist() == [1, 2, 3, 4]
    assert len(rows[0]) == 37 and "eval10m_arousal" in a.columns


def test_one_header_row_or_a_missing_column_is_a_clear_error(tmp_path):
    rows = annotation_rows(MM)
    one = write_lines(tmp_path / "Sess01_eval.csv", [",".join(r) for r in [rows[0]] + rows[2:]])
    with pytest.raises(DataError, match="expected 2 header rows, found 1"):
        read_annotation(one)
    rows[0][4] = "Total"
    bad = write_lines(tmp_path / "Sess02_eval.csv", [",".join(r) for r in rows])
    with pytest.raises(DataError, match="Sess02_eval.csv.*missing column 'Total Evaluation/Emotion'"):
        read_annotation(bad)


# ------------------------------------------------------------------------------------------------ index


def test_user_ids_are_speakers_and_same_gender_pairs(tmp_path):
    root = make_kemdy20(tmp_path / "K", {"01": MM, "12": FF}, bio=False)
    seg, excl, summary = build_index(root, ["Session01", "Session12"], "drop", dataset="kemdy20")
    assert list(seg.columns) == SEGMENT_COLUMNS and excl.empty
    assert set(seg["speaker"]) == {"User001M", "User002M", "User081F", "User082F"}
    assert summary["users"] == 4 and summary["session_pairs"] == {"FF": 1, "MM": 1}
    assert summary["per_speaker"] == {"User001M": 2, "User002M": 2, "User081F": 2, "User082F": 1}
    row = seg.set_index("segment_id").loc["Sess12_script01_User081F_002"]
    assert (row.session, row.dialogue, row.emotion) == ("Session12", "script01", "surprise")
    assert row.wav_path == "wav/Session12/Sess12_script01_User081F_002.wav"
    assert summary["dataset"] == "kemdy20"


def test_speaker_split_groups_by_user_id(tmp_path):
    """Both users of an MM session share the gender letter: the groups are the user ids."""
    root = make_kemdy20(tmp_path / "K", {"01": MM, "12": FF}, bio=False)
    seg, folds, _, _ = index_dataset(root, ["Session01", "Session12"], {"tie_policy": "drop"}, SPLIT,
                                     dataset="kemdy20")
    keys = group_keys(seg, "speaker")
    assert sorted(keys.unique()) == ["User001M", "User002M", "User081F", "User082F"]
    user = seg.set_index("segment_id")["speaker"]
    for k in folds["fold"].unique():
        part = folds[folds["fold"] == k]
        splits_of_user = part.assign(user=part["segment_id"].map(user)).groupby("user")["split"].nunique()
        assert (splits_of_user == 1).all(), "a user in two splits of one fold"
    # KEMDy19 speakers (F/M) stay grouped per session
    k19 = pd.DataFrame({"segment_id": ["a", "b"], "session": ["Session01", "Session02"], "speaker": ["F", "F"]})
    assert group_keys(k19, "speaker").tolist() == ["Session01_F", "Session02_F"]
    assert not assign_folds(seg, SPLIT).empty


def test_cp949_transcripts(tmp_path):
    root = make_kemdy20(tmp_path / "K", {"01": MM}, bio=False)
    txt = root / "wav/Session01/Sess01_script01_User001M_001.txt"
    with pytest.raises(UnicodeDecodeError):
        txt.read_bytes().decode("utf-8")
    seg, _, summary = build_index(root, ["Session01"], "drop", dataset="kemdy20")
    assert summary["transcript_encodings"] == {"cp949": 4}
    assert seg["text"].tolist() == ["아 그래? 진짜 몰랐어."] * 4


def test_ties_in_kemdy20_order_do_not_warn(tmp_path, caplog):
    utts = MM + [utt("Sess01_script02_User001M_001", "happy;neutral"),
                 utt("Sess01_script02_User001M_002", "angry;neutral;disgust;fear;sad")]
    root = make_kemdy20(tmp_path / "K", {"01": utts}, bio=False)
    with caplog.at_level(logging.WARNING, logger="emoflow.reader"):
        seg, excl, summary = build_index(root, ["Session01"], "drop", dataset="kemdy20")
    assert summary["ties"]["n"] == 2 and summary["ties"]["not_in_order"] == 0
    assert "order" not in caplog.text
    assert excl["reason"].tolist() == ["tie", "tie"] and len(seg) == 4
    seg, _, summary = build_index(root, ["Session01"], "first", dataset="kemdy20")
    assert seg.set_index("segment_id").loc["Sess01_script02_User001M_001", "emotion"] == "happy"
    assert summary["ties"]["resolved"] == {"angry": 1, "happy": 1}
    # the KEMDy19 order written in a KEMDy20 file is counted and named
    odd = make_kemdy20(tmp_path / "L", {"01": MM[:1] + [utt("Sess01_script01_User002M_001", "neutral;happy")]},
                       bio=False)
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="emoflow.reader"):
        _, _, summary = build_index(odd, ["Session01"], "drop", dataset="kemdy20")
    assert summary["ties"]["not_in_order"] == 1 and "kemdy20 order" in caplog.text


def test_disqust_is_disgust_and_exclusions_have_reasons(tmp_path):
    utts = MM + [utt("Sess01_script03_User001M_001", "disqust"), utt("Sess01_script03_User002M_001", "bored"),
                 utt("Sess01_script03_User002M_002", ""), utt("Sess01_scriptA_User001M_001")]
    root = make_kemdy20(tmp_path / "K", {"01": utts}, bio=False)
    (root / "wav/Session01/Sess01_script02_User002M_001.wav").unlink()
    seg, excl, summary = build_index(root, ["Session01"], "drop", dataset="kemdy20")
    assert seg.set_index("segment_id").loc["Sess01_script03_User001M_001", "emotion"] == "disgust"
    assert summary["aliases_mapped"] == {"disqust": 1}
    reasons = dict(zip(excl["segment_id"], excl["reason"]))
    assert reasons == {"Sess01_script03_User002M_001": "unknown_label", "Sess01_script03_User002M_002": "missing_label",
                       "Sess01_scriptA_User001M_001": "bad_segment_id",
                       "Sess01_script02_User002M_001": "missing_wav"}
    assert summary["excluded_by_reason"] == {"bad_segment_id": 1, "missing_label": 1, "missing_wav": 1,
                                             "unknown_label": 1}


# ------------------------------------------------------------------------------------------------ E4 files


def test_eda_file_hz_line_and_timestamps(tmp_path):
    spans = [("Sess01_script01_User001M_001", 2.0, 4.0)]
    path = sampled_file(tmp_path / "EDA.csv", spans, base=1.0, slope=0.5, seconds=10, rate=4.0, newline="\r\n")
    assert path.read_text().splitlines()[1] == "4.000000,hz"
    rec = recording.load_recording(path, "eda")
    assert rec.fs == rec.counter_fs == 4.0 and rec.clock_fs == pytest.approx(4.0, rel=1e-3)
    assert rec.clock[0] == pytest.approx(T0 + 0.25) and np.diff(rec.clock) == pytest.approx(0.25)
    assert rec.elapsed[0] == pytest.approx(0.25), "time since the E4 start of line 1"
    assert list(rec.tags) == ["Sess01_script01_User001M_001"] and int((rec.codes == 0).sum()) == 8
    assert rec.line(0) == 3, "data start on line 3 after the two header lines"
    rate8 = sampled_file(tmp_path / "TEMP.csv", spans, base=30.0, seconds=4, rate=8.0)
    assert recording.load_recording(rate8, "temp").fs == 8.0, "the rate comes from line 2"
    header_only = write_lines(tmp_path / "EDA_empty.csv", [f"1.0,{ts(T0)}", "4.000000,hz"])
    assert recording.empty_file_reason(header_only) == "it has only the E4 header"


def test_bad_e4_rows_name_file_and_line(tmp_path):
    path = sampled_file(tmp_path / "EDA.csv", [], base=1.0, seconds=3)
    lines = path.read_text().splitlines()
    lines[6] = "0.5,2020-0821-1199-00-000"
    write_lines(path, lines)
    with pytest.raises(DataError, match=r"EDA.csv.*line 7: timestamp '2020-0821-1199-00-000'"):
        recording.load_recording(path, "eda")
    ibi_path = ibi_file(tmp_path / "IBI.csv", regular_beats(5), [])
    with pytest.raises(DataError, match="E4 IBI header, but a EDA file"):
        recording.load_recording(ibi_path, "eda")


def test_ibi_header_rows_and_features_from_the_intervals(tmp_path):
    sid = "Sess01_script01_User001M_001"
    # (time since the start, interval): the beat before 12.3 s was not detected (12.3 - 10.8 != 0.8)
    beats = [(10.0, 0.8), (10.8, 0.8), (12.3, 0.8), (13.1, 0.8), (13.9, 0.8), (14.6, 0.7), (15.5, 0.9)]
    path = ibi_file(tmp_path / "IBI.csv", beats, [(sid, 10.0, 16.0)])
    assert path.read_text().splitlines()[0].split(",")[1] == "IBI"
    rec = recording.load_recording(path, "ibi")
    assert np.isnan(rec.fs) and rec.line(0) == 2 and rec.clock[0] == pytest.approx(T0 + 10.0)
    feats = extract.participant_features("ibi", rec, [sid], IBI)
    intervals = np.array([b[1] for b in beats]) * 1000
    # successive differences: 10.8 after 10.0, then 13.1 .. 15.5 (none across the missed beat)
    diffs = np.array([800 - 800, 800 - 800, 800 - 800, 700 - 800, 900 - 700])
    row = feats.iloc[0]
    assert row.ibi_ok and row.ibi_n_beats == len(beats)
    assert row.ibi_mean == pytest.approx(intervals.mean())
    assert row.ibi_sdnn == pytest.approx(intervals.std(ddof=1))
    assert row.ibi_rmssd == pytest.approx(np.sqrt(np.mean(diffs ** 2)))
    assert row.ibi_nn50 == (np.abs(diffs) > 50).sum() == 2


def test_too_few_beats_and_untagged_segments(tmp_path):
    a, b, c = "Sess01_script01_User001M_001", "Sess01_script01_User001M_002", "Sess01_script01_User001M_003"
    path = ibi_file(tmp_path / "IBI.csv", regular_beats(30, 0.8), [(a, 4.0, 5.0), (b, 10.0, 20.0)])
    feats = extract.participant_features("ibi", recording.load_recording(path, "ibi"), [a, b, c], IBI)
    assert feats["ibi_reason"].tolist() == ["too_few_beats", "", "no_segment_tags"]
    assert feats["ibi_n_beats"].iloc[0] == 2 and np.isnan(feats["ibi_mean"].iloc[0])


def test_zero_byte_ibi_file_and_a_session_job(tmp_path):
    root = make_kemdy20(tmp_path / "K", {"01": MM})
    (root / "IBI/Session01/Sess01_script02_User002M.csv").write_bytes(b"")
    seg, _, _ = build_index(root, ["Session01"], "drop", dataset="kemdy20")
    parts = extract.unit_parts(seg, "Sess01")
    assert [k for k, _ in parts] == ["Sess01_script01_User001M", "Sess01_script01_User002M",
                                     "Sess01_script02_User002M"]
    out = {}
    for signal, settings in (("ibi", IBI), ("eda", EDA), ("temp", TEMP)):
        out[signal] = extract.unit_features(signal, "Sess01", seg, root, settings, {"tolerance_s": 1.0,
                                                                                  "min_agree": 3})
    ibi_reason = out["ibi"].set_index("segment_id")["ibi_reason"]
    assert ibi_reason["Sess01_script02_User002M_001"] == "file_empty"
    assert (ibi_reason.drop("Sess01_script02_User002M_001") == "").all()
    assert out["eda"]["eda_ok"].all() and out["temp"]["temp_ok"].all()
    temp = out["temp"].set_index("segment_id")
    assert temp["temp_slope"].to_numpy() == pytest.approx(0.002, rel=1e-3)
    assert out["ibi"]["ibi_mean"].dropna().to_numpy() == pytest.approx(750.0)

    parts = {f"features/{s}/Sess01.parquet": f for s, f in out.items()}
    settings = {"eda": EDA, "temp": TEMP, "ibi": IBI}
    feats, qc_table = gather.gather_bio(seg, parts, settings)
    assert [c for c in feats.columns if c.endswith("_ok")] == ["eda_ok", "temp_ok", "ibi_ok"]
    detail = gather.missing_detail(seg, feats, "ibi")
    assert "IBI/Session01/Sess01_script02_User002M.csv: 1 (file_empty 1)" in detail
    assert qc_table.query("modality == 'ibi' and reason == 'file_empty'")["n_segments"].tolist() == [1]


def test_bio_model_imputes_a_missing_ibi_per_segment():
    feats = pd.DataFrame({"segment_id": list("abcd"), "eda_mean": [1.0, 2.0, 3.0, 4.0],
                          "ibi_mean": [700.0, np.nan, 800.0, np.nan], "eda_ok": [True] * 4,
                          "ibi_ok": [True, False, True, False]})
    prep = bio_model.fit_preprocessing(feats)
    assert prep["indicator_columns"] == ["eda_missing", "ibi_missing"]
    x = bio_model.apply_preprocessing(feats, prep)
    assert np.isfinite(x).all() and x.shape == (4, 4)


def test_timestamps_parse_across_midnight():
    s = pd.Series([f"{DATE}-2359-59-750", "2020-0822-0000-00-000"])
    assert e4.parse_timestamps(s, "x", 2).tolist() == [86399.75, 86400.0]


def test_ibi_successive_flags():
    t = np.array([1.0, 1.8, 3.4, 4.2])
    v = np.array([0.8, 0.8, 0.8, 0.8])
    assert ibi.successive(t, v).tolist() == [False, True, False, True]


# ------------------------------------------------------------------------------------------------ workflow


@pytest.mark.workflow
def test_a_kemdy20_copy_is_detected_planned_and_kept_apart(tmp_path):
    """Parse time on a KEMDy20 copy: detected, its defaults logged, one bio job per session and signal
    (EDA, TEMP, IBI; no ECG); its index records the dataset; a results folder of another dataset is
    refused, and --directory keeps the two apart."""
    sessions = {"01": MM, "12": FF, "17": [utt("Sess17_script01_User083F_001"), utt("Sess17_script01_User084F_001")],
                "03": [utt("Sess03_script01_User005M_001"), utt("Sess03_script01_User006F_001", "happy")]}
    data = make_kemdy20(tmp_path / "KEMDy20", sessions)
    wd = copy_workflow(tmp_path / "wf")
    res = snakemake(wd, "results/table1.csv", "-n", "--cores", "1", *TINY, "--config", f"data_dir={data}")
    out = res.stdout + res.stderr
    assert "dataset KEMDy20" in out and 'labels.tie_policy = "drop" (KEMDy20 default)' in out
    planned = planned_outputs(res.stdout)
    bio = sorted(p for p in planned if p.startswith("results/features/") and p.endswith("parquet")
                 and p.split("/")[2] in ("ecg", "eda", "temp", "ibi"))
    assert bio == sorted(f"results/features/{s}/Sess{n}.parquet" for s in ("eda", "temp", "ibi")
                         for n in ("01", "03", "12", "17"))
    assert "results/oracle.json" not in planned and "results/dataset.json" in planned
    snakemake(wd, "results/segments.parquet", "results/dataset.json", "--cores", "1", *TINY,
              "--config", f"data_dir={data}")
    info = json.loads((wd / "results/dataset.json").read_text())
    assert info["dataset"] == "kemdy20" and info["data_dir"] == str(data)
    assert info["resolved"]["bio.signals"]["value"] == ["eda", "temp", "ibi"]
    summary = json.loads((wd / "results/qc/index_summary.json").read_text())
    assert summary["dataset"] == "kemdy20" and summary["session_pairs"] == {"FF": 2, "FM": 1, "MM": 1}
    # the KEMDy19 stand-in in the same results folder: refused, naming both and the way out
    res = snakemake(wd, "results/segments.parquet", "-n", "--cores", "1", *TINY, check=False)
    out = res.stdout + res.stderr
    assert res.returncode != 0 and "results/ holds the results of KEMDy20" in out and "--directory" in out
    other = tmp_path / "runs" / "kemdy19"
    other.mkdir(parents=True)
    res = snakemake(wd, "results/segments.parquet", "-n", "--cores", "1", *TINY, "--directory", str(other))
    assert "synth_data" in res.stdout


@pytest.mark.workflow
def test_tiny_synthetic_kemdy20_runs_the_kemdy20_paths(tmp_path):
    """``synthetic.layout: kemdy20`` with the tiny preset, end to end to Table 1: the stand-in lands in its own
    folder, and the index, the bio features (EDA, TEMP, IBI), every setting, the oracle and the table run on
    it, with the KEMDy20 reference in the table and the dataset in its metadata."""
    t0 = time.time()
    wd = copy_workflow(tmp_path / "wf")
    snakemake(wd, "results/table1.csv", "--cores", "2", *TINY, "--config", 'synthetic={"layout": "kemdy20"}')
    data = wd / "resources/synthetic/KEMDy20"
    assert data.is_dir() and not (wd / "resources/synthetic/KEMDy19").exists()
    info = json.loads((wd / "results/dataset.json").read_text())
    assert (info["dataset"], info["data_dir"], info["synthetic"]) == ("kemdy20", "resources/synthetic/KEMDy20", True)
    summary = json.loads((wd / "results/qc/index_summary.json").read_text())
    assert summary["ties"]["n"] > 0 and summary["ties"]["dropped"] == summary["ties"]["n"]
    assert summary["ties"]["not_in_order"] == 0
    assert set(summary["transcript_encodings"]) == {"cp949"}
    assert {"FF", "MM"} <= set(summary["session_pairs"])
    seg = pd.read_parquet(wd / "results/segments.parquet")
    assert seg["speaker"].str.fullmatch(r"User\d{3}[FM]").all() and seg["speaker"].nunique() == 8
    feats = pd.read_parquet(wd / "results/features/bio.parquet")
    assert [c for c in feats.columns if c.endswith("_ok")] == ["eda_ok", "temp_ok", "ibi_ok"]
    empty = json.loads((data / "_truth/empty_bio.json").read_text())
    assert len(empty) == 1 and empty[0]["signal"] == "IBI" and (data / empty[0]["file"]).stat().st_size == 0
    missing = set(feats.loc[feats["ibi_reason"] == "file_empty", "segment_id"])
    assert missing and missing == set(empty[0]["segment_ids"]) & set(seg["segment_id"])
    assert feats["eda_ok"].all() and feats["ibi_ok"].any()
    qc_table = pd.read_csv(wd / "results/qc/bio.tsv", sep="\t", keep_default_na=False)
    assert set(qc_table["modality"]) == {"eda", "temp", "ibi"}
    oracle = json.loads((wd / "results/oracle.json").read_text())
    assert set(oracle["settings"]) == {"audio", "text", "bio", "audio+text", "audio+text+bio"}
    assert json.loads((wd / "results/fusion/bio/metrics.json").read_text())["n_test"] == len(seg)
    table = pd.read_csv(wd / "results/table1.csv").set_index("setting")
    assert list(table.index) == ["Audio", "Text", "Bio Signals", "Audio+Text", "Audio+Text+Bio Signals"]
    assert (table["n_test"] == len(seg)).all() and table["accuracy"].between(0, 1).all()
    assert table[["paper_accuracy", "paper_f1"]].isna().all().all(), "the paper reports KEMDy19 only"
    reference = table[["reference_accuracy", "reference_f1_macro"]]
    assert tuple(reference.loc["Audio+Text"]) == (0.874, 0.408)
    assert reference.drop(index="Audio+Text").isna().all().all()
    # every fold's majority class is neutral, as in KEMDy20 (about 87 % of single-label rows)
    assert np.allclose(table["majority_accuracy"], (seg["emotion"] == "neutral").mean(), atol=1e-4)
    # the data figures, with KEMDy20's signals: heart rate from the IBI intervals (ms) in a human range
    assert (wd / "results/figures/signals.png").stat().st_size > 0
    frame, present = dataview.feature_frame(seg, [feats])
    assert "ibi_mean" in [c for c, _ in present] and "ecg_mean_nn" not in frame.columns
    assert frame["ibi_mean"].dropna().between(40, 140).all()
    meta = json.loads((wd / "results/table1.meta.json").read_text())
    assert (meta["dataset"], meta["data_dir"]) == ("kemdy20", "resources/synthetic/KEMDy20")
    assert meta["resolved"]["labels.tie_policy"] == {"source": "KEMDy20 default", "value": "drop"}
    print(f"tiny synthetic KEMDy20 to Table 1: {time.time() - t0:.0f} s")


# ------------------------------------------------------------------------------------------------ generator


@pytest.fixture(scope="module")
def synthetic20(tmp_path_factory):
    root = tmp_path_factory.mktemp("synth20")
    cfg = {"size": "tiny", "seed": 19, "n_sessions": 4, "layout": "kemdy20"}
    manifest = synth.generate(root / "KEMDy20", cfg, root / "KEMDy20.manifest.json", layout="kemdy20")
    return root / "KEMDy20", manifest


def test_synthetic_kemdy20_layout_and_quirks(synthetic20):
    root, manifest = synthetic20
    assert datasets.detect(str(root)) == "kemdy20" and manifest["layout"] == "kemdy20"
    sessions = datasets.sessions(str(root), "kemdy20")
    seg, excl, summary = build_index(root, sessions, "drop", dataset="kemdy20")
    assert set(excl["reason"]) == {"tie"} and summary["ties"]["not_in_order"] == 0
    assert summary["transcript_encodings"] == {"cp949": summary["segments"] + summary["ties"]["dropped"]}
    assert summary["session_pairs"] == {"FF": 1, "FM": 1, "MM": 2}
    ann = (root / "annotation/Sess01_eval.csv").read_bytes()
    assert ann.count(b"\r\n") == ann.count(b"\n") and ann.split(b"\r\n")[0].count(b",") == 36
    assert ann.split(b"\r\n")[0].startswith(b"Numb,WAV, ,Segment ID,Total Evaluation, , ,Eval01F")
    ties = excl["detail"].tolist()  # the dropped ties as written
    assert ties and all(t.split(";") == sorted(t.split(";"), key=KEMDY20_TIE_ORDER.index) for t in ties)
    eda = (root / "EDA/Session01/Sess01_script01_User001M.csv").read_text().splitlines()
    assert eda[1] == "4.000000,hz" and eda[0].count(",") == 1
    ibi_files = sorted((root / "IBI").rglob("*.csv"))
    assert len(ibi_files) == 4 * 2 * 2 and [p.name for p in ibi_files if p.stat().st_size == 0] == [
        manifest["quirks"]["zero_byte_ibi"][0]["file"].split("/")[-1]]
    assert set(manifest["counts"]["utterances_by_speaker"]) == set(seg["speaker"])
    prior = json.loads((root / "_truth/cue_model.json").read_text())["prior"]
    assert prior[0] == pytest.approx(0.867)
    assert (seg["emotion"] == "neutral").mean() > 0.7


def test_synthetic_kemdy20_is_deterministic(synthetic20, tmp_path):
    root, _ = synthetic20
    cfg = {"size": "tiny", "seed": 19, "n_sessions": 4, "layout": "kemdy20"}
    synth.generate(tmp_path / "again", cfg, tmp_path / "again.json", layout="kemdy20")
    for path in sorted(p for p in root.rglob("*") if p.is_file()):
        assert (tmp_path / "again" / path.relative_to(root)).read_bytes() == path.read_bytes(), path
