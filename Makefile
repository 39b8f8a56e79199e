# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
FLASK  := $(BIN)/flask --app wsgi
STAMP  := $(VENV)/.installed

# `make run`: the web server and one worker (honcho runs the Procfile; Ctrl-C stops both).
.PHONY: run worker test test-fast test-pg lint bench soak e2e clean screenshots

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "Python 3.11 is needed ($(PYTHON) not found)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $(STAMP)

run: $(STAMP)
	$(FLASK) db upgrade
	$(FLASK) demo-data --if-empty
	@echo "Serving on http://127.0.0.1:5000 with one worker (Ctrl-C stops both)"
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/honcho start -f Procfile

# A worker alone (jobs and the periodic tasks): instance/huey.db, or Redis with REDIS_URL.
worker: $(STAMP)
	$(FLASK) worker

test: $(STAMP)
	$(BIN)/pytest

# The inner loop: everything but the tests marked slow (the large meeting, the form walker,
# the thread stress, the 512 MB file checks). `make test` and CI still run them all.
test-fast: $(STAMP)
	$(BIN)/pytest -m "not slow"

# The end-to-end walk in Debian's Chromium (Playwright's own browser download is never used).
e2e: $(STAMP)
	@test -x /usr/bin/chromium || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; }
	@command -v pdftotext >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq poppler-utils; }
	$(BIN)/pip install --quiet -e '.[test,e2e]'
	cd tests/e2e && npm ci --silent --no-audit --no-fund
	$(BIN)/pytest -o addopts="" -p no:cacheprovider -q tests/e2e

# Speed at a real meeting's scale: a fresh large meeting, a 64-client burst on the room sheet
# (wrk against gunicorn on 127.0.0.1), cold PDFs, staff/reviewer pages, nginx. About 5 minutes.
# SQLite by default; DATABASE_URL=postgresql+psycopg://... for PostgreSQL (throw-away schemas).
bench: $(STAMP)
	@command -v wrk >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk; }
	@command -v nginx >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx; }
	$(BIN)/python bench/run.py

# Reliability under load: a fresh demo meeting behind gunicorn on 127.0.0.1, 64 clients on the
# public room sheets (HTML and PDF) for 30 s while 4 reviewers post determinations through the
# real forms. Prints requests, 5xx (must be 0) and determinations posted = found. DATABASE_URL
# for PostgreSQL (a throw-away schema). SOAK_SECONDS / SOAK_CLIENTS / SOAK_PORT to change it.
# SOAK_SERVERS=2: two gunicorn servers (own instance folders) behind nginx, one PostgreSQL, one
# Redis; also fails on a sheet stale past PUBLIC_CACHE_SECONDS across servers or a log-in limit
# one server does not see.
soak: $(STAMP)
	@if [ "$${SOAK_SERVERS:-1}" != "1" ]; then command -v nginx >/dev/null || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx; }; fi
	$(BIN)/python bench/soak.py

lint: $(STAMP)
	$(BIN)/ruff check disclosures tests config.py wsgi.py
	$(BIN)/bandit -q -r disclosures -ll

clean:
	rm -rf $(VENV) build *.egg-info
