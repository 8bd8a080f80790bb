#!/usr/bin/env python
"""Main job: ``snakemake --cores all results/table1.csv`` on the small synthetic default, from a clean
results/ folder, with the data generation included (results/ and resources/ removed) and excluded
(results/ removed, the generated data kept). The two variants alternate, ``--repeat`` times each.

Per-rule times come from Snakemake's benchmark files; the copy of the workflow used here adds a benchmark
file to the few rules that have none (bench/common.py INSTRUMENT), so every job's duration is known. The
time spent outside rules is the wall time minus the time during which at least one job was running
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
import common  # noqa: E402

NAME = "small"
ARGS = ["--cores", "all", "results/table1.csv"]


def one(dest: Path, with_data: bool, label: str) -> dict:
    common.clean(dest, "results", "logs", "benchmarks")
    if with_data:
        common.clean(dest, "resources", ".snakemake")
    load0 = common.loadavg()
    run = common.snakemake(dest, ARGS, label)
    jobs = common.read_benchmarks(dest)
    busy = common.union_length([(j["start"], j["end"]) for j in jobs], run.t0, run.t0 + run.wall_s)
    first_start = min(j["start"] for j in jobs) - run.t0
    last_end = run.t0 + run.wall_s - max(j["end"] for j in jobs)
    return {
        "wall_s": run.wall_s,
        "busy_s": busy,
        "outside_rules_s": run.wall_s - busy,
        "before_first_job_s": first_start,
        "after_last_job_s": last_end,
        "sum_job_s": sum(j["s"] for j in jobs),
        "sum_cpu_s": sum(j["cpu_time"] for j in jobs if j["cpu_time"] == j["cpu_time"]),
        "n_jobs": len(jobs),
        "rules": common.per_rule(jobs),
        "max_rss_snakemake_tree_mb": run.max_rss_mb,
        "load_before": load0,
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
    runs = {k: v for k, v in runs.items()}
    n = min(len(v) for v in runs.values())
    runs = {k: v[:n] for k, v in runs.items()}
    summary = {}
    for key, rs in runs.items():
        rules = sorted({k for r in rs for k in r["rules"]})
        summary[key] = {
            "wall_s": common.median([r["wall_s"] for r in rs]),
            "outside_rules_s": common.median([r["outside_rules_s"] for r in rs]),
            "outside_share": common.median([r["outside_rules_s"] / r["wall_s"] for r in rs]),
            "before_first_job_s": common.median([r["before_first_job_s"] for r in rs]),
            "sum_job_s": common.median([r["sum_job_s"] for r in rs]),
            "sum_cpu_s": common.median([r["sum_cpu_s"] for r in rs]),
            "loadavg_1min_before": [r["load_before"][0] for r in rs if r["load_before"]],
            "n_jobs": rs[0]["n_jobs"],
            "rules": {k: {
                "jobs": rs[0]["rules"].get(k, {}).get("jobs"),
                "s": common.median([r["rules"][k]["s"] for r in rs if k in r["rules"]]),
                "max_job_s": common.median([r["rules"][k]["max_job_s"] for r in rs if k in r["rules"]]),
                "max_rss": max(r["rules"][k]["max_rss"] for r in rs if k in r["rules"]),
                "cpu": common.median([r["rules"][k]["cpu"] for r in rs if k in r["rules"]]),
            } for k in rules},
        }
    # same-run ratio: data generation's share, per repeat
    ratio = common.median([a["wall_s"] / b["wall_s"] for a, b in zip(runs["with_data"], runs["without_data"])])
    return {"command": common.command_line(ARGS), "repeat": n, "repeat_requested": repeat, "runs": runs,
            "summary": summary, "with_over_without_median_ratio": ratio, "machine": common.machine()}


if __name__ == "__main__":
    sys.exit(main())
