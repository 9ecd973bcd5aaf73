# storeuptime: every entry point a new user needs. `make run` and `make test` set everything up.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
export STOREUPTIME_HOME ?= $(CURDIR)
export DAGSTER_HOME ?= $(CURDIR)/.storeuptime/dagster_home

.PHONY: install run test dev bench lint format clean db-stop

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/storeuptime demo

test: install
	$(BIN)/python -m pytest -q -p no:cacheprovider

# Other ports: STOREUPTIME_UI_PORT=3011 STOREUPTIME_API_PORT=8011 make dev (the API follows the UI port).
dev: install
	$(BIN)/storeuptime dev

bench: install
	$(BIN)/python benchmarks/run_all.py

lint: install
	$(BIN)/ruff check storeuptime_pipeline storeuptime_pipeline_tests benchmarks
	$(BIN)/ruff format --check storeuptime_pipeline storeuptime_pipeline_tests benchmarks

format: install
	$(BIN)/ruff format storeuptime_pipeline storeuptime_pipeline_tests benchmarks
	$(BIN)/ruff check --fix storeuptime_pipeline storeuptime_pipeline_tests benchmarks

db-stop: install
	$(BIN)/storeuptime db stop

clean:
	rm -rf $(VENV) .storeuptime reports build *.egg-info
