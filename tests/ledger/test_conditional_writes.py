"""Conditional writes: a balance read at one location carries an ETag (the balance's
version); a stock write with that ETag in If-Match posts only if nothing moved since,
else 412 version_mismatch with the current figures, and nothing is written."""

import pytest

from ledger.models import Movement
from ledger.services import location_create
from tests.factories import ProductFactory
from tests.ledger.oracle import assert_ledger_consistent

pytestmark = pytest.mark.django_db


def balance(client, product, location="MAIN"):
    return client.get(f"/api/v1/products/{product.id}/balance/?location={location}")


def post(client, product, action, body, **headers):
    return client.post(
        f"/api/v1/products/{product.id}/{action}/", body, format="json", headers=headers
    )


WRITES = [
    ("restocks", {"quantity": 3}),
    ("adjustments", {"quantity": -1, "reason": "damaged"}),
    ("stocktakes", {"counted": 7}),
]


def test_a_balance_read_at_a_location_carries_its_version(auditor):
    product = ProductFactory(stock=5)  # one restock: version 1
    response = balance(auditor, product)
    assert response["ETag"] == '"1"'
    assert response.json()["seq"] == 1
    # Summed over locations, or in the past, there is no one version to match.
    assert "ETag" not in auditor.get(f"/api/v1/products/{product.id}/balance/")
    assert "ETag" not in auditor.get(
        f"/api/v1/products/{product.id}/balance/?location=MAIN&as_of=2030-01-01T00:00:00Z"
    )


@pytest.mark.parametrize(("action", "body"), WRITES)
def test_a_write_with_the_current_etag_posts_and_returns_the_next_one(
    warehouse, auditor, action, body
):
    product = ProductFactory(stock=5)
    tag = balance(auditor, product)["ETag"]
    response = post(warehouse, product, action, body, **{"If-Match": tag})
    assert response.status_code == 201, response.json()
    assert response["ETag"] == '"2"' == balance(auditor, product)["ETag"]


@pytest.mark.parametrize(("action", "body"), WRITES)
def test_a_stale_etag_is_refused_with_the_current_figures_and_writes_nothing(
    warehouse, auditor, action, body
):
    product = ProductFactory(stock=5)
    stale = balance(auditor, product)["ETag"]
    post(warehouse, product, "restocks", {"quantity": 1})  # someone else moved it
    before = Movement.objects.count()

    response = post(warehouse, product, action, body, **{"If-Match": stale})

    assert response.status_code == 412, response.json()
    assert response.json() == {
        "code": "version_mismatch",
        "detail": "The stock changed since it was read: read it again and retry.",
        "product": product.id,
        "version": 2,
        "on_hand": 6,
        "reserved": 0,
        "available": 6,
        "incoming": 0,
    }
    assert Movement.objects.count() == before
    assert_ledger_consistent()


def test_a_stale_etag_is_refused_even_when_the_count_matches(warehouse, auditor):
    product = ProductFactory(stock=5)
    stale = balance(auditor, product)["ETag"]
    post(warehouse, product, "restocks", {"quantity": 2})
    response = post(warehouse, product, "stocktakes", {"counted": 7}, **{"If-Match": stale})
    assert response.status_code == 412
    assert response.json()["version"] == 2


def test_the_etag_is_per_location(warehouse, auditor):
    location_create(code="STORE-2", name="Shop")
    product = ProductFactory(stock=5)
    post(warehouse, product, "restocks", {"quantity": 4, "location": "STORE-2"})
    post(warehouse, product, "restocks", {"quantity": 4, "location": "STORE-2"})
    assert balance(auditor, product, "STORE-2")["ETag"] == '"2"'
    main_tag = balance(auditor, product)["ETag"]
    assert main_tag == '"1"'
    # The default location's tag does not match STORE-2's balance, and vice versa.
    refused = post(
        warehouse,
        product,
        "restocks",
        {"quantity": 1, "location": "STORE-2"},
        **{"If-Match": main_tag},
    )
    assert refused.status_code == 412
    assert (
        post(warehouse, product, "restocks", {"quantity": 1}, **{"If-Match": main_tag}).status_code
        == 201
    )


@pytest.mark.parametrize("value", ["*", " * "])
def test_if_match_star_is_unconditional(warehouse, value):
    product = ProductFactory(stock=5)
    assert (
        post(warehouse, product, "restocks", {"quantity": 1}, **{"If-Match": value}).status_code
        == 201
    )


@pytest.mark.parametrize("value", ["1", 'W/"1"', '"1", "2"', '"abc"', '""', '"-1"'])
def test_a_malformed_if_match_is_a_400_and_writes_nothing(warehouse, value):
    product = ProductFactory(stock=5)
    response = post(warehouse, product, "restocks", {"quantity": 1}, **{"If-Match": value})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_if_match"
    assert Movement.objects.filter(product=product).count() == 1


def test_an_etag_is_refused_once_used(warehouse, auditor):
    """Two clients holding one ETag: the first write wins, the second gets 412 (the
    lost update conditional writes exist to prevent)."""
    product = ProductFactory(stock=5)
    tag = balance(auditor, product)["ETag"]
    first = post(
        warehouse, product, "adjustments", {"quantity": -2, "reason": "lost"}, **{"If-Match": tag}
    )
    second = post(
        warehouse, product, "adjustments", {"quantity": -2, "reason": "lost"}, **{"If-Match": tag}
    )
    assert (first.status_code, second.status_code) == (201, 412)
    assert balance(auditor, product).json()["on_hand"] == 3
