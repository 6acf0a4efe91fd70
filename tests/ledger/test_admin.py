"""The admin shows the ledger read-only and writes stock only through the services."""

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.contrib.auth.models import Permission
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from accounts.roles import Role
from catalog.models import Product
from ledger.admin import EstimatedCountPaginator
from ledger.models import Movement, MovementKind, StockBalance
from tests.factories import ProductFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def site_admin(client):
    user = UserFactory(role=Role.ADMIN)
    client.force_login(user)
    client.user = user
    return client


def test_movement_changelist_renders(site_admin, django_assert_max_num_queries):
    for _ in range(3):
        ProductFactory(stock=4)

    # Session and user, the estimated count, one page of movements with their products.
    with django_assert_max_num_queries(5):
        response = site_admin.get(reverse("admin:ledger_movement_changelist"))

    assert response.status_code == 200
    assert response.content.count(b"factory stock") == 3


def test_unfiltered_movement_list_uses_the_row_estimate_not_a_count(site_admin, monkeypatch):
    for _ in range(3):
        ProductFactory(stock=4)
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE ledger_movement")
    monkeypatch.setattr(EstimatedCountPaginator, "exact_below", 1)

    with CaptureQueriesContext(connection) as queries:
        response = site_admin.get(reverse("admin:ledger_movement_changelist"))

    assert response.status_code == 200
    assert response.context["cl"].result_count == 3
    assert not [q for q in queries if "COUNT(" in q["sql"].upper()]


def test_movement_cannot_be_changed_or_deleted(site_admin):
    movement = Movement.objects.get(product=ProductFactory(stock=4))
    change_url = reverse("admin:ledger_movement_change", args=[movement.id])

    assert site_admin.get(change_url).status_code == 200
    response = site_admin.post(change_url, {"quantity": 9, "reference": "edited"})
    assert response.status_code == 403
    delete_url = reverse("admin:ledger_movement_delete", args=[movement.id])
    assert site_admin.post(delete_url, {"post": "yes"}).status_code == 403
    assert site_admin.get(reverse("admin:ledger_movement_add")).status_code == 403
    movement.refresh_from_db()
    assert (movement.quantity, movement.reference) == (4, "factory stock")


def test_stock_alert_changelist_renders(site_admin):
    response = site_admin.get(reverse("admin:ledger_stockalert_changelist"))

    assert response.status_code == 200


def test_product_changelist_shows_on_hand(site_admin):
    ProductFactory(sku="BOLT-M6", stock=37)

    response = site_admin.get(reverse("admin:catalog_product_changelist"))

    assert response.status_code == 200
    assert b'<td class="field-on_hand">37</td>' in response.content


def test_product_add_and_change_pages_render(site_admin):
    product = ProductFactory(stock=6)

    assert site_admin.get(reverse("admin:catalog_product_add")).status_code == 200
    response = site_admin.get(reverse("admin:catalog_product_change", args=[product.id]))
    assert response.status_code == 200
    assert b'<div class="readonly">6</div>' in response.content


def test_adding_a_product_creates_its_balance_row(site_admin):
    response = site_admin.post(
        reverse("admin:catalog_product_add"),
        {
            "sku": "NUT-M6",
            "name": "Nut M6",
            "description": "",
            "price": "0.10",
            "reorder_level": 5,
            "is_active": "on",
        },
    )

    assert response.status_code == 302
    product = Product.objects.get(sku="NUT-M6")
    assert response.url == reverse("admin:catalog_product_changelist")
    balance = StockBalance.objects.get(product=product)
    assert (balance.on_hand, balance.version, balance.last_hash) == (0, 0, "")


def test_changing_a_product_updates_it(site_admin):
    product = ProductFactory(stock=2)
    url = reverse("admin:catalog_product_change", args=[product.id])

    response = site_admin.post(
        url,
        {
            "sku": product.sku,
            "name": "Renamed",
            "description": "",
            "price": "1.50",
            "reorder_level": 0,
            # is_active left unticked: the product is archived
        },
    )

    assert response.status_code == 302
    product.refresh_from_db()
    assert (product.name, product.is_active) == ("Renamed", False)
    assert StockBalance.objects.get(product=product).on_hand == 2


def test_product_with_movements_cannot_be_deleted(site_admin):
    product = ProductFactory(stock=1)

    response = site_admin.post(
        reverse("admin:catalog_product_delete", args=[product.id]), {"post": "yes"}
    )

    assert response.status_code == 403
    assert Product.objects.filter(id=product.id).exists()


def test_product_without_movements_can_be_deleted(site_admin):
    product = ProductFactory()

    response = site_admin.post(
        reverse("admin:catalog_product_delete", args=[product.id]), {"post": "yes"}
    )

    assert response.status_code == 302
    assert not Product.objects.filter(id=product.id).exists()


def restock(client, products, **form):
    data = {"action": "restock_selected", ACTION_CHECKBOX_NAME: [p.id for p in products], **form}
    return client.post(reverse("admin:catalog_product_changelist"), data, follow=True)


def test_restock_action_asks_for_a_quantity_first(site_admin):
    product = ProductFactory()

    response = restock(site_admin, [product], index=0)

    assert response.status_code == 200
    assert b'name="quantity"' in response.content
    assert not Movement.objects.filter(product=product).exists()


def test_restock_action_posts_a_restock_per_product(site_admin):
    first, second = ProductFactory(stock=3), ProductFactory()

    response = restock(site_admin, [first, second], apply="Restock", quantity=5, reference="DN-7")

    assert response.status_code == 200
    assert f"Restocked 5 units of {first.sku}, {second.sku}." in response.content.decode()
    assert StockBalance.objects.get(product=first).on_hand == 8
    movement = Movement.objects.get(product=second)
    assert (movement.kind, movement.quantity, movement.reference) == (
        MovementKind.RESTOCK,
        5,
        "DN-7",
    )
    assert movement.actor_id == site_admin.user.id


def test_restock_action_refuses_a_bad_quantity(site_admin):
    product = ProductFactory()

    response = restock(site_admin, [product], apply="Restock", quantity=0)

    assert b"Ensure this value is greater than or equal to 1" in response.content
    assert not Movement.objects.filter(product=product).exists()


def test_restock_action_needs_the_warehouse_role(client):
    staff = UserFactory()
    staff.is_staff = True
    staff.save()
    staff.user_permissions.add(*Permission.objects.filter(codename="view_product"))
    client.force_login(staff)
    product = ProductFactory()

    changelist = client.get(reverse("admin:catalog_product_changelist"))
    restock(client, [product], apply="Restock", quantity=5)

    assert changelist.status_code == 200
    assert b"restock_selected" not in changelist.content
    assert not Movement.objects.filter(product=product).exists()


def test_restock_action_turns_a_domain_error_into_a_message(site_admin):
    broken, fine = ProductFactory(), ProductFactory()
    StockBalance.objects.filter(product=broken).delete()  # posting to it raises ProductNotFound

    response = restock(site_admin, [broken, fine], apply="Restock", quantity=2)

    content = response.content.decode()
    assert response.status_code == 200
    assert f"{broken.sku}: No such product." in content
    assert f"Restocked 2 units of {fine.sku}." in content
    assert StockBalance.objects.get(product=fine).on_hand == 2
