"""Event feed benchmark: how late followers learn of a commit, and what followers and
webhooks cost the writers, measured in one run on one database.

Phases:
1. 200 products with stock, a follower (integration role); the ASGI process
   (uvicorn config.asgi:application, as `make run` and compose serve the feed);
2. posting throughput: 16 writer processes restocking random products for SECONDS,
   (a) with no follower and no webhook endpoint, (b) with 100 idle followers (long
   polls for a type nobody writes) and 2 webhook endpoints subscribed to every type,
   with the webhook worker running (`deliver_webhooks --loop 1`, as compose runs it:
   it fans every event out into two deliveries; nothing listens at the endpoints'
   address, so each endpoint's first send is refused and retried after its backoff:
   the cost of sending itself is not in the figure), (a) again; the two (a)
   figures bound the machine's drift;
3. feed lag: 16 writers again (as fast as they can, then paced at about 10 postings/s
   each) while one follower long-polls the feed over HTTP; each
   event's lag is the follower's receipt time minus its occurred_at (taken when the
   posting holds its row lock, so it includes the rest of the transaction and the
   commit).
"""

from __future__ import annotations

import asyncio
import os
import random
import secrets
import socket
import subprocess
import sys
import threading
import time
from datetime import datetime
from pathlib import Path

from bench.common import (
    fmt_float,
    fmt_int,
    fmt_ratio,
    median,
    percentile,
    print_heading,
    print_notes,
    print_table,
    run_workers,
)

NAME = "events"
ROOT = Path(__file__).resolve().parent.parent
PRODUCTS = 200
WRITERS = 16
FOLLOWERS = 100
LAG_TARGET_P99_MS = 250


def add_arguments(parser) -> None:
    parser.add_argument(
        "--events-seconds", type=float, default=10.0, help="seconds per throughput phase"
    )


def _writer(index, start, product_ids, pause=0.0):
    from django.db import connection

    from ledger.services import stock_restock

    rng = random.Random(index)
    stock_restock(product_id=product_ids[0], quantity=1, actor_id=None)  # connect, warm up
    deadline = start()
    posted = 0
    while time.monotonic() < deadline:
        stock_restock(product_id=rng.choice(product_ids), quantity=1, actor_id=None)
        posted += 1
        if pause:
            time.sleep(pause)
    connection.close()
    return posted


def _throughput(product_ids, seconds, pause=0.0) -> float:
    counts = run_workers(_writer, WRITERS, seconds, product_ids, pause)
    return sum(counts) / seconds


class Uvicorn:
    def __init__(self) -> None:
        from bench.http_bench import bench_database_url, server_environment

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        env = server_environment(bench_database_url()) | {"CONN_MAX_AGE": "0"}
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                "config.asgi:application",
                "--host",
                "127.0.0.1",
                "--port",
                str(self.port),
                "--log-level",
                "warning",
            ],
            cwd=ROOT,
            env=env,
            start_new_session=True,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        import httpx

        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError("uvicorn did not start")

    def stop(self) -> None:
        os.killpg(self.process.pid, 15)
        self.process.wait(30)


class WebhookWorker:
    """``manage.py deliver_webhooks --loop 1`` on the bench database, as compose runs it."""

    def __init__(self) -> None:
        from bench.http_bench import bench_database_url, server_environment

        env = server_environment(bench_database_url()) | {"WEBHOOKS_ALLOW_PRIVATE": "true"}
        self.process = subprocess.Popen(
            [sys.executable, "manage.py", "deliver_webhooks", "--loop", "1"],
            cwd=ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )

    def stop(self) -> None:
        os.killpg(self.process.pid, 15)
        self.process.wait(30)


def _idle_followers(url, token, stop: threading.Event, ready: threading.Event):
    import httpx

    async def main():
        headers = {"Authorization": f"Token {token}"}
        limits = httpx.Limits(max_connections=FOLLOWERS + 10)
        async with httpx.AsyncClient(base_url=url, headers=headers, timeout=40, limits=limits) as c:
            start = (await c.get("/api/v1/events/")).json()["next_after"]

            async def follow():
                # As a follower does (docs/events.md): each poll resumes from the last
                # answer's next_after, which moves past the events of other types.
                after = start
                while not stop.is_set():
                    page = await c.get(
                        "/api/v1/events/",
                        params={"after": after, "types": "transfer.returned", "wait": 2},
                    )
                    after = page.json()["next_after"]

            tasks = [asyncio.create_task(follow()) for _ in range(FOLLOWERS)]
            await asyncio.sleep(1)
            ready.set()
            await asyncio.gather(*tasks)

    asyncio.run(main())


def _follow_lags(url, token, stop: threading.Event, lags: list, after: int):
    import httpx

    with httpx.Client(base_url=url, headers={"Authorization": f"Token {token}"}, timeout=40) as c:
        while not stop.is_set():
            page = c.get("/api/v1/events/", params={"after": after, "wait": 1, "limit": 1000})
            received = time.time()
            body = page.json()
            for event in body["results"]:
                occurred = datetime.fromisoformat(event["occurred_at"].replace("Z", "+00:00"))
                lags.append((received - occurred.timestamp()) * 1000)
            after = body["next_after"]


def run(args) -> None:
    import logging

    from accounts.roles import Role
    from accounts.services import token_create, user_create
    from catalog.services import product_create
    from events.models import WebhookDelivery, WebhookEndpoint
    from events.selectors import event_head
    from events.services import webhook_endpoint_create
    from ledger.services import stock_restock

    logging.getLogger("httpx").setLevel(logging.WARNING)  # a line per request otherwise
    seconds = 3.0 if args.quick else args.events_seconds
    print_heading("Event feed: lag and the cost of followers and webhooks")
    product_ids = []
    for n in range(PRODUCTS):
        product = product_create(sku=f"EV-{n:04d}", name=f"Event bench {n}", price="1.00")
        stock_restock(product_id=product.id, quantity=100, actor_id=None)
        product_ids.append(product.id)
    user = user_create(
        username="bench-follower", password=secrets.token_urlsafe(24), role=Role.INTEGRATION
    )
    token, _ = token_create(user=user)
    server = Uvicorn()
    try:
        base = _throughput(product_ids, seconds)

        from django.test import override_settings

        with override_settings(WEBHOOKS_ALLOW_PRIVATE=True):
            for n in range(2):
                webhook_endpoint_create(
                    url=f"http://127.0.0.1:9/hook{n}",
                    types=[],
                    description="bench",
                    created_by_id=None,
                )
        stop, ready = threading.Event(), threading.Event()
        idle = threading.Thread(
            target=_idle_followers, args=(server.url, token, stop, ready), daemon=True
        )
        idle.start()
        ready.wait(60)
        worker = WebhookWorker()
        try:
            loaded = _throughput(product_ids, seconds)
        finally:
            worker.stop()
        stop.set()
        idle.join(30)
        deliveries = WebhookDelivery.objects.count()
        WebhookEndpoint.objects.update(is_active=False)
        base_again = _throughput(product_ids, seconds)

        # Saturated (every writer as fast as it can: the machine's cores are the
        # bottleneck) and paced (each writer about 10 postings/s).
        lag_runs = []
        for pause in (0.0, 0.1):
            lags: list[float] = []
            stop = threading.Event()
            follower = threading.Thread(
                target=_follow_lags,
                args=(server.url, token, stop, lags, event_head()),
                daemon=True,
            )
            follower.start()
            time.sleep(0.5)
            rate = _throughput(product_ids, seconds, pause)
            time.sleep(2)
            stop.set()
            follower.join(30)
            lag_runs.append((rate, lags))
    finally:
        server.stop()

    mean_base = (base + base_again) / 2
    print_table(
        ["phase", "postings/s", "vs. none"],
        [
            ["no follower, no webhook", fmt_int(base), ""],
            [
                f"{FOLLOWERS} idle followers + 2 webhooks",
                fmt_int(loaded),
                fmt_ratio(loaded / mean_base),
            ],
            ["no follower, no webhook (again)", fmt_int(base_again), ""],
        ],
    )
    print()
    print_table(
        ["feed lag, 16 writers", "postings/s", "events", "median ms", "p99 ms", "max ms"],
        [
            [
                label,
                fmt_int(rate),
                fmt_int(len(lags)),
                fmt_float(median(lags)) if lags else "",
                fmt_float(percentile(lags, 0.99)) if lags else "",
                fmt_float(max(lags)) if lags else "",
            ]
            for label, (rate, lags) in zip(("saturated", "paced"), lag_runs, strict=True)
        ],
    )
    print_notes(
        [
            f"Targets: lag p99 under {LAG_TARGET_P99_MS} ms; throughput with followers and"
            " webhooks within 10% of none. Lag counts from occurred_at (the posting's row lock)"
            " to the follower's receipt: it includes the writer's commit, the safe mark"
            " (every older transaction finished) and the watcher's 50 ms poll.",
            f"With webhooks, the worker (deliver_webhooks --loop 1) ran beside the writers"
            f" and wrote {deliveries:,} deliveries from the feed (two per event); the"
            " postings write none themselves.",
        ]
    )
