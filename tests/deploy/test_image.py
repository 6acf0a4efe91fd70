"""What goes into the image and how compose runs it: gunicorn's resolved settings, the
packages installed, the build context, the published port."""

import re
import subprocess
import tomllib

import pytest
import yaml
from django.conf import settings
from packaging.requirements import Requirement

from tests.deploy.environment import clean_env
from tests.deploy.server import BASE_DIR


def gunicorn_settings(**variables: str) -> dict[str, str]:
    """gunicorn's own view of config/gunicorn.py (``--print-config``), as name -> value."""
    result = subprocess.run(
        ["gunicorn", "--print-config", "--config", "config/gunicorn.py"],
        cwd=BASE_DIR,
        env=clean_env(**variables),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return dict(
        (name.strip(), value.strip())
        for name, _, value in (line.partition("=") for line in result.stdout.splitlines())
    )


def test_gunicorn_defaults_are_safe_outside_a_container():
    config = gunicorn_settings()
    assert config["wsgi_app"] == "config.wsgi:application"
    assert config["bind"] == "['127.0.0.1:8000']"
    # Forwarded headers are believed from the local proxy only, not from anyone.
    assert config["forwarded_allow_ips"] == "['127.0.0.1', '::1']"
    # No control socket, which in the image's read-only home logs an error at start.
    assert config["control_socket_disable"] == "True"
    assert config["accesslog"] == "-"


def test_gunicorn_outwaits_every_database_limit():
    """A worker waiting for the database must get the database's answer (a JSON 503)
    before gunicorn kills it."""
    timeout_ms = int(gunicorn_settings()["timeout"]) * 1000
    assert timeout_ms > settings.DATABASE_LOCK_TIMEOUT_MS
    assert timeout_ms > settings.DATABASE_STATEMENT_TIMEOUT_MS
    assert timeout_ms > settings.DATABASE_REPORT_STATEMENT_TIMEOUT_MS


def test_gunicorn_reads_the_documented_variables():
    config = gunicorn_settings(
        BIND_HOST="0.0.0.0",
        PORT="9000",
        WEB_CONCURRENCY="3",
        GUNICORN_TIMEOUT="200",
        FORWARDED_ALLOW_IPS="10.0.0.5",
    )
    assert config["bind"] == "['0.0.0.0:9000']"
    assert config["workers"] == "3"
    assert config["timeout"] == "200"
    assert config["forwarded_allow_ips"] == "['10.0.0.5']"


def test_the_image_listens_on_all_interfaces_of_its_container():
    dockerfile = (BASE_DIR / "Dockerfile").read_text()
    assert re.search(r"^\s*BIND_HOST=0\.0\.0\.0\s*$", dockerfile, re.MULTILINE)


def test_gunicorn_is_pinned_to_one_major_version():
    project = tomllib.loads((BASE_DIR / "pyproject.toml").read_text())["project"]
    (gunicorn,) = [
        Requirement(r) for r in project["dependencies"] if Requirement(r).name == "gunicorn"
    ]
    assert [spec.operator for spec in sorted(gunicorn.specifier, key=str)] == ["<", ">="]
    upper = next(spec.version for spec in gunicorn.specifier if spec.operator == "<")
    lower = next(spec.version for spec in gunicorn.specifier if spec.operator == ">=")
    assert int(upper.split(".")[0]) == int(lower.split(".")[0]) + 1


def test_the_image_does_not_install_the_embedded_postgresql():
    project = tomllib.loads((BASE_DIR / "pyproject.toml").read_text())["project"]
    runtime = {Requirement(r).name for r in project["dependencies"]}
    assert "pgserver" not in runtime
    assert "pgserver" in {Requirement(r).name for r in project["optional-dependencies"]["embedded"]}
    installs = re.findall(r"pip install (\S+)", (BASE_DIR / "Dockerfile").read_text())
    assert installs == ["."]  # no extras
    assert "[dev,embedded]" in (BASE_DIR / "Makefile").read_text()


def _dockerignore_excludes(path: str, patterns: list[str]) -> bool:
    """Docker's rule, for the patterns used here: a path is left out when a pattern
    matches it or one of its parent directories (``*`` within a name, ``**`` across
    directories); ``!`` patterns re-include."""
    excluded = False
    parts = path.split("/")
    candidates = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        regex = (
            re.escape(pattern)
            .replace(r"\*\*/", "(?:.*/)?")
            .replace(r"\*\*", ".*")
            .replace(r"\*", "[^/]*")
            .replace(r"\?", "[^/]")
        )
        if any(re.fullmatch(regex, candidate) for candidate in candidates):
            excluded = not negate
    return excluded


def test_the_build_context_leaves_out_local_state():
    patterns = [
        line.strip()
        for line in (BASE_DIR / ".dockerignore").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    for path in [
        ".venv/bin/python",
        ".venv-3.12/bin/python",
        "venv/bin/python",
        "env/bin/python",
        "tools/.venv/bin/python",
        ".data/pgserver/postmaster.pid",
        ".data/secret_key",
        ".env",
        "staticfiles/admin/css/base.css",
    ]:
        assert _dockerignore_excludes(path, patterns), path
    for path in [
        "manage.py",
        "config/settings.py",
        "config/gunicorn.py",
        "docker/entrypoint.sh",
        "tests/deploy/environment.py",
        "pyproject.toml",
    ]:
        assert not _dockerignore_excludes(path, patterns), path


def test_compose_publishes_the_app_on_this_host_only():
    compose = yaml.safe_load((BASE_DIR / "docker-compose.yaml").read_text())
    published = [
        (name, port)
        for name, service in compose["services"].items()
        for port in service.get("ports", [])
    ]
    assert published, "the backend's port should be reachable from this host"
    for name, port in published:
        assert str(port).startswith("127.0.0.1:"), (name, port)


@pytest.mark.parametrize("name", ["worker", "reservations-worker", "partitions-worker"])
def test_compose_worker_waits_for_the_backend_to_migrate(name):
    worker = yaml.safe_load((BASE_DIR / "docker-compose.yaml").read_text())["services"][name]
    # With RUN_MIGRATIONS=false the entrypoint waits for the schema (test_entrypoint).
    assert worker["environment"]["RUN_MIGRATIONS"] == "false"
