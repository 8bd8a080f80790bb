"""Train/validation/test split of the segment index.

Schemes:

``random``
    utterance-level, stratified by emotion (the paper's 80/20). The same speaker, and the same
    dialogue, then appear in train and test, so the test score is optimistic: this is why the default
    scheme is ``session``.
``session``
    whole sessions are held out (speaker-independent: each session has its own two actors).
``speaker``
    whole speakers are held out (KEMDy19: session + gender; KEMDy20: the user id, since a session may
    pair two speakers of one gender); the partner of a test speaker may be in train.

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
from .errors import DataError, QCError

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
        speaker = segments["speaker"].astype(str)
        if speaker.str.startswith("User").all():  # KEMDy20: user ids name speakers across sessions
            return speaker
        return segments["session"].astype(str) + "_" + speaker  # KEMDy19: the gender letter within a session
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


# --------------------------------------------------------------------------------------------------
# Folds: cross-validation over groups
# --------------------------------------------------------------------------------------------------
FOLD_COLUMNS = ["segment_id", "fold", "split"]


def assign_folds(segments: pd.DataFrame, split: dict) -> pd.DataFrame:
    """Fold membership of every segment: a long table (segment_id, fold, split), one row per segment
    and fold, ``split`` in train | val | test. Every segment is in the test part of exactly one fold.

    ``split`` is the config section. ``session`` and ``speaker`` schemes: the groups (sorted, then
    shuffled with ``seed``) are dealt into ``folds`` folds in turn (fold = position mod folds); fold k's
    test part is its groups, its validation part the first ``val_groups`` of the remaining groups in the
    shuffled order after fold k's, and the rest trains. ``folds`` equal to the number of groups is
    leave-one-group-out; more folds than groups, or too few groups left to train, is an error.
    ``random`` is the paper's single stratified split (``test_fraction``, ``val_fraction``) and needs
    ``folds: 1``. The leak check runs per fold.
    """
    scheme, k, seed = split["scheme"], int(split["folds"]), int(split["seed"])
    if scheme == "random":
        if k != 1:
            raise ValueError(f"split.scheme random is one stratified split: set split.folds to 1, not {k}")
        labels = assign_split(segments, scheme, split["test_fraction"], split["val_fraction"], seed)
        out = pd.DataFrame({"segment_id": segments["segment_id"].astype(str), "fold": 0, "split": labels})
        check_no_leak(segments.assign(split=labels), scheme)
        return out[FOLD_COLUMNS].reset_index(drop=True)
    keys = group_keys(segments, scheme)
    groups = np.array(sorted(keys.unique()), dtype=object)
    n_val = int(split["val_groups"])
    if k < 1 or k > len(groups):
        raise ValueError(f"split.folds = {k} but the {scheme} scheme has only {len(groups)} groups "
                         f"({', '.join(map(str, groups[:8]))}{'...' if len(groups) > 8 else ''})")
    perm = groups[np.random.default_rng(seed).permutation(len(groups))]
    fold_of = {g: i % k for i, g in enumerate(perm)}
    frames = []
    for fold in range(k):
        test = [g for g in perm if fold_of[g] == fold]
        rest = [g for g in _after(perm, fold_of, fold) if fold_of[g] != fold]
        val = set(rest[:n_val])
        if len(rest) - len(val) < 1:
            raise ValueError(f"fold {fold}: {len(test)} test and {len(val)} validation {scheme} group(s) "
                             f"leave none of the {len(groups)} to train (fewer split.folds or split.val_groups)")
        labels = np.where(keys.isin(test), "test", np.where(keys.isin(val), "val", "train"))
        view = segments.assign(split=labels)
        check_no_leak(view, scheme)
        frames.append(pd.DataFrame({"segment_id": segments["segment_id"].astype(str).to_numpy(), "fold": fold,
                                    "split": labels}))
    return pd.concat(frames, ignore_index=True)[FOLD_COLUMNS]


def _after(perm: np.ndarray, fold_of: dict, fold: int) -> list:
    """The groups in shuffled order, starting after the last group of ``fold`` (wrapping around)."""
    last = max(i for i, g in enumerate(perm) if fold_of[g] == fold)
    return list(perm[last + 1:]) + list(perm[: last + 1])


def fold_tested(folds: pd.DataFrame) -> pd.Series:
    """segment_id -> the fold whose test part holds it."""
    test = folds[folds["split"] == "test"]
    return pd.Series(test["fold"].to_numpy(), index=test["segment_id"].to_numpy(), name="fold")


def fold_view(segments: pd.DataFrame, folds: pd.DataFrame, fold: int, source="folds") -> pd.DataFrame:
    """The segments with the ``split`` column of one fold (what training, tokenizers and fusion see)."""
    part = folds.loc[folds["fold"] == int(fold), ["segment_id", "split"]]
    if part.empty:
        raise DataError(source, f"no fold {fold} (folds: {sorted(folds['fold'].unique().tolist())})")
    view = segments.drop(columns=[c for c in ("split",) if c in segments.columns])
    view = view.merge(part, on="segment_id", how="left", validate="one_to_one")
    if view["split"].isna().any():
        missing = view.loc[view["split"].isna(), "segment_id"].iloc[0]
        raise DataError(source, f"segment {missing!r} has no split in fold {fold}")
    return view
