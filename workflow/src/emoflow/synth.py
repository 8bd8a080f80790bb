"""Synthetic KEMDy19 stand-in: the real on-disk layout, driven by a known latent cue model.

Latent model
------------
Every utterance gets a true label ``y`` from a KEMDy19-like prior (``PRIOR``). Each modality
``m`` in audio/text/bio then draws a *cue*: ``cue_m = y`` with probability ``cue_accuracy[m]``,
otherwise a confused label drawn from a modality-specific confusion distribution ``C_m[y, .]``
(zero diagonal, rows sum to one). Cues are independent given the label, so

    P(cue_m = c | y) = acc_m * [c == y] + (1 - acc_m) * C_m[y, c].

The confusions use circumplex coordinates (valence, arousal) per emotion (``CIRCUMPLEX``):

- audio confuses along **arousal** (prosody carries arousal): weight exp(-(dA/0.35)^2 - (dV/1.2)^2);
- text confuses along **valence** (wording carries valence): weight exp(-(dV/0.35)^2 - (dA/1.2)^2);
- bio confuses along physiological arousal, with an extra pull towards ``neutral`` (flat physiology):
  weight exp(-(dA/0.5)^2) + 0.5 [c == neutral].

Each signal renders only its own cue (never the label itself):

- audio: a speech-like source-filter waveform; pitch level/range/contour, syllable rate, brightness,
  breathiness, tremor and energy are set by the audio cue (``AUDIO_CUES``), with per-speaker variation
  (gender pitch, formants, tempo) and noise;
- text: Korean sentences whose emotion phrases come from the text cue's bank (``TEXT_PHRASES``), with
  neutral fillers and ETRI tags drawn independently of the cue;
- bio: during the speaker's own utterance the heart rate and RR variability (rendered as a P-QRS-T
  ECG at ``ecg_fs``), the EDA level and phasic oscillation, and the TEMP slope are set by the bio cue
  (``BIO_CUES``); outside the speaker's own turns every signal relaxes to a per-participant baseline.

The truth (labels, cues, listener labels and the cue model) goes to ``root/_truth/``; a reader of
the dataset never needs it. ``_truth/header_only_bio.json`` lists the one bio file written as a header
line only (the last session's TEMP file of a participant, fixed, no random draw) and the segments it
leaves without TEMP features. ``_truth/unused_field_text.json`` lists the two annotation cells (unused
ECG/E4-EDA/E4-TEMP start/end values of speaker rows) written as non-numeric text, and their segments.
"""

from __future__ import annotations

import logging
import time
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.signal import lfilter

from .constants import EMOTIONS, KEMDY19_TIE_ORDER, SYNTH_SIZES
from .io import atomic_path, write_json, write_parquet

log = logging.getLogger(__name__)

VERSION = "1.0"
AUDIO_SR = 16000
ECG_STEP = 0.003615046  # quantisation step of the real ECG values (mV)
E4_FS = 4  # EDA and TEMP sampling rate (Hz)
HEADER_ONLY_BIO = b"value,elapsed,clock,SegID\n"  # the one header-only bio file (quirk header_only_bio)
N_RATERS = 10
RATERS = ["Eval01F", "Eval02M", "Eval03F", "Eval04F", "Eval05M",
          "Eval06M", "Eval07M", "Eval08F", "Eval09M", "Eval10F"]

DEFAULTS = {
    "size": "small",
    "seed": 19,
    "n_sessions": None,
    "ecg_fs": 250,
    "cue_accuracy": {"audio": 0.70, "text": 0.55, "bio": 0.60},
}

# KEMDy19-like prior of the true (speaker-perspective) label, neutral ~40 %.
PRIOR = {"neutral": 0.40, "happy": 0.14, "surprise": 0.10, "angry": 0.18,
         "sad": 0.08, "disgust": 0.05, "fear": 0.05}

# (valence, arousal) in [-1, 1]; drives the modality confusions and the raters' V/A scores.
CIRCUMPLEX = {
    "neutral": (0.0, 0.0),
    "happy": (0.8, 0.5),
    "surprise": (0.4, 0.9),
    "angry": (-0.7, 0.8),
    "sad": (-0.7, -0.6),
    "disgust": (-0.7, 0.2),
    "fear": (-0.6, 0.7),
}

# Audio cue -> prosody: f0 factor (x speaker base), pitch-accent range (semitones), global trend
# (semitones over the utterance), syllables/s, low-pass cutoff (Hz, brightness), breath-noise ratio,
# tremor depth (semitones, 7 Hz), energy (peak fraction).
AUDIO_CUES = {
    "neutral": dict(f0=1.00, range=1.0, trend=-1.0, rate=4.0, cutoff=2500, breath=0.05, tremor=0.0,
                    energy=0.55),
    "happy": dict(f0=1.25, range=4.0, trend=2.0, rate=5.0, cutoff=3500, breath=0.05, tremor=0.0, energy=0.80),
    "surprise": dict(f0=1.45, range=6.0, trend=5.0, rate=3.0, cutoff=3000, breath=0.10, tremor=0.0,
                     energy=0.90),
    "angry": dict(f0=1.15, range=2.5, trend=-3.0, rate=6.0, cutoff=5500, breath=0.02, tremor=0.0,
                  energy=1.00),
    "sad": dict(f0=0.85, range=0.8, trend=-2.0, rate=2.5, cutoff=1200, breath=0.15, tremor=0.0, energy=0.30),
    "disgust": dict(f0=0.92, range=2.0, trend=-4.0, rate=3.2, cutoff=1800, breath=0.35, tremor=0.0,
                    energy=0.50),
    "fear": dict(f0=1.35, range=1.5, trend=0.0, rate=5.5, cutoff=2200, breath=0.30, tremor=1.2, energy=0.40),
}

# Bio cue -> physiology during the speaker's own utterance: heart rate (bpm), RR jitter sd (s),
# EDA offset above baseline (uS), EDA phasic oscillation (amplitude uS, frequency Hz), TEMP slope
# (degC/s). EDA offset x TEMP slope alone put the 7 cues in 7 distinct cells of a 4 x 3 grid; the
# heart rate separates them again.
BIO_CUES = {
    "neutral": dict(hr=70, rr_sd=0.035, eda=0.0, osc=(0.00, 0.00), temp_slope=0.00),
    "happy": dict(hr=88, rr_sd=0.025, eda=0.8, osc=(0.08, 0.50), temp_slope=0.10),
    "surprise": dict(hr=96, rr_sd=0.020, eda=1.6, osc=(0.25, 1.00), temp_slope=0.00),
    "angry": dict(hr=106, rr_sd=0.012, eda=1.6, osc=(0.12, 1.50), temp_slope=0.10),
    "sad": dict(hr=60, rr_sd=0.050, eda=0.0, osc=(0.00, 0.00), temp_slope=-0.10),
    "disgust": dict(hr=78, rr_sd=0.030, eda=0.8, osc=(0.10, 0.25), temp_slope=-0.10),
    "fear": dict(hr=114, rr_sd=0.015, eda=2.4, osc=(0.15, 0.75), temp_slope=-0.10),
}

# Text cue -> phrase bank. Fillers and ETRI tags are drawn independently of the cue.
TEXT_PHRASES = {
    "neutral": [
        "응 알겠어.", "그래 그렇게 하자.", "내일 몇 시에 만날까?", "지금 어디야?",
        "그건 그냥 그런 거지.", "오늘 회의는 세 시야.", "밥은 먹었어?", "그럼 거기서 보자.",
        "어 그거 맞아.", "음 생각해 볼게.", "버스 타고 갈게.", "이따가 전화할게.",
    ],
    "happy": [
        "와 너무 좋다!", "너무 행복해.", "정말 고마워.", "기분 최고야!", "우리 합격했어!",
        "너무 신나.", "완전 재밌었어.", "너무 잘됐다.", "선물 고마워 마음에 쏙 들어.",
        "오늘 날씨 정말 좋네.",
    ],
    "surprise": [
        "어머 진짜?", "헐 말도 안 돼.", "깜짝이야!", "뭐라고? 정말이야?", "어떻게 이런 일이?",
        "세상에 이게 뭐야?", "갑자기 왜?", "설마 그럴 리가.", "어 언제 왔어?",
        "와 대박 놀랐잖아.",
    ],
    "angry": [
        "너 지금 장난해?", "진짜 화난다.", "왜 맨날 이래?", "그만 좀 해.", "어이가 없네.",
        "짜증나 죽겠어.", "도대체 뭐 하는 거야?", "소리 지르지 마.", "내 말 좀 들어.",
        "약속을 또 어겼잖아.",
    ],
    "sad": [
        "너무 슬퍼.", "나 혼자 어떡해.", "보고 싶어.", "다 끝났어.", "눈물이 나.",
        "미안해 정말 미안해.", "마음이 아파.", "우울해.", "그 사람이 떠났대.",
        "아무도 나를 안 믿어.",
    ],
    "disgust": [
        "으 역겨워.", "더러워.", "토할 것 같아.", "냄새 너무 심하다.", "징그러워.",
        "저런 건 정말 싫다.", "비위 상해.", "벌레가 기어 다녀.", "썩은 거 아니야?",
        "위생이 엉망이네.",
    ],
    "fear": [
        "무서워.", "누가 있는 거 같아.", "떨려 죽겠어.", "어떡해 들키면?", "불안해.",
        "살려 줘.", "소름 돋아.", "겁나.", "문 잠갔어?", "뒤에 누가 따라와.",
    ],
}
FILLERS = ["어", "음", "아", "근데", "그니까", "있잖아", "저기", "그래서", "야",
           "(그거+그게)", "아니"]
TAGS_START = ["b/", "n/", "o/", "u/"]
TAGS_MID = ["b/", "o/", "n/", "l/", "c/"]
TAGS_END = ["o/", "b/", "l/", "n/", "s/"]

HEADER1 = ["Numb", "Wav", "", "ECG", "", "E4-EDA", "", "E4-TEMP", "", "Segment ID",
           "Total Evaluation", "", ""]
HEADER1 += [c for r in RATERS for c in (r, "", "")]
HEADER2 = ["", "start", "end", "start", "end", "start", "end", "start", "end", "",
           "Emotion", "Valence", "Arousal"]
HEADER2 += ["Emotion", "Valence", "Arousal"] * N_RATERS

_E = {e: i for i, e in enumerate(EMOTIONS)}
_TIE_RANK = np.array([KEMDY19_TIE_ORDER.index(e) for e in EMOTIONS])


# ----------------------------------------------------------------------------------------------------
# Configuration and cue model
# ----------------------------------------------------------------------------------------------------
def resolve_config(synthetic: dict | None) -> dict:
    """The ``synthetic`` config section with defaults filled in and the size preset attached."""
    cfg = {k: v for k, v in DEFAULTS.items() if k != "cue_accuracy"}
    cfg.update({k: v for k, v in (synthetic or {}).items() if k != "cue_accuracy" and v is not None})
    acc = dict(DEFAULTS["cue_accuracy"])
    acc.update({k: float(v) for k, v in ((synthetic or {}).get("cue_accuracy") or {}).items()})
    cfg["cue_accuracy"] = acc
    if cfg["size"] not in SYNTH_SIZES:
        raise ValueError(f"unknown synthetic size {cfg['size']!r}; choose one of {sorted(SYNTH_SIZES)}")
    preset = SYNTH_SIZES[cfg["size"]]
    cfg["n_sessions"] = int(cfg.get("n_sessions") or preset["n_sessions"])
    cfg["seed"] = int(cfg["seed"])
    cfg["ecg_fs"] = int(cfg["ecg_fs"])
    return cfg


def confusion_matrix(modality: str) -> np.ndarray:
    """C_m: 7x7 confusion distribution (zero diagonal, rows sum to 1) in EMOTIONS order."""
    va = np.array([CIRCUMPLEX[e] for e in EMOTIONS])
    dv = va[:, None, 0] - va[None, :, 0]
    da = va[:, None, 1] - va[None, :, 1]
    if modality == "audio":
        w = np.exp(-((da / 0.35) ** 2) - (dv / 1.2) ** 2)
    elif modality == "text":
        w = np.exp(-((dv / 0.35) ** 2) - (da / 1.2) ** 2)
    elif modality == "bio":
        w = np.exp(-((da / 0.5) ** 2))
        w[:, _E["neutral"]] += 0.5
    else:
        raise ValueError(f"unknown modality {modality!r}")
    w = w + 1e-3  # every confusion stays possible
    np.fill_diagonal(w, 0.0)
    return w / w.sum(axis=1, keepdims=True)


def build_cue_model(cue_accuracy: dict, seed: int | None = None) -> dict:
    """The latent model as written to ``_truth/cue_model.json``.

    ``p_cue_given_label[m][i][j]`` = P(cue_m = EMOTIONS[j] | label = EMOTIONS[i]).
    """
    acc = dict(DEFAULTS["cue_accuracy"])
    acc.update({k: float(v) for k, v in cue_accuracy.items()})
    mats = {}
    for m in ("audio", "text", "bio"):
        p = acc[m] * np.eye(len(EMOTIONS)) + (1.0 - acc[m]) * confusion_matrix(m)
        mats[m] = [[round(float(x), 12) for x in row] for row in p]
    return {
        "version": VERSION,
        "seed": seed,
        "emotions": list(EMOTIONS),
        "prior": [PRIOR[e] for e in EMOTIONS],
        "cue_accuracy": {m: acc[m] for m in ("audio", "text", "bio")},
        "p_cue_given_label": mats,
        "confusion": {
            "audio": "along arousal: exp(-(dA/0.35)^2-(dV/1.2)^2)",
            "text": "along valence: exp(-(dV/0.35)^2-(dA/1.2)^2)",
            "bio": "along arousal with a pull to neutral: exp(-(dA/0.5)^2)+0.5[neutral]",
        },
    }


def _sample_rows(rng: np.random.Generator, probs: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """One categorical draw per entry of ``rows`` from ``probs[rows]``."""
    cdf = np.cumsum(probs, axis=1)
    cdf[:, -1] = 1.0
    u = rng.random(len(rows))
    return (u[:, None] > cdf[rows]).sum(axis=1)


# ----------------------------------------------------------------------------------------------------
# Raters
# ----------------------------------------------------------------------------------------------------
TIE_RATE = 0.05
_RATER_CONFUSION = np.array([0.45, 0.12, 0.08, 0.14, 0.08, 0.06, 0.07])
_VA_MEAN = {  # typical rater scores (valence, arousal) on the 1-5 scale
    "neutral": (3.0, 2.8), "happy": (4.2, 3.6), "surprise": (3.5, 4.0), "angry": (1.8, 4.2),
    "sad": (1.8, 2.2), "disgust": (2.0, 3.1), "fear": (2.0, 3.8),
}


def tie_valid(counts: np.ndarray, label: int) -> bool:
    """True when the majority of ``counts`` resolves (first listed in tie order) to ``label``."""
    top = counts.max()
    if counts[label] != top:
        return False
    tied = np.flatnonzero(counts == top)
    return _TIE_RANK[label] == _TIE_RANK[tied].min()


def total_string(counts: np.ndarray) -> str:
    """Total Evaluation: majority label(s), ties ';'-joined in KEMDy19 order."""
    tied = np.flatnonzero(counts == counts.max())
    tied = tied[np.argsort(_TIE_RANK[tied])]
    return ";".join(EMOTIONS[i] for i in tied)


def rate(rng: np.random.Generator, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """10 rater votes (emotion index), valences and arousals per row; the Total resolves to ``labels``."""
    n = len(labels)
    agree = rng.uniform(0.40, 0.85, n)
    other_w = np.tile(_RATER_CONFUSION, (n, 1))
    other_w[np.arange(n), labels] = 0.0
    other_w /= other_w.sum(axis=1, keepdims=True)
    cdf = np.cumsum(other_w, axis=1)
    cdf[:, -1] = 1.0
    u = rng.random((n, N_RATERS))
    others = (u[:, :, None] > cdf[:, None, :]).sum(axis=2)
    votes = np.where(rng.random((n, N_RATERS)) < agree[:, None], labels[:, None], others)
    # ~5 % split votes: a tie between the label and a label listed after it in KEMDy19 order
    tie_rows = np.flatnonzero(rng.random(n) < TIE_RATE)
    for i in tie_rows:
        later = [c for c in range(len(EMOTIONS)) if _TIE_RANK[c] > _TIE_RANK[labels[i]]]
        if not later:
            continue
        c = later[int(rng.integers(len(later)))]
        k = int(rng.integers(3, 6))
        row = others[i].copy()
        row[:k], row[k : 2 * k] = labels[i], c
        rest = row[2 * k :]
        rest[(rest == labels[i]) | (rest == c)] = _E["neutral"] if labels[i] != _E["neutral"] else _E["angry"]
        votes[i] = rng.permutation(row)
    for i in range(n):
        counts = np.bincount(votes[i], minlength=len(EMOTIONS))
        y = labels[i]
        while not tie_valid(counts, y):
            # move one vote from the strongest competitor to the label
            comp = [c for c in range(len(EMOTIONS)) if c != y and counts[c] == counts.max()]
            c = min(comp, key=lambda k: _TIE_RANK[k])
            j = np.flatnonzero(votes[i] == c)[0]
            votes[i, j] = y
            counts[c] -= 1
            counts[y] += 1
    va = np.array([_VA_MEAN[e] for e in EMOTIONS])
    noise = rng.normal(0.0, 0.6, (n, N_RATERS, 2))
    scores = np.clip(np.rint(va[votes] + noise), 1, 5).astype(int)
    return votes, scores[..., 0], scores[..., 1]


def _mean_str(ints: np.ndarray) -> str:
    s = int(ints.sum())
    return str(s // 10) if s % 10 == 0 else f"{s / 10:.1f}"


# ----------------------------------------------------------------------------------------------------
# Text
# ----------------------------------------------------------------------------------------------------
def make_text(rng: np.random.Generator, cue: str) -> str:
    """A transcript whose emotion phrases come from the text cue; fillers and tags are cue-free."""
    n_phr = int(rng.choice([1, 2, 3], p=[0.45, 0.40, 0.15]))
    bank = TEXT_PHRASES[cue]
    picks = rng.permutation(len(bank))[:n_phr].tolist()
    phrases = [bank[picks[0]]]
    nb = TEXT_PHRASES["neutral"]
    for j in range(1, n_phr):
        if cue != "neutral" and rng.random() < 0.3:
            phrases.append(nb[int(rng.integers(len(nb)))])
        else:
            phrases.append(bank[picks[j]])
    order = rng.permutation(len(phrases))
    parts: list[str] = []
    if rng.random() < 0.3:
        parts.append(TAGS_START[int(rng.integers(len(TAGS_START)))])
    for k, i in enumerate(order):
        if k > 0 and rng.random() < 0.2:
            parts.append(TAGS_MID[int(rng.integers(len(TAGS_MID)))])
        if rng.random() < 0.4:
            parts.append(FILLERS[int(rng.integers(len(FILLERS)))])
        parts.append(phrases[i])
    if rng.random() < 0.3:
        parts.append(TAGS_END[int(rng.integers(len(TAGS_END)))])
    return " ".join(parts)


# ----------------------------------------------------------------------------------------------------
# Audio
# ----------------------------------------------------------------------------------------------------
@dataclass
class Speaker:
    gender: str
    f0: float
    rate_factor: float
    formants: tuple[tuple[float, float], ...]
    bright: float
    gain: float
    hr_base: float
    eda_base: float
    temp_base: float
    ecg_amp: float


def _make_speaker(rng: np.random.Generator, gender: str) -> Speaker:
    f0 = rng.uniform(125, 145) if gender == "M" else rng.uniform(185, 215)
    scale = 1.0 if gender == "M" else 1.15
    formants = ((rng.uniform(550, 750) * scale, 90.0), (rng.uniform(1300, 1800) * scale, 120.0))
    return Speaker(
        gender=gender,
        f0=float(f0),
        rate_factor=float(rng.uniform(0.92, 1.08)),
        formants=formants,
        bright=float(rng.uniform(0.9, 1.1)),
        gain=float(rng.uniform(0.85, 1.0)),
        hr_base=float(rng.uniform(66, 76)),
        eda_base=float(rng.uniform(1.2, 1.5)),
        temp_base=float(rng.uniform(32.0, 34.5)),
        ecg_amp=float(rng.uniform(0.85, 1.15)),
    )


def _resonator(fc: float, bw: float, sr: int) -> tuple[np.ndarray, np.ndarray]:
    r = np.exp(-np.pi * bw / sr)
    theta = 2 * np.pi * fc / sr
    a = np.array([1.0, -2 * r * np.cos(theta), r * r])
    return np.array([a.sum()]), a


def render_audio(rng: np.random.Generator, cue: str, duration: float, spk: Speaker) -> np.ndarray:
    """int16 mono waveform (16 kHz) of ``duration`` seconds whose prosody is set by the audio cue.

    Source-filter synthesis: a sawtooth glottal source at the pitch contour, low-passed (brightness)
    and shaped by two formant resonators, gated by a syllable envelope, plus breath and background
    noise. Contours are computed at a 500 Hz control rate and interpolated.
    """
    p = AUDIO_CUES[cue]
    sr = AUDIO_SR
    hop = 32
    n = int(round(duration * sr))
    t = np.arange(n) / sr
    tc = np.arange(n // hop + 2) * (hop / sr)  # control times
    lead, tail = rng.uniform(0.03, 0.12), rng.uniform(0.03, 0.12)
    dv = max(duration - lead - tail, 0.2)
    tv = np.clip(tc - lead, 0.0, None)
    rate = p["rate"] * spk.rate_factor * rng.uniform(0.93, 1.07)
    wobble = 0.15 * np.sin(2 * np.pi * rng.uniform(0.3, 0.8) * tv + rng.uniform(0, 2 * np.pi))
    syl = rate * tv + wobble
    idx = np.floor(syl).astype(int)
    frac = syl - idx
    n_syl = int(idx.max()) + 1
    voiced = rng.random(n_syl) > 0.1
    voiced[0] = True
    env = np.sin(np.pi * frac) ** 1.5 * voiced[idx]
    env *= ((tc >= lead) & (tc <= lead + dv)).astype(float)
    # pitch: level x cue factor, accents per syllable, global trend, tremor, small offset
    accent = rng.uniform(-1.0, 1.0, n_syl)[idx]
    a = np.exp(-2 * np.pi * 25.0 * hop / sr)
    accent = lfilter([1 - a], [1, -a], accent)
    semis = (
        p["trend"] * (np.clip(tv / dv, 0, 1) - 0.5)
        + p["range"] * accent
        + p["tremor"] * np.sin(2 * np.pi * 7.0 * tc)
        + 0.1 * rng.standard_normal()
    )
    f0 = np.interp(t, tc, spk.f0 * p["f0"] * 2.0 ** (semis / 12.0))
    env = np.interp(t, tc, env)
    phase = np.cumsum(f0) / sr
    src = 2.0 * (phase % 1.0) - 1.0
    fc = min(p["cutoff"] * spk.bright, 0.45 * sr)
    a = np.exp(-2 * np.pi * fc / sr)
    src = lfilter([1 - a], [1, -a], src)
    for fcf, bw in spk.formants:
        b, aa = _resonator(fcf, bw, sr)
        src = lfilter(b, aa, src)
    src /= np.sqrt(np.mean(src**2)) + 1e-9
    noise = rng.standard_normal(n)
    breath = noise - 0.9 * np.roll(noise, 1)  # high-tilted breath noise
    breath /= np.sqrt(np.mean(breath**2)) + 1e-9
    x = env * (src + 2.0 * p["breath"] * breath) + 0.01 * np.roll(noise, n // 2)
    x *= p["energy"] * spk.gain * 0.9 / (np.abs(x).max() + 1e-9)
    return np.rint(x * 32767).astype(np.int16)


def write_wav(path: Path, data: np.ndarray, sr: int = AUDIO_SR) -> None:
    """16-bit mono PCM WAV with the plain 44-byte header."""
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(sr)
        w.writeframes(data.astype("<i2").tobytes())


# ----------------------------------------------------------------------------------------------------
# Bio signals
# ----------------------------------------------------------------------------------------------------
def _relaxing_signal(t, starts, ends, base, tau_out, inside, x_init=None):
    """Piecewise state signal on sample times ``t``: ``inside(k, tau, dur, x0) -> (values, x_end)`` during
    own segment k (``tau`` = time since its start); between segments the state relaxes exponentially
    to ``base`` with time constant ``tau_out``."""
    x = np.empty_like(t)
    cur_t, cur_x = (t[0] if len(t) else 0.0), (base if x_init is None else x_init)
    i_prev = 0
    for k, (s, e) in enumerate(zip(starts, ends)):
        i0 = np.searchsorted(t, s, "left")
        seg = t[i_prev:i0]
        x[i_prev:i0] = base + (cur_x - base) * np.exp(-(seg - cur_t) / tau_out)
        x0 = base + (cur_x - base) * np.exp(-max(s - cur_t, 0.0) / tau_out)
        i1 = np.searchsorted(t, e, "left")
        vals, x_end = inside(k, t[i0:i1] - s, e - s, x0)
        x[i0:i1] = vals
        cur_t, cur_x, i_prev = e, x_end, i1
    seg = t[i_prev:]
    x[i_prev:] = base + (cur_x - base) * np.exp(-(seg - cur_t) / tau_out)
    return x


def _drift(rng, t, amp):
    """Slow smooth drift (sum of three sinusoids, periods 2-10 min)."""
    out = np.zeros_like(t)
    for _ in range(3):
        out += amp * np.sin(2 * np.pi * t / rng.uniform(120, 600) + rng.uniform(0, 2 * np.pi))
    return out / 3


def eda_signal(rng, t, own_starts, own_ends, own_cues, spk: Speaker) -> np.ndarray:
    """EDA (uS) at times ``t``: level and phasic oscillation set by the bio cue of each own segment."""
    params = [BIO_CUES[c] for c in own_cues]
    phases = rng.uniform(0, 2 * np.pi, len(params))
    base = spk.eda_base

    def inside(k, tau, dur, x0):
        p = params[k]
        target = base + p["eda"]
        amp, f = p["osc"]

        def val(tt):
            return target + (x0 - target) * np.exp(-tt / 0.2) + amp * np.sin(2 * np.pi * f * tt + phases[k])

        return val(tau), float(val(np.asarray(dur)))

    x = _relaxing_signal(t, own_starts, own_ends, base, 1.5, inside)
    x += _drift(rng, t, 0.05) + rng.normal(0.0, 0.004, len(t))
    return np.clip(x, 0.0, None)


def temp_signal(rng, t, own_starts, own_ends, own_cues, spk: Speaker) -> np.ndarray:
    """Skin temperature (degC): a linear trend with the cue's slope during each own segment."""
    slopes = [BIO_CUES[c]["temp_slope"] for c in own_cues]
    base = spk.temp_base

    def inside(k, tau, dur, x0):
        return x0 + slopes[k] * tau, x0 + slopes[k] * dur

    x = _relaxing_signal(t, own_starts, own_ends, base, 2.0, inside)
    return x + _drift(rng, t, 0.1) + rng.normal(0.0, 0.003, len(t))


def beat_times(rng, t0, t1, own_starts, own_ends, own_cues, spk: Speaker) -> np.ndarray:
    """R-peak times in [t0, t1): heart rate and RR jitter set by the bio cue during own segments."""
    grid = np.arange(t0, t1 + 2.0, 0.05)
    rr_base = 60.0 / spk.hr_base
    shift = (spk.hr_base - 70.0) * 0.5

    def inside_rr(k, tau, dur, x0):
        target = 60.0 / (BIO_CUES[own_cues[k]]["hr"] + shift)
        f = lambda tt: target + (x0 - target) * np.exp(-tt / 0.4)  # noqa: E731
        return f(tau), float(f(np.asarray(dur)))

    rr = _relaxing_signal(grid, own_starts, own_ends, rr_base, 2.0, inside_rr)
    rr *= 1.0 + 0.02 * np.sin(2 * np.pi * 0.25 * grid + rng.uniform(0, 2 * np.pi))  # respiratory arrhythmia
    sd = np.full_like(grid, 0.03)
    k = np.searchsorted(own_starts, grid, "right") - 1
    if len(own_starts):
        ins = (k >= 0) & (grid < np.asarray(own_ends)[np.clip(k, 0, None)])
        sds = np.array([BIO_CUES[c]["rr_sd"] for c in own_cues])
        sd[ins] = sds[k[ins]]
    phase = np.concatenate([[0.0], np.cumsum(0.05 / rr[:-1])])
    phase += rng.uniform(0, 1)
    n = np.arange(np.ceil(phase[0]), np.floor(phase[-1]) + 1)
    tb = np.interp(n, phase, grid)
    tb += rng.standard_normal(len(tb)) * np.interp(tb, grid, sd) / np.sqrt(2)
    tb = np.sort(tb)
    return tb[(tb >= t0) & (tb < t1)]


# P, Q, R, S, T waves: (offset s, amplitude mV, width s)
_PQRST = [(-0.20, 0.15, 0.025), (-0.035, -0.12, 0.010), (0.0, 1.20, 0.011),
          (0.035, -0.30, 0.012), (0.26, 0.32, 0.045)]


def ecg_signal(rng, t, beats, spk: Speaker, fs: int) -> np.ndarray:
    """ECG (mV) at regular times ``t`` (spacing 1/fs) from R-peak times, with P-QRS-T shapes."""
    n = len(t)
    x = np.zeros(n)
    if len(beats):
        offs = np.arange(int(-0.35 * fs), int(0.45 * fs) + 1)
        base_idx = np.rint((beats - t[0]) * fs).astype(int)
        idx = base_idx[:, None] + offs[None, :]
        dt = t[0] + idx / fs - beats[:, None]
        w = np.zeros(idx.shape)
        for off, amp, width in _PQRST:
            w += amp * np.exp(-0.5 * ((dt - off) / width) ** 2)
        ok = (idx >= 0) & (idx < n)
        x = np.bincount(idx[ok], weights=w[ok] * spk.ecg_amp, minlength=n)[:n]
    x += 0.06 * np.sin(2 * np.pi * 0.22 * t + rng.uniform(0, 2 * np.pi))  # baseline wander
    x += rng.normal(0.0, 0.008, n)
    return x


# ----------------------------------------------------------------------------------------------------
# Fast row formatting (bytes arrays)
# ----------------------------------------------------------------------------------------------------
_S = np.strings


def _fixed(ints: np.ndarray, decimals: int) -> np.ndarray:
    """Non-negative integers scaled by 10**decimals -> b'12.345678'."""
    ints = np.asarray(ints, dtype=np.int64)
    q, r = np.divmod(ints, 10**decimals)
    return _S.add(_S.add(q.astype("S"), b"."), _S.zfill(r.astype("S"), decimals))


def _ecg_strings(k: np.ndarray) -> np.ndarray:
    """Quantised ECG levels -> '%.7g' strings (the real files' float32-like printing)."""
    lo, hi = int(k.min()), int(k.max())
    table = np.array([("%.7g" % (i * ECG_STEP)).encode() for i in range(lo, hi + 1)])
    return table[k - lo]


def _clock(wall_ms: np.ndarray) -> np.ndarray:
    """Milliseconds since midnight -> b'HH:MM:SS.fff'."""
    sec = wall_ms // 1000
    s0 = int(sec.min())
    secs = np.arange(s0, int(sec.max()) + 1)
    sec_tab = np.array(
        [f"{(s // 3600) % 24:02d}:{(s // 60) % 60:02d}:{s % 60:02d}".encode() for s in secs.tolist()]
    )
    ms_tab = np.array([f".{i:03d}".encode() for i in range(1000)])
    return _S.add(sec_tab[sec - s0], ms_tab[wall_ms % 1000])


def _join_rows(*cols: np.ndarray) -> bytes:
    out = cols[0]
    for c in cols[1:]:
        out = _S.add(out, c)
    return b"\n".join(out.tolist()) + b"\n"


# ----------------------------------------------------------------------------------------------------
# Session plan
# ----------------------------------------------------------------------------------------------------
def _plan_session(rng, sess: int, dialogues: list[str], preset: dict) -> pd.DataFrame:
    """Utterances of one session in Numb order, with dialogue and absolute (session) times."""
    lo, hi = preset["utterances_per_dialogue"]
    med, dmin, dmax = preset["duration_s"]
    rows = []
    abs_t = 0.0
    block_prev = None
    for d in dialogues:
        block = "impro" if d.startswith("impro") else "script"
        if block_prev is None:
            abs_t = float(np.round(rng.uniform(15, 30), 3))
        elif block != block_prev:
            abs_t += float(np.round(rng.uniform(2 * 3600, 4 * 3600), 3))  # a new recording later that day
        else:
            abs_t += float(np.round(rng.uniform(15, 45), 3))
        block_prev = block
        n = int(rng.integers(lo, hi + 1))
        spk = np.empty(n, dtype="<U1")
        spk[0] = "M" if rng.random() < 0.5 else "F"
        for i in range(1, n):
            spk[i] = spk[i - 1] if rng.random() < 0.2 else ("F" if spk[i - 1] == "M" else "M")
        if len(set(spk)) < 2:
            spk[-1] = "F" if spk[0] == "M" else "M"
        dur = np.clip(np.exp(rng.normal(np.log(med), 0.4, n)), dmin, dmax)
        start0 = float(np.round(rng.uniform(1.5, 8.0), 3))
        bounds = np.round(start0 + np.concatenate([[0.0], np.cumsum(dur)]), 3)
        counters = {"M": 0, "F": 0}
        for i in range(n):
            counters[spk[i]] += 1
            rows.append(
                {
                    "dialogue": d,
                    "block": block,
                    "speaker": str(spk[i]),
                    "nnn": counters[spk[i]],
                    "segment_id": f"Sess{sess:02d}_{d}_{spk[i]}{counters[spk[i]]:03d}",
                    "start": float(bounds[i]),
                    "end": float(bounds[i + 1]),
                    "dialogue_t0": abs_t,
                }
            )
        abs_t += float(bounds[-1]) + float(np.round(rng.uniform(0.5, 2.0), 3))
    df = pd.DataFrame(rows)
    df["abs_start"] = df["dialogue_t0"] + df["start"]
    df["abs_end"] = df["dialogue_t0"] + df["end"]
    df.insert(0, "numb", np.arange(1, len(df) + 1))
    return df


# ----------------------------------------------------------------------------------------------------
# Generation
# ----------------------------------------------------------------------------------------------------
def _rng(seed: int, *keys: int) -> np.random.Generator:
    return np.random.default_rng([seed, *keys])


def _choose_quirks(seed: int, n_sessions: int) -> dict:
    rng = _rng(seed, 0, 7)
    q = {
        "missing_e4_session": int(rng.integers(1, n_sessions + 1)),
        "missing_e4_gender": "F" if rng.random() < 0.5 else "M",
        "tag_only_session": int(rng.integers(1, n_sessions + 1)),
        "id_mismatch_session": int(rng.integers(1, n_sessions + 1)),
        "rng": rng,
    }
    # a header-only TEMP file: fixed (no draw), the last session's participant without the E4 gap
    last_gender = "F" if (q["missing_e4_session"], q["missing_e4_gender"]) == (n_sessions, "M") else "M"
    q["header_only_bio"] = (n_sessions, last_gender, "TEMP")
    return q


def _write_bio_file(path: Path, kind: str, elapsed: np.ndarray, values: np.ndarray, wall_ms: np.ndarray,
                    tags: np.ndarray) -> None:
    """One participant file: EDA/TEMP rows ``value,elapsed,clock[,id]``; ECG rows
    ``elapsed,value,clock[,id]``."""
    el = elapsed.astype("S")
    clk = _S.add(b",", _clock(wall_ms))
    if kind == "ECG":
        data = _join_rows(el, b",", values, clk, tags)
    else:
        data = _join_rows(values, b",", el, clk, tags)
    with atomic_path(path) as tmp:
        tmp.write_bytes(data)


def _session(root: Path, cfg: dict, sess: int, dialogues: list[str], model: dict, quirks: dict,
             manifest_quirks: dict) -> tuple[pd.DataFrame, dict]:
    seed = cfg["seed"]
    preset = SYNTH_SIZES[cfg["size"]]
    fs = cfg["ecg_fs"]
    sname, sshort = f"Session{sess:02d}", f"Sess{sess:02d}"
    plan = _plan_session(_rng(seed, sess, 0), sess, dialogues, preset)
    n = len(plan)

    # labels, cues, listener labels
    rng_l = _rng(seed, sess, 1)
    prior = np.array(model["prior"])
    labels = _sample_rows(rng_l, prior[None, :], np.zeros(n, dtype=int))
    same = rng_l.random(n) < 0.42
    excl = np.tile(prior, (n, 1))
    excl[np.arange(n), labels] = 0.0
    excl /= excl.sum(axis=1, keepdims=True)
    listener = np.where(same, labels, _sample_rows(rng_l, excl, np.arange(n)))
    if sess == 1:
        listener[0] = _E["disgust"]  # guarantees a Total Evaluation for the 'disqust' quirk
    rng_c = _rng(seed, sess, 2)
    cues = {}
    for m in ("audio", "text", "bio"):
        cues[m] = _sample_rows(rng_c, np.array(model["p_cue_given_label"][m]), labels)
    plan["label"] = [EMOTIONS[i] for i in labels]
    plan["listener_label"] = [EMOTIONS[i] for i in listener]
    for m in ("audio", "text", "bio"):
        plan[f"{m}_cue"] = [EMOTIONS[i] for i in cues[m]]

    speakers = {g: _make_speaker(_rng(seed, sess, 3, gi), g) for gi, g in enumerate(("F", "M"))}

    # media
    rng_a, rng_t = _rng(seed, sess, 4), _rng(seed, sess, 5)
    tag_only = None
    if quirks["tag_only_session"] == sess:
        tag_only = int(quirks["rng"].integers(n))
        manifest_quirks["tag_only_transcript"].append(plan.segment_id.iloc[tag_only])
    for i, r in enumerate(plan.itertuples(index=False)):
        folder = root / "wav" / sname / f"{sshort}_{r.dialogue}"
        folder.mkdir(parents=True, exist_ok=True)
        audio = render_audio(rng_a, r.audio_cue, r.end - r.start, speakers[r.speaker])
        write_wav(folder / f"{r.segment_id}.wav", audio)
        text = "b/" if i == tag_only else make_text(rng_t, r.text_cue)
        (folder / f"{r.segment_id}.txt").write_bytes((text + "\n").encode("utf-8"))

    # missing E4 block: a run of 3-4 consecutive utterances inside one dialogue, one participant
    e4_gap = None
    if quirks["missing_e4_session"] == sess:
        rng_q = quirks["rng"]
        d = plan.dialogue.iloc[int(rng_q.integers(n))]
        rows = np.flatnonzero(plan.dialogue.to_numpy() == d)
        run = int(rng_q.integers(3, 5))
        if len(rows) >= run + 2:
            first = rows[1 + int(rng_q.integers(len(rows) - run - 1))]
            sel = plan.iloc[first : first + run]
            g = quirks["missing_e4_gender"]
            e4_gap = (g, float(sel.abs_start.iloc[0]), float(sel.abs_end.iloc[-1]))
            manifest_quirks["missing_e4"].append(
                {"participant": f"{sshort}{g}", "signals": ["EDA", "TEMP"],
                 "segment_ids": sel.segment_id.tolist()}
            )

    # bio signals per participant and block (each block is its own recording: the counter restarts)
    all_starts = plan.abs_start.to_numpy()
    all_ends = plan.abs_end.to_numpy()
    tag_tab = np.array([("," + s).encode() for s in plan.segment_id])
    clock0_ms = int(rng_l.integers(9 * 3600, 11 * 3600)) * 1000
    bio_vals: dict[tuple[str, str], tuple[list[str], list[str]]] = {}
    counts = {"ECG": 0, "EDA": 0, "TEMP": 0}
    for gi, g in enumerate(("F", "M")):
        spk = speakers[g]
        rng_b = _rng(seed, sess, 6, gi)
        out = {k: {"el": [], "val": [], "t": [], "num": []} for k in ("ECG", "EDA", "TEMP")}
        for block in ("script", "impro"):
            bp = plan[plan.block == block]
            if bp.empty:
                continue
            own = bp[bp.speaker == g]
            os_, oe = own.abs_start.to_numpy(), own.abs_end.to_numpy()
            oc = own.bio_cue.tolist()
            for kind, rate_hz in (("ECG", fs), ("E4", E4_FS)):
                rec0 = float(bp.abs_start.min()) - float(np.round(rng_b.uniform(6, 15), 3))
                rec1 = float(bp.abs_end.max()) + rng_b.uniform(5, 15)
                k = np.arange(1, int((rec1 - rec0) * rate_hz) + 1)
                elapsed = k / rate_hz
                t = rec0 + elapsed
                if kind == "ECG":
                    beats = beat_times(rng_b, t[0] - 1.0, t[-1] + 1.0, os_, oe, oc, spk)
                    v = ecg_signal(rng_b, t, beats, spk, fs)
                    num = np.rint(v / ECG_STEP).astype(np.int64)
                    out["ECG"]["el"].append(elapsed)
                    out["ECG"]["t"].append(t)
                    out["ECG"]["num"].append(num)
                else:
                    eda = eda_signal(rng_b, t, os_, oe, oc, spk)
                    temp = temp_signal(rng_b, t, os_, oe, oc, spk)
                    eda_n = np.rint(eda * 1e6).astype(np.int64)
                    eda_n[0] = 0  # the E4 often logs 0.0 first
                    temp_n = np.rint(temp * 100).astype(np.int64)
                    keep = np.ones(len(t), bool)
                    if e4_gap is not None and e4_gap[0] == g:
                        keep = ~((t >= e4_gap[1]) & (t < e4_gap[2]))
                    for name, arr in (("EDA", eda_n), ("TEMP", temp_n)):
                        out[name]["el"].append(elapsed[keep])
                        out[name]["t"].append(t[keep])
                        out[name]["num"].append(arr[keep])
        for name in ("ECG", "EDA", "TEMP"):
            el = np.concatenate(out[name]["el"])
            t = np.concatenate(out[name]["t"])
            num = np.concatenate(out[name]["num"])
            if name == "ECG":
                vals = _ecg_strings(num)
            else:
                vals = _fixed(num, 6 if name == "EDA" else 2)
            j = np.searchsorted(all_starts, t, "right") - 1
            inside = (j >= 0) & (t < all_ends[np.clip(j, 0, None)])
            tags = np.where(inside, tag_tab[np.clip(j, 0, None)], b"")
            wall = clock0_ms + np.rint(t * 1000).astype(np.int64)
            path = root / name / sname / "Original" / f"{sshort}{g}.csv"
            path.parent.mkdir(parents=True, exist_ok=True)
            if quirks["header_only_bio"] == (sess, g, name):  # a failed export: the header line only
                with atomic_path(path) as tmp:
                    tmp.write_bytes(HEADER_ONLY_BIO)
                manifest_quirks["header_only_bio"].append(
                    {"participant": f"{sshort}{g}", "signal": name, "file": f"{name}/{sname}/Original/{path.name}",
                     "segment_ids": plan.segment_id[plan.speaker == g].tolist()}
                )
            else:
                _write_bio_file(path, name, el, vals, wall, tags)
                counts[name] += len(t)
            # values at each segment's first/last tagged sample (annotation columns 3-8)
            i0 = np.searchsorted(t, all_starts, "left")
            i1 = np.searchsorted(t, all_ends, "left") - 1
            has = i1 >= i0
            starts = [vals[a].decode() if h else "" for a, h in zip(i0, has)]
            ends = [vals[b].decode() if h else "" for b, h in zip(i1, has)]
            bio_vals[(g, name)] = (starts, ends)

    # annotation pair
    rng_r = _rng(seed, sess, 7)
    own_votes = rate(rng_r, labels)
    lis_votes = rate(rng_r, listener)
    mismatch_row = None
    if quirks["id_mismatch_session"] == sess:
        f_rows = np.flatnonzero(plan.speaker.to_numpy() == "F")
        if len(f_rows):
            mismatch_row = int(f_rows[int(quirks["rng"].integers(len(f_rows)))])
            r = plan.iloc[mismatch_row]
            wrong = f"{sshort}_{r.dialogue}_M{r.nnn:03d}"
            manifest_quirks["id_mismatch"].append(
                {"session": sname, "numb": int(r.numb), "f_file_id": wrong, "m_file_id": r.segment_id,
                 "true_id": r.segment_id}
            )
    totals = {}
    for g in ("F", "M"):
        lines = [",".join(HEADER1), ",".join(HEADER2)]
        tot = []
        for i, r in enumerate(plan.itertuples(index=False)):
            votes, val, aro = own_votes if r.speaker == g else lis_votes
            counts_i = np.bincount(votes[i], minlength=len(EMOTIONS))
            total = total_string(counts_i)
            tot.append(total)
            sid = r.segment_id
            if g == "F" and i == mismatch_row:
                sid = f"{sshort}_{r.dialogue}_M{r.nnn:03d}"
            cells = [str(r.numb), _num(r.start), _num(r.end)]
            for name in ("ECG", "EDA", "TEMP"):
                s_, e_ = bio_vals[(g, name)]
                cells += [s_[i], e_[i]]
            cells += [sid, total, _mean_str(val[i]), _mean_str(aro[i])]
            for j in range(N_RATERS):
                cells += [EMOTIONS[votes[i, j]], str(val[i, j]), str(aro[i, j])]
            lines.append(cells)
        totals[g] = (lines, tot)
    stats = {"utterances": n, "bio_rows": counts}
    return plan, {"totals": totals, "stats": stats}


def _num(x: float) -> str:
    return repr(round(float(x), 3))


UNUSED_FIELD_COLUMNS = {3: "ECG/start", 4: "ECG/end", 5: "E4-EDA/start", 6: "E4-EDA/end", 7: "E4-TEMP/start",
                        8: "E4-TEMP/end"}
UNUSED_FIELD_TEXTS = ["#VALUE!", "-"]  # what a spreadsheet export leaves in a cell


def _unused_field_text(annots: dict, seed: int) -> list[dict]:
    """Quirk ``unused_field_text``: two speaker rows (own file) get a non-numeric value in one of the
    unused ECG/E4-EDA/E4-TEMP start/end cells (a filled one). Edits ``annots`` in place and returns the
    records ``{file, numb, segment_id, index, column, value, replaces}``. Its own random stream
    (``[seed, 0, 8]``): no other stream, and no other byte of the dataset, changes."""
    rng = _rng(seed, 0, 8)
    cells = [(s, g, k, c) for s, tg in annots.items() for g in ("F", "M")
             for k, row in enumerate(tg[g][0][2:], start=2) if row[9][-4] == g
             for c in UNUSED_FIELD_COLUMNS if row[c]]
    records = []
    for j in sorted(rng.choice(len(cells), size=min(2, len(cells)), replace=False).tolist()):
        s, g, k, c = cells[j]
        row = annots[s][g][0][k]
        value = UNUSED_FIELD_TEXTS[int(rng.integers(len(UNUSED_FIELD_TEXTS)))]
        records.append({"file": f"annotation/Session{s:02d}_{g}_res.csv", "numb": int(row[0]), "segment_id": row[9],
                        "index": c, "column": UNUSED_FIELD_COLUMNS[c], "value": value, "replaces": row[c]})
        row[c] = value
    return records


def generate(root, synthetic: dict, manifest_path) -> dict:
    """Write the synthetic KEMDy19 dataset under ``root`` and its manifest (last) at ``manifest_path``.

    Deterministic for ``synthetic['seed']``: the same configuration gives byte-identical files.
    Returns the manifest.
    """
    t_start = time.time()
    cfg = resolve_config(synthetic)
    root = Path(root)
    preset = SYNTH_SIZES[cfg["size"]]
    dialogues = list(preset["dialogues"])
    n_sessions = cfg["n_sessions"]
    model = build_cue_model(cfg["cue_accuracy"], cfg["seed"])
    quirks = _choose_quirks(cfg["seed"], n_sessions)
    mq = {"missing_e4": [], "tag_only_transcript": [], "id_mismatch": [], "disqust": [], "header_only_bio": []}
    root.mkdir(parents=True, exist_ok=True)
    plans, annots = [], {}
    totals_counts = {"ECG": 0, "EDA": 0, "TEMP": 0}
    for sess in range(1, n_sessions + 1):
        plan, res = _session(root, cfg, sess, dialogues, model, quirks, mq)
        plan.insert(0, "session", f"Session{sess:02d}")
        plans.append(plan)
        annots[sess] = res["totals"]
        for k, v in res["stats"]["bio_rows"].items():
            totals_counts[k] += v
        log.info("session %02d: %d utterances", sess, len(plan))
    truth = pd.concat(plans, ignore_index=True)

    # a few 'disqust' typos in Total Evaluation (at least one in a speaker's own row when there is one)
    rng_q = quirks["rng"]
    cand = [(s, g, i) for s, tg in annots.items() for g in ("F", "M")
            for i, tot in enumerate(tg[g][1]) if "disgust" in tot]
    pick = [c for c in cand if rng_q.random() < 0.04] or [cand[int(rng_q.integers(len(cand)))]]
    # make sure the typo also lands in a speaker's own row, the one the reader uses
    own = [c for c in cand if annots[c[0]][c[1]][0][c[2] + 2][9][-4] == c[1]]
    if own and not any(c in own for c in pick):
        pick.append(own[int(rng_q.integers(len(own)))])
    for s, g, i in pick:
        row = annots[s][g][0][i + 2]
        row[10] = row[10].replace("disgust", "disqust")
        mq["disqust"].append(
            {"file": f"annotation/Session{s:02d}_{g}_res.csv", "numb": int(row[0]), "segment_id": row[9]}
        )

    # a non-numeric value in an unused annotation field (ECG/EDA/TEMP start/end) of two speaker rows
    mq["unused_field_text"] = _unused_field_text(annots, cfg["seed"])

    ann_dir = root / "annotation"
    ann_dir.mkdir(parents=True, exist_ok=True)
    n_rows = 0
    for s, tg in annots.items():
        for g in ("F", "M"):
            lines = tg[g][0]
            text = "\n".join(ln if isinstance(ln, str) else ",".join(ln) for ln in lines) + "\n"
            with atomic_path(ann_dir / f"Session{s:02d}_{g}_res.csv") as tmp:
                tmp.write_bytes(text.encode("ascii"))
            n_rows += len(lines) - 2

    truth_dir = root / "_truth"
    cues = truth[["segment_id", "label", "audio_cue", "text_cue", "bio_cue", "listener_label"]].copy()
    write_parquet(cues, truth_dir / "cues.parquet")
    write_json(model, truth_dir / "cue_model.json")
    write_json(mq["header_only_bio"], truth_dir / "header_only_bio.json")
    write_json(mq["unused_field_text"], truth_dir / "unused_field_text.json")

    n = len(truth)
    manifest = {
        "version": VERSION,
        "size": cfg["size"],
        "seed": cfg["seed"],
        "config": {k: cfg[k] for k in ("size", "seed", "n_sessions", "ecg_fs", "cue_accuracy")},
        "sessions": [f"Session{s:02d}" for s in range(1, n_sessions + 1)],
        "dialogues": dialogues,
        "counts": {
            "utterances": n,
            "utterances_by_speaker": {g: int((truth.speaker == g).sum()) for g in ("F", "M")},
            "annotation_files": 2 * n_sessions,
            "annotation_rows": n_rows,
            "wav_files": n,
            "txt_files": n,
            "bio_files": 6 * n_sessions,
            "bio_rows": totals_counts,
            "speech_seconds": round(float((truth.end - truth.start).sum()), 3),
        },
        "labels": {e: int((truth.label == e).sum()) for e in EMOTIONS},
        "quirks": mq,
        "truth": {"cues": "_truth/cues.parquet", "cue_model": "_truth/cue_model.json",
                  "header_only_bio": "_truth/header_only_bio.json",
                  "unused_field_text": "_truth/unused_field_text.json"},
    }
    write_json(manifest, manifest_path)
    log.info("synthetic KEMDy19 (%s, seed %d): %d utterances in %.1f s", cfg["size"], cfg["seed"], n,
             time.time() - t_start)
    return manifest
