from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import extend_schema
from rest_framework import serializers
from rest_framework.views import APIView

from accounts.permissions import CanAudit
from core.pagination import PageNumberPagination
from ledger.alerts import StockAlertFilter, stock_alert_list
from ledger.models import StockAlert


class StockAlertOutput(serializers.Serializer):
    id = serializers.IntegerField()
    product = serializers.IntegerField(source="product_id")
    sku = serializers.CharField(source="product.sku")
    movement = serializers.IntegerField(source="movement_id")
    on_hand = serializers.IntegerField()
    reorder_level = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    sent_at = serializers.DateTimeField(allow_null=True)
    status = serializers.ChoiceField(choices=("pending", "sent"))
    attempts = serializers.IntegerField()
    last_error = serializers.CharField()


class StockAlertListApi(APIView):
    """Low-stock alerts, newest first: ``status=pending|sent``, ``product=<id>``.
    Warehouse staff and auditors; customers get 403."""

    permission_classes = (CanAudit,)
    pagination_class = PageNumberPagination
    filterset_class = StockAlertFilter
    # Read by the OpenAPI schema only (the query goes through the selector), so that it
    # documents the filters and the page envelope.
    filter_backends = (DjangoFilterBackend,)
    queryset = StockAlert.objects.none()

    @extend_schema(responses=StockAlertOutput(many=True))
    def get(self, request):
        paginator = self.pagination_class()
        page = paginator.paginate_queryset(
            stock_alert_list(filters=request.query_params), request, view=self
        )
        return paginator.get_paginated_response(StockAlertOutput(page, many=True).data)
