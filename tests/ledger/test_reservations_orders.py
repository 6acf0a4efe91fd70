"""Orders from reservations, their cancellation, and overdue holds that must not stand in
the way of an order or a new reservation."""

import pytest

from ledger.exceptions import InsufficientStock
from ledger.models import Movement, Reservation
from ledger.reservations import reservation_create
from ordering.models import Order
from ordering.services import order_place
from tests.factories import ProductFactory
from tests.ledger.reserving import (
    URL,
    assert_verified,
    figures,
    overdue,
    reserve,
    status_of,
)

pytestmark = pytest.mark.django_db
ORDERS = "/api/v1/orders/"


def order_from(client, reservation_id, *lines, **extra):
    body = {"reservation": reservation_id, **extra}
    if lines:
        body["lines"] = [{"product": p.id, "quantity": q} for p, q in lines]
    return client.post(ORDERS, body, format="json")


def test_an_order_from_a_reservation_takes_the_held_units(customer, auditor):
    pen, ink = ProductFactory(stock=10), ProductFactory(stock=4)
    held = reserve(customer, (pen, 3), (ink, 1)).json()

    response = order_from(customer, held["id"])

    assert response.status_code == 201, response.json()
    order = response.json()
    assert order["customer"] == customer.user.id
    assert [(line["product"], line["quantity"]) for line in order["lines"]] == [
        (pen.id, 3),
        (ink.id, 1),
    ]
    assert order["total"] == "39.96"
    assert figures(pen) == (7, 0, 7) and figures(ink) == (3, 0, 3)
    reservation = customer.get(f"{URL}{held['id']}/").json()
    assert reservation["status"] == "committed"
    assert [line["committed"] for line in reservation["lines"]] == [3, 1]
    # The order shows its movements: the commits, tied to its lines.
    history = auditor.get("/api/v1/movements/", {"order": order["id"]}).json()["results"]
    assert sorted((m["kind"], m["product"], m["quantity"]) for m in history) == sorted(
        [("commit", pen.id, -3), ("commit", ink.id, -1)]
    )
    commits = Movement.objects.filter(kind="commit")
    assert set(commits.values_list("reservation_id", flat=True)) == {held["id"]}
    assert set(commits.values_list("order_line__order_id", flat=True)) == {order["id"]}
    assert set(commits.values_list("reference", flat=True)) == {f"order {order['id']}"}
    assert_verified()


def test_an_order_of_fewer_units_than_held_gives_the_rest_back(customer):
    pen, ink = ProductFactory(stock=10), ProductFactory(stock=4)
    held = reserve(customer, (pen, 3), (ink, 1)).json()

    response = order_from(customer, held["id"], (pen, 1), (pen, 1))

    assert response.status_code == 201
    assert [(line["product"], line["quantity"]) for line in response.json()["lines"]] == [
        (pen.id, 2)
    ]
    assert figures(pen) == (8, 0, 8) and figures(ink) == (4, 0, 4)
    assert list(
        Movement.objects.filter(reservation_id=held["id"])
        .exclude(kind="hold")
        .order_by("id")
        .values_list("kind", "product_id", "quantity", "order_line__order_id")
    ) == [
        ("commit", pen.id, -2, response.json()["id"]),
        ("release", pen.id, -1, None),
        ("release", ink.id, -1, None),
    ]
    assert_verified()


def test_cancelling_an_order_from_a_reservation_reverses_its_commits(customer):
    pen, ink = ProductFactory(stock=10), ProductFactory(stock=4)
    held = reserve(customer, (pen, 3), (ink, 1)).json()
    order = order_from(customer, held["id"], (pen, 2)).json()

    response = customer.post(f"{ORDERS}{order['id']}/cancel/")

    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "cancelled"
    # The units are back on hand and available; the reservation stays committed.
    assert figures(pen) == (10, 0, 10) and figures(ink) == (4, 0, 4)
    assert status_of(held["id"]) == "committed"
    reversal = Movement.objects.get(kind="reversal")
    assert (reversal.product_id, reversal.quantity) == (pen.id, 2)
    assert reversal.reverses.kind == "commit"
    assert reversal.order_line.order_id == order["id"]
    assert_verified()


@pytest.mark.parametrize(("asked", "available"), [("more", 3), ("other", 0)])
def test_an_order_beyond_what_is_held_is_refused_whole(customer, asked, available):
    pen, ink = ProductFactory(stock=10), ProductFactory(stock=10)
    held = reserve(customer, (pen, 3)).json()
    line = (pen, 4) if asked == "more" else (ink, 1)

    response = order_from(customer, held["id"], line)

    assert response.status_code == 400
    assert response.json()["code"] == "exceeds_reservation"
    assert response.json()["lines"] == [
        {"product": line[0].id, "requested": line[1], "available": available}
    ]
    assert Order.objects.count() == 0 and status_of(held["id"]) == "held"


def test_a_customer_cannot_order_from_anothers_reservation(customer, other_customer):
    pen = ProductFactory(stock=10)
    theirs = reserve(other_customer, (pen, 3)).json()
    response = order_from(customer, theirs["id"])
    assert response.status_code == 404
    assert response.json()["code"] == "reservation_not_found"
    assert Order.objects.count() == 0 and status_of(theirs["id"]) == "held"


def test_warehouse_staff_order_a_customers_reservation_for_that_customer(customer, warehouse):
    pen = ProductFactory(stock=10)
    held = reserve(customer, (pen, 3)).json()
    response = order_from(warehouse, held["id"])
    assert response.status_code == 201
    assert response.json()["customer"] == customer.user.id
    assert customer.get(f"{ORDERS}{response.json()['id']}/").status_code == 200
    commit = Movement.objects.get(kind="commit")
    assert commit.actor_id == warehouse.user.id


@pytest.mark.parametrize("resolved", ["committed", "released", "expired"])
def test_an_order_from_a_resolved_reservation_is_a_409(customer, resolved):
    pen = ProductFactory(stock=10)
    held = reserve(customer, (pen, 3)).json()
    if resolved == "expired":
        overdue(held["id"])
    else:
        action = "commit" if resolved == "committed" else "release"
        customer.post(f"{URL}{held['id']}/{action}/", {}, format="json")

    response = order_from(customer, held["id"])

    assert response.status_code == 409
    assert response.json()["code"] == "reservation_not_held"
    assert response.json()["status"] == resolved
    assert Order.objects.count() == 0


@pytest.mark.parametrize(
    "body",
    [
        {"reservation": 1, "location": "MAIN"},
        {"reservation": 0},
        {"reservation": 2**70},
        {},
        {"lines": []},
    ],
)
def test_malformed_orders_from_reservations_are_a_400(customer, body):
    response = customer.post(ORDERS, body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


def test_an_unknown_reservation_is_a_404(customer):
    response = order_from(customer, 999_999)
    assert response.status_code == 404
    assert response.json()["code"] == "reservation_not_found"


def test_an_order_from_a_reservation_costs_a_constant_number_of_queries(
    customer, django_assert_num_queries
):
    products = [ProductFactory(stock=10) for _ in range(30)]
    held = reserve(customer, *[(p, 1) for p in products[:1]]).json()
    order_from(customer, held["id"])  # warm up
    for size in (1, 30):
        held = reserve(customer, *[(p, 1) for p in products[:size]]).json()
        # token; the reservation; its lines; the order and its lines (with the products);
        # the commit's conditional UPDATE, (several rows: their lock, then) one statement
        # updating the balances and inserting the movements, and the committed units; two
        # SAVEPOINT/RELEASE pairs (the order's transaction and the commit's, inside the
        # test's).
        with django_assert_num_queries(11 if size == 1 else 12):
            assert order_from(customer, held["id"]).status_code == 201


# --- Overdue holds do not stand in the way ------------------------------------------------


def test_an_overdue_hold_does_not_block_a_new_reservation(customer, other_customer):
    pen, ink = ProductFactory(stock=5), ProductFactory(stock=5)
    stale = reserve(other_customer, (pen, 4)).json()
    stale_ink = reserve(other_customer, (ink, 1)).json()
    overdue(stale["id"])
    overdue(stale_ink["id"])

    response = reserve(customer, (pen, 3))

    assert response.status_code == 201, response.json()
    assert status_of(stale["id"]) == "expired"
    # Only the short product's overdue holds are expired here; the worker does the rest.
    assert status_of(stale_ink["id"]) == "held"
    assert figures(pen) == (5, 3, 2) and figures(ink) == (5, 1, 4)
    assert_verified()


def test_an_overdue_hold_does_not_block_an_order(customer, other_customer):
    pen = ProductFactory(stock=5)
    stale = reserve(other_customer, (pen, 4)).json()
    overdue(stale["id"])

    response = customer.post(ORDERS, {"lines": [{"product": pen.id, "quantity": 5}]}, format="json")

    assert response.status_code == 201, response.json()
    assert status_of(stale["id"]) == "expired"
    assert figures(pen) == (0, 0, 0)
    assert_verified()


def test_a_hold_still_running_blocks_and_nothing_is_expired(customer, other_customer):
    pen = ProductFactory(stock=5)
    live = reserve(other_customer, (pen, 4)).json()
    response = customer.post(ORDERS, {"lines": [{"product": pen.id, "quantity": 2}]}, format="json")
    assert response.status_code == 409
    assert response.json()["lines"] == [{"product": pen.id, "requested": 2, "available": 1}]
    assert reserve(customer, (pen, 2)).status_code == 409
    assert status_of(live["id"]) == "held" and figures(pen) == (5, 4, 1)


def test_expiring_overdue_holds_may_still_leave_too_few_units(customer, other_customer):
    pen = ProductFactory(stock=5)
    stale = reserve(other_customer, (pen, 1)).json()
    live = reserve(other_customer, (pen, 3)).json()
    overdue(stale["id"])

    response = reserve(customer, (pen, 3))

    # Refused after its one retry; the stale hold's expiry stands (it was overdue).
    assert response.status_code == 409
    assert response.json()["lines"] == [{"product": pen.id, "requested": 3, "available": 2}]
    assert status_of(stale["id"]) == "expired" and status_of(live["id"]) == "held"
    assert figures(pen) == (5, 3, 2)
    assert_verified()


def test_an_order_that_is_not_refused_costs_no_more_statements(
    customer, other_customer, django_assert_max_num_queries
):
    """The retry costs nothing on the common path: the first attempt is the service's own
    transaction (a savepoint inside the test's), as before reservations."""
    pen = ProductFactory(stock=10)
    overdue(reserve(other_customer, (pen, 1)).json()["id"])
    customer.post(ORDERS, {"lines": [{"product": pen.id, "quantity": 1}]}, format="json")
    # token, products, order with its line, UPDATE, INSERT, SAVEPOINT/RELEASE.
    with django_assert_max_num_queries(7):
        response = customer.post(
            ORDERS, {"lines": [{"product": pen.id, "quantity": 1}]}, format="json"
        )
    assert response.status_code == 201


def test_services_retry_once_after_expiring(db):
    from tests.factories import UserFactory

    user = UserFactory()
    pen = ProductFactory(stock=2)
    stale = reservation_create(customer_id=user.id, created_by_id=user.id, lines=[(pen.id, 2)])
    overdue(stale.id)
    order = order_place(customer_id=user.id, lines=iter([(pen.id, 1), (pen.id, 1)]))
    assert [line.quantity for line in order.prefetched_lines] == [2]
    with pytest.raises(InsufficientStock):
        reservation_create(customer_id=user.id, created_by_id=user.id, lines=[(pen.id, 1)])
    assert Reservation.objects.get(pk=stale.id).status == "expired"
    assert_verified()
