import django_filters
from django.db.models import Q

from catalog.models import Product
from core.filtering import BooleanFilter


class ProductFilter(django_filters.FilterSet):
    search = django_filters.CharFilter(method="filter_search", help_text="name or sku contains")
    is_active = BooleanFilter()
    low_stock = BooleanFilter(
        help_text="on hand (over all locations) at or below the reorder level"
    )
    ordering = django_filters.OrderingFilter(
        fields=(
            "id",
            "sku",
            "name",
            "price",
            "reorder_level",
            "created_at",
            "on_hand",
            "available",
        ),
    )

    class Meta:
        model = Product
        fields = ("search", "is_active", "low_stock")

    def filter_search(self, queryset, name, value):
        return queryset.filter(Q(name__icontains=value) | Q(sku__icontains=value))
