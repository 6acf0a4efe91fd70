"""A posting of one movement per balance row has its hashes computed by PostgreSQL
(ledger.hashing.hash_sql) in the statement that writes the movements; a posting of
several movements to one row is hashed in Python (movement_hash). Both must give the
same hash for the same movement, whatever its text holds, or verify_ledger would flag
every movement one of them wrote."""

import pytest
from django.db import transaction

from ledger.hashing import movement_hash
from ledger.integrity import ledger_verify
from ledger.models import AdjustmentReason, Movement, MovementKind
from ledger.posting import Posting, movements_post
from ledger.services import location_create
from tests.factories import ProductFactory, UserFactory

pytestmark = pytest.mark.django_db

# What JSON escapes (quotes, backslashes, control characters, with and without a short
# escape), what it does not (DEL, non-ASCII, U+2028, astral characters), and SQL quoting.
HOSTILE_TEXTS = [
    "",
    'say "hi"',
    "back\\slash \\u0041 \\n",
    "line\nbreak\ttab\rreturn\bbackspace\fform",
    "\x01\x02\x1f control \x7f del",
    "café ñ 日本 \u2028 \u2029 🙂",
    "it's ' || 'sql' --",
    "[1,2]",
    "{}",
]


def _post_one(product, text, **kwargs) -> Movement:
    with transaction.atomic():
        (movement,) = movements_post(
            postings=[
                Posting(
                    product_id=product.id,
                    kind=MovementKind.ADJUSTMENT,
                    quantity=5,
                    reason=AdjustmentReason.FOUND,
                    reference=text[:200],
                    note=text,
                    **kwargs,
                )
            ],
            actor_id=None,
        )
    return movement


def _python_hash(movement: Movement, prev_hash: str) -> str:
    fields = {f.attname: getattr(movement, f.attname) for f in Movement._meta.concrete_fields}
    return movement_hash(
        hash_version=movement.hash_version,
        prev_hash=prev_hash,
        **{k: v for k, v in fields.items() if k not in ("hash_version", "hash")},
    )


@pytest.mark.parametrize("text", HOSTILE_TEXTS)
def test_the_sql_hash_of_a_posting_is_the_python_hash(text):
    product = ProductFactory(stock=3)
    previous = Movement.objects.filter(product=product).get()
    returned = _post_one(product, text)
    stored = Movement.objects.get(id=returned.id)
    assert stored.note == text
    assert stored.hash == returned.hash == _python_hash(stored, previous.hash)
    assert not ledger_verify(product_ids=[product.id]).problems


def test_sql_and_python_hashes_chain_into_each_other_at_any_location():
    product, other = ProductFactory(stock=3), ProductFactory(stock=3)
    location = location_create(code="STORE-2", name="High Street")
    actor = UserFactory()
    for text in HOSTILE_TEXTS:
        _post_one(product, text, location_id=location.id)  # one statement, SQL hash
        with transaction.atomic():  # one movement on each of two rows: SQL hashes
            movements_post(
                postings=[
                    Posting(
                        product_id=product.id,
                        kind=MovementKind.RESTOCK,
                        quantity=1,
                        location_id=location.id,
                        note=text,
                    ),
                    Posting(
                        product_id=other.id,
                        kind=MovementKind.RESTOCK,
                        quantity=2,
                        reference=text[:200],
                    ),
                ],
                actor_id=actor.id,
            )
        with transaction.atomic():  # two movements on one row: Python hashes
            movements_post(
                postings=[
                    Posting(
                        product_id=product.id,
                        kind=MovementKind.RESTOCK,
                        quantity=1,
                        location_id=location.id,
                        reference=text[:200],
                    ),
                    Posting(
                        product_id=product.id,
                        kind=MovementKind.RESTOCK,
                        quantity=2,
                        location_id=location.id,
                        note=text,
                    ),
                ],
                actor_id=actor.id,
            )
    report = ledger_verify(product_ids=[product.id, other.id])
    assert not report.problems
    assert Movement.objects.filter(product=product, location=location).count() == 4 * len(
        HOSTILE_TEXTS
    )
