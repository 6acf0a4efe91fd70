"""A movement's fields as the outside world sees them, defined once: the API's output
(ledger.apis.output), the CSV export (ledger.apis.export) and the feed's event data
(ledger.events) are all built from ``FIELDS``. Adding a field here adds it to the three.

What is not built from here, on purpose:
- the columns a posting writes come from the model itself (ledger.posting);
- the fields each hash version covers (ledger.hashing) are frozen per version, so that a
  movement keeps verifying under the scheme it was written with; a new field there is a
  new hash version.
"""

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class MovementField:
    # The field's name in the API and the CSV export.
    key: str
    # What it reads of a Movement: an attribute (``product_id``), or a dotted path
    # (``location.code``) through a related row the selectors fetch with it.
    source: str
    # Its value as SQL over the movement ``m``, its product ``p`` and its location ``l``.
    sql: str
    # integer, string or datetime; ``nullable``: None/null/empty where it has none.
    type: str
    help: str
    nullable: bool = False
    # Its column in the CSV export: columns are written in this order, and a field added
    # later takes the next number, so that readers of an earlier layout keep working.
    csv: int | None = None
    # Its key in a stock event's data (version 1 named some differently); None: not in
    # the event (recorded_at is the envelope's occurred_at).
    event: str | None = None
    # Only in the history's rows (GET /movements/), which read the product and order.
    history_only: bool = False


def _same(key: str, source: str, sql: str, type_: str, help_: str, **kwargs) -> MovementField:
    return MovementField(key, source, sql, type_, help_, event=kwargs.pop("event", key), **kwargs)


# In the API's order.
FIELDS: tuple[MovementField, ...] = (
    MovementField("id", "id", "m.id", "integer", "The movement's id.", csv=0, event="movement"),
    _same("product", "product_id", "m.product_id", "integer", "The product's id.", csv=1),
    _same("kind", "kind", "m.kind", "string", "restock, consumption, adjustment, ...", csv=3),
    _same("quantity", "quantity", "m.quantity", "integer", "Signed quantity.", csv=4),
    _same("reason", "reason", "m.reason", "string", "An adjustment's reason, else empty.", csv=5),
    _same(
        "seq",
        "seq",
        "m.seq",
        "integer",
        "The (product, location)'s event number: 1, 2, 3...",
        csv=6,
    ),
    MovementField(
        "balance_after",
        "balance_after",
        "m.balance_after",
        "integer",
        "Units on hand here right after this movement.",
        csv=7,
        event="on_hand",
    ),
    MovementField(
        "recorded_at", "recorded_at", "m.recorded_at", "datetime", "When it was recorded.", csv=8
    ),
    _same(
        "actor",
        "actor_id",
        "m.actor_id",
        "integer",
        "The user who posted it.",
        nullable=True,
        csv=9,
    ),
    _same(
        "reference",
        "reference",
        "m.reference",
        "string",
        "Free text: delivery note, order id.",
        csv=10,
    ),
    MovementField("note", "note", "m.note", "string", "Free text.", csv=14),
    _same(
        "order_line",
        "order_line_id",
        "m.order_line_id",
        "integer",
        "The order line it belongs to.",
        nullable=True,
        csv=12,
    ),
    _same(
        "reverses",
        "reverses_id",
        "m.reverses_id",
        "integer",
        "The movement a reversal undoes.",
        nullable=True,
        csv=13,
    ),
    _same("location", "location.code", "l.code", "string", "The location's code.", csv=15),
    MovementField(
        "reserved_after",
        "reserved_after",
        "m.reserved_after",
        "integer",
        "Units reserved here right after.",
        csv=16,
        event="reserved",
    ),
    MovementField(
        "incoming_after",
        "incoming_after",
        "m.incoming_after",
        "integer",
        "Units on their way here right after.",
        csv=17,
        event="incoming",
    ),
    _same(
        "reservation",
        "reservation_id",
        "m.reservation_id",
        "integer",
        "The reservation it holds or resolves.",
        nullable=True,
        csv=18,
    ),
    _same(
        "transfer",
        "transfer_id",
        "m.transfer_id",
        "integer",
        "The transfer it is a leg of.",
        nullable=True,
        csv=19,
    ),
    _same(
        "receipt",
        "receipt_id",
        "m.receipt_id",
        "integer",
        "The delivery it received.",
        nullable=True,
        csv=20,
    ),
    _same(
        "stocktake",
        "stocktake_id",
        "m.stocktake_id",
        "integer",
        "The count it corrects to.",
        nullable=True,
        csv=21,
    ),
    # The event has the sku whatever the reader; the API's rows only in the history.
    _same("sku", "product.sku", "p.sku", "string", "The product's sku.", csv=2, history_only=True),
    MovementField(
        "order",
        "order_id",
        "",
        "integer",
        "The order its line belongs to.",
        nullable=True,
        csv=11,
        history_only=True,
    ),
)

CSV_FIELDS: tuple[MovementField, ...] = tuple(
    sorted((f for f in FIELDS if f.csv is not None), key=lambda f: f.csv)
)
EVENT_FIELDS: tuple[MovementField, ...] = tuple(f for f in FIELDS if f.event)
