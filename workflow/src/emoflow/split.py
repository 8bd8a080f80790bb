"""Train/validation/test split of the segment index.

Schemes:

``random``
    utterance-level, stratified by emotion (the paper's 80/20). The same speaker, and the same
    dialogue, then appear in train and test, so the test score is optimistic: this is why the default
    scheme is ``session``.
``session``
    whole sessions are held out (speaker-independent: each session has its own two actors).
``speaker``
    whole speakers (session + gender) are held out; the partner of a test speaker may be in train.

``test_fraction`` is a fraction of the groups (sessions, speakers) or, for ``random``, of each
emotion's utterances. ``val_fraction`` is a fraction of what is left after the test part, carved with
the same grouping. Group schemes take ``n_test = max(1, round(test_fraction * n_groups))`` and, when
``val_fraction > 0`` and there are at least 3 groups, at least one validation group; at least one
group always stays in train. Rounding is half-up. The result depends only on the segments (ids,
groups, emotions) and the seed, not on row order.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import pandas as pd

from .constants import EMOTIONS, SPLITS
from .errors import QCError

log = logging.getLogger(__name__)

SCHEMES = ("random", "session", "speaker")


class LeakError(QCError):
    """A session or speaker appears in more than one split."""


def _half_up(x: float) -> int:
    return int(math.floor(x + 0.5))


def group_keys(segments: pd.DataFrame, scheme: str) -> pd.Series | None:
    """The group each segment belongs to under ``scheme`` (None for ``random``)."""
    if scheme == "random":
        return None
    if scheme == "session":
        return segments["session"].astype(str)
    if scheme == "speaker":
        return segments["session"].astype(str) + "_" + segments["speaker"].astype(str)
    raise ValueError(f"split scheme must be one of {SCHEMES}, not {scheme!r}")


def _check_fractions(test_fraction: float, val_fraction: float) -> None:
    for name, f in (("test_fraction", test_fraction), ("val_fraction", val_fraction)):
        if not 0 <= f < 1:
            raise ValueError(f"{name} must be in [0, 1), not {f}")


def _group_counts(n: int, test_fraction: float, val_fraction: float) -> tuple[int, int]:
    if n < 2:
        raise ValueError(f"a grouped split needs at least 2 groups, found {n}")
    n_test = max(1, _half_up(test_fraction * n)) if test_fraction > 0 else 0
    n_test = min(n_test, n - 1)
    rest = n - n_test
    n_val = _half_up(val_fraction * rest)
    if val_fraction > 0 and n >= 3:
        n_val = max(1, n_val)
    n_val = min(n_val, rest - 1)
    return n_test, n_val


def assign_split(segments: pd.DataFrame, scheme: str, test_fraction: float, val_fraction: float,
                 seed: int) -> pd.Series:
    """A ``split`` Series ("train" | "val" | "test") aligned with ``segments.index``.

    Needs ``segment_id`` and ``emotion`` (random) or ``session``/``speaker`` (grouped schemes).
    Raises ValueError for an unknown scheme, fractions outside [0, 1) or fewer than 2 groups.
    """
    _check_fractions(test_fraction, val_fraction)
    rng = np.random.default_rng(seed)
    order = np.argsort(segments["segment_id"].to_numpy().astype(str), kind="stable")
    ordered = segments.iloc[order]
    labels = np.full(len(ordered), "train", dtype=object)
    keys = group_keys(ordered, scheme)

    if keys is None:
        emotions = ordered["emotion"].astype(str).to_numpy()
        classes = [e for e in EMOTIONS if e in set(emotions)] + sorted(set(emotions) - set(EMOTIONS))
        for cls in classes:
            idx = rng.permutation(np.flatnonzero(emotions == cls))
            n_test = _half_up(test_fraction * len(idx))
            n_val = _half_up(val_fraction * (len(idx) - n_test))
            labels[idx[:n_test]] = "test"
            labels[idx[n_test:n_test + n_val]] = "val"
    else:
        groups = np.array(sorted(keys.unique()), dtype=object)
        n_test, n_val = _group_counts(len(groups), test_fraction, val_fraction)
        perm = groups[rng.permutation(len(groups))]
        test, val = set(perm[:n_test]), set(perm[n_test:n_test + n_val])
        k = keys.to_numpy()
        labels[np.isin(k, list(test))] = "test"
        labels[np.isin(k, list(val))] = "val"
        if val_fraction > 0 and n_val == 0:
            log.warning("%s split: only %d groups, so no validation group could be held out",
                        scheme, len(groups))

    out = pd.Series(labels, index=ordered.index, name="split", dtype=object)
    return out.reindex(segments.index).astype(str)


def check_no_leak(segments: pd.DataFrame, scheme: str) -> None:
    """Raise LeakError when a session (``session``) or speaker (``speaker``) spans several splits.

    ``random`` has no group constraint (it leaks speakers by design); only the split values are
    checked. Unknown split values raise LeakError too.
    """
    bad_values = sorted(set(segments["split"].astype(str)) - set(SPLITS))
    if bad_values:
        raise LeakError(f"unknown split value(s) {bad_values}; expected {SPLITS}")
    keys = group_keys(segments, scheme)
    if keys is None:
        spk = group_keys(segments, "speaker")
        n_shared = int((segments.groupby(spk)["split"].nunique() > 1).sum())
        log.info("random split: %d of %d speakers have utterances in more than one split",
                 n_shared, spk.nunique())
        return
    spans = segments.groupby(keys)["split"].agg(lambda s: sorted(set(s)))
    leaks = spans[spans.map(len) > 1]
    if len(leaks):
        what = "session" if scheme == "session" else "speaker"
        shown = "; ".join(f"{k} in {', '.join(v)}" for k, v in leaks.head(5).items())
        more = f" (and {len(leaks) - 5} more)" if len(leaks) > 5 else ""
        raise LeakError(f"{scheme} split leaks: {len(leaks)} {what}(s) appear in more than one split: "
                        f"{shown}{more}")


def split_summary(segments: pd.DataFrame) -> dict:
    """Counts per split and per split x emotion, and which sessions/speakers each split holds."""
    counts = {s: int((segments["split"] == s).sum()) for s in SPLITS}
    per_emotion = {
        s: {e: int(((segments["split"] == s) & (segments["emotion"] == e)).sum()) for e in EMOTIONS}
        for s in SPLITS
    }
    speakers = group_keys(segments, "speaker")
    return {
        "counts": counts,
        "per_emotion": per_emotion,
        "sessions": {s: sorted(segments.loc[segments["split"] == s, "session"].unique().tolist())
                     for s in SPLITS},
        "speakers": {s: sorted(speakers[segments["split"] == s].unique().tolist()) for s in SPLITS},
    }
