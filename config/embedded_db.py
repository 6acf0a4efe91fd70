"""A private PostgreSQL for development and tests, used when DATABASE_URL is not set.

The server keeps its data under ``.data/`` and keeps running after the process that
started it exits, so the web server, management commands and the tests share it;
``python -m config.embedded_db stop`` (``make db-stop``) stops it.

Nothing starts when the settings are imported: the settings name the database engine
``config.embedded_backend``, which starts (or finds) the server on its first connection.

It comes from the ``pgserver`` wheel where one exists for this Python, otherwise from
an installed PostgreSQL's ``initdb``/``pg_ctl``. PostgreSQL refuses to run as root, so
when we are root the server runs as an unprivileged account (pgserver makes its own;
with an installed PostgreSQL we use its ``postgres`` account).
"""

from __future__ import annotations

import fcntl
import glob
import os
import pwd
import shutil
import subprocess
import sys
import threading
import warnings
from contextlib import contextmanager
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = Path(os.environ.get("EMBEDDED_DB_DIR", BASE_DIR / ".data"))
DB_NAME = "inventory"
ENGINE = "config.embedded_backend"

# Where this process found the server: looked up once, then reused by every connection.
_address: tuple[str, int] | None = None
_address_lock = threading.Lock()


class EmbeddedDatabaseUnavailable(RuntimeError):
    pass


@contextmanager
def _file_lock():
    """Serialise start-up between processes (a server and a command starting together)."""
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    with open(DATA_DIR / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def lazy_database_settings() -> dict:
    """A Django DATABASES entry for the private server that starts nothing: its engine
    starts (or finds) the server on the first connection and fills in HOST and PORT."""
    return {"ENGINE": ENGINE, "NAME": DB_NAME, "USER": "postgres", "HOST": "", "PORT": ""}


def database_settings() -> dict:
    """Start (or reuse) the private server and return a Django DATABASES entry for it."""
    return resolve(lazy_database_settings())


def resolve(settings_dict: dict) -> dict:
    """Fill in HOST and PORT of a private-server entry that has none (starting the server
    if it is not running), in place; other entries are returned unchanged."""
    if settings_dict.get("ENGINE") == ENGINE and not settings_dict.get("HOST"):
        host, port = address()
        settings_dict["HOST"], settings_dict["PORT"] = host, str(port)
    return settings_dict


def address() -> tuple[str, int]:
    """The server's socket directory and port, starting it on the first call in this
    process (serialised between processes by a file lock)."""
    global _address
    with _address_lock:
        if _address is None:
            with _file_lock():
                pgserver = _pgserver()
                if pgserver is None:
                    host, port = _start_with_pg_ctl()
                else:
                    host, port = _start_with_pgserver(pgserver)
                _ensure_database(host, port)
            _address = (host, port)
        return _address


def _pgserver():
    """The pgserver module, or None where it has no wheel for this Python."""
    # platformdirs warns when XDG_RUNTIME_DIR is unset (containers, CI); /tmp is fine.
    warnings.filterwarnings("ignore", message="XDG_RUNTIME_DIR")
    try:
        import pgserver
    except ImportError:
        return None
    return pgserver


def _start_with_pgserver(pgserver) -> tuple[str, int]:
    # cleanup_mode=None: leave the server running for the next process.
    server = pgserver.get_server(DATA_DIR / "pgserver", cleanup_mode=None)
    info = server.get_postmaster_info()
    return str(info.socket_dir), int(info.port)


def _pg_bin_dir() -> Path:
    found = shutil.which("pg_ctl")
    if found:
        return Path(found).parent
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"),
        key=lambda p: (
            int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0
        ),
    )
    if candidates:
        return Path(candidates[-1]).parent
    raise EmbeddedDatabaseUnavailable(
        "No PostgreSQL to start: the pgserver package has no wheel for this Python and "
        "no initdb/pg_ctl was found (PATH or /usr/lib/postgresql/*/bin). Install "
        "PostgreSQL (e.g. `apt install postgresql`) or set DATABASE_URL to a server."
    )


def _run_as_owner(args: list[str]) -> None:
    if os.geteuid() == 0:
        try:
            pwd.getpwnam("postgres")
        except KeyError as exc:
            raise EmbeddedDatabaseUnavailable(
                "Running as root needs a 'postgres' system account to own the private "
                "database; create one or set DATABASE_URL."
            ) from exc
        args = ["runuser", "-u", "postgres", "--", *args]
    subprocess.run(args, check=True, capture_output=True, text=True)


def _start_with_pg_ctl() -> tuple[str, int]:
    bin_dir = _pg_bin_dir()
    pgdata = DATA_DIR / "pgdata"
    port = 5432  # only names the socket file: the server listens on no TCP address
    if not (pgdata / "PG_VERSION").exists():
        pgdata.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            shutil.chown(pgdata, "postgres", "postgres")
            os.chmod(DATA_DIR, 0o755)
        _run_as_owner(
            [
                str(bin_dir / "initdb"),
                "-D",
                str(pgdata),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
            ]
        )
    if not (pgdata / "postmaster.pid").exists() or _status(bin_dir, pgdata) != 0:
        _run_as_owner(
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(pgdata),
                "-w",
                "-l",
                str(pgdata / "log"),
                "-o",
                f"-c listen_addresses='' -k {pgdata} -p {port}",
                "start",
            ]
        )
    return str(pgdata), port


def _status(bin_dir: Path, pgdata: Path) -> int:
    args = [str(bin_dir / "pg_ctl"), "-D", str(pgdata), "status"]
    if os.geteuid() == 0:
        args = ["runuser", "-u", "postgres", "--", *args]
    return subprocess.run(args, capture_output=True).returncode


def _ensure_database(host: str, port: int) -> None:
    import psycopg

    with psycopg.connect(
        host=host, port=port, user="postgres", dbname="postgres", autocommit=True
    ) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [DB_NAME]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{DB_NAME}"')


def stop() -> str:
    """Stop the private server if it runs; return a sentence saying what happened."""
    global _address
    with _file_lock():
        if _pgserver() is None:
            pgdata = DATA_DIR / "pgdata"
            running = (pgdata / "postmaster.pid").exists()
            if running:
                _run_as_owner([str(_pg_bin_dir() / "pg_ctl"), "-D", str(pgdata), "-w", "stop"])
        else:
            pgdata = DATA_DIR / "pgserver"
            running = (pgdata / "postmaster.pid").exists()
            if running:
                from pgserver._commands import pg_ctl

                user = "pgserver" if os.geteuid() == 0 else None
                pg_ctl(["-w", "stop"], pgdata=pgdata, user=user)
        _address = None
    if running:
        return f"Stopped the private PostgreSQL at {pgdata}."
    return f"The private PostgreSQL at {DATA_DIR} was not running."


if __name__ == "__main__":
    command = sys.argv[1] if len(sys.argv) > 1 else "url"
    if command == "stop":
        print(stop())
    else:
        settings = database_settings()
        print(
            f"postgres://postgres@/{settings['NAME']}?host={settings['HOST']}&port={settings['PORT']}"
        )
