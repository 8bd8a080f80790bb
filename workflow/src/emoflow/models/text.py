"""Text model: a BERT sequence classifier fine-tuned on the transcripts (paper section 2.3.3).

``AutoModelForSequenceClassification.from_pretrained(backbone, num_labels=7)`` with the class names of
``constants.EMOTIONS`` as ``id2label``. The backbone folder is either the small BERT built and
pretrained locally by the text stage, a user's folder, or a fetched hub copy such as KoBERT
(``skt/kobert-base-v1``); all go through the same call. Inputs are the ``input_ids`` and
``attention_mask`` of ``text.parquet`` (tokenised by the text stage; rows padded here to the longest
row with the backbone's ``pad_token_id``, masked out).

The checkpoint is ``model.save_pretrained(seed_dir)``: ``model.safetensors`` + ``config.json`` (the
Hugging Face config, carrying this run's training record under ``emoflow``), loadable again with
``from_pretrained(seed_dir)`` (``load_model``).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..constants import EMOTIONS
from ..errors import DataError
from . import training as T

log = logging.getLogger(__name__)

HF_FILES = ("model.safetensors", "config.json")


def _label_maps() -> tuple[dict[int, str], dict[str, int]]:
    return {i: e for i, e in enumerate(EMOTIONS)}, {e: i for i, e in enumerate(EMOTIONS)}


def _quiet_transformers() -> None:
    """No tqdm bars from transformers in the rule logs."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


def load_backbone(folder):
    """A 7-class sequence classifier initialised from a local backbone folder (no network access)."""
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    _quiet_transformers()
    id2label, label2id = _label_maps()
    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the "newly initialized classifier" notice is expected
    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            str(folder), num_labels=len(EMOTIONS), id2label=id2label, label2id=label2id,
            local_files_only=True)
    except (OSError, ValueError) as exc:
        raise DataError(folder, f"cannot load a text backbone with from_pretrained ({exc})") from exc
    finally:
        hf_logging.set_verbosity(level)
    model.config.problem_type = "single_label_classification"
    return model


def _token_tensors(seg: pd.DataFrame, features_path, pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    try:
        feats = pd.read_parquet(features_path)
    except Exception as exc:
        raise DataError(features_path, f"cannot read text features ({exc})") from exc
    for col in ("segment_id", "input_ids", "attention_mask"):
        if col not in feats.columns:
            raise DataError(features_path, f"missing column {col}")
    feats = feats.copy()
    feats["segment_id"] = feats["segment_id"].astype(str)
    if feats["segment_id"].duplicated().any():
        raise DataError(features_path, "duplicate segment_id")
    absent = ~seg["segment_id"].isin(feats["segment_id"])
    if absent.any():
        raise DataError(features_path, f"{int(absent.sum())} segment(s) of the segments table have no row, "
                                       f"e.g. {seg.loc[absent, 'segment_id'].iloc[0]!r}")
    m = seg[["segment_id"]].merge(feats[["segment_id", "input_ids", "attention_mask"]], on="segment_id",
                                  how="left", validate="one_to_one")
    ids = [np.asarray(v, dtype=np.int64) for v in m["input_ids"]]
    masks = [np.asarray(v, dtype=np.int64) for v in m["attention_mask"]]
    bad = [i for i, (a, b) in enumerate(zip(ids, masks)) if len(a) != len(b) or len(a) == 0]
    if bad:
        raise DataError(features_path, f"input_ids and attention_mask differ in length or are empty for "
                                       f"segment {m['segment_id'].iloc[bad[0]]!r}")
    length = max(len(a) for a in ids)
    id_arr = np.full((len(ids), length), pad_id, dtype=np.int64)
    mask_arr = np.zeros((len(ids), length), dtype=np.int64)
    for i, (a, b) in enumerate(zip(ids, masks)):
        id_arr[i, : len(a)] = a
        mask_arr[i, : len(b)] = b
    return torch.from_numpy(id_arr), torch.from_numpy(mask_arr)


def _forward(model, inputs):
    return model(input_ids=inputs[0], attention_mask=inputs[1]).logits


def save_checkpoint(model, config: dict, model_path, config_path) -> None:
    """save_pretrained into a temporary folder, then move model.safetensors and config.json in place."""
    _quiet_transformers()
    model_path, config_path = Path(model_path), Path(config_path)
    model.config.emoflow = config
    model_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=model_path.parent, prefix=".save_pretrained.") as tmp:
        model.save_pretrained(tmp)
        missing = [f for f in HF_FILES if not os.path.exists(os.path.join(tmp, f))]
        if missing:
            raise RuntimeError(f"save_pretrained wrote no {', '.join(missing)} (got {sorted(os.listdir(tmp))})")
        for name, dest in (("model.safetensors", model_path), ("config.json", config_path)):
            os.replace(os.path.join(tmp, name), dest)
        extra = sorted(set(os.listdir(tmp)))
        if extra:
            log.info("save_pretrained also wrote %s (not kept)", ", ".join(extra))
    del model.config.emoflow


def train(segments, features, backbone, outputs: dict, params: dict, seed: int) -> T.FitResult:
    """Rule ``train`` for modality text (inputs: segments.parquet, text.parquet, backbone folder)."""
    settings = T.TrainSettings.from_params(params)
    seg = T.load_segments(segments)
    generator = T.seed_everything(seed)  # before loading: the classifier head is initialised randomly
    device = T.configure_device(settings.device)
    model = load_backbone(backbone)
    pad_id = model.config.pad_token_id if model.config.pad_token_id is not None else 0
    ids, mask = _token_tensors(seg, features, pad_id)
    if int(ids.max()) >= model.config.vocab_size:
        raise DataError(features, f"token id {int(ids.max())} outside the backbone vocabulary "
                                  f"({model.config.vocab_size}); were the tokens made for another backbone?")
    max_pos = getattr(model.config, "max_position_embeddings", None)
    if max_pos is not None and ids.shape[1] > max_pos:
        raise DataError(features, f"sequences of {ids.shape[1]} tokens exceed the backbone's "
                                  f"{max_pos} positions")
    labels = seg["label"].to_numpy()
    splits = seg["split"].to_numpy()
    prepared = T.Prepared(
        segments=seg,
        usable=np.ones(len(seg), dtype=bool),
        source=lambda pos: T.Source.from_tensors([ids[torch.as_tensor(pos)], mask[torch.as_tensor(pos)]],
                                                 labels[pos], splits[pos]),
    )
    n_params = sum(p.numel() for p in model.parameters())
    log.info("text model %s from %s: %d parameters, %d tokens per segment", model.config.model_type,
             backbone, n_params, ids.shape[1])
    config = {"arch": model.config.model_type, "backbone": str(backbone), "n_parameters": n_params,
              "max_length": int(ids.shape[1])}
    preprocessing = {"backbone": str(backbone), "max_length": int(ids.shape[1]), "pad_token_id": int(pad_id),
                     "input": "input_ids and attention_mask of the text features stage"}

    def save(m, cfg):
        save_checkpoint(m, cfg, outputs["model"], outputs["config"])

    return T.run_training("text", prepared, model, settings, seed=seed, generator=generator, device=device,
                          forward=_forward, outputs=outputs, save_checkpoint=save, config=config,
                          preprocessing=preprocessing)


def load_model(seed_dir):
    """The fine-tuned classifier from ``model.safetensors`` + ``config.json`` (from_pretrained)."""
    from transformers import AutoModelForSequenceClassification

    _quiet_transformers()
    model = AutoModelForSequenceClassification.from_pretrained(str(seed_dir), local_files_only=True)
    model.eval()
    return model


@torch.no_grad()
def predict(seed_dir, input_ids: torch.Tensor, attention_mask: torch.Tensor, batch_size: int = 64) -> np.ndarray:
    """Probabilities [n, 7] for token tensors from a saved model."""
    model = load_model(seed_dir)
    out = []
    for start in range(0, len(input_ids), batch_size):
        sl = slice(start, start + batch_size)
        out.append(model(input_ids=input_ids[sl], attention_mask=attention_mask[sl]).logits.numpy())
    return T.softmax(np.concatenate(out)) if out else np.zeros((0, len(EMOTIONS)))


def read_config(seed_dir) -> dict:
    """The training record stored in a text checkpoint's config.json."""
    return json.loads((Path(seed_dir) / "config.json").read_text()).get("emoflow", {})

