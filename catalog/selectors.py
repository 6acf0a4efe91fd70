from django.contrib.postgres.aggregates import JSONBAgg
from django.db.models import (
    BooleanField,
    ExpressionWrapper,
    F,
    JSONField,
    OuterRef,
    Q,
    QuerySet,
    Subquery,
    Sum,
    Value,
)
from django.db.models.functions import Coalesce, JSONObject

from catalog.exceptions import ProductNotFound
from catalog.filters import ProductFilter
from catalog.models import Product
from core.filtering import apply_filters

# The catalogue knows the ledger's balance rows only through the relation the ledger
# declares on them ("balances": one per location the product is kept at); it imports
# nothing of the ledger and never writes them.
_AT_ACTIVE_OR_HOLDING = Q(location__is_active=True) | ~Q(on_hand=0, reserved=0, incoming=0)


def _stock_locations() -> Subquery:
    """Each location's figures as a JSON list, by location id: active locations, and
    archived ones that still hold something. A correlated subquery rather than an
    aggregate of the join, so that PostgreSQL computes it for the rows of the page only
    (after the sort and limit), not for every product an ordering has to aggregate."""
    balances = Product._meta.get_field("balances").related_model.objects
    per_product = (
        balances.filter(_AT_ACTIVE_OR_HOLDING, product=OuterRef("pk"))
        .order_by()
        .values("product")
        .annotate(
            figures=JSONBAgg(
                JSONObject(
                    location=F("location__code"),
                    on_hand=F("on_hand"),
                    reserved=F("reserved"),
                    available=F("on_hand") - F("reserved"),
                    incoming=F("incoming"),
                ),
                order_by="location_id",
            )
        )
        .values("figures")
    )
    return _PerProduct(Subquery(per_product), Value([], output_field=JSONField()))


class _PerProduct(Coalesce):
    """A value that depends on the product's id alone, which the query groups by
    already: Django would otherwise add the whole expression to GROUP BY, making
    PostgreSQL compute it for every product before sorting and limiting."""

    def get_group_by_cols(self):
        return []


def product_queryset() -> QuerySet[Product]:
    """Products with their stock read from the balance rows, never summed from
    movements: on_hand, reserved, available and incoming summed over the product's
    locations (one join and GROUP BY), and each location's figures (``stock_locations``).
    One query whatever the number of products."""
    return Product.objects.annotate(
        on_hand=Sum("balances__on_hand", default=0),
        reserved=Sum("balances__reserved", default=0),
        incoming=Sum("balances__incoming", default=0),
        available=F("on_hand") - F("reserved"),
        low_stock=ExpressionWrapper(
            Q(on_hand__lte=F("reorder_level")), output_field=BooleanField()
        ),
        stock_locations=_stock_locations(),
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
