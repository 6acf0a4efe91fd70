"""A row or table held by another transaction: requests give up after the lock timeout
with a JSON 503 "busy"; reports and exports wait longer than a request may."""

import threading
import time
from contextlib import contextmanager

import psycopg
import pytest
from django.conf import settings
from django.core.management import call_command
from django.db import connection

from config.database_url import database_url
from ledger.models import Movement
from tests.conftest import client_for
from tests.factories import ProductFactory

# Set on the test's connection: the whole suite's default (DATABASE_LOCK_TIMEOUT_MS) would
# make each refused request wait 4 s.
LOCK_TIMEOUT_MS = 500
# Generous: the machine running the tests may be slow and shared.
MARGIN_S = 5


@contextmanager
def other_transaction():
    """A transaction on a connection of its own, as a psql session or a stuck client
    would hold; rolled back at the end."""
    with psycopg.connect(database_url(connection.settings_dict)) as other:
        try:
            yield other
        finally:
            other.rollback()


@contextmanager
def balance_row_held(product_id: int):
    with other_transaction() as other:
        other.execute(
            "SELECT on_hand FROM ledger_stockbalance WHERE product_id = %s FOR UPDATE",
            [product_id],
        )
        yield other


@contextmanager
def session_lock_timeout(milliseconds: int):
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('lock_timeout', %s, false)", [str(milliseconds)])
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")


def restock(client, product, key=None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    return client.post(
        f"/api/v1/products/{product.id}/restocks/", {"quantity": 3}, format="json", **headers
    )


def order(client, product):
    return client.post(
        "/api/v1/orders/", {"lines": [{"product": product.id, "quantity": 1}]}, format="json"
    )


def assert_busy(response, elapsed: float):
    assert response.status_code == 503, response.content
    assert response.json()["code"] == "busy"
    assert int(response["Retry-After"]) > 0
    assert elapsed < LOCK_TIMEOUT_MS / 1000 + MARGIN_S


@pytest.mark.usefixtures("committed_db")
def test_writes_to_a_held_product_are_busy_while_other_products_are_served(warehouse, customer):
    held, free = ProductFactory(stock=10), ProductFactory(stock=10)
    with session_lock_timeout(LOCK_TIMEOUT_MS), balance_row_held(held.id):
        for write in (lambda: restock(warehouse, held), lambda: order(customer, held)):
            started = time.monotonic()
            response = write()
            assert_busy(response, time.monotonic() - started)
        assert restock(warehouse, free).status_code == 201
        assert order(customer, free).status_code == 201
        assert customer.get("/healthz").status_code == 200
    assert Movement.objects.filter(product_id=held.id).count() == 1  # the factory's stock
    # Once the row is free again, the same writes succeed.
    assert restock(warehouse, held).status_code == 201
    assert order(customer, held).status_code == 201


@pytest.mark.usefixtures("committed_db")
def test_a_retry_while_the_first_request_waits_gets_409_with_retry_after(warehouse):
    product = ProductFactory()
    retry = client_for(warehouse.user)
    first: list = []

    def send_first():
        try:
            first.append(restock(warehouse, product, key="delivery-7"))
        finally:
            connection.close()

    with balance_row_held(product.id) as holder:
        thread = threading.Thread(target=send_first)
        thread.start()
        try:
            _wait_for_a_lock_wait()
            response = restock(retry, product, key="delivery-7")
        finally:
            holder.rollback()  # lets the first request finish
            thread.join(timeout=60)
    assert response.status_code == 409
    assert response.json()["code"] == "idempotency_key_in_use"
    assert int(response["Retry-After"]) > 0
    assert first[0].status_code == 201
    assert Movement.objects.filter(product_id=product.id).count() == 1


def _wait_for_a_lock_wait():
    """Until some backend on the test database waits for a lock (the first request, at
    the balance row, after taking its Idempotency-Key lock)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity"
                " WHERE datname = current_database() AND wait_event_type = 'Lock'"
            )
            if cursor.fetchone()[0]:
                return
        time.sleep(0.05)
    raise AssertionError("the first request never waited for the balance row")


def export(auditor):
    response = auditor.get("/api/v1/movements/export.csv")
    assert response.status_code == 200
    return b"".join(response.streaming_content)


# A request's statement limit, short here, and how long the table stays locked.
REQUEST_LIMIT_MS = "300"
HOLD_S = 1.2

REPORTS = {
    "export": export,
    "verify_ledger": lambda auditor: call_command("verify_ledger"),
    "rebuild_balances": lambda auditor: call_command("rebuild_balances", dry_run=True),
    "low_stock_report": lambda auditor: call_command("low_stock_report"),
}


@pytest.mark.django_db
@pytest.mark.parametrize("report", REPORTS)
def test_reports_and_exports_outlast_the_request_statement_timeout(report, auditor):
    # A request's limit, short here; the report waits for a table lock for longer.
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('statement_timeout', %s, true)", [REQUEST_LIMIT_MS])
    with other_transaction() as other:
        other.execute("LOCK TABLE ledger_movement IN ACCESS EXCLUSIVE MODE")
        # Released after HOLD_S: longer than the request limit, shorter than the lock
        # timeout (4 s), so only the report's own statement timeout lets it finish.
        release = threading.Timer(HOLD_S, other.rollback)
        release.start()
        try:
            REPORTS[report](auditor)
        finally:
            release.join()


def statement_timeout_ms() -> int:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT extract(epoch FROM current_setting('statement_timeout')::interval) * 1000"
        )
        return int(cursor.fetchone()[0])


@pytest.mark.usefixtures("committed_db")
def test_an_export_outside_a_transaction_restores_the_request_limit_afterwards(auditor):
    """As in production, where the export runs in autocommit on a persistent connection:
    the longer limit holds for the export only, not for the connection's next request."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('statement_timeout', %s, false)", [REQUEST_LIMIT_MS])
    try:
        with other_transaction() as other:
            other.execute("LOCK TABLE ledger_movement IN ACCESS EXCLUSIVE MODE")
            release = threading.Timer(HOLD_S, other.rollback)
            release.start()
            try:
                export(auditor)
            finally:
                release.join()
        assert statement_timeout_ms() == settings.DATABASE_STATEMENT_TIMEOUT_MS
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET statement_timeout")
