import csv
import io
import random
from datetime import timedelta

import pytest
from django.utils import timezone

from ledger.models import Movement
from ledger.services import stock_adjust, stock_restock
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def history(warehouse):
    apples, pears = ProductFactory(sku="APL"), ProductFactory(sku="PER")
    actor = warehouse.user.id
    stock_restock(product_id=apples.id, quantity=10, actor_id=actor, reference="DN-1")
    stock_restock(product_id=pears.id, quantity=4, actor_id=None, reference="DN-2")
    stock_adjust(product_id=apples.id, quantity=-3, reason="damaged", actor_id=actor)
    return apples, pears


@pytest.mark.parametrize("client_name", ["auditor", "warehouse"])
def test_auditors_and_warehouse_read_history_newest_first(request, history, client_name):
    body = request.getfixturevalue(client_name).get("/api/v1/movements/").json()
    assert [m["quantity"] for m in body["results"]] == [-3, 4, 10]
    assert body["results"][0]["sku"] == "APL"
    assert set(body) == {"next", "previous", "results"}


@pytest.mark.parametrize(
    "path", ["/api/v1/movements/", "/api/v1/movements/export.csv", "/api/v1/products/{id}/balance/"]
)
def test_customers_cannot_read_the_ledger(customer, history, path):
    response = customer.get(path.format(id=history[0].id))
    assert response.status_code == 403


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("sku=APL", [-3, 10]),
        ("kind=restock", [4, 10]),
        ("reference=DN-2", [4]),
        ("product={pears}", [4]),
        ("actor={actor}", [-3, 10]),
    ],
)
def test_history_filters(auditor, warehouse, history, query, expected):
    query = query.format(pears=history[1].id, actor=warehouse.user.id)
    body = auditor.get(f"/api/v1/movements/?{query}").json()
    assert [m["quantity"] for m in body["results"]] == expected


def test_history_since_and_until(auditor, history):
    middle = Movement.objects.order_by("id")[1].recorded_at
    since = auditor.get("/api/v1/movements/", {"since": middle.isoformat()}).json()
    until = auditor.get("/api/v1/movements/", {"until": middle.isoformat()}).json()
    assert [m["quantity"] for m in since["results"]] == [-3, 4]
    assert [m["quantity"] for m in until["results"]] == [4, 10]
    bad = auditor.get("/api/v1/movements/?since=yesterday")
    assert bad.status_code == 400
    assert "since" in bad.json()["errors"]


def test_cursor_pages_walk_the_whole_history(auditor):
    product = ProductFactory()
    for _ in range(25):
        stock_restock(product_id=product.id, quantity=1, actor_id=None)
    seen, url = [], "/api/v1/movements/?page_size=10"
    while url:
        body = auditor.get(url).json()
        seen += [m["seq"] for m in body["results"]]
        url = body["next"]
    assert seen == list(range(25, 0, -1))


def test_movement_list_costs_the_same_queries_for_any_page_size(
    auditor, django_assert_max_num_queries
):
    for index in range(40):
        stock_restock(product_id=ProductFactory().id, quantity=index + 1, actor_id=None)
    with django_assert_max_num_queries(2):  # token with roles, one page
        body = auditor.get("/api/v1/movements/?page_size=40").json()
    assert len(body["results"]) == 40


def test_movement_detail(auditor, history):
    movement = Movement.objects.order_by("id").first()
    body = auditor.get(f"/api/v1/movements/{movement.id}/").json()
    assert (body["id"], body["reference"], body["sku"]) == (movement.id, "DN-1", "APL")
    missing = auditor.get("/api/v1/movements/99999999/")
    assert missing.status_code == 404
    assert missing.json()["code"] == "movement_not_found"


def test_export_streams_every_matching_row(auditor, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "PAGE_SIZE": 5}
    product = ProductFactory(sku="CSV")
    for _ in range(30):
        stock_restock(product_id=product.id, quantity=2, actor_id=None)
    response = auditor.get("/api/v1/movements/export.csv?sku=CSV")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode())))
    assert len(rows) == 30
    assert rows[0]["balance_after"] == "60"
    assert {row["sku"] for row in rows} == {"CSV"}


def test_balance_now_and_as_of(auditor, history):
    apples = history[0]
    now = auditor.get(f"/api/v1/products/{apples.id}/balance/").json()
    assert (now["on_hand"], now["seq"]) == (7, 2)
    first = Movement.objects.get(product=apples, seq=1).recorded_at
    at_first = auditor.get(
        f"/api/v1/products/{apples.id}/balance/", {"as_of": first.isoformat()}
    ).json()
    assert (at_first["on_hand"], at_first["seq"]) == (10, 1)
    before = auditor.get(
        f"/api/v1/products/{apples.id}/balance/",
        {"as_of": (first - timedelta(seconds=1)).isoformat()},
    ).json()
    assert (before["on_hand"], before["seq"]) == (0, 0)
    assert auditor.get(f"/api/v1/products/{apples.id}/balance/?as_of=soon").status_code == 400
    assert auditor.get("/api/v1/products/999999/balance/").status_code == 404


def test_as_of_balance_is_right_at_every_point_of_a_random_history(auditor):
    """Post a random history, then ask for the balance at each movement's instant, just
    before it, and between movements: it must equal a replay of the history."""
    rng = random.Random(20261124)
    product = ProductFactory()
    on_hand = 0
    for _ in range(120):
        if on_hand and rng.random() < 0.4:
            stock_adjust(
                product_id=product.id,
                quantity=-rng.randint(1, on_hand),
                reason="lost",
                actor_id=None,
            )
        else:
            stock_restock(product_id=product.id, quantity=rng.randint(1, 20), actor_id=None)
    history = list(Movement.objects.filter(product=product).order_by("seq"))
    running = 0
    for movement in history:
        before = movement.recorded_at - timedelta(microseconds=1)
        body = auditor.get(
            f"/api/v1/products/{product.id}/balance/", {"as_of": before.isoformat()}
        ).json()
        assert body["on_hand"] == running
        running += movement.quantity
        body = auditor.get(
            f"/api/v1/products/{product.id}/balance/", {"as_of": movement.recorded_at.isoformat()}
        ).json()
        assert (body["on_hand"], body["seq"]) == (running, movement.seq)
    later = (timezone.now() + timedelta(days=1)).isoformat()
    body = auditor.get(f"/api/v1/products/{product.id}/balance/", {"as_of": later}).json()
    assert body["on_hand"] == running
