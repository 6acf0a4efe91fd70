"""The one way stock changes: every write path (API, admin, orders, demo data) posts
movements through ``movements_post``.

A posting costs one conditional ``UPDATE ... RETURNING`` of the product's balance (which
takes the row lock and refuses to go below zero: no SELECT first, no read-modify-write
in Python), then, for the whole batch, one statement that inserts the movements,
advances the balances' hash chain and writes any low-stock alerts.
"""

from collections.abc import Sequence
from dataclasses import dataclass

from django.db import connection

from catalog.exceptions import ProductNotFound
from ledger.exceptions import InsufficientStock
from ledger.hashing import movement_hash
from ledger.models import Movement


@dataclass(frozen=True, slots=True)
class Posting:
    product_id: int
    kind: str
    quantity: int
    reason: str = ""
    reference: str = ""
    note: str = ""
    order_line_id: int | None = None
    reverses_id: int | None = None


# Takes the balance row's lock. clock_timestamp() is evaluated once the lock is held, so
# recorded_at never goes backwards within a product.
_APPLY = """
UPDATE ledger_stockbalance AS b
   SET on_hand = b.on_hand + %s, version = b.version + 1, updated_at = clock_timestamp()
  FROM catalog_product AS p
 WHERE b.product_id = %s AND p.id = b.product_id AND b.on_hand + %s >= 0
RETURNING b.on_hand, b.version, b.updated_at, b.last_hash, p.reorder_level
"""

_MOVEMENT_COLUMNS = (
    "product_id",
    "kind",
    "quantity",
    "reason",
    "seq",
    "balance_after",
    "recorded_at",
    "actor_id",
    "reference",
    "note",
    "order_line_id",
    "reverses_id",
    "hash",
)
_MOVEMENT_ROW = (
    "(%s::bigint, %s, %s::bigint, %s, %s::bigint, %s::bigint, %s::timestamptz, %s::integer,"
    " %s, %s, %s::bigint, %s::bigint, %s)"
)


def movements_post(*, postings: Sequence[Posting], actor_id: int | None) -> list[Movement]:
    """Append ``postings`` to the ledger and update the balances; returns the movements
    in product-id order.

    Must run inside the caller's transaction (each service opens exactly one).
    Locks: the balance row of every product posted to, in product-id order, so that
    concurrent multi-product postings cannot deadlock; held until the caller commits.
    Writes: the movements, the balance rows, a StockAlert for each product taken from
    above its reorder level to at or below it.
    Raises InsufficientStock (listing every short product) if any posting would take
    on-hand below zero, ProductNotFound for an unknown product; the caller's transaction
    must then roll back (raising out of ``atomic`` does that).
    """
    assert connection.in_atomic_block, "movements_post needs the caller's transaction"
    ordered = sorted(postings, key=lambda p: p.product_id)
    movements: list[Movement] = []
    last_hash: dict[int, str] = {}
    crossings: list[tuple[int, int, int, int]] = []  # product, seq, on_hand, reorder level
    with connection.cursor() as cursor:
        for index, posting in enumerate(ordered):
            cursor.execute(_APPLY, [posting.quantity, posting.product_id, posting.quantity])
            row = cursor.fetchone()
            if row is None:
                _raise_refusal(cursor, ordered[index:])
            on_hand, seq, recorded_at, stored_hash, reorder_level = row
            prev_hash = last_hash.get(posting.product_id, stored_hash)
            fields = {
                "product_id": posting.product_id,
                "kind": posting.kind,
                "quantity": posting.quantity,
                "reason": posting.reason,
                "seq": seq,
                "balance_after": on_hand,
                "recorded_at": recorded_at,
                "actor_id": actor_id,
                "reference": posting.reference,
                "note": posting.note,
                "order_line_id": posting.order_line_id,
                "reverses_id": posting.reverses_id,
            }
            fields["hash"] = last_hash[posting.product_id] = movement_hash(
                prev_hash=prev_hash, **fields
            )
            movements.append(Movement(**fields))
            before = on_hand - posting.quantity
            if before > reorder_level >= on_hand:
                crossings.append((posting.product_id, seq, on_hand, reorder_level))
        _write(cursor, movements, last_hash, crossings)
    return movements


def _write(cursor, movements, last_hash, crossings) -> None:
    """Insert the movements, store each product's newest hash and write the alerts: one
    statement, so a posting of n products costs n + 1 statements."""
    params: list = []
    for movement in movements:
        params.extend(getattr(movement, column) for column in _MOVEMENT_COLUMNS)
    sql = [
        f"WITH m AS (INSERT INTO ledger_movement ({', '.join(_MOVEMENT_COLUMNS)}) VALUES ",
        ", ".join([_MOVEMENT_ROW] * len(movements)),
        " RETURNING id, product_id, seq), h AS (UPDATE ledger_stockbalance AS b"
        " SET last_hash = v.hash FROM (VALUES ",
        ", ".join(["(%s::bigint, %s::varchar)"] * len(last_hash)),
        ") AS v(product_id, hash) WHERE b.product_id = v.product_id)",
    ]
    for product_id, digest in last_hash.items():
        params.extend((product_id, digest))
    if crossings:
        sql.append(
            ", a AS (INSERT INTO ledger_stockalert (product_id, movement_id, on_hand,"
            " reorder_level, created_at, attempts, last_error)"
            " SELECT m.product_id, m.id, c.on_hand, c.reorder_level, clock_timestamp(), 0, ''"
            " FROM m JOIN (VALUES "
            + ", ".join(["(%s::bigint, %s::bigint, %s::bigint, %s::integer)"] * len(crossings))
            + ") AS c(product_id, seq, on_hand, reorder_level)"
            " ON c.product_id = m.product_id AND c.seq = m.seq)"
        )
        for crossing in crossings:
            params.extend(crossing)
    sql.append(" SELECT id FROM m ORDER BY product_id, seq")
    cursor.execute("".join(sql), params)
    for movement, (movement_id,) in zip(movements, cursor.fetchall(), strict=True):
        movement.id = movement.pk = movement_id
        movement._state.adding = False


def _raise_refusal(cursor, remaining: Sequence[Posting]):
    """The conditional UPDATE of remaining[0] matched no row: say why, with one read."""
    product_ids = sorted({p.product_id for p in remaining})
    cursor.execute(
        "SELECT product_id, on_hand FROM ledger_stockbalance WHERE product_id = ANY(%s)",
        [product_ids],
    )
    available = dict(cursor.fetchall())
    if remaining[0].product_id not in available:
        raise ProductNotFound(product=remaining[0].product_id)
    short = [
        {
            "product": p.product_id,
            "requested": -p.quantity,
            "available": available.get(p.product_id, 0),
        }
        for index, p in enumerate(remaining)
        if index == 0 or (p.quantity < 0 and available.get(p.product_id, 0) + p.quantity < 0)
    ]
    raise InsufficientStock(short)
