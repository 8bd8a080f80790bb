#!/usr/bin/env python
"""Scaling with data size: the bio and text feature stages (and the index they need) for 2, 5, 10 and 20
sessions of the full-size synthetic data.

The full-size data (20 sessions, generated once by bench/full_size.py) is reused: for N sessions a tree of
symbolic links holding the first N sessions is made under ``bench/_work/scale_data/S{N}`` and the workflow
copy ``bench/_work/scale{N}`` points ``data_dir`` at it (so it is read like a real KEMDy19 copy). Each size
runs from a clean results/ folder with ``--cores 2``; sizes are run in increasing order, ``--repeat`` times.
The SLURM executor plugin is not importable in these runs (it is installed beside .venv, not in it), so the
fixed start-up cost of its probe (see BENCHMARKS.md, section 2) does not enter the fits.

Reported: total wall time, per-stage job time (sum over the stage's jobs, from the benchmark files),
seconds per 1,000 segments, the least-squares line t = a + b * segments and the log-log slope (1 = linear).
A plot goes to bench/scaling.png.

Usage:
    python bench/scaling.py --sessions 2,5,10,20 --repeat 2
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

TARGETS = ["results/features/bio.parquet", "results/features/text/fold0.parquet"]
STAGES = {
    "index": ["index_segments"],
    "bio": ["bio_features", "gather_bio"],
    "text": ["build_text_backbone", "text_features"],
}
SOURCE = common.WORK / "full" / "resources" / "synthetic" / "KEMDy19"


def make_tree(n: int) -> Path:
    """A KEMDy19-layout tree with the first ``n`` sessions of the full-size data, as symbolic links."""
    if not (SOURCE / "annotation").is_dir():
        raise SystemExit(f"no full-size data in {SOURCE}: run bench/full_size.py --steps data first")
    root = common.WORK / "scale_data" / f"S{n}"
    sessions = [f"Session{i:02d}" for i in range(1, n + 1)]
    if root.exists():
        return root
    (root / "annotation").mkdir(parents=True)
    for s in sessions:
        for g in ("F", "M"):
            f = SOURCE / "annotation" / f"{s}_{g}_res.csv"
            (root / "annotation" / f.name).symlink_to(f)
        for folder in ("wav", "ECG", "EDA", "TEMP"):
            src = SOURCE / folder / s
            if src.exists():
                (root / folder).mkdir(exist_ok=True)
                (root / folder / s).symlink_to(src)
    return root


def one(n: int, label: str) -> dict:
    tree = make_tree(n)
    dest = common.copy_workflow(f"scale{n}")
    common.clean(dest, "results", "logs", "benchmarks")
    run = common.snakemake(dest, [*TARGETS, "--cores", "2", "--config", f"data_dir={tree}"], label)
    segs = len(pd.read_parquet(dest / "results" / "segments.parquet", columns=["segment_id"]))
    rules = common.per_rule(run.jobs)
    stages = {st: sum(rules[r]["s"] for r in rs if r in rules) for st, rs in STAGES.items()}
    shown = [*TARGETS, "--cores", "2", "--config", f"data_dir=<tree of {n} sessions>"]
    return {"sessions": n, "segments": segs, "wall_s": run.wall_s, "outside_rules_s": run.outside_rules_s,
            "stage_job_s": stages, "rules": rules, "load_before": run.load_before,
            "command": common.command_line(shown)}


def fit(x, y) -> dict:
    x, y = np.asarray(x, float), np.asarray(y, float)
    b, a = np.polyfit(x, y, 1)
    slope = np.polyfit(np.log(x), np.log(y), 1)[0]
    pred = a + b * x
    r2 = 1 - np.sum((y - pred) ** 2) / np.sum((y - y.mean()) ** 2) if len(x) > 2 else float("nan")
    return {"intercept_s": float(a), "s_per_1000_segments": float(1000 * b), "loglog_slope": float(slope),
            "r2": float(r2)}


def plot(table: pd.DataFrame, fits: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 3.6))
    x = table["segments"].to_numpy()
    xs = np.linspace(0, x.max() * 1.05, 50)
    for col, label, color in (("wall_s", "total wall time (2 cores)", "C0"),
                              ("bio_s", "bio jobs (sum of job times)", "C1"),
                              ("bio_cpu_s", "bio jobs (sum of CPU times)", "C4"),
                              ("text_s", "text jobs (sum)", "C2"), ("index_s", "index job", "C3")):
        ax.plot(x, table[col], "o", color=color, label=label)
        f = fits[col]
        line = f["intercept_s"] + f["s_per_1000_segments"] * xs / 1000
        ax.plot(xs, line, "-", color=color, lw=1, alpha=0.7)
    for xi, n in zip(x, table["sessions"]):
        ax.annotate(f"{n} sess.", (xi, 0), textcoords="offset points", xytext=(0, 4), fontsize=7, ha="center")
    ax.set_xlabel("segments")
    ax.set_ylabel("seconds (median)")
    ax.set_xlim(0, x.max() * 1.08)
    ax.set_ylim(bottom=0)
    ax.set_title("Bio + text feature stages vs data size (lines: least-squares fits)", fontsize=9)
    ax.legend(fontsize=7, loc="upper left")
    fig.tight_layout()
    fig.savefig(path, dpi=90, metadata={"Software": None})
    plt.close(fig)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sessions", default="2,5,10,20")
    ap.add_argument("--repeat", type=int, default=2)
    ap.add_argument("--replot", action="store_true", help="recompute table, fits and plot from bench/results")
    ap.add_argument("--plot", type=Path, default=common.ROOT / "bench" / "scaling.png")
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sessions.split(",")]
    if args.replot:  # recompute the table, fits and plot from the stored runs
        prev = common.load("scaling")
        runs, repeat, machine = prev["runs"], prev["repeat"], prev.get("machine")
        sizes = sorted({r["sessions"] for r in runs})
    else:
        repeat, machine = args.repeat, common.machine()
        runs = []
        for r in range(args.repeat):
            for n in sizes:
                res = one(n, f"scale_{r}")
                runs.append(res)
                print(f"  {n} sessions ({res['segments']} segments): {res['wall_s']:.1f} s; "
                      + ", ".join(f"{k} {v:.1f} s" for k, v in res["stage_job_s"].items()), flush=True)
    rows = []
    for n in sizes:
        rs = [r for r in runs if r["sessions"] == n]
        row = {"sessions": n, "segments": rs[0]["segments"],
               **{k: common.median([r[k] for r in rs]) for k in ("wall_s", "outside_rules_s")}}
        for st, names in STAGES.items():
            row[f"{st}_s"] = common.median([r["stage_job_s"][st] for r in rs])
            row[f"{st}_cpu_s"] = common.median([sum(r["rules"][x]["cpu"] for x in names if x in r["rules"])
                                                for r in rs])
        row["cpu_s"] = sum(row[f"{st}_cpu_s"] for st in STAGES)
        rows.append(row)
    table = pd.DataFrame(rows)
    fits = {c: fit(table["segments"], table[c])
            for c in ("wall_s", "bio_s", "text_s", "index_s", "cpu_s", "bio_cpu_s", "text_cpu_s")}
    plot(table, fits, args.plot)
    out = {"repeat": repeat, "table": rows, "fits": fits, "runs": runs, "command": runs[-1]["command"],
           "plot": str(args.plot.relative_to(common.ROOT)), "machine": machine}
    common.save("scaling", out)
    print(table.to_string())
    print(json.dumps(fits, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
