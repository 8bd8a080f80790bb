"""Train/val/test split: grouping without leaks, stratification, determinism."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from emoflow.constants import EMOTIONS
from emoflow.errors import DataError, QCError
from emoflow.split import LeakError, assign_folds, assign_split, check_no_leak, fold_tested, fold_view, split_summary


def make_segments(n_sessions=10, per_speaker=40, seed=1) -> pd.DataFrame:
    """A segment index without files: n_sessions x 2 speakers, neutral-heavy emotions."""
    rng = np.random.default_rng(seed)
    p = np.array([0.4, 0.15, 0.1, 0.15, 0.1, 0.05, 0.05])
    rows = []
    for s in range(1, n_sessions + 1):
        for g in ("F", "M"):
            for i in range(1, per_speaker + 1):
                rows.append({"segment_id": f"Sess{s:02d}_script01_{g}{i:03d}", "session": f"Session{s:02d}",
                             "speaker": g, "emotion": EMOTIONS[rng.choice(7, p=p)]})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("scheme, n_groups, n_test, n_val", [("session", 10, 2, 1), ("speaker", 20, 4, 2)])
def test_grouped_schemes_hold_out_whole_groups(scheme, n_groups, n_test, n_val):
    seg = make_segments()
    seg["split"] = assign_split(seg, scheme, 0.2, 0.15, seed=3)
    check_no_leak(seg, scheme)
    key = seg["session"] if scheme == "session" else seg["session"] + seg["speaker"]
    per_group = seg.groupby(key)["split"].agg(lambda s: set(s))
    assert (per_group.map(len) == 1).all()
    held = per_group.map(lambda s: next(iter(s))).value_counts()
    assert held.to_dict() == {"train": n_groups - n_test - n_val, "test": n_test, "val": n_val}


def test_speaker_scheme_may_split_a_session_but_session_scheme_never_does():
    seg = make_segments()
    seg["split"] = assign_split(seg, "speaker", 0.3, 0.2, seed=0)
    check_no_leak(seg, "speaker")
    assert (seg.groupby("session")["split"].nunique() > 1).any()
    with pytest.raises(LeakError, match="session split leaks"):
        check_no_leak(seg, "session")


def test_small_group_counts():
    seg = make_segments(n_sessions=3, per_speaker=5)
    seg["split"] = assign_split(seg, "session", 0.2, 0.15, seed=0)  # 3 groups: 1 test, 1 val, 1 train
    assert seg.groupby("split")["session"].nunique().to_dict() == {"test": 1, "train": 1, "val": 1}
    two = make_segments(n_sessions=2, per_speaker=5)
    s2 = assign_split(two, "session", 0.2, 0.15, seed=0)  # 2 groups: no room for validation
    assert set(s2) == {"train", "test"}
    one = make_segments(n_sessions=1, per_speaker=5)
    with pytest.raises(ValueError, match="at least 2 groups"):
        assign_split(one, "session", 0.2, 0.15, seed=0)
    # no validation asked: none carved
    assert "val" not in set(assign_split(make_segments(), "session", 0.2, 0.0, seed=0))


def test_random_scheme_is_stratified():
    seg = make_segments(n_sessions=10, per_speaker=60)
    seg["split"] = assign_split(seg, "random", 0.2, 0.15, seed=5)
    check_no_leak(seg, "random")  # no group constraint
    for emo, grp in seg.groupby("emotion"):
        n = len(grp)
        n_test = int((grp["split"] == "test").sum())
        n_val = int((grp["split"] == "val").sum())
        assert abs(n_test - 0.2 * n) <= 0.5 + 1e-9, emo
        assert abs(n_val - 0.15 * (n - n_test)) <= 0.5 + 1e-9, emo
    # the random scheme spreads every speaker over the splits (this is its leak)
    assert (seg.groupby(["session", "speaker"])["split"].nunique() > 1).all()


@pytest.mark.parametrize("scheme", ["random", "session", "speaker"])
def test_deterministic_and_seed_dependent(scheme):
    seg = make_segments()
    a = assign_split(seg, scheme, 0.2, 0.15, seed=7)
    b = assign_split(seg, scheme, 0.2, 0.15, seed=7)
    pd.testing.assert_series_equal(a, b)
    assert a.index.equals(seg.index) and set(a) == {"train", "val", "test"}
    # row order does not matter: the same segment gets the same split
    shuffled = seg.sample(frac=1.0, random_state=0)
    c = assign_split(shuffled, scheme, 0.2, 0.15, seed=7)
    pd.testing.assert_series_equal(c.reindex(seg.index), a)
    others = [assign_split(seg, scheme, 0.2, 0.15, seed=s) for s in (8, 9, 10)]
    assert any(not o.equals(a) for o in others)


def test_check_no_leak_catches_leaks():
    seg = make_segments()
    seg["split"] = assign_split(seg, "session", 0.2, 0.15, seed=0)
    test_session = seg.loc[seg["split"] == "test", "session"].iloc[0]
    leaky = seg.copy()
    leaky.loc[leaky.index[leaky["session"] == test_session][0], "split"] = "train"
    with pytest.raises(LeakError, match=f"{test_session} in test, train"):
        check_no_leak(leaky, "session")
    with pytest.raises(LeakError, match="speaker split leaks"):
        check_no_leak(leaky, "speaker")
    assert issubclass(LeakError, QCError)
    bad = seg.copy()
    bad.loc[bad.index[0], "split"] = "dev"
    with pytest.raises(LeakError, match="unknown split value"):
        check_no_leak(bad, "random")


def test_bad_arguments():
    seg = make_segments(n_sessions=3, per_speaker=3)
    with pytest.raises(ValueError, match="scheme"):
        assign_split(seg, "dialogue", 0.2, 0.15, seed=0)
    with pytest.raises(ValueError, match="test_fraction"):
        assign_split(seg, "session", 1.0, 0.15, seed=0)


def test_split_summary():
    seg = make_segments(n_sessions=5, per_speaker=4)
    seg["split"] = assign_split(seg, "session", 0.2, 0.15, seed=0)
    s = split_summary(seg)
    assert sum(s["counts"].values()) == len(seg)
    assert sum(s["per_emotion"]["test"].values()) == s["counts"]["test"]
    assert len(s["sessions"]["test"]) == 1 and len(s["speakers"]["test"]) == 2


# --------------------------------------------------------------------------------------------------
# Folds
# --------------------------------------------------------------------------------------------------
def _cfg(**kw):
    return {"scheme": "session", "folds": 5, "val_groups": 1, "test_fraction": 0.2, "val_fraction": 0.15,
            "seed": 0, **kw}


@pytest.mark.parametrize("scheme, folds, val_groups", [("session", 5, 1), ("session", 10, 2), ("speaker", 4, 3)])
def test_every_segment_is_tested_once_and_groups_never_leak(scheme, folds, val_groups):
    seg = make_segments()
    table = assign_folds(seg, _cfg(scheme=scheme, folds=folds, val_groups=val_groups))
    assert list(table.columns) == ["segment_id", "fold", "split"] and len(table) == folds * len(seg)
    tested = table[table["split"] == "test"]
    assert sorted(tested["segment_id"]) == sorted(seg["segment_id"])  # exactly once each
    key = seg["session"] if scheme == "session" else seg["session"] + "_" + seg["speaker"]
    n_groups = key.nunique()
    for k in range(folds):
        view = fold_view(seg, table, k)
        check_no_leak(view, scheme)
        groups = view.groupby(key.to_numpy())["split"].first().value_counts()
        assert groups["val"] == val_groups
        assert groups["test"] in (n_groups // folds, -(-n_groups // folds))
        assert groups["train"] == n_groups - groups["test"] - val_groups
        # the validation groups of a fold are never its test groups, and vary between folds
    vals = [frozenset(fold_view(seg, table, k).query("split == 'val'")["session"]) for k in range(folds)]
    assert len(set(vals)) > 1


def test_folds_are_deterministic_and_depend_on_the_seed():
    seg = make_segments()
    a = assign_folds(seg, _cfg())
    pd.testing.assert_frame_equal(a, assign_folds(seg.sample(frac=1.0, random_state=3), _cfg())
                                  .sort_values(["fold", "segment_id"]).reset_index(drop=True)
                                  .pipe(lambda d: d.set_index(["fold", "segment_id"]).loc[
                                      a.set_index(["fold", "segment_id"]).index].reset_index()[a.columns]))
    assert not a.equals(assign_folds(seg, _cfg(seed=1)))


def test_leave_one_session_out_and_impossible_fold_counts():
    seg = make_segments(n_sessions=4, per_speaker=3)
    loso = assign_folds(seg, _cfg(folds=4))
    assert loso.groupby("fold").apply(lambda d: d.loc[d["split"] == "test", "segment_id"].str[:6].nunique(),
                                      include_groups=False).tolist() == [1, 1, 1, 1]
    with pytest.raises(ValueError, match="only 4 groups"):
        assign_folds(seg, _cfg(folds=5))
    with pytest.raises(ValueError, match="none of the 4 to train"):
        assign_folds(seg, _cfg(folds=2, val_groups=2))


def test_random_scheme_is_one_split_and_needs_one_fold():
    seg = make_segments()
    one = assign_folds(seg, _cfg(scheme="random", folds=1))
    assert set(one["fold"]) == {0} and len(one) == len(seg)
    assert (one["split"] == "test").mean() == pytest.approx(0.2, abs=0.02)
    with pytest.raises(ValueError, match="set split.folds to 1"):
        assign_folds(seg, _cfg(scheme="random", folds=5))
    assert fold_tested(one).size == int((one["split"] == "test").sum())


def test_fold_view_names_missing_folds_and_segments():
    seg = make_segments(n_sessions=3, per_speaker=2)
    table = assign_folds(seg, _cfg(folds=3))
    with pytest.raises(DataError, match="no fold 7"):
        fold_view(seg, table, 7, "folds.parquet")
    with pytest.raises(DataError, match="no split in fold 0"):
        fold_view(seg, table[table["segment_id"] != seg["segment_id"][0]], 0)
