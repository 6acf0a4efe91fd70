"""The OpenAPI schema: valid OpenAPI, generated without warnings, every operation's
errors and limits documented, and every request example accepted as shown."""

import json

import pytest
import yaml
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.db import connection
from openapi_spec_validator import validate

from demo.services import DEMO_USERS
from tests.conftest import client_for
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db

ERROR_REF = "#/components/schemas/Error"


@pytest.fixture
def schema(client):
    response = client.get("/api/schema/", {"format": "json"})
    assert response.status_code == 200
    return json.loads(response.content)


def operations(schema):
    for path, methods in schema["paths"].items():
        for method, operation in methods.items():
            yield path, method, operation


def test_schema_generates_without_warnings_and_validates(tmp_path):
    path = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(path))
    validate(yaml.safe_load(path.read_text()))


def test_served_schema_is_valid_openapi(schema):
    validate(schema)


def error_codes(operation, status):
    response = operation["responses"].get(str(status))
    assert response is not None, f"{operation['operationId']} does not document {status}"
    content = response["content"]["application/json"]
    assert content["schema"] == {"$ref": ERROR_REF}
    return set(content["examples"])


def test_every_error_response_has_the_error_body(schema):
    for _, _, operation in operations(schema):
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                assert response["content"]["application/json"]["schema"] == {"$ref": ERROR_REF}
        assert error_codes(operation, 503) == {"database_unavailable", "busy"}
    error = schema["components"]["schemas"]["Error"]
    assert error["required"] == ["code", "detail"]
    assert {"errors", "lines"} <= set(error["properties"])


def test_each_operation_documents_the_errors_it_can_answer(schema):
    for path, _, operation in operations(schema):
        public = operation.get("security") is None
        assert ("401" in operation["responses"]) != public or "login" in path, path
        if "requestBody" in operation:
            assert {"invalid", "parse_error"} <= error_codes(operation, 400)
            assert error_codes(operation, 413) == {"request_too_large"}
            assert error_codes(operation, 415) == {"unsupported_media_type"}
        headers = {p["name"] for p in operation.get("parameters", []) if p["in"] == "header"}
        if "Idempotency-Key" in headers:
            assert "idempotency_key_in_use" in error_codes(operation, 409)
            assert error_codes(operation, 422) == {"idempotency_key_reused"}
            assert "invalid_idempotency_key" in error_codes(operation, 400)
        if any(p["in"] == "path" for p in operation.get("parameters", [])):
            assert error_codes(operation, 404)


def test_domain_errors_are_documented_where_they_happen(schema):
    paths = schema["paths"]
    order = paths["/api/v1/orders/"]["post"]
    assert {"insufficient_stock", "idempotency_key_in_use"} <= error_codes(order, 409)
    assert {"unknown_product", "order_too_large"} <= error_codes(order, 400)
    adjustment = paths["/api/v1/products/{product_id}/adjustments/"]["post"]
    assert "insufficient_stock" in error_codes(adjustment, 409)
    assert "product_not_found" in error_codes(adjustment, 404)
    assert "product_exists" in error_codes(paths["/api/v1/products/"]["post"], 409)
    assert "order_not_cancellable" in error_codes(
        paths["/api/v1/orders/{order_id}/cancel/"]["post"], 409
    )
    assert "product_out_of_stock" in error_codes(paths["/store/orders/"]["post"], 400)
    assert "invalid_credentials" in error_codes(paths["/api/v1/auth/login/"]["post"], 401)
    assert "throttled" in error_codes(paths["/api/v1/auth/login/"]["post"], 429)
    assert "permission_denied" in error_codes(paths["/api/v1/movements/"]["get"], 403)
    assert "invalid" in error_codes(paths["/api/v1/movements/export.csv"]["get"], 400)
    insufficient = order["responses"]["409"]["content"]["application/json"]["examples"]
    assert insufficient["insufficient_stock"]["value"]["lines"][0].keys() == {
        "product",
        "requested",
        "available",
    }


def test_the_limits_the_code_enforces_are_documented(schema):
    components = schema["components"]["schemas"]
    lines = components["OrderInputRequest"]["properties"]["lines"]
    assert (lines["minItems"], lines["maxItems"]) == (1, 100)
    assert components["StoreOrderInputRequest"]["properties"]["products"]["minItems"] == 1
    adjustment = components["AdjustmentInputRequest"]["properties"]["quantity"]
    assert adjustment["not"] == {"enum": [0]}
    assert (adjustment["minimum"], adjustment["maximum"]) == (-(10**9), 10**9)
    restock = components["RestockInputRequest"]["properties"]["quantity"]
    assert (restock["minimum"], restock["maximum"]) == (1, 10**9)
    line_quantity = components["OrderLineInputRequest"]["properties"]["quantity"]
    assert (line_quantity["minimum"], line_quantity["maximum"]) == (1, 10_000)
    for _, _, operation in operations(schema):
        for parameter in operation.get("parameters", []):
            if parameter["name"] == "Idempotency-Key":
                assert parameter["schema"]["minLength"] == 1
                assert parameter["schema"]["maxLength"] == 255
            if parameter["name"] in ("page", "page_size"):
                assert parameter["schema"]["minimum"] == 1


def test_a_zero_adjustment_is_still_refused(warehouse):
    product = ProductFactory(stock=3)
    response = warehouse.post(
        f"/api/v1/products/{product.id}/adjustments/",
        {"quantity": 0, "reason": "found"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {"quantity": ["An adjustment cannot be zero."]}


@pytest.mark.parametrize("body", [{}, {"reference": "", "note": ""}])
def test_a_missing_or_blank_reference_and_note_are_empty(warehouse, body):
    product = ProductFactory()
    response = warehouse.post(
        f"/api/v1/products/{product.id}/restocks/", {"quantity": 2, **body}, format="json"
    )
    assert response.status_code == 201, response.json()
    assert (response.json()["reference"], response.json()["note"]) == ("", "")


# Who sends each operation's request example; every operation with a body is listed.
EXAMPLE_SENDERS = {
    "api_v1_auth_login_create": None,
    "auth_login_create": None,
    "api_v1_products_create": "warehouse",
    "api_v1_products_partial_update": "warehouse",
    "api_v1_products_restocks_create": "warehouse",
    "api_v1_products_adjustments_create": "warehouse",
    "api_v1_products_stocktakes_create": "warehouse",
    "api_v1_orders_create": "customer",
    "api_v1_locations_create": "warehouse",
    "api_v1_locations_partial_update": "warehouse",
    "api_v1_transfers_create": "warehouse",
    # Runs after the create (the paths are sorted): receives part of transfer 1, then
    # the rest.
    "api_v1_transfers_receive_create": "warehouse",
    "api_v1_reservations_create": "customer",
    # The reservation the example above made (the ids start at 1 here).
    "api_v1_reservations_commit_create": "customer",
    "api_v1_receipts_create": "warehouse",
    "api_v1_stocktakes_create": "warehouse",
    "store_orders_create": "customer",
    # Revokes the sender's tokens: a role that sends no other example.
    "api_v1_auth_password_create": "auditor",
    "api_v1_webhooks_create": "admin",
    # The endpoint the example above registered.
    "api_v1_webhooks_rotate_secret_create": "admin",
}


def test_every_request_example_succeeds_against_the_demo_data(schema):
    # The examples name the demo products by id (1 to 8), as `make run` numbers them.
    with connection.cursor() as cursor:
        for table in (
            "catalog_product",
            "ordering_order",
            "ledger_transfer",
            "ledger_reservation",
            "events_webhookendpoint",
        ):
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), 1, false)")
    call_command("load_demo")
    clients = {None: client_for(None)}
    for role, (username, _) in DEMO_USERS.items():
        clients[role] = client_for(get_user_model().objects.get(username=username))

    sent = set()
    for path, method, operation in operations(schema):
        if "requestBody" not in operation:
            continue
        operation_id = operation["operationId"]
        assert operation_id in EXAMPLE_SENDERS, f"who sends {operation_id}'s example?"
        examples = operation["requestBody"]["content"]["application/json"].get("examples")
        assert examples, f"{operation_id} has no request example"
        client = clients[EXAMPLE_SENDERS[operation_id]]
        url = path
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "path":
                url = url.replace(f"{{{parameter['name']}}}", str(parameter["example"]))
        for name, example in examples.items():
            response = getattr(client, method)(url, example["value"], format="json")
            assert 200 <= response.status_code < 300, (operation_id, name, response.json())
        sent.add(operation_id)
    assert sent == set(EXAMPLE_SENDERS)
