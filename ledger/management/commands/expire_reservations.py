import logging
import signal
import threading

from django.core.management.base import BaseCommand, CommandError
from django.db import InterfaceError, OperationalError, close_old_connections, connection

from ledger.reservations import EXPIRY_BATCH, reservations_expire

logger = logging.getLogger(__name__)


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
        stop = threading.Event()
        # SIGTERM (docker stop) ends the loop between two batches, never inside one.
        previous = signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
        self.stdout.write(f"Expiring overdue reservations every {seconds:g} s (SIGTERM stops).")
        try:
            while not stop.is_set():
                # A long-lived process gets no request signals: drop connections past
                # CONN_MAX_AGE (or broken ones) here, as a request would.
                close_old_connections()
                try:
                    expired = self._pass(batch, should_stop=stop.is_set)
                except (OperationalError, InterfaceError) as error:
                    # The database is down or restarting: keep the worker alive and retry.
                    logger.warning("expire_reservations: database unavailable: %s", error)
                    connection.close()
                    expired = 0
                if expired:
                    self.stdout.write(f"Expired {expired} reservation(s).")
                stop.wait(seconds)
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
        self.stdout.write("Stopped.")
