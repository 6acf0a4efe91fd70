"""Reads of the event feed: events after a position, below the safe mark."""

import json
from dataclasses import dataclass
from datetime import datetime

from django.db import connection

from events.positions import SAFE_BOUND
from events.types import upcast

MAX_LIMIT = 1000

# One statement: the safe mark and the page below it, from one snapshot. The LEFT JOIN
# keeps the mark when the page is empty.
_PAGE = f"""
SELECT s.bound, e.position, e.type, e.version, e.occurred_at, e.subject, e.data
  FROM (SELECT {SAFE_BOUND} AS bound) AS s
  LEFT JOIN LATERAL (
        SELECT position, type, version, occurred_at, subject, data
          FROM events_event
         WHERE position > %(after)s AND position < s.bound {{types}}
         ORDER BY position
         LIMIT %(limit)s
  ) AS e ON true
"""
_PAGE_ALL = _PAGE.format(types="")
_PAGE_TYPES = _PAGE.format(types="AND type = ANY(%(types)s)")

_HEAD = f"SELECT max(position) FROM events_event WHERE position < {SAFE_BOUND}"


@dataclass(frozen=True, slots=True)
class FeedEvent:
    id: int
    type: str
    version: int
    occurred_at: datetime
    subject: str
    data: dict


@dataclass(frozen=True, slots=True)
class FeedPage:
    events: list[FeedEvent]
    # Where to resume: the last event's position, or, past a page that is not full, just
    # below the safe mark (every event up to there is final, and none matched ``types``).
    next_after: int


def event_page(*, after: int, limit: int, types: list[str] | None = None) -> FeedPage:
    """Up to ``limit`` events after position ``after`` (of ``types``, if given), in
    position order, each upcast to its type's current version. Only events below the
    safe mark (events.positions): no event below a page's positions commits later."""
    params = {"after": after, "limit": limit, "types": types}
    with connection.cursor() as cursor:
        cursor.execute(_PAGE_TYPES if types else _PAGE_ALL, params)
        rows = cursor.fetchall()
    bound = rows[0][0]
    events = []
    for _, position, type_name, version, occurred_at, subject, data in rows:
        if position is None:
            continue
        version, data = upcast(type_name, version, _json(data))
        events.append(FeedEvent(position, type_name, version, occurred_at, subject, data))
    full = len(events) == limit
    return FeedPage(events, events[-1].id if full else max(after, bound - 1))


def event_head() -> int:
    """The highest position that can be served (0: none yet)."""
    with connection.cursor() as cursor:
        cursor.execute(_HEAD)
        return cursor.fetchone()[0] or 0


def event_safe_mark() -> int:
    """The safe mark (events.positions): every event below it is committed."""
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {SAFE_BOUND}")
        return cursor.fetchone()[0]


def event_types_after(*, after: int) -> list[tuple[int, str]]:
    """(position, type) of the servable events after ``after``, in order."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT position, type FROM events_event"
            f" WHERE position > %s AND position < {SAFE_BOUND} ORDER BY position",
            [after],
        )
        return cursor.fetchall()


def event_get(*, position: int) -> FeedEvent | None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT position, type, version, occurred_at, subject, data FROM events_event"
            " WHERE position = %s",
            [position],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    version, data = upcast(row[1], row[2], _json(row[5]))
    return FeedEvent(row[0], row[1], version, row[3], row[4], data)


def _json(value):
    # Django's connection reads jsonb as text (its JSONField parses it itself).
    return json.loads(value) if isinstance(value, str) else value
