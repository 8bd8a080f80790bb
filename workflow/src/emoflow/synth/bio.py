"""Bio signals: ECG (Refit chest device), EDA and TEMP (Empatica E4 wristband) of each participant.

Each participant gets per-person baselines (``Physiology``); the emotion (bio) cue of each of their own
utterances only shifts the *distribution* of a heart-rate response and of a skin-conductance response
(SCR), so a single utterance says little about its cue, as on real recordings. Temperature follows a
slow dialogue-level drift. Each block of dialogues (scripts, improvisations) is its own device recording,
started some time before the first dialogue (the elapsed counter restarts); samples are tagged with the
segment (of either speaker) they fall in.

Ranges chosen, and where they come from
---------------------------------------
Heart (ECG at ``ecg_fs``, default 250 Hz, values quantised to 0.003615046 mV as in the real files):

- resting heart rate 58-86 bpm per person (normal adult resting range 60-100, young adults ~70+-10:
  e.g. AHA; Nanchen, Heart 2018); instantaneous rate kept within 48-125 bpm;
- beat-to-beat variability: respiratory sinus arrhythmia 1.5-5 bpm at 0.2-0.3 Hz breathing, a 0.1 Hz
  Mayer wave, slow drift (sd 2 bpm, 60 s), RR jitter 4-12 ms: RMSSD about 20-60 ms, the normative
  range of healthy adults (Nunan et al., PACE 2010: RMSSD 42 +- 15 ms);
- speaking raises the rate by 1-5 bpm (speech and posture load); an emotional response is a
  rise-and-return of ``BIO_RESPONSE[cue]['hr']`` (-1 to +5) +- 3 bpm (x the person's reactivity 0.5-1.5), onset
  0.5-2 s after the utterance starts, rising over ~3 s and returning over ~10 s: emotional heart-rate
  changes of a few to ~15 bpm over seconds (Kreibig, Biol. Psychol. 2010, review of 134 studies);
- P-QRS-T shapes with a person's R amplitude 1.0-1.8 mV, baseline wander (breathing), muscle noise
  (more while speaking) and 60 Hz mains pickup (Korea); the T wave follows the RR interval (Bazett).

Skin conductance (E4 EDA, 4 Hz, uS printed with 6 decimals; the E4 logs 0.0 first):

- tonic level per person log-normal, median 1.5 uS (5-95 %: 0.4-5.6 uS, kept within 0.1-8 uS); the
  real KEMDy19 files range from 0.15 to 4.4 uS (format notes); wrist levels are below palm levels
  (Boucsein, Electrodermal Activity, 2012). The level drifts slowly (a 3 % log-level random walk, 5 min
  time constant) and settles after the device starts (a +-30 % transient, 0.5-1.5 min);
- SCRs: latency 1-3 s after the utterance starts, rise time 1-3 s, half recovery several seconds
  (Bateman shape, time constants 0.35-0.9 s and 4-10 s), amplitudes from a few hundredths to ~1 uS,
  scaled with the person's level to the power 0.4 (Dawson, Schell & Filion, Handbook of
  Psychophysiology 2007; Boucsein 2012). Non-specific SCRs at 1-3 per minute at rest; an own utterance
  evokes one with the cue's probability and gain (``BIO_RESPONSE``: 0.20-0.60, x0.9-1.5);
- motion artefacts (a short fast spike, 0.4-1 per minute) and white noise of 2 nS.

Skin temperature (E4 TEMP, 4 Hz, 0.01 degC): the person's wrist temperature 31-35 degC (real KEMDy19
30.5-35.0); after the device starts it warms from 0.2-1.0 degC below over a 2-7 min time constant; a
slow random drift (sd 0.05-0.3 degC per person, 5 min), wrist moves that shift the sensor by about
+-0.5 degC and re-settle over 1-3 min (0-3 per 10 min), and a dialogue-level level shift (-0.25 x the
mean arousal of the person's own cues in the dialogue, +-0.1 degC, 1 min lag: peripheral
vasoconstriction with arousal, Kreibig 2010), plus 0.005 degC noise. Inside one utterance the
temperature moves by about the quantisation step, so the per-utterance slope carries almost no cue.

Targets, measured from the files like the real KEMDy19 E4 files (issue figures, 4 Hz steps; changes over
a minute = |v[t+240]-v[t]| at 240-sample strides; percentiles pooled over files): EDA step p99 0.16 uS,
per-minute change median 0.09 uS; TEMP per-minute change median 0.08, p95 0.43 degC; heart rate 45-130
bpm with the p95 of the change between neighbouring 5 s windows at most 12 bpm. tests/test_synth_realism.py
measures them. Measured on the default small data (seed 19) / the full preset: EDA step p99 0.10 / 0.11 uS,
per-minute median 0.12 / 0.12 (p95 1.0 / 0.67; real 1.21); TEMP per-minute median 0.09 / 0.08, p95 0.38 /
0.31; heart rate 53-97 / 50-100 bpm, 5 s window change p95 6.0 / 6.6 bpm; SCR rise median 1.5 s, half
recovery median 3.5 s.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.signal import lfilter

from .cues import CIRCUMPLEX
from .model import Participant, Session, Signal

ECG_STEP = 0.003615046  # quantisation step of the real ECG values (mV)
E4_FS = 4  # EDA and TEMP sampling rate (Hz)
HR_LIMITS = (48.0, 125.0)  # bpm
MAINS_HZ = 60.0

# Bio cue -> response of the speaker during their own utterance: mean heart-rate response (bpm, before
# the person's reactivity), the probability of an evoked SCR and its amplitude gain. Arousal orders them
# (angry, fear, surprise high; sad low); valence hardly shows.
BIO_RESPONSE = {
    "neutral": dict(hr=1.0, scr_p=0.25, scr_gain=1.0),
    "happy": dict(hr=3.0, scr_p=0.45, scr_gain=1.2),
    "surprise": dict(hr=5.0, scr_p=0.60, scr_gain=1.5),
    "angry": dict(hr=5.0, scr_p=0.55, scr_gain=1.4),
    "sad": dict(hr=-1.0, scr_p=0.20, scr_gain=0.9),
    "disgust": dict(hr=2.0, scr_p=0.35, scr_gain=1.1),
    "fear": dict(hr=5.0, scr_p=0.55, scr_gain=1.4),
}
BIO_CUES = BIO_RESPONSE  # the name the generator's callers know


@dataclass
class Physiology:
    """A participant's baselines and reactivity (see the module docstring for the ranges)."""

    hr_rest: float  # bpm
    rsa_bpm: float  # respiratory sinus arrhythmia amplitude (bpm)
    resp_hz: float  # breathing rate
    hr_reactivity: float  # x the cue's heart-rate response
    speech_bpm: float  # rise while speaking
    rr_jitter: float  # s
    ecg_r_mv: float  # R-wave amplitude
    ecg_noise_mv: float  # muscle noise sd
    eda_level: float  # tonic uS
    scr_amp: float  # median SCR amplitude (uS)
    scr_rate: float  # non-specific SCRs per minute
    artifact_rate: float  # EDA motion artefacts per minute
    temp_skin: float  # degC
    temp_drift: float  # sd of the slow drift (degC)
    temp_moves: float  # wrist moves that re-settle the sensor, per 10 minutes


def make_physiology(rng: np.random.Generator) -> Physiology:
    level = float(np.clip(np.exp(rng.normal(np.log(1.5), 0.8)), 0.1, 8.0))
    return Physiology(
        hr_rest=float(np.clip(rng.normal(72.0, 7.0), 58.0, 86.0)),
        rsa_bpm=float(rng.uniform(1.5, 5.0)),
        resp_hz=float(rng.uniform(0.2, 0.3)),
        hr_reactivity=float(rng.uniform(0.5, 1.5)),
        speech_bpm=float(rng.uniform(1.0, 5.0)),
        rr_jitter=float(rng.uniform(0.004, 0.012)),
        ecg_r_mv=float(rng.uniform(1.0, 1.8)),
        ecg_noise_mv=float(rng.uniform(0.005, 0.015)),
        eda_level=level,
        scr_amp=float(0.06 + 0.12 * level**0.4 * np.exp(rng.normal(0.0, 0.3))),
        scr_rate=float(rng.uniform(1.0, 3.0)),
        artifact_rate=float(rng.uniform(0.4, 1.0)),
        temp_skin=float(rng.uniform(31.0, 35.0)),
        temp_drift=float(rng.uniform(0.05, 0.3)),
        temp_moves=float(rng.uniform(0.0, 3.0)),
    )


# ----------------------------------------------------------------------------------------------------
# Building blocks
# ----------------------------------------------------------------------------------------------------
def ou(rng: np.random.Generator, n: int, dt: float, tau: float, sd: float) -> np.ndarray:
    """A stationary Ornstein-Uhlenbeck path (AR(1) at step ``dt``) with time constant ``tau``, sd ``sd``."""
    a = np.exp(-dt / tau)
    e = rng.standard_normal(n) * sd * np.sqrt(1.0 - a * a)
    e[0] = rng.standard_normal() * sd
    return lfilter([1.0], [1.0, -a], e)


def lag(x: np.ndarray, dt: float, tau: float) -> np.ndarray:
    """First-order low-pass (time constant ``tau``), starting at ``x[0]``."""
    a = np.exp(-dt / tau)
    y, _ = lfilter([1.0 - a], [1.0, -a], x, zi=[a * x[0]] if len(x) else [0.0])
    return y


def bateman(tau: np.ndarray, t_rise: float, t_decay: float) -> np.ndarray:
    """Rise-and-return kernel, zero before 0, peak 1."""
    tp = np.log(t_decay / t_rise) * t_rise * t_decay / (t_decay - t_rise)
    peak = np.exp(-tp / t_decay) - np.exp(-tp / t_rise)
    tt = np.clip(tau, 0.0, None)
    return np.where(tau > 0, (np.exp(-tt / t_decay) - np.exp(-tt / t_rise)) / peak, 0.0)


def add_events(x: np.ndarray, t: np.ndarray, onsets, amps, t_rise, t_decay, span: float) -> None:
    """Add ``amp * bateman(t - onset)`` for every event over ``span`` seconds after its onset (in place)."""
    dt = t[1] - t[0] if len(t) > 1 else 1.0
    for on, a, tr, td in zip(onsets, amps, t_rise, t_decay):
        i0 = int(np.searchsorted(t, on, "left"))
        i1 = min(len(t), i0 + int(span / dt) + 1)
        if i0 < i1:
            x[i0:i1] += a * bateman(t[i0:i1] - on, tr, td)


def arousal(cue: str) -> float:
    return CIRCUMPLEX[cue][1]


@dataclass
class OwnTurns:
    """A participant's own utterances inside one recording (session seconds, bio cues, dialogue names)."""

    starts: np.ndarray
    ends: np.ndarray
    cues: list[str]
    dialogues: list[str]

    def speaking(self, t: np.ndarray) -> np.ndarray:
        k = np.searchsorted(self.starts, t, "right") - 1
        return ((k >= 0) & (t < self.ends[np.clip(k, 0, None)])).astype(float) if len(self.starts) else 0.0 * t


# ----------------------------------------------------------------------------------------------------
# Heart
# ----------------------------------------------------------------------------------------------------
HR_DT = 0.05  # s, grid of the instantaneous heart rate


def heart_rate(rng: np.random.Generator, grid: np.ndarray, own: OwnTurns, phys: Physiology) -> np.ndarray:
    """Instantaneous heart rate (bpm) on ``grid``: resting level, drift, Mayer wave, breathing (RSA),
    speaking, and one emotional response per own utterance."""
    n = len(grid)
    resp_f = phys.resp_hz * (1.0 + 0.15 * ou(rng, n, HR_DT, 30.0, 1.0).clip(-2, 2))
    resp_phase = 2 * np.pi * np.cumsum(resp_f) * HR_DT + rng.uniform(0, 2 * np.pi)
    hr = (phys.hr_rest + ou(rng, n, HR_DT, 60.0, 2.0)
          + 1.2 * np.sin(2 * np.pi * 0.1 * grid + rng.uniform(0, 2 * np.pi))
          + phys.rsa_bpm * np.sin(resp_phase)
          + phys.speech_bpm * lag(own.speaking(grid), HR_DT, 2.0))
    means = np.array([BIO_RESPONSE[c]["hr"] for c in own.cues])
    amps = phys.hr_reactivity * (means + rng.normal(0.0, 3.0, len(means)))
    onsets = own.starts + rng.uniform(0.5, 2.0, len(own.starts))
    resp = np.zeros(n)
    add_events(resp, grid, onsets, amps, np.full(len(amps), 1.5), np.full(len(amps), 10.0), 60.0)
    return np.clip(hr + resp, *HR_LIMITS)


def beat_times(rng: np.random.Generator, t0: float, t1: float, own: OwnTurns, phys: Physiology) -> np.ndarray:
    """R-peak times in [t0, t1) from the integrated heart rate, with beat-to-beat jitter."""
    grid = np.arange(t0 - 2.0, t1 + 2.0, HR_DT)
    hr = heart_rate(rng, grid, own, phys)
    phase = np.concatenate([[0.0], np.cumsum(hr[:-1] / 60.0 * HR_DT)]) + rng.uniform(0, 1)
    n = np.arange(np.ceil(phase[0]), np.floor(phase[-1]) + 1)
    tb = np.interp(n, phase, grid) + rng.normal(0.0, phys.rr_jitter, len(n))
    tb = np.sort(tb)
    return tb[(tb >= t0) & (tb < t1)]


# P, Q, R, S, T waves: (offset s, amplitude relative to R, width s); the T offset scales with sqrt(RR)
_PQRST = [(-0.16, 0.12, 0.022), (-0.03, -0.10, 0.009), (0.0, 1.0, 0.010), (0.03, -0.22, 0.010),
          (0.25, 0.28, 0.040)]


def ecg_signal(rng: np.random.Generator, t: np.ndarray, beats: np.ndarray, own: OwnTurns, phys: Physiology,
               fs: int) -> np.ndarray:
    """ECG (mV) at regular times ``t`` (spacing 1/fs) from R-peak times: P-QRS-T shapes, baseline wander,
    muscle noise (more while speaking) and mains pickup."""
    n = len(t)
    x = np.zeros(n)
    if len(beats):
        rr = np.diff(beats, prepend=beats[0] - 60.0 / phys.hr_rest)
        offs = np.arange(int(-0.3 * fs), int(0.55 * fs) + 1)
        idx = np.rint((beats - t[0]) * fs).astype(int)[:, None] + offs[None, :]
        dt = t[0] + idx / fs - beats[:, None]
        w = np.zeros(idx.shape)
        for k, (off, amp, width) in enumerate(_PQRST):
            shift = off * np.sqrt(np.clip(rr, 0.4, 1.5) / 0.8)[:, None] if k == 4 else off
            w += amp * np.exp(-0.5 * ((dt - shift) / width) ** 2)
        ok = (idx >= 0) & (idx < n)
        x = np.bincount(idx[ok], weights=w[ok] * phys.ecg_r_mv, minlength=n)[:n]
    x += 0.08 * np.sin(2 * np.pi * phys.resp_hz * t + rng.uniform(0, 2 * np.pi))  # breathing wander
    x += ou(rng, n, 1.0 / fs, 8.0, 0.04)  # electrode drift
    x += rng.standard_normal(n) * phys.ecg_noise_mv * (1.0 + 1.5 * own.speaking(t))  # muscle noise
    x += rng.uniform(0.003, 0.015) * np.sin(2 * np.pi * MAINS_HZ * t + rng.uniform(0, 2 * np.pi))
    return x


# ----------------------------------------------------------------------------------------------------
# Skin conductance and temperature
# ----------------------------------------------------------------------------------------------------
def scr_events(rng: np.random.Generator, t0: float, t1: float, own: OwnTurns, phys: Physiology):
    """Onsets, amplitudes, rise and decay time constants of the SCRs in [t0, t1): non-specific ones at the
    person's rate, and one evoked by an own utterance with its cue's probability."""
    n_spont = rng.poisson(phys.scr_rate / 60.0 * max(t1 - t0, 0.0))
    on_spont = rng.uniform(t0, t1, n_spont)
    amp_spont = phys.scr_amp * 0.7 * np.exp(rng.normal(0.0, 0.6, n_spont))
    p = np.array([BIO_RESPONSE[c]["scr_p"] for c in own.cues])
    gain = np.array([BIO_RESPONSE[c]["scr_gain"] for c in own.cues])
    hit = rng.random(len(p)) < p
    on_ev = own.starts + rng.uniform(1.0, 3.0, len(p))
    amp_ev = phys.scr_amp * gain * np.exp(rng.normal(0.0, 0.5, len(p)))
    onsets = np.concatenate([on_spont, on_ev[hit]])
    amps = np.minimum(np.concatenate([amp_spont, amp_ev[hit]]), 1.2)
    m = len(onsets)
    return onsets, amps, rng.uniform(0.35, 0.9, m), rng.uniform(4.0, 10.0, m)


def eda_signal(rng: np.random.Generator, t: np.ndarray, rec0: float, own: OwnTurns, phys: Physiology) -> np.ndarray:
    """EDA (uS) at 4 Hz times ``t`` of a recording started at ``rec0``."""
    dt = 1.0 / E4_FS
    settle = rng.uniform(-0.3, 0.3) * np.exp(-(t - rec0) / rng.uniform(30.0, 90.0))
    tonic = phys.eda_level * np.exp(ou(rng, len(t), dt, 300.0, 0.03)) * (1.0 + settle)
    x = tonic.copy()
    onsets, amps, tr, td = scr_events(rng, rec0, t[-1], own, phys)
    add_events(x, t, onsets, amps, tr, td, 40.0)
    n_art = rng.poisson(phys.artifact_rate / 60.0 * (t[-1] - rec0))
    a_on = rng.uniform(rec0, t[-1], n_art)
    a_amp = rng.uniform(0.2, 1.0, n_art) * (0.5 + 0.5 * np.sqrt(phys.eda_level)) * rng.choice([-0.5, 1.0], n_art)
    add_events(x, t, a_on, a_amp, np.full(n_art, 0.1), np.full(n_art, 0.6), 5.0)
    x += rng.normal(0.0, 0.002, len(t))
    return np.clip(x, 0.0, None)


def temp_signal(rng: np.random.Generator, t: np.ndarray, rec0: float, own: OwnTurns, phys: Physiology,
                dialogue_spans: dict[str, tuple[float, float]]) -> np.ndarray:
    """Wrist temperature (degC) at 4 Hz times ``t``: warm-up after the device starts, slow drift, and a
    lagged level shift per dialogue set by the arousal of the person's own cues in it."""
    dt = 1.0 / E4_FS
    warm = rng.uniform(0.2, 1.0) * np.exp(-(t - rec0) / rng.uniform(120.0, 400.0))
    target = np.zeros(len(t))
    for name, (d0, d1) in dialogue_spans.items():
        a = [max(arousal(c), 0.0) for c, d in zip(own.cues, own.dialogues) if d == name]
        shift = -0.25 * (float(np.mean(a)) if a else 0.0) + rng.normal(0.0, 0.1)
        target[(t >= d0) & (t < d1)] = shift
    n_move = rng.poisson(phys.temp_moves / 600.0 * (t[-1] - rec0))  # wrist moves: the sensor re-settles
    for on, size, tau in zip(rng.uniform(rec0, t[-1], n_move), rng.normal(0.0, 0.5, n_move),
                             rng.uniform(60.0, 180.0, n_move)):
        target += np.where(t >= on, size * np.exp(-(t - on) / tau), 0.0)
    x = phys.temp_skin - warm + ou(rng, len(t), dt, 300.0, phys.temp_drift) + lag(target, dt, 60.0)
    return x + rng.normal(0.0, 0.005, len(t))


# ----------------------------------------------------------------------------------------------------
# Recordings of a participant
# ----------------------------------------------------------------------------------------------------
def segment_tags(t: np.ndarray, starts: np.ndarray, ends: np.ndarray) -> np.ndarray:
    """Index of the segment each sample time falls in ([start, end)), -1 outside every segment."""
    j = np.searchsorted(starts, t, "right") - 1
    inside = (j >= 0) & (t < ends[np.clip(j, 0, None)])
    return np.where(inside, j, -1)


def _own_turns(utts, key: str) -> OwnTurns:
    own = [u for u in utts if u.speaker == key]
    return OwnTurns(starts=np.array([u.abs_start for u in own]), ends=np.array([u.abs_end for u in own]),
                    cues=[u.cues["bio"] for u in own], dialogues=[u.dialogue for u in own])


def _block_recordings(rng, session: Session, p: Participant, block: str, fs: int, lead: tuple, parts: dict):
    """One device recording per kind (ECG, E4) covering a block of dialogues; appends to ``parts``.
    ``session.quirks.e4_extend`` keeps an E4 recording running longer after its block (a dropout's room)."""
    utts = [u for u in session.utterances if u.block == block]
    if not utts:
        return
    own = _own_turns(utts, p.key)
    first, last = min(u.abs_start for u in utts), max(u.abs_end for u in utts)
    spans = {d.name: (d.t0 + d.utterances[0].start, d.t0 + d.utterances[-1].end)
             for d in session.dialogues if d.block == block}
    for kind, rate_hz in (("ECG", fs), ("E4", E4_FS)):
        rec0 = float(first) - float(np.round(rng.uniform(*lead), 3))
        rec1 = float(last) + rng.uniform(5, 15)
        if kind == "E4":
            rec1 += session.quirks.e4_extend.get((p.key, block), 0.0)
        elapsed = np.arange(1, int((rec1 - rec0) * rate_hz) + 1) / rate_hz
        t = rec0 + elapsed
        if kind == "ECG":
            beats = beat_times(rng, t[0] - 1.0, t[-1] + 1.0, own, p.physiology)
            v = ecg_signal(rng, t, beats, own, p.physiology, fs)
            parts["ECG"].append((elapsed, t, np.rint(v / ECG_STEP).astype(np.int64)))
            parts["beats"].append(beats)
            continue
        eda_n = np.rint(eda_signal(rng, t, rec0, own, p.physiology) * 1e6).astype(np.int64)
        eda_n[0] = 0  # the E4 often logs 0.0 first
        temp_n = np.rint(temp_signal(rng, t, rec0, own, p.physiology, spans) * 100).astype(np.int64)
        parts["EDA"].append((elapsed, t, eda_n))
        parts["TEMP"].append((elapsed, t, temp_n))


def render_participant(rng: np.random.Generator, session: Session, p: Participant, fs: int,
                       lead: tuple[float, float]) -> None:
    """``p.signals``: ECG, EDA and TEMP over the session, tagged by time with every segment they cover
    (the E4 quirks, quirks.apply_e4, then remove rows and re-tag by sample count); ``p.beats``."""
    parts: dict[str, list] = {"ECG": [], "EDA": [], "TEMP": [], "beats": []}
    for block in ("script", "impro"):
        _block_recordings(rng, session, p, block, fs, lead, parts)
    p.beats = np.concatenate(parts.pop("beats"))
    utts = session.utterances
    starts = np.array([u.abs_start for u in utts])
    ends = np.array([u.abs_end for u in utts])
    for name, chunks in parts.items():
        elapsed, t, values = (np.concatenate(c) for c in zip(*chunks))
        p.signals[name] = Signal(name=name, t=t, elapsed=elapsed, values=values, tags=segment_tags(t, starts, ends),
                                 rate=float(fs if name == "ECG" else E4_FS))
