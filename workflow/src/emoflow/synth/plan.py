"""The structure of a session: dialogues in recording order, turns, speakers and times."""

from __future__ import annotations

from typing import Callable

import numpy as np

from .model import Dialogue, Utterance

SegmentIdFn = Callable[[int, str, str, int], str]


def kemdy19_segment_id(session: int, dialogue: str, speaker: str, nnn: int) -> str:
    """``Sess01_script01_M001``: the speaker's utterances counted per dialogue."""
    return f"Sess{session:02d}_{dialogue}_{speaker}{nnn:03d}"


def _speakers(rng: np.random.Generator, n: int, pair: tuple[str, str]) -> list[str]:
    """Turn-taking between the two participant keys: alternating, the same speaker again in 20 % of
    turns, both present."""
    a, b = pair
    other = {a: b, b: a}
    spk = [a if rng.random() < 0.5 else b]
    for _ in range(1, n):
        spk.append(spk[-1] if rng.random() < 0.2 else other[spk[-1]])
    if len(set(spk)) < 2:
        spk[-1] = other[spk[0]]
    return spk


def _dialogue(rng, session: int, name: str, block: str, t0: float, preset: dict, numb0: int,
              segment_id: SegmentIdFn, pair: tuple[str, str]) -> tuple[Dialogue, float]:
    """One dialogue's utterances (contiguous segments from a short lead-in); returns it and its length."""
    lo, hi = preset["utterances_per_dialogue"]
    med, dmin, dmax, sigma = preset["duration_s"]
    n = int(rng.integers(lo, hi + 1))
    spk = _speakers(rng, n, pair)
    dur = np.clip(np.exp(rng.normal(np.log(med), sigma, n)), dmin, dmax)
    start0 = float(np.round(rng.uniform(1.5, 8.0), 3))
    bounds = np.round(start0 + np.concatenate([[0.0], np.cumsum(dur)]), 3)
    counters = dict.fromkeys(pair, 0)
    dlg = Dialogue(name=name, block=block, t0=t0)
    for i in range(n):
        g = spk[i]
        counters[g] += 1
        dlg.utterances.append(Utterance(
            numb=numb0 + i, segment_id=segment_id(session, name, g, counters[g]), dialogue=name, block=block,
            speaker=g, nnn=counters[g], start=float(bounds[i]), end=float(bounds[i + 1]), dialogue_t0=t0))
    return dlg, float(bounds[-1])


def plan_session(rng: np.random.Generator, session: int, dialogues: list[str], preset: dict,
                 segment_id: SegmentIdFn = kemdy19_segment_id, pair: tuple[str, str] = ("M", "F")) -> list[Dialogue]:
    """Dialogues of one session in recording order; scripts and improvisations are two recordings hours
    apart, the dialogues inside a block follow each other after a short pause. ``pair``: the two
    participant keys (the first speaker is ``pair[0]`` with probability 1/2)."""
    out: list[Dialogue] = []
    abs_t = 0.0
    block_prev = None
    numb = 1
    for name in dialogues:
        block = "impro" if name.startswith("impro") else "script"
        if block_prev is None:
            abs_t = float(np.round(rng.uniform(15, 30), 3))
        elif block != block_prev:
            abs_t += float(np.round(rng.uniform(2 * 3600, 4 * 3600), 3))  # a new recording later that day
        else:
            abs_t += float(np.round(rng.uniform(15, 45), 3))
        block_prev = block
        dlg, length = _dialogue(rng, session, name, block, abs_t, preset, numb, segment_id, pair)
        out.append(dlg)
        numb += len(dlg.utterances)
        abs_t += length + float(np.round(rng.uniform(0.5, 2.0), 3))
    return out
