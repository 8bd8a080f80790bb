"""Shared helpers of the benchmark scripts: workflow copies, timed Snakemake runs, benchmark TSVs.

Every benchmark runs in a copy of the workflow under ``bench/_work/<name>/`` (git-ignored), never in the
repository's own ``results/`` or ``resources/``. Raw figures are written as JSON under ``bench/results/``;
``bench/run_all.py`` turns them into ``BENCHMARKS.md``.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORK = ROOT / "bench" / "_work"
RESULTS = ROOT / "bench" / "results"
VENV_BIN = ROOT / ".venv" / "bin"
COPY_ITEMS = ["Snakefile", "config.yaml", "workflow", "profiles", "presets", "envs"]

# Appended to the Snakefile of a copy: a benchmark file for every rule that runs something and has none,
# so that every job's duration and peak memory are known (rule names are the first folder).
INSTRUMENT_MARK = "# --- bench: benchmark files for every rule ---"
INSTRUMENT = f'''
{INSTRUMENT_MARK}
for _r in workflow.rules:
    if _r.benchmark is None and not _r.norun and _r.name != "unknown_setting":
        _wc = "/".join("{{%s}}" % w for w in sorted(_r.wildcard_names)) or "job"
        _r.benchmark_modifier = _r.log_modifier
        _r.benchmark = f"benchmarks/{{_r.name}}/{{_wc}}.tsv"
'''


def copy_workflow(name: str, refresh: bool = False, instrument: bool = True) -> Path:
    """``bench/_work/<name>`` with a copy of the workflow (file times kept, so an unchanged copy does not
    make Snakemake rerun anything). An existing copy is kept unless ``refresh``."""
    dest = WORK / name
    if (dest / "Snakefile").exists() and not refresh:
        return dest
    dest.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for item in COPY_ITEMS:
        src, dst = ROOT / item, dest / item
        if dst.is_dir():
            shutil.rmtree(dst)
        if src.is_dir():
            shutil.copytree(src, dst, ignore=ignore, copy_function=shutil.copy2)
        else:
            shutil.copy2(src, dst)
    if instrument:
        with open(dest / "Snakefile", "a") as fh:
            fh.write(INSTRUMENT)
    return dest


def clean(dest: Path, *names: str) -> None:
    for n in names:
        p = dest / n
        if p.is_symlink() or p.is_file():
            p.unlink()
        elif p.is_dir():
            shutil.rmtree(p)


# The SLURM executor plugin, installed beside .venv by `make test` (Makefile, envs/requirements-cluster.txt).
SLURM_PLUGIN_DIR = ROOT / ".venv" / "slurm-plugin"


def env(slurm_plugin: bool = False) -> dict:
    """The environment of a timed run. ``slurm_plugin``: put the SLURM executor plugin on PYTHONPATH, i.e.
    time Snakemake as installed on a cluster submission host (``make setup-cluster``)."""
    e = dict(os.environ)
    e["PATH"] = f"{VENV_BIN}{os.pathsep}{e.get('PATH', '')}"
    e.pop("PYTHONPATH", None)
    if slurm_plugin:
        if not (SLURM_PLUGIN_DIR / "snakemake_executor_plugin_slurm").is_dir():
            raise RuntimeError(f"no SLURM executor plugin in {SLURM_PLUGIN_DIR}: run `make test` first, or "
                               f"pip install --no-deps --target {SLURM_PLUGIN_DIR} -r envs/requirements-cluster.txt")
        e["PYTHONPATH"] = str(SLURM_PLUGIN_DIR)
    e.setdefault("PYTHONHASHSEED", "0")
    return e


@dataclass
class Run:
    wall_s: float
    rc: int
    max_rss_mb: float  # peak RSS of the snakemake process tree (all its waited-for descendants)
    t0: float  # epoch seconds at start
    log: Path


def snakemake(dest: Path, args: list[str], label: str, check: bool = True, slurm_plugin: bool = False) -> Run:
    """Run ``snakemake ARGS`` in ``dest``; output goes to ``dest/_runs/<label>.log``."""
    logdir = dest / "_runs"
    logdir.mkdir(exist_ok=True)
    log = logdir / f"{label}.log"
    cmd = [str(VENV_BIN / "snakemake"), *args]
    with open(log, "w") as fh:
        fh.write("$ " + " ".join(cmd) + "\n")
        fh.flush()
        t0 = time.time()
        p0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=dest, env=env(slurm_plugin), stdout=fh, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - p0
        proc.returncode = os.waitstatus_to_exitcode(status)
    run = Run(wall, proc.returncode, usage.ru_maxrss / 1024, t0, log)
    if check and run.rc != 0:
        tail = "".join(log.read_text().splitlines(True)[-30:])
        raise RuntimeError(f"snakemake {' '.join(args)} failed in {dest} (rc {run.rc}); see {log}\n{tail}")
    return run


def command_line(args: list[str]) -> str:
    """The command as a user would type it (shell quoting)."""
    import shlex

    return "snakemake " + " ".join(shlex.quote(a) for a in args)


# ------------------------------------------------------------------------------------------------ TSVs
def read_benchmarks(dest: Path) -> list[dict]:
    """Every benchmark TSV under ``dest/benchmarks``: rule (first folder or file stem), job, s, max_rss
    (MB), cpu_time, end (file mtime, epoch s) and start (end - s)."""
    out = []
    root = dest / "benchmarks"
    for path in sorted(root.rglob("*.tsv")):
        rel = path.relative_to(root)
        lines = path.read_text().splitlines()
        if len(lines) < 2:
            continue
        head, vals = lines[0].split("\t"), lines[-1].split("\t")
        row = dict(zip(head, vals))

        def num(k, row=row):
            try:
                return float(row.get(k, "nan"))
            except ValueError:
                return float("nan")

        end = path.stat().st_mtime
        s = num("s")
        out.append({
            "rule": rel.parts[0] if len(rel.parts) > 1 else rel.stem,
            "job": str(rel.with_suffix("")),
            "s": s,
            "max_rss": num("max_rss"),
            "cpu_time": num("cpu_time"),
            "end": end,
            "start": end - s,
        })
    return out


def union_length(intervals: list[tuple[float, float]], lo: float, hi: float) -> float:
    """Length of the union of intervals clipped to [lo, hi]."""
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


def per_rule(jobs: list[dict]) -> dict[str, dict]:
    """rule -> jobs, total s, max s, peak max_rss (MB), total cpu s."""
    out: dict[str, dict] = {}
    for j in jobs:
        r = out.setdefault(j["rule"], {"jobs": 0, "s": 0.0, "max_job_s": 0.0, "max_rss": 0.0, "cpu": 0.0})
        r["jobs"] += 1
        r["s"] += j["s"]
        r["max_job_s"] = max(r["max_job_s"], j["s"])
        r["max_rss"] = max(r["max_rss"], j["max_rss"] if j["max_rss"] == j["max_rss"] else 0.0)
        r["cpu"] += j["cpu_time"] if j["cpu_time"] == j["cpu_time"] else 0.0
    return out


# ------------------------------------------------------------------------------------------------ misc
def median(xs):
    xs = [x for x in xs if x is not None]
    return statistics.median(xs) if xs else float("nan")


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
    """The commit measured, and how many tracked files differed from it."""
    try:
        head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], capture_output=True,
                              text=True, timeout=30).stdout.strip()
        # tracked files that differ from the commit, outside the benchmark scripts and their results
        dirty = subprocess.run(["git", "-C", str(ROOT), "status", "--porcelain", "--untracked-files=no", "--",
                                ".", ":!bench", ":!BENCHMARKS.md"],
                               capture_output=True, text=True, timeout=30).stdout.strip()
        return {"commit": head or "?", "modified_files": len(dirty.splitlines()) if dirty else 0}
    except Exception:
        return {}


def machine() -> dict:
    cpu = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem_gib = float("nan")
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem_gib = int(line.split()[1]) / 2**20
    except OSError:
        pass
    versions = {"python": platform.python_version()}
    for mod in ("snakemake", "torch", "numpy", "pandas", "pyarrow", "neurokit2", "transformers"):
        try:
            out = subprocess.run([str(VENV_BIN / "python"), "-c", f"import {mod}; print({mod}.__version__)"],
                                 capture_output=True, text=True, timeout=120)
            versions[mod] = out.stdout.strip() or "?"
        except Exception:
            versions[mod] = "?"
    gpu = "none"
    try:
        out = subprocess.run([str(VENV_BIN / "python"), "-c",
                              "import torch; print(torch.cuda.get_device_name(0) if torch.cuda.is_available() else 'none')"],
                             capture_output=True, text=True, timeout=120)
        gpu = out.stdout.strip() or "none"
    except Exception:
        pass
    git = git_state()
    return {
        "git": git,
        "cpu_model": cpu,
        "cores": os.cpu_count(),
        "memory_gib": round(mem_gib, 1),
        "os": f"{platform.system()} {platform.release()}",
        "gpu": gpu,
        "versions": versions,
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
