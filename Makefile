# Zhanli: `make run` (embedded platform with demo data) and `make test` (the whole suite).
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV := $(shell command -v uv 2>/dev/null)
MEMBERS := shared gateway services/talent services/learning services/kpi services/commission services/retention

.PHONY: help dev run test test-sqlite test-isolated lint fmt bench lock clean topics

help:
	@echo "make run     - start the whole platform (Tansu + SQLite + 5 services + gateway) with demo data"
	@echo "make test    - run the whole suite (SQLite; PostgreSQL too when TEST_DATABASE_URL is set)"
	@echo "make lint    - ruff on everything, mypy on shared/"
	@echo "make bench   - benchmarks, written to var/bench/results.json"
	@echo "make lock    - re-pin every environment (hashes, no addresses)"

$(VENV)/.stamp: requirements/dev.txt $(addsuffix /pyproject.toml,$(MEMBERS))
	@if [ -z "$(UV)" ]; then $(PYTHON) -m pip install --quiet --user uv || $(PYTHON) -m pip install --quiet uv; fi
	@UVBIN=$$(command -v uv || echo $$HOME/.local/bin/uv); \
	  test -d $(VENV) || $$UVBIN venv --quiet --python $(PYTHON) $(VENV); \
	  $$UVBIN pip sync --quiet --compile-bytecode --python $(PY) --require-hashes requirements/dev.txt && \
	  $$UVBIN pip install --quiet --python $(PY) --no-deps --no-build-isolation $(addprefix -e ,$(MEMBERS))
	@touch $@

dev: $(VENV)/.stamp

run: dev
	@$(PY) -m compileall -q shared/src gateway/src services/*/src deploy >/dev/null
	$(PY) deploy/embedded/supervisor.py

test: dev
	@$(PY) -m compileall -q shared/src gateway/src services/*/src deploy >/dev/null
	$(PY) -m pytest -q -n 2 --dist loadgroup

lint: dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/mypy shared/src/zhanli_shared

fmt: dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

bench: dev
	$(PY) tests/bench/run.py

lock:
	scripts/lock.sh

topics: dev
	$(PY) -m zhanli_shared.topics

clean:
	rm -rf $(VENV) var .pytest_cache
