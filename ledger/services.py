"""Stock writes by warehouse staff, and the locations they post at. Each is one
transaction; stock writes go through movements_post."""

from django.db import IntegrityError, connection, transaction
from django.db.models import Q

from ledger.exceptions import (
    DefaultLocationArchived,
    InvalidQuantity,
    LocationExists,
    LocationHasTransfers,
    LocationNotEmpty,
    LocationNotFound,
)
from ledger.models import (
    AdjustmentReason,
    Location,
    Movement,
    MovementKind,
    Transfer,
    TransferStatus,
)
from ledger.posting import Posting, balance_lock, movements_post


@transaction.atomic
def stock_restock(
    *,
    product_id: int,
    quantity: int,
    actor_id: int | None,
    reference: str = "",
    note: str = "",
    location_id: int | None = None,
    expected_version: int | None = None,
) -> Movement:
    """Post goods received at a location (None: the default one). Locks the
    (product, location) balance row.

    Raises InvalidQuantity unless quantity > 0, ProductNotFound, UnknownLocation,
    VersionMismatch if expected_version is given and the balance is at another.
    """
    if quantity <= 0:
        raise InvalidQuantity("A restock adds at least one unit.")
    posting = Posting(
        product_id=product_id,
        kind=MovementKind.RESTOCK,
        quantity=quantity,
        reference=reference,
        note=note,
        location_id=location_id,
        expected_version=expected_version,
    )
    return movements_post(postings=[posting], actor_id=actor_id, alone=True)[0]


@transaction.atomic
def stock_adjust(
    *,
    product_id: int,
    quantity: int,
    reason: str,
    actor_id: int | None,
    reference: str = "",
    note: str = "",
    location_id: int | None = None,
    expected_version: int | None = None,
) -> Movement:
    """Post a signed correction (damage, loss, found units...) at a location (None: the
    default one). Locks the (product, location) balance row.

    Raises InvalidQuantity for 0 or an unknown reason, InsufficientStock if available
    units would go below zero, ProductNotFound, UnknownLocation, VersionMismatch if
    expected_version is given and the balance is at another.
    """
    if quantity == 0:
        raise InvalidQuantity("An adjustment changes stock by at least one unit.")
    if reason not in AdjustmentReason.values:
        raise InvalidQuantity(f"Unknown adjustment reason {reason!r}.")
    posting = Posting(
        product_id=product_id,
        kind=MovementKind.ADJUSTMENT,
        quantity=quantity,
        reason=reason,
        reference=reference,
        note=note,
        location_id=location_id,
        expected_version=expected_version,
    )
    return movements_post(postings=[posting], actor_id=actor_id, alone=True)[0]


@transaction.atomic
def stock_take(
    *,
    product_id: int,
    counted: int,
    actor_id: int | None,
    note: str = "",
    location_id: int | None = None,
    expected_version: int | None = None,
) -> Movement | None:
    """Record a physical count at a location (None: the default one): post one
    adjustment of counted minus on-hand, or nothing when they agree.

    Locks the (product, location) balance row (ledger.posting.balance_lock) before
    reading on-hand, so the difference cannot be overtaken by a concurrent posting.
    Raises InvalidQuantity for a negative count, InsufficientStock if the count is below
    the units reserved there, ProductNotFound, UnknownLocation, VersionMismatch if
    expected_version is given and the balance is at another (even when the count
    matches).
    """
    if counted < 0:
        raise InvalidQuantity("A count cannot be negative.")
    figures = balance_lock(
        product_id=product_id, location_id=location_id, expected_version=expected_version
    )
    difference = counted - figures.on_hand
    if difference == 0:
        return None
    posting = Posting(
        product_id=product_id,
        kind=MovementKind.ADJUSTMENT,
        quantity=difference,
        reason=AdjustmentReason.STOCKTAKE,
        note=note,
        location_id=location_id,
    )
    return movements_post(postings=[posting], actor_id=actor_id)[0]


def location_create(*, code: str, name: str) -> Location:
    """Create an active location; the code is stored upper-case.

    Raises LocationExists if the code is taken (also when another request took it
    meanwhile).
    """
    code = code.upper()
    try:
        with transaction.atomic():
            return Location.objects.create(code=code, name=name)
    except IntegrityError as exc:
        constraint = getattr(getattr(exc.__cause__, "diag", None), "constraint_name", "") or ""
        if "code" not in constraint:
            raise
        raise LocationExists(location=code) from exc


# Whatever a location still holds, expects or reserves, summed over its products.
_LOCATION_STOCK = """
SELECT COALESCE(SUM(on_hand), 0)::bigint, COALESCE(SUM(reserved), 0)::bigint,
       COALESCE(SUM(incoming), 0)::bigint
  FROM ledger_stockbalance WHERE location_id = %s
"""


@transaction.atomic
def location_update(
    *, location_id: int, name: str | None = None, is_active: bool | None = None
) -> Location:
    """Rename, archive (is_active False) or reactivate a location.

    Locks the location row (FOR UPDATE) first: postings at a named location hold it FOR
    KEY SHARE until they commit, so archiving waits for those in flight and the ones
    after it find the location archived. Only then are its balances read: archiving
    needs every figure at zero, as Shopify's deactivation does, and no transfer in
    transit from or to it.
    Raises LocationNotFound, DefaultLocationArchived, LocationNotEmpty,
    LocationHasTransfers.
    """
    location = Location.objects.select_for_update().filter(pk=location_id).first()
    if location is None:
        raise LocationNotFound(location=str(location_id))
    changed = []
    if name is not None and name != location.name:
        location.name = name
        changed.append("name")
    if is_active is not None and is_active != location.is_active:
        if not is_active:
            _check_archivable(location)
        location.is_active = is_active
        changed.append("is_active")
    if changed:
        location.save(update_fields=changed)
    return location


def _check_archivable(location: Location) -> None:
    if location.is_default:
        raise DefaultLocationArchived(location=location.code)
    with connection.cursor() as cursor:
        cursor.execute(_LOCATION_STOCK, [location.id])
        on_hand, reserved, incoming = cursor.fetchone()
    if on_hand or reserved or incoming:
        raise LocationNotEmpty(
            location=location.code, on_hand=on_hand, reserved=reserved, incoming=incoming
        )
    # Units sent from it and not yet received may come back to it (a cancel): it must
    # still take that posting. A transfer's create posts at its origin under the
    # location's KEY SHARE lock, so one committed before this lock was taken is seen.
    in_transit = Transfer.objects.filter(status=TransferStatus.IN_TRANSIT).filter(
        Q(from_location=location) | Q(to_location=location)
    )
    if in_transit.exists():
        raise LocationHasTransfers(location=location.code)
