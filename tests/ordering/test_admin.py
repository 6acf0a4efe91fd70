import pytest

from accounts.roles import Role
from ledger.models import Movement
from ordering.models import Order
from tests.factories import ProductFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_site(client):
    client.force_login(UserFactory(role=Role.ADMIN))
    return client


def test_order_admin_lists_and_cancels_through_the_service(admin_site, customer):
    product = ProductFactory(stock=5)
    order_id = customer.post(
        "/api/v1/orders/", {"lines": [{"product": product.id, "quantity": 2}]}, format="json"
    ).json()["id"]
    assert admin_site.get("/admin/ordering/order/").status_code == 200
    assert admin_site.get(f"/admin/ordering/order/{order_id}/change/").status_code == 200
    response = admin_site.post(
        "/admin/ordering/order/", {"action": "cancel_orders", "_selected_action": [order_id]}
    )
    assert response.status_code == 302
    assert Order.objects.get().status == "cancelled"
    assert Movement.objects.filter(kind="reversal").count() == 1
    # a second cancel is refused with a message, not an error page
    response = admin_site.post(
        "/admin/ordering/order/",
        {"action": "cancel_orders", "_selected_action": [order_id]},
        follow=True,
    )
    assert b"Only a placed order can be cancelled" in response.content
    assert Movement.objects.filter(kind="reversal").count() == 1


def test_orders_cannot_be_edited_or_deleted_in_the_admin(admin_site, customer):
    product = ProductFactory(stock=5)
    order_id = customer.post(
        "/api/v1/orders/", {"lines": [{"product": product.id, "quantity": 1}]}, format="json"
    ).json()["id"]
    assert (
        admin_site.post(f"/admin/ordering/order/{order_id}/delete/", {"post": "yes"}).status_code
        == 403
    )
    assert Order.objects.exists()
