"""The dashboard, the product list and the product page cost a constant number of
queries whatever the number of rows they show."""

from django.db import connection
from django.test.utils import CaptureQueriesContext

from ledger.models import Location
from ledger.reservations import reservation_create
from ledger.services import location_create, stock_adjust, stock_restock
from ledger.transfers import transfer_create
from tests.factories import ProductFactory


def queries(client, path: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(path).status_code == 200
    return len(captured)


def activity(n: int, user_id: int, east_id: int, main_id: int) -> list:
    """n products that are low, alerted, held, in transit and moved."""
    products = [ProductFactory(stock=5, reorder_level=4) for _ in range(n)]
    for product in products:
        stock_adjust(product_id=product.id, quantity=-2, reason="lost", actor_id=user_id)
        reservation_create(
            customer_id=user_id, created_by_id=user_id, lines=[(product.id, 1)], ttl_seconds=60
        )
        transfer_create(
            from_location_id=main_id,
            to_location_id=east_id,
            lines=[(product.id, 1)],
            actor_id=user_id,
        )
    return products


def test_the_dashboard_costs_the_same_for_2_and_10_rows_of_each_kind(
    staff, django_assert_max_num_queries
):
    user_id = int(staff.session["_auth_user_id"])
    east = location_create(code="EAST", name="East")
    main = Location.objects.get(is_default=True)
    activity(2, user_id, east.id, main.id)
    few = queries(staff, "/console/")
    activity(8, user_id, east.id, main.id)
    page = staff.get("/console/").content.decode()
    assert page.count('href="/console/products/') >= 10
    with django_assert_max_num_queries(few):
        staff.get("/console/")
    assert few <= 10  # with holds and transfers shown, their lines are one query each


def test_the_product_list_costs_the_same_for_2_and_25_products(
    staff, django_assert_max_num_queries
):
    east = location_create(code="EAST", name="East")
    for _ in range(2):
        product = ProductFactory(stock=3)
        stock_restock(product_id=product.id, quantity=2, location_id=east.id, actor_id=None)
    few = queries(staff, "/console/products/")
    for _ in range(23):
        product = ProductFactory(stock=3)
        stock_restock(product_id=product.id, quantity=2, location_id=east.id, actor_id=None)
    page = staff.get("/console/products/").content.decode()
    assert page.count("data-sku=") == 25
    with django_assert_max_num_queries(few):
        staff.get("/console/products/?location=EAST&q=Product")
    assert few <= 6


def test_the_product_page_costs_the_same_for_3_and_60_movements(
    staff, django_assert_max_num_queries
):
    east = location_create(code="EAST", name="East")
    product = ProductFactory(stock=3)
    stock_restock(product_id=product.id, quantity=2, location_id=east.id, actor_id=None)
    path = f"/console/products/{product.id}/"
    few = queries(staff, path)
    for _ in range(57):
        stock_restock(product_id=product.id, quantity=1, actor_id=None)
    page = staff.get(path).content.decode()
    assert page.count("<tr class=") == 25  # a full page of history
    with django_assert_max_num_queries(few):
        staff.get(path)
    with django_assert_max_num_queries(few + 1):  # the as-of balance: one statement more
        staff.get(path + "?as_of=2026-01-01T00:00")
    assert few <= 7
