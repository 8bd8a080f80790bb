"""emoflow.readback: cross-validated read-back of labels from features, and the random-vs-session split
comparison on the same utterances (bench/readback.py runs both on the synthetic default)."""

from __future__ import annotations

import numpy as np
import pytest

from emoflow import readback as rb
from emoflow.constants import EMOTIONS


def test_fold_ids_session_and_random():
    sessions = np.array(["S2", "S1", "S1", "S3", "S2", "S3", "S1"])
    assert rb.fold_ids(sessions, "session").tolist() == [1, 0, 0, 2, 1, 2, 0]
    random = rb.fold_ids(np.repeat(["S1", "S2"], 10), "random", k=3, seed=4)
    assert sorted(np.bincount(random)) == [6, 7, 7]
    assert np.array_equal(random, rb.fold_ids(np.repeat(["S1", "S2"], 10), "random", k=3, seed=4))
    assert not np.array_equal(random, rb.fold_ids(np.repeat(["S1", "S2"], 10), "random", k=3, seed=5))
    with pytest.raises(ValueError, match="at least two sessions"):
        rb.fold_ids(np.array(["S1", "S1"]), "session")
    with pytest.raises(ValueError, match="k=1"):
        rb.fold_ids(sessions, "random", k=1)
    with pytest.raises(ValueError, match="unknown scheme 'speaker'"):
        rb.fold_ids(sessions, "speaker")


class Recorder:
    """A classifier that refuses to predict a row it was fitted on (rows are identified by column 0)."""

    def fit(self, x, y):
        self.seen = set(x[:, 0])
        self.label = y[0]
        return self

    def predict(self, x):
        assert not self.seen & set(x[:, 0]), "a row reached the fit of the model that predicts it"
        return np.full(len(x), self.label, dtype=object)


def test_cross_val_predict_predicts_every_row_from_the_other_folds():
    x = np.arange(12, dtype=float)[:, None]
    folds = rb.fold_ids(np.repeat(["A", "B", "C"], 4), "session")
    pred = rb.cross_val_predict(Recorder, x, np.array(["happy"] * 12), folds)
    assert pred.tolist() == ["happy"] * 12
    with pytest.raises(AssertionError, match="reached the fit"):  # the recorder does catch a leak
        Recorder().fit(x, np.array(["happy"] * 12)).predict(x[:1])


def speaker_data(seed: int, loyalty: float):
    """Six sessions of two speakers; a speaker's label is their own favourite with probability ``loyalty``,
    otherwise uniform; the one feature is the speaker's voice plus noise: no emotion cue."""
    rng = np.random.default_rng(seed)
    sessions, dialogues, labels, x = [], [], [], []
    for s in range(6):
        for spk in range(2):
            favourite = EMOTIONS[rng.integers(len(EMOTIONS))]
            centre = rng.normal(0, 5.0)
            for d in range(4):
                for _ in range(15):
                    labels.append(favourite if rng.random() < loyalty else EMOTIONS[rng.integers(len(EMOTIONS))])
                    x.append(centre + rng.normal(0, 0.1))
                    sessions.append(f"S{s}")
                    dialogues.append(f"S{s}/d{d}")
    ids = np.array([f"u{i}" for i in range(len(labels))])
    return np.array(x)[:, None], np.array(labels), np.array(sessions), np.array(dialogues), ids


def test_a_speaker_effect_shows_as_a_random_split_advantage():
    x, y, sessions, dialogues, ids = speaker_data(0, loyalty=0.7)
    res = rb.compare_schemes(rb.dense_model, x, y, sessions, dialogues, ids, k=3, repeats=2, n_boot=500)
    assert res["n"] == len(y) and res["n_sessions"] == 6 and res["n_dialogues"] == 24
    assert res["random"]["accuracy"] > res["session"]["accuracy"] + 0.1
    assert res["difference"]["accuracy"]["ci"][0] > 0
    lo, hi = res["random"]["accuracy_ci"]
    assert lo <= res["random"]["accuracy"] <= hi


def test_without_a_speaker_effect_the_intervals_cover_zero():
    """Voices that tell the speaker but label priors that do not differ: no random-split advantage. Over six
    data sets the 95% interval of the difference covers zero in most (about 5% miss by chance) and the
    differences average out."""
    diffs, misses = [], 0
    for seed in range(6):
        x, y, sessions, dialogues, ids = speaker_data(seed, loyalty=0.0)
        res = rb.compare_schemes(rb.dense_model, x, y, sessions, dialogues, ids, k=3, repeats=2, n_boot=500)
        lo, hi = res["difference"]["accuracy"]["ci"]
        misses += not lo < 0 < hi
        diffs.append(res["difference"]["accuracy"]["value"])
    assert misses <= 2 and abs(np.mean(diffs)) < 0.02, (misses, diffs)


def test_tfidf_model_reads_morpheme_ngrams():
    docs = [["좋/VA", "아요/EF"], ["싫/VA", "어요/EF"]] * 10
    y = np.array(["happy", "angry"] * 10)
    model = rb.tfidf_model(min_df=1).fit(docs, y)
    assert model.predict([["좋/VA", "아요/EF"]]).tolist() == ["happy"]
    assert "좋/VA 아요/EF" in model[0].vocabulary_


def test_cross_val_proba_columns_follow_the_classes_and_unseen_classes_get_zero():
    rng = np.random.default_rng(2)
    sessions = np.repeat(["S1", "S2", "S3"], 60)
    y = rng.choice(["angry", "happy", "neutral"], len(sessions))
    y[:5] = "fear"  # fear only in S1: the fold that tests S1 never trained on it
    x = rng.normal(size=(len(y), 3))
    folds = rb.fold_ids(sessions, "session")
    classes = ["neutral", "happy", "angry", "fear"]  # not sorted: columns follow this order all the same
    p = rb.cross_val_proba(rb.dense_model, x, y, folds, classes)
    np.testing.assert_allclose(p.sum(1), 1.0)
    assert (p[sessions == "S1", 3] == 0).all() and (p[sessions != "S1", 3] > 0).all()
    ref = rb.cross_val_proba(rb.dense_model, x, y, folds, sorted(classes))
    np.testing.assert_allclose(p, ref[:, [sorted(classes).index(c) for c in classes]])


def test_session_readback_knows_an_informative_modality_a_useless_one_and_their_product():
    """Two modalities that each see the label through independent noise, one that sees nothing: each
    informative one beats the majority, the useless one does not, the product of the two informative ones
    beats either, and adding the useless one costs little."""
    rng = np.random.default_rng(3)
    sessions = np.repeat([f"S{i}" for i in range(4)], 150)
    k = 4
    y = rng.choice(k, len(sessions), p=[0.4, 0.3, 0.2, 0.1])
    onehot = np.eye(k)[y]
    x = {"a": onehot * 1.0 + rng.normal(0, 1, (len(y), k)),
         "b": onehot * 1.0 + rng.normal(0, 1, (len(y), k)),
         "c": rng.normal(0, 1, (len(y), k))}
    labels = np.array(EMOTIONS)[y]
    out = rb.session_readback({m: rb.dense_model for m in x}, x, labels, sessions)
    assert set(out) == {"majority", "a", "b", "c", "a+b", "a+c", "b+c", "a+b+c"}
    assert out["majority"] == pytest.approx(np.mean(y == 0))
    assert out["a"] > out["majority"] + 0.1 and out["b"] > out["majority"] + 0.1
    assert out["c"] < out["majority"] + 0.03
    assert out["a+b"] > max(out["a"], out["b"]) + 0.03
    assert out["a+b+c"] > out["a+b"] - 0.05
