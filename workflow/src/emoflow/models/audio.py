"""Speech model: a 1D CNN on the raw waveform with a fully connected head (paper section 2.3.2).

Input: one clip per segment as written by the audio features stage (``audio.npy``, float16
[n_segments, n_samples], memory-mapped; ``n_samples = sample_rate * max_seconds``, already cropped or
zero-padded and normalised there), fed as float32 [batch, 1, n_samples]. The network outputs logits;
training uses cross-entropy (softmax + negative log-likelihood, as the paper states).

Two front ends:

* ``small`` and ``large``: a strided stem convolution (a learned filterbank that downsamples at once),
  then blocks of conv-BatchNorm-ReLU with max pooling, then global average and max pooling over time
  (concatenated);
* ``logmel`` (the default): a fixed filterbank first layer -- Hann-windowed STFT (1024 taps, hop 256),
  64 triangular mel filters, log power floored 40 dB below the clip's maximum -- so the 1D convolutions
  run over time with the mel bands as channels; one per-clip normalisation over all bands and frames
  (removes the level, keeps the spectral shape), blocks of conv-GroupNorm-ReLU (per clip, no running
  statistics that differ between training and evaluation), then statistics pooling: the mean and
  standard deviation of every channel over time (a level, a range: what prosody cues look like). The
  40 dB floor keeps zero padding and pauses at one bounded value.

All end in dropout and a two-layer fully connected head.

======  ==========  =======================================  ===========  ===============  =============
arch    parameters  layers (channels)                        first k / s  receptive field  input
======  ==========  =======================================  ===========  ===============  =============
logmel  ~83 k       log-mel 64 (fixed), blocks 64-64-128     1024 / 256   6,912 samples    4 s at 16 kHz
                    (1 conv each, GroupNorm)                              (0.43 s)         -> 64,000
small   ~54 k       stem 32, blocks 32-64-128 (1 conv each)  80 / 16      3,776 samples    same
                                                                          (0.24 s)
large   ~1.85 M     stem 64, blocks 64-128-256-512           80 / 4       6,540 samples    same
                    (2 convs each)                                        (0.41 s)
======  ==========  =======================================  ===========  ===============  =============

Parameter counts are for 7 classes (``n_parameters`` in a checkpoint's config.json); the receptive field
is that of one unit of the last convolution before global pooling (``receptive_field``; the STFT frame
counts as a convolution of ``n_fft`` taps), and the pooling then spans the whole clip. ``logmel`` and
``small`` train the small synthetic default (~500 training clips, 30-40 epochs) in about a minute on
2 CPU cores; ``large`` is meant for a GPU. On the synthetic data, whose audio cue lives in pitch level
and range, speaking rate, brightness and breathiness, ``logmel`` generalises to unseen speakers far
better than ``small`` (see the config comments).

Augmentation (training only, seeded): each clip is shifted in time by a random offset of up to
``augment_shift`` of its length, zero-filled. Segments whose audio is unusable (``ok`` false in
``audio.parquet``) are left out of training and get the training prior as their prediction.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..constants import EMOTIONS
from ..errors import DataError
from . import checkpoint
from . import training as T
from .adapter import Setup

log = logging.getLogger(__name__)

NAME = "audio"

ARCHS = {
    "logmel": {
        "frontend": {"type": "logmel", "n_fft": 1024, "hop": 256, "n_mels": 64, "f_min": 0.0, "f_max": None},
        "blocks": [
            {"channels": 64, "convs": 1, "kernel": 5, "pool": 2},
            {"channels": 64, "convs": 1, "kernel": 5, "pool": 2},
            {"channels": 128, "convs": 1, "kernel": 3, "pool": 1},
        ],
        "norm": "group",
        "head_hidden": 64,
        "dropout": 0.5,
        "augment_shift": 0.1,
    },
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


def _norm(kind: str, channels: int) -> nn.Module:
    """``batch``: BatchNorm1d; ``group``: GroupNorm with 8 groups (per clip, no running statistics)."""
    if kind == "group":
        return nn.GroupNorm(min(8, channels), channels)
    return nn.BatchNorm1d(channels)


def _conv_bn_relu(c_in: int, c_out: int, kernel: int, stride: int = 1, norm: str = "batch") -> list[nn.Module]:
    pad = (kernel - stride) // 2 if stride > 1 else kernel // 2
    return [nn.Conv1d(c_in, c_out, kernel, stride=stride, padding=max(pad, 0), bias=False),
            _norm(norm, c_out), nn.ReLU()]


def mel_filterbank(sample_rate: int, n_fft: int, n_mels: int, f_min: float = 0.0,
                   f_max: float | None = None) -> np.ndarray:
    """Triangular mel filters (HTK mel scale, unit peak) as a matrix [n_fft // 2 + 1, n_mels]."""
    f_max = sample_rate / 2 if f_max is None else float(f_max)
    mel = lambda f: 2595.0 * np.log10(1.0 + np.asarray(f, dtype=np.float64) / 700.0)  # noqa: E731
    edges = 700.0 * (10.0 ** (np.linspace(mel(f_min), mel(f_max), n_mels + 2) / 2595.0) - 1.0)
    freqs = np.linspace(0.0, sample_rate / 2, n_fft // 2 + 1)
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    up = (freqs[:, None] - lower) / (centre - lower)
    down = (upper - freqs[:, None]) / (upper - centre)
    return np.clip(np.minimum(up, down), 0.0, None)


class LogMel(nn.Module):
    """Fixed front end: power spectrogram (Hann-windowed STFT) -> mel filterbank -> log.

    Input float [batch, 1, n_samples]; output [batch, n_mels, frames] with
    ``frames = n_samples // hop + 1``. Nothing here is learned; the filters are rebuilt from the spec
    (not stored in the checkpoint).
    """

    def __init__(self, sample_rate: int, n_fft: int, hop: int, n_mels: int, f_min: float = 0.0,
                 f_max: float | None = None):
        super().__init__()
        self.n_fft, self.hop = int(n_fft), int(hop)
        self.register_buffer("window", torch.hann_window(self.n_fft, periodic=True), persistent=False)
        fb = mel_filterbank(sample_rate, self.n_fft, n_mels, f_min, f_max)
        self.register_buffer("filters", torch.from_numpy(fb.T.astype(np.float32)), persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spec = torch.stft(x.reshape(-1, x.shape[-1]), self.n_fft, self.hop, window=self.window, center=True,
                          pad_mode="constant", return_complex=True)
        power = spec.real.square() + spec.imag.square()
        logmel = torch.log(torch.matmul(self.filters, power) + LOG_FLOOR)
        # a floor DYNAMIC_RANGE below the clip's loudest bin: padding and pauses stop dominating the scale
        return torch.maximum(logmel, logmel.amax(dim=(1, 2), keepdim=True) - DYNAMIC_RANGE)


LOG_FLOOR = 1e-10
DYNAMIC_RANGE = 9.2  # natural-log units of power: 40 dB


class AudioCNN(nn.Module):
    """1D CNN over the waveform, built from an architecture spec (see ``ARCHS``): a learned strided
    stem convolution or the fixed log-mel front end (mel bands as channels), then the conv blocks."""

    def __init__(self, spec: dict, n_classes: int = len(EMOTIONS), sample_rate: int = 16000):
        super().__init__()
        if "frontend" in spec:
            fe = spec["frontend"]
            self.frontend = LogMel(sample_rate, fe["n_fft"], fe["hop"], fe["n_mels"], fe.get("f_min", 0.0),
                                   fe.get("f_max"))
            # one mean and scale per clip over all bands and frames: removes the level, keeps the spectral shape
            layers = [nn.GroupNorm(1, fe["n_mels"])]
            c = fe["n_mels"]
        else:
            self.frontend = None
            stem = spec["stem"]
            layers = _conv_bn_relu(1, stem["channels"], stem["kernel"], stem["stride"])
            if stem["pool"] > 1:
                layers.append(nn.MaxPool1d(stem["pool"]))
            c = stem["channels"]
        norm = spec.get("norm", "batch")
        for block in spec["blocks"]:
            for _ in range(block["convs"]):
                layers += _conv_bn_relu(c, block["channels"], block["kernel"], norm=norm)
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
        if self.frontend is None:
            h = self.features(x)
            return self.head(torch.cat([h.mean(dim=2), h.amax(dim=2)], dim=1))
        # log-mel front end: statistics pooling, the mean and standard deviation of each channel over time
        h = self.features(self.frontend(x))
        std = torch.sqrt(h.var(dim=2, unbiased=False) + 1e-5)
        return self.head(torch.cat([h.mean(dim=2), std], dim=1))


def receptive_field(spec: dict) -> int:
    """Receptive field (input samples) of one unit of the last convolution."""
    if "frontend" in spec:  # the STFT frame acts as one convolution of n_fft taps, stride hop
        layers = [("conv", spec["frontend"]["n_fft"], spec["frontend"]["hop"])]
    else:
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


def read_inputs(paths) -> dict:
    """The audio index table and the memory-mapped float16 array [segments, samples]."""
    table_path, array_path = paths["index"], paths["array"]
    try:
        table = pd.read_parquet(table_path)
    except Exception as exc:
        raise DataError(table_path, f"cannot read audio index ({exc})") from exc
    try:
        array = np.load(array_path, mmap_mode="r")
    except Exception as exc:
        raise DataError(array_path, f"cannot memory-map audio array ({exc})") from exc
    return {"index": table, "array": array, "sources": {"index": str(table_path), "array": str(array_path)}}


def _check_index(table: pd.DataFrame, seg: pd.DataFrame, source) -> pd.DataFrame:
    for col in ("segment_id", "row", "ok"):
        if col not in table.columns:
            raise DataError(source, f"missing column {col}")
    table = table.copy()
    table["segment_id"] = table["segment_id"].astype(str)
    if table["segment_id"].duplicated().any():
        raise DataError(source, "duplicate segment_id")
    absent = ~seg["segment_id"].isin(table["segment_id"])
    if absent.any():
        raise DataError(source, f"{int(absent.sum())} segment(s) of the segments table have no row, "
                                f"e.g. {seg.loc[absent, 'segment_id'].iloc[0]!r}")
    return seg[["segment_id"]].merge(table, on="segment_id", how="left", validate="one_to_one")


def _audio_rows(seg: pd.DataFrame, inputs: dict):
    """(array, row of each segment in it, usable flag per segment), checked against the segments."""
    sources, array = inputs["sources"], inputs["array"]
    if array.ndim != 2:
        raise DataError(sources["array"], f"expected a 2-D array [segments, samples], got shape {array.shape}")
    m = _check_index(inputs["index"], seg, sources["index"])
    rows = m["row"].to_numpy()
    ok = m["ok"].fillna(False).astype(bool).to_numpy()
    valid = ~pd.isna(rows)
    rows = np.where(valid, rows, -1).astype(np.int64)
    if ok.any() and ((rows[ok] < 0) | (rows[ok] >= array.shape[0])).any():
        raise DataError(sources["index"], f"row index outside audio array of {array.shape[0]} rows")
    # Non-finite samples in a usable clip would silently poison training.
    for start in range(0, int(ok.sum()), 512):
        part = np.flatnonzero(ok)[start : start + 512]
        if not np.isfinite(np.asarray(array[np.sort(rows[part])], dtype=np.float32)).all():
            raise DataError(sources["array"], "usable clip(s) contain NaN or infinite samples")
    reasons = m.loc[~ok, "reason"].fillna("unknown").value_counts() if "reason" in m else pd.Series(dtype=int)
    for reason, count in reasons.items():
        log.info("audio unusable (%s): %d segment(s)", reason, count)
    return array, rows, ok


def _forward(model, inputs):
    return model(inputs[0])


def _wave_sources(wave, rows: np.ndarray, labels: np.ndarray, splits: np.ndarray):
    """Source builder that reads the clips of a batch from the (memory-mapped) array."""
    def source(pos: np.ndarray) -> T.Source:
        r = rows[pos]

        def fetch(idx):
            return (torch.from_numpy(np.asarray(wave[r[idx]], dtype=np.float32)).unsqueeze(1),)

        return T.Source(fetch, labels[pos], splits[pos])

    return source


def setup(seg: pd.DataFrame, inputs: dict, settings: T.TrainSettings, seed: int) -> Setup:
    """Clips from the audio features stage, the CNN of ``arch``, time-shift augmentation."""
    arch = settings.extra["arch"]
    if arch not in ARCHS:
        raise ValueError(f"audio arch must be one of {sorted(ARCHS)}, not {arch!r}")
    spec = ARCHS[arch]
    wave, rows, ok = _audio_rows(seg, inputs)
    n_samples = int(wave.shape[1])
    sample_rate = int(settings.extra["sample_rate"])
    max_seconds = float(settings.extra["max_seconds"])
    if abs(n_samples - sample_rate * max_seconds) > 1:
        log.warning("audio array has %d samples per clip, config says %d (sample_rate x max_seconds); "
                    "using the array's length", n_samples, int(sample_rate * max_seconds))
    model = AudioCNN(spec, sample_rate=sample_rate)
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
    return Setup(model=model, usable=ok,
                 source=_wave_sources(wave, rows, seg["label"].to_numpy(), seg["split"].to_numpy()),
                 forward=_forward, config=config, preprocessing=preprocessing, augment=augment)


save_checkpoint = checkpoint.save


def load_checkpoint(folder) -> tuple[AudioCNN, dict]:
    """Rebuild the trained model from ``config.json`` + ``model.safetensors``; returns (model, config)."""
    config = checkpoint.read_config(folder)
    model = AudioCNN(config["spec"], config["n_classes"], sample_rate=config["sample_rate"])
    model.load_state_dict(checkpoint.load_state_dict(f"{folder}/model.safetensors"))
    model.eval()
    return model, config


@torch.no_grad()
def predict(model: AudioCNN, config: dict, waveforms: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """Probabilities [n, 7] for waveforms [n, n_samples] from a loaded checkpoint."""
    if waveforms.shape[1] != config["n_samples"]:
        raise ValueError(f"model expects {config['n_samples']} samples per clip, got {waveforms.shape[1]}")
    out = []
    for start in range(0, len(waveforms), batch_size):
        x = torch.from_numpy(np.asarray(waveforms[start : start + batch_size], dtype=np.float32))
        out.append(model(x).numpy())
    return T.softmax(np.concatenate(out)) if out else np.zeros((0, len(EMOTIONS)))
