from drf_spectacular.utils import OpenApiExample, extend_schema, extend_schema_field
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import CanPlaceOrders
from accounts.roles import Role, has_role
from core.apis import ListApi
from core.fastpath import FastWrite, NotForFastPath, only_keys, plain_int
from core.filtering import MAX_ID
from core.idempotency import IDEMPOTENCY_HEADER, idempotent
from core.rendering import Renderer
from core.schema import raises
from ledger.apis.locations import LocationField
from ledger.exceptions import (
    ExceedsReservation,
    HistoryDetached,
    InsufficientStock,
    ReservationNotFound,
    ReservationNotHeld,
    UnknownLocation,
)
from ledger.selectors import location_for_writes
from ordering.exceptions import (
    OrderNotCancellable,
    OrderNotFound,
    OrderTooLarge,
    UnknownProducts,
)
from ordering.filters import OrderFilter
from ordering.models import Order
from ordering.selectors import order_get, order_list
from ordering.services import (
    MAX_LINES,
    MAX_UNITS,
    order_cancel,
    order_place,
    order_place_checked,
)


def lines_of(order):
    """The order's lines: from placement (no query) or from the list's prefetch."""
    return getattr(order, "prefetched_lines", None) or order.lines.all()


class OrderLineOutput(serializers.Serializer):
    product = serializers.IntegerField(source="product_id")
    sku = serializers.CharField(source="product.sku")
    name = serializers.CharField(source="product.name")
    quantity = serializers.IntegerField()
    unit_price = serializers.DecimalField(max_digits=12, decimal_places=2)
    line_total = serializers.DecimalField(max_digits=14, decimal_places=2)


class OrderOutput(serializers.Serializer):
    id = serializers.IntegerField()
    customer = serializers.IntegerField(source="customer_id")
    status = serializers.CharField()
    created_at = serializers.DateTimeField()
    cancelled_at = serializers.DateTimeField(allow_null=True)
    lines = serializers.SerializerMethodField()
    total = serializers.DecimalField(max_digits=14, decimal_places=2)

    @extend_schema_field(OrderLineOutput(many=True))
    def get_lines(self, order) -> list[dict]:
        return render_line.many(lines_of(order))


render_line = Renderer(OrderLineOutput)
render_order = Renderer(OrderOutput)


class OrderLineInput(serializers.Serializer):
    product = serializers.IntegerField(min_value=1)
    quantity = serializers.IntegerField(min_value=1, max_value=MAX_UNITS)


class OrderInput(serializers.Serializer):
    lines = OrderLineInput(
        many=True,
        allow_empty=False,
        max_length=MAX_LINES,
        required=False,
        help_text=(
            f"1 to {MAX_LINES} lines; lines of the same product are added up, and all lines "
            f"together hold at most {MAX_UNITS} units. Required without `reservation`; with "
            "it, the units taken of each held product (at most those held; the rest is "
            "given back), or leave out to take everything held."
        ),
    )
    location = LocationField(
        help_text="Where the units are taken from (code or id); the default location if left"
        " out. Not with `reservation` (its units are taken where they are held)."
    )
    reservation = serializers.IntegerField(
        min_value=1,
        max_value=MAX_ID,
        required=False,
        help_text="Place the order from this held reservation (your own; warehouse staff:"
        " anyone's). The order is placed for the reservation's customer, and commits it.",
    )

    def validate(self, attrs):
        if "reservation" not in attrs and not attrs.get("lines"):
            raise serializers.ValidationError({"lines": ["This field is required."]})
        if "reservation" in attrs and "location" in attrs:
            raise serializers.ValidationError(
                {"location": ["An order from a reservation takes the units where they are held."]}
            )
        return attrs


def visible_customer(request) -> int | None:
    """Customers see their own orders; warehouse staff and auditors see all (None)."""
    if has_role(request.user, Role.WAREHOUSE, Role.AUDITOR):
        return None
    return request.user.id


class OrderListCreateApi(ListApi):
    permission_classes = (CanPlaceOrders,)
    filterset_class = OrderFilter
    queryset = Order.objects.none()

    @extend_schema(responses=OrderOutput(many=True))
    def get(self, request):
        orders = order_list(customer_id=visible_customer(request), filters=request.query_params)
        return self.paginated(orders, render_order)

    @extend_schema(
        request=OrderInput,
        responses={
            201: OrderOutput,
            **raises(
                UnknownProducts,
                OrderTooLarge,
                InsufficientStock,
                UnknownLocation,
                ReservationNotFound,
                ReservationNotHeld,
                ExceedsReservation,
            ),
        },
        parameters=[IDEMPOTENCY_HEADER],
        examples=[
            OpenApiExample(
                "Two products",
                value={"lines": [{"product": 1, "quantity": 2}, {"product": 3, "quantity": 1}]},
                request_only=True,
            )
        ],
    )
    @idempotent
    def post(self, request):
        data = OrderInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        order = order_place(
            customer_id=request.user.id,
            lines=[(line["product"], line["quantity"]) for line in values.get("lines", ())],
            location_id=location_for_writes(location=values.get("location")),
            reservation_id=values.get("reservation"),
            any_reservation=has_role(request.user, Role.WAREHOUSE),
        )
        return Response(render_order(order), status=status.HTTP_201_CREATED)


class OrderDetailApi(APIView):
    permission_classes = (CanPlaceOrders,)

    @extend_schema(responses={200: OrderOutput, **raises(OrderNotFound)})
    def get(self, request, order_id: int):
        order = order_get(order_id=order_id, customer_id=visible_customer(request))
        return Response(render_order(order))


class OrderCancelApi(APIView):
    """Cancel a placed order: its customer or warehouse staff."""

    permission_classes = (CanPlaceOrders,)

    @extend_schema(
        request=None,
        responses={
            200: OrderOutput,
            **raises(OrderNotFound, OrderNotCancellable, HistoryDetached),
        },
        parameters=[IDEMPOTENCY_HEADER],
    )
    @idempotent
    def post(self, request, order_id: int):
        staff = has_role(request.user, Role.WAREHOUSE)
        order = order_cancel(
            order_id=order_id,
            actor_id=request.user.id,
            customer_id=None if staff else request.user.id,
        )
        return Response(render_order(order))


_LINE_KEYS = frozenset({"product", "quantity"})


def _order_lines(data) -> list[tuple[int, int]]:
    """The plain order's lines (lines only) for core.fastpath, as
    OrderListCreateApi's serializer would take them; else NotForFastPath."""
    lines = only_keys(data, frozenset({"lines"}))["lines"]
    if type(lines) is not list or not 1 <= len(lines) <= MAX_LINES:
        raise NotForFastPath(lines)
    return [
        (plain_int(line["product"], 1, MAX_ID), plain_int(line["quantity"], 1, MAX_UNITS))
        for line in (only_keys(line, _LINE_KEYS) for line in lines)
    ]


def _order_fast(user, data) -> tuple:
    """The plain order for core.fastpath: the same service and output as
    OrderListCreateApi.post."""
    order = order_place(
        customer_id=user.id,
        lines=_order_lines(data),
        any_reservation=has_role(user, Role.WAREHOUSE),
    )
    return render_order(order), status.HTTP_201_CREATED, {}


def _order_checked(check, data) -> tuple | None:
    """_order_fast for a token the order's statement checks (order_place_checked)."""
    order = order_place_checked(check=check, lines=_order_lines(data))
    return None if order is None else (render_order(order), status.HTTP_201_CREATED, {})


order_list_view = FastWrite(
    drf_view=OrderListCreateApi.as_view(),
    allowed=lambda user: has_role(user, Role.CUSTOMER, Role.WAREHOUSE),
    handle=_order_fast,
    allow="GET, POST, HEAD, OPTIONS",
    handle_checked=_order_checked,
).as_view()
