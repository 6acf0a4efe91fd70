"""Reservations: customers hold units for themselves, warehouse staff for anyone; each
resolves once, by a commit, a release or its expiry. Auditors read them all."""

from django.contrib.auth import get_user_model
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    extend_schema,
    extend_schema_field,
)
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import CanPlaceOrders
from accounts.roles import Role, has_role
from catalog.exceptions import UnknownProducts
from core.apis import ListApi
from core.filtering import MAX_ID
from core.idempotency import IDEMPOTENCY_HEADER, idempotent
from core.rendering import Renderer
from core.schema import raises
from ledger.apis.locations import LocationField
from ledger.exceptions import (
    ExceedsReservation,
    InsufficientStock,
    InvalidQuantity,
    InvalidTtl,
    ReservationNotFound,
    ReservationNotHeld,
    UnknownLocation,
)
from ledger.filters import ReservationFilter
from ledger.models import Reservation
from ledger.reservations import (
    DEFAULT_TTL_SECONDS,
    MAX_LINES,
    MAX_TTL_SECONDS,
    MAX_UNITS,
    reservation_commit,
    reservation_create,
    reservation_release,
)
from ledger.selectors import location_for_writes, reservation_get, reservation_list


def lines_of(reservation) -> list:
    """The reservation's lines: from the write (no query) or from the list's prefetch."""
    lines = getattr(reservation, "prefetched_lines", None)
    return lines if lines is not None else reservation.lines.all()


class ReservationLineOutput(serializers.Serializer):
    product = serializers.IntegerField(source="product_id")
    quantity = serializers.IntegerField(help_text="Units held.")
    committed = serializers.IntegerField(help_text="Units taken by the commit (0 until then).")


class ReservationOutput(serializers.Serializer):
    id = serializers.IntegerField()
    status = serializers.ChoiceField(
        source="current_status",
        choices=["held", "committed", "released", "expired"],
        help_text="A hold past expires_at reads expired at once.",
    )
    location = serializers.CharField(source="location.code")
    customer = serializers.IntegerField(source="customer_id")
    lines = serializers.SerializerMethodField()
    reference = serializers.CharField()
    created_at = serializers.DateTimeField()
    expires_at = serializers.DateTimeField()
    resolved_at = serializers.DateTimeField(
        allow_null=True,
        help_text="When its commit, release or expiry was posted (an overdue hold reads"
        " expired before its expiry is posted).",
    )

    @extend_schema_field(ReservationLineOutput(many=True))
    def get_lines(self, reservation) -> list[dict]:
        return render_line.many(lines_of(reservation))


render_line = Renderer(ReservationLineOutput)
render_reservation = Renderer(ReservationOutput)


class ReservationLineInput(serializers.Serializer):
    product = serializers.IntegerField(min_value=1, max_value=MAX_ID)
    quantity = serializers.IntegerField(min_value=1, max_value=MAX_UNITS)


def _lines_field(help_text: str, **kwargs) -> ReservationLineInput:
    return ReservationLineInput(
        many=True, allow_empty=False, max_length=MAX_LINES, help_text=help_text, **kwargs
    )


def visible_customer(request) -> int | None:
    """Customers see and resolve their own reservations; warehouse staff and auditors see
    all (None), and warehouse staff resolve any."""
    if has_role(request.user, Role.WAREHOUSE, Role.AUDITOR):
        return None
    return request.user.id


RESERVATION_PATH = OpenApiParameter(
    "reservation_id", OpenApiTypes.INT, OpenApiParameter.PATH, description="The reservation's id."
)


class ReservationListCreateApi(ListApi):
    permission_classes = (CanPlaceOrders,)
    filterset_class = ReservationFilter
    queryset = Reservation.objects.none()

    class ReservationInput(serializers.Serializer):
        lines = _lines_field(
            f"1 to {MAX_LINES} lines; lines of the same product are added up, and all lines"
            f" together hold at most {MAX_UNITS} units."
        )
        location = LocationField(
            help_text="Where the units are held (code or id); the default location if left out."
        )
        ttl_seconds = serializers.IntegerField(
            min_value=1,
            max_value=MAX_TTL_SECONDS,
            default=DEFAULT_TTL_SECONDS,
            help_text="How long the units are held: 1 second to 7 days.",
        )
        reference = serializers.CharField(
            max_length=200, required=False, allow_blank=True, default=""
        )
        customer = serializers.PrimaryKeyRelatedField(
            queryset=get_user_model().objects.filter(is_active=True),
            required=False,
            help_text="Warehouse staff: the user the units are held for (default: yourself)."
            " Customers reserve for themselves only.",
        )

    @extend_schema(responses=ReservationOutput(many=True))
    def get(self, request):
        reservations = reservation_list(
            customer_id=visible_customer(request), filters=request.query_params
        )
        return self.paginated(reservations, render_reservation)

    @extend_schema(
        request=ReservationInput,
        responses={
            201: ReservationOutput,
            **raises(
                UnknownProducts, InvalidQuantity, InvalidTtl, UnknownLocation, InsufficientStock
            ),
        },
        parameters=[IDEMPOTENCY_HEADER],
        examples=[
            OpenApiExample(
                "A cart held for 15 minutes",
                value={
                    "lines": [{"product": 1, "quantity": 2}, {"product": 3, "quantity": 1}],
                    "ttl_seconds": 900,
                    "reference": "cart 8812",
                },
                request_only=True,
            )
        ],
    )
    @idempotent
    def post(self, request):
        data = self.ReservationInput(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        customer = values.get("customer")
        for_another = customer is not None and customer.id != request.user.id
        if for_another and not has_role(request.user, Role.WAREHOUSE):
            raise PermissionDenied("Only warehouse staff may reserve for another customer.")
        reservation = reservation_create(
            customer_id=customer.id if customer is not None else request.user.id,
            created_by_id=request.user.id,
            lines=[(line["product"], line["quantity"]) for line in values["lines"]],
            location_id=location_for_writes(location=values.get("location")),
            ttl_seconds=values["ttl_seconds"],
            reference=values["reference"],
        )
        return Response(render_reservation(reservation), status=status.HTTP_201_CREATED)


class ReservationDetailApi(APIView):
    permission_classes = (CanPlaceOrders,)

    @extend_schema(
        parameters=[RESERVATION_PATH],
        responses={200: ReservationOutput, **raises(ReservationNotFound)},
    )
    def get(self, request, reservation_id: int):
        reservation = reservation_get(
            reservation_id=reservation_id, customer_id=visible_customer(request)
        )
        return Response(render_reservation(reservation))


class ReservationCommitApi(APIView):
    """Take the held units (all, or fewer per line: the rest is given back)."""

    permission_classes = (CanPlaceOrders,)

    class CommitInput(serializers.Serializer):
        lines = _lines_field(
            "The units taken per product (at most those held); products left out are given"
            " back. Leave out to take everything held.",
            required=False,
        )

    @extend_schema(
        parameters=[RESERVATION_PATH, IDEMPOTENCY_HEADER],
        request=CommitInput,
        responses={
            200: ReservationOutput,
            **raises(ReservationNotFound, ReservationNotHeld, ExceedsReservation),
        },
        examples=[
            OpenApiExample(
                "Take one unit, give the rest back",
                value={"lines": [{"product": 1, "quantity": 1}]},
                request_only=True,
            ),
        ],
    )
    @idempotent
    def post(self, request, reservation_id: int):
        data = self.CommitInput(data=request.data)
        data.is_valid(raise_exception=True)
        lines = data.validated_data.get("lines")
        committed = None
        if lines is not None:
            committed = {}
            for line in lines:
                committed[line["product"]] = committed.get(line["product"], 0) + line["quantity"]
        reservation = reservation_commit(
            reservation_id=reservation_id,
            actor_id=request.user.id,
            lines=committed,
            customer_id=_resolving_customer(request),
        )
        return Response(render_reservation(reservation))


class ReservationReleaseApi(APIView):
    """Give every held unit back."""

    permission_classes = (CanPlaceOrders,)

    @extend_schema(
        parameters=[RESERVATION_PATH, IDEMPOTENCY_HEADER],
        request=None,
        responses={200: ReservationOutput, **raises(ReservationNotFound, ReservationNotHeld)},
    )
    @idempotent
    def post(self, request, reservation_id: int):
        reservation = reservation_release(
            reservation_id=reservation_id,
            actor_id=request.user.id,
            customer_id=_resolving_customer(request),
        )
        return Response(render_reservation(reservation))


def _resolving_customer(request) -> int | None:
    """Warehouse staff commit and release any reservation (None); customers their own."""
    return None if has_role(request.user, Role.WAREHOUSE) else request.user.id
