"""Locations: warehouse staff create, rename, archive and reactivate them; every signed-in
user reads them (customers the active ones)."""

from django.core.validators import RegexValidator
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import ReadOrWarehouseWrites
from accounts.roles import Role, has_role
from core.apis import ListApi
from core.rendering import Renderer
from core.schema import raises
from ledger.exceptions import (
    DefaultLocationArchived,
    LocationExists,
    LocationHasTransfers,
    LocationNotEmpty,
    LocationNotFound,
)
from ledger.filters import CODE_OR_ID, LocationListFilter
from ledger.models import Location
from ledger.selectors import location_get, location_list
from ledger.services import location_create, location_update


class LocationField(serializers.CharField):
    """An optional location, by code (any case) or id; the default location when left
    out."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("max_length", 32)
        kwargs.setdefault("help_text", "A location's code or id; the default location if left out.")
        super().__init__(**kwargs)
        self.validators.append(RegexValidator(CODE_OR_ID, "Enter a location's code or id."))


class LocationQuery(serializers.Serializer):
    location = LocationField()


class LocationOutput(serializers.Serializer):
    id = serializers.IntegerField()
    code = serializers.CharField()
    name = serializers.CharField()
    is_active = serializers.BooleanField()
    is_default = serializers.BooleanField()
    created_at = serializers.DateTimeField()


render_location = Renderer(LocationOutput)

LOCATION_PATH = OpenApiParameter(
    "location",
    OpenApiTypes.STR,
    OpenApiParameter.PATH,
    description="The location's code (any case) or id.",
    examples=[OpenApiExample("The default location", value="MAIN")],
)


def _active_only(request) -> bool:
    """Customers see the active locations; staff and auditors also archived ones."""
    return not has_role(request.user, Role.WAREHOUSE, Role.AUDITOR)


class LocationListCreateApi(ListApi):
    permission_classes = (ReadOrWarehouseWrites,)
    filterset_class = LocationListFilter
    queryset = Location.objects.none()

    class LocationInput(serializers.Serializer):
        code = serializers.RegexField(
            r"^[A-Za-z][A-Za-z0-9_.-]{0,31}$",
            max_length=32,
            help_text="Letters, digits, '_', '.', '-', starting with a letter; stored upper-case.",
        )
        name = serializers.CharField(max_length=200)

    @extend_schema(responses=LocationOutput(many=True))
    def get(self, request):
        locations = location_list(filters=request.query_params, active_only=_active_only(request))
        return self.paginated(locations, render_location)

    @extend_schema(
        request=LocationInput,
        responses={201: LocationOutput, **raises(LocationExists)},
        examples=[
            OpenApiExample(
                "A shop", value={"code": "STORE-3", "name": "High Street shop"}, request_only=True
            )
        ],
    )
    def post(self, request):
        data = self.LocationInput(data=request.data)
        data.is_valid(raise_exception=True)
        location = location_create(**data.validated_data)
        return Response(render_location(location), status=status.HTTP_201_CREATED)


class LocationDetailApi(APIView):
    permission_classes = (ReadOrWarehouseWrites,)

    class LocationChange(serializers.Serializer):
        name = serializers.CharField(max_length=200, required=False)
        is_active = serializers.BooleanField(
            required=False,
            help_text="false archives the location: it then takes no postings. Refused for"
            " the default location, for one that still holds stock and for one with"
            " transfers in transit.",
        )

    @extend_schema(
        parameters=[LOCATION_PATH], responses={200: LocationOutput, **raises(LocationNotFound)}
    )
    def get(self, request, location: str):
        found = location_get(location=location, active_only=_active_only(request))
        return Response(render_location(found))

    @extend_schema(
        parameters=[LOCATION_PATH],
        request=LocationChange,
        responses={
            200: LocationOutput,
            **raises(
                LocationNotFound, DefaultLocationArchived, LocationNotEmpty, LocationHasTransfers
            ),
        },
        examples=[
            OpenApiExample(
                "A new name", value={"name": "Main warehouse (Dock 1)"}, request_only=True
            ),
        ],
    )
    def patch(self, request, location: str):
        found = location_get(location=location)
        data = self.LocationChange(data=request.data)
        data.is_valid(raise_exception=True)
        return Response(
            render_location(location_update(location_id=found.id, **data.validated_data))
        )
