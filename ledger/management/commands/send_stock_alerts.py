from django.core.management.base import BaseCommand, CommandError

from core.worker import run_every
from ledger.alerts import SendResult, stock_alerts_send


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
        self.stdout.write(f"Sending low-stock alerts every {seconds:g} s (SIGTERM stops).")

        def one_pass(should_stop) -> bool:
            result = stock_alerts_send(limit=limit, should_stop=should_stop)
            self._report(result, quiet=True)
            return result.sent >= limit  # a full pass may have left more: go again now

        run_every(seconds=seconds, name="send_stock_alerts", one_pass=one_pass)
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
