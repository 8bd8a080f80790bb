#!/usr/bin/env python
"""Benchmark of the bio-signal feature extraction (ECG -> HRV, EDA -> bands, TEMP -> trend).

Times, in one run and over ``--repeat`` repeats (medians reported):

(a) ours      what a ``bio_features`` job runs (``emoflow.features.bio.extract``: ``read_participant`` +
              ``participant_features``, settings from config.yaml) for every participant file and signal
              (read once, R peaks once per recording, vectorised per-segment features);
(b) naive     the straightforward approach: for every segment re-read the raw file with pandas, take the
              rows tagged with the segment, ``neurokit2.ecg_process`` + ``neurokit2.hrv_time`` on that
              slice, and per-segment EDA periodogram / TEMP line fit. Run on ``--naive-segments``
              segments (spread over the files) and extrapolated per segment to all of them;
(c) parse     the bare cost of ``pandas.read_csv`` on the same raw files.

Goals: (b) / (a) >= 20 and (a) / (c) <= 3.

Data: any dataset in the KEMDy19 layout and its segments table, e.g. the workflow's synthetic data of any
size (``bench/run_all.py --only bio`` uses the full-size one of bench/full_size.py). Writes
``bench/results/bio_features.json`` (or ``--out``). Usage:
    python bench/bio_features.py --data-dir resources/synthetic/KEMDy19 --segments results/segments.parquet \\
        --repeat 3
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import shlex
import sys
import time
import warnings
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

sys.path.insert(0, str(common.ROOT / "workflow" / "src"))

import yaml  # noqa: E402

from emoflow.constants import BIO_SIGNALS  # noqa: E402
from emoflow.features.bio import extract, registry  # noqa: E402

SETTINGS = yaml.safe_load((common.ROOT / "config.yaml").read_text())["bio"]  # the default bio settings
NAMES = ["f0", "f1", "clock", "tag"]


def participants_of(segments: pd.DataFrame) -> list[str]:
    num = segments["session"].astype(str).str.replace("Session", "", regex=False)
    return sorted(set("Sess" + num + segments["speaker"].astype(str)))


def raw_files(data_dir: Path, participants: list[str]) -> dict[tuple[str, str], Path]:
    files = {}
    for p in participants:
        for s in BIO_SIGNALS:
            path = data_dir / registry.raw_relpath(s, p)
            if path.is_file():
                files[(s, p)] = path
    return files


# ------------------------------------------------------------------------------------------------ (a), (c)


def extract_ours(signal, participant, path, segments) -> pd.DataFrame:
    ids = extract.participant_segments(segments, participant)
    rec = extract.read_participant(path, signal, ids, SETTINGS[signal])
    timing = extract.session_timing(segments, participant)
    return extract.participant_features(signal, rec, ids, SETTINGS[signal], timing, SETTINGS.get("align"))


def run_ours(files, segments) -> tuple[float, dict]:
    t0 = time.perf_counter()
    n_ok = {s: 0 for s in BIO_SIGNALS}
    n_all = {s: 0 for s in BIO_SIGNALS}
    for (s, p), path in files.items():
        df = extract_ours(s, p, path, segments)
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


# ------------------------------------------------------------------------------------------------ main


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--data-dir", type=Path, required=True, help="dataset root in the KEMDy19 layout")
    ap.add_argument("--segments", type=Path, required=True, help="results/segments.parquet of that dataset")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--naive-segments", type=int, default=30,
                    help="segments timed for the naive approach (b), then extrapolated")
    ap.add_argument("--participants", nargs="*", help="limit to these participant files (e.g. Sess01F)")
    ap.add_argument("--out", type=Path, default=common.RESULTS / "bio_features.json", help="result JSON")
    args = ap.parse_args(argv)

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
    seg_small = segments[extract.SEGMENT_KEYS]
    picks = pick_naive(segments, participants, args.naive_segments)
    sizes = {s: sum(p.stat().st_size for (sig, _), p in files.items() if sig == s) for s in BIO_SIGNALS}

    # warm-up (imports, page cache), not timed
    run_parse(files)
    first = next(iter(files.items()))
    (signal, participant), path = first
    extract_ours(signal, participant, path, seg_small)
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

    ours, parse = common.median(t_ours), common.median(t_parse)
    naive_per_seg = common.median(t_naive) / len(picks)
    naive_total = naive_per_seg * n_segments
    # the command as typed from the repository root
    cmd = [common.rel(a) if not a.startswith("-") and Path(a).exists() else a for a in (argv or sys.argv[1:])]
    result = {
        "data_dir": common.rel(args.data_dir),
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
        "ours_over_parse_per_repeat_median": common.median_ratio(t_ours, t_parse),
        "goal_speedup_ge_20": naive_total / ours >= 20,
        "goal_within_3x_parse": ours / parse <= 3,
        "usable": counts.get("usable"),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "command": "python bench/bio_features.py " + " ".join(shlex.quote(a) for a in cmd),
        "loadavg_after": common.loadavg(),
    }
    print(f"(b)/(a) = {result['speedup_vs_naive']:.0f}x (goal >= 20x); (a)/(c) = "
          f"{result['ours_over_parse_per_repeat_median']:.2f}x (goal <= 3x)")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
