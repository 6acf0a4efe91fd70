"""The README's commands, as a new user runs them on a fresh clone: `make run` on a
private PostgreSQL of its own, then every `.venv/bin/python manage.py ...` line of the
README, then `make db-stop`, from a shell with nothing set (no DATABASE_URL, DEBUG or
SECRET_KEY)."""

import os
import shlex
import subprocess
from pathlib import Path

import pytest

from tests.deploy.environment import clean_env
from tests.deploy.server import BASE_DIR, free_port, running

README = BASE_DIR / "README.md"
PASSWORD = "a-long-and-uncommon-passphrase-for-alice"


def readme_manage_commands() -> list[str]:
    """The README's manage.py lines as a user pastes them (a comment is ignored by the
    shell too), with a password for create_user, which otherwise prompts for it on the
    terminal."""
    commands = []
    for line in README.read_text().splitlines():
        if not line.startswith(".venv/bin/python manage.py "):
            continue
        command = shlex.split(line, comments=True)
        if command[2] == "create_user":
            command += ["--password", PASSWORD]
        commands.append(shlex.join(command))
    return commands


def test_the_readme_lists_the_operations_commands():
    names = {shlex.split(command)[2] for command in readme_manage_commands()}
    assert names >= {
        "create_user",
        "verify_ledger",
        "rebuild_balances",
        "low_stock_report",
        "send_stock_alerts",
        "prune_idempotency_keys",
    }


@pytest.fixture
def data_dir():
    # Short and world-traversable: the server's socket lives in it, and as root the
    # server runs as another account.
    path = Path(f"/tmp/inventory-readme-test-{os.getpid()}")
    yield path
    subprocess.run(["rm", "-rf", str(path)], check=False)


def test_readme_commands_work_on_a_fresh_clone_after_make_run(data_dir, tmp_path):
    port = free_port()
    # Nothing configured, as in a new user's shell; only the private database's place
    # differs from a clone's default (.data), to leave this checkout's own alone.
    env = clean_env(EMBEDDED_DB_DIR=str(data_dir), PORT=str(port))

    def sh(command: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["bash", "-c", command],
            cwd=BASE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=180,
        )

    try:
        with running(
            ["make", "run"],
            env=env,
            log_path=tmp_path / "make-run.log",
            ready_url=f"http://127.0.0.1:{port}/readyz",
        ):
            pass  # migrated, demo data loaded, serving: stopped again
        for command in readme_manage_commands():
            result = sh(command)
            assert result.returncode == 0, f"{command}\n{result.stdout}\n{result.stderr}"
            assert "Traceback" not in result.stderr, command

        stopped = sh("make db-stop")
        assert stopped.returncode == 0, stopped.stderr
        assert f"Stopped the private PostgreSQL at {data_dir}" in stopped.stdout
        again = sh("make db-stop")
        assert again.returncode == 0, again.stderr
        assert f"The private PostgreSQL at {data_dir} was not running." in again.stdout
    finally:
        sh("make db-stop")
