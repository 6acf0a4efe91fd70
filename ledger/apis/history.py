"""Auditors' reads: movement history (cursor pages), one movement, a balance now or as
of a past instant."""

from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import CanAudit
from catalog.exceptions import ProductNotFound
from core.apis import ListApi
from core.pagination import CursorPagination
from core.schema import raises
from ledger.apis.conditional import with_etag
from ledger.apis.locations import LocationField
from ledger.apis.output import MovementListOutput, render_movement_row
from ledger.exceptions import HistoryDetached, MovementNotFound, UnknownLocation
from ledger.filters import MovementFilter
from ledger.models import Movement
from ledger.selectors import (
    balance_as_of,
    balance_current,
    location_for_reads,
    movement_get,
    movement_list,
)


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

    @extend_schema(responses={200: MovementListOutput, **raises(MovementNotFound)})
    def get(self, request, movement_id: int):
        return Response(render_movement_row(movement_get(movement_id=movement_id)))


class LocationFiguresOutput(serializers.Serializer):
    location = serializers.CharField(help_text="The location's code.")
    on_hand = serializers.IntegerField()
    reserved = serializers.IntegerField()
    available = serializers.IntegerField(help_text="on_hand - reserved; never below zero.")
    incoming = serializers.IntegerField()
    seq = serializers.IntegerField(help_text="The number of the last movement here.")


class BalanceApi(APIView):
    """A product's figures now, or as of a past instant (``?as_of=`` ISO 8601): at one
    location (``?location=`` code or id), or summed over its locations with each
    location's own figures in ``locations``."""

    permission_classes = (CanAudit,)

    class BalanceQuery(serializers.Serializer):
        as_of = serializers.DateTimeField(required=False)
        location = LocationField(
            help_text="A location's code or id (archived ones too); all locations if left out."
        )

    class BalanceOutput(serializers.Serializer):
        product = serializers.IntegerField()
        location = serializers.CharField(
            allow_null=True, help_text="The location asked for; null: summed over all."
        )
        on_hand = serializers.IntegerField()
        reserved = serializers.IntegerField()
        available = serializers.IntegerField(help_text="on_hand - reserved; never below zero.")
        incoming = serializers.IntegerField()
        seq = serializers.IntegerField(
            help_text="The number of the product's movements (at the location) up to then."
        )
        as_of = serializers.DateTimeField()
        locations = LocationFiguresOutput(many=True)

    @extend_schema(
        parameters=[BalanceQuery],
        responses={
            200: OpenApiResponse(
                BalanceOutput,
                description=(
                    "With `location` and no `as_of`: an `ETag` header, the version of the"
                    " product's balance there, for `If-Match` on the stock writes."
                ),
            ),
            **raises(ProductNotFound, UnknownLocation, HistoryDetached),
        },
    )
    def get(self, request, product_id: int):
        query = self.BalanceQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        as_of = query.validated_data.get("as_of")
        location = location_for_reads(location=query.validated_data.get("location"))
        if as_of is not None:
            balance = balance_as_of(product_id=product_id, as_of=as_of, location=location)
            return Response(self.BalanceOutput(balance).data)
        balance = balance_current(product_id=product_id, location=location)
        response = Response(self.BalanceOutput(balance).data)
        if location is not None:
            with_etag(response, balance.seq)
        return response
