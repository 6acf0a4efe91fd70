from django.conf import settings
from django.db import models
from django.db.models import Q


class MovementKind(models.TextChoices):
    RESTOCK = "restock"
    CONSUMPTION = "consumption"
    ADJUSTMENT = "adjustment"
    REVERSAL = "reversal"


class AdjustmentReason(models.TextChoices):
    DAMAGED = "damaged"
    LOST = "lost"
    FOUND = "found"
    EXPIRED = "expired"
    CORRECTION = "correction"
    STOCKTAKE = "stocktake"


class Movement(models.Model):
    """One stock event. Append-only: a trigger (migration 0002) refuses UPDATE, DELETE
    and TRUNCATE. Written only by ledger.posting.movements_post."""

    # No index of its own: (product, seq) and (product, recorded_at, seq) lead with it.
    product = models.ForeignKey(
        "catalog.Product", on_delete=models.PROTECT, related_name="movements", db_index=False
    )
    kind = models.CharField(max_length=16, choices=MovementKind.choices)
    quantity = models.BigIntegerField()
    reason = models.CharField(max_length=16, choices=AdjustmentReason.choices, blank=True)
    seq = models.PositiveBigIntegerField()
    balance_after = models.BigIntegerField()
    recorded_at = models.DateTimeField(db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    reference = models.CharField(max_length=200, blank=True)
    note = models.TextField(blank=True)
    order_line = models.ForeignKey(
        "ordering.OrderLine",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="movements",
    )
    reverses = models.OneToOneField(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="reversed_by"
    )
    hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["product", "seq"], name="movement_seq_unique"),
            models.CheckConstraint(condition=~Q(quantity=0), name="movement_quantity_not_zero"),
            models.CheckConstraint(condition=Q(seq__gte=1), name="movement_seq_positive"),
            models.CheckConstraint(
                condition=Q(balance_after__gte=0), name="movement_balance_after_not_negative"
            ),
            models.CheckConstraint(
                condition=(
                    Q(kind=MovementKind.RESTOCK, quantity__gt=0)
                    | Q(kind=MovementKind.CONSUMPTION, quantity__lt=0)
                    | Q(kind__in=[MovementKind.ADJUSTMENT, MovementKind.REVERSAL])
                ),
                name="movement_quantity_sign_follows_kind",
            ),
            models.CheckConstraint(
                condition=Q(kind=MovementKind.ADJUSTMENT, reason__gt="")
                | (~Q(kind=MovementKind.ADJUSTMENT) & Q(reason="")),
                name="movement_reason_only_for_adjustments",
            ),
            models.CheckConstraint(
                condition=Q(kind=MovementKind.REVERSAL) | Q(reverses__isnull=True),
                name="movement_only_reversals_reverse",
            ),
        ]
        indexes = [
            # As-of reads: the product's last movement at or before T is one index seek.
            models.Index(fields=["product", "recorded_at", "seq"], name="movement_as_of_idx"),
            # Most movements have no reference: index only those that do.
            models.Index(
                fields=["reference"], condition=~Q(reference=""), name="movement_reference_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.quantity:+d} of product {self.product_id} (#{self.seq})"


class StockBalance(models.Model):
    """The projection: one row per product, updated in the posting's transaction."""

    product = models.OneToOneField(
        "catalog.Product", on_delete=models.CASCADE, primary_key=True, related_name="balance"
    )
    on_hand = models.BigIntegerField(default=0)
    version = models.PositiveBigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, blank=True, default="")
    updated_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(
                condition=Q(on_hand__gte=0), name="balance_on_hand_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"product {self.product_id}: {self.on_hand} on hand (v{self.version})"


class StockAlert(models.Model):
    """An outbox row: a posting took the product from above its reorder level to at or
    below it. Written in the posting's transaction; send_stock_alerts mails it."""

    product = models.ForeignKey(
        "catalog.Product", on_delete=models.CASCADE, related_name="stock_alerts"
    )
    movement = models.OneToOneField(Movement, on_delete=models.PROTECT, related_name="alert")
    on_hand = models.BigIntegerField()
    reorder_level = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-id"]
        indexes = [
            models.Index(
                fields=["id"], condition=Q(sent_at__isnull=True), name="stock_alert_pending_idx"
            ),
        ]

    def __str__(self) -> str:
        return f"low stock: product {self.product_id} at {self.on_hand} ({self.status})"

    @property
    def status(self) -> str:
        return "sent" if self.sent_at else "pending"
