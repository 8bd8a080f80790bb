"""Bayes-optimal (oracle) figures of each setting on synthetic data, from the known cue model.

For a setting with modalities M the oracle is the MAP classifier

    y_hat = argmax_y  prior(y) * prod_{m in M} P(cue_m | y),

evaluated exactly from ``_truth/cue_model.json`` (no sampling). Ties in the argmax (equal within
1e-12 relative) go to the earlier class in ``EMOTIONS`` order. Two figures per setting:

- on the test split: the MAP decisions from the utterances' true cues (``_truth/cues.parquet``,
  joined on ``segment_id``) scored against ``segments.emotion``, the label the reader resolved. The
  macro F1 averages all seven classes with ``zero_division=0`` (scikit-learn ``labels=EMOTIONS``),
  so a class absent from both the truth and the decisions counts as 0, the same convention as the
  models' Table 1 figures;
- ``expected_accuracy``: the population accuracy of the MAP rule,
  sum over all cue combinations c of max_y prior(y) * prod_m P(c_m | y).
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.metrics import f1_score

from .constants import CLASS_INDEX, EMOTIONS, SETTINGS
from .errors import DataError

log = logging.getLogger(__name__)

CUE_COLUMNS = {"audio": "audio_cue", "text": "text_cue", "bio": "bio_cue"}


def load_cue_model(truth_dir) -> dict:
    """Read and check ``cue_model.json`` (prior and 7x7 P(cue|label) matrices in EMOTIONS order)."""
    path = Path(truth_dir) / "cue_model.json"
    try:
        model = json.loads(path.read_text())
    except FileNotFoundError:
        raise DataError(path, "cue model not found (synthetic truth folder incomplete)") from None
    except json.JSONDecodeError as exc:
        raise DataError(path, f"not valid JSON ({exc})") from None
    k = len(EMOTIONS)
    if model.get("emotions", EMOTIONS) != EMOTIONS:
        raise DataError(path, f"emotion order {model.get('emotions')} differs from {EMOTIONS}")
    prior = np.asarray(model.get("prior", []), dtype=float)
    if prior.shape != (k,) or not np.isclose(prior.sum(), 1.0):
        raise DataError(path, "prior must be 7 probabilities summing to 1")
    mats = model.get("p_cue_given_label", {})
    for m in CUE_COLUMNS:
        p = np.asarray(mats.get(m, []), dtype=float)
        if p.shape != (k, k) or not np.allclose(p.sum(axis=1), 1.0):
            raise DataError(path, f"P(cue|label) for {m} must be a 7x7 matrix with rows summing to 1")
    return model


def _arrays(model: dict) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    prior = np.asarray(model["prior"], dtype=float)
    mats = {m: np.asarray(p, dtype=float) for m, p in model["p_cue_given_label"].items()}
    return prior, mats


def posterior_scores(model: dict, cues: dict[str, np.ndarray], modalities) -> np.ndarray:
    """Unnormalised posteriors [n, 7]: prior(y) * prod_m P(cue_m | y) for cue indices per modality."""
    prior, mats = _arrays(model)
    n = len(next(iter(cues.values()))) if cues else 0
    scores = np.tile(prior, (n, 1))
    for m in modalities:
        scores = scores * mats[m][:, np.asarray(cues[m], dtype=int)].T
    return scores


def map_decision(model: dict, cues: dict[str, np.ndarray], modalities) -> np.ndarray:
    """MAP class index per row; ties (equal within 1e-12 relative, so that rounding in the products
    cannot decide them) go to the earlier class in EMOTIONS."""
    scores = posterior_scores(model, cues, modalities)
    if scores.size == 0:
        return np.zeros(len(scores), dtype=int)
    best = scores.max(axis=1, keepdims=True)
    return np.argmax(scores >= best * (1.0 - 1e-12), axis=1)


def expected_accuracy(model: dict, modalities) -> float:
    """Exact population accuracy of the MAP rule over all cue combinations of ``modalities``."""
    prior, mats = _arrays(model)
    joint = prior.copy()  # joint[y, c_1, ..., c_k] = prior(y) prod P(c_i | y)
    for m in modalities:
        joint = joint[..., None] * mats[m].reshape((len(prior),) + (1,) * (joint.ndim - 1) + (len(prior),))
    return float(joint.max(axis=0).sum())


def read_cues(truth_dir) -> tuple[pd.DataFrame, str]:
    """``cues.parquet`` of the truth folder, checked; returns (table, its path)."""
    cues_path = Path(truth_dir) / "cues.parquet"
    try:
        cues = pd.read_parquet(cues_path)
    except FileNotFoundError:
        raise DataError(cues_path, "cue table not found (synthetic truth folder incomplete)") from None
    missing_cols = [c for c in ["segment_id", *CUE_COLUMNS.values()] if c not in cues.columns]
    if missing_cols:
        raise DataError(cues_path, f"missing column(s) {missing_cols}")
    if cues.segment_id.duplicated().any():
        raise DataError(cues_path, "duplicate segment_id values")
    return cues, str(cues_path)


def _to_index(values: pd.Series, what: str, path) -> np.ndarray:
    codes = values.map(CLASS_INDEX)
    if codes.isna().any():
        bad = sorted(set(values[codes.isna()].astype(str)))[:5]
        raise DataError(path, f"unknown {what} value(s) {bad}")
    return codes.to_numpy(dtype=int)


def _setting_scores(model: dict, cue_idx: dict, y_true: np.ndarray, label: str, modalities) -> dict:
    n = len(y_true)
    pred = np.array(EMOTIONS)[map_decision(model, cue_idx, modalities)] if n else np.array([], dtype=str)
    f1 = {avg: float(f1_score(y_true, pred, labels=EMOTIONS, average=avg, zero_division=0)) if n else None
          for avg in ("macro", "weighted")}
    return {
        "label": label,
        "modalities": list(modalities),
        "n_test": int(n),
        "accuracy": float(np.mean(pred == y_true)) if n else None,
        "f1_macro": f1["macro"],
        "f1_weighted": f1["weighted"],
        "expected_accuracy": expected_accuracy(model, modalities),
    }


def compute_oracle(segments: pd.DataFrame, model: dict, cues: pd.DataFrame, cues_source="cues") -> dict:
    """Oracle accuracy / macro F1 per setting on the evaluated utterances (those some fold tests:
    ``fold`` >= 0; with cross-validation, all of them), plus the exact expected accuracy.

    ``model``: the checked cue model (``load_cue_model``); ``cues``: the cue table (``read_cues``).
    """
    test = segments.loc[segments["fold"] >= 0, ["segment_id", "emotion"]]
    merged = test.merge(cues, on="segment_id", how="left", validate="one_to_one")
    unmatched = merged[CUE_COLUMNS["audio"]].isna()
    if unmatched.any():
        ids = merged.segment_id[unmatched].tolist()[:5]
        raise DataError(cues_source, f"{int(unmatched.sum())} test segment(s) have no cues, e.g. {ids}")
    y_true = merged["emotion"].astype(str).to_numpy()
    _to_index(merged["emotion"].astype(str), "emotion", "segments")
    cue_idx = {m: _to_index(merged[c].astype(str), c, cues_source) for m, c in CUE_COLUMNS.items()}
    settings = {}
    for sid, (label, modalities) in SETTINGS.items():
        res = settings[sid] = _setting_scores(model, cue_idx, y_true, label, modalities)
        log.info("oracle %s: accuracy %s (expected %.3f), macro F1 %s on %d test segments", sid,
                 res["accuracy"], res["expected_accuracy"], res["f1_macro"], res["n_test"])
    return {
        "settings": settings,
        "cue_model": {
            "version": model.get("version"),
            "seed": model.get("seed"),
            "emotions": list(EMOTIONS),
            "prior": dict(zip(EMOTIONS, model["prior"])),
            "cue_accuracy": model.get("cue_accuracy"),
            "tie_break": "earlier class in EMOTIONS order",
            "f1_macro_labels": "all 7 emotions, zero_division=0",
        },
    }
