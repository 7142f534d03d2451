# seatgate: the one entry point. `make run` serves the demo; `make test` runs the suite.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PIP_FLAGS := --only-binary=lxml,xmlsec --disable-pip-version-check -q
export SEATGATE_DATABASE_URL ?= sqlite:///instance/seatgate.sqlite3

.PHONY: run test lint format install install-test install-bench lock bench clean soak fuzz

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install $(PIP_FLAGS) --upgrade pip

# Installs come from the lock files in requirements/ (exact versions, hashes checked), then the
# project itself without dependencies; pyproject.toml keeps the ranges. `pip check` proves the
# locked set is complete. Reinstall when the metadata or a lock file changes.
define install_locked
	$(BIN)/pip install $(PIP_FLAGS) --require-hashes --no-deps -r requirements/$(1).txt
	$(BIN)/pip install $(PIP_FLAGS) --no-deps -e .
	$(BIN)/pip check
endef

$(VENV)/.installed: pyproject.toml requirements/base.txt | $(BIN)/python
	$(call install_locked,base)
	touch $@

$(VENV)/.installed-test: pyproject.toml requirements/test.txt | $(BIN)/python
	$(call install_locked,test)
	touch $(VENV)/.installed $@

$(VENV)/.installed-bench: pyproject.toml requirements/bench.txt | $(BIN)/python
	$(call install_locked,bench)
	touch $(VENV)/.installed $(VENV)/.installed-test $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test
install-bench: $(VENV)/.installed-bench

# Regenerate the lock files from pyproject.toml's ranges, for every platform and Python >= 3.11.
# Versions already locked are kept where they still fit; `make lock LOCK_ARGS=--upgrade` takes
# the newest. bench.txt is resolved first; test.txt and base.txt are held to its versions.
UV_VERSION := 0.13.8
LOCK = $(BIN)/uv pip compile --quiet --universal --generate-hashes \
	--custom-compile-command "make lock" $(LOCK_ARGS) pyproject.toml
$(BIN)/uv: | $(BIN)/python
	$(BIN)/pip install $(PIP_FLAGS) uv==$(UV_VERSION)

lock: $(BIN)/uv
	$(LOCK) --extra test --extra bench -o requirements/bench.txt
	$(LOCK) --extra test -c requirements/bench.txt -o requirements/test.txt
	$(LOCK) -c requirements/bench.txt -o requirements/base.txt

# Serves where the settings say (server.host, server.port: SEATGATE_SERVER_PORT=8080 make run);
# the URLs `seatgate demo` prints follow base_url, which defaults to that address.
run: install
	$(BIN)/seatgate db upgrade
	$(BIN)/seatgate demo
	$(BIN)/seatgate serve

test: install-test
	$(BIN)/pytest -n auto --cov --cov-report=term-missing:skip-covered $(PYTEST_ARGS)

# Two instances under gunicorn behind nginx on a PostgreSQL cluster of its own, under load,
# with an instance SIGKILLed, PostgreSQL restarted and SMTP stopped; then the invariants.
# Needs the Debian packages nginx and postgresql. SOAK_SECONDS=600 for a longer run.
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
# Needs Debian's wrk, and PostgreSQL at SEATGATE_BENCH_POSTGRES_URL (default
# postgresql+psycopg://postgres@127.0.0.1:5432/postgres). BENCH_ARGS: see python -m bench.run -h.
bench: install-bench
	@command -v wrk >/dev/null || { echo "bench: needs wrk (Debian: apt-get install wrk)" >&2; exit 2; }
	$(BIN)/python -u -m bench.run $(BENCH_ARGS)

# ruff, ruff's formatter, mypy. The layer contracts (import-linter: `$(BIN)/lint-imports`)
# belong at the end of this list.
lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install-test
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

clean:
	rm -rf $(VENV) instance/*.sqlite3* .pytest_cache .mypy_cache .ruff_cache
