import django_filters

from ledger.models import Movement, MovementKind


class MovementFilter(django_filters.FilterSet):
    product = django_filters.NumberFilter(field_name="product_id")
    sku = django_filters.CharFilter(field_name="product__sku")
    kind = django_filters.ChoiceFilter(choices=MovementKind.choices)
    actor = django_filters.NumberFilter(field_name="actor_id")
    reference = django_filters.CharFilter()
    order = django_filters.NumberFilter(field_name="order_line__order_id")
    since = django_filters.IsoDateTimeFilter(field_name="recorded_at", lookup_expr="gte")
    until = django_filters.IsoDateTimeFilter(field_name="recorded_at", lookup_expr="lte")

    class Meta:
        model = Movement
        fields = ("product", "sku", "kind", "actor", "reference", "order", "since", "until")
