"""Whole deliveries: a receipt takes many products in at one location at once, all or
nothing, as one posting (ledger.posting): one ``restock`` movement per product, each
pointing at the receipt.

Whatever the number of lines, a receipt costs the same statements: one names the
products (ids and skus together), one writes the receipt row, and the posting sends its
three (five at a named location). A dry run checks what the receipt would check and
writes nothing, in two statements.
"""

from collections.abc import Iterable
from dataclasses import dataclass

from django.db import connection, transaction

from accounts.authentication import TokenCheck
from accounts.roles import Role
from core.db import prepared_cursor
from core.exceptions import InvalidInput
from core.filtering import MAX_ID
from ledger.exceptions import InvalidLineCount, InvalidQuantity, ReceiptNotFound, UnknownLocation
from ledger.models import Location, Movement, MovementKind, Receipt
from ledger.posting import Posting, movements_post
from ledger.selectors import ProductRef, products_resolve, products_resolve_checked

MAX_LINES = 5_000
MAX_LINE_QUANTITY = 10**9
MAX_REFERENCE_LENGTH = 200


@dataclass(slots=True)
class ReceiptLine:
    """One product of a receipt: its units, and the movement that took them in (none in
    a dry run, where ``balance_after`` is what the balance would become)."""

    product_id: int
    sku: str
    quantity: int
    movement_id: int | None = None
    balance_after: int | None = None


# The location given (None: the default one), if active, and the receipt row, in one
# statement. The row's foreign key locks the location FOR KEY SHARE, so the location
# cannot be archived until the receipt commits.
_LOCATION = """
SELECT id, code FROM ledger_location
 WHERE is_active
   AND (id = %(location)s::bigint OR (%(location)s::bigint IS NULL AND is_default))
"""
_INSERT_RECEIPT = f"""
WITH l AS ({_LOCATION}), r AS (
    INSERT INTO ledger_receipt
        (location_id, reference, created_by_id, created_at, line_count, units)
    SELECT l.id, %(reference)s, %(actor)s, now(), %(line_count)s, %(units)s FROM l
    RETURNING id, location_id, created_at
)
SELECT r.id, r.created_at, l.id, l.code FROM r JOIN l ON l.id = r.location_id
"""

# A dry run's one read: the location given (None: the default one), if active, and the
# on-hand units of each product there (0 where it has no balance row yet).
_PREVIEW = f"""
SELECT l.id, l.code, v.product_id, COALESCE(b.on_hand, 0)
  FROM ({_LOCATION}) AS l
 CROSS JOIN unnest(%(products)s::bigint[]) AS v(product_id)
  LEFT JOIN ledger_stockbalance AS b ON b.product_id = v.product_id AND b.location_id = l.id
"""


@transaction.atomic
def receipt_create(
    *,
    location_id: int | None,
    reference: str,
    lines: Iterable[tuple[ProductRef, int]],
    actor_id: int,
    dry_run: bool = False,
) -> Receipt:
    """Receive a delivery at a location (None: the default one): 1 to MAX_LINES lines of
    (product id or sku, units); lines naming one product (by id, by sku or both) are
    added up. Writes a Receipt (line_count: the products; units: their sum) and one
    restock movement per product, through one movements_post call.

    Returns the receipt with ``location`` (id and code) and ``receipt_lines`` (one per
    product, in product-id order, with its movement). With ``dry_run``, checks all the
    same and writes nothing: the receipt has no id and no created_at, its lines no
    movement, and balance_after is what the balance would become now.

    Locks, as movements_post does: a named location (FOR KEY SHARE), then the balance
    rows in (product, location) order.
    Raises InvalidLineCount, InvalidQuantity (a line's units not in 1..MAX_LINE_QUANTITY),
    InvalidInput (reference blank or too long), UnknownProducts (every unknown or
    archived product, ids and skus apart), UnknownLocation; nothing is written then.
    """
    refs, reference = _checked_lines(lines), _checked_reference(reference)
    products = products_resolve(refs=[ref for ref, _ in refs], active_only=True)
    return _receipt(refs, products, location_id, reference, actor_id, dry_run)


@transaction.atomic
def receipt_create_checked(
    *, check: TokenCheck, reference: str, lines: Iterable[tuple[ProductRef, int]]
) -> Receipt | None:
    """receipt_create at the default location for the user whose token ``check`` names,
    checked by the receipt's first statement (a warehouse user: the receipts endpoint's
    permission). None, having written nothing, if there is no such caller, or if the
    input is one receipt_create refuses before that statement: the caller then takes
    the usual way, which says why. Once the caller is known, raises and locks as
    receipt_create does."""
    try:
        refs, reference = _checked_lines(lines), _checked_reference(reference)
    except (InvalidLineCount, InvalidQuantity, InvalidInput):
        return None
    resolved = products_resolve_checked(
        check=check, roles=(Role.WAREHOUSE,), refs=[ref for ref, _ in refs], active_only=True
    )
    if resolved is None:
        return None
    actor_id, products = resolved
    return _receipt(refs, products, None, reference, actor_id, False)


def _checked_reference(reference: str) -> str:
    reference = reference.strip()
    if not 0 < len(reference) <= MAX_REFERENCE_LENGTH:
        raise InvalidInput(f"A receipt's reference has 1 to {MAX_REFERENCE_LENGTH} characters.")
    return reference


def _receipt(refs, products, location_id, reference, actor_id, dry_run) -> Receipt:
    """The receipt of the checked ``refs`` whose products are resolved."""
    quantities: dict[int, int] = {}
    skus: dict[int, str] = {}
    for ref, quantity in refs:
        product_id, sku = products[ref]
        skus[product_id] = sku
        quantities[product_id] = quantities.get(product_id, 0) + quantity
    receipt = Receipt(
        reference=reference,
        created_by_id=actor_id,
        line_count=len(quantities),
        units=sum(quantities.values()),
    )
    receipt_lines = [
        ReceiptLine(product_id=product_id, sku=skus[product_id], quantity=quantities[product_id])
        for product_id in sorted(quantities)
    ]
    if dry_run:
        _preview(receipt, receipt_lines, location_id)
    else:
        _post(receipt, receipt_lines, location_id, actor_id)
    receipt.receipt_lines = receipt_lines
    return receipt


def _checked_lines(lines: Iterable[tuple[ProductRef, int]]) -> list[tuple[ProductRef, int]]:
    checked = []
    for ref, quantity in lines:
        if len(checked) == MAX_LINES:
            raise InvalidLineCount(f"A receipt has 1 to {MAX_LINES} lines.")
        if not 0 < quantity <= MAX_LINE_QUANTITY:
            raise InvalidQuantity(f"A receipt's line has 1 to {MAX_LINE_QUANTITY} units.")
        checked.append((ref, quantity))
    if not checked:
        raise InvalidLineCount(f"A receipt has 1 to {MAX_LINES} lines.")
    return checked


def _post(receipt: Receipt, lines: list[ReceiptLine], location_id: int | None, actor_id) -> None:
    with prepared_cursor() as cursor:
        cursor.execute(
            _INSERT_RECEIPT,
            {
                "location": location_id,
                "reference": receipt.reference,
                "actor": actor_id,
                "line_count": receipt.line_count,
                "units": receipt.units,
            },
        )
        row = cursor.fetchone()
    if row is None:
        raise UnknownLocation(location=str(location_id))
    receipt.id, receipt.created_at = row[0], row[1]
    receipt.location = Location.from_db(None, ["id", "code"], row[2:])
    receipt._state.adding = False
    movements = movements_post(
        postings=[
            Posting(
                product_id=line.product_id,
                kind=MovementKind.RESTOCK,
                quantity=line.quantity,
                reference=receipt.reference,
                location_id=location_id,
                receipt_id=receipt.id,
            )
            for line in lines
        ],
        actor_id=actor_id,
    )
    # One movement per product, in product-id order, as the lines are.
    for line, movement in zip(lines, movements, strict=True):
        line.movement_id, line.balance_after = movement.id, movement.balance_after


def _preview(receipt: Receipt, lines: list[ReceiptLine], location_id: int | None) -> None:
    with connection.cursor() as cursor:
        cursor.execute(
            _PREVIEW, {"location": location_id, "products": [line.product_id for line in lines]}
        )
        rows = cursor.fetchall()
    if not rows:
        raise UnknownLocation(location=str(location_id))
    receipt.location = Location.from_db(None, ["id", "code"], rows[0][:2])
    on_hand = {row[2]: row[3] for row in rows}
    for line in lines:
        line.balance_after = on_hand[line.product_id] + line.quantity


# --- Reads ----------------------------------------------------------------------------


def receipt_get(*, receipt_id: int) -> Receipt:
    """A receipt with its location and its lines (from its movements, through their
    partial receipt index): two queries. Raises ReceiptNotFound."""
    receipt = None
    if 0 < receipt_id <= MAX_ID:
        receipt = Receipt.objects.select_related("location").filter(pk=receipt_id).first()
    if receipt is None:
        raise ReceiptNotFound(receipt=receipt_id)
    movements = (
        Movement.objects.filter(receipt_id=receipt_id)
        .order_by("product_id")
        .values_list("product_id", "product__sku", "quantity", "id", "balance_after")
    )
    receipt.receipt_lines = [ReceiptLine(*row) for row in movements]
    return receipt
