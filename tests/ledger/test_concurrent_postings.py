import random
import time

import pytest
from django.db import transaction

from ledger.exceptions import InsufficientStock
from ledger.models import Movement, MovementKind, StockBalance
from ledger.posting import Posting, movements_post
from ledger.services import stock_adjust, stock_restock, stock_take
from tests.concurrency import run_in_threads
from tests.factories import ProductFactory
from tests.ledger.oracle import assert_ledger_consistent

pytestmark = pytest.mark.usefixtures("committed_db")


def consume(postings):
    with transaction.atomic():
        return movements_post(postings=postings, actor_id=None)


def writer(product_ids, seconds):
    """Post random restocks, adjustments, stocktakes and multi-product consumptions (in
    random product order) until the time is up; count outcomes."""

    def work(seed):
        rng = random.Random(seed)
        posted = refused = 0
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            product_id = rng.choice(product_ids)
            choice = rng.random()
            try:
                if choice < 0.3:
                    stock_restock(product_id=product_id, quantity=rng.randint(1, 5), actor_id=None)
                elif choice < 0.45:
                    stock_adjust(
                        product_id=product_id,
                        quantity=rng.choice([-2, -1, 1]),
                        reason="correction",
                        actor_id=None,
                    )
                elif choice < 0.5:
                    stock_take(product_id=product_id, counted=rng.randint(0, 10), actor_id=None)
                else:
                    chosen = rng.sample(product_ids, rng.randint(1, len(product_ids)))
                    consume(
                        [
                            Posting(
                                product_id=p,
                                kind=MovementKind.CONSUMPTION,
                                quantity=-rng.randint(1, 3),
                            )
                            for p in chosen
                        ]
                    )
                posted += 1
            except InsufficientStock:
                refused += 1
        return posted, refused

    return work


def test_sixteen_writers_keep_every_invariant_without_deadlock():
    product_ids = [ProductFactory(stock=20).id for _ in range(4)]
    results = run_in_threads(writer(product_ids, seconds=3), range(16), threads=16)
    posted = sum(p for p, _ in results)
    refused = sum(r for _, r in results)
    assert posted > 100 and refused > 0, (posted, refused)
    assert_ledger_consistent()
    assert StockBalance.objects.filter(on_hand__lt=0).count() == 0
    from django.core.management import call_command

    call_command("verify_ledger")  # exits 1 (SystemExit) on any problem


def test_concurrent_consumers_never_oversell():
    product = ProductFactory(stock=50)
    posting = Posting(product_id=product.id, kind=MovementKind.CONSUMPTION, quantity=-1)

    def take_one(_):
        try:
            consume([posting])
            return True
        except InsufficientStock:
            return False

    outcomes = run_in_threads(take_one, range(120), threads=16)
    assert outcomes.count(True) == 50
    assert StockBalance.objects.get(product=product).on_hand == 0
    assert Movement.objects.filter(product=product).count() == 51
    assert_ledger_consistent()
