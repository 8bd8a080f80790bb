#!/usr/bin/env python
"""Training jobs in the workflow: torch threads per job, before and after.

In the small-default copy used by bench/main_job.py (its data and features must exist), the three
``train`` jobs are forced again, with training bounded to a few epochs (``bench_train.yaml``), under:

  threads2  ``--set-threads train=2``: two torch threads per job, one job at a time on 2 cores (the rule's
            setting before; OpenMP's passive wait policy, which workflow/rules/common.smk sets)
  threads1  as configured, ``threads: 1``: two training jobs run side by side on 2 cores

The variants alternate, ``--repeat`` times. Reported: wall time of the three jobs and each job's time.

Usage:
    python bench/train_threads.py --repeat 1
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

TARGETS = [f"results/models/{m}/fold0/seed0/model.safetensors" for m in ("bio", "audio", "text")]
EPOCHS = {"bio": 10, "audio": 3, "text": 5}
VARIANTS = {"threads2": ["--set-threads", "train=2"], "threads1": []}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeat", type=int, default=1)
    args = ap.parse_args(argv)
    dest = common.WORK / "small"
    if not (dest / "results" / "features" / "audio.npy").exists():
        raise SystemExit(f"{dest} has no features: run bench/main_job.py first")
    (dest / "bench_train.yaml").write_text(
        "# written by bench/train_threads.py: training bounded for benchmarking\n"
        + "".join(f"{m}:\n  epochs: {e}\n" for m, e in EPOCHS.items()))
    res = {k: [] for k in VARIANTS}
    cmds = {}
    for r in range(args.repeat):
        for k, extra in VARIANTS.items():
            a = [*TARGETS, "--cores", "2", "--forcerun", "train", *extra, "--configfile", "bench_train.yaml"]
            run = common.snakemake(dest, a, f"train_{k}_{r}", rules=["train"])
            jobs = {j["job"].split("/")[1]: {"s": j["s"], "cpu": j["cpu_time"]} for j in run.jobs}
            res[k].append({"wall_s": run.wall_s, "jobs_running_s": run.busy_s, "load_before": run.load_before,
                           "jobs": jobs})
            cmds[k] = common.command_line(a)
            print(f"  {k}: {run.wall_s:.1f} s wall, training jobs running {run.busy_s:.1f} s; "
                  + ", ".join(f"{m} {d['s']:.1f} s" for m, d in jobs.items()), flush=True)
    out = {"repeat": args.repeat, "epochs": EPOCHS, "commands": cmds, "runs": res,
           "median_jobs_running_s": {k: common.median([x["jobs_running_s"] for x in v])
                                     for k, v in res.items()},
           "median_job_s": {k: {m: common.median([x["jobs"][m]["s"] for x in v if m in x["jobs"]])
                                for m in EPOCHS} for k, v in res.items()},
           "load": common.loadavg()}
    common.save("train_threads", out)
    print(out["median_jobs_running_s"], out["median_job_s"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
