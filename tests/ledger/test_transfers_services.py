"""The transfer services: each step is one posting of both legs (one statement writes
every movement, one locks the balance rows in (product, location) order), costs the
same number of statements for 1 line or 1,000, and refuses bad input before writing."""

import io
import itertools

import pytest
from django.core.management import call_command
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext

from catalog.exceptions import UnknownProducts
from catalog.services import product_create
from ledger.exceptions import (
    InvalidQuantity,
    TransferNotFound,
    TransferNotInTransit,
    TransferSameLocation,
    TransferTooLarge,
    UnknownLocation,
)
from ledger.models import Location, Movement, MovementKind, Transfer, TransferStatus
from ledger.posting import Posting, movements_post
from ledger.services import location_create
from ledger.transfers import (
    MAX_LINES,
    MAX_QUANTITY,
    transfer_cancel,
    transfer_create,
    transfer_receive,
)
from tests.factories import UserFactory
from tests.ledger.oracle import assert_ledger_consistent

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _ledger_verifies_after_each_test(db):
    yield
    assert_ledger_consistent()
    call_command("verify_ledger", stdout=io.StringIO())


@pytest.fixture
def main():
    return Location.objects.get(is_default=True)


@pytest.fixture
def store():
    return location_create(code="STORE-2", name="High Street")


@pytest.fixture
def clerk():
    return UserFactory()


_numbers = itertools.count(0, 10_000)


def stocked_products(count: int, units: int) -> list[int]:
    """``count`` products with ``units`` each at the default location (one posting)."""
    first = next(_numbers)
    ids = [
        product_create(sku=f"BULK-{n:06d}", name=f"Bulk {n}", price="1.00").id
        for n in range(first, first + count)
    ]
    with transaction.atomic():
        movements_post(
            postings=[
                Posting(product_id=i, kind=MovementKind.RESTOCK, quantity=units) for i in ids
            ],
            actor_id=None,
        )
    return ids


def statements(step) -> tuple[object, list[str]]:
    """Run ``step``; its result and the SQL it sent (savepoints left out)."""
    with CaptureQueriesContext(connection) as captured:
        result = step()
    sent = [
        q["sql"].strip()
        for q in captured.captured_queries
        if not q["sql"].startswith(("SAVEPOINT", "RELEASE SAVEPOINT"))
    ]
    return result, sent


# Statements per step, whatever the number of lines: for create, the locations, the
# products, the transfer, its lines and the posting (4: the named locations' lock, their
# balance rows opened, the rows' lock, one statement updating them and inserting the
# movements); for receive and cancel, the locked transfer, its lines, the posting (4),
# the lines' counts and the status.
CREATE_STATEMENTS = 8
RECEIVE_STATEMENTS = 8
CANCEL_STATEMENTS = 8


@pytest.mark.parametrize("size", [1, 2, MAX_LINES])
def test_each_step_costs_the_same_statements_for_any_number_of_lines(main, store, clerk, size):
    products = stocked_products(size, 10)

    transfer, created = statements(
        lambda: transfer_create(
            from_location_id=main.id,
            to_location_id=store.id,
            lines=[(p, 4) for p in products],
            actor_id=clerk.id,
        )
    )
    _, received = statements(
        lambda: transfer_receive(
            transfer_id=transfer.id, actor_id=clerk.id, lines={p: 1 for p in products}
        )
    )
    _, cancelled = statements(lambda: transfer_cancel(transfer_id=transfer.id, actor_id=clerk.id))

    # Receive and cancel lock the transfer row before anything else.
    for sent in (received, cancelled):
        assert sent[0].startswith('SELECT "ledger_transfer"."id"')
        assert sent[0].endswith('FOR UPDATE OF "ledger_transfer"')
    # One posting per step: exactly one statement writes its movements.
    for sent in (created, received, cancelled):
        assert sum("INSERT INTO ledger_movement" in sql for sql in sent) == 1
    assert len(created) == CREATE_STATEMENTS
    # Still open after it (no status change); one movement needs no lock first.
    assert len(received) == RECEIVE_STATEMENTS - 1 - (size == 1)
    assert len(cancelled) == CANCEL_STATEMENTS
    assert Movement.objects.filter(transfer=transfer).count() == 5 * size
    # Receiving everything closes the transfer: one statement more.
    again = transfer_create(
        from_location_id=main.id,
        to_location_id=store.id,
        lines=[(p, 1) for p in products],
        actor_id=clerk.id,
    )
    closed, sent = statements(lambda: transfer_receive(transfer_id=again.id, actor_id=clerk.id))
    assert closed.status == TransferStatus.RECEIVED
    assert len(sent) == RECEIVE_STATEMENTS - (size == 1)
    # Thousands of rows written in this test's transaction: let the planner know, so the
    # whole-ledger checks after the test do not run with a plan made for the tables'
    # statistics left by earlier tests (they ran past the statement timeout once, in a
    # full run on a loaded machine).
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE ledger_stockbalance, ledger_movement, ledger_transferline")


def test_the_api_costs_the_same_queries_for_any_number_of_lines(warehouse, main, store):
    # Two lines, not one: a posting to a single balance row needs no lock statement.
    few, many = stocked_products(2, 5), stocked_products(300, 5)
    counts = {}
    for name, products in (("few", few), ("many", many)):
        lines = [{"product": p, "quantity": 2} for p in products]
        with CaptureQueriesContext(connection) as create:
            response = warehouse.post(
                "/api/v1/transfers/",
                {"from": "MAIN", "to": "STORE-2", "lines": lines},
                format="json",
            )
        assert response.status_code == 201
        path = f"/api/v1/transfers/{response.json()['id']}/"
        with CaptureQueriesContext(connection) as receive:
            body = {"lines": [{"product": p, "quantity": 1} for p in products]}
            assert warehouse.post(f"{path}receive/", body, format="json").status_code == 200
        with CaptureQueriesContext(connection) as cancel:
            assert warehouse.post(f"{path}cancel/").status_code == 200
        counts[name] = (len(create), len(receive), len(cancel))
    assert counts["few"] == counts["many"], counts
    # token + (create: the two locations named + the service; receive, cancel: the
    # service), each service with its transaction's savepoint and release.
    assert counts["many"] == (
        1 + 2 + CREATE_STATEMENTS + 2,
        1 + RECEIVE_STATEMENTS - 1 + 2,  # the transfer stays open: no status change
        1 + CANCEL_STATEMENTS + 2,
    )


def test_both_legs_are_one_posting_locking_in_product_and_location_order(main, store, clerk):
    products = stocked_products(3, 5)
    shuffled = [products[2], products[0], products[1]]

    _, sent = statements(
        lambda: transfer_create(
            from_location_id=main.id,
            to_location_id=store.id,
            lines=[(p, 1) for p in shuffled],
            actor_id=clerk.id,
        )
    )

    lock = next(sql for sql in sent if "FOR UPDATE OF b" in sql)
    assert "ORDER BY b.product_id, b.location_id" in lock
    movements = list(Movement.objects.filter(transfer__isnull=False).order_by("id"))
    # Written by one statement in lock order: by product, then location.
    assert [(m.product_id, m.location_id, m.kind) for m in movements] == [
        (p, location, kind)
        for p in sorted(products)
        for location, kind in sorted(
            [(main.id, MovementKind.TRANSFER_OUT), (store.id, MovementKind.IN_TRANSIT)]
        )
    ]


def test_a_leg_that_cannot_be_posted_leaves_the_other_unposted(main, store, clerk):
    """The origin was archived (behind the services' back): the cancel's return leg is
    refused, so its other leg and the counts roll back with it."""
    north = location_create(code="NORTH", name="North depot")
    (product,) = stocked_products(1, 5)
    transfer = transfer_create(
        from_location_id=main.id, to_location_id=store.id, lines=[(product, 5)], actor_id=clerk.id
    )
    transfer_receive(transfer_id=transfer.id, actor_id=clerk.id, lines={product: 1})
    moved = transfer_create(
        from_location_id=store.id,
        to_location_id=north.id,
        lines=[(product, 1)],
        actor_id=clerk.id,
    )
    Location.objects.filter(pk=store.id).update(is_active=False)
    before = Movement.objects.count()

    with pytest.raises(UnknownLocation):
        transfer_cancel(transfer_id=moved.id, actor_id=clerk.id)

    assert Movement.objects.count() == before
    line = moved.lines.get()
    assert (line.received, line.cancelled) == (0, 0)
    assert Transfer.objects.get(pk=moved.id).status == TransferStatus.IN_TRANSIT
    Location.objects.filter(pk=store.id).update(is_active=True)


def test_bad_transfers_are_refused_before_anything_is_written(main, store, clerk):
    (product,) = stocked_products(1, 5)
    archived = location_create(code="OLD", name="Old shop")
    Location.objects.filter(pk=archived.id).update(is_active=False)

    def create(**changes):
        arguments = {
            "from_location_id": main.id,
            "to_location_id": store.id,
            "lines": [(product, 1)],
            "actor_id": clerk.id,
        }
        return transfer_create(**(arguments | changes))

    with pytest.raises(TransferSameLocation):
        create(to_location_id=main.id)
    for location_id in (archived.id, 10**6, 2**63, 0):
        with pytest.raises(UnknownLocation):
            create(to_location_id=location_id)
    with pytest.raises(TransferTooLarge):
        create(lines=[])
    with pytest.raises(TransferTooLarge):
        create(lines=[(n, 1) for n in range(1, MAX_LINES + 2)])
    for quantity in (0, -1, MAX_QUANTITY + 1):
        with pytest.raises(InvalidQuantity):
            create(lines=[(product, quantity)])
    with pytest.raises(InvalidQuantity):  # two lines of one product add up
        create(lines=[(product, MAX_QUANTITY), (product, 1)])
    with pytest.raises(UnknownProducts) as unknown:
        create(lines=[(product, 1), (10**6, 1), (2**64, 1)])
    assert unknown.value.data == {"products": [10**6, 2**64]}
    assert Transfer.objects.count() == 0


def test_bad_receives_and_cancels_are_refused(main, store, clerk):
    (product,) = stocked_products(1, 5)
    transfer = transfer_create(
        from_location_id=main.id, to_location_id=store.id, lines=[(product, 2)], actor_id=clerk.id
    )
    with pytest.raises(TransferTooLarge):
        transfer_receive(transfer_id=transfer.id, actor_id=clerk.id, lines={})
    with pytest.raises(InvalidQuantity):
        transfer_receive(transfer_id=transfer.id, actor_id=clerk.id, lines={product: 0})
    for missing in (10**6, 0, 2**63):
        with pytest.raises(TransferNotFound):
            transfer_receive(transfer_id=missing, actor_id=clerk.id)
        with pytest.raises(TransferNotFound):
            transfer_cancel(transfer_id=missing, actor_id=clerk.id)
    transfer_cancel(transfer_id=transfer.id, actor_id=clerk.id)
    with pytest.raises(TransferNotInTransit) as closed:
        transfer_receive(transfer_id=transfer.id, actor_id=clerk.id)
    assert closed.value.data == {"transfer": transfer.id, "status": "cancelled"}
