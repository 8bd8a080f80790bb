"""The bad-input matrix, through the real snakemake CLI on a corrupted copy of the tiny synthetic data.

Each defect ends either in a clear error that names the file and the problem, or in a documented,
counted exclusion written to the QC reports. Nothing is dropped silently. The corrupted copy and its run
(fixture ``corrupted``) are in tests/conftest.py.
"""

from __future__ import annotations

import pandas as pd
import pytest

from conftest import TINY, copy_workflow, csv_rows, snakemake, tiny_data_copy, write_csv_rows

pytestmark = pytest.mark.workflow


def test_exclusions_are_counted_with_reasons(corrupted):
    wd, _, ids, _ = corrupted
    excluded = pd.read_csv(wd / "results/qc/excluded.tsv", sep="\t")
    reasons = dict(zip(excluded.segment_id, excluded.reason))
    assert reasons[ids["unknown_label"]] == "unknown_label"
    assert reasons[ids["missing_wav"]] == "missing_wav"
    assert reasons[ids["missing_txt"]] == "missing_txt"
    segments = pd.read_parquet(wd / "results/segments.parquet")
    assert not set(excluded.segment_id) & set(segments.segment_id)
    assert segments.set_index("segment_id").loc[ids["disqust"], "emotion"] == "disgust"


def test_cp949_and_empty_transcripts_are_read(corrupted):
    wd, _, ids, korean = corrupted
    seg = pd.read_parquet(wd / "results/segments.parquet").set_index("segment_id")
    assert seg.loc[ids["cp949"], "text"] == " ".join(korean.split())
    assert seg.loc[ids["empty_txt"], "text"] == ""
    qc = pd.read_csv(wd / "results/qc/features.tsv", sep="\t", keep_default_na=False)
    for k in (0, 1):  # one text QC table per fold (its tokenizer is the fold's)
        assert "empty_transcript" in set(qc.loc[qc.modality == f"text/fold{k}", "reason"])


def test_broken_wavs_are_reported_not_fatal(corrupted):
    wd, _, ids, _ = corrupted
    audio = pd.read_parquet(wd / "results/features/audio.parquet").set_index("segment_id")
    assert audio.loc[ids["truncated"], "reason"] == "truncated_wav"
    assert audio.loc[ids["empty_wav"], "reason"] == "empty_wav"
    assert audio.loc[ids["ulaw"], "reason"] == "not_pcm"
    assert not audio.loc[[ids["truncated"], ids["empty_wav"], ids["ulaw"]], "ok"].any()


def test_bio_defects_are_counted(corrupted):
    wd, _, _, _ = corrupted
    bio = pd.read_parquet(wd / "results/features/bio.parquet")
    seg = pd.read_parquet(wd / "results/segments.parquet")
    assert len(bio) == len(seg) and set(bio.segment_id) == set(seg.segment_id)
    m2 = bio.segment_id.str.startswith("Sess02_") & bio.segment_id.str.contains("_M0")
    assert (bio.loc[m2, "ecg_reason"] == "no_beats").all() and bio.loc[m2, "ecg_mean_nn"].isna().all()
    f3 = bio.segment_id.str.startswith("Sess03_") & bio.segment_id.str.contains("_F0")
    assert (bio.loc[f3, "eda_reason"] == "no_segment_tags").all()
    assert (bio.loc[f3, "temp_ok"]).all(), "only the EDA file lost its tags"
    assert "clock_backwards" in set(bio["temp_reason"])
    qc = pd.read_csv(wd / "results/qc/features.tsv", sep="\t", keep_default_na=False)
    for modality in ("ecg", "eda", "temp", "audio", "text/fold0", "text/fold1"):
        # usable + missing/excluded partition the segments; "aligned" rows break down how bio rows were found
        rows = qc[(qc.modality == modality) & ~qc.status.isin(["note", "aligned"])]
        assert rows.n_segments.sum() == len(seg), f"{modality}: counts do not cover every segment"
        aligned = qc[(qc.modality == modality) & (qc.status == "aligned")]
        if modality in ("ecg", "eda", "temp"):
            assert 0 < aligned.n_segments.sum() <= len(seg), modality


def _expect_error(wd, target, data, *needles):
    res = snakemake(wd, target, "--cores", "1", *TINY, "--config", f"data_dir={data}", check=False)
    out = res.stdout + res.stderr
    assert res.returncode != 0
    for needle in needles:
        assert needle in out, f"{needle!r} not in output:\n{out[-3000:]}"
    assert "ERROR in rule" in out, "the error must be a one-line message, not only a traceback"


def test_annotation_missing_column_names_file(tiny_run, tmp_path):
    data = tiny_data_copy(tiny_run, tmp_path / "KEMDy19")
    ann = data / "annotation/Session02_M_res.csv"
    rows = csv_rows(ann)
    rows[0][9] = "Segment"
    write_csv_rows(ann, rows)
    _expect_error(copy_workflow(tmp_path / "wf"), "results/segments.parquet", data,
                  "Session02_M_res.csv", "missing column")


def test_annotation_extra_header_row_names_file(tiny_run, tmp_path):
    data = tiny_data_copy(tiny_run, tmp_path / "KEMDy19")
    ann = data / "annotation/Session01_F_res.csv"
    rows = csv_rows(ann)
    write_csv_rows(ann, rows[:2] + [rows[1]] + rows[2:])
    _expect_error(copy_workflow(tmp_path / "wf"), "results/segments.parquet", data,
                  "Session01_F_res.csv", "header")


def test_non_numeric_bio_value_names_file_and_line(tiny_run, tmp_path):
    data = tiny_data_copy(tiny_run, tmp_path / "KEMDy19")
    ecg = data / "ECG/Session01/Original/Sess01F.csv"
    lines = ecg.read_text().splitlines()
    f = lines[99].split(",")
    f[1] = "n/a"
    lines[99] = ",".join(f)
    ecg.write_text("\n".join(lines) + "\n")
    _expect_error(copy_workflow(tmp_path / "wf"), "results/features/ecg/Sess01F.parquet", data,
                  "Sess01F.csv", "100")
