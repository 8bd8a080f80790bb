"""Quality-control bookkeeping shared by the feature stages.

Each modality reports, per segment, whether its features are usable and, if not, a short reason
(``file_missing``, ``too_few_beats``, ``corrupt_wav`` ...). These helpers turn that into the QC tables
and stop the run when a modality loses more segments than the configured fraction allows.
"""

from __future__ import annotations

import logging

import pandas as pd

from .errors import QCError

log = logging.getLogger(__name__)

QC_COLUMNS = ["modality", "status", "reason", "n_segments", "fraction"]


def qc_table(modality: str, ok: pd.Series, reason: pd.Series) -> pd.DataFrame:
    """Counts of usable segments and of each reason for the unusable ones.

    ``ok`` is a boolean Series per segment; ``reason`` a string Series (ignored where ok).
    """
    ok = ok.astype(bool)
    n = int(len(ok))
    rows = [{"modality": modality, "status": "usable", "reason": "", "n_segments": int(ok.sum())}]
    bad = reason[~ok].fillna("unknown").astype(str)
    for r, count in sorted(bad.value_counts().items()):
        rows.append({"modality": modality, "status": "missing", "reason": r, "n_segments": int(count)})
    df = pd.DataFrame(rows, columns=QC_COLUMNS[:-1])
    df["fraction"] = df["n_segments"] / n if n else 0.0
    return df[QC_COLUMNS]


def check_missing(modality: str, ok: pd.Series, max_fraction: float, detail: str = "") -> None:
    """Raise QCError when the fraction of unusable segments exceeds ``max_fraction``."""
    n = len(ok)
    missing = int((~ok.astype(bool)).sum())
    frac = missing / n if n else 1.0
    log.info("%s: %d of %d segments usable (%.1f%% missing, limit %.1f%%)", modality, n - missing, n,
             100 * frac, 100 * max_fraction)
    if n == 0 or frac > max_fraction:
        raise QCError(
            f"{modality}: {missing} of {n} segments have no usable features ({100 * frac:.1f}% > "
            f"qc.max_missing_fraction.{modality} = {100 * max_fraction:.1f}%). {detail}".strip()
        )


def summarise(modality_tables: list[pd.DataFrame], excluded: pd.DataFrame) -> pd.DataFrame:
    """One table for the report: the index exclusions (modality ``index``, from the exclusions table
    with its ``reason`` column) and each modality's feature QC table (``QC_COLUMNS``)."""
    frames = []
    if len(excluded):
        counts = excluded["reason"].value_counts().sort_index()
        frames.append(pd.DataFrame({
            "modality": "index", "status": "excluded", "reason": counts.index,
            "n_segments": counts.values.astype(int), "fraction": float("nan"),
        }))
    frames.extend(modality_tables)
    table = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=QC_COLUMNS)
    return table[QC_COLUMNS]
