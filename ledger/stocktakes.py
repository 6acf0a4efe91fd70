"""Counts that cope with moves: a stocktake of many products at one location, counted at
``counted_at``, posts for each product the count minus its balance as of that instant,
so that units sold or received between the count and its posting are not wiped out.

The balance as of counted_at is the on-hand figure right after the (product, location)'s
last movement recorded at or before it (0 before its first), plus the corrections of
earlier counts that were posted after it (a count taken at 10:00 and posted at 10:05
corrected the balance of 10:03 too). It is read after the balance rows are locked: a
posting still in flight when the count is posted either committed before the lock was
granted (and is read) or waits, and is then recorded after the stocktake.

Limits, and why:
- counted_at is not in the future (by the database's clock, which stamps movements): a
  posting between now and counted_at would be taken as before the count without having
  been counted. A counted_at up to CLOCK_SKEW ahead (a handheld's clock running fast) is
  taken as now.
- counted_at is at most MAX_AGE old: a late count is more likely to have been taken
  again since, and a count that found no difference leaves no movement, so a newer
  count of the same product cannot always be seen.
- A product counted again after counted_at by a count already posted (a stocktake
  adjustment whose own count is newer, or a one-product stocktake posted after it) is
  refused (CountSuperseded): this count is older news.

Whatever the number of lines, a stocktake costs the same statements: one names the
products, one locks their balance rows in (product, location) order (two more at a named
location: lock it, open missing rows), one reads the figures as of counted_at, one writes
the stocktake row, then the posting's three (five at a named location).
"""

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.utils import timezone

from core.exceptions import InvalidInput
from ledger.exceptions import (
    CountSuperseded,
    DuplicateCount,
    HistoryDetached,
    InvalidCountedAt,
    InvalidLineCount,
    InvalidQuantity,
)
from ledger.integrity import NEWEST_CHECKPOINT
from ledger.models import AdjustmentReason, Location, MovementKind, Stocktake

# The posting's own lock protocol: the same statements, so that a stocktake and any
# posting lock the same rows in the same order.
from ledger.posting import _LOCK_ROWS, Posting, _prepare_named, movements_post
from ledger.selectors import ProductRef, products_resolve

MAX_LINES = 5_000
MAX_COUNT = 10**12
MAX_AGE = timedelta(days=7)
CLOCK_SKEW = timedelta(seconds=60)
MAX_REFERENCE_LENGTH = 200


@dataclass(slots=True)
class StocktakeLine:
    """One counted product: the count, the balance as of counted_at it is set against,
    and the adjustment posted for the difference (none when they agree)."""

    product_id: int
    sku: str
    counted: int
    expected: int | None = None
    movement_id: int | None = None
    balance_after: int | None = None

    @property
    def difference(self) -> int:
        return self.counted - self.expected


# For each product at the location (None: the default one): the on-hand units right after
# its last movement at or before counted_at (one seek in movement_location_as_of_idx),
# and the stocktake adjustments recorded after counted_at (a range of the same index):
# the units of those whose count was taken at or before counted_at, and how many come
# from a newer count (a one-product stocktake's count is taken when it is recorded).
# With no movement left at or before counted_at in the table, the newest checkpoint of
# a detached month (ledger.partitions). Also the database's clock, against which
# counted_at is checked, and the end of the last detached month.
_AS_OF_COUNTS = f"""
SELECT c.id, c.code, v.product_id,
       COALESCE(m.balance_after, cp.on_hand, 0) + k.earlier::bigint, k.newer, clock_timestamp(),
       h.ends_at
  FROM (SELECT id, code FROM ledger_location
         WHERE id = %(location)s::bigint OR (%(location)s::bigint IS NULL AND is_default)) AS c
 CROSS JOIN unnest(%(products)s::bigint[]) AS v(product_id)
  LEFT JOIN LATERAL (
        SELECT balance_after FROM ledger_movement
         WHERE product_id = v.product_id AND location_id = c.id
           AND recorded_at <= %(counted_at)s
         ORDER BY recorded_at DESC, seq DESC
         LIMIT 1
  ) AS m ON true
  LEFT JOIN LATERAL ({NEWEST_CHECKPOINT.format(product="v.product_id", location="c.id")}
  ) AS cp ON m.balance_after IS NULL
 CROSS JOIN (SELECT max(ends_at) AS ends_at FROM ledger_detachedpartition) AS h
 CROSS JOIN LATERAL (
        SELECT COALESCE(SUM(s.quantity) FILTER (WHERE t.counted_at <= %(counted_at)s), 0)
                   AS earlier,
               COUNT(*) FILTER (WHERE t.counted_at IS NULL OR t.counted_at > %(counted_at)s)
                   AS newer
          FROM ledger_movement AS s
          LEFT JOIN ledger_stocktake AS t ON t.id = s.stocktake_id
         WHERE s.product_id = v.product_id AND s.location_id = c.id
           AND s.recorded_at > %(counted_at)s AND s.reason = 'stocktake'
  ) AS k
"""


@transaction.atomic
def stocktake_create(
    *,
    location_id: int | None,
    counted_at: datetime,
    lines: Iterable[tuple[ProductRef, int]],
    actor_id: int,
    reference: str = "",
) -> Stocktake:
    """Record a count of 1 to MAX_LINES products (by id or sku) taken at a location
    (None: the default one) at ``counted_at``: for each product whose count differs from
    its balance as of counted_at, one adjustment (reason stocktake) of the difference,
    all through one movements_post call. Archived products may be counted.

    Returns the Stocktake (line_count: the products counted; adjusted: the adjustments
    posted) with ``location`` and ``stocktake_lines`` (in product-id order).

    Locks: a named location (FOR KEY SHARE), then the balance rows of every counted
    product in (product, location) order, before the balances as of counted_at are read;
    held until the transaction commits.
    Raises InvalidLineCount, InvalidQuantity (a count not in 0..MAX_COUNT), InvalidInput
    (reference over MAX_REFERENCE_LENGTH characters), DuplicateCount
    (a product on two lines), UnknownProducts, UnknownLocation, InvalidCountedAt (in the
    future, or older than MAX_AGE), CountSuperseded (counted again since), HistoryDetached
    (counted_at inside a detached month of movements), and
    InsufficientStock if a count would leave fewer units than are reserved (or than
    none); nothing is written then.
    """
    counts = _checked_lines(lines)
    reference = reference.strip()
    if len(reference) > MAX_REFERENCE_LENGTH:
        raise InvalidInput(f"A reference has at most {MAX_REFERENCE_LENGTH} characters.")
    now = timezone.now()
    if not now - MAX_AGE <= counted_at <= now + CLOCK_SKEW:
        raise InvalidCountedAt(counted_at=counted_at.isoformat(), now=now.isoformat())
    products = products_resolve(refs=[ref for ref, _ in counts], active_only=False)
    counted: dict[int, int] = {}
    skus: dict[int, str] = {}
    duplicates = set()
    for ref, count in counts:
        product_id, sku = products[ref]
        if product_id in counted:
            duplicates.add(product_id)
        counted[product_id], skus[product_id] = count, sku
    if duplicates:
        raise DuplicateCount(products=sorted(duplicates))
    product_ids = sorted(counted)

    location, expected, counted_at = _lock_and_read(product_ids, location_id, counted_at)
    stocktake_lines = [
        StocktakeLine(
            product_id=product_id,
            sku=skus[product_id],
            counted=counted[product_id],
            expected=expected[product_id],
        )
        for product_id in product_ids
    ]
    changed = [line for line in stocktake_lines if line.difference]
    stocktake = Stocktake.objects.create(
        location=location,
        counted_at=counted_at,
        reference=reference,
        created_by_id=actor_id,
        line_count=len(stocktake_lines),
        adjusted=len(changed),
    )
    movements = movements_post(
        postings=[
            Posting(
                product_id=line.product_id,
                kind=MovementKind.ADJUSTMENT,
                quantity=line.difference,
                reason=AdjustmentReason.STOCKTAKE,
                reference=reference,
                location_id=location_id,
                stocktake_id=stocktake.id,
            )
            for line in changed
        ],
        actor_id=actor_id,
    )
    # One movement per changed product, in product-id order, as the lines are.
    for line, movement in zip(changed, movements, strict=True):
        line.movement_id, line.balance_after = movement.id, movement.balance_after
    stocktake.stocktake_lines = stocktake_lines
    return stocktake


def _checked_lines(lines: Iterable[tuple[ProductRef, int]]) -> list[tuple[ProductRef, int]]:
    checked = []
    for ref, count in lines:
        if len(checked) == MAX_LINES:
            raise InvalidLineCount(f"A stocktake has 1 to {MAX_LINES} lines.")
        if not 0 <= count <= MAX_COUNT:
            raise InvalidQuantity(f"A count is 0 to {MAX_COUNT} units.")
        checked.append((ref, count))
    if not checked:
        raise InvalidLineCount(f"A stocktake has 1 to {MAX_LINES} lines.")
    return checked


def _lock_and_read(
    product_ids: list[int], location_id: int | None, counted_at: datetime
) -> tuple[Location, dict[int, int], datetime]:
    """Lock the balance rows, then read each product's balance as of counted_at: the
    location, {product: units}, and counted_at as it is recorded (one slightly in the
    future is taken as now). Raises UnknownLocation, InvalidCountedAt, CountSuperseded,
    HistoryDetached.
    """
    with connection.cursor() as cursor:
        if location_id is not None:
            _prepare_named(cursor, {(product_id, location_id) for product_id in product_ids})
        cursor.execute(_LOCK_ROWS, [product_ids, [location_id] * len(product_ids)])
        # A statement of its own, after the locks: its snapshot sees every posting that
        # held one of these rows before this transaction did.
        cursor.execute(
            _AS_OF_COUNTS,
            {"location": location_id, "products": product_ids, "counted_at": counted_at},
        )
        rows = cursor.fetchall()
    location_pk, code, _, _, _, now, detached_before = rows[0]
    if detached_before is not None and counted_at < detached_before:
        raise HistoryDetached(detached_before=detached_before)
    if counted_at > now:
        if counted_at - now > CLOCK_SKEW:
            raise InvalidCountedAt(counted_at=counted_at.isoformat(), now=now.isoformat())
        counted_at = now
    superseded = [row[2] for row in rows if row[4]]
    if superseded:
        raise CountSuperseded(products=sorted(superseded))
    location = Location.from_db(None, ["id", "code"], [location_pk, code])
    return location, {row[2]: row[3] for row in rows}, counted_at
