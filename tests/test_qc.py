"""QC bookkeeping: counts per reason, the missing-fraction stop, the summary table."""

import pandas as pd
import pytest

from emoflow.errors import QCError
from emoflow.qc import check_missing, qc_table, summarise


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
    ex = tmp_path / "excluded.tsv"
    pd.DataFrame({"segment_id": ["a", "b"], "session": ["S", "S"], "reason": ["missing_wav", "tie"],
                  "detail": ["", ""]}).to_csv(ex, sep="\t", index=False)
    bio = tmp_path / "bio.tsv"
    qc_table("ecg", pd.Series([True, False]), pd.Series(["", "no_beats"])).to_csv(bio, sep="\t", index=False)
    table = summarise([str(bio)], str(ex))
    assert set(table.modality) == {"index", "ecg"}
    assert table.loc[table.reason == "missing_wav", "n_segments"].item() == 1
    assert table.loc[(table.modality == "ecg") & (table.status == "usable"), "n_segments"].item() == 1
