# Shared Python for all rule files (config validation, dataset discovery, path helpers).
import glob
import json
import os
import re
import sys
from pathlib import Path

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger
from snakemake.utils import validate

SRC_DIR = Path(workflow.basedir).joinpath("workflow", "src")
# Idle OpenMP threads sleep instead of spinning: with another job on the other core, spinning torch
# threads made training 3-14x slower (BENCHMARKS.md). Jobs inherit this; results are unchanged.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(SRC_DIR))

import yaml  # noqa: E402

from emoflow import codedeps  # noqa: E402
from emoflow.config import coerce_cli_strings  # noqa: E402
from emoflow.constants import BIO_SIGNALS, SETTINGS, SYNTH_SIZES, session_participants  # noqa: E402
from emoflow.features.bio import registry as bio_registry  # noqa: E402
from emoflow.models import registry  # noqa: E402
from emoflow.models.registry import MODALITIES  # noqa: E402

# nested --config values arrive as strings; parse them where the schema wants numbers, lists, ...
coerce_cli_strings(
    config, yaml.safe_load(Path(workflow.basedir, "workflow", "schemas", "config.schema.yaml").read_text())
)
validate(config, "../schemas/config.schema.yaml", set_default=True)

# The bio signals in use (bio.signals; null = every signal), resolved once: only their folders are needed,
# only their feature jobs run, and only their columns reach the bio model.
BIO_USED = [s for s in BIO_SIGNALS if s in (config["bio"]["signals"] or list(BIO_SIGNALS))]
if config["bio"]["signals"] is not None:
    logger.info(
        f"bio.signals: {', '.join(BIO_USED)} "
        f"(left out: {', '.join(s for s in BIO_SIGNALS if s not in BIO_USED) or 'none'})"
    )

SYNTH_ROOT = "resources/synthetic/KEMDy19"
SYNTH_STAMP = "resources/synthetic/KEMDy19.manifest.json"
DATA_DIR = os.path.normpath(config["data_dir"])
IS_SYNTH = DATA_DIR == os.path.normpath(SYNTH_ROOT)
SEEDS = config["seeds"]


def _synthetic_sessions():
    preset = SYNTH_SIZES[config["synthetic"]["size"]]
    n = config["synthetic"]["n_sessions"] or preset["n_sessions"]
    return [f"Session{i:02d}" for i in range(1, n + 1)]


def _real_sessions():
    if not os.path.isdir(DATA_DIR):
        raise WorkflowError(
            f"data_dir '{DATA_DIR}' does not exist. Point it at a KEMDy19 copy "
            "(--config data_dir=/path/to/KEMDy19) or leave the default to use the synthetic data."
        )
    missing = [d for d in ("annotation", "wav") if not os.path.isdir(os.path.join(DATA_DIR, d))]
    if missing:
        raise WorkflowError(
            f"data_dir '{DATA_DIR}' is not in the KEMDy19 layout: missing folder(s) {', '.join(missing)}"
        )
    no_signal = [s for s in BIO_USED if not os.path.isdir(os.path.join(DATA_DIR, BIO_SIGNALS[s]))]
    if no_signal:
        keep = [s for s in BIO_USED if s not in no_signal]
        fix = (
            f"set bio.signals to leave it out, e.g. --config bio='{{\"signals\": {json.dumps(keep)}}}'"
            if keep
            else "the bio model needs at least one of them"
        )
        raise WorkflowError(
            f"data_dir '{DATA_DIR}' has no {', '.join(BIO_SIGNALS[s] + '/' for s in no_signal)} folder, "
            f"which bio.signals = {json.dumps(BIO_USED)} needs "
            f"({'the default: every signal' if config['bio']['signals'] is None else 'as configured'}); "
            f"{fix}"
        )
    found = set()
    for path in glob.glob(os.path.join(DATA_DIR, "annotation", "Session*_[FM]_res.csv")):
        m = re.match(r"(Session\d+)_[FM]_res\.csv$", os.path.basename(path))
        if m:
            found.add(m.group(1))
    if not found:
        raise WorkflowError(f"{DATA_DIR}/annotation: no SessionSS_F_res.csv / SessionSS_M_res.csv files found")
    return sorted(found)


SESSIONS = _synthetic_sessions() if IS_SYNTH else _real_sessions()
# One participant file per session and gender: Sess01F, Sess01M, ...
PARTICIPANTS = [p for s in SESSIONS for p in session_participants(s)]


def raw(*parts):
    """A raw dataset file as a rule input. Synthetic data is represented by its manifest."""
    if IS_SYNTH:
        return SYNTH_STAMP
    return os.path.join(DATA_DIR, *parts)


def raw_if_exists(*parts):
    """Like raw(), but an absent real file gives no input (the job reports it as missing)."""
    if IS_SYNTH:
        return [SYNTH_STAMP]
    path = os.path.join(DATA_DIR, *parts)
    return [path] if os.path.exists(path) else []


def annotation_files():
    if IS_SYNTH:
        return [SYNTH_STAMP]
    return sorted(os.path.join(DATA_DIR, "annotation", f"{s}_{g}_res.csv") for s in SESSIONS for g in ("F", "M"))


def bio_relpath(wildcards):
    """A participant's raw file of one bio signal, relative to data_dir (the signal registry's layout)."""
    return bio_registry.raw_relpath(wildcards.signal, wildcards.participant)


def bio_raw_path(wildcards):
    """The raw file the job reads (real or synthetic data alike; it may be absent: reported missing)."""
    return os.path.join(DATA_DIR, bio_relpath(wildcards))


SCRIPTS_DIR = Path(workflow.basedir).joinpath("workflow", "scripts")


def script_code(script, *modules):
    """The package files that a rule runs, i.e. everything its script imports within emoflow, transitively
    (emoflow.codedeps reads the import statements), plus ``modules`` it loads by name from a registry.
    Snakemake tracks the script itself but not its imports; as inputs, editing any of these files
    reruns exactly the jobs that run it."""
    return codedeps.closure(SRC_DIR, [SCRIPTS_DIR / script], modules)


def mem(base_mb):
    """Memory that grows with each retry, so --retries recovers from an out-of-memory kill."""
    return lambda wildcards, attempt: int(base_mb * attempt)


def minutes(base):
    """Runtime (minutes) that grows with each retry, so --retries recovers from a time-out."""
    return lambda wildcards, attempt: int(base * attempt)


def encoder(modality):
    """The registry entry of the modality's configured encoder (config ``<modality>.encoder``)."""
    return registry.encoder(modality, config[modality]["encoder"])


def train_params(modality):
    """The training hyperparameters of one modality (only these trigger its retraining)."""
    section = config[modality]
    params = {k: section[k] for k in registry.TRAIN_KEYS + encoder(modality).keys}
    params["device"] = config["device"]
    return params


TEXT_LOCAL = config["text"]["pretrained"] is None


def _pretrained_is_folder():
    p = config["text"]["pretrained"]
    return p is not None and (os.path.isdir(p) or os.path.isabs(p) or p.startswith((".", "~")))


def text_backbone_dir(fold="{fold}"):
    """Folder that from_pretrained() loads: built locally per fold (its tokenizer is trained on the fold's
    training split), a user's folder, or a fetched hub copy (both shared by the folds)."""
    p = config["text"]["pretrained"]
    if p is None:
        return f"results/text/fold{fold}/backbone"
    if _pretrained_is_folder():
        return os.path.expanduser(p)
    return os.path.join("resources", "pretrained", re.sub(r"[^A-Za-z0-9_.-]+", "__", p))


def setting_modalities(setting):
    return SETTINGS[setting][1]


def fold_predictions(wildcards):
    """The fold's model predictions of each of the setting's modalities, one input per modality (all
    seeds), so one fold's fusion needs that fold's models only."""
    return {
        m: expand("results/models/{m}/fold{fold}/seed{seed}/predictions.parquet", m=m, fold=wildcards.fold, seed=SEEDS)
        for m in setting_modalities(wildcards.setting)
    }


SETTING_IDS = list(SETTINGS)
SETTING_REGEX = "|".join(re.escape(s) for s in SETTING_IDS)


# Cross-validation folds (split.folds); every fold-dependent path has a {fold} wildcard.
FOLDS = list(range(config["split"]["folds"]))

# The files behind each adapter input name (registry.Encoder.inputs), made by the feature rules;
# "{fold}" is the training job's fold (features fitted on training rows are per fold).
FEATURE_FILES = {
    "bio": {"features": "results/features/bio.parquet"},
    "audio": {"array": "results/features/audio.npy", "index": "results/features/audio.parquet"},
    "text": {"features": "results/features/text/fold{fold}.parquet", "backbone": text_backbone_dir()},
}
for _m in MODALITIES:
    _missing = set(encoder(_m).inputs) - set(FEATURE_FILES.get(_m, {}))
    if _missing:
        raise WorkflowError(f"{_m} encoder {config[_m]['encoder']!r} reads {sorted(_missing)}, which no rule makes")


def model_inputs(wildcards):
    enc = encoder(wildcards.modality)
    return {
        "segments": "results/segments.parquet",
        "folds": "results/folds.parquet",
        **{name: FEATURE_FILES[wildcards.modality][name].format(fold=wildcards.fold) for name in enc.inputs},
        "code": script_code("train.py", enc.module),
    }


def unknown_setting(wildcards):
    raise WorkflowError(
        f"unknown setting '{wildcards.setting}' in results/fusion/; valid settings: {', '.join(SETTING_IDS)}"
    )
