"""The offline feature-set encoders: openSMILE functionals (``audio.encoder: egemaps``) and morpheme TF-IDF
(``text.encoder: tfidf``), each with a linear head without epochs (``models.linear``)."""

from __future__ import annotations

import json
import math
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import soundfile as sf
import torch
from safetensors.torch import load_file

import _model_data as D
from conftest import PAPER_FOLD_TARGET, TINY, paper_models, planned_outputs, snakemake
from emoflow.constants import EMOTIONS, PROB_COLUMNS
from emoflow.errors import DataError
from emoflow.features import egemaps as egemaps_features
from emoflow.features.text import morphemes as M
from emoflow.metrics import f1_macro
from emoflow.models import egemaps, linear, tfidf
from emoflow.models import training as T
from emoflow.predictions import PREDICTION_COLUMNS, read_predictions

SCRIPTS = Path(__file__).resolve().parents[1] / "workflow" / "scripts"
N_FEATURES = 12
FILLER = [f"w{i}/NNG" for i in range(20)]
_PLAIN = {"batch_size": 16, "lr": 0.01, "epochs": 5, "weight_decay": 0.0, "patience": 0, "class_weights": False,
          "device": "cpu", "schedule": "constant", "warmup": 0.0, "label_smoothing": 0.0, "select": "f1"}
EGEMAPS_PARAMS = {**_PLAIN, "egemaps": {"feature_set": "eGeMAPSv02", "C": [0.001, 0.01, 0.1, 1.0, 10.0]}}
TFIDF_PARAMS = {**_PLAIN, "tfidf": {"ngram_max": 2, "min_df": 1, "max_features": None, "sublinear_tf": False,
                                    "C": [0.1, 1.0, 10.0, 100.0]}}


# --------------------------------------------------------------------------------------------------
# Fixtures written here: feature tables that carry the label
# --------------------------------------------------------------------------------------------------
def egemaps_table(seg: pd.DataFrame, seed: int = 4, bad: tuple[str, ...] = ()) -> pd.DataFrame:
    """An openSMILE-like table: class centres + noise on unscaled columns, one constant column, NaN rows
    for unusable clips; rows shuffled."""
    rng = np.random.default_rng(seed)
    y = D.label_index(seg)
    x = 1.5 * rng.normal(size=(len(EMOTIONS), N_FEATURES))[y] + rng.normal(size=(len(seg), N_FEATURES))
    x = x * rng.uniform(0.1, 100.0, N_FEATURES) + rng.uniform(-50.0, 50.0, N_FEATURES)
    x[:, -1] = 3.0
    ok = ~seg["segment_id"].isin(bad).to_numpy()
    x[~ok] = np.nan
    meta = pd.DataFrame({"segment_id": seg["segment_id"].to_numpy(), "ok": ok,
                         "reason": np.where(ok, "", "missing_wav"), "duration_s": 1.0, "session": "Session01"})
    table = pd.concat([meta, pd.DataFrame(x.astype(np.float32), columns=[f"feat{j}" for j in range(N_FEATURES)])],
                      axis=1)
    return table.iloc[rng.permutation(len(table))].reset_index(drop=True)


def morpheme_docs(seg: pd.DataFrame, seed: int = 5, missing: tuple[str, ...] = ()) -> pd.DataFrame:
    """Morpheme lists with a class marker (``cls<k>/NNG``, the true class 80% of the time) among fillers;
    ``onlyval/NNG`` and ``onlytest/NNG`` occur only in validation and test rows."""
    rng = np.random.default_rng(seed)
    docs = []
    for split, label in zip(seg["split"], D.label_index(seg)):
        doc = rng.choice(FILLER, size=int(rng.integers(3, 8))).tolist()
        marker = label if rng.random() < 0.8 else int(rng.integers(0, len(EMOTIONS)))
        doc.insert(int(rng.integers(0, len(doc) + 1)), f"cls{marker}/NNG")
        docs.append(doc + (["onlyval/NNG"] if split == "val" else ["onlytest/NNG"] if split == "test" else []))
    ok = ~seg["segment_id"].isin(missing).to_numpy()
    table = pd.DataFrame({"segment_id": seg["segment_id"].to_numpy(),
                          "morphemes": [d if k else [] for d, k in zip(docs, ok)],
                          "n_morphemes": [len(d) if k else 0 for d, k in zip(docs, ok)], "empty": False, "ok": ok,
                          "reason": np.where(ok, "", "missing_transcript")})
    return table.iloc[rng.permutation(len(table))].reset_index(drop=True)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("offline")
    seg = D.segments()
    seg.to_parquet(root / "segments.parquet", index=False)
    first = seg.groupby("split")["segment_id"].first()
    bad = (first["train"], first["test"])  # unusable clips: left out of the fit, predicted as the prior
    egemaps_table(seg, bad=bad).to_parquet(root / "egemaps.parquet", index=False)
    missing = (first["test"],)  # a missing transcript
    morpheme_docs(seg, missing=missing).to_parquet(root / "morphemes.parquet", index=False)
    return SimpleNamespace(root=root, seg=seg, segments=root / "segments.parquet", egemaps=root / "egemaps.parquet",
                           morphemes=root / "morphemes.parquet", bad=bad, missing=missing)


def run_train(modality: str, out: Path, inputs: dict, params: dict, seed: int = 0) -> dict:
    """Run the train script (rule ``train``) as Snakemake would; returns the checkpoint config."""
    out.mkdir(parents=True, exist_ok=True)
    log = out.parent / f"{out.name}.train.log"
    inputs = {**inputs, "folds": D.one_fold(inputs["segments"], out.parent / f"{out.name}.folds.parquet")}
    smk = SimpleNamespace(
        scriptdir=str(SCRIPTS), rule="train", threads=1, log=[str(log)],
        wildcards=SimpleNamespace(modality=modality, seed=str(seed)),
        input=SimpleNamespace(**{k: str(v) for k, v in inputs.items()}),
        output=SimpleNamespace(**D.outputs(out)),
        params=SimpleNamespace(train=params, encoder={"audio": "egemaps", "text": "tfidf"}[modality], seed=seed,
                               fold=0))
    try:
        D.run_script(SCRIPTS / "train.py", smk)
    except SystemExit:
        raise DataError(out, log.read_text()) from None
    return json.loads((out / "config.json").read_text())


def train_egemaps(data, out, features=None, **opts):
    params = {**EGEMAPS_PARAMS, "egemaps": {**EGEMAPS_PARAMS["egemaps"], **opts}}
    return run_train("audio", out, {"segments": data.segments, "egemaps": features or data.egemaps}, params)


def train_tfidf(data, out, features=None, **opts):
    params = {**TFIDF_PARAMS, "tfidf": {**TFIDF_PARAMS["tfidf"], **opts}}
    return run_train("text", out, {"segments": data.segments, "morphemes": features or data.morphemes}, params)


@pytest.fixture(scope="module")
def runs(data, tmp_path_factory):
    """One training run per encoder, shared: encoder -> (output folder, checkpoint config)."""
    root = tmp_path_factory.mktemp("runs")
    return {"egemaps": (root / "egemaps", train_egemaps(data, root / "egemaps")),
            "tfidf": (root / "tfidf", train_tfidf(data, root / "tfidf"))}


def _setup_tfidf(data, **opts):
    seg = T.check_segments(data.seg, "segments")
    settings = T.TrainSettings.from_params({**TFIDF_PARAMS, "tfidf": {**TFIDF_PARAMS["tfidf"], **opts}})
    return seg, tfidf.setup(seg, tfidf.read_inputs({"morphemes": data.morphemes}), settings, 0)


# --------------------------------------------------------------------------------------------------
# Training through the adapter contract: outputs, round trip, selection on validation rows only
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("encoder", ["egemaps", "tfidf"])
def test_outputs_and_checkpoint_round_trip(encoder, data, runs):
    out, cfg = runs[encoder]
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "curve.csv", "curve.png", "model.safetensors",
                                                     "predictions.parquet", "preprocessing.json"]
    pred = read_predictions(out / "predictions.parquet")
    assert list(pred.columns) == PREDICTION_COLUMNS
    evals = data.seg[data.seg["split"].isin(["val", "test"])]
    assert sorted(pred["segment_id"]) == sorted(evals["segment_id"])
    curve = pd.read_csv(out / "curve.csv")
    assert list(curve.columns) == T.CURVE_COLUMNS and len(curve) == 1 and cfg["best_epoch"] == 1
    assert cfg["C"] in cfg["C_grid"] and [c["C"] for c in cfg["selection"]] == cfg["C_grid"]
    # the head learns (chance is 1/7)
    y = pred["emotion"].map({e: i for i, e in enumerate(EMOTIONS)}).to_numpy()
    test = (pred["split"] == "test").to_numpy()
    assert np.mean(pred[PROB_COLUMNS].to_numpy().argmax(1)[test] == y[test]) > 0.5
    # weights as safetensors (no pickle), the vocabulary / feature names in JSON; reload and predict again
    module = egemaps if encoder == "egemaps" else tfidf
    model, loaded = module.load_checkpoint(out)
    tensors = load_file(out / "model.safetensors")
    transform = {"mean", "scale"} if encoder == "egemaps" else {"idf"}
    assert set(tensors) == {"linear.weight", "linear.bias", *transform}
    assert all(t.dtype == torch.float64 for t in tensors.values())
    unusable = data.bad if encoder == "egemaps" else data.missing
    rows = ~pred["segment_id"].isin(unusable).to_numpy()
    ids = pred.loc[rows, "segment_id"]
    if encoder == "egemaps":
        table = pd.read_parquet(data.egemaps).set_index("segment_id").loc[ids]
        probs = egemaps.predict(model, loaded, table)
    else:
        docs = pd.read_parquet(data.morphemes).set_index("segment_id").loc[ids, "morphemes"]
        probs = tfidf.predict(model, loaded, [list(d) for d in docs])
    np.testing.assert_allclose(probs, pred.loc[rows, PROB_COLUMNS].to_numpy(), rtol=0, atol=1e-9)
    # unusable rows: the training prior
    np.testing.assert_allclose(pred.loc[~rows, PROB_COLUMNS].to_numpy(), np.array([cfg["train_prior"]] * (~rows).sum()))


def test_egemaps_standardisation_is_fitted_on_usable_training_rows(data, runs):
    tensors = load_file(runs["egemaps"][0] / "model.safetensors")
    table = pd.read_parquet(data.egemaps)
    split = table["segment_id"].map(dict(zip(data.seg["segment_id"], data.seg["split"])))
    fit = table[(split == "train") & table["ok"]]
    cols = [f"feat{j}" for j in range(N_FEATURES)]
    np.testing.assert_allclose(tensors["mean"].numpy(), fit[cols].to_numpy(np.float64).mean(0), rtol=1e-12)
    expected_scale = fit[cols].to_numpy(np.float64).std(0)
    expected_scale[-1] = 1.0  # the constant column
    np.testing.assert_allclose(tensors["scale"].numpy(), expected_scale, rtol=1e-12)


def test_c_is_chosen_on_validation_rows_and_test_rows_change_nothing(data, runs, tmp_path):
    """The record's validation scores are those of an independent fit; the chosen C is their best; test rows'
    features can change neither the weights nor C; validation rows' features do change the scores."""
    from sklearn.linear_model import LogisticRegression

    first, cfg = runs["egemaps"]
    table = pd.read_parquet(data.egemaps).set_index("segment_id")
    seg = data.seg.set_index("segment_id")
    cols = [f"feat{j}" for j in range(N_FEATURES)]
    usable = table.loc[seg.index, "ok"].to_numpy()
    x = table.loc[seg.index, cols].to_numpy(np.float64)
    y = D.label_index(seg.reset_index())
    tr, va = (seg["split"].to_numpy() == "train") & usable, (seg["split"].to_numpy() == "val") & usable
    mean, std = x[tr].mean(0), x[tr].std(0)
    z = (x - mean) / np.where(std > 0, std, 1.0)
    f1s = []
    for C in cfg["C_grid"]:
        clf = LogisticRegression(C=C, max_iter=linear.MAX_ITER).fit(z[tr], y[tr])
        f1s.append(f1_macro(y[va], clf.predict(z[va]), labels=list(range(len(EMOTIONS)))))
    np.testing.assert_allclose([c["val_f1_macro"] for c in cfg["selection"]], f1s, atol=1e-12)
    best = max(cfg["selection"], key=lambda c: (round(c["val_f1_macro"], 12), -c["val_loss"], -c["C"]))
    assert cfg["C"] == best["C"]
    # test rows perturbed: same checkpoint
    rng = np.random.default_rng(9)
    test_ids = seg.index[seg["split"] == "test"]
    noisy = table.copy()
    noisy.loc[test_ids, cols] = rng.normal(size=(len(test_ids), N_FEATURES)).astype(np.float32) * 1e3
    noisy.reset_index().to_parquet(tmp_path / "noisy.parquet", index=False)
    cfg_b = train_egemaps(data, tmp_path / "b", features=tmp_path / "noisy.parquet")
    assert (first / "model.safetensors").read_bytes() == (tmp_path / "b/model.safetensors").read_bytes()
    assert cfg_b["C"] == cfg["C"] and cfg_b["selection"] == cfg["selection"]
    # validation rows perturbed: the validation scores move
    val_ids = seg.index[seg["split"] == "val"]
    noisy = table.copy()
    noisy.loc[val_ids, cols] = rng.normal(size=(len(val_ids), N_FEATURES)).astype(np.float32) * 1e3
    noisy.reset_index().to_parquet(tmp_path / "noisy_val.parquet", index=False)
    cfg_c = train_egemaps(data, tmp_path / "c", features=tmp_path / "noisy_val.parquet")
    assert [c["val_loss"] for c in cfg_c["selection"]] != [c["val_loss"] for c in cfg["selection"]]


def test_same_seed_same_bytes(data, runs, tmp_path):
    train_tfidf(data, tmp_path / "b")
    for f in ("model.safetensors", "config.json", "predictions.parquet", "preprocessing.json"):
        assert (runs["tfidf"][0] / f).read_bytes() == (tmp_path / "b" / f).read_bytes(), f


# --------------------------------------------------------------------------------------------------
# TF-IDF: vocabulary from training rows only, the same rows as scikit-learn's
# --------------------------------------------------------------------------------------------------
def test_tfidf_vocabulary_and_idf_come_from_training_rows_only(data):
    seg, setup = _setup_tfidf(data)
    vocab = setup.config["vocabulary"]
    assert not any("onlyval" in t or "onlytest" in t for t in vocab)
    assert "cls0/NNG" in vocab and any(" " in t for t in vocab)  # unigrams and bigrams
    docs = pd.read_parquet(data.morphemes).set_index("segment_id").loc[seg["segment_id"]]
    train_docs = [list(d) for d, s, ok in zip(docs["morphemes"], seg["split"], docs["ok"]) if s == "train" and ok]
    df = sum("cls0/NNG" in d for d in train_docs)
    idf = setup.model.idf.numpy()[vocab.index("cls0/NNG")]
    assert idf == pytest.approx(math.log((1 + len(train_docs)) / (1 + df)) + 1, rel=1e-12)
    # min_df and max_features shrink the vocabulary, still from training rows only
    _, small = _setup_tfidf(data, min_df=3, max_features=10)
    assert len(small.config["vocabulary"]) == 10 and set(small.config["vocabulary"]) <= set(vocab)


@pytest.mark.parametrize("sublinear", [False, True])
def test_tfidf_rows_match_scikit_learn(sublinear):
    from sklearn.feature_extraction.text import TfidfVectorizer

    rng = np.random.default_rng(1)
    train = [rng.choice(FILLER[:8], size=int(rng.integers(1, 9))).tolist() for _ in range(30)]
    other = [rng.choice(FILLER[:10], size=int(rng.integers(0, 9))).tolist() for _ in range(10)]
    terms, idf = tfidf.fit_vocabulary(train, 2, 1, None)
    counts = tfidf.count_matrix(other, {t: j for j, t in enumerate(terms)}, 2)
    ours = tfidf.tfidf_matrix(counts, idf, sublinear).toarray()
    vec = TfidfVectorizer(tokenizer=lambda d: d, preprocessor=lambda d: d, lowercase=False, token_pattern=None,
                          ngram_range=(1, 2), sublinear_tf=sublinear).fit(train)
    np.testing.assert_allclose(ours, vec.transform(other).toarray(), rtol=0, atol=1e-12)
    head = linear.TfidfLinear(len(terms), sublinear)
    linear.set_buffer(head, "idf", idf)
    np.testing.assert_allclose(head.transform(torch.from_numpy(counts.toarray())).numpy(), ours, atol=1e-12)


# --------------------------------------------------------------------------------------------------
# The linear head: classes absent from training
# --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("present", [(1, 4), (0, 2, 6)])
def test_fit_logistic_maps_present_classes_and_mutes_absent_ones(present):
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(2)
    y = np.array(present * 20)
    x = rng.normal(size=(len(y), 3)) + y[:, None]
    weight, bias, info = linear.fit_logistic(x, y, 1.0, False)
    assert weight.shape == (len(EMOTIONS), 3) and info["converged"]
    probs = T.softmax(x @ weight.T + bias)
    absent = [k for k in range(len(EMOTIONS)) if k not in present]
    assert probs[:, absent].max() < 1e-6 and not weight[absent].any()
    ref = LogisticRegression(C=1.0, max_iter=linear.MAX_ITER).fit(x, y).predict_proba(x)
    np.testing.assert_allclose(probs[:, list(present)] / probs[:, list(present)].sum(1, keepdims=True), ref,
                               atol=1e-8)
    with pytest.raises(ValueError, match="one class only"):
        linear.fit_logistic(x, np.full(len(y), present[0]), 1.0, False)


# --------------------------------------------------------------------------------------------------
# Feature stages: kiwipiepy morphemes, openSMILE functionals
# --------------------------------------------------------------------------------------------------
def test_morphemes_follow_the_markup_policies(tmp_path):
    import pyarrow.parquet as pq

    seg = pd.DataFrame({"segment_id": ["a", "b", "c", "d"],
                        "text": ["o/ 아 진짜? b/", "(학교+회사) 너무 신나.", None, "b/"]})
    kiwi = M.analyser()  # loading its model takes seconds: one for both policies
    table, qc = M.morpheme_table(seg, tag_policy="strip", overlap="own", kiwi=kiwi)
    docs = dict(zip(table["segment_id"], table["morphemes"]))
    assert "진짜/MAG" in docs["a"] and "?/SF" in docs["a"] and not any(t.startswith(("o/", "b/")) for t in docs["a"])
    assert "회사/NNG" in docs["b"] and "학교/NNG" not in docs["b"]  # overlap own: the speaker's words
    assert all(t.count("/") >= 1 and " " not in t for d in docs.values() for t in d)
    row = table.set_index("segment_id")
    assert not row.loc["c", "ok"] and row.loc["c", "reason"] == "missing_transcript"
    assert row.loc["d", "ok"] and row.loc["d", "empty"] and docs["d"] == []
    notes = qc[qc["status"] == "note"].set_index("reason")["n_segments"]
    assert notes["empty_transcript"] == 1 and notes["overlap_own"] == 1
    token, _ = M.morpheme_table(seg, tag_policy="token", overlap="both", kiwi=kiwi)
    docs = dict(zip(token["segment_id"], token["morphemes"]))
    assert docs["a"][0] == "[OVERLAP]/SW" and docs["a"][-1] == "[BREATH]/SW" and docs["d"] == ["[BREATH]/SW"]
    assert "회사/NNG" in docs["b"] and "학교/NNG" in docs["b"]  # overlap both
    pq.write_table(M.arrow_table(table), tmp_path / "m.parquet")
    back = pd.read_parquet(tmp_path / "m.parquet")
    assert [list(d) for d in back["morphemes"]] == [list(d) for d in table["morphemes"]]


def _tone(path: Path, f0: float, seconds: float, sr: int = 16000) -> None:
    t = np.arange(int(seconds * sr)) / sr
    wave = sum(np.sin(2 * np.pi * k * f0 * t) / k for k in range(1, 6))
    sf.write(path, (0.3 * wave / np.abs(wave).max()).astype(np.float32), sr, subtype="PCM_16")


def test_egemaps_extraction_and_gather(tmp_path):
    _tone(tmp_path / "a.wav", 200.0, 1.0)
    _tone(tmp_path / "b.wav", 200.0, 1.0, sr=8000)  # resampled to 16 kHz
    _tone(tmp_path / "c.wav", 200.0, 0.05)  # shorter than min_seconds
    part = pd.DataFrame({"segment_id": ["s1_a", "s1_b", "s1_c", "s1_d"]})
    files = [tmp_path / f"{n}.wav" for n in "abcd"]  # d.wav does not exist
    table = egemaps_features.extract_session(part, files, "Session01", feature_set="eGeMAPSv02", sample_rate=16000,
                                             min_seconds=0.1)
    names = egemaps_features.feature_columns(table)
    assert len(names) == 88 and list(table.columns[:4]) == egemaps_features.META_COLUMNS
    assert table["ok"].tolist() == [True, True, False, False]
    assert table["reason"].tolist() == ["", "", "too_short", "missing_wav"]
    assert table.loc[2:, names].isna().all().all() and np.isfinite(table.loc[:1, names].to_numpy()).all()
    # a 200 Hz tone is 12 log2(200 / 27.5) = 34.4 semitones above 27.5 Hz
    f0 = table.loc[0, "F0semitoneFrom27.5Hz_sma3nz_amean"]
    assert abs(f0 - 12 * math.log2(200 / 27.5)) < 1.0
    segments = pd.DataFrame({"segment_id": [*part["segment_id"], "s2_a"], "session": ["Session01"] * 4 + ["Session02"]})
    gathered, qc = egemaps_features.gather(segments, [("Session01.parquet", table)])
    assert gathered["segment_id"].tolist() == sorted(segments["segment_id"])
    assert gathered.set_index("segment_id").loc["s2_a", "reason"] == "not_extracted"
    assert dict(zip(qc["reason"], qc["n_segments"])) == {"": 2, "missing_wav": 1, "not_extracted": 1, "too_short": 1}
    with pytest.raises(DataError, match="appears in two sessions"):
        egemaps_features.gather(segments, [("x.parquet", table), ("y.parquet", table)])


# --------------------------------------------------------------------------------------------------
# End to end: one fold of audio+text with the paper's models (cnn, bert) on the tiny preset, run on the
# corrupted copy of tests/test_bad_input.py (fixture ``corrupted`` in tests/conftest.py: one run serves both,
# and training meets excluded rows). The default encoders (egemaps, tfidf) run end to end in the shared tiny
# run (tests/test_workflow.py), whose jobs tests/test_code_inputs.py checks; this covers the other path the
# same way.
# --------------------------------------------------------------------------------------------------
@pytest.mark.workflow
def test_paper_models_end_to_end_one_fold(corrupted):
    from test_code_inputs import module_name, ran

    wd, data, _, _ = corrupted
    target = PAPER_FOLD_TARGET
    metrics = json.loads((wd / target).read_text())
    assert 0 <= metrics["accuracy"] <= 1
    # the waveforms, their log-mel features and the fold's BERT backbone were built; no openSMILE table
    assert (wd / "results/features/audio.npy").exists() and (wd / "results/features/audio_logmel.npy").exists()
    assert (wd / "results/text/fold0/backbone").is_dir()
    assert not (wd / "results/features/opensmile").exists()
    epochs = {"audio": 3, "text": 3}  # presets/tiny.yaml
    for m, n in epochs.items():
        assert len(pd.read_csv(wd / f"results/models/{m}/fold0/seed0/curve.csv")) == n
    # every job lists exactly the package modules it ran (tests/test_code_inputs.py, for these rules)
    res = snakemake(wd, target, "--detailed-summary", "--cores", "1", *TINY, *paper_models(data))
    src = wd / "workflow" / "src"
    import csv
    import io

    listed: dict[str, set[str]] = {}
    for row in csv.DictReader(io.StringIO(res.stdout), delimiter="\t"):
        if row["log-file(s)"] not in ("-", ""):
            listed.setdefault(row["log-file(s)"], set()).update(
                module_name(p, src) for p in row["input-file(s)"].split(",")
                if p.endswith(".py") and Path(p).resolve().is_relative_to(src.resolve()))
    logs = [log for log in listed if log.startswith(("logs/audio_features/", "logs/gather_audio", "logs/audio_logmel",
                                                      "logs/build_text_backbone", "logs/text_features",
                                                      "logs/train/"))]
    assert len(logs) >= 6, sorted(listed)
    for log in logs:
        assert listed[log] == ran(wd, log), log


def test_c_grid_change_retrains_only_the_audio_head(tiny_run):
    """On the shared tiny run (default encoders egemaps and tfidf): a change of the C grid retrains the audio
    head and what depends on it; the openSMILE tables and the text models are reused."""
    plan = snakemake(tiny_run, "results/table1.csv", "-n", "--cores", "1", *TINY,
                     "--config", "audio={'egemaps': {'C': [0.1, 1.0]}}")
    outs = planned_outputs(plan.stdout)
    assert "results/models/audio/fold0/seed0/model.safetensors" in outs
    assert not any(o.startswith(("results/features/", "results/models/text/", "results/models/bio/"))
                   for o in outs), outs
