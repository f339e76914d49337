# The two commands: `make up` (the main job) and `make test`. Both create the
# virtualenv and install what they need on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip --disable-pip-version-check -q
STAMP := $(VENV)/.llmops-installed

.PHONY: help install up test lint typecheck bench clean

help:
	@echo "make up      run llmops on this repository (embedded engine: see README)"
	@echo "make test    create .venv, install llmops with test extras, run the test suite"
	@echo "make lint    ruff + mypy"
	@echo "make bench   run the benchmarks in benchmarks/"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(PIP) install --upgrade pip 2>&1 | grep -v '^WARNING: Location' || true
	@$(PIP) install -e '.[test]' 2>&1 | grep -v '^WARNING: Location' || true
	@$(BIN)/python -c 'import llmops, typer, yaml, pytest' && touch $@

install: $(STAMP)

up: $(STAMP)
	@$(BIN)/llmops envs
	@$(BIN)/llmops render dev -o yaml > /dev/null && echo "dev renders with real kustomize."
	@echo "The embedded engine (llmops up) arrives with its issue; until then: llmops envs / render."

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/mypy

bench: $(STAMP)
	@for b in benchmarks/*_bench.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
