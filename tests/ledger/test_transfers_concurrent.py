"""Transfers under concurrency, real threads on separate connections: transfers A->B and
B->A at once (and receives and cancels of each other's) never deadlock and never lose or
make a unit; concurrent receives and cancels of one transfer settle it once, never more
than was sent.

Why the units are conserved: create takes q off A's shelf and adds q incoming at B;
receive moves k from B's incoming to B's shelf; cancel moves r from B's incoming back to
A's shelf. No step changes a product's on hand + incoming summed over its locations, so
that sum stays the starting total whatever was received or cancelled; and the incoming
part is exactly what the transfers still in transit owe.
"""

import random
import threading
import time

import pytest
from django.core.management import call_command
from django.db.models import F, Sum

from ledger.exceptions import InsufficientStock, TransferNotInTransit, TransferQuantityExceeded
from ledger.models import Location, StockBalance, Transfer, TransferLine, TransferStatus
from ledger.services import location_create, stock_restock
from ledger.transfers import transfer_cancel, transfer_create, transfer_receive
from tests.concurrency import run_in_threads
from tests.factories import ProductFactory, UserFactory
from tests.ledger.oracle import assert_ledger_consistent

pytestmark = pytest.mark.usefixtures("committed_db")

UNITS_AT_EACH = 30


def stock(product_ids, locations) -> dict[int, int]:
    """Each product's (on hand, incoming) summed over ``locations``."""
    rows = (
        StockBalance.objects.filter(product_id__in=product_ids, location__in=locations)
        .values("product_id")
        .annotate(on_hand=Sum("on_hand"), incoming=Sum("incoming"))
    )
    return {row["product_id"]: (row["on_hand"], row["incoming"]) for row in rows}


def test_transfers_both_ways_at_once_never_deadlock_and_conserve_units():
    a = Location.objects.get(is_default=True)
    b = location_create(code="STORE-2", name="High Street")
    clerk = UserFactory()
    products = [ProductFactory(stock=UNITS_AT_EACH).id for _ in range(6)]
    for product_id in products:
        stock_restock(
            product_id=product_id, quantity=UNITS_AT_EACH, actor_id=None, location_id=b.id
        )
    in_transit: list[tuple[int, dict[int, int]]] = []  # (transfer, its lines), all threads'
    shared = threading.Lock()

    def work(seed):
        rng = random.Random(seed)
        origin, destination = (a, b) if seed % 2 else (b, a)
        tally = {"created": 0, "short": 0, "received": 0, "cancelled": 0, "closed": 0}
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            # Lines in random order, so that the postings name the rows in any order.
            lines = {p: rng.randint(1, 6) for p in rng.sample(products, rng.randint(1, 4))}
            try:
                transfer = transfer_create(
                    from_location_id=origin.id,
                    to_location_id=destination.id,
                    lines=list(lines.items()),
                    actor_id=clerk.id,
                )
                tally["created"] += 1
                with shared:
                    in_transit.append((transfer.id, lines))
            except InsufficientStock:
                tally["short"] += 1
            with shared:
                if not in_transit:
                    continue
                transfer_id, its_lines = rng.choice(in_transit)  # often another thread's
            action = rng.random()
            try:
                if action < 0.35:
                    product_id = rng.choice(list(its_lines))
                    transfer_receive(
                        transfer_id=transfer_id,
                        actor_id=clerk.id,
                        lines={product_id: rng.randint(1, its_lines[product_id])},
                    )
                    tally["received"] += 1
                elif action < 0.55:
                    transfer_receive(transfer_id=transfer_id, actor_id=clerk.id)
                    tally["received"] += 1
                elif action < 0.75:
                    transfer_cancel(transfer_id=transfer_id, actor_id=clerk.id)
                    tally["cancelled"] += 1
            except (TransferNotInTransit, TransferQuantityExceeded):
                tally["closed"] += 1  # another thread settled it (or that much of it) first
        return tally

    results = run_in_threads(work, range(16), threads=16)

    total = {key: sum(r[key] for r in results) for key in results[0]}
    assert total["created"] > 50 and total["received"] > 10 and total["cancelled"] > 5, total
    assert Transfer.objects.filter(status=TransferStatus.IN_TRANSIT).exists()
    figures = stock(products, [a, b])
    # On hand + incoming, over both locations, is what there was at the start ...
    assert {p: sum(figures[p]) for p in products} == {p: 2 * UNITS_AT_EACH for p in products}
    # ... and the incoming part is what the transfers in transit still owe.
    owed = dict(
        TransferLine.objects.filter(transfer__status=TransferStatus.IN_TRANSIT)
        .values_list("product_id")
        .annotate(owed=Sum(F("quantity") - F("received") - F("cancelled")))
    )
    assert {p: figures[p][1] for p in products} == {p: owed.get(p, 0) for p in products}
    assert not TransferLine.objects.filter(quantity__lt=F("received") + F("cancelled")).exists()
    assert_ledger_consistent()
    call_command("verify_ledger")  # exits 1 (SystemExit) on any problem


def test_concurrent_receives_and_a_cancel_of_one_transfer_settle_it_once():
    a = Location.objects.get(is_default=True)
    b = location_create(code="STORE-2", name="High Street")
    clerk = UserFactory()
    pen, pad = ProductFactory(stock=200).id, ProductFactory(stock=200).id
    sent = received_in_all = cancelled_in_all = 0

    for round_number in range(8):
        transfer = transfer_create(
            from_location_id=a.id,
            to_location_id=b.id,
            lines=[(pen, 10), (pad, 10)],
            actor_id=clerk.id,
        )
        sent += 20
        rng = random.Random(round_number)
        asks = [{pen: rng.randint(1, 4), pad: rng.randint(1, 4)} for _ in range(6)]

        def act(index, transfer=transfer, asks=asks):
            try:
                if index == 0:
                    transfer_cancel(transfer_id=transfer.id, actor_id=clerk.id)
                    return "cancelled"
                if index == 1:
                    transfer_receive(transfer_id=transfer.id, actor_id=clerk.id)
                    return "received all"
                transfer_receive(transfer_id=transfer.id, actor_id=clerk.id, lines=asks[index - 2])
                return "received part"
            except (TransferNotInTransit, TransferQuantityExceeded) as refused:
                return refused.code

        outcomes = run_in_threads(act, range(8), threads=8)

        transfer.refresh_from_db()
        lines = {line.product_id: line for line in transfer.lines.all()}
        parts = [asks[i - 2] for i in range(2, 8) if outcomes[i] == "received part"]
        # The cancel always runs, so the transfer always ends closed, one way.
        assert transfer.status != TransferStatus.IN_TRANSIT
        assert transfer.closed_at is not None
        for product_id, line in lines.items():
            assert line.received + line.cancelled == line.quantity == 10
            if outcomes[1] == "received all":
                assert (line.received, line.cancelled) == (10, 0)
            else:
                assert line.received == sum(ask[product_id] for ask in parts), outcomes
        if outcomes[0] == "cancelled":
            assert transfer.status == TransferStatus.CANCELLED
            assert outcomes[1] == "transfer_not_in_transit"
        else:
            assert transfer.status == TransferStatus.RECEIVED
            assert outcomes[0] == "transfer_not_in_transit"
        received_in_all += sum(line.received for line in lines.values())
        cancelled_in_all += sum(line.cancelled for line in lines.values())

    assert received_in_all + cancelled_in_all == sent
    at_b = StockBalance.objects.filter(location=b).aggregate(
        on_hand=Sum("on_hand"), incoming=Sum("incoming")
    )
    assert at_b == {"on_hand": received_in_all, "incoming": 0}
    at_a = StockBalance.objects.filter(location=a).aggregate(on_hand=Sum("on_hand"))
    assert at_a["on_hand"] == 400 - sent + cancelled_in_all
    assert_ledger_consistent()
    call_command("verify_ledger")
