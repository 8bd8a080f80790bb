"""Small, learnable fixtures for the model tests: segments, bio/audio/text features, a tiny BERT."""

from __future__ import annotations

import logging
import runpy
from pathlib import Path

import numpy as np
import pandas as pd

from emoflow.constants import EMOTIONS

SPLIT_SIZES = {"train": 56, "val": 21, "test": 21}
SAMPLE_RATE = 2000
N_SAMPLES = 2000  # 1 s clips keep the audio tests fast
VOCAB = 40


def segments(seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    rows = []
    for split, n in SPLIT_SIZES.items():
        for i in range(n):
            rows.append({"segment_id": f"Sess01_script01_{split}{i:03d}", "split": split,
                         "emotion": EMOTIONS[i % len(EMOTIONS)], "session": "Session01", "speaker": "F"})
    df = pd.DataFrame(rows)
    # Shuffle the file order: every stage must join on segment_id, not rely on row order.
    return df.iloc[rng.permutation(len(df))].reset_index(drop=True)


def one_fold(segments_path, out: Path) -> Path:
    """The folds table of a single split: the segments' own ``split`` column as fold 0."""
    seg = pd.read_parquet(segments_path)
    seg.assign(fold=0)[["segment_id", "fold", "split"]].to_parquet(out, index=False)
    return out


def label_index(df: pd.DataFrame) -> np.ndarray:
    return df["emotion"].map({e: i for i, e in enumerate(EMOTIONS)}).to_numpy()


def bio_features(seg: pd.DataFrame, seed: int = 1, n_bands: int = 3) -> pd.DataFrame:
    """Features that carry the label (plus noise); some groups missing (NaN, flag false)."""
    rng = np.random.default_rng(seed)
    y = label_index(seg)
    n = len(seg)
    onehot = np.eye(len(EMOTIONS))[y]
    proj = rng.normal(size=(len(EMOTIONS), 4 + n_bands + 2 + 4))
    base = onehot @ proj + 0.1 * rng.normal(size=(n, proj.shape[1]))
    df = pd.DataFrame({"segment_id": seg["segment_id"].to_numpy()})
    names = (["ecg_mean_nn", "ecg_sdnn", "ecg_rmssd", "ecg_nn50"] + [f"eda_band_{i}" for i in range(n_bands)]
             + ["eda_mean", "eda_n_samples", "temp_mean", "temp_var", "temp_slope", "temp_intercept"])
    for j, name in enumerate(names[:4]):
        df[name] = 800 + 50 * base[:, j]
    df["ecg_n_beats"] = rng.integers(3, 9, n).astype(float)
    for j, name in enumerate(names[4:], start=4):
        df[name] = base[:, j]
    ecg_ok = rng.random(n) > 0.15
    temp_ok = rng.random(n) > 0.1
    ecg_cols = [c for c in df.columns if c.startswith("ecg_")]
    temp_cols = [c for c in df.columns if c.startswith("temp_")]
    df.loc[~ecg_ok, ecg_cols] = np.nan
    df.loc[~temp_ok, temp_cols] = np.nan
    df["ecg_ok"] = ecg_ok
    df["eda_ok"] = True
    df["temp_ok"] = temp_ok
    df["ecg_reason"] = np.where(ecg_ok, "", "too_few_beats")
    df["eda_reason"] = ""
    df["temp_reason"] = np.where(temp_ok, "", "file_missing")
    return df.iloc[rng.permutation(n)].reset_index(drop=True)


def audio_features(seg: pd.DataFrame, tmp: Path, seed: int = 2, bad: tuple[str, ...] = ()):
    """Tone per class (frequency = class) + noise, float16 array + index table (row order shuffled)."""
    rng = np.random.default_rng(seed)
    y = label_index(seg)
    n = len(seg)
    t = np.arange(N_SAMPLES) / SAMPLE_RATE
    freqs = 60 + 70 * y
    wave = np.sin(2 * np.pi * freqs[:, None] * t[None, :] + rng.uniform(0, 2 * np.pi, (n, 1)))
    wave = 0.5 * wave + 0.2 * rng.normal(size=wave.shape)
    rows = rng.permutation(n)
    array = np.zeros((n, N_SAMPLES), dtype=np.float16)
    array[rows] = wave.astype(np.float16)
    ok = ~seg["segment_id"].isin(bad).to_numpy()
    array[rows[~ok]] = 0
    table = pd.DataFrame({"segment_id": seg["segment_id"].to_numpy(), "row": rows, "n_windows": 1, "ok": ok,
                          "reason": np.where(ok, "", "corrupt_wav"), "duration_s": 1.0})
    array_path, table_path = tmp / "audio.npy", tmp / "audio.parquet"
    np.save(array_path, array)
    table.to_parquet(table_path, index=False)
    return array_path, table_path


def text_features(seg: pd.DataFrame, seed: int = 3, length: int = 12) -> pd.DataFrame:
    """Token sequences where one token (5 + class) marks the label; variable lengths, padded with 0."""
    rng = np.random.default_rng(seed)
    y = label_index(seg)
    ids, masks = [], []
    for label in y:
        n = int(rng.integers(4, length - 1))
        body = rng.integers(15, VOCAB, n)
        body[rng.integers(0, n)] = 5 + label
        seq = [2, *body.tolist(), 3]
        ids.append(seq + [0] * (length - len(seq)))
        masks.append([1] * len(seq) + [0] * (length - len(seq)))
    return pd.DataFrame({"segment_id": seg["segment_id"].to_numpy(), "input_ids": ids, "attention_mask": masks})


def tiny_bert(folder: Path, seed: int = 0) -> Path:
    """A tiny randomly initialised BERT saved like any backbone folder."""
    import torch
    from transformers import BertConfig, BertModel
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    cfg = BertConfig(vocab_size=VOCAB, hidden_size=32, num_hidden_layers=1, num_attention_heads=2,
                     intermediate_size=64, max_position_embeddings=32, pad_token_id=0)
    torch.manual_seed(seed)
    BertModel(cfg).save_pretrained(folder)
    return folder


def outputs(seed_dir: Path) -> dict:
    names = {"model": "model.safetensors", "config": "config.json", "preprocessing": "preprocessing.json",
             "curve": "curve.csv", "curve_png": "curve.png", "predictions": "predictions.parquet"}
    return {k: str(seed_dir / v) for k, v in names.items()}


# Every key the config schema gives a training section (no code defaults exist to fall back on).
_PLAIN = {"schedule": "constant", "warmup": 0.0, "label_smoothing": 0.0, "select": "f1"}
BIO_PARAMS = {"batch_size": 16, "lr": 0.01, "epochs": 12, "weight_decay": 1e-4, "patience": 0,
              "class_weights": False, "device": "cpu", "hidden": [32, 16], "dropout": 0.1, **_PLAIN}
AUDIO_PARAMS = {"batch_size": 16, "lr": 0.003, "epochs": 3, "weight_decay": 1e-4, "patience": 0,
                "class_weights": False, "device": "cpu", "arch": "small", "sample_rate": SAMPLE_RATE,
                "max_seconds": N_SAMPLES / SAMPLE_RATE, "window_seconds": 4.0, **_PLAIN}
TEXT_PARAMS = {"batch_size": 16, "lr": 0.003, "epochs": 3, "weight_decay": 0.01, "patience": 0,
               "class_weights": False, "device": "cpu", "finetune": True,
               "layer_head": {"hidden": 32, "dropout": 0.1}, **_PLAIN}


def run_script(path: Path, smk) -> None:
    """Run a Snakemake script with a stand-in ``snakemake`` object; restore logging afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        runpy.run_path(str(path), init_globals={"snakemake": smk})
    finally:
        for h in root.handlers:
            if h not in handlers:
                h.close()
        root.handlers = handlers
        root.setLevel(level)
