"""Audio model on openSMILE functionals (``audio.encoder: egemaps``): a linear head on standardised features.

Input: the gathered openSMILE table (``features.egemaps``: eGeMAPSv02's 88 functionals, or
ComParE_2016's, of every whole utterance, keyed by segment_id). Segments whose clip is unusable (``ok``
false) are left out of the fit and get the training prior as their prediction, as for the CNN.

Preprocessing, fitted on the fold's training rows (usable ones): every feature standardised with the
training mean and standard deviation (scale 1 where the deviation is 0). Mean and scale are buffers of
the model (``model.safetensors``: ``mean``, ``scale``, ``linear.weight``, ``linear.bias``); the feature
names, in column order, are in ``config.json`` (``features``). The head and its choice of C on the
validation rows: ``models.linear`` (config ``audio.egemaps.C``; ``audio.class_weights`` applies; the
epoch keys of the ``audio`` section do not).
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import torch

from ..constants import EMOTIONS
from ..errors import DataError
from ..features.egemaps import META_COLUMNS, feature_columns
from . import checkpoint, linear
from . import training as T
from .adapter import Setup, read_table, rows_by_segment

log = logging.getLogger(__name__)

NAME = "audio"


def read_inputs(paths) -> dict:
    """The gathered openSMILE table."""
    return read_table(paths["egemaps"], "openSMILE features")


def _features(seg: pd.DataFrame, table: pd.DataFrame, source) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(features float64 [segments, n] with 0 in unusable rows, usable flag, feature names), checked."""
    names = feature_columns(table)
    if not names:
        raise DataError(source, "no feature column")
    non_numeric = [c for c in names if not pd.api.types.is_numeric_dtype(table[c])]
    if non_numeric:
        raise DataError(source, f"non-numeric feature column(s), e.g. {non_numeric[0]!r}")
    m = rows_by_segment(seg, table, source, META_COLUMNS)
    ok = m["ok"].fillna(False).astype(bool).to_numpy()
    x = np.array(m[names].to_numpy(dtype=np.float64), copy=True)  # writable (copy-on-write frames give views)
    bad = ok & ~np.isfinite(x).all(axis=1)
    if bad.any():
        raise DataError(source, f"{int(bad.sum())} usable row(s) with NaN or infinite features, e.g. "
                                f"{m.loc[bad, 'segment_id'].iloc[0]!r}")
    x[~ok] = 0.0
    for reason, count in m.loc[~ok, "reason"].fillna("unknown").value_counts().items():
        log.info("audio unusable (%s): %d segment(s)", reason, count)
    return x, ok, names


def _forward(model, inputs):
    return model(inputs[0])


def setup(seg: pd.DataFrame, inputs: dict, settings: T.TrainSettings, seed: int) -> Setup:
    """Standardisation fitted on the usable training rows, the linear head and its C grid solver."""
    opts = settings.extra["egemaps"]
    x, ok, names = _features(seg, inputs["table"], inputs["source"])
    split = seg["split"].to_numpy()
    fit_rows = (split == "train") & ok
    T.assert_no_test(split[fit_rows], "openSMILE standardisation fit")
    if not fit_rows.any():
        raise DataError(inputs["source"], "no usable training row")
    mean = x[fit_rows].mean(axis=0)
    std = x[fit_rows].std(axis=0)
    scale = np.where(std > 0, std, 1.0)
    model = linear.StandardisedLinear(len(names))
    linear.set_buffer(model, "mean", mean)
    linear.set_buffer(model, "scale", scale)
    source = T.tensor_sources([torch.from_numpy(x)], seg["label"].to_numpy(), split)
    solve = linear.grid_solver(model, lambda pos: (x[pos] - mean) / scale, source, _forward, opts["C"],
                               settings.class_weights)
    log.info("openSMILE %s: %d functionals, standardised on %d training rows", opts["feature_set"], len(names),
             int(fit_rows.sum()))
    config = {"arch": "linear", "encoder": "egemaps", "feature_set": opts["feature_set"], "n_features": len(names),
              "n_classes": len(EMOTIONS), "features": names}
    preprocessing = {
        "input": f"openSMILE {opts['feature_set']} functionals of the whole utterance (features.egemaps)",
        "standardise": "(x - mean) / scale with the mean and standard deviation of the usable training rows "
                       "(scale 1 where the deviation is 0); model.safetensors holds mean and scale",
        "fitted_on": "train split",
        "n_fit_rows": int(fit_rows.sum()),
        "unusable": "left out of training; predicted as the training prior",
    }
    return Setup(model=model, usable=ok, source=source, forward=_forward, config=config, preprocessing=preprocessing,
                 solve=solve)


save_checkpoint = checkpoint.save


def load_checkpoint(folder) -> tuple[linear.StandardisedLinear, dict]:
    """Rebuild the head from ``config.json`` + ``model.safetensors``; returns (model, config)."""
    return checkpoint.load(folder, lambda c: linear.StandardisedLinear(c["n_features"], c["n_classes"]))


@torch.no_grad()
def predict(model: linear.StandardisedLinear, config: dict, table: pd.DataFrame) -> np.ndarray:
    """Probabilities [n, 7] for the rows of an openSMILE table (its ``config['features']`` columns)."""
    missing = [c for c in config["features"] if c not in table.columns]
    if missing:
        raise ValueError(f"feature column(s) {', '.join(missing[:3])} missing")
    x = torch.from_numpy(np.array(table[config["features"]].to_numpy(dtype=np.float64), copy=True))
    return T.softmax(model(x).float().numpy())  # float32 logits, as training.predict_logits keeps them
