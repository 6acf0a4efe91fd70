# Two commands: `make run` serves the app with demo data, `make test` runs lint and tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
STAMP := $(VENV)/.installed-stamp
TEST_ENV := DJANGO_SETTINGS_MODULE=config.settings_test
# Local serving: plain HTTP on 127.0.0.1, so no redirect to an HTTPS that nothing here
# serves, no HSTS and no HTTPS-only cookies (unless set). DEBUG is off unless set, as
# deployed: `make run` takes real traffic; `make dev` turns it on.
PLAIN_HTTP := SECURE_SSL_REDIRECT=$${SECURE_SSL_REDIRECT:-false} \
	SECURE_HSTS_SECONDS=$${SECURE_HSTS_SECONDS:-0} SECURE_COOKIES=$${SECURE_COOKIES:-false}
# Without SECRET_KEY, the checkout's own random key (.data/secret_key), even with a
# DATABASE_URL.
RUN_ENV := DEBUG=$${DEBUG:-false} LOCAL_SECRET_KEY=true $(PLAIN_HTTP)
DEV_ENV := DEBUG=$${DEBUG:-true} LOCAL_SECRET_KEY=true $(PLAIN_HTTP)
# `prepare` runs in the mode of the target that asked for it.
MODE_ENV = $(RUN_ENV)
dev: MODE_ENV = $(DEV_ENV)

.PHONY: install run dev prepare test lint check pytest bench db-stop clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev,embedded]'
	touch $(STAMP)

install: $(STAMP)

prepare: install
	$(MODE_ENV) $(BIN)/python manage.py migrate --noinput
	$(MODE_ENV) $(BIN)/python manage.py ledger_partitions --ahead 3
	$(MODE_ENV) $(BIN)/python manage.py load_demo

# Served as the image serves it: gunicorn with config/gunicorn.py (a few workers, one
# persistent connection each), static files collected so that they are served with
# DEBUG off too; on this machine only.
# Beside it, the event feed's ASGI process (uvicorn, docs/events.md) on EVENTS_PORT
# (PORT + 1 unless set): there a long poll or a stream waits without holding a worker.
# It runs in make's process group, so it stops with make.
EVENTS_PORT_SH = $${EVENTS_PORT:-$$(($(PORT) + 1))}
run: prepare
	$(RUN_ENV) $(BIN)/python manage.py collectstatic --noinput --verbosity 0
	@echo "Serving on http://127.0.0.1:$(PORT)/ (API docs: http://127.0.0.1:$(PORT)/api/docs/)"
	@echo "Event feed (long polls, streams): http://127.0.0.1:$(EVENTS_PORT_SH)/api/v1/events/"
	$(RUN_ENV) CONN_MAX_AGE=0 $(BIN)/uvicorn config.asgi:application --host 127.0.0.1 \
	  --port $(EVENTS_PORT_SH) --log-level warning & \
	$(RUN_ENV) BIND_HOST=127.0.0.1 PORT=$(PORT) $(BIN)/gunicorn --config config/gunicorn.py

# runserver, reloading on code changes. It serves each request on a new thread, so a
# persistent connection would stay open for every thread it ever ran: none here.
dev: prepare
	@echo "Serving on http://127.0.0.1:$(PORT)/ (API docs: http://127.0.0.1:$(PORT)/api/docs/)"
	$(DEV_ENV) CONN_MAX_AGE=0 $(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

check: install
	$(TEST_ENV) $(BIN)/python manage.py check
	$(TEST_ENV) $(BIN)/python manage.py makemigrations --check --dry-run

# pytest exits 5 when it collects no tests: that is a failure too.
pytest: install
	$(BIN)/pytest $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "pytest collected no tests"; exit 1; fi; exit $$rc

test: lint check pytest

# BASELINE=<git ref>: the HTTP figures beside that commit's, measured in the same run.
bench: install
	$(BIN)/python bench/run.py $(if $(BASELINE),--baseline $(BASELINE)) $(BENCH_ARGS)

# The API fuzzed against its own OpenAPI schema as every role (schemathesis, on a
# throwaway PostgreSQL with the demo data; a few minutes). FUZZ_ARGS=--help for options.
.PHONY: fuzz
fuzz: install
	$(BIN)/python -m fuzz.run $(FUZZ_ARGS)

db-stop: install
	@$(BIN)/python -m config.embedded_db stop

clean: db-stop
	rm -rf .data staticfiles

# The local cluster (docs/scaling.md): pg_auto_failover (monitor, primary, synchronous
# secondary), a PgBouncer per node, three gunicorn instances behind nginx on
# 127.0.0.1:8080 (CLUSTER_PORT). Installs its Debian packages first (root, apt-get).
.PHONY: cluster-up cluster-down cluster-failover-drill bench-cluster
cluster-up: install
	deploy/cluster-up

cluster-down:
	deploy/cluster-down

# Kills the primary's machine under 16 writing clients; checks nothing acknowledged is lost.
cluster-failover-drill: install
	deploy/failover-drill

# Figures of the local cluster (started first if needed): orders/s with 1 and 3 app
# instances, audit reads/s on the replica and on the primary, the failover drill.
bench-cluster: install
	@curl -sf -o /dev/null http://127.0.0.1:$${CLUSTER_PORT:-8080}/readyz || deploy/cluster-up
	$(BIN)/python bench/cluster_bench.py $(BENCH_ARGS)
