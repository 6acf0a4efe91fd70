"""The reservation services and the expiry worker: what each posts, what it refuses,
the order it takes its locks in, and the expire_reservations command."""

import io
import os
import signal
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from ledger.exceptions import (
    InvalidQuantity,
    InvalidTtl,
    ReservationNotFound,
    ReservationNotHeld,
)
from ledger.models import Movement, Reservation
from ledger.reservations import (
    reservation_commit,
    reservation_create,
    reservation_release,
    reservations_expire,
)
from ledger.services import location_create, stock_restock
from tests.factories import ProductFactory, UserFactory
from tests.ledger.reserving import assert_verified, figures, overdue, status_of

pytestmark = pytest.mark.django_db


@pytest.fixture
def user(db):
    return UserFactory()


def hold(user, *lines, **kwargs):
    return reservation_create(
        customer_id=user.id, created_by_id=user.id, lines=[(p.id, q) for p, q in lines], **kwargs
    )


class Recorder:
    def __init__(self):
        self.statements = []

    def __call__(self, execute, sql, params, many, context):
        if not sql.lstrip().upper().startswith(("SAVEPOINT", "RELEASE")):
            self.statements.append(" ".join(sql.split()))
        return execute(sql, params, many, context)


# --- Validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("lines", "ttl", "error"),
    [
        ([], 900, InvalidQuantity),
        ([(1, 0)], 900, InvalidQuantity),
        ([(1, 1)], 0, InvalidTtl),
        ([(1, 1)], 604_801, InvalidTtl),
        ([(n, 1) for n in range(1, 102)], 900, InvalidQuantity),
    ],
)
def test_a_reservation_out_of_bounds_is_refused(user, lines, ttl, error):
    with pytest.raises(error):
        reservation_create(customer_id=user.id, created_by_id=user.id, lines=lines, ttl_seconds=ttl)
    assert Reservation.objects.count() == 0


def test_a_commit_of_nothing_is_refused(user):
    pen = ProductFactory(stock=5)
    held = hold(user, (pen, 2))
    with pytest.raises(InvalidQuantity):
        reservation_commit(reservation_id=held.id, actor_id=user.id, lines={pen.id: 0})
    assert status_of(held.id) == "held"


def test_the_customer_limit_hides_other_customers_reservations(user):
    pen = ProductFactory(stock=5)
    held = hold(user, (pen, 2))
    other = UserFactory()
    with pytest.raises(ReservationNotFound):
        reservation_release(reservation_id=held.id, actor_id=other.id, customer_id=other.id)
    with pytest.raises(ReservationNotFound):
        reservation_commit(reservation_id=2**63, actor_id=user.id)
    released = reservation_release(reservation_id=held.id, actor_id=user.id, customer_id=user.id)
    assert released.status == "released"


# --- Locks: the reservation row first, then the balances ------------------------------


def test_a_commit_locks_the_reservation_before_the_balances(user):
    products = [ProductFactory(stock=5) for _ in range(3)]
    held = hold(user, *[(p, 1) for p in products])
    recorder = Recorder()
    with connection.execute_wrapper(recorder):
        reservation_commit(reservation_id=held.id, actor_id=user.id)
    first, lock, posting, committed = recorder.statements
    assert first.startswith("WITH r AS ( UPDATE ledger_reservation SET status = ")
    assert "WHERE id = " in first and "status = 'held' AND expires_at > " in first
    assert "FOR UPDATE OF b" in lock and "ORDER BY b.product_id, b.location_id" in lock
    assert posting.startswith("WITH u AS ( UPDATE ledger_stockbalance")
    assert "INSERT INTO ledger_movement" in posting
    assert committed.startswith("UPDATE ledger_reservationline")


def test_expiry_locks_reservations_in_order_skipping_locked_ones(user):
    pen = ProductFactory(stock=5)
    overdue(hold(user, (pen, 1)).id)
    recorder = Recorder()
    with connection.execute_wrapper(recorder):
        assert reservations_expire() == 1
    expire = recorder.statements[0]
    assert "ORDER BY r.expires_at, r.id" in expire and "FOR UPDATE SKIP LOCKED" in expire
    # One hold line: its posting is one statement, the balance's UPDATE first.
    assert recorder.statements[1].startswith("WITH u AS ( UPDATE ledger_stockbalance")


# --- Expiry -----------------------------------------------------------------------------


def test_expiry_gives_back_only_overdue_holds(user):
    pen, ink = ProductFactory(stock=10), ProductFactory(stock=10)
    stale = hold(user, (pen, 2), (ink, 1), reference="cart 7")
    live = hold(user, (pen, 3))
    overdue(stale.id)

    assert reservations_expire() == 1

    assert status_of(stale.id) == "expired" and status_of(live.id) == "held"
    resolved = Reservation.objects.get(pk=stale.id)
    assert resolved.resolved_at is not None
    assert list(
        Movement.objects.filter(reservation=stale, kind="expiry")
        .order_by("product_id")
        .values_list("product_id", "quantity", "actor_id", "reference")
    ) == [(pen.id, -2, None, "cart 7"), (ink.id, -1, None, "cart 7")]
    assert figures(pen) == (10, 3, 7) and figures(ink) == (10, 0, 10)
    assert reservations_expire() == 0
    assert_verified()


def test_expiry_as_of_a_later_instant_and_for_some_products(user):
    pen, ink = ProductFactory(stock=10), ProductFactory(stock=10)
    soon = hold(user, (pen, 1), ttl_seconds=60)
    later = hold(user, (ink, 1), ttl_seconds=3600)
    in_two_minutes = timezone.now() + timedelta(minutes=2)

    assert reservations_expire(now=in_two_minutes, product_ids=[ink.id]) == 0
    assert reservations_expire(now=in_two_minutes, product_ids=[pen.id, ink.id]) == 1
    assert (status_of(soon.id), status_of(later.id)) == ("expired", "held")


def test_expiry_goes_in_batches_soonest_first(user):
    pen = ProductFactory(stock=10)
    reservations = [hold(user, (pen, 1)) for _ in range(5)]
    for age, reservation in enumerate(reversed(reservations)):
        overdue(reservation.id, seconds=10 + age)  # the first one is the most overdue

    assert reservations_expire(limit=2) == 2
    assert [status_of(r.id) for r in reservations] == ["expired"] * 2 + ["held"] * 3
    assert reservations_expire(limit=10) == 3
    assert_verified()


def test_expiry_at_a_named_location(user):
    store = location_create(code="STORE-2", name="High Street")
    pen = ProductFactory()
    stock_restock(product_id=pen.id, quantity=4, actor_id=None, location_id=store.id)
    stale = hold(user, (pen, 3), location_id=store.id)
    overdue(stale.id)
    assert reservations_expire() == 1
    assert figures(pen, store) == (4, 0, 4)
    assert_verified()


def test_a_commit_past_expiry_expires_instead(user):
    pen = ProductFactory(stock=10)
    held = hold(user, (pen, 4))
    overdue(held.id)
    with pytest.raises(ReservationNotHeld) as refused:
        reservation_commit(reservation_id=held.id, actor_id=user.id)
    assert refused.value.data == {"reservation": held.id, "status": "expired"}
    assert status_of(held.id) == "expired" and figures(pen) == (10, 0, 10)
    with pytest.raises(ReservationNotHeld):
        reservation_release(reservation_id=held.id, actor_id=user.id)
    assert Movement.objects.filter(reservation=held, kind="expiry").count() == 1
    assert_verified()


# --- The command ------------------------------------------------------------------------


def test_the_command_expires_overdue_holds_in_batches_and_says_how_many(user):
    pen = ProductFactory(stock=10)
    reservations = [hold(user, (pen, 1)) for _ in range(5)]
    live = hold(user, (pen, 1))
    for reservation in reservations:
        overdue(reservation.id)
    out = io.StringIO()

    call_command("expire_reservations", "--batch", "2", stdout=out)

    assert out.getvalue() == "Expired 5 reservation(s).\n"
    assert figures(pen) == (10, 1, 9) and status_of(live.id) == "held"
    out = io.StringIO()
    call_command("expire_reservations", stdout=out)
    assert out.getvalue() == "Expired 0 reservation(s).\n"
    assert_verified()


@pytest.mark.parametrize("arguments", [["--batch", "0"], ["--loop", "0"]])
def test_the_command_refuses_bad_arguments(arguments):
    with pytest.raises(CommandError):
        call_command("expire_reservations", *arguments)


# The loop closes stale connections between passes, as a request would; inside the
# test's own transaction that would close it, so this runs on committed data.
@pytest.mark.usefixtures("committed_db")
def test_the_worker_loop_expires_and_stops_cleanly_on_sigterm(monkeypatch):
    from ledger.management.commands import expire_reservations as command

    user = UserFactory()
    pen = ProductFactory(stock=3)
    overdue(hold(user, (pen, 2)).id)
    passes = []

    def one_pass_then_sigterm(**kwargs):
        try:
            passes.append(reservations_expire(**kwargs))
            return passes[-1]
        finally:
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(command, "reservations_expire", one_pass_then_sigterm)
    handler = signal.getsignal(signal.SIGTERM)
    out = io.StringIO()
    call_command("expire_reservations", "--loop", "60", stdout=out)
    assert passes == [1]
    assert "Expired 1 reservation(s)." in out.getvalue()
    assert out.getvalue().endswith("Stopped.\n")
    assert signal.getsignal(signal.SIGTERM) == handler
    assert figures(pen) == (3, 0, 3)
    assert_verified()
