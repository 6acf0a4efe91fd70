"""Reads with locations: product figures in total and per location, a balance now or as
of an instant at one location or summed, movement history and export by location."""

import csv
import io
from datetime import timedelta

import pytest

from ledger.models import Location, Movement, StockBalance
from ledger.services import location_create, stock_adjust, stock_restock
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def store():
    return location_create(code="STORE-2", name="High Street")


def at(location, on_hand, reserved=0, incoming=0):
    return {
        "location": location,
        "on_hand": on_hand,
        "reserved": reserved,
        "available": on_hand - reserved,
        "incoming": incoming,
    }


def test_a_product_shows_its_figures_in_total_and_per_location(customer, store):
    product = ProductFactory(stock=5, reorder_level=8)
    stock_restock(product_id=product.id, quantity=4, actor_id=None, location_id=store.id)
    StockBalance.objects.filter(product=product, location=store).update(reserved=1)

    body = customer.get(f"/api/v1/products/{product.id}/").json()

    assert (body["on_hand"], body["reserved"], body["available"], body["incoming"]) == (9, 1, 8, 0)
    assert body["low_stock"] is False  # on hand over all locations: 9 > 8
    assert body["locations"] == [at("MAIN", 5), at("STORE-2", 4, reserved=1)]
    listed = customer.get("/api/v1/products/").json()["results"]
    assert listed == [body]


def test_archived_empty_locations_drop_out_of_the_product_figures(warehouse, store):
    product = ProductFactory(stock=1)
    stock_restock(product_id=product.id, quantity=2, actor_id=None, location_id=store.id)
    stock_adjust(
        product_id=product.id, quantity=-2, reason="lost", actor_id=None, location_id=store.id
    )
    assert [
        row["location"]
        for row in warehouse.get(f"/api/v1/products/{product.id}/").json()["locations"]
    ] == ["MAIN", "STORE-2"]
    warehouse.patch("/api/v1/locations/STORE-2/", {"is_active": False}, format="json")
    body = warehouse.get(f"/api/v1/products/{product.id}/").json()
    assert body["locations"] == [at("MAIN", 1)]


def test_the_product_list_costs_the_same_queries_with_several_locations(
    customer, django_assert_max_num_queries
):
    locations = [location_create(code=f"SHOP-{n}", name=f"Shop {n}") for n in range(3)]
    for _ in range(30):
        product = ProductFactory(stock=2)
        for location in locations:
            stock_restock(product_id=product.id, quantity=1, actor_id=None, location_id=location.id)
    # token + count + page, the figures per location included
    with django_assert_max_num_queries(3):
        response = customer.get("/api/v1/products/?page_size=30&ordering=-available")
    results = response.json()["results"]
    assert len(results) == 30
    assert response.json()["count"] == 30
    assert {len(p["locations"]) for p in results} == {4}
    assert {p["available"] for p in results} == {5}


def test_filters_and_ordering_use_the_totals(customer, store):
    low = ProductFactory(name="Low", reorder_level=5, stock=3)
    high = ProductFactory(name="High", reorder_level=5, stock=3)
    stock_restock(product_id=high.id, quantity=10, actor_id=None, location_id=store.id)
    body = customer.get("/api/v1/products/?low_stock=true").json()
    assert (body["count"], [p["id"] for p in body["results"]]) == (1, [low.id])
    names = [
        p["name"] for p in customer.get("/api/v1/products/?ordering=-on_hand").json()["results"]
    ]
    assert names == ["High", "Low"]


def test_the_original_api_sells_what_is_available(customer, store):
    product = ProductFactory(stock=5)
    stock_restock(product_id=product.id, quantity=2, actor_id=None, location_id=store.id)
    StockBalance.objects.filter(product=product, location__is_default=True).update(reserved=4)
    rows = customer.get("/store/products").json()["results"]
    assert [(row["id"], row["quantity_in_stock"]) for row in rows] == [(product.id, 3)]
    assert customer.get(f"/store/products/{product.id}").json()["quantity_in_stock"] == 3


def test_balance_now_in_total_and_at_a_location(auditor, store):
    product = ProductFactory(stock=5)
    stock_restock(product_id=product.id, quantity=4, actor_id=None, location_id=store.id)
    balance = f"/api/v1/products/{product.id}/balance/"

    total = auditor.get(balance).json()
    assert {k: total[k] for k in ("location", "on_hand", "available", "seq")} == {
        "location": None,
        "on_hand": 9,
        "available": 9,
        "seq": 2,
    }
    assert [(row["location"], row["on_hand"], row["seq"]) for row in total["locations"]] == [
        ("MAIN", 5, 1),
        ("STORE-2", 4, 1),
    ]
    here = auditor.get(balance, {"location": "store-2"}).json()
    assert (here["location"], here["on_hand"], here["seq"], len(here["locations"])) == (
        "STORE-2",
        4,
        1,
        1,
    )
    # A location the product was never kept at: zeros.
    location_create(code="STORE-3", name="Kiosk")
    elsewhere = auditor.get(balance, {"location": "STORE-3"}).json()
    assert (elsewhere["on_hand"], elsewhere["seq"]) == (0, 0)
    unknown = auditor.get(balance, {"location": "NOPE"})
    assert (unknown.status_code, unknown.json()["code"]) == (400, "unknown_location")
    assert auditor.get(balance, {"location": "a b"}).status_code == 400
    assert auditor.get("/api/v1/products/999999/balance/", {"location": "MAIN"}).status_code == 404


def test_as_of_at_a_location_and_summed(auditor, store):
    product = ProductFactory()
    main = Location.objects.get(is_default=True)
    steps = [
        stock_restock(product_id=product.id, quantity=10, actor_id=None),
        stock_restock(product_id=product.id, quantity=6, actor_id=None, location_id=store.id),
        stock_adjust(product_id=product.id, quantity=-3, reason="lost", actor_id=None),
        stock_adjust(
            product_id=product.id, quantity=-1, reason="lost", actor_id=None, location_id=store.id
        ),
    ]
    balance = f"/api/v1/products/{product.id}/balance/"
    expected = [  # (total, MAIN, STORE-2) on hand right after each step
        (10, 10, 0),
        (16, 10, 6),
        (13, 7, 6),
        (12, 7, 5),
    ]
    for movement, (total, main_units, store_units) in zip(steps, expected, strict=True):
        when = movement.recorded_at.isoformat()
        body = auditor.get(balance, {"as_of": when}).json()
        assert body["on_hand"] == total
        assert {row["location"]: row["on_hand"] for row in body["locations"]} == {
            "MAIN": main_units,
            "STORE-2": store_units,
        }
        here = auditor.get(balance, {"as_of": when, "location": "STORE-2"}).json()
        assert here["on_hand"] == store_units
        there = auditor.get(balance, {"as_of": when, "location": main.id}).json()
        assert there["on_hand"] == main_units
    before = (steps[0].recorded_at - timedelta(seconds=1)).isoformat()
    body = auditor.get(balance, {"as_of": before}).json()
    assert (body["on_hand"], body["seq"]) == (0, 0)


def test_as_of_is_one_statement_whatever_the_number_of_locations(
    auditor, django_assert_max_num_queries
):
    product = ProductFactory(stock=1)
    for n in range(5):
        location = location_create(code=f"SHOP-{n}", name=f"Shop {n}")
        stock_restock(product_id=product.id, quantity=1, actor_id=None, location_id=location.id)
    last = Movement.objects.order_by("-id").first().recorded_at.isoformat()
    # token + the as-of statement
    with django_assert_max_num_queries(2):
        body = auditor.get(f"/api/v1/products/{product.id}/balance/", {"as_of": last}).json()
    assert (body["on_hand"], len(body["locations"])) == (6, 6)


def test_history_and_export_filter_and_show_the_location(auditor, store):
    product = ProductFactory(sku="LOC-1", stock=3)
    stock_restock(product_id=product.id, quantity=5, actor_id=None, location_id=store.id)

    def quantities(query):
        return [m["quantity"] for m in auditor.get(f"/api/v1/movements/?{query}").json()["results"]]

    assert quantities("location=STORE-2") == [5]
    assert quantities("location=store-2") == [5]
    assert quantities(f"location={store.id}") == [5]
    assert quantities("location=MAIN") == [3]
    assert quantities("location=NOWHERE") == []
    assert quantities("location=9999999999999999999") == []  # past bigint
    response = auditor.get("/api/v1/movements/?location=a%20b")
    assert response.status_code == 400
    assert "location" in response.json()["errors"]
    assert [m["location"] for m in auditor.get("/api/v1/movements/").json()["results"]] == [
        "STORE-2",
        "MAIN",
    ]

    response = auditor.get("/api/v1/movements/export.csv?location=STORE-2")
    text = b"".join(response.streaming_content).decode()
    header = text.splitlines()[0].split(",")
    # New columns go last: readers of an older layout keep working.
    assert header[15:] == [
        "location",
        "reserved_after",
        "incoming_after",
        "reservation",
        "transfer",
        "receipt",
        "stocktake",
    ]
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [(row["sku"], row["quantity"], row["location"]) for row in rows] == [
        ("LOC-1", "5", "STORE-2")
    ]


def test_the_low_stock_report_sums_the_locations(store):
    from ledger.reports import low_stock_report

    low = ProductFactory(sku="LOW", reorder_level=10, stock=4)
    ok = ProductFactory(sku="OK", reorder_level=10, stock=4)
    stock_restock(product_id=ok.id, quantity=8, actor_id=None, location_id=store.id)
    stock_restock(product_id=low.id, quantity=2, actor_id=None, location_id=store.id)
    stock_adjust(product_id=low.id, quantity=-1, reason="lost", actor_id=None, location_id=store.id)
    rows = low_stock_report()
    assert [(row.sku, row.on_hand, row.shortfall) for row in rows] == [("LOW", 5, 5)]
    assert (
        rows[0].last_restock_at
        == Movement.objects.get(product=low, location=store, kind="restock").recorded_at
    )


def test_a_location_crossing_the_reorder_level_alerts_for_that_location(store, settings):
    from django.core import mail
    from django.core.management import call_command

    from ledger.models import StockAlert

    settings.LOW_STOCK_ALERT_EMAILS = ["stock@example.com"]
    product = ProductFactory(sku="ALRT", reorder_level=2, stock=50)
    stock_restock(product_id=product.id, quantity=3, actor_id=None, location_id=store.id)
    stock_adjust(
        product_id=product.id, quantity=-1, reason="lost", actor_id=None, location_id=store.id
    )
    alert = StockAlert.objects.get()
    assert (alert.on_hand, alert.movement.location_id) == (2, store.id)
    call_command("send_stock_alerts", stdout=io.StringIO())
    (message,) = mail.outbox
    assert "fell to or below its reorder level at STORE-2 (High Street)" in message.body
    assert "On hand now:                2" in message.body
