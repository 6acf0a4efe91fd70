from django.db.models import Prefetch, QuerySet

from core.filtering import apply_filters
from ordering.exceptions import OrderNotFound
from ordering.filters import OrderFilter
from ordering.models import Order, OrderLine


def order_list(*, customer_id: int | None, filters: dict | None = None) -> QuerySet[Order]:
    """Orders newest first, lines and their products prefetched (two queries for any
    page). ``customer_id`` limits the list to that customer's orders (None: all)."""
    queryset = Order.objects.prefetch_related(
        Prefetch(
            "lines",
            queryset=OrderLine.objects.select_related("product").only(
                "id",
                "order_id",
                "product_id",
                "quantity",
                "unit_price",
                "product__sku",
                "product__name",
            ),
        )
    ).order_by("-id")
    if customer_id is not None:
        # Filters only narrow this: ?customer=<another customer> finds nothing.
        queryset = queryset.filter(customer_id=customer_id)
    return apply_filters(OrderFilter, filters, queryset)


def order_get(*, order_id: int, customer_id: int | None) -> Order:
    """Raises OrderNotFound, also for another customer's order."""
    try:
        return order_list(customer_id=customer_id).get(pk=order_id)
    except Order.DoesNotExist as exc:
        raise OrderNotFound(order=order_id) from exc
