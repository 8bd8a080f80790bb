"""The workflow on a real one-node SLURM cluster (brought up by tools/slurm_local.sh; needs root the
first time, to install the packages): every job goes through sbatch with the resources its rule
declares, Table 1 is byte-identical to a local run, and a second submission submits nothing."""

from __future__ import annotations

import contextlib
import math
import os
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, TINY, copy_workflow, snakemake_env

pytestmark = pytest.mark.slurm

SCRIPT = ROOT / "tools" / "slurm_local.sh"
# One audio model: the generator, the index, the per-session openSMILE jobs (batched by the profile's
# group-components), gathering and a training job; the suite runs the whole table locally elsewhere. Each job
# in a chain costs far more here than locally: the executor plugin polls after the initial interval and then
# 10 s later each time no job has finished (up to 3 minutes), and a group job runs its members one after the
# other, each in its own Snakemake process. The bio features (24 per-participant jobs) took about 4 minutes
# of that on their own; the four per-session audio jobs take well under one.
MODEL_DIR = "results/models/audio/fold0/seed0"
TARGET = f"{MODEL_DIR}/predictions.parquet"
# Hard limits: the executor plugin can hang (and ignore SIGTERM), so `timeout -k` enforces them. The run
# takes about 3 minutes on two idle cores; the limits leave room for a busy machine.
RUN_LIMIT_S = 600
RERUN_LIMIT_S = 120
LOCAL_RUN_S = 900  # the shared local run (fixture tiny_run) may be built inside this test

SUBMITTED = re.compile(r"^Job (\S+) has been submitted with SLURM jobid (\d+) \(log: (.+)\)\.$", re.M)
RUN_ID = re.compile(r"^SLURM run ID: (\S+)$", re.M)


def say(request, line: str) -> None:
    """A line in the pytest output even when the test passes (job ids, timings)."""
    plugins = request.config.pluginmanager
    reporter, capture = plugins.get_plugin("terminalreporter"), plugins.get_plugin("capturemanager")
    if reporter is None:
        return
    with capture.global_and_fixture_disabled() if capture else contextlib.nullcontext():
        reporter.write_line(f"[slurm] {line}")


def cluster_script(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    res = subprocess.run([str(SCRIPT), *args], capture_output=True, text=True, timeout=600)
    if check and res.returncode != 0:
        raise AssertionError(f"tools/slurm_local.sh {' '.join(args)} failed ({res.returncode}):\n"
                             f"{res.stdout[-3000:]}\n{res.stderr[-3000:]}")
    return res


class Cluster:
    """The running cluster's default partition and its CPU count (from sinfo)."""

    def __init__(self, start_s: float):
        self.start_s = start_s
        line = next(ln for ln in subprocess.run(["sinfo", "-h", "-o", "%P %c"], capture_output=True,
                                                text=True, check=True).stdout.splitlines() if "*" in ln)
        partition, cpus = line.split()
        self.partition = partition.rstrip("*")
        self.cpus = int(cpus)


@pytest.fixture(scope="session")
def slurm_cluster(request):
    """The local cluster: reused when already up (and then left running), else installed and started
    here and stopped afterwards (the script stops only the daemons it started, by recorded PID)."""
    if cluster_script("status", check=False).returncode == 0:
        cluster = Cluster(start_s=0.0)
        say(request, f"using the running cluster: partition {cluster.partition}, {cluster.cpus} CPUs")
        yield cluster
        return
    if os.geteuid() != 0:
        pytest.fail("the slurm tests install and start a local cluster and need root; "
                    "or start it first with `sudo tools/slurm_local.sh all`")
    t0 = time.monotonic()
    cluster_script("install")
    t1 = time.monotonic()
    try:
        cluster_script("start")
        cluster = Cluster(start_s=time.monotonic() - t1)
        say(request, f"cluster: install {t1 - t0:.1f} s, start {cluster.start_s:.1f} s; "
                     f"partition {cluster.partition}, {cluster.cpus} CPUs")
        yield cluster
    finally:
        cluster_script("stop", check=False)


def slurm_args(cluster: Cluster) -> list[str]:
    """The shipped profile, plus only what this test cluster needs."""
    return [
        TARGET,  # targets first: the options below take several values each
        "--profile", "profiles/slurm",
        *TINY,
        # the test cluster's partition (the profile leaves partition and account to the site)
        "--default-resources", f"slurm_partition={cluster.partition}",
        # no slurmdbd here, so sacct cannot answer; with the plugin's default status command
        # (sacct) Snakemake would wait forever. squeue works because MinJobAge=600 keeps
        # finished jobs listed.
        "--slurm-status-command", "squeue",
        # first status check after 2 s instead of 40 s
        "--slurm-init-seconds-before-status-checks", "2",
        # the whole cluster has this many CPUs: never ask for more at once. A group job (the
        # profile's group-components) then runs its members this many at a time instead of asking
        # for one CPU per member, which this node could never grant.
        "--cores", str(cluster.cpus),
        # keep each job's SLURM log, to check below that every job ran inside its SLURM job
        "--slurm-keep-successful-logs",
    ]


def run_snakemake(wd: Path, args: list[str], limit_s: int, log: Path) -> tuple[int, str, float]:
    env = snakemake_env(slurm_plugin=True)
    cmd = ["timeout", "-k", "30", str(limit_s), sys.executable, "-m", "snakemake", *args]
    t0 = time.monotonic()
    with log.open("w") as fh:
        rc = subprocess.run(cmd, cwd=wd, stdout=fh, stderr=subprocess.STDOUT, env=env,
                            timeout=limit_s + 60).returncode
    return rc, log.read_text(), time.monotonic() - t0


def job_stats(text: str) -> Counter:
    """The 'Job stats' table Snakemake prints before running: rule -> number of jobs."""
    block = text.split("Job stats:", 1)[1]
    counts = Counter()
    for line in block.splitlines()[3:]:
        parts = line.split()
        if not parts or parts[0] == "total":
            break
        counts[parts[0]] = int(parts[1])
    return counts


def top_level_jobs(text: str) -> dict[str, dict]:
    """Non-grouped remote jobs as printed before submission: snakemake jobid -> rule, threads,
    mem_mb, runtime (group members are printed indented and are not included)."""
    jobs = {}
    for m in re.finditer(r"^rule (\w+):\n((?:    .*\n)+)", text, re.M):
        body = m.group(2)
        jobid = re.search(r"^    jobid: (\d+)$", body, re.M).group(1)
        threads = re.search(r"^    threads: (\d+)$", body, re.M)
        resources = dict(kv.split("=", 1) for kv in re.search(r"^    resources: (.*)$", body, re.M)
                         .group(1).split(", "))
        jobs[jobid] = {"rule": m.group(1), "threads": int(threads.group(1)) if threads else 1,
                       "mem_mb": int(resources["mem_mb"]), "runtime": int(resources["runtime"])}
    return jobs


def queue_report() -> str:
    res = subprocess.run(["squeue", "--states=all", "-o", "%i|%k|%T|%r|%C|%m"], capture_output=True,
                         text=True)
    return res.stdout + res.stderr


def scontrol(slurm_id: str) -> dict[str, str]:
    out = subprocess.run(["scontrol", "-o", "show", "job", slurm_id], capture_output=True, text=True,
                         check=True).stdout
    return dict(kv.split("=", 1) for kv in out.split() if "=" in kv)


def megabytes(value: str) -> int:
    number, unit = float(value[:-1]), value[-1]
    return round(number * {"M": 1, "G": 1024, "T": 1024**2}[unit])


def minutes(limit: str) -> int:
    days, _, clock = limit.rpartition("-")
    h, m, s = (int(x) for x in clock.split(":"))
    return (int(days) if days else 0) * 1440 + h * 60 + m + (s > 0)


def test_cluster_script_start_is_idempotent(slurm_cluster):
    res = cluster_script("start")
    assert "already running" in res.stderr
    status = cluster_script("status")
    assert "slurmctld pid" in status.stdout and "NOT running" not in status.stdout


@pytest.mark.timeout(RUN_LIMIT_S + RERUN_LIMIT_S + LOCAL_RUN_S)
def test_workflow_on_slurm_matches_local_run(slurm_cluster, tiny_run, tmp_path, request):
    wd = copy_workflow(tmp_path / "wf")
    args = slurm_args(slurm_cluster)
    rc, text, run_s = run_snakemake(wd, args, RUN_LIMIT_S, tmp_path / "slurm_run.log")
    tail = text[-6000:]
    assert rc == 0, (f"SLURM run failed (exit {rc}; 124/137: killed after {RUN_LIMIT_S} s):\n{tail}\n"
                     f"SLURM's view (a job pending for 'Resources' asks for more than the node has):\n"
                     + queue_report())

    # (a) every non-local job went through sbatch: one submission per job, or per group job
    stats = job_stats(text)
    n_local = len(re.findall(r"^localrule \w+:$", text, re.M))
    n_grouped = len(re.findall(r"^    rule \w+:$", text, re.M))
    n_groups = len(re.findall(r"\] Group job \w+ ", text))
    submitted = SUBMITTED.findall(text)
    ids = [slurm_id for _, slurm_id, _ in submitted]
    say(request, f"{len(ids)} sbatch jobs for {sum(stats.values())} jobs: SLURM job ids {', '.join(ids)}")
    assert len(ids) == len(set(ids))
    assert len(ids) == sum(stats.values()) - n_local - n_grouped + n_groups, (stats, n_local, n_grouped,
                                                                             n_groups, tail)
    # the per-participant and per-session jobs were batched as the profile asks (each group is named
    # after its rule)
    groups = yaml.safe_load((wd / "profiles/slurm/config.yaml").read_text())["group-components"]
    assert n_grouped == sum(stats.get(g, 0) for g in groups) > 0
    assert n_groups == sum(math.ceil(stats.get(g, 0) / size) for g, size in groups.items())

    # cross-check with SLURM itself: every job of this run is known to slurmctld and COMPLETED
    run_id = RUN_ID.search(text).group(1)
    listed = subprocess.run(["squeue", "--states=all", "-h", "-o", "%i|%j|%T"], capture_output=True,
                            text=True, check=True).stdout.split()
    ours = {i: state for i, name, state in (row.split("|") for row in listed) if name == run_id}
    assert set(ours) == set(ids), (sorted(ours), ids)
    assert set(ours.values()) == {"COMPLETED"}, ours
    # ... each left its log, written by the job step that ran the rule's job(s)
    for _, slurm_id, log in submitted:
        kind = Path(log).relative_to(wd / ".snakemake/slurm_logs").parts[0]  # rule_<rule> | group_<group>_..
        rule = kind.removeprefix("rule_") if kind.startswith("rule_") else next(
            g for g in groups if kind.startswith(f"group_{g}_"))
        content = Path(log).read_text()
        assert "--mode remote" in content and f"rule {rule}:" in content, (log, content[-2000:])
    # ... and asked for the threads, memory and run time its rule declares
    for jobid, job in top_level_jobs(text).items():
        slurm_id = next(s for j, s, _ in submitted if j == jobid)
        info = scontrol(slurm_id)
        assert info["Partition"] == slurm_cluster.partition
        assert int(info["NumCPUs"]) == job["threads"], (job, info["NumCPUs"])
        assert megabytes(info["MinMemoryNode"]) == job["mem_mb"], (job, info["MinMemoryNode"])
        assert minutes(info["TimeLimit"]) == job["runtime"], (job, info["TimeLimit"])

    # (b) the same model and predictions as the local run of the same configuration, byte for byte
    for name in ("model.safetensors", "predictions.parquet"):
        assert (wd / MODEL_DIR / name).read_bytes() == (tiny_run / MODEL_DIR / name).read_bytes(), name

    # (c) a second submission finds everything up to date and submits nothing
    rc, again, rerun_s = run_snakemake(wd, args, RERUN_LIMIT_S, tmp_path / "slurm_rerun.log")
    assert rc == 0, again[-4000:]
    assert "Nothing to be done" in again
    assert not SUBMITTED.search(again)
    say(request, f"workflow on SLURM {run_s:.0f} s, no-op resubmission {rerun_s:.0f} s, "
                 f"cluster start {slurm_cluster.start_s:.1f} s")
