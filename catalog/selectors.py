import json

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
from core.db import prepared_cursor
from core.filtering import apply_filters, names_a_filter
from core.instances import saved_instance

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


def product_pages(
    *, filters: dict | None = None, active_only: bool = False
) -> "QuerySet[Product] | CatalogueRows":
    """What a paginator pages for the product list endpoints: without filters (the
    common request) CatalogueRows, else product_list's queryset. Raises
    rest_framework ValidationError for malformed filter values."""
    if not names_a_filter(ProductFilter, filters):
        return CatalogueRows(active_only=active_only)
    return product_list(filters=filters, active_only=active_only)


def product_get(*, product_id: int, active_only: bool = False) -> Product:
    queryset = product_queryset()
    if active_only:
        queryset = queryset.filter(is_active=True)
    try:
        return queryset.get(pk=product_id)
    except Product.DoesNotExist as exc:
        raise ProductNotFound(product=product_id) from exc


_BALANCE = Product._meta.get_field("balances").related_model
_LOCATION = _BALANCE._meta.get_field("location").related_model
_PRODUCT_COLUMNS = (
    "id",
    "sku",
    "name",
    "description",
    "price",
    "reorder_level",
    "is_active",
    "created_at",
    "updated_at",
)
# What product_queryset() computes, for one page of products: the page is chosen on the
# product table alone (by id, LIMIT/OFFSET, so skipped rows cost no balance reads), then
# each of its products' balance rows are summed and listed. Written out because building
# and compiling that annotated queryset (and its count, which aggregated every product's
# balances to count the products) cost several times the queries themselves.
_PAGE_SQL = f"""
SELECT {", ".join(f"p.{column}" for column in _PRODUCT_COLUMNS)},
       COALESCE(s.on_hand, 0), COALESCE(s.reserved, 0), COALESCE(s.incoming, 0),
       COALESCE(s.locations, '[]'::jsonb)
  FROM (SELECT * FROM {Product._meta.db_table} WHERE %s OR is_active
         ORDER BY id LIMIT %s OFFSET %s) AS p
  LEFT JOIN LATERAL (
       SELECT sum(b.on_hand)::bigint AS on_hand, sum(b.reserved)::bigint AS reserved,
              sum(b.incoming)::bigint AS incoming,
              jsonb_agg(jsonb_build_object('location', l.code, 'on_hand', b.on_hand,
                                           'reserved', b.reserved,
                                           'available', b.on_hand - b.reserved,
                                           'incoming', b.incoming) ORDER BY b.location_id)
                FILTER (WHERE l.is_active OR NOT (b.on_hand = 0 AND b.reserved = 0
                                                  AND b.incoming = 0)) AS locations
         FROM {_BALANCE._meta.db_table} AS b
         JOIN {_LOCATION._meta.db_table} AS l ON l.id = b.location_id
        WHERE b.product_id = p.id
       ) AS s ON true
 ORDER BY p.id
"""
_COUNT_SQL = f"SELECT count(*) FROM {Product._meta.db_table} AS p WHERE %s OR p.is_active"


class CatalogueRows:
    """The whole catalogue (or its active part), by id, as a paginator reads it:
    ``count()`` and slices, each one query, of Product instances with the figures
    product_queryset() annotates (``stock_locations`` the per-location figures)."""

    ordered = True  # by id: Django's paginator warns about unordered lists

    def __init__(self, *, active_only: bool) -> None:
        self.all = not active_only

    def count(self) -> int:
        with prepared_cursor() as cursor:
            cursor.execute(_COUNT_SQL, [self.all])
            return cursor.fetchone()[0]

    def __getitem__(self, page: slice) -> list[Product]:
        start, stop = page.start or 0, page.stop
        with prepared_cursor() as cursor:
            cursor.execute(_PAGE_SQL, [self.all, stop - start, start])
            rows = cursor.fetchall()
        products = []
        for row in rows:
            product = saved_instance(Product, **dict(zip(_PRODUCT_COLUMNS, row, strict=False)))
            product.on_hand, product.reserved, product.incoming = row[9:12]
            product.available = product.on_hand - product.reserved
            product.low_stock = product.on_hand <= product.reorder_level
            # Django reads jsonb as text, for its JSONField to decode.
            product.stock_locations = json.loads(row[12])
            products.append(product)
        return products
