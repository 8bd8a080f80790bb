"""ECG sampling rate: the elapsed-counter rate is checked against the rows over the clock span, both are
logged, ``bio.ecg.fs`` overrides, and a participant with an implausible mean NN is flagged in the QC table.
"""

from __future__ import annotations

import logging

import neurokit2 as nk
import numpy as np
import pandas as pd
import pytest

from emoflow.errors import DataError
from emoflow.features.bio import base, ecg, extract, gather, recording

ECG = {"fs": None, "clean_method": "neurokit", "min_beats": 3, "mean_nn_range_ms": [300, 2000]}
EDA = {"band": [0.05, 5.0], "n_bands": 6, "detrend": "linear", "window": "hann", "min_samples": 4}
TEMP = {"min_samples": 2}
START = 10 * 3600.0  # 10:00:00
SEG = "Sess01_script01_F001"


def _clock(sec: float) -> str:
    ms = int(round(sec * 1000))
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def write_ecg(path, value, elapsed, clock, tag_span=(5.0, 35.0)):
    """ECG rows ``elapsed,value,clock[,SegID]``; rows whose clock is in ``tag_span`` (s after START) are
    tagged with ``SEG``."""
    lines = []
    for v, e, c in zip(value, elapsed, clock):
        row = f"{e:.3f},{v:.6f},{_clock(c)}"
        if START + tag_span[0] <= c < START + tag_span[1]:
            row += f",{SEG}"
        lines.append(row)
    path.write_text("\n".join(lines) + "\n")
    return path


def simulated(fs=250, hr=60, duration=40, seed=0):
    x = nk.ecg_simulate(duration=duration, sampling_rate=fs, heart_rate=hr, method="simple", noise=0.005,
                        random_state=seed)
    elapsed = np.arange(1, len(x) + 1) / fs
    return x, elapsed


def features(path, settings=ECG):
    segs = pd.DataFrame({"segment_id": [SEG], "session": ["Session01"], "speaker": ["F"]})
    ids = extract.participant_segments(segs, "Sess01F")
    rec = extract.read_participant(path, "ecg", ids, settings)
    return extract.participant_features("ecg", rec, ids, settings)


def test_clock_rate_counts_rows_over_the_clock_span():
    fs = 250
    el = np.arange(1, 20 * fs + 1) / fs
    clock = START + el
    assert recording.clock_rate(el, clock) == pytest.approx(fs, rel=1e-3)
    # two recordings (counter reset, clock gap) and a short stretch that is left out
    el2 = np.concatenate([el, el, el[:100]])
    clock2 = np.concatenate([clock, clock + 3600, clock[:100] + 7200])
    assert recording.clock_rate(el2, clock2) == pytest.approx(fs, rel=1e-3)
    assert np.isnan(recording.clock_rate(el[:100], clock[:100]))  # 0.4 s: nothing to check


def test_both_rates_are_logged(tmp_path, caplog):
    x, el = simulated()
    path = write_ecg(tmp_path / "Sess01F.csv", x, el, START + el)
    with caplog.at_level(logging.INFO, logger="emoflow"):
        out = features(path)
    assert "250.000 Hz from the elapsed counter, 250.0" in caplog.text and "over the clock span" in caplog.text
    assert out.loc[0, "ecg_ok"] and out.loc[0, "ecg_mean_nn"] == pytest.approx(1000.0, rel=0.02)
    assert out.loc[0, "ecg_fs_hz"] == 250.0


def _packets(el, size=10):
    """An elapsed counter stamped per packet of ``size`` samples (repeats, then jumps)."""
    return el[(np.arange(len(el)) // size) * size]


def test_packet_stamped_counter_is_a_clear_error_naming_both_rates(tmp_path):
    x, el = simulated()
    path = write_ecg(tmp_path / "Sess01F.csv", x, _packets(el), START + el)
    rec = recording.load_recording(path, "ecg")
    assert rec.counter_fs == pytest.approx(25.0, rel=1e-3) and rec.clock_fs == pytest.approx(250.0, rel=1e-2)
    with pytest.raises(DataError) as err:
        features(path)
    msg = str(err.value)
    assert str(path) in msg and "25.000 Hz" in msg and "250.0" in msg and "bio.ecg.fs" in msg


def test_configured_fs_overrides_a_packet_stamped_counter(tmp_path, caplog):
    x, el = simulated(hr=75)
    path = write_ecg(tmp_path / "Sess01F.csv", x, _packets(el), START + el)
    with caplog.at_level(logging.WARNING):
        out = features(path, {**ECG, "fs": 250})
    assert "elapsed counter implies 25" in caplog.text
    # the repeating counter does not split the recording: the beats are found and the RR are right
    assert out.loc[0, "ecg_ok"] and out.loc[0, "ecg_mean_nn"] == pytest.approx(800.0, rel=0.02)


def test_configured_fs_that_disagrees_with_the_clock_is_logged(tmp_path, caplog):
    x, el = simulated()
    path = write_ecg(tmp_path / "Sess01F.csv", x, el, START + el)
    with caplog.at_level(logging.WARNING):
        features(path, {**ECG, "fs": 500})
    assert "configured bio.ecg.fs 500.000 Hz, but the rows over the clock span give 250.0" in caplog.text


def test_contiguous_blocks_without_a_rate_split_only_at_resets_and_gaps():
    el = np.repeat(np.arange(10) * 0.04, 10)  # packets of 10
    el = np.concatenate([el, el])  # a reset
    clock = START + np.arange(len(el)) / 250
    clock[100:] += 5.0  # and a clock gap at the same row
    assert base.contiguous_blocks(el, clock, None).tolist() == [[0, 100], [100, 200]]
    assert len(base.contiguous_blocks(el, clock, 250.0)) > 20  # per-sample contiguity fails on packets


def _part(ids, mean_nn, fs=250.0):
    n = len(ids)
    return pd.DataFrame({"segment_id": ids, "ecg_mean_nn": mean_nn, "ecg_sdnn": [40.0] * n,
                         "ecg_rmssd": [30.0] * n, "ecg_nn50": [2.0] * n, "ecg_n_beats": [20.0] * n,
                         "ecg_fs_hz": [fs] * n, "ecg_ok": [True] * n, "ecg_reason": [""] * n})


def test_gather_flags_a_participant_with_an_implausible_mean_nn():
    """A participant whose rate was consistent but wrong (mean NN 2400 ms = 25 bpm) gets a QC note; the
    features themselves are kept."""
    f_ids = ["Sess01_script01_F001", "Sess01_script01_F002"]
    segs = pd.DataFrame({"segment_id": [*f_ids, "Sess01_script01_M001"], "session": "Session01",
                         "speaker": ["F", "F", "M"]})
    parts = {"features/ecg/Sess01F.parquet": _part(f_ids, [2300.0, 2500.0], fs=125.0),
             "features/ecg/Sess01M.parquet": _part(["Sess01_script01_M001"], [850.0])}
    feats, qc_table = gather.gather_bio(segs, parts, {"ecg": ECG})
    notes = qc_table[(qc_table["modality"] == "ecg") & (qc_table["status"] == "note")]
    flagged = notes[notes["reason"].str.startswith("implausible_mean_nn")]
    assert flagged["reason"].tolist() == ["implausible_mean_nn Sess01F=2400ms (outside 300-2000 ms; check bio.ecg.fs)"]
    assert flagged["n_segments"].tolist() == [2] and flagged["fraction"].iloc[0] == pytest.approx(2 / 3)
    assert sorted(notes.loc[~notes.index.isin(flagged.index), "reason"]) == ["fs=125Hz", "fs=250Hz"]
    assert list(feats.columns) == ["segment_id", *ecg.FEATURES, "ecg_ok", "ecg_reason"]
    assert feats["ecg_ok"].all() and feats["ecg_mean_nn"].tolist() == [2300.0, 2500.0, 850.0]


def test_qc_notes_over_participants():
    table = pd.DataFrame({
        "participant": ["Sess01F", "Sess01F", "Sess01M", "Sess02F", "Sess02F"],
        "ecg_mean_nn": [250.0, 260.0, 900.0, 2500.0, np.nan],
        "ecg_ok": [True, True, True, True, False],
        "ecg_fs_hz": [250.0] * 5,
    })
    notes = ecg.qc_notes(table, ECG, 10)
    reasons = [n["reason"] for n in notes]
    assert reasons[0] == "fs=250Hz" and notes[0]["n_segments"] == 5
    assert [r.split()[1] for r in reasons[1:]] == ["Sess01F=255ms", "Sess02F=2500ms"]
    assert [n["n_segments"] for n in notes[1:]] == [2, 2] and all(n["status"] == "note" for n in notes)
    assert ecg.qc_notes(table, {**ECG, "mean_nn_range_ms": [200, 3000]}, 10)[1:] == []
