"""The ledger's events: every movement is one event in the feed, written by the
posting's own statement (ledger.posting); its data holds the movement's fields
(ledger.movement_fields).

A movement's event type follows its kind (and, for a restock or an adjustment, the
document it belongs to): a receipt's restocks are ``receipt.received``, a stocktake's
adjustments ``stocktake.counted``.
"""

from events.types import EventType, event_types_register
from ledger.models import MovementKind
from ledger.movement_fields import EVENT_FIELDS

VERSION = 1

# (JSON key, SQL expression over the inserted movement m, product p and location l,
# JSON type, description): the data of every stock event, version 1, from the
# movement's fields (ledger.movement_fields).
DATA_FIELDS: tuple[tuple[str, str, str, str], ...] = tuple(
    (field.event, field.sql, field.type + ("|null" if field.nullable else ""), field.help)
    for field in EVENT_FIELDS
)
# The columns of the inserted movements the event needs (RETURNING of the insert).
RETURNED_COLUMNS = tuple(
    dict.fromkeys(
        ["id", "product_id", "location_id", "seq", "recorded_at"]
        + [expr[2:] for _, expr, _, _ in DATA_FIELDS if expr.startswith("m.")]
    )
)

# The event type of each kind; restocks and adjustments depend on their document.
KIND_TYPES: dict[str, str] = {
    MovementKind.RESTOCK: "stock.restocked",
    MovementKind.CONSUMPTION: "stock.consumed",
    MovementKind.ADJUSTMENT: "stock.adjusted",
    MovementKind.REVERSAL: "stock.reversed",
    MovementKind.HOLD: "reservation.held",
    MovementKind.COMMIT: "reservation.committed",
    MovementKind.RELEASE: "reservation.released",
    MovementKind.EXPIRY: "reservation.expired",
    MovementKind.TRANSFER_OUT: "transfer.sent",
    MovementKind.IN_TRANSIT: "transfer.in_transit",
    MovementKind.TRANSFER_IN: "transfer.received",
    MovementKind.TRANSIT_CANCEL: "transfer.cancelled",
    MovementKind.TRANSFER_RETURN: "transfer.returned",
}
RECEIPT_TYPE = "receipt.received"
STOCKTAKE_TYPE = "stocktake.counted"

_SUMMARIES = {
    "stock.restocked": "Goods received outside a receipt: on hand goes up.",
    "stock.consumed": "An order's line took units: on hand goes down.",
    "stock.adjusted": "A correction (damaged, lost, found, ...): on hand changes.",
    "stock.reversed": "A consumption or commit undone (a cancelled order).",
    "reservation.held": "A reservation holds units: reserved goes up.",
    "reservation.committed": "Held units left with an order: on hand and reserved down.",
    "reservation.released": "A hold given back: reserved goes down.",
    "reservation.expired": "A hold past its expiry given back: reserved goes down.",
    "transfer.sent": "Units left the origin of a transfer: on hand goes down there.",
    "transfer.in_transit": "Units on their way to the destination: incoming goes up.",
    "transfer.received": "Units arrived: incoming down, on hand up at the destination.",
    "transfer.cancelled": "A transfer cancelled in transit: incoming goes down.",
    "transfer.returned": "A cancelled transfer's units back at the origin.",
    RECEIPT_TYPE: "A line of a receipt (a whole delivery): on hand goes up.",
    STOCKTAKE_TYPE: "A stocktake's count differed: on hand set to the count.",
}


def type_sql() -> str:
    """The event type of an inserted movement ``m``, as SQL (kinds are the model's
    choices, never user input)."""
    cases = " ".join(f"WHEN '{kind}' THEN '{name}'" for kind, name in KIND_TYPES.items())
    return (
        f"CASE WHEN m.receipt_id IS NOT NULL AND m.kind = 'restock' THEN '{RECEIPT_TYPE}'"
        f" WHEN m.stocktake_id IS NOT NULL AND m.kind = 'adjustment' THEN '{STOCKTAKE_TYPE}'"
        f" ELSE CASE m.kind {cases} END END"
    )


def data_sql() -> tuple[str, str]:
    """The event data of an inserted movement ``m`` (with its product ``p`` and location
    ``l``), as SQL: a LATERAL row source to join after them, and the expression of the
    data over it. to_jsonb of a row costs PostgreSQL about 4.4 µs a movement against
    jsonb_build_object's 6 (19 keys), and gives the same object."""
    columns = ", ".join(f'{e} AS "{k}"' for k, e, _, _ in DATA_FIELDS)
    return f"LATERAL (SELECT {columns}) AS d", "to_jsonb(d)"


SUBJECT_SQL = "'stock/' || p.sku || '/' || l.code"

STOCK_TYPES = tuple(
    EventType(
        name=name,
        version=VERSION,
        summary=summary,
        subject="stock/<sku>/<location code>",
        fields={key: (kind, text) for key, _, kind, text in DATA_FIELDS},
    )
    for name, summary in _SUMMARIES.items()
)

event_types_register(*STOCK_TYPES)
