"""Keep the set-up files honest: documented variables, CI script, compose stack."""

from __future__ import annotations

import os
import re
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
READ_ENV = re.compile(r"env_(?:str|bool|int|list)\(\s*\"([A-Z][A-Z0-9_]*)\"")


def settings_variables() -> set[str]:
    names = set(READ_ENV.findall((ROOT / "exolims" / "settings.py").read_text()))
    assert {"SECRET_KEY", "DATABASE_URL", "DEBUG"} <= names  # the pattern still matches
    return names


def test_every_setting_is_documented_in_env_example_and_readme():
    example = (ROOT / ".env.example").read_text()
    readme = (ROOT / "README.md").read_text()
    documented = set(re.findall(r"^#?\s?([A-Z][A-Z0-9_]*)=", example, flags=re.MULTILINE))
    missing_example = settings_variables() - documented
    missing_readme = {name for name in settings_variables() if f"`{name}`" not in readme}
    assert not missing_example, f"add to .env.example: {sorted(missing_example)}"
    assert not missing_readme, f"add to the README configuration table: {sorted(missing_readme)}"


def test_ci_script_is_strict_and_executable():
    script = ROOT / ".ci" / "run"
    assert os.access(script, os.X_OK)
    text = script.read_text()
    assert text.startswith("#!/usr/bin/env bash")
    assert "set -euo pipefail" in text
    assert "make lint" in text and "make test" in text


def test_compose_stack_has_every_service_with_health_and_volumes():
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    services = compose["services"]
    assert set(services) == {"postgres", "redis", "web", "worker", "beat"}
    for name in ("postgres", "redis", "web"):
        assert "healthcheck" in services[name], name
    assert "migrate" in " ".join(services["web"]["command"])
    assert "gunicorn" in " ".join(services["web"]["command"])
    assert "worker" in " ".join(services["worker"]["command"])
    assert "beat" in " ".join(services["beat"]["command"])
    assert {"pgdata", "media"} <= set(compose["volumes"])
    for name in ("web", "worker", "beat"):
        assert services[name]["env_file"] == ".env"
        assert services[name]["environment"]["DATABASE_URL"].startswith("postgresql://")
