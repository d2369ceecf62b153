"""Settings come from the environment only, and bad values stop start-up with a clear message."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from exolims.env import env_bool, env_int, env_list, parse_database_url

ROOT = Path(__file__).resolve().parents[2]
GOOD_SECRET = "s3cret-" + "x" * 50
PROBE = (
    "import json, django; django.setup(); from django.conf import settings as s; "
    "db = s.DATABASES['default']; "
    "print(json.dumps({'debug': s.DEBUG, 'host': db['HOST'], 'port': db['PORT'], "
    "'name': db['NAME'], 'eager': s.CELERY_TASK_ALWAYS_EAGER, 'hosts': s.ALLOWED_HOSTS, "
    "'test_name': db.get('TEST', {}).get('NAME'), 'max_age': db['CONN_MAX_AGE']}))"
)


def load_settings(**env: str) -> subprocess.CompletedProcess:
    """Import the settings in a fresh interpreter with exactly this environment."""
    base = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "DJANGO_SETTINGS_MODULE": "exolims.settings",
        "DATABASE_URL": "postgresql://exo:pw@db.example.org:5433/exolims",
        "SECRET_KEY": GOOD_SECRET,
    }
    base.update(env)
    environment = {key: value for key, value in base.items() if value is not None}
    return subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
    )


def loaded(**env: str) -> dict:
    result = load_settings(**env)
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def refused(**env: str) -> str:
    result = load_settings(**env)
    assert result.returncode != 0, result.stdout
    assert "ImproperlyConfigured" in result.stderr
    return result.stderr


def test_production_settings_load_from_environment():
    values = loaded(DEBUG="off", ALLOWED_HOSTS="lims.example.org, www.example.org")
    assert values["debug"] is False
    assert values["hosts"] == ["lims.example.org", "www.example.org"]
    assert (values["host"], values["port"], values["name"]) == ("db.example.org", "5433", "exolims")
    assert values["eager"] is True  # no broker configured: tasks run in-process


def test_debug_off_refuses_the_default_secret_key():
    stderr = refused(DEBUG="0", SECRET_KEY=None)
    assert "SECRET_KEY is the built-in development key" in stderr
    assert "at least 32 characters" in refused(DEBUG="0", SECRET_KEY="")  # .env.example as is
    assert loaded(DEBUG="1", SECRET_KEY=None)["debug"] is True


def test_bad_boolean_names_the_variable():
    stderr = refused(DEBUG="maybe")
    assert "DEBUG='maybe' is not a boolean" in stderr


def test_bad_integer_names_the_variable():
    assert "DB_CONN_MAX_AGE='soon' is not a whole number" in refused(DB_CONN_MAX_AGE="soon")
    assert "API_MAX_PAGE_SIZE=0 must be at least 1" in refused(API_MAX_PAGE_SIZE="0")


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("TIME_ZONE", "Mars/Olympus", "is not a time zone name"),
        ("LOG_LEVEL", "loud", "LOG_LEVEL='LOUD' is not one of"),
        ("CACHE_URL", "memcached://127.0.0.1", "must be a Redis URL"),
        ("CELERY_BROKER_URL", "localhost", "is not a URL"),
    ],
)
def test_bad_service_values_are_refused(variable, value, message):
    assert message in refused(**{variable: value})


def test_non_postgres_database_and_missing_database_are_refused():
    assert "PostgreSQL only" in refused(DATABASE_URL="mysql://root@localhost/exolims")
    assert "DATABASE_URL is not set" in refused(DATABASE_URL=None)


def test_broker_turns_eager_off_outside_tests_and_test_database_name_is_honoured():
    values = loaded(
        CELERY_BROKER_URL="redis://127.0.0.1:6379/0",
        DATABASE_TEST_NAME="test_exolims_3",
        DB_CONN_MAX_AGE="0",
    )
    assert values["eager"] is False
    assert values["test_name"] == "test_exolims_3"
    assert values["max_age"] == 0
    testing = loaded(CELERY_BROKER_URL="redis://127.0.0.1:6379/0", EXOLIMS_TESTING="1")
    assert testing["eager"] is True


# --- The readers themselves (in-process) ---------------------------------------------------


def test_unix_socket_urls_are_parsed():
    query_form = parse_database_url(
        "postgresql://postgres@/exolims?host=/tmp/Dev%20DB/pg&port=5433"
    )
    assert query_form["HOST"] == "/tmp/Dev DB/pg"
    assert query_form["PORT"] == "5433"
    assert query_form["OPTIONS"] == {}  # host and port are not passed twice
    encoded = parse_database_url("postgres://app:p%40ss@%2Fvar%2Frun%2FPostgreSQL/lims")
    assert encoded["HOST"] == "/var/run/PostgreSQL"  # not lower-cased
    assert (encoded["USER"], encoded["PASSWORD"], encoded["NAME"]) == ("app", "p@ss", "lims")


def test_tcp_url_with_options_and_ipv6():
    config = parse_database_url("postgresql://u:p@[::1]:6543/db?sslmode=require", conn_max_age=5)
    assert (config["HOST"], config["PORT"], config["CONN_MAX_AGE"]) == ("::1", "6543", 5)
    assert config["OPTIONS"] == {"sslmode": "require"}


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("sqlite:///db.sqlite3", "PostgreSQL only"),
        ("postgresql://u@localhost/", "no database name"),
        ("postgresql://u@localhost:notaport/db", "invalid port"),
    ],
)
def test_bad_database_urls(url, message):
    with pytest.raises(ImproperlyConfigured, match=message):
        parse_database_url(url)


def test_env_readers(monkeypatch):
    monkeypatch.setenv("FLAG", " Yes ")
    monkeypatch.setenv("NUMBER", " 42 ")
    monkeypatch.setenv("EMPTY", "")
    monkeypatch.setenv("ITEMS", "a, b,,c ")
    assert env_bool("FLAG") is True
    assert env_bool("UNSET_FLAG", True) is True
    assert env_int("NUMBER", 1, minimum=1) == 42
    assert env_int("EMPTY", 7) == 7
    assert env_list("ITEMS") == ["a", "b", "c"]
    monkeypatch.setenv("FLAG", "2")
    with pytest.raises(ImproperlyConfigured, match="FLAG='2' is not a boolean"):
        env_bool("FLAG")
