"""The event feed: envelope, roles, long poll, resume, and the gap-safe tail under 16
concurrent writers."""

import random
import threading
import time

import pytest
from asgiref.sync import async_to_sync
from django.db import connection, transaction
from django.test import AsyncClient

from accounts.roles import Role
from catalog.services import product_update
from events.models import Event
from ledger.exceptions import InsufficientStock
from ledger.models import MovementKind
from ledger.posting import Posting, movements_post
from ledger.services import stock_adjust, stock_restock
from ordering.services import order_cancel, order_place
from tests.concurrency import run_in_threads
from tests.conftest import client_for
from tests.factories import ProductFactory, UserFactory


def feed(client, **params):
    """A page of the feed as ``client``'s user. A long poll (``wait``) goes through ASGI,
    as the events process serves it: a sync (WSGI) worker answers at once."""
    if "wait" in params:
        token = client._credentials["HTTP_AUTHORIZATION"]
        get = async_to_sync(AsyncClient().get)
        response = get("/api/v1/events/", params, headers={"Authorization": token})
    else:
        response = client.get("/api/v1/events/", params)
    assert response.status_code == 200, response.json()
    return response.json()


@pytest.fixture
def follower(db):
    return client_for(UserFactory(role=Role.INTEGRATION))


def test_only_the_integration_role_and_auditors_read_the_feed(
    db, follower, auditor, customer, warehouse, anon
):
    assert follower.get("/api/v1/events/").status_code == 200
    assert auditor.get("/api/v1/events/").status_code == 200
    for client in (customer, warehouse):
        response = client.get("/api/v1/events/")
        assert response.status_code == 403
        assert response.json()["code"] == "permission_denied"
    assert anon.get("/api/v1/events/").status_code == 401
    assert customer.get("/api/v1/events/stream").status_code == 403


def test_bad_feed_parameters_are_400_not_500(follower):
    for params in ({"after": "x"}, {"limit": 0}, {"wait": 31}, {"types": "stock.teleported"}):
        response = follower.get("/api/v1/events/", params)
        assert response.status_code == 400, params
        assert response.json()["code"] == "invalid"


@pytest.mark.usefixtures("committed_db")
def test_postings_products_and_orders_are_events_with_the_envelope():
    follower = client_for(UserFactory(role=Role.INTEGRATION))
    customer = UserFactory(role=Role.CUSTOMER)
    product = ProductFactory(sku="SKU-1", stock=0)
    stock_restock(product_id=product.id, quantity=5, actor_id=None, reference="DN-1")
    product_update(product=product, price="9.50")
    order = order_place(customer_id=customer.id, lines=[(product.id, 2)])
    order_cancel(order_id=order.id, actor_id=customer.id, customer_id=customer.id)
    product_update(product=product, is_active=False)

    events = feed(follower, limit=1000)["results"]
    assert [e["type"] for e in events] == [
        "product.created",
        "stock.restocked",
        "product.updated",
        "stock.consumed",
        "order.placed",
        "stock.reversed",
        "order.cancelled",
        "product.archived",
    ]
    positions = [e["id"] for e in events]
    assert positions == sorted(set(positions))
    restocked = events[1]
    assert restocked["version"] == 1
    assert restocked["subject"] == "stock/SKU-1/MAIN"
    assert {k: restocked["data"][k] for k in ("sku", "location", "quantity", "on_hand")} == {
        "sku": "SKU-1",
        "location": "MAIN",
        "quantity": 5,
        "on_hand": 5,
    }
    assert restocked["data"]["reference"] == "DN-1"
    placed = events[4]
    assert placed["subject"] == f"order/{order.id}"
    assert placed["data"]["lines"][0] | {"line": 0} == {
        "line": 0,
        "product": product.id,
        "quantity": 2,
        "unit_price": "9.50",
    }
    assert events[6]["data"]["lines"][0]["quantity"] == 2
    assert events[7]["data"]["is_active"] is False
    # A type filter, and where to resume past what it skipped.
    page = feed(follower, types="order.placed,order.cancelled")
    assert [e["type"] for e in page["results"]] == ["order.placed", "order.cancelled"]
    assert page["next_after"] >= positions[-1]
    assert feed(follower, after=page["next_after"])["results"] == []


@pytest.mark.usefixtures("committed_db")
def test_an_uncommitted_event_holds_back_the_later_ones():
    """A transaction that began writing first but commits last: the follower sees
    nothing past it until it commits, then both in position order."""
    follower = client_for(UserFactory(role=Role.INTEGRATION))
    first, second = ProductFactory(), ProductFactory()
    start = feed(follower)["next_after"]
    slow_started, release = threading.Event(), threading.Event()

    def slow():
        try:
            with transaction.atomic():
                stock_restock(product_id=first.id, quantity=1, actor_id=None)
                slow_started.set()
                release.wait(10)
        finally:
            connection.close()

    thread = threading.Thread(target=slow)
    thread.start()
    slow_started.wait(10)
    stock_restock(product_id=second.id, quantity=1, actor_id=None)  # commits first
    assert feed(follower, after=start)["results"] == []
    release.set()
    thread.join(10)
    events = feed(follower, after=start)["results"]
    assert [e["data"]["product"] for e in events] == [first.id, second.id]


@pytest.mark.usefixtures("committed_db")
def test_a_long_poll_answers_when_an_event_commits():
    follower = client_for(UserFactory(role=Role.INTEGRATION))
    product = ProductFactory()
    after = feed(follower)["next_after"]

    def later():
        time.sleep(0.3)
        try:
            stock_restock(product_id=product.id, quantity=3, actor_id=None)
        finally:
            connection.close()

    thread = threading.Thread(target=later)
    thread.start()
    page = feed(follower, after=after, wait=10)
    thread.join()
    assert [e["type"] for e in page["results"]] == ["stock.restocked"]


@pytest.mark.usefixtures("committed_db")
def test_a_sync_worker_answers_a_long_poll_at_once():
    """Followers pointed at gunicorn's sync workers must not take them: there ``wait``
    is not honoured (the event committed meanwhile is not in the answer)."""
    follower = client_for(UserFactory(role=Role.INTEGRATION))
    product = ProductFactory()
    after = feed(follower)["next_after"]
    started = threading.Event()

    def later():
        started.wait(10)
        time.sleep(1)
        try:
            stock_restock(product_id=product.id, quantity=3, actor_id=None)
        finally:
            connection.close()

    thread = threading.Thread(target=later)
    thread.start()
    started.set()
    response = follower.get("/api/v1/events/", {"after": after, "wait": 10})
    thread.join()
    assert response.status_code == 200
    assert response.json()["results"] == []
    assert [e["type"] for e in feed(follower, after=after)["results"]] == ["stock.restocked"]


@pytest.mark.usefixtures("committed_db")
def test_a_sync_worker_ends_a_stream_after_the_events_it_has():
    follower = client_for(UserFactory(role=Role.INTEGRATION))
    stock_restock(product_id=ProductFactory().id, quantity=3, actor_id=None)
    response = follower.get("/api/v1/events/stream", {"after": 0})
    body = b"".join(response.streaming_content).decode()
    assert response["Content-Type"] == "text/event-stream"
    assert body.startswith("retry: 1000")
    assert "event: stock.restocked" in body


@pytest.mark.usefixtures("committed_db")
def test_a_long_poll_with_nothing_new_answers_empty_after_the_wait():
    follower = client_for(UserFactory(role=Role.INTEGRATION))
    after = feed(follower)["next_after"]
    assert feed(follower, after=after, wait=0.3)["results"] == []


def _database_events():
    return list(Event.objects.order_by("position").values_list("position", "type", "data"))


def _write_randomly(product_ids, customer_id, seconds):
    def work(seed):
        rng = random.Random(seed)
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            product_id = rng.choice(product_ids)
            choice = rng.random()
            try:
                if choice < 0.4:
                    stock_restock(product_id=product_id, quantity=rng.randint(1, 5), actor_id=None)
                elif choice < 0.55:
                    stock_adjust(
                        product_id=product_id, quantity=-1, reason="damaged", actor_id=None
                    )
                elif choice < 0.8:
                    chosen = rng.sample(product_ids, rng.randint(1, 3))
                    order_place(customer_id=customer_id, lines=[(p, 1) for p in chosen])
                else:
                    with transaction.atomic():
                        movements_post(
                            postings=[
                                Posting(product_id=p, kind=MovementKind.RESTOCK, quantity=1)
                                for p in rng.sample(product_ids, 2)
                            ],
                            actor_id=None,
                        )
            except InsufficientStock:
                pass
            # Transactions of varied length, so that they commit out of order.
            time.sleep(rng.random() * 0.002)
        return seed

    return work


@pytest.mark.usefixtures("committed_db")
def test_a_follower_tailing_16_writers_gets_every_event_once_in_order():
    follower = client_for(UserFactory(role=Role.INTEGRATION))
    customer = UserFactory(role=Role.CUSTOMER)
    product_ids = [ProductFactory(stock=50).id for _ in range(6)]
    start = feed(follower)["next_after"]
    seen: list[dict] = []
    done = threading.Event()
    errors: list[BaseException] = []

    def tail():
        after = start
        try:
            while True:
                finished = done.is_set()  # read before the page: it covers every commit
                page = feed(follower, after=after, limit=50, wait=0.2)
                seen.extend(page["results"])
                after = page["next_after"]
                if finished and not page["results"]:
                    return
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    tailer = threading.Thread(target=tail)
    tailer.start()
    run_in_threads(_write_randomly(product_ids, customer.id, 3.0), range(16), threads=16)
    done.set()
    tailer.join(60)
    assert not tailer.is_alive() and not errors, errors
    expected = [(p, t, d) for p, t, d in _database_events() if p > start]
    assert len(expected) > 200  # the writers did write
    assert [(e["id"], e["type"], e["data"]) for e in seen] == expected


@pytest.mark.usefixtures("committed_db")
def test_a_follower_that_disconnects_and_resumes_misses_and_repeats_nothing():
    follower = client_for(UserFactory(role=Role.INTEGRATION))
    customer = UserFactory(role=Role.CUSTOMER)
    product_ids = [ProductFactory(stock=50).id for _ in range(4)]
    start = feed(follower)["next_after"]
    writers = threading.Thread(
        target=run_in_threads,
        args=(_write_randomly(product_ids, customer.id, 2.0), range(8)),
        kwargs={"threads": 8},
    )
    writers.start()
    seen: list[dict] = []
    after = start
    sessions = 0
    while writers.is_alive() or sessions < 3:
        # A short session of a few pages, then a "crash": only `after` survives.
        sessions += 1
        for _ in range(random.randint(1, 3)):
            page = feed(follower, after=after, limit=7)
            seen.extend(page["results"])
            after = page["next_after"]
        time.sleep(0.05)
    writers.join()
    while page := feed(follower, after=after, limit=7):
        if not page["results"]:
            break
        seen.extend(page["results"])
        after = page["next_after"]
    expected = [p for p, _, _ in _database_events() if p > start]
    assert [e["id"] for e in seen] == expected
