# Quick start: `make demo` (install + run the main job), `make test` (lint + tests).
PY ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

$(BIN)/podwright: pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[test]'
	touch $(BIN)/podwright

.PHONY: demo test lint validate bench
demo: $(BIN)/podwright
	$(BIN)/podwright compare cloudmatrix384 gb200-nvl72
	$(BIN)/podwright bom cloudmatrix384

lint: $(BIN)/podwright
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts

test: lint
	$(BIN)/pytest

validate: $(BIN)/podwright
	$(BIN)/podwright validate ../shared/validation/published.yaml

bench: $(BIN)/podwright
	$(BIN)/python benchmarks/bench_bom.py
