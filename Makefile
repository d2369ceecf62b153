# ExoLIMS developer entry points. `make run` and `make test` are all a new machine needs.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Without DATABASE_URL, devdb starts the embedded PostgreSQL around the command.
WITH_DB := $(BIN)/python -m exolims.devdb exec --
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test worker beat install lint format bench clean-db stop-db

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "$(PYTHON) not found; set PYTHON=/path/to/python3.11"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	DEBUG=$${DEBUG:-1} $(WITH_DB) sh -c '\
	  $(BIN)/python manage.py migrate --noinput && \
	  $(BIN)/python manage.py load_demo_data && \
	  exec $(BIN)/python manage.py runserver --noreload $(HOST):$(PORT)'

test: $(STAMP)
	EXOLIMS_TESTING=1 $(WITH_DB) $(BIN)/python -m pytest $(PYTEST_ARGS)

worker: $(STAMP)
	@test -n "$$CELERY_BROKER_URL" || { echo "Set CELERY_BROKER_URL (e.g. redis://127.0.0.1:6379/0) to run a worker."; exit 1; }
	$(WITH_DB) $(BIN)/celery -A exolims worker --loglevel=INFO

beat: $(STAMP)
	@test -n "$$CELERY_BROKER_URL" || { echo "Set CELERY_BROKER_URL to run beat."; exit 1; }
	$(WITH_DB) $(BIN)/celery -A exolims beat --loglevel=INFO

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	EXOLIMS_TESTING=1 $(WITH_DB) $(BIN)/python bench/run.py

stop-db: $(STAMP)
	$(BIN)/python -m exolims.devdb stop
