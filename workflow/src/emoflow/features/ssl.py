"""Frozen self-supervised speech encoders (``audio.encoder: ssl``): per-layer, time-pooled hidden states.

Encoder
    ``audio.pretrained``: a folder holding a transformers speech encoder (wav2vec2, HuBERT, WavLM,
    data2vec-audio, ...) and its feature extractor, loaded with ``AutoFeatureExtractor`` /
    ``AutoModel.from_pretrained(local_files_only=True)`` (``load_encoder``). A hub name is fetched into
    such a folder once, by the local rule ``fetch_ssl`` (``fetch_encoder``, ``emoflow.hub``).
Clips
    each utterance is read whole (``load_clip``: the checks of ``features.audio``, mixed to mono,
    resampled to the extractor's rate, 16 kHz for these models), with no crop, padding or level
    normalisation of ours: the feature extractor prepares the samples as in pretraining (e.g.
    wav2vec2's zero-mean, unit-variance normalisation).
Embeddings
    a clip longer than ``audio.window_seconds`` is cut into equal windows no longer than that (so no
    stub is left at the end); every window runs through the encoder on its own (batch of one, so a
    clip's embedding does not depend on the other clips), and each layer's hidden states (the CNN
    feature projection plus every transformer layer: ``n_layers = num_hidden_layers + 1``) are averaged
    over all frames of all windows: float32 ``[n_layers, hidden_size]`` per utterance (``embed_clip``).
Tables
    one job per session (``extract_session``): an array ``[n, n_layers, hidden_size]`` (NaN rows for
    unusable clips, with the ``features.audio`` reasons) and an index by ``segment_id``; ``gather`` joins
    the sessions. The files live under a folder named after the encoder (``hub.slug``), so a head
    change reuses them and another encoder gets its own.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple, Sequence

import numpy as np
import pandas as pd
import torch

from .. import hub
from ..errors import DataError
from .audio import Clip, load_wav

log = logging.getLogger(__name__)

KEY = "audio.pretrained"
INDEX_COLUMNS = ["segment_id", "row", "ok", "reason", "duration_s", "n_windows"]


def quiet_transformers() -> None:
    """No progress bars and no load reports (unused pretraining heads) from transformers in the job logs."""
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


# ---------------------------------------------------------------------------------------------
# The encoder


@dataclass
class SpeechEncoder:
    extractor: object  # transformers feature extractor
    model: torch.nn.Module  # transformers base model (Wav2Vec2Model, HubertModel, WavLMModel, ...)
    source: str  # the folder it came from

    @property
    def sampling_rate(self) -> int:
        return int(self.extractor.sampling_rate)

    @property
    def n_layers(self) -> int:
        return int(self.model.config.num_hidden_layers) + 1

    @property
    def dim(self) -> int:
        return int(self.model.config.hidden_size)

    @property
    def min_samples(self) -> int:
        """Receptive field of one output frame of the convolutional feature encoder (400 for wav2vec2)."""
        cfg = self.model.config
        r, jump = 1, 1
        for k, s in zip(getattr(cfg, "conv_kernel", ()), getattr(cfg, "conv_stride", ())):
            r += (k - 1) * jump
            jump *= s
        return r


def inference_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else CPU; ``cuda`` fails clearly without a GPU. Deterministic
    algorithms on. (Kept apart from ``models.training`` on purpose: the cached embeddings must not be
    recomputed because the training loop changed.)"""
    if name not in ("auto", "cpu", "cuda"):
        raise ValueError(f"device must be auto, cpu or cuda, not {name!r}")
    if name == "cuda" and not torch.cuda.is_available():
        raise RuntimeError("config device is 'cuda' but torch finds no CUDA GPU (use device: auto or cpu)")
    device = torch.device("cuda" if name != "cpu" and torch.cuda.is_available() else "cpu")
    if device.type == "cuda":
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")  # reproducible cuBLAS matrix products
    torch.use_deterministic_algorithms(True, warn_only=device.type == "cuda")
    log.info("device: %s, torch %s, %d CPU threads", device, torch.__version__, torch.get_num_threads())
    return device


def load_encoder(path, key: str = KEY) -> SpeechEncoder:
    """Feature extractor + base model from a local folder (eval mode, no network); DataError otherwise."""
    from transformers import AutoFeatureExtractor, AutoModel

    folder = hub.require_folder(path, key)
    quiet_transformers()
    try:
        extractor = AutoFeatureExtractor.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(folder, f"{key}: no speech feature extractor (preprocessor_config.json) to load "
                                f"({type(exc).__name__}: {(str(exc).splitlines() or [''])[0]})") from exc
    try:
        model = AutoModel.from_pretrained(str(folder), local_files_only=True)
    except (OSError, ValueError, KeyError) as exc:
        raise DataError(folder, f"{key}: cannot load a model with AutoModel.from_pretrained "
                                f"({type(exc).__name__}: {(str(exc).splitlines() or [''])[0]})") from exc
    if not hasattr(extractor, "sampling_rate") or not hasattr(model.config, "num_hidden_layers"):
        raise DataError(folder, f"{key}: {type(model).__name__} is not a speech encoder with hidden layers")
    model.eval()
    return SpeechEncoder(extractor, model, str(folder))


def fetch_encoder(name: str, out_dir, revision: str | None = None) -> None:
    """Download a hub speech encoder (the only network step) and save extractor + model to ``out_dir``."""
    Path(out_dir).parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".fetch-", dir=Path(out_dir).parent) as tmp:
        path = hub.download(name, revision, tmp, key=KEY)
        if (path / "model.safetensors").exists() and (path / "pytorch_model.bin").exists():
            (path / "pytorch_model.bin").unlink()
        enc = load_encoder(path)

        def write(dest: Path) -> None:
            enc.extractor.save_pretrained(dest)
            enc.model.save_pretrained(dest, safe_serialization=True)

        hub.publish(write, out_dir)
    log.info("saved %s to %s", f"{name}@{revision}" if revision else name, out_dir)


# ---------------------------------------------------------------------------------------------
# One clip


def load_clip(path, sample_rate: int, min_seconds: float) -> Clip:
    """The whole utterance as mono float32 at ``sample_rate`` (no crop, padding or normalisation), or a
    reason (``features.audio``: missing_wav, empty_wav, truncated_wav, not_wav, not_pcm, too_short ...)."""
    return load_wav(path, sample_rate=sample_rate, max_seconds=None, normalize="none", min_seconds=min_seconds)


def window_bounds(n_samples: int, window: int | None) -> list[tuple[int, int]]:
    """``(start, end)`` of equal consecutive windows of at most ``window`` samples covering ``n_samples``
    (one window when ``window`` is None or the clip fits)."""
    if n_samples < 1:
        raise ValueError("empty clip")
    k = 1 if not window else max(1, -(-n_samples // int(window)))
    edges = [round(i * n_samples / k) for i in range(k + 1)]
    return list(zip(edges[:-1], edges[1:]))


@torch.no_grad()
def embed_clip(enc: SpeechEncoder, wave: np.ndarray, window_seconds: float | None,
               device: torch.device | str = "cpu") -> tuple[np.ndarray, int]:
    """Every layer's hidden states averaged over all frames of the clip: float32 [n_layers, dim], and
    the number of windows it took."""
    window = None if window_seconds is None else int(round(window_seconds * enc.sampling_rate))
    total = torch.zeros(enc.n_layers, enc.dim, dtype=torch.float64)
    frames = 0
    bounds = window_bounds(len(wave), window)
    for start, end in bounds:
        chunk = np.asarray(wave[start:end], dtype=np.float32)
        if len(chunk) < enc.min_samples:  # shorter than one frame's receptive field: zero-pad
            chunk = np.pad(chunk, (0, enc.min_samples - len(chunk)))
        inputs = enc.extractor(chunk, sampling_rate=enc.sampling_rate, return_tensors="pt")
        out = enc.model(inputs["input_values"].to(device), output_hidden_states=True)
        hidden = torch.stack(out.hidden_states)[:, 0]  # [n_layers, frames, dim]
        if hidden.shape[0] != enc.n_layers:
            raise DataError(enc.source, f"the model returned {hidden.shape[0]} hidden states, expected "
                                        f"{enc.n_layers} (num_hidden_layers + 1)")
        total += hidden.sum(dim=1).double().cpu()
        frames += hidden.shape[1]
    return (total / frames).float().numpy(), len(bounds)


# ---------------------------------------------------------------------------------------------
# Sessions


class Embeddings(NamedTuple):
    """float32 ``array`` [n, n_layers, dim] (NaN rows: unusable clips) and its ``index`` (INDEX_COLUMNS)."""

    array: np.ndarray
    index: pd.DataFrame


def extract_session(part: pd.DataFrame, wav_files: Sequence, session: str, enc: SpeechEncoder, *,
                    window_seconds: float | None, min_seconds: float,
                    device: torch.device | str = "cpu") -> Embeddings:
    """One session's embeddings (``part`` from ``features.audio.session_segments``, ``wav_files`` the
    file of each of its rows)."""
    array = np.full((len(part), enc.n_layers, enc.dim), np.nan, dtype=np.float32)
    rows, seconds, t0 = [], 0.0, time.perf_counter()
    for i, (sid, path) in enumerate(zip(part["segment_id"], wav_files)):
        clip = load_clip(path, enc.sampling_rate, min_seconds)
        n_windows = 0
        if clip.ok:
            array[i], n_windows = embed_clip(enc, clip.samples, window_seconds, device)
            seconds += len(clip.samples) / enc.sampling_rate
        else:
            log.warning("%s: %s (%s)", sid, clip.reason, path)
        rows.append({"segment_id": str(sid), "row": i, "ok": clip.ok, "reason": clip.reason,
                     "duration_s": clip.duration_s, "n_windows": n_windows})
    elapsed = time.perf_counter() - t0
    index = pd.DataFrame(rows, columns=INDEX_COLUMNS).astype(
        {"segment_id": str, "row": np.int64, "ok": bool, "reason": str, "duration_s": np.float64,
         "n_windows": np.int64})
    n_ok = int(index["ok"].sum())
    log.info("%s: %d clips, %d embedded (%.0f s of audio) in %.1f s: %.2f utterances/s, %.0f s per hour of "
             "audio; %d layers x %d", session, len(index), n_ok, seconds, elapsed, n_ok / max(elapsed, 1e-9),
             3600 * elapsed / max(seconds, 1e-9), enc.n_layers, enc.dim)
    return Embeddings(array, index)


def gather(segments: pd.DataFrame, sessions: Sequence[tuple[str, np.ndarray, pd.DataFrame]],
           source="segments.parquet") -> Embeddings:
    """Per-session ``(file, array, index)`` -> one array and index; every segment of ``segments`` gets a
    row (``not_extracted``, NaN, when no session holds it)."""
    if "segment_id" not in segments.columns:
        raise DataError(source, "missing column 'segment_id'")
    known = segments["segment_id"].astype(str)
    shape, pieces, arrays, offset = None, [], [], 0
    for name, arr, idx in sessions:
        if arr.ndim != 3 or len(arr) != len(idx):
            raise DataError(name, f"array shape {arr.shape} does not match its index ({len(idx)} rows)")
        if shape is not None and arr.shape[1:] != shape:
            raise DataError(name, f"embeddings of shape {arr.shape[1:]}, other sessions have {shape}")
        shape = arr.shape[1:]
        stray = ~idx["segment_id"].astype(str).isin(known)
        if stray.any():
            raise DataError(name, f"{int(stray.sum())} segment(s) not in {source}, e.g. "
                                  f"{idx.loc[stray, 'segment_id'].iloc[0]} (stale per-session output?)")
        pieces.append(idx.assign(row=offset + np.asarray(idx["row"], dtype=np.int64)))
        arrays.append(np.asarray(arr, dtype=np.float32))
        offset += len(idx)
    index = pd.concat(pieces, ignore_index=True) if pieces else pd.DataFrame(columns=INDEX_COLUMNS)
    if index["segment_id"].duplicated().any():
        raise DataError(source, f"segment {index.loc[index['segment_id'].duplicated(), 'segment_id'].iloc[0]} "
                                "appears in two sessions")
    missing = sorted(set(known) - set(index["segment_id"].astype(str)))
    if missing:
        log.warning("%d segment(s) were not extracted by any session job, e.g. %s", len(missing), missing[0])
        extra = pd.DataFrame({"segment_id": missing, "row": offset + np.arange(len(missing)), "ok": False,
                              "reason": "not_extracted", "duration_s": np.nan, "n_windows": 0})
        index = pd.concat([index, extra], ignore_index=True)
        arrays.append(np.full((len(missing), *(shape or (0, 0))), np.nan, dtype=np.float32))
    array = np.concatenate(arrays) if arrays else np.zeros((0, 0, 0), dtype=np.float32)
    index = index.astype({"segment_id": str, "row": np.int64, "ok": bool, "reason": str,
                          "duration_s": np.float64, "n_windows": np.int64})[INDEX_COLUMNS]
    return Embeddings(array, index)
