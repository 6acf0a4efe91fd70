"""Webhooks per Standard Webhooks: registration, signatures verified with the
specification's library, retries then success, 410, dead letters, retry, rotation."""

import threading

import pytest
from django.db import connection
from django.test import override_settings
from standardwebhooks import Webhook

from accounts.roles import Role
from events.delivery import FAN_OUT_BATCH, webhooks_deliver, webhooks_fan_out
from events.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from ledger.services import stock_restock
from tests.conftest import client_for
from tests.events.receiver import Receiver
from tests.factories import ProductFactory, UserFactory


@pytest.fixture
def receiver():
    server = Receiver()
    yield server
    server.close()


@pytest.fixture
def integration(db):
    return client_for(UserFactory(role=Role.INTEGRATION))


def register(client, url, types=()):
    response = client.post(
        "/api/v1/webhooks/", {"url": url, "types": list(types), "description": "t"}, format="json"
    )
    assert response.status_code == 201, response.json()
    return response.json()


def deliver_all(passes=20):
    for _ in range(passes):
        if not webhooks_deliver().attempted:
            return


def test_admins_and_integration_register_webhooks_others_get_403(
    integration, admin_client_api, auditor, customer, warehouse
):
    body = register(integration, "https://erp.example.com/hook")
    assert body["secret"].startswith("whsec_")
    register(admin_client_api, "https://erp.example.com/other", ["order.placed"])
    for client in (auditor, customer, warehouse):
        assert client.get("/api/v1/webhooks/").status_code == 403
        response = client.post("/api/v1/webhooks/", {"url": "https://x.example.com"}, format="json")
        assert response.status_code == 403
    listed = integration.get("/api/v1/webhooks/").json()["results"]
    assert len(listed) == 2 and "secret" not in listed[0]


def test_unknown_types_are_refused(integration):
    response = integration.post(
        "/api/v1/webhooks/", {"url": "https://x.example.com", "types": ["nope"]}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "unknown_event_type"


@override_settings(WEBHOOKS_ALLOW_PRIVATE=False)
@pytest.mark.parametrize(
    "url", ["http://127.0.0.1:9/hook", "http://localhost/hook", "http://10.1.2.3/", "ftp://a.b/"]
)
def test_loopback_and_private_addresses_are_refused_unless_allowed(integration, url):
    response = integration.post("/api/v1/webhooks/", {"url": url}, format="json")
    assert response.status_code == 400
    assert response.json()["code"] in ("unsafe_webhook_url", "invalid")


@pytest.mark.usefixtures("committed_db")
def test_deliveries_are_written_from_the_feed_by_type_once_each_and_postings_write_none():
    receiver = Receiver()
    try:
        integration = client_for(UserFactory(role=Role.INTEGRATION))
        orders = register(integration, "https://erp.example.com/orders", ["order.placed"])
        stock = register(integration, receiver.url, ["stock.restocked"])
        product = ProductFactory()
        for quantity in (1, 2):
            stock_restock(product_id=product.id, quantity=quantity, actor_id=None)
        assert not WebhookDelivery.objects.exists()  # a posting writes only its events
        assert webhooks_fan_out() == 2
        # Nothing new to send before those are: nothing written twice, nothing ahead.
        stock_restock(product_id=product.id, quantity=3, actor_id=None)
        assert webhooks_fan_out() == 0
        deliver_all()  # sends the two, then writes and sends the third
        stock_restock(product_id=product.id, quantity=4, actor_id=None)
        deliver_all()
        assert [b["data"]["quantity"] for _, b in receiver.accepted()] == [1, 2, 3, 4]
        assert not WebhookDelivery.objects.filter(endpoint_id=orders["id"]).exists()
        positions = list(
            WebhookDelivery.objects.filter(endpoint_id=stock["id"], status="delivered")
            .order_by("position")
            .values_list("position", flat=True)
        )
        page = integration.get("/api/v1/events/", {"types": "stock.restocked"}).json()
        assert positions == [event["id"] for event in page["results"]][-4:]
    finally:
        receiver.close()


@pytest.mark.usefixtures("committed_db")
@override_settings(WEBHOOKS_RETRY_SCHEDULE=(3600,))
def test_an_endpoint_that_is_down_costs_one_batch_of_rows():
    receiver = Receiver(statuses=[503])
    try:
        integration = client_for(UserFactory(role=Role.INTEGRATION))
        endpoint = register(integration, receiver.url, ["stock.restocked"])
        product = ProductFactory()
        for _ in range(FAN_OUT_BATCH + 20):
            stock_restock(product_id=product.id, quantity=1, actor_id=None)
        deliver_all()
        assert len(receiver.requests) == 1  # the head waits for its retry
        written = WebhookDelivery.objects.filter(endpoint_id=endpoint["id"]).count()
        assert 0 < written <= FAN_OUT_BATCH  # of the 120 events (one batch: the first 100)
    finally:
        receiver.close()


@pytest.mark.usefixtures("committed_db")
def test_an_endpoint_gets_the_events_committed_after_it_was_registered():
    product = ProductFactory()
    stock_restock(product_id=product.id, quantity=1, actor_id=None)
    integration = client_for(UserFactory(role=Role.INTEGRATION))
    endpoint = register(integration, "https://erp.example.com/hook")
    stock_restock(product_id=product.id, quantity=2, actor_id=None)
    assert webhooks_fan_out() == 1
    (delivery,) = WebhookDelivery.objects.filter(endpoint_id=endpoint["id"])
    page = integration.get("/api/v1/events/").json()["results"]
    assert delivery.position == page[-1]["id"] and page[-1]["data"]["quantity"] == 2


@pytest.mark.usefixtures("committed_db")
def test_deliveries_are_signed_and_verify_with_the_specification(receiver):
    integration = client_for(UserFactory(role=Role.INTEGRATION))
    endpoint = register(integration, receiver.url, ["stock.restocked"])
    product = ProductFactory()
    for quantity in (1, 2, 3):
        stock_restock(product_id=product.id, quantity=quantity, actor_id=None)
    deliver_all()
    accepted = receiver.accepted()
    assert [body["data"]["quantity"] for _, body in accepted] == [1, 2, 3]
    verifier = Webhook(endpoint["secret"])
    for (headers, body_bytes, _), (_, body) in zip(receiver.requests, accepted, strict=True):
        assert verifier.verify(body_bytes, headers) == body
        assert headers["webhook-id"] == f"evt_{body['id']}"
    # A wrong secret does not verify.
    with pytest.raises(Exception):  # noqa: B017 (the library's WebhookVerificationError)
        Webhook("whsec_" + "A" * 32).verify(receiver.requests[0][1], receiver.requests[0][0])


@pytest.mark.usefixtures("committed_db")
@override_settings(WEBHOOKS_RETRY_SCHEDULE=(0, 0, 0, 0, 0))
def test_a_receiver_failing_three_times_gets_each_event_once_in_order():
    receiver = Receiver(statuses=[500, 503, 500])
    try:
        integration = client_for(UserFactory(role=Role.INTEGRATION))
        register(integration, receiver.url)
        product = ProductFactory()
        for quantity in (1, 2, 3):
            stock_restock(product_id=product.id, quantity=quantity, actor_id=None)
        deliver_all()
        accepted = [body for _, body in receiver.accepted()]
        positions = [body["id"] for body in accepted]
        assert positions == sorted(set(positions))
        assert [b["type"] for b in accepted] == ["product.created"] + ["stock.restocked"] * 3
        assert len(receiver.requests) == len(accepted) + 3
        first = WebhookDelivery.objects.order_by("position").first()
        assert (first.status, first.attempts) == (DeliveryStatus.DELIVERED, 4)
    finally:
        receiver.close()


@pytest.mark.usefixtures("committed_db")
@override_settings(WEBHOOKS_RETRY_SCHEDULE=(0, 0))
def test_exhausted_retries_dead_letter_and_an_admin_retries_one():
    receiver = Receiver(statuses=[500, 500, 500])
    try:
        admin = client_for(UserFactory(role=Role.ADMIN))
        endpoint = register(admin, receiver.url, ["stock.restocked"])
        product = ProductFactory()
        stock_restock(product_id=product.id, quantity=4, actor_id=None)
        stock_restock(product_id=product.id, quantity=5, actor_id=None)
        deliver_all()
        # The first died after 3 attempts; the next one went on without it.
        deliveries = admin.get(f"/api/v1/webhooks/{endpoint['id']}/deliveries/").json()
        statuses = {d["event"]: d["status"] for d in deliveries["results"]}
        assert sorted(statuses.values()) == ["dead", "delivered"]
        dead = next(d for d in deliveries["results"] if d["status"] == "dead")
        assert dead["attempts"] == 3
        response = admin.post(f"/api/v1/webhooks/{endpoint['id']}/deliveries/{dead['id']}/retry/")
        assert response.status_code == 200 and response.json()["status"] == "pending"
        deliver_all()
        assert [b["data"]["quantity"] for _, b in receiver.accepted()] == [5, 4]
        assert (
            admin.post(f"/api/v1/webhooks/{endpoint['id']}/deliveries/999999/retry/").json()["code"]
            == "delivery_not_found"
        )
    finally:
        receiver.close()


@pytest.mark.usefixtures("committed_db")
def test_a_410_disables_the_endpoint():
    receiver = Receiver(statuses=[410])
    try:
        integration = client_for(UserFactory(role=Role.INTEGRATION))
        endpoint = register(integration, receiver.url, ["stock.restocked"])
        product = ProductFactory()
        stock_restock(product_id=product.id, quantity=1, actor_id=None)
        stock_restock(product_id=product.id, quantity=2, actor_id=None)
        deliver_all()
        assert len(receiver.requests) == 1
        row = WebhookEndpoint.objects.get(pk=endpoint["id"])
        assert not row.is_active and "410" in row.disabled_reason
        # A disabled endpoint gets no new deliveries written.
        stock_restock(product_id=product.id, quantity=3, actor_id=None)
        deliver_all()
        assert WebhookDelivery.objects.filter(endpoint_id=row.id).count() == 2
    finally:
        receiver.close()


@pytest.mark.usefixtures("committed_db")
def test_rotation_keeps_deliveries_verifiable_with_either_secret(receiver):
    integration = client_for(UserFactory(role=Role.INTEGRATION))
    endpoint = register(integration, receiver.url, ["stock.restocked"])
    old_secret = endpoint["secret"]
    rotated = integration.post(
        f"/api/v1/webhooks/{endpoint['id']}/rotate-secret/", {"grace_seconds": 600}, format="json"
    ).json()
    assert rotated["secret"] != old_secret and rotated["previous_secret_expires_at"]
    product = ProductFactory()
    stock_restock(product_id=product.id, quantity=1, actor_id=None)
    deliver_all()
    ((headers, body, _),) = receiver.requests
    assert len(headers["webhook-signature"].split(" ")) == 2
    Webhook(old_secret).verify(body, headers)
    Webhook(rotated["secret"]).verify(body, headers)
    # After the grace period, only the new secret signs.
    WebhookEndpoint.objects.filter(pk=endpoint["id"]).update(
        previous_secret_expires_at="2000-01-01T00:00:00Z"
    )
    stock_restock(product_id=product.id, quantity=2, actor_id=None)
    deliver_all()
    headers, body, _ = receiver.requests[1]
    assert len(headers["webhook-signature"].split(" ")) == 1
    Webhook(rotated["secret"]).verify(body, headers)
    connection.close()


def test_the_worker_command_runs_a_pass(db, capsys):
    from django.core.management import call_command

    call_command("deliver_webhooks")
    assert "0 delivered" in capsys.readouterr().out


@pytest.mark.usefixtures("committed_db")
def test_a_slow_receiver_holds_back_neither_postings_nor_the_feed():
    """A delivery is sent with no transaction open and no lock held: an open transaction
    would keep the feed's safe mark below every event committed meanwhile, and a lock on
    the endpoint would hold up every posting that writes a delivery for it."""
    receiver = Receiver(delay=3)
    try:
        integration = client_for(UserFactory(role=Role.INTEGRATION))
        register(integration, receiver.url, ["stock.restocked"])
        product = ProductFactory()
        stock_restock(product_id=product.id, quantity=1, actor_id=None)

        def send():
            try:
                webhooks_deliver(limit=1)
            finally:
                connection.close()

        sending = threading.Thread(target=send)
        sending.start()
        assert receiver.started.wait(10)
        stock_restock(product_id=product.id, quantity=2, actor_id=None)
        page = integration.get("/api/v1/events/", {"types": "stock.restocked"}).json()
        # All of it while the receiver still keeps the first delivery waiting.
        assert not receiver.answered.is_set()
        sending.join()
        assert [event["data"]["quantity"] for event in page["results"]] == [1, 2]
        assert [body["data"]["quantity"] for _, body in receiver.accepted()] == [1]
    finally:
        receiver.close()
