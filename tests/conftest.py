"""Shared helpers: run the real snakemake CLI on a copy of the workflow in a temporary folder.

The copy and the snakemake command line come from ``tools/wfcopy.py`` (on the test path through
pyproject.toml), which the benchmarks in ``bench/`` use too.
"""

from __future__ import annotations

import csv
import io
import logging
import re
import runpy
import shutil
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

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


# --------------------------------------------------------------------------------------------------
# A corrupted copy of the tiny data, run with the paper's encoders (shared by two test modules)
# --------------------------------------------------------------------------------------------------
PAPER_FOLD_TARGET = "results/fusion/audio+text/fold0/metrics.json"


def paper_models(data: Path) -> list[str]:
    """The --config of the corrupted run: its data folder and the paper's encoders (cnn, bert)."""
    return ["--config", f"data_dir={data}", "audio={'encoder': 'cnn'}", "text={'encoder': 'bert'}"]


def tiny_data_copy(tiny_run: Path, dest: Path) -> Path:
    src = tiny_run / "resources/synthetic/KEMDy19"
    shutil.copytree(src, dest, ignore=shutil.ignore_patterns("_truth"))
    return dest


def csv_rows(path: Path) -> list[list[str]]:
    return list(csv.reader(io.StringIO(path.read_text())))


def write_csv_rows(path: Path, rows: list[list[str]]) -> None:
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerows(rows)
    path.write_text(buf.getvalue())


def _own_rows(rows, gender):
    """Indexes of data rows that are the speaker's own (speaker letter == file gender)."""
    return [i for i, r in enumerate(rows) if i >= 2 and len(r) > 9 and r[9][-4] == gender]


def _wav(data: Path, segment_id: str) -> Path:
    sess, dialogue, _ = segment_id.split("_")
    return data / "wav" / f"Session{sess[4:]}" / f"{sess}_{dialogue}" / f"{segment_id}.wav"


@pytest.fixture(scope="session")
def corrupted(tiny_run, tmp_path_factory):
    """One copy of the tiny data with many defects that must become counted exclusions
    (tests/test_bad_input.py), run with the paper's encoders (cnn, bert) up to the QC summary and through one
    fold of audio+text (tests/test_offline_encoders.py): one run serves both."""
    root = tmp_path_factory.mktemp("bad")
    data = tiny_data_copy(tiny_run, root / "KEMDy19")
    ann = data / "annotation/Session01_F_res.csv"
    rows = csv_rows(ann)
    own = _own_rows(rows, "F")
    ids = {name: rows[i][9] for name, i in zip(
        ["unknown_label", "disqust", "missing_wav", "missing_txt", "cp949", "empty_txt", "truncated",
         "empty_wav", "ulaw"], own)}
    rows[own[0]][10] = "bored"
    rows[own[1]][10] = "disqust"
    write_csv_rows(ann, rows)
    _wav(data, ids["missing_wav"]).unlink()
    _wav(data, ids["missing_txt"]).with_suffix(".txt").unlink()
    cp949 = _wav(data, ids["cp949"]).with_suffix(".txt")
    korean = cp949.read_text(encoding="utf-8")
    cp949.write_bytes(korean.encode("cp949"))
    _wav(data, ids["empty_txt"]).with_suffix(".txt").write_bytes(b"")
    wav = _wav(data, ids["truncated"])
    wav.write_bytes(wav.read_bytes()[: len(wav.read_bytes()) // 2])
    _wav(data, ids["empty_wav"]).write_bytes(b"")
    ulaw = _wav(data, ids["ulaw"])
    sf.write(ulaw, np.zeros(16000, dtype=np.float32), 16000, subtype="ULAW")
    # a flat ECG (no beats) for one participant: the value column (2nd) becomes constant
    ecg = data / "ECG/Session02/Original/Sess02M.csv"
    lines = ecg.read_text().splitlines()
    ecg.write_text("\n".join(",".join([f[0], "0.1"] + f[2:]) for f in (ln.split(",") for ln in lines)) + "\n")
    # an EDA file without segment tags
    eda = data / "EDA/Session03/Original/Sess03F.csv"
    eda.write_text("\n".join(",".join(ln.split(",")[:3]) for ln in eda.read_text().splitlines()) + "\n")
    # TEMP rows whose clock goes backwards inside a tagged segment
    temp = data / "TEMP/Session02/Original/Sess02F.csv"
    tl = temp.read_text().splitlines()
    tagged = [i for i, ln in enumerate(tl) if ln.count(",") == 3 and "_F0" in ln]
    i = tagged[len(tagged) // 2]
    a, b = tl[i].split(","), tl[i + 1].split(",")
    a[2], b[2] = b[2], a[2]
    tl[i], tl[i + 1] = ",".join(a), ",".join(b)
    temp.write_text("\n".join(tl) + "\n")

    wd = copy_workflow(root / "wf")
    # the waveform and token paths (audio.parquet, one text QC table per fold) of the cnn and bert encoders
    t0 = time.perf_counter()
    snakemake(wd, "results/qc/features.tsv", PAPER_FOLD_TARGET, "--cores", "2", *TINY, *paper_models(data))
    print(f"corrupted copy, cnn + bert, QC and one fold of audio+text: {time.perf_counter() - t0:.1f} s")
    return wd, data, ids, korean
