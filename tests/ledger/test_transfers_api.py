"""Transfers through the API: the figures the product endpoints show after each step
(create, partial receive, full receive, cancel after a partial receive), refusals that
write nothing, the reads, roles and idempotency. After every test the ledger verifies."""

import io

import pytest
from django.core.management import call_command

from ledger.models import (
    Movement,
    StockBalance,
    Transfer,
    TransferLine,
)
from ledger.reservations import reservation_create
from ledger.services import location_create, stock_restock
from ledger.transfers import MAX_LINES, MAX_QUANTITY
from tests.factories import ProductFactory, UserFactory
from tests.ledger.oracle import assert_ledger_consistent

pytestmark = pytest.mark.django_db

URL = "/api/v1/transfers/"


@pytest.fixture(autouse=True)
def _ledger_verifies_after_each_test(db):
    yield
    assert_ledger_consistent()
    call_command("verify_ledger", stdout=io.StringIO())  # SystemExit(1) on any problem


@pytest.fixture
def store():
    return location_create(code="STORE-2", name="High Street")


def figures(client, product) -> dict:
    """What the product endpoint shows: each location's (on hand, reserved, available,
    incoming), and the totals under "total"."""
    response = client.get(f"/api/v1/products/{product.id}/")
    assert response.status_code == 200
    body = response.json()
    shown = {
        row["location"]: (row["on_hand"], row["reserved"], row["available"], row["incoming"])
        for row in body["locations"]
    }
    shown["total"] = (body["on_hand"], body["reserved"], body["available"], body["incoming"])
    return shown


def send(client, lines, source="MAIN", destination="STORE-2", **extra):
    return client.post(
        URL,
        {
            "from": source,
            "to": destination,
            "lines": [{"product": p.id, "quantity": q} for p, q in lines],
            **extra,
        },
        format="json",
    )


def receive(client, transfer_id, lines=None):
    body = {} if lines is None else {"lines": [{"product": p.id, "quantity": q} for p, q in lines]}
    return client.post(f"{URL}{transfer_id}/receive/", body, format="json")


def cancel(client, transfer_id):
    return client.post(f"{URL}{transfer_id}/cancel/")


def line_of(body, product) -> dict:
    return next(line for line in body["lines"] if line["product"] == product.id)


def test_a_transfer_takes_units_off_the_origin_and_shows_them_incoming_there(warehouse, store):
    pen, pad = ProductFactory(stock=10), ProductFactory(stock=4)

    # A product named twice is one line of the summed quantity.
    response = send(warehouse, [(pen, 2), (pad, 4), (pen, 1)], reference="TR-1")

    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["from"], body["to"], body["status"]) == ("MAIN", "STORE-2", "in_transit")
    assert (body["reference"], body["closed_at"], body["created_by"]) == (
        "TR-1",
        None,
        warehouse.user.id,
    )
    assert body["lines"] == [
        {
            "product": pen.id,
            "sku": pen.sku,
            "quantity": 3,
            "received": 0,
            "cancelled": 0,
            "outstanding": 3,
        },
        {
            "product": pad.id,
            "sku": pad.sku,
            "quantity": 4,
            "received": 0,
            "cancelled": 0,
            "outstanding": 4,
        },
    ]
    assert figures(warehouse, pen) == {
        "MAIN": (7, 0, 7, 0),
        "STORE-2": (0, 0, 0, 3),
        "total": (7, 0, 7, 3),
    }
    assert figures(warehouse, pad)["MAIN"] == (0, 0, 0, 0)
    assert figures(warehouse, pad)["STORE-2"] == (0, 0, 0, 4)
    assert warehouse.get(f"{URL}{body['id']}/").json() == body
    # Both legs of every line, each pointing at the transfer.
    legs = warehouse.get(f"/api/v1/movements/?transfer={body['id']}").json()["results"]
    assert sorted((m["product"], m["location"], m["kind"], m["quantity"]) for m in legs) == sorted(
        [
            (pen.id, "MAIN", "transfer_out", -3),
            (pen.id, "STORE-2", "in_transit", 3),
            (pad.id, "MAIN", "transfer_out", -4),
            (pad.id, "STORE-2", "in_transit", 4),
        ]
    )
    assert {m["reference"] for m in legs} == {"TR-1"}


def test_a_partial_receive_puts_units_on_the_shelf_and_leaves_the_rest_incoming(warehouse, store):
    pen, pad = ProductFactory(stock=10), ProductFactory(stock=4)
    transfer = send(warehouse, [(pen, 3), (pad, 4)]).json()

    response = receive(warehouse, transfer["id"], [(pen, 1)])

    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["status"], body["closed_at"]) == ("in_transit", None)
    assert line_of(body, pen) | {"sku": None} == {
        "product": pen.id,
        "sku": None,
        "quantity": 3,
        "received": 1,
        "cancelled": 0,
        "outstanding": 2,
    }
    assert line_of(body, pad)["outstanding"] == 4
    assert figures(warehouse, pen) == {
        "MAIN": (7, 0, 7, 0),
        "STORE-2": (1, 0, 1, 2),
        "total": (8, 0, 8, 2),
    }
    assert figures(warehouse, pad)["STORE-2"] == (0, 0, 0, 4)


def test_receiving_what_is_left_closes_the_transfer_as_received(warehouse, store):
    pen, pad = ProductFactory(stock=10), ProductFactory(stock=4)
    transfer = send(warehouse, [(pen, 3), (pad, 4)]).json()
    receive(warehouse, transfer["id"], [(pen, 1), (pad, 4)])

    response = receive(warehouse, transfer["id"])  # no lines: everything still in transit

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "received" and body["closed_at"] is not None
    assert [(line["received"], line["outstanding"]) for line in body["lines"]] == [(3, 0), (4, 0)]
    assert figures(warehouse, pen) == {
        "MAIN": (7, 0, 7, 0),
        "STORE-2": (3, 0, 3, 0),
        "total": (10, 0, 10, 0),
    }
    assert figures(warehouse, pad) == {
        "MAIN": (0, 0, 0, 0),
        "STORE-2": (4, 0, 4, 0),
        "total": (4, 0, 4, 0),
    }
    # Closed: neither another receive nor a cancel.
    for again in (receive(warehouse, transfer["id"]), cancel(warehouse, transfer["id"])):
        assert again.status_code == 409
        assert again.json() == {
            "code": "transfer_not_in_transit",
            "detail": "The transfer is closed: nothing of it is in transit any more.",
            "transfer": transfer["id"],
            "status": "received",
        }


def test_receiving_the_last_units_line_by_line_closes_the_transfer(warehouse, store):
    pen, pad = ProductFactory(stock=10), ProductFactory(stock=4)
    transfer = send(warehouse, [(pen, 3), (pad, 4)]).json()
    assert receive(warehouse, transfer["id"], [(pen, 3)]).json()["status"] == "in_transit"
    assert receive(warehouse, transfer["id"], [(pad, 4)]).json()["status"] == "received"


def test_a_cancel_after_a_partial_receive_returns_the_rest_to_the_origin(warehouse, store):
    pen, pad = ProductFactory(stock=10), ProductFactory(stock=4)
    transfer = send(warehouse, [(pen, 3), (pad, 4)]).json()
    receive(warehouse, transfer["id"], [(pen, 1)])

    response = cancel(warehouse, transfer["id"])

    assert response.status_code == 200, response.json()
    body = response.json()
    assert body["status"] == "cancelled" and body["closed_at"] is not None
    assert [
        (line["received"], line["cancelled"], line["outstanding"]) for line in body["lines"]
    ] == [(1, 2, 0), (0, 4, 0)]
    assert figures(warehouse, pen) == {
        "MAIN": (9, 0, 9, 0),
        "STORE-2": (1, 0, 1, 0),
        "total": (10, 0, 10, 0),
    }
    assert figures(warehouse, pad) == {
        "MAIN": (4, 0, 4, 0),
        "STORE-2": (0, 0, 0, 0),
        "total": (4, 0, 4, 0),
    }
    legs = warehouse.get(f"/api/v1/movements/?transfer={transfer['id']}&kind=transit_cancel")
    assert sorted((m["product"], m["quantity"]) for m in legs.json()["results"]) == [
        (pen.id, -2),
        (pad.id, -4),
    ]
    again = cancel(warehouse, transfer["id"])
    assert (again.status_code, again.json()["status"]) == (409, "cancelled")


def test_a_transfer_between_two_named_locations_leaves_the_default_alone(warehouse, store):
    location_create(code="NORTH", name="North depot")
    pen = ProductFactory(stock=5)
    stock_restock(product_id=pen.id, quantity=6, actor_id=None, location_id=store.id)

    transfer = send(warehouse, [(pen, 6)], source=str(store.id), destination="north").json()
    assert (transfer["from"], transfer["to"]) == ("STORE-2", "NORTH")
    receive(warehouse, transfer["id"], [(pen, 2)])

    assert figures(warehouse, pen) == {
        "MAIN": (5, 0, 5, 0),
        "STORE-2": (0, 0, 0, 0),
        "NORTH": (2, 0, 2, 4),
        "total": (7, 0, 7, 4),
    }


def hold(product, location, quantity, user):
    """Reserve units for a customer at a location."""
    reservation_create(
        customer_id=user.id,
        created_by_id=user.id,
        lines=[(product.id, quantity)],
        location_id=location.id,
    )


def test_a_transfer_takes_only_available_units_and_a_short_line_refuses_every_line(
    warehouse, store
):
    pen, pad, ink = ProductFactory(), ProductFactory(stock=2), ProductFactory()
    stock_restock(product_id=pen.id, quantity=10, actor_id=None, location_id=store.id)
    stock_restock(product_id=ink.id, quantity=9, actor_id=None, location_id=store.id)
    hold(pen, store, 7, UserFactory())  # 10 on hand at STORE-2, 3 of them available
    stock_restock(product_id=pad.id, quantity=2, actor_id=None, location_id=store.id)
    before = (Movement.objects.count(), list(StockBalance.objects.values().order_by("id")))

    response = send(warehouse, [(pen, 4), (ink, 1), (pad, 3)], source="STORE-2", destination="MAIN")

    assert response.status_code == 409
    assert response.json()["code"] == "insufficient_stock"
    assert sorted(response.json()["lines"], key=lambda line: line["product"]) == sorted(
        [
            {"product": pen.id, "requested": 4, "available": 3},
            {"product": pad.id, "requested": 3, "available": 2},
        ],
        key=lambda line: line["product"],
    )
    assert Transfer.objects.count() == TransferLine.objects.count() == 0
    assert (Movement.objects.count(), list(StockBalance.objects.values().order_by("id"))) == before

    # The available units go; the reserved ones stay.
    assert send(warehouse, [(pen, 3)], source="STORE-2", destination="MAIN").status_code == 201
    assert figures(warehouse, pen)["STORE-2"] == (7, 7, 0, 0)
    assert figures(warehouse, pen)["MAIN"] == (0, 0, 0, 3)


def test_receiving_more_than_is_in_transit_is_refused_listing_every_such_line(warehouse, store):
    pen, pad, ink = ProductFactory(stock=10), ProductFactory(stock=4), ProductFactory(stock=1)
    transfer = send(warehouse, [(pen, 3), (pad, 4)]).json()
    receive(warehouse, transfer["id"], [(pen, 1)])

    response = receive(warehouse, transfer["id"], [(pen, 3), (pad, 4), (ink, 1)])

    assert response.status_code == 409
    body = response.json()
    assert body["code"] == "transfer_quantity_exceeded" and body["transfer"] == transfer["id"]
    assert body["lines"] == [
        {"product": pen.id, "requested": 3, "available": 2},
        {"product": ink.id, "requested": 1, "available": 0},  # not on the transfer
    ]
    # Nothing was received, not even the line that fitted.
    shown = warehouse.get(f"{URL}{transfer['id']}/").json()
    assert [line["received"] for line in shown["lines"]] == [1, 0]
    assert figures(warehouse, pad)["STORE-2"] == (0, 0, 0, 4)
    # Lines of one product add up before they are checked.
    summed = receive(warehouse, transfer["id"], [(pen, 1), (pen, 1)])
    assert summed.status_code == 200, summed.json()
    assert line_of(summed.json(), pen)["outstanding"] == 0


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"from": "MAIN", "to": "main"}, 400, "transfer_same_location"),
        ({"from": "MAIN", "to": "STORE-9"}, 400, "unknown_location"),
        ({"from": "999999", "to": "MAIN"}, 400, "unknown_location"),
        ({"from": "MAIN", "to": "99999999999999999999"}, 400, "invalid"),
        ({"from": "MAIN", "to": "ARCHIVED"}, 400, "unknown_location"),
        ({"from": None}, 400, "invalid"),  # None: left out
        ({"lines": []}, 400, "invalid"),
        ({"lines": [{"product": "{pen}", "quantity": 0}]}, 400, "invalid"),
        ({"lines": [{"product": 999999, "quantity": 1}]}, 400, "unknown_product"),
        ({"lines": [{"product": 2**63, "quantity": 1}]}, 400, "invalid"),
        (
            {"lines": [{"product": "{pen}", "quantity": MAX_QUANTITY}] * 2},
            400,
            "invalid_quantity",
        ),
        ({"lines": [{"product": "{pen}", "quantity": 1}] * (MAX_LINES + 1)}, 400, "invalid"),
        ({"reference": "x" * 201}, 400, "invalid"),
    ],
)
def test_a_transfer_that_cannot_be_made_is_refused_and_writes_nothing(
    warehouse, store, body, status, code
):
    pen = ProductFactory(stock=10)
    location_create(code="ARCHIVED", name="Closed shop")
    warehouse.patch("/api/v1/locations/ARCHIVED/", {"is_active": False}, format="json")
    lines = [
        {**line, "product": pen.id} if line["product"] == "{pen}" else line
        for line in body.get("lines", [{"product": pen.id, "quantity": 1}])
    ]
    request = {"from": "MAIN", "to": "STORE-2", **body, "lines": lines}
    request = {key: value for key, value in request.items() if value is not None}

    response = warehouse.post(URL, request, format="json")

    assert response.status_code == status, response.json()
    assert response.json()["code"] == code
    assert Transfer.objects.count() == 0
    assert figures(warehouse, pen)["total"] == (10, 0, 10, 0)


def test_the_same_location_by_code_and_by_id_is_one_location(warehouse, store):
    pen = ProductFactory(stock=1)
    response = send(warehouse, [(pen, 1)], source="STORE-2", destination=str(store.id))
    assert response.status_code == 400
    assert response.json() == {
        "code": "transfer_same_location",
        "detail": "A transfer moves units between two different locations.",
        "location": "STORE-2",
    }


@pytest.mark.parametrize("transfer_id", [999999, 2**63, 10**30])
def test_an_unknown_transfer_is_a_404(warehouse, transfer_id):
    for response in (
        warehouse.get(f"{URL}{transfer_id}/"),
        receive(warehouse, transfer_id),
        cancel(warehouse, transfer_id),
    ):
        assert response.status_code == 404
        assert response.json()["code"] == "transfer_not_found"


@pytest.mark.parametrize(
    "body",
    [
        {"lines": []},
        {"lines": [{"product": 1, "quantity": 0}]},
        {"lines": [{"product": 1}]},
        {"lines": "all"},
    ],
)
def test_a_malformed_receive_is_a_400(warehouse, store, body):
    pen = ProductFactory(stock=2)
    transfer = send(warehouse, [(pen, 2)]).json()
    response = warehouse.post(f"{URL}{transfer['id']}/receive/", body, format="json")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert warehouse.get(f"{URL}{transfer['id']}/").json()["lines"][0]["received"] == 0


def test_transfers_are_listed_newest_first_and_filtered(auditor, warehouse, store):
    north = location_create(code="NORTH", name="North depot")
    pen = ProductFactory(stock=10)
    to_store = send(warehouse, [(pen, 1)]).json()
    to_north = send(warehouse, [(pen, 1)], destination="NORTH").json()
    received = send(warehouse, [(pen, 1)]).json()
    receive(warehouse, received["id"])

    def ids(query=""):
        response = auditor.get(f"{URL}{query}")
        assert response.status_code == 200, response.json()
        return [t["id"] for t in response.json()["results"]]

    assert ids() == [received["id"], to_north["id"], to_store["id"]]
    assert ids("?status=in_transit") == [to_north["id"], to_store["id"]]
    assert ids("?status=received") == [received["id"]]
    assert ids("?location=NORTH") == [to_north["id"]]
    assert ids(f"?location={north.id}") == [to_north["id"]]
    assert ids("?location=main") == [received["id"], to_north["id"], to_store["id"]]
    assert ids("?to=STORE-2&status=in_transit") == [to_store["id"]]
    assert ids("?from=STORE-2") == []
    assert ids("?location=NOWHERE") == []
    assert auditor.get(f"{URL}?status=lost").status_code == 400
    assert auditor.get(f"{URL}?location=-1").status_code == 400


def test_listing_transfers_costs_the_same_queries_for_any_number_of_lines(
    auditor, warehouse, store, django_assert_max_num_queries
):
    products = [ProductFactory(stock=5) for _ in range(12)]
    for size in (1, 12, 5):
        send(warehouse, [(p, 1) for p in products[:size]])
    # token + count + page (locations joined) + lines (products joined)
    with django_assert_max_num_queries(4):
        response = auditor.get(URL)
    assert [len(t["lines"]) for t in response.json()["results"]] == [5, 12, 1]


def test_customers_may_not_see_or_touch_transfers(customer, warehouse, store):
    pen = ProductFactory(stock=3)
    transfer = send(warehouse, [(pen, 1)]).json()
    for response in (
        customer.get(URL),
        customer.get(f"{URL}{transfer['id']}/"),
        send(customer, [(pen, 1)]),
        receive(customer, transfer["id"]),
        cancel(customer, transfer["id"]),
    ):
        assert response.status_code == 403
        assert response.json()["code"] == "permission_denied"
    assert Transfer.objects.count() == 1
    assert warehouse.get(f"{URL}{transfer['id']}/").json()["status"] == "in_transit"


def test_auditors_read_transfers_but_do_not_write_them(auditor, warehouse, store):
    pen = ProductFactory(stock=3)
    transfer = send(warehouse, [(pen, 1)]).json()
    assert auditor.get(URL).status_code == 200
    assert auditor.get(f"{URL}{transfer['id']}/").json() == transfer
    for response in (
        send(auditor, [(pen, 1)]),
        receive(auditor, transfer["id"]),
        cancel(auditor, transfer["id"]),
    ):
        assert response.status_code == 403
        assert response.json()["detail"] == "Only warehouse staff may do this."
    assert Transfer.objects.get().status == "in_transit"


def test_anonymous_requests_are_refused(anon):
    assert anon.get(URL).status_code == 401
    assert anon.post(URL, {}, format="json").status_code == 401


def test_a_repeated_idempotency_key_replays_without_a_second_transfer(warehouse, store):
    pen = ProductFactory(stock=10)
    headers = {"HTTP_IDEMPOTENCY_KEY": "tr-0001"}
    body = {"from": "MAIN", "to": "STORE-2", "lines": [{"product": pen.id, "quantity": 4}]}
    first = warehouse.post(URL, body, format="json", **headers)
    second = warehouse.post(URL, body, format="json", **headers)
    assert first.status_code == second.status_code == 201
    assert second["Idempotent-Replayed"] == "true"
    assert second.json() == first.json()
    assert Transfer.objects.count() == 1

    path = f"{URL}{first.json()['id']}/receive/"
    part = {"lines": [{"product": pen.id, "quantity": 1}]}
    receipts = [
        warehouse.post(path, part, format="json", HTTP_IDEMPOTENCY_KEY="rcv-1") for _ in range(2)
    ]
    assert [r.status_code for r in receipts] == [200, 200]
    assert receipts[1]["Idempotent-Replayed"] == "true"
    assert figures(warehouse, pen)["STORE-2"] == (1, 0, 1, 3)


def test_a_location_with_a_transfer_in_transit_cannot_be_archived(warehouse, store):
    location_create(code="NORTH", name="North depot")
    pen = ProductFactory()
    stock_restock(product_id=pen.id, quantity=2, actor_id=None, location_id=store.id)
    # STORE-2 sends all it holds: nothing on hand there, but a cancel would return it.
    transfer = send(warehouse, [(pen, 2)], source="STORE-2", destination="NORTH").json()

    refused = warehouse.patch("/api/v1/locations/STORE-2/", {"is_active": False}, format="json")
    assert refused.status_code == 409
    assert refused.json()["code"] == "location_has_transfers"
    assert refused.json()["location"] == "STORE-2"
    at_destination = warehouse.patch(
        "/api/v1/locations/NORTH/", {"is_active": False}, format="json"
    )
    assert at_destination.status_code == 409  # it expects the units
    assert at_destination.json()["code"] == "location_not_empty"

    assert cancel(warehouse, transfer["id"]).status_code == 200
    assert figures(warehouse, pen)["STORE-2"] == (2, 0, 2, 0)
    archived = warehouse.patch("/api/v1/locations/NORTH/", {"is_active": False}, format="json")
    assert archived.status_code == 200


def test_the_oracle_notices_incoming_that_no_transfer_owes(warehouse, store):
    """The transfer checks of the oracle used after every test here can fail."""
    pen = ProductFactory(stock=2)
    send(warehouse, [(pen, 2)])
    assert_ledger_consistent()
    TransferLine.objects.update(received=1)  # as if received without its posting
    with pytest.raises(AssertionError, match="transfer lines disagree"):
        assert_ledger_consistent()
    TransferLine.objects.update(received=0)


def test_the_schema_documents_the_transfer_endpoints_and_their_errors(client):
    schema = client.get("/api/schema/", {"format": "json"}).json()
    paths, components = schema["paths"], schema["components"]["schemas"]

    def codes(path, method, status):
        response = paths[path][method]["responses"][str(status)]
        return set(response["content"]["application/json"]["examples"])

    create = ("/api/v1/transfers/", "post")
    assert {"insufficient_stock", "idempotency_key_in_use"} <= codes(*create, 409)
    assert {
        "unknown_location",
        "transfer_same_location",
        "transfer_too_large",
        "invalid_quantity",
        "unknown_product",
    } <= codes(*create, 400)
    assert "permission_denied" in codes("/api/v1/transfers/", "get", 403)
    receive = ("/api/v1/transfers/{transfer_id}/receive/", "post")
    assert {"transfer_not_in_transit", "transfer_quantity_exceeded"} <= codes(*receive, 409)
    assert "transfer_not_found" in codes(*receive, 404)
    cancel = ("/api/v1/transfers/{transfer_id}/cancel/", "post")
    assert "transfer_not_in_transit" in codes(*cancel, 409)
    assert "transfer_not_found" in codes("/api/v1/transfers/{transfer_id}/", "get", 404)
    archive = ("/api/v1/locations/{location}/", "patch")
    assert "location_has_transfers" in codes(*archive, 409)

    request = components["TransferInputRequest"]
    assert set(request["required"]) == {"from", "to", "lines"}
    assert (
        request["properties"]["lines"]["minItems"],
        request["properties"]["lines"]["maxItems"],
    ) == (
        1,
        MAX_LINES,
    )
    output = components["TransferOutput"]["properties"]
    assert {"from", "to", "status", "lines", "closed_at", "created_by"} <= set(output)
    filters = {p["name"] for p in paths["/api/v1/transfers/"]["get"]["parameters"]}
    assert {"status", "location", "from", "to", "page"} <= filters
