import csv
import io
import json
import re
from datetime import timedelta
from decimal import Decimal

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.utils import timezone

from accounts.roles import Role
from ledger.models import Movement
from ledger.reports import low_stock_report
from ledger.services import stock_adjust, stock_restock
from ordering.services import order_cancel, order_place
from tests.factories import ProductFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def history():
    """A known history.

    ANCHOR: reorder level 25; restocks of 60 and 40; orders of 30, 50 and 10, the last
    one cancelled; 2 units damaged. On hand 18, short 7, 80 units consumed net in the
    window (2.67 a day), 18 / (80 / 30) = 6.75 days of cover.
    BOLT: reorder level 5, 3 received, nothing consumed: short 2, no cover figure.
    Not listed: CLAMP (above its level), DOWEL (low but archived).
    """
    customer = UserFactory(role=Role.CUSTOMER)
    anchor = ProductFactory(sku="ANCHOR", name="Anchors", reorder_level=25, stock=60)
    stock_restock(product_id=anchor.id, quantity=40, actor_id=None)
    for quantity in (30, 50):
        order_place(customer_id=customer.id, lines=[(anchor.id, quantity)])
    cancelled = order_place(customer_id=customer.id, lines=[(anchor.id, 10)])
    order_cancel(order_id=cancelled.id, actor_id=customer.id, customer_id=customer.id)
    stock_adjust(product_id=anchor.id, quantity=-2, reason="damaged", actor_id=None)
    bolt = ProductFactory(sku="BOLT", name="Bolts", reorder_level=5, stock=3)
    ProductFactory(sku="CLAMP", name="Clamps", reorder_level=5, stock=6)
    ProductFactory(sku="DOWEL", name="Dowels", reorder_level=5, is_active=False)
    return {
        "anchor": anchor,
        "anchor_restocked": _last_restock(anchor),
        "bolt": bolt,
        "bolt_restocked": _last_restock(bolt),
    }


def _last_restock(product):
    return Movement.objects.filter(product=product, kind="restock").latest("seq").recorded_at


def _run(*args) -> str:
    out = io.StringIO()
    call_command("low_stock_report", *args, stdout=out)
    return out.getvalue()


def test_selector_computes_the_figures_from_the_ledger(history):
    rows = low_stock_report()
    assert [(r.sku, r.on_hand, r.reorder_level, r.shortfall) for r in rows] == [
        ("ANCHOR", 18, 25, 7),
        ("BOLT", 3, 5, 2),
    ]
    anchor, bolt = rows
    assert anchor.last_restock_at == history["anchor_restocked"]
    assert anchor.consumed_per_day == Decimal("2.67")
    assert anchor.days_of_cover == Decimal("6.8")  # 6.75 rounded half up
    assert bolt.last_restock_at == history["bolt_restocked"]
    assert (bolt.consumed_per_day, bolt.days_of_cover) == (Decimal("0.00"), None)


def test_consumption_older_than_the_window_drops_out(history):
    later = {r.sku: r for r in low_stock_report(now=timezone.now() + timedelta(days=31))}
    assert later["ANCHOR"].consumed_per_day == Decimal("0.00")
    assert later["ANCHOR"].days_of_cover is None
    assert later["ANCHOR"].last_restock_at == history["anchor_restocked"]
    # A 7-day window still holds it all: 80 units / 7 days.
    week = {r.sku: r for r in low_stock_report(window_days=7)}
    assert week["ANCHOR"].consumed_per_day == Decimal("11.43")
    assert week["ANCHOR"].days_of_cover == Decimal("1.6")  # 18 * 7 / 80 = 1.575


def test_a_product_exactly_at_its_level_is_low_with_no_shortfall(db):
    ProductFactory(sku="EXACT", reorder_level=4, stock=4)
    assert [(r.sku, r.shortfall) for r in low_stock_report()] == [("EXACT", 0)]


def test_text_report_is_an_aligned_table(history):
    output = _run()
    title, blank, header, rule, *rows = output.splitlines()
    assert title.startswith("Low stock at ")
    assert "2 product(s) at or below their reorder level" in title
    assert "last 30 days" in title
    assert blank == ""
    assert re.split(r"  +", header) == [
        "SKU", "NAME", "ON HAND", "REORDER", "SHORTFALL", "LAST RESTOCK", "PER DAY", "COVER",
    ]  # fmt: skip
    assert set(rule) <= {"-", " "}
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d UTC"
    assert re.fullmatch(rf"ANCHOR +Anchors +18 +25 +7 +{stamp} +2\.67 +6\.8 d", rows[0])
    assert re.fullmatch(rf"BOLT +Bolts +3 +5 +2 +{stamp} +0\.00 +∞", rows[1])
    # Aligned: every line of the table has the same width, and each column starts (text)
    # or ends (figures) at the same offset on every line.
    assert len({len(line) for line in (header, rule, *rows)}) == 1
    assert header.index("NAME") == rows[0].index("Anchors") == rows[1].index("Bolts")
    end = header.index("REORDER") + len("REORDER")
    assert rows[0][end - 2 : end] == "25"
    assert rows[1][end - 1 : end] == "5"


def test_text_report_with_nothing_low_says_so(db):
    ProductFactory(reorder_level=1, stock=10)
    assert "0 product(s) at or below their reorder level" in _run()


def test_csv_report(history):
    rows = list(csv.DictReader(io.StringIO(_run("--format", "csv"))))
    assert rows == [
        {
            "sku": "ANCHOR",
            "name": "Anchors",
            "on_hand": "18",
            "reorder_level": "25",
            "shortfall": "7",
            "last_restock_at": history["anchor_restocked"].isoformat(),
            "consumed_per_day": "2.67",
            "days_of_cover": "6.8",
        },
        {
            "sku": "BOLT",
            "name": "Bolts",
            "on_hand": "3",
            "reorder_level": "5",
            "shortfall": "2",
            "last_restock_at": history["bolt_restocked"].isoformat(),
            "consumed_per_day": "0.00",
            "days_of_cover": "",
        },
    ]


def test_json_report(history):
    document = json.loads(_run("--format=json"))
    assert document["window_days"] == 30
    assert document["generated_at"]
    assert document["products"] == [
        {
            "product": history["anchor"].id,
            "sku": "ANCHOR",
            "name": "Anchors",
            "on_hand": 18,
            "reorder_level": 25,
            "shortfall": 7,
            "last_restock_at": history["anchor_restocked"].isoformat(),
            "consumed_per_day": 2.67,
            "days_of_cover": 6.8,
        },
        {
            "product": history["bolt"].id,
            "sku": "BOLT",
            "name": "Bolts",
            "on_hand": 3,
            "reorder_level": 5,
            "shortfall": 2,
            "last_restock_at": history["bolt_restocked"].isoformat(),
            "consumed_per_day": 0.0,
            "days_of_cover": None,
        },
    ]


def test_email_sends_one_mail_to_the_alert_recipients(history, settings):
    settings.LOW_STOCK_ALERT_EMAILS = ["buyer@example.com", "stores@example.com"]
    output = _run("--email")
    assert "Sent the low stock report (2 product(s)) to buyer@example.com" in output
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["buyer@example.com", "stores@example.com"]
    assert message.from_email == settings.DEFAULT_FROM_EMAIL
    assert message.subject == "Low stock report: 2 product(s) at or below their reorder level"
    assert re.search(r"^ANCHOR +Anchors +18 +25 +7 ", message.body, re.MULTILINE)
    assert message.attachments == []


def test_email_in_csv_attaches_the_csv(history):
    _run("--email", "--format", "csv")
    (message,) = mail.outbox
    ((filename, content, mimetype),) = message.attachments
    assert filename.endswith(".csv")
    assert mimetype == "text/csv"
    assert [row["sku"] for row in csv.DictReader(io.StringIO(content))] == ["ANCHOR", "BOLT"]


def test_email_without_recipients_is_an_error(history, settings):
    settings.LOW_STOCK_ALERT_EMAILS = []
    with pytest.raises(CommandError, match="LOW_STOCK_ALERT_EMAILS is empty"):
        _run("--email")
    assert mail.outbox == []
