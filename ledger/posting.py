"""The one way stock changes: every write path (API, admin, orders, demo data) posts
movements through ``movements_post``.

A posting costs one conditional ``UPDATE ... RETURNING`` of its (product, location)
balance (which takes the row lock and refuses to take available units below zero: no
SELECT first, no read-modify-write in Python), then, for the whole batch, one statement
that inserts the movements, advances the balances' hash chains and writes any low-stock
alerts. Postings at the default location cost nothing more; a batch that names other
locations first locks those locations against archiving and opens their missing balance
rows: two statements, whatever the number of lines.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache

from django.db import connection

from catalog.exceptions import ProductNotFound
from core.filtering import MAX_ID
from ledger.exceptions import InsufficientStock, UnknownLocation
from ledger.fold import EFFECTS, FIGURES, Effect, Figures
from ledger.hashing import CURRENT_VERSION, movement_hash
from ledger.models import Location, Movement


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
    location_id: int | None = None  # None: the default location


# Takes the balance row's lock. clock_timestamp() is evaluated once the lock is held, so
# recorded_at never goes backwards within a (product, location). Only the figures the
# kind of movement changes are written (ledger.fold), and the condition is that available
# units (on hand minus reserved) stay at or above zero.
_APPLY = """
UPDATE ledger_stockbalance AS b
   SET {sets}, version = b.version + 1, updated_at = clock_timestamp()
  FROM catalog_product AS p, ledger_location AS l
 WHERE b.product_id = %s AND b.location_id = l.id AND {location} AND p.id = b.product_id
   AND {condition}
RETURNING l.id, l.code, b.on_hand, b.reserved, b.incoming, b.version, b.updated_at,
          b.last_hash, p.reorder_level
"""


@cache
def _apply_sql(effect: Effect, at_named_location: bool) -> str:
    """The conditional UPDATE for a kind of effect. Parameters: the delta of each figure
    the effect changes, the product id, the location id (if named), then the deltas of
    on_hand and reserved again (those changed) for the condition, then incoming's."""
    changed = [figure for figure in FIGURES if getattr(effect, figure)]

    def after(figure: str) -> str:
        return f"b.{figure} + %s" if figure in changed else f"b.{figure}"

    condition = f"{after('on_hand')} >= {after('reserved')}"
    if "incoming" in changed:
        condition += f" AND {after('incoming')} >= 0"
    return _APPLY.format(
        sets=", ".join(f"{figure} = b.{figure} + %s" for figure in changed),
        location="l.id = %s" if at_named_location else "l.is_default",
        condition=condition,
    )


def _apply_params(effect: Effect, posting: Posting) -> list:
    deltas = dict(zip(FIGURES, effect.deltas(posting.quantity), strict=True))
    changed = [figure for figure in FIGURES if getattr(effect, figure)]
    params = [deltas[figure] for figure in changed]
    params.append(posting.product_id)
    if posting.location_id is not None:
        params.append(posting.location_id)
    params += [deltas[figure] for figure in ("on_hand", "reserved") if figure in changed]
    if "incoming" in changed:
        params.append(deltas["incoming"])
    return params


# The named locations, locked against archiving (ledger.services.location_update takes
# FOR UPDATE, which conflicts with FOR KEY SHARE) and checked active under that lock;
# also the default location's id, to sort the postings by (product, location).
_LOCK_LOCATIONS = """
SELECT id, is_default FROM ledger_location
 WHERE (id = ANY(%s) OR is_default) AND is_active
 ORDER BY id
   FOR KEY SHARE
"""

# Opens the balance rows of (product, location) pairs posted to for the first time, in
# lock order; an unknown product opens nothing (its UPDATE then finds no row).
_OPEN_BALANCES = """
INSERT INTO ledger_stockbalance
    (product_id, location_id, on_hand, reserved, incoming, version, last_hash, updated_at)
SELECT p.id, v.location_id, 0, 0, 0, 0, '', clock_timestamp()
  FROM unnest(%s::bigint[], %s::bigint[]) AS v(product_id, location_id)
  JOIN catalog_product AS p ON p.id = v.product_id
 ORDER BY v.product_id, v.location_id
    ON CONFLICT (product_id, location_id) DO NOTHING
"""

_MOVEMENT_COLUMNS = (
    "product_id",
    "location_id",
    "kind",
    "quantity",
    "reason",
    "seq",
    "balance_after",
    "reserved_after",
    "incoming_after",
    "recorded_at",
    "actor_id",
    "reference",
    "note",
    "order_line_id",
    "reverses_id",
    "hash_version",
    "hash",
)
_MOVEMENT_ROW = (
    "(%s::bigint, %s::bigint, %s, %s::bigint, %s, %s::bigint, %s::bigint, %s::bigint,"
    " %s::bigint, %s::timestamptz, %s::integer, %s, %s, %s::bigint, %s::bigint, %s::smallint, %s)"
)


def movements_post(*, postings: Sequence[Posting], actor_id: int | None) -> list[Movement]:
    """Append ``postings`` to the ledger and update the balances; returns the movements
    in lock order: by (product id, location id).

    Must run inside the caller's transaction (each service opens exactly one).
    Locks: the named locations (FOR KEY SHARE, so none is archived meanwhile), then the
    balance row of every (product, location) posted to, in (product id, location id)
    order, so that concurrent multi-line postings cannot deadlock; held until the
    caller commits.
    Writes: balance rows opened at named locations, the movements, the balance rows,
    a StockAlert for each (product, location) taken from above the product's reorder
    level to at or below it.
    Raises InsufficientStock (listing every short line) if any posting would take
    available units below zero, ProductNotFound for an unknown product (or one with no
    balance row at the default location), UnknownLocation for a named location that is
    missing or archived; the caller's transaction must then roll back (raising out of
    ``atomic`` does that).
    """
    assert connection.in_atomic_block, "movements_post needs the caller's transaction"
    movements: list[Movement] = []
    last_hash: dict[tuple[int, int], str] = {}
    crossings: list[tuple[int, int, int, int, int]] = []  # product, location, seq, on_hand, level
    with connection.cursor() as cursor:
        ordered = _in_lock_order(cursor, postings)
        for index, posting in enumerate(ordered):
            effect = EFFECTS[posting.kind]
            cursor.execute(
                _apply_sql(effect, posting.location_id is not None),
                _apply_params(effect, posting),
            )
            row = cursor.fetchone()
            if row is None:
                _raise_refusal(cursor, ordered[index:])
            location_id, code, on_hand, reserved, incoming, seq, recorded_at, prev, level = row
            key = (posting.product_id, location_id)
            fields = {
                "product_id": posting.product_id,
                "location_id": location_id,
                "kind": posting.kind,
                "quantity": posting.quantity,
                "reason": posting.reason,
                "seq": seq,
                "balance_after": on_hand,
                "reserved_after": reserved,
                "incoming_after": incoming,
                "recorded_at": recorded_at,
                "actor_id": actor_id,
                "reference": posting.reference,
                "note": posting.note,
                "order_line_id": posting.order_line_id,
                "reverses_id": posting.reverses_id,
                "hash_version": CURRENT_VERSION,
            }
            fields["hash"] = last_hash[key] = movement_hash(
                prev_hash=last_hash.get(key, prev), **fields
            )
            movement = Movement(**fields)
            # The code came with the row: rendering the movement needs no query for it.
            movement.location = Location.from_db(None, ["id", "code"], [location_id, code])
            movements.append(movement)
            before = on_hand - effect.deltas(posting.quantity)[0]
            if before > level >= on_hand:
                crossings.append((posting.product_id, location_id, seq, on_hand, level))
        _write(cursor, movements, last_hash, crossings)
    return movements


def _in_lock_order(cursor, postings: Sequence[Posting]) -> list[Posting]:
    """The postings sorted by (product id, location id). At the default location only,
    that is product-id order and costs no statement; with named locations, those are
    locked and checked first, and the missing balance rows opened."""
    default_id = _prepare_named(cursor, {(p.product_id, p.location_id) for p in postings})
    if default_id is None:
        return sorted(postings, key=lambda p: p.product_id)
    return sorted(postings, key=lambda p: (p.product_id, p.location_id or default_id))


def _prepare_named(cursor, pairs: set[tuple[int, int | None]]) -> int | None:
    """For (product id, location id or None) pairs that name locations: lock those
    locations FOR KEY SHARE, check them active (UnknownLocation otherwise) and open the
    pairs' missing balance rows in lock order; returns the default location's id. When
    no pair names a location: nothing, and None."""
    named = sorted({location_id for _, location_id in pairs if location_id is not None})
    if not named:
        return None
    cursor.execute(_LOCK_LOCATIONS, [named])
    rows = cursor.fetchall()
    active = {location_id for location_id, _ in rows}
    default_id = next((location_id for location_id, is_default in rows if is_default), 0)
    for location_id in named:
        if location_id not in active:
            raise UnknownLocation(location=str(location_id))
    # An id past bigint names no product (its UPDATE then finds no row: ProductNotFound);
    # the array of ids to open could not hold it.
    to_open = sorted(
        (product_id, location_id)
        for product_id, location_id in pairs
        if location_id not in (None, default_id) and 0 < product_id <= MAX_ID
    )
    if to_open:
        cursor.execute(_OPEN_BALANCES, [[k[0] for k in to_open], [k[1] for k in to_open]])
    return default_id


def _write(cursor, movements, last_hash, crossings) -> None:
    """Insert the movements, store each chain's newest hash and write the alerts: one
    statement, so a posting of n lines costs n + 1 statements."""
    params: list = []
    for movement in movements:
        params.extend(getattr(movement, column) for column in _MOVEMENT_COLUMNS)
    sql = [
        f"WITH m AS (INSERT INTO ledger_movement ({', '.join(_MOVEMENT_COLUMNS)}) VALUES ",
        ", ".join([_MOVEMENT_ROW] * len(movements)),
        " RETURNING id, product_id, location_id, seq), h AS (UPDATE ledger_stockbalance AS b"
        " SET last_hash = v.hash FROM (VALUES ",
        ", ".join(["(%s::bigint, %s::bigint, %s::varchar)"] * len(last_hash)),
        ") AS v(product_id, location_id, hash)"
        " WHERE b.product_id = v.product_id AND b.location_id = v.location_id)",
    ]
    for (product_id, location_id), digest in last_hash.items():
        params.extend((product_id, location_id, digest))
    if crossings:
        sql.append(
            ", a AS (INSERT INTO ledger_stockalert (product_id, movement_id, on_hand,"
            " reorder_level, created_at, attempts, last_error)"
            " SELECT m.product_id, m.id, c.on_hand, c.reorder_level, clock_timestamp(), 0, ''"
            " FROM m JOIN (VALUES "
            + ", ".join(
                ["(%s::bigint, %s::bigint, %s::bigint, %s::bigint, %s::integer)"] * len(crossings)
            )
            + ") AS c(product_id, location_id, seq, on_hand, reorder_level)"
            " ON c.product_id = m.product_id AND c.location_id = m.location_id"
            " AND c.seq = m.seq)"
        )
        for crossing in crossings:
            params.extend(crossing)
    sql.append(" SELECT id FROM m ORDER BY product_id, location_id, seq")
    cursor.execute("".join(sql), params)
    for movement, (movement_id,) in zip(movements, cursor.fetchall(), strict=True):
        movement.id = movement.pk = movement_id
        movement._state.adding = False


_AVAILABLE = """
SELECT b.product_id, b.location_id, l.is_default, b.on_hand - b.reserved
  FROM ledger_stockbalance AS b
  JOIN ledger_location AS l ON l.id = b.location_id
 WHERE b.product_id = ANY(%s) AND (l.is_default OR b.location_id = ANY(%s))
"""


def _raise_refusal(cursor, remaining: Sequence[Posting]):
    """The conditional UPDATE of remaining[0] matched no row: say why, with one read."""
    product_ids = sorted({p.product_id for p in remaining})
    named = sorted({p.location_id for p in remaining if p.location_id is not None})
    cursor.execute(_AVAILABLE, [product_ids, named])
    available: dict[tuple[int, int | None], int] = {}
    for product_id, location_id, is_default, units in cursor.fetchall():
        available[(product_id, location_id)] = units
        if is_default:
            available[(product_id, None)] = units

    def units(posting: Posting) -> int:
        return available.get((posting.product_id, posting.location_id), 0)

    first = remaining[0]
    if (first.product_id, first.location_id) not in available:
        raise ProductNotFound(product=first.product_id)
    short = [
        {"product": p.product_id, "requested": -p.quantity, "available": units(p)}
        for index, p in enumerate(remaining)
        if index == 0 or (p.quantity < 0 and units(p) + p.quantity < 0)
    ]
    raise InsufficientStock(short)


def balance_lock(*, product_id: int, location_id: int | None) -> Figures:
    """Lock the balance row of (product, location) (None: the default location) and
    return its figures, for a write that must read before it posts (a stocktake).

    Locks, as movements_post would: a named location (FOR KEY SHARE), then the row
    (FOR UPDATE; a named location's row is opened first if missing). Must run inside the
    caller's transaction. Raises ProductNotFound, UnknownLocation.
    """
    assert connection.in_atomic_block, "balance_lock needs the caller's transaction"
    with connection.cursor() as cursor:
        if location_id is None:
            cursor.execute(_LOCK_DEFAULT_BALANCE, [product_id])
        else:
            _prepare_named(cursor, {(product_id, location_id)})
            cursor.execute(_LOCK_BALANCE, [product_id, location_id])
        row = cursor.fetchone()
    if row is None:
        raise ProductNotFound(product=product_id)
    return Figures(*row)


_LOCK_DEFAULT_BALANCE = """
SELECT b.on_hand, b.reserved, b.incoming
  FROM ledger_stockbalance AS b
  JOIN ledger_location AS l ON l.id = b.location_id AND l.is_default
 WHERE b.product_id = %s
   FOR UPDATE OF b
"""
_LOCK_BALANCE = """
SELECT on_hand, reserved, incoming FROM ledger_stockbalance
 WHERE product_id = %s AND location_id = %s
   FOR UPDATE
"""
