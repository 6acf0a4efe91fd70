"""Low-stock alerts: the outbox, as warehouse staff and auditors read it."""

from drf_spectacular.utils import extend_schema
from rest_framework import serializers

from accounts.permissions import CanAudit
from core.apis import ListApi
from core.rendering import Renderer
from ledger.filters import StockAlertFilter
from ledger.models import StockAlert
from ledger.selectors import stock_alert_list


class StockAlertOutput(serializers.Serializer):
    id = serializers.IntegerField()
    product = serializers.IntegerField(source="product_id")
    sku = serializers.CharField(source="product.sku")
    movement = serializers.IntegerField(source="movement_id")
    location = serializers.CharField(
        source="movement.location.code", help_text="Where the product ran low."
    )
    on_hand = serializers.IntegerField()
    reorder_level = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    sent_at = serializers.DateTimeField(allow_null=True)
    status = serializers.ChoiceField(choices=("pending", "sent"))
    attempts = serializers.IntegerField()
    last_error = serializers.CharField()


render_alert = Renderer(StockAlertOutput)


class StockAlertListApi(ListApi):
    """Low-stock alerts, newest first: ``status=pending|sent``, ``product=<id>``; each
    names the location where the product ran low.
    Warehouse staff and auditors; customers get 403."""

    permission_classes = (CanAudit,)
    filterset_class = StockAlertFilter
    queryset = StockAlert.objects.none()

    @extend_schema(responses=StockAlertOutput(many=True))
    def get(self, request):
        return self.paginated(stock_alert_list(filters=request.query_params), render_alert)
