from django.conf import settings
from rest_framework import pagination
from rest_framework.exceptions import NotFound


class PageNumberPagination(pagination.PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = settings.MAX_PAGE_SIZE


class CursorPagination(pagination.CursorPagination):
    """Keyset pagination: page 10,000 costs what page 1 costs."""

    page_size_query_param = "page_size"
    max_page_size = settings.MAX_PAGE_SIZE
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
