from datetime import datetime

from django.db import transaction

from core.models import IdempotencyKey


@transaction.atomic
def idempotency_keys_prune(*, older_than: datetime) -> int:
    """Delete stored idempotent responses created before ``older_than``; returns how many."""
    deleted, _ = IdempotencyKey.objects.filter(created_at__lt=older_than).delete()
    return deleted
