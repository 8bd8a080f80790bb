"""Speech model on a pretrained self-supervised encoder (``audio.encoder: ssl``; wav2vec2, HuBERT, WavLM ...).

Two modes (``audio.finetune``):

``false`` (default): frozen encoder
    Input: the cached embeddings of the ``ssl_embeddings`` / ``gather_ssl`` rules
    (``features.ssl``: every layer's hidden states averaged over the whole utterance, float32
    ``[segments, n_layers, dim]`` + an index by ``segment_id``). The model is only the head
    (``layers.LayerHead``): a softmax-weighted sum of the layers, standardised with statistics of the
    fold's training rows, and a small classifier (``layer_head``: hidden units, dropout). It trains in
    seconds on a CPU; a head change never recomputes the embeddings.
``true``: fine-tuned encoder (meant for a GPU)
    Input: the fixed-length waveforms of the audio features stage (``audio.npy``, cropped or padded
    to ``max_seconds``) and the encoder folder. The encoder (``AutoModel.from_pretrained``) is trained
    end to end at ``encoder_lr`` with the same head at ``lr`` (``FineTuned.param_groups``); its
    convolutional feature encoder stays frozen, as in the usual wav2vec2 fine-tuning recipe. Each clip
    is normalised as the feature extractor would (zero mean, unit variance over its real samples when
    ``do_normalize``), hidden states are averaged over the clip's real frames (not its padding), and
    each layer goes through a parameter-free layer normalisation instead of fitted statistics.

Checkpoints: ``model.safetensors`` (the head; in fine-tune mode the encoder too) + ``config.json`` (the
head's shape, the encoder's transformers config in fine-tune mode, the learned layer weights), so
``load_checkpoint`` rebuilds the model without the pretrained folder. Unusable clips (``ok`` false)
are left out of training and get the training prior.
"""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..constants import EMOTIONS
from ..errors import DataError
from ..features.ssl import load_encoder
from . import checkpoint
from . import training as T
from .adapter import Setup, read_indexed_array
from .layers import LayerHead, head_spec, masked_mean

log = logging.getLogger(__name__)

NAME = "audio"


# ---------------------------------------------------------------------------------------------
# Inputs


def read_inputs(paths) -> dict:
    """Frozen mode: ``embeddings`` + ``embeddings_index``; fine-tune mode: ``array`` + ``index`` (the
    waveforms) + ``pretrained`` (the encoder folder)."""
    frozen = "embeddings" in paths
    table_path = paths["embeddings_index" if frozen else "index"]
    array_path = paths["embeddings" if frozen else "array"]
    out = read_indexed_array(table_path, array_path, "embeddings" if frozen else "audio")
    if not frozen:
        out["pretrained"] = str(paths["pretrained"])
    return out


def _aligned(seg: pd.DataFrame, inputs: dict, ndim: int) -> tuple[np.ndarray, np.ndarray, pd.DataFrame]:
    """(row of each segment in the array, usable flag, the index rows in segment order), checked."""
    table, array, src = inputs["index"], inputs["array"], inputs["sources"]
    for col in ("segment_id", "row", "ok"):
        if col not in table.columns:
            raise DataError(src["index"], f"missing column {col}")
    if array.ndim != ndim:
        raise DataError(src["array"], f"expected a {ndim}-D array, got shape {array.shape}")
    table = table.assign(segment_id=table["segment_id"].astype(str))
    if table["segment_id"].duplicated().any():
        raise DataError(src["index"], "duplicate segment_id")
    absent = ~seg["segment_id"].isin(table["segment_id"])
    if absent.any():
        raise DataError(src["index"], f"{int(absent.sum())} segment(s) of the segments table have no row, "
                                      f"e.g. {seg.loc[absent, 'segment_id'].iloc[0]!r}")
    m = seg[["segment_id"]].merge(table, on="segment_id", how="left", validate="one_to_one")
    ok = m["ok"].fillna(False).astype(bool).to_numpy()
    rows = np.where(pd.isna(m["row"]), -1, m["row"]).astype(np.int64)
    if ok.any() and ((rows[ok] < 0) | (rows[ok] >= array.shape[0])).any():
        raise DataError(src["index"], f"row index outside the array of {array.shape[0]} rows")
    if "reason" in m:
        for reason, count in m.loc[~ok, "reason"].fillna("unknown").value_counts().items():
            log.info("audio unusable (%s): %d segment(s)", reason, count)
    return rows, ok, m


# ---------------------------------------------------------------------------------------------
# Frozen encoder: cached embeddings + head


def _setup_frozen(seg: pd.DataFrame, inputs: dict, settings: T.TrainSettings) -> Setup:
    rows, ok, _ = _aligned(seg, inputs, ndim=3)
    array = inputs["array"]
    n_layers, dim = int(array.shape[1]), int(array.shape[2])
    x = torch.zeros(len(seg), n_layers, dim)
    if ok.any():
        x[torch.from_numpy(np.flatnonzero(ok))] = torch.from_numpy(np.asarray(array[rows[ok]], dtype=np.float32))
    if not torch.isfinite(x).all():
        raise DataError(inputs["sources"]["array"], "usable rows contain NaN or infinite values")
    split = seg["split"].to_numpy()
    spec = head_spec(settings.extra)
    head = LayerHead(n_layers, dim, spec["hidden"], spec["dropout"])
    fit_rows = np.flatnonzero((split == "train") & ok)
    T.assert_no_test(split[fit_rows], "standardisation rows")
    head.fit_standardization(x[torch.from_numpy(fit_rows)])
    n_params = sum(p.numel() for p in head.parameters())
    log.info("frozen %s embeddings: %d layers x %d; head with %d parameters", settings.extra["pretrained"],
             n_layers, dim, n_params)
    config = {"encoder": "ssl", "mode": "frozen", "pretrained": settings.extra["pretrained"],
              "revision": settings.extra["revision"], "n_layers": n_layers, "dim": dim,
              "layer_head": spec, "norm": "standardize", "n_parameters": n_params}
    preprocessing = {"input": "per-layer time-pooled hidden states of the frozen encoder (features.ssl)",
                     "embeddings": inputs["sources"]["array"],
                     "standardization": "per layer and dimension, training rows of the fold (model buffers)",
                     "unusable": "left out of training; predicted as the training prior"}
    return Setup(model=head, usable=ok, source=T.tensor_sources([x], seg["label"].to_numpy(), split),
                 forward=_forward_frozen, config=config, preprocessing=preprocessing)


def _forward_frozen(model, inputs):
    return model(inputs[0])


# ---------------------------------------------------------------------------------------------
# Fine-tuned encoder on waveforms


class FineTuned(nn.Module):
    """Encoder + ``LayerHead`` on waveforms ``[batch, samples]`` with the real length of each clip."""

    def __init__(self, encoder: nn.Module, head: LayerHead, normalize: bool, attention_mask: bool,
                 encoder_lr: float):
        super().__init__()
        self.encoder, self.head = encoder, head
        self.normalize, self.attention_mask, self.encoder_lr = bool(normalize), bool(attention_mask), encoder_lr

    def param_groups(self, lr: float) -> list[dict]:
        """The optimiser's groups (``training.fit``): the head at ``lr``, the encoder at ``encoder_lr``."""
        encoder = [p for p in self.encoder.parameters() if p.requires_grad]
        return [{"params": list(self.head.parameters()), "lr": lr}, {"params": encoder, "lr": self.encoder_lr}]

    def frame_lengths(self, lengths: torch.Tensor, n_samples: int, n_frames: int) -> torch.Tensor:
        """Frames computed from each clip's real samples (the encoder's own formula where it has one)."""
        out = getattr(self.encoder, "_get_feat_extract_output_lengths", None)
        frames = out(lengths) if out is not None else torch.ceil(lengths * n_frames / n_samples)
        return frames.long().clamp(1, n_frames)

    def forward(self, wave: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
        valid = (torch.arange(wave.shape[1], device=wave.device)[None, :] < lengths[:, None]).to(wave.dtype)
        if self.normalize:  # the feature extractor's zero-mean, unit-variance normalisation, per clip
            n = valid.sum(dim=1, keepdim=True).clamp_min(1)
            mean = (wave * valid).sum(dim=1, keepdim=True) / n
            var = (((wave - mean) * valid) ** 2).sum(dim=1, keepdim=True) / n
            wave = (wave - mean) / torch.sqrt(var + 1e-7) * valid
        mask = valid.long() if self.attention_mask else None
        hidden = torch.stack(self.encoder(wave, attention_mask=mask, output_hidden_states=True).hidden_states, 1)
        pooled = masked_mean(hidden, self.frame_lengths(lengths, wave.shape[1], hidden.shape[2]))
        return self.head(pooled)


def _clip_lengths(m: pd.DataFrame, n_samples: int, sample_rate: int) -> np.ndarray:
    """Real samples of each clip in the fixed-length array (the rest is end padding)."""
    if "duration_s" not in m:
        return np.full(len(m), n_samples, dtype=np.int64)
    dur = m["duration_s"].to_numpy(dtype=np.float64)
    real = np.where(np.isfinite(dur), np.round(dur * sample_rate), n_samples)
    return np.clip(real, 1, n_samples).astype(np.int64)


def _setup_finetune(seg: pd.DataFrame, inputs: dict, settings: T.TrainSettings) -> Setup:
    rows, ok, m = _aligned(seg, inputs, ndim=2)
    enc = load_encoder(inputs["pretrained"])
    sample_rate = int(settings.extra["sample_rate"])
    if sample_rate != enc.sampling_rate:
        raise DataError(inputs["pretrained"], f"the encoder expects {enc.sampling_rate} Hz audio; set "
                                              f"audio.sample_rate: {enc.sampling_rate} (it is {sample_rate})")
    if "n_windows" in m and (m.loc[ok, "n_windows"] > 1).any():
        raise DataError(inputs["sources"]["index"], "fine-tune mode trains on one fixed-length clip per segment, "
                                                    "not windows: set audio.max_seconds to a number")
    wave = inputs["array"]
    lengths = _clip_lengths(m, int(wave.shape[1]), sample_rate)
    if hasattr(enc.model, "freeze_feature_encoder"):
        enc.model.freeze_feature_encoder()
    spec = head_spec(settings.extra)
    head = LayerHead(enc.n_layers, enc.dim, spec["hidden"], spec["dropout"], norm="layer_norm")
    normalize = bool(getattr(enc.extractor, "do_normalize", False))
    use_mask = bool(getattr(enc.extractor, "return_attention_mask", False))
    model = FineTuned(enc.model, head, normalize, use_mask, float(settings.extra["encoder_lr"]))
    n_params = sum(p.numel() for p in model.parameters())
    log.info("fine-tuning %s (%s, %d parameters, %d trainable) at lr %g, head at lr %g",
             settings.extra["pretrained"], enc.model.config.model_type, n_params,
             sum(p.numel() for p in model.parameters() if p.requires_grad), model.encoder_lr, settings.lr)
    config = {"encoder": "ssl", "mode": "finetune", "pretrained": settings.extra["pretrained"],
              "revision": settings.extra["revision"], "n_layers": enc.n_layers, "dim": enc.dim,
              "layer_head": spec, "norm": "layer_norm", "normalize": normalize, "attention_mask": use_mask,
              "encoder_lr": model.encoder_lr, "sample_rate": sample_rate, "n_samples": int(wave.shape[1]),
              "encoder_config": json.loads(enc.model.config.to_json_string()), "n_parameters": n_params}
    preprocessing = {"input": "waveform of the audio features stage (cropped/padded to max_seconds there)",
                     "normalize": "zero mean, unit variance over the clip's real samples" if normalize else "none",
                     "pooling": "mean over the clip's real frames", "sample_rate": sample_rate,
                     "unusable": "left out of training; predicted as the training prior"}
    return Setup(model=model, usable=ok,
                 source=_wave_sources(wave, rows, lengths, seg["label"].to_numpy(), seg["split"].to_numpy()),
                 forward=_forward_finetune, config=config, preprocessing=preprocessing)


def _wave_sources(wave, rows: np.ndarray, lengths: np.ndarray, labels: np.ndarray, splits: np.ndarray):
    def source(pos: np.ndarray) -> T.Source:
        r, n = rows[pos], lengths[pos]

        def fetch(idx):
            x = torch.from_numpy(np.asarray(wave[r[idx]], dtype=np.float32))
            if not torch.isfinite(x).all():
                raise DataError("audio array", "usable clip(s) contain NaN or infinite samples")
            return x, torch.from_numpy(n[idx])

        return T.Source(fetch, labels[pos], splits[pos])

    return source


def _forward_finetune(model, inputs):
    return model(inputs[0], inputs[1])


# ---------------------------------------------------------------------------------------------
# Adapter entry points


def setup(seg: pd.DataFrame, inputs: dict, settings: T.TrainSettings, seed: int) -> Setup:
    """Frozen mode (cached embeddings + head) or fine-tune mode (encoder + head), by ``finetune``."""
    if settings.extra["finetune"]:
        if "pretrained" not in inputs:
            raise ValueError("audio.finetune is true but the train job got no encoder folder (pretrained input)")
        return _setup_finetune(seg, inputs, settings)
    if inputs["array"].ndim != 3:
        raise DataError(inputs["sources"]["array"], "frozen mode needs the cached embeddings, not waveforms")
    return _setup_frozen(seg, inputs, settings)


def save_checkpoint(model: nn.Module, config: dict, model_path, config_path) -> None:
    """safetensors weights + config.json, with the learned layer weights."""
    head = model.head if isinstance(model, FineTuned) else model
    checkpoint.save(model, {**config, "layer_weights": head.layer_weights()}, model_path, config_path)


def load_checkpoint(folder) -> tuple[nn.Module, dict]:
    """Rebuild the head (frozen mode) or encoder + head (fine-tune mode) without the pretrained folder."""
    config = checkpoint.read_config(folder)
    head = LayerHead(config["n_layers"], config["dim"], **config["layer_head"], norm=config["norm"])
    model: nn.Module = head
    if config["mode"] == "finetune":
        from transformers import AutoConfig, AutoModel

        enc_cfg = dict(config["encoder_config"])
        encoder = AutoModel.from_config(AutoConfig.for_model(enc_cfg.pop("model_type"), **enc_cfg))
        model = FineTuned(encoder, head, config["normalize"], config["attention_mask"], config["encoder_lr"])
    model.load_state_dict(checkpoint.load_state_dict(f"{folder}/model.safetensors"))
    model.eval()
    return model, config


@torch.no_grad()
def predict(model: LayerHead, embeddings: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Probabilities [n, 7] for embeddings [n, n_layers, dim] from a loaded frozen-mode checkpoint."""
    out = [model(torch.from_numpy(np.asarray(embeddings[s : s + batch_size], dtype=np.float32))).numpy()
           for s in range(0, len(embeddings), batch_size)]
    return T.softmax(np.concatenate(out)) if out else np.zeros((0, len(EMOTIONS)))
