# gnnrec: `make run` trains and evaluates the default experiment, `make test`
# runs the test suite. Both create the virtual environment on first use.
PYTHON ?= python3
VENV ?= .venv
# The torch requirement installed first. torch==2.13.0 is a CPU build on the
# project's CPU machines (and CI); on a CUDA machine give e.g.
#   make run TORCH_SPEC="torch==2.13.0 --index-url https://download.pytorch.org/whl/cu128"
TORCH_SPEC ?= torch==2.13.0
PYTEST_ARGS ?= -m "not slow"
ARGS ?=

BIN := $(VENV)/bin
STAMP := $(VENV)/.gnnrec-installed

.PHONY: setup run test test-all lint format clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check $(TORCH_SPEC)
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[dev,text,sweeps]'
	touch $(STAMP)

setup: $(STAMP)

run: setup
	$(BIN)/gnnrec-train $(ARGS)

test: setup
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

test-all: setup
	$(BIN)/python -m pytest -q

lint: setup
	$(BIN)/ruff check gnnrec conf tests benchmarks experiments
	$(BIN)/ruff format --check gnnrec conf tests benchmarks experiments
	$(BIN)/mypy

format: setup
	$(BIN)/ruff check --fix gnnrec conf tests benchmarks experiments
	$(BIN)/ruff format gnnrec conf tests benchmarks experiments

clean:
	rm -rf $(VENV) outputs multirun .pytest_cache
