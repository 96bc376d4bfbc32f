# skipcall-bridge. `make dev` and `make test` create .venv first when it is missing.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
PACKAGE_DIR := build/package
PACKAGE_ZIP := dist/skipcall-bridge-arm64.zip
HOST ?= 127.0.0.1
EVENT ?= events/zapier.json

.DEFAULT_GOAL := help

help:  ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	touch $@

setup: $(VENV)/.installed  ## create .venv with the project and its dev tools

src/sources.json:
	cp sources.example.json $@
	@echo "created $@ from sources.example.json: edit it for your sources"

sources: src/sources.json  ## create src/sources.json (the deployed sources file) from the example

dev: setup  ## run the receiver locally: moto + Skipcall sandbox + gateway on 127.0.0.1:3000
	$(BIN)/skipcall-bridge dev --sources sources.example.json --host $(HOST)

events: setup  ## re-sign the samples in events/ with the dev secrets and the current time
	$(BIN)/skipcall-bridge events --sources sources.example.json --out events

invoke: events sources  ## sam local invoke one sample against `make dev HOST=0.0.0.0` (needs Docker)
	sam build && sam local invoke ReceiverFunction -e $(EVENT) --env-vars events/env.json

replay: setup  ## replay the DLQ of `make dev` (ARGS="--dry-run", "--source hubspot", "--max 10")
	$(BIN)/skipcall-bridge replay --dev --sources sources.example.json $(ARGS)

lint: setup  ## ruff
	$(BIN)/ruff check src tests benchmarks
	$(BIN)/ruff format --check src tests benchmarks

typecheck: setup  ## mypy --strict on src/
	$(BIN)/mypy

validate: setup  ## cfn-lint template.yaml
	$(BIN)/cfn-lint template.yaml

package: setup sources  ## build the arm64 deployment zip (no Docker)
	rm -rf $(PACKAGE_DIR) $(PACKAGE_ZIP)
	$(MAKE) --no-print-directory -C src build-ReceiverFunction \
		PYTHON=$(abspath $(PY)) ARTIFACTS_DIR=$(abspath $(PACKAGE_DIR))
	mkdir -p dist
	cd $(PACKAGE_DIR) && $(abspath $(PY)) -m zipfile -c $(abspath $(PACKAGE_ZIP)) $$(ls -A)
	@ls -l $(PACKAGE_ZIP) | awk '{printf "%s: %.1f MB\n", $$NF, $$5 / 1e6}'

# The Lambda runtime is Python 3.13: the same tests run on it when an interpreter is on this
# machine (python3.13 on PATH, or pyenv's).
PY313 := $(shell for p in python3.13 $$HOME/.pyenv/versions/3.13*/bin/python3.13; do \
	"$$p" -c 'import sys; assert sys.version_info[:2] == (3, 13)' 2>/dev/null && { command -v "$$p"; break; }; done)
VENV313 := .venv313

$(VENV313)/.installed: pyproject.toml
	$(PY313) -m venv $(VENV313)
	$(VENV313)/bin/python -m pip install --quiet --disable-pip-version-check -e ".[dev]"
	touch $@

py313:  ## unit, integration and e2e tests on Python 3.13 (the Lambda runtime)
ifeq ($(PY313),)
	@echo "py313: skipped, no Python 3.13 interpreter on this machine"
else
	$(MAKE) --no-print-directory $(VENV313)/.installed
	$(VENV313)/bin/pytest -q -p no:cacheprovider tests/unit tests/integration tests/e2e
endif

bench: package  ## cold start, warm path, calls, burst and zip size next to the naive stack
	$(PY) benchmarks/bench.py

unit: setup  ## fast, pure tests
	$(BIN)/pytest -q tests/unit

test: lint typecheck validate package  ## every check: lint, types, template, package, all tests (3.11 and 3.13)
	SKIPCALL_BRIDGE_ZIP=$(abspath $(PACKAGE_ZIP)) SKIPCALL_BRIDGE_BYTECODE=$(if $(PY313),cpython-313) \
		$(BIN)/pytest -q
	$(MAKE) --no-print-directory py313

clean:  ## remove build output (keeps .venv)
	rm -rf build dist .pytest_cache .mypy_cache .ruff_cache .hypothesis $(VENV313)

.PHONY: help setup sources dev events invoke replay bench lint typecheck validate package py313 unit test clean
