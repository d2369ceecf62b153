"""Typed readers for environment variables.

Every setting comes from the environment; a bad value stops start-up with a message that
names the variable and what was expected, instead of surfacing later as a confusing error.
"""

from __future__ import annotations

import os
from urllib.parse import parse_qs, unquote, urlsplit

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def env_str(name: str, default: str = "") -> str:
    return os.environ.get(name, default).strip()


def env_bool(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name)
    if raw is None:
        return default
    value = raw.strip().lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ImproperlyConfigured(
        f"{name}={raw!r} is not a boolean; use one of 1/0, true/false, yes/no."
    )


def env_int(name: str, default: int, *, minimum: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None or raw.strip() == "":
        return default
    try:
        value = int(raw.strip())
    except ValueError:
        raise ImproperlyConfigured(f"{name}={raw!r} is not a whole number.") from None
    if minimum is not None and value < minimum:
        raise ImproperlyConfigured(f"{name}={value} must be at least {minimum}.")
    return value


def env_list(name: str, default: list[str] | None = None) -> list[str]:
    raw = os.environ.get(name)
    if raw is None:
        return list(default or [])
    return [item.strip() for item in raw.split(",") if item.strip()]


def parse_database_url(url: str, *, conn_max_age: int = 60) -> dict:
    """Turn ``postgres://user:pass@host:port/name?opt=…`` into a Django DATABASES entry.

    A Unix-socket directory may be given as ``?host=/path`` or as a percent-encoded host.
    """
    parts = urlsplit(url)
    if parts.scheme not in {"postgres", "postgresql", "pgsql"}:
        raise ImproperlyConfigured(
            f"DATABASE_URL must start with postgres:// or postgresql:// (got {parts.scheme!r}); "
            "ExoLIMS runs on PostgreSQL only."
        )
    query = {key: values[-1] for key, values in parse_qs(parts.query).items()}
    # parts.hostname lower-cases, which would corrupt a percent-encoded socket directory.
    netloc_host = parts.netloc.rpartition("@")[2]
    if netloc_host.startswith("["):
        netloc_host = netloc_host[1 : netloc_host.find("]")]
    else:
        netloc_host = netloc_host.partition(":")[0]
    host = query.pop("host", None) or unquote(netloc_host)
    name = unquote(parts.path.lstrip("/"))
    if not name:
        raise ImproperlyConfigured("DATABASE_URL has no database name (…/dbname).")
    try:
        query_port = query.pop("port", None)
        port = parts.port or (int(query_port) if query_port else None)
    except ValueError:
        raise ImproperlyConfigured("DATABASE_URL has an invalid port.") from None
    return {
        "ENGINE": "django.db.backends.postgresql",
        "NAME": name,
        "USER": unquote(parts.username or ""),
        "PASSWORD": unquote(parts.password or ""),
        "HOST": host,
        "PORT": str(port or ""),
        "CONN_MAX_AGE": conn_max_age,
        "CONN_HEALTH_CHECKS": True,
        "OPTIONS": query,
    }
