"""The movement table is partitioned by month of recorded_at (migration 0007): what its
unique keys and foreign keys did on one table still holds across partitions."""

import pytest
from django.db import IntegrityError, connection, transaction

from ledger.integrity import ledger_verify
from ledger.models import Movement
from ledger.services import stock_adjust, stock_restock
from ordering.services import order_cancel, order_place
from tests.factories import ProductFactory, UserFactory

pytestmark = pytest.mark.django_db

_COLUMNS = [f.column for f in Movement._meta.concrete_fields if not f.primary_key]


def copy_movement(movement_id: int, **changes: str) -> None:
    """Insert a copy of a movement by raw SQL, with SQL expressions in ``changes`` (over
    the copied row's columns) replacing some of its values."""
    selected = ", ".join(changes.get(column, column) for column in _COLUMNS)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO ledger_movement ({', '.join(_COLUMNS)})"
            f" SELECT {selected} FROM ledger_movement WHERE id = %s",
            [movement_id],
        )


def partition_of(movement_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tableoid::regclass::text FROM ledger_movement WHERE id = %s", [movement_id]
        )
        return cursor.fetchone()[0]


def test_a_posting_lands_in_its_months_partition():
    product = ProductFactory(stock=3)
    movement = Movement.objects.get(product=product)
    expected = movement.recorded_at.strftime("ledger_movement_y%Ym%m")
    assert partition_of(movement.id) == expected


def test_a_seq_repeated_in_another_month_is_refused():
    product = ProductFactory(stock=3)
    first = Movement.objects.get(product=product)
    # The same (product, location, seq) a month later: another partition, whose own
    # indexes have never seen it.
    with pytest.raises(IntegrityError, match="ledger_movement_seq_pkey"):
        copy_movement(first.id, recorded_at="recorded_at + interval '1 month'")
    # The next seq, a month later, is accepted: only the repeat was refused.
    copy_movement(first.id, recorded_at="recorded_at + interval '1 month'", seq="seq + 1")
    assert Movement.objects.filter(product=product).count() == 2


def test_a_seq_repeated_in_a_partition_named_directly_is_refused():
    product = ProductFactory(stock=3)
    first = Movement.objects.get(product=product)
    table = partition_of(first.id)
    selected = ", ".join(_COLUMNS)
    with (
        pytest.raises(IntegrityError, match="ledger_movement_seq_pkey"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            f"INSERT INTO {table} ({selected}) SELECT {selected} FROM ledger_movement"
            " WHERE id = %s",
            [first.id],
        )


def test_a_movement_is_reversed_at_most_once_across_months():
    customer, staff = UserFactory(), UserFactory()
    product = ProductFactory(stock=5)
    order = order_place(customer_id=customer.id, lines=[(product.id, 2)])
    order_cancel(order_id=order.id, actor_id=staff.id, customer_id=None)
    reversal = Movement.objects.get(product=product, kind="reversal")
    with pytest.raises(IntegrityError, match="ledger_movement_reversed_pkey"):
        copy_movement(reversal.id, recorded_at="recorded_at + interval '1 month'", seq="seq + 1")


def test_a_reversal_of_a_movement_that_does_not_exist_is_refused():
    customer, staff = UserFactory(), UserFactory()
    product = ProductFactory(stock=5)
    order = order_place(customer_id=customer.id, lines=[(product.id, 2)])
    order_cancel(order_id=order.id, actor_id=staff.id, customer_id=None)
    reversal = Movement.objects.get(product=product, kind="reversal")
    with pytest.raises(IntegrityError, match="does not exist"):
        copy_movement(reversal.id, seq="seq + 1", reverses_id="-1")


def test_the_append_only_rules_hold_on_every_partition():
    product = ProductFactory(stock=3)
    table = partition_of(Movement.objects.get(product=product).id)
    for statement in (
        f"UPDATE {table} SET quantity = 4",
        f"DELETE FROM {table}",
        f"TRUNCATE {table}",
    ):
        with (
            pytest.raises(IntegrityError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE; " + statement)


def test_postings_still_verify():
    product = ProductFactory(stock=3)
    stock_restock(product_id=product.id, quantity=2, actor_id=None)
    stock_adjust(product_id=product.id, quantity=-1, reason="damaged", actor_id=None)
    assert ledger_verify().ok
