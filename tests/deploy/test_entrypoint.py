"""docker/entrypoint.sh, run as the image runs it: migrate, then gunicorn or a command.

The script runs here with the virtualenv's bin directory first on PATH, against the
test database (already migrated, so its `migrate` is a no-op).
"""

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from urllib.parse import quote, urlencode

import pytest
from django.db import connection

BASE_DIR = Path(__file__).resolve().parents[2]
ENTRYPOINT = BASE_DIR / "docker" / "entrypoint.sh"
START_TIMEOUT = 30

# Everything the settings or the entrypoint read: the subprocess gets only what a test sets.
CONFIG_VARIABLES = {
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
    "PORT",
    "WEB_CONCURRENCY",
    "GUNICORN_TIMEOUT",
    "FORWARDED_ALLOW_IPS",
    "RUN_MIGRATIONS",
    "GUNICORN_CMD_ARGS",
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


def subprocess_env(**variables: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if key not in CONFIG_VARIABLES}
    env["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), env.get("PATH", "")])
    env.update(variables)
    return env


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def production_env(**variables: str) -> dict[str, str]:
    return subprocess_env(
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=database_url(connection.settings_dict),
        SECRET_KEY="entrypoint-test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        DEBUG="false",
        SECURE_SSL_REDIRECT="false",
        ALLOWED_HOSTS="127.0.0.1",
        **variables,
    )


def get_json(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read() or b"{}")


def test_entrypoint_script_is_executable_posix_sh():
    assert os.access(ENTRYPOINT, os.X_OK)
    assert ENTRYPOINT.read_text().startswith("#!/bin/sh\n")
    subprocess.run(["sh", "-n", str(ENTRYPOINT)], check=True)


def test_entrypoint_migrates_then_serves_with_gunicorn(django_db_setup, tmp_path):
    port = free_port()
    env = production_env(PORT=str(port), WEB_CONCURRENCY="2")
    log_path = tmp_path / "entrypoint.log"
    base = f"http://127.0.0.1:{port}"

    with open(log_path, "w") as log:
        process = subprocess.Popen(
            [str(ENTRYPOINT)],
            cwd=BASE_DIR,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        deadline = time.monotonic() + START_TIMEOUT
        ready = None
        while time.monotonic() < deadline:
            assert process.poll() is None, (
                f"the entrypoint exited with {process.returncode}:\n{log_path.read_text()}"
            )
            try:
                ready = get_json(f"{base}/readyz")
            except (OSError, ValueError):  # not listening yet, or mid start-up
                ready = None
            if ready and ready[0] == 200:
                break
            time.sleep(0.25)
        assert ready is not None and ready[0] == 200, (
            f"/readyz did not answer 200 within {START_TIMEOUT}s (last: {ready}):\n"
            f"{log_path.read_text()}"
        )
        assert ready[1]["status"] == "ok"

        assert get_json(f"{base}/healthz") == (200, {"status": "ok"})
    finally:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=15)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()

    output = log_path.read_text()
    assert "Booting worker" in output  # gunicorn, not runserver
    assert "Operations to perform:" in output
    assert output.index("Operations to perform:") < output.index("Booting worker")  # migrate first
    assert "GET /readyz" in output  # the access log goes to stdout


@pytest.mark.parametrize("migrate", [True, False])
def test_entrypoint_runs_the_given_command_instead_of_gunicorn(django_db_setup, migrate):
    env = production_env() if migrate else production_env(RUN_MIGRATIONS="false")
    result = subprocess.run(
        [str(ENTRYPOINT), "python", "-c", "print('the command ran')"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.rstrip().endswith("the command ran")
    assert ("Operations to perform:" in result.stdout) is migrate
