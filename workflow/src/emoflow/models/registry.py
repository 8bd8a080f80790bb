"""The one list of modality models: modality -> encoder -> the adapter module that implements it.

Import-light on purpose (no torch): the Snakefile reads it at parse time for the wildcard constraint,
the encoder choice and each ``train`` job's code inputs, which are the adapter module's own imports, so
editing ``models/audio.py`` reruns only the audio training jobs.

Adding a modality or an encoder = one adapter module (``adapter.Adapter``), its config section and schema
(``<modality>.encoder`` names the encoder), and one entry here.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from types import ModuleType
from typing import Mapping


@dataclass(frozen=True)
class Encoder:
    module: str  # the adapter module (adapter.Adapter)
    inputs: tuple[str, ...]  # feature inputs its train job reads (names; the rules map them to files)
    keys: tuple[str, ...]  # its own keys of the modality's config section, passed to training
    gpu: bool  # whether its training jobs ask for the configured GPUs on a cluster
    # an encoder with a frozen and a fine-tune mode (section key ``finetune``) whose modes read different
    # inputs: those of the fine-tune mode (``inputs`` are the frozen mode's)
    finetune_inputs: tuple[str, ...] | None = None

    def inputs_for(self, section: Mapping) -> tuple[str, ...]:
        """The inputs its train job reads under the modality's config ``section`` (or the train params)."""
        if self.finetune_inputs is not None and section.get("finetune"):
            return self.finetune_inputs
        return self.inputs


# modality -> encoder name (config ``<modality>.encoder``) -> its adapter
ADAPTERS: dict[str, dict[str, Encoder]] = {
    "audio": {"cnn": Encoder("emoflow.models.audio", ("cnn_input", "index"),
                             ("arch", "sample_rate", "max_seconds", "window_seconds"),
                             gpu=True),
              # openSMILE functionals (eGeMAPS) + a linear head, no epochs (models.linear)
              "egemaps": Encoder("emoflow.models.egemaps", ("egemaps",), ("egemaps",), gpu=False),
              # pretrained speech encoder: cached per-layer embeddings + layer head, or fine-tuned on waveforms
              "ssl": Encoder("emoflow.models.ssl", ("embeddings", "embeddings_index"),
                             ("pretrained", "revision", "finetune", "encoder_lr", "layer_head", "sample_rate"),
                             gpu=True, finetune_inputs=("array", "index", "pretrained"))},
    "text": {"bert": Encoder("emoflow.models.text", ("features", "backbone"), ("finetune", "layer_head"), gpu=True),
             # kiwipiepy morphemes, TF-IDF n-grams fitted per fold + a linear head, no epochs (models.linear)
             "tfidf": Encoder("emoflow.models.tfidf", ("morphemes",), ("tfidf",), gpu=False)},
    "bio": {"mlp": Encoder("emoflow.models.bio", ("features",), ("hidden", "dropout"), gpu=False)},
}

MODALITIES = list(ADAPTERS)

# Hyperparameters every modality's config section has (training.TrainSettings).
TRAIN_KEYS = ("batch_size", "lr", "epochs", "weight_decay", "patience", "class_weights", "schedule", "warmup",
              "label_smoothing", "select")


def encoder(modality: str, name: str) -> Encoder:
    """A modality's encoder entry; a clear error for unknown names."""
    if modality not in ADAPTERS:
        raise ValueError(f"unknown modality {modality!r}; known: {', '.join(ADAPTERS)}")
    encoders = ADAPTERS[modality]
    if name not in encoders:
        raise ValueError(f"unknown {modality} encoder {name!r}; known: {', '.join(encoders)}")
    return encoders[name]


def load(modality: str, name: str) -> ModuleType:
    """Import the adapter module and check that it implements ``adapter.Adapter``."""
    from .adapter import Adapter

    module = importlib.import_module(encoder(modality, name).module)
    if not isinstance(module, Adapter):
        raise TypeError(f"{module.__name__} does not implement the modality adapter contract")
    return module
