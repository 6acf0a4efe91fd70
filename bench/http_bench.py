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
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

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
from bench.http_seed import CUSTOMER_COUNT, PRODUCT_COUNT

NAME = "http"

WARMUP_REQUESTS = 5
RECEIPT_LINES = 10


def add_arguments(parser) -> None:
    parser.add_argument("--http-workers", type=int, default=4, help="gunicorn workers (4)")
    parser.add_argument("--connections", type=int, default=16, help="client connections (16)")
    parser.add_argument(
        "--baseline",
        metavar="REF",
        help="also serve the git commit REF from a temporary worktree, on its own database"
        " with the same data, and compare the two servers in interleaved rounds",
    )
    parser.add_argument(
        "--rounds",
        type=int,
        help="with --baseline: rounds per scenario and side (3; 2 with --quick)",
    )


def run(args) -> None:
    if args.baseline:
        from bench.http_baseline import run_against_baseline

        run_against_baseline(args)
        return
    duration = 2.0 if args.quick else 5.0
    print_heading("HTTP")
    product_ids, customer_tokens, warehouse_token, actor_id = _set_up()
    server = Gunicorn(args.http_workers)
    try:
        scenarios = [
            ("order, 1 line, 1 hot product", "order", product_ids[:1], customer_tokens),
            (f"order, 1 line, {PRODUCT_COUNT:,} products", "order", product_ids, customer_tokens),
            ("restock, 1 hot product", "restock", product_ids[:1], [warehouse_token]),
            (f"restock, {PRODUCT_COUNT:,} products", "restock", product_ids, [warehouse_token]),
            (
                f"receipt, 10 lines, {PRODUCT_COUNT:,} products",
                "receipt",
                product_ids,
                [warehouse_token],
            ),
            ("GET /api/v1/products/ (50 a page)", "list", product_ids, customer_tokens),
            ("GET /healthz (no database)", "health", product_ids, customer_tokens),
        ]
        rows = []
        for label, kind, targets, tokens in scenarios:
            cpu_before = server.cpu_seconds()
            results = run_workers(
                client, args.connections, duration, server.port, kind, targets, tokens
            )
            cpu = server.cpu_seconds() - cpu_before
            rows.append((label, kind, _summarise(results, cpu)))
    finally:
        server.stop()
    raw = _raw_rates(product_ids, actor_id, args.connections, duration)
    _print(rows, raw, args, duration)


# --- Set-up ----------------------------------------------------------------------------------


def _set_up():
    from bench.http_seed import seed

    data = seed()
    print(
        f"  Set-up: {PRODUCT_COUNT:,} products with stock, {CUSTOMER_COUNT} customers in"
        f" {data['seconds']:.1f} s."
    )
    return data["product_ids"], data["customer_tokens"], data["warehouse_token"], data["actor_id"]


def bench_database_url() -> str:
    from django.conf import settings

    from config.database_url import database_url

    return database_url(settings.DATABASES["default"])


def server_environment(database_url: str) -> dict[str, str]:
    """The environment of a process serving (or preparing) the benchmark: production
    settings on ``database_url``."""
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "DEBUG": "false",
        "SECRET_KEY": "benchmark-only-secret-key-" + "x" * 40,
        "SECURE_SSL_REDIRECT": "false",
        "ALLOWED_HOSTS": "127.0.0.1",
        "LOG_LEVEL": "ERROR",
        "DJANGO_SETTINGS_MODULE": "config.settings",
    }


class Gunicorn:
    """gunicorn serving the benchmark database, as the Docker image runs it."""

    def __init__(
        self,
        workers: int,
        *,
        tree: Path = ROOT,
        database_url: str | None = None,
        tree_config: bool = False,
    ) -> None:
        """Serve ``tree``'s code on ``database_url`` (default: this checkout on the
        benchmark database). With ``tree_config``, gunicorn takes the tree's own
        config/gunicorn.py (bench/gunicorn_tree.py) and each worker reports the file it
        imported ledger.posting from (``imported()``)."""
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        env = server_environment(database_url or bench_database_url())
        options = [
            "--bind",
            f"127.0.0.1:{self.port}",
            "--workers",
            str(workers),
            "--log-level",
            "warning",
            "--backlog",
            "2048",
        ]
        self.imported_dir = None
        if tree_config:
            # The tree first on the path, whatever this checkout's editable install says.
            self.imported_dir = Path(tempfile.mkdtemp(prefix="bench-imported-"))
            env |= {
                "PYTHONPATH": str(tree),
                "BENCH_TREE": str(tree),
                "BENCH_IMPORTED_DIR": str(self.imported_dir),
                "BIND_HOST": "127.0.0.1",
                "PORT": str(self.port),
                "WEB_CONCURRENCY": str(workers),
            }
            config = Path(__file__).resolve().parent / "gunicorn_tree.py"
            options = ["--config", str(config), "--chdir", str(tree), *options]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gunicorn", *options, "config.wsgi:application"],
            cwd=tree,
            env=env,
            start_new_session=True,
        )
        try:
            self._wait_until_ready(workers)
        except BaseException:
            self.stop()
            raise

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

    def imported(self) -> list[str]:
        """The files the workers imported ledger.posting from, one per worker (with
        ``tree_config``; each worker writes its own once it has loaded the app)."""
        if self.imported_dir is None:
            return []
        deadline = time.monotonic() + 30
        while True:
            reports = [path for path in self.imported_dir.iterdir() if path.suffix != ".tmp"]
            if len(reports) >= len(self.workers()) or time.monotonic() > deadline:
                return [path.read_text() for path in reports]
            time.sleep(0.1)

    def stop(self) -> None:
        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=30)
        if self.imported_dir is not None:
            shutil.rmtree(self.imported_dir, ignore_errors=True)


# --- Load ------------------------------------------------------------------------------------


def client(index, start, port, kind, product_ids, tokens):
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
        elif kind == "receipt":
            lines = [{"product": p, "quantity": 1} for p in rng.sample(product_ids, RECEIPT_LINES)]
            body = {"reference": f"bench {index}", "lines": lines}
            method, path = "POST", "/api/v1/receipts/"
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

    statements = _capture_write_statement(product_ids[0], actor_id)
    rates = {}
    for label, targets in (("hot", product_ids[:1]), ("all", product_ids)):
        results = run_workers(
            _raw_writer, writers, duration, targets, actor_id, 7, psycopg_params(), statements
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
        if kind in ("order", "restock", "receipt"):
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
            "An order of one line and a restock are each one statement that checks the token "
            "and writes (the order, its line, the balance, the movement and their events); "
            "a receipt is the token check, then its own statements.",
        ]
    )
