"""Migration 0007 moves an existing ledger into the partitioned table: it verifies before
and after, ids and seqs continue, and the seq and reversal rules hold for the copied rows.

The test migrates the test database back to ledger 0006, posts there through the
services (the movement columns are the same), migrates forward and checks. It always
ends on the latest migrations, even when it fails.
"""

import pytest
from django.db import IntegrityError, connection
from django.db.migrations.executor import MigrationExecutor

from ledger.integrity import ledger_verify
from ledger.models import Movement, StockBalance
from ledger.services import location_create, stock_adjust, stock_restock
from ordering.services import order_cancel, order_place
from tests.factories import ProductFactory, UserFactory
from tests.ledger.test_partitioned_ledger import copy_movement

pytestmark = pytest.mark.usefixtures("committed_db")

BEFORE_PARTITIONS = [("ledger", "0006_reservations_transfers_receipts")]


def migrate(targets=None) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets or executor.loader.graph.leaf_nodes())


@pytest.fixture
def before_partitions():
    migrate(BEFORE_PARTITIONS)
    try:
        yield
    finally:
        migrate()


def is_partitioned() -> bool:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT 1 FROM pg_partitioned_table"
            " WHERE partrelid = 'ledger_movement'::regclass)"
        )
        return cursor.fetchone()[0]


def test_an_existing_ledger_moves_into_partitions_and_still_verifies(before_partitions):
    assert not is_partitioned()
    customer, staff = UserFactory(), UserFactory()
    bolts, nuts = ProductFactory(sku="BOLTS", stock=10), ProductFactory(sku="NUTS", stock=4)
    store = location_create(code="STORE-2", name="High Street")
    stock_restock(product_id=bolts.id, quantity=5, actor_id=None, location_id=store.id)
    stock_adjust(product_id=nuts.id, quantity=-1, reason="damaged", actor_id=None)
    order = order_place(customer_id=customer.id, lines=[(bolts.id, 3)])
    order_cancel(order_id=order.id, actor_id=staff.id, customer_id=None)
    before = list(Movement.objects.order_by("id").values_list("id", "seq", "hash"))
    balances = sorted(
        StockBalance.objects.values_list(
            "product_id", "location_id", "on_hand", "version", "last_hash"
        )
    )
    # (The services wrote these chains; today's verify_ledger reads the checkpoints of
    # detached months, which 0006 has no table for, so it runs after the migration.)

    migrate()

    assert is_partitioned()
    assert list(Movement.objects.order_by("id").values_list("id", "seq", "hash")) == before
    assert (
        sorted(
            StockBalance.objects.values_list(
                "product_id", "location_id", "on_hand", "version", "last_hash"
            )
        )
        == balances
    )
    assert ledger_verify().ok
    # New postings continue the chains and the ids.
    movement = stock_restock(product_id=bolts.id, quantity=1, actor_id=None)
    assert movement.id > before[-1][0]
    assert movement.seq == 4  # opening 10, consumption, reversal, then this
    assert ledger_verify().ok
    # The copied rows' seqs and reversal are known to the cross-partition rules.
    reversal = Movement.objects.get(kind="reversal")
    with pytest.raises(IntegrityError, match="ledger_movement_seq_pkey"):
        copy_movement(before[0][0], recorded_at="recorded_at + interval '1 month'")
    with pytest.raises(IntegrityError, match="ledger_movement_reversed_pkey"):
        copy_movement(reversal.id, recorded_at="recorded_at + interval '1 month'", seq="99")
