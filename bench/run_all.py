#!/usr/bin/env python
"""Run the benchmarks (all, or a subset) and write BENCHMARKS.md (``make bench``).

Sections (``--only`` takes a comma-separated list; default: all):

  main      wall time of ``snakemake --cores all results/table1.csv`` on the small default from a clean
            results/, with and without the data generation; per-rule times; time outside rules; then
            every fusion method on the models of that run (bench/fusion_methods.py)
  features  full-size feature extraction: per-modality throughput, peak memory, 1 vs 2 cores
  noop      full size: no-op rerun, dry-runs, snakemake start-up (builds the bounded-epoch table first)
  training  full size: training samples per second per model (bounded epochs), CPU; GPU if present;
            training steps in isolation (1/2 threads, OpenMP wait policy); the workflow's training jobs
            under those settings (small default; after main)
  bio       bio features: ours vs the naive per-segment approach vs bare CSV parsing
  scaling   bio + text stages for 2, 5, 10, 20 sessions; table and bench/scaling.png
  memory    nothing of its own: peak RSS per stage from the features/training/main results

Raw figures go to bench/results/*.json; then bench/render.py regenerates the tables of BENCHMARKS.md
from whatever is there (a subset run updates its tables and keeps the others). The prose of BENCHMARKS.md
is written by hand: after a new measurement, update the figures it quotes.
Work happens in bench/_work/ (git-ignored); the full-size
synthetic data (~2.3 GB) is generated there once and reused.

Usage:
    python bench/run_all.py                               # everything (about 1 h on 2 cores; more when busy)
    python bench/run_all.py --only noop,bio --repeat 5
    python bench/run_all.py --render-only                 # only regenerate the tables (bench/render.py)
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

SECTIONS = ["main", "features", "noop", "training", "bio", "scaling", "memory"]
BIO_PARTICIPANTS = ["Sess01F", "Sess01M", "Sess02F", "Sess02M"]


def run_bio(repeat: int, participants: list[str], naive_segments: int) -> None:
    import bio_features
    import full_size

    dest = common.copy_workflow("full")
    segments = dest / "results" / "segments.parquet"
    if not segments.exists():
        cfg = full_size.config_args(dest, 2)
        full_size.step_data(dest, cfg)
        common.snakemake(dest, ["results/segments.parquet", "--cores", "2", *cfg], "index_for_bio")
    bio_features.main(["--data-dir", str(dest / "resources" / "synthetic" / "KEMDy19"), "--segments",
                       str(segments), "--repeat", str(repeat), "--naive-segments", str(naive_segments),
                       *(["--participants", *participants] if participants else [])])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--only", default=",".join(SECTIONS),
                    help=f"comma-separated subset of {','.join(SECTIONS)}")
    ap.add_argument("--repeat", type=int, default=3, help="repeats per measurement (medians are reported)")
    ap.add_argument("--main-repeat", type=int, help="repeats of the main job (default: --repeat)")
    ap.add_argument("--main-budget-s", type=float, default=1800,
                    help="main job: start no new repeat after this many seconds (0: no limit)")
    ap.add_argument("--train-repeat", type=int,
                    help="repeats of the in-process training-step timing (default: --repeat)")
    ap.add_argument("--full-train-repeat", type=int, default=0,
                    help="times the full-size training jobs are forced again (0: use the table build's)")
    ap.add_argument("--cores-repeat", type=int, default=2, help="repeats of the full-size 1-vs-2-core runs")
    ap.add_argument("--train-threads-repeat", type=int, default=1,
                    help="repeats of the workflow training jobs under the thread/wait-policy variants")
    ap.add_argument("--scaling-repeat", type=int, default=2, help="repeats of the scaling series")
    ap.add_argument("--sessions", default="2,5,10,20", help="session counts of the scaling series")
    ap.add_argument("--epochs", type=int, default=2, help="training epochs at full size")
    ap.add_argument("--bio-participants", default=",".join(BIO_PARTICIPANTS),
                    help="participant files of the bio comparison ('all' = every file)")
    ap.add_argument("--naive-segments", type=int, default=30)
    ap.add_argument("--reuse-scratch", action="store_true",
                    help="features: reuse the last from-scratch full-size feature build")
    ap.add_argument("--refresh", action="store_true",
                    help="full size: copy the current workflow again (its results are then rebuilt)")
    ap.add_argument("--render-only", action="store_true")
    ap.add_argument("--out", type=Path, default=common.ROOT / "BENCHMARKS.md")
    args = ap.parse_args(argv)
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(only) - set(SECTIONS)
    if unknown:
        ap.error(f"unknown section(s) {', '.join(sorted(unknown))}; choose from {', '.join(SECTIONS)}")

    if not args.render_only:
        t0 = time.time()
        log = {"started": time.strftime("%Y-%m-%d %H:%M:%S"), "sections": only,
               "loadavg_start": common.loadavg()}
        full_steps = [s for s in ("features", "noop", "training") if s in only]
        if full_steps:
            import full_size

            fs_args = ["--steps", ",".join(["data", *full_steps]), "--repeat", str(args.repeat),
                       "--epochs", str(args.epochs), "--cores-repeat", str(args.cores_repeat),
                       "--train-repeat", str(args.full_train_repeat)]
            if args.reuse_scratch:
                fs_args.append("--reuse-scratch")
            if args.refresh:
                fs_args.append("--refresh")
            full_size.main(fs_args)
        if "training" in only:
            import training

            training.main(["--repeat", str(args.train_repeat or args.repeat)])
        if "bio" in only:
            parts = [] if args.bio_participants == "all" else args.bio_participants.split(",")
            run_bio(args.repeat, parts, args.naive_segments)
        if "scaling" in only:
            import scaling

            scaling.main(["--sessions", args.sessions, "--repeat", str(args.scaling_repeat)])
        if "main" in only:  # last: the longest and the most exposed to other load on the machine
            import main_job

            main_job.main(["--repeat", str(args.main_repeat or args.repeat),
                           "--budget-s", str(args.main_budget_s)])
        if "main" in only:  # every fusion method on the main job's models
            import fusion_methods

            fusion_methods.main([])
        if "training" in only:  # needs the small copy's features, made by the main job
            import train_threads

            if (common.WORK / "small" / "results" / "features" / "audio.npy").exists():
                train_threads.main(["--repeat", str(args.train_threads_repeat)])
            else:
                print("train_threads skipped: run --only main first", flush=True)
        log.update({"finished": time.strftime("%Y-%m-%d %H:%M:%S"), "wall_s": time.time() - t0,
                    "loadavg_end": common.loadavg()})
        prev = common.load("sessions") or {"runs": []}
        prev["runs"] = (prev["runs"] + [log])[-20:]
        common.save("sessions", prev)

    import render

    return render.main([str(args.out)])


if __name__ == "__main__":
    sys.exit(main())
