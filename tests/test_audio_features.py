"""Audio stage: WAV loading (resampling, crop/pad, normalisation, mono), bad files, session arrays, gather."""

from __future__ import annotations

import runpy
import struct
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import soundfile as sf

from emoflow.errors import DataError, QCError
from emoflow.features import audio as A
from emoflow.qc import check_missing

SCRIPTS = Path(__file__).resolve().parents[1] / "workflow" / "scripts"


def _write(path: Path, x: np.ndarray, sr: int, subtype: str = "PCM_16", fmt: str = "WAV") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(str(path), x, sr, subtype=subtype, format=fmt)
    return path


def _sine(freq: float, sr: int, seconds: float, amp: float = 0.5) -> np.ndarray:
    t = np.arange(int(round(sr * seconds))) / sr
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _peak_hz(x: np.ndarray, sr: int) -> float:
    spec = np.abs(np.fft.rfft(x * np.hanning(len(x))))
    return float(np.fft.rfftfreq(len(x), 1 / sr)[np.argmax(spec)])


# ------------------------------------------------------------------------------------------------
# load_wav


def test_8khz_file_resampled_to_16khz_keeps_the_frequency(tmp_path):
    path = _write(tmp_path / "a.wav", _sine(1000.0, 8000, 1.0), 8000)
    clip = A.load_wav(path, sample_rate=16000, max_seconds=1.0, normalize="none")
    assert clip.ok and clip.reason == ""
    assert clip.orig_sample_rate == 8000 and clip.duration_s == pytest.approx(1.0)
    assert clip.samples.dtype == np.float32 and clip.samples.shape == (16000,)
    assert _peak_hz(clip.samples, 16000) == pytest.approx(1000.0, abs=2.0)
    # amplitude survives resampling (away from the edges)
    assert np.max(np.abs(clip.samples[2000:-2000])) == pytest.approx(0.5, abs=0.02)


def test_native_rate_is_not_resampled(tmp_path):
    x = _sine(440.0, 16000, 0.5)
    path = _write(tmp_path / "a.wav", x, 16000, subtype="FLOAT")
    clip = A.load_wav(path, sample_rate=16000, max_seconds=0.5, normalize="none")
    np.testing.assert_array_equal(clip.samples, x)


@pytest.mark.parametrize("crop, first", [("center", 16000), ("start", 0)])
def test_long_clip_is_cropped(tmp_path, crop, first):
    ramp = (np.arange(48000) / 48000.0).astype(np.float32)  # 3 s; value tells the source position
    path = _write(tmp_path / "r.wav", ramp, 16000, subtype="FLOAT")
    clip = A.load_wav(path, sample_rate=16000, max_seconds=1.0, crop=crop, normalize="none")
    assert clip.samples.shape == (16000,)
    np.testing.assert_array_equal(clip.samples, ramp[first : first + 16000])
    assert clip.duration_s == pytest.approx(3.0)


def test_odd_surplus_centre_crop_keeps_the_middle(tmp_path):
    x = (np.arange(16003) / 16003.0).astype(np.float32)
    path = _write(tmp_path / "r.wav", x, 16000, subtype="FLOAT")
    clip = A.load_wav(path, sample_rate=16000, max_seconds=1.0, crop="center", normalize="none")
    np.testing.assert_array_equal(clip.samples, x[1:16001])


def test_short_clip_is_zero_padded_at_the_end(tmp_path):
    x = _sine(300.0, 16000, 0.25)
    path = _write(tmp_path / "s.wav", x, 16000, subtype="FLOAT")
    for crop in ("center", "start"):
        clip = A.load_wav(path, sample_rate=16000, max_seconds=1.0, crop=crop, normalize="none")
        assert clip.samples.shape == (16000,)
        np.testing.assert_array_equal(clip.samples[:4000], x)
        assert not clip.samples[4000:].any()


def test_normalisation_policies(tmp_path):
    x = _sine(200.0, 16000, 0.5, amp=0.2)
    path = _write(tmp_path / "n.wav", x, 16000, subtype="FLOAT")
    kw = dict(sample_rate=16000, max_seconds=1.0)  # 0.5 s of signal + 0.5 s of padding
    peak = A.load_wav(path, normalize="peak", **kw).samples
    assert np.max(np.abs(peak)) == pytest.approx(1.0, abs=1e-6)
    rms = A.load_wav(path, normalize="rms", **kw).samples
    assert np.sqrt(np.mean(rms[:8000] ** 2)) == pytest.approx(A.RMS_TARGET, rel=1e-4)  # over the real part
    assert not rms[8000:].any()
    none = A.load_wav(path, normalize="none", **kw).samples
    assert np.max(np.abs(none)) == pytest.approx(0.2, abs=1e-6)


def test_silent_clip_is_not_divided_by_zero(tmp_path):
    path = _write(tmp_path / "z.wav", np.zeros(8000, np.float32), 16000)
    for how in ("peak", "rms"):
        clip = A.load_wav(path, sample_rate=16000, max_seconds=1.0, normalize=how)
        assert clip.ok and np.all(clip.samples == 0)


def test_stereo_is_mixed_to_mono(tmp_path):
    left = _sine(500.0, 16000, 0.5, amp=0.4)
    right = np.full_like(left, 0.1)
    path = _write(tmp_path / "st.wav", np.stack([left, right], axis=1), 16000, subtype="FLOAT")
    clip = A.load_wav(path, sample_rate=16000, max_seconds=0.5, normalize="none")
    np.testing.assert_allclose(clip.samples, (left + right) / 2, atol=1e-7)


def test_pcm_integer_subtypes_are_read(tmp_path):
    x = _sine(700.0, 16000, 0.5)
    for subtype in ("PCM_16", "PCM_24", "PCM_32", "PCM_U8"):
        clip = A.load_wav(_write(tmp_path / f"{subtype}.wav", x, 16000, subtype=subtype), sample_rate=16000,
                          max_seconds=0.5, normalize="none")
        assert clip.ok, subtype
        np.testing.assert_allclose(clip.samples, x, atol=1e-2 if subtype == "PCM_U8" else 1e-4)


def _valid_pcm(path: Path, seconds: float = 1.0) -> Path:
    return _write(path, _sine(440.0, 16000, seconds), 16000)


@pytest.fixture
def bad_files(tmp_path) -> dict[str, Path]:
    d = tmp_path / "bad"
    files = {"missing_wav": d / "missing.wav"}
    d.mkdir()
    (d / "empty.wav").write_bytes(b"")
    files["empty_wav"] = d / "empty.wav"
    full = _valid_pcm(d / "full.wav").read_bytes()
    (d / "cut.wav").write_bytes(full[: len(full) // 2])  # header promises 1 s, half is present
    files["truncated_wav"] = d / "cut.wav"
    (d / "header.wav").write_bytes(full[:30])  # RIFF header cut inside the fmt chunk
    files["truncated_header"] = d / "header.wav"
    files["not_pcm_ulaw"] = _write(d / "ulaw.wav", _sine(440.0, 8000, 0.5), 8000, subtype="ULAW")
    files["not_pcm_alaw"] = _write(d / "alaw.wav", _sine(440.0, 8000, 0.5), 8000, subtype="ALAW")
    files["not_pcm_adpcm"] = _write(d / "adpcm.wav", _sine(440.0, 8000, 0.5), 8000, subtype="IMA_ADPCM")
    (d / "garbage.wav").write_bytes(b"this is not a sound file at all" * 10)
    files["unreadable_wav"] = d / "garbage.wav"
    files["too_short"] = _valid_pcm(d / "short.wav", seconds=0.05)
    files["not_wav"] = _write(d / "flac.wav", _sine(440.0, 16000, 0.5), 16000, fmt="FLAC")
    zero = bytearray(full[:44])
    struct.pack_into("<I", zero, 40, 0)  # a data chunk of 0 bytes
    struct.pack_into("<I", zero, 4, 36)
    (d / "zero_frames.wav").write_bytes(bytes(zero))
    files["empty_frames"] = d / "zero_frames.wav"
    return files


EXPECTED_REASON = {
    "missing_wav": "missing_wav", "empty_wav": "empty_wav", "truncated_wav": "truncated_wav",
    "truncated_header": "truncated_wav", "not_pcm_ulaw": "not_pcm", "not_pcm_alaw": "not_pcm",
    "not_pcm_adpcm": "not_pcm", "unreadable_wav": "unreadable_wav", "too_short": "too_short",
    "not_wav": "not_wav", "empty_frames": "empty_wav",
}


def test_bad_files_give_reasons_not_exceptions(bad_files):
    got = {k: A.load_wav(p, sample_rate=16000, max_seconds=1.0, min_seconds=0.1).reason
           for k, p in bad_files.items()}
    assert got == EXPECTED_REASON
    for p in bad_files.values():
        assert A.load_wav(p).samples is None


def test_truncation_check_needs_the_shortfall(tmp_path):
    """Control for the truncated case: the intact file (same bytes, not cut) loads."""
    clip = A.load_wav(_valid_pcm(tmp_path / "ok.wav"), sample_rate=16000, max_seconds=1.0)
    assert clip.ok and clip.duration_s == pytest.approx(1.0)


# ------------------------------------------------------------------------------------------------
# per-session arrays and gathering

LOAD = dict(sample_rate=16000, max_seconds=0.5, crop="center", normalize="peak", min_seconds=0.1)
SETTINGS = dict(LOAD, window_seconds=0.25)  # the window is used with max_seconds null only


@pytest.fixture
def dataset(tmp_path):
    data = tmp_path / "data"
    rows = []
    rng = np.random.default_rng(0)
    for s in (1, 2):
        session = f"Session{s:02d}"
        for k in range(4):
            sid = f"Sess{s:02d}_script01_{'MF'[k % 2]}{k + 1:03d}"
            rel = f"wav/{session}/Sess{s:02d}_script01/{sid}.wav"
            freq = 200.0 + 100 * s + 25 * k
            _write(data / rel, _sine(freq, 16000, rng.uniform(0.3, 0.9)), 16000)
            rows.append({"segment_id": sid, "session": session, "wav_path": rel, "freq": freq})
    # one bad file and one segment of a session nobody extracts
    (data / rows[2]["wav_path"]).write_bytes(b"")
    rows.append({"segment_id": "Sess03_script01_M001", "session": "Session03",
                 "wav_path": "wav/Session03/Sess03_script01/Sess03_script01_M001.wav", "freq": 0.0})
    seg = pd.DataFrame(rows).sample(frac=1.0, random_state=3).reset_index(drop=True)  # not in id order
    seg_path = tmp_path / "segments.parquet"
    seg.to_parquet(seg_path)
    return tmp_path, data, seg, seg_path


def _extract(seg, data, session):
    """What the audio_features script does: the session's rows, their files, the clips."""
    part = A.session_segments(seg, session)
    return A.extract_session(part, [data / rel for rel in part["wav_path"]], session, **SETTINGS)


def _extract_all(data, seg, sessions=("Session01", "Session02")):
    return [(f"audio/{s}.npy", *_extract(seg, data, s)) for s in sessions]


def test_extract_session_array_and_index(dataset):
    root, data, seg, seg_path = dataset
    arr, idx = _extract(seg, data, "Session01")
    assert arr.dtype == np.float16 and arr.shape == (4, 8000)
    assert list(idx.columns) == A.INDEX_COLUMNS
    assert idx["segment_id"].tolist() == sorted(seg.loc[seg["session"] == "Session01", "segment_id"])
    assert idx["row"].tolist() == [0, 1, 2, 3]
    bad = idx.set_index("segment_id").loc["Sess01_script01_M003"]
    assert not bad["ok"] and bad["reason"] == "empty_wav"
    assert np.isnan(arr[int(bad["row"])].astype(np.float32)).all()
    good = idx[idx["ok"]]
    assert (good["orig_sample_rate"] == 16000).all() and good["duration_s"].between(0.3, 0.9).all()


def _check_gathered(big, index, qc, seg, data):
    assert big.dtype == np.float16 and big.shape == (len(seg), 8000)
    assert sorted(index["segment_id"]) == sorted(seg["segment_id"])  # every segment, once
    assert sorted(index["row"]) == list(range(len(seg)))
    # session order: all Session01 rows come before Session02 rows
    rows_by_session = index.groupby("session")["row"].agg(["min", "max"])
    assert rows_by_session.loc["Session01", "max"] < rows_by_session.loc["Session02", "min"]

    by_id = index.set_index("segment_id")
    for _, r in seg.iterrows():
        entry = by_id.loc[r["segment_id"]]
        row = big[int(entry["row"])].astype(np.float32)
        if r["session"] == "Session03":
            assert not entry["ok"] and entry["reason"] == "not_extracted" and np.isnan(row).all()
        elif r["segment_id"] == "Sess01_script01_M003":
            assert not entry["ok"] and entry["reason"] == "empty_wav" and np.isnan(row).all()
        else:
            assert entry["ok"]
            direct = A.load_wav(data / r["wav_path"], **LOAD).samples
            np.testing.assert_allclose(row, direct, atol=2e-3)  # float16 of the same clip
            n = int(round(min(entry["duration_s"], 0.5) * 16000))
            assert _peak_hz(row[:n], 16000) == pytest.approx(r["freq"], abs=16000 / n + 1)

    assert qc.loc[qc["status"] == "usable", "n_segments"].tolist() == [7]
    assert qc.set_index("reason").loc[["empty_wav", "not_extracted"], "n_segments"].tolist() == [1, 1]


def test_gather_keeps_rows_keyed_by_segment_id(dataset):
    root, data, seg, seg_path = dataset
    big, index, qc = A.gather_sessions(seg, _extract_all(data, seg))
    _check_gathered(big, index, qc, seg, data)


def test_scripts_write_session_arrays_and_the_gathered_array(dataset, restore_logging):
    root, data, seg, seg_path = dataset
    arrays, indexes = [], []
    for session in ("Session01", "Session02"):
        arr, idx = root / "audio" / f"{session}.npy", root / "audio" / f"{session}.parquet"
        smk = SimpleNamespace(
            input=SimpleNamespace(segments=str(seg_path), raw=[], code=[]),
            output=SimpleNamespace(array=str(arr), index=str(idx)),
            params=SimpleNamespace(settings=SETTINGS, data_dir=str(data)),
            wildcards=SimpleNamespace(session=session), log=[str(root / f"{session}.log")], threads=1,
            rule="audio_features", scriptdir=str(SCRIPTS))
        runpy.run_path(str(SCRIPTS / "audio_features.py"), init_globals={"snakemake": smk})
        arrays.append(str(arr))
        indexes.append(str(idx))
    first = np.load(arrays[0])
    assert first.dtype == np.float16 and first.shape == (4, 8000)
    assert list(pd.read_parquet(indexes[0]).columns) == A.INDEX_COLUMNS

    out = SimpleNamespace(array=str(root / "f" / "audio.npy"), index=str(root / "f" / "audio.parquet"),
                          qc=str(root / "qc" / "audio.tsv"))
    gsmk = SimpleNamespace(
        input=SimpleNamespace(segments=str(seg_path), arrays=arrays, indexes=indexes, code=[]),
        output=out, params=SimpleNamespace(max_missing=0.5), log=[str(root / "gather.log")], threads=1,
        rule="gather_audio", scriptdir=str(SCRIPTS))
    runpy.run_path(str(SCRIPTS / "gather_audio.py"), init_globals={"snakemake": gsmk})
    qc = pd.read_csv(out.qc, sep="\t", keep_default_na=False)
    _check_gathered(np.load(out.array, mmap_mode="r"), pd.read_parquet(out.index), qc, seg, data)

    gsmk.params.max_missing = 0.1  # 2 of 9 clips missing: QC stops the run, naming the modality
    with pytest.raises(SystemExit):
        runpy.run_path(str(SCRIPTS / "gather_audio.py"), init_globals={"snakemake": gsmk})
    assert "ERROR in rule gather_audio: audio" in (root / "gather.log").read_text()


def test_gather_stops_when_too_many_clips_are_missing(dataset):
    root, data, seg, seg_path = dataset
    _, index, _ = A.gather_sessions(seg, _extract_all(data, seg))
    with pytest.raises(QCError, match="audio"):
        check_missing("audio", index["ok"], 0.1)


# ------------------------------------------------------------------------------------------------
# whole clips in windows (max_seconds null) and the crop report


def test_a_clip_of_three_and_a_half_windows_is_four_windows():
    x = np.arange(3500, dtype=np.float32)  # the value tells the source position
    win = A.windows(x, 1000)
    assert win.shape == (4, 1000)
    for i in range(3):
        np.testing.assert_array_equal(win[i], x[1000 * i : 1000 * (i + 1)])
    np.testing.assert_array_equal(win[3], x[2500:])  # the last window ends where the clip ends: no padding
    np.testing.assert_array_equal(A.windows(x[:2000], 1000), x[:2000].reshape(2, 1000))  # exact: no overlap
    short = A.windows(x[1:401], 1000)  # shorter than a window: one window, zero-padded at the end
    assert short.shape == (1, 1000) and (short[0, :400] == x[1:401]).all() and not short[0, 400:].any()


def test_whole_clip_is_kept_and_normalised_as_a_whole(tmp_path):
    ramp = (np.arange(56000) / 56000.0).astype(np.float32)  # 3.5 s
    path = _write(tmp_path / "r.wav", ramp, 16000, subtype="FLOAT")
    clip = A.load_wav(path, sample_rate=16000, max_seconds=None, normalize="peak")
    assert clip.samples.shape == (56000,) and clip.dropped_s == 0.0
    np.testing.assert_allclose(clip.samples, ramp / ramp.max(), rtol=1e-6)  # one peak for the whole clip
    cut = A.load_wav(path, sample_rate=16000, max_seconds=1.0, normalize="none")
    assert cut.dropped_s == pytest.approx(2.5)


def _clips(data: Path, seconds) -> tuple[pd.DataFrame, list[Path]]:
    rows = []
    for k, s in enumerate(seconds):
        sid = f"Sess01_script01_F{k + 1:03d}"
        rel = f"wav/Session01/{sid}.wav"
        if s:
            _write(data / rel, _sine(300.0, 16000, s), 16000)
        rows.append({"segment_id": sid, "session": "Session01", "wav_path": rel})
    part = A.session_segments(pd.DataFrame(rows), "Session01")
    return part, [data / rel for rel in part["wav_path"]]


def test_session_of_whole_clips_in_windows_and_gathered(tmp_path):
    part, files = _clips(tmp_path, [0.2, 1.0, 0.875, None, 0.6])  # None: missing file
    arr, idx = A.extract_session(part, files, "Session01", **dict(SETTINGS, max_seconds=None))
    assert arr.shape == (1 + 4 + 4 + 1 + 3, 4000)  # windows of 0.25 s: 0.875 s = 3.5 windows -> 4
    assert idx["n_windows"].tolist() == [1, 4, 4, 1, 3] and idx["row"].tolist() == [0, 1, 5, 9, 10]
    assert np.isnan(arr[9].astype(np.float32)).all() and not idx["ok"][3]
    assert (idx["dropped_s"] == 0).all()
    seg = part.assign(session="Session01")
    big, index, qc = A.gather_sessions(seg, [("s1.npy", arr, idx)])
    np.testing.assert_array_equal(big, arr)
    notes = qc[qc["status"] == "note"].set_index("reason")
    assert notes.loc["cropped", "n_segments"] == 0 and notes.loc["cropped_seconds", "fraction"] == 0
    assert notes.loc["windowed", "n_segments"] == 3 and notes.loc["windowed", "fraction"] == pytest.approx(3 / 4)
    # a stale index (rows that are not the clips' consecutive windows) is refused, naming the file
    with pytest.raises(DataError, match=r"s1\.npy.*consecutive windows"):
        A.gather_sessions(seg, [("s1.npy", arr, idx.assign(row=np.arange(len(idx))))])


def test_qc_notes_how_much_the_crop_cuts(tmp_path, caplog):
    # usable clips of 0.2, 0.4, 0.8 and 1.4 s, cropped at 0.5 s: 2 of 4 cut, 0.3 + 0.9 of 2.8 s dropped
    part, files = _clips(tmp_path, [0.2, 0.4, 0.8, 1.4, None])
    arr, idx = A.extract_session(part, files, "Session01", **SETTINGS)
    assert arr.shape == (5, 8000) and idx["n_windows"].tolist() == [1] * 5
    np.testing.assert_allclose(idx["dropped_s"], [0, 0, 0.3, 0.9, 0], atol=1e-9)
    with caplog.at_level("INFO", logger="emoflow.features.audio"):
        _, _, qc = A.gather_sessions(part.assign(session="Session01"), [("s1.npy", arr, idx)])
    notes = qc[qc["status"] == "note"].set_index("reason")
    assert notes.loc["cropped", "n_segments"] == 2 and notes.loc["cropped", "fraction"] == pytest.approx(0.5)
    assert notes.loc["cropped_seconds", "fraction"] == pytest.approx(1.2 / 2.8)
    assert qc.loc[qc["status"] != "note", "n_segments"].sum() == 5  # notes do not count as segments
    assert "2 of 4 usable clips cut (50.0%), 1.2 of 2.8 speech seconds dropped (42.9%)" in caplog.text
