"""Requests found by fuzzing the API against its own OpenAPI schema: each must get a
JSON 4xx, never a 500 or an HTML page."""

import base64
from decimal import Decimal

import pytest
from django.db import IntegrityError

from catalog.services import product_create
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db


def assert_json_error(response, status, code=None):
    assert response.status_code == status, response.content[:300]
    assert response["Content-Type"].startswith("application/json")
    if code:
        assert response.json()["code"] == code


@pytest.mark.parametrize("path", ["/api/v1/orders/", "/api/v1/movements/"])
def test_offsets_postgresql_cannot_store_are_compared_in_utc(warehouse, path):
    ProductFactory(stock=3)
    for value in ("2020-01-01T00:00:00+16:00", "2020-01-01T00:00:00-23:59"):
        assert warehouse.get(path, {"since": value, "until": value}).status_code == 200


def test_export_with_a_far_offset_streams_normally(auditor):
    ProductFactory(stock=3)
    response = auditor.get("/api/v1/movements/export.csv", {"since": "2000-01-01T00:00+20:00"})
    assert b"".join(response.streaming_content).count(b"\n") == 2


@pytest.mark.parametrize("position", [b"p=abc", b"p=1.5", b"r=1&p=x"])
def test_a_forged_cursor_position_is_a_404(auditor, position):
    cursor = base64.b64encode(position).decode()
    assert_json_error(auditor.get(f"/api/v1/movements/?cursor={cursor}"), 404)


def test_deeply_nested_json_is_a_400(anon):
    body = "[" * 5000 + "]" * 5000
    response = anon.post("/api/v1/auth/login/", data=body, content_type="application/json")
    assert_json_error(response, 400, "parse_error")


def test_a_token_that_is_not_utf8_is_a_401(anon):
    response = anon.get("/api/v1/products/", HTTP_AUTHORIZATION="Token \xff\xfe")
    assert_json_error(response, 401)


def test_an_order_total_beyond_the_column_is_a_400(customer):
    product = ProductFactory(price=Decimal("9999999999.99"), stock=500)
    response = customer.post(
        "/api/v1/orders/", {"lines": [{"product": product.id, "quantity": 101}]}, format="json"
    )
    assert_json_error(response, 400, "order_too_large")


def test_an_order_of_more_units_than_allowed_is_a_400(customer):
    product = ProductFactory(stock=100_000)
    lines = [{"product": product.id, "quantity": 6000}] * 2  # merged: 12,000 units
    response = customer.post("/api/v1/orders/", {"lines": lines}, format="json")
    assert_json_error(response, 400, "order_too_large")


def test_a_sku_taken_between_check_and_insert_is_a_409(warehouse, monkeypatch):
    ProductFactory(sku="TAKEN")
    # As if the other request had inserted after this one's uniqueness check passed:
    monkeypatch.setattr(
        "rest_framework.validators.UniqueValidator.__call__", lambda self, value, field: None
    )
    response = warehouse.post(
        "/api/v1/products/", {"sku": "TAKEN", "name": "Other", "price": "1.00"}, format="json"
    )
    assert_json_error(response, 409, "product_exists")
    assert response.json()["field"] == "sku"


def test_other_integrity_errors_are_not_hidden(monkeypatch):
    with pytest.raises(IntegrityError):
        product_create(sku="X", name="Y", price=Decimal("-1"))  # the CHECK constraint


def test_schema_ignores_a_version_parameter(client):
    response = client.get("/api/schema/?version=%00")
    assert response.status_code == 200


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_unsafe_methods_on_unknown_api_paths_are_a_json_404(customer, method):
    response = getattr(customer, method)("/api/v1/products/abc/restocks/")
    assert_json_error(response, 404, "not_found")


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_health_checks_answer_other_methods_with_a_json_405(client, path):
    assert_json_error(client.post(path), 405, "method_not_allowed")


def test_too_many_query_parameters_is_a_json_400(customer):
    response = customer.get("/api/v1/products/?" + "&".join(["a=1"] * 1001))
    assert_json_error(response, 400, "bad_request")


def test_an_unknown_host_is_a_json_400(client):
    assert_json_error(client.get("/healthz", HTTP_HOST="evil.example.com"), 400)


def test_original_logout_works_without_the_trailing_slash(customer):
    assert customer.delete("/auth/logout").status_code == 204
