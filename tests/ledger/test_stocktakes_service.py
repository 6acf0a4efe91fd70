"""stocktake_create called directly: the refusals the API's input validation would
otherwise catch first, each writing nothing."""

from datetime import timedelta

import pytest
from django.utils import timezone

from ledger.exceptions import InvalidLineCount, InvalidQuantity, UnknownLocation
from ledger.models import Movement, Stocktake
from ledger.services import location_create, location_update
from ledger.stocktakes import MAX_LINES, stocktake_create
from tests.factories import ProductFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def actor():
    return UserFactory()


@pytest.mark.parametrize(
    ("lines", "error"),
    [
        ([], InvalidLineCount),
        ([("p", 1)] * (MAX_LINES + 1), InvalidLineCount),
        ([("p", -1)], InvalidQuantity),
        ([("p", 10**12 + 1)], InvalidQuantity),
    ],
)
def test_a_stocktake_refused_by_the_service_writes_nothing(actor, lines, error):
    product = ProductFactory(stock=3)
    lines = [(product.id if ref == "p" else ref, count) for ref, count in lines]
    with pytest.raises(error):
        stocktake_create(
            location_id=None, counted_at=timezone.now(), lines=lines, actor_id=actor.id
        )
    assert not Stocktake.objects.exists() and Movement.objects.count() == 1


def test_a_stocktake_at_an_archived_location_is_refused(actor):
    product = ProductFactory(stock=3)
    store = location_create(code="POP-UP", name="Pop-up")
    location_update(location_id=store.id, is_active=False)
    with pytest.raises(UnknownLocation):
        stocktake_create(
            location_id=store.id,
            counted_at=timezone.now() - timedelta(minutes=1),
            lines=[(product.id, 1)],
            actor_id=actor.id,
        )
    assert not Stocktake.objects.exists()
