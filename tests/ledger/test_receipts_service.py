"""receipt_create called directly: the refusals the API's input validation would
otherwise catch first, each writing nothing; lines merged across ids and skus."""

import pytest

from catalog.exceptions import UnknownProducts
from core.exceptions import InvalidInput
from ledger.exceptions import (
    InvalidLineCount,
    InvalidQuantity,
    UnknownLocation,
)
from ledger.models import Movement, Receipt
from ledger.receipts import MAX_LINES, receipt_create
from ledger.services import location_create, location_update
from tests.factories import ProductFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def actor():
    return UserFactory()


@pytest.mark.parametrize("dry_run", [False, True])
@pytest.mark.parametrize(
    ("lines", "reference", "error"),
    [
        ([], "DN-1", InvalidLineCount),
        ([("p", 1)] * (MAX_LINES + 1), "DN-1", InvalidLineCount),
        ([("p", 0)], "DN-1", InvalidQuantity),
        ([("p", 10**9 + 1)], "DN-1", InvalidQuantity),
        ([("p", 1)], "   ", InvalidInput),
        ([("p", 1)], "x" * 201, InvalidInput),
        ([("p", 1), (10**30, 1), ("NOPE", 1)], "DN-1", UnknownProducts),
    ],
)
def test_a_receipt_refused_by_the_service_writes_nothing(actor, dry_run, lines, reference, error):
    product = ProductFactory()
    lines = [(product.id if ref == "p" else ref, quantity) for ref, quantity in lines]
    with pytest.raises(error):
        receipt_create(
            location_id=None, reference=reference, lines=lines, actor_id=actor.id, dry_run=dry_run
        )
    assert not Receipt.objects.exists() and not Movement.objects.exists()


@pytest.mark.parametrize("dry_run", [False, True])
def test_a_receipt_at_an_archived_or_missing_location_is_refused(actor, dry_run):
    product = ProductFactory()
    store = location_create(code="POP-UP", name="Pop-up")
    location_update(location_id=store.id, is_active=False)
    for location_id in (store.id, 987654):
        with pytest.raises(UnknownLocation):
            receipt_create(
                location_id=location_id,
                reference="DN-1",
                lines=[(product.id, 1)],
                actor_id=actor.id,
                dry_run=dry_run,
            )
    assert not Receipt.objects.exists() and not Movement.objects.exists()


def test_lines_naming_one_product_by_id_and_by_sku_are_added_up(actor):
    product, other = ProductFactory(), ProductFactory()
    receipt = receipt_create(
        location_id=None,
        reference="DN-1",
        lines=[(product.sku, 2), (other.id, 1), (product.id, 3), (product.sku, 4)],
        actor_id=actor.id,
    )
    assert (receipt.line_count, receipt.units) == (2, 10)
    assert [(line.product_id, line.quantity) for line in receipt.receipt_lines] == sorted(
        [(product.id, 9), (other.id, 1)]
    )
    assert Movement.objects.filter(receipt=receipt).count() == 2
