"""What the read pages show: filters, cursor pages, the balance as of an instant, the
integrity check and orders with their movements."""

import re
from datetime import UTC, datetime, timedelta

from ledger.models import Movement
from ledger.services import location_create, stock_restock
from ordering.services import order_place
from tests.factories import ProductFactory, UserFactory


def skus(page: str) -> list[str]:
    return re.findall(r'data-sku="([^"]+)"', page)


def test_products_are_searched_and_filtered_by_location_and_low_stock(staff):
    east = location_create(code="EAST", name="East")
    ProductFactory(sku="PEN-1", name="Pen", stock=1, reorder_level=5)
    pad = ProductFactory(sku="PAD-1", name="Pad", stock=9, reorder_level=5)
    stock_restock(product_id=pad.id, quantity=2, location_id=east.id, actor_id=None)
    assert skus(staff.get("/console/products/").content.decode()) == ["PEN-1", "PAD-1"]
    assert skus(staff.get("/console/products/?q=pa").content.decode()) == ["PAD-1"]
    assert skus(staff.get("/console/products/?low=1").content.decode()) == ["PEN-1"]
    page = staff.get("/console/products/?location=EAST").content.decode()
    assert skus(page) == ["PAD-1"]
    assert ">EAST</td>" in page and ">MAIN</td>" not in page


def test_the_product_page_shows_the_balance_as_of_an_instant(staff):
    product = ProductFactory(stock=4)
    before = datetime.now(UTC)
    stock_restock(product_id=product.id, quantity=6, actor_id=None)
    moment = before.strftime("%Y-%m-%dT%H:%M:%S.%f")
    page = staff.get(f"/console/products/{product.id}/?as_of={moment}").content.decode()
    assert re.search(r"<strong>4</strong> on hand", page)
    page = staff.get(f"/console/products/{product.id}/").content.decode()
    assert f'href="/console/movements.csv?product={product.id}"' in page
    assert '"v": 10' in page  # the chart's last point: 4 + 6


def test_movements_come_in_cursor_pages_with_filters(staff):
    product = ProductFactory(sku="PEN-1")
    for _ in range(55):
        stock_restock(product_id=product.id, quantity=1, actor_id=None, reference="DN")
    page = staff.get("/console/movements/?sku=PEN-1").content.decode()
    older = re.search(r'href="\?([^"]*before=(\d+))" rel="next"', page)
    assert page.count("<tr class=") == 50
    page = staff.get("/console/movements/?" + older.group(1).replace("&amp;", "&")).content
    assert page.decode().count("<tr class=") == 5
    assert (
        staff.get("/console/movements/?kind=consumption").content.decode().count("<tr class=") == 0
    )
    since = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M")
    assert "No movements." in staff.get(f"/console/movements/?since={since}").content.decode()
    assert "No movements." in staff.get("/console/movements/?location=NOWHERE").content.decode()


def test_the_integrity_check_runs_on_demand(auditor_session):
    ProductFactory(stock=3)
    assert "No problem found" not in auditor_session.get("/console/verify/").content.decode()
    page = auditor_session.get("/console/verify/?run=1").content.decode()
    assert "No problem found." in page
    assert re.search(r"1 products and 1 movements checked in [0-9.]+ s", page)


def test_an_order_is_shown_with_its_movements(auditor_session):
    product = ProductFactory(sku="PEN-1", stock=5)
    order = order_place(customer_id=UserFactory().id, lines=[(product.id, 2)])
    page = auditor_session.get(f"/console/orders/{order.id}/").content.decode()
    consumption = Movement.objects.get(order_line__order=order)
    assert f"<td>{consumption.id}</td>" in page
    assert f"Order {order.id}" in auditor_session.get("/console/orders/").content.decode()
    assert auditor_session.get("/console/orders/999999/").status_code == 404
