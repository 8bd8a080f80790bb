"""audio.encoder ssl through the real snakemake CLI: one fold's audio target on the tiny preset with a locally
built wav2vec2, the embedding cache (a head change reuses it, an encoder change recomputes it), and the
ssl preset layered on the cross-validation preset."""

from __future__ import annotations

import json
import time

import numpy as np
import pandas as pd
import pytest

import _ssl_models as M
from conftest import TINY, copy_workflow, planned_outputs, snakemake
from emoflow import hub

pytestmark = pytest.mark.workflow

TARGET = "results/fusion/audio/fold0/metrics.json"


def test_frozen_ssl_reaches_a_fold_and_caches_embeddings_per_encoder(tmp_path):
    t0 = time.perf_counter()
    w2v = M.speech_encoder(tmp_path / "w2v", "wav2vec2")
    hubert = M.speech_encoder(tmp_path / "hubert", "hubert")
    wd = copy_workflow(tmp_path / "wf")

    def audio(**extra):
        return "audio=" + json.dumps({"encoder": "ssl", "pretrained": str(w2v), **extra})

    snakemake(wd, TARGET, "--cores", "2", *TINY, "--config", audio())
    metrics = json.loads((wd / TARGET).read_text())
    assert 0 <= metrics["accuracy"] <= 1
    cache = wd / "results/features/ssl" / hub.slug(str(w2v))
    segments = pd.read_parquet(wd / "results/segments.parquet")
    index = pd.read_parquet(cache / "embeddings.parquet")
    assert sorted(index["segment_id"]) == sorted(segments["segment_id"]) and index["ok"].all()
    assert np.load(cache / "embeddings.npy", mmap_mode="r").shape == (len(segments), 3, 16)
    config = json.loads((wd / "results/models/audio/fold0/seed0/config.json").read_text())
    assert config["mode"] == "frozen" and config["pretrained"] == str(w2v)
    assert not (wd / "results/features/audio.npy").exists(), "frozen mode needs no cropped waveforms"
    run_s = time.perf_counter() - t0

    def plan(*config):
        res = snakemake(wd, TARGET, "-n", "--cores", "2", *TINY, "--config", *config)
        return set(planned_outputs(res.stdout))

    assert not plan(audio())
    head = plan(audio(layer_head={"hidden": 8}))  # a head change: retrain, the embeddings are reused
    assert "results/models/audio/fold0/seed0/model.safetensors" in head and TARGET in head
    assert not any(o.startswith("results/features/") for o in head), sorted(head)
    other = plan(audio(pretrained=str(hubert)))  # another encoder: its own embeddings, computed anew
    new_cache = f"results/features/ssl/{hub.slug(str(hubert))}"
    assert {f"{new_cache}/Session0{i}.npy" for i in (1, 2, 3, 4)} | {f"{new_cache}/embeddings.npy"} <= other
    assert not any(o.startswith(f"results/features/ssl/{hub.slug(str(w2v))}/") for o in other)
    windows = plan(audio(window_seconds=1.0))  # other windows: the same encoder's embeddings recomputed
    assert f"results/features/ssl/{hub.slug(str(w2v))}/Session01.npy" in windows
    print(f"ssl tiny run (fold 0, audio): {run_s:.1f} s; with the four dry runs: {time.perf_counter() - t0:.1f} s")


def test_the_ssl_preset_layers_on_the_cross_validation_preset(tmp_path):
    wd = copy_workflow(tmp_path / "wf")
    res = snakemake(wd, "results/table1.csv", "-n", "--cores", "1", "--configfile", "presets/kemdy19_cv.yaml",
                    "presets/ssl.yaml")
    outs = set(planned_outputs(res.stdout))
    # both hub models are fetched once by the local rules; the fine-tuned encoder trains on the waveforms
    assert {"resources/pretrained/facebook__wav2vec2-base", "resources/pretrained/klue__bert-base"} <= outs
    assert "results/features/audio.npy" in outs and not any(o.startswith("results/features/ssl/") for o in outs)
    assert {f"results/models/audio/fold{k}/seed0/model.safetensors" for k in range(5)} <= outs
    assert "rule fetch_ssl:" in res.stdout and "rule fetch_pretrained:" in res.stdout
