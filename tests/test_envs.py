"""The per-stage conda files pin exactly the versions of envs/requirements.txt."""

import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]


def _requirements(name="requirements.txt"):
    pins = {}
    for line in (ROOT / "envs" / name).read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[name.lower()] = version
    return pins


def _pip_pins(env_file):
    env = yaml.safe_load(env_file.read_text())
    pins = {}
    for dep in env["dependencies"]:
        if isinstance(dep, dict):
            for spec in dep["pip"]:
                m = re.fullmatch(r"([A-Za-z0-9_.-]+)==([^\s]+)", spec)
                assert m, f"{env_file.name}: pip dependency '{spec}' is not pinned with =="
                pins[m.group(1).lower()] = m.group(2)
    return pins


def test_requirements_are_all_pinned():
    pins = _requirements()
    assert {"snakemake", "torch", "torchaudio", "transformers", "neurokit2", "pandas", "pyarrow"} <= set(pins)


def test_cluster_requirements_are_pinned_and_kept_apart():
    """The SLURM executor plugin is a cluster-only install: Snakemake imports every installed executor
    plugin at start-up, and this one runs `scontrol show config` while it loads (about 10 s per
    snakemake call where a SLURM client is installed but no controller answers)."""
    main, cluster = _requirements(), _requirements("requirements-cluster.txt")
    assert "snakemake-executor-plugin-slurm" in cluster
    assert not any(name.startswith("snakemake-executor-plugin-") for name in main), sorted(main)
    assert not set(main) & set(cluster), "a package is pinned in both requirement files"


def test_conda_envs_agree_with_requirements():
    pins = _requirements()
    env_files = sorted((ROOT / "envs").glob("*.yaml"))
    assert env_files, "no conda environment files in envs/"
    for env_file in env_files:
        env_pins = _pip_pins(env_file)
        assert env_pins, f"{env_file.name} pins nothing"
        for name, version in env_pins.items():
            assert name in pins, f"{env_file.name}: {name} is not in envs/requirements.txt"
            assert version == pins[name], f"{env_file.name}: {name}=={version}, requirements say {pins[name]}"


def test_every_conda_directive_points_to_an_existing_env():
    rules = (ROOT / "workflow" / "rules")
    used = set()
    for smk in rules.glob("*.smk"):
        used |= set(re.findall(r'conda:\s*\n\s*"\.\./\.\./envs/([a-z_]+\.yaml)"', smk.read_text()))
    assert used, "no rule declares a conda environment"
    for name in used:
        assert (ROOT / "envs" / name).exists(), name


def test_lint_tools_are_pinned():
    """`make lint` (part of `make test`) runs ruff and snakefmt from .venv: pinned like everything else,
    with black, snakefmt's formatter, so that a check gives the same verdict on every machine."""
    pins = _requirements()
    assert {"ruff", "snakefmt", "black"} <= set(pins), sorted(pins)
    makefile = (ROOT / "Makefile").read_text()
    lint = makefile[makefile.index("\nlint:"):]
    assert all(cmd in lint for cmd in ("snakemake --lint", "snakefmt --check", "ruff check")), lint
    assert re.search(r"^test: .*\blint\b", makefile, re.M), "make test must run the linters"
