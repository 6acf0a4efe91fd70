"""Invariants 4 and 5 (docs/design.md): a posting is a conditional UPDATE ... RETURNING of the
balances that adds deltas (the count is never read to be written back), then one INSERT
(one statement doing both for a single movement); several balance rows are first locked
in product-id order by one statement, so any posting costs a constant number of
statements."""

import pytest
from django.db import connection, transaction

from catalog.exceptions import ProductNotFound
from core.filtering import MAX_ID
from ledger.exceptions import InsufficientStock
from ledger.models import Movement, MovementKind
from ledger.posting import Posting, movements_post
from ledger.services import stock_restock
from tests.factories import ProductFactory

pytestmark = pytest.mark.django_db


class Recorder:
    def __init__(self):
        self.statements = []

    def __call__(self, execute, sql, params, many, context):
        self.statements.append((sql.strip(), params))
        return execute(sql, params, many, context)

    def kinds(self):
        return [
            sql.split()[0].upper()
            for sql, _ in self.statements
            if not sql.upper().startswith(("SAVEPOINT", "RELEASE"))
        ]


def test_a_restock_is_one_statement_that_updates_then_inserts():
    product = ProductFactory()
    recorder = Recorder()
    with connection.execute_wrapper(recorder):
        stock_restock(product_id=product.id, quantity=3, actor_id=None)
    assert recorder.kinds() == ["WITH"]
    (statement,) = [s for s in recorder.statements if not s[0].startswith(("SAVEPOINT", "RELEASE"))]
    # The conditional UPDATE first: available units (on hand minus reserved) stay at or
    # above zero; the deltas are added, never read and written back; then the INSERT.
    assert statement[0].startswith("WITH u AS (\nUPDATE ledger_stockbalance")
    assert "b.on_hand + v.d_on_hand >= b.reserved + v.d_reserved" in statement[0]
    assert "b.on_hand + v.d_on_hand AS on_hand" in statement[0]
    assert "m AS (INSERT INTO ledger_movement" in statement[0]


def test_a_multi_product_posting_locks_in_product_id_order():
    products = [ProductFactory(stock=10) for _ in range(4)]
    shuffled = [products[2], products[0], products[3], products[1]]
    recorder = Recorder()
    with connection.execute_wrapper(recorder), transaction.atomic():
        movements = movements_post(
            postings=[
                Posting(product_id=p.id, kind=MovementKind.CONSUMPTION, quantity=-1)
                for p in shuffled
            ],
            actor_id=None,
        )
    assert recorder.kinds() == ["SELECT", "WITH"]
    lock, params = next(s for s in recorder.statements if s[0].startswith("SELECT"))
    assert "ORDER BY b.product_id, b.location_id" in lock and "FOR UPDATE OF b" in lock
    # The ids go as one array literal, in (product, location) order.
    assert (
        params[0] == "{" + ",".join(str(p.id) for p in sorted(products, key=lambda p: p.id)) + "}"
    )
    assert [m.product_id for m in movements] == sorted(p.id for p in products)


def test_a_posting_of_many_lines_costs_the_statements_of_two():
    # The rows' lock, then one statement: the UPDATE of every row and the INSERT.
    products = [ProductFactory(stock=10) for _ in range(60)]
    recorder = Recorder()
    with connection.execute_wrapper(recorder), transaction.atomic():
        movements_post(
            postings=[
                Posting(product_id=p.id, kind=MovementKind.CONSUMPTION, quantity=-1)
                for p in products
            ],
            actor_id=None,
        )
    assert recorder.kinds() == ["SELECT", "WITH"]


def test_a_posting_naming_an_unknown_product_among_others_writes_nothing():
    products = [ProductFactory(stock=10) for _ in range(2)]
    with pytest.raises(ProductNotFound) as refused, transaction.atomic():
        movements_post(
            postings=[
                Posting(product_id=products[0].id, kind=MovementKind.CONSUMPTION, quantity=-1),
                Posting(product_id=MAX_ID, kind=MovementKind.CONSUMPTION, quantity=-1),
                Posting(product_id=products[1].id, kind=MovementKind.CONSUMPTION, quantity=-1),
            ],
            actor_id=None,
        )
    assert refused.value.data == {"product": MAX_ID}
    assert [p.balances.get().on_hand for p in products] == [10, 10]


def test_a_posting_short_on_several_rows_names_every_short_line_and_writes_nothing():
    plenty, short, shorter = ProductFactory(stock=10), ProductFactory(stock=1), ProductFactory()
    with pytest.raises(InsufficientStock) as refused, transaction.atomic():
        movements_post(
            postings=[
                Posting(product_id=p.id, kind=MovementKind.CONSUMPTION, quantity=-2)
                for p in (plenty, short, shorter)
            ],
            actor_id=None,
        )
    assert sorted((line["product"], line["available"]) for line in refused.value.lines) == [
        (short.id, 1),
        (shorter.id, 0),
    ]
    assert plenty.balances.get().on_hand == 10
    assert not Movement.objects.filter(product=plenty, kind=MovementKind.CONSUMPTION).exists()
