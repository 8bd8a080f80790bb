"""Shared training mechanics: seeding, device choice, metrics, class weights, selection, early stopping."""

import logging

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.metrics import f1_score
from torch import nn

from emoflow.constants import EMOTIONS
from emoflow.errors import DataError
from emoflow.io import write_figure
from emoflow.metrics import class_prior
from emoflow.models import training as T
from emoflow.plots import curve_figure


def _blobs(n, seed, split="train"):
    """Linearly separable 4-D data, 7 classes."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 7
    centers = np.random.default_rng(99).normal(size=(7, 4)) * 3
    x = centers[y] + rng.normal(size=(n, 4))
    return T.Source.from_tensors([torch.tensor(x, dtype=torch.float32)], y, np.full(n, split))


def _mlp():
    return nn.Sequential(nn.Linear(4, 16), nn.ReLU(), nn.Linear(16, 7))


def _fwd(model, inputs):
    return model(inputs[0])


BASE = {"batch_size": 8, "lr": 0.01, "epochs": 10, "weight_decay": 0.0, "patience": 0,
        "class_weights": False, "device": "cpu", "schedule": "constant", "warmup": 0.0, "label_smoothing": 0.0,
        "select": "f1"}


def _settings(**kw):
    return T.TrainSettings.from_params({**BASE, **kw})


def _fit(model, train, val, settings, seed=0):
    gen = T.seed_everything(seed)
    return T.fit(model, train, val, settings, generator=gen, device=torch.device("cpu"), forward=_fwd)


def test_settings_keep_modality_extras_and_reject_bad_values():
    s = T.TrainSettings.from_params({**BASE, "batch_size": 4, "lr": 0.1, "epochs": 2, "patience": 1,
                                     "class_weights": True, "hidden": [8, 4]})
    assert s.batch_size == 4 and s.class_weights is True and s.extra == {"hidden": [8, 4]}
    assert s.as_dict()["hidden"] == [8, 4]
    with pytest.raises(ValueError):
        T.TrainSettings.from_params({**BASE, "batch_size": 0})
    # no code defaults: the schema fills every key, a missing one is an error naming it
    with pytest.raises(ValueError, match="select"):
        T.TrainSettings.from_params({k: v for k, v in BASE.items() if k != "select"})
    with pytest.raises(ValueError):
        T.resolve_device("tpu")


def test_seed_everything_repeats_random_streams():
    g1 = T.seed_everything(5)
    a = (torch.rand(3), np.random.rand(), torch.randperm(10, generator=g1))
    g2 = T.seed_everything(5)
    b = (torch.rand(3), np.random.rand(), torch.randperm(10, generator=g2))
    assert torch.equal(a[0], b[0]) and a[1] == b[1] and torch.equal(a[2], b[2])
    T.seed_everything(6)
    assert not torch.equal(a[0], torch.rand(3))


def test_device_choice(monkeypatch, caplog):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert T.resolve_device("auto").type == "cpu"
    assert T.resolve_device("cpu").type == "cpu"
    with pytest.raises(RuntimeError, match="cuda"):
        T.resolve_device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert T.resolve_device("auto").type == "cuda"
    assert T.resolve_device("cpu").type == "cpu"
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with caplog.at_level(logging.INFO, logger="emoflow"):
        T.configure_device("auto")
    assert torch.are_deterministic_algorithms_enabled()
    assert "device: cpu" in caplog.text and torch.__version__ in caplog.text and "threads" in caplog.text


def test_epoch_macro_f1_is_table_1s_over_all_seven_classes():
    """Epoch selection and curve.csv use metrics.f1_macro: absent classes count as F1 = 0."""
    model = _mlp()
    val = _blobs(14, 2, "val")
    keep = np.flatnonzero(val.labels < 2)  # only classes 0 and 1 present
    sub = T.Source(lambda idx: val.fetch(keep[idx]), val.labels[keep], val.splits[keep])
    _, _, f1 = T._evaluate(model, sub, _fwd, torch.device("cpu"), 64)
    pred = T.predict_logits(model, sub, _fwd, torch.device("cpu")).argmax(1)
    assert f1 == pytest.approx(f1_score(sub.labels, pred, labels=range(7), average="macro", zero_division=0))
    present_only = f1_score(sub.labels, pred, average="macro", zero_division=0)
    assert f1 <= present_only and (f1 < present_only or present_only == 0)


def test_class_weights_are_inverse_frequency_and_change_the_loss():
    labels = np.array([0] * 6 + [1] * 2 + [3] * 1)
    w = T.class_weight_vector(labels).numpy()
    # inverse frequency 1/6 : 1/2 : 1/1 normalised to mean 1 over the 3 present classes
    inv = np.array([1 / 6, 1 / 2, 1.0])
    np.testing.assert_allclose(w[[0, 1, 3]], inv / inv.mean(), rtol=1e-6)
    assert w[2] == 0 and w[4:].sum() == 0
    logits = torch.randn(9, 7, generator=torch.Generator().manual_seed(0))
    y = torch.from_numpy(labels)
    plain = nn.functional.cross_entropy(logits, y)
    weighted = nn.CrossEntropyLoss(weight=torch.from_numpy(w).float())(logits, y)
    assert abs(float(plain) - float(weighted)) > 1e-3

    # ... and in fit(): same data and seed, class_weights on -> another train loss and other weights.
    train = _blobs(35, 1)
    lab = train.labels
    keep = np.r_[np.flatnonzero(lab == 0), np.flatnonzero(lab == 1)[:2], np.flatnonzero(lab == 2)[:1]]
    sub = T.Source(lambda idx: train.fetch(keep[idx]), train.labels[keep], train.splits[keep])
    val = _blobs(14, 2, "val")
    res = []
    for cw in (False, True):
        torch.manual_seed(0)
        m = _mlp()
        r = _fit(m, sub, val, _settings(epochs=2, class_weights=cw))
        res.append((r.history["train_loss"].to_numpy(), m[0].weight.detach().clone()))
    assert not np.allclose(res[0][0], res[1][0])
    assert not torch.equal(res[0][1], res[1][1])


def test_prior_is_smoothed_training_frequency():
    p = class_prior(np.array([0, 0, 0, 1]))
    np.testing.assert_allclose(p, np.array([4, 2, 1, 1, 1, 1, 1]) / 11)
    assert p.sum() == pytest.approx(1)


def test_fit_learns_and_restores_the_best_epoch(caplog):
    torch.manual_seed(0)
    model = _mlp()
    train, val = _blobs(70, 1), _blobs(28, 2, "val")
    with caplog.at_level(logging.INFO, logger="emoflow"):
        res = _fit(model, train, val, _settings(epochs=15))
    h = res.history
    assert list(h.columns) == T.CURVE_COLUMNS and len(h) == 15
    assert h["train_loss"].iloc[-1] < h["train_loss"].iloc[0]
    assert h["val_f1_macro"].max() > 0.8
    best = h.loc[h["epoch"] == res.best_epoch].iloc[0]
    # the best epoch is the highest val F1, ties broken by lower val loss
    top = h[np.isclose(h["val_f1_macro"], h["val_f1_macro"].max())]
    assert res.best_epoch == int(top.sort_values("val_loss").iloc[0]["epoch"])
    # the model holds exactly that epoch's weights
    loss, acc, f1 = T._evaluate(model, val, _fwd, torch.device("cpu"), 64)
    assert f1 == pytest.approx(best["val_f1_macro"]) and loss == pytest.approx(best["val_loss"], rel=1e-6)
    assert "epoch   1/15" in caplog.text and "val loss" in caplog.text and "macro-F1" in caplog.text


def test_early_stopping_after_patience_epochs_without_improvement():
    # A learning rate far below float32 resolution leaves the weights unchanged: epoch 1 stays best.
    torch.manual_seed(0)
    model = _mlp()
    res = _fit(model, _blobs(21, 1), _blobs(14, 2, "val"), _settings(lr=1e-20, epochs=30, patience=3))
    assert res.stopped_early and res.best_epoch == 1 and len(res.history) == 4
    torch.manual_seed(0)
    res = _fit(_mlp(), _blobs(21, 1), _blobs(14, 2, "val"), _settings(lr=1e-20, epochs=6, patience=0))
    assert not res.stopped_early and len(res.history) == 6 and res.best_epoch == 1


def test_test_rows_never_reach_fit():
    train = _blobs(14, 1)
    poisoned = T.Source(train.fetch, train.labels, np.where(np.arange(14) == 3, "test", "train"))
    with pytest.raises(AssertionError, match="test"):
        _fit(_mlp(), poisoned, _blobs(7, 2, "val"), _settings(epochs=1))
    with pytest.raises(AssertionError, match="test"):
        _fit(_mlp(), train, _blobs(7, 2, "test"), _settings(epochs=1))


def test_empty_validation_keeps_the_last_epoch(caplog):
    empty = T.Source(lambda idx: (torch.zeros(len(idx), 4),), np.zeros(0, dtype=int), np.array([], dtype=str))
    with caplog.at_level(logging.WARNING, logger="emoflow"):
        res = _fit(_mlp(), _blobs(14, 1), empty, _settings(epochs=3))
    assert res.best_epoch == 3 and "validation split is empty" in caplog.text


def test_check_segments_checks_the_table(tmp_path):
    good = pd.DataFrame({"segment_id": ["a", "b", "c"], "emotion": ["happy", "sad", "fear"],
                         "split": ["train", "val", "test"]})
    p = tmp_path / "segments.parquet"
    good.to_parquet(p)
    df = T.check_segments(pd.read_parquet(p), p)
    assert df["label"].tolist() == [EMOTIONS.index("happy"), EMOTIONS.index("sad"), EMOTIONS.index("fear")]
    for bad, msg in [
        (good.drop(columns="split"), "split"),
        (good.assign(emotion=["happy", "joy", "sad"]), "emotion"),
        (good.assign(split=["train", "dev", "test"]), "split"),
        (good.assign(segment_id=["a", "a", "c"]), "duplicate"),
        (good.assign(split=["val", "val", "test"]), "train"),
    ]:
        bad.to_parquet(p)
        with pytest.raises(DataError, match=msg) as exc:
            T.check_segments(pd.read_parquet(p), p)
        assert str(p) in str(exc.value)


def test_curve_files(tmp_path):
    h = pd.DataFrame([[1, 2.0, 0.2, 2.1, 0.1, 0.05, 0.3], [2, 1.0, 0.6, 1.5, 0.4, 0.3, 0.2]],
                     columns=T.CURVE_COLUMNS)
    write_figure(curve_figure(h, best_epoch=2, title="bio"), tmp_path / "curve.png", dpi=100, tight=False)
    assert (tmp_path / "curve.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    write_figure(curve_figure(h, best_epoch=2, title="bio"), tmp_path / "again.png", dpi=100, tight=False)
    assert (tmp_path / "again.png").read_bytes() == (tmp_path / "curve.png").read_bytes()


# --------------------------------------------------------------------------------------------------
# Schedules, selection criterion, label smoothing
# --------------------------------------------------------------------------------------------------
def _factors(schedule, total, warmup):
    opt = torch.optim.SGD([nn.Parameter(torch.zeros(1))], lr=1.0)
    sched = T.lr_scheduler(opt, schedule, total, warmup)
    out = []
    for _ in range(total):
        out.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return np.array(out)


def test_lr_schedules():
    np.testing.assert_allclose(_factors("constant", 10, 0.0), 1.0)
    warm = _factors("constant", 10, 0.3)  # 3 warm-up steps: 1/3, 2/3, 1, then constant
    np.testing.assert_allclose(warm[:4], [1 / 3, 2 / 3, 1.0, 1.0])
    cos = _factors("cosine", 10, 0.0)  # 0.5 * (1 + cos(pi * step / 10))
    assert cos[0] == pytest.approx(1.0) and cos[5] == pytest.approx(0.5) and cos[-1] == pytest.approx(0.0245, abs=1e-3)
    assert (np.diff(cos) < 0).all()
    lin = _factors("linear", 10, 0.2)
    np.testing.assert_allclose(lin[:2], [0.5, 1.0])
    np.testing.assert_allclose(lin[2:], 1.0 - np.arange(8) / 8)
    for bad in ({"schedule": "step"}, {"select": "acc"}, {"warmup": 1.0}, {"label_smoothing": -0.1}):
        with pytest.raises(ValueError):
            T.TrainSettings.from_params({**BASE, **bad})


def test_select_by_validation_loss():
    torch.manual_seed(0)
    model = _mlp()
    train, val = _blobs(70, 1), _blobs(28, 2, "val")
    res = _fit(model, train, val, _settings(epochs=12, lr=0.05, select="loss", schedule="cosine", warmup=0.1))
    h = res.history
    assert res.best_epoch == int(h.loc[h["val_loss"].idxmin(), "epoch"])
    loss, _, _ = T._evaluate(model, val, _fwd, torch.device("cpu"), 64)
    assert loss == pytest.approx(h["val_loss"].min(), rel=1e-6)


def test_label_smoothing_softens_the_fit():
    train, val = _blobs(70, 1), _blobs(28, 2, "val")
    conf = {}
    for ls in (0.0, 0.3):
        torch.manual_seed(0)
        model = _mlp()
        _fit(model, train, val, _settings(epochs=15, label_smoothing=ls))
        p = T.predict_proba(model, val, _fwd, torch.device("cpu"))
        conf[ls] = p.max(axis=1).mean()
    assert conf[0.3] < conf[0.0] - 0.05
