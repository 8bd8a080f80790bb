# Quick start: `make run` (set up and build results/table1.csv) and `make test` (set up and run the tests).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: setup setup-cluster run test test-fast report lint bench clean

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

test: setup $(PLUGIN_STAMP)
	$(BIN)/python -m pytest

test-fast: setup
	$(BIN)/python -m pytest -m "not workflow and not slurm"

report: setup
	$(BIN)/snakemake --report report.html

lint: setup
	$(BIN)/snakemake --lint

bench: setup
	$(BIN)/python bench/run_all.py

clean:
	rm -rf results logs benchmarks .snakemake report.html
