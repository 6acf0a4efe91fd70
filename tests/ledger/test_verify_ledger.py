"""verify_ledger finds every kind of damage to the ledger; rebuild_balances repairs the
projection from intact movements."""

from io import StringIO

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from ledger.integrity import balances_rebuild, ledger_verify
from ledger.models import AdjustmentReason, Movement, StockBalance
from ledger.services import stock_adjust, stock_restock, stock_take
from tests.factories import ProductFactory, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def ledger():
    """Three products with mixed histories and one that never moved."""
    clerk = UserFactory()
    bolts, nuts, washers, idle = (ProductFactory() for _ in range(4))
    stock_restock(product_id=bolts.id, quantity=10, actor_id=clerk.id, reference="DN-1")
    stock_adjust(
        product_id=bolts.id, quantity=-3, reason=AdjustmentReason.DAMAGED, actor_id=clerk.id
    )
    stock_restock(product_id=bolts.id, quantity=5, actor_id=None, note="late delivery")
    stock_restock(product_id=nuts.id, quantity=2, actor_id=clerk.id)
    stock_adjust(product_id=nuts.id, quantity=1, reason=AdjustmentReason.FOUND, actor_id=None)
    stock_take(product_id=nuts.id, counted=1, actor_id=clerk.id)
    stock_restock(product_id=washers.id, quantity=7, actor_id=clerk.id)
    return {"bolts": bolts, "nuts": nuts, "washers": washers, "idle": idle}


def verify(*args) -> tuple[int, str]:
    out, err = StringIO(), StringIO()
    try:
        call_command("verify_ledger", *args, stdout=out, stderr=err)
    except CommandError as error:
        return error.returncode, out.getvalue()
    return 0, out.getvalue()


def rebuild(*args) -> str:
    out = StringIO()
    call_command("rebuild_balances", *args, stdout=out)
    return out.getvalue()


def tamper(sql: str, params) -> None:
    """Rewrite history behind the ledger's back; the trigger is off inside the test's
    transaction only (the ALTERs roll back with it)."""
    with connection.cursor() as cursor:
        # ALTER TABLE refuses to run while the inserts' deferred foreign-key checks wait.
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute(
            "ALTER TABLE ledger_movement DISABLE TRIGGER ledger_movement_no_update_or_delete"
        )
        cursor.execute(sql, params)
        cursor.execute(
            "ALTER TABLE ledger_movement ENABLE TRIGGER ledger_movement_no_update_or_delete"
        )


def last_movement(product) -> Movement:
    return Movement.objects.filter(product=product).order_by("-seq").first()


def test_clean_ledger_with_mixed_history_passes(ledger):
    status, output = verify()

    assert status == 0
    assert "Checked 4 products and 7 movements: 0 problems" in output


def test_altered_quantity_fails_and_names_only_that_product(ledger):
    first = Movement.objects.get(product=ledger["bolts"], seq=1)
    tamper("UPDATE ledger_movement SET quantity = quantity + 1 WHERE id = %s", [first.id])

    status, output = verify()

    assert status == 1
    assert f"product {ledger['bolts'].id} ({ledger['bolts'].sku})" in output
    assert "movement #1: balance_after 10, but the running sum is 11" in output
    assert "movement #1: hash does not match" in output
    assert "balance on_hand 12, but the movements sum to 13" in output
    assert ledger["nuts"].sku not in output and ledger["washers"].sku not in output


def test_altered_balance_fails(ledger):
    StockBalance.objects.filter(product=ledger["washers"]).update(on_hand=6)

    status, output = verify()

    assert status == 1
    assert ledger["washers"].sku in output
    assert "balance on_hand 6, but the movements sum to 7" in output


def test_altered_hash_fails(ledger):
    middle = Movement.objects.get(product=ledger["nuts"], seq=2)
    tamper("UPDATE ledger_movement SET hash = repeat('0', 64) WHERE id = %s", [middle.id])

    status, output = verify()

    assert status == 1
    assert ledger["nuts"].sku in output
    assert "movement #2: hash does not match" in output
    # The next movement was chained to the original hash.
    assert "movement #3: hash does not match" in output


def test_seq_gap_fails(ledger):
    tamper("UPDATE ledger_movement SET seq = 5 WHERE id = %s", [last_movement(ledger["bolts"]).id])

    status, output = verify()

    assert status == 1
    assert ledger["bolts"].sku in output
    assert "movement #5: seq 3 was expected (gap)" in output


def test_balance_of_a_product_without_movements_must_be_zero(ledger):
    StockBalance.objects.filter(product=ledger["idle"]).update(on_hand=4, version=1)

    status, output = verify()

    assert status == 1
    assert "balance on_hand 4, but the movements sum to 0" in output
    assert "balance version 1, but there are 0 movements" in output


def test_missing_balance_row_fails_and_rebuild_recreates_it(ledger):
    StockBalance.objects.filter(product=ledger["bolts"]).delete()

    assert "no balance row (3 movements summing to 12)" in verify()[1]
    assert "no balance row -> on_hand 12, version 3" in rebuild()
    assert verify()[0] == 0


def test_product_option_checks_only_those_products(ledger):
    StockBalance.objects.filter(product=ledger["washers"]).update(on_hand=6)

    assert verify("--product", str(ledger["bolts"].id), "--product", str(ledger["nuts"].id)) == (
        0,
        "Checked 2 products and 6 movements: 0 problems in 0 products.\n"
        "The ledger is consistent.\n",
    )
    assert verify("--product", str(ledger["washers"].id))[0] == 1


def test_progress_is_reported_every_n_movements(ledger):
    seen: list[int] = []

    report = ledger_verify(progress=seen.append, progress_every=3)

    assert report.ok
    assert (report.products_checked, report.movements_checked) == (4, 7)
    assert seen == [3, 6]


def test_dry_run_reports_a_tampered_balance_and_changes_nothing(ledger):
    StockBalance.objects.filter(product=ledger["bolts"]).update(on_hand=7, last_hash="")
    expected_hash = last_movement(ledger["bolts"]).hash

    output = rebuild("--dry-run")

    bolts = ledger["bolts"]
    assert (
        f"product {bolts.id} ({bolts.sku}): on_hand 7 -> 12, version 3 -> 3,"
        f" hash (none) -> {expected_hash[:12]}"
    ) in output
    assert "1 balance rows differ (dry run: nothing changed)." in output
    assert StockBalance.objects.get(product=bolts).on_hand == 7


def test_rebuild_fixes_the_balances_and_verify_then_passes(ledger):
    StockBalance.objects.filter(product=ledger["bolts"]).update(on_hand=7)
    StockBalance.objects.filter(product=ledger["nuts"]).update(version=9, last_hash="x" * 64)

    differences = balances_rebuild(dry_run=False)

    assert [d.product_id for d in differences] == [ledger["bolts"].id, ledger["nuts"].id]
    balance = StockBalance.objects.get(product=ledger["nuts"])
    assert (balance.on_hand, balance.version) == (1, 3)
    assert balance.last_hash == last_movement(ledger["nuts"]).hash
    assert verify()[0] == 0
    assert rebuild() == "Balances match the movements: nothing to change.\n"


def test_postings_after_a_rebuild_keep_the_chain_valid(ledger):
    StockBalance.objects.filter(product=ledger["washers"]).update(last_hash="", on_hand=0)
    rebuild()

    stock_restock(product_id=ledger["washers"].id, quantity=1, actor_id=None)

    assert verify()[0] == 0


def test_verify_and_rebuild_run_in_their_own_transactions(committed_db):
    """Outside a transaction, verify reads one REPEATABLE READ snapshot and rebuild
    locks and writes in its own transaction."""
    assert not connection.in_atomic_block
    product = ProductFactory(stock=3)
    StockBalance.objects.filter(product=product).update(on_hand=1)

    assert [p.message for p in ledger_verify().problems] == [
        "balance on_hand 1, but the movements sum to 3"
    ]
    assert [d.product_id for d in balances_rebuild(dry_run=False)] == [product.id]
    assert ledger_verify().ok
    assert StockBalance.objects.get(product=product).on_hand == 3
