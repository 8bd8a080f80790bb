"""How sure Table 1 is: bootstrap confidence intervals and paired comparisons between settings.

Resampling unit: the **dialogue** (all utterances of one session's script or improvisation, both
speakers). Utterances of one dialogue share speakers, topic and recording conditions, so they are not
independent; resampling them one by one would understate the uncertainty. Sessions are too few (a
handful in a test split) to resample. Each bootstrap replicate draws as many dialogues as there are,
with replacement (``resample_counts``: how often each dialogue is drawn), and scores the utterances of
the drawn dialogues, a dialogue drawn twice counting twice.

A replicate's figure is the mean over the model seeds of the metric on the replicate's utterances (the
same statistic Table 1 reports), computed from per-dialogue confusion matrices, so thousands of
replicates cost a few matrix products. Intervals are percentile intervals of the replicates.

Paired comparisons use the same replicates for both settings (same utterances, same draws), so what the
two settings share cancels. The p-value is the two-sided bootstrap p-value of "no difference",
``2 * min(P(d* <= 0), P(d* >= 0))`` with add-one smoothing ((count + 1) / (B + 1)), and the Holm step-down
adjustment controls the family-wise error over all the rows compared.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np
import pandas as pd

from .constants import CLASS_INDEX, EMOTIONS
from .errors import DataError
from .metrics import SUMMARY_METRICS, summary_from_confusion

K = len(EMOTIONS)


def resample_counts(n_groups: int, n_boot: int, seed: int) -> np.ndarray:
    """[n_boot, n_groups]: how often each group is drawn in each replicate (each row sums to n_groups)."""
    if n_groups < 1 or n_boot < 1:
        raise ValueError("need at least one group and one replicate")
    rng = np.random.default_rng(seed)
    return rng.multinomial(n_groups, np.full(n_groups, 1.0 / n_groups), size=n_boot).astype(np.float64)


@dataclass
class Scored:
    """One setting's test predictions as per-seed, per-group confusion matrices [seeds, groups, k*k]."""

    groups: list[str]
    seeds: list[int]
    confusions: np.ndarray

    def replicate_scores(self, counts: np.ndarray) -> dict[str, np.ndarray]:
        """Each metric per replicate ([n_boot]), mean over seeds."""
        cm = np.einsum("bg,sgc->bsc", counts, self.confusions).reshape(len(counts), len(self.seeds), K, K)
        return {m: v.mean(axis=1) for m, v in summary_from_confusion(cm).items()}

    def observed(self) -> dict[str, float]:
        cm = self.confusions.sum(axis=1).reshape(len(self.seeds), K, K)
        return {m: float(v.mean()) for m, v in summary_from_confusion(cm).items()}


def dialogue_of(segments: pd.DataFrame) -> pd.Series:
    """segment_id -> its resampling group, the dialogue (``session/dialogue``: dialogue names recur across
    sessions)."""
    return pd.Series((segments["session"] + "/" + segments["dialogue"]).to_numpy(), index=segments["segment_id"])


def score_groups(predictions: pd.DataFrame, group_of: pd.Series, source="predictions") -> Scored:
    """Per-seed, per-group confusion matrices of a fused prediction table (seed, segment_id, emotion,
    pred; test rows). ``group_of`` maps segment_id -> resampling group (the dialogue)."""
    missing = sorted(set(predictions["segment_id"]) - set(group_of.index))
    if missing:
        raise DataError(source, f"{len(missing)} segment(s) without a dialogue, e.g. {missing[:3]}")
    groups = sorted(set(group_of.loc[predictions["segment_id"].unique()]))
    g_index = {g: i for i, g in enumerate(groups)}
    seeds = sorted(int(s) for s in predictions["seed"].unique())
    confusions = np.zeros((len(seeds), len(groups), K * K))
    g = predictions["segment_id"].map(group_of).map(g_index).to_numpy()
    cell = predictions["emotion"].map(CLASS_INDEX).to_numpy() * K + predictions["pred"].map(CLASS_INDEX).to_numpy()
    for i, s in enumerate(seeds):
        rows = (predictions["seed"] == s).to_numpy()
        np.add.at(confusions[i], (g[rows], cell[rows]), 1.0)
    return Scored(groups, seeds, confusions)


def percentile_interval(values: np.ndarray, level: float) -> tuple[float, float]:
    lo, hi = np.quantile(values, [(1 - level) / 2, 1 - (1 - level) / 2])
    return float(lo), float(hi)


def bootstrap_p(differences: np.ndarray) -> float:
    """Two-sided bootstrap p-value of 'no difference' from the replicates' differences."""
    b = len(differences)
    below = (np.sum(differences <= 0) + 1) / (b + 1)
    above = (np.sum(differences >= 0) + 1) / (b + 1)
    return float(min(1.0, 2 * min(below, above)))


def holm(p_values: Sequence[float]) -> np.ndarray:
    """Holm step-down adjusted p-values (same order as given)."""
    p = np.asarray(p_values, dtype=float)
    m = len(p)
    order = np.argsort(p, kind="stable")
    adjusted = np.empty(m)
    running = 0.0
    for rank, i in enumerate(order):
        running = max(running, min(1.0, (m - rank) * p[i]))
        adjusted[i] = running
    return adjusted


def replicates(scored: dict[str, Scored], counts: np.ndarray) -> dict[str, dict[str, np.ndarray]]:
    """Every setting's metrics on the same replicates (``counts``); the settings must share dialogues
    and seeds. Compute once, pass to ``intervals`` and ``compare``."""
    groups = {tuple(s.groups) for s in scored.values()}
    seeds = {tuple(s.seeds) for s in scored.values()}
    if len(groups) != 1 or len(seeds) != 1:
        raise DataError(", ".join(scored), "settings are scored on different dialogues or seeds")
    return {setting: s.replicate_scores(counts) for setting, s in scored.items()}


def intervals(scored: dict[str, Scored], counts: np.ndarray, level: float, reps: dict | None = None) -> pd.DataFrame:
    """One row per setting: each metric's observed value and its ``level`` interval."""
    reps = replicates(scored, counts) if reps is None else reps
    rows = []
    for setting, s in scored.items():
        obs = s.observed()
        row = {"setting": setting}
        for m in SUMMARY_METRICS:
            row[m] = obs[m]
            row[f"{m}_ci_low"], row[f"{m}_ci_high"] = percentile_interval(reps[setting][m], level)
        rows.append(row)
    return pd.DataFrame(rows)


COMPARISON_COLUMNS = ["setting_a", "setting_b", "metric", "difference", "ci_low", "ci_high", "p_value", "p_holm"]


def compare(scored: dict[str, Scored], pairs: Sequence[tuple[str, str]], metrics: Sequence[str],
            counts: np.ndarray, level: float, reps: dict | None = None) -> pd.DataFrame:
    """Paired differences a - b on the same replicates, with intervals, p-values and Holm's adjustment."""
    reps = replicates(scored, counts) if reps is None else reps
    obs = {s: scored[s].observed() for s in {x for pair in pairs for x in pair}}
    rows = []
    for a, b in pairs:
        for m in metrics:
            d = reps[a][m] - reps[b][m]
            lo, hi = percentile_interval(d, level)
            rows.append({"setting_a": a, "setting_b": b, "metric": m, "difference": obs[a][m] - obs[b][m],
                         "ci_low": lo, "ci_high": hi, "p_value": bootstrap_p(d)})
    table = pd.DataFrame(rows, columns=COMPARISON_COLUMNS[:-1])
    table["p_holm"] = holm(table["p_value"].to_numpy()) if len(table) else []
    return table[COMPARISON_COLUMNS]
