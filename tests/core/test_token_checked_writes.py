"""A plain restock or one-line order checks its token in its own statement
(accounts.authentication.TokenCheck, core.fastpath's handle_checked): one statement in
all. Whatever that statement does not write for (a token unknown, expired, revoked or
of an inactive user, a role without the permission, an unknown product) is answered as
before, by the usual way: never a domain error to a caller not yet authenticated."""

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.db import connection
from django.utils import timezone
from knox.models import AuthToken

from accounts.authentication import TokenCheck
from accounts.roles import GROUP_ROLES, Role, has_role, has_role_sql
from accounts.services import token_create
from ledger.models import Movement
from ordering.models import Order
from tests.conftest import client_for
from tests.factories import ProductFactory, UserFactory

pytestmark = pytest.mark.django_db


def _restock(client, product_id, quantity=2):
    return client.post(
        f"/api/v1/products/{product_id}/restocks/", {"quantity": quantity}, format="json"
    )


def _order(client, product_id, quantity=1):
    return client.post(
        "/api/v1/orders/", {"lines": [{"product": product_id, "quantity": quantity}]}, format="json"
    )


def test_a_restock_is_one_statement_with_its_token_check(warehouse, django_assert_num_queries):
    product = ProductFactory(stock=1)
    # The statement, and the service's transaction as a savepoint inside the test's.
    with django_assert_num_queries(3) as captured:
        response = _restock(warehouse, product.id)
    assert response.status_code == 201, response.content
    (statement,) = [q["sql"] for q in captured.captured_queries if "SAVEPOINT" not in q["sql"]]
    assert statement.lstrip().startswith("WITH caller AS")
    assert response.json()["actor"] == warehouse.user.id
    assert Movement.objects.get(id=response.json()["id"]).actor_id == warehouse.user.id


def test_a_one_line_order_is_one_statement_with_its_token_check(
    customer, django_assert_num_queries
):
    product = ProductFactory(stock=3)
    with django_assert_num_queries(3):
        response = _order(customer, product.id)
    assert response.status_code == 201, response.content
    assert Order.objects.get(id=response.json()["id"]).customer_id == customer.user.id
    assert response.json()["customer"] == customer.user.id


@pytest.mark.parametrize(
    ("role", "restock", "order"),
    [
        (Role.CUSTOMER, 403, 201),
        (Role.WAREHOUSE, 201, 201),
        (Role.AUDITOR, 403, 403),
        (Role.INTEGRATION, 403, 403),
        (Role.ADMIN, 201, 201),
    ],
)
def test_each_role_gets_what_its_permission_gives(role, restock, order):
    product = ProductFactory(stock=5)
    client = client_for(UserFactory(role=role))
    assert _restock(client, product.id).status_code == restock
    assert _order(client, product.id).status_code == order
    written = (restock == 201) + (order == 201)
    assert Movement.objects.filter(product_id=product.id).count() == 1 + written


def test_a_refused_caller_never_learns_about_the_product(customer, anon):
    """Unknown product: the warehouse gets 404, others their 401 or 403 first."""
    missing = 10**6
    assert _restock(customer, missing).status_code == 403
    assert _restock(anon, missing).status_code == 401
    bad = client_for(None)
    bad.credentials(HTTP_AUTHORIZATION="Token " + "0" * 64)
    assert _restock(bad, missing).status_code == 401
    assert _order(bad, missing).status_code == 401
    assert _restock(client_for(UserFactory(role=Role.WAREHOUSE)), missing).status_code == 404


def test_an_expired_token_is_refused_and_removed(warehouse):
    product = ProductFactory(stock=1)
    AuthToken.objects.filter(user=warehouse.user).update(
        expiry=timezone.now() - timedelta(seconds=1)
    )
    response = _restock(warehouse, product.id)
    assert response.status_code == 401
    assert response.json()["detail"] == "The token has expired."
    assert not AuthToken.objects.filter(user=warehouse.user).exists()
    assert Movement.objects.filter(product_id=product.id).count() == 1


def test_a_revoked_token_or_an_inactive_user_writes_nothing(warehouse, customer):
    product = ProductFactory(stock=5)
    AuthToken.objects.filter(user=warehouse.user).delete()
    assert _restock(warehouse, product.id).status_code == 401
    customer.user.is_active = False
    customer.user.save()
    assert _order(customer, product.id).status_code == 401
    assert Movement.objects.filter(product_id=product.id).count() == 1
    assert not Order.objects.exists()


def test_a_token_of_another_user_with_the_same_key_is_not_taken():
    """The digest, not only the key (the token's first characters), must match."""
    product = ProductFactory(stock=1)
    token, _ = token_create(user=UserFactory(role=Role.WAREHOUSE))
    forged = token[:-1] + ("0" if token[-1] != "0" else "1")
    client = client_for(None)
    client.credentials(HTTP_AUTHORIZATION=f"Token {forged}")
    assert _restock(client, product.id).status_code == 401
    assert TokenCheck.of(forged.encode()).key == TokenCheck.of(token.encode()).key


def test_a_token_that_is_not_utf8_is_not_checked_in_sql():
    assert TokenCheck.of(b"\xff\xfe") is None
    assert TokenCheck.of(b"ab" * 32) is not None


_ROLE_SETS = [
    (Role.WAREHOUSE,),
    (Role.CUSTOMER,),
    (Role.CUSTOMER, Role.WAREHOUSE),
    (Role.AUDITOR, Role.INTEGRATION),
    (Role.ADMIN,),
]


def test_the_sql_role_condition_agrees_with_has_role():
    users = [UserFactory(role=role) for role in (Role.CUSTOMER, *GROUP_ROLES, Role.ADMIN)]
    both = UserFactory(role=Role.WAREHOUSE)
    both.groups.add(Group.objects.get(name=Role.AUDITOR))
    users.append(both)
    for roles in _ROLE_SETS:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT u.id FROM auth_user AS u WHERE {has_role_sql('u', *roles)}")
            in_sql = {row[0] for row in cursor.fetchall()}
        assert in_sql == {user.id for user in users if has_role(user, *roles)}, roles


def _receive(client, lines):
    return client.post("/api/v1/receipts/", {"reference": "DN-1", "lines": lines}, format="json")


def test_a_receipts_first_statement_checks_its_token(warehouse, django_assert_num_queries):
    first, second = ProductFactory(stock=1), ProductFactory()
    lines = [{"product": first.id, "quantity": 2}, {"sku": second.sku, "quantity": 3}]
    # The products with the token's check, the receipt row, the rows' lock, the
    # posting, and the service's transaction as a savepoint inside the test's.
    with django_assert_num_queries(6) as captured:
        response = _receive(warehouse, lines)
    assert response.status_code == 201, response.content
    assert captured.captured_queries[1]["sql"].lstrip().startswith("WITH caller AS")
    movements = Movement.objects.filter(receipt_id=response.json()["id"])
    assert {m.actor_id for m in movements} == {warehouse.user.id}
    assert sorted(m.quantity for m in movements) == [2, 3]


def test_a_receipt_tells_unknown_products_only_to_the_warehouse(customer, auditor, warehouse):
    lines = [{"product": 10**6, "quantity": 1}, {"sku": "NOPE", "quantity": 1}]
    assert _receive(customer, lines).status_code == 403
    assert _receive(auditor, lines).status_code == 403
    bad = client_for(None)
    bad.credentials(HTTP_AUTHORIZATION="Token " + "0" * 64)
    assert _receive(bad, lines).status_code == 401
    response = _receive(warehouse, lines)
    assert response.status_code == 400
    assert response.json()["code"] == "unknown_product"
    assert not Movement.objects.filter(receipt_id__isnull=False).exists()
