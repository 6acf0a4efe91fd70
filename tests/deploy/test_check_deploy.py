"""Production settings: `check --deploy` is clean, and no SECRET_KEY means no start."""

import secrets
import subprocess
import sys
from pathlib import Path

from django.db import connection

from config.database_url import database_url
from tests.deploy.environment import clean_env

BASE_DIR = Path(__file__).resolve().parents[2]


def production_env(**variables: str) -> dict[str, str]:
    return clean_env(DJANGO_SETTINGS_MODULE="config.settings", DEBUG="false", **variables)


def run_python(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_reports_nothing_with_production_settings(django_db_setup):
    env = production_env(
        SECRET_KEY=secrets.token_urlsafe(45),  # 60 characters
        ALLOWED_HOSTS="inventory.example.com",
        DATABASE_URL=database_url(connection.settings_dict),
    )
    result = run_python("manage.py", "check", "--deploy", "--fail-level", "WARNING", env=env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_settings_refuse_to_load_without_secret_key_when_debug_is_off():
    # With DATABASE_URL set (production); without it a development key is made.
    env = production_env(DATABASE_URL="postgres://nobody@127.0.0.1:1/none")
    result = run_python("-c", "import django; django.setup()", env=env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY" in result.stderr
