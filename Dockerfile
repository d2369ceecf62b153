# ExoLIMS application image: the same image runs the web server, Celery workers and beat.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    # Code runs from /app so templates/ and static/ next to the packages are found.
    PYTHONPATH=/app \
    MEDIA_ROOT=/app/media \
    STATIC_ROOT=/app/staticfiles

WORKDIR /app

RUN groupadd --system --gid 10001 exolims \
    && useradd --system --uid 10001 --gid exolims --home-dir /app --shell /usr/sbin/nologin exolims

# Dependencies first, so a code change does not reinstall them.
COPY pyproject.toml README.md ./
COPY exolims ./exolims
COPY samples ./samples
COPY assays ./assays
RUN pip install .

COPY . .
# Media and collected static files belong to the app user; named volumes mounted here
# inherit that ownership when they are first created.
RUN mkdir -p /app/media /app/staticfiles && chown -R exolims:exolims /app/media /app/staticfiles

USER exolims
EXPOSE 8000

CMD ["gunicorn", "exolims.wsgi:application", "--bind", "0.0.0.0:8000", "--access-logfile", "-"]
