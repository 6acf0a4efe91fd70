import pytest
from django.db import connection, transaction
from django.db.utils import IntegrityError, InternalError

from ledger.models import Movement
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE ledger_movement SET quantity = quantity + 1",
        "DELETE FROM ledger_movement",
        # (deferred foreign-key checks from the insert must fire before a TRUNCATE)
        "SET CONSTRAINTS ALL IMMEDIATE; TRUNCATE ledger_movement CASCADE",
    ],
)
def test_raw_sql_cannot_rewrite_history(statement):
    ProductFactory(stock=5)
    with (
        pytest.raises((IntegrityError, InternalError), match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(statement)
    assert Movement.objects.get().quantity == 5


def test_orm_cannot_delete_a_movement():
    ProductFactory(stock=5)
    with pytest.raises((IntegrityError, InternalError)), transaction.atomic():
        Movement.objects.all().delete()
    assert Movement.objects.count() == 1


def test_balance_cannot_go_negative_even_from_raw_sql():
    product = ProductFactory(stock=1)
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE ledger_stockbalance SET on_hand = -1 WHERE product_id = %s", [product.id]
        )
