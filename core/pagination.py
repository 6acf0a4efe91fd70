from django.conf import settings
from rest_framework import pagination
from rest_framework.exceptions import NotFound, ValidationError


def _positive_int(request, name: str) -> int | None:
    """The query parameter ``name`` as an integer >= 1; None when absent or empty.
    Raises ValidationError naming it otherwise (DRF silently ignores a malformed value,
    which answers a page the client did not ask for)."""
    value = request.query_params.get(name)
    if value in (None, ""):
        return None
    if not value.isascii() or not value.isdigit() or int(value) < 1:
        raise ValidationError({name: ["A positive integer is required."]})
    return int(value)


class _StrictPageSize:
    page_size_query_param = "page_size"
    max_page_size = settings.MAX_PAGE_SIZE

    def get_page_size(self, request):
        """The requested page size, capped at MAX_PAGE_SIZE; a malformed one is a 400."""
        size = _positive_int(request, self.page_size_query_param)
        return self.page_size if size is None else min(size, self.max_page_size)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"]["minimum"] = 1
                parameter["description"] = (
                    f"Results per page ({self.page_size} unless given); at most "
                    f"{self.max_page_size}, larger values are capped."
                )
        return parameters


class PageNumberPagination(_StrictPageSize, pagination.PageNumberPagination):
    def get_page_number(self, request, paginator):
        """A page number >= 1 (or ``last``); anything else is a 400 naming ``page``. A
        page past the end stays a 404."""
        if request.query_params.get(self.page_query_param) in self.last_page_strings:
            return paginator.num_pages
        return _positive_int(request, self.page_query_param) or 1

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_query_param:
                parameter["schema"]["minimum"] = 1
        return parameters


class CursorPagination(_StrictPageSize, pagination.CursorPagination):
    """Keyset pagination: page 10,000 costs what page 1 costs."""

    ordering = "-id"
    invalid_cursor_message = "Invalid cursor."

    def decode_cursor(self, request):
        """DRF checks a cursor's offset but not its position, which is compared with the
        integer id: a forged position would reach the query as a 500."""
        cursor = super().decode_cursor(request)
        if cursor is not None and cursor.position is not None:
            try:
                int(cursor.position)
            except ValueError as exc:
                raise NotFound(self.invalid_cursor_message) from exc
        return cursor
