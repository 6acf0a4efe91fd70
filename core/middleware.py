from django.conf import settings
from django.http import JsonResponse

from core.exception_handler import database_error_response


class RequestSizeLimitMiddleware:
    """Refuse bodies over MAX_REQUEST_BODY_BYTES with a JSON 413.

    DRF's parsers read the request stream directly, bypassing Django's
    DATA_UPLOAD_MAX_MEMORY_SIZE check, so the limit is applied here from Content-Length.
    """

    def __init__(self, get_response):
        self.get_response = get_response
        self.limit = settings.MAX_REQUEST_BODY_BYTES

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            return JsonResponse(
                {"code": "invalid_content_length", "detail": "Content-Length is not a number."},
                status=400,
            )
        if length > self.limit:
            return JsonResponse(
                {
                    "code": "request_too_large",
                    "detail": f"The request body is over {self.limit} bytes.",
                },
                status=413,
            )
        return self.get_response(request)


class DatabaseErrorMiddleware:
    """A database that is down or busy makes a JSON 503 on the views outside the API
    (the admin), as it does on the API, instead of a 500. process_exception sees only
    the views' errors; those of middleware get the same answer from core.views.server_error."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        database_error = database_error_response(exception)
        if database_error is None:
            return None
        body, status, headers = database_error
        return JsonResponse(body, status=status, headers=headers)
