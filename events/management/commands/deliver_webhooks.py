from django.core.management.base import BaseCommand, CommandError

from core.worker import run_every
from events.delivery import webhooks_deliver


class Command(BaseCommand):
    help = (
        "Send the pending webhook deliveries, in position order per endpoint (failures "
        "retry with backoff, then are dead-lettered). With --loop, repeat until stopped."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--loop", type=float, metavar="SECONDS", help="A pass every SECONDS until SIGTERM."
        )
        parser.add_argument("--limit", type=int, default=100, help="At most this many sends.")

    def handle(self, *args, loop=None, limit=100, **options):
        if limit < 1:
            raise CommandError("--limit must be at least 1.")
        if loop is None:
            self._report(webhooks_deliver(limit=limit))
            return
        if loop <= 0:
            raise CommandError("--loop needs a positive number of seconds.")
        self.stdout.write(f"Delivering webhooks every {loop:g} s (SIGTERM stops).")

        def one_pass(should_stop) -> bool:
            result = webhooks_deliver(limit=limit, should_stop=should_stop)
            if result.attempted:
                self._report(result)
            return result.attempted >= limit

        run_every(seconds=loop, name="deliver_webhooks", one_pass=one_pass)
        self.stdout.write("Stopped.")

    def _report(self, result) -> None:
        self.stdout.write(
            f"{result.delivered} delivered, {result.failed} to retry, {result.dead}"
            f" dead-lettered, {result.disabled} endpoint(s) disabled (410)."
        )
