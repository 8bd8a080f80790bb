"""The segment index of a dataset copy: one reader per dataset behind one contract.

``build_index(data_dir, sessions, tie_policy, dataset)`` reads the annotation files of a KEMDy19
(``kemdy19``) or KEMDy20 (``kemdy20``) copy and returns ``(segments, excluded, summary)``:

* segments: one row per usable utterance with the ``SEGMENT_COLUMNS`` (segment_id, session, dialogue,
  speaker, wav_path, txt_path, text, start, end, emotion, emotion_raw, valence, arousal), sorted by
  segment_id; paths relative to ``data_dir`` (posix). ``speaker`` is what the ``speaker`` split groups
  by: the gender letter in KEMDy19 (one actor per gender and session), the user id in KEMDy20
  (``User002M``).
* excluded: every utterance left out (``EXCLUDED_COLUMNS``: segment_id, session, reason, detail).
* summary: JSON-ready counts, including the dataset, tie handling and exclusions by reason.

Exclusion reasons every reader uses (column ``reason``; ``detail`` says more), besides each dataset's
own (``kemdy19``: unpaired, id_mismatch, bad_segment_id; ``kemdy20``: bad_segment_id):

``duplicate_segment_id``
    the same id on several rows of the session with different times or labels: every copy is
    excluded. Identical copies (same times, label, valence and arousal) are one utterance listed twice;
    one copy is kept and the collapse is counted in the summary.
``missing_wav`` / ``missing_txt`` / ``unreadable_txt``
    the media files are absent, or the transcript is neither UTF-8 nor CP949.
``missing_label`` / ``unknown_label``
    the Total Evaluation emotion is empty, or (after aliases such as ``disqust``) not one of the seven.
``tie``
    a tied label such as ``neutral;happy`` under ``tie_policy: drop``. Ties are written in a fixed order
    per dataset (``constants.KEMDY19_TIE_ORDER`` / ``KEMDY20_TIE_ORDER``); ``first`` takes the first
    label as written, ``rarest`` the rarest of the tied labels among the single-label rows.

An empty transcript is kept with text ``""`` (counted in the summary; the text stage handles it).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from ..errors import DataError
from ..split import assign_folds, fold_tested, fold_view, split_summary
from . import kemdy19, kemdy20
from .contract import EXCLUDED_COLUMNS, SEGMENT_COLUMNS, TIE_POLICIES, parse_label
from .kemdy19 import parse_segment_id, read_annotation

__all__ = ["EXCLUDED_COLUMNS", "SEGMENT_COLUMNS", "TIE_POLICIES", "READERS", "build_index", "index_dataset",
           "parse_label", "parse_segment_id", "read_annotation"]

log = logging.getLogger(__name__)

READERS = {"kemdy19": kemdy19, "kemdy20": kemdy20}


def build_index(data_dir, sessions, tie_policy: str = "first",
                dataset: str = "kemdy19") -> tuple[pd.DataFrame, pd.DataFrame, dict]:
    """The segment index of a copy of ``dataset``: ``(segments, excluded, summary)`` (module docstring).
    A missing annotation file raises DataError; an unknown tie policy ValueError."""
    if dataset not in READERS:
        raise ValueError(f"dataset must be one of {sorted(READERS)}, not {dataset!r}")
    return READERS[dataset].build_index(data_dir, sessions, tie_policy)


def index_dataset(data_dir, sessions, labels: dict, split: dict,
                  dataset: str = "kemdy19") -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, dict]:
    """build_index + assign_folds: the segment index, its folds, exclusions and a summary.

    ``labels`` is the config's ``labels`` section (tie_policy resolved), ``split`` its ``split`` section.
    Returns ``(segments, folds, excluded, summary)``: segments carry ``fold``, the fold whose test part
    holds them (-1 for none: the random scheme tests one part); ``folds`` is the long table (segment_id,
    fold, split) of ``split.assign_folds``. Raises DataError when no segment is left or the data cannot be
    split as asked.
    """
    segments, excluded, summary = build_index(data_dir, sessions, labels["tie_policy"], dataset)
    if segments.empty:
        raise DataError(data_dir, f"no usable segments: all {len(excluded)} utterances were excluded "
                                  f"({summary['excluded_by_reason']})")
    try:
        folds = assign_folds(segments, split)
    except ValueError as exc:
        raise DataError(data_dir, f"cannot split the segments: {exc}") from None
    # the fold whose test part holds the segment; -1: never tested (the random scheme's training side)
    segments["fold"] = segments["segment_id"].map(fold_tested(folds)).fillna(-1).astype(np.int64)
    summary["split"] = {"scheme": split["scheme"], "folds": int(split["folds"]), "seed": split["seed"],
                        "per_fold": {}}
    for k in sorted(folds["fold"].unique()):
        view = fold_view(segments, folds, k)
        summary["split"]["per_fold"][str(k)] = split_summary(view)
        log.info("split %s, fold %d: %s", split["scheme"], k, summary["split"]["per_fold"][str(k)]["counts"])
    return segments, folds, excluded, summary
