"""`make run` and `make dev`, started as a user starts them (against the test database):
they hold concurrent clients without running the database out of connections, serve
the docs and the admin with DEBUG off, ignore a compose `.env`, and a held row lock
costs one product's writes a quick JSON 503, not the whole service."""

import json
import random
import re
import shutil
import threading
import time
import urllib.error
import urllib.request
import uuid
from collections import Counter
from contextlib import contextmanager

import psycopg
import pytest
from django.db import connection

from accounts.roles import Role
from accounts.services import token_create
from config.database_url import database_url
from tests.deploy.environment import clean_env
from tests.deploy.server import BASE_DIR, free_port, get, running
from tests.factories import ProductFactory, UserFactory

pytestmark = pytest.mark.usefixtures("committed_db")

WORKERS = 3
CLIENT_THREADS = 16
LOAD_SECONDS = 20
# Generous: the machine running the tests may be slow and shared.
MARGIN_S = 5


def make_env(**variables: str) -> dict[str, str]:
    """What a user's shell would have: no DEBUG, no SECRET_KEY unless given, the test
    database as DATABASE_URL and a name for the server's connections."""
    return clean_env(
        DATABASE_URL=database_url(connection.settings_dict),
        DATABASE_APPLICATION_NAME=f"make-run-test-{uuid.uuid4().hex[:12]}",
        PYTHONUNBUFFERED="1",  # the whole log, even of a process stopped with SIGTERM
        **variables,
    )


@contextmanager
def make(target: str, tmp_path, **variables: str):
    port = free_port()
    env = make_env(PORT=str(port), **variables)
    log_path = tmp_path / f"make-{target}.log"
    with running(
        ["make", target], env=env, log_path=log_path, ready_url=f"http://127.0.0.1:{port}/readyz"
    ) as process:
        yield Server(port=port, env=env, log_path=log_path, process=process)


class Server:
    def __init__(self, *, port, env, log_path, process):
        self.base = f"http://127.0.0.1:{port}"
        self.application_name = env["DATABASE_APPLICATION_NAME"]
        self.log_path = log_path
        self.process = process

    def log(self) -> str:
        return self.log_path.read_text()

    def connections(self) -> int:
        """The server's connections to the database, as PostgreSQL counts them."""
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND application_name = %s",
                [self.application_name],
            )
            return cursor.fetchone()[0]

    def request(self, method: str, path: str, *, token=None, body=None, timeout=30):
        """(status, JSON body or None, headers, seconds taken)."""
        headers = {"Content-Type": "application/json"} if body is not None else {}
        if token:
            headers["Authorization"] = f"Token {token}"
        request = urllib.request.Request(
            self.base + path,
            method=method,
            headers=headers,
            data=json.dumps(body).encode() if body is not None else None,
        )
        started = time.monotonic()
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                status, raw, response_headers = response.status, response.read(), response.headers
        except urllib.error.HTTPError as exc:
            status, raw, response_headers = exc.code, exc.read(), exc.headers
        elapsed = time.monotonic() - started
        try:
            data = json.loads(raw) if raw else None
        except ValueError:
            data = None
        return status, data, response_headers, elapsed


def tokens() -> dict[str, str]:
    return {
        role: token_create(user=UserFactory(role=role))[0]
        for role in (Role.CUSTOMER, Role.WAREHOUSE, Role.AUDITOR)
    }


@contextmanager
def compose_env_file():
    """The deployment section's first step, `cp .env.example .env`, in this checkout
    (left alone if the checkout already has a .env)."""
    dotenv = BASE_DIR / ".env"
    if dotenv.exists():
        yield
        return
    shutil.copyfile(BASE_DIR / ".env.example", dotenv)
    try:
        yield
    finally:
        dotenv.unlink()


def test_make_run_serves_concurrent_clients_with_few_connections(tmp_path):
    products = [ProductFactory(stock=1000).id for _ in range(4)]
    token = tokens()
    with (
        compose_env_file(),
        make(
            "run",
            tmp_path,
            DEBUG="false",
            SECRET_KEY="make-run-test-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz",
            WEB_CONCURRENCY=str(WORKERS),
        ) as server,
    ):
        # The addresses it prints open: / leads to the API docs.
        printed = re.search(r"Serving on (\S+) \(API docs: (\S+)\)", server.log())
        assert printed, server.log()
        for url in printed.groups():
            status, _, body = get(url)
            assert status == 200, url
            assert b"swagger" in body.lower()
        # Static files with DEBUG off, without a collectstatic by hand.
        for path in ("/api/docs/", "/admin/login/"):
            status, _, body = get(server.base + path)
            assert status == 200, (path, body[:500])
            static = re.findall(rb'(?:src|href)="(/static/[^"]+)"', body)
            assert static, path
            for asset in static[:3]:
                assert get(server.base + asset.decode())[0] == 200, asset

        outcomes = load(server, token, products)

        statuses = Counter(status for status, _ in outcomes)
        assert not [s for s in statuses if s >= 500 or s == 0], (statuses, server.log()[-3000:])
        assert sum(statuses.values()) >= CLIENT_THREADS  # the load did run
        assert statuses[201] > 0  # writes among it
        # Sync workers, one persistent connection each; nothing left per request.
        assert server.connections() <= WORKERS + 2
    assert "Booting worker" in server.log()  # gunicorn, not runserver
    assert "Control server error" not in server.log()


def load(server: Server, token: dict[str, str], products: list[int]) -> list[tuple[int, str]]:
    """CLIENT_THREADS threads sending a mix of reads and authenticated writes for
    LOAD_SECONDS; returns (status, what) per request, status 0 for no answer."""
    deadline = time.monotonic() + LOAD_SECONDS
    outcomes: list[tuple[int, str]] = []
    lock = threading.Lock()

    def client(seed: int) -> None:
        rng = random.Random(seed)
        while time.monotonic() < deadline:
            product = rng.choice(products)
            choice = rng.random()
            if choice < 0.25:
                what = ("GET", "/api/v1/products/", token[Role.CUSTOMER], None)
            elif choice < 0.4:
                what = ("GET", f"/api/v1/products/{product}/", token[Role.CUSTOMER], None)
            elif choice < 0.5:
                what = ("GET", "/api/v1/movements/", token[Role.AUDITOR], None)
            elif choice < 0.55:
                what = ("GET", "/healthz", None, None)
            elif choice < 0.75:
                body = {"quantity": rng.randint(1, 5)}
                path = f"/api/v1/products/{product}/restocks/"
                what = ("POST", path, token[Role.WAREHOUSE], body)
            else:
                body = {"lines": [{"product": product, "quantity": 1}]}
                what = ("POST", "/api/v1/orders/", token[Role.CUSTOMER], body)
            method, path, auth, body = what
            try:
                status = server.request(method, path, token=auth, body=body)[0]
            except OSError:  # refused, reset or timed out: no answer at all
                status = 0
            with lock:
                outcomes.append((status, f"{method} {path}"))

    threads = [threading.Thread(target=client, args=(seed,)) for seed in range(CLIENT_THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=LOAD_SECONDS + 120)
    assert not any(thread.is_alive() for thread in threads), "a client thread hung"
    return outcomes


def test_make_dev_keeps_no_connection_per_request_thread(tmp_path):
    token = tokens()[Role.CUSTOMER]
    with make("dev", tmp_path) as server:
        # runserver serves every request on a new thread.
        for _ in range(20):
            status = server.request("GET", "/api/v1/products/", token=token)[0]
            assert status == 200
        assert server.connections() <= 2
    assert "Starting development server" in server.log()


LOCK_TIMEOUT_MS = 1000
LOCK_WORKERS = 2


@contextmanager
def balance_row_held(product_id: int):
    """Another session holds the product's balance row, as a stuck psql session would."""
    with psycopg.connect(database_url(connection.settings_dict)) as other:
        other.execute(
            "SELECT on_hand FROM ledger_stockbalance WHERE product_id = %s FOR UPDATE",
            [product_id],
        )
        try:
            yield
        finally:
            other.rollback()


def test_a_held_row_costs_its_writes_a_quick_503_and_nothing_else(tmp_path):
    held, free = ProductFactory(stock=100).id, ProductFactory(stock=100).id
    token = tokens()
    with make(
        "run",
        tmp_path,
        WEB_CONCURRENCY=str(LOCK_WORKERS),
        DATABASE_LOCK_TIMEOUT_MS=str(LOCK_TIMEOUT_MS),
    ) as server:
        writes_to_held = [
            (f"/api/v1/products/{held}/restocks/", Role.WAREHOUSE, {"quantity": 1}),
            ("/api/v1/orders/", Role.CUSTOMER, {"lines": [{"product": held, "quantity": 1}]}),
        ] * LOCK_WORKERS  # more waiting writes than there are workers
        held_results: list = [None] * len(writes_to_held)
        others: list = []
        done = threading.Event()

        def write_held(index: int) -> None:
            path, role, body = writes_to_held[index]
            held_results[index] = server.request("POST", path, token=token[role], body=body)

        def keep_asking() -> None:
            """/healthz and writes to another product, all through the hold."""
            path = f"/api/v1/products/{free}/restocks/"
            asks = [
                ("healthz", "GET", "/healthz", None, None),
                ("restock other", "POST", path, token[Role.WAREHOUSE], {"quantity": 1}),
            ]
            while not done.is_set():
                for what, method, url, auth, body in asks:
                    try:
                        others.append((what, *server.request(method, url, token=auth, body=body)))
                    except OSError as exc:  # no answer: recorded as status 0
                        others.append((what, 0, str(exc), None, 0.0))

        with balance_row_held(held):
            monitor = threading.Thread(target=keep_asking)
            monitor.start()
            writers = [
                threading.Thread(target=write_held, args=(i,)) for i in range(len(writes_to_held))
            ]
            for thread in writers:
                thread.start()
            for thread in writers:
                thread.join(timeout=120)
            done.set()
            monitor.join(timeout=120)

        # Writes waiting for one row queue for it: PostgreSQL starts each one's lock
        # timeout when the write ahead of it gives up, so the last one answers after
        # one lock timeout per write (the statement timeout bounds the total).
        bound = len(writes_to_held) * LOCK_TIMEOUT_MS / 1000 + MARGIN_S
        for status, body, headers, elapsed in held_results:
            assert status == 503, (status, body, server.log()[-3000:])
            assert body["code"] == "busy"
            assert int(headers["Retry-After"]) > 0
            assert elapsed < bound
        assert others, "nothing else was asked during the hold"
        for what, status, body, _, elapsed in others:
            assert 200 <= status < 300, (what, status, body)
            assert elapsed < bound, what

        # The row is free again: its writes succeed.
        path = f"/api/v1/products/{held}/restocks/"
        status = server.request("POST", path, token=token[Role.WAREHOUSE], body={"quantity": 1})[0]
        assert status == 201
    assert "WORKER TIMEOUT" not in server.log()
