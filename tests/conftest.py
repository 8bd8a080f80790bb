"""Shared helpers: run the real snakemake CLI on a copy of the workflow in a temporary folder."""

from __future__ import annotations

import logging
import os
import re
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW_FILES = ["Snakefile", "config.yaml", "workflow", "profiles", "presets", "envs"]
TINY = ["--configfile", "presets/tiny.yaml"]


def copy_workflow(dest: Path) -> Path:
    """A self-contained copy of the workflow (no results) in ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW_FILES:
        src = ROOT / name
        if src.is_dir():
            shutil.copytree(src, dest / name, ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
        else:
            shutil.copy2(src, dest / name)
    return dest


# The SLURM executor plugin lives beside the environment, not in it (Makefile: `make test` installs it
# there from envs/requirements-cluster.txt), so that every other snakemake call of the suite runs as on
# a workstation. Submitted jobs inherit PYTHONPATH (sbatch exports the environment).
SLURM_PLUGIN_DIR = Path(sys.prefix) / "slurm-plugin"


def snakemake_env(slurm_plugin: bool = False) -> dict[str, str]:
    """The environment of a snakemake subprocess; ``slurm_plugin``: with the SLURM executor plugin."""
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}")
    if slurm_plugin:
        if not (SLURM_PLUGIN_DIR / "snakemake_executor_plugin_slurm").is_dir():
            pytest.fail(f"the SLURM executor plugin is not in {SLURM_PLUGIN_DIR}: run `make test`, or pip install "
                        f"--no-deps --target {SLURM_PLUGIN_DIR} -r envs/requirements-cluster.txt")
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(SLURM_PLUGIN_DIR), env.get("PYTHONPATH", "")) if p)
    return env


def snakemake(workdir: Path, *args: str, timeout: int = 900, check: bool = True,
              slurm_plugin: bool = False) -> subprocess.CompletedProcess:
    """Run ``python -m snakemake ARGS`` in ``workdir``; targets must come before options."""
    cmd = [sys.executable, "-m", "snakemake", *args]
    env = snakemake_env(slurm_plugin)
    res = subprocess.run(cmd, cwd=workdir, capture_output=True, text=True, timeout=timeout, env=env)
    if check and res.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed ({res.returncode}):\n{res.stdout[-4000:]}\n{res.stderr[-6000:]}")
    return res


def planned_outputs(dry_run_output: str) -> list[str]:
    """Output files of every job a dry run plans (from its 'output:' lines)."""
    outs = []
    for m in re.finditer(r"^\s+output: (.+)$", dry_run_output, re.M):
        outs += [p.strip() for p in m.group(1).split(",")]
    return outs


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """One complete run of the tiny synthetic configuration, shared by the workflow tests."""
    wd = copy_workflow(tmp_path_factory.mktemp("tiny_run"))
    snakemake(wd, "results/table1.csv", "--cores", "2", *TINY)
    return wd


def _restore_root_logger(handlers, level):
    root = logging.getLogger()
    for h in root.handlers:
        if h not in handlers:
            h.close()
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.fixture
def restore_logging():
    """The scripts point the root logger at their log file; put it back afterwards."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    _restore_root_logger(handlers, level)


def run_script(name: str, smk) -> None:
    """Run ``workflow/scripts/<name>`` with a stand-in ``snakemake`` object, then restore logging."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        runpy.run_path(str(ROOT / "workflow" / "scripts" / name), init_globals={"snakemake": smk})
    finally:
        _restore_root_logger(handlers, level)
