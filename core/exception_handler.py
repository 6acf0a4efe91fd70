"""The one place where errors become HTTP responses: ``{"code", "detail", ...}``."""

import logging

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import DatabaseError, InterfaceError, InternalError, OperationalError, connections
from django.http import Http404
from rest_framework import exceptions, status
from rest_framework.response import Response

from core import exceptions as domain

logger = logging.getLogger(__name__)

# Domain error class -> HTTP status. The most specific class listed wins (MRO order).
DOMAIN_STATUS: dict[type[domain.DomainError], int] = {
    domain.DomainError: status.HTTP_400_BAD_REQUEST,
    domain.InvalidInput: status.HTTP_400_BAD_REQUEST,
    domain.NotFound: status.HTTP_404_NOT_FOUND,
    domain.Conflict: status.HTTP_409_CONFLICT,
    domain.PreconditionFailed: status.HTTP_412_PRECONDITION_FAILED,
    domain.IdempotencyKeyReused: status.HTTP_422_UNPROCESSABLE_ENTITY,
}


def domain_status(exc: domain.DomainError) -> int:
    for klass in type(exc).__mro__:
        if klass in DOMAIN_STATUS:
            return DOMAIN_STATUS[klass]
    return status.HTTP_400_BAD_REQUEST


# SQLSTATEs of a statement stopped by the connection's limits: lock_not_available
# (lock_timeout) and query_canceled (statement_timeout). The database is up; the rows
# are busy, so a retry soon is likely to succeed.
BUSY_DETAILS = {
    "55P03": "The data is locked by another request; retry soon.",
    "57014": "The database took too long to answer; retry soon.",
}
# A write sent to a read-only node (docs/scaling.md, failover): unavailable, not a bug.
READ_ONLY_SQL_TRANSACTION = "25006"
BUSY_RETRY_AFTER_SECONDS = 2
UNAVAILABLE_RETRY_AFTER_SECONDS = 5


def error_body(code: str, detail: str, **extra) -> dict:
    return {"code": code, "detail": detail, **extra}


def database_error_response(exc: Exception) -> tuple[dict, int, dict] | None:
    """(body, status, headers) for a database error the client may retry: 503 ``busy``
    when a lock or statement timeout stopped it, else 503 ``database_unavailable``.
    None for other database errors, which are bugs (a 500). Used for the API here and
    for the other views by core.middleware.DatabaseErrorMiddleware."""
    # Django wraps the driver's error; the driver's error carries the SQLSTATE.
    sqlstate = getattr(exc.__cause__, "sqlstate", None)
    if isinstance(exc, InternalError) and sqlstate == READ_ONLY_SQL_TRANSACTION:
        # A write on a node that a failover has made a standby, through a connection
        # opened while it was the primary: Django closes it at the end of this request
        # and the next one finds the new primary (target_session_attrs=read-write).
        for wrapper in connections.all(initialized_only=True):
            wrapper.close_at = 0
    elif not isinstance(exc, (OperationalError, InterfaceError)):
        return None
    if sqlstate in BUSY_DETAILS:
        logger.warning("database busy: %s", exc)
        body = error_body("busy", BUSY_DETAILS[sqlstate])
        retry_after = BUSY_RETRY_AFTER_SECONDS
    else:
        logger.warning("database unavailable: %s", exc)
        body = error_body("database_unavailable", "The database is unavailable; retry later.")
        retry_after = UNAVAILABLE_RETRY_AFTER_SECONDS
    return body, status.HTTP_503_SERVICE_UNAVAILABLE, {"Retry-After": str(retry_after)}


def raised_from_database_error(exc: BaseException | None) -> tuple[dict, int, dict] | None:
    """database_error_response for ``exc`` or for the first database error among those
    it was raised from or while handling: Django re-raises some as others (a session
    whose save lost its connection becomes SessionInterrupted, a 400 "bad request")."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, Exception) and (answer := database_error_response(exc)) is not None:
            return answer
        exc = exc.__cause__ or exc.__context__
    return None


def exception_handler(exc, context):
    if isinstance(exc, domain.DomainError):
        headers = {"Retry-After": str(exc.retry_after)} if exc.retry_after else None
        return Response(
            error_body(exc.code, exc.detail, **exc.data),
            status=domain_status(exc),
            headers=headers,
        )
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()
    elif (database_error := database_error_response(exc)) is not None:
        body, status_code, headers = database_error
        return Response(body, status=status_code, headers=headers)
    elif isinstance(exc, DatabaseError):
        return None  # a bug: let it surface as a logged 500
    if not isinstance(exc, exceptions.APIException):
        return None

    headers = {}
    if getattr(exc, "auth_header", None):
        headers["WWW-Authenticate"] = exc.auth_header
    if getattr(exc, "wait", None):
        headers["Retry-After"] = str(int(exc.wait))

    if isinstance(exc, exceptions.ValidationError):
        body = error_body("invalid", "Invalid input.", errors=_field_errors(exc.detail))
    else:
        code = exc.get_codes() if isinstance(exc.get_codes(), str) else exc.default_code
        body = error_body(code, str(exc.detail))
    return Response(body, status=exc.status_code, headers=headers)


def _field_errors(detail):
    """ValidationError details as plain strings: {"field": ["message", ...]} or a list."""
    if isinstance(detail, dict):
        return {key: _field_errors(value) for key, value in detail.items()}
    if isinstance(detail, list):
        return [_field_errors(item) for item in detail]
    return str(detail)
