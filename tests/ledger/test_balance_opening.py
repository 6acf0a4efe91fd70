"""The ledger opens every product's balance row itself, in the transaction that inserts
the product, whichever path inserts it; the catalogue never writes the ledger's table."""

from decimal import Decimal

import pytest
from django.db import transaction

from catalog.models import Product
from catalog.services import product_create
from ledger.models import StockBalance
from ledger.services import stock_restock

pytestmark = pytest.mark.django_db


def test_a_product_inserted_by_any_path_has_an_empty_balance():
    by_service = product_create(sku="SVC-1", name="By service", price=Decimal("1.00"))
    by_orm = Product.objects.create(sku="ORM-1", name="By the ORM", price=Decimal("1.00"))

    balances = StockBalance.objects.filter(product__in=[by_service, by_orm])
    assert sorted(balances.values_list("product_id", "on_hand", "version", "last_hash")) == [
        (by_service.id, 0, 0, ""),
        (by_orm.id, 0, 0, ""),
    ]
    movement = stock_restock(product_id=by_orm.id, quantity=5, actor_id=None)
    assert movement.seq == 1 and movement.balance_after == 5


def test_a_rolled_back_product_leaves_no_balance():
    with pytest.raises(RuntimeError), transaction.atomic():
        product = Product.objects.create(sku="GONE-1", name="Gone", price=Decimal("1.00"))
        assert StockBalance.objects.filter(product=product).exists()
        raise RuntimeError("roll back")
    assert not StockBalance.objects.filter(product__sku="GONE-1").exists()
    assert not StockBalance.objects.exclude(product__in=Product.objects.all()).exists()
