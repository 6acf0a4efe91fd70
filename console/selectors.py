"""Reads the pages need beyond the domain apps' selectors: the balance-over-time series
of a product, and movement pages by id (keyset). Each is one query whatever the rows."""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import QuerySet

from ledger.fold import EFFECTS
from ledger.models import Movement

# Kinds that change the units on the shelf: the chart draws those.
SHELF_KINDS = tuple(kind for kind, effect in EFFECTS.items() if effect.on_hand)
CHART_POINTS = 500


@dataclass(frozen=True, slots=True)
class Point:
    at: datetime
    on_hand: int  # summed over the product's locations, right after the movement
    change: int  # units on the shelf it added (+) or took (-)
    kind: str


def balance_series(
    *, product_id: int, on_hand_now: dict[int, int], limit: int = CHART_POINTS
) -> list[Point]:
    """The product's on-hand units summed over its locations after each of its last
    ``limit`` movements that changed them, oldest first. ``on_hand_now`` ({location id:
    units}) gives the figure of locations the window does not touch. One query: each
    movement's balance_after is its location's figure, so the sum needs no replay."""
    rows = list(
        Movement.objects.filter(product_id=product_id, kind__in=SHELF_KINDS)
        .order_by("-recorded_at", "-id")
        .values_list("recorded_at", "location_id", "kind", "quantity", "balance_after")[:limit]
    )
    rows.reverse()
    current = dict(on_hand_now)
    seen: set[int] = set()
    for _, location_id, kind, quantity, balance_after in rows:
        if location_id not in seen:
            seen.add(location_id)
            current[location_id] = balance_after - EFFECTS[kind].on_hand * quantity
    points = []
    for at, location_id, kind, quantity, balance_after in rows:
        current[location_id] = balance_after
        points.append(Point(at, sum(current.values()), EFFECTS[kind].on_hand * quantity, kind))
    return points


def movement_page(
    movements: QuerySet[Movement], *, before: int | None, size: int
) -> tuple[list[Movement], int | None]:
    """A page of ``movements`` (newest first, by descending id) whose ids are below
    ``before`` (None: the newest), and the cursor of the next page (None: no more). The
    cost of a page does not depend on how deep it is."""
    if before is not None:
        movements = movements.filter(id__lt=before)
    rows = list(movements[: size + 1])
    more = len(rows) > size
    rows = rows[:size]
    return rows, (rows[-1].id if more else None)
