# storeuptime: every entry point a new user needs. `make run` and `make test` set everything up.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LOCK := requirements.lock
export STOREUPTIME_HOME ?= $(CURDIR)
export DAGSTER_HOME ?= $(CURDIR)/.storeuptime/dagster_home

.PHONY: install run test dev bench lint format clean db-stop lock lock-check

# Exactly the locked set (hashes checked, nothing resolved), then the project itself on top with no
# dependencies of its own; whatever else an older install left in .venv is removed.
$(STAMP): pyproject.toml $(LOCK)
	@$(PYTHON) .ci/lockfile.py check
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r $(LOCK)
	@extra="$$($(BIN)/python .ci/lockfile.py unlocked)" && if [ -n "$$extra" ]; then \
		echo "removing packages not in $(LOCK): $$extra"; $(BIN)/python -m pip uninstall --quiet -y $$extra; fi
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	@$(BIN)/python -m pip check >/dev/null || { $(BIN)/python -m pip check; exit 1; }
	@touch $(STAMP)

install: $(STAMP)

# Re-resolve pyproject.toml into requirements.lock (after changing a dependency); current pins are kept
# unless named: `make lock UPGRADE="pandas pyarrow"`, or `make lock UPGRADE=all`.
lock:
	$(PYTHON) .ci/lockfile.py update $(UPGRADE)

lock-check:
	@$(PYTHON) .ci/lockfile.py check

run: install
	$(BIN)/storeuptime demo

# The suite in TEST_WORKERS processes (pytest-xdist; 3 on 2 cores: much of it waits on servers), whole files per process (module fixtures such as
# a live Dagster stack are built once); TEST_WORKERS=0 runs it in this one process.
TEST_WORKERS ?= 3
test: install
	$(BIN)/python -m pytest -q -p no:cacheprovider $(if $(filter-out 0,$(TEST_WORKERS)),-n $(TEST_WORKERS) --dist loadfile)

# Other ports: STOREUPTIME_UI_PORT=3011 STOREUPTIME_API_PORT=8011 make dev (the API follows the UI port).
# `make dev WORKERS=2`: also two Celery workers, and every run's steps go to them (STOREUPTIME_EXECUTOR=celery;
# needs the Redis of STOREUPTIME_CELERY_BROKER, default redis://127.0.0.1:6379/0).
dev: install
	$(BIN)/storeuptime dev $(if $(WORKERS),--workers $(WORKERS))

# `make bench X10=1`: then the scale benchmarks again on the 10x data set (~30 more minutes).
bench: install
	$(BIN)/python benchmarks/run_all.py $(if $(X10),--x10)

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
