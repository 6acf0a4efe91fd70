"""``Idempotency-Key`` support for write endpoints.

The same key and body from the same user replays the first response without a second
effect; the same key with another body is refused (422); a request arriving while the
first is still running is refused (409) instead of waiting for it.
"""

import functools
import hashlib
import json
from collections.abc import Callable
from typing import TypeVar

from django.db import connection, transaction
from django.http import HttpResponse
from drf_spectacular.utils import OpenApiParameter
from rest_framework.renderers import JSONRenderer

from core.exceptions import IdempotencyKeyInUse, IdempotencyKeyReused, InvalidIdempotencyKey
from core.models import IdempotencyKey

R = TypeVar("R")

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255

# The header as the OpenAPI schema documents it, on every write that honours it.
IDEMPOTENCY_HEADER = OpenApiParameter(
    HEADER,
    {"type": "string", "minLength": 1, "maxLength": MAX_KEY_LENGTH},
    OpenApiParameter.HEADER,
    description=(
        "Repeat a write safely: the same key and body from the same user replay the first "
        "response (header `Idempotent-Replayed: true`) without a second effect. 1 to "
        f"{MAX_KEY_LENGTH} characters, e.g. a UUID."
    ),
)


def _advisory_lock_id(user_id: int, key: str) -> int:
    digest = hashlib.sha256(f"{user_id}:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


def fingerprint(method: str, path: str, data) -> str:
    """What identifies a request's effect: its method, path and (canonical) body."""
    body = json.dumps(data, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(f"{method} {path}\n{body}".encode()).hexdigest()


def run_once(
    *, user, key: str, request_hash: Callable[[], str], run: Callable[[], R], stored: Callable
) -> R:
    """Run the write ``run`` once per (user, ``key``): the first time, in a transaction
    that also records its answer when ``stored(result)`` (status, body) is a 2xx; after
    that (same body), an HttpResponse replaying the recorded answer instead.
    ``request_hash()`` gives the request's fingerprint, once the key is known valid.

    Takes a transaction-scoped advisory lock on (user, key) with a try-lock, so a
    concurrent duplicate is refused at once instead of waiting. Raises
    InvalidIdempotencyKey, IdempotencyKeyInUse, IdempotencyKeyReused (another body);
    whatever ``run`` raises rolls it back with the rest (no record: a retry is safe).
    """
    if not key or len(key) > MAX_KEY_LENGTH:
        raise InvalidIdempotencyKey(f"{HEADER} must be 1 to {MAX_KEY_LENGTH} characters.")
    digest = request_hash()
    with transaction.atomic():
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT pg_try_advisory_xact_lock(%s)", [_advisory_lock_id(user.pk, key)]
            )
            if not cursor.fetchone()[0]:
                raise IdempotencyKeyInUse()
        # A separate statement after the lock, so its snapshot sees a record that the
        # previous holder of the lock committed.
        record = IdempotencyKey.objects.filter(user=user, key=key).first()
        if record is not None:
            if record.request_hash != digest:
                raise IdempotencyKeyReused()
            response = HttpResponse(
                record.response_body, status=record.status_code, content_type="application/json"
            )
            response["Idempotent-Replayed"] = "true"
            return response
        result = run()
        status, body = stored(result)
        if 200 <= status < 300:
            IdempotencyKey.objects.create(
                user=user,
                key=key,
                request_hash=digest,
                status_code=status,
                response_body=JSONRenderer().render(body).decode(),
            )
        return result


def idempotent(view_method):
    """Decorate an APIView write method so that it honours ``Idempotency-Key``
    (run_once). Error responses are not stored: the request had no effect, so retrying
    it with the same key is safe."""

    @functools.wraps(view_method)
    def wrapper(self, request, *args, **kwargs):
        key = request.headers.get(HEADER)
        if key is None:
            return view_method(self, request, *args, **kwargs)
        return run_once(
            user=request.user,
            key=key,
            request_hash=lambda: fingerprint(request.method, request.path, request.data),
            run=lambda: view_method(self, request, *args, **kwargs),
            stored=lambda response: (response.status_code, response.data),
        )

    return wrapper
