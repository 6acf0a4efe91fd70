"""Stocktakes posted while orders and deliveries keep moving the counted products, real
threads on separate connections: each count is set against exactly the balance the
ledger holds as of its counted_at once everything has committed, so a posting in flight
when the count is posted is never missed nor counted twice."""

import random
import time

import pytest
from django.core.management import call_command
from django.utils import timezone

from ledger.models import Movement
from ledger.receipts import receipt_create
from ledger.stocktakes import stocktake_create
from ordering.services import order_place
from tests.concurrency import run_in_threads
from tests.factories import ProductFactory, UserFactory
from tests.ledger.oracle import assert_ledger_consistent

pytestmark = pytest.mark.usefixtures("committed_db")

THREADS = 16
SECONDS = 4


def balance_as_of(product_id, instant) -> int:
    """From the final ledger: on hand right after the last movement at or before it."""
    last = (
        Movement.objects.filter(product_id=product_id, recorded_at__lte=instant)
        .order_by("-recorded_at", "-seq")
        .first()
    )
    return last.balance_after if last else 0


def test_counts_posted_while_stock_moves_are_set_against_the_balance_as_of_their_instant():
    products = [ProductFactory(stock=5_000).id for _ in range(3)]
    actor = UserFactory()
    customers = [UserFactory() for _ in range(THREADS)]

    def work(index):
        rng = random.Random(index)
        taken = []
        deadline = time.monotonic() + SECONDS
        while time.monotonic() < deadline:
            if index == 0:
                # The counter: counts taken this very instant, while the others post.
                counted_at = timezone.now()
                stocktake = stocktake_create(
                    location_id=None,
                    counted_at=counted_at,
                    lines=[(p, rng.randint(3_000, 5_000)) for p in products],
                    actor_id=actor.id,
                )
                taken.append(stocktake)
            elif index % 4 == 0:
                receipt_create(
                    location_id=None,
                    reference=f"DN-{index}",
                    lines=[(p, rng.randint(1, 5)) for p in products],
                    actor_id=actor.id,
                )
            else:
                lines = [(p, 1) for p in rng.sample(products, rng.randint(1, 3))]
                order_place(customer_id=customers[index].id, lines=lines)
        return taken

    stocktakes = run_in_threads(work, range(THREADS), threads=THREADS)[0]

    assert len(stocktakes) >= 5
    for stocktake in stocktakes:
        for line in stocktake.stocktake_lines:
            assert line.expected == balance_as_of(line.product_id, stocktake.counted_at), (
                stocktake.id,
                line,
            )
    assert_ledger_consistent()
    call_command("verify_ledger")
