"""The hot paths' statements are prepared once per connection (core.db.prepared_cursor)
and then only executed, with the same answers; through a transaction pooler nothing is
prepared. A service transaction that is one statement runs as that statement alone
(core.db.sole_statement): no BEGIN, no COMMIT."""

import re
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime

import psycopg
import pytest
from django.db import connection, transaction
from psycopg.pq import Trace

from accounts.authentication import TokenCheck
from accounts.services import token_create
from core.db import prepared_cursor
from ledger.checked_restock import stock_restock_checked
from ledger.models import Movement
from ledger.services import stock_restock
from ordering.models import Order
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db


def _prepared() -> dict[str, int]:
    """This connection's prepared statements: the start of each one's text, and how many
    times it has been planned (generic or custom plans)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT left(regexp_replace(statement, '\\s+', ' ', 'g'), 40),"
            "       generic_plans + custom_plans FROM pg_prepared_statements"
        )
        counts: dict[str, int] = {}
        for text, plans in cursor.fetchall():
            counts[text.strip()] = counts.get(text.strip(), 0) + plans
        return counts


def _post_orders(customer, product, count: int) -> None:
    for _ in range(count):
        response = customer.post(
            "/api/v1/orders/", {"lines": [{"product": product.id, "quantity": 1}]}, format="json"
        )
        assert response.status_code == 201, response.content


def test_orders_restocks_and_lists_run_prepared_statements(customer, warehouse):
    """A statement is prepared at its 6th run on a connection (after prepare_threshold)."""
    product = ProductFactory(stock=100)
    _post_orders(customer, product, 6)
    for _ in range(6):
        response = warehouse.post(
            f"/api/v1/products/{product.id}/restocks/", {"quantity": 2}, format="json"
        )
        assert response.status_code == 201, response.content
    for _ in range(6):
        assert customer.get("/api/v1/products/").status_code == 200

    for _ in range(6):
        stock_restock(product_id=product.id, quantity=1, actor_id=warehouse.user.id)

    prepared = _prepared()
    for start in (
        "WITH u AS ( UPDATE ledger_stockbalance",  # the posting
        "SELECT t.digest, t.expiry",  # the token check (of the product list)
        # a restock and a one-line order, each with its token check
        "WITH caller AS ( SELECT u.id AS user_id",
        "SELECT count(*) FROM catalog_product",  # the product list's count
    ):
        assert any(text.startswith(start) for text in prepared), (start, list(prepared))
    response = customer.get(f"/api/v1/products/{product.id}/")
    assert response.json()["on_hand"] == 100 - 6 + 6 * 2 + 6


def test_a_refused_posting_leaves_the_prepared_statements_usable(customer):
    product = ProductFactory(stock=2)
    _post_orders(customer, product, 1)
    response = customer.post(
        "/api/v1/orders/", {"lines": [{"product": product.id, "quantity": 5}]}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["code"] == "insufficient_stock"
    _post_orders(customer, product, 1)
    assert customer.get(f"/api/v1/products/{product.id}/").json()["on_hand"] == 0


def test_without_a_threshold_nothing_is_prepared(customer):
    """DATABASE_POOLED leaves the connection without psycopg's prepare_threshold
    (tests/config/test_pooled_settings.py): the same requests then prepare nothing."""
    product = ProductFactory(stock=10)
    connection.ensure_connection()
    with connection.cursor() as cursor:
        cursor.execute("DEALLOCATE ALL")
    raw = connection.connection
    threshold, raw.prepare_threshold = raw.prepare_threshold, None
    try:
        _post_orders(customer, product, 3)
        assert _prepared() == {}
    finally:
        raw.prepare_threshold = threshold
    assert customer.get(f"/api/v1/products/{product.id}/").json()["on_hand"] == 7


# --- A service's sole statement runs as its own transaction (core.db.sole_statement) -----


@contextmanager
def commands_sent() -> Iterator[list[str]]:
    """The transaction commands (BEGIN, COMMIT, ROLLBACK) this connection sends to the
    server during the block, as libpq's trace of the protocol shows them."""
    connection.ensure_connection()
    pgconn = connection.connection.pgconn
    sent: list[str] = []
    with tempfile.TemporaryFile("w+") as trace:
        pgconn.trace(trace.fileno())
        pgconn.set_trace_flags(Trace.SUPPRESS_TIMESTAMPS)
        try:
            yield sent
        finally:
            pgconn.untrace()
            trace.seek(0)
            sent += re.findall(
                r'^F\s+\d+\s+Query\s+"(BEGIN|COMMIT|ROLLBACK)"', trace.read(), re.MULTILINE
            )


def _on_hand_elsewhere(product_id: int) -> int:
    """The product's on-hand units as another connection reads them."""
    params = {
        key: value
        for key, value in connection.get_connection_params().items()
        if key not in ("cursor_factory", "context")
    }
    with psycopg.connect(**params) as other:
        return other.execute(
            "SELECT sum(on_hand) FROM ledger_stockbalance WHERE product_id = %s", [product_id]
        ).fetchone()[0]


def test_a_restock_is_one_statement_without_begin_or_commit(committed_db, warehouse):
    product = ProductFactory(stock=5)
    with commands_sent() as sent:
        response = warehouse.post(
            f"/api/v1/products/{product.id}/restocks/", {"quantity": 2}, format="json"
        )
    assert response.status_code == 201, response.content
    assert sent == []
    # Committed: another connection sees it.
    assert _on_hand_elsewhere(product.id) == 7


def _refused(client, path: str, body: dict) -> list[str]:
    """Send a write that short stock refuses; the transaction commands it sent."""
    with commands_sent() as sent:
        response = client.post(path, body, format="json")
    assert response.status_code == 409, response.content
    assert response.json()["code"] == "insufficient_stock"
    return sent


def test_a_refused_adjustment_writes_nothing_on_its_own(committed_db, warehouse):
    product = ProductFactory(stock=5)
    path = f"/api/v1/products/{product.id}/adjustments/"
    sent = _refused(warehouse, path, {"quantity": -9, "reason": "damaged"})
    # The refusal's own read ran in a transaction of its own, rolled back.
    assert sent == ["BEGIN", "ROLLBACK"]
    assert _on_hand_elsewhere(product.id) == 5
    assert Movement.objects.filter(product_id=product.id).count() == 1


def test_inside_a_callers_transaction_the_posting_is_part_of_it(committed_db):
    product = ProductFactory(stock=5)
    with commands_sent() as sent, pytest.raises(RuntimeError), transaction.atomic():
        stock_restock(product_id=product.id, quantity=3, actor_id=None)
        raise RuntimeError("the caller changes its mind")
    assert sent == ["BEGIN", "ROLLBACK"]
    assert _on_hand_elsewhere(product.id) == 5


def test_a_one_line_order_is_one_statement_without_begin_or_commit(committed_db, customer):
    product = ProductFactory(stock=5)
    with commands_sent() as sent:
        _post_orders(customer, product, 1)
    assert sent == []
    assert _on_hand_elsewhere(product.id) == 4


def test_a_refused_one_line_order_takes_the_general_path_and_writes_nothing(committed_db, customer):
    product = ProductFactory(stock=1)
    order = {"lines": [{"product": product.id, "quantity": 2}]}
    sent = _refused(customer, "/api/v1/orders/", order)
    # The one statement wrote nothing; the general path's transaction was rolled back
    # (then the product's overdue holds were looked for, in a transaction of their own).
    assert sent == ["BEGIN", "ROLLBACK", "BEGIN", "COMMIT"]
    assert _on_hand_elsewhere(product.id) == 1
    assert not Order.objects.exists()
    assert Movement.objects.filter(product_id=product.id).count() == 1


def test_the_hot_paths_timestamps_are_djangos_values():
    """core.db.prepared_cursor loads timestamptz with psycopg's own loader: the same
    aware datetimes, in the same UTC, as Django's cursors give."""
    sql = "SELECT '2026-12-04 08:30:01.123456+02'::timestamptz, NULL::timestamptz"
    with connection.cursor() as cursor:
        cursor.execute(sql)
        django_row = cursor.fetchone()
    with prepared_cursor() as cursor:
        cursor.execute(sql)
        row = cursor.fetchone()
    assert row == django_row == (datetime(2026, 12, 4, 6, 30, 1, 123456, tzinfo=UTC), None)
    assert row[0].tzinfo is django_row[0].tzinfo is UTC


def test_a_transaction_the_caller_opened_by_hand_holds_the_posting(committed_db):
    """With autocommit turned off by the caller, the service's block is not the whole
    transaction: the posting waits for the caller's commit or rollback."""
    product = ProductFactory(stock=5)
    transaction.set_autocommit(False)
    try:
        with commands_sent() as sent:
            stock_restock(product_id=product.id, quantity=3, actor_id=None)
            transaction.rollback()
    finally:
        transaction.set_autocommit(True)
    assert sent == ["BEGIN", "ROLLBACK"]
    assert _on_hand_elsewhere(product.id) == 5


@pytest.mark.parametrize("named", [False, True])
def test_a_long_statement_converted_once_binds_each_runs_parameters(named):
    """prepared_cursor keeps psycopg's conversion of a statement of any length (a
    posting's is longer than the 4,096 bytes psycopg itself caches): each run still
    binds its own parameters, positional or named."""
    padding = "/*" + "x" * 5000 + "*/"
    placeholders = ("%(a)s", "%(b)s") if named else ("%s", "%s")
    sql = f"SELECT {placeholders[0]}::int + {placeholders[1]}::int, {placeholders[1]}::text"
    sql += padding
    for a, b in ((1, 2), (10, 20), (7, -7)):
        with prepared_cursor() as cursor:
            cursor.execute(sql, {"a": a, "b": b} if named else [a, b, b])
            assert cursor.fetchone() == (a + b, str(b))


def test_a_single_statement_service_is_part_of_a_callers_transaction(committed_db, warehouse):
    """core.db.single_statement: alone, the statement is its own transaction; inside a
    caller's, a savepoint of it, undone with it."""
    product = ProductFactory(stock=5)
    check = TokenCheck.of(token_create(user=warehouse.user)[0].encode())
    with commands_sent() as sent:
        assert stock_restock_checked(check=check, product_id=product.id, quantity=1)
    assert sent == []
    assert _on_hand_elsewhere(product.id) == 6
    with commands_sent() as sent, pytest.raises(RuntimeError), transaction.atomic():
        assert stock_restock_checked(check=check, product_id=product.id, quantity=3)
        raise RuntimeError("the caller changes its mind")
    assert sent == ["BEGIN", "ROLLBACK"]
    assert _on_hand_elsewhere(product.id) == 6
