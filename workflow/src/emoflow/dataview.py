"""What the models see, for the report: one participant's bio signals over one dialogue with the segment
boundaries the features use, and the per-class distributions of the main features.

Both read the workflow's own inputs and outputs (the raw bio files through the bio reader and its
alignment, the segment index, the gathered feature tables), so they show real copies and the synthetic
stand-in alike.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from .features.bio import registry
from .features.bio.align import align_segments
from .features.bio.base import Recording
from .features.bio.extract import read_participant, tag_check_timing, unit_parts

log = logging.getLogger(__name__)

#: How each raw signal is drawn: label with unit.
SIGNAL_LABELS = {"ecg": "ECG (raw units)", "eda": "EDA (µS)", "temp": "TEMP (°C)", "ibi": "heart rate from IBI (bpm)"}
#: Margin shown before the dialogue's first and after its last segment (seconds).
MARGIN_S = 5.0

#: The main features drawn per class: (column, label, transform). Columns that a run does not have are
#: skipped (other bio signals, another audio encoder).
MAIN_FEATURES = [
    ("duration_s", "utterance duration (s)", None),
    ("ecg_mean_nn", "heart rate from ECG (bpm)", lambda v: 60000.0 / v),
    ("ecg_rmssd", "RMSSD (ms)", None),
    ("ibi_mean", "heart rate from IBI (bpm)", lambda v: 60000.0 / v),  # ibi_mean is in ms
    ("eda_mean", "EDA level (µS)", None),
    ("eda_band_1", "EDA log band power, band 1 of bio.eda.n_bands", None),
    ("temp_slope", "TEMP slope (°C/s)", None),
    ("F0semitoneFrom27.5Hz_sma3nz_amean", "F0 mean (semitones, eGeMAPS)", None),
    ("loudness_sma3_amean", "loudness mean (eGeMAPS)", None),
]


@dataclass
class Trace:
    signal: str
    time_s: np.ndarray  # seconds from the window start
    value: np.ndarray
    label: str = ""  # axis label with unit


@dataclass
class DialogueView:
    participant: str  # the bio file key (Sess01F, or Sess01_script01_User002M)
    dialogue: str
    traces: list[Trace] = field(default_factory=list)
    # one row per own segment of the dialogue: segment_id, emotion, t0, t1 (seconds from the window start;
    # NaN where the signal's alignment excluded it), signal, method
    spans: pd.DataFrame = field(default_factory=pd.DataFrame)
    missing: dict[str, str] = field(default_factory=dict)  # signal -> why it is not drawn


def _first_file(segments: pd.DataFrame, units: Sequence[str], data_dir, signals: Sequence[str]):
    """The first bio file (in job order) that has segments and exists for at least one signal in use, its
    segments and the dialogue of its first one; without such a file, the first one with segments (its
    signals are then reported missing); None when no file has segments."""
    first = None
    dialogue = segments.set_index("segment_id")["dialogue"]
    for unit in units:
        for key, ids in unit_parts(segments, unit):
            if not ids:
                continue
            found = (key, ids, str(dialogue.loc[ids[0]]))
            if any((Path(data_dir) / registry.raw_relpath(s, key)).is_file() for s in signals):
                return found
            first = first or found
    return first


def _values(rec: Recording, signal: str) -> np.ndarray:
    if signal == "ibi":
        with np.errstate(divide="ignore"):
            return 60.0 / rec.value
    return rec.value


def dialogue_view(segments: pd.DataFrame, units: Sequence[str], data_dir, signals: Sequence[str],
                  settings: Mapping[str, Mapping], align: Mapping | None) -> DialogueView:
    """The first bio file's first dialogue: each signal's samples over the dialogue (from ``MARGIN_S``
    before its first own segment to after its last) and the rows each segment's features use."""
    first = _first_file(segments, units, data_dir, signals)
    if first is None:
        return DialogueView(", ".join(units), "", missing={s: "no segments in these bio files" for s in signals})
    key, ids, dialogue = first
    own = segments.set_index("segment_id").loc[ids]
    in_dialogue = own.index[own["dialogue"] == dialogue].tolist()
    view = DialogueView(key, dialogue)
    spans = []
    for signal in signals:
        path = Path(data_dir) / registry.raw_relpath(signal, key)
        rec = read_participant(path, signal, ids, dict(settings[signal]))
        if not isinstance(rec, Recording):
            view.missing[signal] = rec
            continue
        sp = align_segments(rec, ids, tag_check_timing(segments, key, rec), align)
        sp = sp.set_index("segment_id").loc[in_dialogue]
        ok = sp["reason"] == ""
        if not ok.any():
            view.missing[signal] = "no aligned segment in the dialogue"
            continue
        if np.isfinite(rec.fs) and rec.fs > 0:
            # the file rows from before the first to after the last segment: never rows of another stretch
            # whose clock happens to fall in the window (the clock can step back, see features.bio.align)
            pad = int(MARGIN_S * rec.fs)
            r0 = max(0, int(sp.loc[ok, "start"].min()) - pad)
            r1 = min(len(rec.clock), int(sp.loc[ok, "stop"].max()) + pad)
            rows = np.arange(r0, r1)
            lo = float(rec.clock[r0])
        else:  # irregular samples (IBI: one row per beat): by time
            lo = float(sp.loc[ok, "clock_lo"].min()) - MARGIN_S
            hi = float(sp.loc[ok, "clock_hi"].max()) + MARGIN_S
            rows = np.flatnonzero((rec.clock >= lo) & (rec.clock <= hi))
        view.traces.append(Trace(signal, rec.clock[rows] - lo, _values(rec, signal)[rows],
                                 SIGNAL_LABELS.get(signal, signal.upper())))
        spans.append(pd.DataFrame({
            "segment_id": sp.index, "emotion": own.loc[in_dialogue, "emotion"].to_numpy(),
            "t0": np.where(ok, sp["clock_lo"] - lo, np.nan), "t1": np.where(ok, sp["clock_hi"] - lo, np.nan),
            "signal": signal, "method": sp["method"].to_numpy(), "reason": sp["reason"].to_numpy()}))
    view.spans = pd.concat(spans, ignore_index=True) if spans else pd.DataFrame()
    return view


def feature_frame(segments: pd.DataFrame, tables: Sequence[pd.DataFrame]) -> tuple[pd.DataFrame, list]:
    """One row per segment: ``emotion`` and the ``MAIN_FEATURES`` found in ``tables`` (joined on
    segment_id, transformed); and the (column, label) pairs present."""
    frame = segments[["segment_id", "emotion"]].copy()
    frame["duration_s"] = (segments["end"] - segments["start"]).to_numpy()
    frame = frame.set_index("segment_id")
    for t in tables:
        t = t.set_index("segment_id")
        cols = [c for c, _, _ in MAIN_FEATURES if c in t.columns and c not in frame.columns]
        frame = frame.join(t[cols])
    present = []
    for col, label, fn in MAIN_FEATURES:
        if col in frame.columns:
            if fn is not None:
                with np.errstate(divide="ignore", invalid="ignore"):
                    frame[col] = fn(frame[col].astype(float))
            frame[col] = frame[col].replace([np.inf, -np.inf], np.nan)
            present.append((col, label))
    return frame.reset_index(), present
