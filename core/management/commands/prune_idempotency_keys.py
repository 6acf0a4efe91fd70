from datetime import timedelta

from django.conf import settings
from django.core.management.base import BaseCommand
from django.utils import timezone

from core.services import idempotency_keys_prune

MINIMUM_RETENTION = timedelta(hours=24)


class Command(BaseCommand):
    help = "Delete stored Idempotency-Key responses older than IDEMPOTENCY_KEY_TTL_HOURS."

    def add_arguments(self, parser):
        parser.add_argument("--hours", type=float, help="retention period (at least 24)")

    def handle(self, *args, hours=None, **options):
        ttl = timedelta(hours=hours) if hours is not None else settings.IDEMPOTENCY_KEY_TTL
        if ttl < MINIMUM_RETENTION:
            self.stderr.write("Keys are kept at least 24 hours; using 24.")
            ttl = MINIMUM_RETENTION
        deleted = idempotency_keys_prune(older_than=timezone.now() - ttl)
        self.stdout.write(f"Deleted {deleted} idempotency key(s) older than {ttl}.")
