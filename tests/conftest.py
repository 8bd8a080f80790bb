"""Shared helpers: run the real snakemake CLI on a copy of the workflow in a temporary folder.

The copy and the snakemake command line come from ``tools/wfcopy.py`` (on the test path through
pyproject.toml), which the benchmarks in ``bench/`` use too.
"""

from __future__ import annotations

import logging
import re
import runpy
import subprocess
from pathlib import Path

import pytest

from wfcopy import ROOT, SLURM_PLUGIN_DIR, WORKFLOW_FILES, MissingPlugin, copy_workflow, snakemake_cmd  # noqa: F401
from wfcopy import snakemake_env as _snakemake_env

TINY = ["--configfile", "presets/tiny.yaml"]


def snakemake_env(slurm_plugin: bool = False) -> dict[str, str]:
    """The environment of a snakemake subprocess; ``slurm_plugin``: with the SLURM executor plugin."""
    try:
        return _snakemake_env(slurm_plugin)
    except MissingPlugin as exc:
        pytest.fail(str(exc))


def snakemake(workdir: Path, *args: str, timeout: int = 900, check: bool = True,
              slurm_plugin: bool = False) -> subprocess.CompletedProcess:
    """Run ``python -m snakemake ARGS`` in ``workdir``; targets must come before options."""
    res = subprocess.run(snakemake_cmd(*args), cwd=workdir, capture_output=True, text=True, timeout=timeout,
                         env=snakemake_env(slurm_plugin))
    if check and res.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed ({res.returncode}):\n{res.stdout[-4000:]}\n"
                             f"{res.stderr[-6000:]}")
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
