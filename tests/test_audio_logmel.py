"""The log-mel front end as a feature computed once (features.logmel, rule audio_logmel), the CNN on it, and
whole clips in windows pooled per clip (models.audio)."""

from __future__ import annotations

import runpy
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from emoflow.constants import EMOTIONS
from emoflow.features import logmel as LM
from emoflow.models import audio
from emoflow.models import training as T

SCRIPTS = Path(__file__).resolve().parents[1] / "workflow" / "scripts"


def _old_front_end(x: torch.Tensor, sample_rate: int = 16000) -> torch.Tensor:
    """The front end as the model computed it in every epoch before it became a feature (a frozen copy of
    that code: STFT 1024 / hop 256, 64 mel filters, log power floored 9.2 below the clip's maximum)."""
    window = torch.hann_window(1024, periodic=True)
    filters = torch.from_numpy(audio.mel_filterbank(sample_rate, 1024, 64).T.astype(np.float32))
    spec = torch.stft(x.reshape(-1, x.shape[-1]), 1024, 256, window=window, center=True, pad_mode="constant",
                      return_complex=True)
    power = spec.real.square() + spec.imag.square()
    out = torch.log(torch.matmul(filters, power) + 1e-10)
    return torch.maximum(out, out.amax(dim=(1, 2), keepdim=True) - 9.2)


def _waves(n: int = 5, n_samples: int = 64000, seed: int = 0) -> np.ndarray:
    """Tones with noise, peak-normalised, the last ones zero-padded, stored as float16 like audio.npy."""
    rng = np.random.default_rng(seed)
    t = np.arange(n_samples) / 16000
    x = np.sin(2 * np.pi * rng.uniform(100, 400, (n, 1)) * t) + 0.3 * rng.normal(size=(n, n_samples))
    x[n // 2 :, n_samples // 2 :] = 0
    return (x / np.abs(x).max(axis=1, keepdims=True)).astype(np.float16)


def test_logmel_feature_equals_the_old_in_model_front_end():
    waves = _waves()
    waves[1] = np.nan  # an unusable clip's row
    feats = LM.logmel_array(waves, 16000, batch_size=2)
    assert feats.dtype == np.float32 and feats.shape == (5, 64, 64000 // 256 + 1)
    assert np.isnan(feats[1]).all() and np.isfinite(feats[[0, 2, 3, 4]]).all()
    for i in (0, 2, 3, 4):  # one clip at a time, as the model's batches never matched the feature job's
        ref = _old_front_end(torch.from_numpy(waves[i : i + 1].astype(np.float32)))[0].numpy()
        np.testing.assert_allclose(feats[i], ref, rtol=1e-5, atol=1e-5)
    # the model's own front end (used to predict from waveforms) is the same function
    model = audio.AudioCNN(audio.ARCHS["logmel"])
    np.testing.assert_allclose(model.frontend(torch.from_numpy(waves[[0]].astype(np.float32))).numpy(), feats[[0]],
                               rtol=1e-5, atol=1e-5)


def test_cnn_on_the_feature_is_the_cnn_on_the_waveform():
    """Same architecture after the front end: same logits and the same gradients from either input."""
    waves = _waves(4)
    feats = torch.from_numpy(LM.logmel_array(waves, 16000))
    y = torch.arange(4) % 7
    grads = []
    for inputs, forward in ((torch.from_numpy(waves.astype(np.float32)).unsqueeze(1), "forward"),
                            (feats, "from_frontend")):
        torch.manual_seed(0)
        model = audio.AudioCNN(audio.ARCHS["logmel"]).eval()
        logits = getattr(model, forward)(inputs)
        torch.nn.functional.cross_entropy(logits, y).backward()
        grads.append((logits.detach(), [p.grad.clone() for p in model.parameters()]))
    (la, ga), (lb, gb) = grads
    torch.testing.assert_close(la, lb, rtol=1e-4, atol=1e-5)
    for a, b in zip(ga, gb):
        torch.testing.assert_close(a, b, rtol=1e-3, atol=1e-5)


def test_window_embeddings_are_averaged_per_clip():
    torch.manual_seed(0)
    model = audio.AudioCNN(audio.ARCHS["logmel"]).eval()
    feats = torch.from_numpy(LM.logmel_array(_waves(7, 16000), 16000))  # 7 windows of 1 s
    rows, groups = audio.window_batch(np.array([0, 1, 5]), np.array([1, 4, 2]))  # a clip of 3.5 windows: 4
    assert rows.tolist() == list(range(7)) and groups.tolist() == [0, 1, 1, 1, 1, 2, 2]
    with torch.no_grad():
        pooled = model.from_frontend(feats, torch.from_numpy(groups))
        alone = model.from_frontend(feats)  # one clip per window
        assert pooled.shape == (3, len(EMOTIONS)) and alone.shape == (7, len(EMOTIONS))
        torch.testing.assert_close(pooled[0], alone[0])  # a clip of one window is that window
        # the head sees the mean of the window embeddings
        emb = torch.randn(7, 5)
        torch.testing.assert_close(audio.pool_windows(emb, torch.from_numpy(groups))[1], emb[1:5].mean(dim=0))
        # one window per clip: the embeddings go to the head unchanged (bit for bit)
        assert torch.equal(model.from_frontend(feats, torch.arange(7)), alone)


def test_time_shift_of_log_mel_matches_shifting_the_waveform():
    """Shifting the feature by k frames = the feature of the waveform shifted by k hops (zero-filled), away
    from the frames the STFT window straddles."""
    t = np.arange(32000) / 16000
    wave = (np.sin(2 * np.pi * 300 * t) * (0.3 + 0.7 * (np.abs(t - 1.0) < 0.3))).astype(np.float32)
    feats = torch.from_numpy(LM.logmel_array(wave[None], 16000))
    shift = audio.TimeShift(0.1, seed=5, floor=True)
    k = int(torch.randint(-12, 13, (1,), generator=torch.Generator().manual_seed(5)))  # the draw it makes
    assert k != 0
    out = shift([feats, torch.zeros(1)])[0][0].numpy()
    moved = np.zeros_like(wave)
    if k > 0:
        moved[k * 256 :] = wave[: -k * 256]
    else:
        moved[: k * 256] = wave[-k * 256 :]
    ref = LM.logmel_array(moved[None], 16000)[0]
    # frame j's STFT spans hops j - 2 .. j + 2: leave out the frames that straddle the shift's edge or the
    # clip's own edges (the centred STFT's padding)
    lo, hi = (k + 2, -2) if k > 0 else (2, k - 2)
    np.testing.assert_allclose(out[:, lo:hi], ref[:, lo:hi], atol=1e-4)
    filled = slice(0, k) if k > 0 else slice(k, None)
    np.testing.assert_allclose(out[:, filled], ref.min(), atol=1e-4)  # the floor: what zeros become


def _windowed_inputs(tmp_path: Path, n_segments: int = 28):
    """Segments, a windowed index (1-3 windows per clip, one unusable) and the waveforms of 0.5 s windows."""
    rng = np.random.default_rng(1)
    splits = (["train"] * 14 + ["val"] * 7 + ["test"] * 7)[:n_segments]
    seg = pd.DataFrame({"segment_id": [f"Sess01_script01_F{i:03d}" for i in range(n_segments)], "split": splits,
                        "emotion": [EMOTIONS[i % 7] for i in range(n_segments)]})
    counts = rng.integers(1, 4, n_segments)
    first = np.cumsum(counts) - counts
    waves = _waves(int(counts.sum()), 8000, seed=2)
    ok = np.ones(n_segments, bool)
    ok[3] = False
    waves[first[3] : first[3] + counts[3]] = np.nan
    index = pd.DataFrame({"segment_id": seg["segment_id"], "row": first, "n_windows": counts, "ok": ok,
                          "reason": np.where(ok, "", "empty_wav")})
    return T.check_segments(seg, "segments"), index, waves


def _settings(**extra):
    return T.TrainSettings.from_params({
        "batch_size": 8, "lr": 0.003, "epochs": 2, "weight_decay": 0.0, "patience": 0, "class_weights": False,
        "device": "cpu", "schedule": "constant", "warmup": 0.0, "label_smoothing": 0.0, "select": "loss",
        "arch": "logmel", "sample_rate": 16000, "max_seconds": None, "window_seconds": 0.5, **extra})


def test_training_on_whole_clips_in_windows(tmp_path):
    seg, index, waves = _windowed_inputs(tmp_path)
    feats = LM.logmel_array(waves, 16000)
    sources = {"index": "audio.parquet", "array": "audio_logmel.npy"}
    setup = audio.setup(seg, {"index": index, "array": feats, "sources": sources}, _settings(), 0)
    x, groups = setup.source(np.arange(6)).fetch(np.array([4, 0, 5]))  # clips in batch order
    counts = index["n_windows"].to_numpy()
    assert x.shape == (counts[[4, 0, 5]].sum(), 64, 8000 // 256 + 1)
    assert groups.tolist() == [0] * counts[4] + [1] * counts[0] + [2] * counts[5]
    assert setup.forward(setup.model, [x, groups]).shape == (3, len(EMOTIONS))
    assert not setup.usable[3] and setup.config["n_samples"] == 8000

    runs = []
    for array in (feats, waves):  # the cached feature, and waveforms (the front end computed once in setup)
        T.seed_everything(0)
        res = T.train(audio, seg, {"index": index, "array": array, "sources": sources}, _settings(), 0, 0)
        runs.append(res.predictions)
    assert len(runs[0]) == 14 and runs[0]["segment_id"].is_unique
    pd.testing.assert_frame_equal(runs[0], runs[1], atol=1e-5, check_exact=False)


def test_stale_log_mel_features_are_an_error(tmp_path):
    seg, index, waves = _windowed_inputs(tmp_path)
    feats = LM.logmel_array(waves, 16000)
    sources = {"index": "audio.parquet", "array": "audio_logmel.npy"}
    with pytest.raises(Exception, match=r"audio_logmel\.npy.*made with other settings"):
        audio.setup(seg, {"index": index, "array": feats, "sources": sources}, _settings(window_seconds=1.0), 0)
    with pytest.raises(Exception, match="arch small reads waveforms"):
        audio.setup(seg, {"index": index, "array": feats, "sources": sources}, _settings(arch="small"), 0)


def test_audio_logmel_script(tmp_path, restore_logging):
    seg, index, waves = _windowed_inputs(tmp_path)
    np.save(tmp_path / "audio.npy", waves)
    index.to_parquet(tmp_path / "audio.parquet", index=False)
    smk = SimpleNamespace(
        input=SimpleNamespace(array=str(tmp_path / "audio.npy"), index=str(tmp_path / "audio.parquet"), code=[]),
        output=[str(tmp_path / "audio_logmel.npy")], params=SimpleNamespace(sample_rate=16000),
        log=[str(tmp_path / "logmel.log")], threads=1, rule="audio_logmel", scriptdir=str(SCRIPTS))
    runpy.run_path(str(SCRIPTS / "audio_logmel.py"), init_globals={"snakemake": smk})
    np.testing.assert_array_equal(np.load(tmp_path / "audio_logmel.npy"), LM.logmel_array(waves, 16000))
    index.iloc[1:].to_parquet(tmp_path / "audio.parquet", index=False)  # the index no longer fits the array
    with pytest.raises(SystemExit):
        runpy.run_path(str(SCRIPTS / "audio_logmel.py"), init_globals={"snakemake": smk})
    assert "does not list as many windows" in (tmp_path / "logmel.log").read_text()
