# Shared Python for all rule files (config validation, dataset discovery, path helpers).
import glob
import json
import os
import re
import sys
from pathlib import Path
from types import SimpleNamespace

from snakemake.exceptions import WorkflowError
from snakemake.logging import logger
from snakemake.utils import validate

SRC_DIR = Path(workflow.basedir).joinpath("workflow", "src")
# Idle OpenMP threads sleep instead of spinning: with another job on the other core, spinning torch
# threads made training 3-14x slower (BENCHMARKS.md). Jobs inherit this; results are unchanged.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
sys.path.insert(0, str(SRC_DIR))

import yaml  # noqa: E402

from emoflow import codedeps, datasets, hub  # noqa: E402
from emoflow.config import coerce_cli_strings  # noqa: E402
from emoflow.constants import BIO_SIGNALS, SETTINGS, SYNTH_SIZES  # noqa: E402
from emoflow.features.bio import registry as bio_registry  # noqa: E402
from emoflow.models import registry  # noqa: E402
from emoflow.models.registry import MODALITIES  # noqa: E402

# nested --config values arrive as strings; parse them where the schema wants numbers, lists, ...
coerce_cli_strings(
    config, yaml.safe_load(Path(workflow.basedir, "workflow", "schemas", "config.schema.yaml").read_text())
)
validate(config, "../schemas/config.schema.yaml", set_default=True)

# The dataset: data_dir (null = the synthetic stand-in of synthetic.layout) and `dataset` (auto = detected
# from data_dir's layout). Its defaults fill the null keys (bio.signals, labels.tie_policy,
# qc.max_missing_fraction, select, class_weights; emoflow/datasets.py) before anything reads them: config
# holds the values used.
SYNTH_LAYOUT = config["synthetic"]["layout"]
SYNTH_ROOT = datasets.SYNTH_ROOTS[SYNTH_LAYOUT]
SYNTH_STAMP = f"{SYNTH_ROOT}.manifest.json"
DATA_DIR = os.path.normpath(config["data_dir"] or SYNTH_ROOT)
IS_SYNTH = DATA_DIR == os.path.normpath(SYNTH_ROOT)
config["data_dir"] = DATA_DIR
SEEDS = config["seeds"]


def _dataset():
    if IS_SYNTH:
        if config["dataset"] not in ("auto", SYNTH_LAYOUT):
            raise WorkflowError(
                f"dataset: {config['dataset']} does not fit the synthetic data of layout {SYNTH_LAYOUT} "
                f"({SYNTH_ROOT}); set synthetic.layout: {config['dataset']} or dataset: auto"
            )
        return SYNTH_LAYOUT
    if not os.path.isdir(DATA_DIR):
        raise WorkflowError(
            f"data_dir '{DATA_DIR}' does not exist. Point it at a KEMDy19 or KEMDy20 copy "
            "(--config data_dir=/path/to/KEMDy19) or leave it unset to use the synthetic data."
        )
    if config["dataset"] != "auto":
        return config["dataset"]
    try:
        return datasets.detect(DATA_DIR)
    except datasets.DatasetError as exc:
        raise WorkflowError(str(exc)) from None


DATASET = _dataset()
config["dataset"] = DATASET
try:
    DATASET_DEFAULTS = datasets.resolve(config, DATASET)
except datasets.DatasetError as exc:
    raise WorkflowError(str(exc)) from None
_chosen = "; ".join(f"{k} = {json.dumps(v['value'])} ({v['source']})" for k, v in DATASET_DEFAULTS.items())
logger.info(f"dataset {datasets.NAMES[DATASET]} ({DATA_DIR}): {_chosen}")
# The bio signals in use, resolved once: only their folders are needed, only their feature jobs run, and
# only their columns reach the bio model.
BIO_USED = list(config["bio"]["signals"])


def _check_results_folder(summary="results/qc/index_summary.json"):
    """One results/ folder holds one dataset: refuse to mix another dataset or copy into it."""
    try:
        previous = json.loads(Path(summary).read_text())
    except (OSError, ValueError):
        return
    before, ds = previous.get("data_dir"), previous.get("dataset", "kemdy19")
    if before is None or (ds == DATASET and os.path.abspath(before) == os.path.abspath(DATA_DIR)):
        return
    raise WorkflowError(
        f"results/ holds the results of {datasets.NAMES.get(ds, ds)} in '{before}', but this run reads "
        f"{datasets.NAMES[DATASET]} in '{DATA_DIR}'. One results folder holds one dataset: run this one in "
        f'its own working directory (snakemake --directory runs/{DATASET} ..., README "Two datasets"), or '
        "delete results/ to start over."
    )


def _synthetic_sessions():
    preset = SYNTH_SIZES[config["synthetic"]["size"]]
    n = config["synthetic"]["n_sessions"] or preset["n_sessions"]
    return [f"Session{i:02d}" for i in range(1, n + 1)]


def _real_sessions():
    name = datasets.NAMES[DATASET]
    missing = [d for d in ("annotation", "wav") if not os.path.isdir(os.path.join(DATA_DIR, d))]
    if missing:
        raise WorkflowError(
            f"data_dir '{DATA_DIR}' is not in the {name} layout: missing folder(s) {', '.join(missing)}"
        )
    no_signal = [s for s in BIO_USED if not os.path.isdir(os.path.join(DATA_DIR, BIO_SIGNALS[s]))]
    if no_signal:
        keep = [s for s in BIO_USED if s not in no_signal]
        fix = (
            f"set bio.signals to leave it out, e.g. --config bio='{{\"signals\": {json.dumps(keep)}}}'"
            if keep
            else "the bio model needs at least one of them"
        )
        source = DATASET_DEFAULTS["bio.signals"]["source"]
        why = f"every signal of {name}" if source != "configured" else "as configured"
        raise WorkflowError(
            f"data_dir '{DATA_DIR}' has no {', '.join(BIO_SIGNALS[s] + '/' for s in no_signal)} folder, "
            f"which bio.signals = {json.dumps(BIO_USED)} needs ({why}); {fix}"
        )
    try:
        return datasets.sessions(DATA_DIR, DATASET)
    except datasets.DatasetError as exc:
        raise WorkflowError(str(exc)) from None


SESSIONS = _synthetic_sessions() if IS_SYNTH else _real_sessions()
# The bio feature jobs: one per KEMDy19 participant file (Sess01F, Sess01M, ...) or KEMDy20 session (Sess01, ...)
PARTICIPANTS = datasets.bio_units(DATASET, SESSIONS)
_check_results_folder()


def raw(*parts):
    """A raw dataset file as a rule input. Synthetic data is represented by its manifest."""
    if IS_SYNTH:
        return SYNTH_STAMP
    return os.path.join(DATA_DIR, *parts)


def annotation_files():
    if IS_SYNTH:
        return [SYNTH_STAMP]
    return [os.path.join(DATA_DIR, p) for p in datasets.annotation_relpaths(DATASET, SESSIONS)]


def bio_raw_files(wildcards):
    """The raw files one bio job reads that exist: a KEMDy19 participant's file, or a KEMDy20 session's
    user-script files (synthetic data: its manifest). An absent file gives no input (reported missing)."""
    if IS_SYNTH:
        return [SYNTH_STAMP]
    rel = datasets.unit_relpaths(BIO_SIGNALS[wildcards.signal], wildcards.participant, DATA_DIR)
    return [p for p in (os.path.join(DATA_DIR, r) for r in rel) if os.path.exists(p)]


def unit_raw_files(unit):
    """The raw files of the signals in use that one bio job reads (synthetic data: its manifest)."""
    return sorted({f for s in BIO_USED for f in bio_raw_files(SimpleNamespace(signal=s, participant=unit))})


# The bio job whose signals the data figure draws (data_figures) is the first (a KEMDy19 participant or
# a KEMDy20 session) with a raw file of a signal in use; the first of all when none has one.
FIGURE_UNITS = next(([u] for u in PARTICIPANTS if unit_raw_files(u)), PARTICIPANTS[:1])


def figure_raw_files(wildcards):
    """The raw files of the figure's bio job."""
    return sorted({f for u in FIGURE_UNITS for f in unit_raw_files(u)})


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
    return p is not None and hub.is_local(p)


def text_backbone_dir(fold="{fold}"):
    """Folder that from_pretrained() loads: built locally per fold (its tokenizer is trained on the fold's
    training split), a user's folder, or a fetched hub copy (both shared by the folds)."""
    p = config["text"]["pretrained"]
    if p is None:
        return f"results/text/fold{fold}/backbone"
    return hub.folder(p, config["text"]["revision"])


# audio.encoder ssl: the pretrained speech encoder's folder (a local folder, or where rule fetch_ssl saves a
# hub name) and the folder of its cached embeddings, named after the encoder (and revision): a head change
# reuses them, another encoder gets its own.
AUDIO_SSL = config["audio"]["encoder"] == "ssl"
SSL_FINETUNE = AUDIO_SSL and config["audio"]["finetune"]
SSL_DIR = hub.folder(config["audio"]["pretrained"], config["audio"]["revision"])
SSL_SLUG = hub.slug(config["audio"]["pretrained"], config["audio"]["revision"])
SSL_FEATURES = f"results/features/ssl/{SSL_SLUG}"
SSL_QC = f"results/qc/ssl/{SSL_SLUG}.tsv"
if AUDIO_SSL and hub.is_local(config["audio"]["pretrained"]) and not os.path.isdir(SSL_DIR):
    raise WorkflowError(
        f"audio.pretrained: the folder '{SSL_DIR}' does not exist (a local copy of a speech encoder such as "
        "facebook/wav2vec2-base, or a hub name that the local rule fetch_ssl downloads)"
    )
if SSL_FINETUNE and config["audio"]["max_seconds"] is None:
    raise WorkflowError("audio.finetune trains on fixed-length clips: set audio.max_seconds to a number")


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
# openSMILE functionals of the configured feature set (encoder egemaps): one table per session, then gathered
OPENSMILE_SET = config["audio"]["egemaps"]["feature_set"]
FEATURE_FILES = {
    "bio": {"features": "results/features/bio.parquet"},
    "audio": {
        "egemaps": f"results/features/opensmile/{OPENSMILE_SET}.parquet",
        "array": "results/features/audio.npy",
        "index": "results/features/audio.parquet",
        # encoder ssl: the frozen encoder's cached embeddings (rule gather_ssl), or the encoder to fine-tune
        "embeddings": f"{SSL_FEATURES}/embeddings.npy",
        "embeddings_index": f"{SSL_FEATURES}/embeddings.parquet",
        "pretrained": SSL_DIR,
        # the CNN's input: the log-mel front end computed once (rule audio_logmel) for arch logmel, else waveforms
        "cnn_input": (
            "results/features/audio_logmel.npy" if config["audio"]["arch"] == "logmel" else "results/features/audio.npy"
        ),
    },
    "text": {
        "features": "results/features/text/fold{fold}.parquet",
        "backbone": text_backbone_dir(),
        "morphemes": "results/features/text/morphemes.parquet",
    },
}


def encoder_inputs(modality):
    """The input names of the modality's encoder in its configured mode (registry.Encoder.inputs_for)."""
    return encoder(modality).inputs_for(config[modality])


for _m in MODALITIES:
    _missing = set(encoder_inputs(_m)) - set(FEATURE_FILES.get(_m, {}))
    if _missing:
        raise WorkflowError(f"{_m} encoder {config[_m]['encoder']!r} reads {sorted(_missing)}, which no rule makes")

# The feature QC tables that qc_summary reads: those of the configured encoder's feature rules (audio: one
# table; text: a list). An encoder without an entry falls back to the modality's first entry.
FEATURE_QC = {
    "audio": {
        "cnn": "results/qc/audio.tsv",
        "egemaps": f"results/qc/opensmile/{OPENSMILE_SET}.tsv",
        "ssl": "results/qc/audio.tsv" if SSL_FINETUNE else SSL_QC,
    },
    "text": {
        "bert": expand("results/qc/text/fold{fold}.tsv", fold=FOLDS),
        "tfidf": ["results/qc/text/morphemes.tsv"],
    },
}


def feature_qc(modality):
    tables = FEATURE_QC[modality]
    return tables.get(config[modality]["encoder"], next(iter(tables.values())))


def model_inputs(wildcards):
    enc = encoder(wildcards.modality)
    return {
        "segments": "results/segments.parquet",
        "folds": "results/folds.parquet",
        **{
            name: FEATURE_FILES[wildcards.modality][name].format(fold=wildcards.fold)
            for name in encoder_inputs(wildcards.modality)
        },
        "code": script_code("train.py", enc.module),
    }


def unknown_setting(wildcards):
    raise WorkflowError(
        f"unknown setting '{wildcards.setting}' in results/fusion/; valid settings: {', '.join(SETTING_IDS)}"
    )
