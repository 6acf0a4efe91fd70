from django.core.management.base import BaseCommand, CommandError
from django.db import IntegrityError

from core.db import report_statement_timeout
from ledger.integrity import BalanceDifference, BalanceState, balances_rebuild


class Command(BaseCommand):
    help = (
        "Recompute every balance row from the movements and fix the rows that differ. "
        "Run verify_ledger first: this trusts the movements."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="Show the differences, change nothing."
        )

    @report_statement_timeout()
    def handle(self, *args, dry_run=False, **options):
        try:
            differences = balances_rebuild(dry_run=dry_run)
        except IntegrityError as error:
            raise CommandError(
                f"Nothing changed: the movements do not add up ({error}). Run verify_ledger."
            ) from error
        if not differences:
            self.stdout.write("Balances match the movements: nothing to change.")
            return
        for difference in differences:
            self.stdout.write(_describe(difference))
        if dry_run:
            self.stdout.write(f"{len(differences)} balance rows differ (dry run: nothing changed).")
        else:
            self.stdout.write(self.style.SUCCESS(f"{len(differences)} balance rows rebuilt."))


def _describe(difference: BalanceDifference) -> str:
    head = f"product {difference.product_id} ({difference.sku}): "
    new = difference.recomputed
    old = difference.stored
    if old is None:
        text = (
            f"{head}no balance row -> on_hand {new.on_hand}, version {new.version},"
            f" hash {_short(new.last_hash)}"
        )
        old = BalanceState(0, 0, "")
    else:
        text = (
            f"{head}on_hand {old.on_hand} -> {new.on_hand}, version {old.version} ->"
            f" {new.version}, hash {_short(old.last_hash)} -> {_short(new.last_hash)}"
        )
    for figure in ("reserved", "incoming"):
        before, after = getattr(old, figure), getattr(new, figure)
        if before != after:
            text += f", {figure} {before} -> {after}"
    return f"{text} (location {difference.location})"


def _short(digest: str) -> str:
    return digest[:12] if digest else "(none)"
