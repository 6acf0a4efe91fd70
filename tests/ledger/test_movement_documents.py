"""History and audit: every movement shows the document it belongs to (order line,
reservation, transfer, receipt, stocktake), the history filters by each, and the CSV
export carries them as its last columns."""

import csv
import io

import pytest
from django.utils import timezone

from ledger.models import Location
from ledger.receipts import receipt_create
from ledger.reservations import reservation_commit, reservation_create
from ledger.services import location_create
from ledger.stocktakes import stocktake_create
from ledger.transfers import transfer_create, transfer_receive
from ordering.services import order_place
from tests.factories import ProductFactory, UserFactory
from tests.ledger.oracle import assert_ledger_consistent

pytestmark = pytest.mark.django_db


@pytest.fixture
def documents():
    user = UserFactory()
    pen, pad = ProductFactory(stock=20), ProductFactory(stock=20)
    store = location_create(code="STORE-2", name="Shop")
    main = Location.objects.get(is_default=True)
    receipt = receipt_create(
        location_id=None, reference="DN-1", lines=[(pen.id, 5), (pad.sku, 5)], actor_id=user.id
    )
    transfer = transfer_create(
        from_location_id=main.id, to_location_id=store.id, lines=[(pen.id, 4)], actor_id=user.id
    )
    transfer_receive(transfer_id=transfer.id, actor_id=user.id)
    reservation = reservation_create(
        customer_id=user.id, created_by_id=user.id, lines=[(pad.id, 3)]
    )
    reservation_commit(reservation_id=reservation.id, actor_id=user.id, lines={pad.id: 1})
    stocktake = stocktake_create(
        location_id=None, counted_at=timezone.now(), lines=[(pen.id, 10)], actor_id=user.id
    )
    order = order_place(customer_id=user.id, lines=[(pen.id, 1)])
    return {
        "receipt": receipt.id,
        "transfer": transfer.id,
        "reservation": reservation.id,
        "stocktake": stocktake.id,
        "order": order.id,
    }


@pytest.mark.parametrize(
    ("document", "kinds"),
    [
        ("receipt", ["restock", "restock"]),
        ("transfer", ["in_transit", "transfer_in", "transfer_out"]),
        ("reservation", ["commit", "hold", "release"]),
        ("stocktake", ["adjustment"]),
        ("order", ["consumption"]),
    ],
)
def test_the_history_filters_by_each_document_and_shows_it(auditor, documents, document, kinds):
    document_id = documents[document]
    body = auditor.get(f"/api/v1/movements/?{document}={document_id}").json()
    assert sorted(row["kind"] for row in body["results"]) == kinds
    assert {row[document] for row in body["results"]} == {document_id}
    # No other document is named on those movements (an order's commit would name both).
    others = {"receipt", "transfer", "reservation", "stocktake", "order"} - {document}
    for row in body["results"]:
        assert all(row[other] is None for other in others), row
    assert_ledger_consistent()


def test_the_export_carries_the_documents_as_its_last_columns(auditor, documents):
    response = auditor.get(f"/api/v1/movements/export.csv?transfer={documents['transfer']}")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert sorted((row["kind"], row["location"], row["incoming_after"]) for row in rows) == [
        ("in_transit", "STORE-2", "4"),
        ("transfer_in", "STORE-2", "0"),
        ("transfer_out", "MAIN", "0"),
    ]
    assert {row["transfer"] for row in rows} == {str(documents["transfer"])}
    assert {row["receipt"] for row in rows} == {""}


def test_a_malformed_document_filter_is_a_400(auditor):
    response = auditor.get("/api/v1/movements/?reservation=abc")
    assert response.status_code == 400
    assert "reservation" in response.json()["errors"]
