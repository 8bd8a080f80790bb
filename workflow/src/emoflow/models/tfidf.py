"""Text model on Korean morphemes (``text.encoder: tfidf``): TF-IDF n-grams and a linear head.

Input: the morpheme table (``features.text.morphemes``: ``form/TAG`` morphemes of every cleaned
transcript, computed once, split-independent). Segments without a transcript (``ok`` false) are left
out of the fit and get the training prior as their prediction.

Vectoriser, fitted on the fold's (usable) training rows only (config ``text.tfidf``): the n-grams of 1
to ``ngram_max`` consecutive morphemes (joined by a space), kept when they occur in at least ``min_df``
training transcripts, the ``max_features`` most frequent of those (null: all; ties alphabetical), with
the smoothed inverse document frequency ``idf = ln((1 + n) / (1 + df)) + 1`` (scikit-learn's
``TfidfVectorizer``, which does this fit). A transcript's row is its term counts (``1 + ln(count)`` with
``sublinear_tf``) times idf, normalised to unit length; an n-gram outside the vocabulary is ignored, so
a word only validation or test rows use has no column. The out-of-vocabulary rate of the validation and
test morphemes is logged.

Checkpoint: ``model.safetensors`` holds ``idf``, ``linear.weight`` and ``linear.bias``; ``config.json``
holds the vocabulary in column order (``vocabulary``) and the vectoriser settings, so ``predict`` turns
morpheme lists into the same rows without scikit-learn. The head and its C on validation rows:
``models.linear`` (``text.tfidf.C``; ``text.class_weights`` applies, the epoch keys do not).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import torch

from ..constants import EMOTIONS
from ..errors import DataError
from . import checkpoint, linear
from . import training as T
from .adapter import Setup, read_table, rows_by_segment

log = logging.getLogger(__name__)

NAME = "text"


def read_inputs(paths) -> dict:
    """The morpheme table."""
    return read_table(paths["morphemes"], "the morpheme table")


def _documents(seg: pd.DataFrame, table: pd.DataFrame, source) -> tuple[list[list[str]], np.ndarray]:
    """(morpheme list of every segment, usable flag), checked against the segments."""
    m = rows_by_segment(seg, table[[c for c in ("segment_id", "morphemes", "ok") if c in table.columns]],
                        source, ("morphemes", "ok"))
    ok = m["ok"].fillna(False).astype(bool).to_numpy()
    docs = [[str(t) for t in d] if usable and d is not None else [] for d, usable in zip(m["morphemes"], ok)]
    return docs, ok


def _identity(doc):
    return doc


def fit_vocabulary(docs: list[list[str]], ngram_max: int, min_df: int,
                   max_features: int | None) -> tuple[list[str], np.ndarray]:
    """(terms in column order, idf) of the training documents (morpheme lists)."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    vec = TfidfVectorizer(tokenizer=_identity, preprocessor=_identity, lowercase=False, token_pattern=None,
                          ngram_range=(1, int(ngram_max)), min_df=int(min_df), max_features=max_features,
                          smooth_idf=True, use_idf=True, norm="l2")
    vec.fit(docs)
    terms = [None] * len(vec.vocabulary_)
    for term, j in vec.vocabulary_.items():
        terms[j] = term
    return terms, np.asarray(vec.idf_, dtype=np.float64)


def ngrams(doc: list[str], ngram_max: int):
    """The n-grams (1..ngram_max consecutive morphemes, space-joined) of one document, in order."""
    for n in range(1, ngram_max + 1):
        for i in range(len(doc) - n + 1):
            yield " ".join(doc[i : i + n])


def count_matrix(docs: list[list[str]], vocabulary: dict[str, int], ngram_max: int):
    """Term counts [documents, terms] (SciPy CSR, float64) of the vocabulary's n-grams."""
    from scipy.sparse import csr_matrix

    indptr, indices = [0], []
    for doc in docs:
        indices.extend(j for j in (vocabulary.get(g) for g in ngrams(doc, ngram_max)) if j is not None)
        indptr.append(len(indices))
    counts = csr_matrix((np.ones(len(indices)), np.asarray(indices, dtype=np.int64), np.asarray(indptr)),
                        shape=(len(docs), len(vocabulary)), dtype=np.float64)
    counts.sum_duplicates()
    return counts


def tfidf_matrix(counts, idf: np.ndarray, sublinear: bool):
    """The rows ``linear.TfidfLinear.transform`` computes, as a SciPy CSR matrix (what the fit sees)."""
    from scipy.sparse import diags
    from sklearn.preprocessing import normalize

    x = counts.astype(np.float64, copy=True).tocsr()
    if sublinear:
        x.data = 1.0 + np.log(x.data)
    return normalize(x @ diags(idf), norm="l2", copy=False).tocsr()


def _log_oov(docs, split: np.ndarray, vocabulary: dict[str, int]) -> None:
    for name in ("val", "test"):
        tokens = [t for d, s in zip(docs, split) if s == name for t in d]
        if tokens:
            oov = sum(t not in vocabulary for t in tokens) / len(tokens)
            log.info("%s morphemes outside the training vocabulary: %.1f%% of %d", name, 100 * oov, len(tokens))


def _source(counts, labels: np.ndarray, split: np.ndarray):
    def build(pos: np.ndarray) -> T.Source:
        rows = counts[pos]
        return T.Source(lambda idx: (torch.from_numpy(rows[np.asarray(idx)].toarray()),), labels[pos], split[pos])

    return build


def _forward(model, inputs):
    return model(inputs[0])


def setup(seg: pd.DataFrame, inputs: dict, settings: T.TrainSettings, seed: int) -> Setup:
    """Vocabulary and idf fitted on the usable training rows, counts of every segment, the linear head."""
    opts = settings.extra["tfidf"]
    ngram_max, sublinear = int(opts["ngram_max"]), bool(opts["sublinear_tf"])
    docs, ok = _documents(seg, inputs["table"], inputs["source"])
    split = seg["split"].to_numpy()
    fit_rows = np.flatnonzero((split == "train") & ok)
    T.assert_no_test(split[fit_rows], "TF-IDF vocabulary fit")
    try:
        terms, idf = fit_vocabulary([docs[i] for i in fit_rows], ngram_max, opts["min_df"], opts["max_features"])
    except ValueError as exc:  # e.g. every training transcript empty, or min_df above the number of rows
        raise DataError(inputs["source"], f"no TF-IDF vocabulary from {len(fit_rows)} training rows ({exc})") from exc
    vocabulary = {t: j for j, t in enumerate(terms)}
    counts = count_matrix(docs, vocabulary, ngram_max)
    log.info("TF-IDF: %d terms (1- to %d-grams of morphemes) from %d training transcripts", len(terms), ngram_max,
             len(fit_rows))
    _log_oov(docs, split, vocabulary)
    model = linear.TfidfLinear(len(terms), sublinear)
    linear.set_buffer(model, "idf", idf)
    source = _source(counts, seg["label"].to_numpy(), split)
    solve = linear.grid_solver(model, lambda pos: tfidf_matrix(counts[pos], idf, sublinear), source, _forward,
                               opts["C"], settings.class_weights)
    settings_record = {"ngram_max": ngram_max, "min_df": int(opts["min_df"]), "max_features": opts["max_features"],
                       "sublinear_tf": sublinear}
    config = {"arch": "linear", "encoder": "tfidf", **settings_record, "n_terms": len(terms),
              "n_classes": len(EMOTIONS), "vocabulary": terms}
    preprocessing = {
        "input": "form/TAG morphemes of the cleaned transcripts (features.text.morphemes)",
        "vectoriser": {**settings_record, "idf": "ln((1 + n) / (1 + df)) + 1, in model.safetensors",
                       "norm": "l2", "vocabulary": "config.json"},
        "fitted_on": "train split",
        "n_fit_rows": len(fit_rows),
        "n_terms": len(terms),
        "unusable": "missing transcripts: left out of training; predicted as the training prior",
    }
    return Setup(model=model, usable=ok, source=source, forward=_forward, config=config, preprocessing=preprocessing,
                 solve=solve)


save_checkpoint = checkpoint.save


def load_checkpoint(folder) -> tuple[linear.TfidfLinear, dict]:
    """Rebuild the head from ``config.json`` + ``model.safetensors``; returns (model, config)."""
    return checkpoint.load(folder, lambda c: linear.TfidfLinear(c["n_terms"], c["sublinear_tf"], c["n_classes"]))


@torch.no_grad()
def predict(model: linear.TfidfLinear, config: dict, docs: list[list[str]]) -> np.ndarray:
    """Probabilities [n, 7] for morpheme lists, with the checkpoint's vocabulary."""
    vocabulary = {t: j for j, t in enumerate(config["vocabulary"])}
    counts = count_matrix(docs, vocabulary, config["ngram_max"])
    return T.softmax(model(torch.from_numpy(counts.toarray())).float().numpy())  # float32 logits, as in training
