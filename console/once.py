"""Form posts that take effect once: each rendered form carries a fresh key (a hidden
field), and a post is recorded under it in the same transaction as its effect, in the
API's idempotency table (core.models.IdempotencyKey) under a ``console:`` prefix. A
double click or a reload of the post therefore finds the record and is sent to the
first post's result instead of posting again."""

import hashlib
import uuid

from django.db import connection, transaction

from core.idempotency import MAX_KEY_LENGTH, _advisory_lock_id
from core.models import IdempotencyKey

FIELD = "form_key"
PREFIX = "console:"


class KeyReused(Exception):
    """The key came back with other values: the form was submitted, then changed."""


def new_key() -> str:
    return uuid.uuid4().hex


def fingerprint(request) -> str:
    values = sorted(
        (name, value)
        for name, values in request.POST.lists()
        if name not in ("csrfmiddlewaretoken", FIELD)
        for value in values
    )
    return hashlib.sha256(repr((request.path, values)).encode()).hexdigest()


def post_once(request, action) -> str | None:
    """Run ``action()`` (which posts through a service and returns the address to go to
    next) unless this form's key was posted before: then return that post's address
    without running it. Returns None for a post without a usable key (the caller shows
    the form again).

    Takes a transaction-scoped advisory lock on (user, key) and waits for it, so a
    duplicate arriving while the first post runs sees its record once it commits.
    Raises KeyReused if the key was posted with other values; whatever ``action`` raises
    (then nothing is recorded, and the form may be posted again).
    """
    key = request.POST.get(FIELD, "")
    if not 0 < len(PREFIX + key) <= MAX_KEY_LENGTH or not key.isalnum():
        return None
    key = PREFIX + key
    digest = fingerprint(request)
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_advisory_xact_lock(%s)", [_advisory_lock_id(request.user.pk, key)]
            )
        # A statement after the lock: its snapshot sees what the previous holder wrote.
        record = IdempotencyKey.objects.filter(user=request.user, key=key).first()
        if record is not None:
            if record.request_hash != digest:
                raise KeyReused()
            return record.response_body
        location = action()
        IdempotencyKey.objects.create(
            user=request.user,
            key=key,
            request_hash=digest,
            status_code=303,
            response_body=location,
        )
        return location
