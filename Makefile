# QuartFeed: `make run` serves the app, `make test` runs every test.
# Both set everything up first; nothing else needs to be installed by hand.

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed
VENDOR := static/vendor/bootstrap
HOST ?= 127.0.0.1
PORT ?= 5000

.PHONY: setup prerequisites run demo test mutants bench lint format lock migrate migration clean

setup: prerequisites $(INSTALLED) $(VENDOR)/.copied $(VENDOR)/bootstrap.min.css

prerequisites:
	@PYTHON=$(PYTHON) sh scripts/prerequisites.sh

# The venv is rebuilt when the dependencies change; requirements.lock pins
# every package so a fresh install is the one that was tested.
$(INSTALLED): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -c requirements.lock -e ".[test]"
	touch $@

# Bootstrap comes from the npm registry (no CDN), copied next to our own files.
$(VENDOR)/.copied: package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	mkdir -p $(VENDOR)
	cp node_modules/bootstrap/dist/js/bootstrap.bundle.min.js node_modules/bootstrap/dist/js/bootstrap.bundle.min.js.map $(VENDOR)/
	touch $@

# Its CSS, trimmed to the rules the pages use (purgecss.config.cjs): made
# again whenever a template or a script that writes markup changes.
$(VENDOR)/bootstrap.min.css: $(VENDOR)/.copied purgecss.config.cjs $(shell find templates -name '*.html') $(wildcard static/js/*.js)
	npx --no-install purgecss --config purgecss.config.cjs

migrate: setup
	$(BIN)/alembic upgrade head

# --workers 0: the app runs in Hypercorn's own process, which hears SIGTERM
# and Ctrl-C, so open streams end cleanly before it stops (application.py).
run: migrate
	$(BIN)/hypercorn --workers 0 --bind $(HOST):$(PORT) --access-logfile - "application:create_app()"

# The app with people who post, comment and like every few seconds.
demo: migrate
	$(BIN)/python -m scripts.demo --host $(HOST) --port $(PORT)

# PYTEST_ARGS passes options through, e.g. make test PYTEST_ARGS="-m 'not browser'"
# Three workers (pytest-xdist) on two cores, each taking tests the others
# have not reached: much of the suite waits on a server, a database or a
# browser, and another worker runs meanwhile. Each has its own databases,
# servers and browser.
TEST_WORKERS ?= 3
test: setup
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

# The curated mutants (scripts/mutants.py): each must make its tests fail.
mutants: setup
	$(BIN)/python -m scripts.mutants $(MUTANTS)

# Benchmarks against MySQL (and Redis): make bench, or make bench BENCH_ARGS=--quick.
# Not part of `make test`: figures are printed, not asserted.
BENCH_INSTALLED := $(VENV)/.bench-installed
$(BENCH_INSTALLED): $(INSTALLED)
	$(BIN)/pip install --quiet -c requirements.lock -e ".[test,bench]"
	touch $@

bench: setup $(BENCH_INSTALLED)
	$(BIN)/python -m bench $(BENCH_ARGS)

lint: setup
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: setup
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# A new migration from the models: make migration MESSAGE="add bio to user"
migration: setup
	$(BIN)/alembic revision --autogenerate -m "$(MESSAGE)"

# Re-pin every package after changing pyproject.toml's dependencies, then
# write poetry.lock (for the course's `poetry install`) at the same versions.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet --upgrade pip
	.lock-venv/bin/pip install --quiet -e ".[test,bench]"
	{ echo "# Every package, pinned: regenerate with 'make lock' after editing pyproject.toml."; \
	  .lock-venv/bin/pip freeze --exclude-editable | grep -v '^-e'; } > requirements.lock
	.lock-venv/bin/python -m scripts.poetry_lock
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) node_modules static/vendor
