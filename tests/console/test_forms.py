"""The warehouse forms post through the services, once per rendered form, and show a
refusal next to its field."""

import re
from datetime import UTC, datetime, timedelta

from ledger.models import Movement, Receipt
from ledger.reservations import reservation_create
from ledger.services import location_create
from tests.factories import ProductFactory


def form_key(page: str, form_id: str | None = None) -> str:
    if form_id:
        page = page[page.index(f'id="{form_id}"') :]
    return re.search(r'name="form_key" value="([0-9a-f]+)"', page).group(1)


def on_hand(product_id: int) -> int:
    last = Movement.objects.filter(product_id=product_id).order_by("-id").first()
    return last.balance_after if last else 0


def test_a_delivery_of_two_lines_is_one_receipt_posted_once(staff):
    pen, pad = ProductFactory(sku="PEN-1"), ProductFactory(sku="PAD-1", stock=2)
    key = form_key(staff.get("/console/deliveries/new/").content.decode())
    data = {
        "form_key": key,
        "location": "MAIN",
        "reference": "DN-77",
        "sku_1": "PEN-1",
        "units_1": "10",
        "sku_2": "PAD-1",
        "units_2": "5",
    }
    first = staff.post("/console/deliveries/new/", data)
    again = staff.post("/console/deliveries/new/", data)  # a reload or a double click
    assert first.status_code == again.status_code == 302
    assert first["Location"] == again["Location"]
    assert Receipt.objects.count() == 1
    assert (on_hand(pen.id), on_hand(pad.id)) == (10, 7)


def test_the_same_key_with_other_values_posts_nothing(staff):
    ProductFactory(sku="PEN-1")
    key = form_key(staff.get("/console/deliveries/new/").content.decode())
    data = {
        "form_key": key,
        "location": "MAIN",
        "reference": "DN-1",
        "sku_1": "PEN-1",
        "units_1": "1",
    }
    staff.post("/console/deliveries/new/", data)
    response = staff.post("/console/deliveries/new/", {**data, "units_1": "2"})
    assert response.status_code == 400
    assert "sent before with other values" in response.content.decode()
    assert Receipt.objects.count() == 1


def test_an_unknown_sku_is_shown_on_its_line_and_nothing_is_received(staff):
    ProductFactory(sku="PEN-1")
    key = form_key(staff.get("/console/deliveries/new/").content.decode())
    response = staff.post(
        "/console/deliveries/new/",
        {
            "form_key": key,
            "location": "MAIN",
            "reference": "DN-2",
            "sku_1": "PEN-1",
            "units_1": "1",
            "sku_2": "NOPE",
            "units_2": "3",
        },
    )
    assert response.status_code == 400
    page = response.content.decode()
    line_2 = page[page.index('id="id_sku_2"') :][:400]
    assert "No product on sale has this sku." in line_2
    assert Receipt.objects.count() == 0


def test_an_adjustment_below_zero_shows_the_shortfall_next_to_the_units(staff):
    product = ProductFactory(stock=3)
    page = staff.get(f"/console/products/{product.id}/").content.decode()
    response = staff.post(
        f"/console/products/{product.id}/adjust/",
        {
            "form_key": form_key(page, "adjust-form"),
            "location": "MAIN",
            "quantity": "-5",
            "reason": "damaged",
            "note": "",
        },
    )
    assert response.status_code == 400
    page = response.content.decode()
    field = page[page.index('id="adjust_quantity"') :][:400]
    assert "Only 3 available there; this takes 5: 2 short." in field
    assert on_hand(product.id) == 3


def test_an_adjustment_posts_once(staff):
    product = ProductFactory(stock=3)
    page = staff.get(f"/console/products/{product.id}/").content.decode()
    data = {
        "form_key": form_key(page, "adjust-form"),
        "location": "MAIN",
        "quantity": "-2",
        "reason": "damaged",
        "note": "dropped",
    }
    for _ in range(2):
        assert staff.post(f"/console/products/{product.id}/adjust/", data).status_code == 302
    assert on_hand(product.id) == 1


def test_a_count_posts_the_difference_from_the_balance_as_of_counted_at(staff):
    product = ProductFactory(stock=10)
    page = staff.get(f"/console/products/{product.id}/").content.decode()
    # Just after the restock (seconds, as a browser sends them), within the clock skew.
    counted_at = (datetime.now(UTC) + timedelta(seconds=2)).strftime("%Y-%m-%dT%H:%M:%S")
    response = staff.post(
        f"/console/products/{product.id}/count/",
        {
            "form_key": form_key(page, "count-form"),
            "location": "MAIN",
            "counted": "8",
            "counted_at": counted_at,
            "reference": "sheet 4",
        },
    )
    assert response.status_code == 302
    assert on_hand(product.id) == 8


def test_a_count_in_the_future_is_refused_next_to_counted_at(staff):
    product = ProductFactory(stock=10)
    page = staff.get(f"/console/products/{product.id}/").content.decode()
    later = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M")
    response = staff.post(
        f"/console/products/{product.id}/count/",
        {
            "form_key": form_key(page, "count-form"),
            "location": "MAIN",
            "counted": "8",
            "counted_at": later,
        },
    )
    assert response.status_code == 400
    page = response.content.decode()
    assert 'class="error" id="count_counted_at-error"' in page
    assert on_hand(product.id) == 10


def test_a_transfer_is_sent_then_received(staff):
    product = ProductFactory(sku="BOX-1", stock=6)
    location_create(code="EAST", name="East")
    key = form_key(staff.get("/console/transfers/").content.decode())
    response = staff.post(
        "/console/transfers/",
        {
            "form_key": key,
            "from_location": "MAIN",
            "location": "EAST",
            "sku_1": "BOX-1",
            "units_1": "4",
        },
    )
    assert response.status_code == 302
    page = staff.get("/console/transfers/").content.decode()
    assert "BOX-1</a> \u00d7 4" in page
    action = re.search(r'action="(/console/transfers/\d+/receive/)"', page).group(1)
    assert staff.post(action, {"form_key": form_key(page[page.index(action) :])}).status_code == 302
    east = Movement.objects.filter(product_id=product.id, location__code="EAST").latest("id")
    assert (east.kind, east.balance_after) == ("transfer_in", 4)


def test_a_transfer_short_at_the_origin_shows_the_shortfall_on_its_line(staff):
    ProductFactory(sku="BOX-1", stock=1)
    location_create(code="EAST", name="East")
    key = form_key(staff.get("/console/transfers/").content.decode())
    response = staff.post(
        "/console/transfers/",
        {
            "form_key": key,
            "from_location": "MAIN",
            "location": "EAST",
            "sku_1": "BOX-1",
            "units_1": "4",
        },
    )
    assert response.status_code == 400
    assert "Only 1 available at the origin: 3 short." in response.content.decode()


def test_a_reservation_is_released_once(staff):
    product = ProductFactory(stock=5)
    held = reservation_create(
        customer_id=staff.session["_auth_user_id"],
        created_by_id=staff.session["_auth_user_id"],
        lines=[(product.id, 2)],
    )
    page = staff.get("/console/reservations/").content.decode()
    action = f"/console/reservations/{held.id}/release/"
    key = form_key(page[page.index(action) :])
    for _ in range(2):
        assert staff.post(action, {"form_key": key}).status_code == 302
    assert Movement.objects.filter(reservation_id=held.id, kind="release").count() == 1
