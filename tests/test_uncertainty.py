"""Dialogue bootstrap: known answers, coverage on a simulated population, paired comparisons, Holm."""

import numpy as np
import pandas as pd
import pytest

from emoflow import uncertainty as U
from emoflow.constants import EMOTIONS
from emoflow.errors import DataError
from emoflow.metrics import evaluate, summary_from_confusion

K = len(EMOTIONS)


def test_summary_from_confusion_matches_evaluate():
    rng = np.random.default_rng(0)
    cms = []
    expected = []
    for _ in range(25):
        n = int(rng.integers(1, 60))
        y = rng.choice(EMOTIONS[:5], n)
        p = np.where(rng.random(n) < 0.6, y, rng.choice(EMOTIONS, n))
        scores = evaluate(y, p)
        cms.append(scores["confusion"])
        expected.append(scores)
    got = summary_from_confusion(np.array(cms))
    for m in ("accuracy", "f1_macro", "f1_weighted", "uar"):
        np.testing.assert_allclose(got[m], [e[m] for e in expected], rtol=0, atol=1e-12)
    empty = summary_from_confusion(np.zeros((K, K)))
    assert all(float(v) == 0.0 for v in empty.values())


def test_resample_counts_draw_whole_groups_reproducibly():
    c = U.resample_counts(7, 500, seed=3)
    assert c.shape == (500, 7) and (c.sum(axis=1) == 7).all()
    np.testing.assert_array_equal(c, U.resample_counts(7, 500, seed=3))
    assert not np.array_equal(c, U.resample_counts(7, 500, seed=4))
    # every group is equally likely to be drawn
    assert c.mean(axis=0) == pytest.approx(np.ones(7), abs=0.1)


def _scored(correct: np.ndarray) -> U.Scored:
    """One seed; ``correct[g]`` right and ``n - correct[g]`` wrong utterances (true neutral) in group g."""
    correct = np.asarray(correct, dtype=float)
    conf = np.zeros((1, len(correct), K * K))
    conf[0, :, 0] = correct  # neutral -> neutral
    conf[0, :, 1] = 10 - correct  # neutral -> happy
    return U.Scored([f"d{i}" for i in range(len(correct))], [0], conf)


def _interval(scored: U.Scored, n_boot=400, seed=0) -> tuple[float, float]:
    counts = U.resample_counts(len(scored.groups), n_boot, seed)
    return U.percentile_interval(scored.replicate_scores(counts)["accuracy"], 0.95)


def test_dialogue_intervals_cover_the_truth_and_utterance_intervals_do_not():
    """Population: dialogues of 10 utterances whose accuracy p_g ~ Beta(2, 2) (mean 0.5), so utterances of
    one dialogue are correlated. The dialogue bootstrap covers 0.5 about 95% of the time; treating each
    utterance as independent gives intervals far too narrow."""
    rng = np.random.default_rng(11)
    hits_dialogue, hits_utterance = 0, 0
    n_sim, n_groups = 300, 30
    for _ in range(n_sim):
        correct = rng.binomial(10, rng.beta(2, 2, n_groups))
        lo, hi = _interval(_scored(correct), seed=int(rng.integers(1 << 30)))
        hits_dialogue += lo <= 0.5 <= hi
        # the same utterances, each its own group
        flat = np.repeat([1, 0], [correct.sum(), 10 * n_groups - correct.sum()])
        per_utt = np.zeros((1, flat.size, K * K))
        per_utt[0, :, 0] = flat
        per_utt[0, :, 1] = 1 - flat
        counts = U.resample_counts(flat.size, 400, int(rng.integers(1 << 30)))
        reps = U.Scored([str(i) for i in range(flat.size)], [0], per_utt).replicate_scores(counts)["accuracy"]
        lo, hi = U.percentile_interval(reps, 0.95)
        hits_utterance += lo <= 0.5 <= hi
    assert 0.88 <= hits_dialogue / n_sim <= 0.99
    assert hits_utterance / n_sim < 0.85


def test_identical_settings_differ_by_exactly_nothing():
    s = _scored(np.arange(10))
    counts = U.resample_counts(10, 200, 0)
    table = U.compare({"a": s, "b": s}, [("a", "b")], ["accuracy", "f1_macro"], counts, 0.95)
    assert (table["difference"] == 0).all() and (table["ci_low"] == 0).all() and (table["ci_high"] == 0).all()
    assert (table["p_value"] == 1.0).all() and (table["p_holm"] == 1.0).all()


def test_always_right_against_always_wrong():
    right, wrong = _scored(np.full(8, 10)), _scored(np.zeros(8))
    counts = U.resample_counts(8, 999, 0)
    row = U.compare({"r": right, "w": wrong}, [("r", "w")], ["accuracy"], counts, 0.95).iloc[0]
    assert row["difference"] == 1.0 and row["ci_low"] == 1.0 and row["ci_high"] == 1.0
    assert row["p_value"] == pytest.approx(2 / 1000)


def test_paired_interval_is_narrower_than_the_two_separate_ones():
    """Two settings that share most of their errors: the paired difference is known far better than
    either accuracy."""
    rng = np.random.default_rng(5)
    base = rng.binomial(10, rng.beta(2, 2, 40))
    better = np.minimum(base + rng.binomial(1, 0.5, 40), 10)
    a, b = _scored(better), _scored(base)
    counts = U.resample_counts(40, 1000, 1)
    row = U.compare({"a": a, "b": b}, [("a", "b")], ["accuracy"], counts, 0.95).iloc[0]
    lo_a, hi_a = U.percentile_interval(a.replicate_scores(counts)["accuracy"], 0.95)
    assert row["ci_high"] - row["ci_low"] < 0.5 * (hi_a - lo_a)
    assert row["ci_low"] > 0 and row["p_value"] < 0.01
    assert row["difference"] == pytest.approx((better.sum() - base.sum()) / 400)


def test_holm_adjustment_known_values():
    np.testing.assert_allclose(U.holm([0.01, 0.04, 0.03, 0.005]), [0.03, 0.06, 0.06, 0.02])
    np.testing.assert_allclose(U.holm([0.5, 0.9]), [1.0, 1.0])
    assert U.holm([]).size == 0


def _predictions(seed_rows: dict[int, list[tuple[str, str, str]]]) -> pd.DataFrame:
    rows = [{"seed": s, "segment_id": sid, "emotion": t, "pred": p} for s, rs in seed_rows.items()
            for sid, t, p in rs]
    return pd.DataFrame(rows)


def test_score_groups_builds_per_seed_per_dialogue_confusions():
    rows = [("a1", "happy", "happy"), ("a2", "sad", "happy"), ("b1", "fear", "fear")]
    pred = _predictions({0: rows, 1: [(i, t, t) for i, t, _ in rows]})
    dialogue = pd.Series({"a1": "S1/d1", "a2": "S1/d1", "b1": "S2/d1"})
    s = U.score_groups(pred, dialogue)
    assert s.groups == ["S1/d1", "S2/d1"] and s.seeds == [0, 1]
    assert s.confusions.sum() == 6
    obs = s.observed()
    assert obs["accuracy"] == pytest.approx((2 / 3 + 1) / 2)
    with pytest.raises(DataError, match="without a dialogue"):
        U.score_groups(pred, dialogue.drop("b1"), "fusion/audio/predictions.parquet")
