# Zhanli: `make run` (embedded platform with demo data) and `make test` (the whole suite).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV := $(PYTHON) -m uv
MEMBERS := shared gateway services/people services/talent services/learning services/kpi services/commission services/retention services/audit

.PHONY: help dev run test test-quarantine test-sqlite test-isolated lint fmt bench soak lock clean topics

help:
	@echo "make run     - start the whole platform (Tansu + SQLite + 6 services + gateway) with demo data"
	@echo "make test    - run the whole suite (SQLite; PostgreSQL too when TEST_DATABASE_URL is set)"
	@echo "make lint    - ruff on everything, mypy on every member (shared, gateway, services)"
	@echo "make bench   - benchmarks, written to var/bench/results.json"
	@echo "make soak    - the platform under faults (own PostgreSQL, killed processes), 3 seeds"
	@echo "make lock    - re-pin every environment (hashes, no addresses)"

$(VENV)/.stamp: requirements/dev.txt $(addsuffix /pyproject.toml,$(MEMBERS))
	@$(UV) --version >/dev/null 2>&1 || $(PYTHON) -m pip install --quiet uv
	@test -d $(VENV) || $(UV) venv --quiet --python $(PYTHON) $(VENV); \
	  $(UV) pip sync --quiet --compile-bytecode --python $(PY) --require-hashes requirements/dev.txt && \
	  $(UV) pip install --quiet --python $(PY) --no-deps --no-build-isolation $(addprefix -e ,$(MEMBERS))
	@touch $@

dev: $(VENV)/.stamp

run: dev
	@$(PY) -m compileall -q shared/src gateway/src services/*/src deploy >/dev/null
	$(PY) deploy/embedded/supervisor.py

test: dev
	@$(PY) -m compileall -q shared/src gateway/src services/*/src deploy >/dev/null
	$(PY) -m pytest -q -n 2 --dist loadgroup -m "not quarantine"

test-quarantine: dev
	$(PY) -m pytest -q -m quarantine

# Every member's package in one mypy run (shared's real types, not Any); a new service is
# picked up by its directory.
TYPED := $(wildcard shared/src/zhanli_* gateway/src/zhanli_* services/*/src/zhanli_*)

lint: dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy $(TYPED)

fmt: dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: dev
	$(PY) tests/bench/run.py

# The whole platform under faults on a PostgreSQL cluster of its own (tests/soak/run.py):
# 20,000 events, every fault three times, three seeds; exit 1 on any anomaly.
SOAK_ARGS ?= --events 20000 --rounds 3 --seed 1 --seed 2 --seed 3
soak: dev
	$(PY) tests/soak/run.py $(SOAK_ARGS) --json var/soak/report.json

lock:
	scripts/lock.sh

topics: dev
	$(PY) -m zhanli_shared.topics

clean:
	rm -rf $(VENV) var .pytest_cache
