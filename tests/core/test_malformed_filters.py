"""A malformed query parameter is a JSON 400 `invalid` that names it, on every list
endpoint: never silently ignored (which would answer the unfiltered list)."""

import pytest

from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db

PAGE_NUMBERED = [
    "/api/v1/products/",
    "/api/v1/orders/",
    "/api/v1/stock-alerts/",
    "/store/products",
    "/store/orders",
]
CURSOR_PAGED = ["/api/v1/movements/"]

MALFORMED = [
    ("/api/v1/products/", "is_active", "maybe"),
    ("/api/v1/products/", "low_stock", "yes please"),
    ("/api/v1/products/", "ordering", "nonsense"),
    ("/api/v1/products/", "ordering", "name,-nonsense"),
    ("/api/v1/movements/", "product", "abc"),
    ("/api/v1/movements/", "product", "1.5"),
    ("/api/v1/movements/", "actor", "abc"),
    ("/api/v1/movements/", "order", "1e3"),
    ("/api/v1/movements/", "kind", "bogus"),
    ("/api/v1/movements/", "since", "notadate"),
    ("/api/v1/movements/", "until", "2026-13-01T00:00:00Z"),
    ("/api/v1/movements/export.csv", "product", "abc"),
    ("/api/v1/movements/export.csv", "kind", "bogus"),
    ("/api/v1/movements/export.csv", "since", "notadate"),
    ("/api/v1/orders/", "customer", "abc"),
    ("/api/v1/orders/", "status", "foo"),
    ("/api/v1/orders/", "since", "yesterday"),
    ("/api/v1/stock-alerts/", "status", "foo"),
    ("/api/v1/stock-alerts/", "product", "abc"),
    ("/api/v1/products/{id}/balance/", "as_of", "notadate"),
    *[(path, "page_size", value) for path in PAGE_NUMBERED for value in ("x", "0", "-5")],
    *[(path, "page", value) for path in PAGE_NUMBERED for value in ("abc", "0", "1.5")],
    *[(path, "page_size", value) for path in CURSOR_PAGED for value in ("x", "0")],
]


def assert_invalid(response, parameter):
    assert response.status_code == 400, response.content[:300]
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert body["code"] == "invalid"
    assert parameter in body["errors"], body


@pytest.mark.parametrize(("path", "parameter", "value"), MALFORMED)
@pytest.mark.parametrize("role", ["warehouse", "customer"])
def test_a_malformed_query_parameter_is_a_400_naming_it(request, role, path, parameter, value):
    client = request.getfixturevalue(role)
    product = ProductFactory(stock=5)
    response = client.get(path.format(id=product.id), {parameter: value})
    if response.status_code == 403:  # the ledger is not the customer's to read
        assert role == "customer"
        return
    assert_invalid(response, parameter)


@pytest.mark.parametrize(
    ("path", "query"),
    [
        ("/api/v1/products/", {"is_active": "true", "low_stock": "0", "ordering": "-on_hand,name"}),
        ("/api/v1/products/", {"is_active": "False", "page": "1", "page_size": "1000"}),
        ("/api/v1/products/", {"page": "last", "is_active": ""}),
        ("/api/v1/movements/", {"product": "1", "order": "7", "kind": "restock"}),
        ("/api/v1/movements/", {"since": "2026-01-01T00:00:00Z", "page_size": "3"}),
        ("/api/v1/orders/", {"status": "placed", "customer": "12"}),
        ("/api/v1/stock-alerts/", {"status": "pending", "product": "3"}),
    ],
)
def test_well_formed_query_parameters_are_accepted(warehouse, path, query):
    ProductFactory(stock=5)
    assert warehouse.get(path, query).status_code == 200


def test_a_page_past_the_end_is_still_a_404(customer):
    response = customer.get("/api/v1/products/", {"page": "99"})
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_a_customer_filter_from_a_customer_is_validated_too(customer):
    assert_invalid(customer.get("/api/v1/orders/", {"customer": "abc"}), "customer")


@pytest.mark.parametrize("value", ["0", "-3", str(2**63)])
def test_an_id_filter_outside_the_ids_range_is_a_400(warehouse, value):
    assert_invalid(warehouse.get("/api/v1/stock-alerts/", {"product": value}), "product")


@pytest.mark.parametrize(
    ("path", "parameter"),
    [
        ("/api/v1/movements/", "until"),
        ("/api/v1/orders/", "customer"),
        ("/api/v1/products/", "is_active"),
        ("/api/v1/products/", "page_size"),
        ("/api/v1/products/{id}/balance/", "as_of"),
    ],
)
def test_an_empty_query_parameter_means_not_given(warehouse, path, parameter):
    product = ProductFactory(stock=5)
    assert warehouse.get(path.format(id=product.id), {parameter: ""}).status_code == 200
