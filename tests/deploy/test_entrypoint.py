"""docker/entrypoint.sh, run as the image runs it: migrate, then gunicorn or a command.

The script runs here with the virtualenv's bin directory first on PATH, against the
test database (already migrated, so its `migrate` is a no-op).
"""

import os
import subprocess
import time

import psycopg
import pytest
from django.db import connection

from config.database_url import database_url
from tests.deploy.environment import clean_env
from tests.deploy.server import BASE_DIR, free_port, get_json, running

ENTRYPOINT = BASE_DIR / "docker" / "entrypoint.sh"


def production_env(**variables: str) -> dict[str, str]:
    env = clean_env(
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=database_url(connection.settings_dict),
        SECRET_KEY="entrypoint-test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
        DEBUG="false",
        SECURE_SSL_REDIRECT="false",
        ALLOWED_HOSTS="127.0.0.1",
        # As in the image: a home directory nobody can write to, and no runtime dir.
        HOME="/dev/null",
    )
    env.pop("XDG_RUNTIME_DIR", None)
    env.update(variables)
    return env


def test_entrypoint_script_is_executable_posix_sh():
    assert os.access(ENTRYPOINT, os.X_OK)
    assert ENTRYPOINT.read_text().startswith("#!/bin/sh\n")
    subprocess.run(["sh", "-n", str(ENTRYPOINT)], check=True)


def test_entrypoint_migrates_then_serves_with_gunicorn(django_db_setup, tmp_path):
    port = free_port()
    env = production_env(PORT=str(port), WEB_CONCURRENCY="2")
    log_path = tmp_path / "entrypoint.log"
    base = f"http://127.0.0.1:{port}"

    with running([str(ENTRYPOINT)], env=env, log_path=log_path, ready_url=f"{base}/readyz"):
        assert get_json(f"{base}/readyz")[1]["status"] == "ok"
        assert get_json(f"{base}/healthz") == (200, {"status": "ok"})

    output = log_path.read_text()
    assert "Booting worker" in output  # gunicorn, not runserver
    assert "Operations to perform:" in output
    assert output.index("Operations to perform:") < output.index("Booting worker")  # migrate first
    assert "GET /readyz" in output  # the access log goes to stdout
    # gunicorn 25.1+ would open a control socket under $HOME and log an error there.
    assert "Control server error" not in output
    assert "[ERROR]" not in output


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


@pytest.fixture
def empty_database(django_db_setup):
    """A database with no tables yet on the test server, as a fresh compose stack has
    before the backend has migrated; dropped afterwards."""
    name = f"{connection.settings_dict['NAME']}_schema_wait"[:63]
    admin_url = database_url(connection.settings_dict)
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.execute(f'CREATE DATABASE "{name}"')
    yield database_url({**connection.settings_dict, "NAME": name})
    with psycopg.connect(admin_url, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_without_migrations_the_entrypoint_waits_for_the_schema(empty_database, tmp_path):
    """The compose worker (RUN_MIGRATIONS=false) starts its command only once the backend
    has migrated, instead of failing on missing tables and restarting in a loop."""
    env = production_env(DATABASE_URL=empty_database, RUN_MIGRATIONS="false")
    log_path = tmp_path / "worker.log"
    command = [str(ENTRYPOINT), "python", "manage.py", "send_stock_alerts"]
    with open(log_path, "w") as log:
        worker = subprocess.Popen(
            command, cwd=BASE_DIR, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        deadline = time.monotonic() + 60
        while "Waiting for the database schema" not in log_path.read_text():
            assert worker.poll() is None, log_path.read_text()
            assert time.monotonic() < deadline, log_path.read_text()
            time.sleep(0.2)
        # The backend migrates.
        migrate = subprocess.run(
            ["python", "manage.py", "migrate", "--noinput"],
            cwd=BASE_DIR,
            env=production_env(DATABASE_URL=empty_database),
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert migrate.returncode == 0, migrate.stdout + migrate.stderr
        assert worker.wait(timeout=60) == 0, log_path.read_text()
    finally:
        if worker.poll() is None:
            worker.kill()
            worker.wait()
    output = log_path.read_text()
    assert "The database schema is up to date." in output
    assert "Sent 0 alert(s)" in output
    assert "does not exist" not in output
