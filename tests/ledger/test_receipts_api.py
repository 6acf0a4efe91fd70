"""Whole deliveries through the API: POST /api/v1/receipts/ (with ?dry_run=true) and
GET /api/v1/receipts/{id}/."""

import pytest
from django.db import connection

from catalog.models import Product
from ledger.integrity import ledger_verify
from ledger.models import Movement, Receipt, StockBalance
from ledger.services import location_create, location_update
from tests.factories import ProductFactory
from tests.ledger.bulk import bulk_products
from tests.ledger.oracle import assert_ledger_consistent

pytestmark = pytest.mark.django_db

URL = "/api/v1/receipts/"
RECEIPT_FIELDS = {"id", "location", "reference", "line_count", "units", "created_at", "lines"}
LINE_FIELDS = {"product", "sku", "quantity", "movement", "balance_after"}


@pytest.fixture(autouse=True)
def _ledger_verifies(db):
    yield
    assert_ledger_consistent()
    assert ledger_verify().ok


def receive(client, lines, reference="DN-1", query="", key=None, **fields):
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key else {}
    body = {"reference": reference, "lines": lines, **fields}
    return client.post(URL + query, body, format="json", **headers)


def on_hand(product, location=None):
    balances = StockBalance.objects.filter(product=product)
    if location is None:
        return balances.get(location__is_default=True).on_hand
    return balances.get(location=location).on_hand


def test_a_receipt_posts_one_restock_per_product_and_answers_its_lines(warehouse):
    mug, tea, pen = ProductFactory(stock=5), ProductFactory(), ProductFactory(stock=1)
    response = receive(
        warehouse,
        [
            {"sku": tea.sku, "quantity": 10},
            {"product": mug.id, "quantity": 3},
            {"sku": mug.sku, "quantity": 4},  # the same product by sku: added up
            {"product": pen.id, "quantity": 1},
        ],
        reference="DN-2211",
    )
    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) == RECEIPT_FIELDS
    assert (body["location"], body["reference"], body["line_count"], body["units"]) == (
        "MAIN",
        "DN-2211",
        3,
        18,
    )
    assert all(set(line) == LINE_FIELDS for line in body["lines"])
    by_product = {line["product"]: line for line in body["lines"]}
    assert [line["product"] for line in body["lines"]] == sorted(by_product)
    assert (by_product[mug.id]["sku"], by_product[mug.id]["quantity"]) == (mug.sku, 7)
    assert by_product[mug.id]["balance_after"] == on_hand(mug) == 12
    assert by_product[tea.id]["balance_after"] == on_hand(tea) == 10
    assert by_product[pen.id]["balance_after"] == on_hand(pen) == 2

    receipt = Receipt.objects.get()
    assert (receipt.id, receipt.line_count, receipt.units) == (body["id"], 3, 18)
    assert receipt.created_by_id == warehouse.user.id
    movements = Movement.objects.filter(receipt=receipt)
    assert {m.id for m in movements} == {line["movement"] for line in body["lines"]}
    for movement in movements:
        assert (movement.kind, movement.reference, movement.actor_id) == (
            "restock",
            "DN-2211",
            warehouse.user.id,
        )
        assert movement.quantity == by_product[movement.product_id]["quantity"]

    detail = warehouse.get(f"{URL}{receipt.id}/")
    assert detail.status_code == 200
    assert detail.json() == body


def test_a_receipt_at_a_named_location_opens_its_balances_there(warehouse):
    store = location_create(code="STORE-2", name="High Street")
    products = [ProductFactory(stock=2) for _ in range(3)]
    response = receive(
        warehouse, [{"product": p.id, "quantity": 5} for p in products], location="store-2"
    )
    assert response.status_code == 201, response.json()
    assert response.json()["location"] == "STORE-2"
    for product in products:
        assert (on_hand(product, store), on_hand(product)) == (5, 2)
    by_id = warehouse.post(
        URL,
        {
            "reference": "x",
            "lines": [{"product": products[0].id, "quantity": 1}],
            "location": store.id,
        },
        format="json",
    )
    assert by_id.status_code == 201 and by_id.json()["lines"][0]["balance_after"] == 6


def test_unknown_and_archived_products_are_listed_together_and_nothing_is_written(warehouse):
    known = ProductFactory(stock=3)
    archived = ProductFactory(is_active=False)
    response = receive(
        warehouse,
        [
            {"product": known.id, "quantity": 1},
            {"sku": "NO-SUCH-SKU", "quantity": 1},
            {"product": 987654, "quantity": 2},
            {"product": archived.id, "quantity": 1},
            {"sku": archived.sku, "quantity": 1},
            {"sku": "ALSO-MISSING", "quantity": 1},
        ],
    )
    assert response.status_code == 400
    assert response.json() == {
        "code": "unknown_product",
        "detail": "Some products do not exist or are archived.",
        "products": sorted([987654, archived.id]),
        "skus": sorted(["ALSO-MISSING", "NO-SUCH-SKU", archived.sku]),
    }
    assert not Receipt.objects.exists()
    assert Movement.objects.count() == 1
    assert on_hand(known) == 3


@pytest.mark.parametrize(
    "line",
    [
        {"quantity": 1},
        {"product": 1, "sku": "X", "quantity": 1},
        {"product": 0, "quantity": 1},
        {"product": 2**63, "quantity": 1},
        {"product": "abc", "quantity": 1},
        {"sku": "", "quantity": 1},
        {"sku": "x" * 65, "quantity": 1},
    ],
)
def test_a_line_names_its_product_by_id_or_by_sku(warehouse, line):
    response = receive(warehouse, [line])
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert "lines" in response.json()["errors"]
    assert not Receipt.objects.exists()


@pytest.mark.parametrize("quantity", [0, -1, 10**9 + 1, 1.5, "two", None])
def test_a_line_receives_1_to_a_billion_units(warehouse, quantity):
    product = ProductFactory()
    response = receive(warehouse, [{"product": product.id, "quantity": quantity}])
    assert response.status_code == 400
    assert "lines" in response.json()["errors"]
    assert not Receipt.objects.exists() and not Movement.objects.exists()


@pytest.mark.parametrize("body", [{"lines": []}, {"reference": "DN-1", "lines": []}, {}])
def test_a_receipt_needs_a_reference_and_lines(warehouse, body):
    product = ProductFactory()
    body = {"lines": [{"product": product.id, "quantity": 1}], **body}
    if "reference" not in body:
        body["reference"] = ""
    response = warehouse.post(URL, body, format="json")
    assert response.status_code == 400
    assert set(response.json()["errors"]) <= {"reference", "lines"}
    assert not Receipt.objects.exists()


def test_more_than_5000_lines_are_refused(warehouse):
    product = ProductFactory()
    response = receive(warehouse, [{"product": product.id, "quantity": 1}] * 5001)
    assert response.status_code == 400
    assert "lines" in response.json()["errors"]
    assert not Movement.objects.exists()


def test_an_unknown_or_archived_location_is_refused(warehouse):
    product = ProductFactory()
    store = location_create(code="POP-UP", name="Pop-up")
    location_update(location_id=store.id, is_active=False)
    for location in ("NOWHERE", "pop-up", store.id, 2**63):
        for query in ("", "?dry_run=true"):
            response = receive(
                warehouse, [{"product": product.id, "quantity": 1}], location=location, query=query
            )
            assert response.status_code == 400, (location, query)
            assert response.json()["code"] in ("unknown_location", "invalid")
    assert not Receipt.objects.exists() and not Movement.objects.exists()


def test_5000_lines_post_in_one_receipt(warehouse):
    products = bulk_products(5000)
    lines = [{"sku": p.sku, "quantity": n % 7 + 1} for n, p in enumerate(products)]
    response = receive(warehouse, lines, reference="DN-BIG")
    assert response.status_code == 201, response.content[:500]
    body = response.json()
    assert (body["line_count"], body["units"]) == (5000, sum(n % 7 + 1 for n in range(5000)))
    assert len(body["lines"]) == 5000
    assert Movement.objects.filter(receipt_id=body["id"]).count() == 5000
    assert sum(StockBalance.objects.values_list("on_hand", flat=True)) == body["units"]
    with connection.cursor() as cursor:  # as autovacuum would, before the ledger checks
        cursor.execute("ANALYZE ledger_movement, ledger_stockbalance")


# --- Dry runs -----------------------------------------------------------------------------


def test_a_dry_run_answers_what_would_be_posted_and_writes_nothing(warehouse):
    mug, tea = ProductFactory(stock=5), ProductFactory()
    store = location_create(code="STORE-2", name="High Street")
    lines = [{"product": mug.id, "quantity": 3}, {"sku": tea.sku, "quantity": 2}]
    before = list(StockBalance.objects.order_by("id").values_list("id", "on_hand", "version"))
    movements = Movement.objects.count()

    response = receive(warehouse, lines, reference="DN-9", query="?dry_run=true")
    assert response.status_code == 200, response.json()
    body = response.json()
    assert body == {
        "id": None,
        "location": "MAIN",
        "reference": "DN-9",
        "line_count": 2,
        "units": 5,
        "created_at": None,
        "lines": sorted(
            [
                {
                    "product": mug.id,
                    "sku": mug.sku,
                    "quantity": 3,
                    "movement": None,
                    "balance_after": 8,
                },
                {
                    "product": tea.id,
                    "sku": tea.sku,
                    "quantity": 2,
                    "movement": None,
                    "balance_after": 2,
                },
            ],
            key=lambda line: line["product"],
        ),
    }
    at_store = receive(warehouse, lines, location="STORE-2", query="?dry_run=1")
    assert at_store.status_code == 200
    assert [line["balance_after"] for line in at_store.json()["lines"]] == [3, 2]

    assert not Receipt.objects.exists()
    assert Movement.objects.count() == movements
    after = list(StockBalance.objects.order_by("id").values_list("id", "on_hand", "version"))
    assert after == before  # not even the store's balance rows were opened
    assert not StockBalance.objects.filter(location=store).exists()


def test_a_dry_run_refuses_what_the_receipt_would_refuse(warehouse):
    archived = ProductFactory(is_active=False)
    response = receive(
        warehouse,
        [{"product": archived.id, "quantity": 1}, {"sku": "NOPE", "quantity": 1}],
        query="?dry_run=true",
    )
    assert response.status_code == 400
    assert (response.json()["products"], response.json()["skus"]) == ([archived.id], ["NOPE"])
    bad_flag = receive(warehouse, [{"sku": archived.sku, "quantity": 1}], query="?dry_run=maybe")
    assert bad_flag.status_code == 400 and "dry_run" in bad_flag.json()["errors"]


def test_a_dry_run_then_the_receipt_under_the_same_idempotency_key(warehouse):
    product = ProductFactory()
    lines = [{"product": product.id, "quantity": 4}]
    dry = receive(warehouse, lines, query="?dry_run=true", key="dn-7")
    assert dry.status_code == 200 and dry.json()["id"] is None
    # The dry run stored nothing to replay: the same key now posts the receipt.
    real = receive(warehouse, lines, key="dn-7")
    assert real.status_code == 201 and real.json()["id"] is not None
    assert on_hand(product) == 4


# --- Idempotency, roles, reads ------------------------------------------------------------


def test_the_same_idempotency_key_replays_the_receipt(warehouse):
    product = ProductFactory()
    lines = [{"product": product.id, "quantity": 4}]
    first = receive(warehouse, lines, key="dn-1")
    again = receive(warehouse, lines, key="dn-1")
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again["Idempotent-Replayed"] == "true"
    other = receive(warehouse, [{"product": product.id, "quantity": 5}], key="dn-1")
    assert other.status_code == 422
    assert Receipt.objects.count() == 1 and on_hand(product) == 4


def test_only_warehouse_staff_receive_and_auditors_read(warehouse, customer, auditor, anon):
    product = ProductFactory()
    lines = [{"product": product.id, "quantity": 1}]
    assert receive(anon, lines).status_code == 401
    for client in (customer, auditor):
        for query in ("", "?dry_run=true"):
            response = receive(client, lines, query=query)
            assert response.status_code == 403
            assert response.json()["code"] == "permission_denied"
    receipt_id = receive(warehouse, lines).json()["id"]
    assert auditor.get(f"{URL}{receipt_id}/").status_code == 200
    assert customer.get(f"{URL}{receipt_id}/").status_code == 403
    assert anon.get(f"{URL}{receipt_id}/").status_code == 401
    assert Receipt.objects.count() == 1


@pytest.mark.parametrize("receipt_id", [424242, 2**63, 2**70])
def test_an_unknown_receipt_is_a_404(auditor, receipt_id):
    response = auditor.get(f"{URL}{receipt_id}/")
    assert response.status_code == 404
    assert response.json() == {
        "code": "receipt_not_found",
        "detail": "No such receipt.",
        "receipt": receipt_id,
    }


# --- Cost -----------------------------------------------------------------------------------


@pytest.mark.parametrize("location", [None, "STORE-2"])
def test_a_receipt_costs_the_same_queries_for_1_10_and_1000_lines(
    warehouse, django_assert_max_num_queries, location
):
    location_create(code="STORE-2", name="High Street")
    products = bulk_products(1000)
    extra = {"location": location} if location else {}
    # At the default location: the products with the token's check, the receipt row, the
    # rows' lock, the posting, and the SAVEPOINT/RELEASE of the service's transaction.
    # At another: the token check, the location's lookup, the products, the receipt
    # row, the location's lock, the rows' opening, the rows' lock, the posting, and the
    # SAVEPOINT/RELEASE.
    limit = 10 if location else 6
    for count in (1, 10, 1000):
        with django_assert_max_num_queries(limit):
            response = receive(
                warehouse, [{"product": p.id, "quantity": 1} for p in products[:count]], **extra
            )
        assert response.status_code == 201
    # token with roles, [the location's lookup], the products, the location and balances,
    # and the SAVEPOINT/RELEASE of the service's transaction.
    with django_assert_max_num_queries(5 + (1 if location else 0)):
        response = receive(
            warehouse,
            [{"sku": p.sku, "quantity": 1} for p in products],
            query="?dry_run=true",
            **extra,
        )
    assert response.status_code == 200


def test_the_products_are_named_in_one_statement_whatever_the_mix_of_ids_and_skus():
    products = bulk_products(20)
    from ledger.receipts import receipt_create
    from tests.factories import UserFactory

    actor = UserFactory()
    statements = []

    def record(execute, sql, params, many, context):
        statements.append(sql)
        return execute(sql, params, many, context)

    with connection.execute_wrapper(record):
        receipt_create(
            location_id=None,
            reference="DN-3",
            lines=[(p.id if n % 2 else p.sku, 2) for n, p in enumerate(products)],
            actor_id=actor.id,
        )
    kinds = [
        sql.split()[0].upper()
        for sql in statements
        if not sql.upper().startswith(("SAVEPOINT", "RELEASE"))
    ]
    # The products, the receipt row (WITH ... INSERT), the rows' lock, then the balances'
    # UPDATE and the movements' INSERT in one statement.
    assert kinds == ["SELECT", "WITH", "SELECT", "WITH"]
    assert "catalog_product" in statements[0] or "catalog_product" in statements[1]
    assert Product.objects.count() == 20


@pytest.mark.parametrize(
    "reference",
    ['DN "7" {a,b}', "C:\\deliveries\\7", "NULL", "Lieferschein Nr. 7, Müller ✓", "a\tb", '\\"{}'],
)
def test_a_reference_is_posted_as_given_whatever_its_characters(warehouse, reference):
    products = [ProductFactory(), ProductFactory()]
    response = receive(
        warehouse, [{"product": p.id, "quantity": 1} for p in products], reference=reference
    )
    assert response.status_code == 201, response.json()
    assert response.json()["reference"] == reference
    assert set(Movement.objects.values_list("reference", flat=True).distinct()) == {reference}
    # The autouse check verifies each movement's hash against the stored reference.


def test_5000_lines_post_quickly_while_the_statistics_still_see_an_empty_catalogue(warehouse):
    """Statistics taken when the tables were nearly empty, then a catalogue imported
    at once (as before autovacuum's next ANALYZE): the posting's statements must not
    plan a nested loop over every line for every product. A join of four once did, and
    this receipt ran into the statement limit (503 busy)."""
    from django.db import connection

    ProductFactory()
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE catalog_product, ledger_stockbalance, ledger_location")
    products = bulk_products(5000)
    lines = [{"sku": p.sku, "quantity": 1} for p in products]
    with connection.cursor() as cursor:
        # A tenth of the app's limit: the statements take well under a second each.
        cursor.execute("SET statement_timeout = 1500")
    response = receive(warehouse, lines, reference="DN-IMPORT")
    assert response.status_code == 201, response.content[:300]
    assert response.json()["line_count"] == 5000
    with connection.cursor() as cursor:
        cursor.execute("SET statement_timeout = DEFAULT")
        cursor.execute("ANALYZE ledger_movement, ledger_stockbalance")
