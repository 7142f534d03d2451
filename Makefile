# seatgate: the one entry point. `make run` serves the demo; `make test` runs the suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP_FLAGS := --only-binary=lxml,xmlsec --disable-pip-version-check -q
export SEATGATE_DATABASE_URL ?= sqlite:///instance/seatgate.sqlite3

.PHONY: run test lint format install install-test install-bench bench clean soak fuzz

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install $(PIP_FLAGS) --upgrade pip

# Reinstall when the project's metadata changes.
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install $(PIP_FLAGS) -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	$(BIN)/pip install $(PIP_FLAGS) -e '.[test]'
	touch $(VENV)/.installed $@

$(VENV)/.installed-bench: pyproject.toml | $(BIN)/python
	$(BIN)/pip install $(PIP_FLAGS) -e '.[test,bench]'
	touch $(VENV)/.installed $(VENV)/.installed-test $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test
install-bench: $(VENV)/.installed-bench

# Serves where the settings say (server.host, server.port: SEATGATE_SERVER_PORT=8080 make run);
# the URLs `seatgate demo` prints follow base_url, which defaults to that address.
run: install
	$(BIN)/seatgate db upgrade
	$(BIN)/seatgate demo
	$(BIN)/seatgate serve

test: install-test
	$(BIN)/pytest -n auto --cov --cov-report=term-missing:skip-covered

# Two instances under gunicorn behind nginx on a PostgreSQL cluster of its own, under load,
# with an instance SIGKILLed, PostgreSQL restarted and SMTP stopped; then the invariants.
# Needs the Debian packages nginx, postgresql and xmlsec1. SOAK_SECONDS=600 for a longer run.
SOAK_SECONDS ?= 120
soak: install-test
	$(BIN)/python -m tests.soak.harness --seconds $(SOAK_SECONDS)

# Generated SCIM and JSON API requests (hypothesis, schemathesis): 2 tests x 2 engines x
# FUZZ_EXAMPLES requests each, over 10,000 in all with the default. Set
# SEATGATE_TEST_POSTGRES_URL to fuzz PostgreSQL too (without it: SQLite only, so raise FUZZ_EXAMPLES).
FUZZ_EXAMPLES ?= 2600
fuzz: install-test
	SEATGATE_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) $(BIN)/pytest -p no:logging tests/fuzz

# Benchmarks beside scim2-server, bare Flask and stock python3-saml (see bench/RESULTS.md).
# Needs Debian's wrk and xmlsec1, and PostgreSQL at SEATGATE_BENCH_POSTGRES_URL (default
# postgresql+psycopg://postgres@127.0.0.1:5432/postgres). BENCH_ARGS: see python -m bench.run -h.
bench: install-bench
	@command -v wrk >/dev/null || { echo "bench: needs wrk (Debian: apt-get install wrk)" >&2; exit 2; }
	$(BIN)/python -u -m bench.run $(BENCH_ARGS)

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install-test
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) instance/*.sqlite3* .pytest_cache .mypy_cache .ruff_cache
