"""The unfiltered product list is read by hand-written SQL (catalog.selectors.
CatalogueRows); it must answer exactly what the filtered path (the annotated queryset)
answers for the same products: totals, availability, low stock, per-location figures
(archived locations only while they hold something), pages and counts."""

import pytest

from ledger.reservations import reservation_create
from ledger.services import location_create, location_update, stock_adjust, stock_restock
from tests.factories import ProductFactory, UserFactory


@pytest.fixture
def catalogue(db):
    """Products in every state the list shows: no stock, stock at several locations,
    reserved units, an archived location (emptied first, as archiving requires) and an
    active one with a balance row at zero, an archived product."""
    side = location_create(code="SIDE", name="Side")
    gone = location_create(code="GONE", name="Gone")
    empty = location_create(code="EMPTY", name="Empty")
    products = [ProductFactory(reorder_level=level) for level in (0, 5, 10, 0, 3)]
    products.append(ProductFactory(stock=4, is_active=False))
    stock_restock(product_id=products[1].id, quantity=7, actor_id=None)
    stock_restock(product_id=products[1].id, quantity=2, actor_id=None, location_id=side.id)
    stock_restock(product_id=products[2].id, quantity=3, actor_id=None, location_id=gone.id)
    stock_restock(product_id=products[3].id, quantity=9, actor_id=None)
    stock_restock(product_id=products[4].id, quantity=1, actor_id=None, location_id=empty.id)
    stock_adjust(
        product_id=products[2].id, quantity=-3, reason="lost", actor_id=None, location_id=gone.id
    )
    stock_adjust(
        product_id=products[4].id, quantity=-1, reason="lost", actor_id=None, location_id=empty.id
    )
    buyer = UserFactory().id
    reservation_create(lines=[(products[3].id, 4)], customer_id=buyer, created_by_id=buyer)
    location_update(location_id=gone.id, is_active=False)
    return products


def _pages(client, filtered: bool, page_size: int) -> list:
    # ordering=id names a filter that changes nothing: the annotated queryset answers.
    suffix = "&ordering=id" if filtered else ""
    answers, url = [], f"/api/v1/products/?page_size={page_size}{suffix}"
    while url:
        response = client.get(url)
        assert response.status_code == 200
        body = response.json()
        answers.append({**body, "next": bool(body["next"]), "previous": bool(body["previous"])})
        url = body["next"]
    return answers


@pytest.mark.parametrize("page_size", [2, 50])
def test_the_unfiltered_list_matches_the_queryset(catalogue, warehouse, customer, page_size):
    for client in (warehouse, customer):
        unfiltered = _pages(client, filtered=False, page_size=page_size)
        assert unfiltered == _pages(client, filtered=True, page_size=page_size)
    staff = [p for page in _pages(warehouse, False, 50) for p in page["results"]]
    assert len(staff) == 6
    assert [p["is_active"] for p in staff] == [True] * 5 + [False]
    assert len([p for page in _pages(customer, False, 50) for p in page["results"]]) == 5
    by_id = {p["id"]: p for p in staff}
    second, third, fourth, fifth = (by_id[p.id] for p in catalogue[1:5])
    assert [loc["location"] for loc in second["locations"]] == ["MAIN", "SIDE"]
    assert (second["on_hand"], second["low_stock"]) == (9, False)
    assert [loc["location"] for loc in third["locations"]] == ["MAIN"]
    assert (third["on_hand"], third["low_stock"]) == (0, True)
    assert (fourth["reserved"], fourth["available"]) == (4, 5)
    assert [loc["location"] for loc in fifth["locations"]] == ["MAIN", "EMPTY"]


def test_a_page_past_the_end_is_still_a_404(catalogue, customer):
    assert customer.get("/api/v1/products/?page=9").status_code == 404
    assert customer.get("/api/v1/products/?page=last&page_size=2").json()["previous"]
