"""verify_ledger and rebuild_balances per (product, location), with the reserved and
incoming figures and the hash versions."""

import pytest

from ledger import hashing
from ledger.integrity import balances_rebuild, ledger_verify
from ledger.models import Movement, StockBalance
from ledger.services import location_create, stock_adjust, stock_restock
from tests.factories import ProductFactory
from tests.ledger.test_verify_ledger import rebuild, tamper, verify

pytestmark = pytest.mark.django_db


@pytest.fixture
def ledger():
    store = location_create(code="STORE-2", name="High Street")
    bolts = ProductFactory(sku="BOLT", stock=10)
    stock_restock(product_id=bolts.id, quantity=4, actor_id=None, location_id=store.id)
    stock_adjust(
        product_id=bolts.id, quantity=-1, reason="lost", actor_id=None, location_id=store.id
    )
    return bolts, store


def test_a_clean_ledger_at_two_locations_passes(ledger):
    assert verify() == (
        0,
        "Checked 1 products and 3 movements: 0 problems in 0 products.\n"
        "The ledger is consistent.\n",
    )
    assert rebuild() == "Balances match the movements: nothing to change.\n"


def test_damage_at_one_location_is_reported_there(ledger):
    bolts, store = ledger
    first = Movement.objects.get(product=bolts, location=store, seq=1)
    tamper("UPDATE ledger_movement SET quantity = 5 WHERE id = %s", [first.id])

    status, output = verify()

    assert status == 1
    assert f"product {bolts.id} (BOLT):" in output
    assert "  - STORE-2: movement #1: balance_after 4, but the running sum is 5" in output
    assert "STORE-2: movement #1: hash does not match" in output
    assert "MAIN:" not in output


def test_a_movement_moved_to_another_location_breaks_both_chains(ledger):
    bolts, store = ledger
    moved = Movement.objects.get(product=bolts, location=store, seq=2)
    main_id = StockBalance.objects.get(product=bolts, location__is_default=True).location_id
    tamper(
        "UPDATE ledger_movement SET location_id = %s, seq = 2 WHERE id = %s", [main_id, moved.id]
    )

    output = verify()[1]

    assert "MAIN: movement #2: hash does not match" in output
    assert "STORE-2: balance version 2, but there are 1 movements" in output


def test_hash_version_1_is_only_accepted_at_the_default_location(ledger):
    bolts, store = ledger
    first = Movement.objects.get(product=bolts, location=store, seq=1)
    fields = {name: getattr(first, name) for name in hashing.FIELDS[1]}
    forged = hashing.movement_hash(hash_version=1, prev_hash="", **fields)
    tamper(
        "UPDATE ledger_movement SET hash_version = 1, hash = %s WHERE id = %s", [forged, first.id]
    )

    output = verify()[1]

    assert "STORE-2: movement #1: hash version 1 is only valid at the default location" in output


def test_reserved_and_incoming_are_checked_and_rebuilt(ledger):
    bolts, store = ledger
    StockBalance.objects.filter(product=bolts, location=store).update(reserved=2, incoming=7)

    report = ledger_verify()

    assert [(p.location, p.message) for p in report.problems] == [
        ("STORE-2", "balance reserved 2, but the movements sum to 0"),
        ("STORE-2", "balance incoming 7, but the movements sum to 0"),
    ]
    output = rebuild("--dry-run")
    assert ", reserved 2 -> 0, incoming 7 -> 0 (location STORE-2)" in output
    [difference] = balances_rebuild(dry_run=False)
    assert (difference.location, difference.recomputed.reserved) == ("STORE-2", 0)
    assert ledger_verify().ok


def test_a_missing_row_at_a_location_is_reported_and_rebuilt(ledger):
    bolts, store = ledger
    StockBalance.objects.filter(product=bolts, location=store).delete()

    assert "STORE-2: no balance row (2 movements summing to 3)" in verify()[1]
    assert "no balance row -> on_hand 3, version 2" in rebuild()
    assert StockBalance.objects.get(product=bolts, location=store).on_hand == 3
    assert verify()[0] == 0
    # Postings there continue the rebuilt chain.
    stock_restock(product_id=bolts.id, quantity=1, actor_id=None, location_id=store.id)
    assert verify()[0] == 0


def test_a_product_without_its_default_row_is_reported(ledger):
    assert ledger
    idle = ProductFactory(sku="IDLE")
    StockBalance.objects.filter(product=idle).delete()

    output = verify()[1]

    assert (
        f"product {idle.id} (IDLE):\n  - MAIN: no balance row (0 movements summing to 0)" in output
    )
    assert "no balance row -> on_hand 0, version 0" in rebuild()
    assert verify()[0] == 0
