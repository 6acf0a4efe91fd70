from datetime import UTC, datetime

from django.core.management.base import BaseCommand, CommandError

from core.worker import run_every
from ledger.exceptions import PartitionNotDetachable
from ledger.partitions import partitions_detach, partitions_ensure

DEFAULT_AHEAD = 3


class Command(BaseCommand):
    help = (
        "Make the movement table's monthly partitions for the current month and the next"
        " --ahead months (idempotent), moving into them any rows the default partition"
        " holds; with --detach-before YYYY-MM, then detach the months before that one"
        " (verified first; they stay as read-only tables). With --loop, repeat until stopped."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--ahead",
            type=int,
            default=DEFAULT_AHEAD,
            help=f"Months after the current one to make (default {DEFAULT_AHEAD}).",
        )
        parser.add_argument(
            "--detach-before",
            metavar="YYYY-MM",
            help="Detach the partitions of the months before this one.",
        )
        parser.add_argument(
            "--loop",
            type=float,
            metavar="SECONDS",
            help="Make the partitions every SECONDS until SIGTERM or Ctrl-C.",
        )

    def handle(self, *args, ahead=DEFAULT_AHEAD, detach_before=None, loop=None, **options):
        if ahead < 0:
            raise CommandError("--ahead must be 0 or more.")
        cut = None
        if detach_before is not None:
            try:
                cut = datetime.strptime(detach_before, "%Y-%m").replace(tzinfo=UTC)
            except ValueError as exc:
                raise CommandError("--detach-before takes a month: YYYY-MM.") from exc
        if loop is not None:
            if loop <= 0:
                raise CommandError("--loop needs a positive number of seconds.")
            self.stdout.write(f"Making partitions every {loop:g} s (SIGTERM stops).")
            run_every(
                seconds=loop,
                name="ledger_partitions",
                one_pass=lambda should_stop: self._ensure(ahead),
            )
            return
        self._ensure(ahead)
        if cut is not None:
            try:
                detached = partitions_detach(before=cut)
            except PartitionNotDetachable as exc:
                raise CommandError(exc.detail) from exc
            for partition in detached:
                self.stdout.write(
                    f"Detached {partition.name} ({partition.movements} movements,"
                    f" {partition.checkpoints.count()} chains checkpointed)."
                )
            if not detached:
                self.stdout.write(f"No partition before {detach_before} to detach.")

    def _ensure(self, ahead: int) -> bool:
        """One pass; False: nothing is left for an immediate next pass."""
        report = partitions_ensure(ahead=ahead)
        if report.created:
            self.stdout.write(f"Made {', '.join(report.created)}.")
        if report.moved:
            self.stdout.write(f"Moved {report.moved} movements out of the default partition.")
        if not report.created:
            self.stdout.write("The partitions are already made.")
        return False
