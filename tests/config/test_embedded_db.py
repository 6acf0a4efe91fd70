"""The private development database: from pgserver, or from an installed PostgreSQL's
initdb/pg_ctl when pgserver has no wheel, shared by several processes."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from config import embedded_db

ROOT = Path(__file__).resolve().parents[2]

# Runs in a fresh process: start (or reuse) the server, connect, print where it listens.
SCRIPT = """
import sys, psycopg
import config.embedded_db as e
if sys.argv[1] == "pg_ctl":
    e._pgserver = lambda: None  # as where pgserver has no wheel
if sys.argv[2] == "stop":
    e.stop()
else:
    s = e.database_settings()
    with psycopg.connect(host=s["HOST"], port=s["PORT"], user=s["USER"], dbname=s["NAME"]) as c:
        print(s["HOST"], c.execute("SELECT current_database()").fetchone()[0])
"""


def run(kind, action, data_dir):
    env = {**os.environ, "EMBEDDED_DB_DIR": str(data_dir)}
    return subprocess.run(
        [sys.executable, "-c", SCRIPT, kind, action],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.fixture
def data_dir():
    # Short and world-traversable: the server's socket lives in it, and as root the
    # server runs as another account.
    path = Path(f"/tmp/inventory-embedded-test-{os.getpid()}")
    yield path
    subprocess.run(["rm", "-rf", str(path)], check=False)


@pytest.mark.parametrize("kind", ["pgserver", "pg_ctl"])
def test_processes_share_one_private_server_until_stopped(kind, data_dir):
    if kind == "pg_ctl":
        try:
            embedded_db._pg_bin_dir()
        except embedded_db.EmbeddedDatabaseUnavailable:
            pytest.skip("no installed PostgreSQL on this machine")
    elif embedded_db._pgserver() is None:
        pytest.skip("pgserver has no wheel for this Python")
    first = run(kind, "start", data_dir)
    assert first.returncode == 0, first.stderr
    second = run(kind, "start", data_dir)  # another process reuses the running server
    assert second.returncode == 0, second.stderr
    assert first.stdout == second.stdout
    assert first.stdout.split()[1] == embedded_db.DB_NAME
    assert str(data_dir) in first.stdout
    stopped = run(kind, "stop", data_dir)
    assert stopped.returncode == 0, stopped.stderr


def test_without_any_postgresql_the_message_says_what_to_do(monkeypatch):
    monkeypatch.setattr(embedded_db.shutil, "which", lambda name: None)
    monkeypatch.setattr(embedded_db.glob, "glob", lambda pattern: [])
    with pytest.raises(
        embedded_db.EmbeddedDatabaseUnavailable, match=r"Install PostgreSQL.*or set DATABASE_URL"
    ):
        embedded_db._pg_bin_dir()
