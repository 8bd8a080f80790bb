"""Unused annotation fields (ECG/E4-EDA/E4-TEMP start/end) never stop a run; used ones still do.

The reader parses as numbers only what the index uses (Numb, Wav start/end, Total Evaluation
valence/arousal); the bio start/end values are read as text. The synthetic generator writes a
non-numeric value in two such cells (quirk ``unused_field_text``, recorded in ``_truth/``), and the
index must keep exactly those segments as usual.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from emoflow import synth
from emoflow.errors import DataError
from emoflow.reader import build_index, read_annotation
from test_reader import HEADER1, HEADER2, ann_row, make_kemdy19, write_csv

TINY = {"size": "tiny", "seed": 19, "n_sessions": None, "ecg_fs": 250,
        "cue_accuracy": {"audio": 0.7, "text": 0.55, "bio": 0.6}}
UNUSED = {3: "ecg_start", 4: "ecg_end", 5: "eda_start", 6: "eda_end", 7: "temp_start", 8: "temp_end"}


def _rows(n: int = 3) -> list[list[str]]:
    return [HEADER1, HEADER2] + [ann_row(i, f"Sess01_script01_M{i:03d}", "sad") for i in range(1, n + 1)]


# ------------------------------------------------------------------------------------------------
# read_annotation / build_index on hand-made files


@pytest.mark.parametrize("col", sorted(UNUSED))
def test_non_numeric_unused_field_is_read_as_text(tmp_path, col, caplog):
    rows = _rows()
    rows[3][col] = "#VALUE!"
    with caplog.at_level(logging.INFO, logger="emoflow.reader"):
        df = read_annotation(write_csv(tmp_path / "Session01_M_res.csv", rows))
    assert df[UNUSED[col]].tolist() == [ann_row(1, "x", "sad")[col], "#VALUE!", ann_row(3, "x", "sad")[col]]
    assert df["numb"].tolist() == [1, 2, 3] and df["valence"].tolist() == [3.0, 3.0, 3.0]
    assert "1 non-numeric value(s) in the unused" in caplog.text


def test_unused_fields_are_text_as_written(tmp_path):
    rows = _rows(2)
    rows[2][3:9] = ["-0.1446019", " 1e-3 ", "", "n/a", "NaN", "30.69"]
    df = read_annotation(write_csv(tmp_path / "a.csv", rows))
    assert df.loc[0, list(UNUSED.values())].tolist() == ["-0.1446019", "1e-3", "", "n/a", "NaN", "30.69"]
    assert all(df[c].map(type).eq(str).all() for c in UNUSED.values())


@pytest.mark.parametrize("col, what, column", [
    (1, "wav start", "Wav/Start"), (2, "wav end", "Wav/End"),
    (11, "valence", "Total Evaluation/Valence"), (12, "arousal", "Total Evaluation/Arousal"),
])
def test_non_numeric_used_field_names_file_row_and_column(tmp_path, col, what, column):
    rows = _rows()
    rows[3][col] = "#VALUE!"
    path = write_csv(tmp_path / "Session01_F_res.csv", rows)
    with pytest.raises(DataError) as e:
        read_annotation(path)
    msg = str(e.value)
    assert str(path) in msg
    assert f"non-numeric {what} '#VALUE!' at data row 2 (line 4) in column '{column}'" in msg


def test_index_keeps_a_segment_with_a_non_numeric_unused_field(tmp_path):
    def edit(gender, rows):
        rows[0][5] = "#VALUE!"  # Sess01_script01_M001, E4-EDA start, both files
        rows[1][8] = "-"  # Sess01_script01_F001, E4-TEMP end

    make_kemdy19(tmp_path, rows_edit=edit)
    seg, excl, summary = build_index(tmp_path, ["Session01"], "first")
    assert excl.empty and summary["segments"] == 6
    assert {"Sess01_script01_M001", "Sess01_script01_F001"} <= set(seg["segment_id"])


# ------------------------------------------------------------------------------------------------
# The synthetic quirk


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    base = tmp_path_factory.mktemp("unused_fields")
    manifest = synth.generate(base / "KEMDy19", TINY, base / "manifest.json")
    return SimpleNamespace(root=base / "KEMDy19", base=base, manifest=manifest)


def _non_numeric_cells(root: Path) -> set[tuple[str, int, int]]:
    """(file, Numb, column) of every non-empty, non-numeric cell in the unused columns."""
    out = set()
    for path in sorted((root / "annotation").glob("*.csv")):
        for r in [line.split(",") for line in path.read_text(encoding="ascii").splitlines()[2:]]:
            for c in UNUSED:
                if r[c] and pd.isna(pd.to_numeric(r[c], errors="coerce")):
                    out.add((f"annotation/{path.name}", int(r[0]), c))
    return out


def test_synthetic_quirk_is_recorded_in_truth(data):
    recorded = json.loads((data.root / "_truth" / "unused_field_text.json").read_text())
    assert recorded == data.manifest["quirks"]["unused_field_text"]
    assert data.manifest["truth"]["unused_field_text"] == "_truth/unused_field_text.json"
    assert len(recorded) == 2
    # exactly the recorded cells are non-numeric, in a row of the utterance's own speaker
    assert _non_numeric_cells(data.root) == {(q["file"], q["numb"], q["index"]) for q in recorded}
    for q in recorded:
        assert q["file"].endswith(f"_{q['segment_id'][-4]}_res.csv")
        assert q["value"] in synth.UNUSED_FIELD_TEXTS and pd.notna(pd.to_numeric(q["replaces"]))
        df = read_annotation(data.root / q["file"]).set_index("numb")
        assert df.loc[q["numb"], "segment_id"] == q["segment_id"]
        assert df.loc[q["numb"], UNUSED[q["index"]]] == q["value"]


def test_synthetic_affected_segments_are_indexed_normally(data):
    recorded = data.manifest["quirks"]["unused_field_text"]
    seg, excl, _ = build_index(data.root, data.manifest["sessions"], "first")
    assert set(excl["reason"]) == {"id_mismatch"}  # the one injected exclusion, nothing more
    kept = seg.set_index("segment_id")
    cues = pd.read_parquet(data.root / "_truth" / "cues.parquet").set_index("segment_id")
    for q in recorded:
        assert q["segment_id"] in kept.index
        assert kept.loc[q["segment_id"], "emotion"] == cues.loc[q["segment_id"], "label"]


def test_synthetic_quirk_changes_no_other_byte(data, tmp_path, monkeypatch):
    monkeypatch.setattr(synth.quirks, "unused_field_text", lambda seed, files, fields: [])
    synth.generate(tmp_path / "KEMDy19", TINY, tmp_path / "manifest.json")
    a, b = _digest(data.base), _digest(tmp_path)
    recorded = data.manifest["quirks"]["unused_field_text"]
    files = {q["file"] for q in recorded}
    assert {k for k in set(a) | set(b) if a.get(k) != b.get(k)} == (
        {f"KEMDy19/{f}" for f in files} | {"KEMDy19/_truth/unused_field_text.json", "manifest.json"})
    for f in files:  # in those files only the recorded cells differ
        new = [r.split(",") for r in (data.root / f).read_text().splitlines()]
        old = [r.split(",") for r in (tmp_path / "KEMDy19" / f).read_text().splitlines()]
        diff = {(int(n[0]), c) for n, o in zip(new[2:], old[2:]) for c in range(len(n)) if n[c] != o[c]}
        assert diff == {(q["numb"], q["index"]) for q in recorded if q["file"] == f}
        assert len(new) == len(old)
