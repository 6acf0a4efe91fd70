"""The local cluster seen from Python (deploy/cluster-up made it): its nodes and their
states, HTTP through nginx, a machine crash, the rejoin. Used by deploy/failover-drill
and bench/cluster_bench.py. Standard library and psycopg only."""

from __future__ import annotations

import http.client
import json
import os
import shutil
import signal
import subprocess
import time
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CLUSTER_DIR = Path(os.environ.get("CLUSTER_DIR", ROOT / ".data" / "cluster"))
PGROOT = CLUSTER_DIR / "pg"
BASE = int(os.environ.get("CLUSTER_PORT_BASE", "7400"))
NGINX_PORT = int(os.environ.get("CLUSTER_PORT", "8080"))
NODE_PORTS = {"node1": BASE + 2, "node2": BASE + 3}
PG_PATH = "/usr/lib/postgresql/15/bin:/usr/local/bin:/usr/bin:/bin:/usr/sbin"


def _as_postgres(*args: str) -> list[str]:
    xdg = {
        "XDG_CONFIG_HOME": f"{CLUSTER_DIR}/xdg/config",
        "XDG_DATA_HOME": f"{CLUSTER_DIR}/xdg/data",
        "XDG_RUNTIME_DIR": f"{CLUSTER_DIR}/xdg/run",
        "HOME": str(CLUSTER_DIR),
        "PATH": PG_PATH,
    }
    env = [f"{key}={value}" for key, value in xdg.items()]
    prefix = ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []
    return [*prefix, "env", *env, *args]


def states(field: str = "current_group_state") -> dict[str, str]:
    """{node name: the state the node last reported to the monitor} (``field``
    "assigned_group_state": the state the monitor wants it in)."""
    out = subprocess.run(
        _as_postgres("pg_autoctl", "show", "state", "--pgdata", str(PGROOT / "monitor"), "--json"),
        capture_output=True,
        text=True,
        timeout=30,
    ).stdout
    try:
        return {n["nodename"]: n[field] for n in json.loads(out)}
    except (ValueError, KeyError):
        return {}


def primary() -> str | None:
    """The node the monitor has made the primary (a dead old primary still shows
    "primary" as its last reported state, never as its assigned one)."""
    return next(
        (
            name
            for name, state in states("assigned_group_state").items()
            if state in ("primary", "wait_primary")
        ),
        None,
    )


def connect(node: str, dbname: str = "inventory"):
    import psycopg

    return psycopg.connect(
        host="127.0.0.1", port=NODE_PORTS[node], user="postgres", dbname=dbname, autocommit=True
    )


def crash(node: str) -> list[int]:
    """Kill the node like a machine dying: its pg_autoctl keeper and its PostgreSQL (the
    postmaster and every backend), the whole process group at once, with SIGKILL. Killing
    the keeper alone would leave a child that restarts the old primary. Returns the pids."""
    postmaster = int((PGROOT / node / "postmaster.pid").read_text().split()[0])
    group = os.getpgid(postmaster)
    pids = [
        int(pid)
        for pid in subprocess.run(
            ["pgrep", "-g", str(group)], capture_output=True, text=True
        ).stdout.split()
    ]
    os.killpg(group, signal.SIGKILL)
    return pids


def restart_keeper(node: str) -> None:
    """Start the node's keeper again, as the machine's service manager would on boot."""
    with open(CLUSTER_DIR / "log" / f"{node}.log", "a") as log:
        subprocess.Popen(
            _as_postgres("setsid", "pg_autoctl", "run", "--pgdata", str(PGROOT / node)),
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )


def keep_logs(reason: str) -> Path:
    """Copy the cluster's logs (gunicorn, uvicorn, PgBouncer and its followers, the
    keepers, nginx's errors, each PostgreSQL's own log) to a directory of their own under
    .data/ that deploy/cluster-down leaves in place, with ``reason`` beside them; returns
    the directory. The logs live in the cluster's directory, which cluster-down removes."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    dest = ROOT / ".data" / "cluster-logs" / stamp
    dest.mkdir(parents=True, exist_ok=True)
    sources = [
        *sorted((CLUSTER_DIR / "log").glob("*.log")),
        CLUSTER_DIR / "nginx" / "error.log",
        *sorted(PGROOT.glob("*/log/*")),
    ]
    for source in sources:
        if source.is_file():
            name = source.relative_to(CLUSTER_DIR).as_posix().replace("/", "_")
            shutil.copyfile(source, dest / name)
    (dest / "REASON").write_text(reason + "\n")
    return dest


def wait_until(predicate, timeout: float, step: float = 0.5):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(step)
    return None


def request(method: str, path: str, body=None, *, token=None, timeout=30, port=None, **headers):
    """(status, parsed JSON body or None, headers) through nginx (on ``port``, else its
    main port)."""
    if token:
        headers["Authorization"] = f"Token {token}"
    payload = None
    if body is not None:
        payload = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    conn = http.client.HTTPConnection("127.0.0.1", port or NGINX_PORT, timeout=timeout)
    try:
        conn.request(method, path, payload, {k.replace("_", "-"): v for k, v in headers.items()})
        response = conn.getresponse()
        data = response.read()
        try:
            parsed = json.loads(data) if data else None
        except ValueError:
            parsed = data
        return response.status, parsed, dict(response.getheaders())
    finally:
        conn.close()


def login(username: str) -> str:
    status, body, _ = request(
        "POST", "/api/v1/auth/login/", {"username": username, "password": f"{username}-demo-pass"}
    )
    assert status == 200, (status, body)
    return body["token"]


def manage(*args: str, url: str | None = None) -> subprocess.CompletedProcess:
    """manage.py against the formation directly (not through PgBouncer)."""
    hosts = ",".join("127.0.0.1" for _ in NODE_PORTS)
    ports = ",".join(str(p) for p in NODE_PORTS.values())
    url = url or (
        f"postgres://inventory@/inventory?host={hosts}&port={ports}&target_session_attrs=read-write"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DATABASE_URL": url,
        "SECRET_KEY": (CLUSTER_DIR / "secret_key").read_text().strip(),
        "DEBUG": "false",
        "LOG_LEVEL": "WARNING",
    }
    return subprocess.run(
        [str(ROOT / ".venv" / "bin" / "python"), "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
