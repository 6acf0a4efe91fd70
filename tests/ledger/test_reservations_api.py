"""Reservations through the HTTP API: holding, reading, committing, releasing, expiry as
clients see it, who may do what, idempotency and the statements each write costs."""

from datetime import datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.roles import Role
from catalog.services import product_update
from ledger.models import Movement, Reservation, StockBalance
from ledger.services import location_create, stock_restock
from tests.conftest import client_for
from tests.factories import ProductFactory, UserFactory
from tests.ledger.reserving import (
    URL,
    assert_verified,
    commit,
    figures,
    overdue,
    release,
    reserve,
    status_of,
)

pytestmark = pytest.mark.django_db


def movements(reservation_id):
    return list(
        Movement.objects.filter(reservation_id=reservation_id)
        .order_by("id")
        .values_list("kind", "product_id", "quantity")
    )


# --- Holding ---------------------------------------------------------------------------


def test_a_reservation_holds_available_units_and_keeps_them_on_hand(customer):
    pen, ink = ProductFactory(stock=10), ProductFactory(stock=4)

    response = reserve(customer, (pen, 2), (ink, 1), (pen, 1), reference="cart 8812")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["status"] == "held"
    assert (body["location"], body["customer"], body["reference"]) == (
        "MAIN",
        customer.user.id,
        "cart 8812",
    )
    # A product named twice is held once, for the sum.
    assert body["lines"] == [
        {"product": pen.id, "quantity": 3, "committed": 0},
        {"product": ink.id, "quantity": 1, "committed": 0},
    ]
    created, expires = (datetime.fromisoformat(body[k]) for k in ("created_at", "expires_at"))
    assert expires - created == timedelta(seconds=900)
    assert body["resolved_at"] is None
    assert figures(pen) == (10, 3, 7) and figures(ink) == (4, 1, 3)
    assert movements(body["id"]) == [("hold", pen.id, 3), ("hold", ink.id, 1)]
    assert set(Movement.objects.filter(reservation_id=body["id"]).values_list("reference")) == {
        ("cart 8812",)
    }
    assert customer.get(f"{URL}{body['id']}/").json() == body
    assert_verified()


def test_held_units_are_not_available_to_orders(customer, other_customer):
    pen = ProductFactory(stock=3)
    assert reserve(customer, (pen, 2)).status_code == 201

    response = other_customer.post(
        "/api/v1/orders/", {"lines": [{"product": pen.id, "quantity": 2}]}, format="json"
    )

    assert response.status_code == 409
    assert response.json()["lines"] == [{"product": pen.id, "requested": 2, "available": 1}]
    assert figures(pen) == (3, 2, 1)


def test_a_short_line_holds_nothing_and_every_short_line_is_listed(customer):
    pen, ink, pad = ProductFactory(stock=5), ProductFactory(stock=1), ProductFactory(stock=0)

    response = reserve(customer, (pen, 5), (ink, 2), (pad, 1))

    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "insufficient_stock"
    assert sorted(body["lines"], key=lambda line: line["product"]) == [
        {"product": ink.id, "requested": 2, "available": 1},
        {"product": pad.id, "requested": 1, "available": 0},
    ]
    assert Reservation.objects.count() == 0
    assert not Movement.objects.filter(kind="hold").exists()
    assert figures(pen) == (5, 0, 5)


def test_a_reservation_at_a_named_location_takes_only_what_is_there(customer):
    store = location_create(code="STORE-2", name="High Street")
    pen = ProductFactory(stock=10)
    stock_restock(product_id=pen.id, quantity=2, actor_id=None, location_id=store.id)

    assert reserve(customer, (pen, 3), location="store-2").status_code == 409
    response = reserve(customer, (pen, 2), location=store.id)

    assert response.status_code == 201
    assert response.json()["location"] == "STORE-2"
    assert figures(pen, store) == (2, 2, 0) and figures(pen) == (10, 0, 10)
    assert release(customer, response.json()["id"]).status_code == 200
    assert figures(pen, store) == (2, 0, 2)
    assert_verified()


@pytest.mark.parametrize(
    ("ttl", "expected"), [(0, 400), (604801, 400), (1, 201), (604800, 201), ("x", 400)]
)
def test_a_hold_lasts_one_second_to_seven_days(customer, ttl, expected):
    pen = ProductFactory(stock=1)
    response = reserve(customer, (pen, 1), ttl_seconds=ttl)
    assert response.status_code == expected
    if expected == 201:
        body = response.json()
        held_for = datetime.fromisoformat(body["expires_at"]) - datetime.fromisoformat(
            body["created_at"]
        )
        assert held_for == timedelta(seconds=ttl)
    else:
        assert "ttl_seconds" in response.json()["errors"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"lines": []},
        {"lines": [{"product": 1, "quantity": 0}]},
        {"lines": [{"product": 2**70, "quantity": 1}]},
        {"lines": [{"product": n, "quantity": 1} for n in range(1, 102)]},
        {"lines": [{"product": 1, "quantity": 1}], "location": "no such place!"},
        {"lines": [{"product": 1, "quantity": 1}], "customer": 2**40},
    ],
)
def test_malformed_reservations_are_a_400(customer, body):
    response = customer.post(URL, body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


def test_unknown_and_archived_products_are_refused_whole(customer, warehouse):
    pen, old = ProductFactory(stock=5), ProductFactory(stock=5)
    product_update(product=old, is_active=False)

    response = customer.post(
        URL,
        {"lines": [{"product": pen.id, "quantity": 1}, {"product": old.id, "quantity": 1}]},
        format="json",
    )

    assert response.status_code == 400
    assert response.json()["code"] == "unknown_product"
    assert response.json()["products"] == [old.id]
    response = customer.post(
        URL, {"lines": [{"product": 999_999_999, "quantity": 1}]}, format="json"
    )
    assert response.json()["products"] == [999_999_999]
    assert reserve(customer, (pen, 1)).status_code == 201
    assert Reservation.objects.count() == 1 and figures(pen) == (5, 1, 4)


def test_units_past_an_orders_limit_are_refused(customer):
    pen = ProductFactory(stock=20_000)
    response = reserve(customer, (pen, 6_000), (pen, 6_000))
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_quantity"


def test_an_unknown_location_is_a_400(customer):
    response = reserve(customer, (ProductFactory(stock=1), 1), location="NOWHERE")
    assert response.status_code == 400
    assert response.json()["code"] == "unknown_location"


# --- Who may do what ------------------------------------------------------------------


def test_customers_see_only_their_own_reservations(customer, other_customer, warehouse, auditor):
    pen = ProductFactory(stock=10)
    mine = reserve(customer, (pen, 1)).json()
    theirs = reserve(other_customer, (pen, 2)).json()

    assert customer.get(f"{URL}{theirs['id']}/").status_code == 404
    assert customer.get(f"{URL}{theirs['id']}/").json()["code"] == "reservation_not_found"
    assert [r["id"] for r in customer.get(URL).json()["results"]] == [mine["id"]]
    # ?customer= only narrows a customer's own list.
    assert customer.get(URL, {"customer": other_customer.user.id}).json()["results"] == []
    for staff in (warehouse, auditor):
        assert [r["id"] for r in staff.get(URL).json()["results"]] == [theirs["id"], mine["id"]]
        assert staff.get(f"{URL}{theirs['id']}/").json() == theirs
        listed = staff.get(URL, {"customer": customer.user.id}).json()["results"]
        assert [r["id"] for r in listed] == [mine["id"]]


def test_customers_cannot_commit_or_release_anothers_reservation(customer, other_customer):
    pen = ProductFactory(stock=10)
    theirs = reserve(other_customer, (pen, 2)).json()

    for response in (commit(customer, theirs["id"]), release(customer, theirs["id"])):
        assert response.status_code == 404
        assert response.json()["code"] == "reservation_not_found"
    assert status_of(theirs["id"]) == "held" and figures(pen) == (10, 2, 8)


def test_warehouse_staff_reserve_for_a_customer_and_resolve_it(customer, warehouse):
    pen = ProductFactory(stock=10)
    response = reserve(warehouse, (pen, 2), customer=customer.user.id)
    assert response.status_code == 201
    held = response.json()
    assert held["customer"] == customer.user.id
    assert customer.get(f"{URL}{held['id']}/").status_code == 200
    assert Reservation.objects.get(pk=held["id"]).created_by_id == warehouse.user.id

    assert commit(warehouse, held["id"], (pen, 1)).status_code == 200
    assert figures(pen) == (9, 0, 9)


def test_a_customer_cannot_reserve_for_someone_else(customer, other_customer):
    pen = ProductFactory(stock=10)
    response = reserve(customer, (pen, 1), customer=other_customer.user.id)
    assert response.status_code == 403
    assert Reservation.objects.count() == 0
    # Naming oneself is allowed.
    assert reserve(customer, (pen, 1), customer=customer.user.id).status_code == 201


def test_auditors_read_but_cannot_write(customer, auditor):
    pen = ProductFactory(stock=10)
    held = reserve(customer, (pen, 2)).json()

    assert reserve(auditor, (pen, 1)).status_code == 403
    assert commit(auditor, held["id"]).status_code == 403
    assert release(auditor, held["id"]).status_code == 403
    assert auditor.get(f"{URL}{held['id']}/").status_code == 200
    assert status_of(held["id"]) == "held" and figures(pen) == (10, 2, 8)


def test_reservations_need_a_token(anon, db):
    assert anon.get(URL).status_code == 401
    assert anon.post(URL, {}, format="json").status_code == 401


# --- Committing and releasing ----------------------------------------------------------


def test_a_commit_takes_every_held_unit_off_the_shelf(customer):
    pen, ink = ProductFactory(stock=10), ProductFactory(stock=4)
    held = reserve(customer, (pen, 3), (ink, 1)).json()

    response = commit(customer, held["id"])

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "committed" and body["resolved_at"] is not None
    assert [(line["quantity"], line["committed"]) for line in body["lines"]] == [(3, 3), (1, 1)]
    assert figures(pen) == (7, 0, 7) and figures(ink) == (3, 0, 3)
    assert movements(held["id"])[2:] == [("commit", pen.id, -3), ("commit", ink.id, -1)]
    assert customer.get(f"{URL}{held['id']}/").json() == body
    assert_verified()


def test_a_partial_commit_gives_the_rest_back(customer):
    pen, ink = ProductFactory(stock=10), ProductFactory(stock=4)
    held = reserve(customer, (pen, 3), (ink, 1)).json()

    response = commit(customer, held["id"], (pen, 1))

    assert response.status_code == 200
    assert [line["committed"] for line in response.json()["lines"]] == [1, 0]
    assert figures(pen) == (9, 0, 9) and figures(ink) == (4, 0, 4)
    assert movements(held["id"])[2:] == [
        ("commit", pen.id, -1),
        ("release", pen.id, -2),
        ("release", ink.id, -1),
    ]
    assert_verified()


@pytest.mark.parametrize(("line", "available"), [("more", 3), ("other", 0)])
def test_a_commit_beyond_what_is_held_changes_nothing(customer, line, available):
    pen, ink = ProductFactory(stock=10), ProductFactory(stock=10)
    held = reserve(customer, (pen, 3)).json()
    asked = (pen, 4) if line == "more" else (ink, 1)

    response = commit(customer, held["id"], asked)

    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "exceeds_reservation"
    assert body["lines"] == [
        {"product": asked[0].id, "requested": asked[1], "available": available}
    ]
    assert status_of(held["id"]) == "held" and figures(pen) == (10, 3, 7)


def test_a_release_gives_every_unit_back_once(customer):
    pen = ProductFactory(stock=10)
    held = reserve(customer, (pen, 3)).json()

    response = release(customer, held["id"])

    assert response.status_code == 200
    assert response.json()["status"] == "released"
    assert figures(pen) == (10, 0, 10)
    for again in (release(customer, held["id"]), commit(customer, held["id"])):
        assert again.status_code == 409
        assert again.json() == {
            "code": "reservation_not_held",
            "detail": "The reservation is no longer held.",
            "reservation": held["id"],
            "status": "released",
        }
    assert movements(held["id"]) == [("hold", pen.id, 3), ("release", pen.id, -3)]
    assert_verified()


def test_a_committed_reservation_cannot_be_released(customer):
    pen = ProductFactory(stock=10)
    held = reserve(customer, (pen, 3)).json()
    assert commit(customer, held["id"]).status_code == 200
    response = release(customer, held["id"])
    assert response.status_code == 409
    assert response.json()["status"] == "committed"
    assert figures(pen) == (7, 0, 7)


def test_an_unknown_reservation_is_a_404(customer):
    for response in (
        customer.get(f"{URL}999999/"),
        commit(customer, 999999),
        release(customer, 2**62),
    ):
        assert response.status_code == 404
        assert response.json()["code"] == "reservation_not_found"


# --- Expiry as clients see it ----------------------------------------------------------


def test_an_overdue_hold_reads_expired_at_once(customer, warehouse):
    pen = ProductFactory(stock=10)
    held = reserve(customer, (pen, 3)).json()
    live = reserve(customer, (pen, 1)).json()
    overdue(held["id"])

    assert customer.get(f"{URL}{held['id']}/").json()["status"] == "expired"
    listed = {r["id"]: r["status"] for r in warehouse.get(URL).json()["results"]}
    assert listed == {held["id"]: "expired", live["id"]: "held"}
    only = warehouse.get(URL, {"status": "expired"}).json()["results"]
    assert [r["id"] for r in only] == [held["id"]]
    only = warehouse.get(URL, {"status": "held"}).json()["results"]
    assert [r["id"] for r in only] == [live["id"]]


@pytest.mark.parametrize("action", [commit, release])
def test_committing_or_releasing_an_overdue_hold_is_refused_and_expires_it(customer, action):
    pen = ProductFactory(stock=10)
    held = reserve(customer, (pen, 3)).json()
    overdue(held["id"])

    response = action(customer, held["id"])

    assert response.status_code == 409
    assert response.json()["code"] == "reservation_not_held"
    assert response.json()["status"] == "expired"
    assert status_of(held["id"]) == "expired"
    assert movements(held["id"]) == [("hold", pen.id, 3), ("expiry", pen.id, -3)]
    assert figures(pen) == (10, 0, 10)
    assert_verified()


def test_a_bad_status_filter_is_a_400(warehouse):
    response = warehouse.get(URL, {"status": "pending"})
    assert response.status_code == 400
    assert "status" in response.json()["errors"]


# --- Idempotency ----------------------------------------------------------------------


def test_an_idempotency_key_holds_once(customer):
    pen = ProductFactory(stock=10)
    first = reserve(customer, (pen, 2), HTTP_IDEMPOTENCY_KEY="cart-1")
    again = reserve(customer, (pen, 2), HTTP_IDEMPOTENCY_KEY="cart-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert Reservation.objects.count() == 1 and figures(pen) == (10, 2, 8)


def test_an_idempotency_key_commits_once_and_replays_the_answer(customer):
    pen = ProductFactory(stock=10)
    held = reserve(customer, (pen, 2)).json()
    first = commit(customer, held["id"], (pen, 1), HTTP_IDEMPOTENCY_KEY="pay-1")
    again = commit(customer, held["id"], (pen, 1), HTTP_IDEMPOTENCY_KEY="pay-1")
    assert first.status_code == again.status_code == 200
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert figures(pen) == (9, 0, 9)
    # Without the key, a second commit is the conflict it is.
    assert commit(customer, held["id"], (pen, 1)).status_code == 409


# --- Statements: constant in the number of lines ----------------------------------------


def count_statements(call) -> tuple[int, object]:
    with CaptureQueriesContext(connection) as captured:
        response = call()
    return len(captured), response


def test_each_write_costs_the_same_statements_for_1_or_40_lines(
    customer, django_assert_max_num_queries
):
    products = [ProductFactory(stock=10) for _ in range(40)]
    reserve(customer, (products[0], 1))  # warm up: the token's first use
    costs = {}
    for size in (1, 2, 40):
        lines = [(p, 2) for p in products[:size]]
        create_cost, held = count_statements(lambda lines=lines: reserve(customer, *lines))
        assert held.status_code == 201
        commit_cost, done = count_statements(
            lambda held=held: commit(customer, held.json()["id"], (products[0], 1))
        )
        assert done.status_code == 200
        held = reserve(customer, *lines)
        release_cost, done = count_statements(
            lambda held=held: release(customer, held.json()["id"])
        )
        assert done.status_code == 200
        costs[size] = (create_cost, commit_cost, release_cost)
    # More lines lock their balance rows first with one statement, then update them and
    # insert the movements with two more, whatever their number.
    assert costs[40] == costs[2], costs
    # One movement is one statement. Token with roles, then (create) the reservation and
    # its lines, the posting; (commit: a commit and a release on one balance row) the
    # conditional UPDATE with the lines, the balance UPDATE, the movements INSERT, the
    # committed units; (release) the reservation's UPDATE and the posting; plus
    # SAVEPOINT/RELEASE of the service's transaction inside the test's.
    assert costs[1] == (5, 7, 5), costs
    with django_assert_max_num_queries(7):
        assert reserve(customer, *[(p, 1) for p in products]).status_code == 201


def test_balances_are_touched_only_through_the_posting(customer):
    """Reserving changes no balance row beyond what its movements say (the oracle)."""
    pen = ProductFactory(stock=10)
    held = reserve(customer, (pen, 4)).json()
    commit(customer, held["id"], (pen, 1))
    balance = StockBalance.objects.get(product=pen, location__is_default=True)
    assert (balance.on_hand, balance.reserved, balance.version) == (9, 0, 4)
    assert_verified()


def test_the_oracle_catches_reserved_units_no_reservation_holds(customer):
    """The consistency check can fail: a reserved figure without a held reservation."""
    pen = ProductFactory(stock=10)
    reserve(customer, (pen, 2))
    StockBalance.objects.filter(product=pen).update(reserved=3)
    with pytest.raises(AssertionError):
        assert_verified()


@pytest.mark.parametrize("role", [Role.CUSTOMER, Role.WAREHOUSE])
def test_list_costs_a_fixed_number_of_queries(role, django_assert_max_num_queries):
    client = client_for(UserFactory(role=role))
    pens = [ProductFactory(stock=10) for _ in range(3)]
    for _ in range(5):
        reserve(client, *[(p, 1) for p in pens])
    # token with roles, count, page, lines
    with django_assert_max_num_queries(4):
        response = client.get(URL)
    assert len(response.json()["results"]) == 5
