from django.db.models import BooleanField, ExpressionWrapper, F, Q, QuerySet

from catalog.exceptions import ProductNotFound
from catalog.filters import ProductFilter
from catalog.models import Product
from core.filtering import apply_filters


def product_queryset() -> QuerySet[Product]:
    """Products with on-hand read from the balance row (one join), never summed from
    movements."""
    return (
        Product.objects.select_related("balance")
        .annotate(
            on_hand=F("balance__on_hand"),
            low_stock=ExpressionWrapper(
                Q(balance__on_hand__lte=F("reorder_level")), output_field=BooleanField()
            ),
        )
        .order_by("id")
    )


def product_list(*, filters: dict | None = None, active_only: bool = False) -> QuerySet[Product]:
    """Raises rest_framework ValidationError for malformed filter values."""
    queryset = product_queryset()
    if active_only:
        queryset = queryset.filter(is_active=True)
    return apply_filters(ProductFilter, filters, queryset)


def product_get(*, product_id: int, active_only: bool = False) -> Product:
    queryset = product_queryset()
    if active_only:
        queryset = queryset.filter(is_active=True)
    try:
        return queryset.get(pk=product_id)
    except Product.DoesNotExist as exc:
        raise ProductNotFound(product=product_id) from exc
