"""Health checks and JSON fallbacks for unknown URLs and server errors."""

import logging
import sys
from functools import wraps

from django.db import connection
from django.http import JsonResponse
from django.views.decorators.csrf import csrf_exempt

from core.exception_handler import raised_from_database_error

logger = logging.getLogger(__name__)


def json_endpoint(view):
    """GET and HEAD only, answered in JSON whatever the method (these views take no
    input, so CSRF does not apply: without the exemption a POST would get Django's HTML
    403 page)."""

    @csrf_exempt
    @wraps(view)
    def wrapper(request, *args, **kwargs):
        if request.method not in ("GET", "HEAD"):
            response = JsonResponse(
                {"code": "method_not_allowed", "detail": f'Method "{request.method}" not allowed.'},
                status=405,
            )
            response["Allow"] = "GET, HEAD"
            return response
        return view(request, *args, **kwargs)

    return wrapper


@json_endpoint
def healthz(request):
    """The process answers: no database access, for liveness probes."""
    return JsonResponse({"status": "ok"})


@json_endpoint
def readyz(request):
    """The database answers: 200, else 503 (for readiness probes and load balancers)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception:  # any failure to reach the database means "not ready"
        # The driver's message names hosts and socket paths: for the log, not the client.
        logger.warning("readiness check failed", exc_info=True)
        return JsonResponse(
            {
                "status": "unavailable",
                "code": "database_unavailable",
                "detail": "The database is unavailable.",
            },
            status=503,
            headers={"Retry-After": "5"},
        )
    return JsonResponse({"status": "ok", "database": "ok"})


@csrf_exempt
def not_found(request, exception=None, **kwargs):
    return JsonResponse({"code": "not_found", "detail": "Not found."}, status=404)


def bad_request(request, exception=None, **kwargs):
    """Django's own 400s (an unknown Host, too many fields), in the API's format. A
    database error that Django reports as one (the session's save after the view lost its
    connection: SessionInterrupted) answers its 503 (core.exception_handler)."""
    if (database_error := raised_from_database_error(exception)) is not None:
        return _database_unavailable(database_error)
    return JsonResponse({"code": "bad_request", "detail": "Bad request."}, status=400)


def permission_denied(request, exception=None, **kwargs):
    return JsonResponse(
        {"code": "permission_denied", "detail": "You do not have permission to do this."},
        status=403,
    )


def server_error(request, *args, **kwargs):
    """Django's handler500 (DEBUG off), called while the exception is being handled.

    A database error that a client may retry (core.exception_handler) answers its JSON
    503 here too: raised outside a view, by a middleware (the session saved after the
    view) or anything else outside DRF's handler, it reaches neither that handler nor
    DatabaseErrorMiddleware.process_exception, and a lost connection is never a 500.
    (Under ASGI Django calls this view on another thread, which does not know the
    exception; the event feed's process serves token-authenticated reads, for which no
    middleware reaches the database.)"""
    if (database_error := raised_from_database_error(sys.exc_info()[1])) is not None:
        return _database_unavailable(database_error)
    return JsonResponse(
        {"code": "server_error", "detail": "An unexpected error occurred."}, status=500
    )


def _database_unavailable(database_error: tuple[dict, int, dict]) -> JsonResponse:
    body, status, headers = database_error
    return JsonResponse(body, status=status, headers=headers)
