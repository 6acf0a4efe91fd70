import io
import logging
import os
import signal
import smtplib
import socket
import time

import pytest
from django.core import mail
from django.core.mail.backends.base import BaseEmailBackend
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.roles import Role
from ledger.alerts import SendResult, stock_alerts_send
from ledger.models import StockAlert
from ledger.services import stock_adjust, stock_restock
from tests.concurrency import run_in_threads
from tests.conftest import client_for
from tests.factories import ProductFactory, UserFactory

URL = "/api/v1/stock-alerts/"


class FailingBackend(BaseEmailBackend):
    """A mail server that drops the connection."""

    def send_messages(self, email_messages):
        raise smtplib.SMTPServerDisconnected("Connection unexpectedly closed")


class SlowBackend(LocmemBackend):
    """The in-memory outbox, slow enough that concurrent senders overlap."""

    def send_messages(self, messages):
        time.sleep(0.02)
        return super().send_messages(messages)


def send() -> str:
    out = io.StringIO()
    call_command("send_stock_alerts", stdout=out, stderr=io.StringIO())
    return out.getvalue()


def crossed(*, reorder_level: int = 5, **kwargs):
    """A product one unit above its level, then one unit lost: exactly one alert."""
    product = ProductFactory(reorder_level=reorder_level, stock=reorder_level + 1, **kwargs)
    stock_adjust(product_id=product.id, quantity=-1, reason="lost", actor_id=None)
    return product


@pytest.mark.usefixtures("committed_db")
def test_16_concurrent_orders_crossing_the_level_make_one_alert_and_one_email():
    product = ProductFactory(sku="HOT-1", reorder_level=10, stock=20)
    clients = [client_for(UserFactory(role=Role.CUSTOMER)) for _ in range(16)]
    body = {"lines": [{"product": product.id, "quantity": 1}]}
    statuses = run_in_threads(
        lambda client: client.post("/api/v1/orders/", body, format="json").status_code, clients
    )
    assert statuses == [201] * 16

    alert = StockAlert.objects.get()
    assert (alert.product_id, alert.on_hand, alert.reorder_level) == (product.id, 10, 10)
    assert alert.movement.kind == "consumption"
    assert alert.movement.balance_after == 10
    assert "Sent 1 alert(s), 0 failed." in send()
    (message,) = mail.outbox
    assert message.to == ["stock@example.com"]
    assert message.subject == "Low stock: HOT-1 at 10 (reorder level 10)"
    assert "On hand now:                4" in message.body
    assert f"Movement {alert.movement_id}: consumption -1" in message.body
    assert f"stock-alert-{alert.id}." in message.extra_headers["Message-ID"]

    assert "Sent 0 alert(s), 0 failed." in send()
    assert len(mail.outbox) == 1
    alert.refresh_from_db()
    assert alert.sent_at is not None and alert.attempts == 1 and alert.status == "sent"


@pytest.mark.django_db
def test_no_new_alert_while_the_product_stays_at_or_below_its_level():
    product = crossed(reorder_level=5)  # 6 -> 5
    stock_adjust(product_id=product.id, quantity=-3, reason="lost", actor_id=None)  # 2
    stock_restock(product_id=product.id, quantity=3, actor_id=None)  # 5: at the level
    stock_adjust(product_id=product.id, quantity=-5, reason="lost", actor_id=None)  # 0
    assert StockAlert.objects.count() == 1
    send()
    assert len(mail.outbox) == 1


@pytest.mark.django_db
def test_a_restock_above_the_level_rearms_the_product():
    product = crossed(reorder_level=5)
    send()
    stock_restock(product_id=product.id, quantity=1, actor_id=None)  # 6: above again
    assert StockAlert.objects.count() == 1
    stock_adjust(product_id=product.id, quantity=-2, reason="damaged", actor_id=None)  # 4
    first, second = StockAlert.objects.order_by("id")
    assert (first.on_hand, second.on_hand) == (5, 4)
    assert "Sent 1 alert(s)" in send()
    assert [m.subject for m in mail.outbox] == [
        f"Low stock: {product.sku} at 5 (reorder level 5)",
        f"Low stock: {product.sku} at 4 (reorder level 5)",
    ]


@pytest.mark.django_db
def test_a_failing_mail_server_leaves_the_alert_pending_and_a_later_run_sends_it_once(
    settings,
):
    crossed()
    settings.EMAIL_BACKEND = "tests.ledger.test_stock_alerts.FailingBackend"
    assert "Sent 0 alert(s), 1 failed." in send()
    alert = StockAlert.objects.get()
    assert alert.sent_at is None
    assert alert.attempts == 1
    assert alert.last_error == "SMTPServerDisconnected: Connection unexpectedly closed"
    assert mail.outbox == []

    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert "Sent 1 alert(s), 0 failed." in send()
    assert "Sent 0 alert(s), 0 failed." in send()
    assert len(mail.outbox) == 1
    alert.refresh_from_db()
    assert alert.status == "sent" and alert.attempts == 2


@pytest.mark.django_db
def test_an_unreachable_smtp_server_is_a_failure_not_a_crash(settings):
    crossed()
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT = "127.0.0.1", port
    assert stock_alerts_send() == SendResult(failed=1)
    alert = StockAlert.objects.get()
    assert (alert.sent_at, alert.attempts) == (None, 1)
    assert alert.last_error.startswith("ConnectionRefusedError")


@pytest.mark.django_db
def test_a_failure_stops_the_pass_and_retried_alerts_go_behind_fresh_ones(settings):
    first, second = crossed(), crossed()
    settings.EMAIL_BACKEND = "tests.ledger.test_stock_alerts.FailingBackend"
    assert stock_alerts_send() == SendResult(sent=0, failed=1)
    assert dict(StockAlert.objects.values_list("product_id", "attempts")) == {
        first.id: 1,
        second.id: 0,
    }
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    assert stock_alerts_send(limit=1) == SendResult(sent=1)
    assert mail.outbox[0].subject.startswith(f"Low stock: {second.sku} ")
    assert stock_alerts_send() == SendResult(sent=1)
    assert len(mail.outbox) == 2


@pytest.mark.django_db
def test_without_recipients_alerts_stay_pending(settings, caplog):
    crossed()
    settings.LOW_STOCK_ALERT_EMAILS = []
    with caplog.at_level(logging.WARNING, logger="ledger.alerts"):
        assert stock_alerts_send() == SendResult(held=1)
    assert "LOW_STOCK_ALERT_EMAILS is empty" in caplog.text
    alert = StockAlert.objects.get()
    assert (alert.sent_at, alert.attempts) == (None, 0)
    assert mail.outbox == []


@pytest.mark.usefixtures("committed_db")
def test_concurrent_senders_send_each_alert_once(settings):
    products = [crossed() for _ in range(20)]
    settings.EMAIL_BACKEND = "tests.ledger.test_stock_alerts.SlowBackend"
    results = run_in_threads(lambda _: stock_alerts_send(), range(4), threads=4)
    assert sum(result.sent for result in results) == 20
    assert sum(result.failed for result in results) == 0
    assert sum(1 for result in results if result.sent) > 1  # the senders did overlap
    assert sorted(m.subject.split()[2] for m in mail.outbox) == sorted(p.sku for p in products)
    assert not StockAlert.objects.filter(sent_at__isnull=True).exists()
    assert set(StockAlert.objects.values_list("attempts", flat=True)) == {1}


# The loop closes stale connections between passes, as a request would; inside the
# test's own transaction that would close it, so these run on committed data.
@pytest.mark.usefixtures("committed_db")
def test_loop_stops_cleanly_on_sigterm(monkeypatch):
    crossed()
    from ledger.management.commands import send_stock_alerts as command

    passes = []

    def one_pass_then_sigterm(**kwargs):
        try:
            passes.append(stock_alerts_send(**kwargs))
            return passes[-1]
        finally:
            os.kill(os.getpid(), signal.SIGTERM)

    monkeypatch.setattr(command, "stock_alerts_send", one_pass_then_sigterm)
    handler = signal.getsignal(signal.SIGTERM)
    out = io.StringIO()
    call_command("send_stock_alerts", "--loop", "60", stdout=out)
    assert passes == [SendResult(sent=1)]
    assert "Sent 1 alert(s), 0 failed." in out.getvalue()
    assert out.getvalue().endswith("Stopped.\n")
    assert signal.getsignal(signal.SIGTERM) == handler


@pytest.mark.usefixtures("committed_db")
def test_loop_stops_cleanly_on_ctrl_c(monkeypatch):
    from ledger.management.commands import send_stock_alerts as command

    def interrupted(**kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(command, "stock_alerts_send", interrupted)
    out = io.StringIO()
    call_command("send_stock_alerts", "--loop", "60", stdout=out)
    assert out.getvalue().endswith("Stopped.\n")


# The list API


@pytest.mark.django_db
@pytest.mark.parametrize(("role", "expected"), [
    (Role.WAREHOUSE, 200), (Role.AUDITOR, 200), (Role.ADMIN, 200), (Role.CUSTOMER, 403),
])  # fmt: skip
def test_alert_list_access(role, expected):
    assert client_for(UserFactory(role=role)).get(URL).status_code == expected


def test_alert_list_needs_a_token(anon, db):
    assert anon.get(URL).status_code == 401


@pytest.mark.django_db
def test_alert_list_newest_first_with_status_and_product_filters(warehouse):
    first, second = crossed(sku="FIRST"), crossed(sku="SECOND")
    stock_alerts_send(limit=1)  # sends the older one
    sent, pending = StockAlert.objects.order_by("id")

    body = warehouse.get(URL).json()
    assert body["count"] == 2
    assert [row["sku"] for row in body["results"]] == ["SECOND", "FIRST"]
    assert body["results"][1] == {
        "id": sent.id,
        "product": first.id,
        "sku": "FIRST",
        "movement": sent.movement_id,
        "location": "MAIN",
        "on_hand": 5,
        "reorder_level": 5,
        "created_at": sent.created_at.isoformat().replace("+00:00", "Z"),
        "sent_at": sent.sent_at.isoformat().replace("+00:00", "Z"),
        "status": "sent",
        "attempts": 1,
        "last_error": "",
    }
    assert body["results"][0]["status"] == "pending"
    assert body["results"][0]["sent_at"] is None

    def ids(query):
        response = warehouse.get(URL + query)
        assert response.status_code == 200, response.content
        return [row["id"] for row in response.json()["results"]]

    assert ids("?status=pending") == [pending.id]
    assert ids("?status=sent") == [sent.id]
    assert ids(f"?product={second.id}") == [pending.id]
    assert ids(f"?product={second.id}&status=sent") == []


@pytest.mark.django_db
def test_alert_list_rejects_a_bad_status(warehouse):
    response = warehouse.get(URL + "?status=lost")
    assert response.status_code == 400
    assert response.json()["code"] == "invalid"
    assert "status" in response.json()["errors"]


@pytest.mark.django_db
def test_alert_list_costs_the_same_queries_for_any_page_size(warehouse):
    for _ in range(6):
        crossed()

    def queries(page_size):
        with CaptureQueriesContext(connection) as captured:
            response = warehouse.get(f"{URL}?page_size={page_size}")
        assert len(response.json()["results"]) == page_size
        return len(captured)

    assert queries(1) == queries(6)
