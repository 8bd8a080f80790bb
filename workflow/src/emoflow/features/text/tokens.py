"""Token ids for every segment (the text feature table).

One row per segment of the segment index: ``segment_id``, ``input_ids`` (list<int32>) and
``attention_mask`` (list<int8>) padded/truncated to ``text.max_length``, ``n_tokens`` (length with
[CLS]/[SEP] before truncation), ``truncated``, ``empty``, ``ok`` and ``reason``. A transcript that is
empty after cleaning (e.g. only ``b/``) is *usable*: it encodes as ``[CLS] [SEP]``, as the utterance
did happen. The QC table adds ``status == "note"`` rows that count these empty transcripts and the
truncated ones, and, when there are any, the transcripts the overlap policy changed
(``overlap_<policy>``) and those it left unchanged because their parentheses do not balance
(``overlap_unbalanced``); notes are not part of the usable/missing accounting. Only a missing transcript (null
text) is unusable (``missing_transcript``); its row holds the encoding of an empty text with ``ok``
False. ``text_table`` gives the table with explicit list<int32>/list<int8> Arrow types.
"""

from __future__ import annotations

import logging
from typing import NamedTuple

import numpy as np
import pandas as pd

from ...errors import DataError
from ...qc import qc_table
from .markup import clean_text, overlap_counts

log = logging.getLogger(__name__)

TEXT_COLUMNS = ["segment_id", "input_ids", "attention_mask", "n_tokens", "truncated", "empty", "ok", "reason"]


class TextFeatures(NamedTuple):
    features: pd.DataFrame
    qc: pd.DataFrame


def encode_texts(tokenizer, texts: list[str], max_length: int) -> dict[str, np.ndarray]:
    """input_ids / attention_mask padded or truncated to ``max_length``, plus untruncated lengths."""
    if not texts:
        return {"input_ids": np.zeros((0, max_length), np.int32),
                "attention_mask": np.zeros((0, max_length), np.int8), "n_tokens": np.zeros(0, np.int32)}
    full = tokenizer(texts, add_special_tokens=True, truncation=False)["input_ids"]
    enc = tokenizer(texts, add_special_tokens=True, truncation=True, max_length=max_length,
                    padding="max_length", return_token_type_ids=False)
    ids = np.asarray(enc["input_ids"], dtype=np.int32)
    mask = np.asarray(enc["attention_mask"], dtype=np.int8)
    if ids.shape != (len(texts), max_length):
        raise ValueError(f"tokenizer returned shape {ids.shape}, expected {(len(texts), max_length)}")
    return {"input_ids": ids, "attention_mask": mask, "n_tokens": np.array([len(x) for x in full], np.int32)}


def text_features(segments: pd.DataFrame, tokenizer, tag_policy: str, overlap: str,
                  max_length: int) -> pd.DataFrame:
    """One row per segment: token ids, mask, length, truncation and empty-transcript flags.

    An empty transcript (after cleaning) is usable: it encodes as ``[CLS] [SEP]`` and is flagged
    ``empty`` (a breath-only turn is still an utterance). A missing transcript (null text) is not.
    """
    missing = segments["text"].isna().to_numpy()
    cleaned = [clean_text(t, tag_policy=tag_policy, overlap=overlap) for t in segments["text"]]
    enc = encode_texts(tokenizer, cleaned, max_length)
    n_tokens = enc["n_tokens"]
    df = pd.DataFrame({
        "segment_id": segments["segment_id"].astype(str).to_numpy(),
        "input_ids": list(enc["input_ids"]),
        "attention_mask": list(enc["attention_mask"]),
        "n_tokens": n_tokens,
        "truncated": n_tokens > max_length,
        "empty": np.array([not c for c in cleaned]) & ~missing,
        "ok": ~missing,
        "reason": np.where(missing, "missing_transcript", ""),
    })
    return df[TEXT_COLUMNS]


def text_qc(features: pd.DataFrame, overlap: dict) -> pd.DataFrame:
    """qc.qc_table rows plus ``note`` rows counting usable-but-empty and truncated transcripts and, when
    non-zero, the ``overlap`` counts (``{"policy", "changed", "unbalanced"}``, see ``overlap_counts``)."""
    table = qc_table("text", features["ok"], features["reason"])
    n = len(features)
    counts = [("empty_transcript", int((features["empty"] & features["ok"]).sum())),
              ("truncated", int((features["truncated"] & features["ok"]).sum()))]
    counts += [(reason, overlap[key]) for reason, key in ((f"overlap_{overlap['policy']}", "changed"),
                                                          ("overlap_unbalanced", "unbalanced")) if overlap[key]]
    notes = [{"modality": "text", "status": "note", "reason": reason, "n_segments": count,
              "fraction": count / n if n else 0.0} for reason, count in counts]
    return pd.concat([table, pd.DataFrame(notes, columns=table.columns)], ignore_index=True)



def text_table(features: pd.DataFrame):
    """The feature table as a ``pyarrow.Table`` with list<int32>/list<int8> token columns."""
    import pyarrow as pa

    n = len(features)
    ids = np.stack(features["input_ids"].to_list()) if n else np.zeros((0, 0), np.int32)
    mask = np.stack(features["attention_mask"].to_list()) if n else np.zeros((0, 0), np.int8)
    offsets = pa.array(np.arange(n + 1, dtype=np.int32) * ids.shape[1], pa.int32())
    cols = {
        "segment_id": pa.array(features["segment_id"].to_list(), pa.string()),
        "input_ids": pa.ListArray.from_arrays(offsets, pa.array(ids.reshape(-1), pa.int32())),
        "attention_mask": pa.ListArray.from_arrays(offsets, pa.array(mask.reshape(-1), pa.int8())),
    }
    for c in TEXT_COLUMNS[3:]:
        cols[c] = pa.array(features[c].to_numpy())
    return pa.table(cols)


def tokenize_segments(segments: pd.DataFrame, tokenizer, *, tag_policy: str, overlap: str, max_length: int,
                      source="segments.parquet") -> TextFeatures:
    """Every segment of the segment index -> the feature table and its QC table.

    ``overlap`` is the ``(X+Y)`` policy, applied before ``tag_policy`` (``markup``). ``source`` names the
    segment index in error messages.
    """
    for col in ("segment_id", "text"):
        if col not in segments.columns:
            raise DataError(source, f"missing column {col!r}")
    features = text_features(segments, tokenizer, tag_policy, overlap, max_length)
    counts = overlap_counts(segments["text"], overlap)
    log.info("text: overlap policy %r changed %d transcripts with (X+Y) markup; %d left unchanged "
             "(unbalanced parentheses)", overlap, counts["changed"], counts["unbalanced"])
    qc = text_qc(features, {"policy": overlap, **counts})
    log.info("text: %d segments, %d empty after cleaning, %d truncated to %d tokens", len(features),
             int(features["empty"].sum()), int(features["truncated"].sum()), max_length)
    return TextFeatures(features, qc)
