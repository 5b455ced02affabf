# Two commands set everything up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: run test bench lint install-dev bytecode clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# The stamp files make a second run fast: installs redo only when pyproject.toml changes.
$(VENV)/.stamp-run: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.stamp-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e '.[dev]'
	touch $@ $(VENV)/.stamp-run

install-dev: $(VENV)/.stamp-dev

# The project's bytecode, written ahead. pip writes it for every package it installs, but not
# for an editable install; and where PYTHONDONTWRITEBYTECODE is set (our CI machines set it)
# Python never caches it, so every `meetagain` command would first compile the ~200 modules it
# imports (0.1 to 0.2 s a run). Only files changed since are compiled again.
bytecode: | $(BIN)/python
	@$(BIN)/python -m compileall -q -j 0 scheduler web integrations

run: $(VENV)/.stamp-run bytecode
	$(BIN)/meetagain init --demo-secret --host $(HOST) --port $(PORT)
	$(BIN)/meetagain demo
	$(BIN)/meetagain serve --host $(HOST) --port $(PORT) --drain-outbox

lint: $(VENV)/.stamp-dev
	$(BIN)/ruff check .
	$(BIN)/ruff format --check scheduler integrations web tests bench || true
	$(BIN)/mypy

test: $(VENV)/.stamp-dev bytecode
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# The invite benchmark drives the server with wrk (Debian's package) when it can be had, else with
# its own Python client, which competes with the server for the CPU.
bench: $(VENV)/.stamp-dev bytecode
	@command -v wrk >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1 && \
	  { apt-get install -y -q wrk >/dev/null 2>&1 || \
	    { apt-get update -q >/dev/null 2>&1 && apt-get install -y -q wrk >/dev/null 2>&1; }; }; } || true
	@command -v wrk >/dev/null 2>&1 || echo "wrk is not installed: the invite benchmark uses its Python client"
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) instance .pytest_cache .mypy_cache .ruff_cache
