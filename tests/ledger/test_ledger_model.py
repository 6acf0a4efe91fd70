"""A property test of the whole inventory model: hypothesis drives random sequences of
stock operations (restock, adjust, order, cancel, count, reserve, commit, release,
expire, transfer, receive, cancel a transfer, receipt, stocktake) through the
services, and after every step the figures of every (product, location) must equal a
plain-Python model of them; at the end of each sequence the ledger verifies (hash
chains, the fold, the balances) and the independent oracle agrees.

Each sequence works on products and a location of its own, so sequences do not see
each other's stock (they share the test's transaction)."""

import itertools
from dataclasses import dataclass
from datetime import timedelta

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from catalog.models import Product
from core.exceptions import DomainError
from ledger.exceptions import InsufficientStock
from ledger.integrity import ledger_verify
from ledger.models import Location, StockBalance
from ledger.receipts import receipt_create
from ledger.reservations import (
    reservation_commit,
    reservation_create,
    reservation_release,
    reservations_expire,
)
from ledger.services import location_create, stock_adjust, stock_restock, stock_take
from ledger.stocktakes import stocktake_create
from ledger.transfers import transfer_cancel, transfer_create, transfer_receive
from ordering.services import order_cancel, order_place
from tests.factories import ProductFactory, UserFactory
from tests.ledger.oracle import assert_ledger_consistent

pytestmark = pytest.mark.django_db

PRODUCTS = 3
_sequence = itertools.count()


@dataclass
class Figures:
    on_hand: int = 0
    reserved: int = 0
    incoming: int = 0

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


class LedgerModel(RuleBasedStateMachine):
    orders = Bundle("orders")

    def __init__(self):
        super().__init__()
        n = next(_sequence)
        self.user = UserFactory()
        self.products = [ProductFactory(sku=f"M{n}-{i}").id for i in range(PRODUCTS)]
        self.locations = [None, location_create(code=f"M{n}", name=f"Model {n}").id]
        # Transfers name both ends: the default location by its id.
        self.location_ids = [Location.objects.get(is_default=True).id, self.locations[1]]
        self.model = {(p, loc): Figures() for p in self.products for loc in self.locations}
        self.held: dict[int, tuple[object, dict[int, int]]] = {}  # reservation -> loc, lines
        self.in_transit: dict[int, tuple[int, int, dict[int, int]]] = {}  # from, to, owed

    # ---- helpers

    def expect_refusal(self, action, short: bool):
        """Run ``action``; it must be refused (InsufficientStock) exactly when the model
        says stock is short, and then change nothing."""
        try:
            result = action()
        except InsufficientStock:
            assert short, "refused although the model has the units"
            return None
        assert not short, "accepted although the model is short"
        return result

    # ---- rules

    @rule(
        product=st.integers(0, PRODUCTS - 1),
        location=st.integers(0, 1),
        quantity=st.integers(1, 20),
    )
    def restock(self, product, location, quantity):
        key = (self.products[product], self.locations[location])
        stock_restock(
            product_id=key[0], quantity=quantity, actor_id=self.user.id, location_id=key[1]
        )
        self.model[key].on_hand += quantity

    @rule(
        product=st.integers(0, PRODUCTS - 1),
        location=st.integers(0, 1),
        quantity=st.integers(-15, 15).filter(bool),
    )
    def adjust(self, product, location, quantity):
        key = (self.products[product], self.locations[location])
        short = self.model[key].available + quantity < 0
        done = self.expect_refusal(
            lambda: stock_adjust(
                product_id=key[0],
                quantity=quantity,
                reason="correction",
                actor_id=self.user.id,
                location_id=key[1],
            ),
            short,
        )
        if done:
            self.model[key].on_hand += quantity

    @rule(
        target=orders,
        lines=st.dictionaries(st.integers(0, PRODUCTS - 1), st.integers(1, 8), min_size=1),
        location=st.integers(0, 1),
    )
    def order(self, lines, location):
        loc = self.locations[location]
        wanted = {self.products[p]: q for p, q in lines.items()}
        short = any(self.model[(p, loc)].available < q for p, q in wanted.items())
        placed = self.expect_refusal(
            lambda: order_place(
                customer_id=self.user.id, lines=list(wanted.items()), location_id=loc
            ),
            short,
        )
        if placed is None:
            return None
        for p, q in wanted.items():
            self.model[(p, loc)].on_hand -= q
        return (placed.id, loc, wanted)

    @rule(order=consumes(orders))
    def cancel(self, order):
        if order is None:
            return
        order_id, loc, wanted = order
        order_cancel(order_id=order_id, actor_id=self.user.id, customer_id=None)
        for p, q in wanted.items():
            self.model[(p, loc)].on_hand += q

    @rule(
        product=st.integers(0, PRODUCTS - 1),
        location=st.integers(0, 1),
        counted=st.integers(0, 40),
    )
    def count(self, product, location, counted):
        key = (self.products[product], self.locations[location])
        short = counted < self.model[key].reserved
        try:
            stock_take(
                product_id=key[0], counted=counted, actor_id=self.user.id, location_id=key[1]
            )
        except DomainError:
            assert short
            return
        assert not short
        self.model[key].on_hand = counted

    @rule(
        lines=st.dictionaries(st.integers(0, PRODUCTS - 1), st.integers(1, 6), min_size=1),
        location=st.integers(0, 1),
    )
    def reserve(self, lines, location):
        loc = self.locations[location]
        wanted = {self.products[p]: q for p, q in lines.items()}
        short = any(self.model[(p, loc)].available < q for p, q in wanted.items())
        reservation = self.expect_refusal(
            lambda: reservation_create(
                customer_id=self.user.id,
                created_by_id=self.user.id,
                lines=list(wanted.items()),
                location_id=loc,
            ),
            short,
        )
        if reservation is not None:
            for p, q in wanted.items():
                self.model[(p, loc)].reserved += q
            self.held[reservation.id] = (loc, wanted)

    def _pick(self, pool: dict, index: int) -> int:
        return sorted(pool)[index % len(pool)]

    @precondition(lambda self: self.held)
    @rule(index=st.integers(0, 50), share=st.sampled_from([None, 0.0, 0.5]))
    def commit(self, index, share):
        """Commit all held units (None), or a share of each line (at least one unit in
        all: the rest is released)."""
        reservation_id = self._pick(self.held, index)
        loc, lines = self.held.pop(reservation_id)
        taken = dict(lines) if share is None else {p: int(q * share) for p, q in lines.items()}
        if not any(taken.values()):
            first = next(iter(lines))
            taken[first] = 1
        reservation_commit(
            reservation_id=reservation_id,
            actor_id=self.user.id,
            lines=None if share is None else taken,
        )
        for p, q in lines.items():
            self.model[(p, loc)].reserved -= q
            self.model[(p, loc)].on_hand -= taken.get(p, 0)

    @precondition(lambda self: self.held)
    @rule(index=st.integers(0, 50))
    def release(self, index):
        reservation_id = self._pick(self.held, index)
        loc, lines = self.held.pop(reservation_id)
        reservation_release(reservation_id=reservation_id, actor_id=self.user.id)
        for p, q in lines.items():
            self.model[(p, loc)].reserved -= q

    @precondition(lambda self: self.held)
    @rule()
    def expire(self):
        """Time passes: every hold runs out and the worker expires them."""
        later = timezone.now() + timedelta(days=8)
        assert reservations_expire(now=later, product_ids=self.products) == len(self.held)
        for loc, lines in self.held.values():
            for p, q in lines.items():
                self.model[(p, loc)].reserved -= q
        self.held.clear()

    @rule(
        lines=st.dictionaries(st.integers(0, PRODUCTS - 1), st.integers(1, 6), min_size=1),
        origin=st.integers(0, 1),
    )
    def transfer(self, lines, origin):
        source, target = self.locations[origin], self.locations[1 - origin]
        wanted = {self.products[p]: q for p, q in lines.items()}
        short = any(self.model[(p, source)].available < q for p, q in wanted.items())
        transfer = self.expect_refusal(
            lambda: transfer_create(
                from_location_id=self.location_ids[origin],
                to_location_id=self.location_ids[1 - origin],
                lines=list(wanted.items()),
                actor_id=self.user.id,
            ),
            short,
        )
        if transfer is not None:
            for p, q in wanted.items():
                self.model[(p, source)].on_hand -= q
                self.model[(p, target)].incoming += q
            self.in_transit[transfer.id] = (source, target, dict(wanted))

    @precondition(lambda self: self.in_transit)
    @rule(index=st.integers(0, 50), everything=st.booleans())
    def receive(self, index, everything):
        """Receive everything still in transit, or one unit of each line."""
        transfer_id = self._pick(self.in_transit, index)
        source, target, owed = self.in_transit[transfer_id]
        units = dict(owed) if everything else {p: 1 for p in owed}
        transfer_receive(
            transfer_id=transfer_id, actor_id=self.user.id, lines=None if everything else units
        )
        for p, k in units.items():
            self.model[(p, target)].incoming -= k
            self.model[(p, target)].on_hand += k
            owed[p] -= k
        remaining = {p: k for p, k in owed.items() if k}
        if remaining:
            self.in_transit[transfer_id] = (source, target, remaining)
        else:
            del self.in_transit[transfer_id]

    @precondition(lambda self: self.in_transit)
    @rule(index=st.integers(0, 50))
    def cancel_transfer(self, index):
        transfer_id = self._pick(self.in_transit, index)
        source, target, owed = self.in_transit.pop(transfer_id)
        transfer_cancel(transfer_id=transfer_id, actor_id=self.user.id)
        for p, r in owed.items():
            self.model[(p, target)].incoming -= r
            self.model[(p, source)].on_hand += r

    @rule(
        lines=st.lists(
            st.tuples(st.integers(0, PRODUCTS - 1), st.integers(1, 9), st.booleans()),
            min_size=1,
            max_size=5,
        ),
        location=st.integers(0, 1),
    )
    def receipt(self, lines, location):
        """A delivery naming products by id or sku, some more than once (added up)."""
        loc = self.locations[location]
        skus = dict(Product.objects.filter(id__in=self.products).values_list("id", "sku"))
        refs = [
            (skus[self.products[p]] if by_sku else self.products[p], q) for p, q, by_sku in lines
        ]
        receipt_create(location_id=loc, reference="DN", lines=refs, actor_id=self.user.id)
        for p, q, _ in lines:
            self.model[(self.products[p], loc)].on_hand += q

    @rule(
        counts=st.dictionaries(st.integers(0, PRODUCTS - 1), st.integers(0, 40), min_size=1),
        location=st.integers(0, 1),
    )
    def stocktake(self, counts, location):
        """A count of several products taken now: each on hand becomes its count, unless
        a count is below what is reserved there (then nothing is posted)."""
        loc = self.locations[location]
        counted = {self.products[p]: c for p, c in counts.items()}
        short = any(c < self.model[(p, loc)].reserved for p, c in counted.items())
        try:
            stocktake_create(
                location_id=loc,
                counted_at=timezone.now(),
                lines=list(counted.items()),
                actor_id=self.user.id,
            )
        except DomainError:
            assert short
            return
        assert not short
        for p, c in counted.items():
            self.model[(p, loc)].on_hand = c

    # ---- checks

    @invariant()
    def figures_match_the_model(self):
        rows = StockBalance.objects.filter(product_id__in=self.products).values_list(
            "product_id", "location__is_default", "location_id", "on_hand", "reserved", "incoming"
        )
        actual = {
            (p, None if default else loc): Figures(on_hand, reserved, incoming)
            for p, default, loc, on_hand, reserved, incoming in rows
        }
        for key, expected in self.model.items():
            assert actual.get(key, Figures()) == expected, key

    def teardown(self):
        assert_ledger_consistent()
        report = ledger_verify(product_ids=self.products)
        assert report.ok, report


def test_random_operation_sequences_match_the_model():
    run_state_machine_as_test(
        LedgerModel,
        settings=settings(
            max_examples=40,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow],
        ),
    )
