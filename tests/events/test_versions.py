"""Event schema versions: an event keeps the version it was written with, and readers
get it upcast to the type's current version. Events are append-only."""

import json

import pytest
from django.db import DatabaseError, connection, transaction

from events.selectors import event_get
from events.services import event_append
from events.types import REGISTRY, EventType, event_types_register


@pytest.fixture
def thing_type():
    event_types_register(
        EventType(name="test.thing", version=1, summary="", subject="thing/<id>", fields={})
    )
    yield
    del REGISTRY["test.thing"]


def test_an_old_version_is_read_upcast_to_the_current_one(db, thing_type):
    position = event_append(type="test.thing", subject="thing/1", data={"qty": 3})
    # A later release renames qty to quantity (version 2) and adds unit (version 3).
    event_types_register(
        EventType(
            name="test.thing",
            version=3,
            summary="",
            subject="thing/<id>",
            fields={},
            upcasters={
                1: lambda d: {"quantity": d["qty"]},
                2: lambda d: {**d, "unit": "each"},
            },
        )
    )
    with connection.cursor() as cursor:
        cursor.execute("SELECT version FROM events_event WHERE position = %s", [position])
        assert cursor.fetchone() == (1,)  # stored as written
    event = event_get(position=position)
    assert (event.version, event.data) == (3, {"quantity": 3, "unit": "each"})


def test_events_are_append_only(db, thing_type):
    position = event_append(type="test.thing", subject="thing/1", data={})
    for statement in (
        "UPDATE events_event SET subject = 'x' WHERE position = %s",
        "DELETE FROM events_event WHERE position = %s",
    ):
        with (
            pytest.raises(DatabaseError, match="append-only"),
            transaction.atomic(),
            connection.cursor() as cursor,
        ):
            cursor.execute(statement, [position])


def test_positions_within_a_transaction_increase_from_its_id(db, thing_type):
    first = event_append(type="test.thing", subject="thing/1", data={})
    second = event_append(type="test.thing", subject="thing/2", data={})
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_current_xact_id()::text::bigint")
        (xid,) = cursor.fetchone()
    assert (first, second) == (xid << 20, (xid << 20) + 1)


def test_a_posting_numbers_its_events_after_earlier_ones_and_before_later_ones(db, thing_type):
    """A posting takes its events' positions at once (events_take_positions); they follow
    the transaction's earlier events and precede its later ones, one apart, in movement
    order."""
    from ledger.models import Movement, MovementKind
    from ledger.posting import Posting, movements_post
    from tests.factories import ProductFactory

    products = [ProductFactory() for _ in range(3)]
    with transaction.atomic():
        before = event_append(type="test.thing", subject="thing/1", data={})
        movements = movements_post(
            postings=[
                Posting(product_id=p.id, kind=MovementKind.RESTOCK, quantity=2)
                for p in reversed(products)
            ],
            actor_id=None,
        )
        after = event_append(type="test.thing", subject="thing/2", data={})
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT position, (data->>'movement')::bigint FROM events_event"
            " WHERE position > %s AND position < %s ORDER BY position",
            [before, after],
        )
        rows = cursor.fetchall()
    assert [position for position, _ in rows] == [before + 1, before + 2, before + 3]
    assert after == before + 4
    assert [movement for _, movement in rows] == sorted(m.id for m in movements)
    assert Movement.objects.count() == 3


def test_a_movements_event_data_is_every_documented_field_of_the_movement(db):
    from ledger.events import DATA_FIELDS
    from ledger.receipts import receipt_create
    from tests.factories import ProductFactory, UserFactory

    actor = UserFactory()
    products = [ProductFactory(sku=f"EV-{n}") for n in range(2)]
    receipt = receipt_create(
        location_id=None,
        reference='DN "9"',
        lines=[(p.id, 3 + n) for n, p in enumerate(products)],
        actor_id=actor.id,
    )
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT type, subject, data FROM events_event WHERE type = 'receipt.received'"
            " ORDER BY position"
        )
        events = [(kind, subject, json.loads(data)) for kind, subject, data in cursor.fetchall()]
    expected = [
        (
            "receipt.received",
            f"stock/{p.sku}/MAIN",
            {
                "movement": line.movement_id,
                "product": p.id,
                "kind": "restock",
                "quantity": line.quantity,
                "reason": "",
                "seq": 1,
                "on_hand": line.quantity,
                "actor": actor.id,
                "reference": 'DN "9"',
                "order_line": None,
                "reverses": None,
                "location": "MAIN",
                "reserved": 0,
                "incoming": 0,
                "reservation": None,
                "transfer": None,
                "receipt": receipt.id,
                "stocktake": None,
                "sku": p.sku,
            },
        )
        for p, line in zip(products, receipt.receipt_lines, strict=True)
    ]
    assert events == expected
    assert set(expected[0][2]) == {key for key, _, _, _ in DATA_FIELDS}


def test_taking_no_positions_gives_none_and_no_transaction_id(db):
    with connection.cursor() as cursor:
        cursor.execute("SELECT events_take_positions(0), pg_current_xact_id_if_assigned()")
        assert cursor.fetchone() == (None, None)
    with (
        pytest.raises(DatabaseError, match="not a number of events"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("SELECT events_take_positions(-1)")


def test_create_user_makes_an_integration_user(db):
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from accounts.roles import roles_of

    call_command(
        "create_user", "erp", "--role", "integration", "--password", "a-long-erp-passphrase-42"
    )
    assert roles_of(get_user_model().objects.get(username="erp")) == {"integration"}
