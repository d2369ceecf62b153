# ExoLIMS developer entry points. `make run` and `make test` are all a new machine needs.
# Without DATABASE_URL both use an embedded PostgreSQL (data in .data/postgres) that stops
# when the last command using it exits.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
WITH_DB := $(BIN)/python -m exolims.devdb exec --
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test worker beat install lint format bench db-status stop-db clean-db

$(BIN)/python:
	@test -n "$(PYTHON)" || { echo "Python 3.11+ not found; run: make PYTHON=/path/to/python3.11 ..."; exit 1; }
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || { echo "$(PYTHON) is older than 3.11; run: make PYTHON=/path/to/python3.11 ..."; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	@touch $(STAMP)

install: $(STAMP)

# Demo data and the demo login are for development only: DEBUG is on unless you say otherwise.
# Tasks run in-process here even if CELERY_BROKER_URL happens to be set.
run: $(STAMP)
	DEBUG=$${DEBUG:-1} CELERY_TASK_ALWAYS_EAGER=$${CELERY_TASK_ALWAYS_EAGER:-1} $(WITH_DB) sh -c '\
	  $(BIN)/python manage.py migrate --noinput && \
	  $(BIN)/python manage.py load_demo_data --if-debug && \
	  $(BIN)/python manage.py load_demo_protocols --if-debug && \
	  $(BIN)/python manage.py load_demo_characterisation --if-debug && \
	  echo "Serving ExoLIMS on http://$(HOST):$(PORT)/ (Ctrl-C stops it and the embedded database)" && \
	  exec $(BIN)/python manage.py runserver --noreload $(HOST):$(PORT)'

# --test-db: concurrent runs on the embedded server each get their own test database.
test: $(STAMP)
	EXOLIMS_TESTING=1 $(BIN)/python -m exolims.devdb exec --test-db -- $(BIN)/python -m pytest $(PYTEST_ARGS)

worker: $(STAMP)
	@test -n "$$CELERY_BROKER_URL" || { echo "Set CELERY_BROKER_URL (e.g. redis://127.0.0.1:6379/0) to run a worker; without it make run executes tasks in-process."; exit 1; }
	DEBUG=$${DEBUG:-1} $(WITH_DB) $(BIN)/celery -A exolims worker --loglevel=INFO

beat: $(STAMP)
	@test -n "$$CELERY_BROKER_URL" || { echo "Set CELERY_BROKER_URL (e.g. redis://127.0.0.1:6379/0) to run beat; it schedules periodic tasks for the workers."; exit 1; }
	@mkdir -p .data
	DEBUG=$${DEBUG:-1} $(WITH_DB) $(BIN)/celery -A exolims beat --loglevel=INFO --schedule=$${CELERY_BEAT_SCHEDULE_FILE:-.data/celerybeat-schedule}

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

format: $(STAMP)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

bench: $(STAMP)
	EXOLIMS_TESTING=1 $(WITH_DB) $(BIN)/python bench/run.py

db-status: $(STAMP)
	@$(BIN)/python -m exolims.devdb status

stop-db: $(STAMP)
	$(BIN)/python -m exolims.devdb stop

# Deletes the embedded database (all local data). Not needed in normal use.
clean-db: $(STAMP)
	$(BIN)/python -m exolims.devdb destroy
