"""Copy the workflow and run the real snakemake CLI on the copy.

Shared by the tests (``tests/conftest.py``) and the benchmarks (``bench/common.py``): both run Snakemake in
a self-contained copy of the workflow (no ``results/``), never in the repository itself.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WORKFLOW_FILES = ["Snakefile", "config.yaml", "workflow", "profiles", "presets", "envs"]

# The SLURM executor plugin lives beside the environment, not in it (Makefile: `make test` installs it
# there from envs/requirements-cluster.txt), so that every other snakemake call runs as on a workstation.
# Submitted jobs inherit PYTHONPATH (sbatch exports the environment).
SLURM_PLUGIN_DIR = Path(sys.prefix) / "slurm-plugin"


class MissingPlugin(RuntimeError):
    """The SLURM executor plugin was asked for but is not installed beside the environment."""


def copy_workflow(dest: Path) -> Path:
    """A self-contained copy of the workflow in ``dest`` (created if needed). Items already there are
    replaced; ``results/``, ``resources/`` and ``benchmarks/`` of an earlier run in ``dest`` are kept.
    File times are kept, so an unchanged copy does not make Snakemake rerun anything."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc")
    for name in WORKFLOW_FILES:
        src, dst = ROOT / name, dest / name
        if dst.is_dir() and not dst.is_symlink():
            shutil.rmtree(dst)
        if src.is_dir():
            shutil.copytree(src, dst, ignore=ignore)  # copy2: file times kept
        else:
            shutil.copy2(src, dst)
    return dest


def snakemake_cmd(*args: str) -> list[str]:
    """``python -m snakemake ARGS`` with this interpreter (targets must come before options)."""
    return [sys.executable, "-m", "snakemake", *args]


def snakemake_env(slurm_plugin: bool = False, base: dict[str, str] | None = None) -> dict[str, str]:
    """The environment of a snakemake subprocess: ``base`` (default: this process's environment) with
    this interpreter's folder first on PATH; ``slurm_plugin``: with the SLURM executor plugin importable."""
    env = dict(os.environ if base is None else base)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    if slurm_plugin:
        plugin = SLURM_PLUGIN_DIR
        if not (plugin / "snakemake_executor_plugin_slurm").is_dir():
            raise MissingPlugin(f"the SLURM executor plugin is not in {plugin}: run `make test`, or pip "
                                f"install --no-deps --target {plugin} -r envs/requirements-cluster.txt")
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(plugin), env.get("PYTHONPATH", "")) if p)
    return env
