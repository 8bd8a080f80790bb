"""Bio-signal model: a fully connected network on the ECG/EDA/TEMP (KEMDy20: EDA/TEMP/IBI) features (paper
section 2.3.1).

Architecture: ``len(hidden) + 1`` fully connected layers (config ``bio.hidden``, default two hidden
layers -> three layers as in the paper), ReLU and dropout between them. The network outputs logits;
training uses cross-entropy on them and prediction applies the softmax (the paper's output layer).

Preprocessing, fitted on the TRAIN split only and saved in ``preprocessing.json``:

* feature columns: every numeric column named ``ecg_*``, ``eda_*``, ``temp_*`` or ``ibi_*`` (flags ``*_ok`` and
  ``*_reason`` excluded), in file order;
* one missing-indicator column per signal group, ``{signal}_missing`` = 1 where the features file's
  ``{signal}_ok`` flag is false (or, without the flag, where all of the group's features are NaN);
* NaN (and +-inf) feature values replaced by the training median (0 when the training split has no
  value at all);
* standardisation of every input column with the training mean and standard deviation (1 where the
  deviation is 0).
"""

from __future__ import annotations

import logging
import re

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..constants import BIO_SIGNALS, EMOTIONS
from ..errors import DataError
from . import checkpoint
from . import training as T
from .adapter import Setup

log = logging.getLogger(__name__)

NAME = "bio"
GROUPS = list(BIO_SIGNALS)  # ecg, eda, temp
FEATURE_PATTERN = re.compile(rf"^({'|'.join(GROUPS)})_(?!.*(_ok|_reason)$)")


class BioMLP(nn.Module):
    """Fully connected classifier: n_in -> hidden[0] -> ... -> hidden[-1] -> 7 logits."""

    def __init__(self, n_in: int, hidden=(64, 32), dropout: float = 0.1, n_classes: int = len(EMOTIONS)):
        super().__init__()
        layers: list[nn.Module] = []
        prev = n_in
        for h in hidden:
            layers += [nn.Linear(prev, int(h)), nn.ReLU(), nn.Dropout(dropout)]
            prev = int(h)
        layers.append(nn.Linear(prev, n_classes))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def feature_columns(df: pd.DataFrame) -> list[str]:
    """The numeric ``{signal}_*`` feature columns (``ecg_*``, ``eda_*``, ``temp_*``), in file order."""
    cols = []
    for c in df.columns:
        if not FEATURE_PATTERN.match(str(c)):
            continue
        if pd.api.types.is_bool_dtype(df[c]) or not pd.api.types.is_numeric_dtype(df[c]):
            continue
        cols.append(str(c))
    return cols


def _missing_indicators(df: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    out = {}
    for g in GROUPS:
        group_cols = [c for c in columns if c.startswith(g + "_")]
        if f"{g}_ok" in df.columns:
            ok = df[f"{g}_ok"].fillna(False).astype(bool)
        elif group_cols:
            ok = df[group_cols].notna().any(axis=1)
        else:
            continue
        out[f"{g}_missing"] = (~ok).astype(np.float64)
    return pd.DataFrame(out, index=df.index)


def fit_preprocessing(train: pd.DataFrame) -> dict:
    """Median imputation + missing indicators + standardisation, fitted on the training rows."""
    columns = feature_columns(train)
    if not columns:
        raise ValueError("no ecg_*/eda_*/temp_* feature columns")
    x = train[columns].astype(np.float64).replace([np.inf, -np.inf], np.nan)
    medians = x.median(axis=0, skipna=True)
    empty = [c for c in columns if np.isnan(medians[c])]
    if empty:
        log.warning("no training value for %s: imputed with 0", ", ".join(empty))
    medians = medians.fillna(0.0)
    ind = _missing_indicators(train, columns)
    full = pd.concat([x.fillna(medians), ind], axis=1)
    mean = full.mean(axis=0)
    std = full.std(axis=0, ddof=0).replace(0.0, 1.0).fillna(1.0)
    return {
        "feature_columns": columns,
        "indicator_columns": list(ind.columns),
        "input_columns": list(full.columns),
        "median": {c: float(medians[c]) for c in columns},
        "mean": {c: float(mean[c]) for c in full.columns},
        "std": {c: float(std[c]) for c in full.columns},
        "fitted_on": "train split",
    }


def apply_preprocessing(df: pd.DataFrame, prep: dict) -> np.ndarray:
    """float32 model inputs [n, len(input_columns)] for the rows of ``df``."""
    columns = prep["feature_columns"]
    missing = [c for c in columns if c not in df.columns]
    if missing:
        raise ValueError(f"feature column(s) {', '.join(missing)} missing")
    x = df[columns].astype(np.float64).replace([np.inf, -np.inf], np.nan)
    x = x.fillna(pd.Series(prep["median"]))
    ind = _missing_indicators(df, columns).reindex(columns=prep["indicator_columns"], fill_value=0.0)
    cols = prep["input_columns"]
    full = pd.concat([x, ind], axis=1)[cols].to_numpy(dtype=np.float64)
    mean = np.array([prep["mean"][c] for c in cols])
    std = np.array([prep["std"][c] for c in cols])
    return ((full - mean) / std).astype(np.float32)


def read_inputs(paths) -> dict:
    """The bio features table (one row per segment)."""
    path = paths["features"]
    try:
        feats = pd.read_parquet(path)
    except Exception as exc:
        raise DataError(path, f"cannot read bio features ({exc})") from exc
    return {"features": feats, "source": str(path)}


def _join_features(seg: pd.DataFrame, feats: pd.DataFrame, source) -> pd.DataFrame:
    if "segment_id" not in feats.columns:
        raise DataError(source, "missing column segment_id")
    feats = feats.copy()
    feats["segment_id"] = feats["segment_id"].astype(str)
    if feats["segment_id"].duplicated().any():
        raise DataError(source, "duplicate segment_id")
    if not feature_columns(feats):
        raise DataError(source, f"no numeric {'/'.join(g + '_*' for g in GROUPS)} feature column")
    absent = ~seg["segment_id"].isin(feats["segment_id"])
    if absent.any():
        raise DataError(source, f"{int(absent.sum())} segment(s) of the segments table have no row, "
                                f"e.g. {seg.loc[absent, 'segment_id'].iloc[0]!r}")
    drop = [c for c in feats.columns if c != "segment_id" and c in seg.columns]
    return seg.merge(feats.drop(columns=drop), on="segment_id", how="left", validate="one_to_one")


def _forward(model, inputs):
    return model(inputs[0])


def setup(seg: pd.DataFrame, inputs: dict, settings: T.TrainSettings, seed: int) -> Setup:
    """Preprocessing fitted on the training rows, inputs for every segment, the MLP."""
    hidden = [int(h) for h in settings.extra["hidden"]]
    dropout = float(settings.extra["dropout"])
    df = _join_features(seg, inputs["features"], inputs["source"])
    train_rows = df[df["split"] == "train"]
    T.assert_no_test(train_rows["split"], "bio preprocessing fit")
    prep = fit_preprocessing(train_rows)
    indicators = _missing_indicators(df, prep["feature_columns"])
    for g in GROUPS:
        if f"{g}_missing" in prep["indicator_columns"]:
            n = int((indicators[f"{g}_missing"] > 0).sum())
            log.info("%s: %d of %d segments missing (imputed, flagged)", g, n, len(df))
    x = torch.from_numpy(apply_preprocessing(df, prep))
    log.info("bio inputs: %d columns (%d features + %d missing indicators)", x.shape[1],
             len(prep["feature_columns"]), len(prep["indicator_columns"]))
    model = BioMLP(x.shape[1], hidden, dropout)
    arch = {"arch": "mlp", "n_features": int(x.shape[1]), "hidden": hidden, "dropout": dropout,
            "n_classes": len(EMOTIONS), "n_parameters": sum(p.numel() for p in model.parameters())}
    return Setup(model=model, usable=np.ones(len(seg), dtype=bool),
                 source=T.tensor_sources([x], seg["label"].to_numpy(), seg["split"].to_numpy()),
                 forward=_forward, config=arch, preprocessing=prep)


save_checkpoint = checkpoint.save


def load_checkpoint(folder) -> tuple[BioMLP, dict]:
    """Rebuild the trained model from ``config.json`` + ``model.safetensors``; returns (model, config)."""
    return checkpoint.load(folder, lambda c: BioMLP(c["n_features"], c["hidden"], c["dropout"], c["n_classes"]))


@torch.no_grad()
def predict(model: BioMLP, prep: dict, features: pd.DataFrame) -> np.ndarray:
    """Probabilities [n, 7] for the rows of a bio features table (``prep``: its preprocessing.json)."""
    x = torch.from_numpy(apply_preprocessing(features, prep))
    return T.softmax(model(x).numpy())
