"""The fixed log-mel front end of the ``logmel`` audio CNN, computed once per clip window as a feature.

Nothing in the front end is learned, so it is computed once by the features stage (rule ``audio_logmel``:
``results/features/audio_logmel.npy``, float32 ``[windows, n_mels, frames]``, rows aligned with
``audio.npy``) instead of over the same waveforms in every epoch of every training job. The model keeps the
same front end as a module (``models.audio.LogMel``, built from the same function here), so a checkpoint
still predicts from waveforms, and the two give the same numbers.

Per window: Hann-windowed STFT (``n_fft`` taps, hop ``hop``, centred, zero-padded at the edges) -> power ->
``n_mels`` triangular mel filters (HTK mel scale, unit peak) -> natural log of power + ``LOG_FLOOR`` ->
floored ``DYNAMIC_RANGE`` (40 dB) below the window's loudest bin, so zero padding and pauses sit at one
bounded value. ``frames = n_samples // hop + 1``. Unusable clips (NaN rows of ``audio.npy``) stay NaN.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

log = logging.getLogger(__name__)

# The ``logmel`` architecture's front end (models.audio.ARCHS["logmel"]["frontend"] is this dict).
FRONTEND = {"type": "logmel", "n_fft": 1024, "hop": 256, "n_mels": 64, "f_min": 0.0, "f_max": None}
LOG_FLOOR = 1e-10
DYNAMIC_RANGE = 9.2  # natural-log units of power: 40 dB


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


def n_frames(n_samples: int, spec: dict = FRONTEND) -> int:
    """Frames of a window of ``n_samples`` samples (centred STFT)."""
    return int(n_samples) // int(spec["hop"]) + 1


def frontend_tensors(sample_rate: int, spec: dict = FRONTEND) -> tuple[torch.Tensor, torch.Tensor]:
    """The Hann window [n_fft] and the mel filters [n_mels, n_fft // 2 + 1] (float32)."""
    n_fft = int(spec["n_fft"])
    fb = mel_filterbank(sample_rate, n_fft, int(spec["n_mels"]), spec.get("f_min", 0.0), spec.get("f_max"))
    return torch.hann_window(n_fft, periodic=True), torch.from_numpy(fb.T.astype(np.float32))


def logmel(x: torch.Tensor, window: torch.Tensor, filters: torch.Tensor, hop: int) -> torch.Tensor:
    """Waveforms [..., n_samples] (float32) -> log-mel [batch, n_mels, frames], floored per row."""
    spec = torch.stft(x.reshape(-1, x.shape[-1]), window.shape[0], int(hop), window=window, center=True,
                      pad_mode="constant", return_complex=True)
    power = spec.real.square() + spec.imag.square()
    out = torch.log(torch.matmul(filters, power) + LOG_FLOOR)
    return torch.maximum(out, out.amax(dim=(1, 2), keepdim=True) - DYNAMIC_RANGE)


@torch.no_grad()
def logmel_array(waves: np.ndarray, sample_rate: int, spec: dict = FRONTEND, batch_size: int = 64) -> np.ndarray:
    """Log-mel features of every row of ``waves`` [rows, n_samples] (float16/32, may be memory-mapped):
    float32 [rows, n_mels, frames]; rows with a non-finite sample (unusable clips) are NaN."""
    if waves.ndim != 2:
        raise ValueError(f"expected waveforms [rows, samples], got shape {waves.shape}")
    window, filters = frontend_tensors(sample_rate, spec)
    out = np.full((waves.shape[0], int(spec["n_mels"]), n_frames(waves.shape[1], spec)), np.nan, np.float32)
    for start in range(0, waves.shape[0], batch_size):
        x = np.asarray(waves[start : start + batch_size], dtype=np.float32)
        finite = np.isfinite(x).all(axis=1)
        if finite.any():
            rows = np.flatnonzero(finite) + start
            out[rows] = logmel(torch.from_numpy(x[finite]), window, filters, spec["hop"]).numpy()
    return out
