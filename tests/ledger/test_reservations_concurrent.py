"""Reservations under real concurrency: threads on their own connections, committed
data. Holds never oversell, each hold resolves exactly once, overdue holds give their
units to whoever needs them first, and the expiry worker never waits on a row."""

import random
import threading
from collections import Counter

import pytest
from django.db import connection, connections, transaction

from accounts.roles import Role
from ledger.exceptions import InsufficientStock, ReservationNotHeld
from ledger.models import Movement, Reservation, StockBalance
from ledger.reservations import (
    reservation_commit,
    reservation_create,
    reservation_release,
    reservations_expire,
)
from ordering.models import Order
from ordering.services import order_place
from tests.concurrency import run_in_threads
from tests.conftest import client_for
from tests.factories import ProductFactory, UserFactory
from tests.ledger.reserving import URL, assert_verified, figures, overdue, status_of

pytestmark = pytest.mark.usefixtures("committed_db")


def customers(count):
    return [client_for(UserFactory(role=Role.CUSTOMER)) for _ in range(count)]


def test_300_one_unit_reservations_on_100_units_hold_exactly_100():
    pen = ProductFactory(stock=100)
    clients = customers(16)

    responses = run_in_threads(
        lambda i: clients[i % 16].post(
            URL, {"lines": [{"product": pen.id, "quantity": 1}]}, format="json"
        ),
        range(300),
    )

    statuses = Counter(r.status_code for r in responses)
    assert statuses == {201: 100, 409: 200}
    assert {r.json()["code"] for r in responses if r.status_code == 409} == {"insufficient_stock"}
    assert Reservation.objects.filter(status="held").count() == 100
    assert figures(pen) == (100, 100, 0)
    assert Movement.objects.filter(kind="hold").count() == 100
    assert_verified()


def test_holds_and_orders_racing_for_the_same_units_never_oversell():
    pen, ink = ProductFactory(stock=60), ProductFactory(stock=60)
    users = [UserFactory() for _ in range(16)]

    def shop(seed):
        rng = random.Random(seed)
        user = users[seed % 16]
        lines = rng.sample([(pen.id, rng.randint(1, 3)), (ink.id, rng.randint(1, 3))], 2)
        try:
            if rng.random() < 0.4:
                order_place(customer_id=user.id, lines=lines)
                return "ordered"
            held = reservation_create(customer_id=user.id, created_by_id=user.id, lines=lines)
            choice = rng.random()
            if choice < 0.4:
                reservation_commit(reservation_id=held.id, actor_id=user.id)
                return "committed"
            if choice < 0.7:
                reservation_release(reservation_id=held.id, actor_id=user.id)
                return "released"
            return "held"
        except InsufficientStock:
            return "refused"

    outcomes = Counter(run_in_threads(shop, range(240)))

    assert outcomes["refused"] > 0 and outcomes["ordered"] + outcomes["committed"] > 0, outcomes
    for product in (pen, ink):
        on_hand, reserved, available = figures(product)
        assert on_hand >= reserved >= 0 and available >= 0
        taken = -sum(
            Movement.objects.filter(
                product=product, kind__in=["consumption", "commit"]
            ).values_list("quantity", flat=True)
        )
        assert on_hand == 60 - taken
    assert Reservation.objects.filter(status="held").count() == outcomes["held"]
    assert_verified()


@pytest.mark.parametrize("round_", range(3))
def test_concurrent_commits_and_releases_of_one_hold_resolve_it_once(round_):
    pen = ProductFactory(stock=10)
    owner = client_for(UserFactory(role=Role.CUSTOMER))
    staff = client_for(UserFactory(role=Role.WAREHOUSE))
    held = owner.post(URL, {"lines": [{"product": pen.id, "quantity": 4}]}, format="json").json()
    attempts = [(c, a) for c in (owner, staff) for a in ("commit", "release")] * 4

    responses = run_in_threads(
        lambda attempt: attempt[0].post(f"{URL}{held['id']}/{attempt[1]}/", {}, format="json"),
        attempts,
    )

    statuses = [r.status_code for r in responses]
    assert statuses.count(200) == 1, statuses
    winner = next(r.json()["status"] for r in responses if r.status_code == 200)
    losers = [r.json() for r in responses if r.status_code != 200]
    assert {(body["code"], body["status"]) for body in losers} == {("reservation_not_held", winner)}
    assert figures(pen) == ((6, 0, 6) if winner == "committed" else (10, 0, 10))
    assert Movement.objects.filter(reservation_id=held["id"]).count() == 2
    assert_verified()


def test_commits_releases_and_the_worker_racing_for_an_overdue_hold_expire_it_once():
    pen = ProductFactory(stock=10)
    user = UserFactory()
    held = reservation_create(customer_id=user.id, created_by_id=user.id, lines=[(pen.id, 4)])
    overdue(held.id)

    def resolve(action):
        try:
            if action == "expire":
                return ("expired", reservations_expire())
            service = reservation_commit if action == "commit" else reservation_release
            service(reservation_id=held.id, actor_id=user.id)
            return (action, "resolved")
        except ReservationNotHeld as refusal:
            return (action, refusal.data["status"])

    outcomes = run_in_threads(resolve, ["commit", "release", "expire"] * 6)

    # Nobody commits or releases an overdue hold; exactly one caller expires it.
    assert {status for action, status in outcomes if action != "expired"} == {"expired"}
    assert Movement.objects.filter(reservation_id=held.id, kind="expiry").count() == 1
    assert status_of(held.id) == "expired" and figures(pen) == (10, 0, 10)
    assert_verified()


def test_orders_racing_for_the_units_of_an_overdue_hold_sell_each_unit_once():
    pen = ProductFactory(stock=10)
    stale = reservation_create(
        customer_id=UserFactory().id, created_by_id=UserFactory().id, lines=[(pen.id, 10)]
    )
    overdue(stale.id)
    clients = customers(16)

    responses = run_in_threads(
        lambda i: clients[i % 16].post(
            "/api/v1/orders/", {"lines": [{"product": pen.id, "quantity": 1}]}, format="json"
        ),
        range(40),
    )

    assert Counter(r.status_code for r in responses) == {201: 10, 409: 30}
    assert Order.objects.count() == 10
    assert status_of(stale.id) == "expired"
    assert Movement.objects.filter(kind="expiry").count() == 1
    assert figures(pen) == (0, 0, 0)
    assert_verified()


def test_orders_refused_while_an_overdue_hold_still_counted_all_pass_on_their_retry():
    """Every order is first refused (the hold counts), one of them expires the hold, and
    the others, whose expiry finds nothing left to expire, still retry: the units are
    available now."""
    pen = ProductFactory(stock=16)
    stale = reservation_create(
        customer_id=UserFactory().id, created_by_id=UserFactory().id, lines=[(pen.id, 16)]
    )
    overdue(stale.id)
    users = [UserFactory() for _ in range(16)]

    orders = run_in_threads(
        lambda user: order_place(customer_id=user.id, lines=[(pen.id, 1)]), users
    )

    assert len({order.id for order in orders}) == 16
    assert Movement.objects.filter(kind="expiry").count() == 1
    assert figures(pen) == (0, 0, 0)
    assert_verified()


def test_the_worker_skips_a_reservation_another_transaction_holds():
    pen = ProductFactory(stock=10)
    user = UserFactory()
    busy, free = (
        reservation_create(customer_id=user.id, created_by_id=user.id, lines=[(pen.id, 1)])
        for _ in range(2)
    )
    overdue(busy.id)
    overdue(free.id)
    locked, done = threading.Event(), threading.Event()

    def hold_the_row():
        try:
            with transaction.atomic():
                Reservation.objects.select_for_update().get(pk=busy.id)
                locked.set()
                done.wait(timeout=30)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_the_row)
    holder.start()
    try:
        assert locked.wait(timeout=10)
        with connection.cursor() as cursor:
            cursor.execute("SET lock_timeout = '1s'")  # a wait would fail the test
        assert reservations_expire() == 1
    finally:
        with connection.cursor() as cursor:
            cursor.execute("RESET lock_timeout")
        done.set()
        holder.join(timeout=30)
    assert (status_of(busy.id), status_of(free.id)) == ("held", "expired")
    assert reservations_expire() == 1
    assert StockBalance.objects.get(product=pen).reserved == 0
    assert_verified()


def test_reservations_and_orders_over_many_products_in_any_order_never_deadlock():
    products = [ProductFactory(stock=500) for _ in range(6)]
    users = [UserFactory() for _ in range(16)]

    def work(seed):
        rng = random.Random(seed)
        user = users[seed % 16]
        chosen = rng.sample(products, rng.randint(2, 6))
        lines = [(p.id, 1) for p in chosen]
        if seed % 3 == 0:
            order_place(customer_id=user.id, lines=lines)
        else:
            held = reservation_create(customer_id=user.id, created_by_id=user.id, lines=lines)
            if seed % 3 == 1:
                overdue(held.id)
                reservations_expire(product_ids=[chosen[0].id])
            else:
                reservation_commit(
                    reservation_id=held.id, actor_id=user.id, lines={chosen[-1].id: 1}
                )
        return True

    assert run_in_threads(work, range(180)) == [True] * 180
    assert_verified()
