#!/usr/bin/env python
"""Benchmarks on the full-size synthetic dataset (KEMDy19 scale: 20 sessions, ~10,000 segments).

All in the workflow copy ``bench/_work/full`` with ``bench/full.yaml`` (size full; training bounded to
``--epochs`` epochs so that the whole table can be built for the no-op rerun). Steps:

data       generate the full-size synthetic data once (reused by every later call)
features   index + bio/text/audio features from scratch with --cores 2: per-rule times, throughput
           (segments per second) and peak memory of every job; then the bio and audio stages forced again
           with --cores 1 and --cores 2, interleaved (``--cores-repeat`` times), for the 1-vs-2-core scaling
table      everything up to results/table1.csv (trains the three models for the bounded epochs)
noop       no-op rerun of results/table1.csv, dry-run (-n) with everything up to date, and a dry-run that
           plans every job (-n --forceall); ``--repeat`` times each, interleaved; plus the bare start-up
           cost of the snakemake command (``snakemake --version``)
training   the three training jobs forced again ``--repeat`` times: samples per second per epoch
           (curve.csv) and the whole job (benchmark TSV)

Usage:
    python bench/full_size.py --steps data,features,table,noop,training --repeat 3
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
import common  # noqa: E402

NAME = "full"
TARGETS_FEATURES = ["results/features/bio.parquet", "results/features/text/fold0.parquet",
                    "results/features/audio.npy", "results/qc/features.tsv"]
STAGES = {  # stage -> (target, rules forced)
    "bio": ("results/features/bio.parquet", ["bio_features", "gather_bio"]),
    "text": ("results/features/text/fold0.parquet", ["build_text_backbone", "text_features"]),
    "audio": ("results/features/audio.npy", ["audio_features", "gather_audio"]),
}
MODALITY_RULES = {"bio": ["bio_features"], "text": ["text_features"], "audio": ["audio_features"]}


def config_args(dest: Path, epochs: int) -> list[str]:
    cfg = dest / "bench_full.yaml"
    cfg.write_text(
        "# written by bench/full_size.py: full-size synthetic data, training bounded for benchmarking\n"
        "synthetic:\n  size: full\n"
        "seeds: [0]\n"
        + "".join(f"{m}:\n  epochs: {epochs}\n" for m in ("bio", "audio", "text"))
    )
    return ["--configfile", "bench_full.yaml"]


def n_segments(dest: Path) -> int:
    return len(pd.read_parquet(dest / "results" / "segments.parquet", columns=["segment_id"]))


def snapshot_benchmarks(dest: Path, label: str) -> list[dict]:
    jobs = common.read_benchmarks(dest)
    (dest / "_runs" / f"benchmarks_{label}.json").write_text(json.dumps(jobs))
    return jobs


# ------------------------------------------------------------------------------------------------ steps
def step_data(dest: Path, cfg: list[str]) -> dict:
    args = ["resources/synthetic/KEMDy19.manifest.json", "--cores", "2", *cfg]
    out = {"reused": (dest / "resources" / "synthetic" / "KEMDy19.manifest.json").exists(),
           "command": common.command_line(args)}
    if not out["reused"]:
        out["wall_s"] = common.snakemake(dest, args, "data").wall_s
    jobs = [j for j in common.read_benchmarks(dest) if j["rule"] == "synth_data"]
    out.update(synth_data_s=jobs[0]["s"] if jobs else None, max_rss_mb=jobs[0]["max_rss"] if jobs else None,
               bytes=sum(p.stat().st_size for p in (dest / "resources").rglob("*") if p.is_file()))
    return out


def step_features(dest: Path, cfg: list[str], cores_repeat: int = 1, reuse: bool = False,
                  cores_stages: tuple = ("bio", "audio")) -> dict:
    """From-scratch feature build (2 cores), then per-stage 1-vs-2-core runs."""
    args = [*TARGETS_FEATURES, "--cores", "2", *cfg]
    meta = dest / "_runs" / "features_scratch.meta.json"
    if reuse and meta.exists():
        m = json.loads(meta.read_text())
        jobs = json.loads((dest / "_runs" / "benchmarks_features_scratch.json").read_text())
    else:
        common.clean(dest, "results", "logs")
        if (dest / "benchmarks").is_dir():  # all but the data generation's (read by step_data)
            common.clean(dest / "benchmarks",
                         *(p.name for p in (dest / "benchmarks").iterdir() if p.stem != "synth_data"))
        run = common.snakemake(dest, args, "features_scratch")
        jobs = snapshot_benchmarks(dest, "features_scratch")
        m = {"wall_s": run.wall_s, "t0": run.t0, "max_rss_mb": run.max_rss_mb, "load_before": run.load_before}
        meta.write_text(json.dumps(m))
    n = n_segments(dest)
    rules = common.per_rule(jobs)
    busy = common.union_length([(j["start"], j["end"]) for j in jobs], m["t0"], m["t0"] + m["wall_s"])
    out = {"command": common.command_line(args), "segments": n, "wall_s": m["wall_s"],
           "outside_rules_s": m["wall_s"] - busy, "load_before": m.get("load_before", []),
           "load_after": common.loadavg(), "rules": rules, "throughput": {}, "cores": {}}
    for mod, rs in MODALITY_RULES.items():
        job_s = sum(rules[r]["s"] for r in rs if r in rules)
        cpu_s = sum(rules[r]["cpu"] for r in rs if r in rules)
        stage = common.union_length([(j["start"], j["end"]) for j in jobs if j["rule"] in rs])
        out["throughput"][mod] = {
            "sum_cpu_s": cpu_s, "segments_per_cpu_s": n / cpu_s if cpu_s else None,
            "jobs": sum(rules[r]["jobs"] for r in rs if r in rules),
            "sum_job_s": job_s, "segments_per_s_per_core": n / job_s if job_s else None,
            "stage_wall_s": stage, "segments_per_s_stage": n / stage,
        }

    # 1 vs 2 cores, per stage, interleaved
    runs = {(st, c): [] for st in cores_stages for c in (1, 2)}
    cmds = {}
    for r in range(cores_repeat):
        for stage in cores_stages:
            target, force = STAGES[stage]
            for cores in (1, 2):
                # --forcerun takes several values: the target goes first so it is not read as one of them
                a = [target, "--cores", str(cores), "--forcerun", *force, *cfg]
                run = common.snakemake(dest, a, f"cores{cores}_{stage}_{r}", rules=force)
                runs[stage, cores].append(run)
                cmds[stage, cores] = common.command_line(a)
                print(f"  {stage} --cores {cores}: {run.wall_s:.1f} s wall, jobs busy {run.busy_s:.1f} s",
                      flush=True)
    for stage in cores_stages:
        d = {}
        for c in (1, 2):
            rs = runs[stage, c]
            d.update({f"cores{c}_s": [x.wall_s for x in rs], f"busy{c}_s": [x.busy_s for x in rs],
                      f"cpu{c}_s": [common.cpu_sum(x.jobs) for x in rs]})
            d.update({f"median_busy{c}_s": common.median(d[f"busy{c}_s"]),
                      f"median_cores{c}_s": common.median(d[f"cores{c}_s"]),
                      f"command_cores{c}": cmds[stage, c]})
            d[f"segments_per_s_cores{c}"] = n / d[f"median_cores{c}_s"]
        d["speedup_busy_median_of_ratios"] = common.median_ratio(d["busy1_s"], d["busy2_s"])
        d["speedup_median_of_ratios"] = common.median_ratio(d["cores1_s"], d["cores2_s"])
        d["load"] = common.loadavg()
        out["cores"][stage] = d
    out["per_signal"] = common.per_rule([j for j in jobs if j["rule"] == "bio_features"],
                                        key=lambda j: j["job"].split("/")[1])
    out["import_cost"] = import_cost(3)
    return out


def import_cost(repeat: int) -> dict:
    """Wall and CPU seconds of a fresh interpreter importing what one bio_features job imports: the
    script's own imports (read from workflow/scripts/bio_features.py) and the signal's module."""
    import ast
    import resource

    script = ast.parse((common.ROOT / "workflow" / "scripts" / "bio_features.py").read_text())
    imports = "\n".join(ast.unparse(n) for n in script.body if isinstance(n, (ast.Import, ast.ImportFrom)))
    code = ("import sys, importlib\nsys.path.insert(0, 'workflow/src')\nimport snakemake.script\n" + imports
            + "\nimportlib.import_module('emoflow.features.bio.{sig}')")
    out = {}
    for sig in ("ecg", "eda", "temp"):
        walls, cpus = [], []
        for _ in range(repeat):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t = time.perf_counter()
            subprocess.run([common.PYTHON, "-c", code.format(sig=sig)], cwd=common.ROOT,
                           check=True, capture_output=True)
            walls.append(time.perf_counter() - t)
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpus.append(after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime)
        out[sig] = {"wall_s": common.median(walls), "cpu_s": common.median(cpus)}
    return out


def step_table(dest: Path, cfg: list[str]) -> dict:
    args = ["results/table1.csv", "--cores", "2", *cfg]
    run = common.snakemake(dest, args, "table")
    jobs = snapshot_benchmarks(dest, "table")
    return {"command": common.command_line(args), "wall_s": run.wall_s, "rules": common.per_rule(jobs)}


def step_noop(dest: Path, cfg: list[str], repeat: int) -> dict:
    # make sure everything is up to date first (builds what is missing)
    common.snakemake(dest, ["results/table1.csv", "--cores", "2", *cfg], "noop_prepare")
    variants = {
        "noop": ["results/table1.csv", "--cores", "2", *cfg],
        "dryrun": ["results/table1.csv", "--cores", "2", "-n", *cfg],
        "dryrun_forceall": ["results/table1.csv", "--cores", "2", "-n", "--forceall", *cfg],
        "version": ["--version"],
    }
    # the same commands with the SLURM executor plugin importable, as on a cluster submission host
    # (`make setup-cluster`); on this machine the SLURM client is installed but no controller answers
    variants.update({f"{k}_plugin": a for k, a in list(variants.items())})
    times = {k: [] for k in variants}
    rss = {k: [] for k in variants}
    for r in range(repeat):
        for k, a in variants.items():
            run = common.snakemake(dest, a, f"{k}_{r}", slurm_plugin=k.endswith("_plugin"))
            if k.startswith("noop") and "Nothing to be done" not in run.log.read_text():
                raise RuntimeError(f"the no-op rerun ran jobs; see {run.log}")
            times[k].append(run.wall_s)
            rss[k].append(run.max_rss_mb)
            print(f"  {k}: {run.wall_s:.2f} s", flush=True)
    # the slurm executor plugin's import-time probe (see BENCHMARKS.md)
    probe = []
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run([common.PYTHON, "-c", "import snakemake_executor_plugin_slurm"],
                       capture_output=True, env=common.env(slurm_plugin=True), check=True)
        probe.append(time.perf_counter() - t)
    n_jobs = None
    log = (dest / "_runs" / "dryrun_forceall_0.log").read_text()
    for line in log.splitlines():
        if line.startswith("total"):
            n_jobs = int(line.split()[-1])
            break
    return {
        "commands": {k: common.command_line(a) for k, a in variants.items() if not k.endswith("_plugin")},
        "times_s": times,
        "median_s": {k: common.median(v) for k, v in times.items()},
        "max_rss_mb": {k: common.median(v) for k, v in rss.items()},
        "noop_minus_version_median_s": median_diff(times["noop"], times["version"]),
        "slurm_cost_noop_median_s": median_diff(times["noop_plugin"], times["noop"]),
        "slurm_client_installed": bool(shutil.which("scontrol")),
        "slurm_plugin_import_s": probe,
        "slurm_plugin_import_median_s": common.median(probe),
        "jobs_in_dag": n_jobs,
        "segments": n_segments(dest),
        "load": common.loadavg(),
    }


def median_diff(a, b) -> float:
    return common.median([x - y for x, y in zip(a, b)])


def step_training(dest: Path, cfg: list[str], repeat: int, epochs: int) -> dict:
    segs = pd.read_parquet(dest / "results" / "folds.parquet").query("fold == 0")
    counts = segs["split"].value_counts().to_dict()
    out = {"epochs": epochs, "splits": counts, "modalities": {}, "forced_runs": repeat,
           "load": common.loadavg()}
    per = {m: {"epoch_sps": [], "job_s": [], "rss": [], "n_train": None} for m in ("bio", "audio", "text")}
    cmds = {}
    threads: set[int] = set()
    # repeat 0: read the models the table step trained (no new training)
    for r in range(max(repeat, 1)):
        for m in ("bio", "audio", "text"):
            target = f"results/models/{m}/fold0/seed0/model.safetensors"
            a = [target, "--cores", "2", "--forcerun", "train", *cfg]
            if repeat > 0:
                run = common.snakemake(dest, a, f"train_{m}_{r}")
                # the threads the train job was given, as Snakemake printed them
                log = run.log.read_text()
                for block in re.findall(r"^(?:local)?rule train:\n((?:    .*\n)+)", log, re.M):
                    found = re.search(r"^    threads: (\d+)$", block, re.M)
                    threads.add(int(found.group(1)) if found else 1)  # Snakemake prints threads > 1 only
            else:
                a = ["results/table1.csv", "--cores", "2", *cfg]
            cmds[m] = common.command_line(a)
            curve = pd.read_csv(dest / "results" / "models" / m / "fold0" / "seed0" / "curve.csv")
            prep = json.loads((dest / "results" / "models" / m / "fold0" / "seed0" / "preprocessing.json").read_text())
            n_train = _n_train(prep, counts)
            per[m]["n_train"] = n_train
            # samples per second of an epoch (training pass + validation pass); the first epoch included
            per[m]["epoch_sps"].append(float(n_train / curve["seconds"].median()))
            tsv = [j for j in common.read_benchmarks(dest) if j["job"] == f"train/{m}/fold0/seed0"]
            per[m]["job_s"].append(tsv[0]["s"] if tsv else float("nan"))
            per[m]["rss"].append(tsv[0]["max_rss"] if tsv else None)
            print(f"  train {m}: {per[m]['epoch_sps'][-1]:.0f} samples/s per epoch, "
                  f"job {per[m]['job_s'][-1]:.1f} s", flush=True)
    for m, d in per.items():
        out["modalities"][m] = {
            "n_train": d["n_train"],
            "samples_per_s_epoch_median": common.median(d["epoch_sps"]),
            "samples_per_s_epoch_all": d["epoch_sps"],
            "job_s_median": common.median(d["job_s"]),
            "job_s_all": d["job_s"],
            "max_rss_mb": max(x for x in d["rss"] if x is not None) if any(d["rss"]) else None,
            "command": cmds[m],
        }
    if len(threads) == 1:
        out["threads"] = threads.pop()
    return out


def _n_train(prep: dict, counts: dict) -> int:
    for key in ("n_train", "train_rows", "n_train_rows"):
        if key in prep:
            return int(prep[key])
    return int(counts.get("train", 0))


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", default="data,features,table,noop,training")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--epochs", type=int, default=2, help="training epochs of the full-size run")
    ap.add_argument("--train-repeat", type=int, default=0,
                    help="training: times to force the three training jobs again (0: read the table step's)")
    ap.add_argument("--refresh", action="store_true", help="copy the workflow again (reruns everything)")
    ap.add_argument("--cores-repeat", type=int, default=1, help="repeats of the 1-vs-2-core stage runs")
    ap.add_argument("--cores-stages", default="bio,audio",
                    help="stages timed with 1 and 2 cores (text is one single-threaded job chain)")
    ap.add_argument("--reuse-scratch", action="store_true",
                    help="features: reuse the last from-scratch feature build instead of building again")
    args = ap.parse_args(argv)
    steps = args.steps.split(",")
    dest = common.copy_workflow(NAME, refresh=args.refresh)
    cfg = config_args(dest, args.epochs)
    result = common.load("full_size") or {}
    result["machine"] = common.machine()
    run_step = {
        "data": lambda: step_data(dest, cfg),
        "features": lambda: step_features(dest, cfg, args.cores_repeat, args.reuse_scratch,
                                          tuple(args.cores_stages.split(","))),
        "table": lambda: step_table(dest, cfg),
        "noop": lambda: step_noop(dest, cfg, args.repeat),
        "training": lambda: step_training(dest, cfg, args.train_repeat, args.epochs),
    }
    for step, run in run_step.items():  # in this order: the data first, the table before noop and training
        needed = step == "data" or (step == "table" and ("noop" in steps or "training" in steps)
                                    and not (dest / "results" / "table1.csv").exists())
        if step in steps or needed:
            res = run()
            if step in steps or step == "table":
                result[step] = {**res, "code": common.git_state()}  # the commit the section was measured at
                common.save("full_size", result)
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=1, default=str)[:4000])
    return 0


if __name__ == "__main__":
    sys.exit(main())
