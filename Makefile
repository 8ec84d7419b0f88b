# The two commands of the README's quick start are `make run` and `make test`;
# each creates and fills the virtual environment it needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: install run demo status test test-fast lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: install
	$(BIN)/delivery demo --if-empty
	$(BIN)/delivery status
	@echo
	@echo "Sign in at http://$(HOST):$(PORT)/ with this project manager token (or Authorization: Bearer <token>, docs at /docs):"
	@$(BIN)/delivery token create --role pm --name "Demo PM"
	@echo
	$(BIN)/delivery serve --host $(HOST) --port $(PORT)

demo: install
	$(BIN)/delivery demo

status: install
	$(BIN)/delivery status

test: install
	$(BIN)/python -m pytest -q

test-fast: install
	$(BIN)/python -m pytest -q tests/unit

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

bench: install
	$(BIN)/python bench/run_all.py

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .hypothesis
