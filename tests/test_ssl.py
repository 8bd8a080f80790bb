"""Pretrained encoders (audio.encoder ssl, text.finetune false): loading real transformers folders offline,
whole-utterance embeddings in windows, the weighted-layer head, fine-tuning one step, checkpoints, errors.

Every model here is a tiny randomly initialised one of the real architecture (``_ssl_models``)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch
from safetensors.torch import load_file

import _model_data as D
import _ssl_models as M
from emoflow import hub
from emoflow.constants import PROB_COLUMNS
from emoflow.errors import DataError
from emoflow.features import ssl as F
from emoflow.models import layers, registry, ssl, text
from emoflow.models import training as T

SCRIPTS = Path(__file__).resolve().parents[1] / "workflow" / "scripts"
SR = 16000


@pytest.fixture(scope="module")
def encoders(tmp_path_factory):
    root = tmp_path_factory.mktemp("ssl")
    return {family: M.speech_encoder(root / family, family) for family in M.FAMILIES}


def tone(seconds: float, freq: float = 220.0, sr: int = SR, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * sr))) / sr
    return (0.5 * np.sin(2 * np.pi * freq * t) + 0.05 * rng.normal(size=t.shape)).astype(np.float32)


# --------------------------------------------------------------------------------------------------
# Loading and embedding


@pytest.mark.parametrize("family", M.FAMILIES)
def test_each_family_loads_through_the_auto_classes_and_embeds_every_layer(encoders, family):
    enc = F.load_encoder(encoders[family])
    assert type(enc.model).__name__ == {"wav2vec2": "Wav2Vec2Model", "hubert": "HubertModel",
                                        "wavlm": "WavLMModel"}[family]
    assert (enc.n_layers, enc.dim, enc.sampling_rate) == (3, 16, SR)  # CNN projection + 2 transformer layers
    assert enc.min_samples == 400  # the 7-convolution feature encoder of wav2vec2-style models
    emb, n_windows = F.embed_clip(enc, tone(1.0), window_seconds=4.0)
    assert emb.shape == (3, 16) and emb.dtype == np.float32 and np.isfinite(emb).all() and n_windows == 1
    # the layers differ (a model that returned one layer three times would not)
    assert not np.allclose(emb[0], emb[2])
    again, _ = F.embed_clip(F.load_encoder(encoders[family]), tone(1.0), window_seconds=4.0)
    assert again.tobytes() == emb.tobytes(), "same clip, same folder: same bytes"


def test_window_bounds_cover_the_clip_with_the_fewest_equal_windows():
    assert F.window_bounds(35, 10) == [(0, 9), (9, 18), (18, 26), (26, 35)]  # 3.5 windows -> 4 equal ones
    assert F.window_bounds(10, 10) == [(0, 10)] and F.window_bounds(7, None) == [(0, 7)]
    for n, w in [(1, 5), (99, 10), (16000 * 13 + 7, 64000)]:
        b = F.window_bounds(n, w)
        assert b[0][0] == 0 and b[-1][1] == n and all(e0 == s1 for (_, e0), (s1, _) in zip(b, b[1:]))
        assert len(b) == -(-n // w) and max(e - s for s, e in b) <= w


def test_a_long_clip_is_embedded_in_windows_whose_frames_are_averaged(encoders):
    enc = F.load_encoder(encoders["wav2vec2"])
    half = tone(1.5, seed=3)
    single, n1 = F.embed_clip(enc, half, window_seconds=2.0)
    # two identical halves in two windows: the mean over all frames is the mean of one half's frames
    double, n2 = F.embed_clip(enc, np.concatenate([half, half]), window_seconds=2.0)
    assert (n1, n2) == (1, 2)
    np.testing.assert_allclose(double, single, rtol=1e-5, atol=1e-6)
    # the whole 3 s clip in one window sees context across the halves: a different embedding
    whole, n3 = F.embed_clip(enc, np.concatenate([half, half]), window_seconds=None)
    assert n3 == 1 and not np.allclose(whole, single, atol=1e-4)


def test_a_clip_shorter_than_one_frame_is_padded_to_one(encoders):
    enc = F.load_encoder(encoders["hubert"])
    emb, n = F.embed_clip(enc, tone(0.01), window_seconds=4.0)  # 160 samples < 400
    assert n == 1 and np.isfinite(emb).all()


def _write_session(root: Path) -> pd.DataFrame:
    """Four clips of Session01 (8 kHz files: resampled to 16 kHz), one missing, one too short."""
    (root / "wav").mkdir(parents=True, exist_ok=True)
    rows = []
    for i, seconds in enumerate([0.6, 2.5, 0.05, None]):
        rel = f"wav/Sess01_{i}.wav"
        if seconds is not None:
            sf.write(root / rel, tone(seconds, 180 + 40 * i, sr=8000, seed=i), 8000, subtype="PCM_16")
        rows.append({"segment_id": f"Sess01_script01_M00{i}", "session": "Session01", "wav_path": rel})
    return pd.DataFrame(rows)


def test_a_session_is_extracted_with_reasons_and_gathered_by_segment_id(encoders, tmp_path):
    part = _write_session(tmp_path)
    enc = F.load_encoder(encoders["wav2vec2"])
    files = [tmp_path / p for p in part["wav_path"]]
    array, index = F.extract_session(part, files, "Session01", enc, window_seconds=1.0, min_seconds=0.1)
    assert array.shape == (4, 3, 16) and list(index.columns) == F.INDEX_COLUMNS
    assert index["ok"].tolist() == [True, True, False, False]
    assert index["reason"].tolist() == ["", "", "too_short", "missing_wav"]
    assert index["n_windows"].tolist() == [1, 3, 0, 0]  # 2.5 s in windows of at most 1 s: 3 equal windows
    assert np.isfinite(array[:2]).all() and np.isnan(array[2:]).all()
    # the 8 kHz file was resampled to the encoder's 16 kHz: same embedding as the resampled samples
    clip = F.load_clip(files[0], SR, 0.1)
    assert len(clip.samples) == int(0.6 * SR) and clip.orig_sample_rate == 8000
    np.testing.assert_array_equal(array[0], F.embed_clip(enc, clip.samples, 1.0)[0])
    again = F.extract_session(part, files, "Session01", enc, window_seconds=1.0, min_seconds=0.1)
    assert again.array.tobytes() == array.tobytes()

    segments = pd.concat([part, pd.DataFrame([{"segment_id": "Sess02_script01_F000", "session": "Session02",
                                                "wav_path": "x.wav"}])], ignore_index=True)
    g_array, g_index = F.gather(segments, [("Session01.npy", array, index)])
    assert g_index["segment_id"].tolist() == [*part["segment_id"], "Sess02_script01_F000"]
    assert g_index["reason"].iloc[-1] == "not_extracted" and np.isnan(g_array[-1]).all()
    np.testing.assert_array_equal(g_array[:4], array)
    with pytest.raises(DataError, match="not in"):
        F.gather(part.iloc[:2], [("Session01.npy", array, index)])


# --------------------------------------------------------------------------------------------------
# Hub names, folders, fetching


def test_hub_names_and_folders():
    assert hub.slug("facebook/wav2vec2-base") == "facebook__wav2vec2-base"
    assert hub.slug("facebook/wav2vec2-base", "0a1b2c") == "facebook__wav2vec2-base--0a1b2c"
    assert hub.folder("facebook/wav2vec2-base") == "resources/pretrained/facebook__wav2vec2-base"
    assert hub.is_local("/models/w2v") and hub.is_local("./w2v") and hub.is_local("~/w2v")
    assert not hub.is_local("microsoft/wavlm-base-plus")
    assert hub.folder("/models/w2v", "ignored") == "/models/w2v"


def test_a_missing_folder_or_a_folder_without_feature_extractor_is_a_clear_error(encoders, tmp_path):
    with pytest.raises(DataError, match="audio.pretrained: the model folder does not exist"):
        F.load_encoder(tmp_path / "nowhere")
    bare = tmp_path / "bare"
    shutil.copytree(encoders["wav2vec2"], bare)
    (bare / "preprocessor_config.json").unlink()
    with pytest.raises(DataError, match="no speech feature extractor"):
        F.load_encoder(bare)


def test_an_unreachable_hub_says_to_fetch_it_on_a_machine_with_network(tmp_path, monkeypatch):
    import huggingface_hub.constants

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    out = tmp_path / "resources" / "pretrained" / "facebook__wav2vec2-base"
    with pytest.raises(DataError) as err:
        F.fetch_encoder("facebook/wav2vec2-base", out, revision="main")
    msg = str(err.value)
    assert "machine with network" in msg and "hf download facebook/wav2vec2-base --revision main" in msg
    assert "audio.pretrained: /path/to/model" in msg
    assert not out.exists() and not any(p.name.startswith(".") for p in out.parent.iterdir())


def test_fetch_saves_a_folder_that_loads_offline(encoders, tmp_path, monkeypatch):
    import huggingface_hub

    calls = []

    def fake_download(repo_id, revision=None, local_dir=None, **kwargs):
        calls.append((repo_id, revision))
        shutil.copytree(encoders["wavlm"], local_dir, dirs_exist_ok=True)
        return str(local_dir)

    monkeypatch.setattr(huggingface_hub, "snapshot_download", fake_download)
    out = tmp_path / "pretrained" / hub.slug("microsoft/wavlm-base-plus", "v1")
    F.fetch_encoder("microsoft/wavlm-base-plus", out, revision="v1")
    assert calls == [("microsoft/wavlm-base-plus", "v1")]
    assert {"model.safetensors", "config.json", "preprocessor_config.json"} <= {p.name for p in out.iterdir()}
    a, _ = F.embed_clip(F.load_encoder(out), tone(0.5), 4.0)
    b, _ = F.embed_clip(F.load_encoder(encoders["wavlm"]), tone(0.5), 4.0)
    np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------------------------------------------
# The head and the frozen-mode adapter through the train script


def test_layer_head_weights_layers_and_standardises_with_given_rows():
    head = layers.LayerHead(3, 4, hidden=0, dropout=0.0)
    assert head.layer_weights() == pytest.approx([1 / 3] * 3)
    x = torch.randn(10, 3, 4) * 5 + 2
    head.fit_standardization(x[:6])
    torch.testing.assert_close(head.mean, x[:6].mean(0))
    z = (x - head.mean) / head.scale
    torch.testing.assert_close(head.pooled(x), z.mean(1))  # equal weights: the mean of the layers
    with pytest.raises(ValueError, match="expected"):
        head(torch.zeros(2, 4, 4))


def _embeddings(seg: pd.DataFrame, root: Path, bad: tuple[str, ...]) -> tuple[Path, Path]:
    """[n, 3 layers, 8]: only layer 1 carries the label; layer 0 noise on a huge scale; rows shuffled."""
    rng = np.random.default_rng(5)
    y = D.label_index(seg)
    x = rng.normal(size=(len(seg), 3, 8))
    x[:, 0] = 1000 + 300 * x[:, 0]
    x[:, 1] += 3 * (np.eye(7)[y] @ rng.normal(size=(7, 8)))
    rows = rng.permutation(len(seg))
    array = np.empty_like(x, dtype=np.float32)
    array[rows] = x
    ok = ~seg["segment_id"].isin(bad).to_numpy()
    array[rows[~ok]] = np.nan
    index = pd.DataFrame({"segment_id": seg["segment_id"], "row": rows, "ok": ok,
                          "reason": np.where(ok, "", "missing_wav"), "duration_s": 1.0, "n_windows": 1})
    np.save(root / "embeddings.npy", array)
    index.to_parquet(root / "embeddings.parquet", index=False)
    return root / "embeddings.npy", root / "embeddings.parquet"


SSL_PARAMS = {**{k: v for k, v in D.AUDIO_PARAMS.items() if k not in ("arch", "max_seconds", "window_seconds")},
              "lr": 0.03, "epochs": 12, "pretrained": "tiny/w2v", "revision": None, "finetune": False,
              "encoder_lr": 1e-4, "layer_head": {"hidden": 32, "dropout": 0.1}, "sample_rate": SR}


def run_train(modality: str, encoder: str, out: Path, inputs: dict, params: dict, seed: int = 0):
    """The train script (rule train) with a stand-in snakemake object; returns the checkpoint config."""
    out.mkdir(parents=True, exist_ok=True)
    inputs = {**inputs, "folds": D.one_fold(inputs["segments"], out / "folds.parquet")}
    smk = SimpleNamespace(
        scriptdir=str(SCRIPTS), rule="train", threads=1, log=[str(out / "train.log")],
        wildcards=SimpleNamespace(modality=modality, seed=str(seed)),
        input=SimpleNamespace(**{k: str(v) for k, v in inputs.items()}),
        output=SimpleNamespace(**D.outputs(out)), params=SimpleNamespace(train=params, encoder=encoder, seed=seed,
                                                                         fold=0))
    try:
        D.run_script(SCRIPTS / "train.py", smk)
    except SystemExit:
        raise AssertionError((out / "train.log").read_text()) from None
    return json.loads((out / "config.json").read_text())


def test_frozen_mode_trains_the_layer_head_and_its_checkpoint_predicts_alike(tmp_path):
    seg = D.segments()
    seg.to_parquet(tmp_path / "segments.parquet", index=False)
    bad = (seg.loc[seg["split"] == "test", "segment_id"].iloc[0],)
    emb, index = _embeddings(seg, tmp_path, bad)
    inputs = {"segments": tmp_path / "segments.parquet", "embeddings": emb, "embeddings_index": index}
    cfg = run_train("audio", "ssl", tmp_path / "a", inputs, SSL_PARAMS)
    assert cfg["mode"] == "frozen" and cfg["n_layers"] == 3 and cfg["dim"] == 8
    w = cfg["layer_weights"]
    assert sum(w) == pytest.approx(1) and int(np.argmax(w)) == 1, f"the informative layer is 1: {w}"
    assert cfg["best_val_f1_macro"] > 0.8
    state = load_file(tmp_path / "a" / "model.safetensors")
    assert {"layer_logits", "mean", "scale"} <= set(state)
    # standardisation statistics: the training rows only
    train_ok = ((seg["split"] == "train") & ~seg["segment_id"].isin(bad)).to_numpy()
    table = pd.read_parquet(index).set_index("segment_id").loc[seg["segment_id"]]
    x = np.load(emb)[table["row"].to_numpy()]
    np.testing.assert_allclose(state["mean"].numpy(), x[train_ok].mean(0), rtol=1e-4)
    # the checkpoint reproduces the job's test predictions; the unusable clip got the training prior
    model, _ = ssl.load_checkpoint(tmp_path / "a")
    preds = pd.read_parquet(tmp_path / "a" / "predictions.parquet").set_index("segment_id")
    test_ok = seg.loc[(seg["split"] == "test") & ~seg["segment_id"].isin(bad), "segment_id"]
    rows = table.loc[test_ok, "row"].to_numpy()
    np.testing.assert_allclose(ssl.predict(model, np.load(emb)[rows]), preds.loc[test_ok, PROB_COLUMNS], atol=1e-6)
    assert preds.loc[bad[0], PROB_COLUMNS].to_numpy() == pytest.approx(cfg["train_prior"])
    run_train("audio", "ssl", tmp_path / "b", inputs, SSL_PARAMS)
    assert (tmp_path / "a/model.safetensors").read_bytes() == (tmp_path / "b/model.safetensors").read_bytes()


def test_text_frozen_mode_embeds_the_backbone_once_and_trains_a_layer_head(tmp_path):
    seg = D.segments()
    seg.to_parquet(tmp_path / "segments.parquet", index=False)
    D.text_features(seg).to_parquet(tmp_path / "text.parquet", index=False)
    backbone = D.tiny_bert(tmp_path / "backbone")
    inputs = {"segments": tmp_path / "segments.parquet", "features": tmp_path / "text.parquet", "backbone": backbone}
    cfg = run_train("text", "bert", tmp_path / "t", inputs, {**D.TEXT_PARAMS, "finetune": False, "epochs": 5})
    assert cfg["mode"] == "frozen" and cfg["n_layers"] == 2 and cfg["dim"] == 32 and len(cfg["layer_weights"]) == 2
    head, record = text.load_checkpoint(tmp_path / "t")
    assert isinstance(head, layers.LayerHead) and record["mode"] == "frozen"
    # the backbone was not trained: its embeddings + the saved head give the job's predictions
    feats = D.text_features(seg).set_index("segment_id")
    test_ids = seg.loc[seg["split"] == "test", "segment_id"]
    ids = torch.tensor(np.stack(feats.loc[test_ids, "input_ids"].to_numpy()))
    mask = torch.tensor(np.stack(feats.loc[test_ids, "attention_mask"].to_numpy()))
    x = text.embed_tokens(text.load_encoder(backbone), ids, mask, "cpu")
    probs = T.softmax(head(x).detach().numpy())
    preds = pd.read_parquet(tmp_path / "t" / "predictions.parquet").set_index("segment_id")
    np.testing.assert_allclose(probs, preds.loc[test_ids, PROB_COLUMNS], atol=1e-6)


# --------------------------------------------------------------------------------------------------
# Fine-tune mode


def _waveforms(seg: pd.DataFrame, root: Path, seconds: float = 0.5) -> tuple[Path, Path]:
    n = int(seconds * SR)
    array = np.stack([tone(seconds, 150 + 40 * (i % 7), seed=i) for i in range(len(seg))]).astype(np.float16)
    array[:, n // 2 :] *= np.arange(len(seg))[:, None] % 2  # every other clip: half padding
    np.save(root / "audio.npy", array)
    dur = np.where(np.arange(len(seg)) % 2, seconds, seconds / 2)
    pd.DataFrame({"segment_id": seg["segment_id"], "row": np.arange(len(seg)), "n_windows": 1, "ok": True,
                  "reason": "", "duration_s": dur}).to_parquet(root / "audio.parquet", index=False)
    return root / "audio.npy", root / "audio.parquet"


def test_finetune_mode_trains_the_encoder_at_its_own_rate_for_one_step(encoders, tmp_path):
    seg = T.check_segments(D.segments().groupby("split").head(4).reset_index(drop=True), "segments")
    array, index = _waveforms(seg, tmp_path)
    inputs = ssl.read_inputs({"array": array, "index": index, "pretrained": encoders["wav2vec2"]})
    settings = T.TrainSettings.from_params({**SSL_PARAMS, "finetune": True, "epochs": 1, "batch_size": 4,
                                            "encoder_lr": 1e-3})
    gen = T.seed_everything(0)
    setup = ssl.setup(seg, inputs, settings, 0)
    model = setup.model
    groups = model.param_groups(settings.lr)
    assert [g["lr"] for g in groups] == [0.03, 1e-3]
    conv = model.encoder.feature_extractor.conv_layers[0].conv.weight
    assert not conv.requires_grad and all(p is not conv for p in groups[1]["params"])  # CNN encoder frozen
    before = {k: v.clone() for k, v in model.state_dict().items()}
    split = seg["split"].to_numpy()
    T.fit(model, setup.source(np.flatnonzero(split == "train")), setup.source(np.flatnonzero(split == "val")),
          settings, generator=gen, device=torch.device("cpu"), forward=setup.forward)
    after = model.state_dict()
    changed = {k for k in before if not torch.equal(before[k], after[k])}
    assert "head.layer_logits" in changed
    assert any(k.startswith("encoder.encoder.layers.") for k in changed), "the transformer was trained"
    assert not any(k.startswith("encoder.feature_extractor.") for k in changed)
    # padding is not pooled: a clip's logits do not change when its padding changes
    model.eval()
    wave, lengths = setup.source(np.arange(2)).fetch(np.arange(2))
    noisy = wave.clone()
    noisy[0, lengths[0]:] = 0.3
    if lengths[0] < wave.shape[1]:
        with torch.no_grad():
            torch.testing.assert_close(model(noisy, lengths)[0], model(wave, lengths)[0], atol=1e-5, rtol=1e-5)
    # checkpoint round trip without the pretrained folder
    ssl.save_checkpoint(model, setup.config, tmp_path / "ck" / "model.safetensors", tmp_path / "ck" / "config.json")
    loaded, cfg = ssl.load_checkpoint(tmp_path / "ck")
    assert cfg["mode"] == "finetune" and cfg["encoder_config"]["model_type"] == "wav2vec2"
    with torch.no_grad():
        torch.testing.assert_close(loaded(wave, lengths), model(wave, lengths))


def test_finetune_checks_the_sample_rate_and_windows(encoders, tmp_path):
    seg = T.check_segments(D.segments().groupby("split").head(2).reset_index(drop=True), "segments")
    array, index = _waveforms(seg, tmp_path)
    inputs = ssl.read_inputs({"array": array, "index": index, "pretrained": encoders["hubert"]})
    settings = T.TrainSettings.from_params({**SSL_PARAMS, "finetune": True, "sample_rate": 8000})
    with pytest.raises(DataError, match="expects 16000 Hz"):
        ssl.setup(seg, inputs, settings, 0)
    pd.read_parquet(index).assign(n_windows=2).to_parquet(index, index=False)
    inputs = ssl.read_inputs({"array": array, "index": index, "pretrained": encoders["hubert"]})
    with pytest.raises(DataError, match="max_seconds"):
        ssl.setup(seg, inputs, T.TrainSettings.from_params({**SSL_PARAMS, "finetune": True}), 0)


def test_the_registry_maps_each_mode_to_its_inputs():
    enc = registry.encoder("audio", "ssl")
    assert enc.inputs_for({"finetune": False}) == ("embeddings", "embeddings_index")
    assert enc.inputs_for({"finetune": True}) == ("array", "index", "pretrained")
    bert = registry.encoder("text", "bert")
    assert bert.inputs_for({"finetune": False}) == bert.inputs_for({"finetune": True}) == ("features", "backbone")
    assert isinstance(registry.load("audio", "ssl"), object)
