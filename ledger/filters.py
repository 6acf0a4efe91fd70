import django_filters

from core.filtering import IdFilter, UtcIsoDateTimeFilter
from ledger.models import Movement, MovementKind, StockAlert


class MovementFilter(django_filters.FilterSet):
    product = IdFilter(field_name="product_id")
    sku = django_filters.CharFilter(field_name="product__sku")
    kind = django_filters.ChoiceFilter(choices=MovementKind.choices)
    actor = IdFilter(field_name="actor_id")
    reference = django_filters.CharFilter()
    order = IdFilter(field_name="order_line__order_id")
    since = UtcIsoDateTimeFilter(field_name="recorded_at", lookup_expr="gte")
    until = UtcIsoDateTimeFilter(field_name="recorded_at", lookup_expr="lte")

    class Meta:
        model = Movement
        fields = ("product", "sku", "kind", "actor", "reference", "order", "since", "until")


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
