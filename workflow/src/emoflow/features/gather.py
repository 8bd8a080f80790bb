"""Join the per-participant bio feature parts onto every segment; QC table and missing-fraction check.

Every segment of segments.parquet gets one row (segments.parquet order), joined on ``segment_id``. A
segment that no part of a signal covers is missing for that signal with reason ``not_extracted``.
Output columns: segment_id, the contract feature columns (ECG, EDA bands, EDA level, TEMP), then
``{signal}_ok`` / ``{signal}_reason`` for ecg, eda, temp. Missing values are NaN, never zero.

The QC table stacks ``qc.qc_table`` for ecg, eda and temp and adds one ``status == "note"`` row for EDA
recording the upper band edge actually used (``band_hi=<Hz>``, with ``clamped_from=<Hz>`` when the
configured edge was above Nyquist) and how many segments it applies to.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from .. import qc
from ..errors import DataError, QCError
from .biosignals import bio_relpath, signal_module

log = logging.getLogger(__name__)

SIGNALS = ("ecg", "eda", "temp")
_PART = re.compile(r"(?P<signal>ecg|eda|temp)/(?P<participant>Sess\d+[FM])\.parquet$")


def feature_columns(eda_settings: Mapping) -> list[str]:
    cols = []
    for s in SIGNALS:
        cols += signal_module(s).feature_columns(eda_settings if s == "eda" else {})
    return cols


def _participant_of(segments: pd.DataFrame) -> pd.Series:
    num = segments["session"].astype(str).str.replace("Session", "", regex=False)
    return "Sess" + num + segments["speaker"].astype(str)


def gather_bio(
    segments: pd.DataFrame, parts: Iterable[str], eda_settings: Mapping
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``(features, qc_table)`` from segments.parquet and the parts ``.../{signal}/{participant}.parquet``."""
    by_signal: dict[str, list[pd.DataFrame]] = {s: [] for s in SIGNALS}
    for path in parts:
        m = _PART.search(Path(path).as_posix())
        if not m:
            raise DataError(path, "not a bio feature part (expected .../{ecg|eda|temp}/SessSS{F|M}.parquet)")
        by_signal[m["signal"]].append(pd.read_parquet(path))

    out = segments[["segment_id"]].copy().reset_index(drop=True)
    out["segment_id"] = out["segment_id"].astype(str)
    if out["segment_id"].duplicated().any():
        dup = out.loc[out["segment_id"].duplicated(), "segment_id"].iloc[0]
        raise DataError("results/segments.parquet", f"segment_id {dup!r} appears more than once")
    ok_cols: list[str] = []
    qc_tables = []
    hi_used = pd.Series(np.nan, index=out.index)
    for s in SIGNALS:
        cols = signal_module(s).feature_columns(eda_settings if s == "eda" else {})
        keep = ["segment_id", *cols, f"{s}_ok", f"{s}_reason"] + (["eda_band_hi_hz"] if s == "eda" else [])
        frames = by_signal[s]
        for f in frames:
            missing_cols = [c for c in keep if c not in f.columns]
            if missing_cols:
                raise DataError(f"results/features/{s}", f"a part lacks columns {missing_cols} (stale?)")
        part = (pd.concat([f[keep] for f in frames], ignore_index=True) if frames
                else pd.DataFrame(columns=keep))
        part["segment_id"] = part["segment_id"].astype(str)
        if part["segment_id"].duplicated().any():
            dup = part.loc[part["segment_id"].duplicated(), "segment_id"].iloc[0]
            raise DataError(f"results/features/{s}", f"segment {dup!r} is in more than one part")
        extra = int((~part["segment_id"].isin(out["segment_id"])).sum())
        if extra:
            log.warning("%s: %d part rows are not in segments.parquet (ignored)", s, extra)
        merged = out[["segment_id"]].merge(part, on="segment_id", how="left", validate="one_to_one")
        absent = merged[f"{s}_ok"].isna().to_numpy()
        for c in cols:
            out[c] = pd.to_numeric(merged[c], errors="coerce").astype(np.float64).to_numpy()
        out[f"{s}_ok"] = merged[f"{s}_ok"].astype("boolean").fillna(False).astype(bool).to_numpy()
        reason = merged[f"{s}_reason"].astype(object).to_numpy().copy()
        reason[absent] = "not_extracted"
        reason = np.where(out[f"{s}_ok"].to_numpy(), "", reason).astype(object)
        out[f"{s}_reason"] = pd.Series(reason, dtype=object).fillna("unknown").to_numpy()
        if s == "eda":
            hi_used = pd.to_numeric(merged["eda_band_hi_hz"], errors="coerce")
        ok_cols += [f"{s}_ok", f"{s}_reason"]
        qc_tables.append(qc.qc_table(s, out[f"{s}_ok"], out[f"{s}_reason"]))
        n_absent = int(absent.sum())
        if n_absent:
            log.warning("%s: %d segments are in no part (not_extracted)", s, n_absent)

    qc_tables.append(_band_note(hi_used, eda_settings, len(out)))
    out = out[["segment_id", *feature_columns(eda_settings), *ok_cols]]
    return out, pd.concat(qc_tables, ignore_index=True)


def _band_note(hi_used: pd.Series, eda_settings: Mapping, n_total: int) -> pd.DataFrame:
    configured = float(eda_settings.get("band", (0.05, 5.0))[1])
    rows = []
    for hi, count in sorted(hi_used.dropna().round(6).value_counts().items()):
        reason = f"band_hi={hi:g}Hz"
        if hi < configured - 1e-9:
            reason += f" clamped_from={configured:g}Hz (Nyquist)"
        rows.append({"modality": "eda", "status": "note", "reason": reason, "n_segments": int(count),
                     "fraction": count / n_total if n_total else 0.0})
        if hi < configured - 1e-9:
            log.warning("EDA band upper edge clamped from %g Hz to Nyquist %g Hz for %d segments",
                        configured, hi, count)
    return pd.DataFrame(rows, columns=qc.QC_COLUMNS)


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
        items.append(f"{bio_relpath(signal, participant)}: {row['n']} ({reasons})")
    return f"Most missing segments ({total} in all) come from: " + "; ".join(items)


def check_bio_missing(segments: pd.DataFrame, features: pd.DataFrame, max_missing: Mapping) -> None:
    """``qc.check_missing`` per signal; one QCError listing every signal over its limit."""
    errors = []
    for s in SIGNALS:
        try:
            qc.check_missing(s, features[f"{s}_ok"], float(max_missing[s]),
                             detail=missing_detail(segments, features, s))
        except QCError as exc:
            errors.append(str(exc))
    if errors:
        raise QCError(" | ".join(errors))
