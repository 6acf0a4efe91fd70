"""The movement table's monthly partitions (migration 0007, docs/design.md "Partitions").

``ledger_movement`` is partitioned by month of recorded_at (UTC): one partition per
month, named ``ledger_movement_yYYYYmMM``, plus ``ledger_movement_default``, which takes
any movement whose month has no partition yet, so a posting never fails for want of one.
``partitions_ensure`` makes the coming months' partitions ahead of time (the
ledger_partitions command, run by ``make run`` and the compose worker) and moves any rows
the default partition holds for a month it makes. ``partitions_detach`` detaches the
oldest months (they stay as plain, read-only tables, to move to cheap storage or dump),
recording where each chain stood at the end of each as ChainCheckpoints, from which
verify_ledger continues; ``verify_ledger --partition NAME`` verifies a detached one.
"""

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from django.db import connection, transaction

from ledger.exceptions import PartitionNotDetachable
from ledger.integrity import partition_table_verify
from ledger.models import DetachedPartition

PARENT = "ledger_movement"
DEFAULT = "ledger_movement_default"
_NAME = re.compile(r"^ledger_movement_y(\d{4})m(\d{2})$")

# Each partition's own triggers (a statement trigger is not inherited from the parent):
# the TRUNCATE guard, and the insert trigger for rows inserted into it by name.
_TRIGGERS = (
    "CREATE TRIGGER ledger_movement_no_truncate BEFORE TRUNCATE ON {table}"
    " FOR EACH STATEMENT EXECUTE FUNCTION ledger_movement_append_only()",
    "CREATE TRIGGER ledger_movement_inserted AFTER INSERT ON {table}"
    " REFERENCING NEW TABLE AS inserted FOR EACH STATEMENT"
    " EXECUTE FUNCTION ledger_movement_inserted()",
)


def month_start(instant: datetime) -> datetime:
    """The first instant of ``instant``'s month, in UTC."""
    instant = instant.astimezone(UTC)
    return datetime(instant.year, instant.month, 1, tzinfo=UTC)


def add_months(month: datetime, count: int) -> datetime:
    index = month.year * 12 + month.month - 1 + count
    return datetime(index // 12, index % 12 + 1, 1, tzinfo=UTC)


def partition_name(month: datetime) -> str:
    return f"ledger_movement_y{month.year:04d}m{month.month:02d}"


def _month_of(name: str) -> datetime | None:
    match = _NAME.match(name)
    return datetime(int(match[1]), int(match[2]), 1, tzinfo=UTC) if match else None


def _attached(cursor) -> dict[datetime, str]:
    """The monthly partitions attached now, by month."""
    cursor.execute(
        "SELECT c.relname FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = %s::regclass",
        [PARENT],
    )
    months = {_month_of(name): name for (name,) in cursor.fetchall()}
    months.pop(None, None)
    return months


def _exists(cursor, name: str) -> bool:
    cursor.execute("SELECT to_regclass(%s) IS NOT NULL", [name])
    return cursor.fetchone()[0]


@dataclass(frozen=True, slots=True)
class EnsureReport:
    created: list[str]
    moved: int  # rows moved out of the default partition


@transaction.atomic
def partitions_ensure(*, ahead: int, now: datetime | None = None) -> EnsureReport:
    """Make the partitions of the current month and the ``ahead`` months after it, and of
    every month the default partition holds rows of (after the newest detached one);
    idempotent. Rows of those months in the default partition move into them.

    Locks: the movement table (ACCESS EXCLUSIVE, until commit) only when there is a
    partition to make, so a run with nothing to do blocks no posting; a move also
    rewrites the default partition (normally empty). The rows keep their ids, seqs and
    hashes: a move changes where a movement is stored, never what it says.
    """
    current = month_start(now or datetime.now(UTC))
    wanted = {add_months(current, n) for n in range(ahead + 1)}
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT DISTINCT date_trunc('month', recorded_at, 'UTC') FROM {DEFAULT}")
        stray = {month_start(month) for (month,) in cursor.fetchall()}
        horizon = DetachedPartition.objects.order_by("-ends_at").values_list("ends_at", flat=True)
        horizon = horizon.first()
        attached = _attached(cursor)
        to_make = sorted(
            month
            for month in wanted | stray
            if month not in attached
            and (horizon is None or month >= horizon)
            and not _exists(cursor, partition_name(month))  # e.g. detached by hand
        )
        if not to_make:
            return EnsureReport(created=[], moved=0)
        cursor.execute(f"LOCK TABLE {PARENT} IN ACCESS EXCLUSIVE MODE")
        # A table with foreign-key checks still pending (rows inserted earlier in this
        # transaction) cannot be altered or dropped: run them now.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        moving = [month for month in to_make if month in stray]
        if moving:
            # A partition cannot be made while the default one holds rows of its range:
            # take the default partition out, make the partitions, copy their rows in,
            # and put back a new default partition with the rest.
            cursor.execute(f"ALTER TABLE {PARENT} DETACH PARTITION {DEFAULT}")
            cursor.execute(f"ALTER TABLE {DEFAULT} RENAME TO ledger_movement_default_moving")
        for month in to_make:
            name = partition_name(month)
            cursor.execute(
                f"CREATE TABLE {name} PARTITION OF {PARENT} FOR VALUES FROM (%s) TO (%s)",
                [month, add_months(month, 1)],
            )
            if month in moving:
                cursor.execute(
                    f"INSERT INTO {name} SELECT * FROM ledger_movement_default_moving"
                    " WHERE recorded_at >= %s AND recorded_at < %s",
                    [month, add_months(month, 1)],
                )
            for trigger in _TRIGGERS:  # after the copy: the moved seqs are known already
                cursor.execute(trigger.format(table=name))
        moved = 0
        if moving:
            cursor.execute(f"CREATE TABLE {DEFAULT} PARTITION OF {PARENT} DEFAULT")
            cursor.execute(
                f"INSERT INTO {DEFAULT} SELECT * FROM ledger_movement_default_moving"
                " WHERE NOT date_trunc('month', recorded_at, 'UTC') = ANY(%s)",
                [moving],
            )
            for trigger in _TRIGGERS:
                cursor.execute(trigger.format(table=DEFAULT))
            cursor.execute(
                "SELECT (SELECT count(*) FROM ledger_movement_default_moving),"
                f" (SELECT count(*) FROM {DEFAULT})"
            )
            total, kept = cursor.fetchone()
            moved = total - kept
            cursor.execute("DROP TABLE ledger_movement_default_moving")
    return EnsureReport(created=[partition_name(month) for month in to_make], moved=moved)


@transaction.atomic
def partitions_detach(*, before: datetime) -> list[DetachedPartition]:
    """Detach every monthly partition of a month before ``before`` (the first instant of
    a month), oldest first: each becomes a plain table that refuses INSERT, UPDATE,
    DELETE and TRUNCATE, with a DetachedPartition row and one ChainCheckpoint per
    (product, location) chain in it (its last movement there). Returns them.

    Each partition's chains are verified first, from the previous checkpoints; raises
    PartitionNotDetachable (and detaches nothing) if one does not verify, or if the
    default partition holds a movement recorded before ``before`` (run
    partitions_ensure first: it moves them into their months). Locks the movement table
    (ACCESS EXCLUSIVE, until commit) when there is anything to detach.
    """
    before = month_start(before)
    detached = []
    with connection.cursor() as cursor:
        months = sorted(month for month in _attached(cursor) if month < before)
        if not months:
            return []
        cursor.execute(f"LOCK TABLE {PARENT} IN ACCESS EXCLUSIVE MODE")
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # as in partitions_ensure
        cursor.execute(f"SELECT EXISTS (SELECT 1 FROM {DEFAULT} WHERE recorded_at < %s)", [before])
        if cursor.fetchone()[0]:
            raise PartitionNotDetachable(
                "The default partition holds movements recorded before the cut: run"
                " ledger_partitions without --detach-before first.",
                partition=DEFAULT,
            )
        for month in months:
            name = partition_name(month)
            report = partition_table_verify(table=name, starts_at=month)
            if not report.ok:
                raise PartitionNotDetachable(
                    f"{name} does not verify ({len(report.problems)} problems): run verify_ledger.",
                    partition=name,
                )
            cursor.execute(f"ALTER TABLE {PARENT} DETACH PARTITION {name}")
            cursor.execute(f"DROP TRIGGER ledger_movement_inserted ON {name}")
            cursor.execute(
                f"CREATE TRIGGER ledger_movement_detached BEFORE INSERT OR UPDATE OR DELETE"
                f" ON {name} FOR EACH ROW EXECUTE FUNCTION ledger_movement_append_only()"
            )
            cursor.execute(f"SELECT count(*) FROM {name}")
            partition = DetachedPartition.objects.create(
                name=name,
                starts_at=month,
                ends_at=add_months(month, 1),
                movements=cursor.fetchone()[0],
            )
            cursor.execute(
                "INSERT INTO ledger_chaincheckpoint (partition_id, product_id, location_id,"
                " seq, hash, hash_version, on_hand, reserved, incoming)"
                " SELECT DISTINCT ON (product_id, location_id) %s, product_id, location_id,"
                " seq, hash, max(hash_version) OVER w, balance_after, reserved_after,"
                f" incoming_after FROM {name}"
                " WINDOW w AS (PARTITION BY product_id, location_id)"
                " ORDER BY product_id, location_id, seq DESC",
                [partition.id],
            )
            detached.append(partition)
    return detached
