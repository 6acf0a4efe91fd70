"""Database faults under load, on a private PostgreSQL cluster these tests start, kill and
restart themselves (tests/live.py; never the test database): gunicorn serves writes
from several client threads while the app's connections are terminated or the server
restarts. The service must answer JSON 503 (never HTML, never a 500 or a dropped
connection), recover by itself, and lose no acknowledged write; the ledger must verify.
"""

import threading
import time
from collections import Counter
from dataclasses import dataclass, field

import pytest

from tests.live import Gunicorn, Reply, manage

pytestmark = pytest.mark.faults

CLIENT_THREADS = 4
STOCK = 100_000  # so that no order in a run is short


@pytest.fixture
def server(cluster, tmp_path):
    # Health checks off (the default): a connection killed while idle then fails the
    # worker's next request with a 503, which is what these tests look for.
    server = Gunicorn(
        cluster.url(), workers=2, log=tmp_path / "gunicorn.log", CONN_HEALTH_CHECKS="false"
    )
    yield server
    server.stop()


@dataclass
class Load:
    """What the clients saw."""

    restocks: dict[str, int] = field(default_factory=dict)  # reference -> movement id
    orders: list[int] = field(default_factory=list)
    statuses: Counter = field(default_factory=Counter)
    wrong: list = field(default_factory=list)  # not 2xx and not a JSON 503; or no answer
    lock: threading.Lock = field(default_factory=threading.Lock)

    def record(self, reply: Reply) -> bool:
        with self.lock:
            self.statuses[reply.status] += 1
            if 200 <= reply.status < 300:
                return True
            unavailable = (
                reply.status == 503
                and reply.is_json
                and reply.json().get("code") in ("database_unavailable", "busy")
            )
            if not unavailable:
                self.wrong.append(reply)
            return False


def start_load(server, tokens, products, tag: str) -> tuple[Load, threading.Event, list]:
    """CLIENT_THREADS threads posting restocks and orders until the event is set."""
    load, stop = Load(), threading.Event()

    def client(number: int) -> None:
        sent = 0
        while not stop.is_set():
            sent += 1
            product = products[(number + sent) % len(products)]
            try:
                if sent % 2:
                    reference = f"{tag}-{number}-{sent}"
                    reply = server.request(
                        "POST",
                        f"/api/v1/products/{product}/restocks/",
                        {"quantity": 1, "reference": reference},
                        token=tokens["warehouse"],
                    )
                    if load.record(reply):
                        with load.lock:
                            load.restocks[reference] = reply.json()["id"]
                else:
                    reply = server.request(
                        "POST",
                        "/api/v1/orders/",
                        {"lines": [{"product": product, "quantity": 1}]},
                        token=tokens["customer"],
                    )
                    if load.record(reply):
                        with load.lock:
                            load.orders.append(reply.json()["id"])
            except OSError as exc:  # no answer at all
                with load.lock:
                    load.wrong.append(exc)

    threads = [threading.Thread(target=client, args=(n,)) for n in range(CLIENT_THREADS)]
    for thread in threads:
        thread.start()
    return load, stop, threads


def finish(stop: threading.Event, threads: list) -> None:
    stop.set()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a client thread hung"


def prepare(server) -> tuple[dict[str, str], list[int]]:
    tokens = {role: server.login(role, f"{role}-demo-pass") for role in ("warehouse", "customer")}
    products = [
        p["id"]
        for p in server.request("GET", "/api/v1/products/", token=tokens["warehouse"]).json()[
            "results"
        ]
    ]
    for product in products:
        reply = server.request(
            "POST",
            f"/api/v1/products/{product}/restocks/",
            {"quantity": STOCK},
            token=tokens["warehouse"],
        )
        assert reply.status == 201, reply
    return tokens, products


def assert_recovers(server, tokens, products, timeout: float = 20) -> None:
    """Writes succeed again, with nothing restarted: three in a row within ``timeout``."""
    deadline, in_a_row = time.monotonic() + timeout, 0
    while in_a_row < 3:
        assert time.monotonic() < deadline, "the service did not recover"
        reply = server.request(
            "POST",
            f"/api/v1/products/{products[0]}/restocks/",
            {"quantity": 1},
            token=tokens["warehouse"],
        )
        in_a_row = in_a_row + 1 if reply.status == 201 else 0
        if not in_a_row:
            time.sleep(0.2)


def assert_nothing_acknowledged_was_lost(cluster, load: Load, tag: str) -> None:
    assert load.restocks and load.orders, load.statuses
    with cluster.connect() as conn:
        stored = dict(
            conn.execute(
                "SELECT reference, id FROM ledger_movement WHERE reference LIKE %s",
                [f"{tag}-%"],
            ).fetchall()
        )
        orders = conn.execute(
            "SELECT count(*) FROM ordering_order o"
            " JOIN ordering_orderline l ON l.order_id = o.id"
            " JOIN ledger_movement m ON m.order_line_id = l.id AND m.kind = 'consumption'"
            " WHERE o.id = ANY(%s) AND o.status = 'placed'",
            [load.orders],
        ).fetchone()[0]
        duplicates = conn.execute(
            "SELECT count(*) FROM (SELECT reference FROM ledger_movement"
            " WHERE reference LIKE %s GROUP BY reference HAVING count(*) > 1) d",
            [f"{tag}-%"],
        ).fetchone()[0]
    missing = {ref: id_ for ref, id_ in load.restocks.items() if stored.get(ref) != id_}
    assert not missing, f"acknowledged restocks lost: {missing}"
    assert orders == len(load.orders), "an acknowledged order or its movement was lost"
    assert duplicates == 0
    verified = manage(cluster.url(), "verify_ledger")
    assert verified.returncode == 0, verified.stdout + verified.stderr


def test_terminated_connections_answer_json_503_then_recover(cluster, server):
    tokens, products = prepare(server)
    workers = server.workers()
    load, stop, threads = start_load(server, tokens, products, "terminate")
    try:
        time.sleep(1.5)
        terminated = 0
        for _ in range(3):
            terminated += cluster.terminate_backends()
            time.sleep(1)
        time.sleep(1)
    finally:
        finish(stop, threads)

    assert terminated >= 2, "no connection of the app's was terminated"
    assert not load.wrong, load.wrong[:5]
    assert load.statuses[503] >= 1, load.statuses  # the killed connections were noticed
    assert_recovers(server, tokens, products)
    assert server.workers() == workers  # no worker died or was replaced
    assert_nothing_acknowledged_was_lost(cluster, load, "terminate")


def test_a_database_restart_under_load_loses_no_acknowledged_write(cluster, server):
    tokens, products = prepare(server)
    workers = server.workers()
    load, stop, threads = start_load(server, tokens, products, "restart")
    try:
        time.sleep(1.5)
        cluster.stop("immediate")  # a crash: no checkpoint, recovery replays the WAL
        time.sleep(1)
        down = server.request("GET", "/readyz")
        alive = server.request("GET", "/healthz")
        cluster.start()
        time.sleep(2)
    finally:
        finish(stop, threads)

    assert (down.status, down.is_json) == (503, True), down
    assert alive.status == 200
    assert not load.wrong, load.wrong[:5]
    assert load.statuses[503] >= 1, load.statuses
    assert_recovers(server, tokens, products)
    assert server.workers() == workers
    assert_nothing_acknowledged_was_lost(cluster, load, "restart")
