import pytest
from django.core.management import call_command

from accounts.roles import Role
from ledger.models import Movement, StockBalance
from ordering.models import Order
from tests.concurrency import run_in_threads
from tests.conftest import client_for
from tests.factories import ProductFactory, UserFactory
from tests.ledger.oracle import assert_ledger_consistent

pytestmark = pytest.mark.usefixtures("committed_db")


def customers(count):
    return [client_for(UserFactory(role=Role.CUSTOMER)) for _ in range(count)]


@pytest.mark.parametrize(
    ("path", "body", "refusal"),
    [
        ("/api/v1/orders/", lambda p: {"lines": [{"product": p, "quantity": 1}]}, 409),
        ("/store/orders", lambda p: {"products": [p]}, 400),
    ],
)
def test_300_orders_for_100_units_place_exactly_100(path, body, refusal):
    product = ProductFactory(stock=100)
    clients = customers(16)
    responses = run_in_threads(
        lambda i: clients[i % 16].post(path, body(product.id), format="json"), range(300)
    )
    statuses = [r.status_code for r in responses]
    assert statuses.count(201) == 100
    assert statuses.count(refusal) == 200
    assert Order.objects.count() == 100
    assert StockBalance.objects.get(product=product).on_hand == 0
    assert Movement.objects.filter(kind="consumption").count() == 100
    assert_ledger_consistent()
    call_command("verify_ledger")


def test_orders_listing_products_in_opposite_orders_never_deadlock():
    a, b = ProductFactory(stock=1000), ProductFactory(stock=1000)
    clients = customers(16)

    def order(i):
        first, second = (a, b) if i % 2 else (b, a)
        return (
            clients[i % 16]
            .post(
                "/api/v1/orders/",
                {
                    "lines": [
                        {"product": first.id, "quantity": 1},
                        {"product": second.id, "quantity": 2},
                    ]
                },
                format="json",
            )
            .status_code
        )

    assert run_in_threads(order, range(200)) == [201] * 200
    # each product is first in half the orders (1 unit) and second in the rest (2 units)
    assert StockBalance.objects.get(product=a).on_hand == 1000 - 100 * 1 - 100 * 2
    assert StockBalance.objects.get(product=b).on_hand == 1000 - 100 * 1 - 100 * 2
    assert_ledger_consistent()


def test_concurrent_cancels_reverse_an_order_once():
    product = ProductFactory(stock=10)
    owner = client_for(UserFactory(role=Role.CUSTOMER))
    order = owner.post(
        "/api/v1/orders/", {"lines": [{"product": product.id, "quantity": 4}]}, format="json"
    ).json()
    staff = client_for(UserFactory(role=Role.WAREHOUSE))
    clients = [owner, staff] * 8
    statuses = run_in_threads(
        lambda c: c.post(f"/api/v1/orders/{order['id']}/cancel/").status_code, clients
    )
    assert sorted(statuses) == [200] + [409] * 15
    assert Movement.objects.filter(kind="reversal").count() == 1
    assert StockBalance.objects.get(product=product).on_hand == 10
    assert_ledger_consistent()
