"""End-to-end behaviour of the workflow through the real snakemake CLI (tiny synthetic config):
incremental reruns, code tracking, determinism, interruption, wildcard settings."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pandas as pd
import pytest

from conftest import TINY, copy_workflow, planned_outputs, snakemake

pytestmark = pytest.mark.workflow

SETTINGS = ["audio", "text", "bio", "audio+text", "audio+text+bio"]


def dry(wd, *args):
    res = snakemake(wd, "results/table1.csv", "-n", "--cores", "2", *TINY, *args)
    return set(planned_outputs(res.stdout)), res.stdout


def test_complete_run_outputs(tiny_run):
    table = pd.read_csv(tiny_run / "results/table1.csv")
    assert list(table["setting"]) == ["Audio", "Text", "Bio Signals", "Audio+Text", "Audio+Text+Bio Signals"]
    for col in ["accuracy", "f1_macro", "f1_weighted", "uar", "n_test", "paper_accuracy", "paper_f1",
                "oracle_accuracy", "oracle_f1_macro"]:
        assert col in table.columns, col
    segments = pd.read_parquet(tiny_run / "results/segments.parquet")
    folds = pd.read_parquet(tiny_run / "results/folds.parquet")
    assert (table["n_test"] == len(segments)).all(), "cross-validation tests every usable utterance"
    assert (table["n_folds"] == 2).all()
    for setting, label in zip(SETTINGS, table["setting"]):
        metrics = json.loads((tiny_run / f"results/fusion/{setting}/metrics.json").read_text())
        row = table.set_index("setting").loc[label]
        for m in ("accuracy", "f1_macro", "f1_weighted", "uar"):  # the table is the metrics files
            assert row[m] == pytest.approx(metrics[m], abs=5e-5)
            assert row[f"{m}_ci_low"] <= row[m] + 5e-5 and row[m] <= row[f"{m}_ci_high"] + 5e-5
        pooled = pd.read_parquet(tiny_run / f"results/fusion/{setting}/predictions.parquet")
        # every utterance exactly once per seed, predicted by the fold that held out its session
        assert sorted(pooled["segment_id"]) == sorted(segments["segment_id"])
        held_out = segments.set_index("segment_id")["fold"]
        assert (pooled["fold"].to_numpy() == held_out.loc[pooled["segment_id"]].to_numpy()).all()
        # a model that predicts the prior everywhere would pass every check above: not this one
        assert pooled["pred"].nunique() > 1, f"{setting} predicts {pooled['pred'].iloc[0]} for every utterance"
    for modality in ["audio", "text", "bio"]:
        preds = pd.read_parquet(tiny_run / f"results/predictions/{modality}.parquet")
        for k in (0, 1):
            test_ids = set(preds.loc[(preds["fold"] == k) & (preds["split"] == "test"), "segment_id"])
            assert test_ids == set(folds.loc[(folds["fold"] == k) & (folds["split"] == "test"), "segment_id"])
            assert (tiny_run / f"results/models/{modality}/fold{k}/seed0/model.safetensors").stat().st_size > 0
    comparisons = pd.read_csv(tiny_run / "results/comparisons.csv")
    assert len(comparisons) == 10 and comparisons["p_holm"].between(0, 1).all()


def test_second_run_does_nothing(tiny_run):
    outs, text = dry(tiny_run)
    assert not outs, f"a no-op rerun planned jobs: {sorted(outs)[:10]}"
    assert "Nothing to be done" in text
    assert "Exception" not in text


def test_lint_and_slurm_profile_plan_cleanly(tiny_run):
    lint = snakemake(tiny_run, "--lint", *TINY)
    assert "Congratulations, your workflow is in a good condition!" in lint.stdout + lint.stderr
    plan = snakemake(tiny_run, "results/table1.csv", "-n", "--profile", "profiles/slurm", *TINY, slurm_plugin=True)
    out = plan.stdout + plan.stderr
    assert "Nothing to be done" in out and "Exception" not in out


def test_text_model_change_reruns_only_text_and_its_fusions(tiny_run):
    outs, _ = dry(tiny_run, "--config", "text={'tfidf': {'ngram_max': 1}}")
    assert any(o.startswith("results/models/text/") for o in outs)
    assert "results/predictions/text.parquet" in outs
    assert "results/table1.csv" in outs
    fused = {o.split("/")[2] for o in outs if o.startswith("results/fusion/")}
    assert fused == {"text", "audio+text", "audio+text+bio"}
    assert not any(o.startswith("results/features/") for o in outs)
    assert not any(o.startswith(("results/models/audio/", "results/models/bio/")) for o in outs)


def test_eda_band_change_reruns_eda_and_downstream_only(tiny_run):
    outs, _ = dry(tiny_run, "--config", "bio={'eda': {'band': [0.05, 1.0]}}")
    assert any(o.startswith("results/features/eda/") for o in outs)
    assert "results/features/bio.parquet" in outs
    assert any(o.startswith("results/models/bio/") for o in outs)
    assert not any(o.startswith(("results/features/ecg/", "results/features/temp/")) for o in outs)
    assert not any("audio" in o.split("/")[-1] or o.startswith("results/features/text") for o in outs
                   if o.startswith("results/features/"))
    assert not any(o.startswith(("results/models/audio/", "results/models/text/")) for o in outs)
    fused = {o.split("/")[2] for o in outs if o.startswith("results/fusion/")}
    assert fused == {"bio", "audio+text+bio"}


def test_editing_a_feature_module_reruns_that_stage(tiny_run, tmp_path):
    wd = tiny_run
    module = wd / "workflow/src/emoflow/features/bio/temp.py"
    original = module.read_text()
    try:
        module.write_text(original + "\n# an edit\n")
        outs, _ = dry(wd)
        assert any(o.startswith("results/features/temp/") for o in outs)
        assert not any(o.startswith(("results/features/ecg/", "results/features/eda/")) for o in outs)
        assert not any(o.startswith(("results/models/audio/", "results/models/text/")) for o in outs)
    finally:
        module.write_text(original)
        # restore the old timestamp so later tests see a complete workflow
        ref = wd / "results/features/bio.parquet"
        old = ref.stat().st_mtime - 3600
        os.utime(module, (old, old))


def test_one_setting_plans_only_its_models(tmp_path):
    wd = copy_workflow(tmp_path / "wf")
    res = snakemake(wd, "results/fusion/bio/metrics.json", "-n", "--cores", "1", *TINY)
    outs = planned_outputs(res.stdout)
    assert "results/fusion/bio/metrics.json" in outs
    assert not any("audio" in o or "text" in o for o in outs), [o for o in outs if "audio" in o or "text" in o]


def test_one_fold_plans_only_that_folds_jobs(tmp_path):
    wd = copy_workflow(tmp_path / "wf")
    res = snakemake(wd, "results/fusion/audio+text+bio/fold1/metrics.json", "-n", "--cores", "1", *TINY)
    outs = planned_outputs(res.stdout)
    models = {o for o in outs if o.startswith("results/models/")}
    assert models and all("/fold1/" in o for o in models)
    assert not any("fold0" in o for o in outs), [o for o in outs if "fold0" in o]
    assert "results/fusion/audio+text+bio/fold1/metrics.json" in outs
    assert not any(o.startswith("results/fusion/") and "/fold" not in o for o in outs)


def test_unknown_setting_lists_valid_names(tmp_path):
    wd = copy_workflow(tmp_path / "wf")
    res = snakemake(wd, "results/fusion/video/metrics.json", "-n", "--cores", "1", *TINY, check=False)
    assert res.returncode != 0
    out = res.stdout + res.stderr
    assert "unknown setting 'video'" in out
    for setting in SETTINGS:
        assert setting in out


def test_interrupted_clean_run_resumes_to_the_same_bytes_and_seeds_reach_training(tiny_run, tmp_path):
    """A second run from scratch, killed during its first training job and resumed, gives the shared run's
    table, predictions and models byte for byte (determinism and recovery in one run)."""
    wd = copy_workflow(tmp_path / "again")
    target = "results/table1.csv"
    cmd = [sys.executable, "-m", "snakemake", target, "--cores", "2", *TINY]
    proc = subprocess.Popen(cmd, cwd=wd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                            start_new_session=True)
    deadline = time.time() + 600
    try:
        while time.time() < deadline:
            logs = list((wd / "logs/train").rglob("*.log")) if (wd / "logs/train").exists() else []
            if any("train split" in p.read_text() for p in logs):  # a model is being fitted
                break
            if proc.poll() is not None:
                pytest.fail("the run ended before any training started")
            time.sleep(0.2)
        else:
            pytest.fail("no training started in time")
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    assert not (wd / target).exists()
    # a killed snakemake leaves its lock behind; --unlock is the documented recovery
    snakemake(wd, target, "--unlock", "--cores", "1", *TINY)
    snakemake(wd, target, "--cores", "2", *TINY)
    assert (wd / target).read_bytes() == (tiny_run / target).read_bytes()
    for modality in ["audio", "text", "bio"]:
        a = pd.read_parquet(wd / f"results/predictions/{modality}.parquet")
        b = pd.read_parquet(tiny_run / f"results/predictions/{modality}.parquet")
        pd.testing.assert_frame_equal(a, b)
        for fold in (0, 1):
            model = f"results/models/{modality}/fold{fold}/seed0/model.safetensors"
            assert (wd / model).read_bytes() == (tiny_run / model).read_bytes(), model
    for setting in SETTINGS:
        metrics = f"results/fusion/{setting}/metrics.json"
        assert (wd / metrics).read_bytes() == (tiny_run / metrics).read_bytes(), metrics
    # the seeds reach the training jobs: another seed plans other models (that another seed gives another
    # model is checked per modality in tests/test_models.py)
    plan = snakemake(wd, "results/predictions/bio.parquet", "-n", "--cores", "2", *TINY, "--config", "seeds=[1]")
    outs = planned_outputs(plan.stdout)
    assert {f"results/models/bio/fold{k}/seed1/model.safetensors" for k in (0, 1)} <= set(outs)
    assert not any("/seed0/" in o for o in outs)


def test_a_copy_of_the_synthetic_data_gives_the_same_index(tiny_run, tmp_path):
    data = tmp_path / "KEMDy19"
    shutil.copytree(tiny_run / "resources/synthetic/KEMDy19", data, ignore=shutil.ignore_patterns("_truth"))
    wd = copy_workflow(tmp_path / "wf")
    snakemake(wd, "results/segments.parquet", "--cores", "2", *TINY, "--config", f"data_dir={data}")
    pd.testing.assert_frame_equal(pd.read_parquet(wd / "results/segments.parquet"),
                                  pd.read_parquet(tiny_run / "results/segments.parquet"))
    assert not (wd / "results/oracle.json").exists(), "a real-data run has no oracle"


def test_kemdy19_cv_preset_runs_five_session_folds_end_to_end(tmp_path):
    """The field's protocol (presets/kemdy19_cv.yaml) on tiny synthetic data, to Table 1: five session
    folds, two validation sessions each, ties dropped; every usable utterance tested once, by the fold that
    held out its session. Five sessions are the fewest this protocol takes (one test, two validation and
    two training sessions per fold)."""
    t0 = time.time()
    wd = copy_workflow(tmp_path / "wf")
    args = ["--configfile", "presets/tiny.yaml", "presets/kemdy19_cv.yaml",
            "--config", "synthetic={'n_sessions': 5}"]
    res = snakemake(wd, "results/table1.csv", "-n", "--cores", "1", *args)
    outs = planned_outputs(res.stdout)
    for k in range(5):
        assert f"results/fusion/audio+text/fold{k}/metrics.json" in outs
    assert "results/fusion/audio+text/fold5/metrics.json" not in outs
    snakemake(wd, "results/table1.csv", "--cores", "2", *args)
    folds = pd.read_parquet(wd / "results/folds.parquet")
    segments = pd.read_parquet(wd / "results/segments.parquet")
    sessions = segments.set_index("segment_id")["session"]
    for k in range(5):
        part = folds[folds["fold"] == k]
        assert part.loc[part["split"] == "test", "segment_id"].map(sessions).nunique() == 1
        assert part.loc[part["split"] == "val", "segment_id"].map(sessions).nunique() == 2
        assert part.loc[part["split"] == "train", "segment_id"].map(sessions).nunique() == 2
    summary = json.loads((wd / "results/qc/index_summary.json").read_text())
    assert summary["tie_policy"] == "drop" and summary["ties"]["n"] > 0
    assert summary["ties"]["dropped"] == summary["ties"]["n"]
    table = pd.read_csv(wd / "results/table1.csv").set_index("setting")
    assert (table["n_folds"] == 5).all() and (table["n_test"] == len(segments)).all()
    assert tuple(table.loc["Audio+Text", ["reference_accuracy", "reference_f1_macro"]]) == (0.702, 0.664)
    held_out = segments.set_index("segment_id")["fold"]
    for setting, label in zip(SETTINGS, table.index):
        pooled = pd.read_parquet(wd / f"results/fusion/{setting}/predictions.parquet")
        assert sorted(pooled["segment_id"]) == sorted(segments["segment_id"])
        assert (pooled["fold"].to_numpy() == held_out.loc[pooled["segment_id"]].to_numpy()).all()
        metrics = json.loads((wd / f"results/fusion/{setting}/metrics.json").read_text())
        assert table.loc[label, "accuracy"] == pytest.approx(metrics["accuracy"], abs=5e-5)
    print(f"kemdy19_cv preset, tiny, 5 sessions, to Table 1: {time.time() - t0:.0f} s")
