from django.core.management.base import BaseCommand, CommandError

from core.worker import run_every
from ledger.reservations import EXPIRY_BATCH, reservations_expire


class Command(BaseCommand):
    help = (
        "Give back the units of held reservations past their expiry: an expiry movement "
        "per line, in batches (one transaction each). With --loop, repeat until stopped."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--loop",
            type=float,
            metavar="SECONDS",
            help="Run a pass every SECONDS until SIGTERM or Ctrl-C.",
        )
        parser.add_argument(
            "--batch",
            type=int,
            default=EXPIRY_BATCH,
            help=f"Reservations per transaction (default {EXPIRY_BATCH}).",
        )

    def handle(self, *args, loop=None, batch=EXPIRY_BATCH, **options):
        if batch < 1:
            raise CommandError("--batch must be at least 1.")
        if loop is None:
            self.stdout.write(f"Expired {self._pass(batch)} reservation(s).")
            return
        if loop <= 0:
            raise CommandError("--loop needs a positive number of seconds.")
        self._loop(seconds=loop, batch=batch)

    def _pass(self, batch: int, should_stop=None) -> int:
        """Expire batch after batch until one comes back short: the overdue holds as of
        each batch's start, the ones other workers hold locked left to them."""
        expired = 0
        while not (should_stop and should_stop()):
            done = reservations_expire(limit=batch)
            expired += done
            if done < batch:
                break
        return expired

    def _loop(self, *, seconds: float, batch: int) -> None:
        self.stdout.write(f"Expiring overdue reservations every {seconds:g} s (SIGTERM stops).")

        def one_pass(should_stop) -> bool:
            expired = self._pass(batch, should_stop=should_stop)
            if expired:
                self.stdout.write(f"Expired {expired} reservation(s).")
            return False

        run_every(seconds=seconds, name="expire_reservations", one_pass=one_pass)
        self.stdout.write("Stopped.")
