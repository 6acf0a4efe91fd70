import django_filters
from django.core.validators import RegexValidator
from django.db.models import Q
from django.utils import timezone
from drf_spectacular.utils import extend_schema_field

from core.filtering import MAX_ID, BooleanFilter, IdFilter, UtcIsoDateTimeFilter
from ledger.models import (
    Location,
    Movement,
    MovementKind,
    Reservation,
    ReservationStatus,
    StockAlert,
    Transfer,
    TransferStatus,
)

CODE_OR_ID = r"^([0-9]{1,19}|[A-Za-z][A-Za-z0-9_.-]{0,31})$"


@extend_schema_field({"type": "string", "pattern": CODE_OR_ID, "example": "MAIN"})
class LocationFilter(django_filters.CharFilter):
    """A location's code (any case) or id; an unknown one matches nothing, as an
    unknown sku does."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("validators", [RegexValidator(CODE_OR_ID)])
        kwargs.setdefault("help_text", "A location's code or id.")
        super().__init__(*args, **kwargs)

    def filter(self, qs, value):
        if value in (None, ""):
            return qs
        return qs.filter(location_q(value, self.field_name))


def location_q(value: str, field: str = "location") -> Q:
    """The condition that the location ``field`` is the one named by ``value`` (code or
    id); matches nothing for an id past bigint."""
    if value.isdigit():
        location_id = int(value)
        return Q(**{f"{field}_id": location_id}) if location_id <= MAX_ID else Q(pk__in=[])
    return Q(**{f"{field}__code": value.upper()})


class MovementFilter(django_filters.FilterSet):
    product = IdFilter(field_name="product_id")
    sku = django_filters.CharFilter(field_name="product__sku")
    location = LocationFilter()
    kind = django_filters.ChoiceFilter(choices=MovementKind.choices)
    actor = IdFilter(field_name="actor_id")
    reference = django_filters.CharFilter()
    order = IdFilter(field_name="order_line__order_id")
    reservation = IdFilter(field_name="reservation_id")
    transfer = IdFilter(field_name="transfer_id")
    receipt = IdFilter(field_name="receipt_id")
    stocktake = IdFilter(field_name="stocktake_id")
    since = UtcIsoDateTimeFilter(field_name="recorded_at", lookup_expr="gte")
    until = UtcIsoDateTimeFilter(field_name="recorded_at", lookup_expr="lte")

    class Meta:
        model = Movement
        fields = (
            "product",
            "sku",
            "location",
            "kind",
            "actor",
            "reference",
            "order",
            "reservation",
            "transfer",
            "receipt",
            "stocktake",
            "since",
            "until",
        )


class StockAlertFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(
        choices=(("pending", "pending"), ("sent", "sent")), method="filter_status"
    )
    product = IdFilter(field_name="product_id")

    class Meta:
        model = StockAlert
        fields = ("status", "product")

    def filter_status(self, queryset, name, value):
        return queryset.filter(sent_at__isnull=value == "pending")


class LocationListFilter(django_filters.FilterSet):
    is_active = BooleanFilter()

    class Meta:
        model = Location
        fields = ("is_active",)


class _EitherEndFilter(LocationFilter):
    """A transfer from or to the location."""

    def filter(self, qs, value):
        if value in (None, ""):
            return qs
        return qs.filter(location_q(value, "from_location") | location_q(value, "to_location"))


# "from" is a keyword: the filters are declared through the class's namespace.
TransferFilter = type(
    "TransferFilter",
    (django_filters.FilterSet,),
    {
        "status": django_filters.ChoiceFilter(choices=TransferStatus.choices),
        "location": _EitherEndFilter(help_text="A location's code or id: transfers from or to it."),
        "from": LocationFilter(field_name="from_location", help_text="The origin's code or id."),
        "to": LocationFilter(field_name="to_location", help_text="The destination's code or id."),
        "Meta": type(
            "Meta", (), {"model": Transfer, "fields": ("status", "location", "from", "to")}
        ),
        "__module__": __name__,
        "__doc__": "Transfers by status and location (either end, the origin or the destination).",
    },
)


class ReservationFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(
        choices=ReservationStatus.choices,
        method="filter_status",
        help_text="As the status reads now: a hold past expires_at is expired.",
    )
    customer = IdFilter(field_name="customer_id")
    location = LocationFilter()

    class Meta:
        model = Reservation
        fields = ("status", "customer", "location")

    def filter_status(self, queryset, name, value):
        overdue = Q(status=ReservationStatus.HELD, expires_at__lte=timezone.now())
        if value == ReservationStatus.HELD:
            return queryset.filter(status=value).exclude(overdue)
        if value == ReservationStatus.EXPIRED:
            return queryset.filter(Q(status=value) | overdue)
        return queryset.filter(status=value)
