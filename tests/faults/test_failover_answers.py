"""A connection lost at the moments a failover can cut it outside a view, on a private
PostgreSQL cluster (tests/live.py) served by gunicorn as deployed: after a write has
committed (the read of its WAL position for X-Ledger-LSN) and in a middleware after the
view (the session's save). The write that committed answers as done; a request that did
not finish answers JSON 503; never 500 (nor 400).

The connection is cut at exactly that point by the server itself: a function or trigger
that the app's statement runs terminates its own backend (pg_terminate_backend), as a
primary dying at that instant does.
"""

import http.client
import re
import uuid
from urllib.parse import urlencode

import pytest

from tests.live import Gunicorn, manage

pytestmark = pytest.mark.faults

# Run by the app's statement, it ends the app's connection where it stands.
TERMINATE_SELF = """
PERFORM pg_terminate_backend(pg_backend_pid());
PERFORM pg_sleep(5);  -- the termination interrupts it
"""
# The app reads its WAL position unqualified: a function of this name in a schema ahead of
# pg_catalog on the search path runs instead (only for the app's own connections).
WAL_POSITION_LOST = f"""
CREATE SCHEMA faults;
CREATE FUNCTION faults.pg_current_wal_insert_lsn() RETURNS pg_lsn LANGUAGE plpgsql AS $$
BEGIN {TERMINATE_SELF} RETURN '0/0'; END $$;
ALTER DATABASE inventory SET search_path = faults, pg_catalog, "$user", public;
"""
SESSION_SAVE_LOST = f"""
CREATE FUNCTION terminate_self() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN {TERMINATE_SELF} RETURN NEW; END $$;
CREATE TRIGGER terminate_self BEFORE UPDATE ON django_session
    FOR EACH ROW EXECUTE FUNCTION terminate_self();
"""


@pytest.fixture(scope="module")
def tokens(cluster, tmp_path_factory):
    """API tokens, taken before any fault is in place (a login writes its token)."""
    server = Gunicorn(cluster.url(), workers=1, log=tmp_path_factory.mktemp("login") / "log")
    try:
        return {role: server.login(role, f"{role}-demo-pass") for role in ("warehouse", "auditor")}
    finally:
        server.stop()


def serve(cluster, tmp_path, fault: str) -> Gunicorn:
    """gunicorn on ``cluster`` with a replica configured (the same server: that is
    enough for the app to stamp writes with X-Ledger-LSN), once ``fault`` is in place."""
    with cluster.connect() as conn:
        conn.execute(fault)
    return Gunicorn(
        cluster.url(), workers=1, log=tmp_path / "gunicorn.log", DATABASE_REPLICA_URL=cluster.url()
    )


def test_a_write_whose_position_is_lost_after_its_commit_answers_201(cluster, tokens, tmp_path):
    server = serve(cluster, tmp_path, WAL_POSITION_LOST)
    try:
        token = tokens["warehouse"]
        product = server.request("GET", "/api/v1/products/", token=token).json()["results"][0]
        key, reference = str(uuid.uuid4()), f"lost-lsn-{uuid.uuid4().hex[:8]}"
        restock = ("POST", f"/api/v1/products/{product['id']}/restocks/")
        body = {"quantity": 3, "reference": reference}

        first = server.request(*restock, body, token=token, **{"Idempotency-Key": key})
        # Done, and said so: not a 500, and not a 503 that a client without a key would
        # retry into a second restock. Read-your-writes then asks the primary.
        assert first.status == 201, (first, first.body)
        assert first.headers["X-Ledger-LSN"] == "primary"
        again = server.request(*restock, body, token=token, **{"Idempotency-Key": key})
        assert (again.status, again.headers.get("Idempotent-Replayed")) == (201, "true")
        assert again.json()["id"] == first.json()["id"]
        read = server.request(
            "GET",
            f"/api/v1/movements/{first.json()['id']}/",
            token=tokens["auditor"],
            **{"X-Read-Your-Writes": first.headers["X-Ledger-LSN"]},
        )
        assert (read.status, read.headers["X-Read-From"]) == (200, "primary"), read.body

        # The DRF view (a query string takes the request there), without a key.
        drf = server.request(
            "POST", f"{restock[1]}?via=drf", {"quantity": 1, "reference": reference}, token=token
        )
        assert (drf.status, drf.headers["X-Ledger-LSN"]) == (201, "primary"), drf.body
    finally:
        server.stop()
        with cluster.connect() as conn:
            conn.execute("ALTER DATABASE inventory RESET search_path")
            conn.execute("DROP SCHEMA faults CASCADE")
    assert "a write's WAL position is unknown" in (tmp_path / "gunicorn.log").read_text()
    with cluster.connect() as conn:
        count = conn.execute(
            "SELECT count(*) FROM ledger_movement WHERE reference = %s", [reference]
        ).fetchone()[0]
    assert count == 2  # the restock once, whatever its retries, and the DRF one
    verified = manage(cluster.url(), "verify_ledger")
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_a_connection_lost_in_a_middleware_after_the_view_answers_json_503(cluster, tmp_path):
    # Signing in to the console creates the session in the view and stores the user in
    # it afterwards, in SessionMiddleware: outside every view's error handling, and
    # Django reports that save's lost connection as SessionInterrupted (a 400).
    server = serve(cluster, tmp_path, SESSION_SAVE_LOST)
    try:
        page = server.request("GET", "/console/sign-in/")
        cookie = page.headers["Set-Cookie"].split(";", 1)[0]
        csrf = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', page.body)[1]
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        try:
            connection.request(
                "POST",
                "/console/sign-in/",
                urlencode(
                    {
                        "csrfmiddlewaretoken": csrf.decode(),
                        "username": "warehouse",
                        "password": "warehouse-demo-pass",
                    }
                ),
                {"Content-Type": "application/x-www-form-urlencoded", "Cookie": cookie},
            )
            response = connection.getresponse()
            status, content_type, body = (
                response.status,
                response.getheader("Content-Type"),
                response.read(),
            )
            retry_after = response.getheader("Retry-After")
        finally:
            connection.close()
        assert (status, content_type) == (503, "application/json"), body
        assert b'"database_unavailable"' in body and retry_after
        # The worker lives on and its next request gets a new connection.
        assert server.request("GET", "/readyz").status == 200
    finally:
        server.stop()
        with cluster.connect() as conn:
            conn.execute("DROP TRIGGER terminate_self ON django_session")
            conn.execute("DROP FUNCTION terminate_self()")
