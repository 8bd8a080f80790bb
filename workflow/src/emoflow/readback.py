"""What a simple classifier can read back from the workflow's own features, and how much a random
utterance split flatters it compared with a session split.

Two questions about a data set, answered with one tool: cross-validated logistic regression on a
feature table (standardised dense features, median-imputed where a signal is missing, or sparse TF-IDF
rows), every utterance predicted once by a model that did not see it.

- **Read-back** (synthetic data): the oracle is exact on the latent cues, but rendering loses
  information, so the oracle's accuracy is a ceiling no model reaches. Predicting each modality's cue (and
  the label) from that modality's features, with whole sessions held out, shows which ceiling is
  realistic.
- **Split comparison**: the same classifier scored under a random utterance split (K shuffled folds, so
  a speaker's other utterances are in training) and under leave-one-session-out (the speaker is unseen).
  Every utterance is predicted once under each scheme, so the two are compared on the same utterances,
  with the paired dialogue bootstrap of ``emoflow.uncertainty``. Repeated random splits (``repeats``)
  are averaged like model seeds.
"""

from __future__ import annotations

from functools import partial
from itertools import combinations
from typing import Callable

import numpy as np
import pandas as pd

from . import metrics as mt
from . import uncertainty as unc
from .constants import CLASS_INDEX, EMOTIONS

SCHEMES = ("session", "random")


def dense_model(c: float = 1.0):
    """Median imputation, standardisation, multinomial logistic regression."""
    from sklearn.impute import SimpleImputer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(SimpleImputer(strategy="median", keep_empty_features=True), StandardScaler(),
                         LogisticRegression(C=c, max_iter=3000))


def tfidf_model(c: float = 3.0, ngram_max: int = 2, min_df: int = 2):
    """TF-IDF over token lists (morphemes), fitted on the training rows only, then logistic regression."""
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline

    vec = TfidfVectorizer(analyzer=partial(_doc_ngrams, ngram_max=ngram_max), min_df=min_df, sublinear_tf=True)
    return make_pipeline(vec, LogisticRegression(C=c, max_iter=3000))


def _doc_ngrams(doc, ngram_max: int) -> list[str]:
    """The morpheme n-grams of one document, as the ``tfidf`` text encoder forms them."""
    from .models.tfidf import ngrams

    return list(ngrams(list(doc), ngram_max))


def fold_ids(sessions: np.ndarray, scheme: str, k: int = 3, seed: int = 0) -> np.ndarray:
    """The fold of each row: ``session`` = one fold per session (leave-one-session-out); ``random`` = ``k``
    shuffled folds of utterances, as equal as possible."""
    sessions = np.asarray(sessions)
    if scheme == "session":
        names = sorted(set(sessions))
        if len(names) < 2:
            raise ValueError("leave-one-session-out needs at least two sessions")
        return np.searchsorted(names, sessions)
    if scheme == "random":
        if not 2 <= k <= len(sessions):
            raise ValueError(f"random split: need 2 <= k <= {len(sessions)} rows, got k={k}")
        order = np.random.default_rng(seed).permutation(len(sessions))
        folds = np.empty(len(sessions), dtype=int)
        folds[order] = np.arange(len(sessions)) % k
        return folds
    raise ValueError(f"unknown scheme {scheme!r}; use one of {SCHEMES}")


def modality_views(segments: pd.DataFrame, egemaps: pd.DataFrame, bio: pd.DataFrame,
                   morphemes: pd.DataFrame) -> dict:
    """The utterances of ``segments`` (in its order) as the read-back classifiers see them: ``ids``,
    ``sessions``, ``dialogues``, ``label`` and ``x`` (audio: the float32 eGeMAPS functionals; text: each
    utterance's morpheme list; bio: the float bio features, sampling-rate columns left out), from the
    workflow's feature tables keyed by ``segment_id``."""
    ids = segments["segment_id"]
    egemaps, bio, morphemes = (t.set_index("segment_id") for t in (egemaps, bio, morphemes))
    audio_cols = [c for c in egemaps.columns if egemaps[c].dtype == np.float32]
    bio_cols = [c for c in bio.columns if bio[c].dtype.kind == "f" and not c.endswith("_fs_hz")]
    return {"ids": ids.to_numpy(), "sessions": segments["session"].to_numpy(),
            "dialogues": unc.dialogue_of(segments).to_numpy(), "label": segments["emotion"].to_numpy(),
            "x": {"audio": egemaps.loc[ids, audio_cols].to_numpy(np.float64),
                  "text": [list(m) for m in morphemes.loc[ids, "morphemes"]],
                  "bio": bio.loc[ids, bio_cols].to_numpy(np.float64)},
            "n_features": {"audio": len(audio_cols), "bio": len(bio_cols)}}


def cross_val_predict(make_model: Callable, x, y: np.ndarray, folds: np.ndarray) -> np.ndarray:
    """Each row predicted by a model fitted on the other folds' rows (``x``: array, sparse matrix or a
    list of token lists)."""
    y = np.asarray(y)
    pred = np.empty(len(y), dtype=object)
    for f in np.unique(folds):
        test = folds == f
        train_idx, test_idx = np.flatnonzero(~test), np.flatnonzero(test)
        model = make_model().fit(_take(x, train_idx), y[train_idx])
        pred[test_idx] = model.predict(_take(x, test_idx))
    return pred


def cross_val_proba(make_model: Callable, x, y: np.ndarray, folds: np.ndarray, classes) -> np.ndarray:
    """Each row's class probabilities (columns in ``classes`` order) from a model fitted on the other
    folds' rows; a class absent from a fold's training rows gets probability 0 there."""
    y = np.asarray(y)
    column = {c: i for i, c in enumerate(classes)}
    out = np.zeros((len(y), len(column)))
    for f in np.unique(folds):
        test = folds == f
        train_idx, test_idx = np.flatnonzero(~test), np.flatnonzero(test)
        model = make_model().fit(_take(x, train_idx), y[train_idx])
        cols = [column[c] for c in model.classes_]
        out[np.ix_(test_idx, cols)] = model.predict_proba(_take(x, test_idx))
    return out


def fold_majority(y, folds: np.ndarray) -> np.ndarray:
    """Each row's prediction by the majority class of the other folds' rows (``metrics.majority_class``)."""
    y = np.asarray(y)
    pred = np.empty(len(y), dtype=object)
    for f in np.unique(folds):
        pred[folds == f] = mt.majority_class(y[folds != f])
    return pred


def session_readback(makers: dict[str, Callable], x: dict, y, sessions) -> dict[str, float]:
    """Leave-one-session-out accuracy of the label read back from each modality's features (``makers``:
    modality -> model factory, ``x``: modality -> features), of the product of the out-of-fold posteriors of
    every group of two or more modalities (``fusion.product_pool`` with the training folds' class prior,
    ``metrics.class_prior``, as the ``product`` fusion), and of the training folds' majority class (key
    ``majority``). Fused keys join the modalities with ``+`` in ``makers`` order."""
    from .fusion import product_pool

    y = np.asarray(y)
    folds = fold_ids(sessions, "session")
    proba = {m: cross_val_proba(make, x[m], y, folds, EMOTIONS) for m, make in makers.items()}
    out = {"majority": accuracy(y, fold_majority(y, folds))}
    mods = list(makers)
    for g in [(m,) for m in mods] + [c for k in range(2, len(mods) + 1) for c in combinations(mods, k)]:
        pred = np.empty(len(y), dtype=object)
        for f in np.unique(folds):
            test = folds == f
            prior = mt.class_prior([CLASS_INDEX[e] for e in y[~test]])
            pred[test] = np.asarray(EMOTIONS)[product_pool([proba[m][test] for m in g], prior).argmax(1)]
        out["+".join(g)] = accuracy(y, pred)
    return out


def _take(x, idx: np.ndarray):
    if isinstance(x, list):
        return [x[i] for i in idx]
    return x[idx]


def accuracy(y, pred) -> float:
    return float(np.mean(np.asarray(y) == np.asarray(pred)))


def compare_schemes(make_model: Callable, x, y, sessions, dialogues, segment_ids, k: int = 3,
                    repeats: int = 5, n_boot: int = 2000, level: float = 0.95, seed: int = 0) -> dict:
    """Random ``k``-fold (``repeats`` shuffles, averaged) against leave-one-session-out, same classifier,
    same utterances: each scheme's metrics with dialogue-bootstrap intervals, and the paired difference
    random - session with its interval and bootstrap p-value."""
    y = np.asarray(y)
    ids = pd.Series(np.asarray(segment_ids))
    session_pred = cross_val_predict(make_model, x, y, fold_ids(sessions, "session"))
    tables = {"session": [], "random": []}
    for r in range(repeats):
        random_pred = cross_val_predict(make_model, x, y, fold_ids(sessions, "random", k, seed + r))
        for scheme, pred in (("session", session_pred), ("random", random_pred)):
            tables[scheme].append(pd.DataFrame({"seed": r, "segment_id": ids, "emotion": y, "pred": pred}))
    group_of = pd.Series(np.asarray(dialogues), index=ids)
    scored = {s: unc.score_groups(pd.concat(t, ignore_index=True), group_of) for s, t in tables.items()}
    counts = unc.resample_counts(len(scored["session"].groups), n_boot, seed)
    reps = unc.replicates(scored, counts)
    ci = unc.intervals(scored, counts, level, reps).set_index("setting")
    diff = unc.compare(scored, [("random", "session")], ["accuracy", "f1_macro"], counts, level, reps)
    out = {"k": k, "repeats": repeats, "n": int(len(y)), "n_dialogues": len(scored["session"].groups),
           "n_sessions": int(len(set(sessions))), "n_boot": n_boot, "level": level}
    for s in SCHEMES:
        out[s] = {m: float(ci.loc[s, m]) for m in ("accuracy", "f1_macro")}
        out[s].update({f"{m}_ci": [float(ci.loc[s, f"{m}_ci_low"]), float(ci.loc[s, f"{m}_ci_high"])]
                       for m in ("accuracy", "f1_macro")})
    out["difference"] = {r.metric: {"value": float(r.difference), "ci": [float(r.ci_low), float(r.ci_high)],
                                    "p_value": float(r.p_value)} for r in diff.itertuples()}
    return out
