"""Metrics against scikit-learn, including absent and never-predicted classes."""

import warnings

import numpy as np
import pytest
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
)

from emoflow import metrics as mt
from emoflow.constants import EMOTIONS


def random_labels(rng, n, classes):
    return [EMOTIONS[i] for i in rng.choice(classes, size=n)]


CASES = [
    # (n, classes in y_true, classes in y_pred)
    (200, range(7), range(7)),
    (50, [0, 1, 3], range(7)),  # absent true classes, predicted anyway
    (50, range(7), [0, 4]),  # never-predicted classes
    (30, [0, 0, 0, 2], [0, 5]),  # heavy skew, both kinds absent
    (1, [3], [3]),
]


@pytest.mark.parametrize("case", range(len(CASES)))
def test_against_sklearn(case):
    n, true_classes, pred_classes = CASES[case]
    rng = np.random.default_rng(case)
    y_true = random_labels(rng, n, list(true_classes))
    y_pred = random_labels(rng, n, list(pred_classes))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns about classes missing from y_true
        ref = {
            "accuracy": accuracy_score(y_true, y_pred),
            "f1_macro": f1_score(y_true, y_pred, labels=EMOTIONS, average="macro", zero_division=0),
            "f1_weighted": f1_score(y_true, y_pred, labels=EMOTIONS, average="weighted", zero_division=0),
            "uar": balanced_accuracy_score(y_true, y_pred),
        }
        p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=EMOTIONS, zero_division=0)
    cm = confusion_matrix(y_true, y_pred, labels=EMOTIONS)
    np.testing.assert_array_equal(mt.confusion(y_true, y_pred), cm)
    assert mt.accuracy(y_true, y_pred) == pytest.approx(ref["accuracy"], abs=1e-12)
    assert mt.f1_macro(y_true, y_pred) == pytest.approx(ref["f1_macro"], abs=1e-12)
    assert mt.f1_weighted(y_true, y_pred) == pytest.approx(ref["f1_weighted"], abs=1e-12)
    assert mt.uar(y_true, y_pred) == pytest.approx(ref["uar"], abs=1e-12)
    pc = mt.per_class(cm)
    np.testing.assert_allclose(pc["precision"], p, atol=1e-12)
    np.testing.assert_allclose(pc["recall"], r, atol=1e-12)
    np.testing.assert_allclose(pc["f1"], f, atol=1e-12)
    np.testing.assert_array_equal(pc["support"], s)
    ev = mt.evaluate(y_true, y_pred)
    for k, v in ref.items():
        assert ev[k] == pytest.approx(v, abs=1e-12)
    assert ev["n"] == n and ev["confusion"] == cm.tolist()
    assert list(ev["per_class"]) == EMOTIONS
    assert [ev["per_class"][e]["f1"] for e in EMOTIONS] == pytest.approx(list(f), abs=1e-12)


def test_macro_f1_counts_all_seven_classes():
    # perfect on the two classes present: macro over 7 labels = 2/7, UAR = 1
    y = ["neutral", "happy", "neutral"]
    assert mt.f1_macro(y, y) == pytest.approx(2 / 7)
    assert mt.f1_weighted(y, y) == pytest.approx(1.0)
    assert mt.uar(y, y) == pytest.approx(1.0)


def test_confusion_orientation():
    cm = mt.confusion(["happy", "happy", "sad"], ["sad", "happy", "sad"])
    h, s = EMOTIONS.index("happy"), EMOTIONS.index("sad")
    assert cm[h, s] == 1 and cm[h, h] == 1 and cm[s, s] == 1 and cm.sum() == 3


def test_unknown_label_raises():
    with pytest.raises(ValueError, match="joy"):
        mt.confusion(["joy"], ["happy"])
    with pytest.raises(ValueError, match="y_pred"):
        mt.confusion(["happy", "sad"], ["happy"])


def test_majority_baseline_uses_validation_labels():
    y_val = ["sad", "sad", "happy", "neutral"]
    y_test = ["neutral"] * 6 + ["sad"] * 4
    res = mt.majority_baseline(y_val, y_test)
    assert res["label"] == "sad"
    assert res["accuracy"] == pytest.approx(0.4)
    assert res["f1_macro"] == pytest.approx(f1_score(y_test, ["sad"] * 10, labels=EMOTIONS, average="macro",
                                                     zero_division=0))
    # ties go to the earlier class in EMOTIONS order
    assert mt.majority_class(["fear", "happy", "fear", "happy"]) == "happy"
    with pytest.raises(ValueError):
        mt.majority_class([])


def test_mean_std():
    assert mt.mean_std([0.5]) == {"mean": 0.5, "std": 0.0}
    r = mt.mean_std([0.2, 0.4, 0.9])
    assert r["mean"] == pytest.approx(0.5)
    assert r["std"] == pytest.approx(np.std([0.2, 0.4, 0.9], ddof=1))


def test_empty_inputs_give_zero():
    assert mt.accuracy([], []) == 0.0
    assert mt.f1_weighted([], []) == 0.0
    assert mt.uar([], []) == 0.0
