"""Join the per-participant bio feature parts onto every segment; QC table and missing-fraction check.

The signals in use are the keys of ``settings`` (the rule passes the sections of ``bio.signals`` only):
a partial copy of the dataset may lack a signal, and an unused signal has no columns at all (the bio model
takes its inputs by the ``{signal}_*`` names). Every segment of the segment index gets one row (index
order), joined on ``segment_id``. A segment that no part of a signal covers is missing for that signal with
reason ``not_extracted``. Output columns: segment_id, the feature columns of every signal in use
(``registry.SIGNALS`` order: ECG, EDA bands, EDA level, TEMP), then ``{signal}_ok`` / ``{signal}_reason``
per signal. Missing values are NaN, never zero.

The QC table stacks per signal ``qc.qc_table`` (usable, and missing by reason) and ``alignment_table``
(status ``aligned``: segments whose rows were found by tags, re-aligned or recovered by time, see
``offset``), and then the signals' ``qc_notes`` (for EDA: the upper
band edge actually used, see ``eda.qc_notes``; for ECG: the sampling rate used and participants with an
implausible mean NN, see ``ecg.qc_notes``).

The signal modules are loaded by name through ``registry`` (this module imports none of them).
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Mapping, NamedTuple

import numpy as np
import pandas as pd

from ... import qc
from ...constants import bio_file_key
from ...errors import DataError, QCError
from . import registry
from .offset import METHODS

log = logging.getLogger(__name__)

_PART = re.compile(r"(?P<signal>" + "|".join(map(re.escape, registry.SIGNALS))
                   + r")/(?P<participant>Sess\d+[FM]?)\.parquet$")  # a KEMDy19 participant or a KEMDy20 session


class GatheredBio(NamedTuple):
    features: pd.DataFrame
    qc: pd.DataFrame


def signals_in_use(settings: Mapping[str, Mapping]) -> list[str]:
    """The signals that ``settings`` has a section for, in ``registry.SIGNALS`` order."""
    used = [s for s in registry.SIGNALS if s in settings]
    if not used:
        raise ValueError(f"no bio signal settings (expected sections among {', '.join(registry.SIGNALS)})")
    return used


def feature_columns(settings: Mapping[str, Mapping]) -> list[str]:
    """The feature columns of every signal in use, in output order (``settings``: the per-signal
    sections of ``config["bio"]``)."""
    cols = []
    for s in signals_in_use(settings):
        cols += registry.load(s).feature_columns(settings[s])
    return cols


def _participant_of(segments: pd.DataFrame) -> pd.Series:
    """The bio file of each segment (``constants.bio_file_key``): ``Sess01F`` (KEMDy19: its session and
    speaker) or ``Sess01_script01_User002M`` (KEMDy20: its session, dialogue and user)."""
    sessions = segments["session"].astype(str)
    speakers = segments["speaker"].astype(str)
    dialogues = segments["dialogue"].astype(str) if "dialogue" in segments.columns else sessions
    keys = [bio_file_key(s, d, p) for s, d, p in zip(sessions, dialogues, speakers)]
    return pd.Series(keys, index=segments.index, dtype=object)


def _group_parts(parts: Mapping[str, pd.DataFrame], used: list[str]) -> dict[str, list[tuple[str, pd.DataFrame]]]:
    """The parts by signal; a part's name is its path ``.../{signal}/{participant}.parquet``."""
    by_signal: dict[str, list[tuple[str, pd.DataFrame]]] = {s: [] for s in used}
    for name, frame in parts.items():
        m = _PART.search(Path(name).as_posix())
        if not m:
            expected = "|".join(registry.SIGNALS)
            raise DataError(name, f"not a bio feature part (expected .../{{{expected}}}/"
                                  "SessSS{F|M}.parquet or SessSS.parquet)")
        if m["signal"] not in by_signal:
            raise DataError(name, f"a part of signal {m['signal']!r}, which is not in use "
                                  f"(bio.signals: {', '.join(used)})")
        by_signal[m["signal"]].append((name, frame))
    return by_signal


def _segment_frame(segments: pd.DataFrame, source) -> pd.DataFrame:
    out = segments[["segment_id"]].copy().reset_index(drop=True)
    out["segment_id"] = out["segment_id"].astype(str)
    if out["segment_id"].duplicated().any():
        dup = out.loc[out["segment_id"].duplicated(), "segment_id"].iloc[0]
        raise DataError(source, f"segment_id {dup!r} appears more than once")
    return out


def _stack_parts(signal: str, frames: list[tuple[str, pd.DataFrame]], keep: list[str]) -> pd.DataFrame:
    """The parts of one signal stacked (columns ``keep``); DataError for stale or overlapping parts."""
    for name, f in frames:
        missing_cols = [c for c in keep if c not in f.columns]
        if missing_cols:
            raise DataError(name, f"a part lacks columns {missing_cols} (stale?)")
    part = (pd.concat([f[keep] for _, f in frames], ignore_index=True) if frames
            else pd.DataFrame(columns=keep))
    part["segment_id"] = part["segment_id"].astype(str)
    if part["segment_id"].duplicated().any():
        dup = part.loc[part["segment_id"].duplicated(), "segment_id"].iloc[0]
        where = Path(frames[0][0]).parent if frames else signal
        raise DataError(where, f"segment {dup!r} is in more than one part")
    return part


def _join_signal(out: pd.DataFrame, signal: str, cols: list[str], part: pd.DataFrame) -> pd.DataFrame:
    """Set the signal's feature, ok and reason columns of ``out``; returns the part joined to ``out``."""
    extra = int((~part["segment_id"].isin(out["segment_id"])).sum())
    if extra:
        log.warning("%s: %d part rows are not in segments.parquet (ignored)", signal, extra)
    merged = out[["segment_id"]].merge(part, on="segment_id", how="left", validate="one_to_one")
    absent = merged[f"{signal}_ok"].isna().to_numpy()
    for c in cols:
        out[c] = pd.to_numeric(merged[c], errors="coerce").astype(np.float64).to_numpy()
    out[f"{signal}_ok"] = merged[f"{signal}_ok"].astype("boolean").fillna(False).astype(bool).to_numpy()
    reason = merged[f"{signal}_reason"].astype(object).to_numpy().copy()
    reason[absent] = "not_extracted"
    reason = np.where(out[f"{signal}_ok"].to_numpy(), "", reason).astype(object)
    out[f"{signal}_reason"] = pd.Series(reason, dtype=object).fillna("unknown").to_numpy()
    n_absent = int(absent.sum())
    if n_absent:
        log.warning("%s: %d segments are in no part (not_extracted)", signal, n_absent)
    return merged


def _align_column(signal: str, frames: list[tuple[str, pd.DataFrame]]) -> list[str]:
    """``[{signal}_align]`` when every part records how its segments were aligned, else ``[]``."""
    col = f"{signal}_align"
    if frames and all(col in f.columns for _, f in frames):
        return [col]
    if any(col in f.columns for _, f in frames):
        log.warning("%s: some parts do not record the alignment method; no alignment counts", signal)
    return []


def alignment_table(signal: str, method: pd.Series) -> pd.DataFrame:
    """QC rows ``status == "aligned"``: how many segments had their rows found by each method
    (``by_tags``, ``realigned_by_offset``, ``recovered_by_offset``; see ``offset``), whether or not their
    features were then usable; each count also logged."""
    method = method.fillna("").astype(str)
    n = len(method)
    rows = []
    for m in METHODS:
        count = int((method == m).sum())
        rows.append({"modality": signal, "status": "aligned", "reason": "by_tags" if m == "tags" else m,
                     "n_segments": count, "fraction": count / n if n else 0.0})
    log.info("%s: rows found for %s of %d segments", signal,
             ", ".join(f"{r['n_segments']} {r['reason']}" for r in rows), n)
    return pd.DataFrame(rows, columns=qc.QC_COLUMNS)


def gather_bio(segments: pd.DataFrame, parts: Mapping[str, pd.DataFrame], settings: Mapping[str, Mapping],
               source="segments.parquet") -> GatheredBio:
    """``(features, qc)`` from the segment index and the parts (path -> frame of that part file).

    ``settings`` holds the sections of ``config["bio"]`` of the signals in use (see ``signals_in_use``);
    ``source`` names the segment index in error messages.
    """
    used = signals_in_use(settings)
    by_signal = _group_parts(parts, used)
    out = _segment_frame(segments, source)
    participant = _participant_of(segments).to_numpy()
    ok_cols: list[str] = []
    qc_tables = []
    tables = {}
    for s in used:
        sig, st = registry.load(s), settings[s]
        cols = sig.feature_columns(st)
        extra_cols = list(sig.extra_columns(None, st))
        align_cols = _align_column(s, by_signal[s])
        part = _stack_parts(s, by_signal[s], ["segment_id", *cols, f"{s}_ok", f"{s}_reason", *extra_cols,
                                              *align_cols])
        merged = _join_signal(out, s, cols, part)
        tables[s] = pd.concat([pd.DataFrame({"participant": participant}), out[[*cols, f"{s}_ok"]],
                               merged[extra_cols].reset_index(drop=True)], axis=1)
        ok_cols += [f"{s}_ok", f"{s}_reason"]
        qc_tables.append(qc.qc_table(s, out[f"{s}_ok"], out[f"{s}_reason"]))
        if align_cols:
            qc_tables.append(alignment_table(s, merged[align_cols[0]]))
    notes = []
    for s in used:
        notes += registry.load(s).qc_notes(tables[s], settings[s], len(out))
    qc_tables.append(pd.DataFrame(notes, columns=qc.QC_COLUMNS))
    out = out[["segment_id", *feature_columns(settings), *ok_cols]]
    return GatheredBio(out, pd.concat(qc_tables, ignore_index=True))


def missing_detail(segments: pd.DataFrame, features: pd.DataFrame, signal: str, top: int = 5) -> str:
    """Which participant files contribute most of a signal's missing segments."""
    part = _participant_of(segments).reset_index(drop=True)
    miss = ~features[f"{signal}_ok"].to_numpy()
    if not miss.any():
        return ""
    df = pd.DataFrame({"participant": part[miss].to_numpy(),
                       "reason": features.loc[miss, f"{signal}_reason"].to_numpy()})
    total = int(miss.sum())
    counts = df.groupby("participant")["reason"].agg(["size", lambda r: r.value_counts().to_dict()])
    counts.columns = ["n", "reasons"]
    counts = counts.sort_values("n", ascending=False).head(top)
    items = []
    for participant, row in counts.iterrows():
        reasons = ", ".join(f"{k} {v}" for k, v in row["reasons"].items())
        items.append(f"{registry.raw_relpath(signal, participant)}: {row['n']} ({reasons})")
    return f"Most missing segments ({total} in all) come from: " + "; ".join(items)


def check_bio_missing(segments: pd.DataFrame, features: pd.DataFrame, max_missing: Mapping) -> None:
    """``qc.check_missing`` per signal in ``features`` (those with a ``{signal}_ok`` column); one QCError
    listing every signal over its limit."""
    errors = []
    for s in [s for s in registry.SIGNALS if f"{s}_ok" in features.columns]:
        try:
            qc.check_missing(s, features[f"{s}_ok"], float(max_missing[s]),
                             detail=missing_detail(segments, features, s))
        except QCError as exc:
            errors.append(str(exc))
    if errors:
        raise QCError(" | ".join(errors))
