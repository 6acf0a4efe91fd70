"""What every page shares."""

from datetime import UTC, datetime

from rest_framework.exceptions import ValidationError

from console.selectors import movement_page
from ledger.models import Location, Movement
from ledger.selectors import location_list, movement_list

MAX_ID = 2**63 - 1


def locations() -> list[Location]:
    """Every location, archived ones too, the default first: one query."""
    return list(location_list().only("id", "code", "name", "is_default", "is_active"))


def choices(found: list[Location]) -> list[tuple[str, str]]:
    """The active ones, to post at or filter by."""
    return [(loc.code, f"{loc.code} · {loc.name}") for loc in found if loc.is_active]


def int_param(request, name: str) -> int | None:
    """A positive id from the query string; anything else counts as not given."""
    value = request.GET.get(name, "")
    if value.isdigit() and 0 < int(value) <= MAX_ID:
        return int(value)
    return None


def instant_param(request, name: str) -> datetime | None:
    """An ISO 8601 instant from the query string (naive: UTC); None if absent or bad."""
    value = request.GET.get(name, "").strip()
    if not value:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def movements_shown(
    filters: dict | None, *, before: int | None, size: int
) -> tuple[list[Movement], int | None]:
    """A page of the movements the filters pick (None: a filter was not valid, so
    none), and the next page's cursor."""
    if filters is None:
        return [], None
    try:
        return movement_page(movement_list(filters=filters), before=before, size=size)
    except ValidationError:  # a value the form let through but the filter refuses
        return [], None
