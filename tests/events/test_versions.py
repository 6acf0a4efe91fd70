"""Event schema versions: an event keeps the version it was written with, and readers
get it upcast to the type's current version. Events are append-only."""

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


def test_create_user_makes_an_integration_user(db):
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from accounts.roles import roles_of

    call_command(
        "create_user", "erp", "--role", "integration", "--password", "a-long-erp-passphrase-42"
    )
    assert roles_of(get_user_model().objects.get(username="erp")) == {"integration"}
