"""Sending webhook deliveries (Standard Webhooks): at least once, in position order per
endpoint, with exponential backoff, then a dead letter.

Only an endpoint's *head* (its pending delivery of the lowest position) is ever sent,
and only once its event is below the safe mark (events.positions), so an endpoint sees
its events in position order: a delivery waiting for its retry holds back the ones
after it; a dead-lettered one no longer does. A worker claims a delivery under its row
lock (FOR UPDATE SKIP LOCKED) with a lease, sends it with no transaction open, then
records the outcome: several workers share the endpoints and never send one delivery
twice at once, and a crash mid-send leaves it pending, to be sent again when the lease
ends (at least once: receivers dedupe by ``webhook-id``).
"""

import json
import logging
from dataclasses import dataclass
from datetime import timedelta

import httpx
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone
from standardwebhooks import Webhook

from events.apis.feed import render_event
from events.exceptions import UnsafeWebhookUrl
from events.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from events.positions import SAFE_BOUND
from events.selectors import event_get
from events.urls_check import url_check

logger = logging.getLogger(__name__)

# Delay before each retry (the Standard Webhooks / Svix schedule): after the last one
# fails, the delivery is dead-lettered; about 27 hours in all.
DEFAULT_SCHEDULE = (5, 300, 1800, 7200, 18000, 36000, 36000)

# Each active endpoint's head, if due: one statement, whatever the number of endpoints.
_HEADS = f"""
SELECT h.id FROM (
    SELECT DISTINCT ON (d.endpoint_id) d.id, d.next_attempt_at
      FROM events_webhookdelivery AS d
      JOIN events_webhookendpoint AS w ON w.id = d.endpoint_id AND w.is_active
     WHERE d.status = 'pending' AND d.position < {SAFE_BOUND}
     ORDER BY d.endpoint_id, d.position
) AS h
 WHERE h.next_attempt_at <= clock_timestamp()
 LIMIT %s
"""


@dataclass
class DeliverResult:
    delivered: int = 0
    failed: int = 0
    dead: int = 0
    disabled: int = 0

    @property
    def attempted(self) -> int:
        return self.delivered + self.failed + self.dead + self.disabled


# A claimed delivery is not due again until its send has surely ended (see _send_one).
_LEASE_MARGIN_SECONDS = 30


def schedule() -> tuple[int, ...]:
    return tuple(getattr(settings, "WEBHOOKS_RETRY_SCHEDULE", DEFAULT_SCHEDULE))


def signature_headers(endpoint: WebhookEndpoint, msg_id: str, body: str, now) -> dict:
    """The Standard Webhooks headers; during a rotation's grace period, the previous
    secret's signature too (space-separated), so a receiver holding either verifies."""
    signatures = [Webhook(endpoint.secret).sign(msg_id, now, body)]
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret and expires and expires > now:
        signatures.append(Webhook(endpoint.previous_secret).sign(msg_id, now, body))
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": " ".join(signatures),
        "content-type": "application/json",
        "user-agent": "inventory-ledger-webhooks/1",
    }


def webhooks_deliver(*, limit: int = 100, should_stop=lambda: False) -> DeliverResult:
    """One pass: send up to ``limit`` due heads, endpoint after endpoint; an endpoint
    that accepts goes on with its next head in the same pass."""
    result = DeliverResult()
    with connection.cursor() as cursor:
        cursor.execute(_HEADS, [limit])
        heads = [row[0] for row in cursor.fetchall()]
    with httpx.Client(timeout=settings.WEBHOOKS_TIMEOUT_SECONDS, follow_redirects=False) as client:
        for delivery_id in heads:
            while delivery_id is not None and result.attempted < limit and not should_stop():
                delivery_id = _send_one(client, delivery_id, result)
    return result


def _next_head(endpoint_id: int) -> int | None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT id, next_attempt_at <= clock_timestamp() FROM events_webhookdelivery"
            f" WHERE endpoint_id = %s AND status = 'pending' AND position < {SAFE_BOUND}"
            " ORDER BY position LIMIT 1",
            [endpoint_id],
        )
        row = cursor.fetchone()
    return row[0] if row and row[1] else None


def _send_one(client: httpx.Client, delivery_id: int, result: DeliverResult) -> int | None:
    """Send one delivery (if still its endpoint's due head and not claimed by another
    worker); returns the endpoint's next head to send at once, or None.

    Three steps, and no transaction open during the request: a transaction holding the
    row's lock has a transaction id, and the feed serves nothing above the oldest one
    still open (events.positions), so a slow receiver would stall every follower.
    1. claim: lock the row (FOR UPDATE SKIP LOCKED), check it is due, and push its
       next attempt past the send's timeout (a lease: other workers find it not due;
       a worker that dies mid-send leaves it to be sent again when the lease ends);
    2. send, outside any transaction;
    3. record the outcome, under the row's lock again.
    """
    with transaction.atomic():
        # The delivery's row only: a lock on the endpoint's would hold up every posting
        # that writes an outbox row for it (their foreign key takes FOR KEY SHARE).
        delivery = (
            WebhookDelivery.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("endpoint")
            .filter(pk=delivery_id, status=DeliveryStatus.PENDING, endpoint__is_active=True)
            .first()
        )
        if delivery is None or delivery.next_attempt_at > timezone.now():
            return None
        delivery.next_attempt_at = timezone.now() + timedelta(
            seconds=settings.WEBHOOKS_TIMEOUT_SECONDS + _LEASE_MARGIN_SECONDS
        )
        delivery.save(update_fields=["next_attempt_at"])
        endpoint = delivery.endpoint
        event = event_get(position=delivery.position)
    body = json.dumps(render_event(event), cls=DjangoJSONEncoder, separators=(",", ":"))
    now = timezone.now()
    status_code, error = None, ""
    try:
        url_check(endpoint.url)
        headers = signature_headers(endpoint, f"evt_{delivery.position}", body, now)
        response = client.post(endpoint.url, content=body.encode(), headers=headers)
        status_code = response.status_code
    except UnsafeWebhookUrl as exc:
        error = exc.detail
    except httpx.HTTPError as exc:
        error = f"{type(exc).__name__}: {exc}"[:500]
    with transaction.atomic():
        delivery = WebhookDelivery.objects.select_for_update().get(pk=delivery.pk)
        if delivery.status != DeliveryStatus.PENDING:  # an admin resolved it meanwhile
            return None
        _record(delivery, endpoint, now, status_code, error, result)
    if delivery.status in (DeliveryStatus.DELIVERED, DeliveryStatus.DEAD):
        return _next_head(endpoint.id)
    return None


def _record(delivery, endpoint, now, status_code: int | None, error: str, result) -> None:
    """The attempt's outcome on the delivery (and a 410 on its endpoint); saves both."""
    delivery.attempts += 1
    delivery.last_attempt_at = now
    delivery.last_status_code = status_code
    delivery.last_error = error or ("" if status_code and status_code < 300 else "HTTP error")
    if status_code is not None and 200 <= status_code < 300:
        delivery.status = DeliveryStatus.DELIVERED
        delivery.delivered_at = now
        delivery.last_error = ""
        result.delivered += 1
    elif status_code == 410:
        delivery.status = DeliveryStatus.DISABLED
        endpoint.is_active = False
        endpoint.disabled_reason = f"410 Gone at {now.isoformat()}"
        endpoint.save(update_fields=["is_active", "disabled_reason"])
        result.disabled += 1
    else:
        if status_code is not None:
            delivery.last_error = f"HTTP {status_code}"
        delays = schedule()
        age = (now - delivery.created_at).total_seconds()
        if delivery.attempts > len(delays) or age > settings.WEBHOOKS_RETRY_FOR_SECONDS:
            delivery.status = DeliveryStatus.DEAD
            result.dead += 1
            logger.warning("webhook %s: delivery %s dead-lettered", endpoint.id, delivery.id)
        else:
            delivery.next_attempt_at = now + timedelta(seconds=delays[delivery.attempts - 1])
            result.failed += 1
    delivery.save()
