#!/usr/bin/env python
"""Benchmark of the bio-signal feature extraction (ECG -> HRV, EDA -> bands, TEMP -> trend).

Times, in one run and over ``--repeat`` repeats (medians reported):

(a) ours      ``emoflow.features.biosignals.extract_participant`` for every participant file and signal
              (read once, R peaks once per recording, vectorised per-segment features);
(b) naive     the straightforward approach: for every segment re-read the raw file with pandas, take the
              rows tagged with the segment, ``neurokit2.ecg_process`` + ``neurokit2.hrv_time`` on that
              slice, and per-segment EDA periodogram / TEMP line fit. Run on ``--naive-segments``
              segments (spread over the files) and extrapolated per segment to all of them;
(c) parse     the bare cost of ``pandas.read_csv`` on the same raw files.

Goals: (b) / (a) >= 20 and (a) / (c) <= 3.

Usage:
    python bench/bio_features.py --data-dir resources/synthetic/KEMDy19 --segments results/segments.parquet \\
        --repeat 3 --out bench/_work/bio_features.md
    python bench/bio_features.py --make-fixture bench/_work/bio_fixture   # one realistic session
    python bench/bio_features.py --data-dir bench/_work/bio_fixture --segments \\
        bench/_work/bio_fixture/segments.parquet --repeat 3 --out bench/_work/bio_features.json
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "workflow" / "src"))

from emoflow.constants import BIO_SIGNALS  # noqa: E402
from emoflow.features import biosignals  # noqa: E402

SETTINGS = {
    "ecg": {"fs": None, "clean_method": "neurokit", "min_beats": 3},
    "eda": {"band": [0.05, 5.0], "n_bands": 6, "detrend": "linear", "window": "hann", "min_samples": 4},
    "temp": {"min_samples": 2},
}
NAMES = ["f0", "f1", "clock", "tag"]


def participants_of(segments: pd.DataFrame) -> list[str]:
    num = segments["session"].astype(str).str.replace("Session", "", regex=False)
    return sorted(set("Sess" + num + segments["speaker"].astype(str)))


def raw_files(data_dir: Path, participants: list[str]) -> dict[tuple[str, str], Path]:
    files = {}
    for p in participants:
        for s in BIO_SIGNALS:
            path = data_dir / biosignals.bio_relpath(s, p)
            if path.is_file():
                files[(s, p)] = path
    return files


# ------------------------------------------------------------------------------------------------ (a), (c)


def run_ours(files, segments) -> tuple[float, dict]:
    t0 = time.perf_counter()
    n_ok = {s: 0 for s in BIO_SIGNALS}
    n_all = {s: 0 for s in BIO_SIGNALS}
    for (s, p), path in files.items():
        df = biosignals.extract_participant(s, p, [str(path)], segments, SETTINGS[s])
        n_ok[s] += int(df[f"{s}_ok"].sum())
        n_all[s] += len(df)
    return time.perf_counter() - t0, {"usable": n_ok, "segments": n_all}


def run_parse(files) -> tuple[float, int]:
    t0 = time.perf_counter()
    rows = 0
    for path in files.values():
        rows += len(pd.read_csv(path, header=None, names=NAMES))
    return time.perf_counter() - t0, rows


# ------------------------------------------------------------------------------------------------ (b)


def _slice(path, signal, sid):
    df = pd.read_csv(path, header=None, names=NAMES)  # re-read the whole file for this one segment
    seg = df[df["tag"] == sid]
    if signal == "ecg":
        return seg["f1"].to_numpy(float), seg["f0"].to_numpy(float), seg["clock"]
    return seg["f0"].to_numpy(float), seg["f1"].to_numpy(float), seg["clock"]


def naive_segment(files, participant, sid) -> dict:
    import neurokit2 as nk
    import scipy.signal

    out = {}
    path = files.get(("ecg", participant))
    if path is not None:
        x, el, _ = _slice(path, "ecg", sid)
        try:
            fs = 1.0 / np.median(np.diff(el))
            _, info = nk.ecg_process(x, sampling_rate=fs)
            hrv = nk.hrv_time(info["ECG_R_Peaks"], sampling_rate=fs)
            out["ecg_mean_nn"] = float(hrv["HRV_MeanNN"].iloc[0])
        except Exception:  # too short / no beats: the naive approach just loses the segment
            out["ecg_mean_nn"] = np.nan
    path = files.get(("eda", participant))
    if path is not None:
        x, el, _ = _slice(path, "eda", sid)
        if x.size >= 4:
            fs = 1.0 / np.median(np.diff(el))
            f, pxx = scipy.signal.periodogram(x, fs=fs, window="hann", detrend="linear", nfft=512)
            edges = np.geomspace(0.05, min(5.0, fs / 2), 7)
            out["eda_bands"] = [float(pxx[(f >= a) & (f < b)].sum()) for a, b in zip(edges[:-1], edges[1:])]
    path = files.get(("temp", participant))
    if path is not None:
        x, _, clock = _slice(path, "temp", sid)
        if x.size >= 2:
            t = pd.to_timedelta(clock).dt.total_seconds().to_numpy()
            slope, intercept = np.polyfit(t - t[0], x, 1)
            out["temp"] = (float(x.mean()), float(x.var()), float(slope), float(intercept))
    return out


def pick_naive(segments, participants, k, seed=0) -> list[tuple[str, str]]:
    num = segments["session"].astype(str).str.replace("Session", "", regex=False)
    owner = "Sess" + num + segments["speaker"].astype(str)
    pool = segments.assign(participant=owner)
    pool = pool[pool["participant"].isin(participants)]
    rng = np.random.default_rng(seed)
    idx = rng.choice(len(pool), size=min(k, len(pool)), replace=False)
    return list(zip(pool["participant"].iloc[idx], pool["segment_id"].iloc[idx]))


def run_naive(files, picks) -> float:
    t0 = time.perf_counter()
    for participant, sid in picks:
        naive_segment(files, participant, sid)
    return time.perf_counter() - t0


# ------------------------------------------------------------------------------------------------ fixture


def _clock_strings(sec: np.ndarray) -> np.ndarray:
    ms = np.round(sec * 1000).astype(np.int64) % (86400 * 1000)
    h, rem = np.divmod(ms, 3600 * 1000)
    m, rem = np.divmod(rem, 60 * 1000)
    s, f = np.divmod(rem, 1000)
    return np.array([f"{a:02d}:{b:02d}:{c:02d}.{d:03d}" for a, b, c, d in zip(h, m, s, f)])


def _write(path: Path, signal: str, value, elapsed, clock, tags, elapsed_fmt):
    cs = _clock_strings(clock)
    el = [elapsed_fmt % e for e in elapsed]
    val = ["%.6f" % v for v in value]
    first, second = (el, val) if signal == "ecg" else (val, el)
    lines = [f"{a},{b},{c},{t}\n" if t else f"{a},{b},{c}\n" for a, b, c, t in zip(first, second, cs, tags)]
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(lines))


def make_fixture(out: Path, minutes: float = 60.0, n_segments: int = 500, ecg_fs: int = 250, seed: int = 0):
    """One session (Session01, F and M files) of ``minutes`` of recording in two blocks with a counter
    reset and a 20-minute break, ~``n_segments`` tagged utterances of both speakers, and segments.parquet."""
    import neurokit2 as nk

    rng = np.random.default_rng(seed)
    half = minutes * 60 / 2
    block_starts = [10 * 3600 + 56 * 60 + 50.0, 10 * 3600 + 56 * 60 + 50.0 + half + 20 * 60]
    # utterances: alternating speakers, 1-12 s long, 0.2-3 s apart, in both blocks
    segs, k = [], {"F": 0, "M": 0}
    per_block = n_segments // 2
    for b, t0 in enumerate(block_starts):
        t = t0 + 5.0
        dialogue = "script01" if b == 0 else "impro01"
        for i in range(per_block):
            spk = "FM"[i % 2]
            dur = float(rng.uniform(1.0, 12.0)) * half / (per_block * 8.5)
            if t + dur > t0 + half - 5:
                break
            k[spk] += 1
            segs.append((f"Sess01_{dialogue}_{spk}{k[spk]:03d}", spk, t, t + dur))
            t += dur + float(rng.uniform(0.2, 3.0)) * half / (per_block * 8.5)
    seg_df = pd.DataFrame(
        {"segment_id": [s[0] for s in segs], "session": "Session01", "speaker": [s[1] for s in segs],
         "start": [s[2] for s in segs], "end": [s[3] for s in segs]}
    )
    for g, hr in (("F", 72), ("M", 64)):
        for signal, fs in (("ecg", ecg_fs), ("eda", 4), ("temp", 4)):
            vals, els, clocks = [], [], []
            for t0 in block_starts:
                n = int(half * fs)
                el = np.arange(1, n + 1) / fs
                if signal == "ecg":
                    beat = nk.ecg_simulate(duration=60, sampling_rate=fs, heart_rate=hr, method="simple",
                                           noise=0.01, random_state=seed)
                    v = np.resize(beat, n)
                elif signal == "eda":
                    v = 2 + 0.3 * np.sin(2 * np.pi * el / 300) + 0.02 * rng.normal(size=n)
                else:
                    v = np.round(33 + 0.5 * np.sin(2 * np.pi * el / 900), 2)
                vals.append(v)
                els.append(el)
                clocks.append(t0 + el)
            v, el, cl = np.concatenate(vals), np.concatenate(els), np.concatenate(clocks)
            tags = np.full(len(v), "", dtype=object)
            for sid, _, a, b in segs:
                i0, i1 = np.searchsorted(cl, [a, b])
                tags[i0:i1] = sid
            fmt = "%.3f" if signal == "ecg" else "%.2f"
            _write(out / biosignals.bio_relpath(signal, f"Sess01{g}"), signal, v, el, cl, tags, fmt)
    seg_df.to_parquet(out / "segments.parquet", index=False)
    return out


# ------------------------------------------------------------------------------------------------ main


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, help="dataset root in the KEMDy19 layout")
    ap.add_argument("--segments", type=Path, help="results/segments.parquet of that dataset")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--naive-segments", type=int, default=30,
                    help="segments timed for the naive approach (b), then extrapolated")
    ap.add_argument("--participants", nargs="*", help="limit to these participant files (e.g. Sess01F)")
    ap.add_argument("--out", type=Path, help="write the results here (.json or .md)")
    ap.add_argument("--make-fixture", type=Path, help="write one realistic session here and exit")
    ap.add_argument("--fixture-minutes", type=float, default=60.0)
    ap.add_argument("--fixture-segments", type=int, default=500)
    args = ap.parse_args(argv)

    if args.make_fixture:
        t = time.perf_counter()
        make_fixture(args.make_fixture, args.fixture_minutes, args.fixture_segments)
        print(f"fixture written to {args.make_fixture} in {time.perf_counter() - t:.1f} s")
        return 0
    if not args.data_dir or not args.segments:
        ap.error("--data-dir and --segments are required")

    logging.basicConfig(level=logging.ERROR)
    warnings.filterwarnings("ignore")
    segments = pd.read_parquet(args.segments)
    participants = args.participants or participants_of(segments)
    files = raw_files(args.data_dir, participants)
    if not files:
        ap.error(f"no raw bio files under {args.data_dir} for {len(participants)} participants")
    own = segments[
        ("Sess" + segments["session"].astype(str).str.replace("Session", "", regex=False)
         + segments["speaker"].astype(str)).isin(participants)
    ]
    n_segments = len(own)
    seg_small = segments[["segment_id", "session", "speaker"]]
    picks = pick_naive(segments, participants, args.naive_segments)
    sizes = {s: sum(p.stat().st_size for (sig, _), p in files.items() if sig == s) for s in BIO_SIGNALS}

    # warm-up (imports, page cache), not timed
    run_parse(files)
    first = next(iter(files.items()))
    (signal, participant), path = first
    biosignals.extract_participant(signal, participant, [str(path)], seg_small, SETTINGS[signal])
    naive_segment(files, *picks[0])

    t_ours, t_parse, t_naive = [], [], []
    counts, rows = {}, 0
    for r in range(args.repeat):
        t, counts = run_ours(files, seg_small)
        t_ours.append(t)
        t, rows = run_parse(files)
        t_parse.append(t)
        t_naive.append(run_naive(files, picks))
        print(f"repeat {r + 1}/{args.repeat}: ours {t_ours[-1]:.2f} s, parse {t_parse[-1]:.2f} s, "
              f"naive {t_naive[-1]:.2f} s for {len(picks)} segments", flush=True)

    ours, parse = statistics.median(t_ours), statistics.median(t_parse)
    naive_per_seg = statistics.median(t_naive) / len(picks)
    naive_total = naive_per_seg * n_segments
    result = {
        "data_dir": str(args.data_dir),
        "files": len(files),
        "participants": len(participants),
        "segments": n_segments,
        "raw_rows": rows,
        "raw_bytes": sizes,
        "repeat": args.repeat,
        "ours_s": ours,
        "ours_s_all": t_ours,
        "parse_s": parse,
        "parse_s_all": t_parse,
        "naive_segments_timed": len(picks),
        "naive_s_per_segment": naive_per_seg,
        "naive_s_extrapolated": naive_total,
        "speedup_vs_naive": naive_total / ours,
        "ours_over_parse": ours / parse,
        "ours_over_parse_per_repeat_median": statistics.median(a / c for a, c in zip(t_ours, t_parse)),
        "goal_speedup_ge_20": naive_total / ours >= 20,
        "goal_within_3x_parse": ours / parse <= 3,
        "usable": counts.get("usable"),
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    text = markdown(result)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        if args.out.suffix == ".json":
            args.out.write_text(json.dumps(result, indent=2) + "\n")
        else:
            args.out.write_text(text)
    return 0


def markdown(r: dict) -> str:
    mb = sum(r["raw_bytes"].values()) / 1e6
    return "\n".join([
        f"# Bio feature benchmark ({r['files']} raw files, {mb:.0f} MB, {r['raw_rows']:,} rows, "
        f"{r['segments']:,} segments; median of {r['repeat']})",
        "",
        "| approach | seconds | per segment (ms) |",
        "|---|---:|---:|",
        f"| (a) ours: read once, peaks once per recording, vectorised | {r['ours_s']:.2f} | "
        f"{1000 * r['ours_s'] / max(r['segments'], 1):.2f} |",
        f"| (b) naive: re-read + neurokit per segment (timed on {r['naive_segments_timed']}, extrapolated) | "
        f"{r['naive_s_extrapolated']:.1f} | {1000 * r['naive_s_per_segment']:.1f} |",
        f"| (c) bare pandas.read_csv of the raw files | {r['parse_s']:.2f} | |",
        "",
        f"- speed-up (b)/(a): {r['speedup_vs_naive']:.0f}x (goal >= 20x: "
        f"{'met' if r['goal_speedup_ge_20'] else 'NOT met'})",
        f"- (a)/(c): {r['ours_over_parse']:.2f}x the bare parse (goal <= 3x: "
        f"{'met' if r['goal_within_3x_parse'] else 'NOT met'}; median of the per-repeat ratios "
        f"{r['ours_over_parse_per_repeat_median']:.2f}x)",
        "",
    ])


if __name__ == "__main__":
    sys.exit(main())
