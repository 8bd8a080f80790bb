# Quick start: `make run` (set up and build results/table1.csv) and `make test` (set up and run the tests).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export PATH := $(CURDIR)/$(BIN):$(PATH)

.PHONY: setup run test test-fast report lint bench clean

setup: $(STAMP)

# Reinstalls only when the pinned requirements change; otherwise a no-op.
$(STAMP): envs/requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r envs/requirements.txt
	touch $(STAMP)

run: setup
	$(BIN)/snakemake --cores all results/table1.csv

test: setup
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
