import pytest

from catalog.models import Product
from ledger.models import StockBalance
from ledger.services import stock_restock
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db

NEW = {"sku": "NEW-1", "name": "New thing", "price": "12.50", "reorder_level": 3}


def test_warehouse_creates_a_product_with_its_balance(warehouse):
    response = warehouse.post("/api/v1/products/", NEW, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["price"] == "12.50"
    assert body["on_hand"] == 0
    assert body["low_stock"] is True
    assert StockBalance.objects.get(product_id=body["id"]).on_hand == 0


@pytest.mark.parametrize("client_name", ["customer", "auditor"])
def test_only_warehouse_creates_or_changes_products(request, client_name):
    client = request.getfixturevalue(client_name)
    product = ProductFactory()
    assert client.post("/api/v1/products/", NEW, format="json").status_code == 403
    response = client.patch(f"/api/v1/products/{product.id}/", {"price": "1.00"}, format="json")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied"


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"price": "-1.00"}, "price"),
        ({"reorder_level": -1}, "reorder_level"),
        ({"price": "1.234"}, "price"),
    ],
)
def test_bad_product_input_is_a_400_naming_the_field(warehouse, change, field):
    response = warehouse.post("/api/v1/products/", {**NEW, **change}, format="json")
    assert response.status_code == 400
    assert field in response.json()["errors"]


@pytest.mark.parametrize("field", ["sku", "name"])
def test_a_taken_sku_or_name_is_a_409_naming_the_field(warehouse, field):
    taken = ProductFactory(sku="TAKEN", name="Taken")
    response = warehouse.post(
        "/api/v1/products/", {**NEW, field: getattr(taken, field)}, format="json"
    )
    assert response.status_code == 409
    assert response.json()["code"] == "product_exists"
    assert response.json()["field"] == field
    other = ProductFactory()
    response = warehouse.patch(
        f"/api/v1/products/{other.id}/", {field: getattr(taken, field)}, format="json"
    )
    assert response.status_code == 409
    assert (response.json()["code"], response.json()["field"]) == ("product_exists", field)


def test_patch_changes_catalogue_fields_not_stock(warehouse):
    product = ProductFactory(stock=4)
    response = warehouse.patch(
        f"/api/v1/products/{product.id}/",
        {"price": "3.00", "is_active": False, "on_hand": 99},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["price"] == "3.00"
    assert response.json()["on_hand"] == 4


def test_list_shows_on_hand_and_low_stock_and_filters(customer):
    low = ProductFactory(name="Blue widget", reorder_level=5, stock=5)
    ok = ProductFactory(name="Red widget", reorder_level=1, stock=10)
    ProductFactory(name="Archived widget", is_active=False)
    body = customer.get("/api/v1/products/").json()
    assert body["count"] == 2  # customers see the active catalogue
    by_id = {p["id"]: p for p in body["results"]}
    assert (by_id[low.id]["on_hand"], by_id[low.id]["low_stock"]) == (5, True)
    assert (by_id[ok.id]["on_hand"], by_id[ok.id]["low_stock"]) == (10, False)
    low_only = customer.get("/api/v1/products/?low_stock=true").json()["results"]
    assert [p["id"] for p in low_only] == [low.id]
    assert customer.get("/api/v1/products/?search=blue").json()["count"] == 1
    assert customer.get(f"/api/v1/products/?search={ok.sku}").json()["count"] == 1
    names = [
        p["name"] for p in customer.get("/api/v1/products/?ordering=-on_hand").json()["results"]
    ]
    assert names == ["Red widget", "Blue widget"]


def test_staff_see_archived_products(warehouse):
    ProductFactory(is_active=False)
    assert warehouse.get("/api/v1/products/?is_active=false").json()["count"] == 1


def test_bad_filter_value_is_a_400(customer):
    response = customer.get("/api/v1/products/?ordering=nope")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"


def test_unknown_product_is_a_404(customer):
    response = customer.get("/api/v1/products/999999/")
    assert response.status_code == 404
    assert response.json()["code"] == "product_not_found"


def test_product_list_costs_the_same_queries_for_any_page_size(
    customer, warehouse, django_assert_max_num_queries
):
    for _ in range(30):
        ProductFactory(stock=2)
    # token + count + page
    with django_assert_max_num_queries(3):
        response = customer.get("/api/v1/products/?page_size=30")
    assert len(response.json()["results"]) == 30


def test_on_hand_is_read_from_the_balance_row_not_summed(customer):
    product = ProductFactory()
    stock_restock(product_id=product.id, quantity=7, actor_id=None)
    # Only the projection is consulted: change it and the API follows.
    StockBalance.objects.filter(product=product).update(on_hand=1234)
    assert customer.get(f"/api/v1/products/{product.id}/").json()["on_hand"] == 1234


def test_a_product_with_movements_cannot_be_deleted():
    from django.db.models import ProtectedError

    product = ProductFactory(stock=1)
    with pytest.raises(ProtectedError):
        Product.objects.filter(pk=product.pk).delete()
