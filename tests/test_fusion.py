"""Late fusion: known answers per method, join by key, mismatches, no leakage from the test rows."""

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from _model_data import one_fold, run_script
from emoflow.constants import EMOTIONS, PROB_COLUMNS
from emoflow.errors import DataError
from emoflow.fusion import (
    apply_temperature,
    choose_method,
    fit_temperature,
    fit_weights,
    fuse,
    fuse_details,
    modality_sources,
    pool_folds,
    product_pool,
    segments_prior,
    simplex_grid,
)
from emoflow.metrics import class_prior as smoothed_prior

SCRIPTS = Path(__file__).resolve().parents[1] / "workflow" / "scripts"


def run_setting(paths, modalities, method, seed, setting, out_predictions, out_metrics, out_confusion=None, *,
                calibrate=False, segments_path=None):
    """Run the fuse script (rule ``fuse``); returns the metrics it wrote."""
    out_metrics = Path(out_metrics)
    log = out_metrics.with_suffix(".log")
    log.parent.mkdir(parents=True, exist_ok=True)
    folds = "no-folds.parquet"
    if segments_path is not None and Path(segments_path).exists():
        folds = str(one_fold(segments_path, log.parent / "folds.parquet"))
    smk = SimpleNamespace(
        scriptdir=str(SCRIPTS), rule="fuse", threads=1, log=[str(log)], wildcards=SimpleNamespace(setting=setting),
        input=SimpleNamespace(**{m: [p] for m, p in modality_sources(paths, modalities).items()},
                              segments=str(segments_path or "no-segments.parquet"), folds=folds),
        params=SimpleNamespace(method=method, calibrate=calibrate, modalities=list(modalities), seed=seed, fold=0),
        output=SimpleNamespace(predictions=str(out_predictions), metrics=str(out_metrics),
                               confusion=str(out_confusion or out_metrics.with_suffix(".png"))))
    try:
        run_script(SCRIPTS / "fuse.py", smk)
    except SystemExit:
        raise DataError(setting, log.read_text()) from None
    return json.loads(out_metrics.read_text())

K = len(EMOTIONS)


def table(ids, splits, labels, probs, seed=0):
    df = pd.DataFrame({"seed": seed, "fold": 0, "segment_id": ids, "split": splits, "emotion": labels})
    df[PROB_COLUMNS] = np.asarray(probs, dtype=float)
    return df


def peaked(classes, p, rng=None):
    """Rows putting probability ``p`` on ``classes[i]`` and the rest spread evenly."""
    out = np.full((len(classes), K), (1 - p) / (K - 1))
    out[np.arange(len(classes)), classes] = p
    return out


def noise(n, rng):
    return rng.dirichlet(np.ones(K), size=n)


def scenario(rng, n_val=140, n_test=140, seed=0, informative="audio", p=0.6):
    """``informative`` is right 80% of the time (true class keeps 0.2 otherwise); the other is noise."""
    n = n_val + n_test
    y = rng.integers(0, K, n)
    wrong = rng.random(n) < 0.2
    guess = np.where(wrong, (y + rng.integers(1, K, n)) % K, y)
    good = peaked(guess, p)
    good[wrong, y[wrong]] = 0.2
    good[wrong] /= good[wrong].sum(axis=1, keepdims=True)
    ids = [f"s{seed}_{i:04d}" for i in range(n)]
    splits = ["val"] * n_val + ["test"] * n_test
    labels = [EMOTIONS[i] for i in y]
    other = "text" if informative == "audio" else "audio"
    return {
        informative: table(ids, splits, labels, good, seed),
        other: table(ids, splits, labels, noise(n, rng), seed),
    }


# ---------------------------------------------------------------------------------------------- mean
def test_mean_is_exact_average():
    a = np.zeros((2, K))
    a[0, [0, 1]] = [0.8, 0.2]
    a[1, [3, 4]] = [0.5, 0.5]
    b = np.zeros((2, K))
    b[0, [1, 2]] = [0.6, 0.4]
    b[1, [3, 6]] = [0.9, 0.1]
    ids, splits, labels = ["x", "y"], ["test", "test"], ["happy", "angry"]
    out = fuse({"audio": table(ids, splits, labels, a), "text": table(ids, splits, labels, b)})
    assert list(out.columns) == ["seed", "segment_id", "split", "emotion", *PROB_COLUMNS, "pred"]
    expected = np.zeros((2, K))
    expected[0, [0, 1, 2]] = [0.4, 0.4, 0.2]
    expected[1, [3, 4, 6]] = [0.7, 0.25, 0.05]
    np.testing.assert_allclose(out[PROB_COLUMNS].to_numpy(), expected, atol=1e-12)
    # x: tie between neutral and happy -> first in EMOTIONS order; y: angry
    assert out["pred"].tolist() == ["neutral", "angry"]
    assert out["emotion"].tolist() == labels


@pytest.mark.parametrize("method", ["mean", "product", "weighted", "stacking"])
def test_single_modality_is_identity(method):
    rng = np.random.default_rng(0)
    t = scenario(rng, 40, 30)["audio"]
    out, fits = fuse_details({"audio": t}, method, keep_val=True)
    merged = out.merge(t, on=["seed", "segment_id"], suffixes=("", "_in"))
    assert len(merged) == len(t)
    for c in PROB_COLUMNS:
        np.testing.assert_array_equal(merged[c], merged[f"{c}_in"])
    assert fits[0]["weights"] == {"audio": 1.0}


def test_output_holds_test_rows_only_by_default():
    rng = np.random.default_rng(1)
    out = fuse(scenario(rng, 20, 15))
    assert set(out["split"]) == {"test"} and len(out) == 15


# ------------------------------------------------------------------------------------------ weighted
def test_simplex_grid():
    g2, g3 = simplex_grid(2), simplex_grid(3)
    assert g2.shape == (21, 2) and g3.shape == (231, 3)
    np.testing.assert_allclose(g3.sum(axis=1), 1.0)
    assert (g3 >= 0).all()


def test_weighted_recovers_informative_modality():
    for informative in ("audio", "text"):
        rng = np.random.default_rng(3)
        tables = scenario(rng, informative=informative)
        out, fits = fuse_details(tables, "weighted")
        w = fits[0]["weights"]
        assert w[informative] >= 0.9, w
        assert sum(w.values()) == pytest.approx(1.0)
        assert min(w.values()) >= 0
        other = "text" if informative == "audio" else "audio"
        expected = w[informative] * tables[informative].set_index("segment_id")[PROB_COLUMNS] + w[
            other
        ] * tables[other].set_index("segment_id")[PROB_COLUMNS]
        got = out.set_index("segment_id")[PROB_COLUMNS]
        np.testing.assert_allclose(got.to_numpy(), expected.loc[got.index].to_numpy(), atol=1e-12)


def test_fit_weights_equal_modalities_tie_to_uniform():
    p = peaked([0, 1, 2], 0.7)
    np.testing.assert_allclose(fit_weights([p, p], np.array([0, 1, 2])), [0.5, 0.5])


def test_weights_are_fitted_per_seed():
    rng = np.random.default_rng(4)
    s0 = scenario(rng, seed=0, informative="audio")
    s1 = scenario(rng, seed=1, informative="text")
    tables = {m: pd.concat([s0[m], s1[m]], ignore_index=True) for m in ("audio", "text")}
    _, fits = fuse_details(tables, "weighted")
    assert [f["seed"] for f in fits] == [0, 1]
    assert fits[0]["weights"]["audio"] >= 0.9 and fits[1]["weights"]["text"] >= 0.9


# ------------------------------------------------------------------------------------------ stacking
def permuted_scenario(rng, n_val=210, n_test=210):
    """Audio is confidently right but with its classes shifted by one; text is noise."""
    n = n_val + n_test
    y = rng.integers(0, K, n)
    shifted = peaked((y + 1) % K, 0.7)
    ids = [f"p{i:04d}" for i in range(n)]
    splits = ["val"] * n_val + ["test"] * n_test
    labels = [EMOTIONS[i] for i in y]
    return {
        "audio": table(ids, splits, labels, shifted),
        "text": table(ids, splits, labels, noise(n, rng)),
    }


def accuracy(df):
    return float((df["pred"] == df["emotion"]).mean())


def test_stacking_beats_mean_when_a_modality_is_miscalibrated():
    tables = permuted_scenario(np.random.default_rng(5))
    mean_acc = accuracy(fuse(tables, "mean"))
    out, fits = fuse_details(tables, "stacking", seed=0)
    stack_acc = accuracy(out)
    assert mean_acc < 0.2
    assert stack_acc > 0.9
    assert fits[0]["C"] in (0.1, 1.0, 10.0) and fits[0]["C_cross_validated"]
    np.testing.assert_allclose(out[PROB_COLUMNS].sum(axis=1), 1.0)


def test_stacking_is_deterministic_for_a_seed():
    tables = permuted_scenario(np.random.default_rng(6), 60, 40)
    a = fuse(tables, "stacking", seed=3)
    b = fuse(tables, "stacking", seed=3)
    pd.testing.assert_frame_equal(a, b)


def test_stacking_small_or_degenerate_validation_sets():
    tables = permuted_scenario(np.random.default_rng(16), 5, 10)
    _, fits = fuse_details(tables, "stacking")
    assert fits[0]["C"] == 1.0 and not fits[0]["C_cross_validated"]
    small = permuted_scenario(np.random.default_rng(17), 20, 5)
    one_class = {m: t.assign(emotion="sad") for m, t in small.items()}
    with pytest.raises(DataError, match="two classes"):
        fuse(one_class, "stacking")
    no_val = {m: t[t["split"] == "test"] for m, t in tables.items()}
    for method in ("weighted", "stacking"):
        with pytest.raises(DataError, match="no validation rows"):
            fuse(no_val, method)
    assert len(fuse(no_val, "mean")) == 10


# ------------------------------------------------------------------------------------------- product
def cue_world(rng, n_val=300, n_test=300, seed=0):
    """Two modalities whose cues are conditionally independent given the label, each model outputting
    its exact posterior p(y | cue). Returns the tables, the prior and the exact joint posterior."""
    prior = np.array([0.4, 0.14, 0.1, 0.18, 0.08, 0.05, 0.05])
    mats = {}
    for m, acc in (("audio", 0.7), ("text", 0.55)):
        confuse = rng.dirichlet(np.ones(K), size=K)
        mats[m] = acc * np.eye(K) + (1 - acc) * confuse  # P(cue | y), rows sum to 1
    n = n_val + n_test
    y = rng.choice(K, size=n, p=prior)
    cues = {m: np.array([rng.choice(K, p=mats[m][c]) for c in y]) for m in mats}
    post = {m: prior * mats[m][:, cues[m]].T for m in mats}
    post = {m: p / p.sum(axis=1, keepdims=True) for m, p in post.items()}
    joint = prior * mats["audio"][:, cues["audio"]].T * mats["text"][:, cues["text"]].T
    joint /= joint.sum(axis=1, keepdims=True)
    ids = [f"s{seed}_{i:04d}" for i in range(n)]
    splits = ["val"] * n_val + ["test"] * n_test
    labels = [EMOTIONS[i] for i in y]
    tables = {m: table(ids, splits, labels, post[m], seed) for m in mats}
    return tables, prior, joint


def test_product_pool_is_the_naive_bayes_posterior():
    tables, prior, joint = cue_world(np.random.default_rng(30), 50, 50)
    out = fuse(tables, "product", prior=prior, keep_val=True)
    ids = tables["audio"]["segment_id"].tolist()
    got = out.set_index("segment_id").loc[ids, PROB_COLUMNS].to_numpy()
    np.testing.assert_allclose(got, joint, atol=1e-9)
    # the mean of the two posteriors is a different (worse) rule
    mean = fuse(tables, "mean", keep_val=True).set_index("segment_id").loc[ids, PROB_COLUMNS].to_numpy()
    assert not np.allclose(mean, joint, atol=1e-3)
    # a single table, or a flat prior, reduce to the plain product rule
    p = tables["audio"][PROB_COLUMNS].to_numpy()
    np.testing.assert_allclose(product_pool([p], prior), p, atol=1e-12)
    q = tables["text"][PROB_COLUMNS].to_numpy()
    flat = product_pool([p, q], np.full(K, 1 / K))
    np.testing.assert_allclose(flat, p * q / (p * q).sum(axis=1, keepdims=True), atol=1e-12)
    with pytest.raises(ValueError, match="prior"):
        product_pool([p, q], np.zeros(K))


def test_product_beats_mean_on_conditionally_independent_cues():
    tables, prior, _ = cue_world(np.random.default_rng(31), 100, 1500)
    acc_product = accuracy(fuse(tables, "product", prior=prior))
    acc_mean = accuracy(fuse(tables, "mean"))
    assert acc_product > acc_mean + 0.02


def test_product_prior_defaults_to_validation_frequencies():
    tables, prior, _ = cue_world(np.random.default_rng(32), 60, 40)
    _, fits = fuse_details(tables, "product")
    y_val = tables["audio"].loc[tables["audio"]["split"] == "val", "emotion"].map(EMOTIONS.index)
    expected = smoothed_prior(y_val.to_numpy())
    assert fits[0]["prior_source"] == "validation rows"
    np.testing.assert_allclose([fits[0]["prior"][e] for e in EMOTIONS], expected)
    _, fits = fuse_details(tables, "product", prior=prior)
    assert fits[0]["prior_source"] == "training split"
    np.testing.assert_allclose([fits[0]["prior"][e] for e in EMOTIONS], prior)


def test_smoothed_and_segments_prior():
    np.testing.assert_allclose(smoothed_prior(np.array([0, 0, 0, 1])), np.array([4, 2, 1, 1, 1, 1, 1]) / 11)
    seg = pd.DataFrame({"emotion": ["neutral", "neutral", "sad", "fear", "happy"],
                        "split": ["train", "train", "train", "val", "test"]})
    expected = np.array([3, 1, 1, 1, 2, 1, 1]) / 10  # neutral x2, sad x1 in train; val/test ignored
    np.testing.assert_allclose(segments_prior(seg), expected)
    with pytest.raises(DataError, match="train split"):
        segments_prior(seg.assign(split="val"), "segments.parquet")
    with pytest.raises(DataError, match="unknown emotion"):
        segments_prior(seg.assign(emotion="bored"), "segments.parquet")


# --------------------------------------------------------------------------------------- calibration
def overconfident(rng, n, temperatures, seed=0, n_val=None):
    """Labels drawn from softmax(z); modality ``m`` reports softmax(z * temperatures[m]), i.e. is
    over-confident by that factor (a calibrating temperature recovers it). One table per modality."""
    z = rng.normal(size=(n, K)) * 1.5
    p_true = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
    y = np.array([rng.choice(K, p=p) for p in p_true])
    n_val = n // 2 if n_val is None else n_val
    ids = [f"s{seed}_{i:04d}" for i in range(n)]
    splits = ["val"] * n_val + ["test"] * (n - n_val)
    labels = [EMOTIONS[i] for i in y]
    out = {}
    for m, t in temperatures.items():
        reported = np.exp(z * t) / np.exp(z * t).sum(axis=1, keepdims=True)
        out[m] = table(ids, splits, labels, reported, seed)
    return out


def test_fit_temperature_recovers_the_over_confidence():
    rng = np.random.default_rng(40)
    t = overconfident(rng, 4000, {"audio": 3.0}, n_val=4000)["audio"]
    y = t["emotion"].map(EMOTIONS.index).to_numpy()
    p = t[PROB_COLUMNS].to_numpy()
    temp = fit_temperature(p, y)
    assert temp == pytest.approx(3.0, rel=0.1)
    q = apply_temperature(p, temp)
    np.testing.assert_allclose(q.sum(axis=1), 1.0)
    assert (q.argmax(axis=1) == p.argmax(axis=1)).all()
    nll = lambda a: -np.log(a[np.arange(len(y)), y]).mean()  # noqa: E731
    assert nll(q) < nll(p) - 0.1
    # already calibrated probabilities keep T = 1 (never worse than no scaling)
    t1 = overconfident(rng, 3000, {"audio": 1.0}, n_val=3000)["audio"]
    assert fit_temperature(t1[PROB_COLUMNS].to_numpy(), t1["emotion"].map(EMOTIONS.index)) == pytest.approx(
        1.0, abs=0.1)
    with pytest.raises(ValueError, match="no validation rows"):
        fit_temperature(p[:0], y[:0])


@pytest.mark.parametrize("method", ["mean", "product", "weighted", "stacking"])
def test_calibration_is_fitted_per_modality_and_seed(method):
    rng = np.random.default_rng(41)
    s0 = overconfident(rng, 600, {"audio": 3.0, "text": 0.5}, seed=0)
    s1 = overconfident(rng, 600, {"audio": 1.0, "text": 2.0}, seed=1)
    tables = {m: pd.concat([s0[m], s1[m]]) for m in ("audio", "text")}
    _, fits = fuse_details(tables, method, calibrate=True)
    temps = {f["seed"]: f["temperatures"] for f in fits}
    assert temps[0]["audio"] == pytest.approx(3.0, rel=0.25) and temps[0]["text"] == pytest.approx(0.5, rel=0.25)
    assert temps[1]["audio"] == pytest.approx(1.0, rel=0.25) and temps[1]["text"] == pytest.approx(2.0, rel=0.25)
    _, fits = fuse_details(tables, method)
    assert all(f["temperatures"] is None for f in fits)


def test_calibration_keeps_a_single_modality_argmax():
    t = overconfident(np.random.default_rng(42), 300, {"audio": 3.0})["audio"]
    out = fuse({"audio": t}, "product", calibrate=True, keep_val=True)
    merged = out.merge(t, on=["seed", "segment_id"], suffixes=("", "_in"))
    p_in = merged[[f"{c}_in" for c in PROB_COLUMNS]].to_numpy()
    p_out = merged[PROB_COLUMNS].to_numpy()
    assert (p_in.argmax(axis=1) == p_out.argmax(axis=1)).all()
    assert p_out.max(axis=1).mean() < p_in.max(axis=1).mean() - 0.05  # softened


def test_calibration_without_validation_rows_is_an_error():
    t = overconfident(np.random.default_rng(43), 40, {"audio": 2.0}, n_val=0)["audio"]
    with pytest.raises(DataError, match="no validation rows"):
        fuse({"audio": t}, "mean", calibrate=True)


# ------------------------------------------------------------------------------------------ join/key
@pytest.mark.parametrize("method", ["mean", "product", "weighted", "stacking"])
def test_row_order_does_not_matter(method):
    rng = np.random.default_rng(7)
    tables = scenario(rng, 80, 60)
    ref = fuse(tables, method, seed=1)
    shuffled = {
        m: t.sample(frac=1.0, random_state=i + 11).reset_index(drop=True)
        for i, (m, t) in enumerate(tables.items())
    }
    assert not shuffled["audio"]["segment_id"].equals(shuffled["text"]["segment_id"])
    pd.testing.assert_frame_equal(fuse(shuffled, method, seed=1), ref)


def test_missing_row_raises_naming_modalities_and_ids():
    rng = np.random.default_rng(8)
    tables = scenario(rng, 10, 10)
    tables["text"] = tables["text"][tables["text"]["segment_id"] != "s0_0013"]
    with pytest.raises(DataError) as err:
        fuse(tables, sources={m: f"results/predictions/{m}.parquet" for m in tables})
    msg = str(err.value)
    assert "audio" in msg and "text" in msg and "s0_0013" in msg
    assert "results/predictions/text.parquet" in msg


def test_split_disagreement_raises():
    rng = np.random.default_rng(9)
    tables = scenario(rng, 10, 10)
    t = tables["text"].copy()
    t.loc[t["segment_id"] == "s0_0002", "split"] = "test"
    tables["text"] = t
    with pytest.raises(DataError, match="s0_0002"):
        fuse(tables)


def test_label_disagreement_raises():
    rng = np.random.default_rng(10)
    tables = scenario(rng, 10, 10)
    t = tables["text"].copy()
    row = t["segment_id"] == "s0_0015"
    t.loc[row, "emotion"] = "fear" if t.loc[row, "emotion"].item() != "fear" else "sad"
    tables["text"] = t
    with pytest.raises(DataError, match=r"true label.*s0_0015"):
        fuse(tables)


def test_bad_tables_are_rejected():
    rng = np.random.default_rng(11)
    t = scenario(rng, 5, 5)["audio"]
    src = {"audio": "a.parquet"}

    def fails(df, match):
        with pytest.raises(DataError, match=match) as err:
            fuse({"audio": df}, sources=src)
        assert "a.parquet" in str(err.value)

    fails(t.drop(columns="prob_fear"), "missing column")
    fails(pd.concat([t, t.iloc[:1]], ignore_index=True), "duplicate")
    bad = t.copy()
    bad.loc[0, PROB_COLUMNS] = bad.loc[0, PROB_COLUMNS] * 0.5
    fails(bad, "sum to")
    bad = t.copy()
    bad.loc[0, "split"] = "train"
    fails(bad, "split")
    fails(t.iloc[:0], "no prediction rows")
    with pytest.raises(ValueError, match="unknown fusion method"):
        fuse({"audio": t}, "max")


# ------------------------------------------------------------------------------------------ no leak
def _perturb_test(tables, rng):
    out = {}
    for m, t in tables.items():
        t = t.copy()
        test = (t["split"] == "test").to_numpy()
        t.loc[test, PROB_COLUMNS] = noise(int(test.sum()), rng)
        out[m] = t
    return out


def test_test_rows_do_not_influence_weights():
    rng = np.random.default_rng(12)
    tables = scenario(rng)
    _, fits_a = fuse_details(tables, "weighted")
    # test rows of the informative modality replaced by noise and vice versa: a fit on them would move
    flipped = _perturb_test(tables, rng)
    _, fits_b = fuse_details(flipped, "weighted")
    assert fits_a[0]["weights"] == fits_b[0]["weights"]
    # ...whereas changing the validation rows does move the weights (the fit is not a constant)
    swapped = {"audio": tables["text"].copy(), "text": tables["audio"].copy()}
    swapped["audio"]["segment_id"] = tables["audio"]["segment_id"]
    _, fits_c = fuse_details(swapped, "weighted")
    assert fits_c[0]["weights"]["text"] >= 0.9


@pytest.mark.parametrize("method", ["product", "mean"])
def test_test_rows_do_not_influence_calibration(method):
    rng = np.random.default_rng(44)
    tables = scenario(rng)
    a, fits_a = fuse_details(tables, method, calibrate=True)
    # test rows replaced by noise: the temperatures (fitted on validation rows) must not move
    b, fits_b = fuse_details(_perturb_test(tables, rng), method, calibrate=True)
    assert fits_a[0]["temperatures"] == fits_b[0]["temperatures"]
    assert fits_a[0].get("prior") == fits_b[0].get("prior")
    assert not a[PROB_COLUMNS].equals(b[PROB_COLUMNS])
    # ...whereas making the validation rows of audio over-confident does move its temperature
    sharpened = {m: t.copy() for m, t in tables.items()}
    val = (sharpened["audio"]["split"] == "val").to_numpy()
    sharpened["audio"].loc[val, PROB_COLUMNS] = apply_temperature(
        sharpened["audio"].loc[val, PROB_COLUMNS].to_numpy(), 0.3)
    _, fits_c = fuse_details(sharpened, method, calibrate=True)
    assert fits_c[0]["temperatures"]["audio"] > 1.5 * fits_a[0]["temperatures"]["audio"]


def test_test_rows_do_not_influence_stacker():
    rng = np.random.default_rng(13)
    tables = permuted_scenario(rng, 140, 60)
    a, fits_a = fuse_details(tables, "stacking", seed=0)
    changed = {m: t.copy() for m, t in tables.items()}
    ids = set(a["segment_id"].iloc[:30])
    for m, t in changed.items():
        rows = t["segment_id"].isin(ids).to_numpy()
        t.loc[rows, PROB_COLUMNS] = noise(int(rows.sum()), rng)
    b, fits_b = fuse_details(changed, "stacking", seed=0)
    assert fits_a[0]["C"] == fits_b[0]["C"]
    untouched_a = a[~a["segment_id"].isin(ids)].reset_index(drop=True)
    untouched_b = b[~b["segment_id"].isin(ids)].reset_index(drop=True)
    pd.testing.assert_frame_equal(untouched_a, untouched_b)
    assert not a[PROB_COLUMNS].equals(b[PROB_COLUMNS])


# ------------------------------------------------------------------------------------------ rule
def test_run_setting_writes_outputs(tmp_path):
    rng = np.random.default_rng(14)
    s0 = scenario(rng, 60, 50, seed=0)
    s1 = scenario(rng, 60, 50, seed=1)
    paths = []
    for m in ("audio", "text"):
        p = tmp_path / f"{m}.parquet"
        pd.concat([s0[m], s1[m]]).sample(frac=1.0, random_state=0).to_parquet(p, index=False)
        paths.append(str(p))
    out = tmp_path / "fusion" / "audio+text"
    # inputs listed in the other order: paired with modalities by file name
    result = run_setting(
        paths[::-1], ["audio", "text"], "weighted", 0, "audio+text",
        out / "predictions.parquet", out / "metrics.json", out / "confusion.png",
    )
    pred = pd.read_parquet(out / "predictions.parquet")
    assert set(pred["split"]) == {"val", "test"} and (pred["split"] == "test").sum() == 100
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["label"] == "Audio+Text" and metrics["modalities"] == ["audio", "text"]
    assert metrics["n_seeds"] == 2 and metrics["n_test"] == 100 and metrics["seeds"] == [0, 1]
    per_seed = [metrics["per_seed"][s]["accuracy"] for s in ("0", "1")]
    assert metrics["accuracy"] == pytest.approx(np.mean(per_seed))
    assert metrics["summary"]["accuracy"]["std"] == pytest.approx(np.std(per_seed, ddof=1))
    for s in ("0", "1"):
        rows = pred[(pred["seed"] == int(s)) & (pred["split"] == "test")]
        assert metrics["per_seed"][s]["accuracy"] == pytest.approx(accuracy(rows))
        assert metrics["per_seed"][s]["fusion"]["weights"]["audio"] >= 0.9
    assert np.asarray(metrics["confusion"]).sum() == 100
    assert metrics["majority"]["label"] in EMOTIONS
    assert set(metrics["per_class_f1"]) == set(EMOTIONS)
    assert result["method"] == "weighted" and result["fold"] == 0 and (pred["fold"] == 0).all()


def test_pooled_folds_test_every_utterance_once_and_report_the_spread(tmp_path):
    """Two folds whose test rows are disjoint: pooled metrics are those of all test rows together,
    the fold spread is the sample std of the two folds' figures, and the pool script writes them."""
    rng = np.random.default_rng(21)
    results = []
    for fold in (0, 1):
        t = scenario(rng, 40, 30, seed=0)
        for m in t:
            t[m]["segment_id"] = [f"f{fold}_{i}" for i in t[m]["segment_id"]]
            t[m]["fold"] = fold
        results.append(run_setting_tables(t, fold))
    pooled = pool_folds(results)
    test = pooled.predictions[pooled.predictions["split"] == "test"]
    assert len(test) == 60 and test["segment_id"].is_unique
    m = pooled.metrics
    assert m["n_folds"] == 2 and m["n_test"] == 60 and m["accuracy"] == pytest.approx(accuracy(test))
    folds_acc = [r.metrics["accuracy"] for r in results]
    assert m["fold_spread"]["accuracy"]["std"] == pytest.approx(np.std(folds_acc, ddof=1))
    assert set(m["per_fold"]) == {"0", "1"}
    with pytest.raises(DataError, match="more than one fold"):
        pool_folds([results[0], results[0]])
    paths = []
    for r, fold in zip(results, (0, 1)):
        d = tmp_path / f"fold{fold}"
        d.mkdir()
        r.predictions.to_parquet(d / "predictions.parquet", index=False)
        (d / "metrics.json").write_text(json.dumps(r.metrics))
        paths.append(d)
    smk = SimpleNamespace(
        scriptdir=str(SCRIPTS), rule="pool_folds", threads=1, log=[str(tmp_path / "pool.log")],
        input=SimpleNamespace(predictions=[str(d / "predictions.parquet") for d in paths],
                              metrics=[str(d / "metrics.json") for d in paths]),
        output=SimpleNamespace(predictions=str(tmp_path / "p.parquet"), metrics=str(tmp_path / "m.json"),
                               confusion=str(tmp_path / "c.png")))
    run_script(SCRIPTS / "pool_folds.py", smk)
    written = pd.read_parquet(tmp_path / "p.parquet")
    assert set(written["split"]) == {"test"} and len(written) == 60
    assert json.loads((tmp_path / "m.json").read_text())["accuracy"] == pytest.approx(m["accuracy"])
    assert (tmp_path / "c.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def run_setting_tables(tables, fold):
    from emoflow.fusion import run_setting as fuse_one_fold

    return fuse_one_fold(tables, {m: m for m in tables}, "audio+text", "mean", 0, fold)


def test_run_setting_single_seed_std_is_zero(tmp_path):
    t = scenario(np.random.default_rng(15), 20, 20)["audio"]
    p = tmp_path / "audio.parquet"
    t.to_parquet(p, index=False)
    result = run_setting([str(p)], ["audio"], "mean", 0, "audio", tmp_path / "p.parquet", tmp_path / "m.json")
    assert result["summary"]["f1_macro"]["std"] == 0.0 and result["n_seeds"] == 1
    test = t[t["split"] == "test"]
    expected = np.asarray(EMOTIONS)[test[PROB_COLUMNS].to_numpy().argmax(axis=1)]
    assert result["accuracy"] == pytest.approx(float((expected == test["emotion"].to_numpy()).mean()))


def test_run_setting_product_uses_the_training_prior(tmp_path):
    tables, prior, _ = cue_world(np.random.default_rng(16), 80, 60)
    paths = []
    for m, t in tables.items():
        p = tmp_path / f"{m}.parquet"
        t.to_parquet(p, index=False)
        paths.append(str(p))
    # a segments table whose training split has exactly the class counts 40/14/10/18/8/5/5 (x1)
    counts = (prior * 100).round().astype(int) - 1
    train = pd.DataFrame({"segment_id": [f"tr{i}" for i in range(counts.sum())],
                          "emotion": np.repeat(EMOTIONS, counts), "split": "train"})
    seg = pd.concat([train, tables["audio"][["segment_id", "emotion", "split"]]], ignore_index=True)
    seg.to_parquet(tmp_path / "segments.parquet", index=False)
    out = tmp_path / "fusion"
    result = run_setting(paths, ["audio", "text"], "product", 0, "audio+text", out / "p.parquet",
                         out / "m.json", calibrate=True, segments_path=tmp_path / "segments.parquet")
    fit = result["per_seed"]["0"]["fusion"]
    assert fit["prior_source"] == "training split" and result["calibrate"] is True
    np.testing.assert_allclose([fit["prior"][e] for e in EMOTIONS], prior, atol=1e-12)
    assert set(fit["temperatures"]) == {"audio", "text"}
    with pytest.raises(DataError, match="segments"):
        run_setting(paths, ["audio", "text"], "product", 0, "audio+text", out / "p.parquet", out / "m.json",
                    segments_path=tmp_path / "segments.parquet.missing")


def test_missing_input_file_is_a_data_error(tmp_path):
    with pytest.raises(DataError, match="audio.parquet"):
        run_setting([str(tmp_path / "audio.parquet")], ["audio"], "mean", 0, "audio",
                    tmp_path / "p.parquet", tmp_path / "m.json")


def test_auto_picks_on_validation_and_never_falls_below_the_best_member():
    """One informative modality, one that is right on validation but noise on test: auto judges on
    validation only; with a useless partner it keeps the informative member alone."""
    rng = np.random.default_rng(31)
    tables = scenario(rng, 150, 150, informative="audio")
    chosen, scores = choose_method(tables, 0)
    assert set(scores) == {"mean", "product", "weighted", "stacking", "only:audio", "only:text"}
    assert scores[chosen] == max(scores.values()) >= scores["only:audio"]
    res = run_setting_tables_method(tables, "auto")
    assert res.metrics["chosen"] == chosen and res.metrics["method"] == "auto"
    assert set(res.metrics["candidates_val_f1_macro"]) == set(scores)
    # the test rows never enter the choice: poison them and nothing about the choice changes
    poisoned = {m: t.copy() for m, t in tables.items()}
    test = poisoned["text"]["split"] == "test"
    poisoned["text"].loc[test, PROB_COLUMNS] = peaked(
        poisoned["text"].loc[test, "emotion"].map(EMOTIONS.index).to_numpy(), 0.99)
    assert choose_method(poisoned, 0) == (chosen, scores)


def test_auto_scores_are_cross_fitted_on_validation_dialogues():
    """Two pure-noise modalities: a stacker judged on the rows it was fitted on looks better than
    chance; cross-fitted (each part of the validation dialogues predicted by a fit on the others) it
    does not, and no fit ever sees the rows it scores."""
    from emoflow.fusion import (
        _fuse_candidate,
        _val_f1,
        crossfit_parts,
        crossfit_predictions,
        crossfit_val_f1,
        dialogue_of,
    )

    rng = np.random.default_rng(5)
    n_val, n_test = 210, 10
    y = rng.integers(0, K, n_val + n_test)
    ids = [f"Sess01_d{i // 7:02d}_{i:04d}" for i in range(n_val + n_test)]  # dialogues of 7 utterances
    splits = ["val"] * n_val + ["test"] * n_test
    labels = [EMOTIONS[i] for i in y]
    tables = {m: table(ids, splits, labels, noise(n_val + n_test, rng)) for m in ("audio", "text")}
    parts = crossfit_parts(tables)
    assert len(parts) == 5 and set().union(*parts) == set(dialogue_of(pd.Series(ids[:n_val])))
    assert all(not (a & b) for i, a in enumerate(parts) for b in parts[i + 1:])
    in_sample = _val_f1(_fuse_candidate(tables, "stacking", 0)[0])
    crossfit = crossfit_val_f1(tables, "stacking", 0, parts)
    chance = crossfit_val_f1({"audio": tables["audio"]}, "mean", 0, parts)
    assert in_sample > crossfit + 0.03, (in_sample, crossfit)
    assert crossfit < chance + 0.08
    # a part's rows never reach its own fit: poisoning its labels leaves its predictions as they were
    poisoned = {m: t.copy() for m, t in tables.items()}
    in_part = dialogue_of(poisoned["audio"]["segment_id"]).isin(parts[0]).to_numpy()
    for t in poisoned.values():
        t.loc[in_part, "emotion"] = "fear"
    before = crossfit_predictions(tables, "stacking", 0, parts).set_index("segment_id")["pred"]
    after = crossfit_predictions(poisoned, "stacking", 0, parts).set_index("segment_id")["pred"]
    part_ids = [i for i, inside in zip(ids, in_part) if inside]
    assert (before.loc[part_ids] == after.loc[part_ids]).all()
    assert (before.drop(part_ids) != after.drop(part_ids)).any()  # the other parts' fits did see them


def run_setting_tables_method(tables, method):
    from emoflow.fusion import run_setting as fuse_one_fold

    return fuse_one_fold(tables, {m: m for m in tables}, "audio+text", method, 0, 0)


def test_auto_can_leave_out_a_member_that_only_adds_noise():
    """Audio and text informative with independent errors, bio pure noise: the candidates of the
    three-member setting include every method on each pair, a pair without bio beats the all-member
    product and mean on validation, and auto (judged on validation alone) does better on test than the
    product of all three; a two-member setting has no pair candidates."""
    from emoflow.fusion import candidate_names

    rng = np.random.default_rng(7)
    n_val, n_test = 240, 240
    n = n_val + n_test
    y = rng.integers(0, K, n)
    ids = [f"s0_{i:04d}" for i in range(n)]
    splits = ["val"] * n_val + ["test"] * n_test
    labels = [EMOTIONS[i] for i in y]

    def member(signal):  # sharp, independent log-likelihoods: their product is the right combination
        z = signal * np.eye(K)[y] + rng.normal(0, 1.8, (n, K))
        p = np.exp(z - z.max(1, keepdims=True))
        return p / p.sum(1, keepdims=True)

    tables = {"audio": table(ids, splits, labels, member(3.0), 0),
              "text": table(ids, splits, labels, member(3.0), 0),
              "bio": table(ids, splits, labels, member(0.0), 0)}
    assert candidate_names(["audio", "text"]) == ["mean", "product", "weighted", "stacking",
                                                  "only:audio", "only:text"]
    names = candidate_names(list(tables))
    assert names[4:8] == ["mean:audio+text", "product:audio+text", "weighted:audio+text", "stacking:audio+text"]
    assert len(names) == 4 + 3 * 4 + 3 and names[-3:] == ["only:audio", "only:text", "only:bio"]
    chosen, scores = choose_method(tables, 0)
    assert set(scores) == set(names) and scores[chosen] == max(scores.values())
    pair = max(scores[f"{m}:audio+text"] for m in ("mean", "product"))
    assert pair > max(scores["mean"], scores["product"]), scores

    def test_accuracy(method):
        res = run_setting_tables_method(tables, method)
        test = res.predictions[res.predictions["split"] == "test"]
        return (test["pred"] == test["emotion"]).mean(), res

    auto, res = test_accuracy("auto")
    assert res.metrics["chosen"] == chosen
    assert chosen.endswith(":audio+text"), scores  # bio left out, judged on validation alone
    assert auto > test_accuracy("product")[0] + 0.05, (auto, chosen)
