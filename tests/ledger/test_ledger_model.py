"""A property test of the whole inventory model: hypothesis drives random sequences of
stock operations through the services, and after every step the figures of every
(product, location) must equal a plain-Python model of them; at the end of each
sequence the ledger verifies (hash chains, the fold, the balances) and the independent
oracle agrees.

Each sequence works on products and a location of its own, so sequences do not see
each other's stock (they share the test's transaction)."""

import itertools
from dataclasses import dataclass

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    consumes,
    invariant,
    rule,
    run_state_machine_as_test,
)

from core.exceptions import DomainError
from ledger.exceptions import InsufficientStock
from ledger.integrity import ledger_verify
from ledger.models import StockBalance
from ledger.services import location_create, stock_adjust, stock_restock, stock_take
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
        self.model = {(p, loc): Figures() for p in self.products for loc in self.locations}

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
