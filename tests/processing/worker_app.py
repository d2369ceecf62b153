"""Celery app for the worker processes the fault tests and the pipeline benchmark start:
ExoLIMS's own app, with the fake test format registered after the real formats.

    celery -A tests.processing.worker_app worker ...
"""

from __future__ import annotations

from assays.parsers import registry
from exolims.celery import app
from tests.processing.fake_parser import FAKE_PARSERS

# Changed before the pool forks, so every child process sees it.
registry.PARSERS.update(FAKE_PARSERS)

__all__ = ["app"]
