"""Speech model: a 1D CNN on the raw waveform with a fully connected head (paper section 2.3.2).

Input: one clip per segment as written by the audio features stage (``audio.npy``, float16
[n_segments, n_samples], memory-mapped; ``n_samples = sample_rate * max_seconds``, already cropped or
zero-padded and normalised there), fed as float32 [batch, 1, n_samples]. The network outputs logits;
training uses cross-entropy (softmax + negative log-likelihood, as the paper states).

Both architectures: a strided stem convolution (a learned filterbank that downsamples at once), then
blocks of conv-BatchNorm-ReLU with max pooling, then global average and max pooling over time
(concatenated), dropout and a two-layer fully connected head.

======  ==========  =======================================  ==========  ===============  ==============
arch    parameters  layers (channels)                        stem k / s  receptive field  input
======  ==========  =======================================  ==========  ===============  ==============
small   ~54 k       stem 32, blocks 32-64-128 (1 conv each)  80 / 16     3,776 samples    4 s at 16 kHz
                                                                         (0.24 s)         -> 64,000
large   ~1.85 M     stem 64, blocks 64-128-256-512           80 / 4      6,540 samples    same
                    (2 convs each)                                       (0.41 s)
======  ==========  =======================================  ==========  ===============  ==============

Parameter counts are for 7 classes (``n_parameters`` in a checkpoint's config.json); the receptive field
is that of one unit of the last convolution before global pooling (``receptive_field``), and the
pooling then spans the whole clip. ``small`` trains the small synthetic default (~500 training clips,
30 epochs) in about a minute on 2 CPU cores; ``large`` is meant for a GPU.

Augmentation (training only, seeded): each clip is shifted in time by a random offset of up to
``augment_shift`` of its length, zero-filled. Segments whose audio is unusable (``ok`` false in
``audio.parquet``) are left out of training and get the training prior as their prediction.
"""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..constants import EMOTIONS
from ..errors import DataError
from ..io import write_json
from . import training as T

log = logging.getLogger(__name__)

ARCHS = {
    "small": {
        "stem": {"channels": 32, "kernel": 80, "stride": 16, "pool": 4},
        "blocks": [
            {"channels": 32, "convs": 1, "kernel": 3, "pool": 4},
            {"channels": 64, "convs": 1, "kernel": 3, "pool": 4},
            {"channels": 128, "convs": 1, "kernel": 3, "pool": 1},
        ],
        "head_hidden": 64,
        "dropout": 0.5,
        "augment_shift": 0.1,
    },
    "large": {
        "stem": {"channels": 64, "kernel": 80, "stride": 4, "pool": 4},
        "blocks": [
            {"channels": 64, "convs": 2, "kernel": 3, "pool": 4},
            {"channels": 128, "convs": 2, "kernel": 3, "pool": 4},
            {"channels": 256, "convs": 2, "kernel": 3, "pool": 4},
            {"channels": 512, "convs": 2, "kernel": 3, "pool": 1},
        ],
        "head_hidden": 256,
        "dropout": 0.3,
        "augment_shift": 0.1,
    },
}


def _conv_bn_relu(c_in: int, c_out: int, kernel: int, stride: int = 1) -> list[nn.Module]:
    pad = (kernel - stride) // 2 if stride > 1 else kernel // 2
    return [nn.Conv1d(c_in, c_out, kernel, stride=stride, padding=max(pad, 0), bias=False),
            nn.BatchNorm1d(c_out), nn.ReLU()]


class AudioCNN(nn.Module):
    """1D CNN over the waveform, built from an architecture spec (see ``ARCHS``)."""

    def __init__(self, spec: dict, n_classes: int = len(EMOTIONS)):
        super().__init__()
        stem = spec["stem"]
        layers = _conv_bn_relu(1, stem["channels"], stem["kernel"], stem["stride"])
        if stem["pool"] > 1:
            layers.append(nn.MaxPool1d(stem["pool"]))
        c = stem["channels"]
        for block in spec["blocks"]:
            for _ in range(block["convs"]):
                layers += _conv_bn_relu(c, block["channels"], block["kernel"])
                c = block["channels"]
            if block["pool"] > 1:
                layers.append(nn.MaxPool1d(block["pool"]))
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(
            nn.Dropout(spec["dropout"]),
            nn.Linear(2 * c, spec["head_hidden"]),
            nn.ReLU(),
            nn.Linear(spec["head_hidden"], n_classes),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() == 2:
            x = x.unsqueeze(1)
        h = self.features(x)
        pooled = torch.cat([h.mean(dim=2), h.amax(dim=2)], dim=1)
        return self.head(pooled)


def receptive_field(spec: dict) -> int:
    """Receptive field (input samples) of one unit of the last convolution."""
    stem = spec["stem"]
    layers = [("conv", stem["kernel"], stem["stride"]), ("pool", stem["pool"], stem["pool"])]
    for block in spec["blocks"]:
        layers += [("conv", block["kernel"], 1)] * block["convs"] + [("pool", block["pool"], block["pool"])]
    last_conv = max(i for i, (kind, _, _) in enumerate(layers) if kind == "conv")
    r, jump = 1, 1
    for _, k, s in layers[: last_conv + 1]:
        r += (k - 1) * jump
        jump *= s
    return r


def n_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


class TimeShift:
    """Seeded random time shift of each clip by up to ``fraction`` of its length (zero-filled)."""

    def __init__(self, fraction: float, seed: int):
        self.fraction = float(fraction)
        self.gen = torch.Generator()
        self.gen.manual_seed(seed)

    def __call__(self, inputs: list[torch.Tensor]) -> list[torch.Tensor]:
        x = inputs[0]
        n = x.shape[-1]
        max_shift = int(self.fraction * n)
        if max_shift < 1:
            return inputs
        shifts = torch.randint(-max_shift, max_shift + 1, (x.shape[0],), generator=self.gen).tolist()
        out = torch.zeros_like(x)
        for i, s in enumerate(shifts):
            if s >= 0:
                out[i, ..., s:] = x[i, ..., : n - s]
            else:
                out[i, ..., : n + s] = x[i, ..., -s:]
        return [out, *inputs[1:]]


def _load_audio(seg: pd.DataFrame, array_path, table_path):
    try:
        table = pd.read_parquet(table_path)
    except Exception as exc:
        raise DataError(table_path, f"cannot read audio index ({exc})") from exc
    for col in ("segment_id", "row", "ok"):
        if col not in table.columns:
            raise DataError(table_path, f"missing column {col}")
    try:
        array = np.load(array_path, mmap_mode="r")
    except Exception as exc:
        raise DataError(array_path, f"cannot memory-map audio array ({exc})") from exc
    if array.ndim != 2:
        raise DataError(array_path, f"expected a 2-D array [segments, samples], got shape {array.shape}")
    table = table.copy()
    table["segment_id"] = table["segment_id"].astype(str)
    if table["segment_id"].duplicated().any():
        raise DataError(table_path, "duplicate segment_id")
    absent = ~seg["segment_id"].isin(table["segment_id"])
    if absent.any():
        raise DataError(table_path, f"{int(absent.sum())} segment(s) of the segments table have no row, "
                                    f"e.g. {seg.loc[absent, 'segment_id'].iloc[0]!r}")
    m = seg[["segment_id"]].merge(table, on="segment_id", how="left", validate="one_to_one")
    rows = m["row"].to_numpy()
    ok = m["ok"].fillna(False).astype(bool).to_numpy()
    valid = ~pd.isna(rows)
    rows = np.where(valid, rows, -1).astype(np.int64)
    if ok.any() and ((rows[ok] < 0) | (rows[ok] >= array.shape[0])).any():
        raise DataError(table_path, f"row index outside audio array of {array.shape[0]} rows")
    # Non-finite samples in a usable clip would silently poison training.
    for start in range(0, int(ok.sum()), 512):
        part = np.flatnonzero(ok)[start : start + 512]
        if not np.isfinite(np.asarray(array[np.sort(rows[part])], dtype=np.float32)).all():
            raise DataError(array_path, "usable clip(s) contain NaN or infinite samples")
    reasons = m.loc[~ok, "reason"].fillna("unknown").value_counts() if "reason" in m else pd.Series(dtype=int)
    for reason, count in reasons.items():
        log.info("audio unusable (%s): %d segment(s)", reason, count)
    return array, rows, ok


def _forward(model, inputs):
    return model(inputs[0])


def train(segments, array, features, outputs: dict, params: dict, seed: int) -> T.FitResult:
    """Rule ``train`` for modality audio (inputs: segments.parquet, audio.npy, audio.parquet)."""
    settings = T.TrainSettings.from_params(params)
    arch = settings.extra.get("arch", "small")
    if arch not in ARCHS:
        raise ValueError(f"audio arch must be one of {sorted(ARCHS)}, not {arch!r}")
    spec = ARCHS[arch]
    seg = T.load_segments(segments)
    wave, rows, ok = _load_audio(seg, array, features)
    n_samples = int(wave.shape[1])
    sample_rate = int(settings.extra.get("sample_rate", 16000))
    max_seconds = float(settings.extra.get("max_seconds", n_samples / sample_rate))
    if abs(n_samples - sample_rate * max_seconds) > 1:
        log.warning("audio array has %d samples per clip, config says %d (sample_rate x max_seconds); "
                    "using the array's length", n_samples, int(sample_rate * max_seconds))
    labels = seg["label"].to_numpy()
    splits = seg["split"].to_numpy()

    def source(pos: np.ndarray) -> T.Source:
        r = rows[pos]

        def fetch(idx):
            return (torch.from_numpy(np.asarray(wave[r[idx]], dtype=np.float32)).unsqueeze(1),)

        return T.Source(fetch, labels[pos], splits[pos])

    prepared = T.Prepared(segments=seg, usable=ok, source=source)
    generator = T.seed_everything(seed)
    device = T.configure_device(settings.device)
    model = AudioCNN(spec)
    config = {"arch": arch, "spec": spec, "n_samples": n_samples, "sample_rate": sample_rate,
              "n_classes": len(EMOTIONS), "n_parameters": n_parameters(model),
              "receptive_field": receptive_field(spec)}
    log.info("audio CNN %s: %d parameters, receptive field %d samples, input %d samples", arch,
             config["n_parameters"], config["receptive_field"], n_samples)
    preprocessing = {
        "sample_rate": sample_rate,
        "max_seconds": max_seconds,
        "n_samples": n_samples,
        "input": "waveform as written by the audio features stage (cropped/padded and normalised there), "
                 "float16 -> float32, no further scaling",
        "augment_shift": spec["augment_shift"],
        "unusable": "left out of training; predicted as the training prior",
    }
    augment = TimeShift(spec["augment_shift"], seed + 1) if spec["augment_shift"] > 0 else None

    def save(m, cfg):
        T.save_state_dict(m, outputs["model"])
        write_json(cfg, outputs["config"])

    return T.run_training("audio", prepared, model, settings, seed=seed, generator=generator, device=device,
                          forward=_forward, outputs=outputs, save_checkpoint=save, config=config,
                          preprocessing=preprocessing, augment=augment)


def load_model(seed_dir) -> tuple[AudioCNN, dict]:
    """Rebuild the trained model from ``config.json`` + ``model.safetensors``; returns (model, config)."""
    seed_dir = Path(seed_dir)
    config = json.loads((seed_dir / "config.json").read_text())
    model = AudioCNN(config["spec"], config["n_classes"])
    model.load_state_dict(T.load_state_dict(seed_dir / "model.safetensors"))
    model.eval()
    return model, config


@torch.no_grad()
def predict(seed_dir, waveforms: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Probabilities [n, 7] for waveforms [n, n_samples] from a saved model."""
    model, config = load_model(seed_dir)
    if waveforms.shape[1] != config["n_samples"]:
        raise ValueError(f"model expects {config['n_samples']} samples per clip, got {waveforms.shape[1]}")
    out = []
    for start in range(0, len(waveforms), batch_size):
        x = torch.from_numpy(np.asarray(waveforms[start : start + batch_size], dtype=np.float32))
        out.append(model(x).numpy())
    return T.softmax(np.concatenate(out)) if out else np.zeros((0, len(EMOTIONS)))
