# The two commands of the README's quick start are `make run` and `make test`;
# each creates and fills the virtual environment it needs.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp
HOST   ?= 127.0.0.1
PORT   ?= 8000

.PHONY: install catalogs run demo status test test-fast lint bench bench-quick bench-forecast soak clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

# Installing also compiles the gettext catalogs (web/locale/*/LC_MESSAGES/messages.po -> .mo, not committed);
# a checkout that has not compiled them still works: web/i18n.py compiles a missing or stale one in memory.
install: $(STAMP)
	$(BIN)/pybabel -q compile -d web/locale -D messages

# After adding or changing a marked string (docs/i18n.md): extract into web/locale/messages.pot and merge into
# each language's .po, keeping its translations; then translate what is new or fuzzy.
catalogs: install
	$(BIN)/python -m web.catalogs update

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

# The suite runs on every core (pytest-xdist): each test makes its own database, schema, ports and folders.
test: install
	$(BIN)/python -m pytest -q -n auto

test-fast: install
	$(BIN)/python -m pytest -q tests/unit

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

# Every figure of docs/performance.md on SQLite and PostgreSQL (127.0.0.1:5432, database test), each against a
# baseline measured in the same run; writes bench/results/latest.json. The full run grows the store to 1M events
# and takes long (15-20 minutes per store on 2 cores); bench-quick runs the same at small sizes in under two
# minutes. Options: make bench BENCH_ARGS="--stores sqlite --sizes 10000,100000" (docs/performance.md).
bench: install
	$(BIN)/python bench/run_all.py $(BENCH_ARGS)

bench-quick: install
	$(BIN)/python bench/run_all.py --quick $(BENCH_ARGS)

# How good the slip forecast is (docs/forecast.md): held-out histories replayed, calibration of P50/P80 and the
# mean absolute error against a naive baseline. Add a real store with BENCH_ARGS="--export FILE.jsonl".
bench-forecast: install
	$(BIN)/python bench/forecast.py --json bench/results/forecast-latest.json $(BENCH_ARGS)

# Two API processes and the worker on a private PostgreSQL cluster (initdb on a free port, never the machine's
# server) under mixed load for 10 minutes, with kill -9 of the worker and of an API process, database restarts and
# hostile bodies; then every write is checked against the store. Needs root (the cluster runs as postgres).
# Writes bench/results/soak-latest.json; docs/reliability.md records the figures. A short run is part of `make test`.
soak: install
	$(BIN)/python bench/soak.py --json bench/results/soak-latest.json $(SOAK_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .mypy_cache .ruff_cache .hypothesis
