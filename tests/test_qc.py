"""QC bookkeeping: counts per reason, the missing-fraction stop, the summary table."""

from pathlib import Path
from types import SimpleNamespace

import pandas as pd
import pytest

from _model_data import run_script
from emoflow.errors import QCError
from emoflow.qc import check_missing, qc_table, summarise

SCRIPTS = Path(__file__).resolve().parents[1] / "workflow" / "scripts"


def test_qc_table_counts_reasons():
    ok = pd.Series([True, True, False, False, False])
    reason = pd.Series(["", "", "too_few_beats", "file_missing", "too_few_beats"])
    t = qc_table("ecg", ok, reason)
    assert t.loc[t.status == "usable", "n_segments"].item() == 2
    assert dict(zip(t.reason[1:], t.n_segments[1:])) == {"file_missing": 1, "too_few_beats": 2}
    assert t["fraction"].sum() == pytest.approx(1.0)


def test_check_missing_stops_above_the_limit():
    ok = pd.Series([True] * 6 + [False] * 4)
    check_missing("eda", ok, 0.4)
    with pytest.raises(QCError, match=r"eda: 4 of 10 segments.*max_missing_fraction.eda"):
        check_missing("eda", ok, 0.3, detail="Sess01F.csv has no tags")
    with pytest.raises(QCError):
        check_missing("text", pd.Series([], dtype=bool), 0.5)


def test_summarise_merges_exclusions_and_modalities(tmp_path):
    ex = pd.DataFrame({"segment_id": ["a", "b"], "session": ["S", "S"], "reason": ["missing_wav", "tie"],
                       "detail": ["", ""]})
    bio = qc_table("ecg", pd.Series([True, False]), pd.Series(["", "no_beats"]))
    table = summarise([bio], ex)
    assert set(table.modality) == {"index", "ecg"}
    assert table.loc[table.reason == "missing_wav", "n_segments"].item() == 1
    assert table.loc[(table.modality == "ecg") & (table.status == "usable"), "n_segments"].item() == 1


def test_qc_summary_script_reads_the_tables_and_writes_one(tmp_path):
    ex = tmp_path / "excluded.tsv"
    pd.DataFrame({"segment_id": ["a"], "session": ["S"], "reason": ["tie"], "detail": [""]}).to_csv(
        ex, sep="\t", index=False)
    paths = {}
    for name in ("bio", "fold0", "fold1", "audio"):
        paths[name] = tmp_path / f"{name}.tsv"
        qc_table("text" if name.startswith("fold") else name, pd.Series([True, False]),
                 pd.Series(["", "file_missing"])).to_csv(paths[name], sep="\t", index=False)
    out = tmp_path / "features.tsv"
    smk = SimpleNamespace(scriptdir=str(SCRIPTS), rule="qc_summary", threads=1, log=[str(tmp_path / "qc.log")],
                          input=SimpleNamespace(excluded=str(ex), bio=str(paths["bio"]), audio=str(paths["audio"]),
                                                text=[str(paths["fold0"]), str(paths["fold1"])]),
                          output=[str(out)])
    run_script(SCRIPTS / "qc_summary.py", smk)
    table = pd.read_csv(out, sep="\t", keep_default_na=False)
    assert list(table.modality) == ["index", "bio", "bio", "text/fold0", "text/fold0", "text/fold1", "text/fold1",
                                    "audio", "audio"]
    assert table.loc[table.modality == "index", "reason"].item() == "tie"
