"""Stock at several locations: every stock endpoint takes an optional `location` (code or
id; the default location without it), balances and hash chains are per (product,
location), and postings take only available units (on hand minus reserved)."""

import pytest
from django.db import IntegrityError, connection, transaction

from ledger.integrity import ledger_verify
from ledger.models import Location, Movement, MovementKind, StockBalance
from ledger.posting import Posting, movements_post
from ledger.services import location_create, stock_restock
from tests.factories import ProductFactory
from tests.ledger.oracle import assert_ledger_consistent
from tests.ledger.test_posting_statements import Recorder

pytestmark = pytest.mark.django_db


@pytest.fixture
def store():
    return location_create(code="STORE-2", name="High Street")


def url(product, action):
    return f"/api/v1/products/{product.id}/{action}/"


def figures(product, location=None):
    location = location or Location.objects.get(is_default=True)
    row = StockBalance.objects.filter(product=product, location=location)
    return row.values_list("on_hand", "reserved", "incoming", "version").first()


def hold(product, location, units):
    """Stand in for a reservation (a later kind of movement): units held at a location."""
    StockBalance.objects.filter(product=product, location=location).update(reserved=units)


@pytest.mark.parametrize("by", ["code", "lower-case code", "id"])
def test_a_restock_at_a_location_has_its_own_seq_and_balance(warehouse, store, by):
    product = ProductFactory(stock=5)
    named = {"code": "STORE-2", "lower-case code": "store-2", "id": store.id}[by]

    response = warehouse.post(
        url(product, "restocks"), {"quantity": 7, "location": named}, format="json"
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["location"], body["seq"], body["balance_after"]) == ("STORE-2", 1, 7)
    assert figures(product, store) == (7, 0, 0, 1)
    assert figures(product) == (5, 0, 0, 1)  # the default location is untouched
    assert_ledger_consistent()
    assert ledger_verify().ok


def test_without_a_location_writes_go_to_the_default_one(warehouse, store):
    product = ProductFactory()
    body = warehouse.post(url(product, "restocks"), {"quantity": 2}, format="json").json()
    assert body["location"] == "MAIN"
    body = warehouse.post(
        url(product, "restocks"), {"quantity": 3, "location": "MAIN"}, format="json"
    ).json()
    assert (body["location"], body["seq"], body["balance_after"]) == ("MAIN", 2, 5)


def test_an_adjustment_takes_only_what_that_location_has(warehouse, store):
    product = ProductFactory(stock=50)
    stock_restock(product_id=product.id, quantity=3, actor_id=None, location_id=store.id)

    response = warehouse.post(
        url(product, "adjustments"),
        {"quantity": -4, "reason": "damaged", "location": "STORE-2"},
        format="json",
    )

    assert response.status_code == 409
    assert response.json()["lines"] == [{"product": product.id, "requested": 4, "available": 3}]
    assert figures(product, store) == (3, 0, 0, 1)


def test_a_stocktake_counts_one_location(warehouse, store):
    product = ProductFactory(stock=10)
    stock_restock(product_id=product.id, quantity=4, actor_id=None, location_id=store.id)
    body = warehouse.post(
        url(product, "stocktakes"), {"counted": 6, "location": "STORE-2"}, format="json"
    ).json()
    assert (body["quantity"], body["balance_after"], body["location"]) == (2, 6, "STORE-2")
    # A first count at a location the product was never kept at opens its row.
    third = location_create(code="STORE-3", name="Kiosk")
    body = warehouse.post(
        url(product, "stocktakes"), {"counted": 2, "location": "STORE-3"}, format="json"
    ).json()
    assert (body["quantity"], body["seq"], body["location"]) == (2, 1, "STORE-3")
    assert figures(product) == (10, 0, 0, 1)
    assert figures(product, third) == (2, 0, 0, 1)
    assert ledger_verify().ok


@pytest.mark.parametrize(
    ("action", "payload"),
    [
        ("restocks", {"quantity": 1}),
        ("adjustments", {"quantity": 1, "reason": "found"}),
        ("stocktakes", {"counted": 1}),
    ],
)
@pytest.mark.parametrize("location", ["NOWHERE", 999999, "SHUT"])
def test_writes_at_an_unknown_or_archived_location_are_a_400(warehouse, action, payload, location):
    location_create(code="SHUT", name="Closed")
    Location.objects.filter(code="SHUT").update(is_active=False)
    product = ProductFactory(stock=1)

    response = warehouse.post(
        url(product, action), {**payload, "location": location}, format="json"
    )

    assert response.status_code == 400
    assert response.json()["code"] == "unknown_location"
    assert Movement.objects.count() == 1


@pytest.mark.parametrize("location", ["a b", "", "-X", True, 1.5, "X" * 40])
def test_a_malformed_location_is_a_400_naming_it(warehouse, location):
    product = ProductFactory()
    response = warehouse.post(
        url(product, "restocks"), {"quantity": 1, "location": location}, format="json"
    )
    assert response.status_code == 400
    assert "location" in response.json()["errors"]


def test_orders_take_from_a_location_and_cancels_give_back_there(customer, store):
    product = ProductFactory(stock=1)
    stock_restock(product_id=product.id, quantity=5, actor_id=None, location_id=store.id)
    response = customer.post(
        "/api/v1/orders/",
        {"lines": [{"product": product.id, "quantity": 4}], "location": "STORE-2"},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert figures(product, store)[0] == 1 and figures(product)[0] == 1

    short = customer.post(
        "/api/v1/orders/",
        {"lines": [{"product": product.id, "quantity": 2}], "location": "STORE-2"},
        format="json",
    )
    assert short.status_code == 409
    assert short.json()["lines"] == [{"product": product.id, "requested": 2, "available": 1}]
    unknown = customer.post(
        "/api/v1/orders/",
        {"lines": [{"product": product.id, "quantity": 1}], "location": "NOPE"},
        format="json",
    )
    assert (unknown.status_code, unknown.json()["code"]) == (400, "unknown_location")

    order_id = response.json()["id"]
    assert customer.post(f"/api/v1/orders/{order_id}/cancel/").status_code == 200
    assert figures(product, store)[0] == 5
    reversal = Movement.objects.get(kind=MovementKind.REVERSAL)
    assert reversal.location_id == store.id
    assert ledger_verify().ok


def test_postings_take_only_available_units(warehouse, customer, store):
    product = ProductFactory(stock=5)
    hold(product, Location.objects.get(is_default=True), 3)

    response = customer.post(
        "/api/v1/orders/", {"lines": [{"product": product.id, "quantity": 3}]}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["lines"] == [{"product": product.id, "requested": 3, "available": 2}]
    response = warehouse.post(
        url(product, "adjustments"), {"quantity": -3, "reason": "lost"}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["lines"][0]["available"] == 2
    order = customer.post(
        "/api/v1/orders/", {"lines": [{"product": product.id, "quantity": 2}]}, format="json"
    )
    assert order.status_code == 201
    assert figures(product)[:2] == (3, 3)


@pytest.mark.parametrize(
    ("change", "constraint"),
    [
        ("reserved = on_hand + 1", "balance_available_not_negative"),
        ("reserved = -1", "balance_reserved_not_negative"),
        ("incoming = -1", "balance_incoming_not_negative"),
        ("on_hand = -1", "balance_(on_hand|available)_not_negative"),
    ],
)
def test_the_database_keeps_available_reserved_and_incoming_valid(change, constraint):
    product = ProductFactory(stock=2)
    with (
        pytest.raises(IntegrityError, match=constraint),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            f"UPDATE ledger_stockbalance SET {change} WHERE product_id = %s", [product.id]
        )


def test_a_posting_at_a_named_location_costs_two_statements_more(store):
    product = ProductFactory()
    stock_restock(product_id=product.id, quantity=1, actor_id=None, location_id=store.id)
    recorder = Recorder()
    with connection.execute_wrapper(recorder):
        stock_restock(product_id=product.id, quantity=3, actor_id=None, location_id=store.id)
    # Lock the location against archiving, open the balance row if missing (here it is
    # there: nothing inserted), then the posting's one statement (UPDATE, then INSERT).
    assert recorder.kinds() == ["SELECT", "INSERT", "WITH"]


def test_multi_location_postings_lock_in_product_then_location_order(store):
    main = Location.objects.get(is_default=True)
    products = [ProductFactory(stock=10) for _ in range(3)]
    for product in products:
        stock_restock(product_id=product.id, quantity=10, actor_id=None, location_id=store.id)
    lines = [
        (products[2], store.id),
        (products[0], None),
        (products[1], store.id),
        (products[0], store.id),
        (products[2], None),
    ]
    recorder = Recorder()
    with connection.execute_wrapper(recorder), transaction.atomic():
        movements = movements_post(
            postings=[
                Posting(
                    product_id=p.id, kind=MovementKind.CONSUMPTION, quantity=-1, location_id=loc
                )
                for p, loc in lines
            ],
            actor_id=None,
        )
    order = [(m.product_id, m.location_id) for m in movements]
    expected = sorted((p.id, loc or main.id) for p, loc in lines)
    assert order == expected
    # Lock the locations, open the rows, lock the five rows in (product, location) order
    # in one statement, then one statement updates all five and inserts their movements.
    assert recorder.kinds() == ["SELECT", "INSERT", "SELECT", "WITH"]
    lock = [sql for sql, _ in recorder.statements if sql.startswith("SELECT")][1]
    assert "ORDER BY b.product_id, b.location_id" in lock and "FOR UPDATE" in lock
    assert_ledger_consistent()


def test_postings_naming_the_default_location_by_id_and_by_omission_are_one_row(store):
    """Two postings to one balance row, one naming the default location by its id and one
    leaving it out (beside a posting elsewhere), post two movements in one chain."""
    main = Location.objects.get(is_default=True)
    product = ProductFactory(stock=10)
    with transaction.atomic():
        movements = movements_post(
            postings=[
                Posting(product_id=product.id, kind=MovementKind.CONSUMPTION, quantity=-1),
                Posting(
                    product_id=product.id,
                    kind=MovementKind.CONSUMPTION,
                    quantity=-2,
                    location_id=main.id,
                ),
                Posting(
                    product_id=product.id,
                    kind=MovementKind.RESTOCK,
                    quantity=5,
                    location_id=store.id,
                ),
            ],
            actor_id=None,
        )
    at_main = [(m.quantity, m.seq, m.balance_after) for m in movements if m.location_id == main.id]
    assert at_main == [(-1, 2, 9), (-2, 3, 7)]
    assert figures(product) == (7, 0, 0, 3)
    assert figures(product, store) == (5, 0, 0, 1)
    assert_ledger_consistent()


def test_a_restock_at_a_named_location_costs_a_fixed_number_of_queries(
    warehouse, store, django_assert_max_num_queries
):
    product = ProductFactory()
    for _ in range(5):
        warehouse.post(
            url(product, "restocks"), {"quantity": 1, "location": "STORE-2"}, format="json"
        )
    # token with roles, the location's lookup, its lock, the row opening, the balance
    # UPDATE, the movement INSERT, and the SAVEPOINT/RELEASE of the service's transaction.
    with django_assert_max_num_queries(8):
        response = warehouse.post(
            url(product, "restocks"), {"quantity": 1, "location": "STORE-2"}, format="json"
        )
    assert response.status_code == 201


def test_hash_chains_are_per_location_and_verify(store):
    product = ProductFactory(stock=4)
    first_here = stock_restock(
        product_id=product.id, quantity=2, actor_id=None, location_id=store.id
    )
    first_main = Movement.objects.get(product=product, seq=1, location__is_default=True)
    # Each chain starts from the genesis hash: the same fields elsewhere hash differently.
    assert first_here.hash != first_main.hash
    assert StockBalance.objects.get(product=product, location=store).last_hash == first_here.hash
    assert ledger_verify().ok


@pytest.mark.parametrize("action", ["restocks", "adjustments", "stocktakes"])
def test_a_product_id_past_bigint_at_a_named_location_is_a_404(warehouse, store, action):
    payload = {"restocks": {"quantity": 1}, "adjustments": {"quantity": -1, "reason": "lost"}}
    body = {**payload.get(action, {"counted": 1}), "location": "STORE-2"}
    response = warehouse.post(f"/api/v1/products/{2**70}/{action}/", body, format="json")
    assert response.status_code == 404
    assert response.json()["code"] == "product_not_found"
