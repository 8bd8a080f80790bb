"""Partial copies of the dataset: ``bio.signals`` picks the signals (only their folders are needed), and a
participant file without data rows (empty, blank lines, a header only) counts as missing with reason
``file_empty`` instead of stopping the run.
"""

from __future__ import annotations

import json
import shutil
import time

import numpy as np
import pandas as pd
import pytest

from conftest import TINY, copy_workflow, snakemake
from emoflow.errors import DataError
from emoflow.features.bio import extract, gather, recording
from emoflow.models import bio as bio_model

EDA = {"band": [0.05, 5.0], "n_bands": 6, "detrend": "linear", "window": "hann", "min_samples": 4}
TEMP = {"min_samples": 2}
IDS = ["Sess01_script01_F001", "Sess01_script01_F002"]


def _segments(ids):
    return pd.DataFrame({"segment_id": ids, "session": ["Session" + i[4:6] for i in ids],
                         "speaker": [i.rsplit("_", 1)[1][0] for i in ids]})


def _features(path, signal="temp", settings=TEMP):
    ids = extract.participant_segments(_segments(IDS), "Sess01F")
    rec = extract.read_participant(path, signal, ids, settings)
    return rec, extract.participant_features(signal, rec, ids, settings)


# ------------------------------------------------------------------------------------------ empty files


@pytest.mark.parametrize("body, why", [
    (b"", "it is empty"),
    (b"\n\r\n  \n", "it has only blank lines"),
    (b"value,elapsed,clock,SegID\n", "it has only a header line"),
    (b"TEMP,Elapsed,Time\r\n\r\n", "it has only a header line"),
])
def test_empty_or_header_only_file_is_file_empty(tmp_path, caplog, body, why):
    path = tmp_path / "TEMP/Session01/Original/Sess01F.csv"
    path.parent.mkdir(parents=True)
    path.write_bytes(body)
    assert recording.empty_file_reason(path) == why
    rec, out = _features(path)
    assert rec == "file_empty"
    assert out["segment_id"].tolist() == IDS and not out["temp_ok"].any()
    assert (out["temp_reason"] == "file_empty").all() and out["temp_mean"].isna().all()
    assert "Sess01F.csv has no data rows" in caplog.text and why in caplog.text


def test_a_header_before_data_rows_is_still_an_error_and_one_data_row_is_read(tmp_path):
    path = tmp_path / "Sess01F.csv"
    path.write_text("value,elapsed,clock\n33.1,0.25,10:00:00.250\n33.1,0.50,10:00:00.500\n")
    assert recording.empty_file_reason(path) is None
    with pytest.raises(DataError, match="line 1: value field is not a number"):
        _features(path)
    path.write_text("33.1,0.25,10:00:00.250\n")
    assert recording.empty_file_reason(path) is None


def test_gather_counts_file_empty_in_the_qc_table(tmp_path):
    path = tmp_path / "Sess01F.csv"
    path.write_bytes(b"value,elapsed,clock,SegID\n")
    _, part = _features(path)
    feats, qc_table = gather.gather_bio(_segments(IDS), {"features/temp/Sess01F.parquet": part}, {"temp": TEMP})
    assert (feats["temp_reason"] == "file_empty").all()
    missing = qc_table[qc_table["status"] == "missing"]
    assert missing[["modality", "reason", "n_segments"]].values.tolist() == [["temp", "file_empty", 2]]


# ------------------------------------------------------------------------------------------ bio.signals


def _part(signal, ids, cols):
    df = pd.DataFrame({"segment_id": ids, **{c: np.ones(len(ids)) for c in cols}})
    df[f"{signal}_ok"] = True
    df[f"{signal}_reason"] = ""
    if signal == "eda":
        df["eda_band_hi_hz"] = 2.0
    return df


def test_gather_writes_only_the_signals_in_use():
    ids = ["Sess01_script01_F001", "Sess01_script01_M001"]
    eda_cols = gather.feature_columns({"eda": EDA})
    temp_cols = gather.feature_columns({"temp": TEMP})
    parts = {}
    for g, sid in zip("FM", ids):
        parts[f"features/eda/Sess01{g}.parquet"] = _part("eda", [sid], eda_cols)
        parts[f"features/temp/Sess01{g}.parquet"] = _part("temp", [sid], temp_cols)
    feats, qc_table = gather.gather_bio(_segments(ids), parts, {"eda": EDA, "temp": TEMP})
    assert list(feats.columns) == ["segment_id", *eda_cols, *temp_cols, "eda_ok", "eda_reason", "temp_ok",
                                   "temp_reason"]
    assert not [c for c in feats.columns if c.startswith("ecg_")]
    assert set(qc_table["modality"]) == {"eda", "temp"}
    gather.check_bio_missing(_segments(ids), feats, {"ecg": 0.0, "eda": 0.0, "temp": 0.0})  # no ECG: no check

    ecg_part = _part("ecg", ids[:1], ["ecg_mean_nn"])
    with pytest.raises(DataError, match="not in use"):
        gather.gather_bio(_segments(ids), {**parts, "features/ecg/Sess01F.parquet": ecg_part},
                          {"eda": EDA, "temp": TEMP})

    # the bio model takes its inputs by name: no ECG column and no ECG missing indicator
    feats["split"] = "train"
    prep = bio_model.fit_preprocessing(feats)
    assert prep["feature_columns"] == [*eda_cols, *temp_cols]
    assert prep["indicator_columns"] == ["eda_missing", "temp_missing"]


# ------------------------------------------------------------------------------------------ workflow


@pytest.mark.workflow
def test_a_copy_without_ecg_needs_bio_signals(tmp_path):
    """Parse time: the default (every signal) refuses a copy without ECG/, naming the folder and the key;
    with bio.signals [eda, temp] the folder check passes (the next check is about the annotation files)."""
    wd = copy_workflow(tmp_path / "wf")
    data = tmp_path / "KEMDy19"
    for d in ("annotation", "wav", "EDA", "TEMP"):
        (data / d).mkdir(parents=True)
    res = snakemake(wd, "results/segments.parquet", "-n", "--cores", "1", "--config", f"data_dir={data}",
                    "dataset=kemdy19", check=False)
    out = res.stdout + res.stderr
    assert res.returncode != 0 and "Traceback" not in out
    assert "has no ECG/ folder" in out and "bio.signals" in out and '["eda", "temp"]' in out
    res = snakemake(wd, "results/segments.parquet", "-n", "--cores", "1", "--config", f"data_dir={data}",
                    "dataset=kemdy19", 'bio={"signals": ["eda", "temp"]}', check=False)
    out = res.stdout + res.stderr
    assert res.returncode != 0 and "ECG/" not in out and "no SessionSS_F_res.csv" in out


@pytest.mark.workflow
def test_a_copy_without_ecg_runs_the_bio_setting_with_eda_and_temp(tiny_run, tmp_path):
    """The tiny synthetic data, copied without ECG/, runs through the bio features, model and fusion of
    one fold with bio.signals [eda, temp] (the audio and text stages do not depend on it; the whole table was run
    this way by hand); the header-only TEMP file of the synthetic data leaves exactly the segments in
    _truth/ without TEMP."""
    t0 = time.time()
    wd = copy_workflow(tmp_path / "wf")
    data = tmp_path / "partial" / "KEMDy19"
    shutil.copytree(tiny_run / "resources/synthetic/KEMDy19", data, ignore=shutil.ignore_patterns("_truth"))
    shutil.rmtree(data / "ECG")
    target = "results/fusion/bio/fold0/metrics.json"  # one fold: the other is the same code
    snakemake(wd, target, "--cores", "2", *TINY, "--config", f"data_dir={data}", 'bio={"signals": ["eda", "temp"]}')
    assert (wd / target).is_file()
    assert not (wd / "results/features/ecg").exists()
    feats = pd.read_parquet(wd / "results/features/bio.parquet")
    assert not [c for c in feats.columns if c.startswith("ecg_")] and "eda_ok" in feats and "temp_ok" in feats
    prep = json.loads(next((wd / "results/models/bio").rglob("preprocessing.json")).read_text())
    assert not [c for c in prep["input_columns"] if c.startswith("ecg_")]
    qc_table = pd.read_csv(wd / "results/qc/bio.tsv", sep="\t", keep_default_na=False)
    assert set(qc_table["modality"]) == {"eda", "temp"}

    truth = json.loads((tiny_run / "resources/synthetic/KEMDy19/_truth/header_only_bio.json").read_text())
    assert len(truth) == 1 and truth[0]["signal"] == "TEMP"
    empty = set(feats.loc[feats["temp_reason"] == "file_empty", "segment_id"])
    assert empty and empty == set(truth[0]["segment_ids"]) & set(feats["segment_id"])
    assert feats.loc[feats["segment_id"].isin(empty), "temp_mean"].isna().all()
    n_empty = qc_table.query("modality == 'temp' and reason == 'file_empty'")["n_segments"].tolist()
    assert n_empty == [len(empty)]
    print(f"end-to-end without ECG: {time.time() - t0:.0f} s")
