"""Transfers between locations: warehouse staff send, receive and cancel them; auditors
and warehouse staff read them."""

from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import AuditReadsWarehouseWrites
from catalog.exceptions import UnknownProducts
from core.apis import ListApi
from core.filtering import MAX_ID
from core.idempotency import IDEMPOTENCY_HEADER, idempotent
from core.rendering import Renderer
from core.schema import raises
from ledger.apis.locations import LocationField
from ledger.exceptions import (
    InsufficientStock,
    InvalidQuantity,
    TransferNotFound,
    TransferNotInTransit,
    TransferQuantityExceeded,
    TransferSameLocation,
    TransferTooLarge,
    UnknownLocation,
)
from ledger.filters import TransferFilter
from ledger.models import Transfer
from ledger.reservations import merge_lines
from ledger.selectors import location_for_transfers, transfer_get, transfer_list
from ledger.transfers import (
    MAX_LINES,
    MAX_QUANTITY,
    transfer_cancel,
    transfer_create,
    transfer_receive,
)


def _keywords_unescaped(fields):
    """Fields named after Python keywords are declared with a trailing underscore
    (``from_``); the API names them without it (``from``)."""
    return {name.rstrip("_"): field for name, field in fields.items()}


class TransferLineOutput(serializers.Serializer):
    product = serializers.IntegerField(source="product_id")
    sku = serializers.CharField(source="product.sku")
    quantity = serializers.IntegerField(help_text="Units sent.")
    received = serializers.IntegerField(help_text="Units put on the destination's shelf.")
    cancelled = serializers.IntegerField(help_text="Units returned to the origin by a cancel.")
    outstanding = serializers.IntegerField(
        help_text="Units still in transit: quantity - received - cancelled."
    )


render_line = Renderer(TransferLineOutput)


class TransferOutput(serializers.Serializer):
    id = serializers.IntegerField()
    from_ = serializers.CharField(source="from_location.code", help_text="The origin's code.")
    to = serializers.CharField(source="to_location.code", help_text="The destination's code.")
    status = serializers.CharField(help_text="in_transit, received or cancelled.")
    reference = serializers.CharField()
    created_by = serializers.IntegerField(source="created_by_id")
    created_at = serializers.DateTimeField()
    closed_at = serializers.DateTimeField(
        allow_null=True, help_text="When it was received in full or cancelled."
    )
    lines = serializers.SerializerMethodField()

    def get_fields(self):
        return _keywords_unescaped(super().get_fields())

    @extend_schema_field(TransferLineOutput(many=True))
    def get_lines(self, transfer) -> list[dict]:
        # From the service that wrote them (no query), or from the list's prefetch.
        lines = getattr(transfer, "prefetched_lines", None)
        return render_line.many(transfer.lines.all() if lines is None else lines)


render_transfer = Renderer(TransferOutput)


class TransferLineInput(serializers.Serializer):
    product = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    quantity = serializers.IntegerField(min_value=1, max_value=MAX_QUANTITY)


def _lines_field(**kwargs) -> serializers.Field:
    return TransferLineInput(
        many=True,
        allow_empty=False,
        max_length=MAX_LINES,
        help_text=f"1 to {MAX_LINES} lines; lines of the same product are added up.",
        **kwargs,
    )


def _merged(lines) -> dict[int, int]:
    return merge_lines((line["product"], line["quantity"]) for line in lines)


class TransferListCreateApi(ListApi):
    permission_classes = (AuditReadsWarehouseWrites,)
    filterset_class = TransferFilter
    queryset = Transfer.objects.none()

    class TransferInput(serializers.Serializer):
        from_ = LocationField(required=True, help_text="The origin: a location's code or id.")
        to = LocationField(required=True, help_text="The destination: a location's code or id.")
        lines = _lines_field()
        reference = serializers.CharField(
            max_length=200, required=False, allow_blank=True, default=""
        )

        def get_fields(self):
            return _keywords_unescaped(super().get_fields())

    @extend_schema(responses=TransferOutput(many=True))
    def get(self, request):
        return self.paginated(transfer_list(filters=request.query_params), render_transfer)

    @extend_schema(
        request=TransferInput,
        responses={
            201: TransferOutput,
            **raises(
                UnknownLocation,
                TransferSameLocation,
                TransferTooLarge,
                InvalidQuantity,
                UnknownProducts,
                InsufficientStock,
            ),
        },
        parameters=[IDEMPOTENCY_HEADER],
        examples=[
            OpenApiExample(
                "Restock a shop from the warehouse",
                value={
                    "from": "MAIN",
                    "to": "STORE-2",
                    "lines": [{"product": 1, "quantity": 2}],
                    "reference": "TR-1001",
                },
                request_only=True,
            )
        ],
    )
    @idempotent
    def post(self, request):
        data = self.TransferInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        transfer = transfer_create(
            from_location_id=location_for_transfers(location=values["from"]).id,
            to_location_id=location_for_transfers(location=values["to"]).id,
            lines=[(line["product"], line["quantity"]) for line in values["lines"]],
            actor_id=request.user.id,
            reference=values["reference"],
        )
        return Response(render_transfer(transfer), status=status.HTTP_201_CREATED)


class TransferDetailApi(APIView):
    permission_classes = (AuditReadsWarehouseWrites,)

    @extend_schema(responses={200: TransferOutput, **raises(TransferNotFound)})
    def get(self, request, transfer_id: int):
        return Response(render_transfer(transfer_get(transfer_id=transfer_id)))


class TransferReceiveApi(APIView):
    """Put units in transit on the destination's shelf: the lines given, or everything
    still in transit. Receiving the last unit closes the transfer as received."""

    permission_classes = (AuditReadsWarehouseWrites,)

    class ReceiveInput(serializers.Serializer):
        lines = _lines_field(required=False)

    @extend_schema(
        request=ReceiveInput,
        responses={
            200: TransferOutput,
            **raises(
                TransferNotFound,
                TransferNotInTransit,
                TransferQuantityExceeded,
                TransferTooLarge,
                InvalidQuantity,
                UnknownLocation,
            ),
        },
        parameters=[IDEMPOTENCY_HEADER],
        examples=[
            OpenApiExample(
                "Part of a line",
                value={"lines": [{"product": 1, "quantity": 1}]},
                request_only=True,
            ),
            OpenApiExample("Everything still in transit", value={}, request_only=True),
        ],
    )
    @idempotent
    def post(self, request, transfer_id: int):
        data = self.ReceiveInput(data=request.data)
        data.is_valid(raise_exception=True)
        lines = data.validated_data.get("lines")
        transfer = transfer_receive(
            transfer_id=transfer_id,
            actor_id=request.user.id,
            lines=None if lines is None else _merged(lines),
        )
        return Response(render_transfer(transfer))


class TransferCancelApi(APIView):
    """Return what is still in transit to the origin; what was received stays."""

    permission_classes = (AuditReadsWarehouseWrites,)

    @extend_schema(
        request=None,
        responses={
            200: TransferOutput,
            **raises(TransferNotFound, TransferNotInTransit, UnknownLocation),
        },
        parameters=[IDEMPOTENCY_HEADER],
    )
    @idempotent
    def post(self, request, transfer_id: int):
        return Response(
            render_transfer(transfer_cancel(transfer_id=transfer_id, actor_id=request.user.id))
        )
