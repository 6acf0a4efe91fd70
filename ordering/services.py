"""Placing and cancelling orders: each one transaction through the ledger's posting."""

from collections.abc import Iterable

from django.db import transaction
from django.utils import timezone

from accounts.authentication import TokenCheck
from core.db import prepared_cursor, single_statement
from core.filtering import MAX_ID
from ledger.exceptions import (
    ExceedsReservation,
    HistoryDetached,
    InsufficientStock,
    ReservationNotHeld,
)
from ledger.models import DetachedPartition, Movement, MovementKind, ReservationStatus
from ledger.posting import Posting, movements_post
from ledger.reservations import merge_lines, overdue_holds_expire, reservation_commit
from ledger.selectors import reservation_get
from ordering.events import order_cancelled_event, order_event
from ordering.exceptions import (
    OrderNotCancellable,
    OrderNotFound,
    OrderTooLarge,
    UnknownProducts,
)
from ordering.models import Order, OrderLine, OrderStatus
from ordering.one_line import MAX_TOTAL, order_place_one_line, placed_order
from ordering.selectors import order_get

MAX_LINES = 100
# Units in one order, all lines together. It also bounds the original API's answer,
# which lists one product id per unit.
MAX_UNITS = 10_000


def order_place(
    *,
    customer_id: int,
    lines: Iterable[tuple[int, int]] = (),
    location_id: int | None = None,
    reservation_id: int | None = None,
    any_reservation: bool = False,
) -> Order:
    """Place an order: one consumption movement per product, all or nothing, taking
    available units at one location (None: the default one).

    An order of one line at the default location is first tried as one statement
    (ordering.one_line), its own transaction; if it cannot be placed so, it wrote
    nothing, and the general path follows. That path reads the products (one query, for
    prices and to refuse unknown or archived ones), writes the order and its lines, then
    posts through movements_post, which locks the balance rows in (product, location)
    order. Costs n + 3 statements for n products (two more at a named location). If the
    posting is refused for want of units, that transaction is rolled back (its locks
    with it), the overdue holds of the short products are expired (their own
    transaction) and, if any were or the short lines' units are available by now, the
    order is tried once more; inside a caller's transaction each is a savepoint instead.

    With ``reservation_id``, the order takes held units instead: see
    _order_from_reservation (``lines`` then names the units taken, each at most those
    held; none: everything held).
    Raises OrderTooLarge, UnknownProducts, InsufficientStock (every short line),
    UnknownLocation; with a reservation ReservationNotFound, ReservationNotHeld,
    ExceedsReservation. Nothing of the order is written then (overdue holds it expired
    stay expired).
    """
    quantities = merge_lines(lines)
    if reservation_id is not None:
        return _order_from_reservation(
            customer_id=customer_id,
            reservation_id=reservation_id,
            quantities=quantities or None,
            any_reservation=any_reservation,
        )
    _check_size(quantities)
    if location_id is None and len(quantities) == 1:
        ((product_id, quantity),) = quantities.items()
        if 0 < product_id <= MAX_ID:
            order = _order_place_one_line(
                customer_id=customer_id, product_id=product_id, quantity=quantity
            )
            if order is not None:
                return order
    try:
        return _order_place(customer_id=customer_id, quantities=quantities, location_id=location_id)
    except InsufficientStock as refusal:
        if not overdue_holds_expire(refusal=refusal, location_id=location_id):
            raise
    return _order_place(customer_id=customer_id, quantities=quantities, location_id=location_id)


def order_place_checked(*, check: TokenCheck, lines: Iterable[tuple[int, int]]) -> Order | None:
    """order_place for the user whose token ``check`` names, checked by the order's own
    statement, where the order is one that statement places: one product (named once
    or more), at the default location, no reservation. None, having written nothing,
    for any other order, a caller not allowed to order or an order the statement cannot
    place; the caller then takes the usual way (check the token, then order_place),
    which answers each case as it always does. So it raises nothing of its own, not
    even for an unknown caller's mistakes. Locks as order_place does."""
    quantities = merge_lines(lines)
    if len(quantities) != 1:
        return None
    ((product_id, quantity),) = quantities.items()
    if not (0 < product_id <= MAX_ID and 0 < quantity <= MAX_UNITS):
        return None
    return _order_place_one_line(check=check, product_id=product_id, quantity=quantity)


def _check_size(quantities: dict[int, int]) -> None:
    if not 1 <= len(quantities) <= MAX_LINES:
        raise OrderTooLarge(f"An order has 1 to {MAX_LINES} products.")
    if sum(quantities.values()) > MAX_UNITS:
        raise OrderTooLarge(f"An order has at most {MAX_UNITS} units.")


@single_statement
def _order_place_one_line(**arguments) -> Order | None:
    """ordering.one_line in a transaction of its own: its only statement."""
    return order_place_one_line(**arguments)


@transaction.atomic
def _order_place(*, customer_id: int, quantities: dict[int, int], location_id: int | None) -> Order:
    order, order_lines = _new_order(customer_id=customer_id, quantities=quantities)
    movements_post(
        postings=[
            Posting(
                product_id=line.product_id,
                kind=MovementKind.CONSUMPTION,
                quantity=-line.quantity,
                order_line_id=line.id,
                reference=f"order {order.id}",
                location_id=location_id,
            )
            for line in order_lines
        ],
        actor_id=customer_id,
        events=[order_event("order.placed", order, order_lines)],
    )
    return order


@transaction.atomic
def _order_from_reservation(
    *,
    customer_id: int,
    reservation_id: int,
    quantities: dict[int, int] | None,
    any_reservation: bool,
) -> Order:
    """An order of held units: the reservation's lines (or ``quantities``, each at most
    what is held), placed for the reservation's customer, at its location. The
    reservation is committed with the order (ledger.reservations.reservation_commit):
    a ``commit`` movement per order line, tied to it, and a ``release`` for the units
    not ordered. ``customer_id`` is who places it: a customer may use only their own
    reservations; warehouse staff (``any_reservation``) anyone's.

    Reads the reservation and its lines unlocked (they do not change while it is held),
    writes the order, then commits the reservation, which locks its row first and then
    the balance rows: if it was resolved meanwhile the whole order is refused.
    """
    reservation = reservation_get(
        reservation_id=reservation_id, customer_id=None if any_reservation else customer_id
    )
    if reservation.current_status != ReservationStatus.HELD:
        raise ReservationNotHeld(reservation=reservation_id, status=reservation.current_status)
    held = {line.product_id: line.quantity for line in reservation.lines.all()}
    if quantities is None:
        quantities = held
    else:
        wrong = [
            {"product": product, "requested": quantity, "available": held.get(product, 0)}
            for product, quantity in quantities.items()
            if quantity > held.get(product, 0)
        ]
        if wrong:
            raise ExceedsReservation(lines=wrong)
    _check_size(quantities)
    order, order_lines = _new_order(customer_id=reservation.customer_id, quantities=quantities)
    reservation_commit(
        reservation_id=reservation_id,
        actor_id=customer_id,
        lines=quantities,
        order_line_ids={line.product_id: line.id for line in order_lines},
        reference=f"order {order.id}",
        events=[order_event("order.placed", order, order_lines, reservation_id)],
    )
    return order


def _new_order(*, customer_id: int, quantities: dict[int, int]) -> tuple[Order, list[OrderLine]]:
    """Write the order and its lines at today's prices, in one statement that also reads
    the products (it writes nothing unless every product is known, active, and the total
    fits). Raises UnknownProducts, OrderTooLarge (the total)."""
    # An id no bigint holds names no product: it is left out of the statement (where it
    # would not fit its column), and the count of products found then falls short.
    storable = [(p, q) for p, q in quantities.items() if 0 < p <= MAX_ID]
    if not storable:
        raise UnknownProducts(products=sorted(quantities))
    values = ", ".join(["(%s::integer, %s::bigint, %s::integer)"] * len(storable))
    params: list = []
    for position, (product_id, quantity) in enumerate(storable):
        params += [position, product_id, quantity]
    params += [customer_id, OrderStatus.PLACED, len(quantities), MAX_TOTAL]
    with prepared_cursor() as cursor:
        cursor.execute(_INSERT_ORDER.format(values=values), params)
        rows = cursor.fetchall()
    found = {row[0] for row in rows}
    unknown = sorted(set(quantities) - found)
    if unknown:
        raise UnknownProducts(products=unknown)
    order_id, created_at, total = rows[0][4:7]
    if order_id is None:
        raise OrderTooLarge(f"An order's total cannot exceed {MAX_TOTAL}.")
    order = placed_order(
        customer_id=customer_id,
        order_id=order_id,
        created_at=created_at,
        total=total,
        lines=[
            (line_id, product_id, sku, name, price, quantities[product_id])
            for product_id, sku, name, price, _, _, _, line_id in sorted(rows, key=lambda r: r[7])
        ],
    )
    return order, order.prefetched_lines


# The products (known and active only), the order (only if all are, and its total fits)
# and its lines, in the order given. Placing an order is the hot path: one round trip
# instead of a read and a write (and the ORM's query compilation).
_INSERT_ORDER = """
WITH v(position, product_id, quantity) AS (VALUES {values}),
p AS (
    SELECT p.id, p.sku, p.name, p.price, v.position, v.quantity
      FROM catalog_product AS p JOIN v ON v.product_id = p.id
     WHERE p.is_active
),
o AS (
    INSERT INTO ordering_order (customer_id, status, total, created_at)
    SELECT %s, %s, sum(p.price * p.quantity), clock_timestamp() FROM p
    HAVING count(*) = %s AND sum(p.price * p.quantity) <= %s
    RETURNING id, created_at, total
),
l AS (
    INSERT INTO ordering_orderline (order_id, product_id, unit_price, quantity)
    SELECT o.id, p.id, p.price, p.quantity FROM o, p ORDER BY p.position
    RETURNING id, product_id
)
SELECT p.id, p.sku, p.name, p.price, o.id, o.created_at, o.total, l.id
  FROM p LEFT JOIN o ON true LEFT JOIN l ON l.product_id = p.id
"""


@transaction.atomic
def order_cancel(*, order_id: int, actor_id: int, customer_id: int | None) -> Order:
    """Cancel a placed order: one reversal movement per line, each pointing at the
    consumption (or, for an order from a reservation, the commit) it undoes, and the
    status change, in one transaction. The units go back on hand and available (not
    back into the reservation, which stays committed).

    ``customer_id`` limits the cancel to that customer's orders (None: any order, for
    warehouse staff). Locks the order row with a conditional UPDATE, so of concurrent
    cancels exactly one wins; then the balance rows in (product, location) order. The
    units go back to the location they were taken from.
    Raises OrderNotFound (no such order, or another customer's), OrderNotCancellable,
    HistoryDetached (the order's movements are in a detached month).
    """
    placed = Order.objects.filter(pk=order_id, status=OrderStatus.PLACED)
    if customer_id is not None:
        placed = placed.filter(customer_id=customer_id)
    # One conditional UPDATE: it takes the order row's lock, and a concurrent cancel
    # that committed first leaves no PLACED row to match.
    cancelled = placed.update(status=OrderStatus.CANCELLED, cancelled_at=timezone.now()) == 1
    if not cancelled:
        visible = Order.objects.filter(pk=order_id)
        if customer_id is not None:
            visible = visible.filter(customer_id=customer_id)
        if not visible.exists():
            raise OrderNotFound(order=order_id)
        raise OrderNotCancellable(order=order_id)

    # What the order took: consumptions, or the commits of the reservation it came from.
    consumptions = Movement.objects.filter(
        order_line__order_id=order_id, kind__in=[MovementKind.CONSUMPTION, MovementKind.COMMIT]
    ).values_list("id", "product_id", "quantity", "order_line_id", "location_id")
    if not consumptions:
        # Only when the order's month of movements was detached (ledger.partitions): its
        # consumptions are no longer in the table, so there is nothing here to reverse.
        detached = DetachedPartition.objects.order_by("-ends_at").first()
        if detached is not None:
            raise HistoryDetached(detached_before=detached.ends_at)
    movements_post(
        postings=[
            Posting(
                product_id=product_id,
                kind=MovementKind.REVERSAL,
                quantity=-quantity,
                order_line_id=line_id,
                reverses_id=movement_id,
                reference=f"order {order_id} cancelled",
                location_id=location_id,
            )
            for movement_id, product_id, quantity, line_id, location_id in consumptions
        ],
        actor_id=actor_id,
        events=[
            order_cancelled_event(
                order_id, [(line, product, -qty) for _, product, qty, line, _ in consumptions]
            )
        ],
    )
    # Read back with its lines and products, as the API renders it.
    return order_get(order_id=order_id, customer_id=None)
