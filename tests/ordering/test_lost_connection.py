"""A connection lost while a refused order rolls back: the answer is a JSON 503 (the
client retries), never a 500."""

from unittest import mock

import pytest
from django.db import OperationalError, connection

from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db


def test_a_short_order_whose_rollback_loses_the_connection_answers_503(customer):
    scarce = ProductFactory(stock=0)
    # With an Idempotency-Key the order runs inside the key's transaction, so its refused
    # attempt is rolled back to a savepoint; that fails, as it does when the primary dies
    # at that moment. The service would expire overdue holds and retry: Django refuses
    # every statement of that transaction from then on.
    lost = OperationalError("server closed the connection unexpectedly")
    with mock.patch.object(connection, "savepoint_rollback", side_effect=lost):
        response = customer.post(
            "/api/v1/orders/",
            {"lines": [{"product": scarce.id, "quantity": 1}]},
            format="json",
            HTTP_IDEMPOTENCY_KEY="order-1",
        )
    assert response.status_code == 503, response.content
    assert response.json()["code"] == "database_unavailable"
    assert int(response["Retry-After"]) > 0
