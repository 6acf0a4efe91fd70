"""Counts of many products at once, set against the balances as of when they were taken."""

from datetime import timedelta

from django.utils import timezone
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsWarehouse
from catalog.exceptions import UnknownProducts
from core.idempotency import IDEMPOTENCY_HEADER, idempotent
from core.rendering import Renderer
from core.schema import raises
from ledger.apis.locations import LocationField
from ledger.apis.product_lines import ProductLineInput, product_ref
from ledger.exceptions import (
    CountSuperseded,
    DuplicateCount,
    HistoryDetached,
    InsufficientStock,
    InvalidCountedAt,
    InvalidLineCount,
    InvalidQuantity,
    UnknownLocation,
)
from ledger.selectors import location_for_writes
from ledger.stocktakes import MAX_COUNT, MAX_LINES, MAX_REFERENCE_LENGTH, stocktake_create


class CountLineInput(ProductLineInput):
    counted = serializers.IntegerField(min_value=0, max_value=MAX_COUNT)


class CountInput(serializers.Serializer):
    location = LocationField(
        help_text="Where the count was taken (code or id); the default location if left out."
    )
    counted_at = serializers.DateTimeField(
        help_text="When the count was taken: in the past (a minute ahead is taken as now),"
        " at most 7 days ago. Movements recorded after it are not counted over."
    )
    reference = serializers.CharField(
        max_length=MAX_REFERENCE_LENGTH, required=False, allow_blank=True, default=""
    )
    lines = serializers.ListField(
        child=CountLineInput(),
        min_length=1,
        max_length=MAX_LINES,
        help_text=f"1 to {MAX_LINES} lines, one per product.",
    )


class CountLineOutput(serializers.Serializer):
    product = serializers.IntegerField(source="product_id")
    sku = serializers.CharField()
    counted = serializers.IntegerField()
    expected = serializers.IntegerField(help_text="The balance on hand as of counted_at.")
    difference = serializers.IntegerField(help_text="counted - expected: the adjustment.")
    movement = serializers.IntegerField(
        source="movement_id", allow_null=True, help_text="The adjustment; null if none."
    )
    balance_after = serializers.IntegerField(
        allow_null=True, help_text="On hand right after the adjustment; null if none."
    )


class CountOutput(serializers.Serializer):
    id = serializers.IntegerField()
    location = serializers.CharField(source="location.code", help_text="The location's code.")
    counted_at = serializers.DateTimeField()
    reference = serializers.CharField()
    line_count = serializers.IntegerField(help_text="Products counted.")
    adjusted = serializers.IntegerField(help_text="Adjustments posted.")
    created_at = serializers.DateTimeField()
    lines = CountLineOutput(
        many=True, source="stocktake_lines", help_text="One per product, in product-id order."
    )


render_stocktake = Renderer(CountOutput)

# The example's counted_at must be recent to be accepted: minutes before the schema is built.
_EXAMPLE_COUNTED_AT = (timezone.now() - timedelta(minutes=5)).strftime("%Y-%m-%dT%H:%M:%SZ")


class StocktakeCreateApi(APIView):
    permission_classes = (IsWarehouse,)

    @extend_schema(
        request=CountInput,
        responses={
            201: CountOutput,
            **raises(
                UnknownProducts,
                DuplicateCount,
                InvalidCountedAt,
                InvalidLineCount,
                InvalidQuantity,
                UnknownLocation,
                CountSuperseded,
                InsufficientStock,
                HistoryDetached,
            ),
        },
        parameters=[IDEMPOTENCY_HEADER],
        examples=[
            OpenApiExample(
                "Aisle 3, counted a few minutes ago",
                value={
                    "counted_at": _EXAMPLE_COUNTED_AT,
                    "reference": "COUNT-A3",
                    "lines": [{"sku": "TAP-19", "counted": 11}, {"product": 8, "counted": 0}],
                },
                request_only=True,
            )
        ],
    )
    @idempotent
    def post(self, request):
        data = CountInput(data=request.data)
        data.is_valid(raise_exception=True)
        stocktake = stocktake_create(
            location_id=location_for_writes(location=data.validated_data.get("location")),
            counted_at=data.validated_data["counted_at"],
            reference=data.validated_data["reference"],
            lines=[(product_ref(line), line["counted"]) for line in data.validated_data["lines"]],
            actor_id=request.user.id,
        )
        return Response(render_stocktake(stocktake), status=status.HTTP_201_CREATED)
