from django.core.management.base import BaseCommand, CommandError

from core.db import report_statement_timeout
from ledger.exceptions import PartitionNotFound
from ledger.integrity import PROGRESS_EVERY, ledger_verify, partition_verify


class Command(BaseCommand):
    help = (
        "Replay the movements and check the balances and the hash chain "
        "(exit status 1 on any problem)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--product",
            type=int,
            action="append",
            dest="products",
            metavar="ID",
            help="Check only this product (repeatable).",
        )
        parser.add_argument(
            "--partition",
            metavar="TABLE",
            help="Check a detached partition of movements instead: its chains from the"
            " checkpoints before it, up to its own checkpoints.",
        )

    @report_statement_timeout()
    def handle(self, *args, products=None, partition=None, **options):
        if partition is not None:
            if products:
                raise CommandError("--partition checks every product in it: no --product.")
            try:
                report = partition_verify(name=partition)
            except PartitionNotFound as exc:
                raise CommandError(f"No detached partition {partition}.") from exc
        else:
            report = ledger_verify(
                product_ids=products, progress=self._progress, progress_every=PROGRESS_EVERY
            )
        broken = report.by_product()
        self.stdout.write(
            f"Checked {report.products_checked} products and {report.movements_checked}"
            f" movements: {len(report.problems)} problems in {len(broken)} products."
        )
        for (product_id, sku), messages in broken.items():
            self.stdout.write(f"product {product_id} ({sku}):")
            for message in messages:
                self.stdout.write(f"  - {message}")
        if broken:
            raise CommandError(
                f"The ledger is inconsistent for {len(broken)} products.", returncode=1
            )
        self.stdout.write(self.style.SUCCESS("The ledger is consistent."))

    def _progress(self, done: int) -> None:
        # Only long runs reach the first call; stderr keeps stdout a clean report.
        self.stderr.write(f"... {done:,} movements checked", style_func=lambda text: text)
