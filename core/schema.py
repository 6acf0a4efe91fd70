"""The OpenAPI schema's error responses and limits, documented once for every operation.

Every error is a JSON body ``{"code", "detail", ...}`` (core.exception_handler). The
AutoSchema below adds to each operation the error statuses it can answer with, judged
from what the operation is, so that views do not repeat them:

- every operation: 503 (the database is unavailable or busy);
- authenticated: 401; behind a role rule (a permission beyond IsAuthenticated): 403;
- with input (a body, query or header parameters): 400; with a body: 413 and 415; with
  query parameters: 414 (a request line too long for gunicorn);
- with path parameters or pages: 404;
- honouring ``Idempotency-Key``: 409 and 422;
- throttled: 429;

and, with ``raises(...)`` in a view's ``extend_schema(responses=...)``, the domain
errors that view raises, each under the status core.exception_handler gives it.
"""

from dataclasses import dataclass, field

from drf_spectacular import openapi
from drf_spectacular.plumbing import is_list_serializer
from drf_spectacular.utils import OpenApiResponse
from rest_framework import serializers
from rest_framework.permissions import AllowAny, IsAuthenticated

from core.exception_handler import DOMAIN_STATUS
from core.exceptions import DomainError
from core.idempotency import HEADER as IDEMPOTENCY_HEADER

# --- The error body -------------------------------------------------------------------


class ShortLine(serializers.Serializer):
    product = serializers.IntegerField()
    requested = serializers.IntegerField()
    available = serializers.IntegerField()


class Error(serializers.Serializer):
    """Every error response. ``code`` is stable (see the response's description for
    the codes of each status); the other fields come with some codes only."""

    code = serializers.CharField(help_text="Stable and snake_case: what went wrong.")
    detail = serializers.CharField(help_text="A sentence for people.")
    errors = serializers.JSONField(
        required=False,
        help_text='`invalid`: the messages per field or query parameter, `{"field": ["..."]}`.',
    )
    lines = ShortLine(
        many=True,
        required=False,
        help_text="`insufficient_stock`, `product_out_of_stock`: every short line;"
        " `transfer_quantity_exceeded`: every line asked for beyond what is still in transit"
        " (`available`);"
        " `exceeds_reservation`: each line beyond what is held (`available`: units held).",
    )
    field = serializers.CharField(
        required=False, help_text="`product_exists`: `sku` or `name`, whichever is taken."
    )
    products = serializers.ListField(
        child=serializers.IntegerField(),
        required=False,
        help_text="`unknown_product`: the ids that do not exist or are archived (for a"
        " transfer: do not exist); `duplicate_count`: the products counted twice;"
        " `count_superseded`: the products counted again since.",
    )
    skus = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="`unknown_product` (receipts, stocktakes): the skus that name no product"
        " (or an archived one, in a receipt).",
    )
    counted_at = serializers.DateTimeField(
        required=False, help_text="`invalid_counted_at`: the instant given."
    )
    now = serializers.DateTimeField(
        required=False, help_text="`invalid_counted_at`: the server's time when it was checked."
    )
    receipt = serializers.IntegerField(required=False, help_text="`receipt_not_found`: the id.")
    product = serializers.IntegerField(required=False, help_text="`product_not_found`: the id.")
    order = serializers.IntegerField(
        required=False, help_text="`order_not_found`, `order_not_cancellable`: the id."
    )
    movement = serializers.IntegerField(required=False, help_text="`movement_not_found`: the id.")
    transfer = serializers.IntegerField(
        required=False,
        help_text="`transfer_not_found`, `transfer_not_in_transit`,"
        " `transfer_quantity_exceeded`: the id.",
    )
    reservation = serializers.IntegerField(
        required=False, help_text="`reservation_not_found`, `reservation_not_held`: the id."
    )
    status = serializers.CharField(
        required=False,
        help_text="`transfer_not_in_transit`: the transfer's status;"
        " `reservation_not_held`: the reservation's status now (committed, released,"
        " expired).",
    )
    location = serializers.CharField(
        required=False,
        help_text="`unknown_location`, `location_not_found`: the code or id given;"
        " `location_exists`, `location_not_empty`, `default_location`,"
        " `location_has_transfers`, `transfer_same_location`: the code.",
    )
    on_hand = serializers.IntegerField(
        required=False, help_text="`location_not_empty`: the units on hand there."
    )
    reserved = serializers.IntegerField(
        required=False, help_text="`location_not_empty`: the units reserved there."
    )
    incoming = serializers.IntegerField(
        required=False, help_text="`location_not_empty`: the units on their way there."
    )


@dataclass(frozen=True)
class ErrorCode:
    status: int
    code: str
    detail: str
    example: dict = field(default_factory=dict)  # the body's other fields, for the example

    def body(self) -> dict:
        return {"code": self.code, "detail": self.detail, **self.example}


INVALID = ErrorCode(
    400, "invalid", "Invalid input.", {"errors": {"quantity": ["This field is required."]}}
)
PARSE_ERROR = ErrorCode(400, "parse_error", "JSON parse error - Expecting value.")
INVALID_KEY = ErrorCode(
    400, "invalid_idempotency_key", "Idempotency-Key must be 1 to 255 characters."
)
NOT_AUTHENTICATED = ErrorCode(
    401, "not_authenticated", "Authentication credentials were not provided."
)
AUTHENTICATION_FAILED = ErrorCode(401, "authentication_failed", "Invalid token.")
TOKEN_EXPIRED = ErrorCode(401, "token_expired", "The token has expired.")
PERMISSION_DENIED = ErrorCode(
    403, "permission_denied", "You do not have permission to perform this action."
)
NOT_FOUND = ErrorCode(404, "not_found", "Not found.")
KEY_IN_USE = ErrorCode(
    409, "idempotency_key_in_use", "A request with this Idempotency-Key is still being processed."
)
TOO_LARGE = ErrorCode(413, "request_too_large", "The request body is over 1000000 bytes.")
URI_TOO_LONG = ErrorCode(  # from gunicorn, before the application (config/server_errors.py)
    414, "uri_too_long", "URI Too Long: Request Line is too large (5000 > 4094)"
)
UNSUPPORTED_MEDIA_TYPE = ErrorCode(
    415, "unsupported_media_type", 'Unsupported media type "text/plain" in request.'
)
KEY_REUSED = ErrorCode(
    422, "idempotency_key_reused", "This Idempotency-Key was used with a different request."
)
THROTTLED = ErrorCode(429, "throttled", "Request was throttled. Expected available in 6 seconds.")
DATABASE_UNAVAILABLE = ErrorCode(
    503, "database_unavailable", "The database is unavailable; retry later."
)
BUSY = ErrorCode(503, "busy", "The database is busy; retry later.")

STATUS_TITLES = {
    400: "Bad request",
    401: "Not signed in, or the token is invalid or expired",
    403: "The user's role may not do this",
    404: "Not found",
    409: "Conflict with the current state",
    413: "Request body too large",
    414: "Request line (path and query) over 4094 bytes",
    415: "Request body not JSON",
    422: "Idempotency-Key reused with another request",
    429: "Too many requests",
    503: "Unavailable for now; retry after Retry-After seconds",
}
RETRY_AFTER = {
    "Retry-After": {
        "schema": {"type": "integer"},
        "description": "Seconds to wait before retrying.",
    }
}


def _domain_status(error: type[DomainError]) -> int:
    for klass in error.__mro__:
        if klass in DOMAIN_STATUS:
            return DOMAIN_STATUS[klass]
    return 400


def raises(*errors: type[DomainError] | ErrorCode) -> dict[int, OpenApiResponse]:
    """The error responses of domain errors (and other ErrorCodes) a view raises, for
    ``extend_schema(responses={...})``. A domain error may carry a ``schema_example``
    (its body's other fields) for the documented example."""
    declared: dict[int, list[ErrorCode]] = {}
    for error in errors:
        if not isinstance(error, ErrorCode):
            error = ErrorCode(
                _domain_status(error),
                error.code,
                error.detail,
                getattr(error, "schema_example", {}),
            )
        declared.setdefault(error.status, []).append(error)
    return {status: DeclaredErrors(codes) for status, codes in declared.items()}


class DeclaredErrors(OpenApiResponse):
    def __init__(self, codes: list[ErrorCode]) -> None:
        super().__init__(Error, description=", ".join(f"`{c.code}`" for c in codes))
        self.codes = codes


# --- The schema generator --------------------------------------------------------------


class AutoSchema(openapi.AutoSchema):
    def get_operation(self, path, path_regex, path_prefix, method, registry):
        operation = super().get_operation(path, path_regex, path_prefix, method, registry)
        if operation is None:
            return None
        declared = self.get_response_serializers()
        declared = [
            code
            for response in (declared.values() if isinstance(declared, dict) else ())
            if isinstance(response, DeclaredErrors)
            for code in response.codes
        ]
        codes: dict[int, list[ErrorCode]] = {}
        for error in self._common_errors(operation) + declared:
            if error not in codes.setdefault(error.status, []):
                codes[error.status].append(error)
        error_schema = self.resolve_serializer(Error, "response").ref
        for parameter in operation.get("parameters", []):
            if parameter["in"] == "query" and not parameter.get("required"):
                # An empty value means "not given" (django-filter, DRF and our pages agree).
                parameter["allowEmptyValue"] = True
            if parameter["in"] == "path" and parameter.get("examples"):
                # One example value for a path parameter ("examples" and "example" exclude
                # each other), which "Try it out" and the examples test use.
                first = next(iter(parameter.pop("examples").values()))
                parameter["example"] = first["value"]
            if parameter["in"] == "path" and parameter["name"].endswith("_id"):
                # Ids start at 1: "Try it out" opens on the first product, order or
                # movement (of the demo data, for one).
                parameter.setdefault(
                    "example", 1 if parameter["schema"]["type"] == "integer" else "1"
                )
        responses = operation["responses"]
        for status in sorted(codes):
            # Replaces what the view's raises() gave: the same body, with every code.
            responses[str(status)] = self._error_response(status, codes[status], error_schema)
        operation["responses"] = dict(sorted(responses.items()))
        return operation

    def _common_errors(self, operation: dict) -> list[ErrorCode]:
        view = self.view
        parameters = operation.get("parameters", [])
        has_body = "requestBody" in operation
        idempotent = any(
            p["in"] == "header" and p["name"] == IDEMPOTENCY_HEADER for p in parameters
        )
        permissions = getattr(view, "permission_classes", ())
        errors: list[ErrorCode] = []
        if has_body or any(p["in"] in ("query", "header") for p in parameters):
            errors.append(INVALID)
        if any(p["in"] == "query" for p in parameters):
            errors.append(URI_TOO_LONG)
        if has_body:
            errors += [PARSE_ERROR, TOO_LARGE, UNSUPPORTED_MEDIA_TYPE]
        if idempotent:
            errors += [INVALID_KEY, KEY_IN_USE, KEY_REUSED]
        if any(not issubclass(p, AllowAny) for p in permissions):
            errors += [NOT_AUTHENTICATED, AUTHENTICATION_FAILED, TOKEN_EXPIRED]
        if any(p not in (AllowAny, IsAuthenticated) for p in permissions):
            errors.append(PERMISSION_DENIED)
        if any(p["in"] == "path" for p in parameters) or (
            self._is_list_view() and self._get_paginator() is not None
        ):
            errors.append(NOT_FOUND)
        if getattr(view, "throttle_classes", ()):
            errors.append(THROTTLED)
        return [*errors, DATABASE_UNAVAILABLE, BUSY]

    @staticmethod
    def _error_response(status: int, codes: list[ErrorCode], schema: dict) -> dict:
        listed = ", ".join(f"`{c.code}`" for c in codes)
        response = {
            "description": f"{STATUS_TITLES.get(status, 'Error')}: {listed}.",
            "content": {
                "application/json": {
                    "schema": schema,
                    "examples": {c.code: {"value": c.body()} for c in codes},
                }
            },
        }
        if status in (409, 429, 503):
            response["headers"] = RETRY_AFTER
        return response

    def _map_serializer_field(self, field, direction, bypass_extensions=False):
        """Lists also document their length limits: drf-spectacular leaves out a nested
        serializer's ``many=True`` limits and ``allow_empty=False``."""
        schema = super()._map_serializer_field(field, direction, bypass_extensions)
        is_list = is_list_serializer(field) or isinstance(field, serializers.ListField)
        if schema is None or not is_list:
            return schema
        if not field.allow_empty:
            schema["minItems"] = max(schema.get("minItems", 0), 1)
        if getattr(field, "min_length", None) is not None:
            schema["minItems"] = max(schema.get("minItems", 0), field.min_length)
        if getattr(field, "max_length", None) is not None:
            schema["maxItems"] = field.max_length
        return schema
