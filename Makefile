# The two commands: `make run` (install if needed, build the default target) and `make test`.
# Each creates the virtualenv when it is missing.
PYTHON ?= python3.11
VENV ?= .venv
CORES ?= 2
BIN = $(VENV)/bin

.PHONY: run test lint dry-run clean-results

$(BIN)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --upgrade pip
	# the CPU wheel on CPU machines; must come before anything that depends on torch
	$(BIN)/python -m pip install torch==2.13.0
	$(BIN)/python -m pip install -e '.[test]'
	touch $@

run: $(BIN)/.installed
	$(BIN)/snakemake -c$(CORES)

test: $(BIN)/.installed
	$(BIN)/python -m pytest -q --durations=25

# ruff (lint + format, configured in pyproject.toml), snakefmt for the rules, Snakemake's own linter,
# and the generated DVC pipelines in step with the rules and the modules their scripts import
lint: $(BIN)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/snakefmt --check Snakefile rules/
	$(BIN)/snakemake --lint
	$(BIN)/python -m expanse.dvc_pipeline check

# the plan of a scale's targets, e.g. `make dry-run SCALE=8b` (every scale of params.yaml has them)
SCALE ?= 32b
dry-run: $(BIN)/.installed
	$(BIN)/snakemake -n merged_$(SCALE)

clean-results:
	rm -rf results logs benchmarks/*/
