"""Synthetic KEMDy19 generator: layout, annotation semantics, bio files, quirks, truth, determinism."""

from __future__ import annotations

import csv
import hashlib
import json
import re
import wave
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from conftest import run_script
from emoflow import synth
from emoflow.constants import EMOTIONS, KEMDY19_TIE_ORDER, SYNTH_SIZES

ROOT = Path(__file__).resolve().parents[1]
TINY = {"size": "tiny", "seed": 19, "n_sessions": None, "ecg_fs": 250,
        "cue_accuracy": {"audio": 0.7, "text": 0.55, "bio": 0.6}}
SESSIONS = ["Session01", "Session02", "Session03"]

# The two header rows of a real KEMDy19 annotation file (format notes, section 2), written out literally.
HEADER1 = ("Numb,Wav,,ECG,,E4-EDA,,E4-TEMP,,Segment ID,Total Evaluation,,,Eval01F,,,Eval02M,,,Eval03F,,,"
           "Eval04F,,,Eval05M,,,Eval06M,,,Eval07M,,,Eval08F,,,Eval09M,,,Eval10F,,")
HEADER2 = ",start,end,start,end,start,end,start,end,,Emotion,Valence,Arousal" + (
    ",Emotion,Valence,Arousal" * 10)
ID_RE = re.compile(r"^Sess(\d\d)_(script|impro)(\d\d)_([MF])(\d{3})$")
CLOCK_RE = re.compile(r"^\d\d:\d\d:\d\d\.\d{3}$")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    base = tmp_path_factory.mktemp("synth")
    manifest = synth.generate(base / "KEMDy19", TINY, base / "manifest.json")
    return SimpleNamespace(root=base / "KEMDy19", manifest=manifest, manifest_path=base / "manifest.json")


def read_annotation(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="ascii") as fh:
        return list(csv.reader(fh))


def read_bio(path: Path) -> list[list[str]]:
    text = path.read_bytes().decode("ascii")
    assert text.endswith("\n") and "\r" not in text
    return [line.split(",") for line in text[:-1].split("\n")]


def resolve(total: str) -> str:
    return total.split(";")[0].replace("disqust", "disgust")


def truth(data) -> pd.DataFrame:
    return pd.read_parquet(data.root / "_truth" / "cues.parquet").set_index("segment_id")


def header_only(data) -> set[str]:
    """The bio files written as a header line only (quirk header_only_bio), relative to the root."""
    return {q["file"] for q in data.manifest["quirks"]["header_only_bio"]}


# ----------------------------------------------------------------------------------------------------
# Layout
# ----------------------------------------------------------------------------------------------------
def test_layout_and_names(data):
    root = data.root
    assert sorted(p.name for p in (root / "annotation").iterdir()) == sorted(
        f"{s}_{g}_res.csv" for s in SESSIONS for g in "FM")
    for sig in ("ECG", "EDA", "TEMP"):
        for s in SESSIONS:
            files = sorted(p.name for p in (root / sig / s / "Original").iterdir())
            assert files == [f"Sess{s[-2:]}F.csv", f"Sess{s[-2:]}M.csv"]
    stems = set()
    for s in SESSIONS:
        dialogs = sorted(p.name for p in (root / "wav" / s).iterdir())
        assert dialogs == sorted(f"Sess{s[-2:]}_{d}" for d in SYNTH_SIZES["tiny"]["dialogues"])
        for d in dialogs:
            files = list((root / "wav" / s / d).iterdir())
            wavs = {p.stem for p in files if p.suffix == ".wav"}
            assert wavs == {p.stem for p in files if p.suffix == ".txt"}
            assert len(files) == 2 * len(wavs)
            for stem in wavs:
                m = ID_RE.match(stem)
                assert m and f"Sess{m.group(1)}_{m.group(2)}{m.group(3)}" == d
            for g in "MF":  # NNN counts each speaker's utterances from 001 without gaps
                nums = sorted(int(x[-3:]) for x in wavs if x[-4] == g)
                assert nums == list(range(1, len(nums) + 1))
            stems |= wavs
    assert len(stems) == data.manifest["counts"]["utterances"] == len(truth(data))
    assert set(truth(data).index) == stems


def test_annotation_headers_and_pairing(data):
    mismatch = {(q["session"], q["numb"]) for q in data.manifest["quirks"]["id_mismatch"]}
    for s in SESSIONS:
        f_rows, m_rows = (read_annotation(data.root / "annotation" / f"{s}_{g}_res.csv") for g in "FM")
        raw = (data.root / "annotation" / f"{s}_F_res.csv").read_text().split("\n")
        assert raw[0] == HEADER1 and raw[1] == HEADER2
        assert len(HEADER1.split(",")) == len(HEADER2.split(",")) == 43
        assert len(f_rows) == len(m_rows) > 2
        assert all(len(r) == 43 for r in f_rows + m_rows)
        f_rows, m_rows = f_rows[2:], m_rows[2:]
        assert [r[0] for r in f_rows] == [str(i) for i in range(1, len(f_rows) + 1)]
        for fr, mr in zip(f_rows, m_rows):
            assert fr[:3] == mr[:3]
            if (s, int(fr[0])) not in mismatch:
                assert fr[9] == mr[9]
        # every utterance of both speakers in each file (the M file carries no id quirk)
        wavs = {p.stem for p in (data.root / "wav" / s).rglob("*.wav")}
        assert {r[9] for r in m_rows} == wavs
        # contiguous segments within a dialogue, clock restarting per dialogue
        dialog = [ID_RE.match(r[9]).group(2, 3) for r in m_rows]
        start = np.array([float(r[1]) for r in m_rows])
        end = np.array([float(r[2]) for r in m_rows])
        assert (end > start).all()
        for i in range(1, len(m_rows)):
            if dialog[i] == dialog[i - 1]:
                assert start[i] == end[i - 1]
            else:
                assert start[i] < 10.0 < end[i - 1]


def test_totals_are_rater_majorities_with_kemdy19_ties(data):
    n_ties, n_typo = 0, 0
    for path in sorted((data.root / "annotation").glob("*.csv")):
        for r in read_annotation(path)[2:]:
            raters = r[13::3]
            assert len(raters) == 10 and set(raters) <= set(EMOTIONS)
            counts = pd.Series(raters).value_counts()
            top = [e for e in KEMDY19_TIE_ORDER if counts.get(e, 0) == counts.max()]
            total = r[10]
            n_typo += "disqust" in total
            assert total.replace("disqust", "disgust") == ";".join(top)
            n_ties += ";" in total
            for col, vals in ((11, r[14::3]), (12, r[15::3])):
                ints = [int(v) for v in vals]
                assert all(1 <= v <= 5 for v in ints)
                assert float(r[col]) == pytest.approx(sum(ints) / 10)
                assert re.fullmatch(r"\d(\.\d)?", r[col])
    assert n_ties >= 2
    assert n_typo >= 1
    assert n_typo == len(data.manifest["quirks"]["disqust"])


def test_own_file_label_is_truth_and_listener_differs(data):
    t = truth(data)
    mismatch = {(q["session"], q["numb"]) for q in data.manifest["quirks"]["id_mismatch"]}
    n_own, n_diff, n_pairs = 0, 0, 0
    for s in SESSIONS:
        files = {g: read_annotation(data.root / "annotation" / f"{s}_{g}_res.csv")[2:] for g in "FM"}
        for g in "FM":
            for r in files[g]:
                sid = r[9]
                if (s, int(r[0])) in mismatch:
                    continue
                if sid[-4] == g:  # the speaker's own rating: resolves (tie policy first) to the truth
                    assert resolve(r[10]) == t.loc[sid, "label"], (s, g, r[0])
                    n_own += 1
                else:
                    assert resolve(r[10]) == t.loc[sid, "listener_label"], (s, g, r[0])
        for fr, mr in zip(files["F"], files["M"]):
            n_pairs += 1
            n_diff += resolve(fr[10]) != resolve(mr[10])
    assert n_own == len(t) - len(mismatch)
    assert 0.35 <= n_diff / n_pairs <= 0.8


# ----------------------------------------------------------------------------------------------------
# Bio files
# ----------------------------------------------------------------------------------------------------
def r_peaks(val: np.ndarray, fs: int) -> np.ndarray:
    """R peaks the simple way: maxima above 0.6 mV at least 0.3 s apart (R waves are 1-1.8 mV)."""
    from scipy.signal import find_peaks

    return find_peaks(val, height=0.6, distance=int(0.3 * fs))[0]


def _blocks(elapsed: np.ndarray) -> list[np.ndarray]:
    cut = np.flatnonzero(np.diff(elapsed) < 0) + 1
    return np.split(elapsed, cut)


def test_ecg_files(data):
    fs = TINY["ecg_fs"]
    for s in SESSIONS:
        for g in "FM":
            rows = read_bio(data.root / "ECG" / s / "Original" / f"Sess{s[-2:]}{g}.csv")
            assert {len(r) for r in rows} == {3, 4}
            el = np.array([float(r[0]) for r in rows])
            val = np.array([float(r[1]) for r in rows])
            assert all(CLOCK_RE.match(r[2]) for r in rows[::97])
            blocks = _blocks(el)
            assert len(blocks) == 2  # counter reset between the script and the impro recording
            for b in blocks:
                assert b[0] == pytest.approx(1 / fs)
                np.testing.assert_allclose(np.diff(b), 1 / fs, atol=1e-9)
            # the value column is an ECG (R peaks ~1 mV over a flat baseline), not a time axis
            assert np.abs(np.median(val)) < 0.2 and 0.7 < val.max() < 2.5
            bpm = len(r_peaks(val, fs)) / (len(val) / fs) * 60
            assert 45 < bpm < 130
            tags = {r[3] for r in rows if len(r) == 4}
            assert {t[-4] for t in tags} == {"F", "M"}  # both speakers' segments are tagged


def test_r_peaks_detectable_by_neurokit(data):
    import neurokit2 as nk

    fs = TINY["ecg_fs"]
    rows = read_bio(data.root / "ECG" / "Session01" / "Original" / "Sess01M.csv")
    val = np.array([float(r[1]) for r in rows[: 60 * fs]])
    _, info = nk.ecg_peaks(nk.ecg_clean(val, sampling_rate=fs), sampling_rate=fs)
    assert abs(len(info["ECG_R_Peaks"]) - len(r_peaks(val, fs))) <= 2


def test_eda_temp_files(data):
    for sig, decimals in (("EDA", 6), ("TEMP", 2)):
        for s in SESSIONS:
            for g in "FM":
                if f"{sig}/{s}/Original/Sess{s[-2:]}{g}.csv" in header_only(data):
                    continue  # test_header_only_bio_file
                rows = read_bio(data.root / sig / s / "Original" / f"Sess{s[-2:]}{g}.csv")
                assert {len(r) for r in rows} == {3, 4}
                assert all(re.fullmatch(rf"\d+\.\d{{{decimals}}}", r[0]) for r in rows)
                assert all(CLOCK_RE.match(r[2]) for r in rows)
                el = np.array([float(r[1]) for r in rows])
                blocks = _blocks(el)
                assert len(blocks) == 2 and all(b[0] == 0.25 for b in blocks)
                steps = np.concatenate([np.diff(b) for b in blocks])
                assert (np.abs(steps / 0.25 - np.rint(steps / 0.25)) < 1e-9).all() and steps.min() == 0.25
                gaps = data.manifest["quirks"]["missing_e4"] + data.manifest["quirks"]["e4_dropout"]
                missing = any(q["participant"] == f"Sess{s[-2:]}{g}" for q in gaps)
                assert (steps.max() > 0.25) == missing  # rows absent only where E4 data is missing


def _untagged_by_quirk(data) -> set[tuple[str, str]]:
    """(participant, segment id) whose E4 rows carry no tag: the missing E4 run, and every utterance (of
    either speaker) of a tags-stop dialogue from the first untagged own utterance on."""
    q = data.manifest["quirks"]
    out = {(m["participant"], sid) for m in q["missing_e4"] for sid in m["segment_ids"]}
    for stop in q["tags_stop"]:
        part = stop["participant"]
        rows = read_annotation(data.root / "annotation" / f"Session{part[4:6]}_M_res.csv")[2:]
        numb = {r[9]: int(r[0]) for r in rows}
        first = min(numb[sid] for sid in stop["segment_ids"])
        out |= {(part, r[9]) for r in rows if f"_{stop['dialogue']}_" in r[9] and int(r[0]) >= first}
    return out


def test_annotation_bio_values_come_from_the_signals(data):
    """The E4/ECG start/end cells hold the values at the segment's first and last tagged sample of the file
    participant's recording; empty exactly where a quirk left the segment untagged."""
    empty = set()
    for s in SESSIONS:
        for g in "FM":
            ann = read_annotation(data.root / "annotation" / f"{s}_{g}_res.csv")[2:]
            for q in data.manifest["quirks"]["unused_field_text"]:  # tests/test_annotation_fields.py
                if q["file"] == f"annotation/{s}_{g}_res.csv":
                    assert ann[q["numb"] - 1][q["index"]] == q["value"]
                    ann[q["numb"] - 1][q["index"]] = q["replaces"]
            for sig, col in (("ECG", 3), ("EDA", 5), ("TEMP", 7)):
                if f"{sig}/{s}/Original/Sess{s[-2:]}{g}.csv" in header_only(data):
                    continue  # the annotation keeps the values of the recording; the file lost them
                rows = read_bio(data.root / sig / s / "Original" / f"Sess{s[-2:]}{g}.csv")
                vi = 1 if sig == "ECG" else 0
                first, last = {}, {}
                for r in rows:
                    if len(r) == 4:
                        first.setdefault(r[3], r[vi])
                        last[r[3]] = r[vi]
                m_ids = [r[9] for r in read_annotation(data.root / "annotation" / f"{s}_M_res.csv")[2:]]
                for a, sid in zip(ann, m_ids):  # the M file holds the true ids
                    if sid in first:
                        assert a[col] == first[sid] and a[col + 1] == last[sid]
                    else:
                        assert sig != "ECG" and a[col] == a[col + 1] == ""
                        empty.add((sig, f"Sess{s[-2:]}{g}", sid))
    expected = _untagged_by_quirk(data)
    assert expected and {(p, sid) for _, p, sid in empty} == expected
    assert len(empty) == 2 * len(expected)  # EDA and TEMP alike


# ----------------------------------------------------------------------------------------------------
# Media
# ----------------------------------------------------------------------------------------------------
def test_wav_and_txt(data):
    ann = {}
    for s in SESSIONS:
        for r in read_annotation(data.root / "annotation" / f"{s}_M_res.csv")[2:]:
            ann[r[9]] = float(r[2]) - float(r[1])
    for p in sorted(data.root.glob("wav/*/*/*.wav")):
        raw = p.read_bytes()
        assert raw[:4] == b"RIFF" and raw[8:16] == b"WAVEfmt " and raw[36:40] == b"data"
        with wave.open(str(p)) as w:
            fmt = (w.getframerate(), w.getnchannels(), w.getsampwidth(), w.getcomptype())
            assert fmt == (16000, 1, 2, "NONE")
            x = np.frombuffer(w.readframes(w.getnframes()), "<i2")
        assert abs(len(x) / 16000 - ann[p.stem]) < 1e-3
        assert 0.5 <= len(x) / 16000 <= 4.0 and np.abs(x).max() > 3000
        txt = p.with_suffix(".txt").read_bytes()
        assert txt.endswith(b"\n") and txt.count(b"\n") == 1 and not txt.startswith(b"\xef\xbb\xbf")
        text = txt.decode("utf-8")[:-1]
        if p.stem in data.manifest["quirks"]["tag_only_transcript"]:
            assert text == "b/"
        else:  # Korean text (its wording against the cue: tests/test_synth_text.py)
            assert re.search("[가-힣]", text)


def test_audio_prosody_follows_the_cue():
    """Within one voice, surprise is spoken higher than sad on average (the full checks of the voices
    and the prosody: tests/test_synth_speech.py)."""
    spk = synth.make_voice(np.random.default_rng(0), "M")

    def f0(cue, seed):  # median autocorrelation pitch (60-400 Hz) of the loud 40 ms frames
        x = synth.render_audio(np.random.default_rng(seed), cue, 2.5, spk).astype(float)
        frames = x[: len(x) // 640 * 640].reshape(-1, 640)
        energy = (frames**2).mean(axis=1)
        ac = np.fft.irfft(np.abs(np.fft.rfft(frames[energy > 0.2 * energy.max()], 1280)) ** 2)[:, 40:267]
        return float(np.median(16000 / (40 + ac.argmax(axis=1))))

    assert np.mean([f0("surprise", s) for s in range(8)]) > 1.15 * np.mean([f0("sad", s) for s in range(8)])
    a, b = (synth.render_audio(np.random.default_rng(1), c, 2.0, spk) for c in ("angry", "sad"))
    assert a.dtype == np.int16 and len(a) == 32000 and not np.array_equal(a, b)


# ----------------------------------------------------------------------------------------------------
# Quirks, truth, manifest, determinism
# ----------------------------------------------------------------------------------------------------
def test_quirks_present(data):
    q = data.manifest["quirks"]
    assert len(q["missing_e4"]) == 1 and len(q["tag_only_transcript"]) == 1 and len(q["id_mismatch"]) == 1
    gap = q["missing_e4"][0]
    part = gap["participant"]
    s, g = f"Session{part[4:6]}", part[-1]
    assert 3 <= len(gap["segment_ids"]) <= 4
    for sig in ("EDA", "TEMP"):
        tags = {r[3] for r in read_bio(data.root / sig / s / "Original" / f"{part}.csv") if len(r) == 4}
        assert not tags & set(gap["segment_ids"])
    ecg_tags = {r[3] for r in read_bio(data.root / "ECG" / s / "Original" / f"{part}.csv") if len(r) == 4}
    assert set(gap["segment_ids"]) <= ecg_tags
    ann = {r[9]: r for r in read_annotation(data.root / "annotation" / f"{s}_{g}_res.csv")[2:]}
    for sid in gap["segment_ids"]:
        assert ann[sid][5:9] == ["", "", "", ""] and ann[sid][3] != ""
    assert sum(r[5] == "" for r in ann.values()) == len(gap["segment_ids"])

    mm = q["id_mismatch"][0]
    f_rows, m_rows = (read_annotation(data.root / "annotation" / f"{mm['session']}_{g}_res.csv")
                      for g in "FM")
    fr, mr = f_rows[mm["numb"] + 1], m_rows[mm["numb"] + 1]
    assert fr[9] == mm["f_file_id"] and mr[9] == mm["m_file_id"] == mm["true_id"]
    assert fr[9][:-4] == mr[9][:-4] and fr[9][-4:] == "M" + mr[9][-3:] and mr[9][-4] == "F"


def test_header_only_bio_file(data):
    """One TEMP file holds only a header line; _truth/ lists it with the participant's own segments."""
    q = data.manifest["quirks"]["header_only_bio"]
    assert json.loads((data.root / "_truth" / "header_only_bio.json").read_text()) == q
    assert len(q) == 1 and q[0]["signal"] == "TEMP" and q[0]["file"].startswith(f"TEMP/{SESSIONS[-1]}/")
    part = q[0]["participant"]
    assert part not in {g["participant"] for g in data.manifest["quirks"]["missing_e4"]}
    assert (data.root / q[0]["file"]).read_bytes() == synth.HEADER_ONLY_BIO
    own = truth(data).loc[q[0]["segment_ids"]]
    assert len(own) and all(sid.startswith(f"{part[:6]}_") and sid[-4] == part[-1] for sid in own.index)
    n_own = sum(sid.startswith(f"{part[:6]}_") and sid[-4] == part[-1] for sid in truth(data).index)
    assert len(q[0]["segment_ids"]) == n_own


def test_truth_and_manifest(data):
    t = pd.read_parquet(data.root / "_truth" / "cues.parquet")
    assert list(t.columns) == ["segment_id", "label", "audio_cue", "text_cue", "bio_cue", "listener_label"]
    for c in t.columns[1:]:
        assert set(t[c]) <= set(EMOTIONS)
    model = json.loads((data.root / "_truth" / "cue_model.json").read_text())
    assert model["seed"] == 19 and model["emotions"] == EMOTIONS and len(model["prior"]) == 7
    for m, acc in TINY["cue_accuracy"].items():
        p = np.array(model["p_cue_given_label"][m])
        assert p.shape == (7, 7)
        np.testing.assert_allclose(p.sum(axis=1), 1.0)
        np.testing.assert_allclose(np.diag(p), acc)
    man = json.loads(data.manifest_path.read_text())
    assert man == json.loads(json.dumps(data.manifest))
    assert man["sessions"] == SESSIONS and man["size"] == "tiny" and man["seed"] == 19
    assert man["counts"]["wav_files"] == len(list(data.root.glob("wav/*/*/*.wav")))
    newest = max(p.stat().st_mtime_ns for p in data.root.rglob("*") if p.is_file())
    assert data.manifest_path.stat().st_mtime_ns >= newest  # written last


def test_cue_model_sampling_matches_the_matrices():
    model = synth.build_cue_model({"audio": 0.7, "text": 0.55, "bio": 0.6})
    rng = np.random.default_rng(3)
    labels = synth.sample_rows(rng, np.array(model["prior"])[None, :], np.zeros(100_000, dtype=int))
    np.testing.assert_allclose(np.bincount(labels, minlength=7) / 1e5, model["prior"], atol=0.006)
    p = np.array(model["p_cue_given_label"]["text"])
    cues = synth.sample_rows(rng, p, labels)
    for y in range(7):
        emp = np.bincount(cues[labels == y], minlength=7) / (labels == y).sum()
        np.testing.assert_allclose(emp, p[y], atol=0.03)
    # audio confuses along arousal, text along valence
    a = np.array(model["p_cue_given_label"]["audio"])
    e = {k: i for i, k in enumerate(EMOTIONS)}
    assert a[e["angry"], e["happy"]] > a[e["angry"], e["sad"]]
    assert p[e["angry"], e["sad"]] > p[e["angry"], e["happy"]]


def _digest(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_deterministic_for_a_seed(data, tmp_path):
    synth.generate(tmp_path / "same" / "KEMDy19", TINY, tmp_path / "same" / "manifest.json")
    assert _digest(tmp_path / "same") == _digest(data.root.parent)
    other = dict(TINY, seed=20)
    synth.generate(tmp_path / "other" / "KEMDy19", other, tmp_path / "other" / "manifest.json")
    a, b = _digest(data.root), _digest(tmp_path / "other" / "KEMDy19")
    shared = set(a) & set(b) - header_only(data)
    assert shared and all(a[k] != b[k] for k in shared if k.endswith((".csv", ".parquet")))


def test_script_replaces_an_existing_root(tmp_path):
    root = tmp_path / "KEMDy19"
    (root / "stale").mkdir(parents=True)
    (root / "stale" / "old.txt").write_text("x")
    cfg = dict(TINY, n_sessions=1)
    smk = SimpleNamespace(
        input=SimpleNamespace(code=[]),
        output=SimpleNamespace(root=str(root), manifest=str(tmp_path / "manifest.json")),
        params=SimpleNamespace(synthetic=cfg),
        log=[str(tmp_path / "synth.log")], threads=1, rule="synth_data",
        scriptdir=str(ROOT / "workflow" / "scripts"),
    )
    run_script("synth_data.py", smk)
    assert not (root / "stale").exists()
    man = json.loads((tmp_path / "manifest.json").read_text())
    assert man["sessions"] == ["Session01"]
    assert (root / "annotation" / "Session01_F_res.csv").exists()
    assert "utterances" in (tmp_path / "synth.log").read_text()


# ----------------------------------------------------------------------------------------------------
# Read back through the workflow's own reader


def test_generated_data_reads_back_through_the_reader(data):
    from emoflow.reader import build_index

    sessions = data.manifest["sessions"]
    segments, excluded, summary = build_index(data.root, sessions, "first")
    cues = truth(data)
    # every utterance is indexed except the injected F/M id mismatch, which is excluded with its reason
    assert set(excluded["reason"]) == {"id_mismatch"}
    assert len(segments) + len(excluded) == len(cues)
    assert set(segments.segment_id) | set(excluded.segment_id) == set(cues.index)
    # the label the reader resolves is the generator's true label, for every utterance
    resolved = segments.set_index("segment_id")["emotion"]
    assert (resolved == cues.loc[resolved.index, "label"]).all()
    assert summary["segments"] == len(segments)
