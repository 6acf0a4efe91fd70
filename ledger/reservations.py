"""Reservations: two-phase holds posted to the ledger (TigerBeetle's pending transfers,
Shopify's reserved quantity). Holding posts ``hold`` movements (reserved +, so the
units leave available but stay on hand); the hold then resolves exactly once: a commit
posts ``commit`` (on hand - and reserved -) for the units taken and ``release`` for the
rest, a release posts ``release``, an expiry ``expiry``.

Exactly once: every resolution first moves the reservation row out of ``held`` with a
conditional UPDATE (or, for expiry, ``SELECT ... FOR UPDATE``: in id order when it
waits, skipping locked rows in the worker), which takes the row's lock; a concurrent
resolution waits for that lock and then finds the row no longer held. Locks are always
taken in this order: reservation rows, then balance rows (movements_post sorts those),
so resolutions and postings cannot deadlock.

A hold past ``expires_at`` stops counting at once: it reads ``expired``, a commit or
release of it is refused (and expires it), and a reservation or an order that would be
refused for want of units first expires the overdue holds of its short products and
tries once more (``overdue_holds_expire``). The expire_reservations worker gives the
units of the others back in batches.
"""

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from django.db import OperationalError, connection, transaction
from django.utils import timezone

from catalog.exceptions import UnknownProducts
from core.filtering import MAX_ID
from ledger.exceptions import (
    ExceedsReservation,
    InsufficientStock,
    InvalidQuantity,
    InvalidTtl,
    ReservationNotFound,
    ReservationNotHeld,
)
from ledger.models import (
    Location,
    MovementKind,
    Reservation,
    ReservationLine,
    ReservationStatus,
)
from ledger.posting import Posting, movements_post

DEFAULT_TTL_SECONDS = 900
MAX_TTL_SECONDS = 7 * 24 * 3600
# As an order's limits, so that every reservation can become one order.
MAX_LINES = 100
MAX_UNITS = 10_000
EXPIRY_BATCH = 200

HELD = ReservationStatus.HELD.value


# --- Holding ---------------------------------------------------------------------------

# The reservation and its lines in one statement. A line is written only for an active
# product: fewer lines back than asked for means unknown or archived products (the
# caller then rolls back). The default location's id when none is named.
_CREATE = """
WITH r AS (
    INSERT INTO ledger_reservation
        (location_id, customer_id, created_by_id, status, reference, created_at, expires_at)
    VALUES (COALESCE(%s, (SELECT id FROM ledger_location WHERE is_default)),
            %s, %s, 'held', %s, %s, %s)
    RETURNING id, location_id
), l AS (
    INSERT INTO ledger_reservationline (reservation_id, product_id, quantity, committed)
    SELECT r.id, v.product_id, v.quantity, 0
      FROM r, unnest(%s::bigint[], %s::integer[]) WITH ORDINALITY AS v(product_id, quantity, n)
      JOIN catalog_product AS p ON p.id = v.product_id AND p.is_active
     ORDER BY v.n
    RETURNING id, product_id, quantity
)
SELECT r.id, r.location_id, loc.code, loc.is_default, l.id, l.product_id, l.quantity
  FROM r JOIN ledger_location AS loc ON loc.id = r.location_id, l
 ORDER BY l.id
"""


def merge_lines(lines: Iterable[tuple[int, int]]) -> dict[int, int]:
    """(product, quantity) pairs -> {product: total quantity}, first appearance first."""
    merged: Counter[int] = Counter()
    for product_id, quantity in lines:
        merged[product_id] += quantity
    return dict(merged)


def reservation_create(
    *,
    customer_id: int,
    created_by_id: int,
    lines: Iterable[tuple[int, int]],
    location_id: int | None = None,
    ttl_seconds: int = DEFAULT_TTL_SECONDS,
    reference: str = "",
) -> Reservation:
    """Hold available units of every line for ``customer_id`` at a location (None: the
    default one) until ``ttl_seconds`` from now: all lines or none. A product named twice
    is held once, for the sum.

    One transaction: writes the reservation and its lines in one statement, then posts a
    ``hold`` per product through movements_post (which locks the balance rows in
    (product, location) order). If that is refused for want of units, the transaction is
    rolled back (its locks with it), the overdue holds of the short products are expired
    (overdue_holds_expire, its own transaction) and, if any were or the short lines'
    units are available by now, the hold is tried once more. Inside a caller's
    transaction each of these is a savepoint instead.
    Raises InvalidQuantity (no lines, too many lines or units, a quantity below 1),
    InvalidTtl, UnknownProducts (missing or archived), InsufficientStock (every short
    line), UnknownLocation.
    """
    quantities = merge_lines(lines)
    if not 1 <= len(quantities) <= MAX_LINES:
        raise InvalidQuantity(f"A reservation has 1 to {MAX_LINES} products.")
    if any(quantity < 1 for quantity in quantities.values()):
        raise InvalidQuantity("A reservation holds at least one unit of each product.")
    if sum(quantities.values()) > MAX_UNITS:
        raise InvalidQuantity(f"A reservation holds at most {MAX_UNITS} units.")
    if not 1 <= ttl_seconds <= MAX_TTL_SECONDS:
        raise InvalidTtl()
    unknown = sorted(p for p in quantities if not 0 < p <= MAX_ID)
    if unknown:
        raise UnknownProducts(products=unknown)
    arguments = {
        "customer_id": customer_id,
        "created_by_id": created_by_id,
        "quantities": quantities,
        "location_id": location_id,
        "ttl": timedelta(seconds=ttl_seconds),
        "reference": reference,
    }
    try:
        return _reservation_create(**arguments)
    except InsufficientStock as refusal:
        if not overdue_holds_expire(refusal=refusal, location_id=location_id):
            raise
    return _reservation_create(**arguments)


@transaction.atomic
def _reservation_create(
    *,
    customer_id: int,
    created_by_id: int,
    quantities: dict[int, int],
    location_id: int | None,
    ttl: timedelta,
    reference: str,
) -> Reservation:
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            _CREATE,
            [
                location_id,
                customer_id,
                created_by_id,
                reference,
                now,
                now + ttl,
                list(quantities),
                list(quantities.values()),
            ],
        )
        rows = cursor.fetchall()
    if len(rows) < len(quantities):
        raise UnknownProducts(products=sorted(set(quantities) - {row[5] for row in rows}))
    reservation_id, stored_location_id, code, is_default = rows[0][:4]
    reservation = Reservation(
        id=reservation_id,
        location_id=stored_location_id,
        customer_id=customer_id,
        created_by_id=created_by_id,
        status=HELD,
        reference=reference,
        created_at=now,
        expires_at=now + ttl,
    )
    reservation._state.adding = False
    reservation.location = Location.from_db(None, ["id", "code"], [stored_location_id, code])
    reservation.prefetched_lines = _lines(reservation_id, [row[4:] for row in rows])
    movements_post(
        postings=[
            Posting(
                product_id=line.product_id,
                kind=MovementKind.HOLD,
                quantity=line.quantity,
                reservation_id=reservation_id,
                reference=_reference(reservation),
                # The default location as None: postings there need no location lock.
                location_id=None if is_default else stored_location_id,
            )
            for line in reservation.prefetched_lines
        ],
        actor_id=created_by_id,
    )
    return reservation


# --- Resolving -------------------------------------------------------------------------

# Moves one held, unexpired reservation to its final status, which takes the row's lock;
# returns it with the location and every line. No row: it is not held (any more), is
# past expires_at, is another customer's, or does not exist (_why_not says which).
_RESOLVE = """
WITH r AS (
    UPDATE ledger_reservation SET status = %(to)s, resolved_at = %(now)s
     WHERE id = %(id)s AND status = 'held' AND expires_at > %(now)s {customer}
    RETURNING id, location_id, customer_id, created_by_id, reference, created_at, expires_at
)
SELECT r.id, r.location_id, r.customer_id, r.created_by_id, r.reference, r.created_at,
       r.expires_at, loc.code, loc.is_default, rl.id, rl.product_id, rl.quantity
  FROM r JOIN ledger_location AS loc ON loc.id = r.location_id
  JOIN ledger_reservationline AS rl ON rl.reservation_id = r.id
 ORDER BY rl.id
"""
_RESOLVE_ANY = _RESOLVE.format(customer="")
_RESOLVE_OWN = _RESOLVE.format(customer="AND customer_id = %(customer)s")

_STATE = "SELECT status, customer_id FROM ledger_reservation WHERE id = %s FOR UPDATE"

_SET_COMMITTED = """
UPDATE ledger_reservationline AS rl SET committed = v.committed
  FROM unnest(%s::bigint[], %s::integer[]) AS v(id, committed)
 WHERE rl.id = v.id
"""


def reservation_commit(
    *,
    reservation_id: int,
    actor_id: int | None,
    lines: dict[int, int] | None = None,
    order_line_ids: dict[int, int] | None = None,
    customer_id: int | None = None,
    reference: str | None = None,
    events: Sequence[tuple[str, str, dict]] = (),
) -> Reservation:
    """Turn held units into consumption: a ``commit`` movement for the units taken of
    each line (all of them when ``lines`` is None, else ``lines[product]``, 0 for a
    product left out) and a ``release`` for the rest; the reservation becomes committed
    and each line records what was committed. ``order_line_ids`` ({product: order line
    id}) ties the commit movements to an order's lines; ``reference`` (default: the
    reservation's) labels the movements; ``events`` (type, subject, data) are written
    with the movements' (an order's order.placed).

    ``customer_id`` limits the commit to that customer's reservations (None: any, for
    warehouse staff). Locks the reservation row first (a conditional UPDATE out of
    held: of concurrent resolutions exactly one wins), then the balance rows.
    Raises ReservationNotFound (also another customer's), ReservationNotHeld (committed,
    released or expired: also when past expires_at, which it then expires in its own
    transaction, or in the caller's if there is one), ExceedsReservation (a product not
    held, or more units than held), InvalidQuantity (no unit committed).
    """
    resolved = _resolve(
        reservation_id=reservation_id,
        to=ReservationStatus.COMMITTED,
        actor_id=actor_id,
        customer_id=customer_id,
        commit=lines,
        order_line_ids=order_line_ids or {},
        reference=reference,
        events=events,
    )
    if resolved is None:
        raise ReservationNotHeld(reservation=reservation_id, status=ReservationStatus.EXPIRED.value)
    return resolved


def reservation_release(
    *, reservation_id: int, actor_id: int | None, customer_id: int | None = None
) -> Reservation:
    """Give every held unit back: a ``release`` movement per line; the reservation
    becomes released. ``customer_id`` as for reservation_commit; locks and raises as it
    does (but never ExceedsReservation)."""
    resolved = _resolve(
        reservation_id=reservation_id,
        to=ReservationStatus.RELEASED,
        actor_id=actor_id,
        customer_id=customer_id,
    )
    if resolved is None:
        raise ReservationNotHeld(reservation=reservation_id, status=ReservationStatus.EXPIRED.value)
    return resolved


@transaction.atomic
def _resolve(
    *,
    reservation_id: int,
    to: str,
    actor_id: int | None,
    customer_id: int | None,
    commit: dict[int, int] | None = None,
    order_line_ids: dict[int, int] | None = None,
    reference: str | None = None,
    events: Sequence[tuple[str, str, dict]] = (),
) -> Reservation | None:
    """Commit or release; None if the reservation was past expires_at and has been
    expired here instead (the caller refuses after this transaction, so the expiry
    stays)."""
    now = timezone.now()
    if not 0 < reservation_id <= MAX_ID:
        raise ReservationNotFound(reservation=reservation_id)
    params = {"to": to, "now": now, "id": reservation_id, "customer": customer_id}
    with connection.cursor() as cursor:
        cursor.execute(_RESOLVE_ANY if customer_id is None else _RESOLVE_OWN, params)
        rows = cursor.fetchall()
        if not rows:
            _why_not(cursor, reservation_id=reservation_id, customer_id=customer_id, now=now)
            return None
        reservation = _resolved(rows, status=to, now=now)
        taken = _taken(reservation.prefetched_lines, commit) if to == "committed" else {}
        if to == "committed" and not any(taken.values()):
            raise InvalidQuantity("A commit takes at least one unit; release it instead.")
        movements_post(
            postings=_settlement(
                reservation, taken, order_line_ids or {}, reference or _reference(reservation)
            ),
            actor_id=actor_id,
            events=events,
        )
        if any(taken.values()):
            lines = [line for line in reservation.prefetched_lines if taken[line.product_id]]
            cursor.execute(
                _SET_COMMITTED, [[line.id for line in lines], [taken[p.product_id] for p in lines]]
            )
            for line in lines:
                line.committed = taken[line.product_id]
    return reservation


def _why_not(cursor, *, reservation_id: int, customer_id: int | None, now: datetime) -> None:
    """The conditional UPDATE found no held, unexpired reservation: raise why, or expire
    it if it is held but overdue. Locks the row (the UPDATE has, if it matched it)."""
    cursor.execute(_STATE, [reservation_id])
    row = cursor.fetchone()
    if row is None or (customer_id is not None and row[1] != customer_id):
        raise ReservationNotFound(reservation=reservation_id)
    status = row[0]
    if status != HELD:
        raise ReservationNotHeld(reservation=reservation_id, status=status)
    # Held but overdue: expire it now, rather than leave its units to the worker.
    _expire(cursor, now=now, reservation_id=reservation_id)


def _resolved(rows: list[tuple], *, status: str, now: datetime) -> Reservation:
    (reservation_id, location_id, customer_id, created_by_id, reference, created_at,
     expires_at, code, is_default) = rows[0][:9]  # fmt: skip
    reservation = Reservation(
        id=reservation_id,
        location_id=location_id,
        customer_id=customer_id,
        created_by_id=created_by_id,
        status=status,
        reference=reference,
        created_at=created_at,
        expires_at=expires_at,
        resolved_at=now,
    )
    reservation._state.adding = False
    reservation.location = Location.from_db(None, ["id", "code"], [location_id, code])
    reservation.location.is_default = is_default
    reservation.prefetched_lines = _lines(reservation_id, [row[9:] for row in rows])
    return reservation


def _taken(lines: list[ReservationLine], commit: dict[int, int] | None) -> dict[int, int]:
    """{product: units committed} for every line; ExceedsReservation for a product not
    held or more units than held."""
    held = {line.product_id: line.quantity for line in lines}
    if commit is None:
        return held
    wrong = [
        {"product": product_id, "requested": quantity, "available": held.get(product_id, 0)}
        for product_id, quantity in commit.items()
        if product_id not in held or not 0 <= quantity <= held[product_id]
    ]
    if wrong:
        raise ExceedsReservation(lines=wrong)
    return {product_id: commit.get(product_id, 0) for product_id in held}


def _settlement(
    reservation: Reservation, taken: dict[int, int], order_line_ids: dict[int, int], reference
) -> list[Posting]:
    """The commit movements for the units taken, the release movements for the rest."""
    location_id = None if reservation.location.is_default else reservation.location_id
    postings = []
    for line in reservation.prefetched_lines:
        committed = taken.get(line.product_id, 0)
        common = {
            "product_id": line.product_id,
            "reservation_id": reservation.id,
            "reference": reference,
            "location_id": location_id,
        }
        if committed:
            postings.append(
                Posting(
                    kind=MovementKind.COMMIT,
                    quantity=-committed,
                    order_line_id=order_line_ids.get(line.product_id),
                    **common,
                )
            )
        if line.quantity > committed:
            postings.append(
                Posting(kind=MovementKind.RELEASE, quantity=committed - line.quantity, **common)
            )
    return postings


# --- Expiring --------------------------------------------------------------------------

# Expires held reservations past their expires_at: locks them (in id order when waiting,
# soonest first when skipping the ones others hold), moves them to expired and returns
# their lines with the location.
_EXPIRE = """
WITH due AS MATERIALIZED (
    SELECT r.id FROM ledger_reservation AS r
     WHERE r.status = 'held' AND r.expires_at <= %(now)s {filter}
     ORDER BY {order}
     LIMIT %(limit)s
       FOR UPDATE {skip}
), x AS (
    UPDATE ledger_reservation AS r SET status = 'expired', resolved_at = %(now)s
      FROM due WHERE r.id = due.id
    RETURNING r.id, r.location_id, r.reference
)
SELECT x.id, x.location_id, loc.is_default, x.reference, rl.product_id, rl.quantity
  FROM x JOIN ledger_location AS loc ON loc.id = x.location_id
  JOIN ledger_reservationline AS rl ON rl.reservation_id = x.id
 ORDER BY x.id, rl.id
"""
_BY_PRODUCTS = (
    "AND EXISTS (SELECT FROM ledger_reservationline AS l"
    " WHERE l.reservation_id = r.id AND l.product_id = ANY(%(products)s::bigint[]))"
)
_EXPIRE_DUE = _EXPIRE.format(filter="", order="r.expires_at, r.id", skip="SKIP LOCKED")
_EXPIRE_DUE_OF = _EXPIRE.format(filter=_BY_PRODUCTS, order="r.expires_at, r.id", skip="SKIP LOCKED")
_EXPIRE_SHORT = _EXPIRE.format(filter=_BY_PRODUCTS, order="r.id", skip="")
_EXPIRE_ONE = _EXPIRE.format(filter="AND r.id = %(id)s", order="r.id", skip="")

# What is available now of the products a refusal named, at the location it posted to.
_AVAILABLE = """
SELECT product_id, on_hand - reserved FROM ledger_stockbalance
 WHERE product_id = ANY(%s::bigint[])
   AND location_id = COALESCE(%s, (SELECT id FROM ledger_location WHERE is_default))
"""


def reservations_expire(
    *,
    now: datetime | None = None,
    product_ids: Iterable[int] | None = None,
    limit: int = EXPIRY_BATCH,
) -> int:
    """Expire up to ``limit`` held reservations past their expires_at at ``now``
    (default: the current time), soonest first, optionally only those holding any of
    ``product_ids``: an ``expiry`` movement per line, status expired. Returns how many.

    One transaction. Skips reservation rows other transactions hold locked (SKIP
    LOCKED: they are being resolved, or another worker has them), so workers never wait
    on each other or on a commit; locks the rest, then their balance rows
    (movements_post).
    """
    if limit < 1:
        raise ValueError("limit must be at least 1")
    with transaction.atomic(), connection.cursor() as cursor:
        products = None if product_ids is None else [p for p in product_ids if 0 < p <= MAX_ID]
        return _expire(cursor, now=now or timezone.now(), product_ids=products, limit=limit)


@transaction.atomic
def overdue_holds_expire(*, refusal: InsufficientStock, location_id: int | None) -> bool:
    """What a refused reservation or order does before its one retry: expire every held
    reservation past its expires_at that holds a product of the refusal's short lines,
    then say whether to retry: True if it expired any, else if every short line now has
    the units it asked for available at ``location_id`` (None: the default location),
    freed by a concurrent caller's expiries (or a release, or a restock) meanwhile.

    Waits for the reservation rows (in id order) that others hold locked, since those
    may be giving the units back right now; then locks the balance rows. Must not run in
    a transaction that holds balance row locks (that would invert the lock order): the
    refused attempt is rolled back first. Raises OperationalError if that rollback (to
    its savepoint) failed.
    """
    if connection.in_atomic_block and connection.needs_rollback:
        # Only a lost connection fails a rollback to a savepoint (a primary dying in a
        # failover). Django then keeps the refusal and refuses every further statement
        # of the transaction with a TransactionManagementError, a 500; this is the
        # database's failure, which the client may retry (503).
        raise OperationalError(
            "The connection was lost while a refused attempt was rolled back."
        ) from refusal
    wanted = {line["product"]: line["requested"] for line in refusal.lines}
    products = [p for p in wanted if 0 < p <= MAX_ID]
    if not products:
        return False
    with connection.cursor() as cursor:
        if _expire(cursor, now=timezone.now(), product_ids=products, wait=True):
            return True  # the retry passes, or refuses with the figures as they are now
        cursor.execute(_AVAILABLE, [products, location_id])
        available = dict(cursor.fetchall())
    return all(available.get(product, 0) >= wanted[product] for product in products)


def _expire(
    cursor,
    *,
    now: datetime,
    product_ids: list[int] | None = None,
    reservation_id: int | None = None,
    limit: int | None = None,
    wait: bool = False,
) -> int:
    """Run the expiry statement and post the expiry movements; how many reservations
    were expired."""
    if reservation_id is not None:
        sql = _EXPIRE_ONE
    elif wait:
        sql = _EXPIRE_SHORT
    else:
        sql = _EXPIRE_DUE if product_ids is None else _EXPIRE_DUE_OF
    cursor.execute(sql, {"now": now, "products": product_ids, "id": reservation_id, "limit": limit})
    rows = cursor.fetchall()
    postings = [
        Posting(
            product_id=product_id,
            kind=MovementKind.EXPIRY,
            quantity=-quantity,
            reservation_id=expired_id,
            reference=reference or f"reservation {expired_id}",
            location_id=None if is_default else location_id,
        )
        for expired_id, location_id, is_default, reference, product_id, quantity in rows
    ]
    movements_post(postings=postings, actor_id=None)
    return len({posting.reservation_id for posting in postings})


# --- Helpers ---------------------------------------------------------------------------


def _lines(reservation_id: int, rows: Iterable[tuple]) -> list[ReservationLine]:
    lines = []
    for line_id, product_id, quantity in rows:
        line = ReservationLine(
            id=line_id,
            reservation_id=reservation_id,
            product_id=product_id,
            quantity=quantity,
            committed=0,
        )
        line._state.adding = False
        lines.append(line)
    return lines


def _reference(reservation: Reservation) -> str:
    """The movements' reference: the client's, else the reservation's number."""
    return reservation.reference or f"reservation {reservation.id}"
