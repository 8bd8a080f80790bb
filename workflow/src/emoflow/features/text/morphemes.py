"""Korean morphemes of every transcript (``text.encoder: tfidf``), once per utterance.

Each transcript is cleaned exactly as for the BERT path (``markup.clean_text``: ``text.overlap``, then
``text.tag_policy``) and analysed by kiwipiepy (``Kiwi``, its bundled model): one morpheme per token,
written ``form/TAG`` with the Sejong-style tag (``미안/NNG``, ``하/XSA``, ``?/SF``); whitespace inside a
form becomes ``_``. Under ``tag_policy: token`` each markup word (``[BREATH]``, ``[LAUGH]`` ...) is kept as
one morpheme ``[BREATH]/SW`` instead of being split into brackets and Latin letters.

The table (``MORPHEME_COLUMNS``) has one row per segment of the index: ``segment_id``, ``morphemes``
(list<string>), ``n_morphemes``, ``empty`` (nothing left after cleaning: usable, an empty document),
``ok`` and ``reason`` (only a missing transcript is unusable: ``missing_transcript``). It depends on the
transcripts and the two cleaning policies only, never on the split: the TF-IDF vocabulary is fitted per
fold by the model (``models.tfidf``).
"""

from __future__ import annotations

import logging
import re

import numpy as np
import pandas as pd

from ...errors import DataError
from ...qc import qc_table
from .markup import MARKUP_TOKENS, clean_text, overlap_counts

log = logging.getLogger(__name__)

MORPHEME_COLUMNS = ["segment_id", "morphemes", "n_morphemes", "empty", "ok", "reason"]
MARKUP_TAG = "SW"
_MARKUP = re.compile("|".join(re.escape(t) for t in MARKUP_TOKENS))


def analyser():
    """A kiwipiepy analyser with its bundled model, single-threaded."""
    from kiwipiepy import Kiwi

    return Kiwi(num_workers=1)


def morphemes(kiwi, text: str) -> list[str]:
    """``form/TAG`` of every morpheme of one cleaned transcript (markup words kept whole)."""
    if not text:
        return []
    spans = [(m.start(), m.end(), MARKUP_TAG) for m in _MARKUP.finditer(text)]
    tokens = kiwi.tokenize(text, pretokenized=spans) if spans else kiwi.tokenize(text)
    return [f"{'_'.join(t.form.split())}/{t.tag}" for t in tokens]


def morpheme_qc(table: pd.DataFrame, overlap: dict) -> pd.DataFrame:
    """qc.qc_table rows plus ``note`` rows: empty transcripts and, when non-zero, the overlap counts."""
    qc = qc_table("text", table["ok"], table["reason"])
    n = len(table)
    counts = [("empty_transcript", int((table["empty"] & table["ok"]).sum()))]
    counts += [(reason, overlap[key]) for reason, key in ((f"overlap_{overlap['policy']}", "changed"),
                                                          ("overlap_unbalanced", "unbalanced")) if overlap[key]]
    notes = [{"modality": "text", "status": "note", "reason": reason, "n_segments": count,
              "fraction": count / n if n else 0.0} for reason, count in counts]
    return pd.concat([qc, pd.DataFrame(notes, columns=qc.columns)], ignore_index=True)


def morpheme_table(segments: pd.DataFrame, *, tag_policy: str, overlap: str, source="segments.parquet",
                   kiwi=None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Every segment of the index -> (morpheme table, QC table). ``source`` names the index in errors."""
    for col in ("segment_id", "text"):
        if col not in segments.columns:
            raise DataError(source, f"missing column {col!r}")
    kiwi = kiwi or analyser()
    missing = segments["text"].isna().to_numpy()
    cleaned = [clean_text(t, tag_policy=tag_policy, overlap=overlap) for t in segments["text"]]
    docs = [[] if miss else morphemes(kiwi, c) for c, miss in zip(cleaned, missing)]
    table = pd.DataFrame({
        "segment_id": segments["segment_id"].astype(str).to_numpy(),
        "morphemes": docs,
        "n_morphemes": np.array([len(d) for d in docs], dtype=np.int64),
        "empty": np.array([not c for c in cleaned]) & ~missing,
        "ok": ~missing,
        "reason": np.where(missing, "missing_transcript", ""),
    })[MORPHEME_COLUMNS]
    counts = overlap_counts(segments["text"], overlap)
    log.info("text: %d transcripts, %d morphemes (%d distinct), %d empty after cleaning, %d missing; overlap "
             "policy %r changed %d", len(table), int(table["n_morphemes"].sum()),
             len({m for d in docs for m in d}), int(table["empty"].sum()), int(missing.sum()), overlap,
             counts["changed"])
    return table, morpheme_qc(table, {"policy": overlap, **counts})


def arrow_table(table: pd.DataFrame):
    """The morpheme table as a ``pyarrow.Table`` with an explicit list<string> column (also when empty)."""
    import pyarrow as pa

    schema = pa.schema([("segment_id", pa.string()), ("morphemes", pa.list_(pa.string())),
                        ("n_morphemes", pa.int64()), ("empty", pa.bool_()), ("ok", pa.bool_()),
                        ("reason", pa.string())])
    return pa.Table.from_pandas(table[MORPHEME_COLUMNS], schema=schema, preserve_index=False)
