# Quick start: `make run` (set up and build results/table1.csv) and `make test` (set up and run the tests).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: setup setup-cluster run test test-fast report lint format bench clean

setup: $(STAMP)

# A SLURM submission host: the executor plugin, installed into .venv.
setup-cluster: setup
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r envs/requirements-cluster.txt

# The SLURM tests load the same plugin from a side folder (tests/test_slurm.py puts it on PYTHONPATH),
# so that .venv itself stays a laptop install: Snakemake imports every installed executor plugin at
# start-up, and the SLURM one probes `scontrol` as it loads (see envs/requirements-cluster.txt).
PLUGIN_DIR := $(VENV)/slurm-plugin
PLUGIN_STAMP := $(PLUGIN_DIR)/.installed
$(PLUGIN_STAMP): envs/requirements-cluster.txt $(STAMP)
	rm -rf $(PLUGIN_DIR)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --no-deps --target $(PLUGIN_DIR) \
		-r envs/requirements-cluster.txt
	touch $(PLUGIN_STAMP)

# Reinstalls only when the pinned requirements change; otherwise a no-op.
$(STAMP): envs/requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r envs/requirements.txt
	touch $(STAMP)

run: setup
	$(BIN)/snakemake --cores all results/table1.csv

# Lint first: a lint failure fails `make test`, and so CI (.ci/run).
test: lint $(PLUGIN_STAMP)
	$(BIN)/python -m pytest

test-fast: setup
	$(BIN)/python -m pytest -m "not workflow and not slurm"

report: setup
	$(BIN)/snakemake --report report.html

# As the model Snakemake workflows do in CI: Snakemake's own linter (parses the workflow; needs no results),
# snakefmt on the Snakefile and rules, ruff on the Python (settings in pyproject.toml; both tools pinned in
# envs/requirements.txt). All three run; the target fails if any of them does.
lint: setup
	@status=0; \
	$(BIN)/snakemake --lint || status=1; \
	$(BIN)/snakefmt --check workflow Snakefile || status=1; \
	$(BIN)/ruff check . || status=1; \
	exit $$status

# What the linters can fix themselves: snakefmt formatting, import order and unused imports.
format: setup
	$(BIN)/snakefmt workflow Snakefile
	$(BIN)/ruff check --fix .

# Measures (about 1 h on 2 cores), then regenerates the tables of BENCHMARKS.md (bench/render.py).
bench: setup
	$(BIN)/python bench/run_all.py

clean:
	rm -rf results logs benchmarks .snakemake report.html
