# Two entry points: `make report` (the main job) and `make test`. Each bootstraps .venv itself.
SHELL := /bin/bash
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# The first Python >= 3.11 on PATH.
PYTHON ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
	&& { echo $$p; break; }; done)
PYTEST_WORKERS ?= 2

.PHONY: report test lint typecheck unit notebooks serve lab fuzz clean venv soak ab history

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -n "$(PYTHON)" || { echo "error: Python >= 3.11 not found on PATH; install it, or run make PYTHON=/path/to/python3.11" >&2; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev,lab]'
	@touch $(STAMP)

report: $(STAMP)
	$(BIN)/ailab report --html

# Did a change make anything slower? make ab BASE=main [HEAD=<ref>] [AB_ARGS="--only smoke --rounds 7"]
# (HEAD unset: the working tree as it is). Exit 1 on a regression beyond the margin and the noise.
BASE ?= main
HEAD ?=
AB_ARGS ?=
ab: $(STAMP)
	$(BIN)/ailab ab $(BASE) $(HEAD) $(AB_ARGS)

history: $(STAMP)
	$(BIN)/ailab history

lint: $(STAMP)
	$(BIN)/ruff check src tests loadtests
	$(BIN)/ruff format --check src tests loadtests

typecheck: $(STAMP)
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest -n $(PYTEST_WORKERS) --dist loadfile -q tests notebooks --nbval-lax --nbval-current-env -p no:cacheprovider

test: lint typecheck unit

# The sync's model-based test at soak size (AILAB_SYNC_SOAK_EXAMPLES x AILAB_SYNC_SOAK_STEPS).
soak: $(STAMP)
	AILAB_SYNC_SOAK_EXAMPLES=$${AILAB_SYNC_SOAK_EXAMPLES:-200} AILAB_SYNC_SOAK_STEPS=$${AILAB_SYNC_SOAK_STEPS:-50} \
		$(BIN)/pytest -q -s -p no:cacheprovider tests/test_sync_model.py

serve: $(STAMP)
	$(BIN)/ailab serve

# JupyterLab on notebooks/ with the project's kernel: its "Python 3" kernel is this .venv's Python.
LAB_PORT ?= 8888
LAB_ARGS ?=
# Jupyter refuses to run as root unless told (containers often are root).
LAB_ROOT := $(if $(filter 0,$(shell id -u)),--allow-root)
lab: $(STAMP)
	$(BIN)/jupyter lab --notebook-dir=notebooks --port=$(LAB_PORT) $(LAB_ROOT) $(LAB_ARGS)

# schemathesis (default checks and phases, 100 cases per operation, seeds 1 and 2) against a served,
# seeded scratch instance with writes enabled, on SQLite and Postgres; reports in reports/fuzz/.
FUZZ_ARGS ?=
fuzz: $(STAMP)
	$(BIN)/ailab fuzz --db sqlite $(FUZZ_ARGS)
	$(BIN)/ailab fuzz --db postgres $(FUZZ_ARGS)

clean:
	rm -rf $(VENV) reports .pytest_cache .mypy_cache .ruff_cache
