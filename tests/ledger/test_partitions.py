"""ledger_partitions makes the movement table's monthly partitions ahead, moves what the
default partition caught into them, and detaches old months; verify_ledger still
verifies every chain, in the table from the detached months' checkpoints, and each
detached month on its own (--partition)."""

from datetime import UTC, datetime
from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import IntegrityError, connection, transaction

from ledger import hashing
from ledger.exceptions import HistoryDetached
from ledger.models import ChainCheckpoint, DetachedPartition, Movement, StockBalance
from ledger.partitions import add_months, month_start, partition_name
from ledger.selectors import balance_as_of
from ledger.services import stock_restock
from ledger.stocktakes import stocktake_create
from ordering.services import order_cancel, order_place
from tests.factories import ProductFactory, UserFactory

pytestmark = pytest.mark.django_db

_COLUMNS = [f.column for f in Movement._meta.concrete_fields if not f.primary_key]
THIS_MONTH = month_start(datetime.now(UTC))


def command(*args) -> str:
    out = StringIO()
    call_command(*args, stdout=out, stderr=StringIO())
    return out.getvalue()


def table_of(movement_id: int) -> str:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT tableoid::regclass::text FROM ledger_movement WHERE id = %s", [movement_id]
        )
        return cursor.fetchone()[0]


def post_at(
    product_id: int,
    quantity: int,
    recorded_at: datetime,
    kind: str = "restock",
    reverses_id: int | None = None,
) -> int:
    """A movement (a restock unless said) recorded at ``recorded_at``, as the posting
    path would write it then: the balance row moved on and the movement chained to its
    last hash. Returns its id."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE ledger_stockbalance SET on_hand = on_hand + %s, version = version + 1"
            " WHERE product_id = %s RETURNING location_id, on_hand, version, last_hash",
            [quantity, product_id],
        )
        location_id, on_hand, seq, prev = cursor.fetchone()
        fields = dict.fromkeys(_COLUMNS)
        fields.update(
            product_id=product_id,
            location_id=location_id,
            kind=kind,
            quantity=quantity,
            reverses_id=reverses_id,
            reason="",
            seq=seq,
            balance_after=on_hand,
            reserved_after=0,
            incoming_after=0,
            recorded_at=recorded_at,
            reference="",
            note="",
            hash_version=hashing.CURRENT_VERSION,
        )
        fields.pop("hash")
        fields["hash"] = hashing.movement_hash(prev_hash=prev, **fields)
        cursor.execute(
            f"INSERT INTO ledger_movement ({', '.join(fields)})"
            f" VALUES ({', '.join(['%s'] * len(fields))}) RETURNING id",
            list(fields.values()),
        )
        (movement_id,) = cursor.fetchone()
        cursor.execute(
            "UPDATE ledger_stockbalance SET last_hash = %s WHERE product_id = %s",
            [fields["hash"], product_id],
        )
    return movement_id


@pytest.fixture
def history():
    """Two products with movements two months ago, last month and this month (the old
    ones caught by the default partition, then moved into their months)."""
    two_ago, last = add_months(THIS_MONTH, -2), add_months(THIS_MONTH, -1)
    bolts, nuts = ProductFactory(sku="BOLTS"), ProductFactory(sku="NUTS")
    for product in (bolts, nuts):
        post_at(product.id, 5, two_ago.replace(day=3))
        post_at(product.id, 2, two_ago.replace(day=20))
        post_at(product.id, 4, last.replace(day=9))
    # nuts then rests a month; bolts moves on this month.
    stock_restock(product_id=bolts.id, quantity=1, actor_id=None)
    command("ledger_partitions")
    return bolts, nuts


def test_making_the_partitions_ahead_is_idempotent():
    output = command("ledger_partitions", "--ahead", "5")
    months = [partition_name(add_months(THIS_MONTH, n)) for n in range(6)]
    assert "Made" in output and months[5] in output
    assert "already made" in command("ledger_partitions", "--ahead", "5")
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [months[5]])
        assert cursor.fetchone()[0]


def test_rows_the_default_partition_caught_move_into_their_month():
    product = ProductFactory(stock=3)
    later = add_months(THIS_MONTH, 7)
    movement_id = post_at(product.id, 2, later.replace(day=2))
    assert table_of(movement_id) == "ledger_movement_default"
    before = Movement.objects.get(id=movement_id)

    output = command("ledger_partitions", "--ahead", "8")

    assert "Moved 1 movements out of the default partition." in output
    assert table_of(movement_id) == partition_name(later)
    moved = Movement.objects.get(id=movement_id)
    assert (moved.seq, moved.hash, moved.recorded_at) == (
        before.seq,
        before.hash,
        before.recorded_at,
    )
    assert command("verify_ledger").endswith("The ledger is consistent.\n")
    # The new default partition keeps the append-only and seq rules.
    with (
        pytest.raises(IntegrityError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE; TRUNCATE ledger_movement_default")


def test_old_months_detach_and_every_chain_still_verifies(history):
    _, nuts = history
    two_ago = partition_name(add_months(THIS_MONTH, -2))
    last = add_months(THIS_MONTH, -1)

    output = command("ledger_partitions", "--detach-before", last.strftime("%Y-%m"))

    assert f"Detached {two_ago} (4 movements, 2 chains checkpointed)." in output
    assert Movement.objects.filter(product=nuts).count() == 1  # last month's only
    checkpoint = ChainCheckpoint.objects.get(product=nuts)
    assert (checkpoint.seq, checkpoint.on_hand) == (2, 7)
    assert command("verify_ledger").endswith("The ledger is consistent.\n")
    assert command("verify_ledger", "--partition", two_ago).endswith("consistent.\n")
    assert "nothing to change" in command("rebuild_balances", "--dry-run")
    # Postings go on from the balance rows, and the chains still verify.
    stock_restock(product_id=nuts.id, quantity=3, actor_id=None)
    assert StockBalance.objects.get(product=nuts).version == 4
    assert command("verify_ledger").endswith("The ledger is consistent.\n")

    # Last month next: its chains start from the first detached month's checkpoints.
    command("ledger_partitions", "--detach-before", THIS_MONTH.strftime("%Y-%m"))
    assert DetachedPartition.objects.count() == 2
    assert command("verify_ledger", "--partition", partition_name(last)).endswith("consistent.\n")
    assert command("verify_ledger").endswith("The ledger is consistent.\n")
    assert "nothing to change" in command("rebuild_balances", "--dry-run")


def test_a_detached_partition_is_read_only_and_a_tampered_one_fails(history):
    two_ago = partition_name(add_months(THIS_MONTH, -2))
    command("ledger_partitions", "--detach-before", add_months(THIS_MONTH, -1).strftime("%Y-%m"))
    with (
        pytest.raises(IntegrityError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(f"UPDATE {two_ago} SET quantity = 6 WHERE seq = 1")

    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {two_ago} DISABLE TRIGGER USER")
        cursor.execute(f"UPDATE {two_ago} SET quantity = 6 WHERE seq = 1")
        cursor.execute(f"ALTER TABLE {two_ago} ENABLE TRIGGER USER")

    with pytest.raises(CommandError):
        command("verify_ledger", "--partition", two_ago)


def test_a_month_that_does_not_verify_is_not_detached(history):
    bolts, _ = history
    two_ago = partition_name(add_months(THIS_MONTH, -2))
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {two_ago} DISABLE TRIGGER USER")
        cursor.execute(
            f"UPDATE {two_ago} SET quantity = 6 WHERE seq = 1 AND product_id = %s", [bolts.id]
        )
        cursor.execute(f"ALTER TABLE {two_ago} ENABLE TRIGGER USER")

    with pytest.raises(CommandError, match="does not verify"):
        command("ledger_partitions", "--detach-before", THIS_MONTH.strftime("%Y-%m"))
    assert not DetachedPartition.objects.exists()


def test_an_unknown_partition_is_an_error():
    with pytest.raises(CommandError, match="No detached partition"):
        command("verify_ledger", "--partition", "ledger_movement_y1999m01")


def test_balances_as_of_come_from_the_checkpoints_and_detached_times_are_refused(history):
    bolts, nuts = history
    command("ledger_partitions", "--detach-before", THIS_MONTH.strftime("%Y-%m"))
    now = datetime.now(UTC)

    # nuts has no movement left in the table: its checkpoint answers.
    assert balance_as_of(product_id=nuts.id, as_of=now).on_hand == 11
    assert balance_as_of(product_id=bolts.id, as_of=now).on_hand == 12
    with pytest.raises(HistoryDetached):
        balance_as_of(product_id=nuts.id, as_of=add_months(THIS_MONTH, -1).replace(day=15))


def test_a_count_of_a_chain_left_only_in_detached_months_sets_against_its_checkpoint(history):
    _, nuts = history
    command("ledger_partitions", "--detach-before", THIS_MONTH.strftime("%Y-%m"))
    staff = UserFactory()

    stocktake = stocktake_create(
        location_id=None, counted_at=datetime.now(UTC), lines=[(nuts.id, 10)], actor_id=staff.id
    )

    (line,) = stocktake.stocktake_lines
    assert (line.expected, line.difference) == (11, -1)
    assert StockBalance.objects.get(product=nuts).on_hand == 10
    assert command("verify_ledger").endswith("The ledger is consistent.\n")


def test_a_movement_in_a_detached_month_can_still_be_reversed_once(history):
    _, nuts = history
    command("ledger_partitions", "--detach-before", THIS_MONTH.strftime("%Y-%m"))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id FROM {partition_name(add_months(THIS_MONTH, -2))}"
            " WHERE product_id = %s AND seq = 1",
            [nuts.id],
        )
        (detached_id,) = cursor.fetchone()
    now = datetime.now(UTC)

    post_at(nuts.id, -5, now, kind="reversal", reverses_id=detached_id)

    assert command("verify_ledger").endswith("The ledger is consistent.\n")
    with pytest.raises(IntegrityError, match="ledger_movement_reversed_pkey"):
        post_at(nuts.id, -1, now, kind="reversal", reverses_id=detached_id)
    with pytest.raises(IntegrityError, match="does not exist"):
        post_at(nuts.id, -1, now, kind="reversal", reverses_id=detached_id + 10**9)


def test_an_order_whose_month_is_detached_is_not_cancelled_without_its_units():
    customer, staff = UserFactory(), UserFactory()
    product = ProductFactory(stock=5)
    order = order_place(customer_id=customer.id, lines=[(product.id, 2)])
    command("ledger_partitions", "--detach-before", add_months(THIS_MONTH, 1).strftime("%Y-%m"))

    with pytest.raises(HistoryDetached):
        order_cancel(order_id=order.id, actor_id=staff.id, customer_id=None)
    order.refresh_from_db()
    assert order.status == "placed"
    assert StockBalance.objects.get(product=product).on_hand == 3
