# Thermocline's commands. The README's two: `make demo` and `make check`.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
# The CPU build of torch 2.13.0 comes from a local wheel folder that pip is configured with;
# uv does not read pip's configuration, so it is handed the same folder.
FIND_LINKS := $(firstword $(PIP_FIND_LINKS) $(wildcard /opt/wheels))
UV_FLAGS := $(if $(FIND_LINKS),--find-links $(FIND_LINKS)) --python $(BIN)/python
PACKAGES := -p thermocline.catalog -p thermocline.datasets -p thermocline.quality -p thermocline.pipelines

.PHONY: setup demo test test-local check lint types up down status chromium lock clean

$(BIN)/.installed: pyproject.toml constraints.txt
	test -x $(BIN)/python || python3 -m venv $(VENV)
	$(BIN)/python -m pip install --quiet uv==0.13.8
	$(BIN)/uv pip install --quiet $(UV_FLAGS) -c constraints.txt -e '.[dev,torch]'
	touch $@

## setup: create .venv and install the pinned stack (about a minute on a fresh machine)
setup: $(BIN)/.installed

## demo: a Dagster run ingests a new batch of demo rides into the local lake; then ride events
## go through the dev Kafka broker (Tansu, started here; no S3 needed) into their own table;
## Dagster builds ride_features from both and trains ride_fare_model on it, and the lineage of
## that training run is printed back to the source file and Kafka offsets; last, a bad batch
## of rides that the GX suite quarantines, naming the expectation it broke
demo: setup
	$(BIN)/thermocline dev up --no-s3 > /dev/null
	$(BIN)/thermocline demo --events 20000
	$(BIN)/thermocline demo --bad --rows 1000

## up / down / status: the dev stack (Ceph RGW S3 + Tansu Kafka) on 127.0.0.1
up: setup
	$(BIN)/thermocline dev up
down:
	$(BIN)/thermocline dev down
status:
	$(BIN)/thermocline dev status

## chromium: install Debian's chromium (the UI test's headless screenshots) when it is missing
SUDO := $(if $(filter 0,$(shell id -u)),,sudo)
chromium:
	@test -x /usr/bin/chromium || { $(SUDO) apt-get update -qq && \
		$(SUDO) apt-get install -y -qq --no-install-recommends chromium; }

## test: start the dev stack when it is not running, install chromium, then run every test
test: up chromium
	$(BIN)/pytest -n auto

## test-local: the pure and local-lake tests only: no dev stack, no browser, no network
test-local: setup
	$(BIN)/pytest -n auto -m "not s3 and not kafka and not ui"

## lint / types: ruff and the import-linter layer contracts; mypy by package name over a strict
## editable install
lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/python tests/lint_layers.py
# mypy cannot follow the package-dir mapping of a normal editable install; the strict one is
# a link tree that misses modules added later, so the normal install is put back afterwards.
types: setup
	$(BIN)/uv pip install --quiet $(UV_FLAGS) --no-deps -e . --config-settings editable_mode=strict
	$(BIN)/mypy $(PACKAGES); status=$$?; \
		$(BIN)/uv pip install --quiet $(UV_FLAGS) --no-deps -e . --reinstall-package thermocline; \
		exit $$status

## check: lint + types + every test (what CI runs)
check: lint types test

## lock: re-resolve constraints.txt from pyproject.toml
lock: setup
	$(BIN)/uv pip compile pyproject.toml --extra dev --extra torch $(UV_FLAGS) \
		--no-header --no-annotate -o constraints.txt

clean: down
	rm -rf $(VENV) build *.egg-info .mypy_cache .ruff_cache .pytest_cache
