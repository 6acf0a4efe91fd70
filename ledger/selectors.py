from dataclasses import dataclass
from datetime import datetime

from django.db.models import F, QuerySet
from django.utils import timezone

from catalog.exceptions import ProductNotFound
from core.filtering import apply_filters
from ledger.exceptions import MovementNotFound
from ledger.filters import MovementFilter, StockAlertFilter
from ledger.models import Movement, StockAlert, StockBalance


def movement_list(*, filters: dict | None = None) -> QuerySet[Movement]:
    """Movements newest first, with the product's sku and the order id joined in (no
    query per row). Raises ValidationError for malformed filters."""
    queryset = (
        Movement.objects.select_related("product")
        .annotate(order_id=F("order_line__order_id"))
        .only(*(f.attname for f in Movement._meta.concrete_fields), "product__sku")
        .order_by("-id")
    )
    return apply_filters(MovementFilter, filters, queryset)


def movement_export_list(
    *, filters: dict | None = None, after_id: int | None = None
) -> QuerySet[Movement]:
    """The export's rows: movement_list's, in its order (newest first: descending id, a
    total order that never changes for rows already written). With ``after_id``, only the
    rows that come after that one in this order, i.e. ids below it, so an interrupted
    export resumes from the last id it received. Raises ValidationError for malformed
    filters."""
    movements = movement_list(filters=filters)
    if after_id is not None:
        movements = movements.filter(id__lt=after_id)
    return movements


def movement_get(*, movement_id: int) -> Movement:
    """Raises MovementNotFound."""
    try:
        return movement_list().get(pk=movement_id)
    except Movement.DoesNotExist as exc:
        raise MovementNotFound(movement=movement_id) from exc


@dataclass(frozen=True, slots=True)
class BalanceAt:
    product: int
    on_hand: int
    seq: int
    as_of: datetime


def balance_current(*, product_id: int) -> BalanceAt:
    """One row read from the projection. Raises ProductNotFound."""
    row = StockBalance.objects.filter(product_id=product_id).values_list("on_hand", "version")
    row = row.first()
    if row is None:
        raise ProductNotFound(product=product_id)
    return BalanceAt(product=product_id, on_hand=row[0], seq=row[1], as_of=timezone.now())


def balance_as_of(*, product_id: int, as_of: datetime) -> BalanceAt:
    """The balance_after of the product's last movement at or before ``as_of`` (one index
    seek on (product, recorded_at, seq)); 0 before its first movement.
    Raises ProductNotFound."""
    last = (
        Movement.objects.filter(product_id=product_id, recorded_at__lte=as_of)
        .order_by("-recorded_at", "-seq")
        .values_list("balance_after", "seq")
        .first()
    )
    if last is None:
        if not StockBalance.objects.filter(product_id=product_id).exists():
            raise ProductNotFound(product=product_id)
        last = (0, 0)
    return BalanceAt(product=product_id, on_hand=last[0], seq=last[1], as_of=as_of)


def stock_alert_list(*, filters: dict | None = None) -> QuerySet[StockAlert]:
    """Alerts newest first with the product's sku joined in (no query per row).
    Raises ValidationError for malformed filters."""
    queryset = (
        StockAlert.objects.select_related("product")
        .only(*(f.attname for f in StockAlert._meta.concrete_fields), "product__sku")
        .order_by("-id")
    )
    return apply_filters(StockAlertFilter, filters, queryset)
