"""Finding each segment's rows in a ``Recording``.

A segment's samples are found through its Segment ID tags. Its span is [clock of the first tagged row,
clock of the last tagged row] and it takes every row whose clock lies in that span (inclusive).

A backward step of the clock that is not a day rollover ("clock goes backwards") does NOT stop the run.
The rows on both sides of such a step are split into monotonic runs; a segment whose tagged rows straddle
a step, or whose clock span is also covered by another run (the same wall-clock times occur twice, so
the samples are ambiguous), is excluded with reason ``clock_backwards``. Every step is logged with the
file and line. Segments elsewhere in the file are aligned normally.

With the wav times of the session's segments (``timing``), every segment's tags are then checked against
its dialogue's clock offset and, where they disagree or are missing, the rows are taken by time instead
(``offset``): after an E4 dropout the tags, placed by counting samples, are shifted by the gap.
"""

from __future__ import annotations

import logging
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from .base import Recording
from .offset import realign

log = logging.getLogger(__name__)


def _unaligned(ids: np.ndarray) -> dict[str, np.ndarray]:
    """The span columns with every segment missing (``no_segment_tags``)."""
    n_seg = ids.size
    return {
        "segment_id": ids,
        "clock_lo": np.full(n_seg, np.nan),
        "clock_hi": np.full(n_seg, np.nan),
        "start": np.full(n_seg, -1, dtype=np.int64),
        "stop": np.full(n_seg, -1, dtype=np.int64),
        "reason": np.full(n_seg, "no_segment_tags", dtype=object),
    }


def _tag_extent(codes: np.ndarray, n_codes: int) -> tuple[np.ndarray, np.ndarray] | None:
    """First and last row tagged with each code (over all its runs); None when no row is tagged."""
    chg = np.flatnonzero(codes[1:] != codes[:-1]) + 1
    run_start = np.concatenate([[0], chg])
    run_stop = np.concatenate([chg, [codes.size]])
    run_code = codes[run_start]
    tagged_run = run_code >= 0
    if not tagged_run.any():
        return None
    first = np.full(n_codes, np.iinfo(np.int64).max, dtype=np.int64)
    last = np.full(n_codes, -1, dtype=np.int64)
    np.minimum.at(first, run_code[tagged_run], run_start[tagged_run])
    np.maximum.at(last, run_code[tagged_run], run_stop[tagged_run] - 1)
    return first, last


def _log_backward_steps(rec: Recording, back: np.ndarray) -> None:
    clock = rec.clock
    for b in back[:10]:
        log.warning(
            "%s: line %d: clock goes backwards (%.3f s -> %.3f s); segments overlapping it are excluded",
            rec.path, rec.line(b), clock[b - 1], clock[b],
        )
    if back.size > 10:
        log.warning("%s: %d more backward clock steps", rec.path, back.size - 10)


def _rows_across_steps(clock: np.ndarray, back: np.ndarray, r0: np.ndarray, r1: np.ndarray,
                       lo: np.ndarray, hi: np.ndarray):
    """``(start, stop, reason)`` per segment when the clock steps back at the rows ``back``: rows are
    searched within the segment's monotonic run; ambiguous segments get ``clock_backwards``."""
    start = np.full(r0.size, -1, dtype=np.int64)
    stop = np.full(r0.size, -1, dtype=np.int64)
    reason = np.full(r0.size, "", dtype=object)
    bounds = np.concatenate([[0], back, [len(clock)]])
    run_of_row0 = np.searchsorted(back, r0, side="right")
    run_of_row1 = np.searchsorted(back, r1, side="right")
    run_lo = clock[bounds[:-1]]
    run_hi = clock[bounds[1:] - 1]
    for r in range(len(bounds) - 1):
        sel = np.flatnonzero(run_of_row0 == r)
        if sel.size == 0:
            continue
        a, b = bounds[r], bounds[r + 1]
        seg_lo, seg_hi = lo[sel], hi[sel]
        bad = run_of_row1[sel] != r
        others = np.arange(len(bounds) - 1) != r
        overlap = (seg_lo[:, None] <= run_hi[None, others]) & (seg_hi[:, None] >= run_lo[None, others])
        bad |= overlap.any(axis=1)
        start[sel] = a + np.searchsorted(clock[a:b], seg_lo, side="left")
        stop[sel] = a + np.searchsorted(clock[a:b], seg_hi, side="right")
        reason[sel[bad]] = "clock_backwards"
        start[sel[bad]] = -1
        stop[sel[bad]] = -1
    return start, stop, reason


def _rows_in_spans(rec: Recording, r0: np.ndarray, r1: np.ndarray):
    """``(lo, hi, start, stop, reason)``: the clock span of the tagged rows ``r0..r1`` of each segment
    and the rows ``[start, stop)`` whose clock lies in it."""
    clock = rec.clock
    lo, hi = clock[r0], clock[r1]
    back = np.flatnonzero(rec.clock_step < 0) + 1  # rows where the clock stepped back
    if back.size == 0:
        start = np.searchsorted(clock, lo, side="left").astype(np.int64)
        stop = np.searchsorted(clock, hi, side="right").astype(np.int64)
        return lo, hi, start, stop, np.full(r0.size, "", dtype=object)
    _log_backward_steps(rec, back)
    return (lo, hi, *_rows_across_steps(clock, back, r0, r1, lo, hi))


def tag_spans(rec: Recording, ids: np.ndarray) -> dict[str, np.ndarray]:
    """The tagged span of each segment of ``ids`` (columns as in ``align_segments``, without ``method``);
    logs only the backward clock steps."""
    res = _unaligned(ids)
    if ids.size == 0:
        return res
    extent = _tag_extent(rec.codes, len(rec.tags))
    if extent is None:
        return res
    seg_code = rec.tags.get_indexer(ids)
    has = seg_code >= 0
    if not has.any():
        return res
    sc = seg_code[has].astype(np.int64)
    first, last = extent
    for col, values in zip(("clock_lo", "clock_hi", "start", "stop", "reason"),
                           _rows_in_spans(rec, first[sc], last[sc])):
        res[col][has] = values
    return res


def _log_summary(rec: Recording, spans: pd.DataFrame) -> None:
    n_seg = len(spans)
    reason = spans["reason"].to_numpy().astype(str)
    if not (rec.codes >= 0).any():
        log.warning("%s: no row carries a Segment ID tag; all %d segments are missing", rec.path, n_seg)
    elif n_seg and (reason == "no_segment_tags").all():
        log.warning("%s: none of the participant's %d segments is tagged in the file", rec.path, n_seg)
    bad = reason != ""
    if bad.any():
        names, counts = np.unique(reason[bad], return_counts=True)
        log.info("%s: %d of %d segments not aligned (%s)", rec.path, int(bad.sum()), n_seg,
                 dict(zip(names.tolist(), counts.tolist())))


def align_segments(rec: Recording, segment_ids: Sequence[str], timing: pd.DataFrame | None = None,
                   settings: Mapping | None = None) -> pd.DataFrame:
    """Row ranges of each segment: ``DataFrame(segment_id, clock_lo, clock_hi, start, stop, reason, method)``.

    ``start``/``stop`` are file rows ``[start, stop)``; ``reason`` is "" when aligned, else
    ``no_segment_tags``, ``clock_backwards`` or ``tag_misaligned`` (start = stop = -1). ``method`` says how
    the rows were found: ``tags`` (the tagged span), ``realigned_by_offset`` or ``recovered_by_offset``
    (by time, see ``offset``), "" when not aligned.

    ``timing`` (segment_id, dialogue, start, end: the wav times of the session's segments, both speakers)
    turns on the check of the tags against each dialogue's clock offset (``offset.realign``, ``settings``
    = ``bio.align``); the other speaker's segments tagged in the file count for the offset. Without it
    the tags are taken as they are.
    """
    own = np.array(list(segment_ids), dtype=object)
    if timing is None:
        res = tag_spans(rec, own)
        res["method"] = np.where(res["reason"] == "", "tags", "").astype(object)
        spans = pd.DataFrame(res)
    else:
        others = timing["segment_id"].astype(str)
        others = others[~others.isin(set(own.tolist()))].to_numpy(dtype=object)
        ids = np.concatenate([own, others])
        is_own = np.arange(ids.size) < own.size
        spans = realign(rec, pd.DataFrame(tag_spans(rec, ids)), timing, is_own, settings)
        spans = spans.iloc[: own.size].reset_index(drop=True)
    _log_summary(rec, spans)
    return spans
