import logging
import signal
import threading

from django.core.management.base import BaseCommand, CommandError
from django.db import InterfaceError, OperationalError, close_old_connections, connection

from ledger.alerts import SendResult, stock_alerts_send

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = (
        "Mail the pending low-stock alerts to LOW_STOCK_ALERT_EMAILS, one email each. "
        "Failed ones stay pending for the next run. With --loop, repeat until stopped."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--loop",
            type=float,
            metavar="SECONDS",
            help="Run a pass every SECONDS until SIGTERM or Ctrl-C.",
        )
        parser.add_argument(
            "--limit", type=int, default=100, help="At most this many emails per pass."
        )

    def handle(self, *args, loop=None, limit=100, **options):
        if limit < 1:
            raise CommandError("--limit must be at least 1.")
        if loop is None:
            self._report(stock_alerts_send(limit=limit), quiet=False)
            return
        if loop <= 0:
            raise CommandError("--loop needs a positive number of seconds.")
        self._loop(seconds=loop, limit=limit)

    def _loop(self, *, seconds: float, limit: int) -> None:
        stop = threading.Event()
        # SIGTERM (docker stop) ends the loop between two alerts, never mid-send.
        previous = signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
        self.stdout.write(f"Sending low-stock alerts every {seconds:g} s (SIGTERM stops).")
        try:
            while not stop.is_set():
                # A long-lived process gets no request signals: drop connections past
                # CONN_MAX_AGE (or broken ones) here, as a request would.
                close_old_connections()
                try:
                    result = stock_alerts_send(limit=limit, should_stop=stop.is_set)
                except (OperationalError, InterfaceError) as error:
                    # The database is down or restarting: keep the worker alive and retry.
                    logger.warning("send_stock_alerts: database unavailable: %s", error)
                    connection.close()
                    result = SendResult()
                self._report(result, quiet=True)
                if result.sent < limit:  # a full pass may have left more: go again now
                    stop.wait(seconds)
        except KeyboardInterrupt:
            pass
        finally:
            signal.signal(signal.SIGTERM, previous)
        self.stdout.write("Stopped.")

    def _report(self, result: SendResult, *, quiet: bool) -> None:
        if result.held and not quiet:  # the loop leaves this to the service's log warning
            self.stderr.write(
                f"{result.held} alert(s) pending, none sent: LOW_STOCK_ALERT_EMAILS is empty."
            )
        if quiet and not (result.sent or result.failed):
            return
        message = f"Sent {result.sent} alert(s), {result.failed} failed."
        if result.failed:
            message += " The failed alert stays pending and is retried on the next run."
        self.stdout.write(message)
