"""Warehouse writes: restocks, adjustments and stocktakes, each one posting."""

from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsWarehouse
from accounts.roles import Role, has_role
from catalog.exceptions import ProductNotFound
from core.fastpath import FastWrite, only_keys, plain_int, plain_text
from core.fields import NonZeroIntegerField
from core.idempotency import IDEMPOTENCY_HEADER, idempotent
from core.schema import raises
from ledger.apis.conditional import IF_MATCH_HEADER, etag, expected_version, with_etag
from ledger.apis.locations import LocationField
from ledger.apis.output import MovementOutput, render_movement
from ledger.checked_restock import stock_restock_checked
from ledger.exceptions import InsufficientStock, InvalidIfMatch, UnknownLocation, VersionMismatch
from ledger.models import AdjustmentReason
from ledger.selectors import location_for_writes
from ledger.services import stock_adjust, stock_restock, stock_take


class _StockWriteApi(APIView):
    permission_classes = (IsWarehouse,)

    def created(self, movement) -> Response:
        # The balance's new version: a client can post again with it in If-Match.
        return with_etag(
            Response(render_movement(movement), status=status.HTTP_201_CREATED), movement.seq
        )

    @staticmethod
    def arguments(request, data: serializers.Serializer) -> dict:
        """The service's arguments: the validated input, with the location named by code
        or id turned into the id to post at (UnknownLocation if missing or archived),
        and the version If-Match asks for (InvalidIfMatch if malformed)."""
        arguments = dict(data.validated_data)
        arguments["location_id"] = location_for_writes(location=arguments.pop("location", None))
        arguments["expected_version"] = expected_version(request)
        return arguments


class RestockApi(_StockWriteApi):
    class RestockInput(serializers.Serializer):
        quantity = serializers.IntegerField(min_value=1, max_value=10**9)
        reference = serializers.CharField(
            max_length=200, required=False, allow_blank=True, default=""
        )
        note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
        location = LocationField()

    @extend_schema(
        request=RestockInput,
        responses={
            201: MovementOutput,
            **raises(ProductNotFound, UnknownLocation, VersionMismatch, InvalidIfMatch),
        },
        parameters=[IDEMPOTENCY_HEADER, IF_MATCH_HEADER],
        examples=[
            OpenApiExample(
                "Goods received",
                value={"quantity": 48, "reference": "DN-2211", "note": "2 cartons of 24"},
                request_only=True,
            )
        ],
    )
    @idempotent
    def post(self, request, product_id: int):
        data = self.RestockInput(data=request.data)
        data.is_valid(raise_exception=True)
        return self.created(
            stock_restock(
                product_id=product_id, actor_id=request.user.id, **self.arguments(request, data)
            )
        )


def _restock_values(data) -> dict:
    """The plain restock's input (quantity, reference, note) for core.fastpath, as
    RestockApi's serializer would take it; else NotForFastPath."""
    values = only_keys(data, frozenset({"quantity"}), frozenset({"reference", "note"}))
    return {
        "quantity": plain_int(values["quantity"], 1, 10**9),
        "reference": plain_text(values.get("reference", ""), 200),
        "note": plain_text(values.get("note", ""), 2000),
    }


def _restocked(movement) -> tuple:
    return render_movement(movement), status.HTTP_201_CREATED, {"ETag": etag(movement.seq)}


def _restock_fast(user, data, *, product_id: int) -> tuple:
    """The plain restock for core.fastpath: the same service and output as RestockApi."""
    values = _restock_values(data)
    return _restocked(stock_restock(product_id=product_id, actor_id=user.id, **values))


def _restock_checked(check, data, *, product_id: int) -> tuple | None:
    """_restock_fast for a token its statement checks (ledger.checked_restock)."""
    movement = stock_restock_checked(check=check, product_id=product_id, **_restock_values(data))
    return None if movement is None else _restocked(movement)


restock_view = FastWrite(
    drf_view=RestockApi.as_view(),
    allowed=lambda user: has_role(user, Role.WAREHOUSE),
    handle=_restock_fast,
    allow="POST, OPTIONS",
    handle_checked=_restock_checked,
).as_view()


class AdjustmentApi(_StockWriteApi):
    class AdjustmentInput(serializers.Serializer):
        quantity = NonZeroIntegerField(
            min_value=-(10**9),
            max_value=10**9,
            error_messages={"zero": "An adjustment cannot be zero."},
            help_text="Units added (positive) or removed (negative); never 0.",
        )
        reason = serializers.ChoiceField(
            choices=[r for r in AdjustmentReason.values if r != AdjustmentReason.STOCKTAKE]
        )
        reference = serializers.CharField(
            max_length=200, required=False, allow_blank=True, default=""
        )
        note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
        location = LocationField()

    @extend_schema(
        request=AdjustmentInput,
        responses={
            201: MovementOutput,
            **raises(
                ProductNotFound, InsufficientStock, UnknownLocation, VersionMismatch, InvalidIfMatch
            ),
        },
        parameters=[IDEMPOTENCY_HEADER, IF_MATCH_HEADER],
        examples=[
            OpenApiExample(
                "Damaged in the warehouse",
                value={"quantity": -2, "reason": "damaged", "note": "crushed carton"},
                request_only=True,
            )
        ],
    )
    @idempotent
    def post(self, request, product_id: int):
        data = self.AdjustmentInput(data=request.data)
        data.is_valid(raise_exception=True)
        return self.created(
            stock_adjust(
                product_id=product_id, actor_id=request.user.id, **self.arguments(request, data)
            )
        )


class StocktakeApi(_StockWriteApi):
    class StocktakeInput(serializers.Serializer):
        counted = serializers.IntegerField(min_value=0, max_value=10**12)
        note = serializers.CharField(max_length=2000, required=False, allow_blank=True, default="")
        location = LocationField()

    class StocktakeUnchanged(serializers.Serializer):
        movement = serializers.JSONField(allow_null=True)
        detail = serializers.CharField()

    @extend_schema(
        request=StocktakeInput,
        responses={
            201: MovementOutput,
            200: StocktakeUnchanged,
            **raises(
                ProductNotFound, InsufficientStock, UnknownLocation, VersionMismatch, InvalidIfMatch
            ),
        },
        parameters=[IDEMPOTENCY_HEADER, IF_MATCH_HEADER],
        examples=[
            OpenApiExample(
                "A shelf count",
                value={"counted": 105, "note": "aisle 3, counted twice"},
                request_only=True,
            )
        ],
    )
    @idempotent
    def post(self, request, product_id: int):
        data = self.StocktakeInput(data=request.data)
        data.is_valid(raise_exception=True)
        movement = stock_take(
            product_id=product_id, actor_id=request.user.id, **self.arguments(request, data)
        )
        if movement is None:
            return Response(
                {"movement": None, "detail": "The count matches the balance; nothing was posted."}
            )
        return self.created(movement)
