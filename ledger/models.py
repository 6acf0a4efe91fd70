from django.conf import settings
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

# A code starts with a letter, so that it is never read as an id where an endpoint takes
# either; stored upper-case, so that "store-2" and "STORE-2" name one location.
LOCATION_CODE_PATTERN = r"^[A-Z][A-Z0-9_.-]{0,31}$"
DEFAULT_LOCATION_CODE = "MAIN"
DEFAULT_LOCATION_NAME = "Main warehouse"


class Location(models.Model):
    """A place that holds stock: a warehouse, a shop, a shelf. Exactly one is the default
    (a partial unique constraint; migration 0005 creates it): every endpoint that takes
    an optional location uses it when none is named, and it cannot be archived. An
    archived location (is_active off) takes no postings but keeps its history."""

    code = models.CharField(
        max_length=32,
        unique=True,
        validators=[RegexValidator(LOCATION_CODE_PATTERN)],
        help_text="Upper-case letters, digits, '_', '.', '-'; starts with a letter.",
    )
    name = models.CharField(max_length=200)
    is_active = models.BooleanField(default=True)
    is_default = models.BooleanField(default=False, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["is_default"], condition=Q(is_default=True), name="location_one_default"
            ),
            models.CheckConstraint(
                condition=Q(is_default=False) | Q(is_active=True),
                name="location_default_is_active",
            ),
            models.CheckConstraint(
                condition=Q(code__regex=LOCATION_CODE_PATTERN), name="location_code_format"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.code} {self.name}"


class MovementKind(models.TextChoices):
    """What a movement does; ledger.fold says which figures each kind changes."""

    RESTOCK = "restock"  # on hand +; goods received (alone or in a receipt)
    CONSUMPTION = "consumption"  # on hand -; an order's line
    ADJUSTMENT = "adjustment"  # on hand +/-; a correction or a count, with a reason
    REVERSAL = "reversal"  # on hand +/-; undoes a consumption or a commit (cancelled order)
    HOLD = "hold"  # reserved +; a reservation holds units
    COMMIT = "commit"  # on hand - and reserved -; held units leave with the customer
    RELEASE = "release"  # reserved -; a hold given back
    EXPIRY = "expiry"  # reserved -; a hold past its expiry given back
    TRANSFER_OUT = "transfer_out"  # on hand - at the origin
    IN_TRANSIT = "in_transit"  # incoming + at the destination
    TRANSFER_IN = "transfer_in"  # incoming - and on hand + at the destination
    TRANSIT_CANCEL = "transit_cancel"  # incoming - at the destination: not coming
    TRANSFER_RETURN = "transfer_return"  # on hand + at the origin: back from a cancel


RESERVATION_KINDS = (
    MovementKind.HOLD,
    MovementKind.COMMIT,
    MovementKind.RELEASE,
    MovementKind.EXPIRY,
)
TRANSFER_KINDS = (
    MovementKind.TRANSFER_OUT,
    MovementKind.IN_TRANSIT,
    MovementKind.TRANSFER_IN,
    MovementKind.TRANSIT_CANCEL,
    MovementKind.TRANSFER_RETURN,
)
# Kinds whose quantity is always positive (they add) or always negative (they take).
POSITIVE_KINDS = (
    MovementKind.RESTOCK,
    MovementKind.HOLD,
    MovementKind.IN_TRANSIT,
    MovementKind.TRANSFER_IN,
    MovementKind.TRANSFER_RETURN,
)
NEGATIVE_KINDS = (
    MovementKind.CONSUMPTION,
    MovementKind.COMMIT,
    MovementKind.RELEASE,
    MovementKind.EXPIRY,
    MovementKind.TRANSFER_OUT,
    MovementKind.TRANSIT_CANCEL,
)


class AdjustmentReason(models.TextChoices):
    DAMAGED = "damaged"
    LOST = "lost"
    FOUND = "found"
    EXPIRED = "expired"
    CORRECTION = "correction"
    STOCKTAKE = "stocktake"


class Movement(models.Model):
    """One stock event at one location. Append-only: a trigger (migration 0002) refuses
    UPDATE, DELETE and TRUNCATE. Written only by ledger.posting.movements_post.

    seq, the *_after figures and the hash chain are per (product, location); hash_version
    says which fields the hash covers (ledger.hashing).

    The table is partitioned by month of recorded_at (migration 0007, ledger.partitions):
    its database primary key is (id, recorded_at), and id, from one sequence, is unique.
    (product, location, seq) is unique across partitions: the insert trigger enters each
    in ledger_movement_seq, a plain table whose primary key refuses a repeat."""

    # No index of its own: (product, location, seq) and the as-of index lead with it.
    product = models.ForeignKey(
        "catalog.Product", on_delete=models.PROTECT, related_name="movements", db_index=False
    )
    # No index of its own either: a location holds a large share of all movements, so a
    # location filter reads the id index newest first; the composite indexes cover the
    # per-product reads.
    location = models.ForeignKey(
        Location, on_delete=models.PROTECT, related_name="movements", db_index=False
    )
    kind = models.CharField(max_length=24, choices=MovementKind.choices)
    quantity = models.BigIntegerField()
    reason = models.CharField(max_length=16, choices=AdjustmentReason.choices, blank=True)
    seq = models.PositiveBigIntegerField()
    # The (product, location) figures right after this event: on hand, reserved, incoming.
    balance_after = models.BigIntegerField()
    reserved_after = models.BigIntegerField()
    incoming_after = models.BigIntegerField()
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
        db_index=False,  # the partial index below: only orders' movements have one
    )
    # No database foreign key: the table is partitioned (migration 0007), so nothing can
    # reference its id alone. The insert trigger checks the reversed movement exists and
    # enters it once in ledger_movement_reversed (one reversal per movement).
    reverses = models.OneToOneField(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reversed_by",
        db_constraint=False,
    )
    # The document a movement belongs to, if any (an order's is order_line). No plain
    # indexes: the partial ones below cover the few movements that have each.
    reservation = models.ForeignKey(
        "Reservation",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="movements",
        db_index=False,
    )
    transfer = models.ForeignKey(
        "Transfer",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="movements",
        db_index=False,
    )
    receipt = models.ForeignKey(
        "Receipt",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="movements",
        db_index=False,
    )
    stocktake = models.ForeignKey(
        "Stocktake",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="movements",
        db_index=False,
    )
    hash_version = models.PositiveSmallIntegerField()
    hash = models.CharField(max_length=64)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=~Q(quantity=0), name="movement_quantity_not_zero"),
            models.CheckConstraint(condition=Q(seq__gte=1), name="movement_seq_positive"),
            models.CheckConstraint(
                condition=Q(balance_after__gte=0), name="movement_balance_after_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(
                    reserved_after__gte=0,
                    incoming_after__gte=0,
                    balance_after__gte=models.F("reserved_after"),
                ),
                name="movement_after_figures_valid",
            ),
            models.CheckConstraint(
                condition=Q(hash_version__in=[1, 2, 3]), name="movement_hash_version_known"
            ),
            models.CheckConstraint(
                condition=(
                    Q(kind__in=POSITIVE_KINDS, quantity__gt=0)
                    | Q(kind__in=NEGATIVE_KINDS, quantity__lt=0)
                    | Q(kind__in=[MovementKind.ADJUSTMENT, MovementKind.REVERSAL])
                ),
                name="movement_quantity_sign_follows_kind",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=RESERVATION_KINDS, reservation__isnull=False)
                | (~Q(kind__in=RESERVATION_KINDS) & Q(reservation__isnull=True)),
                name="movement_reservation_kinds",
            ),
            models.CheckConstraint(
                condition=Q(kind__in=TRANSFER_KINDS, transfer__isnull=False)
                | (~Q(kind__in=TRANSFER_KINDS) & Q(transfer__isnull=True)),
                name="movement_transfer_kinds",
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
            # As-of reads: the last movement of a (product, location) at or before T is
            # one index seek.
            models.Index(
                fields=["product", "location", "recorded_at", "seq"],
                name="movement_location_as_of_idx",
            ),
            # Most movements have no reference: index only those that do.
            models.Index(
                fields=["reference"], condition=~Q(reference=""), name="movement_reference_idx"
            ),
            models.Index(
                fields=["order_line"],
                condition=Q(order_line__isnull=False),
                name="movement_order_line_idx",
            ),
            models.Index(
                fields=["reservation", "id"],
                condition=Q(reservation__isnull=False),
                name="movement_reservation_idx",
            ),
            models.Index(
                fields=["transfer", "id"],
                condition=Q(transfer__isnull=False),
                name="movement_transfer_idx",
            ),
            models.Index(
                fields=["receipt", "id"],
                condition=Q(receipt__isnull=False),
                name="movement_receipt_idx",
            ),
            models.Index(
                fields=["stocktake", "id"],
                condition=Q(stocktake__isnull=False),
                name="movement_stocktake_idx",
            ),
        ]

    def __str__(self) -> str:
        return (
            f"{self.kind} {self.quantity:+d} of product {self.product_id}"
            f" at location {self.location_id} (#{self.seq})"
        )


class StockBalance(models.Model):
    """The projection: one row per (product, location), updated in the posting's
    transaction. The default location's row is opened with the product (a trigger,
    migrations 0004 and 0005); another location's on the first posting there.

    available = on_hand - reserved, never below zero (CHECK); reserved units are held
    for someone and stay on hand; incoming units are on their way to this location."""

    product = models.ForeignKey(
        "catalog.Product", on_delete=models.CASCADE, related_name="balances", db_index=False
    )
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="balances")
    on_hand = models.BigIntegerField(default=0)
    reserved = models.BigIntegerField(default=0)
    incoming = models.BigIntegerField(default=0)
    version = models.PositiveBigIntegerField(default=0)
    last_hash = models.CharField(max_length=64, blank=True, default="")
    updated_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["product_id", "location_id"]
        constraints = [
            # Also the index of every balance read and of the product foreign key.
            models.UniqueConstraint(
                fields=["product", "location"], name="balance_product_location_unique"
            ),
            models.CheckConstraint(
                condition=Q(on_hand__gte=0), name="balance_on_hand_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(reserved__gte=0), name="balance_reserved_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(incoming__gte=0), name="balance_incoming_not_negative"
            ),
            models.CheckConstraint(
                condition=Q(on_hand__gte=models.F("reserved")),
                name="balance_available_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return (
            f"product {self.product_id} at location {self.location_id}:"
            f" {self.on_hand} on hand (v{self.version})"
        )

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


class StockAlert(models.Model):
    """An outbox row: a posting took the product from above its reorder level to at or
    below it. Written in the posting's transaction; send_stock_alerts mails it."""

    product = models.ForeignKey(
        "catalog.Product", on_delete=models.CASCADE, related_name="stock_alerts"
    )
    # No database foreign key (the movement table is partitioned, migration 0007): the
    # posting's statement writes the alert from the movement it has just inserted.
    movement = models.OneToOneField(
        Movement, on_delete=models.PROTECT, related_name="alert", db_constraint=False
    )
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


class ReservationStatus(models.TextChoices):
    HELD = "held"
    COMMITTED = "committed"
    RELEASED = "released"
    EXPIRED = "expired"


class Reservation(models.Model):
    """Units held at one location for a customer until ``expires_at``: a pending posting.
    Holding posts ``hold`` movements (reserved +); it resolves exactly once, by a commit
    (``commit`` movements, plus ``release`` for what was not taken), a release or an
    expiry. The status moves only from held, under the row's lock (ledger.reservations).
    """

    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="+")
    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="reservations"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    status = models.CharField(
        max_length=16, choices=ReservationStatus.choices, default=ReservationStatus.HELD
    )
    reference = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField()
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(status=ReservationStatus.HELD, resolved_at__isnull=True)
                | (~Q(status=ReservationStatus.HELD) & Q(resolved_at__isnull=False)),
                name="reservation_resolved_once",
            ),
        ]
        indexes = [
            # The expiry worker's scan: held reservations, soonest first.
            models.Index(
                fields=["expires_at"],
                condition=Q(status=ReservationStatus.HELD),
                name="reservation_held_expiry_idx",
            ),
            models.Index(fields=["customer", "id"], name="reservation_customer_idx"),
        ]

    def __str__(self) -> str:
        return f"reservation {self.id} ({self.status})"

    @property
    def current_status(self) -> str:
        """The status as it reads now: a hold past expires_at is expired at once, before
        the worker (or a refused reservation or order) posts its expiry."""
        if self.status == ReservationStatus.HELD and self.expires_at <= timezone.now():
            return ReservationStatus.EXPIRED.value
        return self.status


class ReservationLine(models.Model):
    reservation = models.ForeignKey(Reservation, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey("catalog.Product", on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField()
    committed = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(
                fields=["product", "reservation"], name="reservation_line_unique"
            ),
            models.CheckConstraint(condition=Q(quantity__gte=1), name="reservation_line_positive"),
            models.CheckConstraint(
                condition=Q(committed__lte=models.F("quantity")),
                name="reservation_line_committed_at_most_held",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} of product {self.product_id}"


class TransferStatus(models.TextChoices):
    IN_TRANSIT = "in_transit"
    RECEIVED = "received"
    CANCELLED = "cancelled"


class Transfer(models.Model):
    """Units moving from one location to another. Creating it posts ``transfer_out`` at
    the origin and ``in_transit`` (incoming +) at the destination; receiving posts
    ``transfer_in``; cancelling posts ``transit_cancel`` and ``transfer_return`` for what
    was not received. Both legs of each step are one posting (ledger.transfers)."""

    from_location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="+")
    to_location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(
        max_length=16, choices=TransferStatus.choices, default=TransferStatus.IN_TRANSIT
    )
    reference = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(from_location=models.F("to_location")),
                name="transfer_between_two_locations",
            ),
        ]
        indexes = [
            models.Index(
                fields=["id"],
                condition=Q(status=TransferStatus.IN_TRANSIT),
                name="transfer_in_transit_idx",
            ),
        ]

    def __str__(self) -> str:
        return f"transfer {self.id} ({self.status})"


class TransferLine(models.Model):
    transfer = models.ForeignKey(Transfer, on_delete=models.CASCADE, related_name="lines")
    product = models.ForeignKey("catalog.Product", on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField()
    received = models.PositiveIntegerField(default=0)
    cancelled = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.UniqueConstraint(fields=["product", "transfer"], name="transfer_line_unique"),
            models.CheckConstraint(condition=Q(quantity__gte=1), name="transfer_line_positive"),
            models.CheckConstraint(
                condition=Q(quantity__gte=models.F("received") + models.F("cancelled")),
                name="transfer_line_settled_at_most_sent",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} of product {self.product_id}"

    @property
    def outstanding(self) -> int:
        return self.quantity - self.received - self.cancelled


class Receipt(models.Model):
    """A whole delivery received at once: one ``restock`` movement per product."""

    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="+")
    reference = models.CharField(max_length=200)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    line_count = models.PositiveIntegerField()
    units = models.PositiveBigIntegerField()

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"receipt {self.id} ({self.reference})"


class Stocktake(models.Model):
    """A count of many products at one location, taken at ``counted_at``: one
    ``adjustment`` (reason stocktake) per product whose count differs from its balance
    as of that instant."""

    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="+")
    counted_at = models.DateTimeField()
    reference = models.CharField(max_length=200, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    line_count = models.PositiveIntegerField()
    adjusted = models.PositiveIntegerField()

    class Meta:
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"stocktake {self.id} at {self.counted_at}"


class DetachedPartition(models.Model):
    """A month of movements detached from the movement table (ledger_partitions
    --detach-before): a plain table now, named ``name``, holding the movements recorded
    in [starts_at, ends_at). Its chains' end states are its checkpoints."""

    name = models.CharField(max_length=63, unique=True)
    starts_at = models.DateTimeField()
    ends_at = models.DateTimeField(unique=True)
    movements = models.PositiveBigIntegerField()
    detached_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["ends_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.movements} movements)"


class ChainCheckpoint(models.Model):
    """Where a (product, location) chain stood at the end of a detached partition: its
    last movement there (seq, hash, hash version) and the figures after it. The chain in
    the movement table (or in the next detached partition) continues from the newest
    checkpoint, so verify_ledger checks it without the detached rows, and
    ``verify_ledger --partition`` checks the detached rows from the checkpoint before."""

    partition = models.ForeignKey(
        DetachedPartition, on_delete=models.PROTECT, related_name="checkpoints"
    )
    product = models.ForeignKey(
        "catalog.Product", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    location = models.ForeignKey(Location, on_delete=models.PROTECT, related_name="+")
    seq = models.PositiveBigIntegerField()
    hash = models.CharField(max_length=64)
    hash_version = models.PositiveSmallIntegerField()
    on_hand = models.BigIntegerField()
    reserved = models.BigIntegerField()
    incoming = models.BigIntegerField()

    class Meta:
        ordering = ["partition", "product", "location"]
        constraints = [
            models.UniqueConstraint(
                fields=["product", "location", "partition"],
                name="checkpoint_chain_partition_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"product {self.product_id} at {self.location_id}: #{self.seq} in {self.partition}"
