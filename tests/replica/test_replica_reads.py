"""Audit reads on a real streaming replica (core.routing): a private primary
(tests/live.py) and a standby made from it with pg_basebackup -R, gunicorn on both
(DATABASE_URL, DATABASE_REPLICA_URL). Replay on the standby is paused so that what
each answer was read from shows."""

import csv
import io
import os
import shutil
import time
from pathlib import Path
from urllib.parse import urlencode

import pytest

from config import embedded_db
from tests.live import Cluster, Gunicorn, prepare_demo_database

pytestmark = pytest.mark.faults


class Standby:
    """A hot standby of ``primary``, streaming from it through its unix socket."""

    def __init__(self, primary: Cluster) -> None:
        self.primary, self.port = primary, primary.port
        self.pgdata = primary.root / "standby"
        self.pgdata.mkdir(mode=0o700)
        if os.geteuid() == 0:
            shutil.chown(self.pgdata, "postgres", "postgres")
        embedded_db._run_as_owner(
            [
                # Beside the real pg_ctl (bin_dir may hold links to a few programs only).
                str((primary.bin_dir / "pg_ctl").resolve().parent / "pg_basebackup"),
                "-h",
                str(primary.pgdata),
                "-p",
                str(primary.port),
                "-U",
                "postgres",
                "-D",
                str(self.pgdata),
                "-R",
                "-X",
                "stream",
                "--checkpoint=fast",
            ]
        )
        # Copied from the primary, whose socket lives in its data directory.
        (self.pgdata / ".s.PGSQL.5432.lock").unlink(missing_ok=True)
        (self.pgdata / "log").unlink(missing_ok=True)
        self.pg_ctl(
            "-w",
            "-l",
            str(self.pgdata / "log"),
            "-o",
            f"-c listen_addresses='' -k {self.pgdata} -p {self.port} -c hot_standby=on",
            "start",
        )

    def pg_ctl(self, *args: str) -> None:
        embedded_db._run_as_owner(
            [str(self.primary.bin_dir / "pg_ctl"), "-D", str(self.pgdata), *args]
        )

    def url(self) -> str:
        query = urlencode({"host": str(self.pgdata), "port": self.port})
        return f"postgres://postgres@/inventory?{query}"

    def execute(self, sql: str):
        import psycopg

        with psycopg.connect(
            host=str(self.pgdata),
            port=self.port,
            user="postgres",
            dbname="inventory",
            autocommit=True,
        ) as conn:
            return conn.execute(sql).fetchall()

    def remove(self) -> None:
        if (self.pgdata / "postmaster.pid").exists():
            self.pg_ctl("-w", "-m", "immediate", "stop")
        shutil.rmtree(self.pgdata, ignore_errors=True)


@pytest.fixture(scope="module")
def replicated():
    primary = Cluster()
    standby = None
    try:
        prepare_demo_database(primary)
        standby = Standby(primary)
        yield primary, standby
    finally:
        if standby is not None:
            standby.remove()
        primary.remove()


@pytest.fixture
def server(replicated, tmp_path: Path):
    primary, standby = replicated
    server = Gunicorn(
        primary.url(),
        workers=1,
        log=tmp_path / "gunicorn.log",
        DATABASE_REPLICA_URL=standby.url(),
        READ_YOUR_WRITES_WAIT_MS="300",
    )
    yield server
    server.stop()


def history_ids(server, token: str, **headers) -> tuple[set[int], str]:
    reply = server.request("GET", "/api/v1/movements/?product=1", token=token, **headers)
    assert reply.status == 200, reply
    return {row["id"] for row in reply.json()["results"]}, reply.headers["X-Read-From"]


def test_audit_reads_use_the_replica_and_read_your_writes_waits_or_uses_the_primary(
    replicated, server
):
    _, standby = replicated
    warehouse = server.login("warehouse", "warehouse-demo-pass")
    auditor = server.login("auditor", "auditor-demo-pass")
    standby.execute("SELECT pg_wal_replay_pause()")
    # A pause is a request: replay stops at its next record.
    deadline = time.monotonic() + 30
    while standby.execute("SELECT pg_get_wal_replay_pause_state()") != [("paused",)]:
        assert time.monotonic() < deadline, "replay did not pause"
        time.sleep(0.05)
    try:
        write = server.request(
            "POST", "/api/v1/products/1/restocks/", {"quantity": 5}, token=warehouse
        )
        assert write.status == 201, write
        movement, lsn = write.json()["id"], write.headers["X-Ledger-LSN"]

        # The replica has not replayed the restock: a plain audit read does not see it.
        ids, source = history_ids(server, auditor)
        assert (movement in ids, source) == (False, "replica")
        # Read-your-writes: the replica does not catch up in time, so the primary answers.
        ids, source = history_ids(server, auditor, **{"X-Read-Your-Writes": lsn})
        assert (movement in ids, source) == (True, "primary")
        # Other requests, sign-in and the catalogue, never read the replica.
        catalogue = server.request("GET", "/api/v1/products/1/", token=auditor)
        assert catalogue.status == 200 and "X-Read-From" not in catalogue.headers
    finally:
        standby.execute("SELECT pg_wal_replay_resume()")

    # Once replayed, the replica answers the read-your-writes read itself.
    ids, source = history_ids(server, auditor, **{"X-Read-Your-Writes": lsn})
    assert (movement in ids, source) == (True, "replica")
    export = server.request("GET", "/api/v1/movements/export.csv?product=1", token=auditor)
    assert export.status == 200 and export.headers["X-Read-From"] == "replica"
    rows = list(csv.DictReader(io.StringIO(export.body.decode())))
    assert int(rows[0]["id"]) == movement
    balance = server.request("GET", "/api/v1/products/1/balance/", token=auditor)
    assert balance.headers["X-Read-From"] == "replica"
