"""Production settings: `check --deploy` is clean, and no SECRET_KEY means no start."""

import os
import secrets
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
from django.db import connection

BASE_DIR = Path(__file__).resolve().parents[2]

# Everything the settings read: the subprocess gets only what a test sets.
SETTINGS_VARIABLES = {
    "DJANGO_SETTINGS_MODULE",
    "DEBUG",
    "SECRET_KEY",
    "ALLOWED_HOSTS",
    "CSRF_TRUSTED_ORIGINS",
    "DATABASE_URL",
    "CONN_MAX_AGE",
    "DATABASE_CONNECT_TIMEOUT",
    "CACHE_URL",
    "PAGE_SIZE",
    "MAX_PAGE_SIZE",
    "MAX_REQUEST_BODY_BYTES",
    "LOGIN_THROTTLE_RATE",
    "TOKEN_TTL_HOURS",
    "TOKEN_LIMIT_PER_USER",
    "IDEMPOTENCY_KEY_TTL_HOURS",
    "EMAIL_URL",
    "DEFAULT_FROM_EMAIL",
    "LOW_STOCK_ALERT_EMAILS",
    "SECURE_SSL_REDIRECT",
    "SECURE_HSTS_SECONDS",
    "SECURE_HSTS_PRELOAD",
    "LOG_LEVEL",
}


def database_url(settings_dict: dict) -> str:
    """A DATABASE_URL for a Django DATABASES entry (a unix-socket directory or TCP)."""
    options = settings_dict.get("OPTIONS") or {}
    host = str(settings_dict.get("HOST") or options.get("host") or "")
    port = str(settings_dict.get("PORT") or options.get("port") or "5432")
    credentials = quote(settings_dict.get("USER") or "", safe="")
    if settings_dict.get("PASSWORD"):
        credentials += ":" + quote(settings_dict["PASSWORD"], safe="")
    name = quote(settings_dict["NAME"], safe="")
    if not host or host.startswith("/"):
        query = urlencode({"host": host, "port": port}) if host else ""
        return f"postgres://{credentials}@/{name}" + (f"?{query}" if query else "")
    return f"postgres://{credentials}@{host}:{port}/{name}"


def production_env(**variables: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in SETTINGS_VARIABLES}
    env.update(DJANGO_SETTINGS_MODULE="config.settings", DEBUG="false", **variables)
    return env


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
    dotenv = BASE_DIR / ".env"
    if dotenv.is_file() and any(
        line.strip().startswith("SECRET_KEY=") for line in dotenv.read_text().splitlines()
    ):
        pytest.skip(".env sets SECRET_KEY, and the settings read it")
    # DATABASE_URL set: the settings would otherwise start the embedded server.
    env = production_env(DATABASE_URL="postgres://nobody@127.0.0.1:1/none")
    result = run_python("-c", "import django; django.setup()", env=env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert "SECRET_KEY" in result.stderr
