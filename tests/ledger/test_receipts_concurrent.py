"""Receipts racing orders over overlapping products, real threads on separate
connections, on a balance table large enough that PostgreSQL updates a set of rows
through a bitmap heap scan (which visits, and would lock, them in disk order): no
deadlock, no lost unit."""

import random
import time
from collections import Counter

import pytest
from django.core.management import call_command
from django.db import connection

from ledger.exceptions import InsufficientStock
from ledger.models import StockBalance
from ledger.receipts import receipt_create
from ordering.services import order_place
from tests.concurrency import run_in_threads
from tests.factories import UserFactory
from tests.ledger.bulk import bulk_products
from tests.ledger.oracle import assert_ledger_consistent

pytestmark = pytest.mark.usefixtures("committed_db")

PRODUCTS = 3_000
HOT = 400  # the products every writer works on, spread over the whole table
THREADS = 16
SECONDS = 4


def plan(sql, params) -> str:
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql, params)
        return "\n".join(row[0] for row in cursor.fetchall())


def test_receipts_racing_orders_never_deadlock_and_never_lose_a_unit():
    products = bulk_products(PRODUCTS)
    actor = UserFactory()
    customers = [UserFactory() for _ in range(THREADS)]
    hot = sorted(random.Random(7).sample([p.id for p in products], HOT))
    opening = receipt_create(
        location_id=None, reference="opening", lines=[(p, 20) for p in hot], actor_id=actor.id
    )
    assert opening.units == 20 * HOT
    with connection.cursor() as cursor:
        cursor.execute("ANALYZE ledger_stockbalance")
    # The trap this guards against: updating a receipt's rows by id visits them in disk
    # order, not in the sorted order of the ids given. The posting locks them first with
    # SELECT ... ORDER BY ... FOR UPDATE.
    receipt_ids = sorted(random.Random(8).sample(hot, 150))
    assert "Bitmap Heap Scan" in plan(
        "UPDATE ledger_stockbalance SET version = version WHERE product_id = ANY(%s)",
        [receipt_ids],
    )

    def work(index):
        rng = random.Random(index)
        received, ordered = Counter(), Counter()
        counts = Counter()
        deadline = time.monotonic() + SECONDS
        while time.monotonic() < deadline:
            if rng.random() < 0.3:
                lines = [(p, rng.randint(1, 5)) for p in rng.sample(hot, rng.randint(20, 300))]
                receipt_create(
                    location_id=None,
                    reference=f"DN-{index}-{counts['receipts']}",
                    lines=lines,
                    actor_id=actor.id,
                )
                received.update(dict(lines))
                counts["receipts"] += 1
            else:
                lines = [(p, rng.randint(1, 3)) for p in rng.sample(hot, rng.randint(1, 10))]
                try:
                    order_place(customer_id=customers[index].id, lines=lines)
                except InsufficientStock:
                    counts["refused"] += 1
                    continue
                ordered.update(dict(lines))
                counts["orders"] += 1
        return received, ordered, counts

    results = run_in_threads(work, range(THREADS), threads=THREADS)

    received = sum((r for r, _, _ in results), Counter())
    ordered = sum((o for _, o, _ in results), Counter())
    counts = sum((c for _, _, c in results), Counter())
    assert counts["receipts"] >= THREADS and counts["orders"] >= THREADS, counts
    on_hand = dict(
        StockBalance.objects.filter(product_id__in=hot).values_list("product_id", "on_hand")
    )
    assert on_hand == {p: 20 + received[p] - ordered[p] for p in hot}
    assert_ledger_consistent()
    call_command("verify_ledger")  # exits 1 (SystemExit) on any problem
