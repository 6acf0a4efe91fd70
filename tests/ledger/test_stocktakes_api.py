"""Counts of many products at once through POST /api/v1/stocktakes/: each count is set
against the balance as of counted_at, so what moved after the count is kept."""

from datetime import timedelta

import pytest
from django.utils import timezone

from ledger.integrity import ledger_verify
from ledger.models import Movement, StockBalance, Stocktake
from ledger.receipts import receipt_create
from ledger.services import location_create, stock_take
from ordering.services import order_place
from tests.factories import ProductFactory, UserFactory
from tests.ledger.bulk import bulk_products
from tests.ledger.oracle import assert_ledger_consistent

pytestmark = pytest.mark.django_db

URL = "/api/v1/stocktakes/"
STOCKTAKE_FIELDS = {
    "id",
    "location",
    "counted_at",
    "reference",
    "line_count",
    "adjusted",
    "created_at",
    "lines",
}
LINE_FIELDS = {
    "product",
    "sku",
    "counted",
    "expected",
    "difference",
    "movement",
    "balance_after",
}


@pytest.fixture(autouse=True)
def _ledger_verifies(db):
    yield
    assert_ledger_consistent()
    assert ledger_verify().ok


def count(client, lines, counted_at=None, key=None, **fields):
    counted_at = counted_at or timezone.now()
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    body = {"counted_at": counted_at.isoformat(), "lines": lines, **fields}
    return client.post(URL, body, format="json", **headers)


def on_hand(product, location=None):
    balances = StockBalance.objects.filter(product=product)
    if location is None:
        return balances.get(location__is_default=True).on_hand
    return balances.get(location=location).on_hand


def last_recorded_at(product):
    return Movement.objects.filter(product=product).order_by("-id").first().recorded_at


def sell(product, quantity):
    order_place(customer_id=UserFactory().id, lines=[(product.id, quantity)])


def test_a_stocktake_posts_each_difference_and_answers_every_line(warehouse):
    short, right, found = ProductFactory(stock=10), ProductFactory(stock=5), ProductFactory()
    response = count(
        warehouse,
        [
            {"product": short.id, "counted": 7},
            {"sku": right.sku, "counted": 5},
            {"product": found.id, "counted": 2},
        ],
        reference="COUNT-1",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) == STOCKTAKE_FIELDS
    assert (body["location"], body["reference"], body["line_count"], body["adjusted"]) == (
        "MAIN",
        "COUNT-1",
        3,
        2,
    )
    lines = {line["product"]: line for line in body["lines"]}
    assert [line["product"] for line in body["lines"]] == sorted(lines)
    assert all(set(line) == LINE_FIELDS for line in body["lines"])
    assert {p: (v["counted"], v["expected"], v["difference"]) for p, v in lines.items()} == {
        short.id: (7, 10, -3),
        right.id: (5, 5, 0),
        found.id: (2, 0, 2),
    }
    assert (lines[right.id]["movement"], lines[right.id]["balance_after"]) == (None, None)
    assert lines[short.id]["balance_after"] == on_hand(short) == 7
    assert lines[found.id]["balance_after"] == on_hand(found) == 2
    assert on_hand(right) == 5

    stocktake = Stocktake.objects.get()
    assert (stocktake.id, stocktake.line_count, stocktake.adjusted) == (body["id"], 3, 2)
    movements = Movement.objects.filter(stocktake=stocktake).order_by("product_id")
    assert [(m.product_id, m.kind, m.reason, m.quantity, m.reference) for m in movements] == [
        (short.id, "adjustment", "stocktake", -3, "COUNT-1"),
        (found.id, "adjustment", "stocktake", 2, "COUNT-1"),
    ]
    assert {m.id for m in movements} == {lines[short.id]["movement"], lines[found.id]["movement"]}


def test_a_sale_after_the_count_is_not_wiped_out(warehouse):
    product = ProductFactory(stock=10)
    counted_at = last_recorded_at(product)  # the shelf was counted right then: 9 units
    sell(product, 3)  # sold after the count, posted before it
    assert on_hand(product) == 7

    response = count(warehouse, [{"product": product.id, "counted": 9}], counted_at=counted_at)
    assert response.status_code == 201, response.json()
    line = response.json()["lines"][0]
    assert (line["expected"], line["difference"], line["balance_after"]) == (10, -1, 6)
    # The one-product stocktake counts now: the same 9 would have undone the sale.
    assert on_hand(product) == 6


def test_a_delivery_after_the_count_is_not_wiped_out(warehouse):
    product = ProductFactory(stock=4)
    counted_at = last_recorded_at(product)
    receipt_create(
        location_id=None, reference="DN-5", lines=[(product.id, 6)], actor_id=warehouse.user.id
    )
    response = count(warehouse, [{"sku": product.sku, "counted": 4}], counted_at=counted_at)
    assert response.status_code == 201
    assert response.json()["adjusted"] == 0
    assert on_hand(product) == 10


def test_a_count_before_the_first_movement_sets_against_zero(warehouse):
    before = timezone.now() - timedelta(hours=1)
    product = ProductFactory(stock=8)
    response = count(warehouse, [{"product": product.id, "counted": 3}], counted_at=before)
    assert response.status_code == 201
    line = response.json()["lines"][0]
    assert (line["expected"], line["difference"], line["balance_after"]) == (0, 3, 11)


def test_counts_that_agree_post_nothing_but_the_stocktake_is_recorded(warehouse):
    products = [ProductFactory(stock=n) for n in (0, 3, 9)]
    movements = Movement.objects.count()
    response = count(
        warehouse,
        [{"product": p.id, "counted": n} for p, n in zip(products, (0, 3, 9), strict=True)],
    )
    assert response.status_code == 201
    assert (response.json()["line_count"], response.json()["adjusted"]) == (3, 0)
    assert Movement.objects.count() == movements
    assert Stocktake.objects.get().adjusted == 0


def test_a_count_at_a_named_location_sets_against_that_location(warehouse):
    store = location_create(code="STORE-2", name="High Street")
    product = ProductFactory(stock=6)
    response = count(warehouse, [{"product": product.id, "counted": 4}], location="store-2")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["location"] == "STORE-2"
    assert (body["lines"][0]["expected"], body["lines"][0]["difference"]) == (0, 4)
    assert (on_hand(product, store), on_hand(product)) == (4, 6)


def test_an_archived_product_may_be_counted(warehouse):
    product = ProductFactory(stock=2, is_active=False)
    response = count(warehouse, [{"product": product.id, "counted": 0}])
    assert response.status_code == 201
    assert on_hand(product) == 0


# --- counted_at ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "offset", [timedelta(minutes=2), timedelta(days=365), -timedelta(days=7, minutes=1)]
)
def test_counted_at_in_the_future_or_over_7_days_ago_is_refused(warehouse, offset):
    product = ProductFactory(stock=2)
    response = count(
        warehouse, [{"product": product.id, "counted": 1}], counted_at=timezone.now() + offset
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_counted_at"
    assert set(response.json()) == {"code", "detail", "counted_at", "now"}
    assert not Stocktake.objects.exists() and on_hand(product) == 2


def test_a_counted_at_a_few_seconds_ahead_is_taken_as_now(warehouse):
    product = ProductFactory(stock=2)
    ahead = timezone.now() + timedelta(seconds=20)
    response = count(warehouse, [{"product": product.id, "counted": 1}], counted_at=ahead)
    assert response.status_code == 201, response.json()
    stocktake = Stocktake.objects.get()
    assert stocktake.counted_at < ahead
    assert stocktake.counted_at <= Movement.objects.get(stocktake=stocktake).recorded_at


def test_a_count_older_than_a_count_posted_since_is_refused(warehouse):
    product, other = ProductFactory(stock=10), ProductFactory(stock=1)
    first_count = last_recorded_at(other)
    second_count = timezone.now()
    assert (
        count(
            warehouse, [{"product": product.id, "counted": 8}], counted_at=second_count
        ).status_code
        == 201
    )
    response = count(
        warehouse,
        [{"product": product.id, "counted": 9}, {"product": other.id, "counted": 1}],
        counted_at=first_count,
    )
    assert response.status_code == 409
    assert response.json()["code"] == "count_superseded"
    assert response.json()["products"] == [product.id]
    # A one-product stocktake counts when it is posted: newer than first_count too.
    stock_take(product_id=other.id, counted=3, actor_id=None)
    response = count(warehouse, [{"product": other.id, "counted": 1}], counted_at=first_count)
    assert response.status_code == 409 and response.json()["products"] == [other.id]
    assert Stocktake.objects.count() == 1 and (on_hand(product), on_hand(other)) == (8, 3)


def test_a_count_posted_late_corrects_the_balance_a_newer_count_is_set_against(warehouse):
    product = ProductFactory(stock=10)  # 2 are lost: the shelf holds 8
    first_count = last_recorded_at(product)  # finds 8
    sell(product, 1)  # the shelf holds 7
    second_count = timezone.now()  # finds 7
    assert (
        count(
            warehouse, [{"product": product.id, "counted": 8}], counted_at=first_count
        ).status_code
        == 201
    )
    assert on_hand(product) == 7
    # The balance as of second_count is 9 by the movements before it, but the first
    # count, taken before it, found 2 fewer: the second count agrees with that.
    response = count(warehouse, [{"product": product.id, "counted": 7}], counted_at=second_count)
    assert response.status_code == 201
    line = response.json()["lines"][0]
    assert (line["expected"], line["difference"], line["movement"]) == (7, 0, None)
    assert on_hand(product) == 7


# --- Refusals -----------------------------------------------------------------------------


def test_a_count_that_would_take_stock_below_zero_writes_nothing(warehouse):
    product = ProductFactory(stock=10)
    counted_at = last_recorded_at(product)
    sell(product, 8)
    response = count(warehouse, [{"product": product.id, "counted": 0}], counted_at=counted_at)
    assert response.status_code == 409
    assert response.json()["code"] == "insufficient_stock"
    assert response.json()["lines"] == [{"product": product.id, "requested": 10, "available": 2}]
    assert not Stocktake.objects.exists() and on_hand(product) == 2


def test_a_product_counted_twice_is_refused(warehouse):
    product, other = ProductFactory(stock=1), ProductFactory(stock=1)
    response = count(
        warehouse,
        [
            {"product": product.id, "counted": 1},
            {"product": other.id, "counted": 1},
            {"sku": product.sku, "counted": 2},
        ],
    )
    assert response.status_code == 400
    assert response.json() == {
        "code": "duplicate_count",
        "detail": "A stocktake counts each product once.",
        "products": [product.id],
    }
    assert not Stocktake.objects.exists()


def test_unknown_products_are_listed_together(warehouse):
    product = ProductFactory(stock=1)
    response = count(
        warehouse,
        [
            {"product": product.id, "counted": 1},
            {"product": 999999, "counted": 1},
            {"sku": "NOPE", "counted": 1},
        ],
    )
    assert response.status_code == 400
    assert (response.json()["code"], response.json()["products"], response.json()["skus"]) == (
        "unknown_product",
        [999999],
        ["NOPE"],
    )
    assert not Stocktake.objects.exists()


@pytest.mark.parametrize(
    "body",
    [
        {"lines": []},
        {"lines": [{"product": 1, "counted": -1}]},
        {"lines": [{"product": 1, "counted": 10**12 + 1}]},
        {"lines": [{"counted": 1}]},
        {"lines": [{"product": 1, "counted": 1}], "counted_at": None},
        {"lines": [{"product": 1, "counted": 1}], "counted_at": "yesterday"},
        {"lines": [{"product": 1, "counted": 1}], "reference": "x" * 201},
        {"lines": [{"product": 1, "counted": 1}] * 5001},
    ],
)
def test_malformed_stocktakes_are_400s(warehouse, body):
    body = {"counted_at": timezone.now().isoformat(), **body}
    response = warehouse.post(URL, body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert not Stocktake.objects.exists()


def test_only_warehouse_staff_post_stocktakes(customer, auditor, anon):
    product = ProductFactory(stock=1)
    lines = [{"product": product.id, "counted": 0}]
    assert count(anon, lines).status_code == 401
    for client in (customer, auditor):
        assert count(client, lines).status_code == 403
    assert on_hand(product) == 1


def test_the_same_idempotency_key_replays_the_stocktake(warehouse):
    product = ProductFactory(stock=5)
    counted_at = timezone.now()
    lines = [{"product": product.id, "counted": 4}]
    first = count(warehouse, lines, counted_at=counted_at, key="count-1")
    again = count(warehouse, lines, counted_at=counted_at, key="count-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    assert Stocktake.objects.count() == 1 and on_hand(product) == 4


# --- Cost -----------------------------------------------------------------------------------


@pytest.mark.parametrize("location", [None, "STORE-2"])
def test_a_stocktake_costs_the_same_queries_for_1_10_and_1000_lines(
    warehouse, django_assert_max_num_queries, location
):
    location_create(code="STORE-2", name="High Street")
    products = bulk_products(1000)
    extra = {"location": location} if location else {}
    # token with roles, [the location's lookup], the products, [the location's lock, the
    # rows' opening], the rows' lock, the balances as of counted_at, the stocktake row,
    # then the posting: [the location's lock, the rows' opening], the rows' lock, the
    # balance UPDATE, the movement INSERT; and the SAVEPOINT/RELEASE of the transaction.
    limit = 10 + (5 if location else 0)
    for round_number, lines in enumerate((1, 10, 1000)):
        with django_assert_max_num_queries(limit):
            response = count(
                warehouse,
                [{"product": p.id, "counted": round_number + 1} for p in products[:lines]],
                **extra,
            )
        assert response.status_code == 201, response.json()
        assert response.json()["adjusted"] == lines
