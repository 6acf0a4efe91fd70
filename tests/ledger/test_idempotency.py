import pytest
from rest_framework.test import APIClient

from ledger.models import Movement
from tests.concurrency import run_in_threads
from tests.conftest import client_for
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db


def restock(client, product, key, quantity=5):
    return client.post(
        f"/api/v1/products/{product.id}/restocks/",
        {"quantity": quantity},
        format="json",
        HTTP_IDEMPOTENCY_KEY=key,
    )


def test_same_key_and_body_replays_the_first_response(warehouse):
    product = ProductFactory()
    first = restock(warehouse, product, "k-1")
    again = restock(warehouse, product, "k-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json()
    assert again["Idempotent-Replayed"] == "true"
    assert not first.has_header("Idempotent-Replayed")
    assert Movement.objects.count() == 1


def test_same_key_with_another_body_is_a_422(warehouse):
    product = ProductFactory()
    restock(warehouse, product, "k-1", quantity=5)
    response = restock(warehouse, product, "k-1", quantity=6)
    assert response.status_code == 422
    assert response.json()["code"] == "idempotency_key_reused"
    assert Movement.objects.count() == 1


def test_keys_belong_to_one_user(warehouse, db):
    from accounts.roles import Role
    from tests.factories import UserFactory

    product = ProductFactory()
    colleague = client_for(UserFactory(role=Role.WAREHOUSE))
    restock(warehouse, product, "shared-key")
    assert restock(colleague, product, "shared-key").status_code == 201
    assert Movement.objects.count() == 2


def test_a_refused_request_is_not_stored(warehouse):
    product = ProductFactory(stock=1)
    path = f"/api/v1/products/{product.id}/adjustments/"
    body = {"quantity": -2, "reason": "lost"}
    assert warehouse.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY="a").status_code == 409
    restock(warehouse, product, "b")
    # Nothing happened the first time, so the same key may be retried and now succeed.
    assert warehouse.post(path, body, format="json", HTTP_IDEMPOTENCY_KEY="a").status_code == 201


def test_an_overlong_key_is_a_400(warehouse):
    response = restock(warehouse, ProductFactory(), "k" * 256)
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_idempotency_key"


def test_prune_keeps_keys_for_a_day(warehouse):
    from datetime import timedelta

    from django.core.management import call_command
    from django.utils import timezone

    from core.models import IdempotencyKey

    product = ProductFactory()
    restock(warehouse, product, "old")
    restock(warehouse, product, "new")
    IdempotencyKey.objects.filter(key="old").update(created_at=timezone.now() - timedelta(hours=25))
    call_command("prune_idempotency_keys", hours=1)  # asks for less than a day: 24 h used
    assert list(IdempotencyKey.objects.values_list("key", flat=True)) == ["new"]


@pytest.mark.usefixtures("committed_db")
def test_twenty_concurrent_requests_with_one_key_make_one_movement():
    from accounts.roles import Role
    from tests.factories import UserFactory

    product = ProductFactory()
    user = UserFactory(role=Role.WAREHOUSE)
    # One token for all twenty (a user holds at most TOKEN_LIMIT_PER_USER tokens).
    token = client_for(user)._credentials["HTTP_AUTHORIZATION"]
    clients = [APIClient(HTTP_AUTHORIZATION=token) for _ in range(20)]
    responses = run_in_threads(lambda c: restock(c, product, "once"), clients, threads=20)
    statuses = sorted(r.status_code for r in responses)
    assert Movement.objects.filter(product_id=product.id).count() == 1
    assert set(statuses) <= {201, 409}
    assert statuses.count(201) >= 1
    created = [r.json() for r in responses if r.status_code == 201]
    assert all(body == created[0] for body in created)
    assert all(
        r.json()["code"] == "idempotency_key_in_use" for r in responses if r.status_code == 409
    )
