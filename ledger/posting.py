"""The one way stock changes: every write path (API, admin, orders, reservations,
transfers, receipts, stocktakes, demo data) posts movements through ``movements_post``.

A posting of any number of lines costs a constant number of statements, set-based:
1. (several balance rows only) ``SELECT ... ORDER BY product, location FOR UPDATE``
   takes the row locks in one fixed order, so concurrent postings cannot deadlock. An
   ``UPDATE ... WHERE id = ANY(...)`` alone would lock in whatever order its plan
   visits the rows (a bitmap heap scan visits them in disk order);
2. one conditional ``UPDATE ... RETURNING`` adds each (product, location)'s deltas to
   its balance (one VALUES row of scalars for a single row; else the locked row ids
   and deltas as unnest() arrays): the count is never read to be written back, and a
   pair whose available units (or reserved, or incoming) would go below zero, or whose
   version is not the one the client expected, is simply not updated;
3. one statement inserts the movements, advances the balances' hash chains and writes
   any low-stock alerts.
A single movement (the hot path) is one statement doing both (_ONE_SQL), its hash
computed by PostgreSQL.
Postings at the default location cost nothing more; a posting that names other
locations first locks those locations against archiving and opens their missing
balance rows: two statements, whatever the number of lines.
"""

import json
from collections.abc import Sequence
from contextlib import nullcontext
from dataclasses import dataclass, field
from functools import cache

from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection

from catalog.exceptions import ProductNotFound
from core.db import prepared_cursor, sole_statement
from core.filtering import MAX_ID
from core.instances import saved_instance, saved_instance_of
from events.services import event_append
from events.types import REGISTRY
from ledger import events as ledger_events
from ledger.exceptions import InsufficientStock, UnknownLocation, VersionMismatch
from ledger.fold import EFFECTS, FIGURES, Figures
from ledger.hashing import CURRENT_VERSION, hash_sql, movement_hash
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
    reservation_id: int | None = None
    transfer_id: int | None = None
    receipt_id: int | None = None
    stocktake_id: int | None = None
    # If set, the (product, location) balance must be at this version (If-Match).
    expected_version: int | None = None


@dataclass(slots=True)
class _Pair:
    """The postings of one (product, location) and their summed deltas."""

    product_id: int
    location_id: int | None
    postings: list[Posting] = field(default_factory=list)
    deltas: list[int] = field(default_factory=lambda: [0, 0, 0])
    expected_version: int | None = None

    def add(self, posting: Posting) -> None:
        self.postings.append(posting)
        for index, delta in enumerate(EFFECTS[posting.kind].deltas(posting.quantity)):
            self.deltas[index] += delta
        if posting.expected_version is not None:
            self.expected_version = posting.expected_version


# The default location's id, for postings that name none: evaluated once per statement.
_DEFAULT = "(SELECT id FROM ledger_location WHERE is_default)"
_PAIRS = "unnest(%s::bigint[], %s::bigint[])"

# Locks the balance rows in (product, location) order before they are updated, and
# returns what the update needs of them. Two tables joined and two correlated lookups
# by primary key, so that no plan can go wrong whatever the statistics say: a join of
# four, with a freshly imported catalogue that the statistics still think is empty,
# once planned a nested loop over every pair for every product (15 s for 5,000 lines).
_LOCK_ROWS = f"""
SELECT b.id, v.product_id, v.location_id, b.location_id,
       (SELECT code FROM ledger_location WHERE id = b.location_id),
       (SELECT reorder_level FROM catalog_product WHERE id = b.product_id)
  FROM ledger_stockbalance AS b
  JOIN {_PAIRS} AS v(product_id, location_id)
    ON b.product_id = v.product_id AND b.location_id = COALESCE(v.location_id, {_DEFAULT})
 ORDER BY b.product_id, b.location_id
   FOR UPDATE OF b
"""

# The locked rows, by id: the same deltas and conditions as _APPLY.
_APPLY_LOCKED = """
UPDATE ledger_stockbalance AS b
   SET on_hand = b.on_hand + v.d_on_hand, reserved = b.reserved + v.d_reserved,
       incoming = b.incoming + v.d_incoming, version = b.version + v.n,
       updated_at = clock_timestamp()
  FROM unnest(%s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[], %s::bigint[],
              %s::bigint[]) AS v(id, d_on_hand, d_reserved, d_incoming, n, expected)
 WHERE b.id = v.id
   AND b.on_hand + v.d_on_hand >= b.reserved + v.d_reserved
   AND b.reserved + v.d_reserved >= 0 AND b.incoming + v.d_incoming >= 0
   AND (v.expected IS NULL OR b.version = v.expected)
RETURNING b.id, b.on_hand, b.reserved, b.incoming, b.version, b.last_hash, clock_timestamp()
"""

# clock_timestamp() is evaluated once each row's lock is held, so recorded_at never
# goes backwards within a (product, location). {source} gives the row v: one VALUES
# row of scalar parameters for a single (product, location), the hot path (adapting
# Python lists to arrays costs the client more than the statement costs the server).
_APPLY = f"""
UPDATE ledger_stockbalance AS b
   SET on_hand = b.on_hand + v.d_on_hand, reserved = b.reserved + v.d_reserved,
       incoming = b.incoming + v.d_incoming, version = b.version + v.n,
       updated_at = clock_timestamp()
  FROM {{source}} AS v(product_id, location_id, d_on_hand, d_reserved, d_incoming, n, expected),
       catalog_product AS p, ledger_location AS l
 WHERE b.product_id = v.product_id
   AND b.location_id = COALESCE(v.location_id, {_DEFAULT})
   AND p.id = b.product_id AND l.id = b.location_id
   AND b.on_hand + v.d_on_hand >= b.reserved + v.d_reserved
   AND b.reserved + v.d_reserved >= 0 AND b.incoming + v.d_incoming >= 0
   AND (v.expected IS NULL OR b.version = v.expected)
RETURNING v.product_id, v.location_id, l.id, l.code, b.on_hand, b.reserved, b.incoming,
          b.version, b.last_hash, p.reorder_level, clock_timestamp()
"""
_APPLY_ONE = _APPLY.format(source="(VALUES (" + ", ".join(["%s::bigint"] * 7) + "))")


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


def _array_type(field) -> str:
    """The column's type as an array element type for ``%s::<type>[]`` (no length)."""
    kind = field.db_type(connection).split("(")[0]
    return {"timestamp with time zone": "timestamptz"}.get(kind, kind)


# Each column of ledger_movement the posting writes (every one but id), with its array
# type for unnest(): read from the model, so that a new field is defined once, there.
# (The hash covers a fixed list per hash_version, ledger.hashing, on purpose: a version's
# payload never changes; the feed's event data is its own versioned schema,
# ledger.events.)
_MOVEMENT_COLUMNS = tuple(
    (field.column, _array_type(field))
    for field in Movement._meta.concrete_fields
    if not field.primary_key
)


# Up to this many movements are inserted from VALUES rows of scalar parameters, more
# from column arrays (unnest), which has no 65,535-parameter limit and costs the client
# less per row. psycopg parses a statement's text once and caches it only while it has
# at most 50 parameters and 4,096 characters: one movement's VALUES (24 to 29) is
# cached, three are parsed again on every posting (1.2 ms of a 10-line receipt's 4).
_VALUES_UP_TO = 1


def _rows(types: Sequence[str], count: int, arrays: bool) -> str:
    """A row source of ``count`` rows of columns of ``types``."""
    if arrays:
        return "unnest(" + ", ".join(f"%s::{kind}[]" for kind in types) + ")"
    row = "(" + ", ".join(f"%s::{kind}" for kind in types) + ")"
    return "(VALUES " + ", ".join([row] * count) + ")"


_HASH_TYPES = ("bigint", "bigint", "varchar")
_ALERT_TYPES = ("bigint", "bigint", "bigint", "bigint", "integer")


# The movements' events (ledger.events) and their webhook deliveries, in the same
# statement: the feed costs a posting no round trip. ``{extra}`` adds the caller's own
# events (an order's order.placed) after the movements'.
_DATA_FROM, _DATA = ledger_events.data_sql()
_EVENTS_SQL = (
    ", ev AS (SELECT 0 AS k, m.id AS o, "
    f"{ledger_events.type_sql()} AS type,"
    f" {ledger_events.VERSION} AS version, m.recorded_at AS occurred_at,"
    f" {ledger_events.SUBJECT_SQL} AS subject, {_DATA} AS data"
    " FROM m JOIN catalog_product AS p ON p.id = m.product_id"
    f" JOIN ledger_location AS l ON l.id = m.location_id, {_DATA_FROM}{{extra}}),"
    # The statement's positions taken at once (events migration 0003), numbered in
    # (k, o) order: as the column's default would, one call for all of them.
    " ep AS MATERIALIZED (SELECT events_take_positions((SELECT count(*) FROM ev)) AS first),"
    " e AS (INSERT INTO events_event (position, type, version, occurred_at, subject, data)"
    " SELECT ep.first + row_number() OVER (ORDER BY k, o) - 1, type, version, occurred_at,"
    " subject, data FROM ev, ep ORDER BY k, o RETURNING position)"
)
_EXTRA_EVENT = (
    " UNION ALL SELECT 1, %s::bigint, %s::varchar, %s::smallint, clock_timestamp(),"
    " %s::varchar, %s::jsonb"
)


@cache
def _write_sql(movements: int, chains: int, alerts: int, arrays: bool, extra: int = 0) -> str:
    names = ", ".join(name for name, _ in _MOVEMENT_COLUMNS)
    types = [kind for _, kind in _MOVEMENT_COLUMNS]
    sql = (
        f"WITH m AS (INSERT INTO ledger_movement ({names})"
        f" SELECT * FROM {_rows(types, movements, arrays)} AS r"
        f" RETURNING {', '.join(ledger_events.RETURNED_COLUMNS)}),"
        " h AS (UPDATE ledger_stockbalance AS b SET last_hash = v.hash"
        f" FROM {_rows(_HASH_TYPES, chains, arrays)} AS v(product_id, location_id, hash)"
        " WHERE b.product_id = v.product_id AND b.location_id = v.location_id)"
    )
    if alerts:
        sql += (
            ", a AS (INSERT INTO ledger_stockalert (product_id, movement_id, on_hand,"
            " reorder_level, created_at, attempts, last_error)"
            " SELECT m.product_id, m.id, c.on_hand, c.reorder_level, clock_timestamp(), 0, ''"
            f" FROM m JOIN {_rows(_ALERT_TYPES, alerts, arrays)}"
            " AS c(product_id, location_id, seq, on_hand, reorder_level)"
            " ON c.product_id = m.product_id AND c.location_id = m.location_id"
            " AND c.seq = m.seq)"
        )
    # Last: its parameters (the extra events') come after the alerts'.
    sql += _EVENTS_SQL.format(extra=_EXTRA_EVENT * extra)
    return sql + " SELECT id, product_id, location_id, seq FROM m"


# A single posting (one movement, the hot path: an order line, a restock, an adjustment)
# is one statement. The UPDATE computes the new figures, the time and the movement's
# hash from the row it has locked (a correlated sub-SELECT, so that one clock_timestamp()
# taken under the lock is both the balance's updated_at and the movement's recorded_at,
# and the hash covers it); the INSERT writes the movement from what the UPDATE returned.
# So the row's lock is held for the rest of one statement and the commit, not across a
# round trip to the client and back, and the hash is computed by PostgreSQL
# (ledger.hashing.hash_sql, the same payload as movement_hash). One movement on each of
# several rows is the same statement over arrays, after the rows' lock (_LOCK_ROWS).

# What each posting passes beside its balance row's key, in order.
_POSTING_PARAMS = (
    ("kind", "varchar"),
    ("quantity", "bigint"),
    ("d_on_hand", "bigint"),
    ("d_reserved", "bigint"),
    ("d_incoming", "bigint"),
    ("expected", "bigint"),
    ("actor_id", "bigint"),
    ("reason", "varchar"),
    ("reference", "varchar"),
    ("note", "text"),
    ("order_line_id", "bigint"),
    ("reverses_id", "bigint"),
    ("reservation_id", "bigint"),
    ("transfer_id", "bigint"),
    ("receipt_id", "bigint"),
    ("stocktake_id", "bigint"),
)
# One movement: the balance row by (product, location), scalar parameters.
_ONE_PARAMS = (("product_id", "bigint"), ("location_id", "bigint"), *_POSTING_PARAMS)
# One movement on each of several rows, locked first (_LOCK_ROWS): by row id, arrays.
_EACH_PARAMS = (("id", "bigint"), ("reorder_level", "bigint"), *_POSTING_PARAMS)
# Returned by the UPDATE, named as the movement's columns.
_ONE_FIGURES = {
    "product_id": "b.product_id",
    "location_id": "b.location_id",
    "seq": "b.version",
    "balance_after": "b.on_hand",
    "reserved_after": "b.reserved",
    "incoming_after": "b.incoming",
    "recorded_at": "b.updated_at",
    "hash": "b.last_hash",
}
_ONE_PASSED = [name for name, _ in _POSTING_PARAMS if not name.startswith(("d_", "expected"))]
_ONE_HASHED = {
    **{name: f"v.{name}" for name in _ONE_PASSED},
    "product_id": "b.product_id",
    "location_id": "b.location_id",
    "seq": "n.version",
    "balance_after": "n.on_hand",
    "reserved_after": "n.reserved",
    "incoming_after": "n.incoming",
    "recorded_at": "n.t",
}
_ONE_MOVEMENT = {
    **{name: f"u.{name}" for name in (*_ONE_FIGURES, *_ONE_PASSED)},
    "hash_version": str(CURRENT_VERSION),
}
assert set(_ONE_MOVEMENT) == {name for name, _ in _MOVEMENT_COLUMNS}, "a column is missing"


def _posting_sql(
    source: str, params: tuple, match: str, *, looked_up: bool, before: str = ""
) -> str:
    """The statement that posts one movement to each balance row it matches: the rows
    of ``source`` (columns ``params``) joined to theirs by ``match``. ``looked_up``: the
    product's reorder level and the location's code are read here (one row, by primary
    key); else the rows were locked first and ``source`` carries the reorder level (no
    join that a stale statistic could plan as a nested loop over thousands of rows).
    ``before``: the caller's own CTEs ahead of the posting's (``name AS (...), ``)."""
    joins, level, code = ", catalog_product AS p, ledger_location AS l", "p.reorder_level", "l.code"
    if not looked_up:
        joins, level, code = "", "v.reorder_level", "NULL::varchar"
    returned = dict.fromkeys([*ledger_events.RETURNED_COLUMNS, "hash"])
    return f"""
WITH {before}u AS (
UPDATE ledger_stockbalance AS b
   SET (on_hand, reserved, incoming, version, updated_at, last_hash) = (
       SELECT n.on_hand, n.reserved, n.incoming, n.version, n.t,
              {hash_sql(prev_hash="b.last_hash", fields=_ONE_HASHED)}
         FROM (SELECT b.on_hand + v.d_on_hand AS on_hand,
                      b.reserved + v.d_reserved AS reserved,
                      b.incoming + v.d_incoming AS incoming,
                      b.version + 1 AS version, clock_timestamp() AS t) AS n)
  FROM {source} AS v({", ".join(name for name, _ in params)}){joins}
 WHERE {match}
   AND b.on_hand + v.d_on_hand >= b.reserved + v.d_reserved
   AND b.reserved + v.d_reserved >= 0 AND b.incoming + v.d_incoming >= 0
   AND (v.expected IS NULL OR b.version = v.expected)
RETURNING {", ".join(f"{expr} AS {name}" for name, expr in _ONE_FIGURES.items())},
          {", ".join(f"v.{name}" for name in _ONE_PASSED)}, v.d_on_hand,
          {code} AS code, {level} AS reorder_level),
m AS (INSERT INTO ledger_movement ({", ".join(name for name, _ in _MOVEMENT_COLUMNS)})
      SELECT {", ".join(_ONE_MOVEMENT[name] for name, _ in _MOVEMENT_COLUMNS)} FROM u
       ORDER BY u.product_id, u.location_id
      RETURNING {", ".join(returned)}),
a AS (INSERT INTO ledger_stockalert
          (product_id, movement_id, on_hand, reorder_level, created_at, attempts, last_error)
      SELECT m.product_id, m.id, c.balance_after, c.reorder_level, clock_timestamp(), 0, ''
        FROM (SELECT * FROM u WHERE u.balance_after - u.d_on_hand > u.reorder_level
                                AND u.reorder_level >= u.balance_after) AS c
        JOIN m ON m.product_id = c.product_id AND m.location_id = c.location_id)"""


_ONE_SQL = _posting_sql(
    _rows([kind for _, kind in _ONE_PARAMS], 1, False),
    _ONE_PARAMS,
    f"b.product_id = v.product_id AND b.location_id = COALESCE(v.location_id, {_DEFAULT})"
    " AND p.id = b.product_id AND l.id = b.location_id",
    looked_up=True,
)
_EACH_SQL = _posting_sql(
    _rows([kind for _, kind in _EACH_PARAMS], 0, True),
    _EACH_PARAMS,
    "b.id = v.id",
    looked_up=False,
)
# What both return: each movement with its row's new figures, time, hash and location
# code (the one-row statement's; the caller of the other has them from the lock).
_POSTED = (
    " SELECT m.id, m.product_id, m.location_id, {code}, m.seq, m.balance_after,"
    " m.reserved_after, m.incoming_after, m.recorded_at, m.hash{extra} FROM m"
)


def posting_with_sql(
    *, before: str, row_from: str, posting: dict[str, str], after: str, events: str, result: str
) -> str:
    """A one-movement posting at the default location inside a caller's own statement,
    so that writing the caller's rows and the posting is one statement (placing an
    order of one line): the same UPDATE, movement, alert and events as _ONE_SQL.

    ``before``: the caller's CTEs ahead of the posting's, each ``name AS (...), ``;
    ``row_from``: what the posting's one row (at most) is selected from, and
    ``posting``: that row's values, as SQL expressions by _ONE_PARAMS name (the others
    are NULL; ``location_id`` must be: the default location); ``after``: the caller's
    CTEs after the posting's (``, name AS (...)``; they may read ``u``, the updated
    balance row, empty if the posting was refused, and ``m``, the movement);
    ``events``: the caller's own events, as UNION ALL branches of (1, number, type,
    version, occurred_at, subject, data) after the movement's; ``result``: the final
    SELECT. Locks the balance row (the UPDATE), as movements_post does. A refused
    posting writes nothing of the posting's; the caller's ``after`` must then write
    nothing either (condition it on ``u``)."""
    assert set(posting) <= {name for name, _ in _ONE_PARAMS} - {"location_id"}
    values = ", ".join(f"({posting.get(name, 'NULL')})::{kind}" for name, kind in _ONE_PARAMS)
    sql = _posting_sql(
        f"(SELECT {values} FROM {row_from})",
        _ONE_PARAMS,
        f"b.product_id = v.product_id AND b.location_id = {_DEFAULT}"
        " AND p.id = b.product_id AND l.id = b.location_id",
        looked_up=True,
        before=before,
    )
    return sql + after + _EVENTS_SQL.format(extra=events) + " " + result


def posting_values_sql(*, kind: str, quantity: str, **values: str) -> dict[str, str]:
    """posting_with_sql's ``posting`` for a movement of ``kind``: its ``quantity`` and
    the deltas the kind's effect gives it (SQL expressions), and ``values``."""
    effect = EFFECTS[kind]
    return {
        "kind": f"'{kind}'",
        "quantity": quantity,
        "d_on_hand": f"{effect.on_hand} * {quantity}",
        "d_reserved": f"{effect.reserved} * {quantity}",
        "d_incoming": f"{effect.incoming} * {quantity}",
        **values,
    }


def posted_sql(*extra: str) -> str:
    """posting_with_sql's ``result`` that returns the movement (read by
    posted_movement), then ``extra`` columns."""
    return _POSTED.format(code="u.code", extra="".join(f", {e}" for e in extra)) + ", u"


def posted_movement(row, posting: Posting, actor_id: int | None) -> Movement:
    """The Movement of ``posting`` as a posted_sql ``row`` (without its extra columns)
    tells it: no query."""
    return _posted(row, posting, actor_id, {})


@cache
def _one_sql(extra: int) -> str:
    posted = _POSTED.format(code="u.code", extra="") + ", u"
    return _ONE_SQL + _EVENTS_SQL.format(extra=_EXTRA_EVENT * extra) + posted


@cache
def _each_sql(extra: int) -> str:
    posted = _POSTED.format(code="NULL", extra="")
    return _EACH_SQL + _EVENTS_SQL.format(extra=_EXTRA_EVENT * extra) + posted


# The array types whose elements are written quoted in an array literal.
_QUOTED = frozenset({"varchar", "text", "timestamptz"})


def _array(values: list, *, quoted: bool = False) -> str:
    """``values`` as a PostgreSQL array literal, for a ``%s::<type>[]`` parameter.

    Django's cursor binds parameters on the client, where psycopg adapts a list element
    by element in Python: for a posting of 1,000 lines, its 30 arrays took ~40 ms of the
    posting's ~250. Joined here, numbers need only str() (C speed) and quoted elements
    (text, timestamps) one escape each: ~10 ms. None is NULL."""
    if quoted:
        items = (
            "NULL"
            if value is None
            else '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'
            for value in values
        )
    elif None in values:
        items = ("NULL" if value is None else str(int(value)) for value in values)
    else:
        items = map(str, map(int, values))
    return "{" + ",".join(items) + "}"


def movements_post(
    *,
    postings: Sequence[Posting],
    actor_id: int | None,
    events: Sequence[tuple[str, str, dict]] = (),
    alone: bool = False,
) -> list[Movement]:
    """Append ``postings`` to the ledger and update the balances; returns the movements
    in lock order: by (product id, location id), then in the order given.

    Must run inside the caller's transaction (each service opens exactly one).
    ``alone``: that transaction holds nothing else, before or after; a single posting
    to the default location is then one statement run as its own transaction
    (core.db.sole_statement), without the round trips of BEGIN and COMMIT.
    Locks: the named locations (FOR KEY SHARE, so none is archived meanwhile), then the
    balance row of every (product, location) posted to, in (product id, location id)
    order, so that concurrent postings cannot deadlock; held until the caller commits.
    Writes: balance rows opened at named locations, the movements, the balance rows,
    a StockAlert for each (product, location) taken from above the product's reorder
    level to at or below it, one feed event per movement (ledger.events) and then one
    per ``events`` item (type, subject, data: the caller's own, such as order.placed),
    and their webhook deliveries.
    Raises InsufficientStock (listing every short line) if any posting would take
    available units (or reserved or incoming units) below zero, VersionMismatch if a
    balance is not at a posting's expected_version, ProductNotFound for an unknown
    product (or one with no balance row at the default location), UnknownLocation for
    a named location that is missing or archived; the caller's transaction must then
    roll back (raising out of ``atomic`` does that).
    """
    assert connection.in_atomic_block, "movements_post needs the caller's transaction"
    if not postings:
        for type_name, subject, data in events:
            event_append(type=type_name, subject=subject, data=data)
        return []
    for posting in postings:
        if not 0 < posting.product_id <= MAX_ID:  # no such product; no bigint array holds it
            raise ProductNotFound(product=posting.product_id)
    with prepared_cursor() as cursor:
        pairs = _pairs_in_lock_order(cursor, postings)
        if len(postings) == 1:
            return [_post_one(cursor, pairs[0], actor_id, events, alone=alone)]
        if len(pairs) == len(postings):  # one movement per balance row
            return _post_each(cursor, pairs, actor_id, events)
        if len(pairs) == 1:
            (pair,) = pairs
            cursor.execute(
                _APPLY_ONE,
                [
                    pair.product_id,
                    pair.location_id,
                    *pair.deltas,
                    len(pair.postings),
                    pair.expected_version,
                ],
            )
            rows = {(row[0], row[1]): row[2:] for row in cursor.fetchall()}
        else:
            rows = _apply_locked(cursor, pairs)
        if len(rows) < len(pairs):
            _raise_refusal(cursor, [p for p in pairs if (p.product_id, p.location_id) not in rows])
        movements, last_hash, crossings = _movements(pairs, rows, actor_id)
        _write(cursor, movements, last_hash, crossings, events)
    return movements


def _post_one(cursor, pair: _Pair, actor_id: int | None, events, *, alone: bool) -> Movement:
    """Post a pair's single posting with one statement (_ONE_SQL), on its own if
    ``alone`` and nothing ran before it; raises as movements_post does when the
    conditional UPDATE leaves the row alone (the refusal's read runs after it: the
    statement changed nothing then)."""
    (posting,) = pair.postings
    params = [pair.product_id, pair.location_id, *_posting_values(pair, actor_id)]
    with sole_statement() if alone else nullcontext():
        cursor.execute(_one_sql(len(events)), params + _event_params(events))
    row = cursor.fetchone()
    if row is None:
        _raise_refusal(cursor, [pair])
    return _posted(row, posting, actor_id, {})


def _post_each(cursor, pairs: list[_Pair], actor_id: int | None, events) -> list[Movement]:
    """Post one movement to each of several balance rows: lock the rows in order, then
    one statement (_EACH_SQL) for all of them; raises as movements_post does."""
    # The postings' arrays are built before the rows are locked: under the locks, the
    # client adds only the rows' ids and reorder levels.
    postings = [
        _array(list(column), quoted=kind in _QUOTED)
        for column, (_, kind) in zip(
            zip(*(_posting_values(pair, actor_id) for pair in pairs), strict=True),
            _POSTING_PARAMS,
            strict=True,
        )
    ]
    found = _lock_rows(cursor, pairs)
    if len(found) < len(pairs):  # a product without the row: unknown
        locked = {id(pair) for pair, _ in found}
        _raise_refusal(cursor, [pair for pair in pairs if id(pair) not in locked])
    rows = [row for _, row in found]  # in the pairs' order
    params = [_array([row[0] for row in rows]), _array([row[3] for row in rows]), *postings]
    cursor.execute(_each_sql(len(events)), params + _event_params(events))
    posted = {(row[1], row[2]): row for row in cursor.fetchall()}
    # One Location per location (a receipt's thousand rows share one), each built once.
    locations = {
        location_id: Location.from_db(None, ["id", "code"], [location_id, code])
        for location_id, code in {row[1]: row[2] for row in rows}.items()
    }
    movements = []
    refused = []
    for pair, row in found:
        movement_row = posted.get((pair.product_id, row[1]))
        if movement_row is None:
            refused.append(pair)
        elif not refused:
            movements.append(_posted(movement_row, pair.postings[0], actor_id, locations))
    if refused:
        _raise_refusal(cursor, refused)
    return movements


def _posting_values(pair: _Pair, actor_id: int | None) -> list:
    """The _POSTING_PARAMS of a pair's single posting, in order."""
    (posting,) = pair.postings
    return [
        posting.kind,
        posting.quantity,
        *pair.deltas,
        pair.expected_version,
        actor_id,
        posting.reason,
        posting.reference,
        posting.note,
        posting.order_line_id,
        posting.reverses_id,
        posting.reservation_id,
        posting.transfer_id,
        posting.receipt_id,
        posting.stocktake_id,
    ]


def _posted(row, posting: Posting, actor_id: int | None, locations: dict) -> Movement:
    """The Movement a posting statement (_POSTED) returned as ``row``."""
    movement_id, product_id, location_id, code, seq, on_hand, reserved, incoming, at, digest = row
    location = locations.get(location_id)
    if location is None:  # the code came with the row: rendering it needs no query
        location = locations[location_id] = Location.from_db(
            None, ["id", "code"], [location_id, code]
        )
    fields = _fields(
        posting, product_id, location_id, seq, on_hand, reserved, incoming, at, actor_id
    )
    fields["id"], fields["hash"] = movement_id, digest
    # Built saved in one step (a receipt builds a thousand while it holds their locks).
    movement = saved_instance_of(Movement, fields)
    movement._state.fields_cache = {_LOCATION_FIELD.cache_name: location}
    return movement


def _fields(
    posting: Posting,
    product_id,
    location_id,
    seq,
    on_hand,
    reserved,
    incoming,
    recorded_at,
    actor_id,
):
    """A movement's columns (all but id and hash) for ``posting``, with its figures
    after it."""
    return {
        "product_id": product_id,
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
        "reservation_id": posting.reservation_id,
        "transfer_id": posting.transfer_id,
        "receipt_id": posting.receipt_id,
        "stocktake_id": posting.stocktake_id,
        "hash_version": CURRENT_VERSION,
    }


def _event_params(events) -> list:
    """The parameters of the caller's own events (_EXTRA_EVENT rows), in order."""
    params = []
    for number, (type_name, subject, data) in enumerate(events):
        version = REGISTRY[type_name].version
        params += [number, type_name, version, subject, json.dumps(data, cls=DjangoJSONEncoder)]
    return params


def _lock_rows(cursor, pairs: list[_Pair]) -> list[tuple[_Pair, tuple]]:
    """Lock the pairs' balance rows in (product, location) order; returns the pairs that
    have one, in that order, each with its row's (id, location id, location code,
    product's reorder level)."""
    cursor.execute(
        _LOCK_ROWS,
        [_array([pair.product_id for pair in pairs]), _array([p.location_id for p in pairs])],
    )
    locked = {(row[1], row[2]): (row[0], *row[3:]) for row in cursor.fetchall()}
    return [
        (pair, locked[key])
        for pair in pairs
        if (key := (pair.product_id, pair.location_id)) in locked
    ]


def _apply_locked(cursor, pairs: list[_Pair]) -> dict:
    """Lock the pairs' balance rows in order, then add their deltas by row id; returns
    the updated pairs' rows as _APPLY returns them, by (product, location as named)."""
    found = _lock_rows(cursor, pairs)
    if not found:
        return {}
    cursor.execute(
        _APPLY_LOCKED,
        [
            _array([row[0] for _, row in found]),
            *(_array([pair.deltas[i] for pair, _ in found]) for i in range(len(FIGURES))),
            _array([len(pair.postings) for pair, _ in found]),
            _array([pair.expected_version for pair, _ in found]),
        ],
    )
    updated = {row[0]: row[1:] for row in cursor.fetchall()}
    rows = {}
    for pair, (balance_id, location_id, code, level) in found:
        if balance_id in updated:
            on_hand, reserved, incoming, version, last_hash, recorded_at = updated[balance_id]
            rows[(pair.product_id, pair.location_id)] = (
                location_id,
                code,
                on_hand,
                reserved,
                incoming,
                version,
                last_hash,
                level,
                recorded_at,
            )
    return rows


def _pairs_in_lock_order(cursor, postings: Sequence[Posting]) -> list[_Pair]:
    """The postings grouped by (product, location) and sorted by (product id, location
    id). At the default location only, that is product-id order and costs no statement;
    with named locations, those are locked and checked first, and the missing balance
    rows opened."""
    pairs: dict[tuple[int, int | None], _Pair] = {}
    for posting in postings:
        key = (posting.product_id, posting.location_id)
        if key not in pairs:
            pairs[key] = _Pair(*key)
        pairs[key].add(posting)
    default_id = _prepare_named(cursor, set(pairs))
    if default_id and any(pair.location_id is None for pair in pairs.values()):
        # Some postings name locations and others leave it out: those are at the default
        # location, named here by its id, so that a balance row is one pair however its
        # postings named it (two pairs on one row would post one movement for both).
        merged: dict[tuple[int, int | None], _Pair] = {}
        for pair in pairs.values():
            key = (pair.product_id, pair.location_id or default_id)
            if key not in merged:
                merged[key] = _Pair(*key)
            for posting in pair.postings:
                merged[key].add(posting)
        pairs = merged
    return sorted(pairs.values(), key=lambda pair: (pair.product_id, pair.location_id or 0))


_LOCATION_FIELD = Movement._meta.get_field("location")


def _movement(fields: dict, location: Location) -> Movement:
    """A new Movement of ``fields`` (every column but id) at ``location``, without
    Model.__init__ (core.instances): that took more time than hashing the movement, 40%
    of a large posting's Python."""
    movement = saved_instance(Movement, **fields, id=None)
    movement._state.adding = True  # until _write has inserted it
    _LOCATION_FIELD.set_cached_value(movement, location)
    return movement


def _movements(pairs: list[_Pair], rows: dict, actor_id: int | None):
    """Build the movements from the balances' new figures: each pair's figures before the
    posting are the new ones minus its deltas, and each movement's figures are the
    running sum from there. Hashes chain from the balance's last hash."""
    movements: list[Movement] = []
    last_hash: dict[tuple[int, int], str] = {}
    crossings: list[tuple[int, int, int, int, int]] = []  # product, location, seq, on_hand, level
    locations: dict[int, Location] = {}
    for pair in pairs:
        location_id, code, on_hand, reserved, incoming, version, prev, level, recorded_at = rows[
            (pair.product_id, pair.location_id)
        ]
        d_on_hand, d_reserved, d_incoming = pair.deltas
        figures = Figures(on_hand - d_on_hand, reserved - d_reserved, incoming - d_incoming)
        seq = version - len(pair.postings)
        # The code came with the row: rendering the movement needs no query for it.
        location = locations.get(location_id)
        if location is None:
            location = locations[location_id] = Location.from_db(
                None, ["id", "code"], [location_id, code]
            )
        for posting in pair.postings:
            before, figures, seq = (
                figures.on_hand,
                figures.apply(posting.kind, posting.quantity),
                seq + 1,
            )
            if not figures.valid:
                # Only the pair's final figures are checked in SQL: a posting that goes
                # below zero and back within one pair is refused here.
                raise InsufficientStock(
                    [
                        {
                            "product": pair.product_id,
                            "requested": -posting.quantity,
                            "available": before,
                        }
                    ]
                )
            fields = _fields(
                posting,
                pair.product_id,
                location_id,
                seq,
                figures.on_hand,
                figures.reserved,
                figures.incoming,
                recorded_at,
                actor_id,
            )
            fields["hash"] = prev = movement_hash(prev_hash=prev, **fields)
            movements.append(_movement(fields, location))
            if before > level >= figures.on_hand:
                crossings.append((pair.product_id, location_id, seq, figures.on_hand, level))
        last_hash[(pair.product_id, location_id)] = prev
    return movements, last_hash, crossings


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
    to_open = sorted(
        (product_id, location_id)
        for product_id, location_id in pairs
        if location_id not in (None, default_id)
    )
    if to_open:
        cursor.execute(_OPEN_BALANCES, [[k[0] for k in to_open], [k[1] for k in to_open]])
    return default_id


def _write(cursor, movements, last_hash, crossings, events=()) -> None:
    """Insert the movements, store each chain's newest hash and write the alerts: one
    statement, whatever the number of movements."""
    chains = [(*key, digest) for key, digest in last_hash.items()]
    arrays = len(movements) > _VALUES_UP_TO
    if arrays:  # one array literal per column
        params = [
            _array([getattr(m, name) for m in movements], quoted=kind in _QUOTED)
            for name, kind in _MOVEMENT_COLUMNS
        ]
        params += [_array([c[0] for c in chains]), _array([c[1] for c in chains])]
        params.append(_array([c[2] for c in chains], quoted=True))
        params += [_array(list(column)) for column in zip(*crossings, strict=True)]
    else:  # row after row
        rows = [[getattr(m, name) for name, _ in _MOVEMENT_COLUMNS] for m in movements]
        params = [value for part in (rows, chains, crossings) for row in part for value in row]
    params += _event_params(events)
    cursor.execute(
        _write_sql(len(movements), len(chains), len(crossings), arrays, len(events)), params
    )
    ids = {(product, location, seq): pk for pk, product, location, seq in cursor.fetchall()}
    for movement in movements:
        movement.id = movement.pk = ids[(movement.product_id, movement.location_id, movement.seq)]
        movement._state.adding = False


_FIGURES = f"""
SELECT v.product_id, v.location_id, b.on_hand, b.reserved, b.incoming, b.version
  FROM {_PAIRS} AS v(product_id, location_id)
  JOIN ledger_stockbalance AS b
    ON b.product_id = v.product_id AND b.location_id = COALESCE(v.location_id, {_DEFAULT})
"""


def _raise_refusal(cursor, refused: list[_Pair]):
    """The conditional UPDATE left the ``refused`` pairs alone: say why, with one read.
    An unknown product first, then a version mismatch, then every short line."""
    cursor.execute(
        _FIGURES, [[pair.product_id for pair in refused], [pair.location_id for pair in refused]]
    )
    found = {(row[0], row[1]): row[2:] for row in cursor.fetchall()}
    for pair in refused:
        if (pair.product_id, pair.location_id) not in found:
            raise ProductNotFound(product=pair.product_id)
    for pair in refused:
        on_hand, reserved, incoming, version = found[(pair.product_id, pair.location_id)]
        if pair.expected_version is not None and pair.expected_version != version:
            raise VersionMismatch(
                product=pair.product_id,
                version=version,
                on_hand=on_hand,
                reserved=reserved,
                available=on_hand - reserved,
                incoming=incoming,
            )
    short = []
    for pair in refused:
        on_hand, reserved, _, _ = found[(pair.product_id, pair.location_id)]
        # The units of available stock the postings would take.
        requested = pair.deltas[1] - pair.deltas[0]
        short.append(
            {"product": pair.product_id, "requested": requested, "available": on_hand - reserved}
        )
    raise InsufficientStock(short)


def balance_lock(
    *, product_id: int, location_id: int | None, expected_version: int | None = None
) -> Figures:
    """Lock the balance row of (product, location) (None: the default location) and
    return its figures, for a write that must read before it posts (a stocktake).

    Locks, as movements_post would: a named location (FOR KEY SHARE), then the row
    (FOR UPDATE; a named location's row is opened first if missing). Must run inside the
    caller's transaction. Raises ProductNotFound, UnknownLocation, VersionMismatch if
    expected_version is given and the row is at another version.
    """
    assert connection.in_atomic_block, "balance_lock needs the caller's transaction"
    if not 0 < product_id <= MAX_ID:
        raise ProductNotFound(product=product_id)
    with connection.cursor() as cursor:
        if location_id is None:
            cursor.execute(_LOCK_DEFAULT_BALANCE, [product_id])
        else:
            _prepare_named(cursor, {(product_id, location_id)})
            cursor.execute(_LOCK_BALANCE, [product_id, location_id])
        row = cursor.fetchone()
    if row is None:
        raise ProductNotFound(product=product_id)
    *figures, version = row
    if expected_version is not None and expected_version != version:
        on_hand, reserved, incoming = figures
        raise VersionMismatch(
            product=product_id,
            version=version,
            on_hand=on_hand,
            reserved=reserved,
            available=on_hand - reserved,
            incoming=incoming,
        )
    return Figures(*figures)


_LOCK_DEFAULT_BALANCE = """
SELECT b.on_hand, b.reserved, b.incoming, b.version
  FROM ledger_stockbalance AS b
  JOIN ledger_location AS l ON l.id = b.location_id AND l.is_default
 WHERE b.product_id = %s
   FOR UPDATE OF b
"""
_LOCK_BALANCE = """
SELECT on_hand, reserved, incoming, version FROM ledger_stockbalance
 WHERE product_id = %s AND location_id = %s
   FOR UPDATE
"""
