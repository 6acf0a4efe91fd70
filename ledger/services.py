"""Stock writes by warehouse staff. Each is one transaction around movements_post."""

from django.db import connection, transaction

from catalog.exceptions import ProductNotFound
from ledger.exceptions import InvalidQuantity
from ledger.models import AdjustmentReason, Movement, MovementKind
from ledger.posting import Posting, movements_post


@transaction.atomic
def stock_restock(
    *, product_id: int, quantity: int, actor_id: int | None, reference: str = "", note: str = ""
) -> Movement:
    """Post goods received. Locks the product's balance row.

    Raises InvalidQuantity unless quantity > 0, ProductNotFound.
    """
    if quantity <= 0:
        raise InvalidQuantity("A restock adds at least one unit.")
    posting = Posting(
        product_id=product_id,
        kind=MovementKind.RESTOCK,
        quantity=quantity,
        reference=reference,
        note=note,
    )
    return movements_post(postings=[posting], actor_id=actor_id)[0]


@transaction.atomic
def stock_adjust(
    *,
    product_id: int,
    quantity: int,
    reason: str,
    actor_id: int | None,
    reference: str = "",
    note: str = "",
) -> Movement:
    """Post a signed correction (damage, loss, found units...). Locks the balance row.

    Raises InvalidQuantity for 0 or an unknown reason, InsufficientStock if on-hand
    would go below zero, ProductNotFound.
    """
    if quantity == 0:
        raise InvalidQuantity("An adjustment changes stock by at least one unit.")
    if reason not in AdjustmentReason.values:
        raise InvalidQuantity(f"Unknown adjustment reason {reason!r}.")
    posting = Posting(
        product_id=product_id,
        kind=MovementKind.ADJUSTMENT,
        quantity=quantity,
        reason=reason,
        reference=reference,
        note=note,
    )
    return movements_post(postings=[posting], actor_id=actor_id)[0]


@transaction.atomic
def stock_take(
    *, product_id: int, counted: int, actor_id: int | None, note: str = ""
) -> Movement | None:
    """Record a physical count: post one adjustment of counted minus on-hand, or nothing
    when they agree.

    Locks the balance row (SELECT ... FOR UPDATE) before reading on-hand, so the
    difference cannot be overtaken by a concurrent posting. Raises InvalidQuantity for
    a negative count, ProductNotFound.
    """
    if counted < 0:
        raise InvalidQuantity("A count cannot be negative.")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT on_hand FROM ledger_stockbalance WHERE product_id = %s FOR UPDATE",
            [product_id],
        )
        row = cursor.fetchone()
    if row is None:
        raise ProductNotFound(product=product_id)
    difference = counted - row[0]
    if difference == 0:
        return None
    posting = Posting(
        product_id=product_id,
        kind=MovementKind.ADJUSTMENT,
        quantity=difference,
        reason=AdjustmentReason.STOCKTAKE,
        note=note,
    )
    return movements_post(postings=[posting], actor_id=actor_id)[0]
