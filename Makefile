# Two commands: `make run` serves the app with demo data, `make test` runs lint and tests.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
STAMP := $(VENV)/.installed-stamp
TEST_ENV := DJANGO_SETTINGS_MODULE=config.settings_test

.PHONY: install run serve test lint check pytest bench db-stop clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: install
	DEBUG=$${DEBUG:-true} $(BIN)/python manage.py migrate --noinput
	DEBUG=$${DEBUG:-true} $(BIN)/python manage.py load_demo
	@echo "Serving on http://127.0.0.1:$(PORT)/ (API docs: http://127.0.0.1:$(PORT)/api/docs/)"
	DEBUG=$${DEBUG:-true} $(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

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

bench: install
	$(BIN)/python bench/run.py $(BENCH_ARGS)

# The API fuzzed against its own OpenAPI schema as every role (schemathesis, on a
# throwaway PostgreSQL with the demo data; a few minutes). FUZZ_ARGS=--help for options.
.PHONY: fuzz
fuzz: install
	$(BIN)/python -m fuzz.run $(FUZZ_ARGS)

db-stop: install
	$(BIN)/python -m config.embedded_db stop

clean: db-stop
	rm -rf .data staticfiles
