"""Health checks and JSON fallbacks for unknown URLs and server errors."""

from django.db import connection
from django.http import JsonResponse


def healthz(request):
    """The process answers: no database access, for liveness probes."""
    return JsonResponse({"status": "ok"})


def readyz(request):
    """The database answers: 200, else 503 (for readiness probes and load balancers)."""
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except Exception as exc:  # any failure to reach the database means "not ready"
        return JsonResponse(
            {"status": "unavailable", "code": "database_unavailable", "detail": str(exc).strip()},
            status=503,
        )
    return JsonResponse({"status": "ok", "database": "ok"})


def not_found(request, exception=None, **kwargs):
    return JsonResponse({"code": "not_found", "detail": "Not found."}, status=404)


def server_error(request, *args, **kwargs):
    return JsonResponse(
        {"code": "server_error", "detail": "An unexpected error occurred."}, status=500
    )
