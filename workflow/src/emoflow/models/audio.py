"""Speech model: a 1D CNN on the raw waveform with a fully connected head (paper section 2.3.2).

Input (``cnn_input``, memory-mapped; rows are windows, aligned with the index ``audio.parquet``):

* ``logmel``: the fixed front end's output, computed once by the features stage
  (``audio_logmel.npy``, float32 [windows, n_mels, frames], ``features.logmel``) instead of in every
  epoch; the model keeps the same front end as its first module, so a checkpoint also predicts from
  waveforms (``predict``) with the same numbers. Given waveforms instead, ``setup`` computes the front
  end once itself;
* ``small``/``large``: the waveforms (``audio.npy``, float16 [windows, n_samples], already cropped or
  zero-padded and normalised there), fed as float32 [batch, 1, n_samples].

``n_samples = sample_rate * max_seconds`` (one window per clip), or ``sample_rate * window_seconds``
with ``max_seconds: null``, where a clip longer than a window is several windows (``features.audio``):
the network pools each window over time, the window embeddings (the pooled vector before the head) of
one clip are averaged, and the head gives one row of logits per clip. The network outputs logits;
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
counts as a convolution of ``n_fft`` taps), and the pooling then spans the whole clip. ``logmel`` trains
a fold of the small synthetic default (~400 training clips, 40 epochs) in under a minute of one CPU
core (its front end computed once as a feature: half the CPU time of computing it in every epoch),
``small`` in about a minute on 2 CPU cores; ``large`` is meant for a GPU. On the synthetic data, whose
audio cue lives in pitch level and range, speaking rate, brightness and breathiness, ``logmel``
generalises to unseen speakers far better than ``small`` (see the config comments).

Augmentation (training only, seeded): each window is shifted in time by a random offset of up to
``augment_shift`` of its length, zero-filled (log-mel: by whole frames, filled with the window's floor,
which is what zero samples become in the front end). Segments whose audio is unusable (``ok`` false in
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
from ..features.logmel import (
    DYNAMIC_RANGE,
    FRONTEND,
    frontend_tensors,
    logmel,
    logmel_array,
    mel_filterbank,  # noqa: F401  (re-exported: the front end's filters)
    n_frames,
)
from . import checkpoint
from . import training as T
from .adapter import Setup, read_indexed_array, rows_by_segment

log = logging.getLogger(__name__)

NAME = "audio"

ARCHS = {
    "logmel": {
        "frontend": dict(FRONTEND),
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


class LogMel(nn.Module):
    """Fixed front end: power spectrogram (Hann-windowed STFT) -> mel filterbank -> log
    (``features.logmel.logmel``, the function the features stage computes ``audio_logmel.npy`` with).

    Input float [batch, 1, n_samples]; output [batch, n_mels, frames] with
    ``frames = n_samples // hop + 1``. Nothing here is learned; the filters are rebuilt from the spec
    (not stored in the checkpoint).
    """

    def __init__(self, sample_rate: int, n_fft: int, hop: int, n_mels: int, f_min: float = 0.0,
                 f_max: float | None = None):
        super().__init__()
        self.hop = int(hop)
        window, filters = frontend_tensors(sample_rate, {"n_fft": n_fft, "hop": hop, "n_mels": n_mels,
                                                         "f_min": f_min, "f_max": f_max})
        self.register_buffer("window", window, persistent=False)
        self.register_buffer("filters", filters, persistent=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # a floor DYNAMIC_RANGE below the clip's loudest bin: padding and pauses stop dominating the scale
        return logmel(x, self.window, self.filters, self.hop)


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

    def forward(self, x: torch.Tensor, groups: torch.Tensor | None = None) -> torch.Tensor:
        """Logits from waveforms [windows, 1, n_samples] (or [windows, n_samples]); ``groups`` as in
        ``from_frontend``."""
        if x.dim() == 2:
            x = x.unsqueeze(1)
        return self.from_frontend(x if self.frontend is None else self.frontend(x), groups)

    def from_frontend(self, x: torch.Tensor, groups: torch.Tensor | None = None) -> torch.Tensor:
        """Logits from what the fixed front end gives: log-mel [windows, n_mels, frames] for ``logmel``
        (what ``audio_logmel.npy`` holds), the waveform [windows, 1, n_samples] for the learned stems.

        ``groups`` (int64 [windows], sorted, every value 0..clips-1 present) names each window's clip:
        the window embeddings (the pooled vector before the head) of a clip are averaged, one row of
        logits per clip. None, or one window per clip: the embeddings go to the head unchanged."""
        h = self.features(x)
        if self.frontend is None:
            emb = torch.cat([h.mean(dim=2), h.amax(dim=2)], dim=1)
        else:  # statistics pooling, the mean and standard deviation of each channel over time
            emb = torch.cat([h.mean(dim=2), torch.sqrt(h.var(dim=2, unbiased=False) + 1e-5)], dim=1)
        return self.head(emb if groups is None else pool_windows(emb, groups))


def pool_windows(emb: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
    """Mean of the rows of ``emb`` [windows, d] per clip (``groups``, see ``AudioCNN.from_frontend``)
    -> [clips, d], by a matrix product (deterministic on every device); one window per clip: unchanged."""
    n = int(groups[-1]) + 1 if len(groups) else 0
    if n == len(groups):
        return emb
    member = (groups[None, :] == torch.arange(n, device=groups.device)[:, None]).to(emb.dtype)
    return (member / member.sum(dim=1, keepdim=True)) @ emb


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
    """Seeded random time shift of each window by up to ``fraction`` of its length (last axis = time).

    Waveforms [windows, 1, n_samples] are zero-filled. Log-mel [windows, n_mels, frames] (``floor``)
    move by whole frames (a hop, 16 ms at 16 kHz) and are filled with the window's floor, its loudest
    bin minus ``DYNAMIC_RANGE``: what zero samples become in the front end, so shifting the features
    matches shifting the waveform up to the frame grid."""

    def __init__(self, fraction: float, seed: int, floor: bool = False):
        self.fraction = float(fraction)
        self.floor = bool(floor)
        self.gen = torch.Generator()
        self.gen.manual_seed(seed)

    def __call__(self, inputs: list[torch.Tensor]) -> list[torch.Tensor]:
        x = inputs[0]
        n = x.shape[-1]
        max_shift = int(self.fraction * n)
        if max_shift < 1:
            return inputs
        shifts = torch.randint(-max_shift, max_shift + 1, (x.shape[0],), generator=self.gen).tolist()
        if self.floor:
            out = (x.amax(dim=(1, 2), keepdim=True) - DYNAMIC_RANGE).expand_as(x).clone()
        else:
            out = torch.zeros_like(x)
        for i, s in enumerate(shifts):
            if s >= 0:
                out[i, ..., s:] = x[i, ..., : n - s]
            else:
                out[i, ..., : n + s] = x[i, ..., -s:]
        return [out, *inputs[1:]]


def read_inputs(paths) -> dict:
    """The audio index table and the memory-mapped CNN input array (``cnn_input``): log-mel features
    [windows, n_mels, frames] (float32, ``audio_logmel.npy``) for ``logmel``, waveforms [windows, samples]
    (float16, ``audio.npy``) otherwise."""
    return read_indexed_array(paths["index"], paths["cnn_input"], "audio")


def _check_index(table: pd.DataFrame, seg: pd.DataFrame, source) -> pd.DataFrame:
    return rows_by_segment(seg, table, source, ("row", "n_windows", "ok"))


def window_batch(first: np.ndarray, counts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The array rows of clips whose windows are ``counts`` consecutive rows from ``first``, and the clip
    (0..n-1) of each of those rows (``groups``)."""
    counts = np.asarray(counts, dtype=np.int64)
    starts = np.cumsum(counts) - counts
    rows = np.repeat(np.asarray(first, dtype=np.int64) - starts, counts) + np.arange(int(counts.sum()))
    return rows, np.repeat(np.arange(len(counts), dtype=np.int64), counts)


def _audio_rows(seg: pd.DataFrame, inputs: dict):
    """(array, first row and window count of each segment, usable flag per segment), checked."""
    sources, array = inputs["sources"], inputs["array"]
    if array.ndim not in (2, 3):
        raise DataError(sources["array"], f"expected [windows, samples] or [windows, mels, frames], got shape "
                                          f"{array.shape}")
    m = _check_index(inputs["index"], seg, sources["index"])
    ok = m["ok"].fillna(False).astype(bool).to_numpy()
    first = np.where(ok, m["row"].fillna(-1), -1).astype(np.int64)
    counts = np.where(ok, m["n_windows"].fillna(0), 0).astype(np.int64)
    if ok.any() and ((first[ok] < 0) | (counts[ok] < 1) | (first[ok] + counts[ok] > array.shape[0])).any():
        raise DataError(sources["index"], f"row index outside audio array of {array.shape[0]} rows")
    # Non-finite values in a usable clip would silently poison training.
    rows = np.sort(window_batch(first[ok], counts[ok])[0])
    for start in range(0, len(rows), 512):
        if not np.isfinite(np.asarray(array[rows[start : start + 512]], dtype=np.float32)).all():
            raise DataError(sources["array"], "usable clip(s) contain NaN or infinite values")
    reasons = m.loc[~ok, "reason"].fillna("unknown").value_counts() if "reason" in m else pd.Series(dtype=int)
    for reason, count in reasons.items():
        log.info("audio unusable (%s): %d segment(s)", reason, count)
    return array, first, counts, ok


def _forward(model, inputs):
    return model.from_frontend(inputs[0], inputs[1] if len(inputs) > 1 else None)


def _window_sources(array, first: np.ndarray, counts: np.ndarray, labels: np.ndarray, splits: np.ndarray):
    """Source builder: a batch of clips = their windows, read from the (memory-mapped) array, and the clip
    of each window; waveforms get a channel axis."""
    def source(pos: np.ndarray) -> T.Source:
        f, c = first[pos], counts[pos]

        def fetch(idx):
            rows, groups = window_batch(f[idx], c[idx])
            x = torch.from_numpy(np.asarray(array[rows], dtype=np.float32))
            return (x.unsqueeze(1) if x.dim() == 2 else x), torch.from_numpy(groups)

        return T.Source(fetch, labels[pos], splits[pos])

    return source


def _logmel_once(wave, first: np.ndarray, counts: np.ndarray, ok: np.ndarray, sample_rate: int, spec: dict):
    """Waveforms given to ``logmel``: the front end computed once here, for the usable clips' windows
    (the workflow reads ``audio_logmel.npy`` instead) -> (log-mel array, first rows in it)."""
    rows = np.sort(window_batch(first[ok], counts[ok])[0])
    log.info("computing the log-mel front end once for %d windows (waveforms given, not audio_logmel.npy)",
             len(rows))
    feats = logmel_array(wave[rows], sample_rate, spec["frontend"])
    return feats, np.where(ok, np.searchsorted(rows, first), -1)


def _cnn_input(arch: str, array, first, counts, ok, settings: T.TrainSettings, source):
    """(input array, first rows, samples per window, input kind), checked against the arch and config."""
    spec = ARCHS[arch]
    sample_rate = int(settings.extra["sample_rate"])
    max_seconds = settings.extra["max_seconds"]
    seconds = float(settings.extra["window_seconds"] if max_seconds is None else max_seconds)
    n_samples = int(round(sample_rate * seconds))
    if array.ndim == 2:
        if array.shape[1] != n_samples:
            log.warning("audio array has %d samples per window, config says %d (sample_rate x %s); using the "
                        "array's length", array.shape[1], n_samples,
                        "window_seconds" if max_seconds is None else "max_seconds")
            n_samples = int(array.shape[1])
        if "frontend" not in spec:
            return array, first, n_samples, "waveform"
        array, first = _logmel_once(array, first, counts, ok, sample_rate, spec)
        return array, first, n_samples, "logmel"
    if "frontend" not in spec:
        raise DataError(source, f"arch {arch} reads waveforms [windows, samples], got shape {array.shape} "
                                "(log-mel features are the input of arch logmel)")
    fe = spec["frontend"]
    want = (int(fe["n_mels"]), n_frames(n_samples, fe))
    if tuple(array.shape[1:]) != want:
        raise DataError(source, f"log-mel features of shape {tuple(array.shape[1:])} per window, arch {arch} "
                                f"with {n_samples} samples per window (sample_rate x {seconds:g} s) needs {want}: "
                                "made with other settings?")
    return array, first, n_samples, "logmel"


def setup(seg: pd.DataFrame, inputs: dict, settings: T.TrainSettings, seed: int) -> Setup:
    """Clips (log-mel features or waveforms, in windows) from the features stage, the CNN of ``arch``,
    time-shift augmentation."""
    arch = settings.extra["arch"]
    if arch not in ARCHS:
        raise ValueError(f"audio arch must be one of {sorted(ARCHS)}, not {arch!r}")
    spec = ARCHS[arch]
    array, first, counts, ok = _audio_rows(seg, inputs)
    array, first, n_samples, kind = _cnn_input(arch, array, first, counts, ok, settings, inputs["sources"]["array"])
    sample_rate = int(settings.extra["sample_rate"])
    model = AudioCNN(spec, sample_rate=sample_rate)
    config = {"arch": arch, "spec": spec, "n_samples": n_samples, "sample_rate": sample_rate,
              "n_classes": len(EMOTIONS), "n_parameters": n_parameters(model),
              "receptive_field": receptive_field(spec), "window_pooling": "mean of the window embeddings"}
    log.info("audio CNN %s: %d parameters, receptive field %d samples, windows of %d samples (%s input); "
             "%d usable clips in %d windows", arch, config["n_parameters"], config["receptive_field"], n_samples,
             kind, int(ok.sum()), int(counts[ok].sum()))
    preprocessing = {
        "sample_rate": sample_rate,
        "max_seconds": settings.extra["max_seconds"],
        "window_seconds": settings.extra["window_seconds"],
        "n_samples": n_samples,
        "input": ("log-mel features of each window (the fixed front end, computed once by the features stage), "
                  "float32" if kind == "logmel" else
                  "waveform of each window as written by the audio features stage (cropped/padded and "
                  "normalised there), float16 -> float32, no further scaling"),
        "windows": "a clip longer than one window is seen as several; their embeddings are averaged per clip",
        "augment_shift": spec["augment_shift"],
        "unusable": "left out of training; predicted as the training prior",
    }
    augment = (TimeShift(spec["augment_shift"], seed + 1, floor=kind == "logmel")
               if spec["augment_shift"] > 0 else None)
    return Setup(model=model, usable=ok,
                 source=_window_sources(array, first, counts, seg["label"].to_numpy(), seg["split"].to_numpy()),
                 forward=_forward, config=config, preprocessing=preprocessing, augment=augment)


save_checkpoint = checkpoint.save


def load_checkpoint(folder) -> tuple[AudioCNN, dict]:
    """Rebuild the trained model from ``config.json`` + ``model.safetensors``; returns (model, config)."""
    return checkpoint.load(folder, lambda c: AudioCNN(c["spec"], c["n_classes"], sample_rate=c["sample_rate"]))


@torch.no_grad()
def predict(model: AudioCNN, config: dict, waveforms: np.ndarray, batch_size: int = 64,
            n_windows: np.ndarray | None = None) -> np.ndarray:
    """Probabilities [clips, 7] from waveforms [windows, n_samples] with a loaded checkpoint (the front end
    runs inside the model); ``n_windows``: each clip's windows, consecutive rows (default: one each)."""
    if waveforms.shape[1] != config["n_samples"]:
        raise ValueError(f"model expects {config['n_samples']} samples per window, got {waveforms.shape[1]}")
    counts = np.ones(len(waveforms), np.int64) if n_windows is None else np.asarray(n_windows, np.int64)
    if int(counts.sum()) != len(waveforms):
        raise ValueError(f"n_windows sum to {int(counts.sum())}, the waveforms have {len(waveforms)} rows")
    first = np.cumsum(counts) - counts
    out = []
    for start in range(0, len(counts), batch_size):
        rows, groups = window_batch(first[start : start + batch_size], counts[start : start + batch_size])
        x = torch.from_numpy(np.asarray(waveforms[rows], dtype=np.float32))
        out.append(model(x, torch.from_numpy(groups)).numpy())
    return T.softmax(np.concatenate(out)) if out else np.zeros((0, len(EMOTIONS)))
