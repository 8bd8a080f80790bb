"""The bad-input matrix, through the real snakemake CLI on a corrupted copy of the tiny synthetic data.

Each defect ends either in a clear error that names the file and the problem, or in a documented,
counted exclusion written to the QC reports. Nothing is dropped silently.
"""

from __future__ import annotations

import csv
import io
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from conftest import TINY, copy_workflow, snakemake

pytestmark = pytest.mark.workflow


def _data_copy(tiny_run: Path, dest: Path) -> Path:
    src = tiny_run / "resources/synthetic/KEMDy19"
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("_truth"))
    return dest


def _rows(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text())))


def _write_rows(path: Path, rows: list[list[str]]) -> None:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    path.write_text(buf.getvalue())


def _own_rows(rows, gender):
    """Indexes of data rows that are the speaker's own (speaker letter == file gender)."""
    return [i for i, r in enumerate(rows) if i >= 2 and len(r) > 9 and r[9][-4] == gender]


def _wav(data: Path, segment_id: str) -> Path:
    sess, dialogue, _ = segment_id.split("_")
    return data / "wav" / f"Session{sess[4:]}" / f"{sess}_{dialogue}" / f"{segment_id}.wav"


@pytest.fixture(scope="module")
def corrupted(tiny_run, tmp_path_factory):
    """One copy with many defects that must become counted exclusions, run up to the QC summary."""
    root = tmp_path_factory.mktemp("bad")
    data = _data_copy(tiny_run, root / "KEMDy19")
    ann = data / "annotation/Session01_F_res.csv"
    rows = _rows(ann)
    own = _own_rows(rows, "F")
    ids = {name: rows[i][9] for name, i in zip(
        ["unknown_label", "disqust", "missing_wav", "missing_txt", "cp949", "empty_txt", "truncated",
         "empty_wav", "ulaw"], own)}
    rows[own[0]][10] = "bored"
    rows[own[1]][10] = "disqust"
    _write_rows(ann, rows)
    _wav(data, ids["missing_wav"]).unlink()
    _wav(data, ids["missing_txt"]).with_suffix(".txt").unlink()
    cp949 = _wav(data, ids["cp949"]).with_suffix(".txt")
    korean = cp949.read_text(encoding="utf-8")
    cp949.write_bytes(korean.encode("cp949"))
    _wav(data, ids["empty_txt"]).with_suffix(".txt").write_bytes(b"")
    wav = _wav(data, ids["truncated"])
    wav.write_bytes(wav.read_bytes()[: len(wav.read_bytes()) // 2])
    _wav(data, ids["empty_wav"]).write_bytes(b"")
    ulaw = _wav(data, ids["ulaw"])
    sf.write(ulaw, np.zeros(16000, dtype=np.float32), 16000, subtype="ULAW")
    # a flat ECG (no beats) for one participant: the value column (2nd) becomes constant
    ecg = data / "ECG/Session02/Original/Sess02M.csv"
    lines = ecg.read_text().splitlines()
    ecg.write_text("\n".join(",".join([f[0], "0.1"] + f[2:]) for f in (ln.split(",") for ln in lines)) + "\n")
    # an EDA file without segment tags
    eda = data / "EDA/Session03/Original/Sess03F.csv"
    eda.write_text("\n".join(",".join(ln.split(",")[:3]) for ln in eda.read_text().splitlines()) + "\n")
    # TEMP rows whose clock goes backwards inside a tagged segment
    temp = data / "TEMP/Session02/Original/Sess02F.csv"
    tl = temp.read_text().splitlines()
    tagged = [i for i, ln in enumerate(tl) if ln.count(",") == 3 and "_F0" in ln]
    i = tagged[len(tagged) // 2]
    a, b = tl[i].split(","), tl[i + 1].split(",")
    a[2], b[2] = b[2], a[2]
    tl[i], tl[i + 1] = ",".join(a), ",".join(b)
    temp.write_text("\n".join(tl) + "\n")

    wd = copy_workflow(root / "wf")
    # the waveform and token paths (audio.parquet, one text QC table per fold) of the cnn and bert encoders
    snakemake(wd, "results/qc/features.tsv", "--cores", "2", *TINY, "--config", f"data_dir={data}",
              "audio={'encoder': 'cnn'}", "text={'encoder': 'bert'}")
    return wd, data, ids, korean


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
    data = _data_copy(tiny_run, tmp_path / "KEMDy19")
    ann = data / "annotation/Session02_M_res.csv"
    rows = _rows(ann)
    rows[0][9] = "Segment"
    _write_rows(ann, rows)
    _expect_error(copy_workflow(tmp_path / "wf"), "results/segments.parquet", data,
                  "Session02_M_res.csv", "missing column")


def test_annotation_extra_header_row_names_file(tiny_run, tmp_path):
    data = _data_copy(tiny_run, tmp_path / "KEMDy19")
    ann = data / "annotation/Session01_F_res.csv"
    rows = _rows(ann)
    _write_rows(ann, rows[:2] + [rows[1]] + rows[2:])
    _expect_error(copy_workflow(tmp_path / "wf"), "results/segments.parquet", data,
                  "Session01_F_res.csv", "header")


def test_non_numeric_bio_value_names_file_and_line(tiny_run, tmp_path):
    data = _data_copy(tiny_run, tmp_path / "KEMDy19")
    ecg = data / "ECG/Session01/Original/Sess01F.csv"
    lines = ecg.read_text().splitlines()
    f = lines[99].split(",")
    f[1] = "n/a"
    lines[99] = ",".join(f)
    ecg.write_text("\n".join(lines) + "\n")
    _expect_error(copy_workflow(tmp_path / "wf"), "results/features/ecg/Sess01F.parquet", data,
                  "Sess01F.csv", "100")
