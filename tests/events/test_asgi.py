"""The feed as deployed: the ASGI application under uvicorn (a real server in a
thread), with 100 idle long polls open while stock is posted, and the SSE stream."""

import asyncio
import threading
import time

import httpx
import pytest
import uvicorn
from django.db import connection

from accounts.roles import Role
from accounts.services import token_create
from config.asgi import application
from events.watch import watcher
from ledger.services import stock_restock
from tests.factories import ProductFactory, UserFactory

pytestmark = pytest.mark.usefixtures("committed_db")


@pytest.fixture
def server():
    config = uvicorn.Config(application, host="127.0.0.1", port=0, log_level="warning")
    instance = uvicorn.Server(config)
    thread = threading.Thread(target=instance.run, daemon=True)
    thread.start()
    for _ in range(200):
        if instance.started:
            break
        time.sleep(0.05)
    port = instance.servers[0].sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}"
    instance.should_exit = True
    thread.join(10)


def token_for(role) -> str:
    token, _ = token_create(user=UserFactory(role=role))
    return token


def backends() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND backend_type = 'client backend'"
        )
        return cursor.fetchone()[0]


def test_100_idle_followers_hold_no_connection_and_do_not_block_writes(server):
    headers = {"Authorization": f"Token {token_for(Role.INTEGRATION)}"}
    product = ProductFactory()
    with httpx.Client(base_url=server, headers=headers) as client:
        after = client.get("/api/v1/events/").json()["next_after"]
    results: list = []

    async def follow_all():
        limits = httpx.Limits(max_connections=200)
        async with httpx.AsyncClient(
            base_url=server, headers=headers, timeout=40, limits=limits
        ) as client:

            async def follow():
                response = await client.get("/api/v1/events/", params={"after": after, "wait": 30})
                return response.status_code, response.json().get("results", response.json())

            results.extend(await asyncio.gather(*(follow() for _ in range(100))))

    followers = threading.Thread(target=lambda: asyncio.run(follow_all()))
    followers.start()
    for _ in range(400):  # until all 100 wait
        if len(watcher._waiters) >= 100:
            break
        time.sleep(0.05)
    assert len(watcher._waiters) >= 100
    # Waiting followers hold no database connection: this test's, the watcher's and a
    # few passes in flight at most.
    assert backends() < 10
    for quantity in range(1, 11):
        stock_restock(product_id=product.id, quantity=quantity, actor_id=None)
    followers.join(40)
    assert not followers.is_alive()
    assert len(results) == 100
    for status, events in results:
        assert status == 200
        assert events and events[0]["type"] == "stock.restocked"
        assert events[0]["data"]["quantity"] == 1


def _read_sse(server, headers, count, timeout=20):
    """The first ``count`` events of the stream: (id, type) pairs."""
    found = []
    with httpx.stream(
        "GET", f"{server}/api/v1/events/stream", headers=headers, timeout=timeout
    ) as r:
        assert r.status_code == 200
        assert r.headers["content-type"].startswith("text/event-stream")
        event = {}
        for line in r.iter_lines():
            if line.startswith("id: "):
                event["id"] = int(line[4:])
            elif line.startswith("event: "):
                event["type"] = line[7:]
            elif line == "" and event:
                found.append((event["id"], event["type"]))
                event = {}
                if len(found) == count:
                    return found
    return found


def test_the_stream_sends_events_as_they_commit_and_resumes_from_last_event_id(server):
    token = token_for(Role.AUDITOR)
    product = ProductFactory()
    headers = {"Authorization": f"Token {token}"}
    first = _read_sse(server, headers, 1)  # product.created, already there
    assert first[0][1] == "product.created"

    def post_later():
        time.sleep(0.3)
        try:
            for quantity in (1, 2, 3):
                stock_restock(product_id=product.id, quantity=quantity, actor_id=None)
        finally:
            connection.close()

    writer = threading.Thread(target=post_later)
    writer.start()
    resumed = _read_sse(server, {**headers, "Last-Event-ID": str(first[0][0])}, 3)
    writer.join()
    assert [t for _, t in resumed] == ["stock.restocked"] * 3
    assert [p for p, _ in resumed] == sorted(p for p, _ in resumed)
    assert resumed[0][0] > first[0][0]
    # Resuming from the second gets the third only.
    again = _read_sse(server, {**headers, "Last-Event-ID": str(resumed[1][0])}, 1)
    assert again == resumed[2:]


def test_the_stream_refuses_customers(server):
    headers = {"Authorization": f"Token {token_for(Role.CUSTOMER)}"}
    response = httpx.get(f"{server}/api/v1/events/stream", headers=headers)
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"
