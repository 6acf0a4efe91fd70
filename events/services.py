"""Writes of the event feed: appending an event outside a posting (catalogue and order
changes), webhook endpoints (register, rotate the secret) and retrying a delivery.
A posting's stock events are written by the posting's own statement (ledger.posting)."""

import base64
import json
import secrets
from datetime import timedelta

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.utils import timezone

from events.exceptions import DeliveryNotFound, EndpointNotFound, UnknownEventType
from events.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from events.selectors import event_safe_mark
from events.types import REGISTRY
from events.urls_check import url_check

_APPEND = (
    "INSERT INTO events_event (type, version, occurred_at, subject, data)"
    " VALUES (%s, %s, clock_timestamp(), %s, %s::jsonb) RETURNING position"
)


def event_append(*, type: str, subject: str, data: dict) -> int:
    """Append one event of a registered ``type`` (at its current version): one
    statement, in the caller's transaction (or its own).
    Returns its position. Raises KeyError for an unregistered type."""
    version = REGISTRY[type].version
    with connection.cursor() as cursor:
        cursor.execute(_APPEND, [type, version, subject, json.dumps(data, cls=DjangoJSONEncoder)])
        return cursor.fetchone()[0]


def _new_secret() -> str:
    # Standard Webhooks: "whsec_" and base64 of 24 to 64 random bytes.
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def webhook_endpoint_create(
    *, url: str, types: list[str], description: str, created_by_id: int | None
) -> WebhookEndpoint:
    """Register an endpoint with a new ``whsec_`` secret. It receives the events
    committed from now on. Raises UnsafeWebhookUrl (loopback or private address unless
    WEBHOOKS_ALLOW_PRIVATE), UnknownEventType."""
    url_check(url)
    _check_types(types)
    return WebhookEndpoint.objects.create(
        url=url,
        types=sorted(set(types)),
        description=description,
        secret=_new_secret(),
        created_by_id=created_by_id,
        # Below the safe mark every event is committed already: not for this endpoint.
        fanned_out_to=max(event_safe_mark() - 1, 0),
    )


def _check_types(types: list[str]) -> None:
    unknown = sorted(set(types) - set(REGISTRY))
    if unknown:
        raise UnknownEventType(types=unknown)


@transaction.atomic
def webhook_secret_rotate(*, endpoint_id: int, grace: timedelta) -> WebhookEndpoint:
    """Give the endpoint a new secret; the old one keeps signing deliveries (a second
    signature) for ``grace``, so the receiver can switch over. Locks the endpoint row.
    Raises EndpointNotFound."""
    endpoint = WebhookEndpoint.objects.select_for_update().filter(pk=endpoint_id).first()
    if endpoint is None:
        raise EndpointNotFound(endpoint=endpoint_id)
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = timezone.now() + grace
    endpoint.secret = _new_secret()
    endpoint.save(update_fields=["secret", "previous_secret", "previous_secret_expires_at"])
    return endpoint


@transaction.atomic
def webhook_delivery_retry(*, endpoint_id: int, delivery_id: int) -> WebhookDelivery:
    """Send a delivery again at once (a dead letter, or one pending a backoff), with a
    fresh set of attempts; re-enables the endpoint if a 410 disabled it. Locks the
    delivery row. Raises DeliveryNotFound."""
    delivery = (
        WebhookDelivery.objects.select_for_update()
        .filter(pk=delivery_id, endpoint_id=endpoint_id)
        .first()
    )
    if delivery is None:
        raise DeliveryNotFound(delivery=delivery_id)
    if delivery.status != DeliveryStatus.DELIVERED:
        delivery.status = DeliveryStatus.PENDING
        delivery.attempts = 0
        delivery.next_attempt_at = timezone.now()
        delivery.save(update_fields=["status", "attempts", "next_attempt_at"])
        WebhookEndpoint.objects.filter(pk=endpoint_id, is_active=False).update(
            is_active=True, disabled_reason=""
        )
    return delivery
