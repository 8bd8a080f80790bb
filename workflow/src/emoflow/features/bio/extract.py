"""One signal's features for one participant: the per-participant job.

Only the participant's own segments are computed (file ``Sess01F`` -> the ``speaker == "F"`` segments of
Session01 in the segment index). Reasons for a missing segment: ``file_missing`` (no raw file),
``file_empty`` (a raw file without data rows: no bytes, only blank lines or only a header line),
``no_segment_tags`` (the id never appears in the file and could not be recovered by time),
``clock_backwards`` (see ``align``), ``tag_misaligned`` (the tags cannot be checked: no trustworthy clock
offset in the dialogue, see ``offset``), plus the signal-specific reasons of the signal module. The
column ``{signal}_align`` says how each segment's rows were found (``offset.METHODS``: ``tags``,
``realigned_by_offset``, ``recovered_by_offset``; "" when not aligned).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from ...constants import bio_file_key, participant_session
from . import registry
from .align import align_segments
from .base import Recording
from .offset import TIMING_COLUMNS
from .recording import empty_file_reason, load_recording

log = logging.getLogger(__name__)

#: The segment index columns the job needs (the wav times for the check of the tags, see ``offset``).
SEGMENT_KEYS = ["segment_id", "session", "speaker", "dialogue", "start", "end"]
_PARTICIPANT = re.compile(r"Sess\d+[FM]")
_USER_SCRIPT = re.compile(r"Sess\d+_(script\d+)_(User\d+[FM])")  # a KEMDy20 bio file


def participant_segments(segments: pd.DataFrame, participant: str) -> list[str]:
    """The segments whose own bio file is ``participant``, in segment index order: a KEMDy19 participant
    (``Sess01F``: its session and speaker letter) or a KEMDy20 user and script
    (``Sess01_script01_User002M``: that session, dialogue and user)."""
    sel = segments["session"] == participant_session(participant)
    m = _USER_SCRIPT.fullmatch(participant)
    if m:
        sel &= (segments["dialogue"] == m.group(1)) & (segments["speaker"] == m.group(2))
    elif _PARTICIPANT.fullmatch(participant):
        sel &= segments["speaker"] == participant[-1]
    else:
        raise ValueError(f"participant {participant!r} is not of the form SessSS{{F|M}} or "
                         "SessSS_scriptNN_UserNNN{F|M}")
    return segments.loc[sel, "segment_id"].astype(str).tolist()


def session_timing(segments: pd.DataFrame, participant: str) -> pd.DataFrame:
    """The wav times (``offset.TIMING_COLUMNS``) of every segment of the participant's session, both
    speakers: the participant's file is tagged with both, and all of them count for a dialogue's offset."""
    sel = segments["session"] == participant_session(participant)
    return segments.loc[sel, TIMING_COLUMNS].reset_index(drop=True)


def tag_check_timing(segments: pd.DataFrame, key: str, rec: Recording | str) -> pd.DataFrame | None:
    """The wav times to check a bio file's tags against (``session_timing``), or None to take its tags as
    they are: only a KEMDy19 participant file (``Sess01F``) of a regularly sampled signal is checked (see
    ``unit_features``)."""
    timed = isinstance(rec, Recording) and bool(np.isfinite(rec.fs)) and bool(_PARTICIPANT.fullmatch(key))
    return session_timing(segments, key) if timed else None


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
    df[f"{signal}_align"] = pd.Series([""] * n, dtype=object)
    return df


def participant_features(signal: str, rec: Recording | str | None, segment_ids: Sequence[str],
                         settings: Mapping, timing: pd.DataFrame | None = None,
                         align: Mapping | None = None) -> pd.DataFrame:
    """Features of one signal for one participant: one row per segment of ``segment_ids``.

    Columns: segment_id, the signal's feature columns, its extra columns, ``{signal}_ok`` (bool),
    ``{signal}_reason`` ("" when ok), ``{signal}_align`` (how the rows were found). ``rec`` a reason (see
    ``read_participant``; None: ``file_missing``): every segment is missing with it. ``timing``
    (``session_timing``) turns on the check of the tags against the dialogue's clock offset, ``align`` =
    ``bio.align`` (see ``align.align_segments``). The signal's module is found through ``registry``.
    """
    if rec is None or isinstance(rec, str):
        return empty_features(signal, segment_ids, settings, rec or "file_missing")
    sig = registry.load(signal)
    spans = align_segments(rec, segment_ids, timing, align)
    feats, reason = sig.compute(rec, spans, settings)
    span_reason = spans["reason"].to_numpy()
    reason = np.where(span_reason != "", span_reason, reason).astype(object)
    cols = {"segment_id": spans["segment_id"].to_numpy()}
    cols.update({c: feats[c].to_numpy() for c in feats.columns})
    cols.update(sig.extra_columns(rec, settings))
    cols[f"{signal}_ok"] = reason == ""
    cols[f"{signal}_reason"] = reason
    cols[f"{signal}_align"] = spans["method"].to_numpy(dtype=object)
    df = pd.DataFrame(cols)
    n_ok = int(df[f"{signal}_ok"].sum())
    log.info("%s: %d of %d segments usable (fs %.3f Hz)", rec.path, n_ok, len(df), rec.fs)
    return df


# ---------------------------------------------------------------------------------------------------
# One job: a KEMDy19 participant file, or a KEMDy20 session (its user-script files)


def unit_parts(segments: pd.DataFrame, unit: str) -> list[tuple[str, list[str]]]:
    """The bio files of one job and their segments: ``[(file key, segment ids), ...]``. A KEMDy19 unit
    is one participant file (``Sess01F``); a KEMDy20 unit is a session (``Sess01``), whose files are one
    per user and script, named after the session's segments (``Sess01_script01_User002M``)."""
    if _PARTICIPANT.fullmatch(unit):
        return [(unit, participant_segments(segments, unit))]
    if not re.fullmatch(r"Sess\d+", unit):
        raise ValueError(f"bio job {unit!r} is neither a participant (SessSS{{F|M}}) nor a session (SessSS)")
    own = segments[segments["session"] == participant_session(unit)]
    keys = [bio_file_key(s, d, p) for s, d, p in zip(own["session"].astype(str), own["dialogue"].astype(str),
                                                       own["speaker"].astype(str))]
    ids = own["segment_id"].astype(str).tolist()
    by_key: dict[str, list[str]] = {}
    for key, sid in zip(keys, ids):
        by_key.setdefault(key, []).append(sid)
    return sorted(by_key.items())


def unit_features(signal: str, unit: str, segments: pd.DataFrame, data_dir, settings: Mapping,
                  align: Mapping | None = None) -> pd.DataFrame:
    """Features of one signal for every bio file of a job (``unit_parts``), stacked in file order.
    Files are looked up under ``data_dir`` (``registry.raw_relpath``). The tags of a KEMDy19 file are
    checked against the wav times (``align``: its E4 dropouts shift them); a KEMDy20 file's tags are taken
    as they are (they match the wavs, and a user's file of one script may hold too few segments for a
    trustworthy offset), as are the tags of an irregular signal (IBI: no sampling rate)."""
    frames = []
    for key, ids in unit_parts(segments, unit):
        path = Path(data_dir) / registry.raw_relpath(signal, key)
        rec = read_participant(path, signal, ids, settings)
        timing = tag_check_timing(segments, key, rec)
        frames.append(participant_features(signal, rec, ids, settings, timing, align))
    if not frames:
        return empty_features(signal, [], settings, "no_segments")
    return pd.concat(frames, ignore_index=True)
