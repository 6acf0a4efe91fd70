from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache

from django.db.models import F, Prefetch, QuerySet
from django.utils import timezone

from accounts.authentication import TokenCheck, caller_sql
from catalog.exceptions import ProductNotFound, UnknownProducts
from core.db import prepared_cursor
from core.filtering import MAX_ID, apply_filters
from ledger.exceptions import (
    HistoryDetached,
    LocationNotFound,
    MovementNotFound,
    ReservationNotFound,
    TransferNotFound,
    UnknownLocation,
)
from ledger.filters import (
    LocationListFilter,
    MovementFilter,
    ReservationFilter,
    StockAlertFilter,
    TransferFilter,
)
from ledger.integrity import NEWEST_CHECKPOINT
from ledger.models import (
    Location,
    Movement,
    Reservation,
    ReservationLine,
    StockAlert,
    StockBalance,
    Transfer,
    TransferLine,
)


def movement_list(*, filters: dict | None = None) -> QuerySet[Movement]:
    """Movements newest first, with the product's sku, the location's code and the order
    id joined in (no query per row). Raises ValidationError for malformed filters."""
    queryset = (
        Movement.objects.select_related("product", "location")
        .annotate(order_id=F("order_line__order_id"))
        .only(
            *(f.attname for f in Movement._meta.concrete_fields),
            "product__sku",
            "location__code",
        )
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


# --- Locations ------------------------------------------------------------------------


def location_list(*, filters: dict | None = None, active_only: bool = False) -> QuerySet[Location]:
    """Locations in id order (the default one first). Raises ValidationError for
    malformed filters."""
    queryset = Location.objects.order_by("id")
    if active_only:
        queryset = queryset.filter(is_active=True)
    return apply_filters(LocationListFilter, filters, queryset)


def _by_code_or_id(location: str | int) -> dict | None:
    """The lookup for a location named by code (case-insensitive) or id; None when the
    value can be neither."""
    if isinstance(location, int) or str(location).isdigit():
        location_id = int(location)
        return {"pk": location_id} if 1 <= location_id <= MAX_ID else None
    return {"code": str(location).upper()}


def location_get(*, location: str | int, active_only: bool = False) -> Location:
    """A location by code or id. Raises LocationNotFound."""
    lookup = _by_code_or_id(location)
    found = location_list(active_only=active_only).filter(**lookup).first() if lookup else None
    if found is None:
        raise LocationNotFound(location=str(location))
    return found


def location_for_writes(*, location: str | int | None) -> int | None:
    """The id to post at for a location named by code or id: None (the default
    location, which postings find without a lookup) when it is not given or is the
    default. Raises UnknownLocation if it does not exist or is archived."""
    if location is None:
        return None
    try:
        found = location_get(location=location, active_only=True)
    except LocationNotFound as exc:
        raise UnknownLocation(location=str(location)) from exc
    return None if found.is_default else found.id


def location_for_reads(*, location: str | int | None) -> Location | None:
    """A location named by code or id, archived ones included; None when not given.
    Raises UnknownLocation."""
    if location is None:
        return None
    try:
        return location_get(location=location)
    except LocationNotFound as exc:
        raise UnknownLocation(location=str(location)) from exc


def location_for_transfers(*, location: str | int) -> Location:
    """An active location named by code or id, the default one included (a transfer
    stores both its ends). Raises UnknownLocation if it does not exist or is archived."""
    try:
        return location_get(location=location, active_only=True)
    except LocationNotFound as exc:
        raise UnknownLocation(location=str(location)) from exc


# --- Transfers ------------------------------------------------------------------------


def transfer_list(*, filters: dict | None = None) -> QuerySet[Transfer]:
    """Transfers newest first, with their locations' codes joined in and their lines
    (with the products' skus) prefetched: two queries for any page. Raises
    ValidationError for malformed filters."""
    queryset = (
        Transfer.objects.select_related("from_location", "to_location")
        .prefetch_related(
            Prefetch(
                "lines",
                queryset=TransferLine.objects.select_related("product").only(
                    "id",
                    "transfer_id",
                    "product_id",
                    "quantity",
                    "received",
                    "cancelled",
                    "product__sku",
                ),
            )
        )
        .order_by("-id")
    )
    return apply_filters(TransferFilter, filters, queryset)


def transfer_get(*, transfer_id: int) -> Transfer:
    """Raises TransferNotFound."""
    found = transfer_list().filter(pk=transfer_id).first() if 0 < transfer_id <= MAX_ID else None
    if found is None:
        raise TransferNotFound(transfer=transfer_id)
    return found


# --- Balances -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LocationFigures:
    location: str  # the code
    on_hand: int
    reserved: int
    incoming: int
    seq: int

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


@dataclass(frozen=True, slots=True)
class BalanceAt:
    """A product's figures at one location or summed over its locations (``location``
    None), now or as of an instant. ``seq`` is the number of the product's movements at
    those locations up to then; ``locations`` has each location's own figures."""

    product: int
    location: str | None
    on_hand: int
    reserved: int
    incoming: int
    seq: int
    as_of: datetime
    locations: list[LocationFigures] = field(default_factory=list)

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


def _balance(product_id: int, location: Location | None, as_of, rows) -> BalanceAt:
    figures = [LocationFigures(*row) for row in rows]
    return BalanceAt(
        product=product_id,
        location=location.code if location else None,
        on_hand=sum(f.on_hand for f in figures),
        reserved=sum(f.reserved for f in figures),
        incoming=sum(f.incoming for f in figures),
        seq=sum(f.seq for f in figures),
        as_of=as_of,
        locations=figures,
    )


def _check_product(product_id: int) -> None:
    # Every product has a balance row at the default location (opened with it).
    if not StockBalance.objects.filter(product_id=product_id).exists():
        raise ProductNotFound(product=product_id)


def balance_current(*, product_id: int, location: Location | None = None) -> BalanceAt:
    """The product's figures now, from the projection: at ``location``, or at each of its
    locations and summed (one read of its balance rows). A location the product was
    never posted at has zeros. Raises ProductNotFound."""
    balances = StockBalance.objects.filter(product_id=product_id)
    if location is not None:
        balances = balances.filter(location=location)
    rows = list(
        balances.order_by("location_id").values_list(
            "location__code", "on_hand", "reserved", "incoming", "version"
        )
    )
    if not rows:
        _check_product(product_id)
        if location is not None:
            rows = [(location.code, 0, 0, 0, 0)]
    return _balance(product_id, location, timezone.now(), rows)


# For each (product, location) balance row of the product, the figures right after its
# last movement at or before T: one seek per location in movement_location_as_of_idx,
# never a scan of the product's history. A product has a balance row at every location
# it was ever posted at (rows are opened before the first movement and never deleted),
# so the rows list the locations to look at.
_AS_OF = f"""
SELECT l.code, COALESCE(m.balance_after, k.on_hand, 0), COALESCE(m.reserved_after, k.reserved, 0),
       COALESCE(m.incoming_after, k.incoming, 0), COALESCE(m.seq, k.seq, 0), h.ends_at
  FROM ledger_stockbalance AS b
  JOIN ledger_location AS l ON l.id = b.location_id
  LEFT JOIN LATERAL (
        SELECT balance_after, reserved_after, incoming_after, seq
          FROM ledger_movement
         WHERE product_id = b.product_id AND location_id = b.location_id
           AND recorded_at <= %s
         ORDER BY recorded_at DESC, seq DESC
         LIMIT 1
  ) AS m ON true
  LEFT JOIN LATERAL ({NEWEST_CHECKPOINT.format(product="b.product_id", location="b.location_id")}
  ) AS k ON m.seq IS NULL
 CROSS JOIN (SELECT max(ends_at) AS ends_at FROM ledger_detachedpartition) AS h
 WHERE b.product_id = %s {{location}}
 ORDER BY b.location_id
"""


def balance_as_of(
    *, product_id: int, as_of: datetime, location: Location | None = None
) -> BalanceAt:
    """The product's figures right after its last movement at or before ``as_of``: at
    ``location``, or at each of its locations and summed (one statement, one index seek
    per location and partition up to ``as_of``); zeros before the first movement.

    Once months of movements are detached (ledger.partitions), a chain with no movement
    left at or before ``as_of`` stands where its newest checkpoint says; an instant
    before the end of the last detached month cannot be answered from the table.
    Raises ProductNotFound, HistoryDetached for such an instant."""
    params: list = [as_of, product_id]
    sql = _AS_OF.format(location="AND b.location_id = %s" if location is not None else "")
    if location is not None:
        params.append(location.id)
    # Prepared: PostgreSQL plans this join over every partition's index in more time
    # than it takes to run it; a generic plan prunes the months after T when it starts.
    with prepared_cursor() as cursor:
        cursor.execute(sql, params)
        rows = cursor.fetchall()
    if rows and rows[0][-1] is not None and as_of < rows[0][-1]:
        raise HistoryDetached(detached_before=rows[0][-1])
    rows = [row[:-1] for row in rows]
    if not rows:
        _check_product(product_id)
        if location is not None:
            rows = [(location.code, 0, 0, 0, 0)]
    return _balance(product_id, location, as_of, rows)


def stock_alert_list(*, filters: dict | None = None) -> QuerySet[StockAlert]:
    """Alerts newest first with the product's sku and the location's code joined in (no
    query per row). Raises ValidationError for malformed filters."""
    queryset = (
        StockAlert.objects.select_related("product", "movement__location")
        .only(
            *(f.attname for f in StockAlert._meta.concrete_fields),
            "product__sku",
            "movement__location__code",
        )
        .order_by("-id")
    )
    return apply_filters(StockAlertFilter, filters, queryset)


# --- Reservations ---------------------------------------------------------------------


def reservation_list(
    *, customer_id: int | None, filters: dict | None = None
) -> QuerySet[Reservation]:
    """Reservations newest first, with the location's code and the lines (two queries for
    any page). ``customer_id`` limits the list to that customer's (None: all). Raises
    ValidationError for malformed filters."""
    queryset = (
        Reservation.objects.select_related("location")
        .only(*(f.attname for f in Reservation._meta.concrete_fields), "location__code")
        .prefetch_related(Prefetch("lines", queryset=ReservationLine.objects.order_by("id")))
        .order_by("-id")
    )
    if customer_id is not None:
        # Filters only narrow this: ?customer=<another customer> finds nothing.
        queryset = queryset.filter(customer_id=customer_id)
    return apply_filters(ReservationFilter, filters, queryset)


def reservation_get(*, reservation_id: int, customer_id: int | None) -> Reservation:
    """Raises ReservationNotFound, also for another customer's reservation."""
    if not 0 < reservation_id <= MAX_ID:
        raise ReservationNotFound(reservation=reservation_id)
    try:
        return reservation_list(customer_id=customer_id).get(pk=reservation_id)
    except Reservation.DoesNotExist as exc:
        raise ReservationNotFound(reservation=reservation_id) from exc


# --- Products named by id or sku (receipts, stocktakes) --------------------------------

ProductRef = int | str  # a product's id, or its sku

# Both kinds of name in one statement, each joined to its unique index: ``= ANY(array)``
# would be a filter that scans the array for every product when the planner reads the
# whole table (5,000 skus against 5,000 products took 0.7 s; joined: a few ms).
_PRODUCTS_BY_REF = """
SELECT p.id, p.sku, p.is_active
  FROM unnest(%(ids)s::bigint[]) AS v(id) JOIN catalog_product AS p ON p.id = v.id
 UNION ALL
SELECT p.id, p.sku, p.is_active
  FROM unnest(%(skus)s::varchar[]) AS v(sku) JOIN catalog_product AS p ON p.sku = v.sku
"""


def products_resolve(
    *, refs: Iterable[ProductRef], active_only: bool
) -> dict[ProductRef, tuple[int, str]]:
    """Each product named by id (an int) or by sku (a str): {ref: (id, sku)}, in one
    query whatever the number of refs. With ``active_only``, archived products count as
    unknown. Raises UnknownProducts listing every unknown id and every unknown sku."""
    refs = list(dict.fromkeys(refs))
    with prepared_cursor() as cursor:
        cursor.execute(_PRODUCTS_BY_REF, _ref_params(refs))
        rows = cursor.fetchall()
    return _resolved(refs, rows, active_only)


@cache
def _caller_and_products_sql(roles: tuple[str, ...]) -> str:
    return (
        f"WITH {caller_sql(*roles)} SELECT c.user_id, x.id, x.sku, x.is_active"
        f" FROM caller AS c LEFT JOIN LATERAL ({_PRODUCTS_BY_REF}) AS x ON true"
    )


def products_resolve_checked(
    *, check: TokenCheck, roles: tuple[str, ...], refs: Iterable[ProductRef], active_only: bool
) -> tuple[int, dict[ProductRef, tuple[int, str]]] | None:
    """products_resolve in one statement with the check of the caller's token
    (accounts.authentication.TokenCheck; the caller must hold one of ``roles``): (the
    caller's user id, the products); None if there is no such caller, and then nothing
    else is checked or raised. Raises as products_resolve does."""
    refs = list(dict.fromkeys(refs))
    with prepared_cursor() as cursor:
        cursor.execute(_caller_and_products_sql(roles), {**_ref_params(refs), **check.params})
        rows = cursor.fetchall()
    if not rows:
        return None
    return rows[0][0], _resolved(refs, [row[1:] for row in rows if row[1] is not None], active_only)


def _ref_params(refs: list[ProductRef]) -> dict:
    ids = [ref for ref in refs if isinstance(ref, int) and 0 < ref <= MAX_ID]
    return {"ids": ids, "skus": [ref for ref in refs if isinstance(ref, str)]}


def _resolved(refs: list[ProductRef], rows, active_only: bool) -> dict:
    rows = [row for row in rows if row[2] or not active_only]
    by_id = {row[0]: (row[0], row[1]) for row in rows}
    by_sku = {row[1]: (row[0], row[1]) for row in rows}
    unknown_ids = [ref for ref in refs if isinstance(ref, int) and ref not in by_id]
    unknown_skus = [ref for ref in refs if isinstance(ref, str) and ref not in by_sku]
    if unknown_ids or unknown_skus:
        raise UnknownProducts(
            "Some products do not exist or are archived.",
            products=sorted(unknown_ids),
            skus=sorted(unknown_skus),
        )
    return {ref: by_id[ref] if isinstance(ref, int) else by_sku[ref] for ref in refs}
