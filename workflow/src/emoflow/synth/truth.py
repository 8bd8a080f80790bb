"""The ``_truth/`` side folder (never read by the workflow's reader) and the manifest."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from ..constants import EMOTIONS
from ..io import write_json, write_parquet
from .model import MODALITIES, Dataset
from .settings import VERSION

TRUTH_FILES = {"cues": "_truth/cues.parquet", "cue_model": "_truth/cue_model.json",
               "header_only_bio": "_truth/header_only_bio.json",
               "unused_field_text": "_truth/unused_field_text.json", "bio_tags": "_truth/bio_tags.parquet"}
BIO_TAG_COLUMNS = ["segment_id", "signal", "kind", "gap_seconds"]


def cue_table(dataset: Dataset) -> pd.DataFrame:
    """One row per utterance: its true label, each modality's cue and the listener-perspective label."""
    utts = [u for _, u in dataset.utterances]
    cols = {"segment_id": [u.segment_id for u in utts], "label": [u.label for u in utts]}
    cols.update({f"{m}_cue": [u.cues[m] for u in utts] for m in MODALITIES})
    cols["listener_label"] = [u.listener_label for u in utts]
    return pd.DataFrame(cols)


def write_truth(root: Path, dataset: Dataset) -> None:
    root = Path(root)
    write_parquet(cue_table(dataset), root / TRUTH_FILES["cues"])
    write_json(dataset.cue_model, root / TRUTH_FILES["cue_model"])
    write_json(dataset.records["header_only_bio"], root / TRUTH_FILES["header_only_bio"])
    write_json(dataset.records["unused_field_text"], root / TRUTH_FILES["unused_field_text"])
    write_parquet(bio_tag_table(dataset), root / TRUTH_FILES["bio_tags"])


def bio_tag_table(dataset: Dataset) -> pd.DataFrame:
    """The E4 segments whose tags a dropout shifted or that lost their tags (quirks ``e4_dropout`` and
    ``tags_stop``): segment_id, signal (eda|temp), kind (spans_dropout|shifted|untagged), gap_seconds."""
    df = pd.DataFrame(dataset.records.get("bio_tags", []), columns=BIO_TAG_COLUMNS)
    df["gap_seconds"] = df["gap_seconds"].astype("float64")
    return df.sort_values(["segment_id", "signal"], kind="stable").reset_index(drop=True)


def manifest(dataset: Dataset, files: dict) -> dict:
    """The manifest: config, sessions, counts (``files`` from the layout writer), labels, quirks, truth."""
    cfg = dataset.config
    utts = [u for _, u in dataset.utterances]
    counts = {"utterances": len(utts),
              "utterances_by_speaker": {g: sum(u.speaker == g for u in utts) for g in ("F", "M")}}
    counts.update(files)
    counts["speech_seconds"] = round(float(pd.Series([u.end - u.start for u in utts]).sum()), 3)
    return {
        "version": VERSION,
        "size": cfg["size"],
        "seed": cfg["seed"],
        "config": {k: cfg[k] for k in ("size", "seed", "n_sessions", "ecg_fs", "cue_accuracy")},
        "sessions": [s.name for s in dataset.sessions],
        "dialogues": dataset.dialogues,
        "counts": counts,
        "labels": {e: sum(u.label == e for u in utts) for e in EMOTIONS},
        "quirks": {k: v for k, v in dataset.records.items() if k != "bio_tags"},
        "truth": dict(TRUTH_FILES),
    }
