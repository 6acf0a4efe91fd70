"""/api/v1/locations/: warehouse staff create, rename, archive and reactivate locations;
everyone signed in reads them (customers the active ones)."""

import pytest

from ledger.models import Location
from ledger.services import location_create, stock_adjust, stock_restock
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db

FIELDS = {"id", "code", "name", "is_active", "is_default", "created_at"}


def test_the_default_location_exists():
    main = Location.objects.get(is_default=True)
    assert (main.code, main.name, main.is_active) == ("MAIN", "Main warehouse", True)


def test_warehouse_creates_a_location_with_an_upper_case_code(warehouse):
    response = warehouse.post(
        "/api/v1/locations/", {"code": "store-2", "name": "High Street"}, format="json"
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) == FIELDS
    assert (body["code"], body["name"], body["is_active"], body["is_default"]) == (
        "STORE-2",
        "High Street",
        True,
        False,
    )


def test_a_taken_code_is_a_409_whatever_its_case(warehouse):
    location_create(code="STORE-2", name="High Street")
    response = warehouse.post(
        "/api/v1/locations/", {"code": "Store-2", "name": "Another"}, format="json"
    )
    assert response.status_code == 409
    assert response.json() == {
        "code": "location_exists",
        "detail": "A location with this code exists.",
        "location": "STORE-2",
    }


@pytest.mark.parametrize("code", ["", "2ND", "A B", "A/B", "X" * 33, "ÜBER"])
def test_a_malformed_code_is_a_400_naming_it(warehouse, code):
    response = warehouse.post("/api/v1/locations/", {"code": code, "name": "x"}, format="json")
    assert response.status_code == 400
    assert "code" in response.json()["errors"]


@pytest.mark.parametrize("client_name", ["customer", "auditor", "anon"])
def test_only_warehouse_changes_locations(request, client_name):
    client = request.getfixturevalue(client_name)
    location_create(code="STORE-2", name="High Street")
    created = client.post("/api/v1/locations/", {"code": "X1", "name": "x"}, format="json")
    changed = client.patch("/api/v1/locations/STORE-2/", {"name": "y"}, format="json")
    expected = 401 if client_name == "anon" else 403
    assert (created.status_code, changed.status_code) == (expected, expected)
    assert Location.objects.get(code="STORE-2").name == "High Street"


def test_customers_read_active_locations_staff_read_all(customer, auditor, warehouse):
    location_create(code="STORE-2", name="High Street")
    shut = location_create(code="OLD", name="Closed shop")
    warehouse.patch(f"/api/v1/locations/{shut.id}/", {"is_active": False}, format="json")

    def codes(client, query=""):
        return [row["code"] for row in client.get(f"/api/v1/locations/{query}").json()["results"]]

    assert codes(customer) == ["MAIN", "STORE-2"]
    assert codes(auditor) == ["MAIN", "STORE-2", "OLD"]
    assert codes(warehouse, "?is_active=false") == ["OLD"]
    assert customer.get("/api/v1/locations/OLD/").status_code == 404
    assert auditor.get("/api/v1/locations/old/").json()["is_active"] is False


def test_detail_by_code_in_any_case_or_by_id(customer):
    store = location_create(code="STORE-2", name="High Street")
    for key in ("STORE-2", "store-2", str(store.id)):
        response = customer.get(f"/api/v1/locations/{key}/")
        assert response.status_code == 200, key
        assert response.json()["id"] == store.id


@pytest.mark.parametrize("key", ["NOPE", "999999", "99999999999999999999999", "a%20b"])
def test_an_unknown_location_is_a_404(customer, key):
    response = customer.get(f"/api/v1/locations/{key}/")
    assert response.status_code == 404
    assert response.json()["code"] == "location_not_found"


def test_rename_archive_and_reactivate(warehouse):
    store = location_create(code="STORE-2", name="High Street")
    url = "/api/v1/locations/STORE-2/"
    assert warehouse.patch(url, {"name": "Market Square"}, format="json").json()["name"] == (
        "Market Square"
    )
    assert warehouse.patch(url, {"is_active": False}, format="json").json()["is_active"] is False
    product = ProductFactory()
    response = warehouse.post(
        f"/api/v1/products/{product.id}/restocks/",
        {"quantity": 1, "location": "STORE-2"},
        format="json",
    )
    assert response.status_code == 400
    assert response.json() == {
        "code": "unknown_location",
        "detail": "No such active location.",
        "location": "STORE-2",
    }
    assert warehouse.patch(url, {"is_active": True}, format="json").json()["is_active"] is True
    stock_restock(product_id=product.id, quantity=1, actor_id=None, location_id=store.id)


def test_the_default_location_cannot_be_archived(warehouse):
    response = warehouse.patch("/api/v1/locations/MAIN/", {"is_active": False}, format="json")
    assert response.status_code == 409
    assert response.json()["code"] == "default_location"
    assert Location.objects.get(code="MAIN").is_active


def test_a_location_holding_stock_cannot_be_archived_until_emptied(warehouse):
    store = location_create(code="STORE-2", name="High Street")
    product = ProductFactory()
    stock_restock(product_id=product.id, quantity=3, actor_id=None, location_id=store.id)

    response = warehouse.patch("/api/v1/locations/STORE-2/", {"is_active": False}, format="json")

    assert response.status_code == 409
    assert response.json() == {
        "code": "location_not_empty",
        "detail": "The location still holds stock: move or adjust it out before archiving.",
        "location": "STORE-2",
        "on_hand": 3,
        "reserved": 0,
        "incoming": 0,
    }
    assert "3," in response.content.decode()  # whole numbers, as the schema says (not 3.0)
    stock_adjust(
        product_id=product.id, quantity=-3, reason="lost", actor_id=None, location_id=store.id
    )
    response = warehouse.patch("/api/v1/locations/STORE-2/", {"is_active": False}, format="json")
    assert response.status_code == 200
    # Its history stays readable.
    movements = warehouse.get("/api/v1/movements/?location=STORE-2").json()["results"]
    assert [m["quantity"] for m in movements] == [-3, 3]


def test_bad_changes_are_a_400(warehouse):
    response = warehouse.patch("/api/v1/locations/MAIN/", {"is_active": "maybe"}, format="json")
    assert response.status_code == 400
    assert "is_active" in response.json()["errors"]
