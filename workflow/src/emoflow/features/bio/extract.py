"""One signal's features for one participant: the per-participant job.

Only the participant's own segments are computed (file ``Sess01F`` -> the ``speaker == "F"`` segments of
Session01 in the segment index). Reasons for a missing segment: ``file_missing`` (no raw file),
``file_empty`` (a raw file without data rows: no bytes, only blank lines or only a header line),
``no_segment_tags`` (the id never appears in the file), ``clock_backwards`` (see ``align``), plus the
signal-specific reasons of the signal module.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ...constants import participant_session
from . import registry
from .align import align_segments
from .base import Recording
from .recording import empty_file_reason, load_recording

log = logging.getLogger(__name__)

#: The segment index columns the job needs.
SEGMENT_KEYS = ["segment_id", "session", "speaker"]
_PARTICIPANT = re.compile(r"Sess\d+[FM]")


def participant_segments(segments: pd.DataFrame, participant: str) -> list[str]:
    """The participant's own segments (their session and speaker letter), in segment index order."""
    if not _PARTICIPANT.fullmatch(participant):
        raise ValueError(f"participant {participant!r} is not of the form SessSS{{F|M}}")
    sel = (segments["session"] == participant_session(participant)) & (segments["speaker"] == participant[-1])
    return segments.loc[sel, "segment_id"].astype(str).tolist()


def read_participant(path, signal: str, segment_ids: Sequence[str], settings: Mapping) -> Recording | str:
    """The participant's raw recording, or the reason why every segment of it is missing:
    ``file_missing`` (no file), ``file_empty`` (no data rows) or ``no_segments`` (none to compute)."""
    if not Path(path).is_file():
        log.warning("%s %s: raw file %s is missing; all %d segments are missing", signal,
                    Path(path).stem, path, len(segment_ids))
        return "file_missing"
    if not segment_ids:
        log.info("%s: the participant has no segments", path)
        return "no_segments"
    empty = empty_file_reason(path)
    if empty:
        log.warning("%s %s: raw file %s has no data rows (%s); all %d segments are missing (file_empty)",
                    signal, Path(path).stem, path, empty, len(segment_ids))
        return "file_empty"
    return load_recording(path, signal, settings.get("fs"))


def empty_features(signal: str, segment_ids: Sequence[str], settings: Mapping, reason: str) -> pd.DataFrame:
    """Every segment missing with one reason (features NaN)."""
    sig = registry.load(signal)
    n = len(segment_ids)
    df = pd.DataFrame({"segment_id": pd.Series(list(segment_ids), dtype=object)})
    for col in sig.feature_columns(settings):
        df[col] = np.full(n, np.nan)
    for col, val in sig.extra_columns(None, settings).items():
        df[col] = val
    df[f"{signal}_ok"] = np.zeros(n, dtype=bool)
    df[f"{signal}_reason"] = pd.Series([reason] * n, dtype=object)
    return df


def participant_features(signal: str, rec: Recording | str | None, segment_ids: Sequence[str],
                         settings: Mapping) -> pd.DataFrame:
    """Features of one signal for one participant: one row per segment of ``segment_ids``.

    Columns: segment_id, the signal's feature columns, its extra columns, ``{signal}_ok`` (bool),
    ``{signal}_reason`` ("" when ok). ``rec`` a reason (see ``read_participant``; None: ``file_missing``):
    every segment is missing with it. The signal's module is found through ``registry``.
    """
    if rec is None or isinstance(rec, str):
        return empty_features(signal, segment_ids, settings, rec or "file_missing")
    sig = registry.load(signal)
    spans = align_segments(rec, segment_ids)
    feats, reason = sig.compute(rec, spans, settings)
    span_reason = spans["reason"].to_numpy()
    reason = np.where(span_reason != "", span_reason, reason).astype(object)
    cols = {"segment_id": spans["segment_id"].to_numpy()}
    cols.update({c: feats[c].to_numpy() for c in feats.columns})
    cols.update(sig.extra_columns(rec, settings))
    cols[f"{signal}_ok"] = reason == ""
    cols[f"{signal}_reason"] = reason
    df = pd.DataFrame(cols)
    n_ok = int(df[f"{signal}_ok"].sum())
    log.info("%s: %d of %d segments usable (fs %.3f Hz)", rec.path, n_ok, len(df), rec.fs)
    return df
