"""Code inputs derived from imports: every job lists exactly the package modules it ran, so editing a
module reruns exactly the jobs that run it (directly or through another module), and their dependants.

Ground truth is the job itself: ``runtime.run`` ends each job's log with the ``emoflow`` modules that
were imported while it ran (lazy imports and registry entries loaded by name included). The rule's code
inputs come from ``emoflow.codedeps`` (an AST walk at parse time); ``snakemake --detailed-summary``
shows them per job.
"""

from __future__ import annotations

import csv
import io
import os
import re
import sys
from pathlib import Path

import pytest

from conftest import ROOT, TINY, snakemake

sys.path.insert(0, str(ROOT / "workflow" / "src"))
from emoflow import codedeps  # noqa: E402
from emoflow.runtime import MODULES_LINE  # noqa: E402

SRC = ROOT / "workflow" / "src"


def module_name(path: str | Path, src: Path) -> str:
    rel = Path(path).resolve().relative_to(src.resolve()).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def package_modules(src: Path) -> set[str]:
    return {module_name(p, src) for p in (src / "emoflow").rglob("*.py")}


def jobs(wd: Path) -> dict[str, dict]:
    """log file -> {rule, outputs, code (module names among the inputs)} of every job of the DAG."""
    res = snakemake(wd, "results/table1.csv", "--detailed-summary", "--cores", "1", *TINY)
    src = wd / "workflow" / "src"
    out: dict[str, dict] = {}
    for row in csv.DictReader(io.StringIO(res.stdout), delimiter="\t"):
        log = row["log-file(s)"]
        if log in ("-", ""):
            continue
        inputs = [p for p in row["input-file(s)"].split(",") if p.endswith(".py")]
        job = out.setdefault(log, {"rule": row["rule"], "outputs": set(), "code": set()})
        job["outputs"].add(row["output_file"])
        job["code"] |= {module_name(p, src) for p in inputs if Path(p).resolve().is_relative_to(src.resolve())}
    return out


def ran(wd: Path, log: str) -> set[str]:
    lines = [ln for ln in (wd / log).read_text().splitlines() if MODULES_LINE in ln]
    assert lines, f"{log} has no '{MODULES_LINE}' line"
    return set(lines[-1].split(MODULES_LINE, 1)[1].split())


@pytest.mark.workflow
def test_every_job_lists_exactly_the_modules_it_ran(tiny_run):
    found = jobs(tiny_run)
    rules = {j["rule"] for j in found.values()}
    assert {"synth_data", "index_segments", "bio_features", "gather_bio", "text_morphemes", "egemaps_features",
            "gather_egemaps", "train", "gather_predictions", "fuse", "table", "oracle", "qc_summary"} <= rules
    checked = 0
    for log, job in found.items():
        if not (tiny_run / log).exists():  # a job whose temporary outputs are gone and are not needed
            continue
        truth = ran(tiny_run, log)
        assert job["code"] == truth, (f"{log} ({job['rule']}): listed but not run {sorted(job['code'] - truth)}, "
                                      f"run but not listed {sorted(truth - job['code'])}")
        checked += 1
    assert checked >= 30
    # every package module, one by one: the jobs that would rerun are the jobs that run it
    for module in sorted(package_modules(tiny_run / "workflow" / "src")):
        listing = {log for log, j in found.items() if module in j["code"]}
        running = {log for log in found if (tiny_run / log).exists() and module in ran(tiny_run, log)}
        assert listing >= running, f"{module}: run by {sorted(running - listing)} without being listed"


def _planned(stdout: str) -> list[tuple[set[str], str]]:
    """Each job a dry run plans: (its outputs, its reason)."""
    out = []
    for block in re.split(r"\n\s*\n", stdout):
        o = re.search(r"^\s+output: (.+)$", block, re.M)
        r = re.search(r"^\s+reason: (.+)$", block, re.M)
        if o and r:
            out.append(({p.strip() for p in o.group(1).split(",")}, r.group(1)))
    return out


@pytest.mark.workflow
@pytest.mark.parametrize("module", ["emoflow.predictions", "emoflow.models.egemaps", "emoflow.plots"])
def test_editing_a_module_reruns_exactly_the_jobs_that_run_it(tiny_run, module):
    wd = tiny_run
    path = codedeps.module_path(wd / "workflow" / "src", module)
    running = [j for log, j in jobs(wd).items() if (wd / log).exists() and module in ran(wd, log)]
    assert running, f"no job runs {module}"
    original, stat = path.read_text(), path.stat()
    try:
        path.write_text(original + "\n# an edit\n")
        res = snakemake(wd, "results/table1.csv", "-n", "--cores", "2", *TINY)
    finally:
        path.write_text(original)
        os.utime(path, (stat.st_atime, stat.st_mtime))  # later tests see a complete workflow again
    planned = _planned(res.stdout)
    for job in running:
        assert any(job["outputs"] & outs for outs, _ in planned), f"{module}: {sorted(job['outputs'])} not planned"
    for outs, reason in planned:
        # a job that does not run the module reruns only because an upstream job does (Snakemake may
        # name only that reason for a job that also runs it)
        if not any(outs & job["outputs"] for job in running):
            assert str(path) not in reason and "updated by another job" in reason.lower(), (
                f"{module}: {sorted(outs)} planned with reason {reason!r}")


def test_closure_follows_imports_of_every_kind(tmp_path):
    """Absolute, relative and from-imports, imports inside functions, parent packages; not TYPE_CHECKING."""
    pkg = tmp_path / "emoflow"
    (pkg / "sub").mkdir(parents=True)
    files = {
        "__init__.py": "",
        "a.py": "from .sub import b\nfrom . import c as cc\n",
        "c.py": "def f():\n    from emoflow.sub.d import g\n    return g\n",
        "e.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .a import x\nimport numpy\n",
        "sub/__init__.py": "",
        "sub/b.py": "from ..e import y\n",
        "sub/d.py": "import os\n",
        "unused.py": "",
    }
    for name, text in files.items():
        (pkg / name).write_text(text)
    script = tmp_path / "script.py"
    script.write_text("import sys\nfrom emoflow import a\n")

    def names(paths):
        return {module_name(p, tmp_path) for p in paths}

    assert names(codedeps.closure(tmp_path, [script])) == {
        "emoflow", "emoflow.a", "emoflow.c", "emoflow.e", "emoflow.sub", "emoflow.sub.b", "emoflow.sub.d"}
    assert names(codedeps.closure(tmp_path, [], ["emoflow.e"])) == {"emoflow", "emoflow.e"}
    with pytest.raises(ValueError, match="not a module"):
        codedeps.closure(tmp_path, [], ["emoflow.nothing"])
