"""docker/entrypoint.sh, run as the image runs it: migrate, then gunicorn or a command.

The script runs here with the virtualenv's bin directory first on PATH, against the
test database (already migrated, so its `migrate` is a no-op).
"""

import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from django.db import connection

from config.database_url import database_url
from tests.deploy.environment import clean_env

BASE_DIR = Path(__file__).resolve().parents[2]
ENTRYPOINT = BASE_DIR / "docker" / "entrypoint.sh"
START_TIMEOUT = 30


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def production_env(**variables: str) -> dict[str, str]:
    return clean_env(
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
