"""Checks and repairs of the balances against the movements (docs/design.md, "The ledger":
invariant 3 and the hash chains), per (product, location). Used by the verify_ledger and
rebuild_balances commands.

Both read the movements in bulk: ``ledger_verify`` streams them with server-side cursors
(bounded memory whatever the ledger's size); ``balances_rebuild`` lets one aggregate
query do the arithmetic in the database. Both apply the fold of ledger.fold, as the
posting path does.
"""

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import groupby
from operator import itemgetter

from django.db import connection, transaction

from catalog.models import Product
from ledger import hashing
from ledger.exceptions import PartitionNotFound
from ledger.fold import FIGURES, Figures, sql_delta
from ledger.models import ChainCheckpoint, DetachedPartition, Location, Movement, StockBalance

CHUNK_SIZE = 5_000
PROGRESS_EVERY = 100_000
# A chain rewritten wholesale would otherwise list every movement.
MAX_PROBLEMS_PER_PRODUCT = 20

# What verify reads of each movement: the product and location first (the streams are
# grouped by them), then every field a hash version covers.
_READ_FIELDS = ("product_id", "location_id", "hash_version", "hash", *hashing.ALL_FIELDS)
_BALANCE_FIELDS = (
    "product_id",
    "location_id",
    "on_hand",
    "reserved",
    "incoming",
    "version",
    "last_hash",
)


@dataclass(frozen=True, slots=True)
class Problem:
    product_id: int
    sku: str
    message: str
    location: str = ""  # the location's code


@dataclass(slots=True)
class VerifyReport:
    products_checked: int = 0
    movements_checked: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def by_product(self) -> dict[tuple[int, str], list[str]]:
        """The problems grouped by (product id, sku), in product order, each message led
        by its location's code."""
        grouped: dict[tuple[int, str], list[str]] = {}
        for problem in self.problems:
            message = f"{problem.location}: {problem.message}"
            grouped.setdefault((problem.product_id, problem.sku), []).append(message)
        return grouped


def ledger_verify(
    *,
    product_ids: Iterable[int] | None = None,
    progress: Callable[[int], None] | None = None,
    progress_every: int = PROGRESS_EVERY,
) -> VerifyReport:
    """Replay every movement (or those of ``product_ids``) and check, per (product,
    location): seq is gapless from 1; each movement's on_hand, reserved and incoming
    figures are the running fold and valid (none negative, reserved within on hand);
    each hash chains from the previous one under the movement's hash version (version 1
    only at the default location, before any version 2); and the balance row holds the
    figures, the count and the last hash. Every product must have its default location's
    row. ``progress(movements_done)`` is called every ``progress_every`` movements.

    Locks nothing and writes nothing. Products, balance rows and movements are streamed
    side by side through server-side cursors; outside a transaction they share one
    REPEATABLE READ snapshot, so concurrent postings cannot show up as false problems.
    Inside the caller's transaction they read what that transaction sees.
    """
    report = VerifyReport()
    owns_transaction = not connection.in_atomic_block
    with transaction.atomic():
        if owns_transaction:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        codes = dict(Location.objects.values_list("id", "code"))
        default_id = Location.objects.filter(is_default=True).values_list("id", flat=True).first()
        products = Product.objects.order_by("id").values_list("id", "sku")
        balances = StockBalance.objects.order_by("product_id", "location_id").values_list(
            *_BALANCE_FIELDS
        )
        movements = Movement.objects.order_by("product_id", "location_id", "seq").values_list(
            *_READ_FIELDS
        )
        checkpoints = _newest_checkpoints()
        if product_ids is not None:
            product_ids = list(product_ids)
            products = products.filter(id__in=product_ids)
            balances = balances.filter(product_id__in=product_ids)
            movements = movements.filter(product_id__in=product_ids)
            checkpoints = checkpoints.filter(product_id__in=product_ids)
        counted = _counted(
            movements.iterator(chunk_size=CHUNK_SIZE), report, progress, progress_every
        )
        # All three streams are ordered by product id and every balance's and movement's
        # product exists (foreign keys), so each product's groups come next or later.
        chains = _Groups(counted, key=itemgetter(0))
        balance_rows = _Groups(balances.iterator(chunk_size=CHUNK_SIZE), key=itemgetter(0))
        starts = _Groups(checkpoints.iterator(chunk_size=CHUNK_SIZE), key=itemgetter(0))
        for product_id, sku in products.iterator(chunk_size=CHUNK_SIZE):
            rows = {row[1]: row for row in balance_rows.take(product_id)}
            begun = {row[1]: ChainState.of(row) for row in starts.take(product_id)}
            found: dict[int, list[str]] = {}
            for location_id, history in groupby(chains.take(product_id), key=itemgetter(1)):
                # Each history is consumed here, before the next group is read.
                found[location_id] = _location_problems(
                    history,
                    rows.pop(location_id, None),
                    location_id,
                    default_id,
                    begun.pop(location_id, None),
                )
            if default_id is not None and default_id not in found:
                rows.setdefault(default_id, None)  # every product has this row
            for location_id, row in rows.items():
                found[location_id] = _location_problems(
                    (), row, location_id, default_id, begun.pop(location_id, None)
                )
            for location_id, start in begun.items():  # detached history, no row
                found[location_id] = _location_problems((), None, location_id, default_id, start)
            for location_id in sorted(found):
                report.problems.extend(
                    Problem(product_id, sku, message, codes.get(location_id, "?"))
                    for message in found[location_id]
                )
            report.products_checked += 1
    return report


class _Groups:
    """Consecutive rows with the same key, taken key by key in ascending order."""

    def __init__(self, rows: Iterator[tuple], key: Callable) -> None:
        self.groups = groupby(rows, key=key)
        self.pending = next(self.groups, None)

    def take(self, wanted) -> Iterator[tuple]:
        while self.pending is not None and self.pending[0] < wanted:
            self.pending = next(self.groups, None)  # a key nobody asks for: skipped
        if self.pending is None or self.pending[0] != wanted:
            return
        group = self.pending[1]
        yield from group
        self.pending = next(self.groups, None)  # only once the group has been consumed


def _counted(rows: Iterator[tuple], report: VerifyReport, progress, every: int) -> Iterator[tuple]:
    for row in rows:
        report.movements_checked += 1
        if progress is not None and report.movements_checked % every == 0:
            progress(report.movements_checked)
        yield row


@dataclass(frozen=True, slots=True)
class ChainState:
    """Where a (product, location) chain stands after some movement: its seq (also the
    count of movements so far, seq being gapless), hash and hash version, and the
    figures. GENESIS_STATE: before its first movement."""

    seq: int = 0
    hash: str = hashing.GENESIS
    hash_version: int = 1
    figures: Figures = field(default_factory=Figures)

    @classmethod
    def of(cls, row: tuple) -> "ChainState":
        """From a _CHECKPOINT_FIELDS row."""
        _, _, seq, digest, version, on_hand, reserved, incoming = row
        return cls(seq, digest, version, Figures(on_hand, reserved, incoming))


GENESIS_STATE = ChainState()
_CHECKPOINT_FIELDS = (
    "product_id",
    "location_id",
    "seq",
    "hash",
    "hash_version",
    "on_hand",
    "reserved",
    "incoming",
)


def _newest_checkpoints(*, before=None):
    """Each (product, location)'s checkpoint in the newest detached partition that has
    one (ending at or before ``before`` if given), as _CHECKPOINT_FIELDS rows in
    (product, location) order."""
    checkpoints = ChainCheckpoint.objects.all()
    if before is not None:
        checkpoints = checkpoints.filter(partition__ends_at__lte=before)
    return (
        checkpoints.order_by("product_id", "location_id", "-partition__ends_at")
        .distinct("product_id", "location_id")
        .values_list(*_CHECKPOINT_FIELDS)
    )


def _walk(
    history: Iterable[tuple], location_id: int, default_id: int | None, start: ChainState
) -> tuple[list[str], ChainState, Figures, int]:
    """Replay one (product, location)'s movements in seq order from ``start``; returns
    the problems, the state after the last movement (as stored), the true sums and the
    number of movements replayed."""
    problems: list[str] = []
    walked = 0
    expected_seq, prev_hash = start.seq + 1, start.hash
    running = total = start.figures
    seen_version = start.hash_version
    last_seq = start.seq
    for row in history:
        values = dict(zip(_READ_FIELDS, row, strict=True))
        seq, kind, quantity = values["seq"], values["kind"], values["quantity"]
        version, digest = values["hash_version"], values.pop("hash")
        walked += 1
        try:
            total = total.apply(kind, quantity)
            running = running.apply(kind, quantity)
        except KeyError:
            problems.append(f"movement #{seq}: unknown kind {kind!r}")
        if seq != expected_seq:
            problems.append(f"movement #{seq}: seq {expected_seq} was expected (gap)")
        stored = Figures(
            values["balance_after"], values["reserved_after"], values["incoming_after"]
        )
        if stored.on_hand != running.on_hand:
            problems.append(
                f"movement #{seq}: balance_after {stored.on_hand}, but the running sum is"
                f" {running.on_hand}"
            )
        for figure in ("reserved", "incoming"):
            if getattr(stored, figure) != getattr(running, figure):
                problems.append(
                    f"movement #{seq}: {figure}_after {getattr(stored, figure)}, but the"
                    f" running sum is {getattr(running, figure)}"
                )
        # Carry on from the stored figures, so that one bad movement is reported once
        # rather than once per later movement; `total` keeps the true sums.
        running = stored
        if stored.on_hand < 0:
            problems.append(f"movement #{seq}: balance_after {stored.on_hand} is negative")
        if stored.reserved < 0 or stored.incoming < 0 or stored.available < 0:
            problems.append(
                f"movement #{seq}: reserved {stored.reserved} and incoming {stored.incoming}"
                f" with {stored.on_hand} on hand are not valid"
            )
        if version not in hashing.FIELDS:
            problems.append(f"movement #{seq}: unknown hash version {version}")
        elif version == 1 and (seen_version > 1 or location_id != default_id):
            problems.append(
                f"movement #{seq}: hash version 1 is only valid at the default location,"
                " before any later version"
            )
        elif digest != hashing.movement_hash(prev_hash=prev_hash, **values):
            problems.append(f"movement #{seq}: hash does not match its fields and prev hash")
        seen_version = max(seen_version, version)
        prev_hash, expected_seq, last_seq = digest, seq + 1, seq
    return problems, ChainState(last_seq, prev_hash, seen_version, running), total, walked


def _location_problems(
    history: Iterable[tuple],
    balance: tuple | None,
    location_id: int,
    default_id: int | None,
    start: ChainState | None = None,
) -> list[str]:
    """What is wrong with one (product, location), given its movements in seq order, its
    balance row (None when there is none) and where its chain stood before them (its
    newest checkpoint; None: from the start)."""
    start = start or GENESIS_STATE
    problems, end, total, walked = _walk(history, location_id, default_id, start)
    count = start.seq + walked
    if balance is None:
        problems.append(f"no balance row ({count} movements summing to {total.on_hand})")
    else:
        _, _, on_hand, reserved, incoming, version, last_hash = balance
        if on_hand != total.on_hand:
            problems.append(f"balance on_hand {on_hand}, but the movements sum to {total.on_hand}")
        for figure, value in (("reserved", reserved), ("incoming", incoming)):
            if value != getattr(total, figure):
                problems.append(
                    f"balance {figure} {value}, but the movements sum to {getattr(total, figure)}"
                )
        if version != count:
            problems.append(f"balance version {version}, but there are {count} movements")
        if last_hash != end.hash:
            problems.append(
                f"balance last_hash {_short(last_hash)} is not the last movement's hash"
                f" {_short(end.hash)}"
            )
    if len(problems) > MAX_PROBLEMS_PER_PRODUCT:
        hidden = len(problems) - MAX_PROBLEMS_PER_PRODUCT
        problems[MAX_PROBLEMS_PER_PRODUCT:] = [f"... and {hidden} more problems"]
    return problems


def partition_verify(*, name: str) -> VerifyReport:
    """Verify a detached partition (ledger.partitions): replay each (product, location)
    chain in it from the checkpoint of the detached partition before it (or from the
    start), and check that it ends where this partition's checkpoint says, the state the
    movement table's chain continues from. Raises PartitionNotFound.

    Locks nothing and writes nothing; reads the partition's table in one transaction.
    """
    partition = DetachedPartition.objects.filter(name=name).first()
    if partition is None:
        raise PartitionNotFound(partition=name)
    with transaction.atomic():
        ends = {
            (row[0], row[1]): ChainState.of(row)
            for row in partition.checkpoints.values_list(*_CHECKPOINT_FIELDS)
        }
        return partition_table_verify(
            table=partition.name, starts_at=partition.starts_at, ends=ends
        )


def partition_table_verify(*, table: str, starts_at, ends: dict | None = None) -> VerifyReport:
    """Replay the chains in ``table`` (a partition of movements recorded from
    ``starts_at``), each from its newest checkpoint of a partition ending by then; with
    ``ends`` ({(product, location): ChainState}), also check each chain ends there and
    that every chain in ``ends`` has movements here. Must run inside a transaction.
    Memory: one ChainState per chain checkpointed before ``starts_at``."""
    report = VerifyReport()
    default_id = Location.objects.filter(is_default=True).values_list("id", flat=True).first()
    starts = {(row[0], row[1]): ChainState.of(row) for row in _newest_checkpoints(before=starts_at)}
    ends = dict(ends) if ends is not None else None
    found: list[tuple[int, int, str]] = []
    products: set[int] = set()
    with connection.chunked_cursor() as cursor:
        cursor.execute(
            f"SELECT {', '.join(_READ_FIELDS)} FROM {connection.ops.quote_name(table)}"
            " ORDER BY product_id, location_id, seq"
        )
        rows = _counted(_fetched(cursor), report, None, PROGRESS_EVERY)
        for (product_id, location_id), history in groupby(rows, key=itemgetter(0, 1)):
            start = starts.get((product_id, location_id), GENESIS_STATE)
            problems, end, _, _ = _walk(history, location_id, default_id, start)
            if ends is not None:
                expected = ends.pop((product_id, location_id), None)
                if expected is None:
                    problems.append("no checkpoint for this chain")
                elif expected != end:
                    problems.append(
                        f"the checkpoint (#{expected.seq}, {_short(expected.hash)}) is not"
                        f" where the chain ends (#{end.seq}, {_short(end.hash)})"
                    )
            found.extend((product_id, location_id, message) for message in problems)
            products.add(product_id)
    for (product_id, location_id), expected in (ends or {}).items():
        found.append(
            (product_id, location_id, f"checkpoint #{expected.seq}, but no movements here")
        )
        products.add(product_id)
    report.products_checked = len(products)
    skus = dict(Product.objects.filter(id__in={p for p, _, _ in found}).values_list("id", "sku"))
    codes = dict(Location.objects.values_list("id", "code"))
    report.problems = [
        Problem(product_id, skus.get(product_id, "?"), message, codes.get(location_id, "?"))
        for product_id, location_id, message in found
    ]
    return report


def _fetched(cursor) -> Iterator[tuple]:
    while rows := cursor.fetchmany(CHUNK_SIZE):
        yield from rows


def _short(digest: str) -> str:
    return digest[:12] if digest else "(none)"


@dataclass(frozen=True, slots=True)
class BalanceState:
    on_hand: int
    version: int
    last_hash: str
    reserved: int = 0
    incoming: int = 0


@dataclass(frozen=True, slots=True)
class BalanceDifference:
    product_id: int
    sku: str
    stored: BalanceState | None  # None: there is no balance row
    recomputed: BalanceState
    location_id: int = 0
    location: str = ""  # the location's code
    is_default: bool = True
    last_seq: int = 0  # the seq of the chain's last movement, 0 for none


# Locks in (product id, location id) order, as every posting does, so that this cannot
# deadlock with them; the count keeps the ids on the server.
_LOCK_BALANCES = """
SELECT count(*) FROM (
    SELECT id FROM ledger_stockbalance ORDER BY product_id, location_id FOR UPDATE
) AS locked
"""

# Each (product, location)'s checkpoint in the newest detached partition that has one:
# where its chain stood before the movements still in the table (none: from genesis).
NEWEST_CHECKPOINTS = """
    SELECT DISTINCT ON (c.product_id, c.location_id)
           c.product_id, c.location_id, c.seq, c.hash, c.hash_version, c.on_hand,
           c.reserved, c.incoming
      FROM ledger_chaincheckpoint AS c
      JOIN ledger_detachedpartition AS d ON d.id = c.partition_id
     ORDER BY c.product_id, c.location_id, d.ends_at DESC
"""

# One chain's newest checkpoint, for a LATERAL join: ``{product}`` and ``{location}`` are
# the outer query's columns. The reads that fall back on it when no movement of the
# chain is left in the table before their instant (ledger.selectors, ledger.stocktakes).
NEWEST_CHECKPOINT = """
        SELECT ch.on_hand, ch.reserved, ch.incoming, ch.seq
          FROM ledger_chaincheckpoint AS ch
          JOIN ledger_detachedpartition AS d ON d.id = ch.partition_id
         WHERE ch.product_id = {product} AND ch.location_id = {location}
         ORDER BY d.ends_at DESC
         LIMIT 1
"""

# One statement: the folded figures per (product, location), from its newest checkpoint
# (if partitions were detached) plus the movements in the table, the hash of each
# chain's max-seq movement (else the checkpoint's), and only the pairs whose row
# differs. The pairs are those with movements or checkpoints, every product at the
# default location (its row is opened with it) and every existing row (one without
# movements must be all zeros).
_DIFFERENCES = f"""
WITH live AS (
    SELECT product_id, location_id,
           SUM({sql_delta("on_hand")})::bigint AS on_hand,
           SUM({sql_delta("reserved")})::bigint AS reserved,
           SUM({sql_delta("incoming")})::bigint AS incoming,
           COUNT(*) AS version, MAX(seq) AS last_seq
      FROM ledger_movement
     GROUP BY product_id, location_id
), checkpoints AS ({NEWEST_CHECKPOINTS}
), totals AS (
    SELECT product_id, location_id,
           COALESCE(l.on_hand, 0) + COALESCE(k.on_hand, 0) AS on_hand,
           COALESCE(l.reserved, 0) + COALESCE(k.reserved, 0) AS reserved,
           COALESCE(l.incoming, 0) + COALESCE(k.incoming, 0) AS incoming,
           COALESCE(l.version, 0) + COALESCE(k.seq, 0) AS version,
           COALESCE(l.last_seq, k.seq) AS last_seq, k.hash AS checkpoint_hash
      FROM live AS l FULL JOIN checkpoints AS k USING (product_id, location_id)
), pairs AS (
    SELECT product_id, location_id FROM totals
     UNION
    SELECT p.id, l.id FROM catalog_product AS p CROSS JOIN ledger_location AS l
     WHERE l.is_default
     UNION
    SELECT product_id, location_id FROM ledger_stockbalance
), recomputed AS (
    SELECT k.product_id, k.location_id, COALESCE(t.on_hand, 0) AS on_hand,
           COALESCE(t.reserved, 0) AS reserved, COALESCE(t.incoming, 0) AS incoming,
           COALESCE(t.version, 0) AS version,
           COALESCE(m.hash, t.checkpoint_hash, '') AS last_hash,
           COALESCE(t.last_seq, 0) AS last_seq
      FROM pairs AS k
      LEFT JOIN totals AS t USING (product_id, location_id)
      LEFT JOIN ledger_movement AS m ON m.product_id = t.product_id
           AND m.location_id = t.location_id AND m.seq = t.last_seq
)
SELECT r.product_id, p.sku, r.location_id, l.code, l.is_default, b.id IS NOT NULL,
       b.on_hand, b.version, b.last_hash, b.reserved, b.incoming,
       r.on_hand, r.version, r.last_hash, r.reserved, r.incoming, r.last_seq
  FROM recomputed AS r
  JOIN catalog_product AS p ON p.id = r.product_id
  JOIN ledger_location AS l ON l.id = r.location_id
  LEFT JOIN ledger_stockbalance AS b
       ON b.product_id = r.product_id AND b.location_id = r.location_id
 WHERE (b.on_hand, b.reserved, b.incoming, b.version, b.last_hash)
       IS DISTINCT FROM (r.on_hand, r.reserved, r.incoming, r.version, r.last_hash)
 ORDER BY r.product_id, r.location_id
"""

_WRITE_ROW = (
    "(%s::bigint, %s::bigint, %s::bigint, %s::bigint, %s::bigint, %s::bigint, %s,"
    " clock_timestamp())"
)
_WRITE = """
INSERT INTO ledger_stockbalance AS b
    (product_id, location_id, on_hand, reserved, incoming, version, last_hash, updated_at)
VALUES {rows}
ON CONFLICT (product_id, location_id) DO UPDATE
   SET on_hand = EXCLUDED.on_hand, reserved = EXCLUDED.reserved,
       incoming = EXCLUDED.incoming, version = EXCLUDED.version,
       last_hash = EXCLUDED.last_hash, updated_at = EXCLUDED.updated_at
"""
_WRITE_BATCH = 1_000


@transaction.atomic
def balances_rebuild(*, dry_run: bool) -> list[BalanceDifference]:
    """Recompute every (product, location) balance by folding its movements (on_hand,
    reserved and incoming, ledger.fold; version = number of movements; last_hash = hash
    of the max-seq movement) and return the rows that differ, in (product id, location
    id) order.

    Unless ``dry_run``: first locks every balance row (SELECT ... FOR UPDATE in
    (product, location) order, held until commit, so no posting runs between the
    recomputation and the write), then writes the recomputed values over the differing
    rows and creates missing ones, all in one transaction. A dry run locks and writes
    nothing. Raises IntegrityError (and writes nothing) if recomputed figures break a
    balance constraint (a negative on_hand, more reserved than on hand), which means the
    movements themselves are broken: run verify_ledger.
    """
    with connection.cursor() as cursor:
        if not dry_run:
            cursor.execute(_LOCK_BALANCES)
        cursor.execute(_DIFFERENCES)
        differences = [
            BalanceDifference(
                product_id=row[0],
                sku=row[1],
                location_id=row[2],
                location=row[3],
                is_default=row[4],
                stored=BalanceState(*row[6:11]) if row[5] else None,
                recomputed=BalanceState(*row[11:16]),
                last_seq=row[16],
            )
            for row in cursor.fetchall()
        ]
        if not dry_run:
            for start in range(0, len(differences), _WRITE_BATCH):
                batch = differences[start : start + _WRITE_BATCH]
                params: list = []
                for difference in batch:
                    state = difference.recomputed
                    params.extend(
                        (
                            difference.product_id,
                            difference.location_id,
                            state.on_hand,
                            state.reserved,
                            state.incoming,
                            state.version,
                            state.last_hash,
                        )
                    )
                cursor.execute(_WRITE.format(rows=", ".join([_WRITE_ROW] * len(batch))), params)
    return differences


assert FIGURES == ("on_hand", "reserved", "incoming")  # the columns written above
