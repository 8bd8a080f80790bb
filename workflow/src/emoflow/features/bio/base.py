"""What every bio signal shares: the ``Recording`` of one raw file and the ``BioSignal`` interface.

A signal module (``ecg``, ``eda``, ``temp``, ``ibi``; see ``registry``) implements ``BioSignal`` at module level
and imports only this module (and ``emoflow.errors``), never the reading or gathering code.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Iterator, Mapping, Protocol, Sequence

import numpy as np
import pandas as pd


@dataclass
class Recording:
    """One participant's raw signal as arrays in file order."""

    path: str
    signal: str
    value: np.ndarray
    elapsed: np.ndarray
    clock: np.ndarray
    codes: np.ndarray  # int32 tag code per row, -1 untagged
    tags: pd.Index  # code -> Segment ID
    lines: np.ndarray | None  # 1-based line per row when blank lines were skipped, else None
    fs: float  # sampling rate used for the features (config override or inferred)
    counter_fs: float = 0.0  # rate implied by the elapsed counter (used to find contiguous stretches)
    clock_fs: float = float("nan")  # rows over the clock span of the continuous stretches (a check)

    def line(self, i: int) -> int:
        return int(self.lines[i]) if self.lines is not None else int(i) + 1

    @functools.cached_property
    def elapsed_step(self) -> np.ndarray:
        return np.diff(self.elapsed)

    @functools.cached_property
    def clock_step(self) -> np.ndarray:
        return np.diff(self.clock)

    def blocks(self) -> np.ndarray:
        """Contiguous stretches ``[[start, stop), ...]`` (see ``contiguous_blocks``). When the rate in use
        (configured) differs from the elapsed counter's by more than 5 %, the counter does not step once
        per sample (e.g. it is stamped per packet) and only resets and gaps split the stretches."""
        fs = self.counter_fs or self.fs
        if self.counter_fs and self.fs and abs(self.fs / self.counter_fs - 1) > 0.05:
            fs = None
        return contiguous_blocks(self.elapsed, self.clock, fs, steps=(self.elapsed_step, self.clock_step))


class BioSignal(Protocol):
    """The interface of a signal module (implemented by module-level names).

    ``spans`` (from ``align.align_segments``) has one row per segment with its file rows
    ``[start, stop)`` and ``reason`` ("" when aligned). Features are NaN wherever a reason is set.
    """

    #: Which of the first two raw fields holds the value and which the elapsed counter,
    #: e.g. ``("value", "elapsed")``.
    FIELDS: tuple[str, str]

    def feature_columns(self, settings: Mapping) -> list[str]:
        """The feature columns, in output order."""

    def extra_columns(self, rec: Recording | None, settings: Mapping) -> dict:
        """Per-file constant columns kept in the per-participant part (``rec`` None: no file)."""

    def compute(
        self, rec: Recording, spans: pd.DataFrame, settings: Mapping
    ) -> tuple[pd.DataFrame, np.ndarray]:
        """Features for every row of ``spans`` (``feature_columns`` order) and each row's reason."""

    def qc_notes(self, extra: pd.DataFrame, settings: Mapping, n_total: int) -> list[dict]:
        """``status == "note"`` QC rows from the gathered table of the signal: one row per segment with
        ``participant`` (``Sess01F``), the signal's feature columns, ``{signal}_ok`` and its
        ``extra_columns``."""


def no_extra_columns(rec: Recording | None, settings: Mapping) -> dict:
    """``extra_columns`` of a signal that keeps none."""
    return {}


def no_qc_notes(extra: pd.DataFrame, settings: Mapping, n_total: int) -> list[dict]:
    """``qc_notes`` of a signal that adds none."""
    return []


def contiguous_blocks(
    elapsed: np.ndarray, clock: np.ndarray, fs: float | None, max_gap_s: float = 1.0, steps=None
) -> np.ndarray:
    """Start/stop rows ``[[a, b), ...]`` of uninterrupted stretches: split where the elapsed counter does
    not advance by ~1/fs (reset, jump, repeat) or the clock steps back or jumps by more than ``max_gap_s``.
    ``fs`` None (a counter that does not step once per sample): split only where the counter steps back
    or jumps by more than ``max_gap_s``, and at the clock's backward steps and gaps."""
    n = len(elapsed)
    if n == 0:
        return np.zeros((0, 2), dtype=np.int64)
    de, dc = (np.diff(elapsed), np.diff(clock)) if steps is None else steps
    if fs is None:
        brk = (de < 0) | (de > max_gap_s) | (dc < 0) | (dc > max_gap_s)
    else:
        dt = 1.0 / fs
        brk = (de < 0.5 * dt) | (de > 1.5 * dt) | (dc < 0) | (dc > max_gap_s)
    cuts = np.flatnonzero(brk) + 1
    starts = np.concatenate([[0], cuts])
    stops = np.concatenate([cuts, [n]])
    return np.stack([starts, stops], axis=1)


def segment_matrices(
    start: np.ndarray, stop: np.ndarray, arrays: Sequence[np.ndarray], max_cells: int = 2_000_000
) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, list[np.ndarray]]]:
    """Yield ``(rows, mask, lengths, mats)`` for the row ranges ``[start, stop)`` padded into 2-D arrays,
    one matrix per array in ``arrays``.

    ``rows`` indexes into ``start``/``stop``; segments are grouped by length so that no chunk holds more
    than ``max_cells`` cells (one very long segment cannot blow up memory). Padded cells are 0 and
    ``mask`` is False there.
    """
    start = np.asarray(start, dtype=np.int64)
    lengths = np.asarray(stop, dtype=np.int64) - start
    order = np.argsort(lengths, kind="stable")
    i = 0
    while i < order.size:
        j = i + 1
        while j < order.size and (j + 1 - i) * lengths[order[j]] <= max_cells:
            j += 1
        rows = order[i:j]
        ln = lengths[rows]
        width = max(int(ln.max()), 1)
        cols = np.arange(width)
        mask = cols[None, :] < ln[:, None]
        idx = np.where(mask, start[rows][:, None] + cols[None, :], 0)
        yield rows, mask, ln, [np.where(mask, a[idx], 0.0) for a in arrays]
        i = j
