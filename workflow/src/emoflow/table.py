"""Table 1: one row per setting (the paper's order) with our test metrics, the paper's figures (KEMDy19
only), the published reference result of the dataset (``constants.REFERENCE_RESULTS``: the Audio+Text
row) and, on synthetic data, the Bayes-optimal (oracle) figures of the known cue model."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from .constants import EMOTIONS, PAPER_DATASET, PAPER_RESULTS, REFERENCE_RESULTS, SETTINGS
from .errors import DataError
from .metrics import SUMMARY_METRICS as METRICS

log = logging.getLogger(__name__)

DECIMALS = 4  # the CSV's fixed decimals: byte-identical reruns


def table_columns(with_oracle: bool) -> list[str]:
    cols = ["setting", *METRICS, "n_test", "paper_accuracy", "paper_f1", "reference_accuracy", "reference_f1_macro"]
    if with_oracle:
        cols += ["oracle_accuracy", "oracle_f1_macro", "oracle_expected_accuracy"]
    cols += [f"{m}_std" for m in METRICS] + ["n_seeds", "majority_accuracy"]
    return cols + [f"{m}_fold_std" for m in METRICS] + ["n_folds"]


def by_setting(documents: Sequence[tuple[str, dict]]) -> tuple[dict[str, dict], dict[str, str]]:
    """Metrics of each setting (``documents``: (metrics file, its content) pairs) and their files, keyed
    by setting id; a file must lie in its setting's folder (``.../{setting}/metrics.json``)."""
    out, sources = {}, {}
    for p, m in documents:
        setting = m.get("setting", Path(p).parent.name)
        if setting != Path(p).parent.name:
            raise DataError(p, f"holds setting '{setting}' but lies in the folder of '{Path(p).parent.name}'")
        if setting in out:
            raise DataError(p, f"setting '{setting}' given twice")
        out[setting] = m
        sources[setting] = str(p)
    return out, sources


def _summary(m: dict, key: str, source: str) -> tuple[float, float]:
    try:
        s = m["summary"][key]
        return float(s["mean"]), float(s["std"])
    except (KeyError, TypeError):
        raise DataError(source, f"metrics have no summary of '{key}'") from None


def build_table(
    metrics: Mapping[str, dict],
    oracle: dict | None = None,
    *,
    sources: Mapping[str, str] | None = None,
    oracle_source: str = "oracle",
    dataset: str = PAPER_DATASET,
) -> pd.DataFrame:
    """Table 1 as a DataFrame, rows in ``SETTINGS`` order; oracle columns only when ``oracle`` is given.

    ``dataset`` chooses the published figures: the paper's columns are KEMDy19's (empty for another
    dataset), the reference columns the dataset's entry of ``REFERENCE_RESULTS`` (empty where it has none).
    ``sources`` (setting id -> metrics file) and ``oracle_source`` only name files in error messages.
    """
    sources = dict(sources or {})
    missing = [s for s in SETTINGS if s not in metrics]
    if missing:
        raise DataError(", ".join(sources.values()) or "fusion metrics",
                        f"no metrics for setting(s) {', '.join(missing)}")
    extra = sorted(set(metrics) - set(SETTINGS))
    if extra:
        raise DataError(", ".join(sources.get(s, s) for s in extra), f"unknown setting(s) {', '.join(extra)}")
    if oracle is not None and not isinstance(oracle.get("settings"), dict):
        raise DataError(oracle_source, "no 'settings' mapping")
    rows = []
    for sid, (label, _mods) in SETTINGS.items():
        m = metrics[sid]
        src = sources.get(sid, f"metrics of {sid}")
        row: dict = {"setting": label}
        stds = {}
        for k in METRICS:
            row[k], stds[f"{k}_std"] = _summary(m, k, src)
        row["n_test"] = int(m["n_test"])
        paper = PAPER_RESULTS[sid] if dataset == PAPER_DATASET else (np.nan, np.nan)
        row["paper_accuracy"], row["paper_f1"] = map(float, paper)
        reference = REFERENCE_RESULTS.get(dataset, {}).get(sid, (np.nan, np.nan))
        row["reference_accuracy"], row["reference_f1_macro"] = map(float, reference)
        if oracle is not None:
            o = oracle["settings"].get(sid)
            if o is None or "accuracy" not in o or "f1_macro" not in o:
                raise DataError(oracle_source, f"no accuracy/f1_macro for setting '{sid}'")
            row["oracle_accuracy"] = float(o["accuracy"])
            row["oracle_f1_macro"] = float(o["f1_macro"])
            row["oracle_expected_accuracy"] = float(o.get("expected_accuracy", np.nan))
        row.update(stds)
        row["n_seeds"] = int(m.get("n_seeds", len(m.get("per_seed", {})) or 1))
        maj = m.get("majority")
        row["majority_accuracy"] = float(maj["accuracy"]) if maj else np.nan
        spread = m.get("fold_spread", {})
        for k in METRICS:
            row[f"{k}_fold_std"] = float(spread[k]["std"]) if k in spread else np.nan
        row["n_folds"] = int(m.get("n_folds", 1))
        rows.append(row)
    table = pd.DataFrame(rows, columns=table_columns(oracle is not None))
    return table.astype({"n_test": "int64", "n_seeds": "int64", "n_folds": "int64"})


def per_class_f1(metrics: Mapping[str, dict]) -> tuple[dict[str, list[float]], dict[str, list[float]]]:
    """Mean and std (over seeds, ddof=1; 0 for one seed) of each class's F1, keyed by setting label."""
    means, stds = {}, {}
    for sid, (label, _mods) in SETTINGS.items():
        m = metrics[sid]
        seeds = list(m.get("per_seed", {}).values())
        if seeds:
            vals = np.array([[s["per_class"][e]["f1"] for e in EMOTIONS] for s in seeds], dtype=float)
            means[label] = vals.mean(axis=0).tolist()
            stds[label] = (vals.std(axis=0, ddof=1) if len(seeds) > 1 else np.zeros(len(EMOTIONS))).tolist()
        else:
            means[label] = [float(m["per_class_f1"][e]) for e in EMOTIONS]
            stds[label] = [0.0] * len(EMOTIONS)
    return means, stds


def per_class_f1_title(table: pd.DataFrame) -> str:
    n_seeds, n_folds = int(table["n_seeds"].max()), int(table["n_folds"].max())
    title = f"Per-class F1, {n_folds} folds pooled" if n_folds > 1 else "Per-class F1 on the test split"
    if n_seeds > 1:
        title += f" (mean \u00b1 std over {n_seeds} seeds)"
    return title


def with_intervals(table: pd.DataFrame, ci: pd.DataFrame) -> pd.DataFrame:
    """Table 1 with ``{metric}_ci_low`` / ``{metric}_ci_high`` columns appended (``ci``: one row per setting
    id, from ``uncertainty.intervals``); the existing columns stay as they are."""
    by_label = ci.assign(setting=ci["setting"].map(lambda s: SETTINGS[s][0])).set_index("setting")
    out = table.copy()
    for m in METRICS:
        for end in ("ci_low", "ci_high"):
            out[f"{m}_{end}"] = out["setting"].map(by_label[f"{m}_{end}"]).to_numpy(dtype=float)
    return out


def labelled(comparisons: pd.DataFrame) -> pd.DataFrame:
    """The comparison rows with setting labels (``Audio+Text``) instead of ids."""
    return comparisons.assign(setting_a=comparisons["setting_a"].map(lambda s: SETTINGS[s][0]),
                              setting_b=comparisons["setting_b"].map(lambda s: SETTINGS[s][0]))


REFERENCE_NOTE = ("wav2vec2-base + klue/bert-base, 5-fold session cross-validation (KEMDy20: ties dropped); "
                  "the Audio+Text row only")


def metadata(dataset_info: Mapping) -> dict:
    """Table 1's metadata (``results/table1.meta.json``): the dataset and data_dir of the results, the
    values its per-dataset config keys took, and where the published columns come from."""
    ds = dataset_info["dataset"]
    paper = "the paper's Table 1 (KEMDy19, random 80/20 split)" if ds == PAPER_DATASET else \
        f"empty: the paper reports {PAPER_DATASET} only"
    return {
        **dict(dataset_info),
        "paper_columns": paper,
        "reference_columns": {"source": REFERENCE_NOTE,
                              "values": {k: list(v) for k, v in REFERENCE_RESULTS.get(ds, {}).items()}},
    }
