"""Migration 0005 moves an existing ledger onto the default location: the ledger built
by the code before it verifies before and after, and new postings continue its chains.

The test migrates the test database back to ledger 0004, posts there exactly as the
code of that time did (its SQL, its hash), migrates forward and checks. It always ends
on the latest migrations, even when it fails.
"""

import hashlib
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from django.db import DatabaseError, connection, transaction
from django.db.migrations.executor import MigrationExecutor

from catalog.models import Product
from ledger import hashing
from ledger.integrity import balances_rebuild, ledger_verify
from ledger.models import Location, Movement, StockBalance
from ledger.services import location_create, stock_adjust, stock_restock

pytestmark = pytest.mark.usefixtures("committed_db")

BEFORE_LOCATIONS = [("ledger", "0004_product_opens_balance")]


def migrate(targets=None) -> None:
    executor = MigrationExecutor(connection)
    executor.loader.build_graph()
    executor.migrate(targets or executor.loader.graph.leaf_nodes())


@pytest.fixture
def before_locations():
    migrate(BEFORE_LOCATIONS)
    try:
        yield
    finally:
        migrate()


def old_movement_hash(*, prev_hash, product_id, seq, kind, quantity, balance_after,
                      recorded_at, actor_id, reason, reference, note, order_line_id,
                      reverses_id):  # fmt: skip
    """ledger.hashing.movement_hash as it was before locations, verbatim."""
    payload = json.dumps(
        [
            prev_hash,
            product_id,
            seq,
            kind,
            quantity,
            balance_after,
            recorded_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
            actor_id,
            reason,
            reference,
            note,
            order_line_id,
            reverses_id,
        ],
        separators=(",", ":"),
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode()).hexdigest()


def post_old(product_id: int, kind: str, quantity: int, reason: str = "", note: str = ""):
    """One posting as ledger.posting made it before locations: the conditional UPDATE of
    the product's one balance row, the movement insert, the hash update."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "UPDATE ledger_stockbalance AS b SET on_hand = b.on_hand + %s,"
            " version = b.version + 1, updated_at = clock_timestamp()"
            " WHERE b.product_id = %s AND b.on_hand + %s >= 0"
            " RETURNING b.on_hand, b.version, b.updated_at, b.last_hash",
            [quantity, product_id, quantity],
        )
        on_hand, seq, recorded_at, prev_hash = cursor.fetchone()
        fields = {
            "product_id": product_id,
            "seq": seq,
            "kind": kind,
            "quantity": quantity,
            "balance_after": on_hand,
            "recorded_at": recorded_at,
            "actor_id": None,
            "reason": reason,
            "reference": "DN-OLD",
            "note": note,
            "order_line_id": None,
            "reverses_id": None,
        }
        digest = old_movement_hash(prev_hash=prev_hash, **fields)
        columns = [*fields, "hash"]
        cursor.execute(
            f"INSERT INTO ledger_movement ({', '.join(columns)})"
            f" VALUES ({', '.join(['%s'] * len(columns))})",
            [*fields.values(), digest],
        )
        cursor.execute(
            "UPDATE ledger_stockbalance SET last_hash = %s WHERE product_id = %s",
            [digest, product_id],
        )


def old_ledger_problems() -> list[str]:
    """verify_ledger's checks on the schema before locations: chains and balances."""
    problems = []
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT product_id, seq, kind, quantity, balance_after, recorded_at, actor_id,"
            " reason, reference, note, order_line_id, reverses_id, hash"
            " FROM ledger_movement ORDER BY product_id, seq"
        )
        chains: dict[int, tuple[str, int, int]] = {}
        for product_id, seq, *rest, digest in cursor.fetchall():
            prev_hash, total, count = chains.get(product_id, (hashing.GENESIS, 0, 0))
            kind, quantity, balance_after, recorded_at, actor, reason, ref, note, line, rev = rest
            expected = old_movement_hash(
                prev_hash=prev_hash,
                product_id=product_id,
                seq=seq,
                kind=kind,
                quantity=quantity,
                balance_after=balance_after,
                recorded_at=recorded_at,
                actor_id=actor,
                reason=reason,
                reference=ref,
                note=note,
                order_line_id=line,
                reverses_id=rev,
            )
            if digest != expected or seq != count + 1 or balance_after != total + quantity:
                problems.append(f"product {product_id} movement #{seq}")
            chains[product_id] = (digest, total + quantity, count + 1)
        cursor.execute("SELECT product_id, on_hand, version, last_hash FROM ledger_stockbalance")
        for product_id, on_hand, version, last_hash in cursor.fetchall():
            prev_hash, total, count = chains.get(product_id, ("", 0, 0))
            if (on_hand, version, last_hash) != (total, count, prev_hash):
                problems.append(f"product {product_id} balance")
    return problems


def test_the_version_1_hash_is_the_hash_before_locations():
    fields = {
        "product_id": 7,
        "seq": 3,
        "kind": "adjustment",
        "quantity": -2,
        "balance_after": 5,
        "recorded_at": datetime(2026, 11, 24, 9, 30, 1, 123456, tzinfo=UTC),
        "actor_id": 4,
        "reason": "damaged",
        "reference": "DN-1",
        "note": "crushed, ünïcode",
        "order_line_id": None,
        "reverses_id": None,
    }
    old = old_movement_hash(prev_hash="ab" * 32, **fields)
    assert hashing.movement_hash(hash_version=1, prev_hash="ab" * 32, **fields) == old
    assert hashing.movement_hash(
        hash_version=2,
        prev_hash="ab" * 32,
        location_id=1,
        reserved_after=0,
        incoming_after=0,
        **fields,
    ) not in (old, hashing.movement_hash(hash_version=1, prev_hash="", **fields))


def test_an_existing_ledger_moves_to_the_default_location_and_still_verifies(
    before_locations,
):
    bolts = Product.objects.create(sku="OLD-BOLT", name="Old bolts", price=Decimal("1.00"))
    nuts = Product.objects.create(sku="OLD-NUT", name="Old nuts", price=Decimal("1.00"))
    idle = Product.objects.create(sku="OLD-IDLE", name="Never moved", price=Decimal("1.00"))
    post_old(bolts.id, "restock", 10)
    post_old(bolts.id, "adjustment", -3, reason="damaged", note="crushed")
    post_old(nuts.id, "restock", 4)
    post_old(bolts.id, "consumption", -2)
    assert old_ledger_problems() == []
    with connection.cursor() as cursor:
        cursor.execute("SELECT hash FROM ledger_movement ORDER BY id")
        old_hashes = [row[0] for row in cursor.fetchall()]

    migrate()

    main = Location.objects.get(is_default=True)
    assert (main.code, main.is_active) == ("MAIN", True)
    report = ledger_verify()
    assert report.ok, report.problems
    assert (report.products_checked, report.movements_checked) == (3, 4)
    assert balances_rebuild(dry_run=True) == []
    movements = list(Movement.objects.order_by("id"))
    assert [m.hash for m in movements] == old_hashes
    moved = {(m.location_id, m.hash_version, m.reserved_after, m.incoming_after) for m in movements}
    assert moved == {(main.id, 1, 0, 0)}
    assert sorted(
        StockBalance.objects.values_list("product_id", "location_id", "on_hand", "version")
    ) == [(bolts.id, main.id, 5, 3), (nuts.id, main.id, 4, 1), (idle.id, main.id, 0, 0)]

    # New movements continue the default location's chain (the current version after 1) and
    # start their own chain elsewhere.
    store = location_create(code="STORE-2", name="Shop")
    after = stock_restock(product_id=bolts.id, quantity=1, actor_id=None)
    elsewhere = stock_restock(product_id=bolts.id, quantity=6, actor_id=None, location_id=store.id)
    stock_adjust(
        product_id=bolts.id, quantity=-1, reason="lost", actor_id=None, location_id=store.id
    )
    assert (after.seq, after.balance_after, after.hash_version) == (4, 6, hashing.CURRENT_VERSION)
    assert (elsewhere.seq, elsewhere.balance_after, elsewhere.location_id) == (1, 6, store.id)
    assert ledger_verify().ok
    assert balances_rebuild(dry_run=True) == []
    new_product = Product.objects.create(sku="NEW-1", name="New", price=Decimal("1.00"))
    assert StockBalance.objects.get(product=new_product).location_id == main.id

    # The old schema has no place for the second location: going back is refused, and
    # the refusal changes nothing.
    with pytest.raises(DatabaseError, match="cannot be unapplied"):
        migrate(BEFORE_LOCATIONS)
    # (Each migration is its own transaction: 0007's partitions came off before an older
    # one refused. Forward again, the ledger is whole.)
    migrate()
    assert ledger_verify().ok
