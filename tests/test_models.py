"""The three per-modality models: learning, checkpoints, determinism, no test leakage, predictions."""

import json
import re
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch
from safetensors.torch import load_file

import _model_data as D
from emoflow.constants import EMOTIONS, PROB_COLUMNS
from emoflow.errors import DataError
from emoflow.metrics import class_prior
from emoflow.models import audio, bio, text
from emoflow.models import training as T
from emoflow.predictions import read_predictions

SCRIPTS = Path(__file__).resolve().parents[1] / "workflow" / "scripts"


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """Shared inputs: segments, bio features, audio array (two unusable clips), text tokens, tiny BERT."""
    root = tmp_path_factory.mktemp("inputs")
    seg = D.segments()
    seg.to_parquet(root / "segments.parquet", index=False)
    D.bio_features(seg).to_parquet(root / "bio.parquet", index=False)
    train_id = seg.loc[seg["split"] == "train", "segment_id"].iloc[0]
    test_id = seg.loc[seg["split"] == "test", "segment_id"].iloc[0]
    arr, tab = D.audio_features(seg, root, bad=(train_id, test_id))
    D.text_features(seg).to_parquet(root / "text.parquet", index=False)
    backbone = D.tiny_bert(root / "backbone")
    return SimpleNamespace(root=root, seg=seg, segments=root / "segments.parquet", bio=root / "bio.parquet",
                           audio_array=arr, audio_table=tab, text=root / "text.parquet", backbone=backbone,
                           bad_audio=(train_id, test_id))


def run_train(modality: str, out: Path, inputs: dict, params: dict, seed: int):
    """Run the train script (rule ``train``) as Snakemake would; returns the checkpoint's training record.

    A DataError inside the job ends it with a clear line in the log; here it is raised again."""
    out.mkdir(parents=True, exist_ok=True)
    log = out.parent / f"{out.name}.train.log"
    inputs = {**inputs, "folds": D.one_fold(inputs["segments"], out.parent / f"{out.name}.folds.parquet")}
    encoder = {"bio": "mlp", "audio": "cnn", "text": "bert"}[modality]
    smk = SimpleNamespace(
        scriptdir=str(SCRIPTS), rule="train", threads=1, log=[str(log)],
        wildcards=SimpleNamespace(modality=modality, seed=str(seed)),
        input=SimpleNamespace(**{k: str(v) for k, v in inputs.items()}),
        output=SimpleNamespace(**D.outputs(out)),
        params=SimpleNamespace(train=params, encoder=encoder, seed=seed, fold=0))
    try:
        D.run_script(SCRIPTS / "train.py", smk)
    except SystemExit:
        raise DataError(out, log.read_text()) from None
    cfg = json.loads((out / "config.json").read_text())
    return SimpleNamespace(**(cfg["emoflow"] if modality == "text" else cfg))


def train_bio(data, out: Path, seed=0, segments=None, features=None, **params):
    return run_train("bio", out, {"segments": segments or data.segments, "features": features or data.bio},
                     {**D.BIO_PARAMS, **params}, seed)


def train_audio(data, out: Path, seed=0, segments=None, array=None, table=None, **params):
    return run_train("audio", out, {"segments": segments or data.segments, "cnn_input": array or data.audio_array,
                                    "index": table or data.audio_table}, {**D.AUDIO_PARAMS, **params}, seed)


def train_text(data, out: Path, seed=0, segments=None, features=None, **params):
    return run_train("text", out, {"segments": segments or data.segments, "features": features or data.text,
                                   "backbone": data.backbone}, {**D.TEXT_PARAMS, **params}, seed)


TRAINERS = {"bio": train_bio, "audio": train_audio, "text": train_text}


def _overfit(model, forward, inputs, y, lr, steps):
    torch.manual_seed(0)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=0.0)
    model.train()
    for _ in range(steps):
        loss = torch.nn.functional.cross_entropy(forward(model, inputs), y)
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        return float(torch.nn.functional.cross_entropy(forward(model, inputs), y))


# --------------------------------------------------------------------------------------------------
# Each model can fit a tiny batch
# --------------------------------------------------------------------------------------------------
def test_bio_mlp_overfits_a_tiny_batch():
    torch.manual_seed(0)
    x, y = torch.randn(14, 9), torch.arange(14) % 7
    model = bio.BioMLP(9, [32, 16], dropout=0.1)
    assert sum(isinstance(m, torch.nn.Linear) for m in model.modules()) == 3
    assert _overfit(model, bio._forward, [x], y, lr=0.02, steps=150) < 0.05


def test_audio_cnn_overfits_a_tiny_batch():
    torch.manual_seed(0)
    x, y = torch.randn(14, 1, 4000), torch.arange(14) % 7
    model = audio.AudioCNN(audio.ARCHS["small"])
    assert _overfit(model, audio._forward, [x], y, lr=0.01, steps=40) < 0.05


def test_text_model_overfits_a_tiny_batch(data):
    torch.manual_seed(0)
    model = text.load_backbone(data.backbone)
    ids = torch.randint(10, D.VOCAB, (14, 10))
    mask = torch.ones_like(ids)
    y = torch.arange(14) % 7
    assert _overfit(model, text._forward, [ids, mask], y, lr=0.005, steps=60) < 0.05


def test_audio_architecture_table_matches_the_models():
    doc = audio.__doc__
    for arch, spec in audio.ARCHS.items():
        n = audio.n_parameters(audio.AudioCNN(spec))
        rf = audio.receptive_field(spec)
        line = next(ln for ln in doc.splitlines() if ln.startswith(arch + " "))
        approx = re.search(r"~([\d.]+) (k|M)", line)
        stated = float(approx.group(1)) * (1e3 if approx.group(2) == "k" else 1e6)
        assert abs(n - stated) / n < 0.02, (arch, n, stated)
        assert f"{rf:,} samples" in line
        assert audio.AudioCNN(spec)(torch.zeros(2, 1, 64000)).shape == (2, 7)
    small = audio.AudioCNN(audio.ARCHS["small"])
    assert audio.n_parameters(small) < audio.n_parameters(audio.AudioCNN(audio.ARCHS["large"])) / 10


def test_bio_preprocessing_is_fitted_on_train_only():
    train = pd.DataFrame({"ecg_sdnn": [1.0, np.nan, 3.0, 5.0], "temp_mean": [30.0, 31.0, 32.0, np.inf],
                          "ecg_ok": [True, False, True, True], "ecg_reason": ["", "x", "", ""],
                          "temp_ok": [True] * 4, "session": ["S"] * 4})
    prep = bio.fit_preprocessing(train)
    assert prep["feature_columns"] == ["ecg_sdnn", "temp_mean"]
    assert prep["indicator_columns"] == ["ecg_missing", "temp_missing"]
    assert prep["median"] == {"ecg_sdnn": 3.0, "temp_mean": 31.0}
    x = bio.apply_preprocessing(train, prep)
    np.testing.assert_allclose(x.mean(axis=0), 0, atol=1e-6)
    # a row with everything missing gets the medians and the indicators
    other = pd.DataFrame({"ecg_sdnn": [np.nan], "temp_mean": [np.nan], "ecg_ok": [False], "temp_ok": [False]})
    z = bio.apply_preprocessing(other, prep)[0]
    cols = prep["input_columns"]
    assert z[cols.index("ecg_sdnn")] == pytest.approx((3.0 - prep["mean"]["ecg_sdnn"]) / prep["std"]["ecg_sdnn"])
    raw_missing = z[cols.index("ecg_missing")] * prep["std"]["ecg_missing"] + prep["mean"]["ecg_missing"]
    assert raw_missing == pytest.approx(1.0)
    assert prep["std"]["temp_missing"] == 1.0  # constant column: std 0 -> 1


# --------------------------------------------------------------------------------------------------
# End-to-end training per modality: outputs, round trip, determinism, no test leakage
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("modality", ["bio", "audio", "text"])
def test_training_outputs_and_round_trip(modality, data, tmp_path):
    out = tmp_path / modality
    res = TRAINERS[modality](data, out)
    names = sorted(p.name for p in out.iterdir())
    assert names == ["config.json", "curve.csv", "curve.png", "model.safetensors", "predictions.parquet",
                     "preprocessing.json"]
    # predictions: every val and test segment, probabilities valid
    pred = read_predictions(out / "predictions.parquet")
    seg = data.seg
    evals = seg[seg["split"].isin(["val", "test"])]
    assert sorted(pred["segment_id"]) == sorted(evals["segment_id"])
    merged = pred.merge(seg[["segment_id", "split", "emotion"]], on="segment_id", suffixes=("", "_true"))
    assert (merged["split"] == merged["split_true"]).all() and (merged["emotion"] == merged["emotion_true"]).all()
    assert (pred["seed"] == 0).all()
    # curve and config
    curve = pd.read_csv(out / "curve.csv")
    assert list(curve.columns) == T.CURVE_COLUMNS and len(curve) == D.__dict__[f"{modality.upper()}_PARAMS"]["epochs"]
    cfg = json.loads((out / "config.json").read_text())
    record = cfg["emoflow"] if modality == "text" else cfg
    assert record["seed"] == 0 and record["device"] == "cpu" and record["best_epoch"] == res.best_epoch
    assert record["training"]["lr"] == D.__dict__[f"{modality.upper()}_PARAMS"]["lr"]
    prep = json.loads((out / "preprocessing.json").read_text())
    # reload from the files and predict again: identical probabilities
    probs = _predict_from_checkpoint(modality, out, data, pred["segment_id"])
    model_rows = ~pred["segment_id"].isin(data.bad_audio) if modality == "audio" else np.ones(len(pred), bool)
    np.testing.assert_allclose(probs[model_rows], pred.loc[model_rows, PROB_COLUMNS].to_numpy(), rtol=0,
                               atol=1e-6)
    if modality == "bio":
        assert record["n_features"] == len(prep["input_columns"]) and "median" in prep
    if modality == "audio":
        assert record["n_samples"] == D.N_SAMPLES and prep["sample_rate"] == D.SAMPLE_RATE
    if modality == "text":
        assert cfg["id2label"] == {str(i): e for i, e in enumerate(EMOTIONS)}
        assert prep["backbone"] == str(data.backbone) and prep["max_length"] == 12
        assert set(load_file(out / "model.safetensors")) == set(text.load_checkpoint(out)[0].state_dict())


def _predict_from_checkpoint(modality, out, data, segment_ids):
    if modality == "bio":
        feats = pd.read_parquet(data.bio).set_index("segment_id").loc[segment_ids].reset_index()
        model, _ = bio.load_checkpoint(out)
        return bio.predict(model, json.loads((out / "preprocessing.json").read_text()), feats)
    if modality == "audio":
        tab = pd.read_parquet(data.audio_table).set_index("segment_id").loc[segment_ids]
        wave = np.load(data.audio_array)[tab["row"].to_numpy()]
        return audio.predict(*audio.load_checkpoint(out), wave)
    feats = pd.read_parquet(data.text).set_index("segment_id").loc[segment_ids]
    ids = torch.tensor(np.stack(feats["input_ids"].to_numpy()))
    mask = torch.tensor(np.stack(feats["attention_mask"].to_numpy()))
    return text.predict(text.load_checkpoint(out)[0], ids, mask)


@pytest.mark.parametrize("modality", ["bio", "audio", "text"])
def test_same_seed_same_bytes_and_test_split_cannot_leak(modality, data, tmp_path):
    """Same seed -> byte-identical checkpoint and identical probabilities, even with the test rows'
    inputs and labels poisoned; another seed -> another model."""
    TRAINERS[modality](data, tmp_path / "a", seed=3)
    poisoned = _poison_test_rows(modality, data, tmp_path)
    TRAINERS[modality](data, tmp_path / "b", seed=3, **poisoned)
    TRAINERS[modality](data, tmp_path / "c", seed=4)
    a, b, c = ((tmp_path / d / "model.safetensors").read_bytes() for d in "abc")
    assert a == b
    assert a != c
    pa, pb = (read_predictions(tmp_path / d / "predictions.parquet") for d in "ab")
    va, vb = pa[pa["split"] == "val"], pb[pb["split"] == "val"]
    pd.testing.assert_frame_equal(va.reset_index(drop=True), vb.reset_index(drop=True))
    # the poisoned test inputs do change the test predictions, so the poison was real
    ta, tb = pa[pa["split"] == "test"], pb[pb["split"] == "test"]
    assert not np.allclose(ta[PROB_COLUMNS].to_numpy(), tb[PROB_COLUMNS].to_numpy())
    ca, cb = (json.loads((tmp_path / d / "config.json").read_text()) for d in "ab")
    assert ca == cb


def _poison_test_rows(modality, data, tmp_path) -> dict:
    seg = data.seg.copy()
    test = seg["split"] == "test"
    seg.loc[test, "emotion"] = "fear"
    seg.to_parquet(tmp_path / "segments_poisoned.parquet", index=False)
    test_ids = set(seg.loc[test, "segment_id"])
    kw = {"segments": tmp_path / "segments_poisoned.parquet"}
    if modality == "bio":
        f = pd.read_parquet(data.bio)
        rows = f["segment_id"].isin(test_ids)
        num = [c for c in bio.feature_columns(f)]
        f.loc[rows, num] = 1e6
        f.to_parquet(tmp_path / "bio_poisoned.parquet", index=False)
        kw["features"] = tmp_path / "bio_poisoned.parquet"
    elif modality == "audio":
        tab = pd.read_parquet(data.audio_table)
        arr = np.load(data.audio_array)
        rows = tab.loc[tab["segment_id"].isin(test_ids) & tab["ok"], "row"].to_numpy()
        arr[rows] = np.float16(0.9)
        np.save(tmp_path / "audio_poisoned.npy", arr)
        kw["array"] = tmp_path / "audio_poisoned.npy"
    else:
        f = pd.read_parquet(data.text)
        rows = f["segment_id"].isin(test_ids)
        f.loc[rows, "input_ids"] = pd.Series([[2, 11, 11, 11, 3] + [0] * 7] * int(rows.sum()),
                                             index=f.index[rows])
        f.loc[rows, "attention_mask"] = pd.Series([[1] * 5 + [0] * 7] * int(rows.sum()), index=f.index[rows])
        f.to_parquet(tmp_path / "text_poisoned.parquet", index=False)
        kw["features"] = tmp_path / "text_poisoned.parquet"
    return kw


# --------------------------------------------------------------------------------------------------
# Modality specifics
# --------------------------------------------------------------------------------------------------
def test_bio_model_learns_the_signal(data, tmp_path):
    train_bio(data, tmp_path, epochs=30)
    pred = read_predictions(tmp_path / "predictions.parquet")
    acc = (pred[PROB_COLUMNS].to_numpy().argmax(1) == pred["emotion"].map(EMOTIONS.index)).mean()
    assert acc > 0.6  # chance is 1/7


def test_audio_unusable_clips_skipped_and_predicted_as_prior(data, tmp_path):
    train_audio(data, tmp_path)
    cfg = json.loads((tmp_path / "config.json").read_text())
    assert cfg["n_train"] == D.SPLIT_SIZES["train"] - 1 and cfg["n_train_skipped"] == 1
    assert cfg["n_predicted_from_prior"] == 1
    pred = read_predictions(tmp_path / "predictions.parquet").set_index("segment_id")
    seg = data.seg
    prior = class_prior(seg.loc[seg["split"] == "train", "emotion"].map(EMOTIONS.index).to_numpy())
    np.testing.assert_allclose(pred.loc[data.bad_audio[1], PROB_COLUMNS].to_numpy(dtype=float), prior)
    log = (tmp_path.parent / f"{tmp_path.name}.train.log").read_text()
    assert "left out of training" in log and "training prior" in log


def test_missing_feature_rows_are_an_error(data, tmp_path):
    f = pd.read_parquet(data.bio).iloc[1:]
    f.to_parquet(tmp_path / "bio.parquet", index=False)
    with pytest.raises(DataError, match="no row") as exc:
        train_bio(data, tmp_path / "out", features=tmp_path / "bio.parquet")
    assert "bio.parquet" in str(exc.value)
    tab = pd.read_parquet(data.audio_table).iloc[2:]
    tab.to_parquet(tmp_path / "audio.parquet", index=False)
    with pytest.raises(DataError, match="no row"):
        train_audio(data, tmp_path / "out", table=tmp_path / "audio.parquet")


def test_text_backbone_errors_are_clear(data, tmp_path):
    with pytest.raises(DataError, match="backbone"):
        text.load_backbone(tmp_path / "nowhere")
    f = pd.read_parquet(data.text)
    f["input_ids"] = [[2, 999, 3] + [0] * 9] * len(f)
    f.to_parquet(tmp_path / "text.parquet", index=False)
    with pytest.raises(DataError, match="vocabulary"):
        train_text(data, tmp_path / "out", features=tmp_path / "text.parquet")


def test_train_script_dispatches_on_modality(data, tmp_path):
    out = tmp_path / "results" / "models" / "bio" / "seed7"
    smk = SimpleNamespace(
        scriptdir=str(SCRIPTS), wildcards=SimpleNamespace(modality="bio", seed="7"),
        input=SimpleNamespace(segments=str(data.segments), features=str(data.bio),
                              folds=str(D.one_fold(data.segments, tmp_path / "folds.parquet"))),
        output=SimpleNamespace(**D.outputs(out)),
        params=SimpleNamespace(train={**D.BIO_PARAMS, "epochs": 2}, encoder="mlp", seed=7, fold=0),
        log=[str(tmp_path / "train.log")], threads=1, rule="train")
    D.run_script(SCRIPTS / "train.py", smk)
    assert (read_predictions(out / "predictions.parquet")["seed"] == 7).all()
    log = (tmp_path / "train.log").read_text()
    assert "epoch   2/2" in log and "device: cpu" in log and "best epoch" in log


# --------------------------------------------------------------------------------------------------
# Audio log-mel front end
# --------------------------------------------------------------------------------------------------
def test_mel_filterbank_and_log_mel_front_end():
    fb = audio.mel_filterbank(16000, 1024, 64)
    assert fb.shape == (513, 64) and fb.min() >= 0 and fb.max() <= 1
    peaks = fb.argmax(axis=0)
    assert (np.diff(peaks) >= 0).all() and peaks[-1] > 400  # ordered low to high, up to Nyquist
    front = audio.LogMel(16000, 1024, 256, 64)
    t = np.arange(16000) / 16000
    x = np.zeros(32000, dtype=np.float32)
    x[:16000] = np.sin(2 * np.pi * 440 * t)  # 1 s tone, then 1 s of zero padding
    lm = front(torch.from_numpy(x).view(1, 1, -1))
    assert lm.shape == (1, 64, 32000 // 256 + 1)
    # floored 40 dB under the clip maximum; the tone's band is the loudest
    assert float(lm.min()) == pytest.approx(float(lm.max()) - audio.DYNAMIC_RANGE, abs=1e-4)
    band = int(lm[0, :, 20].argmax())
    assert abs(float(fb[:, band] @ np.linspace(0, 8000, 513)) / fb[:, band].sum() - 440) < 150
    # the zero padding sits at the floor; the level of the clip does not change the shape
    assert (lm[0, :, 70:] == lm.min()).all()
    np.testing.assert_allclose((front(torch.from_numpy(0.1 * x).view(1, 1, -1)) - lm).numpy(), np.log(0.01),
                               atol=1e-3)


def test_audio_logmel_overfits_a_tiny_batch():
    torch.manual_seed(0)
    t = torch.arange(4000) / 16000
    y = torch.arange(14) % 7
    x = torch.sin(2 * torch.pi * (150 + 120 * y[:, None]) * t) * (0.5 + 0.05 * torch.arange(14)[:, None])
    model = audio.AudioCNN(audio.ARCHS["logmel"])
    assert _overfit(model, lambda m, inputs: m(inputs[0]), [x.unsqueeze(1)], y, lr=0.01, steps=60) < 0.05


def test_audio_logmel_learns_is_deterministic_and_round_trips(data, tmp_path):
    params = dict(arch="logmel", epochs=8, lr=0.01, schedule="cosine", warmup=0.1, select="loss")
    train_audio(data, tmp_path / "a", seed=2, **params)
    train_audio(data, tmp_path / "b", seed=2, **params)
    a, b = ((tmp_path / d / "model.safetensors").read_bytes() for d in "ab")
    assert a == b
    stored = load_file(tmp_path / "a" / "model.safetensors")
    assert not any(k.startswith("frontend.") for k in stored)  # the fixed filterbank is rebuilt, not stored
    pred = read_predictions(tmp_path / "a" / "predictions.parquet")
    rows = ~pred["segment_id"].isin(data.bad_audio)
    acc = (pred.loc[rows, PROB_COLUMNS].to_numpy().argmax(1) == pred.loc[rows, "emotion"].map(EMOTIONS.index)).mean()
    assert acc > 0.6  # one tone per class; chance is 1/7
    cfg = json.loads((tmp_path / "a" / "config.json").read_text())
    assert cfg["arch"] == "logmel" and cfg["spec"]["frontend"]["type"] == "logmel"
    assert cfg["training"]["select"] == "loss" and cfg["training"]["schedule"] == "cosine"
    probs = _predict_from_checkpoint("audio", tmp_path / "a", data, pred["segment_id"])
    np.testing.assert_allclose(probs[rows.to_numpy()], pred.loc[rows, PROB_COLUMNS].to_numpy(), rtol=0, atol=1e-6)
