"""Transfers between locations, with the goods in transit in between. Each step is one
transaction and one posting of both its legs (ledger.posting.movements_post), which
locks the balance rows of both locations in (product, location) order:

- create: ``transfer_out`` (on hand -q, available units only) at the origin and
  ``in_transit`` (incoming +q) at the destination;
- receive: ``transfer_in`` (incoming -k, on hand +k) at the destination;
- cancel: for what was not received, ``transit_cancel`` (incoming -r) at the
  destination and ``transfer_return`` (on hand +r) at the origin.

So no step changes a product's on hand plus incoming summed over its locations, and a
location's incoming is what the transfers in transit towards it still owe it.

A line's ``received`` and ``cancelled`` only change under the transfer row's lock
(receive and cancel take it first), so a transfer settles at most what it sent and
resolves once: the step that settles its last unit closes it.
"""

from collections.abc import Iterable, Mapping

from django.db import connection, transaction
from django.utils import timezone

from catalog.exceptions import UnknownProducts
from catalog.models import Product
from core.filtering import MAX_ID
from ledger.exceptions import (
    InvalidQuantity,
    TransferNotFound,
    TransferNotInTransit,
    TransferQuantityExceeded,
    TransferSameLocation,
    TransferTooLarge,
    UnknownLocation,
)
from ledger.models import Location, MovementKind, Transfer, TransferLine, TransferStatus
from ledger.posting import Posting, movements_post
from ledger.reservations import merge_lines

MAX_LINES = 1_000
# Units of one line (a product named twice is added up first). TransferLine's counts
# are PostgreSQL integers; this keeps their sums well inside them.
MAX_QUANTITY = 10**9


@transaction.atomic
def transfer_create(
    *,
    from_location_id: int,
    to_location_id: int,
    lines: Iterable[tuple[int, int]],
    actor_id: int,
    reference: str = "",
) -> Transfer:
    """Send units of one or more products from one location to another: all lines or
    none. A product named twice is one line of the summed quantity.

    Reads the two locations and the products, writes the transfer and its lines, then
    posts both legs of every line in one movements_post, which locks the locations (FOR
    KEY SHARE) and the balance rows in (product, location) order. Costs the same number
    of statements for 1 line or 1,000.
    Raises TransferTooLarge, InvalidQuantity, UnknownLocation (missing or archived),
    TransferSameLocation, UnknownProducts, InsufficientStock (every line short of
    available units at the origin); nothing is written then.
    """
    quantities = merge_lines(lines)
    if not 1 <= len(quantities) <= MAX_LINES:
        raise TransferTooLarge(f"A transfer has 1 to {MAX_LINES} products.")
    _check_quantities(quantities)
    origin, destination = _active_locations(from_location_id, to_location_id)
    if origin.id == destination.id:
        raise TransferSameLocation(location=origin.code)
    products = _products(list(quantities))
    unknown = sorted(set(quantities) - set(products))
    if unknown:
        raise UnknownProducts("Some products do not exist.", products=unknown)

    transfer = Transfer.objects.create(
        from_location=origin,
        to_location=destination,
        reference=reference,
        created_by_id=actor_id,
    )
    transfer_lines = TransferLine.objects.bulk_create(
        [
            TransferLine(transfer=transfer, product=products[product_id], quantity=quantity)
            for product_id, quantity in quantities.items()
        ]
    )
    postings = []
    for line in transfer_lines:
        postings += [
            _posting(transfer, line, MovementKind.TRANSFER_OUT, -line.quantity, origin.id),
            _posting(transfer, line, MovementKind.IN_TRANSIT, line.quantity, destination.id),
        ]
    movements_post(postings=postings, actor_id=actor_id)
    transfer.prefetched_lines = transfer_lines
    return transfer


@transaction.atomic
def transfer_receive(
    *, transfer_id: int, actor_id: int, lines: Mapping[int, int] | None = None
) -> Transfer:
    """Put units of a transfer in transit on the destination's shelf: ``lines``
    ({product: units}), or everything still in transit (None). The transfer closes as
    received once every unit of every line is settled.

    Locks the transfer row (FOR UPDATE) first, so receives and cancels of one transfer
    run one after the other; then, through movements_post, the destination (FOR KEY
    SHARE) and its balance rows in product order.
    Raises TransferNotFound, TransferNotInTransit (already received or cancelled),
    TransferTooLarge, InvalidQuantity, TransferQuantityExceeded (every line asked for
    more than is still in transit, or not on the transfer), UnknownLocation.
    """
    if lines is not None:
        if not 1 <= len(lines) <= MAX_LINES:
            raise TransferTooLarge(f"A receive names 1 to {MAX_LINES} products.")
        _check_quantities(lines)
    transfer = _lock_in_transit(transfer_id)
    transfer_lines = _lines(transfer)
    by_product = {line.product_id: line for line in transfer_lines}
    if lines is None:
        units = {line.product_id: line.outstanding for line in transfer_lines if line.outstanding}
    else:
        exceeded = [
            {
                "product": product_id,
                "requested": quantity,
                "available": by_product[product_id].outstanding if product_id in by_product else 0,
            }
            for product_id, quantity in lines.items()
            if product_id not in by_product or quantity > by_product[product_id].outstanding
        ]
        if exceeded:
            raise TransferQuantityExceeded(exceeded, transfer=transfer.id)
        units = dict(lines)

    movements_post(
        postings=[
            _posting(
                transfer,
                by_product[product_id],
                MovementKind.TRANSFER_IN,
                quantity,
                transfer.to_location_id,
            )
            for product_id, quantity in units.items()
        ],
        actor_id=actor_id,
    )
    _settle(transfer_lines, units, "received")
    if not any(line.outstanding for line in transfer_lines):
        _close(transfer, TransferStatus.RECEIVED)
    transfer.prefetched_lines = transfer_lines
    return transfer


@transaction.atomic
def transfer_cancel(*, transfer_id: int, actor_id: int) -> Transfer:
    """Cancel what of a transfer is still in transit: it no longer comes to the
    destination (incoming -) and goes back on the origin's shelf. What was received
    stays received. The transfer closes as cancelled.

    Locks the transfer row (FOR UPDATE) first, as receiving does; then, through
    movements_post, both locations (FOR KEY SHARE) and the balance rows in (product,
    location) order.
    Raises TransferNotFound, TransferNotInTransit, UnknownLocation.
    """
    transfer = _lock_in_transit(transfer_id)
    transfer_lines = _lines(transfer)
    units = {line.product_id: line.outstanding for line in transfer_lines if line.outstanding}
    postings = []
    for line in transfer_lines:
        if line.outstanding:
            postings += [
                _posting(
                    transfer,
                    line,
                    MovementKind.TRANSIT_CANCEL,
                    -line.outstanding,
                    transfer.to_location_id,
                ),
                _posting(
                    transfer,
                    line,
                    MovementKind.TRANSFER_RETURN,
                    line.outstanding,
                    transfer.from_location_id,
                ),
            ]
    movements_post(postings=postings, actor_id=actor_id)
    _settle(transfer_lines, units, "cancelled")
    _close(transfer, TransferStatus.CANCELLED)
    transfer.prefetched_lines = transfer_lines
    return transfer


def _check_quantities(quantities: Mapping[int, int]) -> None:
    for product_id, quantity in quantities.items():
        if not 1 <= quantity <= MAX_QUANTITY:
            raise InvalidQuantity(
                f"Product {product_id}: a line moves 1 to {MAX_QUANTITY} units.",
                product=product_id,
            )


def _products(product_ids: list[int]) -> dict[int, Product]:
    """The existing products among ``product_ids``, with their sku (for the answer)."""
    wanted = [product_id for product_id in product_ids if 0 < product_id <= MAX_ID]
    return {
        product.id: product for product in Product.objects.filter(pk__in=wanted).only("id", "sku")
    }


def _active_locations(from_location_id: int, to_location_id: int) -> tuple[Location, Location]:
    """The two locations, if both exist and are active. Raises UnknownLocation. The
    posting checks them again under its lock (an archive may commit meanwhile)."""
    wanted = [pk for pk in (from_location_id, to_location_id) if 0 < pk <= MAX_ID]
    found = Location.objects.filter(pk__in=wanted, is_active=True).in_bulk()
    for location_id in (from_location_id, to_location_id):
        if location_id not in found:
            raise UnknownLocation(location=str(location_id))
    return found[from_location_id], found[to_location_id]


def _lock_in_transit(transfer_id: int) -> Transfer:
    """Lock the transfer row (FOR UPDATE; not the locations joined in for their codes)
    and return it if it is still in transit. Raises TransferNotFound,
    TransferNotInTransit."""
    transfer = None
    if 0 < transfer_id <= MAX_ID:
        transfer = (
            Transfer.objects.select_for_update(of=("self",))
            .select_related("from_location", "to_location")
            .filter(pk=transfer_id)
            .first()
        )
    if transfer is None:
        raise TransferNotFound(transfer=transfer_id)
    if transfer.status != TransferStatus.IN_TRANSIT:
        raise TransferNotInTransit(transfer=transfer.id, status=transfer.status)
    return transfer


def _lines(transfer: Transfer) -> list[TransferLine]:
    """The transfer's lines with their products' skus. Not locked: only a holder of the
    transfer row's lock changes them."""
    return list(
        transfer.lines.select_related("product").only(
            "id", "transfer_id", "product_id", "quantity", "received", "cancelled", "product__sku"
        )
    )


def _posting(
    transfer: Transfer, line: TransferLine, kind: str, quantity: int, location_id: int
) -> Posting:
    return Posting(
        product_id=line.product_id,
        kind=kind,
        quantity=quantity,
        location_id=location_id,
        transfer_id=transfer.id,
        reference=transfer.reference or f"transfer {transfer.id}",
    )


# Adds each line's units to its received or cancelled count: one statement for any
# number of lines. The CHECK transfer_line_settled_at_most_sent backs the lock.
_SETTLE = """
UPDATE ledger_transferline AS l SET {column} = l.{column} + v.units
  FROM unnest(%s::bigint[], %s::integer[]) AS v(id, units)
 WHERE l.id = v.id
"""
_SETTLE_SQL = {column: _SETTLE.format(column=column) for column in ("received", "cancelled")}


def _settle(lines: list[TransferLine], units: Mapping[int, int], column: str) -> None:
    """Add ``units`` ({product: units}) to the lines' ``column``, in the database and on
    the given line objects."""
    settled = [line for line in lines if units.get(line.product_id)]
    with connection.cursor() as cursor:
        cursor.execute(
            _SETTLE_SQL[column],
            [[line.id for line in settled], [units[line.product_id] for line in settled]],
        )
    for line in settled:
        setattr(line, column, getattr(line, column) + units[line.product_id])


def _close(transfer: Transfer, status: str) -> None:
    transfer.status = status
    transfer.closed_at = timezone.now()
    transfer.save(update_fields=["status", "closed_at"])
