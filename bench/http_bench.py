"""HTTP benchmark: orders, restocks and product lists per second through gunicorn, with
the server's CPU time per request, beside the raw-SQL posting rate measured in the
same run.

The server is gunicorn as the Docker image runs it (sync workers, 4 by default) on the
benchmark database; the load comes from separate client processes, one connection each
(16 by default), each sending its next request as soon as the last one is answered.
"""

from __future__ import annotations

import os
import random
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from decimal import Decimal

from bench.common import (
    ROOT,
    fmt_float,
    fmt_int,
    fmt_ratio,
    median,
    percentile,
    print_heading,
    print_notes,
    print_table,
    psycopg_params,
    run_workers,
)

NAME = "http"

PRODUCT_COUNT = 1_000
STOCK = 10_000_000  # enough that no order in the run is refused
WARMUP_REQUESTS = 5


def add_arguments(parser) -> None:
    parser.add_argument("--http-workers", type=int, default=4, help="gunicorn workers (4)")
    parser.add_argument("--connections", type=int, default=16, help="client connections (16)")


def run(args) -> None:
    duration = 2.0 if args.quick else 5.0
    print_heading("HTTP")
    product_ids, customer_tokens, warehouse_token, actor_id = _set_up()
    server = _Gunicorn(args.http_workers)
    try:
        scenarios = [
            ("order, 1 line, 1 hot product", "order", product_ids[:1], customer_tokens),
            (f"order, 1 line, {PRODUCT_COUNT:,} products", "order", product_ids, customer_tokens),
            ("restock, 1 hot product", "restock", product_ids[:1], [warehouse_token]),
            (f"restock, {PRODUCT_COUNT:,} products", "restock", product_ids, [warehouse_token]),
            ("GET /api/v1/products/ (50 a page)", "list", product_ids, customer_tokens),
            ("GET /healthz (no database)", "health", product_ids, customer_tokens),
        ]
        rows = []
        for label, kind, targets, tokens in scenarios:
            cpu_before = server.cpu_seconds()
            results = run_workers(
                _client, args.connections, duration, server.port, kind, targets, tokens
            )
            cpu = server.cpu_seconds() - cpu_before
            rows.append((label, kind, _summarise(results, cpu)))
    finally:
        server.stop()
    raw = _raw_rates(product_ids, actor_id, args.connections, duration)
    _print(rows, raw, args, duration)


# --- Set-up ----------------------------------------------------------------------------------


def _set_up():
    from django.contrib.auth import get_user_model
    from django.db import transaction

    from accounts.roles import Role
    from accounts.services import token_create, user_create
    from catalog.services import product_create
    from ledger.services import stock_restock

    started = time.monotonic()
    with transaction.atomic():
        warehouse = user_create(
            username="http-warehouse", password="bench-pass-1", role=Role.WAREHOUSE
        )
        product_ids = []
        for number in range(PRODUCT_COUNT):
            product = product_create(
                sku=f"HTTP-{number:04d}", name=f"HTTP product {number}", price=Decimal("2.50")
            )
            stock_restock(product_id=product.id, quantity=STOCK, actor_id=warehouse.id)
            product_ids.append(product.id)
        customers = [
            get_user_model().objects.create_user(username=f"http-customer-{n}") for n in range(64)
        ]
        customer_tokens = [token_create(user=user)[0] for user in customers]
        warehouse_token = token_create(user=warehouse)[0]
    print(
        f"  Set-up: {PRODUCT_COUNT:,} products with stock, 64 customers in"
        f" {time.monotonic() - started:.1f} s."
    )
    return product_ids, customer_tokens, warehouse_token, warehouse.id


def _database_url() -> str:
    from django.conf import settings

    from config.database_url import database_url

    return database_url(settings.DATABASES["default"])


class _Gunicorn:
    """gunicorn serving the benchmark database, as the Docker image runs it."""

    def __init__(self, workers: int) -> None:
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        env = {
            **os.environ,
            "DATABASE_URL": _database_url(),
            "DEBUG": "false",
            "SECRET_KEY": "benchmark-only-secret-key-" + "x" * 40,
            "SECURE_SSL_REDIRECT": "false",
            "ALLOWED_HOSTS": "127.0.0.1",
            "LOG_LEVEL": "ERROR",
            "DJANGO_SETTINGS_MODULE": "config.settings",
        }
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "config.wsgi:application",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                str(workers),
                "--log-level",
                "warning",
                "--backlog",
                "2048",
            ],
            cwd=ROOT,
            env=env,
            start_new_session=True,
        )
        self._wait_until_ready(workers)

    def _wait_until_ready(self, workers: int) -> None:
        import http.client

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("gunicorn exited while starting")
            try:
                connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=2)
                connection.request("GET", "/readyz")
                if connection.getresponse().status == 200 and len(self.workers()) == workers:
                    return
            except OSError:
                pass
            time.sleep(0.2)
        raise RuntimeError("gunicorn did not become ready")

    def workers(self) -> list[int]:
        children = f"/proc/{self.process.pid}/task/{self.process.pid}/children"
        with open(children) as handle:
            return [int(pid) for pid in handle.read().split()]

    def cpu_seconds(self) -> float:
        """User + system CPU time of the worker processes so far (Linux /proc)."""
        ticks = os.sysconf("SC_CLK_TCK")
        total = 0
        for pid in self.workers():
            with open(f"/proc/{pid}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            total += int(fields[11]) + int(fields[12])  # utime, stime
        return total / ticks

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=30)


# --- Load ------------------------------------------------------------------------------------


def _client(index, start, port, kind, product_ids, tokens):
    """One client process, one connection at a time (gunicorn's sync workers close it
    after each response, as behind a load balancer)."""
    import http.client
    import json

    rng = random.Random(index)
    token = tokens[index % len(tokens)]
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}

    def request():
        product = product_ids[0] if len(product_ids) == 1 else rng.choice(product_ids)
        if kind == "order":
            body = {"lines": [{"product": product, "quantity": 1}]}
            method, path = "POST", "/api/v1/orders/"
        elif kind == "restock":
            body = {"quantity": 1}
            method, path = "POST", f"/api/v1/products/{product}/restocks/"
        elif kind == "list":
            body, method, path = None, "GET", "/api/v1/products/"
        else:
            body, method, path = None, "GET", "/healthz"
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        connection.request(method, path, body=json.dumps(body) if body else None, headers=headers)
        response = connection.getresponse()
        response.read()
        connection.close()
        return response.status

    statuses: Counter[int] = Counter()
    for _ in range(WARMUP_REQUESTS):
        statuses[request()] += 1
    warmup = sum(statuses.values())
    deadline = start()
    began = time.monotonic()
    latencies = []
    while time.monotonic() < deadline:
        sent = time.perf_counter()
        statuses[request()] += 1
        latencies.append(time.perf_counter() - sent)
    return {
        "statuses": dict(statuses),
        "warmup": warmup,
        "latencies": latencies,
        "elapsed": time.monotonic() - began,
    }


def _summarise(results, cpu_seconds: float) -> dict:
    statuses: Counter[int] = Counter()
    for result in results:
        statuses.update(result["statuses"])
    measured = sum(len(r["latencies"]) for r in results)
    total = sum(statuses.values())  # warm-up requests included: the CPU covers them too
    latencies = [value for r in results for value in r["latencies"]]
    return {
        "rate": measured / max(r["elapsed"] for r in results),
        "cpu_ms": 1_000 * cpu_seconds / max(total, 1),
        "median_ms": 1_000 * median(latencies),
        "p99_ms": 1_000 * percentile(latencies, 0.99),
        "statuses": dict(sorted(statuses.items())),
    }


def _raw_rates(product_ids, actor_id, writers, duration) -> dict:
    """The raw-SQL posting rate (the posting service's two statements sent with psycopg,
    bench/ledger_bench.py) for the same product sets, by as many writers as there were
    client connections."""
    from bench.ledger_bench import _capture_write_statement, _raw_writer
    from bench.ledger_bench import _summarise as summarise_postings

    write_sql = _capture_write_statement(product_ids[0], actor_id)
    rates = {}
    for label, targets in (("hot", product_ids[:1]), ("all", product_ids)):
        results = run_workers(
            _raw_writer, writers, duration, targets, actor_id, 7, psycopg_params(), write_sql
        )
        rates[label] = summarise_postings([results])["rate"]
    return rates


# --- Output ----------------------------------------------------------------------------------


def _print(rows, raw, args, duration) -> None:
    print()
    print(
        f"  Requests per second through gunicorn ({args.http_workers} sync workers),"
        f" {args.connections} client connections, {duration:g} s each"
    )
    print()
    table = []
    for label, kind, summary in rows:
        if kind in ("order", "restock"):
            reference = raw["hot"] if "hot" in label else raw["all"]
            raw_cell, ratio = fmt_int(reference), fmt_ratio(summary["rate"] / reference)
        else:
            raw_cell = ratio = "-"
        table.append(
            [
                label,
                fmt_int(summary["rate"]),
                raw_cell,
                ratio,
                fmt_float(summary["cpu_ms"], 2),
                fmt_float(summary["median_ms"]),
                fmt_float(summary["p99_ms"]),
                " ".join(f"{code}:{count}" for code, count in summary["statuses"].items()),
            ]
        )
    print_table(
        [
            "scenario",
            "req/s",
            "raw SQL postings/s",
            "HTTP/raw",
            "server CPU ms/req",
            "median ms",
            "p99 ms",
            "statuses",
        ],
        table,
    )
    print()
    print_notes(
        [
            "req/s: answered requests per second, all clients together. raw SQL postings/s: "
            "the posting service's own two statements sent with psycopg directly by as many "
            "writer processes, one transaction per posting, measured in this run for the same "
            "product set (one hot product, or all of them); HTTP/raw is the share of that "
            "database-bound ceiling that the whole HTTP stack reaches.",
            "server CPU ms/req: user + system CPU time of the gunicorn workers divided by the "
            "requests they answered (warm-up included), read from /proc; it excludes "
            "PostgreSQL's own CPU and the clients'. It is the figure to compare with the "
            "target of about 1 ms for an order or a restock; /healthz shows the floor that "
            "gunicorn and Django's middleware cost before any view runs.",
            "Clients and server share this machine's CPUs, so on a small machine the rates are "
            "bounded by CPU: the Python clients take a share, and PostgreSQL takes another.",
            "An order is the token lookup, one read of the products, one INSERT of the order "
            "with its lines, the conditional UPDATE of the balance and one INSERT of the "
            "movement; a restock is the token lookup and the two posting statements.",
        ]
    )
