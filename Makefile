# The two quick-start commands: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo demo-no-serve test lint clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)            ## offline demo: collect, score, detect, alert, then Datasette on :8001
	$(BIN)/earful demo

demo-no-serve: $(STAMP)   ## the same, without starting Datasette
	$(BIN)/earful demo --no-serve

test: $(STAMP)            ## the whole test suite (what CI runs)
	$(BIN)/ruff check .
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) data/demo data/*.db data/*.db-* .pytest_cache
