"""The report's data figures (rule data_figures, emoflow.dataview): one participant's signals over a
dialogue with the rows each segment's features use, and the per-class feature distributions."""

from __future__ import annotations

import shutil

import numpy as np
import pandas as pd
import pytest
import yaml

from emoflow import dataview, plots
from emoflow.io import write_figure

pytestmark = pytest.mark.workflow


def settings(wd):
    cfg = yaml.safe_load((wd / "config.yaml").read_text())
    return {s: cfg["bio"][s] for s in ("ecg", "eda", "temp")}, cfg["bio"]["align"]


def test_the_figures_are_part_of_a_run(tiny_run):
    for name in ("signals.png", "feature_distributions.png"):
        png = (tiny_run / "results/figures" / name).read_bytes()
        assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 10_000, name


def test_dialogue_view_shades_the_rows_the_features_use(tiny_run):
    """The shaded spans are the aligned segments of the features: a segment whose EDA features exist has a
    span inside the drawn window, one that the EDA alignment excluded has none."""
    segments = pd.read_parquet(tiny_run / "results/segments.parquet")
    bio_settings, align = settings(tiny_run)
    data = tiny_run / "resources/synthetic/KEMDy19"
    view = dataview.dialogue_view(segments, ["Sess01F"], data, ["ecg", "eda", "temp"], bio_settings, align)
    assert view.participant == "Sess01F" and not view.missing
    assert [t.signal for t in view.traces] == ["ecg", "eda", "temp"]
    own = segments[(segments["session"] == "Session01") & (segments["speaker"] == "F")]
    first_dialogue = own["dialogue"].iloc[0]
    assert view.dialogue == first_dialogue
    in_dialogue = own.loc[own["dialogue"] == first_dialogue, "segment_id"]
    eda = view.spans[view.spans["signal"] == "eda"].set_index("segment_id")
    assert sorted(eda.index) == sorted(in_dialogue)
    parts = pd.read_parquet(tiny_run / "results/features/eda/Sess01F.parquet").set_index("segment_id")
    aligned = eda["reason"] == ""
    assert (aligned == (parts.loc[eda.index, "eda_reason"].isin(["", "too_few_samples"]))).all()
    trace = next(t for t in view.traces if t.signal == "eda")
    assert (eda.loc[aligned, "t0"] >= 0).all() and (eda.loc[aligned, "t1"] <= trace.time_s.max() + 1e-9).all()
    assert eda.loc[~aligned, "t0"].isna().all()
    # the spans follow the utterances: each lasts about its wav duration (4 Hz samples)
    wav = own.set_index("segment_id").loc[eda.index[aligned]]
    assert np.allclose(eda.loc[aligned, "t1"] - eda.loc[aligned, "t0"], wav["end"] - wav["start"], atol=0.6)


def test_a_missing_signal_file_is_named_not_a_crash(tiny_run, tmp_path):
    data = tmp_path / "KEMDy19"
    shutil.copytree(tiny_run / "resources/synthetic/KEMDy19", data, ignore=shutil.ignore_patterns("_truth", "wav"))
    (data / "TEMP/Session01/Original/Sess01F.csv").write_text("")
    segments = pd.read_parquet(tiny_run / "results/segments.parquet")
    bio_settings, align = settings(tiny_run)
    view = dataview.dialogue_view(segments, ["Sess01F"], data, ["eda", "temp"], bio_settings, align)
    assert view.missing == {"temp": "file_empty"} and [t.signal for t in view.traces] == ["eda"]
    write_figure(plots.dialogue_signals_figure(view), tmp_path / "signals.png")
    assert (tmp_path / "signals.png").stat().st_size > 0


def test_the_first_participant_with_a_file_is_drawn(tiny_run, tmp_path):
    """A copy without the first participant's bio files draws the next participant, not an empty figure."""
    data = tmp_path / "KEMDy19"
    shutil.copytree(tiny_run / "resources/synthetic/KEMDy19", data, ignore=shutil.ignore_patterns("_truth", "wav"))
    for signal in ("ECG", "EDA", "TEMP"):
        (data / signal / "Session01/Original/Sess01F.csv").unlink()
    segments = pd.read_parquet(tiny_run / "results/segments.parquet")
    bio_settings, align = settings(tiny_run)
    view = dataview.dialogue_view(segments, ["Sess01F", "Sess01M"], data, ["eda", "temp"], bio_settings, align)
    assert view.participant == "Sess01M" and not view.missing and len(view.traces) == 2
    alone = dataview.dialogue_view(segments, ["Sess01F"], data, ["eda", "temp"], bio_settings, align)
    assert alone.participant == "Sess01F" and alone.missing == {"eda": "file_missing", "temp": "file_missing"}


def test_feature_frame_joins_and_converts(tiny_run):
    segments = pd.read_parquet(tiny_run / "results/segments.parquet")
    bio = pd.read_parquet(tiny_run / "results/features/bio.parquet")
    frame, present = dataview.feature_frame(segments, [bio])
    cols = [c for c, _ in present]
    assert cols[:2] == ["duration_s", "ecg_mean_nn"] and "ibi_mean" not in cols
    row = frame.set_index("segment_id")
    ok = bio.set_index("segment_id")["ecg_ok"]
    hr = row.loc[ok[ok].index, "ecg_mean_nn"]
    assert np.allclose(hr, 60000.0 / bio.set_index("segment_id").loc[hr.index, "ecg_mean_nn"])
    assert hr.between(40, 140).all()
    assert np.allclose(row["duration_s"], (segments["end"] - segments["start"]).to_numpy())
