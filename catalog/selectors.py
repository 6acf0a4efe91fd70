from django.contrib.postgres.aggregates import JSONBAgg
from django.db.models import BooleanField, ExpressionWrapper, F, Q, QuerySet, Sum
from django.db.models.functions import JSONObject

from catalog.exceptions import ProductNotFound
from catalog.filters import ProductFilter
from catalog.models import Product
from core.filtering import apply_filters

# The catalogue knows the ledger's balance rows only by the relation the ledger declares
# on them ("balances", one per location the product is kept at); it never writes them.
_AT_ACTIVE_OR_HOLDING = Q(balances__location__is_active=True) | ~Q(
    balances__on_hand=0, balances__reserved=0, balances__incoming=0
)


def product_queryset() -> QuerySet[Product]:
    """Products with their stock read from the balance rows, never summed from
    movements: on_hand, reserved, available and incoming summed over the product's
    locations, and each location's figures (``stock_locations``: active locations, and
    archived ones that still hold something, by location id). One query with one join
    and GROUP BY, whatever the number of products."""
    return Product.objects.annotate(
        on_hand=Sum("balances__on_hand", default=0),
        reserved=Sum("balances__reserved", default=0),
        incoming=Sum("balances__incoming", default=0),
        available=F("on_hand") - F("reserved"),
        low_stock=ExpressionWrapper(
            Q(on_hand__lte=F("reorder_level")), output_field=BooleanField()
        ),
        stock_locations=JSONBAgg(
            JSONObject(
                location=F("balances__location__code"),
                on_hand=F("balances__on_hand"),
                reserved=F("balances__reserved"),
                available=F("balances__on_hand") - F("balances__reserved"),
                incoming=F("balances__incoming"),
            ),
            filter=_AT_ACTIVE_OR_HOLDING,
            order_by="balances__location_id",
            default=[],
        ),
    ).order_by("id")


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
