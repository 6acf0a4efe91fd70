"""Low-stock alerts: mailing the outbox rows that ledger.posting writes, and listing them."""

import logging
from collections.abc import Callable
from dataclasses import dataclass

from django.conf import settings
from django.core import mail
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from ledger.models import StockAlert, StockBalance

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SendResult:
    sent: int = 0
    failed: int = 0
    held: int = 0  # pending alerts left alone because LOW_STOCK_ALERT_EMAILS is empty


def stock_alerts_send(
    *, limit: int = 100, should_stop: Callable[[], bool] | None = None
) -> SendResult:
    """Mail pending alerts (fewest attempts first, then oldest), one email each to
    LOW_STOCK_ALERT_EMAILS, at most ``limit`` of them.

    Each alert is handled in its own short transaction: SELECT ... FOR UPDATE SKIP
    LOCKED takes one pending row (sent_at IS NULL), the email is sent while that lock is
    held, then the row gets sent_at and attempts + 1. Two workers running at once
    therefore never pick the same alert, and a sent alert is never picked again.
    Locks: one stock alert row at a time (not the product or its balance, so postings
    are never blocked).

    Delivery is at least once: an alert is never lost, but a crash between the mail
    server's acceptance and the commit can repeat one email (the row is still pending
    after the rollback). The Message-ID is derived from the alert, so mail systems that
    de-duplicate by it drop such a repeat.

    A mail failure (OSError, which covers smtplib.SMTPException and timeouts) records
    attempts + 1 and last_error and leaves the alert pending for a later run; the pass
    stops there, since the next alert would most likely fail the same way. Retried
    alerts go behind the fresh ones, so one undeliverable alert does not block others.
    With no recipients configured nothing is sent or changed: alerts stay pending and a
    warning is logged. ``should_stop`` is asked between alerts (a worker's SIGTERM).
    Raises DatabaseError if the database fails (the current alert stays pending).
    """
    recipients = list(settings.LOW_STOCK_ALERT_EMAILS)
    if not recipients:
        held = StockAlert.objects.filter(sent_at__isnull=True).count()
        if held:
            logger.warning(
                "%d low-stock alert(s) pending but LOW_STOCK_ALERT_EMAILS is empty: nothing sent",
                held,
            )
        return SendResult(held=held)

    connection = mail_connection()
    sent = 0
    try:
        while sent < limit and not (should_stop and should_stop()):
            outcome = _send_next(connection, recipients)
            if outcome is None:
                break
            if not outcome:
                return SendResult(sent=sent, failed=1)
            sent += 1
    finally:
        _close(connection)
    return SendResult(sent=sent)


def _close(connection) -> None:
    # Quitting a session the server already dropped raises; what was sent stays sent.
    try:
        connection.close()
    except OSError as error:
        logger.info("closing the mail connection failed: %s", error)


def mail_connection():
    """The configured mail backend. EMAIL_TIMEOUT (settings) bounds each send, so a silent
    mail server cannot hold an alert's transaction open."""
    return mail.get_connection()


def _send_next(connection, recipients: list[str]) -> bool | None:
    """Send the next pending alert: True if sent, False if the mail failed, None if
    there is nothing (unlocked) left to send."""
    with transaction.atomic():
        alert = (
            StockAlert.objects.select_for_update(skip_locked=True, of=("self",))
            .select_related("product", "movement__location")
            .filter(sent_at__isnull=True)
            .order_by("attempts", "id")
            .first()
        )
        if alert is None:
            return None
        try:
            connection.open()  # a no-op once open: one SMTP session for the whole pass
            delivered = connection.send_messages([_message(alert, recipients)])
            if delivered != 1:
                raise OSError("the mail backend reported the message as not sent")
        except OSError as error:
            logger.warning("low-stock alert %d not sent: %s", alert.id, error)
            StockAlert.objects.filter(pk=alert.pk).update(
                attempts=F("attempts") + 1, last_error=f"{type(error).__name__}: {error}"
            )
            return False
        StockAlert.objects.filter(pk=alert.pk).update(
            sent_at=timezone.now(), attempts=F("attempts") + 1
        )
        return True


def _message(alert: StockAlert, recipients: list[str]) -> mail.EmailMessage:
    product, movement = alert.product, alert.movement
    location = movement.location
    now = (
        StockBalance.objects.filter(product=product, location=location)
        .values_list("on_hand", flat=True)
        .first()
    )
    recorded = timezone.localtime(movement.recorded_at).strftime("%Y-%m-%d %H:%M:%S %Z")
    lines = [
        f"{product.sku} {product.name} fell to or below its reorder level"
        f" at {location.code} ({location.name}).",
        "",
        f"On hand after the movement: {alert.on_hand}",
        f"Reorder level:              {alert.reorder_level}",
        f"On hand now:                {now}",
        "",
        f"Movement {movement.id}: {movement.kind} {movement.quantity:+d}"
        f" (#{movement.seq} of this product at {location.code}) at {recorded}",
    ]
    if movement.reference:
        lines.append(f"Reference: {movement.reference}")
    # Stable across retries, so a repeat after a crash can be recognised as the same mail.
    domain = settings.DEFAULT_FROM_EMAIL.rpartition("@")[2].strip("> ") or "localhost"
    message_id = f"<stock-alert-{alert.id}.{alert.created_at:%Y%m%d%H%M%S%f}@{domain}>"
    return mail.EmailMessage(
        subject=f"Low stock: {product.sku} at {alert.on_hand} (reorder level"
        f" {alert.reorder_level})",
        body="\n".join(lines) + "\n",
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=recipients,
        headers={"Message-ID": message_id},
    )
