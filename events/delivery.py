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


# The fan-out: for each active endpoint with nothing pending (a batch ahead of its
# sends at most; that no other worker is fanning out), or the one endpoint given, the
# events after its fanned_out_to and below the safe mark, oldest first, at most
# %(batch)s; a delivery for each of its types; fanned_out_to moves past what was read
# (to just below the safe mark when fewer than a batch were left). One statement,
# whatever the number of endpoints. ON CONFLICT: nothing is written twice.
_FAN_OUT = f"""
WITH s AS (SELECT {SAFE_BOUND} AS bound),
w AS (SELECT id, types, fanned_out_to FROM events_webhookendpoint AS x
       WHERE is_active AND (%(endpoint)s::bigint IS NULL OR id = %(endpoint)s::bigint)
         AND NOT EXISTS (SELECT FROM events_webhookdelivery
                          WHERE endpoint_id = x.id AND status = 'pending')
       ORDER BY id FOR UPDATE SKIP LOCKED),
e AS (SELECT w.id AS endpoint_id, x.position, x.type
        FROM w CROSS JOIN s CROSS JOIN LATERAL (
             SELECT position, type FROM events_event
              WHERE position > w.fanned_out_to AND position < s.bound
              ORDER BY position LIMIT %(batch)s) AS x),
d AS (INSERT INTO events_webhookdelivery
          (endpoint_id, position, status, attempts, next_attempt_at, created_at, last_error)
      SELECT e.endpoint_id, e.position, 'pending', 0, clock_timestamp(), clock_timestamp(), ''
        FROM e JOIN w ON w.id = e.endpoint_id
       WHERE w.types = '{{}}' OR e.type = ANY(w.types)
       ORDER BY e.endpoint_id, e.position
          ON CONFLICT (endpoint_id, position) DO NOTHING
   RETURNING 1),
c AS (SELECT w.id, count(e.position) AS scanned, max(e.position) AS last
        FROM w LEFT JOIN e ON e.endpoint_id = w.id GROUP BY w.id),
t AS (UPDATE events_webhookendpoint AS t
         SET fanned_out_to = GREATEST(t.fanned_out_to, CASE WHEN c.scanned = %(batch)s
                                                           THEN c.last ELSE s.bound - 1 END)
        FROM c CROSS JOIN s
       WHERE t.id = c.id)
SELECT (SELECT count(*) FROM d), COALESCE((SELECT bool_or(scanned = %(batch)s) FROM c), false)
"""
FAN_OUT_BATCH = 100


def webhooks_fan_out(*, batch: int = FAN_OUT_BATCH, endpoint_id: int | None = None) -> int:
    """Write the deliveries of the next events committed since the last fan-out, for
    every active endpoint (or ``endpoint_id``) subscribed to their types and with no
    delivery pending; returns how many. Reads up to ``batch`` events per endpoint and
    transaction, until one of its types is found or none is left.

    A delivery is written only when its endpoint has sent what was written before it: a
    posting writes none, and an endpoint that is down or slow costs the ledger one batch
    of rows, not a row per event for as long as it is down.

    Short transactions: locks the active endpoints' rows (SKIP LOCKED: a worker
    fanning one out already, or a rotation, makes it wait for the next pass), never the
    events. Only events below the safe mark are read, so none committed later can have a
    position at or below fanned_out_to: nothing is skipped, nothing written twice."""
    written, more = 0, True
    while more:
        with transaction.atomic(), connection.cursor() as cursor:
            cursor.execute(_FAN_OUT, {"batch": batch, "endpoint": endpoint_id})
            count, more = cursor.fetchone()
        written += count
    return written


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
    """One pass: fan the new events out into deliveries (webhooks_fan_out), then send
    up to ``limit`` due heads, endpoint after endpoint; an endpoint that accepts goes on
    with its next head in the same pass."""
    result = DeliverResult()
    webhooks_fan_out()
    with connection.cursor() as cursor:
        cursor.execute(_HEADS, [limit])
        heads = [row[0] for row in cursor.fetchall()]
    with httpx.Client(timeout=settings.WEBHOOKS_TIMEOUT_SECONDS, follow_redirects=False) as client:
        for delivery_id in heads:
            while delivery_id is not None and result.attempted < limit and not should_stop():
                delivery_id = _send_one(client, delivery_id, result)
    return result


_NEXT_HEAD = (
    "SELECT id, next_attempt_at <= clock_timestamp() FROM events_webhookdelivery"
    f" WHERE endpoint_id = %s AND status = 'pending' AND position < {SAFE_BOUND}"
    " ORDER BY position LIMIT 1"
)


def _next_head(endpoint_id: int) -> int | None:
    """The endpoint's next delivery to send now, fanning out its next events first if
    none is pending."""
    row = _pending_head(endpoint_id)
    if row is None and webhooks_fan_out(endpoint_id=endpoint_id):
        row = _pending_head(endpoint_id)
    return row[0] if row and row[1] else None


def _pending_head(endpoint_id: int) -> tuple[int, bool] | None:
    """The endpoint's oldest pending delivery below the safe mark: (id, due now)."""
    with connection.cursor() as cursor:
        cursor.execute(_NEXT_HEAD, [endpoint_id])
        return cursor.fetchone()


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
        # The delivery's row only: a lock on the endpoint's would hold up its fan-out
        # and an admin's rotation for as long as the receiver takes.
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
