"""The contract between the one training loop (``training.train``) and a modality's model.

An adapter is a module listed in ``registry.ADAPTERS``. It provides:

``NAME``
    the modality (``bio``, ``audio``, ``text``): wildcard, prediction tables, logs.
``read_inputs(paths) -> dict``
    reads the feature inputs its registry entry names (``registry.Encoder.inputs``; the rules map each
    name to a file or folder) (its I/O helper: feature tables, memory-mapped arrays, a backbone folder's path),
    with a ``DataError`` naming the file on failure.
``setup(segments, inputs, settings, seed) -> Setup``
    pure: checks the inputs against the segments, fits the preprocessing on training rows only and builds
    the model. Called after ``training.seed_everything``: weights are initialised here. A model whose
    parts learn at different rates (a pretrained encoder under a head) has a ``param_groups(lr)`` method
    returning the optimiser's parameter groups (``models.ssl.FineTuned``).
``save_checkpoint(model, config, model_path, config_path)`` / ``load_checkpoint(folder) -> (model, config)``
    the checkpoint format: weights as safetensors, never a pickle.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Mapping, Protocol, runtime_checkable

import numpy as np
import pandas as pd
from torch import nn

from ..errors import DataError
from .training import FitResult, Forward, Source, TrainSettings


@dataclass
class Setup:
    """A modality's data and model, ready for the training loop.

    ``usable``: bool per row of the segments table (unusable rows are neither trained on nor predicted
    by the model: they get the training prior); ``source(positions)`` builds a ``Source`` of those
    segment positions; ``config`` is the architecture record stored with the checkpoint and
    ``preprocessing`` what was fitted on the training rows (``preprocessing.json``). ``solve``, for a
    head without epochs (``models.linear``): ``solve(train_positions, validation_positions, device) ->
    training.FitResult`` replaces the epoch loop (fit on the training rows, select on the validation
    rows, leave the model holding the selected weights; ``FitResult.record`` joins the checkpoint config).
    """

    model: nn.Module
    usable: np.ndarray
    source: Callable[[np.ndarray], Source]
    forward: Forward
    config: dict
    preprocessing: dict
    augment: Callable | None = None
    solve: Callable[[np.ndarray, np.ndarray, Any], FitResult] | None = None


@runtime_checkable
class Adapter(Protocol):
    NAME: str

    def read_inputs(self, paths: Mapping[str, str]) -> dict[str, Any]: ...

    def setup(self, segments: pd.DataFrame, inputs: dict, settings: TrainSettings, seed: int) -> Setup: ...

    def save_checkpoint(self, model: nn.Module, config: dict, model_path, config_path) -> None: ...

    def load_checkpoint(self, folder) -> tuple[nn.Module, dict]: ...


def read_table(path, what: str) -> dict:
    """``{"table", "source"}`` of a parquet feature table; a ``DataError`` naming the file if unreadable."""
    try:
        table = pd.read_parquet(path)
    except Exception as exc:
        raise DataError(path, f"cannot read {what} ({exc})") from exc
    return {"table": table, "source": str(path)}


def read_indexed_array(table_path, array_path, what: str) -> dict:
    """``{"index", "array", "sources"}``: a parquet index table and the memory-mapped array its rows point
    into (``what`` names them in errors); a ``DataError`` naming the file if either cannot be read."""
    table = read_table(table_path, f"the {what} index")["table"]
    try:
        array = np.load(array_path, mmap_mode="r")
    except Exception as exc:
        raise DataError(array_path, f"cannot memory-map the {what} array ({exc})") from exc
    return {"index": table, "array": array, "sources": {"index": str(table_path), "array": str(array_path)}}


def rows_by_segment(seg: pd.DataFrame, table: pd.DataFrame, source, columns) -> pd.DataFrame:
    """``table``'s rows in the order of ``seg`` (merged on ``segment_id``), after checking that it has
    ``segment_id`` and ``columns`` and one row for every segment (rows of other segments are left out)."""
    missing = [c for c in dict.fromkeys(("segment_id", *columns)) if c not in table.columns]
    if missing:
        raise DataError(source, f"missing column(s) {', '.join(missing)}")
    table = table.assign(segment_id=table["segment_id"].astype(str))
    if table["segment_id"].duplicated().any():
        raise DataError(source, "duplicate segment_id")
    absent = ~seg["segment_id"].isin(table["segment_id"])
    if absent.any():
        raise DataError(source, f"{int(absent.sum())} segment(s) of the segments table have no row, "
                                f"e.g. {seg.loc[absent, 'segment_id'].iloc[0]!r}")
    return seg[["segment_id"]].merge(table, on="segment_id", how="left", validate="one_to_one")
