"""An interrupted export resumes with ``after_id``: the rows received before the cut and
the rows of the resumed export are the full export, each row exactly once."""

import csv
import io

import pytest

from ledger.services import stock_adjust, stock_restock
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db

EXPORT = "/api/v1/movements/export.csv"


def export_text(client, **params) -> str:
    response = client.get(EXPORT, params)
    assert response.status_code == 200, response.content
    return b"".join(response.streaming_content).decode()


def rows_of(text: str) -> list[list[str]]:
    return list(csv.reader(io.StringIO(text, newline="")))


@pytest.fixture
def movements():
    pens, ink = ProductFactory(sku="PEN"), ProductFactory(sku="INK")
    for n in range(1, 13):
        stock_restock(product_id=pens.id, quantity=n, actor_id=None, reference=f"DN-{n}")
        stock_restock(product_id=ink.id, quantity=n, actor_id=None)
    stock_adjust(product_id=pens.id, quantity=-2, reason="lost", actor_id=None)
    return pens


@pytest.mark.parametrize("cut_after", [1, 7, 24])
def test_an_export_cut_after_n_rows_resumes_from_the_last_id(auditor, movements, cut_after):
    full = rows_of(export_text(auditor))
    header, body = full[0], full[1:]
    assert len(body) == 25

    # The client received the header and cut_after rows, then the connection dropped
    # in the middle of the next row.
    text = export_text(auditor)
    lines = text.splitlines(keepends=True)
    received = "".join(lines[: 1 + cut_after]) + lines[1 + cut_after][:5]
    complete = rows_of(received)[1:-1]
    assert len(complete) == cut_after
    last_id = complete[-1][0]

    resumed = rows_of(export_text(auditor, after_id=last_id))

    assert resumed[0] == header
    assert complete + resumed[1:] == body
    ids = [row[0] for row in complete + resumed[1:]]
    assert len(ids) == len(set(ids)) == 25


def test_rows_are_newest_first_by_id_and_filters_still_apply_when_resuming(auditor, movements):
    body = rows_of(export_text(auditor, sku="PEN"))[1:]
    ids = [int(row[0]) for row in body]
    assert ids == sorted(ids, reverse=True)
    assert len(ids) == 13
    resumed = rows_of(export_text(auditor, sku="PEN", after_id=ids[4]))[1:]
    assert [int(row[0]) for row in resumed] == ids[5:]
    assert {row[2] for row in resumed} == {"PEN"}


def test_resuming_after_the_last_row_gives_only_the_header(auditor, movements):
    full = rows_of(export_text(auditor))
    assert rows_of(export_text(auditor, after_id=full[-1][0])) == [full[0]]


@pytest.mark.parametrize("value", ["abc", "0", "-5", "1.5"])
def test_a_malformed_after_id_is_a_400(auditor, value):
    response = auditor.get(EXPORT, {"after_id": value})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert "after_id" in body["errors"]


def test_the_schema_documents_after_id(auditor):
    schema = auditor.get("/api/schema/", HTTP_ACCEPT="application/json").json()
    parameters = schema["paths"][EXPORT]["get"]["parameters"]
    (after_id,) = [p for p in parameters if p["name"] == "after_id"]
    assert after_id["in"] == "query"
    assert after_id["schema"]["type"] == "integer"
    assert "Resume" in after_id["description"]
