import csv

from django.http import StreamingHttpResponse
from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import CanAudit, IsWarehouse
from core.apis import ListApi
from core.db import report_rows
from core.idempotency import idempotent
from core.pagination import CursorPagination
from core.rendering import Renderer
from ledger.filters import MovementFilter, StockAlertFilter
from ledger.models import AdjustmentReason, Movement, StockAlert
from ledger.selectors import (
    balance_as_of,
    balance_current,
    movement_get,
    movement_list,
    stock_alert_list,
)
from ledger.services import stock_adjust, stock_restock, stock_take

IDEMPOTENCY_HEADER = OpenApiParameter(
    "Idempotency-Key",
    OpenApiTypes.STR,
    OpenApiParameter.HEADER,
    description="Repeat a write safely: the same key and body replay the first response.",
)


class MovementOutput(serializers.Serializer):
    id = serializers.IntegerField()
    product = serializers.IntegerField(source="product_id")
    kind = serializers.CharField()
    quantity = serializers.IntegerField()
    reason = serializers.CharField()
    seq = serializers.IntegerField()
    balance_after = serializers.IntegerField()
    recorded_at = serializers.DateTimeField()
    actor = serializers.IntegerField(source="actor_id", allow_null=True)
    reference = serializers.CharField()
    note = serializers.CharField()
    order_line = serializers.IntegerField(source="order_line_id", allow_null=True)
    reverses = serializers.IntegerField(source="reverses_id", allow_null=True)


class MovementListOutput(MovementOutput):
    sku = serializers.CharField(source="product.sku")
    order = serializers.IntegerField(source="order_id", allow_null=True)


render_movement = Renderer(MovementOutput)
render_movement_row = Renderer(MovementListOutput)


class _StockWriteApi(APIView):
    permission_classes = (IsWarehouse,)

    def created(self, movement) -> Response:
        return Response(render_movement(movement), status=status.HTTP_201_CREATED)


class RestockApi(_StockWriteApi):
    class RestockInput(serializers.Serializer):
        quantity = serializers.IntegerField(min_value=1, max_value=10**9)
        reference = serializers.CharField(max_length=200, required=False, default="")
        note = serializers.CharField(max_length=2000, required=False, default="")

    @extend_schema(
        request=RestockInput, responses={201: MovementOutput}, parameters=[IDEMPOTENCY_HEADER]
    )
    @idempotent
    def post(self, request, product_id: int):
        data = self.RestockInput(data=request.data)
        data.is_valid(raise_exception=True)
        return self.created(
            stock_restock(product_id=product_id, actor_id=request.user.id, **data.validated_data)
        )


class AdjustmentApi(_StockWriteApi):
    class AdjustmentInput(serializers.Serializer):
        quantity = serializers.IntegerField(min_value=-(10**9), max_value=10**9)
        reason = serializers.ChoiceField(
            choices=[r for r in AdjustmentReason.values if r != AdjustmentReason.STOCKTAKE]
        )
        reference = serializers.CharField(max_length=200, required=False, default="")
        note = serializers.CharField(max_length=2000, required=False, default="")

        def validate_quantity(self, value):
            if value == 0:
                raise serializers.ValidationError("An adjustment cannot be zero.")
            return value

    @extend_schema(
        request=AdjustmentInput, responses={201: MovementOutput}, parameters=[IDEMPOTENCY_HEADER]
    )
    @idempotent
    def post(self, request, product_id: int):
        data = self.AdjustmentInput(data=request.data)
        data.is_valid(raise_exception=True)
        return self.created(
            stock_adjust(product_id=product_id, actor_id=request.user.id, **data.validated_data)
        )


class StocktakeApi(_StockWriteApi):
    class StocktakeInput(serializers.Serializer):
        counted = serializers.IntegerField(min_value=0, max_value=10**12)
        note = serializers.CharField(max_length=2000, required=False, default="")

    class StocktakeUnchanged(serializers.Serializer):
        movement = serializers.JSONField(allow_null=True)
        detail = serializers.CharField()

    @extend_schema(
        request=StocktakeInput,
        responses={201: MovementOutput, 200: StocktakeUnchanged},
        parameters=[IDEMPOTENCY_HEADER],
    )
    @idempotent
    def post(self, request, product_id: int):
        data = self.StocktakeInput(data=request.data)
        data.is_valid(raise_exception=True)
        movement = stock_take(
            product_id=product_id, actor_id=request.user.id, **data.validated_data
        )
        if movement is None:
            return Response(
                {"movement": None, "detail": "The count matches the balance; nothing was posted."}
            )
        return self.created(movement)


class MovementListApi(ListApi):
    """Movement history, newest first, with keyset (cursor) pagination."""

    permission_classes = (CanAudit,)
    pagination_class = CursorPagination
    filterset_class = MovementFilter
    queryset = Movement.objects.none()

    @extend_schema(responses=MovementListOutput(many=True))
    def get(self, request):
        return self.paginated(movement_list(filters=request.query_params), render_movement_row)


class MovementDetailApi(APIView):
    permission_classes = (CanAudit,)

    @extend_schema(responses=MovementListOutput)
    def get(self, request, movement_id: int):
        return Response(render_movement_row(movement_get(movement_id=movement_id)))


class _Echo:
    def write(self, value):
        return value


EXPORT_COLUMNS = (
    "id",
    "product",
    "sku",
    "kind",
    "quantity",
    "reason",
    "seq",
    "balance_after",
    "recorded_at",
    "actor",
    "reference",
    "order",
    "order_line",
    "reverses",
    "note",
)


class MovementExportApi(APIView):
    """Every matching movement as CSV, streamed from a server-side cursor: no page limit
    and bounded memory."""

    permission_classes = (CanAudit,)
    filterset_class = MovementFilter
    filter_backends = (DjangoFilterBackend,)  # for the schema's filter parameters
    queryset = Movement.objects.none()

    @extend_schema(responses={(200, "text/csv"): OpenApiTypes.STR})
    def get(self, request):
        movements = movement_list(filters=request.query_params)
        writer = csv.writer(_Echo())

        def rows():
            yield writer.writerow(EXPORT_COLUMNS)
            for m in report_rows(movements.iterator(chunk_size=2000)):
                yield writer.writerow(
                    (
                        m.id,
                        m.product_id,
                        m.product.sku,
                        m.kind,
                        m.quantity,
                        m.reason,
                        m.seq,
                        m.balance_after,
                        m.recorded_at.isoformat(),
                        m.actor_id or "",
                        m.reference,
                        m.order_id or "",
                        m.order_line_id or "",
                        m.reverses_id or "",
                        m.note,
                    )
                )

        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        response = StreamingHttpResponse(rows(), content_type="text/csv; charset=utf-8")
        response["Content-Disposition"] = f'attachment; filename="movements-{stamp}.csv"'
        return response


class BalanceApi(APIView):
    """A product's balance now, or as of a past instant (``?as_of=`` ISO 8601)."""

    permission_classes = (CanAudit,)

    class BalanceQuery(serializers.Serializer):
        as_of = serializers.DateTimeField(required=False)

    class BalanceOutput(serializers.Serializer):
        product = serializers.IntegerField()
        on_hand = serializers.IntegerField()
        seq = serializers.IntegerField()
        as_of = serializers.DateTimeField()

    @extend_schema(parameters=[BalanceQuery], responses=BalanceOutput)
    def get(self, request, product_id: int):
        query = self.BalanceQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        as_of = query.validated_data.get("as_of")
        if as_of is None:
            balance = balance_current(product_id=product_id)
        else:
            balance = balance_as_of(product_id=product_id, as_of=as_of)
        return Response(self.BalanceOutput(balance).data)


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


render_alert = Renderer(StockAlertOutput)


class StockAlertListApi(ListApi):
    """Low-stock alerts, newest first: ``status=pending|sent``, ``product=<id>``.
    Warehouse staff and auditors; customers get 403."""

    permission_classes = (CanAudit,)
    filterset_class = StockAlertFilter
    queryset = StockAlert.objects.none()

    @extend_schema(responses=StockAlertOutput(many=True))
    def get(self, request):
        return self.paginated(stock_alert_list(filters=request.query_params), render_alert)
