# skipcall-bridge. `make dev` and `make test` create .venv first when it is missing.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
BIN := $(VENV)/bin
PACKAGE_ZIP := dist/skipcall-bridge-arm64.zip
HOST ?= 127.0.0.1
# `make dev`'s ports (a taken one is named with the variable that moves it). Every `--dev`
# command finds them in .dev/stack-PID.json, which the running stack writes.
PORT ?= 3000
SANDBOX_PORT ?= 4010
MOTO_PORT ?= 5000
EVENT ?= events/zapier.json
# The sources file `make dev` and `make replay` load: SOURCES=my.json, else src/sources.json (what
# deploys) when it exists, else the example.
SOURCES ?= $(if $(wildcard src/sources.json),src/sources.json,sources.example.json)

.DEFAULT_GOAL := help

help:  ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

# Everything installs from lock files with hashes required (pip-tools; `make lock` renews them):
# src/requirements.txt (the runtime, what the zip ships), requirements/dev.txt (the runtime and the
# dev tools), requirements/scan.txt (the IaC scanners, in their own environment). Each environment
# first installs the pip of requirements/pip.txt, so nothing depends on the pip the interpreter
# shipped (3.11's own pip 23.x cannot install dev.txt: see requirements/pip.in).
PIP := --quiet --disable-pip-version-check
LOCK := $(BIN)/pip-compile --quiet --generate-hashes --strip-extras --allow-unsafe --no-emit-find-links --no-emit-index-url

PIP_LOCK := requirements/pip.txt

define locked_venv
	test -x $(1)/bin/python || $(2) -m venv $(1)
	$(1)/bin/python -m pip install $(PIP) --require-hashes -r $(PIP_LOCK)
	$(1)/bin/python -m pip install $(PIP) --require-hashes -r $(3)
endef

$(VENV)/.installed: pyproject.toml $(PIP_LOCK) requirements/dev.txt
	$(call locked_venv,$(VENV),python3,requirements/dev.txt)
	$(PY) -m pip install $(PIP) --no-deps --no-build-isolation -e .
	touch $@

setup: $(VENV)/.installed  ## create .venv with the project and its dev tools (from the lock)

lock: setup  ## renew the lock files from pyproject.toml and requirements/*.in
	$(LOCK) -o requirements/pip.txt requirements/pip.in
	$(LOCK) -o requirements/pip-oldest.txt requirements/pip-oldest.in
	$(LOCK) -o src/requirements.txt pyproject.toml
	$(LOCK) --all-build-deps --extra dev -o requirements/dev.txt pyproject.toml
	$(LOCK) -o requirements/scan.txt requirements/scan.in
	$(LOCK) -o requirements/sam.txt requirements/sam.in

# The inspector page is tested in a real browser: Chromium and its driver from the OS packages
# where this machine can install them (root, apt-get). Elsewhere (macOS, not root) the browser tests
# use a Chromium or Chrome found here (CHROME_PATH, CHROMEDRIVER_PATH, the usual places) or are
# skipped with one line saying what to install; under CI=true a missing browser fails the run.
browser:  ## install Chromium and chromedriver (Debian packages) when missing and this machine can
	@if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null; \
	else \
		echo "browser: Chromium cannot be installed here (needs root and apt-get); the browser tests use one already installed, or are skipped"; \
	fi

.venv-scan/.installed: $(PIP_LOCK) requirements/scan.txt
	$(call locked_venv,.venv-scan,python3,requirements/scan.txt)
	touch $@

scan: .venv-scan/.installed  ## checkov and cfn-lint's serverless rules on template.yaml
	.venv-scan/bin/checkov --quiet --compact --skip-download --framework cloudformation -f template.yaml
	.venv-scan/bin/cfn-lint --append-rules cfn_lint_serverless.rules -- template.yaml

src/sources.json:
	cp sources.example.json $@
	@echo "created $@ from sources.example.json: edit it for your sources"

sources: src/sources.json  ## create src/sources.json (the deployed sources file) from the example

schema: setup  ## write schema/sources.schema.json from the models (editors validate and complete with it)
	mkdir -p schema
	$(BIN)/skipcall-bridge schema > schema/sources.schema.json

dev: setup  ## run the receiver locally: moto + Skipcall sandbox + gateway on 127.0.0.1:3000 (SOURCES=…, PORT=…, SANDBOX_PORT=…, MOTO_PORT=…)
	$(BIN)/skipcall-bridge dev --sources $(SOURCES) --host $(HOST) \
		--gateway-port $(PORT) --sandbox-port $(SANDBOX_PORT) --moto-port $(MOTO_PORT)

events: setup  ## re-sign the samples in events/ with the dev secrets and the current time
	$(BIN)/skipcall-bridge events --sources sources.example.json --out events

invoke: events sources $(SAM_VENV)/.installed  ## sam local invoke one sample against `make dev` (needs Docker with host networking)
	$(SAM) build && $(SAM) local invoke ReceiverFunction -e $(EVENT) --env-vars events/env.json \
		--docker-network host

replay: setup  ## replay the DLQ of `make dev` (ARGS="--dry-run", "--source hubspot", "--max 10")
	$(BIN)/skipcall-bridge replay --dev --sources $(SOURCES) $(ARGS)

lint: setup  ## ruff (lint, format, complexity), as the pre-commit hooks run it
	$(BIN)/pre-commit run --all-files --show-diff-on-failure

typecheck: setup  ## mypy --strict on src/
	$(BIN)/mypy

validate: setup  ## cfn-lint template.yaml
	$(BIN)/cfn-lint template.yaml

# The zip holds src/sources.json when there is one, else the example (for `make test` and `make
# bench`): packaging never creates src/sources.json, which `make dev` and `make replay` would
# then load in place of the example.
PACKAGED_SOURCES = $(if $(wildcard src/sources.json),src/sources.json,sources.example.json)

# The AWS SAM CLI, in its own environment from its own hashed lock (it pins its own boto3).
SAM_VENV := .venv-sam
SAM := SAM_CLI_TELEMETRY=0 $(SAM_VENV)/bin/sam
SAM_BUILD_DIR := build/sam

$(SAM_VENV)/.installed: $(PIP_LOCK) requirements/sam.txt
	$(call locked_venv,$(SAM_VENV),python3,requirements/sam.txt)
	touch $@

sam-cli: $(SAM_VENV)/.installed  ## install the AWS SAM CLI into .venv-sam (from its hashed lock)

# `sam build` itself, every function of template.yaml side by side, into build/sam (never
# .aws-sam, which `sam deploy` reads: a test build must not replace what you built to deploy).
build: setup $(SAM_VENV)/.installed  ## sam build every function into build/sam, with src/sources.json (else the example)
	@echo "building with $(PACKAGED_SOURCES) as each function's sources.json"
	SOURCES_FILE=$(abspath $(PACKAGED_SOURCES)) PYTHON=$(abspath $(PY)) \
		$(SAM) build --no-cached --build-dir $(SAM_BUILD_DIR) --template-file template.yaml

# The zip is ReceiverFunction's artifact as `sam build` made it (the three functions' are the same).
package: build  ## the arm64 deployment zip of ReceiverFunction's sam build artifact, in dist/
	rm -f $(PACKAGE_ZIP) && mkdir -p dist
	cd $(SAM_BUILD_DIR)/ReceiverFunction && $(abspath $(PY)) -m zipfile -c $(abspath $(PACKAGE_ZIP)) $$(ls -A)
	@ls -l $(PACKAGE_ZIP) | awk '{printf "%s: %.1f MB\n", $$NF, $$5 / 1e6}'

# sam deploy, guided the first time (until the config file holds a region: the guided run saves
# it), plain afterwards, with the SAM CLI of .venv-sam. Your own answers may live in
# samconfig.local.toml (git-ignored: a `git pull` never conflicts with them), used when present.
SAMCONFIG ?= $(if $(wildcard samconfig.local.toml),samconfig.local.toml,samconfig.toml)
deploy: $(SAM_VENV)/.installed  ## sam build and sam deploy to the stack of samconfig.local.toml, else samconfig.toml (guided the first time)
	@test -f src/sources.json || { echo "src/sources.json is what deploys: run make sources, edit it, then make deploy"; exit 1; }
	$(SAM) build --config-file $(SAMCONFIG)
	if grep -q '^region' $(SAMCONFIG); then $(SAM) deploy --config-file $(SAMCONFIG); else $(SAM) deploy --guided --config-file $(SAMCONFIG); fi

# The Lambda runtime is Python 3.13: the same tests run on it when an interpreter is on this
# machine (python3.13 on PATH, or pyenv's).
PY313 := $(shell for p in python3.13 $$HOME/.pyenv/versions/3.13*/bin/python3.13; do \
	"$$p" -c 'import sys; assert sys.version_info[:2] == (3, 13)' 2>/dev/null && { command -v "$$p"; break; }; done)
VENV313 := .venv313

$(VENV313)/.installed: pyproject.toml $(PIP_LOCK) requirements/dev.txt
	$(call locked_venv,$(VENV313),$(PY313),requirements/dev.txt)
	$(VENV313)/bin/python -m pip install $(PIP) --no-deps --no-build-isolation -e .
	touch $@

# The fault-injection suite (1,000 deliveries through outages) runs once, on 3.11, in `make test`:
# it proves the design, not the interpreter.
venv313:  ## create .venv313 (Python 3.13, the Lambda runtime) from the lock, when 3.13 is here
ifneq ($(PY313),)
	$(MAKE) --no-print-directory $(VENV313)/.installed
endif

# Under CI (CI=true) a missing 3.13 fails the run instead of skipping the leg.
py313:  ## unit, integration and e2e tests on Python 3.13 (the Lambda runtime)
ifeq ($(PY313),)
	@if [ "$(CI)" = true ]; then echo "py313: no Python 3.13 interpreter on this machine (CI=true: failing)"; exit 1; fi
	@echo "py313: skipped, no Python 3.13 interpreter on this machine"
else
	$(MAKE) --no-print-directory $(VENV313)/.installed
	$(VENV313)/bin/pytest -q -p no:cacheprovider tests/unit tests/integration tests/e2e
endif

# The 1,000-delivery fault injection (about a minute) runs in one leg: the 3.13 one, the
# Lambda runtime's, which `make test` runs beside the 3.11 one; the 3.11 leg runs it where there
# is no 3.13 (outside CI).
FAULT_SUITE := tests/integration/test_fault_injection.py
IN_311_LEG := $(if $(PY313),--ignore=$(FAULT_SUITE),)

bench: package  ## the built artifact's cold starts (3.13, tracing); cold, warm, calls, burst, zip; batches at real latencies; 1,000 deliveries across containers
	@$(PY) benchmarks/artifact.py; artifact=$$?; \
	$(PY) benchmarks/bench.py; first=$$?; $(PY) benchmarks/batches.py; second=$$?; \
	$(PY) benchmarks/burst.py; exit $$((artifact || first || second || $$?))

# mkdocs-material announces its successor on every build; the docs need no such banner.
DOCS_ENV := NO_MKDOCS_2_WARNING=1

docs: setup  ## serve the documentation site (docs/) on 127.0.0.1:8000, rebuilt as you edit
	$(DOCS_ENV) $(BIN)/mkdocs serve --dev-addr 127.0.0.1:8000

docs-check: setup  ## build the docs with --strict: a broken link, anchor or orphan page fails
	$(DOCS_ENV) $(BIN)/mkdocs build --strict --quiet --site-dir build/site

unit: setup  ## fast, pure tests
	$(BIN)/pytest -q tests/unit

# The 3.13 environment installs in the background while the 3.11 checks run, and the 3.13
# suite runs beside the 3.11 one: both mostly wait (on pip, sockets, the servers they start),
# and the suites pass with both cores busy. Each log is printed; either failing fails the run.
test:  ## every check: lint, types, template, scanners, sam build, all tests and coverage (3.11 and 3.13)
	@mkdir -p build && rm -f build/venv313.status build/py313.status
	@{ $(MAKE) --no-print-directory venv313 > build/venv313.log 2>&1; \
		echo $$? > build/venv313.status; } &
	$(MAKE) --no-print-directory lint validate docs-check scan package browser
	@while [ ! -f build/venv313.status ]; do sleep 1; done; \
		if [ "$$(cat build/venv313.status)" != 0 ]; then cat build/venv313.log; exit 1; fi
	@{ $(MAKE) --no-print-directory py313 > build/py313.log 2>&1; \
		echo $$? > build/py313.status; } &
	SKIPCALL_BRIDGE_BUILD=$(abspath $(SAM_BUILD_DIR)) $(BIN)/pytest -q --cov --cov-report=term \
		--durations=10 $(IN_311_LEG)
	@while [ ! -f build/py313.status ]; do sleep 1; done; \
		echo "--- Python 3.13 (the Lambda runtime) ---"; grep -v '^WARNING: Location' build/py313.log; \
		exit "$$(cat build/py313.status)"

clean:  ## remove build output (keeps .venv)
	rm -rf build dist .pytest_cache .mypy_cache .ruff_cache .hypothesis $(VENV313) .venv-scan $(SAM_VENV)

.PHONY: help setup lock scan schema browser sources dev events invoke replay bench lint typecheck validate sam-cli build package deploy venv313 py313 unit test clean docs docs-check
