"""The event types: each type's current schema version, its fields (documented in the
OpenAPI schema and docs/events.md) and the upcasters that read older versions.

An app registers its types when it is loaded (ledger.events, catalog.events,
ordering.events); the stored ``version`` of an event is the version it was written
with, and a reader gets every event at its type's current version (``upcast``).
"""

from collections.abc import Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class EventType:
    name: str
    version: int
    summary: str
    subject: str  # what the subject names
    fields: dict[str, tuple[str, str]]  # name -> (JSON type, description)
    # upcasters[v] turns the data of version v into version v + 1.
    upcasters: dict[int, Callable[[dict], dict]] = field(default_factory=dict)


REGISTRY: dict[str, EventType] = {}


def event_types_register(*types: EventType) -> None:
    for event_type in types:
        REGISTRY[event_type.name] = event_type


def upcast(type_name: str, version: int, data: dict) -> tuple[int, dict]:
    """``data`` of ``version`` read as the type's current version. A type unknown to
    this code (written by a newer one) is passed through unchanged."""
    event_type = REGISTRY.get(type_name)
    if event_type is None:
        return version, data
    while version < event_type.version:
        data = event_type.upcasters[version](data)
        version += 1
    return version, data
