"""Shared helpers of the benchmark scripts: workflow copies, timed Snakemake runs, benchmark TSVs, medians.

Every benchmark runs in a copy of the workflow under ``bench/_work/<name>/`` (git-ignored; the copy is
``tools/wfcopy.py``'s, shared with the tests), never in the repository's own ``results/`` or
``resources/``. Every rule has a ``benchmark:`` file, so each job's duration, CPU time and peak memory are
read from ``benchmarks/``. Raw figures are written as JSON under ``bench/results/``; ``bench/render.py``
regenerates the tables of ``BENCHMARKS.md`` from them.
"""

from __future__ import annotations

import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))
import wfcopy  # noqa: E402

WORK = ROOT / "bench" / "_work"
RESULTS = ROOT / "bench" / "results"
PYTHON = sys.executable


def copy_workflow(name: str, refresh: bool = False) -> Path:
    """``bench/_work/<name>`` with a copy of the workflow; an existing copy is kept unless ``refresh``."""
    dest = WORK / name
    if refresh or not (dest / "Snakefile").exists():
        wfcopy.copy_workflow(dest)
    return dest


def clean(dest: Path, *names: str) -> None:
    for n in names:
        p = dest / n
        if p.is_symlink() or p.is_file():
            p.unlink()
        elif p.is_dir():
            shutil.rmtree(p)


def env(slurm_plugin: bool = False) -> dict:
    """The environment of a timed run (no inherited PYTHONPATH). ``slurm_plugin``: with the SLURM executor
    plugin importable, i.e. Snakemake as installed on a cluster submission host (``make setup-cluster``)."""
    base = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    base.setdefault("PYTHONHASHSEED", "0")
    return wfcopy.snakemake_env(slurm_plugin, base=base)


@dataclass
class Run:
    wall_s: float
    rc: int
    max_rss_mb: float  # peak RSS of the snakemake process tree (all its waited-for descendants)
    t0: float  # epoch seconds at start
    log: Path
    load_before: list[float]
    jobs: list[dict]  # benchmark files written during the run
    busy_s: float  # time during which at least one of those jobs ran

    @property
    def outside_rules_s(self) -> float:
        return self.wall_s - self.busy_s


def snakemake(dest: Path, args: list[str], label: str, check: bool = True, slurm_plugin: bool = False,
              rules: list[str] | None = None) -> Run:
    """Run ``snakemake ARGS`` in ``dest`` (output in ``dest/_runs/<label>.log``) and read the benchmark
    files its jobs wrote (``rules``: only those rules' jobs)."""
    logdir = dest / "_runs"
    logdir.mkdir(exist_ok=True)
    log = logdir / f"{label}.log"
    cmd = wfcopy.snakemake_cmd(*args)
    load0 = loadavg()
    with open(log, "w") as fh:
        fh.write("$ " + " ".join(cmd) + "\n")
        fh.flush()
        t0, p0 = time.time(), time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=dest, env=env(slurm_plugin), stdout=fh, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - p0
    rc = os.waitstatus_to_exitcode(status)
    if check and rc != 0:
        tail = "".join(log.read_text().splitlines(True)[-30:])
        raise RuntimeError(f"snakemake {' '.join(args)} failed in {dest} (rc {rc}); see {log}\n{tail}")
    jobs = [j for j in read_benchmarks(dest) if j["end"] >= t0 and (rules is None or j["rule"] in rules)]
    busy = union_length([(j["start"], j["end"]) for j in jobs], t0, t0 + wall)
    return Run(wall, rc, usage.ru_maxrss / 1024, t0, log, load0, jobs, busy)


def command_line(args: list[str]) -> str:
    """The command as a user would type it (shell quoting)."""
    return "snakemake " + " ".join(shlex.quote(a) for a in args)


# ------------------------------------------------------------------------------------------------ TSVs
def read_benchmarks(dest: Path) -> list[dict]:
    """Every benchmark TSV under ``dest/benchmarks``: rule (first folder or file stem), job, s, max_rss
    (MB), cpu_time, end (file mtime, epoch s) and start (end - s)."""
    out = []
    root = dest / "benchmarks"
    for path in sorted(root.rglob("*.tsv")):
        rel_path = path.relative_to(root)
        lines = path.read_text().splitlines()
        if len(lines) < 2:
            continue
        row = dict(zip(lines[0].split("\t"), lines[-1].split("\t")))
        num = {}
        for k in ("s", "max_rss", "cpu_time"):
            try:
                num[k] = float(row.get(k, "nan"))
            except ValueError:
                num[k] = float("nan")
        end = path.stat().st_mtime
        out.append({"rule": rel_path.parts[0] if len(rel_path.parts) > 1 else rel_path.stem,
                    "job": str(rel_path.with_suffix("")), **num, "end": end, "start": end - num["s"]})
    return out


def union_length(intervals: list[tuple[float, float]], lo: float | None = None,
                 hi: float | None = None) -> float:
    """Length of the union of intervals clipped to [lo, hi] (default: their own span)."""
    if not intervals:
        return 0.0 if lo is not None else float("nan")
    lo = min(a for a, _ in intervals) if lo is None else lo
    hi = max(b for _, b in intervals) if hi is None else hi
    total, cur_a, cur_b = 0.0, None, None
    for a, b in sorted((max(a, lo), min(b, hi)) for a, b in intervals):
        if b <= a:
            continue
        if cur_b is None or a > cur_b:
            if cur_b is not None:
                total += cur_b - cur_a
            cur_a, cur_b = a, b
        else:
            cur_b = max(cur_b, b)
    if cur_b is not None:
        total += cur_b - cur_a
    return total


def _num(x) -> float:
    return x if x == x else 0.0  # NaN -> 0


def per_rule(jobs: list[dict], key=lambda j: j["rule"]) -> dict[str, dict]:
    """rule (or ``key(job)``) -> jobs, total s, max s, peak max_rss (MB), total cpu s."""
    out: dict[str, dict] = {}
    for j in jobs:
        r = out.setdefault(key(j), {"jobs": 0, "s": 0.0, "max_job_s": 0.0, "max_rss": 0.0, "cpu": 0.0})
        r["jobs"] += 1
        r["s"] += j["s"]
        r["max_job_s"] = max(r["max_job_s"], j["s"])
        r["max_rss"] = max(r["max_rss"], _num(j["max_rss"]))
        r["cpu"] += _num(j["cpu_time"])
    return out


def cpu_sum(jobs: list[dict]) -> float:
    return sum(_num(j["cpu_time"]) for j in jobs)


# ------------------------------------------------------------------------------------------------ misc
def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else float("nan")


def median_ratio(a, b) -> float:
    """Median of the pairwise ratios a[i] / b[i]: a same-run comparison."""
    return median([x / y for x, y in zip(a, b)])


def loadavg() -> list[float]:
    try:
        return [float(x) for x in Path("/proc/loadavg").read_text().split()[:3]]
    except OSError:
        return []


def rel(path) -> str:
    """A path as written into results: relative to the repository when inside it."""
    path = Path(path).resolve()
    try:
        return str(path.relative_to(ROOT))
    except ValueError:
        return str(path)


def git_state() -> dict:
    """The commit measured, and how many tracked files differed from it (outside bench/)."""
    def git(*a):
        return subprocess.run(["git", "-C", str(ROOT), *a], capture_output=True, text=True, timeout=30).stdout

    try:
        dirty = git("status", "--porcelain", "--untracked-files=no", "--", ".", ":!bench", ":!BENCHMARKS.md")
        return {"commit": git("rev-parse", "--short", "HEAD").strip() or "?",
                "modified_files": len(dirty.strip().splitlines())}
    except Exception:
        return {}


_VERSIONS = """
import importlib, json, platform
v = {"python": platform.python_version()}
for m in ("snakemake", "torch", "numpy", "pandas", "pyarrow", "neurokit2", "transformers"):
    try:
        v[m] = importlib.import_module(m).__version__
    except Exception:
        v[m] = "?"
try:
    import torch
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
except Exception:
    gpu = "none"
print(json.dumps({"versions": v, "gpu": gpu}))
"""


def _proc_field(path: str, prefix: str) -> str:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(prefix):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return ""


def machine() -> dict:
    try:
        out = subprocess.run([PYTHON, "-c", _VERSIONS], capture_output=True, text=True, timeout=300).stdout
        probe = json.loads(out)
    except Exception:
        probe = {"versions": {"python": platform.python_version()}, "gpu": "none"}
    mem_kib = _proc_field("/proc/meminfo", "MemTotal").split()
    return {
        "git": git_state(),
        "cpu_model": _proc_field("/proc/cpuinfo", "model name"),
        "cores": os.cpu_count(),
        "memory_gib": round(int(mem_kib[0]) / 2**20, 1) if mem_kib else float("nan"),
        "os": f"{platform.system()} {platform.release()}",
        "gpu": probe["gpu"],
        "versions": probe["versions"],
        "loadavg_at_start": loadavg(),
    }


def save(name: str, data: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    data = dict(data)
    data.setdefault("measured_at", time.strftime("%Y-%m-%d %H:%M:%S"))
    data["code"] = git_state()
    path.write_text(json.dumps(data, indent=2, default=str) + "\n")
    return path


def load(name: str) -> dict | None:
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None
