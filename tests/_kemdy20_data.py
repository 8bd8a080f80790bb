"""Builders of small KEMDy20 copies for the tests (the real format, made-up content).

``make_kemdy20(root, sessions)`` writes ``annotation/SessSS_eval.csv`` (two header rows whose empty cells are
a single space, 37 columns), ``wav/SessionSS/{id}.wav|.txt`` (CP949 transcripts) and, per user and script,
``EDA|TEMP/SessionSS/{file}.csv`` (``unix_start,ts`` / ``4.000000,hz`` header, rows ``value,ts[,SegID]``) and
``IBI/SessionSS/{file}.csv`` (``unix_start,IBI,ts`` header, rows ``t,ibi,ts[,SegID]``).
"""

from __future__ import annotations

import wave
from pathlib import Path

RATERS = ["Eval01F", "Eval02M", "Eval03M", "Eval04F", "Eval05M", "Eval06F", "Eval07F", "Eval08M", "Eval09F",
          "Eval10M"]
HEADER1 = ["Numb", "WAV", " ", "Segment ID", "Total Evaluation", " ", " "] + [c for r in RATERS for c in (r, " ", " ")]
HEADER2 = [" ", "start", "end", " ", "Emotion", "Valence", "Arousal"] + ["Emotion", "Valence", "Arousal"] * 10
assert len(HEADER1) == len(HEADER2) == 37

DATE = "2020-0821"
UNIX0 = 1598005414.0
T0 = 11 * 3600 + 23 * 60 + 34.0  # 11:23:34.000, the E4 start of every file
TEXT = "아 그래? 진짜 몰랐어."


def ts(seconds: float) -> str:
    """``YYYY-MMDD-HHMM-SS-mmm`` of a time in seconds since midnight of DATE."""
    ms = int(round(seconds * 1000))
    h, rest = divmod(ms, 3600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{DATE}-{h:02d}{m:02d}-{s:02d}-{ms:03d}"


def utt(segment_id, emotion="neutral", start=None, duration=3.0, text=TEXT, valence=3.0, arousal=3.0):
    return {"id": segment_id, "emotion": emotion, "start": start, "duration": duration, "text": text,
            "valence": valence, "arousal": arousal}


def annotation_rows(utts) -> list[list[str]]:
    rows = [list(HEADER1), list(HEADER2)]
    t = 1.0
    for k, u in enumerate(utts, start=1):
        start = t if u["start"] is None else u["start"]
        rows.append([str(k), f"{start:.6f}", f"{start + u['duration']:.6f}", u["id"], u["emotion"],
                     f"{u['valence']:g}", f"{u['arousal']:g}"] + ["neutral", "3", "3"] * 10)
        t = start + u["duration"] + 0.5
    return rows


def write_lines(path: Path, lines: list[str], newline: str = "\n", encoding: str = "utf-8") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes((newline.join(lines) + newline).encode(encoding))
    return path


def write_wav(path: Path, seconds: float = 0.2):
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes(b"\x00\x01" * int(16000 * seconds))


def sampled_file(path: Path, spans: list[tuple[str, float, float]], base: float, slope: float = 0.0,
                 seconds: float = 60.0, rate: float = 4.0, newline: str = "\n") -> Path:
    """An EDA/TEMP file: ``value,ts[,SegID]`` rows every 1/rate s from T0 for ``seconds``; rows inside a
    span (times relative to T0) carry its id."""
    lines = [f"{UNIX0:.6f},{ts(T0)}", f"{rate:.6f},hz"]
    n = int(seconds * rate)
    for i in range(n):
        t = (i + 1) / rate
        tag = next((sid for sid, a, b in spans if a <= t < b), None)
        cells = [f"{base + slope * t:.6f}", ts(T0 + t)] + ([tag] if tag else [])
        lines.append(",".join(cells))
    return write_lines(path, lines, newline)


def ibi_file(path: Path, beats: list[tuple[float, float]], spans: list[tuple[str, float, float]],
             newline: str = "\n") -> Path:
    """An IBI file: one row per beat ``(t since T0, interval s)``; beats inside a span carry its id."""
    lines = [f"{UNIX0:.6f},IBI,{ts(T0)}"]
    for t, ibi in beats:
        tag = next((sid for sid, a, b in spans if a <= t < b), None)
        lines.append(",".join([f"{t:.6f}", f"{ibi:.6f}", ts(T0 + t)] + ([tag] if tag else [])))
    return write_lines(path, lines, newline)


def regular_beats(seconds: float, ibi: float = 0.75) -> list[tuple[float, float]]:
    n = int(seconds / ibi)
    return [(ibi * (k + 1), ibi) for k in range(n)]


def make_kemdy20(root: Path, sessions: dict[str, list[dict]], newline: str = "\r\n", bio: bool = True) -> Path:
    """A KEMDy20 copy: ``sessions`` maps ``"01"`` to its utterances (``utt``); every utterance gets a wav,
    a CP949 transcript and, per user and script, EDA/TEMP/IBI files tagged with that user's own segments
    (the wav times of the annotation, relative to the E4 start)."""
    root = Path(root)
    for ss, utts in sessions.items():
        rows = annotation_rows(utts)
        write_lines(root / "annotation" / f"Sess{ss}_eval.csv", [",".join(r) for r in rows], newline)
        folder = root / "wav" / f"Session{ss}"
        files: dict[str, list[tuple[str, float, float]]] = {}
        for r in rows[2:]:
            sid, start, end = r[3], float(r[1]), float(r[2])
            write_wav(folder / f"{sid}.wav")
            u = next(x for x in utts if x["id"] == sid)
            write_lines(folder / f"{sid}.txt", [u["text"]], "\n", "cp949")
            files.setdefault(sid.rsplit("_", 1)[0], []).append((sid, start, end))
        if not bio:
            continue
        for key, spans in files.items():
            sampled_file(root / "EDA" / f"Session{ss}" / f"{key}.csv", spans, base=2.0, slope=0.01)
            sampled_file(root / "TEMP" / f"Session{ss}" / f"{key}.csv", spans, base=33.0, slope=0.002)
            ibi_file(root / "IBI" / f"Session{ss}" / f"{key}.csv", regular_beats(60.0), spans)
    return root
