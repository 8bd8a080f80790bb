"""Late fusion of per-modality class probabilities, one fit per model seed.

The modalities' prediction tables are joined on ``(seed, segment_id)`` -- never on row order -- and
must hold exactly the same ``(seed, segment_id, split)`` rows with the same true label.

Calibration (``fusion.calibrate``, any method): each modality's probabilities are first
temperature-scaled, ``p_T ∝ p ** (1 / T)``, with one temperature per modality and model seed that
minimises the log-loss on the **validation rows only** (``fit_temperature``). Small models trained on
a few hundred noisy labels are over-confident; scaling fixes that without changing any single model's
argmax, so every single-modality figure stays what the model scored.

Methods (``fusion.method`` in the config):

- ``mean``: the average of the modalities' probabilities (nothing is fitted).
- ``product``: log-linear pooling with a prior correction,
  ``p(y | x_1..x_k) ∝ prod_m p_m(y | x_m) / prior(y) ** (k - 1)``: the naive-Bayes combination, exact
  when the modalities are conditionally independent given the label and each model's probabilities
  are calibrated posteriors under the training prior. ``prior`` is the class frequency of the
  **training split** with add-one smoothing (the prior the models were trained under, read from the
  segments table); without a segments table, that of the validation rows (add-one smoothing).
- ``weighted``: a weighted average; the non-negative weights sum to 1 and are chosen on the
  **validation rows only** by an exhaustive search over the simplex in steps of ``WEIGHT_STEP``
  minimising the validation log-loss of the fused probabilities (log-loss rather than macro F1: it is
  smooth and stays informative on small validation sets; ties go to the point nearest equal weights).
- ``stacking``: a multinomial logistic regression over the concatenated log-probabilities of the
  modalities, trained on the **validation rows only** (probabilities of models that never saw those
  rows in training). Its inverse regularisation ``C`` is picked from ``STACKING_CS`` by seeded 3-fold
  cross-validation on the validation rows (held-out log-loss); ``C = 1`` when there are too few
  validation rows to cross-validate.

The test rows never enter a fit. A setting with a single modality is that model's own output under
every method (temperature-scaled when calibrating, which keeps its argmax).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from itertools import combinations
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np
import pandas as pd

from . import metrics as mt
from .constants import CLASS_INDEX, EMOTIONS, PROB_COLUMNS, SETTINGS
from .errors import DataError
from .predictions import PREDICTION_COLUMNS, PREDICTION_SPLITS, validate_predictions

log = logging.getLogger(__name__)

METHODS = ("mean", "product", "weighted", "stacking")
KEY = ["seed", "segment_id"]
WEIGHT_STEP = 0.05
STACKING_CS = (0.1, 1.0, 10.0)
STACKING_FOLDS = 3
EPS = 1e-6
TEMPERATURE_BOUNDS = (0.05, 20.0)
_N_EXAMPLES = 3


# --------------------------------------------------------------------------------------------- input
def _source(sources: Mapping[str, str] | None, modality: str) -> str:
    if sources and modality in sources:
        return str(sources[modality])
    return f"{modality} predictions"


def align(
    tables: Mapping[str, pd.DataFrame], sources: Mapping[str, str] | None = None
) -> tuple[pd.DataFrame, dict[str, np.ndarray]]:
    """Join the modalities on (seed, segment_id).

    Returns the key frame (seed, segment_id, split, emotion; sorted by seed, split val-then-test and
    segment_id, so the input row order never matters) and, per modality, its probabilities as an
    array [n_rows, 7] in the key frame's row order.
    """
    if not tables:
        raise ValueError("fusion needs at least one modality")
    mods = list(tables)
    frames = {}
    for m in mods:
        df = tables[m]
        if df.empty:
            raise DataError(_source(sources, m), "no prediction rows")
        validate_predictions(df, _source(sources, m))
        df = df[PREDICTION_COLUMNS].copy()
        df["seed"] = df["seed"].astype(np.int64)
        df["segment_id"] = df["segment_id"].astype(str)
        df["split"] = df["split"].astype(str)
        df["emotion"] = df["emotion"].astype(str)
        frames[m] = df.set_index(KEY)

    ref = mods[0]
    ref_keys = set(zip(frames[ref].index.get_level_values(0), frames[ref].index.get_level_values(1),
                       frames[ref]["split"]))
    for m in mods[1:]:
        keys = set(zip(frames[m].index.get_level_values(0), frames[m].index.get_level_values(1),
                       frames[m]["split"]))
        if keys != ref_keys:
            only_ref = sorted(ref_keys - keys)
            only_m = sorted(keys - ref_keys)
            raise DataError(
                f"{_source(sources, ref)}, {_source(sources, m)}",
                f"modalities {ref} and {m} disagree on their (seed, segment_id, split) rows: "
                f"{len(only_ref)} only in {ref} (e.g. {only_ref[:_N_EXAMPLES]}), "
                f"{len(only_m)} only in {m} (e.g. {only_m[:_N_EXAMPLES]})",
            )
        other = frames[m]["emotion"].reindex(frames[ref].index)
        differ = other != frames[ref]["emotion"]
        if differ.any():
            ex = [
                f"seed {s} {seg}: {ref}={frames[ref].loc[(s, seg), 'emotion']}, {m}={other.loc[(s, seg)]}"
                for s, seg in frames[ref].index[differ.to_numpy()][:_N_EXAMPLES]
            ]
            raise DataError(
                f"{_source(sources, ref)}, {_source(sources, m)}",
                f"modalities {ref} and {m} disagree on the true label of {int(differ.sum())} segments "
                f"(e.g. {'; '.join(ex)})",
            )

    keys = frames[ref][["split", "emotion"]].reset_index()
    keys["_split_order"] = keys["split"].map({s: i for i, s in enumerate(PREDICTION_SPLITS)})  # val, then test
    keys = keys.sort_values(["seed", "_split_order", "segment_id"], kind="mergesort")
    keys = keys.drop(columns="_split_order").reset_index(drop=True)
    index = pd.MultiIndex.from_frame(keys[KEY])
    probs = {m: frames[m][PROB_COLUMNS].reindex(index).to_numpy(dtype=float) for m in mods}
    return keys, probs


# --------------------------------------------------------------------------------------------- fits
def simplex_grid(n: int, step: float = WEIGHT_STEP) -> np.ndarray:
    """All weight vectors of length ``n`` with entries in multiples of ``step`` that sum to 1."""
    k = int(round(1 / step))
    if n == 1:
        return np.ones((1, 1))
    rows = [[i] + rest for i in range(k + 1) for rest in _compositions(k - i, n - 1)]
    return np.asarray(rows, dtype=float) / k


def _compositions(total: int, parts: int) -> list[list[int]]:
    if parts == 1:
        return [[total]]
    return [[i] + rest for i in range(total + 1) for rest in _compositions(total - i, parts - 1)]


def fit_weights(val_probs: Sequence[np.ndarray], y_val: np.ndarray, step: float = WEIGHT_STEP) -> np.ndarray:
    """Simplex weights minimising the validation log-loss of the weighted mean of probabilities.

    ``val_probs``: one [n_val, 7] array per modality; ``y_val``: class indices [n_val].
    Ties go to the weight vector closest to equal weights.
    """
    n_mod = len(val_probs)
    grid = simplex_grid(n_mod, step)
    if n_mod == 1:
        return grid[0]
    y_val = np.asarray(y_val, dtype=np.int64)
    if y_val.size == 0:
        raise ValueError("no validation rows to fit fusion weights on")
    rows = np.arange(y_val.size)
    p_true = np.stack([p[rows, y_val] for p in val_probs], axis=1)  # [n_val, n_mod]
    loss = -np.log(np.clip(p_true @ grid.T, EPS, None)).mean(axis=0)  # [n_grid]
    best = np.flatnonzero(loss <= loss.min() + 1e-12)
    dist = np.abs(grid[best] - 1.0 / n_mod).sum(axis=1)
    return grid[best[int(np.argmin(dist))]]


def stack_features(probs: Sequence[np.ndarray]) -> np.ndarray:
    """Concatenated log-probabilities (clipped at ``EPS``) of the modalities."""
    return np.concatenate([np.log(np.clip(p, EPS, 1.0)) for p in probs], axis=1)


def _full_proba(model, x: np.ndarray, n_classes: int) -> np.ndarray:
    """predict_proba mapped onto all classes (a class unseen in training gets probability 0)."""
    out = np.zeros((x.shape[0], n_classes))
    out[:, model.classes_] = model.predict_proba(x)
    return out


def _logreg(c: float, random_state: int):
    from sklearn.linear_model import LogisticRegression

    return LogisticRegression(C=c, max_iter=2000, random_state=random_state)


def fit_stacker(val_probs: Sequence[np.ndarray], y_val: np.ndarray, random_state: int = 0):
    """Multinomial logistic regression on the validation rows; returns ``(model, C, cross_validated)``.

    ``C`` is chosen from ``STACKING_CS`` by 3-fold cross-validation on the validation rows (stratified
    when every class present has 3 rows, else plain shuffled folds), scored by held-out log-loss; with
    too few rows for that (a training fold with a single class) ``C = 1``.
    """
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=1):  # tiny problems: BLAS threads only add contention
        return _fit_stacker(val_probs, y_val, random_state)


def _fit_stacker(val_probs, y_val, random_state):
    from sklearn.model_selection import KFold, StratifiedKFold

    x = stack_features(val_probs)
    y = np.asarray(y_val, dtype=np.int64)
    counts = np.bincount(y, minlength=len(EMOTIONS))
    present = counts[counts > 0]
    if present.size < 2:
        raise ValueError("stacking needs at least two classes among the validation rows")
    c_best, cv = 1.0, False
    if y.size >= 2 * STACKING_FOLDS:
        if present.min() >= STACKING_FOLDS:
            folds = StratifiedKFold(n_splits=STACKING_FOLDS, shuffle=True, random_state=random_state)
        else:
            folds = KFold(n_splits=STACKING_FOLDS, shuffle=True, random_state=random_state)
        splits = list(folds.split(x, y))
        if all(np.unique(y[tr]).size >= 2 for tr, _te in splits):
            losses = []
            for c in STACKING_CS:
                fold_loss = []
                for tr, te in splits:
                    model = _logreg(c, random_state).fit(x[tr], y[tr])
                    p = _full_proba(model, x[te], len(EMOTIONS))[np.arange(te.size), y[te]]
                    fold_loss.append(-np.log(np.clip(p, EPS, None)).mean())
                losses.append(float(np.mean(fold_loss)))
            c_best, cv = STACKING_CS[int(np.argmin(losses))], True
    model = _logreg(c_best, random_state).fit(x, y)
    return model, c_best, cv


def log_probs(probs: np.ndarray) -> np.ndarray:
    """Natural log of probabilities clipped at ``EPS`` (rows renormalised afterwards by the callers)."""
    return np.log(np.clip(np.asarray(probs, dtype=float), EPS, 1.0))


def _log_softmax(z: np.ndarray) -> np.ndarray:
    z = z - z.max(axis=1, keepdims=True)
    return z - np.log(np.exp(z).sum(axis=1, keepdims=True))


def apply_temperature(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Probabilities raised to ``1 / temperature`` and renormalised (softmax of log p / T)."""
    return np.exp(_log_softmax(log_probs(probs) / float(temperature)))


def fit_temperature(probs: np.ndarray, y: np.ndarray, bounds: tuple[float, float] = TEMPERATURE_BOUNDS) -> float:
    """The temperature minimising the log-loss of ``apply_temperature(probs, T)`` against ``y``.

    A bounded scalar search over log T within ``bounds`` (deterministic). ``probs``: [n, 7] of the
    validation rows; ``y``: their class indices. T > 1 softens over-confident probabilities.
    """
    from scipy.optimize import minimize_scalar

    y = np.asarray(y, dtype=np.int64)
    if y.size == 0:
        raise ValueError("no validation rows to fit a temperature on")
    logp = log_probs(probs)
    rows = np.arange(y.size)

    def nll(log_t: float) -> float:
        return float(-_log_softmax(logp / np.exp(log_t))[rows, y].mean())

    lo, hi = np.log(bounds[0]), np.log(bounds[1])
    res = minimize_scalar(nll, bounds=(lo, hi), method="bounded", options={"xatol": 1e-5})
    best = float(res.x)
    if nll(0.0) <= nll(best):  # never worse than leaving the model as it is
        best = 0.0
    return float(np.exp(best))


def segments_prior(segments: pd.DataFrame, source="segments") -> np.ndarray:
    """The training split's class prior (add-one smoothing) from a segments table (emotion, split)."""
    missing = [c for c in ("emotion", "split") if c not in segments.columns]
    if missing:
        raise DataError(source, f"missing column(s) {', '.join(missing)}")
    train = segments.loc[segments["split"] == "train", "emotion"].astype(str)
    if train.empty:
        raise DataError(source, "no segment in the train split to take the class prior from")
    codes = train.map(CLASS_INDEX)
    if codes.isna().any():
        raise DataError(source, f"unknown emotion label(s) {sorted(set(train[codes.isna()]))[:5]}")
    return mt.class_prior(codes.to_numpy(dtype=np.int64))


def product_pool(probs: Sequence[np.ndarray], prior: np.ndarray) -> np.ndarray:
    """Log-linear pooling: softmax of ``sum_m log p_m - (k - 1) log prior`` ([n, 7] per modality)."""
    prior = np.asarray(prior, dtype=float)
    if prior.shape != (len(EMOTIONS),) or (prior <= 0).any():
        raise ValueError("the prior must hold 7 positive class probabilities")
    z = sum(log_probs(p) for p in probs) - (len(probs) - 1) * np.log(prior / prior.sum())
    return np.exp(_log_softmax(z))


def _seed_state(fusion_seed: int, model_seed: int) -> int:
    return int(np.random.SeedSequence([int(fusion_seed), int(model_seed)]).generate_state(1)[0])


# --------------------------------------------------------------------------------------------- fuse
class _SeedFit:
    """One model seed's rows: fits on its validation rows, fuses its validation and test rows."""

    def __init__(self, probs: dict[str, np.ndarray], y_val: np.ndarray, val_in_seed: np.ndarray, what: str,
                 model_seed: int):
        self.probs, self.y_val, self.val_in_seed = probs, y_val, val_in_seed
        self.what, self.model_seed = what, int(model_seed)

    def val_probs(self, m: str) -> np.ndarray:
        return self.probs[m][self.val_in_seed]

    def require_val(self, purpose: str) -> None:
        if not len(self.y_val):
            raise DataError(self.what, f"seed {self.model_seed}: no validation rows {purpose}")


def _fuse_seed(fit: _SeedFit, mods: list[str], method: str, calibrate: bool, prior, fusion_seed: int,
               info: dict) -> np.ndarray:
    """Fused probabilities of one seed's rows; ``info`` receives what was fitted."""
    if calibrate:
        fit.require_val("to fit calibration temperatures")
        temps = {m: fit_temperature(fit.val_probs(m), fit.y_val) for m in mods}
        fit.probs = {m: apply_temperature(fit.probs[m], temps[m]) for m in mods}
        info["temperatures"] = {m: float(t) for m, t in temps.items()}
    p = fit.probs
    if len(mods) == 1 or method == "mean":
        w = np.full(len(mods), 1.0 / len(mods))
        info["weights"] = dict(zip(mods, map(float, w)))
        return sum(wi * p[m] for wi, m in zip(w, mods))
    if method == "product":
        if prior is not None:
            pri, info["prior_source"] = np.asarray(prior, dtype=float), "training split"
        else:
            fit.require_val("to estimate the class prior")
            pri, info["prior_source"] = mt.class_prior(fit.y_val), "validation rows"
        info["prior"] = dict(zip(EMOTIONS, map(float, pri)))
        return product_pool([p[m] for m in mods], pri)
    if method == "weighted":
        fit.require_val("to fit weights")
        w = fit_weights([fit.val_probs(m) for m in mods], fit.y_val)
        info["weights"] = dict(zip(mods, map(float, w)))
        return sum(wi * p[m] for wi, m in zip(w, mods))
    fit.require_val("for stacking")
    try:
        model, c, cv = fit_stacker([fit.val_probs(m) for m in mods], fit.y_val,
                                   random_state=_seed_state(fusion_seed, fit.model_seed))
    except ValueError as exc:
        raise DataError(fit.what, f"seed {fit.model_seed}: {exc}") from None
    info.update({"C": float(c), "C_cross_validated": bool(cv), "val_classes": [EMOTIONS[i] for i in model.classes_]})
    return _full_proba(model, stack_features([p[m] for m in mods]), len(EMOTIONS))


def fuse_details(
    tables: Mapping[str, pd.DataFrame],
    method: str = "mean",
    seed: int = 0,
    *,
    sources: Mapping[str, str] | None = None,
    keep_val: bool = False,
    calibrate: bool = False,
    prior: np.ndarray | None = None,
) -> tuple[pd.DataFrame, list[dict]]:
    """Fuse the modalities' probabilities separately for every model seed.

    Returns the fused table (seed, segment_id, split, emotion, prob_*, pred; the test rows, plus the
    validation rows when ``keep_val``) and one dict per seed describing the fit (temperatures, weights,
    C, prior, rows). Fits use the validation rows only. ``seed`` seeds the stacker's cross-validation
    folds. ``calibrate``: temperature-scale each modality first (fitted on the validation rows).
    ``prior``: the training class prior for ``product`` (default: validation frequencies, add-one).
    """
    if method not in METHODS:
        raise ValueError(f"unknown fusion method {method!r}; expected one of {METHODS}")
    keys, probs = align(tables, sources)
    mods = list(tables)
    y = keys["emotion"].map(CLASS_INDEX).to_numpy(dtype=np.int64)
    is_val = (keys["split"] == "val").to_numpy()
    fused = np.zeros((len(keys), len(EMOTIONS)))
    fits = []
    for model_seed in sorted(keys["seed"].unique()):
        rows = (keys["seed"] == model_seed).to_numpy()
        val = rows & is_val
        info = {"seed": int(model_seed), "n_val": int(val.sum()), "n_test": int((rows & ~is_val).sum()),
                "weights": None, "C": None, "temperatures": None}
        fit = _SeedFit({m: probs[m][rows] for m in mods}, y[val], is_val[rows], _sources_str(sources, mods),
                       model_seed)
        fused[rows] = _fuse_seed(fit, mods, method, calibrate, prior, seed, info)
        log.info("seed %s: %s fusion of %s, %s", model_seed, method, "+".join(mods), info)
        fits.append(info)

    out = keys.copy()
    out[PROB_COLUMNS] = fused
    out["pred"] = np.asarray(EMOTIONS)[fused.argmax(axis=1)]
    if not keep_val:
        out = out[out["split"] == "test"].reset_index(drop=True)
    return out, fits


def fuse(tables: Mapping[str, pd.DataFrame], method: str = "mean", seed: int = 0, **kwargs) -> pd.DataFrame:
    """Fused predictions (see :func:`fuse_details`)."""
    return fuse_details(tables, method, seed, **kwargs)[0]


def _sources_str(sources, mods) -> str:
    return ", ".join(_source(sources, m) for m in mods)


# ------------------------------------------------------------------------------ one setting's metrics
def _per_seed_scores(fused: pd.DataFrame, test: pd.DataFrame, fits: list[dict]) -> tuple[dict, dict]:
    """Test metrics per model seed, and the majority-class baseline of each seed (from its val rows)."""
    per_seed, majority = {}, {}
    fit_by_seed = {f["seed"]: f for f in fits}
    for s, rows in test.groupby("seed", sort=True):
        scores = mt.evaluate(rows["emotion"], rows["pred"])
        scores["n_test"] = scores.pop("n")
        scores["fusion"] = fit_by_seed.get(int(s))
        per_seed[str(int(s))] = scores
        val = fused[(fused["seed"] == s) & (fused["split"] == "val")]
        if not val.empty:
            majority[str(int(s))] = mt.majority_baseline(val["emotion"], rows["emotion"])
    return per_seed, majority


def _majority_summary(majority: dict) -> dict | None:
    if not majority:
        return None
    first = next(iter(majority.values()))
    return {
        "label": first["label"],
        **{k: float(np.mean([m[k] for m in majority.values()])) for k in mt.SUMMARY_METRICS},
        "per_seed": majority,
    }


def setting_metrics(fused: pd.DataFrame, fits: list[dict], setting: str, method: str, modalities) -> dict:
    """Per-seed test metrics, their mean and std over seeds, summed confusion and the majority baseline.

    ``fused`` must hold the validation rows too (they define the majority baseline).
    """
    test = fused[fused["split"] == "test"]
    if test.empty:
        raise DataError(setting, "no test rows to evaluate")
    per_seed, majority = _per_seed_scores(fused, test, fits)
    summary = {k: mt.mean_std([v[k] for v in per_seed.values()]) for k in mt.SUMMARY_METRICS}
    cm = np.sum([np.asarray(v["confusion"]) for v in per_seed.values()], axis=0)
    per_class_f1 = {
        e: float(np.mean([v["per_class"][e]["f1"] for v in per_seed.values()])) for e in EMOTIONS
    }
    n_tests = sorted({v["n_test"] for v in per_seed.values()})
    if len(n_tests) > 1:
        log.warning("seeds have different numbers of test rows: %s", n_tests)
    label = SETTINGS[setting][0] if setting in SETTINGS else setting
    return {
        "setting": setting,
        "label": label,
        "method": method,
        "modalities": list(modalities),
        "labels": list(EMOTIONS),
        "seeds": [int(s) for s in per_seed],
        "n_seeds": len(per_seed),
        "n_test": int(test["segment_id"].nunique()),
        **{k: summary[k]["mean"] for k in mt.SUMMARY_METRICS},
        "summary": summary,
        "std_ddof": 1,
        "confusion": cm.tolist(),
        "confusion_note": "rows = true class, columns = predicted class, summed over seeds",
        "per_class_f1": per_class_f1,
        "majority": _majority_summary(majority),
        "per_seed": per_seed,
        "f1_macro_labels": "all 7 emotions, zero_division=0",
    }


def modality_sources(paths: Sequence[str], modalities: Sequence[str]) -> dict[str, str]:
    """Pair prediction tables with modalities by file name ({modality}.parquet), falling back to order."""
    paths = [str(p) for p in paths]
    if len(paths) != len(modalities):
        raise ValueError(f"{len(paths)} prediction tables for modalities {list(modalities)}")
    by_stem = {Path(p).stem: p for p in paths}
    if set(by_stem) == set(modalities):
        return {m: by_stem[m] for m in modalities}
    return dict(zip(modalities, paths))


@dataclass
class SettingResult:
    """One setting's fused predictions and its metrics record (``metrics.json``).

    For one fold, ``predictions`` holds its validation and test rows; pooled over the folds, every
    fold's test rows (each utterance once per model seed) and validation rows."""

    predictions: pd.DataFrame
    metrics: dict

    @property
    def title(self) -> str:
        """Caption of the setting's confusion matrix."""
        r = self.metrics
        folds = f", {r['n_folds']} folds pooled" if r.get("n_folds", 1) > 1 else ""
        return (
            f"{r['label']} ({r['method']} fusion{', calibrated' if r['calibrate'] else ''})\n"
            f"accuracy {r['accuracy']:.3f}, macro F1 {r['f1_macro']:.3f}"
            f" ({r['n_seeds']} seed{'s' if r['n_seeds'] != 1 else ''}{folds})"
        )


def _log_result(result: dict, what: str) -> None:
    log.info(
        "%s %s (%s): accuracy %.4f +- %.4f, macro F1 %.4f +- %.4f over %d seed(s), %d test segments",
        result["setting"], what, result["method"], result["accuracy"], result["summary"]["accuracy"]["std"],
        result["f1_macro"], result["summary"]["f1_macro"]["std"], result["n_seeds"], result["n_test"],
    )


AUTO = "auto"


CROSSFIT_FOLDS = 5


def _val_f1(fused: pd.DataFrame) -> float:
    """Macro F1 on the validation rows, mean over the model seeds (what ``auto`` compares)."""
    val = fused[fused["split"] == "val"]
    scores = [mt.f1_macro(rows["emotion"], rows["pred"]) for _, rows in val.groupby("seed", sort=True)]
    return float(np.mean(scores)) if scores else float("nan")


def dialogue_of(segment_ids: pd.Series) -> pd.Series:
    """The dialogue of each utterance: the first two fields of its id (``Sess01_script01_M001`` and
    KEMDy20's ``Sess01_script01_User002M_014`` both give ``Sess01_script01``)."""
    return segment_ids.astype(str).str.split("_", n=2).str[:2].str.join("_")


def crossfit_parts(tables: Mapping[str, pd.DataFrame], n_parts: int = CROSSFIT_FOLDS) -> list[set[str]]:
    """The validation dialogues dealt into at most ``n_parts`` parts (sorted, round robin): each part's
    rows are scored by a fit on the other parts. Fewer than two dialogues: no parts (``[]``)."""
    first = next(iter(tables.values()))
    dialogues = sorted(dialogue_of(first.loc[first["split"] == "val", "segment_id"]).unique())
    k = min(n_parts, len(dialogues))
    return [set(dialogues[i::k]) for i in range(k)] if k >= 2 else []


def candidate_names(modalities: Sequence[str]) -> list[str]:
    """The ``auto`` candidates of a setting, in tie-break order: every method on all the members; every
    method on each smaller group of two or more members (``<method>:<m1>+<m2>``, members in the setting's
    order), so a member that only adds noise can be left out; each member alone (``only:<modality>``)."""
    mods = list(modalities)
    if any(":" in m or "+" in m for m in mods):
        raise ValueError(f"modality names may not contain ':' or '+': {mods}")
    subsets = [c for k in range(len(mods) - 1, 1, -1) for c in combinations(mods, k)]
    return (list(METHODS) + [f"{meth}:{'+'.join(c)}" for c in subsets for meth in METHODS]
            + [f"only:{m}" for m in mods])


def _fuse_candidate(tables, name: str, seed: int, **kw) -> tuple[pd.DataFrame, list[dict]]:
    """A fusion method on all members; ``<method>:<m1>+<m2>``: that method on those members only;
    ``only:<modality>``: that member alone (its calibrated probabilities)."""
    if ":" not in name:
        return fuse_details(tables, name, seed, keep_val=True, **kw)
    method, members = name.split(":", 1)
    chosen = {m: tables[m] for m in members.split("+")}
    if method == "only":
        return fuse_details(chosen, "mean", seed, keep_val=True, **{**kw, "prior": None})
    return fuse_details(chosen, method, seed, keep_val=True, **kw)


def _held_out_part(tables, part: set[str]) -> dict[str, pd.DataFrame]:
    """The validation rows only, with the rows of the dialogues in ``part`` posing as test rows."""
    out = {}
    for m, t in tables.items():
        val = t[t["split"] == "val"].copy()
        val.loc[dialogue_of(val["segment_id"]).isin(part).to_numpy(), "split"] = "test"
        out[m] = val
    return out


def crossfit_predictions(tables, name: str, seed: int, parts: list[set[str]], **kw) -> pd.DataFrame | None:
    """A candidate's predictions for the validation rows, each part of the validation dialogues predicted
    by fits (temperatures, weights, stacker) on the other parts only (split ``val``). None when a fit is
    impossible on some part (e.g. a single class left), logged."""
    preds = []
    for part in parts:
        try:
            fused, _ = _fuse_candidate(_held_out_part(tables, part), name, seed, **kw)
        except DataError as exc:
            log.info("auto fusion: %s cannot be cross-fitted (%s); not a candidate", name, exc)
            return None
        preds.append(fused[fused["split"] == "test"].assign(split="val"))
    return pd.concat(preds, ignore_index=True)


def crossfit_val_f1(tables, name: str, seed: int, parts: list[set[str]], **kw) -> float:
    """Macro F1 of the cross-fitted validation predictions (mean over model seeds); NaN when impossible."""
    preds = crossfit_predictions(tables, name, seed, parts, **kw)
    return float("nan") if preds is None else _val_f1(preds)


def _select(tables, seed: int, **kw) -> tuple[str, dict[str, float], tuple[pd.DataFrame, list[dict]]]:
    """The best candidate, every candidate's score, and the winner fitted on all validation rows. Scores are
    cross-fitted when the validation rows hold two dialogues or more, so only the winner is fitted on all of
    them; otherwise every candidate is fitted once and scored in-sample."""
    names = candidate_names(tables)
    parts, runs = crossfit_parts(tables), {}
    if parts:
        scores = {name: crossfit_val_f1(tables, name, seed, parts, **kw) for name in names}
        how = f"cross-fitted over {len(parts)} parts of the validation dialogues"
    else:
        runs = {name: _fuse_candidate(tables, name, seed, **kw) for name in names}
        scores = {name: _val_f1(fused) for name, (fused, _) in runs.items()}
        how = "in-sample (fewer than two validation dialogues to cross-fit)"
    ranked = {k: v for k, v in scores.items() if np.isfinite(v)}
    if not ranked:
        raise DataError(", ".join(tables), f"no fusion candidate could be scored ({how})")
    best = max(ranked, key=lambda k: (ranked[k], -names.index(k)))
    log.info("auto fusion, validation macro F1 %s: %s -> %s", how,
             ", ".join(f"{k}={v:.4f}" for k, v in scores.items()), best)
    return best, scores, runs[best] if runs else _fuse_candidate(tables, best, seed, **kw)


def choose_method(tables: Mapping[str, pd.DataFrame], seed: int, *, sources=None, calibrate: bool = False,
                  prior: np.ndarray | None = None) -> tuple[str, dict[str, float]]:
    """``fusion.method: auto``: the candidate with the best validation macro F1 (mean over seeds).

    Candidates (``candidate_names``): every fusion method on all the members, on each smaller group of two
    or more members, and every single member of the setting (``only:<modality>``), so a fused setting is
    never worse on validation than its best member or than fusing fewer of them (whether to fuse a
    modality at all is chosen too); ties go to the earlier candidate (all members first, then smaller
    groups, then single members; methods in ``METHODS`` order). The scores are **cross-fitted** (``crossfit_val_f1``):
    the validation dialogues are dealt into up to ``CROSSFIT_FOLDS`` parts and each part is predicted
    by fits (temperatures, weights, stacker) on the others, so a method with more fitted parameters is
    not favoured by judging it on the rows it was fitted on. The winner is then refitted on all the
    validation rows for the test rows. The choice never sees the test rows.
    """
    if len(tables) == 1:
        return METHODS[0], {}
    best, scores, _ = _select(tables, seed, sources=sources, calibrate=calibrate, prior=prior)
    return best, scores


def _finite_or_none(scores: dict | None) -> dict | None:
    return None if scores is None else {k: (float(v) if np.isfinite(v) else None) for k, v in scores.items()}


def run_setting(tables: Mapping[str, pd.DataFrame], sources: Mapping[str, str], setting: str, method: str,
                seed: int, fold: int, *, calibrate: bool = False, prior: np.ndarray | None = None) -> SettingResult:
    """Fuse one setting's modalities in one fold (``tables``: modality -> that fold's prediction rows,
    ``sources``: their names for messages), fitted on the fold's validation rows, and evaluate it on the
    fold's test rows. ``prior``: the fold's training class prior (``segments_prior``), used by ``product``."""
    for m, t in tables.items():
        log.info("%s, fold %d: %d rows, seeds %s, %s", sources[m], fold, len(t),
                 sorted(t["seed"].unique().tolist()), t["split"].value_counts().to_dict())
    if prior is not None:
        log.info("training prior: %s", ", ".join(f"{e}={p:.3f}" for e, p in zip(EMOTIONS, prior)))
    kw = {"sources": sources, "calibrate": calibrate, "prior": prior}
    if method == AUTO and len(tables) > 1:
        chosen, candidates, (fused, fits) = _select(tables, seed, **kw)
    else:
        chosen, candidates = (METHODS[0] if method == AUTO else method), ({} if method == AUTO else None)
        fused, fits = _fuse_candidate(tables, chosen, seed, **kw)
    fused.insert(1, "fold", np.int64(fold))
    result = setting_metrics(fused, fits, setting, method, list(tables))
    result.update({"calibrate": bool(calibrate), "fold": int(fold), "chosen": chosen,
                   "candidates_val_f1_macro": _finite_or_none(candidates)})
    _log_result(result, f"fold {fold}")
    return SettingResult(fused, result)


def pool_folds(folds: Sequence[SettingResult]) -> SettingResult:
    """The folds' predictions pooled: every utterance is tested once per seed, by the fold that held
    out its group. Metrics are computed on the pooled test rows (mean and std over seeds), beside
    each fold's own figures and their spread across folds (``fold_spread``: mean and sample std of the
    folds' seed-mean metrics)."""
    if not folds:
        raise ValueError("no folds to pool")
    first = folds[0].metrics
    pooled = pd.concat([f.predictions for f in folds], ignore_index=True)
    dup = pooled[pooled["split"] == "test"].duplicated(["seed", "segment_id"])
    if dup.any():
        raise DataError(first["setting"], f"{int(dup.sum())} utterance(s) tested in more than one fold")
    result = setting_metrics(pooled, [], first["setting"], first["method"], first["modalities"])
    per_fold = {
        str(f.metrics["fold"]): {
            **{k: f.metrics[k] for k in mt.SUMMARY_METRICS},
            "n_test": f.metrics["n_test"],
            "chosen": f.metrics.get("chosen"),
            "fits": [seed_scores["fusion"] for seed_scores in f.metrics["per_seed"].values()],
        }
        for f in folds
    }
    result.update({
        "calibrate": first["calibrate"],
        "n_folds": len(folds),
        "per_fold": per_fold,
        "fold_spread": {k: mt.mean_std([pf[k] for pf in per_fold.values()]) for k in mt.SUMMARY_METRICS},
    })
    _log_result(result, "pooled")
    return SettingResult(pooled, result)
