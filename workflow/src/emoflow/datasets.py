"""The datasets the workflow reads: KEMDy19 and KEMDy20. Layout detection and per-dataset defaults.

Import-light (the Snakefile imports it at parse time): the standard library only.

Layouts (``data_dir`` is the dataset root):

``kemdy19``
    ``annotation/SessionSS_{F|M}_res.csv`` (a file pair per session), ``wav/SessionSS/SessSS_{dialogue}/``,
    one bio file per participant and signal ``{ECG,EDA,TEMP}/SessionSS/Original/SessSS{F|M}.csv``.
``kemdy20``
    ``annotation/SessSS_eval.csv`` (one file per session), flat ``wav/SessionSS/``, one bio file per user,
    script and signal ``{EDA,TEMP,IBI}/SessionSS/SessSS_scriptNN_UserNNN{M|F}.csv``; no ECG.

Config keys whose default is ``null`` take the dataset's value (``DEFAULTS``); ``resolve`` fills them in
and returns what it chose, which the workflow logs and writes to ``results/dataset.json``.
"""

from __future__ import annotations

import glob
import os
import re

DATASETS = ("kemdy19", "kemdy20")
NAMES = {"kemdy19": "KEMDy19", "kemdy20": "KEMDy20"}

#: The bio signals each dataset has (names of ``constants.BIO_SIGNALS``), in column order.
SIGNALS = {"kemdy19": ["ecg", "eda", "temp"], "kemdy20": ["eda", "temp", "ibi"]}

#: The synthetic stand-in of each layout (``synthetic.layout``), relative to the working directory.
SYNTH_ROOTS = {"kemdy19": "resources/synthetic/KEMDy19", "kemdy20": "resources/synthetic/KEMDy20"}

MODEL_SECTIONS = ("audio", "text", "bio")

#: Per-dataset values of the config keys that are ``null`` by default (dotted paths).
#: KEMDy20: ~87% of the single-label rows are neutral, so ties are dropped (``first`` would pick happy,
#: the first label of its tie order) and IBI, tagged on only part of the segments, may be missing more often.
#: Training: KEMDy19 keeps the best epoch by validation loss without class weights. On KEMDy20's skew that
#: predicts neutral everywhere (validation macro F1 0.139 for every modality, the neutral-only score), so the
#: epoch is chosen by validation macro F1, and the audio loss is class-weighted: chosen on the validation macro
#: F1 of the synthetic KEMDy20 stand-in (size small, 3 session folds; mean over folds, loss / f1 / f1 + class
#: weights / loss + class weights): audio 0.139 / 0.139 / 0.170 / 0.088, text 0.139 / 0.151 / 0.147 / 0.093,
#: bio 0.139 / 0.139 / 0.133 / 0.120. Worth re-checking on a real copy.
DEFAULTS = {
    "kemdy19": {
        "bio.signals": ["ecg", "eda", "temp"],
        "labels.tie_policy": "first",
        "qc.max_missing_fraction.ecg": 0.5,
        "qc.max_missing_fraction.eda": 0.5,
        "qc.max_missing_fraction.temp": 0.5,
        **{f"{m}.select": "loss" for m in MODEL_SECTIONS},
        **{f"{m}.class_weights": False for m in MODEL_SECTIONS},
    },
    "kemdy20": {
        "bio.signals": ["eda", "temp", "ibi"],
        "labels.tie_policy": "drop",
        "qc.max_missing_fraction.eda": 0.5,
        "qc.max_missing_fraction.temp": 0.5,
        "qc.max_missing_fraction.ibi": 0.8,
        **{f"{m}.select": "f1" for m in MODEL_SECTIONS},
        "audio.class_weights": True,
        "text.class_weights": False,
        "bio.class_weights": False,
    },
}


class DatasetError(ValueError):
    """``data_dir`` is not in a known layout, or the configuration does not fit the dataset."""


# ---------------------------------------------------------------------------------------------------
# Layout


def _kemdy19_sessions(data_dir: str) -> list[str]:
    found = set()
    for path in glob.glob(os.path.join(data_dir, "annotation", "Session*_[FM]_res.csv")):
        m = re.fullmatch(r"(Session\d+)_[FM]_res\.csv", os.path.basename(path))
        if m:
            found.add(m.group(1))
    return sorted(found)


def _kemdy20_sessions(data_dir: str) -> list[str]:
    found = set()
    for path in glob.glob(os.path.join(data_dir, "annotation", "Sess*_eval.csv")):
        m = re.fullmatch(r"Sess(\d+)_eval\.csv", os.path.basename(path))
        if m:
            found.add(f"Session{m.group(1)}")
    return sorted(found)


_SESSIONS = {"kemdy19": _kemdy19_sessions, "kemdy20": _kemdy20_sessions}
_PATTERNS = {"kemdy19": "SessionSS_F_res.csv / SessionSS_M_res.csv", "kemdy20": "SessSS_eval.csv"}


def detect(data_dir: str) -> str:
    """The dataset whose layout ``data_dir`` has, from its annotation file names; DatasetError when
    neither (or both) match."""
    if not os.path.isdir(data_dir):
        raise DatasetError(f"data_dir '{data_dir}' does not exist. Point it at a KEMDy19 or KEMDy20 copy "
                           "(--config data_dir=/path/to/KEMDy20) or leave it unset to use the synthetic data.")
    found = [d for d in DATASETS if _SESSIONS[d](data_dir)]
    if len(found) == 1:
        return found[0]
    if not found:
        expected = "; ".join(f"{NAMES[d]}: {_PATTERNS[d]}" for d in DATASETS)
        raise DatasetError(f"data_dir '{data_dir}' is in neither known layout: no annotation files found "
                           f"(expected in annotation/: {expected}). Check the path, or set `dataset` explicitly.")
    raise DatasetError(f"data_dir '{data_dir}' holds annotation files of both layouts ({_PATTERNS['kemdy19']} "
                       f"and {_PATTERNS['kemdy20']}); keep one dataset per folder, or set `dataset` explicitly.")


def sessions(data_dir: str, dataset: str) -> list[str]:
    """The sessions (``Session01`` ...) of a real copy; DatasetError when it has none in that layout."""
    found = _SESSIONS[dataset](data_dir)
    if not found:
        raise DatasetError(f"data_dir '{data_dir}' is not in the {NAMES[dataset]} layout: annotation/: no "
                           f"{_PATTERNS[dataset]} files found (dataset: {dataset})")
    return found


def annotation_relpaths(dataset: str, session_names: list[str]) -> list[str]:
    """The annotation files of the sessions, relative to ``data_dir``."""
    if dataset == "kemdy19":
        return sorted(f"annotation/{s}_{g}_res.csv" for s in session_names for g in ("F", "M"))
    return sorted(f"annotation/Sess{s[len('Session'):]}_eval.csv" for s in session_names)


def bio_units(dataset: str, session_names: list[str]) -> list[str]:
    """The units of the bio feature jobs: one KEMDy19 participant file (``Sess01F``) or one KEMDy20 session
    (``Sess01``: its per-user, per-script files)."""
    if dataset == "kemdy19":
        return [f"Sess{s[len('Session'):]}{g}" for s in session_names for g in ("F", "M")]
    return [f"Sess{s[len('Session'):]}" for s in session_names]


def unit_relpaths(folder: str, unit: str, data_dir: str | None = None) -> list[str]:
    """The raw files of one bio job (relative to ``data_dir``): a KEMDy19 participant's file, or the
    user-script files of a KEMDy20 session found in ``data_dir`` (none without ``data_dir``)."""
    session = f"Session{unit[len('Sess'):].rstrip('FM')}"
    if unit[-1] in "FM":
        return [f"{folder}/{session}/Original/{unit}.csv"]
    if data_dir is None:
        return []
    found = glob.glob(os.path.join(data_dir, folder, session, f"{unit}_script*_User*.csv"))
    return sorted(os.path.relpath(p, data_dir).replace(os.sep, "/") for p in found)


# ---------------------------------------------------------------------------------------------------
# Per-dataset defaults


def _get(config: dict, path: str):
    node = config
    for key in path.split("."):
        if not isinstance(node, dict) or key not in node:
            return None
        node = node[key]
    return node


def _set(config: dict, path: str, value) -> None:
    *parents, last = path.split(".")
    node = config
    for key in parents:
        node = node.setdefault(key, {})
    node[last] = value


def resolve(config: dict, dataset: str) -> dict:
    """Fill the config's ``null`` per-dataset keys with the dataset's values (in place) and check the
    bio signals against the dataset. Returns ``{dotted key: {"value": ..., "source": "dataset default" |
    "configured"}}`` for every per-dataset key. DatasetError for a signal the dataset does not have."""
    if dataset not in DATASETS:
        raise DatasetError(f"unknown dataset {dataset!r}; expected one of {', '.join(DATASETS)}")
    chosen = {}
    for path, value in DEFAULTS[dataset].items():
        current = _get(config, path)
        if current is None:
            _set(config, path, value)
            chosen[path] = {"value": value, "source": f"{NAMES[dataset]} default"}
        else:
            chosen[path] = {"value": current, "source": "configured"}
    signals = config["bio"]["signals"]
    absent = [s for s in signals if s not in SIGNALS[dataset]]
    if absent:
        raise DatasetError(f"bio.signals {signals} names {', '.join(absent)}, which {NAMES[dataset]} does not "
                           f"have (its signals: {', '.join(SIGNALS[dataset])})")
    config["bio"]["signals"] = [s for s in SIGNALS[dataset] if s in signals]
    return chosen


def describe(dataset: str, data_dir: str, synthetic: bool, resolved: dict) -> dict:
    """The record of a results folder's dataset (``results/dataset.json``): which dataset, where, and the
    values the per-dataset keys took (``resolve``)."""
    return {
        "dataset": dataset,
        "name": NAMES[dataset],
        "data_dir": data_dir,
        "synthetic": bool(synthetic),
        "signals": list(SIGNALS[dataset]),
        "resolved": {k: dict(v) for k, v in sorted(resolved.items())},
    }
