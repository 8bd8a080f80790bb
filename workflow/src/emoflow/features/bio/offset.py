"""Checking each segment's tags against its dialogue's clock offset; taking its rows by time instead.

The E4 files (EDA, TEMP) tag each utterance's rows with its Segment ID, but the tags are placed by
counting samples, not by time: across a mid-session dropout (clock and elapsed jump by 40-142 s) an
utterance's tagged run spans the gap, and every later segment of the dialogue is tagged onto rows shifted
by the gap. Some dialogues also lose their tags part-way while the signal goes on. Within one dialogue the
offset between the annotation's wav times and the bio clock is constant up to a fraction of a second, so:

1. Per tagged segment: ``d`` = clock of its first tagged row - wav start, ``e`` = clock of its last tagged
   row - wav end. Its tags are self-consistent when ``|d - e| <= tol`` (the tagged clock span matches the
   utterance's duration); its offset is then the centre ``(d + e) / 2``.
2. Per dialogue (all the file's tagged segments of it, both speakers), two readings of the tags: placed by
   time (each segment's offset is its centre offset) or placed by counting samples from the dialogue's
   first tagged row (the clock time missing between that row and the segment's first tagged row, i.e. the
   clock span minus the rows counted at the sampling rate, is subtracted: a dropout before the segment no
   longer shifts it). Under each reading the self-consistent offsets are grouped (sorted, a new group
   wherever two neighbours differ by more than ``tol``); the reading whose largest group is larger wins
   (ties: by time; within a reading, ties: the group that starts first). The dialogue's offset ``O`` is
   the median of that group; it is trustworthy when the group holds at least ``min_agree`` segments. So
   the segments before a dropout and the shifted ones after it agree on ``O`` (even when the shifted
   ones are the majority), while rows lost with their tags (tags by time) leave every offset alone.
3. Per segment of the participant: tags that agree (``|d - O| <= tol`` and ``|e - O| <= tol``) are kept
   (method ``tags``, the rows are those of ``align``). Tags that disagree: the rows whose clock lies in
   ``[wav start + O, wav end + O)`` (``realigned_by_offset``); rows inside a device gap are simply absent,
   so the count may fall below the signal's ``min_samples``. A segment without tags is taken by time
   (``recovered_by_offset``) when its window holds signal (a row at least one sample period inside its
   edges, so a stray row at an edge of a gap does not count); else it stays ``no_segment_tags``. In a
   dialogue without a trustworthy offset no tag can be checked: its tagged segments are excluded with
   reason ``tag_misaligned`` (and untagged ones stay ``no_segment_tags``).

``tol`` is ``bio.align.tolerance_s`` plus one sample period (the tags' own quantisation). Where the clock
steps back, a window that more than one monotonic run of the clock covers is ambiguous (``clock_backwards``).
Rows the check rejected are never used. Segments without wav times keep their tags unchecked.
"""

from __future__ import annotations

import logging
from typing import Mapping

import numpy as np
import pandas as pd

from .base import Recording

log = logging.getLogger(__name__)

#: ``bio.align`` defaults.
DEFAULTS = {"tolerance_s": 1.0, "min_agree": 3}
#: How a segment's rows were found ("" = not aligned).
METHODS = ("tags", "realigned_by_offset", "recovered_by_offset")
TIMING_COLUMNS = ["segment_id", "dialogue", "start", "end"]


def _best_group(o: np.ndarray, order: np.ndarray, tol: float) -> np.ndarray:
    """Indexes of the largest group of offsets ``o`` (neighbours within ``tol``); ties: the group whose
    first segment comes first."""
    idx = np.argsort(o, kind="stable")
    groups = np.split(idx, np.flatnonzero(np.diff(o[idx]) > tol) + 1)
    return max(groups, key=lambda g: (g.size, -order[g].min()))


def dialogue_offset(d: np.ndarray, e: np.ndarray, first: np.ndarray, missing: np.ndarray, tol: float,
                    min_agree: int) -> tuple[float | None, int, str]:
    """``(offset, support, model)`` of one dialogue from its tagged segments' start and end offsets ``d``,
    ``e``, wav starts ``first`` and the clock time ``missing`` from the dialogue's first tagged row to each
    segment's (see the module notes); ``(None, 0, "")`` when no offset is trustworthy."""
    consistent = np.isfinite(d) & np.isfinite(e) & (np.abs(d - e) <= tol)
    if int(consistent.sum()) < min_agree:
        return None, 0, ""
    m = ((d + e) / 2)[consistent]
    order = np.asarray(first, dtype=np.float64)[consistent]
    best = None
    for model, o in (("time", m), ("count", m - np.asarray(missing, dtype=np.float64)[consistent])):
        group = _best_group(o, order, tol)
        if best is None or group.size > best[1]:
            best = (float(np.median(o[group])), int(group.size), model)
    return best if best[1] >= min_agree else (None, 0, "")


def rows_in_windows(rec: Recording, lo: np.ndarray, hi: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(start, stop, ambiguous)``: the rows ``[start, stop)`` whose clock lies in ``[lo, hi)``, and
    whether the window is covered by more than one monotonic run of the clock (it steps back)."""
    clock = rec.clock
    lo, hi = np.asarray(lo, dtype=np.float64), np.asarray(hi, dtype=np.float64)
    back = np.flatnonzero(rec.clock_step < 0) + 1
    if back.size == 0:
        start = np.searchsorted(clock, lo, side="left").astype(np.int64)
        stop = np.searchsorted(clock, hi, side="left").astype(np.int64)
        return start, np.maximum(stop, start), np.zeros(lo.size, dtype=bool)
    bounds = np.concatenate([[0], back, [len(clock)]])
    run_lo, run_hi = clock[bounds[:-1]], clock[bounds[1:] - 1]
    over = (lo[:, None] <= run_hi[None, :]) & (hi[:, None] > run_lo[None, :])
    run = np.argmax(over, axis=1)
    start = np.zeros(lo.size, dtype=np.int64)
    stop = np.zeros(lo.size, dtype=np.int64)
    for i in np.flatnonzero(over.any(axis=1)):
        a, b = bounds[run[i]], bounds[run[i] + 1]
        start[i] = a + np.searchsorted(clock[a:b], lo[i], side="left")
        stop[i] = max(a + np.searchsorted(clock[a:b], hi[i], side="left"), start[i])
    return start, stop, over.sum(axis=1) > 1


def _timing_arrays(timing: pd.DataFrame, ids: pd.Series) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Dialogue, wav start and wav end of each id (None/NaN where ``timing`` lacks it)."""
    t = timing[TIMING_COLUMNS].drop_duplicates("segment_id").set_index("segment_id")
    t.index = t.index.astype(str)
    t = t.reindex(ids.astype(str))
    ws = pd.to_numeric(t["start"], errors="coerce").to_numpy(np.float64)
    we = pd.to_numeric(t["end"], errors="coerce").to_numpy(np.float64)
    dialogue = t["dialogue"].astype(object).where(np.isfinite(ws) & np.isfinite(we), None).to_numpy()
    return dialogue, ws, we


def _set_rows(res: dict, sel: np.ndarray, lo, hi, start, stop, method: str, ambiguous=None) -> None:
    res["clock_lo"][sel], res["clock_hi"][sel] = lo, hi
    res["start"][sel], res["stop"][sel] = start, stop
    res["reason"][sel], res["method"][sel] = "", method
    if ambiguous is not None and ambiguous.any():
        bad = np.flatnonzero(sel)[ambiguous]
        res["reason"][bad], res["method"][bad] = "clock_backwards", ""
        res["start"][bad], res["stop"][bad] = -1, -1


def _by_time(rec: Recording, res: dict, sel: np.ndarray, lo: np.ndarray, hi: np.ndarray, method: str) -> int:
    """Take the rows of the segments ``sel`` by time (``[lo, hi)``); for ``recovered_by_offset`` only those
    whose window holds signal. Returns how many were taken."""
    if method == "recovered_by_offset":
        p = 1.0 / rec.fs
        inner = hi - lo > 2 * p
        s_in, e_in, _ = rows_in_windows(rec, lo + p, np.where(inner, hi - p, lo + p))
        present = inner & (e_in > s_in)
        sel = np.flatnonzero(sel)[present]
        lo, hi = lo[present], hi[present]
    start, stop, ambiguous = rows_in_windows(rec, lo, hi)
    _set_rows(res, sel, lo, hi, start, stop, method, ambiguous)
    return int(np.size(lo))


def _log_dialogue(rec: Recording, dialogue: str, found: tuple, n_tagged: int, off_by: np.ndarray, ids: np.ndarray,
                  n_recovered: int) -> None:
    offset, support, model = found
    if not ids.size and not n_recovered:
        return
    how = "tags placed by counting samples across a dropout" if model == "count" else "tags agree"
    shown = ", ".join(f"{i} ({o:+.1f} s)" for i, o in zip(ids[:5], off_by[:5])) + (" ..." if ids.size > 5 else "")
    log.warning("%s: dialogue %s: clock offset %.3f s (%d of %d tagged segments: %s); %d re-aligned by "
                "time (tags off by: %s); %d recovered by time", rec.path, dialogue, offset, support, n_tagged, how,
                ids.size, shown or "-", n_recovered)


def _missing_time(rec: Recording, rows: np.ndarray) -> np.ndarray:
    """Clock time not covered by samples from the first of ``rows`` to each: the clock span minus the rows
    counted at the sampling rate (the dropouts in between; ~0 without one)."""
    if rows.size == 0:
        return np.zeros(0)
    r0 = int(rows.min())
    return (rec.clock[rows] - rec.clock[r0]) - (rows - r0) / rec.fs


def _realign_dialogue(rec: Recording, res: dict, in_d: np.ndarray, own: np.ndarray, timing: tuple,
                      cfg: tuple[float, int], name: str) -> None:
    """Check, re-align and recover the own segments of one dialogue (``in_d``) in place."""
    tol, min_agree = cfg
    ws, we = timing
    d, e = res["clock_lo"] - ws, res["clock_hi"] - we
    tagged = res["reason"] == ""
    sel = in_d & tagged
    offset, support, model = dialogue_offset(d[sel], e[sel], ws[sel], _missing_time(rec, res["start"][sel]),
                                             tol, min_agree)
    mine = in_d & own
    if offset is None:
        bad = mine & tagged
        if bad.any():
            log.warning("%s: dialogue %s: no trustworthy clock offset (%d tagged segments, fewer than %d agree); "
                        "%d segments excluded (tag_misaligned)", rec.path, name, int(sel.sum()), min_agree,
                        int(bad.sum()))
        res["reason"][bad], res["method"][bad] = "tag_misaligned", ""
        res["start"][bad], res["stop"][bad] = -1, -1
        return
    agree = (np.abs(d - offset) <= tol) & (np.abs(e - offset) <= tol)
    move = mine & tagged & ~agree
    off_by = ((d + e) / 2 - offset)[move]
    _by_time(rec, res, move, ws[move] + offset, we[move] + offset, "realigned_by_offset")
    lost = mine & (res["reason"] == "no_segment_tags")
    n_rec = _by_time(rec, res, lost, ws[lost] + offset, we[lost] + offset, "recovered_by_offset")
    _log_dialogue(rec, name, (offset, support, model), int(sel.sum()), off_by, res["segment_id"][move], n_rec)


def realign(rec: Recording, spans: pd.DataFrame, timing: pd.DataFrame, own: np.ndarray,
            settings: Mapping | None = None) -> pd.DataFrame:
    """``spans`` (``align.tag_spans`` of the session's segments) checked against each dialogue's clock offset,
    with a ``method`` column; only the rows ``own`` (the participant's segments) are changed.
    ``timing``: segment_id, dialogue, start, end (wav times); ``settings``: ``bio.align``."""
    cfg = {**DEFAULTS, **(settings or {})}
    tol = float(cfg["tolerance_s"]) + 1.0 / rec.fs
    min_agree = int(cfg["min_agree"])
    res = {c: spans[c].to_numpy().copy() for c in spans.columns}
    res["reason"] = res["reason"].astype(object)
    res["method"] = np.where(res["reason"] == "", "tags", "").astype(object)
    dialogue, ws, we = _timing_arrays(timing, spans["segment_id"])
    own = np.asarray(own, dtype=bool)
    for name in pd.unique(dialogue[own & (dialogue != None)]):  # noqa: E711 (element-wise)
        _realign_dialogue(rec, res, dialogue == name, own, (ws, we), (tol, min_agree), str(name))
    out = pd.DataFrame(res)
    counts = out.loc[own, "method"].value_counts()
    log.info("%s: %s", rec.path, ", ".join(f"{counts.get(m, 0)} segments {m.replace('_', ' ')}" if m != "tags"
                                            else f"{counts.get(m, 0)} aligned by tags" for m in METHODS))
    return out
