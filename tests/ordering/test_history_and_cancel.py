import pytest

from ledger.models import Movement, StockBalance
from ordering.models import Order
from tests.factories import ProductFactory
from tests.ledger.oracle import assert_ledger_consistent

pytestmark = pytest.mark.django_db


def place(client, product, quantity=1):
    response = client.post(
        "/api/v1/orders/", {"lines": [{"product": product.id, "quantity": quantity}]}, format="json"
    )
    assert response.status_code == 201, response.json()
    return response.json()


def test_customers_see_only_their_own_orders_newest_first(customer, other_customer):
    pen = ProductFactory(stock=10)
    first, second = place(customer, pen), place(customer, pen)
    theirs = place(other_customer, pen)
    body = customer.get("/api/v1/orders/").json()
    assert [o["id"] for o in body["results"]] == [second["id"], first["id"]]
    # Even a customer filter cannot widen the view.
    body = customer.get(f"/api/v1/orders/?customer={other_customer.user.id}").json()
    assert theirs["id"] not in [o["id"] for o in body["results"]]
    response = customer.get(f"/api/v1/orders/{theirs['id']}/")
    assert response.status_code == 404
    assert response.json()["code"] == "order_not_found"


@pytest.mark.parametrize("client_name", ["warehouse", "auditor"])
def test_staff_and_auditors_see_all_orders_and_filter(
    request, client_name, customer, other_customer
):
    client = request.getfixturevalue(client_name)
    pen = ProductFactory(stock=10)
    place(customer, pen)
    theirs = place(other_customer, pen)
    assert client.get("/api/v1/orders/").json()["count"] == 2
    body = client.get(f"/api/v1/orders/?customer={other_customer.user.id}").json()
    assert [o["id"] for o in body["results"]] == [theirs["id"]]
    assert client.get("/api/v1/orders/?status=cancelled").json()["count"] == 0
    assert client.get(f"/api/v1/orders/{theirs['id']}/").status_code == 200


def test_order_list_costs_the_same_queries_for_any_page_size(
    customer, django_assert_max_num_queries
):
    products = [ProductFactory(stock=50) for _ in range(3)]
    for _ in range(15):
        customer.post(
            "/api/v1/orders/",
            {"lines": [{"product": p.id, "quantity": 1} for p in products]},
            format="json",
        )
    with django_assert_max_num_queries(4):  # token, count, orders, lines with products
        body = customer.get("/api/v1/orders/?page_size=15").json()
    assert len(body["results"]) == 15


def test_cancel_reverses_each_line_once(customer):
    pen, ink = ProductFactory(stock=10), ProductFactory(stock=10)
    order = customer.post(
        "/api/v1/orders/",
        {"lines": [{"product": pen.id, "quantity": 3}, {"product": ink.id, "quantity": 1}]},
        format="json",
    ).json()
    response = customer.post(f"/api/v1/orders/{order['id']}/cancel/")
    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert response.json()["cancelled_at"]
    reversals = Movement.objects.filter(kind="reversal").order_by("product_id")
    assert [(m.product_id, m.quantity) for m in reversals] == [(pen.id, 3), (ink.id, 1)]
    for reversal in reversals:
        assert reversal.reverses.kind == "consumption"
        assert reversal.reverses.product_id == reversal.product_id
    assert StockBalance.objects.get(product=pen).on_hand == 10
    again = customer.post(f"/api/v1/orders/{order['id']}/cancel/")
    assert again.status_code == 409
    assert again.json()["code"] == "order_not_cancellable"
    assert Movement.objects.filter(kind="reversal").count() == 2
    assert_ledger_consistent()


def test_customers_cannot_cancel_others_orders(customer, other_customer):
    order = place(customer, ProductFactory(stock=10))
    assert other_customer.post(f"/api/v1/orders/{order['id']}/cancel/").status_code == 404
    assert Order.objects.get().status == "placed"


def test_warehouse_cancels_any_order_auditors_cannot(customer, warehouse, auditor):
    order = place(customer, ProductFactory(stock=10))
    assert auditor.post(f"/api/v1/orders/{order['id']}/cancel/").status_code == 403
    assert warehouse.post(f"/api/v1/orders/{order['id']}/cancel/").status_code == 200


def test_cancel_of_unknown_order_is_a_404(warehouse):
    assert warehouse.post("/api/v1/orders/99999/cancel/").status_code == 404


def test_staff_filter_orders_by_time(warehouse, customer):
    pen = ProductFactory(stock=10)
    first = place(customer, pen)
    second = place(customer, pen)
    boundary = Order.objects.get(pk=second["id"]).created_at.isoformat()
    since = warehouse.get("/api/v1/orders/", {"since": boundary}).json()["results"]
    until = warehouse.get("/api/v1/orders/", {"until": boundary}).json()["results"]
    assert [o["id"] for o in since] == [second["id"]]
    assert [o["id"] for o in until] == [second["id"], first["id"]]
    assert warehouse.get("/api/v1/orders/?since=soon").status_code == 400
