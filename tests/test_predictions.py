"""Prediction tables: construction, validation, gathering across seeds, the gather script."""

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from _model_data import run_script
from emoflow.constants import PROB_COLUMNS
from emoflow.errors import DataError
from emoflow.io import write_parquet
from emoflow.predictions import (
    PREDICTION_COLUMNS,
    checked,
    combine_seeds,
    prediction_table,
    read_predictions,
    validate_predictions,
)

SCRIPTS = Path(__file__).resolve().parents[1] / "workflow" / "scripts"


def _segments():
    return pd.DataFrame({"segment_id": ["s3", "s1", "s2", "s4"], "split": ["val", "test", "test", "val"],
                         "emotion": ["happy", "sad", "neutral", "fear"]})


def write_predictions(df, path):
    """What the train script does: check, then write."""
    write_parquet(checked(df, path), path)


def gather_predictions(paths, out):
    """What the gather script does: read and validate each part, combine."""
    return combine_seeds({str(p): read_predictions(p) for p in paths}, out)


def _table(seed=0, seg=None):
    seg = _segments() if seg is None else seg
    rng = np.random.default_rng(seed)
    p = rng.random((len(seg), 7))
    return prediction_table(seed, seg, p / p.sum(axis=1, keepdims=True))


def test_prediction_table_layout():
    df = _table(3)
    assert list(df.columns) == PREDICTION_COLUMNS
    assert df["seed"].dtype == np.int64 and (df["seed"] == 3).all()
    assert df["segment_id"].tolist() == ["s3", "s1", "s2", "s4"]
    np.testing.assert_allclose(df[PROB_COLUMNS].sum(axis=1), 1.0)
    assert validate_predictions(df, "x.parquet") is df
    with pytest.raises(ValueError):
        prediction_table(0, _segments(), np.ones((3, 7)) / 7)


@pytest.mark.parametrize("mutate, message", [
    (lambda d: d.drop(columns="prob_fear"), "prob_fear"),
    (lambda d: d.assign(seed=d["seed"].astype(float)), "seed"),
    (lambda d: d.assign(split=["val", "train", "test", "val"]), "split"),
    (lambda d: d.assign(emotion=["happy", "joy", "sad", "fear"]), "emotion"),
    (lambda d: d.assign(prob_happy=d["prob_happy"] + 0.01), "sum to"),
    (lambda d: d.assign(prob_happy=np.nan), "NaN"),
    (lambda d: d.assign(prob_neutral=-d["prob_neutral"], prob_happy=d["prob_happy"] + 2 * d["prob_neutral"]),
     r"\[0, 1\]"),
    (lambda d: d.assign(segment_id=["s3", "s3", "s2", "s4"]), "duplicate"),
    (lambda d: d.assign(segment_id=[1, 2, 3, 4]), "segment_id"),
])
def test_validate_rejects_bad_tables(mutate, message):
    bad = mutate(_table())
    with pytest.raises(DataError, match=message) as exc:
        validate_predictions(bad, "results/models/bio/seed0/predictions.parquet")
    assert "results/models/bio/seed0/predictions.parquet" in str(exc.value)


def test_small_rounding_is_accepted():
    df = _table()
    df["prob_happy"] += 5e-5
    validate_predictions(df, "x")


def test_write_read_round_trip(tmp_path):
    df = _table()
    write_predictions(df, tmp_path / "p.parquet")
    back = read_predictions(tmp_path / "p.parquet")
    pd.testing.assert_frame_equal(back, df)
    bad = df.assign(prob_sad=0.9)
    with pytest.raises(DataError):
        write_predictions(bad, tmp_path / "q.parquet")
    assert not (tmp_path / "q.parquet").exists()


def test_gather_concatenates_seeds_sorted(tmp_path):
    paths = []
    for seed in (1, 0):
        p = tmp_path / f"seed{seed}.parquet"
        write_predictions(_table(seed), p)
        paths.append(p)
    df = gather_predictions(paths, tmp_path / "bio.parquet")
    assert len(df) == 8
    assert df[["seed", "segment_id"]].values.tolist() == [[s, i] for s in (0, 1) for i in ("s1", "s2", "s3", "s4")]
    one = _table(1).set_index("segment_id").loc["s2", PROB_COLUMNS].to_numpy(dtype=float)
    got = df[(df["seed"] == 1) & (df["segment_id"] == "s2")][PROB_COLUMNS].to_numpy(dtype=float)[0]
    np.testing.assert_array_equal(one, got)


def test_gather_rejects_mismatched_or_invalid_parts(tmp_path):
    write_predictions(_table(0), tmp_path / "a.parquet")
    write_predictions(_table(1, _segments().iloc[:3]), tmp_path / "b.parquet")
    with pytest.raises(DataError, match="other segments") as exc:
        gather_predictions([tmp_path / "a.parquet", tmp_path / "b.parquet"], tmp_path / "out.parquet")
    assert "b.parquet" in str(exc.value)
    _table(1).assign(split="train").to_parquet(tmp_path / "c.parquet")
    with pytest.raises(DataError, match="c.parquet"):
        gather_predictions([tmp_path / "a.parquet", tmp_path / "c.parquet"], tmp_path / "out.parquet")


def test_gather_script(tmp_path):
    parts = []
    for seed in (0, 1):
        p = tmp_path / f"seed{seed}.parquet"
        write_predictions(_table(seed), p)
        parts.append(str(p))
    out = tmp_path / "predictions" / "audio.parquet"
    log = tmp_path / "gather.log"
    smk = SimpleNamespace(scriptdir=str(SCRIPTS), input=SimpleNamespace(parts=parts), output=[str(out)],
                          log=[str(log)], threads=1, rule="gather_predictions")
    run_script(SCRIPTS / "gather_predictions.py", smk)
    back = read_predictions(out)
    pd.testing.assert_frame_equal(back, gather_predictions(parts, out))
    assert len(back) == 8
    assert "gathered 8 prediction rows" in log.read_text()
