"""Classification metrics over the seven emotions, in numpy (checked against scikit-learn in the tests).

Conventions (they decide the numbers in Table 1):

- Macro F1 averages the F1 of **all seven** classes in ``EMOTIONS`` order, and a class that has
  neither true nor predicted samples counts as F1 = 0 (scikit-learn: ``labels=EMOTIONS,
  zero_division=0``). The paper only says "F1"; its figures (accuracy 0.70 with F1 0.49) fit a
  macro average over a heavily skewed label set, so macro F1 is the headline F1 here.
- Weighted F1 weights each class's F1 by its number of true samples.
- UAR (unweighted average recall) is the mean recall over the classes **present in y_true**
  (scikit-learn's ``balanced_accuracy_score``).
- Confusion matrices are 7 x 7, rows = true class, columns = predicted class, ``EMOTIONS`` order.
- The majority-class baseline predicts the most frequent class of the **validation** rows (the
  prediction tables hold no training rows; the validation split follows the same scheme as training)
  for every test row; ties go to the earlier class in ``EMOTIONS``.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import numpy as np

from .constants import EMOTIONS

SUMMARY_METRICS = ("accuracy", "f1_macro", "f1_weighted", "uar")


def _codes(y: Iterable, labels: Sequence[str]) -> np.ndarray:
    """Map labels to class indices; an unknown label is an error, never silently dropped."""
    index = {lab: i for i, lab in enumerate(labels)}
    y = list(y)
    try:
        return np.fromiter((index[v] for v in y), dtype=np.int64, count=len(y))
    except KeyError as exc:
        raise ValueError(f"label {exc.args[0]!r} is not one of {list(labels)}") from None


def confusion(y_true, y_pred, labels: Sequence[str] = EMOTIONS) -> np.ndarray:
    """Counts matrix [n_labels, n_labels]: rows = true class, columns = predicted class."""
    t, p = _codes(y_true, labels), _codes(y_pred, labels)
    if t.shape != p.shape:
        raise ValueError(f"y_true has {t.size} labels but y_pred has {p.size}")
    k = len(labels)
    return np.bincount(t * k + p, minlength=k * k).reshape(k, k)


def _safe_div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    num = np.asarray(num, dtype=float)
    den = np.asarray(den, dtype=float)
    out = np.zeros_like(num)
    np.divide(num, den, out=out, where=den > 0)
    return out


def per_class(cm: np.ndarray) -> dict[str, np.ndarray]:
    """Precision, recall, F1 (0 where undefined) and support per class from a confusion matrix."""
    cm = np.asarray(cm)
    tp = np.diag(cm).astype(float)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    return {
        "precision": _safe_div(tp, predicted),
        "recall": _safe_div(tp, support),
        "f1": _safe_div(2 * tp, support + predicted),
        "support": support.astype(np.int64),
    }


def accuracy(y_true, y_pred) -> float:
    cm = confusion(y_true, y_pred)
    n = cm.sum()
    return float(np.trace(cm) / n) if n else 0.0


def f1_macro(y_true, y_pred, labels: Sequence[str] = EMOTIONS) -> float:
    """Unweighted mean F1 over all ``labels`` (absent, never-predicted classes count as 0)."""
    return float(per_class(confusion(y_true, y_pred, labels))["f1"].mean())


def f1_weighted(y_true, y_pred, labels: Sequence[str] = EMOTIONS) -> float:
    """F1 averaged with weights = true-class support."""
    pc = per_class(confusion(y_true, y_pred, labels))
    total = pc["support"].sum()
    return float((pc["f1"] * pc["support"]).sum() / total) if total else 0.0


def uar(y_true, y_pred, labels: Sequence[str] = EMOTIONS) -> float:
    """Unweighted average recall over the classes present in ``y_true``."""
    pc = per_class(confusion(y_true, y_pred, labels))
    present = pc["support"] > 0
    return float(pc["recall"][present].mean()) if present.any() else 0.0


def evaluate(y_true, y_pred, labels: Sequence[str] = EMOTIONS) -> dict:
    """All metrics for one set of predictions (JSON-ready: floats, ints and lists)."""
    cm = confusion(y_true, y_pred, labels)
    pc = per_class(cm)
    n = int(cm.sum())
    present = pc["support"] > 0
    weighted = float((pc["f1"] * pc["support"]).sum() / n) if n else 0.0
    return {
        "accuracy": float(np.trace(cm) / n) if n else 0.0,
        "f1_macro": float(pc["f1"].mean()),
        "f1_weighted": weighted,
        "uar": float(pc["recall"][present].mean()) if present.any() else 0.0,
        "n": n,
        "confusion": cm.tolist(),
        "per_class": {
            lab: {
                "precision": float(pc["precision"][i]),
                "recall": float(pc["recall"][i]),
                "f1": float(pc["f1"][i]),
                "support": int(pc["support"][i]),
            }
            for i, lab in enumerate(labels)
        },
    }


def majority_class(y, labels: Sequence[str] = EMOTIONS) -> str:
    """Most frequent label of ``y``; ties go to the earlier label in ``labels``."""
    counts = np.bincount(_codes(y, labels), minlength=len(labels))
    if counts.sum() == 0:
        raise ValueError("majority class of an empty label set")
    return labels[int(np.argmax(counts))]


def majority_baseline(y_val, y_test, labels: Sequence[str] = EMOTIONS) -> dict:
    """Predict the validation rows' most frequent class for every test row; its metrics."""
    label = majority_class(y_val, labels)
    y_test = list(y_test)
    scores = evaluate(y_test, [label] * len(y_test), labels)
    return {"label": label, **{k: scores[k] for k in SUMMARY_METRICS}}


def mean_std(values: Sequence[float]) -> dict[str, float]:
    """Mean and sample standard deviation (ddof=1) over seeds; std is 0.0 for a single seed."""
    v = np.asarray(values, dtype=float)
    if v.size == 0:
        raise ValueError("mean_std of no values")
    std = float(v.std(ddof=1)) if v.size > 1 else 0.0
    return {"mean": float(v.mean()), "std": std}


def class_prior(labels, n_classes: int = len(EMOTIONS)) -> np.ndarray:
    """Class frequencies of ``labels`` (class indices) with add-one smoothing: sums to 1, no zeros.

    The prior of the training split: what a model predicts for a segment it cannot use, and the
    denominator of product fusion.
    """
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=n_classes).astype(np.float64)
    return (counts + 1.0) / (counts.sum() + n_classes)


def summary_from_confusion(cm: np.ndarray) -> dict[str, np.ndarray]:
    """The four summary metrics of many confusion matrices at once (``cm``: [..., k, k] counts).

    Same definitions as ``evaluate``: accuracy, macro F1 over all k classes (absent classes 0),
    weighted F1, UAR over the classes present; 0 where a matrix is empty.
    """
    cm = np.asarray(cm, dtype=float)
    tp = np.diagonal(cm, axis1=-2, axis2=-1)
    support = cm.sum(axis=-1)
    predicted = cm.sum(axis=-2)
    n = support.sum(axis=-1)
    f1 = _safe_div(2 * tp, support + predicted)
    recall = _safe_div(tp, support)
    present = support > 0
    n_present = present.sum(axis=-1)
    return {
        "accuracy": _safe_div(tp.sum(axis=-1), n),
        "f1_macro": f1.mean(axis=-1),
        "f1_weighted": _safe_div((f1 * support).sum(axis=-1), n),
        "uar": _safe_div(np.where(present, recall, 0.0).sum(axis=-1), n_present),
    }
