from django_filters.rest_framework import DjangoFilterBackend
from rest_framework.views import APIView

from core.pagination import PageNumberPagination
from core.rendering import Renderer


# A list endpoint: the view's selector builds the queryset; ListApi pages and renders
# it. filter_backends, filterset_class and queryset (a .none() of the model) are read by
# the OpenAPI schema only, so that it documents the filters and the page envelope; the
# filtering itself happens in the selector. (Comments, not a docstring: drf-spectacular
# would publish a docstring as every list's description.)
class ListApi(APIView):
    pagination_class = PageNumberPagination
    filter_backends = (DjangoFilterBackend,)

    def paginated(self, queryset, render: Renderer):
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(queryset, self.request, view=self)
        return paginator.get_paginated_response(render.many(page))
