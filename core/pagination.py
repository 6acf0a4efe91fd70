from django.conf import settings
from rest_framework import pagination


class PageNumberPagination(pagination.PageNumberPagination):
    page_size_query_param = "page_size"
    max_page_size = settings.MAX_PAGE_SIZE


class CursorPagination(pagination.CursorPagination):
    """Keyset pagination: page 10,000 costs what page 1 costs."""

    page_size_query_param = "page_size"
    max_page_size = settings.MAX_PAGE_SIZE
    ordering = "-id"
