"""Concurrency with locations, real threads: postings to two locations of the same
products never deadlock and never take more than is available; archiving a location
while postings arrive there never leaves stock at an archived location."""

import random
import time

import pytest
from django.core.management import call_command
from django.db import transaction

from ledger.exceptions import InsufficientStock, LocationNotEmpty, UnknownLocation
from ledger.models import Location, MovementKind, StockBalance
from ledger.posting import Posting, movements_post
from ledger.services import (
    location_create,
    location_update,
    stock_adjust,
    stock_restock,
    stock_take,
)
from tests.concurrency import run_in_threads
from tests.factories import ProductFactory
from tests.ledger.oracle import assert_ledger_consistent

pytestmark = pytest.mark.usefixtures("committed_db")


def test_sixteen_writers_at_two_locations_keep_every_invariant_without_deadlock():
    store = location_create(code="STORE-2", name="High Street")
    product_ids = [ProductFactory(stock=20).id for _ in range(4)]
    for product_id in product_ids:
        stock_restock(product_id=product_id, quantity=20, actor_id=None, location_id=store.id)
    locations = [None, store.id]  # the default location, by omission, and STORE-2 by id

    def work(seed):
        rng = random.Random(seed)
        posted = refused = 0
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            product_id, location_id = rng.choice(product_ids), rng.choice(locations)
            choice = rng.random()
            try:
                if choice < 0.25:
                    stock_restock(
                        product_id=product_id,
                        quantity=rng.randint(1, 5),
                        actor_id=None,
                        location_id=location_id,
                    )
                elif choice < 0.4:
                    stock_adjust(
                        product_id=product_id,
                        quantity=rng.choice([-2, -1, 1]),
                        reason="correction",
                        actor_id=None,
                        location_id=location_id,
                    )
                elif choice < 0.45:
                    stock_take(
                        product_id=product_id,
                        counted=rng.randint(0, 10),
                        actor_id=None,
                        location_id=location_id,
                    )
                else:
                    # Lines at both locations of the same products, in random order.
                    lines = rng.sample(
                        [(p, loc) for p in product_ids for loc in locations], rng.randint(1, 8)
                    )
                    with transaction.atomic():
                        movements_post(
                            postings=[
                                Posting(
                                    product_id=p,
                                    kind=MovementKind.CONSUMPTION,
                                    quantity=-rng.randint(1, 3),
                                    location_id=loc,
                                )
                                for p, loc in lines
                            ],
                            actor_id=None,
                        )
                posted += 1
            except InsufficientStock:
                refused += 1
        return posted, refused

    results = run_in_threads(work, range(16), threads=16)

    posted = sum(p for p, _ in results)
    refused = sum(r for _, r in results)
    assert posted > 100 and refused > 0, (posted, refused)
    assert_ledger_consistent()
    assert StockBalance.objects.filter(on_hand__lt=0).count() == 0
    assert StockBalance.objects.filter(location=store).count() == 4
    call_command("verify_ledger")  # exits 1 (SystemExit) on any problem


def test_archiving_a_location_while_postings_arrive_never_strands_stock():
    """Each round, eight threads restock a new location while one archives it: either
    the archive comes first (the restocks then find it archived) or it finds stock and
    is refused. Never an archived location that holds something."""
    product = ProductFactory()
    for round_number in range(8):
        location = location_create(code=f"POP-{round_number}", name="Pop-up")

        def act(index, location=location):
            try:
                if index == 0:
                    location_update(location_id=location.id, is_active=False)
                    return "archived"
                stock_restock(
                    product_id=product.id, quantity=1, actor_id=None, location_id=location.id
                )
                return "restocked"
            except (UnknownLocation, LocationNotEmpty) as error:
                return error.code

        results = run_in_threads(act, range(9), threads=9)
        location.refresh_from_db()
        held = sum(StockBalance.objects.filter(location=location).values_list("on_hand", flat=True))
        if location.is_active:
            assert results[0] == "location_not_empty"
            assert held == results.count("restocked") > 0
        else:
            assert results[0] == "archived"
            assert held == 0 and "restocked" not in results
    assert Location.objects.filter(is_active=False, balances__on_hand__gt=0).count() == 0
    assert_ledger_consistent()
