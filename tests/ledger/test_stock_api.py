import pytest

from ledger.models import Movement, StockAlert, StockBalance
from tests.factories import ProductFactory
from tests.ledger.oracle import assert_ledger_consistent

pytestmark = pytest.mark.django_db

MOVEMENT_FIELDS = {
    "id",
    "product",
    "kind",
    "quantity",
    "reason",
    "seq",
    "balance_after",
    "recorded_at",
    "actor",
    "reference",
    "note",
    "order_line",
    "reverses",
    "location",
    "reserved_after",
    "incoming_after",
    "reservation",
    "transfer",
    "receipt",
    "stocktake",
}


def url(product, action):
    return f"/api/v1/products/{product.id}/{action}/"


def test_restock_posts_a_movement_and_raises_the_balance(warehouse):
    product = ProductFactory(stock=2)
    response = warehouse.post(
        url(product, "restocks"), {"quantity": 5, "reference": "DN-7"}, format="json"
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) == MOVEMENT_FIELDS
    assert (body["kind"], body["quantity"], body["seq"], body["balance_after"]) == (
        "restock",
        5,
        2,
        7,
    )
    assert body["actor"] == warehouse.user.id
    assert body["reference"] == "DN-7"
    assert StockBalance.objects.get(product=product).on_hand == 7
    assert_ledger_consistent()


@pytest.mark.parametrize("quantity", [0, -1, "x", None, 1.5])
def test_restock_needs_a_positive_whole_quantity(warehouse, quantity):
    product = ProductFactory()
    response = warehouse.post(url(product, "restocks"), {"quantity": quantity}, format="json")
    assert response.status_code == 400
    assert "quantity" in response.json()["errors"]
    assert not Movement.objects.exists()


def test_restock_of_an_unknown_product_is_a_404(warehouse):
    response = warehouse.post("/api/v1/products/424242/restocks/", {"quantity": 1}, format="json")
    assert response.status_code == 404
    assert response.json()["code"] == "product_not_found"


def test_adjustment_below_zero_is_a_409_and_posts_nothing(warehouse):
    product = ProductFactory(stock=3)
    response = warehouse.post(
        url(product, "adjustments"), {"quantity": -4, "reason": "damaged"}, format="json"
    )
    assert response.status_code == 409
    assert response.json() == {
        "code": "insufficient_stock",
        "detail": "Not enough stock.",
        "lines": [{"product": product.id, "requested": 4, "available": 3}],
    }
    assert Movement.objects.count() == 1


def test_adjustment_posts_a_signed_quantity_with_its_reason(warehouse):
    product = ProductFactory(stock=3)
    body = warehouse.post(
        url(product, "adjustments"),
        {"quantity": -2, "reason": "lost", "note": "shelf 4"},
        format="json",
    ).json()
    assert (body["kind"], body["quantity"], body["reason"], body["balance_after"]) == (
        "adjustment",
        -2,
        "lost",
        1,
    )
    body = warehouse.post(
        url(product, "adjustments"), {"quantity": 4, "reason": "found"}, format="json"
    ).json()
    assert body["balance_after"] == 5


@pytest.mark.parametrize(
    "payload",
    [
        {"quantity": 0, "reason": "lost"},
        {"quantity": 1, "reason": "stocktake"},
        {"quantity": 1, "reason": "stolen"},
        {"quantity": 1},
    ],
)
def test_bad_adjustments_are_a_400(warehouse, payload):
    product = ProductFactory(stock=3)
    assert warehouse.post(url(product, "adjustments"), payload, format="json").status_code == 400


def test_stocktake_posts_the_difference(warehouse):
    product = ProductFactory(stock=10)
    body = warehouse.post(url(product, "stocktakes"), {"counted": 7}, format="json").json()
    assert (body["kind"], body["quantity"], body["reason"], body["balance_after"]) == (
        "adjustment",
        -3,
        "stocktake",
        7,
    )
    body = warehouse.post(url(product, "stocktakes"), {"counted": 9}, format="json").json()
    assert body["quantity"] == 2


def test_stocktake_that_matches_posts_nothing(warehouse):
    product = ProductFactory(stock=10)
    response = warehouse.post(url(product, "stocktakes"), {"counted": 10}, format="json")
    assert response.status_code == 200
    assert response.json()["movement"] is None
    assert Movement.objects.count() == 1


def test_negative_count_is_a_400(warehouse):
    product = ProductFactory(stock=1)
    assert (
        warehouse.post(url(product, "stocktakes"), {"counted": -1}, format="json").status_code
        == 400
    )


@pytest.mark.parametrize(
    "action,payload",
    [
        ("restocks", {"quantity": 1}),
        ("adjustments", {"quantity": 1, "reason": "found"}),
        ("stocktakes", {"counted": 3}),
    ],
)
@pytest.mark.parametrize("client_name", ["customer", "auditor", "anon"])
def test_only_warehouse_posts_stock(request, client_name, action, payload):
    client = request.getfixturevalue(client_name)
    product = ProductFactory(stock=1)
    response = client.post(url(product, action), payload, format="json")
    assert response.status_code == (401 if client_name == "anon" else 403)
    assert Movement.objects.count() == 1


def test_posting_a_restock_costs_a_fixed_number_of_queries(
    warehouse, django_assert_max_num_queries
):
    product = ProductFactory(stock=1)
    for _ in range(20):
        warehouse.post(url(product, "restocks"), {"quantity": 1}, format="json")
    # One statement checks the token and posts (ledger.checked_restock); the service's
    # transaction shows up as SAVEPOINT/RELEASE inside the test's own transaction.
    # The length of the history does not matter.
    with django_assert_max_num_queries(3):
        response = warehouse.post(url(product, "restocks"), {"quantity": 1}, format="json")
    assert response.status_code == 201


def test_crossing_the_reorder_level_writes_one_alert(warehouse):
    product = ProductFactory(stock=10, reorder_level=5)
    for quantity in (-4, -1, -1):  # 6 (above), 5 (crossed), 4 (still below)
        warehouse.post(
            url(product, "adjustments"), {"quantity": quantity, "reason": "lost"}, format="json"
        )
    alert = StockAlert.objects.get()
    assert (alert.on_hand, alert.reorder_level, alert.movement.seq) == (5, 5, 3)
