"""Both order APIs apply one permission rule (accounts.permissions.CanPlaceOrders):
every role on both endpoints, reading and placing."""

import pytest

from accounts.roles import Role
from ordering.models import Order
from tests.conftest import client_for
from tests.factories import ProductFactory, UserFactory

pytestmark = pytest.mark.django_db

ROLES = [Role.CUSTOMER, Role.WAREHOUSE, Role.AUDITOR, Role.ADMIN, None]  # None: anonymous

# role -> (GET status, POST status), the same on both APIs.
EXPECTED = {
    Role.CUSTOMER: (200, 201),
    Role.WAREHOUSE: (200, 201),
    Role.AUDITOR: (200, 403),
    Role.ADMIN: (200, 201),
    None: (401, 401),
}


def place(client, api: str, product_id: int):
    if api == "v1":
        body = {"lines": [{"product": product_id, "quantity": 1}]}
        return client.post("/api/v1/orders/", body, format="json")
    return client.post("/store/orders", {"products": [product_id]}, format="json")


@pytest.mark.parametrize("api", ["v1", "original"])
@pytest.mark.parametrize("role", ROLES, ids=lambda role: role or "anonymous")
def test_one_rule_for_every_role_on_both_order_apis(api, role):
    client = client_for(UserFactory(role=role) if role else None)
    product = ProductFactory(stock=5)
    get_status, post_status = EXPECTED[role]

    listed = client.get("/api/v1/orders/" if api == "v1" else "/store/orders")
    placed = place(client, api, product.id)

    assert listed.status_code == get_status, listed.json()
    assert placed.status_code == post_status, placed.json()
    assert Order.objects.count() == (1 if post_status == 201 else 0)
    if post_status == 403:
        assert placed.json()["code"] == "permission_denied"
    if post_status == 401:
        assert placed.json()["code"] == "not_authenticated"
