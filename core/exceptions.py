"""Domain errors: each has a stable ``code``; core.exception_handler maps them to HTTP."""

from typing import Any


class DomainError(Exception):
    """Base of every business-rule error. Subclasses set ``code`` and ``detail``."""

    code = "domain_error"
    detail = "The request breaks a business rule."
    # Seconds after which a retry may succeed (the Retry-After header), if it may.
    retry_after: int | None = None
    # The body's other fields, as the API documentation's example shows them.
    schema_example: dict[str, Any] = {}

    def __init__(self, detail: str | None = None, **data: Any) -> None:
        self.detail = detail or self.detail
        self.data = data
        super().__init__(self.detail)


class InvalidInput(DomainError):
    """The request is well-formed but names something unusable (HTTP 400)."""

    code = "invalid"


class InvalidIdempotencyKey(InvalidInput):
    code = "invalid_idempotency_key"


class NotFound(DomainError):
    code = "not_found"
    detail = "Not found."


class Conflict(DomainError):
    """The request conflicts with the current state (HTTP 409)."""

    code = "conflict"


class PreconditionFailed(DomainError):
    """A conditional request's precondition (If-Match) does not hold (HTTP 412)."""

    code = "precondition_failed"


class IdempotencyKeyInUse(Conflict):
    code = "idempotency_key_in_use"
    detail = "A request with this Idempotency-Key is still being processed."
    retry_after = 1


class IdempotencyKeyReused(DomainError):
    code = "idempotency_key_reused"
    detail = "This Idempotency-Key was used with a different request."
