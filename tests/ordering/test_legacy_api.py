from decimal import Decimal

import pytest

from ledger.models import StockBalance
from ordering.models import Order
from tests.factories import PASSWORD, ProductFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def seed_client(anon):
    """A client of the original API: logs in at /auth/login/ and sends its token."""
    UserFactory(username="shopper")
    token = anon.post(
        "/auth/login/", {"username": "shopper", "password": PASSWORD}, format="json"
    ).json()["token"]
    anon.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    return anon


def test_store_products_have_the_original_shape(seed_client):
    pen = ProductFactory(name="Pen", price=Decimal("1.5"), stock=7)
    ProductFactory(is_active=False)
    body = seed_client.get("/store/products").json()
    assert set(body) == {"count", "next", "previous", "results"}
    assert body["results"] == [
        {"id": pen.id, "name": "Pen", "price": "1.50", "quantity_in_stock": 7}
    ]
    assert seed_client.get(f"/store/products/{pen.id}").json()["quantity_in_stock"] == 7
    assert seed_client.get("/store/products/999999").status_code == 404


def test_store_order_takes_one_unit_per_id(seed_client):
    pen, ink = ProductFactory(stock=5), ProductFactory(stock=5)
    response = seed_client.post(
        "/store/orders", {"products": [pen.id, ink.id, pen.id]}, format="json"
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) == {"id", "user", "datetime", "products"}
    assert sorted(body["products"]) == sorted([pen.id, pen.id, ink.id])
    assert StockBalance.objects.get(product=pen).on_hand == 3
    listed = seed_client.get("/store/orders").json()["results"]
    assert [o["id"] for o in listed] == [body["id"]]
    assert seed_client.get(f"/store/orders/{body['id']}").json() == body
    # the same order through the new API
    order = Order.objects.get()
    assert [(line.product_id, line.quantity) for line in order.lines.order_by("product_id")] == [
        (pen.id, 2),
        (ink.id, 1),
    ]


def test_store_order_short_stock_is_a_400_and_writes_nothing(seed_client):
    pen, ink = ProductFactory(stock=5), ProductFactory(stock=1)
    response = seed_client.post(
        "/store/orders", {"products": [pen.id, ink.id, ink.id]}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "product_out_of_stock"
    assert not Order.objects.exists()
    assert StockBalance.objects.get(product=pen).on_hand == 5


@pytest.mark.parametrize("products", [[424242], [], "abc", None])
def test_store_order_bad_input_is_a_400(seed_client, products):
    ProductFactory(stock=5)
    response = seed_client.post("/store/orders", {"products": products}, format="json")
    assert response.status_code == 400
    assert not Order.objects.exists()


def test_store_orders_are_private(seed_client, customer):
    pen = ProductFactory(stock=5)
    mine = seed_client.post("/store/orders", {"products": [pen.id]}, format="json").json()
    assert customer.get(f"/store/orders/{mine['id']}").status_code == 404
    assert customer.get("/store/orders").json()["count"] == 0


def test_store_needs_a_token(anon):
    assert anon.get("/store/products").status_code == 401


@pytest.mark.parametrize(
    ("path", "key"), [("/store/products/0", "product"), ("/store/orders/0", "order")]
)
def test_store_not_found_names_the_id_as_a_number(seed_client, path, key):
    response = seed_client.get(path)
    assert response.status_code == 404
    assert response.json()[key] == 0


def test_a_store_order_posted_as_a_form_may_hold_every_unit_allowed(seed_client):
    pen = ProductFactory(stock=2000)
    body = "&".join([f"products={pen.id}"] * 1500)
    response = seed_client.post(
        "/store/orders", body, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 201, response.content[:300]
    assert len(response.json()["products"]) == 1500
