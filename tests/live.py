"""The service as it runs for real, on a throwaway PostgreSQL of its own: for the fault
tests (tests/faults/) and the schema fuzz run (fuzz/run.py).

``Cluster`` is a private PostgreSQL cluster made with initdb/pg_ctl in a temporary
directory (found, and run as the ``postgres`` account when root, as config/embedded_db.py
does; installed with scripts/install-postgresql when missing), reachable only through its
unix socket, so it never touches the development or test database and can be killed
and restarted at will. ``Gunicorn`` serves the project on it as the image does.
"""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlencode

from config import embedded_db
from tests.deploy.environment import clean_env

ROOT = Path(__file__).resolve().parent.parent
INSTALL_POSTGRESQL = ROOT / "scripts" / "install-postgresql"
DB_NAME = "inventory"
SECRET_KEY = "live-test-only-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"


def pg_bin_dir() -> Path:
    """initdb/pg_ctl's directory, installing PostgreSQL first if it is missing."""
    try:
        return embedded_db._pg_bin_dir()
    except embedded_db.EmbeddedDatabaseUnavailable:
        subprocess.run([str(INSTALL_POSTGRESQL)], check=True, timeout=600)
        return embedded_db._pg_bin_dir()


class Cluster:
    """A throwaway PostgreSQL cluster; ``stop()`` removes it."""

    def __init__(self) -> None:
        self.bin_dir = pg_bin_dir()
        # Short (a socket path has ~100 characters) and traversable by the server's
        # account when that is not ours.
        self.root = Path(tempfile.mkdtemp(prefix="inv-pg-"))
        os.chmod(self.root, 0o755)
        self.pgdata = self.root / "data"
        self.pgdata.mkdir()
        if os.geteuid() == 0:
            shutil.chown(self.pgdata, "postgres", "postgres")
        self.port = 5432  # names the socket file only: no TCP listener
        embedded_db._run_as_owner(
            [
                str(self.bin_dir / "initdb"),
                "-D",
                str(self.pgdata),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--no-sync",
            ]
        )
        self.start()

    def pg_ctl(self, *args: str) -> None:
        embedded_db._run_as_owner([str(self.bin_dir / "pg_ctl"), "-D", str(self.pgdata), *args])

    def start(self) -> None:
        self.pg_ctl(
            "-w",
            "-l",
            str(self.pgdata / "log"),
            "-o",
            f"-c listen_addresses='' -k {self.pgdata} -p {self.port} -c max_connections=60",
            "start",
        )

    def stop(self, mode: str = "fast") -> None:
        self.pg_ctl("-w", "-m", mode, "stop")

    def remove(self) -> None:
        if (self.pgdata / "postmaster.pid").exists():
            self.stop("immediate")
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, dbname: str = DB_NAME) -> str:
        query = urlencode({"host": str(self.pgdata), "port": self.port})
        return f"postgres://postgres@/{dbname}?{query}"

    def connect(self, dbname: str = DB_NAME):
        import psycopg

        return psycopg.connect(
            host=str(self.pgdata), port=self.port, user="postgres", dbname=dbname, autocommit=True
        )

    def create_database(self, dbname: str = DB_NAME) -> None:
        with self.connect("postgres") as conn:
            conn.execute(f'CREATE DATABASE "{dbname}"')

    def terminate_backends(self, dbname: str = DB_NAME) -> int:
        """pg_terminate_backend() every client connection to ``dbname`` but ours."""
        with self.connect("postgres") as conn:
            rows = conn.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = %s AND pid <> pg_backend_pid()"
                " AND backend_type = 'client backend'",
                [dbname],
            ).fetchall()
        return sum(1 for (terminated,) in rows if terminated)


def service_env(database_url: str, **variables: str) -> dict[str, str]:
    """The environment of a production process (DEBUG off) on ``database_url``."""
    return clean_env(
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=database_url,
        SECRET_KEY=SECRET_KEY,
        DEBUG="false",
        SECURE_SSL_REDIRECT="false",
        ALLOWED_HOSTS="127.0.0.1",
        LOG_LEVEL="WARNING",
        **variables,
    )


def manage(database_url: str, *args: str, timeout: float = 180) -> subprocess.CompletedProcess:
    """``manage.py *args`` against ``database_url``, as an operator runs it."""
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=service_env(database_url),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def prepare_demo_database(cluster: Cluster) -> None:
    """Create the service's database on ``cluster``, migrate it and load the demo data."""
    cluster.create_database()
    for command in (["migrate", "--noinput"], ["load_demo"]):
        result = manage(cluster.url(), *command)
        assert result.returncode == 0, result.stdout + result.stderr


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Gunicorn:
    """gunicorn serving the project on ``database_url`` (sync workers, persistent
    connections, as the image runs it); ``stop()`` ends it."""

    def __init__(self, database_url: str, *, workers: int = 2, log: Path, **variables) -> None:
        self.port = free_port()
        self.log = log
        with open(log, "w") as output:
            self.process = subprocess.Popen(
                # The one gunicorn configuration that `make run` and the image use.
                [sys.executable, "-m", "gunicorn", "--config", "config/gunicorn.py"],
                cwd=ROOT,
                env=service_env(
                    database_url,
                    BIND_HOST="127.0.0.1",
                    PORT=str(self.port),
                    WEB_CONCURRENCY=str(workers),
                    GUNICORN_TIMEOUT="60",
                    **variables,
                ),
                stdout=output,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_until_ready()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _wait_until_ready(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.process.poll() is None, f"gunicorn exited:\n{self.log.read_text()}"
            try:
                if self.request("GET", "/readyz").status == 200:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"gunicorn did not answer /readyz:\n{self.log.read_text()}")

    def request(self, method: str, path: str, body=None, *, token: str | None = None, **headers):
        """One request on a new connection; returns a Reply."""
        if token:
            headers["Authorization"] = f"Token {token}"
        payload = None
        if body is not None:
            payload = json.dumps(body).encode()
            headers["Content-Type"] = "application/json"
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request(method, path, payload, headers)
            response = connection.getresponse()
            reply = Reply(
                response.status, response.getheader("Content-Type") or "", response.read()
            )
            reply.headers = dict(response.getheaders())
            return reply
        finally:
            connection.close()

    def login(self, username: str, password: str) -> str:
        reply = self.request(
            "POST", "/api/v1/auth/login/", {"username": username, "password": password}
        )
        assert reply.status == 200, reply
        return reply.json()["token"]

    def workers(self) -> set[int]:
        """The worker processes' pids (Linux /proc)."""
        children = f"/proc/{self.process.pid}/task/{self.process.pid}/children"
        with open(children) as handle:
            return {int(pid) for pid in handle.read().split()}

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


class Reply:
    def __init__(self, status: int, content_type: str, body: bytes) -> None:
        self.status, self.content_type, self.body = status, content_type, body

    def json(self):
        return json.loads(self.body)

    @property
    def is_json(self) -> bool:
        return self.content_type.startswith("application/json")

    def __repr__(self) -> str:
        return f"<{self.status} {self.content_type} {self.body[:200]!r}>"
