#!/usr/bin/env python
"""Main job: ``snakemake --cores all results/table1.csv`` on the small synthetic default, from a clean
results/ folder, with the data generation included (results/ and resources/ removed) and excluded
(results/ removed, the generated data kept). The two variants alternate, ``--repeat`` times each.

Quality check: every run's Table 1 is kept (``quality``); the fused settings must beat the majority class by
``GOAL_OVER_MAJORITY`` (10 points of accuracy) and every run must give the same table.

Per-rule times come from Snakemake's benchmark files (every rule has one). The time spent outside rules
is the wall time minus the time during which at least one job was running
(job intervals = [benchmark file time - s, benchmark file time]): parsing, DAG building, scheduling and
file checks by Snakemake itself.

Usage:
    python bench/main_job.py --repeat 3
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import pandas as pd  # noqa: E402

import common  # noqa: E402

NAME = "small"
ARGS = ["--cores", "all", "results/table1.csv"]


FUSED = ("Audio+Text", "Audio+Text+Bio Signals")
GOAL_OVER_MAJORITY = 0.10  # issue: on the small default the fused settings beat the majority class by 10 points


def quality(dest: Path) -> dict:
    """Each setting's pooled accuracy, its 95% interval and the majority class's accuracy from the run's
    ``results/table1.csv`` (the run is deterministic: every repeat must give the same figures)."""
    table = pd.read_csv(dest / "results" / "table1.csv").set_index("setting")
    return {s: {"accuracy": round(float(r.accuracy), 4),
                "accuracy_ci": [round(float(r.accuracy_ci_low), 4), round(float(r.accuracy_ci_high), 4)],
                "majority_accuracy": round(float(r.majority_accuracy), 4),
                "over_majority": round(float(r.accuracy - r.majority_accuracy), 4),
                "f1_macro": round(float(r.f1_macro), 4)} for s, r in table.iterrows()}


def one(dest: Path, with_data: bool, label: str) -> dict:
    common.clean(dest, "results", "logs", "benchmarks")
    if with_data:
        common.clean(dest, "resources", ".snakemake")
    run = common.snakemake(dest, ARGS, label)
    jobs = run.jobs
    return {
        "quality": quality(dest),
        "wall_s": run.wall_s,
        "busy_s": run.busy_s,
        "outside_rules_s": run.outside_rules_s,
        "before_first_job_s": min(j["start"] for j in jobs) - run.t0,
        "after_last_job_s": run.t0 + run.wall_s - max(j["end"] for j in jobs),
        "sum_job_s": sum(j["s"] for j in jobs),
        "sum_cpu_s": common.cpu_sum(jobs),
        "n_jobs": len(jobs),
        "rules": common.per_rule(jobs),
        "max_rss_snakemake_tree_mb": run.max_rss_mb,
        "load_before": run.load_before,
        "load_after": common.loadavg(),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--budget-s", type=float, default=0,
                    help="start no new repeat after this many seconds (0: no limit)")
    args = ap.parse_args(argv)
    dest = common.copy_workflow(NAME, refresh=True)  # every run starts from scratch: always the current code
    runs = {"with_data": [], "without_data": []}
    t_start = time.time()
    out = {}
    for r in range(args.repeat):
        if r > 0 and args.budget_s and time.time() - t_start > args.budget_s:
            print(f"  time budget of {args.budget_s} s used: {r} repeat(s) of {args.repeat}", flush=True)
            break
        for key, with_data in (("with_data", True), ("without_data", False)):
            res = one(dest, with_data, f"main_{key}_{r}")
            runs[key].append(res)
            print(f"  {key} {r + 1}/{args.repeat}: {res['wall_s']:.1f} s, outside rules "
                  f"{res['outside_rules_s']:.1f} s, load {res['load_before']}", flush=True)
        out = summarise(runs, args.repeat)
        common.save("main_job", out)  # after every pair, so an interrupted series keeps what it measured
    print(json.dumps(out.get("summary", {}), indent=1)[:3000])
    return 0


def summarise(runs: dict, repeat: int) -> dict:
    n = min(len(v) for v in runs.values())
    runs = {k: v[:n] for k, v in runs.items()}
    med = common.median
    summary = {}
    for key, rs in runs.items():
        rules = sorted({k for r in rs for k in r["rules"]})
        summary[key] = {
            **{k: med([r[k] for r in rs])
               for k in ("wall_s", "outside_rules_s", "before_first_job_s", "sum_job_s", "sum_cpu_s")},
            "outside_share": med([r["outside_rules_s"] / r["wall_s"] for r in rs]),
            "loadavg_1min_before": [r["load_before"][0] for r in rs if r["load_before"]],
            "n_jobs": rs[0]["n_jobs"],
            "rules": {k: {
                "jobs": rs[0]["rules"].get(k, {}).get("jobs"),
                **{f: med([r["rules"][k][f] for r in rs if k in r["rules"]])
                   for f in ("s", "max_job_s", "cpu")},
                "max_rss": max(r["rules"][k]["max_rss"] for r in rs if k in r["rules"]),
            } for k in rules},
        }
    # same-run ratio: data generation's share, per repeat
    ratio = common.median_ratio([r["wall_s"] for r in runs["with_data"]],
                                [r["wall_s"] for r in runs["without_data"]])
    tables = [r["quality"] for rs in runs.values() for r in rs]
    fused = {s: tables[0][s]["over_majority"] for s in FUSED}
    summary["quality"] = {"table": tables[0], "identical_in_every_run": all(t == tables[0] for t in tables),
                          "fused_over_majority": fused, "goal_over_majority": GOAL_OVER_MAJORITY,
                          "goal_met": all(v >= GOAL_OVER_MAJORITY for v in fused.values())}
    return {"command": common.command_line(ARGS), "repeat": n, "repeat_requested": repeat, "runs": runs,
            "summary": summary, "with_over_without_median_ratio": ratio, "machine": common.machine()}


if __name__ == "__main__":
    sys.exit(main())
