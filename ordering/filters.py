import django_filters

from core.filtering import IdFilter, UtcIsoDateTimeFilter
from ordering.models import Order, OrderStatus


class OrderFilter(django_filters.FilterSet):
    customer = IdFilter(field_name="customer_id")
    status = django_filters.ChoiceFilter(choices=OrderStatus.choices)
    since = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    until = UtcIsoDateTimeFilter(field_name="created_at", lookup_expr="lte")

    class Meta:
        model = Order
        fields = ("customer", "status", "since", "until")
