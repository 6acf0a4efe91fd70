"""Run one PgBouncer and keep it pointed at a role of the pg_auto_failover formation:
the primary (``--role primary``) or a synchronous secondary (``--role replica``, the
primary while there is none). Started by deploy/cluster-up, one per role.

Every half second it asks the monitor which node holds the role (a node counts only
when the monitor both assigned it the state and heard the node report it, so a dead
old primary, still "primary" in its last report, never does). When that changes, it
rewrites PgBouncer's configuration and restarts it: a restart, not a RELOAD, because
PgBouncer replays the parameters of its first server login to every new client, and
a stale ``in_hot_standby`` would make libpq's ``target_session_attrs`` choose wrong.
Clients of the old PgBouncer lose their connection, as they would in the failover
itself, and reconnect.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

WRITABLE = ("single", "wait_primary", "primary", "join_primary", "apply_settings")
NODES = "SELECT nodehost, nodeport, reportedstate, goalstate FROM pgautofailover.node"


def target(monitor: str, role: str) -> tuple[str, int] | None:
    """(host, port) of the node that holds ``role`` now, or None if none does."""
    # psql, not a driver: this runs as the postgres account with the system's Python.
    try:
        out = subprocess.run(
            ["psql", "-XAtq", "-F", " ", "-c", NODES, f"{monitor}&connect_timeout=2"],
            capture_output=True,
            text=True,
            timeout=5,
        )
    except subprocess.TimeoutExpired:
        return None
    if out.returncode != 0:
        return None
    nodes = [
        (h, int(p), reported, goal)
        for h, p, reported, goal in map(str.split, out.stdout.splitlines())
    ]
    primary = next(
        ((h, p) for h, p, reported, goal in nodes if reported == goal and goal in WRITABLE), None
    )
    if role == "primary":
        return primary
    secondary = next(
        ((h, p) for h, p, reported, goal in nodes if reported == goal == "secondary"), None
    )
    return secondary or primary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--monitor", required=True)
    parser.add_argument("--role", choices=("primary", "replica"), required=True)
    parser.add_argument("--template", type=Path, required=True, help="pgbouncer.ini, @NODE_*@")
    parser.add_argument("--config", type=Path, required=True)
    args = parser.parse_args()

    # Its own pid, for deploy/cluster-down (it runs under runuser).
    pidfile = args.config.with_name(f"follow-{args.role}.pid")
    pidfile.write_text(f"{os.getpid()}\n")
    stopping = False

    def stop(*_):
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    current, bouncer = None, None
    while not stopping:
        found = target(args.monitor, args.role)
        if found and found != current:
            if bouncer is not None:
                bouncer.terminate()  # SIGTERM: PgBouncer's immediate shutdown
                bouncer.wait()
            host, port = found
            text = args.template.read_text().replace("@NODE_HOST@", host)
            args.config.write_text(text.replace("@NODE_PORT@", str(port)))
            bouncer = subprocess.Popen(["pgbouncer", str(args.config)])
            print(f"pgbouncer ({args.role}) -> {host}:{port}", flush=True)
            current = found
        elif bouncer is not None and bouncer.poll() is not None:
            bouncer = subprocess.Popen(["pgbouncer", str(args.config)])
        time.sleep(0.5)
    if bouncer is not None:
        bouncer.terminate()
        bouncer.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
