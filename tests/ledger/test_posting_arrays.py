"""The posting binds its column arrays as array literals it joins itself: every value
comes back from PostgreSQL as it was given."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from django.db import connection

from ledger.posting import _array

pytestmark = pytest.mark.django_db


def round_trip(literal: str, kind: str) -> list:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT %s::{kind}[]", [literal])
        return cursor.fetchone()[0]


def test_text_comes_back_as_given():
    values = [
        "",
        "NULL",
        "null",
        '"',
        "\\",
        '\\"',
        "{a,b}",
        " spaced ",
        "a\tb\nc",
        "Müller ✓",
        None,
    ]
    assert round_trip(_array(values, quoted=True), "varchar") == values


def test_numbers_and_nulls_come_back_as_given():
    values = [0, -1, 2**63 - 1, -(2**63), None, 7]
    assert round_trip(_array(values), "bigint") == values
    assert round_trip(_array([1, 2, 3]), "bigint") == [1, 2, 3]
    assert round_trip(_array([]), "bigint") == []


def test_instants_come_back_to_the_microsecond():
    values = [
        datetime(2026, 11, 25, 16, 30, 1, 123456, tzinfo=UTC),
        datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=timezone(timedelta(hours=-5))),
        None,
    ]
    assert round_trip(_array(values, quoted=True), "timestamptz") == values
