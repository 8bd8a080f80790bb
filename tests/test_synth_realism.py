"""The synthetic data measured from its files as a user would, against figures of the real KEMDy19.

One generation of the small preset with three sessions (module fixture; about 8-10 s of CPU, more on a
busy machine), then every figure is read back from the CSVs, wavs and annotation files:

- EDA (4 Hz): the change per 0.25 s step (99th percentile, signed; real 0.16 uS) and over a minute
  (|v[t+240] - v[t]| at 240-sample strides, median; real 0.09 uS), pooled over the participant files,
  each within about 2x of the real figure;
- TEMP: the change over a minute (median real 0.08, 95th percentile 0.43 degC), within about 2x;
- heart rate from the ECG's R peaks, averaged over consecutive 5 s windows of the elapsed clock:
  45-130 bpm, and the 95th percentile of the change between neighbouring windows at most 12 bpm;
- SCRs found in the EDA: rise 1-3 s, half recovery of several seconds;
- utterance durations (median near 4.2 s, about 10 % over 13 s, a tail of tens of seconds), the tie
  rate of the speaker rows (about 6 %);
- the bio cue shifts the heart-rate response and SCR counts (pooled), yet one utterance says little.

The label prior and the speaker priors are checked on in-memory draws (many sessions). The module takes
about 35 s on 2 busy cores (generation about 25 s of it).
"""

from __future__ import annotations

import csv
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
from scipy.signal import find_peaks
from scipy.stats import spearmanr, ttest_ind

from emoflow import synth
from emoflow.constants import EMOTIONS
from emoflow.synth import cues
from emoflow.synth.model import Dialogue, Session, Utterance

ECG_FS = 250
CONFIG = {"size": "small", "seed": 19, "n_sessions": 3, "ecg_fs": ECG_FS}
HIGH_AROUSAL = {"angry", "fear", "surprise"}
LOW_AROUSAL = {"neutral", "sad"}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    base = tmp_path_factory.mktemp("realism")
    t0, c0 = time.perf_counter(), time.process_time()
    manifest = synth.generate(base / "KEMDy19", CONFIG, base / "manifest.json")
    return SimpleNamespace(root=base / "KEMDy19", manifest=manifest, wall=time.perf_counter() - t0,
                           cpu=time.process_time() - c0)


# ----------------------------------------------------------------------------------------------------
# Reading the files
# ----------------------------------------------------------------------------------------------------
def bio_files(data, signal: str) -> list[Path]:
    skip = {q["file"] for q in data.manifest["quirks"]["header_only_bio"]}
    return [p for p in sorted((data.root / signal).glob("*/Original/*.csv"))
            if str(p.relative_to(data.root)) not in skip]


def read_rows(path: Path) -> list[list[str]]:
    return [line.split(",") for line in path.read_text(encoding="ascii").splitlines()]


def e4_values(path: Path) -> np.ndarray:
    return np.array([float(r[0]) for r in read_rows(path)])


def seconds(clock: str) -> float:
    h, m, sec = clock.split(":")
    return int(h) * 3600 + int(m) * 60 + float(sec)


def annotation_rows(data) -> list[list[str]]:
    """Speaker rows (the file of the speaker's own perspective) of every session."""
    out = []
    for path in sorted((data.root / "annotation").glob("*_res.csv")):
        g = path.stem.split("_")[1]
        with open(path, newline="", encoding="ascii") as fh:
            out += [r for r in list(csv.reader(fh))[2:] if r[9][-4] == g]
    return out


def pooled(data, signal: str) -> tuple[np.ndarray, np.ndarray]:
    """Steps and per-minute changes of every participant file as a whole, pooled."""
    steps, minutes = [], []
    for path in bio_files(data, signal):
        v = e4_values(path)
        steps.append(np.diff(v))
        minutes.append(np.abs(v[240::240] - v[:-240:240]))
    return np.concatenate(steps), np.concatenate(minutes)


def r_peaks(val: np.ndarray) -> np.ndarray:
    return find_peaks(val, height=0.6, distance=int(0.3 * ECG_FS))[0]


def heart(path: Path) -> SimpleNamespace:
    """From one ECG file: heart rate (bpm, from the R peaks) per consecutive 5 s window of the elapsed
    clock, the changes between neighbouring windows, and per beat interval its end (clock s) and bpm."""
    df = pd.read_csv(path, header=None, names=["elapsed", "value", "clock", "tag"], dtype={"clock": str})
    el, val = df.elapsed.to_numpy(), df.value.to_numpy()
    rates, changes, beat_t, beat_bpm = [], [], [], []
    for idx in np.split(np.arange(len(el)), np.flatnonzero(np.diff(el) < 0) + 1):
        pk = r_peaks(val[idx])
        tb = el[idx][pk]
        rr, end = np.diff(tb), tb[1:]
        win = np.floor(end / 5.0).astype(int)
        hr = {k: 60.0 / rr[win == k].mean() for k in np.unique(win)}
        rates += list(hr.values())
        changes += [abs(hr[k + 1] - hr[k]) for k in hr if k + 1 in hr]
        beat_t.append([seconds(c) for c in df.clock.to_numpy()[idx][pk][1:]])
        beat_bpm.append(60.0 / rr)
    return SimpleNamespace(rates=rates, changes=changes, beat_t=np.concatenate(beat_t),
                           beat_bpm=np.concatenate(beat_bpm), tags=df.dropna(subset=["tag"]))


@pytest.fixture(scope="module")
def ecg(data) -> dict[str, SimpleNamespace]:
    return {p.stem: heart(p) for p in bio_files(data, "ECG")}


# ----------------------------------------------------------------------------------------------------
# Signals
# ----------------------------------------------------------------------------------------------------
def test_eda_changes_within_twice_the_real_figures(data):
    steps, minutes = pooled(data, "EDA")
    assert len(minutes) > 60
    assert 0.16 / 2 <= np.percentile(steps, 99) <= 0.16 * 2
    assert 0.09 / 2 <= np.median(minutes) <= 0.09 * 2
    assert np.percentile(minutes, 95) > 3 * np.median(minutes)  # a drifting level with occasional large moves


def test_temperature_changes_within_twice_the_real_figures(data):
    _, minutes = pooled(data, "TEMP")
    minutes = np.round(minutes, 2)  # 0.01 degC steps
    assert 0.08 / 2 <= np.median(minutes) <= 0.08 * 2
    assert 0.43 / 2 <= np.percentile(minutes, 95) <= 0.43 * 2
    values = np.concatenate([e4_values(p) for p in bio_files(data, "TEMP")])
    assert 29.0 < values.min() and values.max() < 36.0


def test_heart_rate_range_and_window_changes(ecg):
    rates = np.concatenate([h.rates for h in ecg.values()])
    changes = np.concatenate([h.changes for h in ecg.values()])
    assert 45 <= rates.min() and rates.max() <= 130
    assert 1.0 < np.percentile(changes, 95) <= 12.0
    assert np.std([np.median(h.rates) for h in ecg.values()]) > 3.0  # per-person resting rates


def _scrs(v: np.ndarray, fs: int = 4, min_amp: float = 0.03) -> tuple[list[float], list[float]]:
    """Rise time (from the last local minimum) and half-recovery time of each peak of at least ``min_amp``."""
    d = np.diff(v)
    rise, recovery = [], []
    for p in find_peaks(v, prominence=min_amp)[0]:
        o = p - 1
        while o > 0 and d[o - 1] > 0:
            o -= 1
        amp = v[p] - v[o]
        if amp < min_amp:
            continue
        rise.append((p - o) / fs)
        below = np.flatnonzero(v[p : p + 30 * fs] <= v[p] - amp / 2)
        recovery.append(below[0] / fs if len(below) else np.nan)
    return rise, recovery


def test_skin_conductance_responses_rise_and_recover_like_real_ones(data):
    rise, recovery, levels = [], [], []
    for path in bio_files(data, "EDA"):
        v = e4_values(path)[1:]  # the E4 logs 0.0 first
        r, h = _scrs(v)
        rise += r
        recovery += h
        levels.append(np.median(v))
    assert len(rise) > 100
    assert 1.0 <= np.median(rise) <= 3.0
    assert 2.0 <= np.nanmedian(recovery) <= 10.0
    assert max(levels) / min(levels) > 3  # per-person tonic levels


def _own_segments(data, ecg) -> pd.DataFrame:
    """Per own segment: its bio cue and the mean heart rate 2-10 s after its first tagged ECG sample minus
    the 5 s before (bpm), on the speaker's own file."""
    cues_t = pd.read_parquet(data.root / "_truth" / "cues.parquet").set_index("segment_id")
    out = []
    for part, h in ecg.items():
        own = h.tags[h.tags.tag.str[-4] == part[-1]].drop_duplicates("tag")
        for sid, t0 in zip(own.tag, map(seconds, own.clock)):
            before = h.beat_bpm[(h.beat_t >= t0 - 5) & (h.beat_t < t0)]
            after = h.beat_bpm[(h.beat_t >= t0 + 2) & (h.beat_t < t0 + 10)]
            if len(before) and len(after):
                out.append((sid, cues_t.loc[sid, "bio_cue"], after.mean() - before.mean()))
    return pd.DataFrame(out, columns=["segment_id", "bio_cue", "hr_change"])


def test_bio_cue_shifts_the_heart_rate_response_but_says_little_per_utterance(data, ecg):
    seg = _own_segments(data, ecg)
    assert len(seg) > 300
    high = seg[seg.bio_cue.isin(HIGH_AROUSAL)].hr_change
    low = seg[seg.bio_cue.isin(LOW_AROUSAL)].hr_change
    assert ttest_ind(high, low, alternative="greater").pvalue < 0.01  # the cue shifts the distribution ...
    assert high.mean() - low.mean() < seg.hr_change.std()  # ... which overlaps widely (real: a few bpm)
    arousal = seg.bio_cue.map(lambda c: cues.CIRCUMPLEX[c][1])
    assert 0.0 < spearmanr(arousal, seg.hr_change)[0] < 0.6


def test_temperature_slope_within_an_utterance_carries_little_cue(data):
    """The old generator set the per-utterance TEMP slope by the cue (r > 0.9); now drift dominates."""
    cues_t = pd.read_parquet(data.root / "_truth" / "cues.parquet").set_index("segment_id")
    slopes, targets = [], []
    for path in bio_files(data, "TEMP"):
        g = path.stem[-1]
        per = {}
        for r in read_rows(path):
            if len(r) == 4 and r[3][-4] == g:
                per.setdefault(r[3], []).append((seconds(r[2]), float(r[0])))
        for sid, pts in per.items():
            if len(pts) >= 8:
                t, v = np.array(pts).T
                slopes.append(np.polyfit(t - t[0], v, 1)[0])
                targets.append(cues.CIRCUMPLEX[cues_t.loc[sid, "bio_cue"]][1])
    assert len(slopes) > 200
    assert abs(np.corrcoef(slopes, targets)[0, 1]) < 0.25
    assert np.median(np.abs(slopes)) < 0.01  # degC per second: drift, not a +-0.1 degC/s trend


# ----------------------------------------------------------------------------------------------------
# Utterances and labels
# ----------------------------------------------------------------------------------------------------
def test_durations_median_and_tail(data):
    rows = annotation_rows(data)
    dur = np.array([float(r[2]) - float(r[1]) for r in rows])
    assert len(dur) > 300
    assert 3.6 <= np.median(dur) <= 4.8  # real 4.2 s
    assert 0.05 <= np.mean(dur > 13.0) <= 0.16  # real about 10 %
    assert 0.40 <= np.mean(dur > 4.0) <= 0.64  # real 52 %
    assert 25.0 < dur.max() <= 78.0  # a long tail (real longest 78 s)
    longest = rows[int(np.argmax(dur))][9]
    wav = next(data.root.glob(f"wav/*/*/{longest}.wav"))
    assert (wav.stat().st_size - 44) / 2 / 16000 == pytest.approx(dur.max(), abs=1e-3)


def test_tie_rate_near_real(data):
    rows = annotation_rows(data)
    ties = np.mean([";" in r[10] for r in rows])
    assert 0.03 <= ties <= 0.10  # real about 6 %


def _sessions(n_sessions: int, n_utts: int = 60) -> list[Session]:
    out = []
    for s in range(1, n_sessions + 1):
        utts = [Utterance(numb=i + 1, segment_id=f"Sess{s:02d}_script01_{'FM'[i % 2]}{i // 2 + 1:03d}",
                          dialogue="script01", block="script", speaker="FM"[i % 2], nnn=i // 2 + 1,
                          start=float(i), end=float(i + 1), dialogue_t0=0.0) for i in range(n_utts)]
        out.append(Session(number=s, seed=0, dialogues=[Dialogue("script01", "script", 0.0, utts)]))
    return out


def test_label_prior_is_kemdy19s_and_speakers_differ():
    """Each speaker draws labels from Dirichlet(concentration x prior): over many speakers the labels
    follow KEMDy19's prior (so the oracle's model is exact); single speakers differ beyond chance."""
    model = synth.build_cue_model({})
    rng = np.random.default_rng(0)
    sessions = _sessions(1000, 40)
    for s in sessions:
        cues.draw_labels(rng, s, model)
    labels = pd.DataFrame([(s.number, u.speaker, u.label) for s in sessions for u in s.utterances],
                          columns=["session", "speaker", "label"])
    share = labels.label.value_counts(normalize=True)
    for e in EMOTIONS:
        assert share[e] == pytest.approx(cues.PRIOR[e], abs=0.012)
    assert cues.PRIOR["neutral"] == 0.42 and cues.PRIOR["angry"] == 0.187  # KEMDy19, 20 sessions
    neutral = labels.assign(n=labels.label == "neutral").groupby(["session", "speaker"]).n.mean()
    chance = np.mean(neutral * (1 - neutral)) / 20  # binomial variance of a share of 20 labels
    assert 0.08 < np.sqrt(neutral.var() - chance) < 0.2  # between-speaker sd of the neutral share


def test_generation_time(data):
    """The small preset (6 sessions) takes well under a minute of CPU (about 16 s); here half of it. The
    full preset (20 sessions, ~10,200 speaker utterances with KEMDy19's durations, 4 GB of files: 2.0 GB
    wav, 1.8 GB ECG) took 225 s of CPU (11 min wall on a busy 2-core machine) and 0.95 GB of memory."""
    assert data.cpu < 30.0, f"{data.cpu:.1f} s of CPU for 3 small sessions (wall {data.wall:.1f} s)"
