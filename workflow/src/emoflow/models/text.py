"""Text model: a BERT sequence classifier fine-tuned on the transcripts (paper section 2.3.3).

``AutoModelForSequenceClassification.from_pretrained(backbone, num_labels=7)`` with the class names of
``constants.EMOTIONS`` as ``id2label``. The backbone folder is either the small BERT built and
pretrained locally by the text stage, a user's folder, or a fetched hub copy such as KoBERT
(``skt/kobert-base-v1``); all go through the same call. Inputs are the ``input_ids`` and
``attention_mask`` of ``text.parquet`` (tokenised by the text stage; rows padded here to the longest
row with the backbone's ``pad_token_id``, masked out).

The checkpoint is ``model.save_pretrained(seed_dir)``: ``model.safetensors`` + ``config.json`` (the
Hugging Face config, carrying this run's training record under ``emoflow``), loadable again with
``from_pretrained(seed_dir)`` (``load_checkpoint``).

``text.finetune: false`` (frozen backbone): the backbone (``AutoModel``) only embeds, once per training
job: every layer's hidden states averaged over the real tokens of each segment, ``[segments, n_layers,
dim]``; the model trained is the head of ``layers.LayerHead`` (softmax-weighted layer sum, standardised
with the training rows' statistics, small classifier: ``layer_head``), saved as
safetensors + a JSON config (``mode: frozen``). ``true`` (default) fine-tunes the whole classifier as above.
"""

from __future__ import annotations

import logging
import os
import tempfile
from pathlib import Path

import numpy as np
import pandas as pd
import torch

from ..constants import CLASS_INDEX, EMOTIONS
from ..errors import DataError
from . import checkpoint
from . import training as T
from .adapter import Setup
from .layers import LayerHead, head_spec

log = logging.getLogger(__name__)

NAME = "text"
HF_FILES = ("model.safetensors", "config.json")


def _quiet_transformers() -> None:
    """No tqdm bars from transformers in the rule logs."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()


def load_backbone(folder):
    """A 7-class sequence classifier initialised from a local backbone folder (no network access)."""
    from transformers import AutoModelForSequenceClassification
    from transformers.utils import logging as hf_logging

    _quiet_transformers()
    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # the "newly initialized classifier" notice is expected
    try:
        model = AutoModelForSequenceClassification.from_pretrained(
            str(folder), num_labels=len(EMOTIONS), id2label=dict(enumerate(EMOTIONS)), label2id=dict(CLASS_INDEX),
            local_files_only=True)
    except (OSError, ValueError) as exc:
        raise DataError(folder, f"cannot load a text backbone with from_pretrained ({exc})") from exc
    finally:
        hf_logging.set_verbosity(level)
    model.config.problem_type = "single_label_classification"
    return model


def read_inputs(paths) -> dict:
    """The token table and the backbone folder (loaded in ``setup``, after seeding)."""
    path = paths["features"]
    try:
        feats = pd.read_parquet(path)
    except Exception as exc:
        raise DataError(path, f"cannot read text features ({exc})") from exc
    return {"features": feats, "source": str(path), "backbone": str(paths["backbone"])}


def _token_tensors(seg: pd.DataFrame, feats: pd.DataFrame, source, pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    for col in ("segment_id", "input_ids", "attention_mask"):
        if col not in feats.columns:
            raise DataError(source, f"missing column {col}")
    feats = feats.copy()
    feats["segment_id"] = feats["segment_id"].astype(str)
    if feats["segment_id"].duplicated().any():
        raise DataError(source, "duplicate segment_id")
    absent = ~seg["segment_id"].isin(feats["segment_id"])
    if absent.any():
        raise DataError(source, f"{int(absent.sum())} segment(s) of the segments table have no row, "
                                f"e.g. {seg.loc[absent, 'segment_id'].iloc[0]!r}")
    m = seg[["segment_id"]].merge(feats[["segment_id", "input_ids", "attention_mask"]], on="segment_id",
                                  how="left", validate="one_to_one")
    ids = [np.asarray(v, dtype=np.int64) for v in m["input_ids"]]
    masks = [np.asarray(v, dtype=np.int64) for v in m["attention_mask"]]
    bad = [i for i, (a, b) in enumerate(zip(ids, masks)) if len(a) != len(b) or len(a) == 0]
    if bad:
        raise DataError(source, f"input_ids and attention_mask differ in length or are empty for "
                                f"segment {m['segment_id'].iloc[bad[0]]!r}")
    length = max(len(a) for a in ids)
    id_arr = np.full((len(ids), length), pad_id, dtype=np.int64)
    mask_arr = np.zeros((len(ids), length), dtype=np.int64)
    for i, (a, b) in enumerate(zip(ids, masks)):
        id_arr[i, : len(a)] = a
        mask_arr[i, : len(b)] = b
    return torch.from_numpy(id_arr), torch.from_numpy(mask_arr)


def _check_fits_backbone(model, ids: torch.Tensor, source) -> None:
    if int(ids.max()) >= model.config.vocab_size:
        raise DataError(source, f"token id {int(ids.max())} outside the backbone vocabulary "
                                f"({model.config.vocab_size}); were the tokens made for another backbone?")
    max_pos = getattr(model.config, "max_position_embeddings", None)
    if max_pos is not None and ids.shape[1] > max_pos:
        raise DataError(source, f"sequences of {ids.shape[1]} tokens exceed the backbone's {max_pos} positions")


def _forward(model, inputs):
    return model(input_ids=inputs[0], attention_mask=inputs[1]).logits


def load_encoder(folder):
    """The backbone without a classification head (``AutoModel``, eval mode, no network)."""
    from transformers import AutoModel
    from transformers.utils import logging as hf_logging

    _quiet_transformers()
    level = hf_logging.get_verbosity()
    hf_logging.set_verbosity_error()  # unused pretraining heads are expected
    try:
        model = AutoModel.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError) as exc:
        raise DataError(folder, f"cannot load a text backbone with from_pretrained ({exc})") from exc
    finally:
        hf_logging.set_verbosity(level)
    return model.eval()


@torch.no_grad()
def embed_tokens(model, ids: torch.Tensor, mask: torch.Tensor, device, batch_size: int = 64) -> torch.Tensor:
    """Every layer's hidden states averaged over each row's real tokens: float32 [n, n_layers, dim]."""
    model.to(device)
    out = []
    for start in range(0, len(ids), batch_size):
        i, m = ids[start : start + batch_size].to(device), mask[start : start + batch_size].to(device)
        hidden = torch.stack(model(input_ids=i, attention_mask=m, output_hidden_states=True).hidden_states, 1)
        w = m.to(hidden.dtype)
        out.append((torch.einsum("bltd,bt->bld", hidden, w) / w.sum(1).clamp_min(1)[:, None, None]).float().cpu())
    model.to("cpu")
    return torch.cat(out)


def _setup_frozen(seg: pd.DataFrame, inputs: dict, settings: T.TrainSettings) -> Setup:
    backbone, source = inputs["backbone"], inputs["source"]
    encoder = load_encoder(backbone)
    pad_id = encoder.config.pad_token_id if encoder.config.pad_token_id is not None else 0
    ids, mask = _token_tensors(seg, inputs["features"], source, pad_id)
    _check_fits_backbone(encoder, ids, source)
    x = embed_tokens(encoder, ids, mask, T.resolve_device(settings.device))
    split = seg["split"].to_numpy()
    spec = head_spec(settings.extra)
    head = LayerHead(x.shape[1], x.shape[2], spec["hidden"], spec["dropout"])
    fit_rows = np.flatnonzero(split == "train")
    T.assert_no_test(split[fit_rows], "standardisation rows")
    head.fit_standardization(x[torch.from_numpy(fit_rows)])
    n_params = sum(p.numel() for p in head.parameters())
    log.info("frozen text backbone %s from %s: %d layers x %d per segment; head with %d parameters",
             encoder.config.model_type, backbone, x.shape[1], x.shape[2], n_params)
    config = {"mode": "frozen", "arch": encoder.config.model_type, "backbone": str(backbone),
              "n_layers": int(x.shape[1]), "dim": int(x.shape[2]), "layer_head": spec, "norm": "standardize",
              "n_parameters": n_params, "max_length": int(ids.shape[1])}
    preprocessing = {"backbone": str(backbone), "max_length": int(ids.shape[1]), "pad_token_id": int(pad_id),
                     "input": "per-layer hidden states of the frozen backbone averaged over the real tokens",
                     "standardization": "per layer and dimension, training rows of the fold (model buffers)"}
    return Setup(model=head, usable=np.ones(len(seg), dtype=bool),
                 source=T.tensor_sources([x], seg["label"].to_numpy(), split),
                 forward=lambda model, inputs: model(inputs[0]), config=config, preprocessing=preprocessing)


def setup(seg: pd.DataFrame, inputs: dict, settings: T.TrainSettings, seed: int) -> Setup:
    """The backbone with a fresh 7-class head (seeded before this call) and the padded token tensors;
    with ``finetune`` false, the frozen backbone's embeddings and a ``LayerHead``."""
    if not settings.extra["finetune"]:
        return _setup_frozen(seg, inputs, settings)
    backbone, source = inputs["backbone"], inputs["source"]
    model = load_backbone(backbone)
    pad_id = model.config.pad_token_id if model.config.pad_token_id is not None else 0
    ids, mask = _token_tensors(seg, inputs["features"], source, pad_id)
    _check_fits_backbone(model, ids, source)
    n_params = sum(p.numel() for p in model.parameters())
    log.info("text model %s from %s: %d parameters, %d tokens per segment", model.config.model_type,
             backbone, n_params, ids.shape[1])
    config = {"arch": model.config.model_type, "backbone": str(backbone), "n_parameters": n_params,
              "max_length": int(ids.shape[1])}
    preprocessing = {"backbone": str(backbone), "max_length": int(ids.shape[1]), "pad_token_id": int(pad_id),
                     "input": "input_ids and attention_mask of the text features stage"}
    return Setup(model=model, usable=np.ones(len(seg), dtype=bool),
                 source=T.tensor_sources([ids, mask], seg["label"].to_numpy(), seg["split"].to_numpy()),
                 forward=_forward, config=config, preprocessing=preprocessing)


def save_checkpoint(model, config: dict, model_path, config_path) -> None:
    """save_pretrained into a temporary folder, then move model.safetensors and config.json in place;
    the training record travels in the Hugging Face config under ``emoflow``. A frozen backbone's head:
    safetensors + config.json with the learned layer weights."""
    if isinstance(model, LayerHead):
        checkpoint.save(model, {**config, "layer_weights": model.layer_weights()}, model_path, config_path)
        return
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


def load_checkpoint(folder):
    """The fine-tuned classifier (from_pretrained) or a frozen backbone's head, and its training record;
    returns (model, config)."""
    from transformers import AutoModelForSequenceClassification

    record = checkpoint.read_config(folder)
    if record.get("mode") == "frozen":
        head = LayerHead(record["n_layers"], record["dim"], **record["layer_head"])
        head.load_state_dict(checkpoint.load_state_dict(f"{folder}/model.safetensors"))
        return head.eval(), record
    _quiet_transformers()
    model = AutoModelForSequenceClassification.from_pretrained(str(folder), local_files_only=True)
    model.eval()
    return model, dict(getattr(model.config, "emoflow", {}))


@torch.no_grad()
def predict(model, input_ids: torch.Tensor, attention_mask: torch.Tensor, batch_size: int = 64) -> np.ndarray:
    """Probabilities [n, 7] for token tensors from a loaded checkpoint."""
    out = []
    for start in range(0, len(input_ids), batch_size):
        sl = slice(start, start + batch_size)
        out.append(model(input_ids=input_ids[sl], attention_mask=attention_mask[sl]).logits.numpy())
    return T.softmax(np.concatenate(out)) if out else np.zeros((0, len(EMOTIONS)))
