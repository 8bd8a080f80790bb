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
TARGETS_FEATURES = ["results/features/bio.parquet", "results/features/text.parquet",
                    "results/features/audio.npy", "results/qc/features.tsv"]
STAGES = {  # stage -> (target, rules forced)
    "bio": ("results/features/bio.parquet", ["bio_features", "gather_bio"]),
    "text": ("results/features/text.parquet", ["build_text_backbone", "text_features"]),
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
    snap = dest / "_runs" / f"benchmarks_{label}.json"
    snap.write_text(json.dumps(jobs))
    return jobs


def stage_wall(jobs: list[dict], rules: list[str]) -> float:
    iv = [(j["start"], j["end"]) for j in jobs if j["rule"] in rules]
    if not iv:
        return float("nan")
    return common.union_length(iv, min(a for a, _ in iv), max(b for _, b in iv))


# ------------------------------------------------------------------------------------------------ steps
def step_data(dest: Path, cfg: list[str]) -> dict:
    manifest = dest / "resources" / "synthetic" / "KEMDy19.manifest.json"
    args = ["resources/synthetic/KEMDy19.manifest.json", "--cores", "2", *cfg]
    if manifest.exists():
        tsv = dest / "benchmarks" / "synth_data.tsv"
        s = float(tsv.read_text().splitlines()[1].split("\t")[0]) if tsv.exists() else float("nan")
        size = sum(p.stat().st_size for p in (dest / "resources").rglob("*") if p.is_file())
        return {"reused": True, "synth_data_s": s, "bytes": size, "command": common.command_line(args)}
    run = common.snakemake(dest, args, "data")
    jobs = [j for j in common.read_benchmarks(dest) if j["rule"] == "synth_data"]
    size = sum(p.stat().st_size for p in (dest / "resources").rglob("*") if p.is_file())
    return {"reused": False, "wall_s": run.wall_s, "synth_data_s": jobs[0]["s"] if jobs else None,
            "max_rss_mb": jobs[0]["max_rss"] if jobs else None, "bytes": size,
            "command": common.command_line(args)}


def step_features(dest: Path, cfg: list[str], cores_repeat: int = 1, reuse: bool = False,
                  cores_stages: tuple = ("bio", "audio")) -> dict:
    """From-scratch feature build (2 cores), then per-stage 1-vs-2-core runs."""
    args = [*TARGETS_FEATURES, "--cores", "2", *cfg]
    meta = dest / "_runs" / "features_scratch.meta.json"
    if reuse and meta.exists():
        m = json.loads(meta.read_text())
        run = common.Run(m["wall_s"], 0, m.get("max_rss_mb", float("nan")), m["t0"], dest / "_runs")
        load0 = m.get("load_before", [])
        jobs = json.loads((dest / "_runs" / "benchmarks_features_scratch.json").read_text())
    else:
        common.clean(dest, "results", "logs")
        for sub in ("index_segments.tsv", "bio_features", "gather_bio", "build_text_backbone", "text_features",
                    "audio_features", "gather_audio", "qc_summary", "oracle"):
            common.clean(dest / "benchmarks", sub)
        load0 = common.loadavg()
        run = common.snakemake(dest, args, "features_scratch")
        jobs = snapshot_benchmarks(dest, "features_scratch")
        meta.write_text(json.dumps({"wall_s": run.wall_s, "t0": run.t0, "max_rss_mb": run.max_rss_mb,
                                    "load_before": load0}))
    n = n_segments(dest)
    rules = common.per_rule(jobs)
    busy = common.union_length([(j["start"], j["end"]) for j in jobs], run.t0, run.t0 + run.wall_s)
    out = {
        "command": common.command_line(args),
        "segments": n,
        "wall_s": run.wall_s,
        "outside_rules_s": run.wall_s - busy,
        "load_before": load0,
        "load_after": common.loadavg(),
        "rules": rules,
        "throughput": {},
        "cores": {},
    }
    for m, rs in MODALITY_RULES.items():
        job_s = sum(rules[r]["s"] for r in rs if r in rules)
        cpu_s = sum(rules[r]["cpu"] for r in rs if r in rules)
        out["throughput"][m] = {
            "sum_cpu_s": cpu_s,
            "segments_per_cpu_s": n / cpu_s if cpu_s else None,
            "jobs": sum(rules[r]["jobs"] for r in rs if r in rules),
            "sum_job_s": job_s,
            "segments_per_s_per_core": n / job_s if job_s else None,
            "stage_wall_s": stage_wall(jobs, rs),
            "segments_per_s_stage": n / stage_wall(jobs, rs),
        }

    # 1 vs 2 cores, per stage, interleaved
    res = {s: {1: [], 2: []} for s in cores_stages}
    busy_res = {s: {1: [], 2: []} for s in cores_stages}
    cpu_res = {s: {1: [], 2: []} for s in cores_stages}
    cmds = {}
    for r in range(cores_repeat):
        for stage in cores_stages:
            target, force = STAGES[stage]
            for cores in (1, 2):
                a = [target, "--cores", str(cores), "--forcerun", *force, *cfg]
                # --forcerun takes several values: the target goes first so it is not read as one of them
                # SLURM client hidden from PATH: the plugin's fixed start-up probe (section 2) would blur the ratio
                run = common.snakemake(dest, a, f"cores{cores}_{stage}_{r}")
                sj = [j for j in common.read_benchmarks(dest) if j["rule"] in force and j["end"] >= run.t0]
                busy = stage_wall(sj, force)
                res[stage][cores].append(run.wall_s)
                busy_res[stage][cores].append(busy)
                cpu_res[stage][cores].append(sum(j["cpu_time"] for j in sj if j["cpu_time"] == j["cpu_time"]))
                cmds[f"{stage}_{cores}"] = common.command_line(a)
                print(f"  {stage} --cores {cores}: {run.wall_s:.1f} s wall, jobs busy {busy:.1f} s", flush=True)
    for stage in cores_stages:
        t1, t2 = res[stage][1], res[stage][2]
        b1, b2 = busy_res[stage][1], busy_res[stage][2]
        out["cores"][stage] = {
            "cores1_s": t1, "cores2_s": t2,
            "busy1_s": b1, "busy2_s": b2, "cpu1_s": cpu_res[stage][1], "cpu2_s": cpu_res[stage][2],
            "median_busy1_s": common.median(b1), "median_busy2_s": common.median(b2),
            "speedup_busy_median_of_ratios": common.median([a / b for a, b in zip(b1, b2)]),
            "load": common.loadavg(),
            "median_cores1_s": common.median(t1), "median_cores2_s": common.median(t2),
            "speedup_median_of_ratios": common.median([a / b for a, b in zip(t1, t2)]),
            "segments_per_s_cores1": n / common.median(t1), "segments_per_s_cores2": n / common.median(t2),
            "command_cores1": cmds[f"{stage}_1"], "command_cores2": cmds[f"{stage}_2"],
        }
    out["per_signal"] = per_signal(jobs)
    out["import_cost"] = import_cost(3)
    return out


def per_signal(jobs: list[dict]) -> dict:
    """bio_features jobs split by signal: jobs, job seconds, CPU seconds, peak RSS."""
    out: dict[str, dict] = {}
    for j in jobs:
        if j["rule"] != "bio_features":
            continue
        sig = j["job"].split("/")[1]
        d = out.setdefault(sig, {"jobs": 0, "s": 0.0, "cpu": 0.0, "max_rss": 0.0})
        d["jobs"] += 1
        d["s"] += j["s"]
        d["cpu"] += j["cpu_time"] if j["cpu_time"] == j["cpu_time"] else 0.0
        d["max_rss"] = max(d["max_rss"], j["max_rss"])
    return out


def import_cost(repeat: int) -> dict:
    """Wall and CPU seconds of a fresh interpreter importing what one bio_features job imports."""
    import resource
    import subprocess

    code = ("import sys; sys.path.insert(0, 'workflow/src'); import snakemake.script; "
            "from emoflow import runtime, io; from emoflow.features import biosignals, {sig}")
    out = {}
    for sig in ("ecg", "eda", "temp"):
        walls, cpus = [], []
        for _ in range(repeat):
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            t = time.perf_counter()
            subprocess.run([str(common.VENV_BIN / "python"), "-c", code.format(sig=sig)], cwd=common.ROOT,
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
        subprocess.run([str(common.VENV_BIN / "python"), "-c", "import snakemake_executor_plugin_slurm"],
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
        "noop_minus_version_median_s": common.median([a - b for a, b in zip(times["noop"], times["version"])]),
        "slurm_cost_noop_median_s": common.median([a - b for a, b in zip(times["noop_plugin"], times["noop"])]),
        "slurm_client_installed": bool(shutil.which("scontrol")),
        "slurm_plugin_import_s": probe,
        "slurm_plugin_import_median_s": common.median(probe),
        "jobs_in_dag": n_jobs,
        "segments": n_segments(dest),
        "load": common.loadavg(),
    }


def step_training(dest: Path, cfg: list[str], repeat: int, epochs: int) -> dict:
    segs = pd.read_parquet(dest / "results" / "segments.parquet", columns=["segment_id", "split"])
    counts = segs["split"].value_counts().to_dict()
    out = {"epochs": epochs, "splits": counts, "modalities": {}, "forced_runs": repeat, "load": common.loadavg()}
    per = {m: {"epoch_sps": [], "job_s": [], "rss": [], "n_train": None} for m in ("bio", "audio", "text")}
    cmds = {}
    threads: set[int] = set()
    # repeat 0: read the models the table step trained (no new training)
    for r in range(max(repeat, 1)):
        for m in ("bio", "audio", "text"):
            target = f"results/models/{m}/seed0/model.safetensors"
            a = [target, "--cores", "2", "--forcerun", "train", *cfg]
            if repeat > 0:
                run = common.snakemake(dest, a, f"train_{m}_{r}")
                # the threads the train job was given, as Snakemake printed them
                for block in re.findall(r"^(?:local)?rule train:\n((?:    .*\n)+)", run.log.read_text(), re.M):
                    found = re.search(r"^    threads: (\d+)$", block, re.M)
                    threads.add(int(found.group(1)) if found else 1)  # Snakemake prints threads > 1 only
            else:
                a = ["results/table1.csv", "--cores", "2", *cfg]
            cmds[m] = common.command_line(a)
            curve = pd.read_csv(dest / "results" / "models" / m / "seed0" / "curve.csv")
            prep = json.loads((dest / "results" / "models" / m / "seed0" / "preprocessing.json").read_text())
            n_train = _n_train(prep, counts)
            per[m]["n_train"] = n_train
            # samples per second of an epoch (training pass + validation pass); the first epoch included
            per[m]["epoch_sps"].append(float(n_train / curve["seconds"].median()))
            tsv = [j for j in common.read_benchmarks(dest) if j["job"] == f"train/{m}/seed0"]
            per[m]["job_s"].append(tsv[0]["s"] if tsv else float("nan"))
            per[m]["rss"].append(tsv[0]["max_rss"] if tsv else None)
            print(f"  train {m}: {per[m]['epoch_sps'][-1]:.0f} samples/s per epoch, job {per[m]['job_s'][-1]:.1f} s",
                  flush=True)
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
    if "data" in steps:
        result["data"] = step_data(dest, cfg)
        common.save("full_size", result)
    else:
        step_data(dest, cfg)  # make sure it exists
    if "features" in steps:
        result["features"] = step_features(dest, cfg, args.cores_repeat, args.reuse_scratch,
                                           tuple(args.cores_stages.split(",")))
        common.save("full_size", result)
    need_table = ("noop" in steps or "training" in steps) and not (dest / "results" / "table1.csv").exists()
    if "table" in steps or need_table:
        result["table"] = step_table(dest, cfg)
        common.save("full_size", result)
    if "noop" in steps:
        result["noop"] = step_noop(dest, cfg, args.repeat)
        common.save("full_size", result)
    if "training" in steps:
        result["training"] = step_training(dest, cfg, args.train_repeat, args.epochs)
        common.save("full_size", result)
    for step in steps:  # the commit each section was measured at
        if isinstance(result.get(step), dict):
            result[step]["code"] = common.git_state()
    common.save("full_size", result)
    print(json.dumps({k: v for k, v in result.items() if k != "machine"}, indent=1, default=str)[:4000])
    return 0


if __name__ == "__main__":
    sys.exit(main())
