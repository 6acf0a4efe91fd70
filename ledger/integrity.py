"""Checks and repairs of the balances against the movements (docs/design.md, "The ledger":
invariant 3 and the hash chain). Used by the verify_ledger and rebuild_balances commands.

Both read the movements in bulk: ``ledger_verify`` streams them with server-side cursors
(bounded memory whatever the ledger's size); ``balances_rebuild`` lets one aggregate
query do the arithmetic in the database.
"""

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import groupby
from operator import itemgetter

from django.db import connection, transaction

from catalog.models import Product
from ledger import hashing
from ledger.models import Movement

CHUNK_SIZE = 5_000
PROGRESS_EVERY = 100_000
# A product whose history was rewritten wholesale would otherwise list every movement.
MAX_PROBLEMS_PER_PRODUCT = 20

# The order of movement_hash's fields after prev_hash, as read from the database.
_HASHED_FIELDS = (
    "product_id",
    "seq",
    "kind",
    "quantity",
    "balance_after",
    "recorded_at",
    "actor_id",
    "reason",
    "reference",
    "note",
    "order_line_id",
    "reverses_id",
)


@dataclass(frozen=True, slots=True)
class Problem:
    product_id: int
    sku: str
    message: str


@dataclass(slots=True)
class VerifyReport:
    products_checked: int = 0
    movements_checked: int = 0
    problems: list[Problem] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def by_product(self) -> dict[tuple[int, str], list[str]]:
        """The problems grouped by (product id, sku), in product order."""
        grouped: dict[tuple[int, str], list[str]] = {}
        for problem in self.problems:
            grouped.setdefault((problem.product_id, problem.sku), []).append(problem.message)
        return grouped


def ledger_verify(
    *,
    product_ids: Iterable[int] | None = None,
    progress: Callable[[int], None] | None = None,
    progress_every: int = PROGRESS_EVERY,
) -> VerifyReport:
    """Replay every movement (or those of ``product_ids``) and check, per product: seq
    is gapless from 1, each balance_after is the running sum and not negative, each hash
    chains from the previous one, and the balance row holds the sum, the count and the
    last hash. ``progress(movements_done)`` is called every ``progress_every`` movements.

    Locks nothing and writes nothing. Products and movements are streamed side by side
    through two server-side cursors; outside a transaction they share one REPEATABLE
    READ snapshot, so concurrent postings cannot show up as false problems. Inside the
    caller's transaction they read what that transaction sees.
    """
    report = VerifyReport()
    owns_transaction = not connection.in_atomic_block
    with transaction.atomic():
        if owns_transaction:
            with connection.cursor() as cursor:
                cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        products = Product.objects.order_by("id").values_list(
            "id", "sku", "balance__on_hand", "balance__version", "balance__last_hash"
        )
        movements = Movement.objects.order_by("product_id", "seq").values_list(
            *_HASHED_FIELDS, "hash"
        )
        if product_ids is not None:
            product_ids = list(product_ids)
            products = products.filter(id__in=product_ids)
            movements = movements.filter(product_id__in=product_ids)
        rows = _counted(movements.iterator(chunk_size=CHUNK_SIZE), report, progress, progress_every)
        histories = groupby(rows, key=itemgetter(0))
        pending = next(histories, None)
        for product_id, sku, *balance in products.iterator(chunk_size=CHUNK_SIZE):
            # Both streams are ordered by product id and every movement's product exists
            # (foreign key), so the next group of movements is this product's or a later one's.
            if pending is not None and pending[0] == product_id:
                messages = _product_problems(pending[1], *balance)
                pending = next(histories, None)  # only once the group has been consumed
            else:
                messages = _product_problems((), *balance)
            report.products_checked += 1
            report.problems.extend(Problem(product_id, sku, message) for message in messages)
    return report


def _counted(rows: Iterator[tuple], report: VerifyReport, progress, every: int) -> Iterator[tuple]:
    for row in rows:
        report.movements_checked += 1
        if progress is not None and report.movements_checked % every == 0:
            progress(report.movements_checked)
        yield row


def _product_problems(
    history: Iterable[tuple], on_hand: int | None, version: int | None, last_hash: str | None
) -> list[str]:
    """What is wrong with one product, given its movements in seq order and its balance
    row (all None when there is none)."""
    problems: list[str] = []
    expected_seq, running, total, count, prev_hash = 1, 0, 0, 0, hashing.GENESIS
    for *fields, digest in history:
        values = dict(zip(_HASHED_FIELDS, fields, strict=True))
        seq, quantity, balance_after = values["seq"], values["quantity"], values["balance_after"]
        count += 1
        total += quantity
        running += quantity
        if seq != expected_seq:
            problems.append(f"movement #{seq}: seq {expected_seq} was expected (gap)")
        if balance_after != running:
            problems.append(
                f"movement #{seq}: balance_after {balance_after}, but the running sum is {running}"
            )
            # Carry on from the stored figure, so that one bad movement is reported once
            # rather than once per later movement; `total` keeps the true sum.
            running = balance_after
        if balance_after < 0:
            problems.append(f"movement #{seq}: balance_after {balance_after} is negative")
        if digest != hashing.movement_hash(prev_hash=prev_hash, **values):
            problems.append(f"movement #{seq}: hash does not match its fields and prev hash")
        prev_hash, expected_seq = digest, seq + 1
    if on_hand is None:
        problems.append(f"no balance row ({count} movements summing to {total})")
    else:
        if on_hand != total:
            problems.append(f"balance on_hand {on_hand}, but the movements sum to {total}")
        if version != count:
            problems.append(f"balance version {version}, but there are {count} movements")
        if last_hash != prev_hash:
            problems.append(
                f"balance last_hash {_short(last_hash)} is not the last movement's hash"
                f" {_short(prev_hash)}"
            )
    if len(problems) > MAX_PROBLEMS_PER_PRODUCT:
        hidden = len(problems) - MAX_PROBLEMS_PER_PRODUCT
        problems[MAX_PROBLEMS_PER_PRODUCT:] = [f"... and {hidden} more problems"]
    return problems


def _short(digest: str) -> str:
    return digest[:12] if digest else "(none)"


@dataclass(frozen=True, slots=True)
class BalanceState:
    on_hand: int
    version: int
    last_hash: str


@dataclass(frozen=True, slots=True)
class BalanceDifference:
    product_id: int
    sku: str
    stored: BalanceState | None  # None: the product has no balance row
    recomputed: BalanceState


# Locks in product-id order, as every posting does, so that this cannot deadlock with
# them; the count keeps the ids on the server.
_LOCK_BALANCES = """
SELECT count(*) FROM (
    SELECT product_id FROM ledger_stockbalance ORDER BY product_id FOR UPDATE
) AS locked
"""

# One statement: the totals per product, the hash of each product's max-seq movement
# (an index seek on (product_id, seq)), and only the products whose row differs.
_DIFFERENCES = """
WITH totals AS (
    SELECT product_id, SUM(quantity)::bigint AS on_hand, COUNT(*) AS version,
           MAX(seq) AS last_seq
      FROM ledger_movement
     GROUP BY product_id
), recomputed AS (
    SELECT p.id AS product_id, p.sku, COALESCE(t.on_hand, 0) AS on_hand,
           COALESCE(t.version, 0) AS version, COALESCE(m.hash, '') AS last_hash
      FROM catalog_product AS p
      LEFT JOIN totals AS t ON t.product_id = p.id
      LEFT JOIN ledger_movement AS m ON m.product_id = t.product_id AND m.seq = t.last_seq
)
SELECT r.product_id, r.sku, b.product_id IS NOT NULL, b.on_hand, b.version, b.last_hash,
       r.on_hand, r.version, r.last_hash
  FROM recomputed AS r
  LEFT JOIN ledger_stockbalance AS b ON b.product_id = r.product_id
 WHERE (b.on_hand, b.version, b.last_hash) IS DISTINCT FROM (r.on_hand, r.version, r.last_hash)
 ORDER BY r.product_id
"""

_WRITE_ROW = "(%s::bigint, %s::bigint, %s::bigint, %s, clock_timestamp())"
_WRITE = """
INSERT INTO ledger_stockbalance AS b (product_id, on_hand, version, last_hash, updated_at)
VALUES {rows}
ON CONFLICT (product_id) DO UPDATE
   SET on_hand = EXCLUDED.on_hand, version = EXCLUDED.version,
       last_hash = EXCLUDED.last_hash, updated_at = EXCLUDED.updated_at
"""
_WRITE_BATCH = 1_000


@transaction.atomic
def balances_rebuild(*, dry_run: bool) -> list[BalanceDifference]:
    """Recompute every product's balance (on_hand = sum of quantities, version = number
    of movements, last_hash = hash of the max-seq movement) and return the products
    whose stored row differs, in product-id order.

    Unless ``dry_run``: first locks every balance row (SELECT ... FOR UPDATE in
    product-id order, held until commit, so no posting runs between the recomputation
    and the write), then writes the recomputed values over the differing rows and
    creates missing ones, all in one transaction. A dry run locks and writes nothing.
    Raises IntegrityError (and writes nothing) if a recomputed on_hand is negative,
    which means the movements themselves are broken: run verify_ledger.
    """
    with connection.cursor() as cursor:
        if not dry_run:
            cursor.execute(_LOCK_BALANCES)
        cursor.execute(_DIFFERENCES)
        differences = [
            BalanceDifference(
                product_id=row[0],
                sku=row[1],
                stored=BalanceState(*row[3:6]) if row[2] else None,
                recomputed=BalanceState(*row[6:9]),
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
                        (difference.product_id, state.on_hand, state.version, state.last_hash)
                    )
                cursor.execute(_WRITE.format(rows=", ".join([_WRITE_ROW] * len(batch))), params)
    return differences
