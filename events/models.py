"""The event feed's tables: the events (append-only, a gap-safe global position), the
webhook endpoints and their deliveries (written from the feed by the webhook worker).

An event's ``position`` is its transaction's id shifted left by 20 bits plus its
number within that transaction (events.positions explains why; the column's default,
events_next_position(), assigns it). Rows are written by raw SQL only: the posting's
statement (ledger.posting) and events.services.event_append.
"""

from django.conf import settings
from django.contrib.postgres.fields import ArrayField
from django.db import models


class Event(models.Model):
    """One event of the envelope (id = position, type, version, occurred_at, subject,
    data). Append-only: a trigger (migration 0001) refuses UPDATE and DELETE."""

    position = models.BigIntegerField(primary_key=True)
    type = models.CharField(max_length=48)
    version = models.PositiveSmallIntegerField()
    occurred_at = models.DateTimeField()
    subject = models.CharField(max_length=200)
    data = models.JSONField()

    class Meta:
        ordering = ["position"]

    def __str__(self) -> str:
        return f"{self.position} {self.type} {self.subject}"


class WebhookEndpoint(models.Model):
    """A receiver of events by HTTP POST, signed per the Standard Webhooks specification.

    ``types`` empty: every type. ``secret`` signs; ``previous_secret`` also signs until
    ``previous_secret_expires_at`` (a rotation's grace period). A 410 answer sets
    ``is_active`` off (``disabled_reason`` says why)."""

    url = models.URLField(max_length=500)
    types = ArrayField(models.CharField(max_length=48), default=list, blank=True)
    description = models.CharField(max_length=200, blank=True)
    secret = models.CharField(max_length=100)
    previous_secret = models.CharField(max_length=100, blank=True)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=200, blank=True)
    # Every event at or below this position has its delivery to this endpoint written
    # (or was not for it): the worker's fan-out (events.delivery) goes on from here.
    fanned_out_to = models.BigIntegerField(default=0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        # The worker's fan-out reads the active endpoints.
        indexes = [
            models.Index(fields=["id"], condition=models.Q(is_active=True), name="webhook_active")
        ]

    def __str__(self) -> str:
        return self.url


class DeliveryStatus(models.TextChoices):
    PENDING = "pending"  # due at next_attempt_at
    DELIVERED = "delivered"
    DEAD = "dead"  # retries exhausted (dead letter); an admin may retry it
    DISABLED = "disabled"  # the endpoint answered 410 Gone; not sent


class WebhookDelivery(models.Model):
    """One event to one endpoint, written by the ``deliver_webhooks`` worker when it fans
    the endpoint's events out from the feed (the outbox: every event is written in its
    own transaction, and the gap-safe position means the fan-out never skips one), and
    sent by it in position order per endpoint."""

    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.CASCADE, related_name="+")
    position = models.BigIntegerField()
    status = models.CharField(
        max_length=16, choices=DeliveryStatus.choices, default=DeliveryStatus.PENDING
    )
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField()
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField()

    class Meta:
        ordering = ["position"]
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "position"], name="delivery_once")
        ]
        indexes = [
            # The worker's scan: an endpoint's oldest pending delivery.
            models.Index(
                fields=["endpoint", "position"],
                condition=models.Q(status="pending"),
                name="delivery_pending",
            )
        ]

    def __str__(self) -> str:
        return f"{self.endpoint_id}:{self.position} {self.status}"
