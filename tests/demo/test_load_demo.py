import pytest
from django.core.management import call_command

from catalog.models import Product
from ledger.models import Movement, Reservation, StockBalance, Transfer
from ordering.models import Order
from tests.ledger.oracle import assert_ledger_consistent

pytestmark = pytest.mark.django_db


def test_load_demo_is_safe_to_run_twice(capsys):
    call_command("load_demo")
    counts = (Product.objects.count(), Movement.objects.count(), Order.objects.count())
    assert counts[0] == 8 and counts[1] > 8 and counts[2] == 3
    call_command("load_demo")
    assert (Product.objects.count(), Movement.objects.count(), Order.objects.count()) == counts
    assert Movement.objects.filter(kind="restock", location__is_default=True).count() == 7
    store = Movement.objects.filter(location__code="STORE-2").values_list("kind", "quantity")
    assert sorted(store) == [
        ("in_transit", 4),
        ("in_transit", 6),
        ("restock", 10),
        ("restock", 15),
        ("restock", 25),
    ]
    # A transfer on its way to STORE-2 and a held reservation: incoming and reserved
    # figures to look at.
    assert Transfer.objects.get().status == "in_transit"
    assert Reservation.objects.get().status == "held"
    pen = StockBalance.objects.filter(product__sku="PEN-BLU")
    assert sorted(pen.values_list("location__code", "on_hand", "reserved", "incoming")) == [
        ("MAIN", 120 - 10 - 6, 2, 0),
        ("STORE-2", 15, 0, 6),
    ]
    assert "warehouse / warehouse-demo-pass" in capsys.readouterr().out
    assert_ledger_consistent()
