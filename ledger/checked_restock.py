"""A restock at the default location whose one statement also checks the caller's token
(accounts.authentication.TokenCheck): the request is then one round trip, where the
token check and the posting took two. The statement is the one-movement posting
(ledger.posting.posting_with_sql) with the movement's row selected from the caller: no
authorized caller, no row, and nothing is written."""

from accounts.authentication import TokenCheck, caller_sql
from accounts.roles import Role
from core.db import prepared_cursor, single_statement
from core.filtering import MAX_ID
from ledger.models import Movement, MovementKind
from ledger.posting import (
    Posting,
    posted_movement,
    posted_sql,
    posting_values_sql,
    posting_with_sql,
)

_RESTOCK = posting_with_sql(
    before=caller_sql(Role.WAREHOUSE) + ", ",
    row_from="caller",
    posting=posting_values_sql(
        kind=MovementKind.RESTOCK,
        quantity="%(quantity)s::bigint",
        product_id="%(product)s::bigint",
        actor_id="caller.user_id",
        reason="''",
        reference="%(reference)s::varchar",
        note="%(note)s::text",
    ),
    after="",
    events="",
    result=posted_sql("m.actor_id"),
)


@single_statement
def stock_restock_checked(
    *, check: TokenCheck, product_id: int, quantity: int, reference: str = "", note: str = ""
) -> Movement | None:
    """What ledger.services.stock_restock posts, at the default location, for the user
    ``check`` names if that user may restock; None, having written nothing, if not, or
    if the product or its balance row is missing (the caller then takes the usual way,
    which says which). One statement, its own transaction (core.db.single_statement).
    Locks the balance row. Raises nothing of its own; the quantity must be positive."""
    if not 0 < product_id <= MAX_ID:
        return None
    with prepared_cursor() as cursor:
        cursor.execute(
            _RESTOCK,
            {
                "product": product_id,
                "quantity": quantity,
                "reference": reference,
                "note": note,
                **check.params,
            },
        )
        row = cursor.fetchone()
    if row is None:
        return None
    *posted, actor_id = row
    posting = Posting(
        product_id=product_id,
        kind=MovementKind.RESTOCK,
        quantity=quantity,
        reference=reference,
        note=note,
    )
    return posted_movement(posted, posting, actor_id)
