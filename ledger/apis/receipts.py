"""Whole deliveries: warehouse staff receive many products at once (or check a receipt
with ``?dry_run=true``); auditors and warehouse staff read a receipt back."""

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import CanAudit, IsWarehouse
from accounts.roles import Role, has_role
from catalog.exceptions import UnknownProducts
from core.fastpath import FastWrite, NotForFastPath, only_keys, plain_int, plain_text
from core.filtering import MAX_ID
from core.idempotency import IDEMPOTENCY_HEADER, idempotent
from core.rendering import Renderer
from core.schema import raises
from ledger.apis.locations import LocationField
from ledger.apis.product_lines import SKU_MAX_LENGTH, ProductLineInput, product_ref
from ledger.exceptions import (
    InvalidLineCount,
    InvalidQuantity,
    ReceiptNotFound,
    UnknownLocation,
)
from ledger.receipts import (
    MAX_LINE_QUANTITY,
    MAX_LINES,
    MAX_REFERENCE_LENGTH,
    receipt_create,
    receipt_create_checked,
    receipt_get,
)
from ledger.selectors import location_for_writes


class ReceiptLineInput(ProductLineInput):
    quantity = serializers.IntegerField(min_value=1, max_value=MAX_LINE_QUANTITY)


class ReceiptInput(serializers.Serializer):
    location = LocationField(
        help_text="Where the goods arrive (code or id); the default location if left out."
    )
    reference = serializers.CharField(
        max_length=MAX_REFERENCE_LENGTH, help_text="The delivery's reference, e.g. its note."
    )
    # A ListField of a small serializer: 5,000 lines validate in 85-150 ms (bench/receipts.py).
    lines = serializers.ListField(
        child=ReceiptLineInput(),
        min_length=1,
        max_length=MAX_LINES,
        help_text=f"1 to {MAX_LINES} lines; lines naming the same product are added up.",
    )


class DryRunQuery(serializers.Serializer):
    dry_run = serializers.BooleanField(default=False)


DRY_RUN = OpenApiParameter(
    "dry_run",
    OpenApiTypes.BOOL,
    OpenApiParameter.QUERY,
    description=(
        "true: check everything the receipt would check, write nothing and answer 200 with"
        " what would be posted (no ids; balance_after is what each balance would become)."
        " A dry run ignores Idempotency-Key: it has no effect to replay."
    ),
)


class ReceiptLineOutput(serializers.Serializer):
    product = serializers.IntegerField(source="product_id")
    sku = serializers.CharField()
    quantity = serializers.IntegerField()
    movement = serializers.IntegerField(
        source="movement_id", allow_null=True, help_text="The restock movement; null in a dry run."
    )
    balance_after = serializers.IntegerField(
        help_text="On hand at the location right after this line (in a dry run: it would be)."
    )


class ReceiptOutput(serializers.Serializer):
    id = serializers.IntegerField(allow_null=True, help_text="null in a dry run.")
    location = serializers.CharField(source="location.code", help_text="The location's code.")
    reference = serializers.CharField()
    line_count = serializers.IntegerField(help_text="Products received (after merging lines).")
    units = serializers.IntegerField()
    created_at = serializers.DateTimeField(allow_null=True, help_text="null in a dry run.")
    lines = ReceiptLineOutput(
        many=True, source="receipt_lines", help_text="One per product, in product-id order."
    )


render_receipt = Renderer(ReceiptOutput)


class ReceiptCreateApi(APIView):
    permission_classes = (IsWarehouse,)

    @extend_schema(
        request=ReceiptInput,
        responses={
            201: ReceiptOutput,
            200: ReceiptOutput,
            **raises(UnknownProducts, InvalidLineCount, InvalidQuantity, UnknownLocation),
        },
        parameters=[DRY_RUN, IDEMPOTENCY_HEADER],
        examples=[
            OpenApiExample(
                "A delivery of three products",
                value={
                    "reference": "DN-2211",
                    "location": "MAIN",
                    "lines": [
                        {"sku": "PEN-BLU", "quantity": 100},
                        {"product": 3, "quantity": 40},
                        {"sku": "MRK-BLK", "quantity": 24},
                        {"sku": "PEN-BLU", "quantity": 20},
                    ],
                },
                request_only=True,
            )
        ],
    )
    def post(self, request):
        query = DryRunQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        if query.validated_data["dry_run"]:
            return Response(render_receipt(self._receipt(request, dry_run=True)))
        return self._create(request)

    @idempotent
    def _create(self, request):
        receipt = self._receipt(request, dry_run=False)
        return Response(render_receipt(receipt), status=status.HTTP_201_CREATED)

    @staticmethod
    def _receipt(request, *, dry_run: bool):
        data = ReceiptInput(data=request.data)
        data.is_valid(raise_exception=True)
        return receipt_create(
            location_id=location_for_writes(location=data.validated_data.get("location")),
            reference=data.validated_data["reference"],
            lines=[(product_ref(line), line["quantity"]) for line in data.validated_data["lines"]],
            actor_id=request.user.id,
            dry_run=dry_run,
        )


_BY_ID, _BY_SKU = frozenset({"product", "quantity"}), frozenset({"sku", "quantity"})


def _plain_line(line) -> tuple[int | str, int]:
    if type(line) is dict and line.keys() == _BY_ID:
        product = plain_int(line["product"], 1, MAX_ID)
    else:
        product = plain_text(only_keys(line, _BY_SKU)["sku"], SKU_MAX_LENGTH, allow_blank=False)
    return product, plain_int(line["quantity"], 1, MAX_LINE_QUANTITY)


def _receipt_values(data) -> dict:
    """The plain receipt's input (reference and lines, at the default location) for
    core.fastpath, as ReceiptCreateApi's serializer would take it; else NotForFastPath."""
    values = only_keys(data, frozenset({"reference", "lines"}))
    lines = values["lines"]
    if type(lines) is not list or not 1 <= len(lines) <= MAX_LINES:
        raise NotForFastPath(lines)
    return {
        "reference": plain_text(values["reference"], MAX_REFERENCE_LENGTH, allow_blank=False),
        "lines": [_plain_line(line) for line in lines],
    }


def _receipt_fast(user, data) -> tuple:
    """The plain receipt for core.fastpath: the same service and output as
    ReceiptCreateApi."""
    receipt = receipt_create(location_id=None, actor_id=user.id, **_receipt_values(data))
    return render_receipt(receipt), status.HTTP_201_CREATED, {}


def _receipt_checked(check, data) -> tuple | None:
    """_receipt_fast for a token the receipt's first statement checks."""
    receipt = receipt_create_checked(check=check, **_receipt_values(data))
    return None if receipt is None else (render_receipt(receipt), status.HTTP_201_CREATED, {})


receipt_view = FastWrite(
    drf_view=ReceiptCreateApi.as_view(),
    allowed=lambda user: has_role(user, Role.WAREHOUSE),
    handle=_receipt_fast,
    allow="POST, OPTIONS",
    handle_checked=_receipt_checked,
).as_view()


class ReceiptDetailApi(APIView):
    permission_classes = (CanAudit,)

    @extend_schema(responses={200: ReceiptOutput, **raises(ReceiptNotFound)})
    def get(self, request, receipt_id: int):
        return Response(render_receipt(receipt_get(receipt_id=receipt_id)))
