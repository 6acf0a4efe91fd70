"""Helpers for the reservation tests."""

from datetime import timedelta

from django.core.management import call_command
from django.utils import timezone

from ledger.models import Location, Reservation, StockBalance
from tests.ledger.oracle import assert_ledger_consistent

URL = "/api/v1/reservations/"


def reserve(client, *lines, **extra):
    """POST a reservation of (product, quantity) pairs; ``extra`` holds the body's other
    fields and any HTTP_ headers."""
    headers = {k: v for k, v in extra.items() if k.startswith("HTTP_")}
    fields = {k: v for k, v in extra.items() if not k.startswith("HTTP_")}
    body = {"lines": [{"product": p.id, "quantity": q} for p, q in lines], **fields}
    return client.post(URL, body, format="json", **headers)


def commit(client, reservation_id, *lines, **headers):
    body = {"lines": [{"product": p.id, "quantity": q} for p, q in lines]} if lines else {}
    return client.post(f"{URL}{reservation_id}/commit/", body, format="json", **headers)


def release(client, reservation_id, **headers):
    return client.post(f"{URL}{reservation_id}/release/", **headers)


def overdue(reservation_id, seconds=1):
    """Move a reservation's expiry into the past, as if its time had run out."""
    past = timezone.now() - timedelta(seconds=seconds)
    Reservation.objects.filter(pk=reservation_id).update(expires_at=past)


def figures(product, location=None):
    """(on hand, reserved, available) of a product at a location (default: the default)."""
    location = location or Location.objects.get(is_default=True)
    balance = StockBalance.objects.get(product=product, location=location)
    return balance.on_hand, balance.reserved, balance.available


def status_of(reservation_id) -> str:
    return Reservation.objects.get(pk=reservation_id).status


def assert_verified():
    """The independent check, then verify_ledger (SystemExit on any problem)."""
    assert_ledger_consistent()
    call_command("verify_ledger", verbosity=0)
