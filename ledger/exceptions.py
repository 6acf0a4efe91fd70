from core.exceptions import Conflict, InvalidInput, NotFound, PreconditionFailed


class InsufficientStock(Conflict):
    """A posting would take available units (on hand minus reserved) below zero.
    ``lines`` lists, for each short product, the quantity asked for and the quantity
    available at the location posted to."""

    code = "insufficient_stock"
    detail = "Not enough stock."
    schema_example = {"lines": [{"product": 8, "requested": 2, "available": 0}]}

    def __init__(self, lines: list[dict], detail: str | None = None) -> None:
        super().__init__(detail, lines=lines)
        self.lines = lines


class InvalidQuantity(InvalidInput):
    code = "invalid_quantity"
    detail = "The quantity is not valid for this movement."


class MovementNotFound(NotFound):
    code = "movement_not_found"
    detail = "No such movement."
    schema_example = {"movement": 999}


class UnknownLocation(InvalidInput):
    """A write or a read names a location (by code or id) that does not exist, or, for a
    write, one that is archived."""

    code = "unknown_location"
    detail = "No such active location."
    schema_example = {"location": "STORE-9"}


class LocationNotFound(NotFound):
    code = "location_not_found"
    detail = "No such location."
    schema_example = {"location": "STORE-9"}


class LocationExists(Conflict):
    code = "location_exists"
    detail = "A location with this code exists."
    schema_example = {"location": "STORE-2"}


class LocationNotEmpty(Conflict):
    """Archiving a location that still holds, reserves or expects units."""

    code = "location_not_empty"
    detail = "The location still holds stock: move or adjust it out before archiving."
    schema_example = {"location": "STORE-2", "on_hand": 12, "reserved": 0, "incoming": 0}


class DefaultLocationArchived(Conflict):
    code = "default_location"
    detail = "The default location cannot be archived."
    schema_example = {"location": "MAIN"}


class VersionMismatch(PreconditionFailed):
    """A write's If-Match named another version of the (product, location) balance than
    its current one: nothing was written. The body has the current version and figures."""

    code = "version_mismatch"
    detail = "The stock changed since it was read: read it again and retry."
    schema_example = {
        "product": 8,
        "version": 42,
        "on_hand": 10,
        "reserved": 2,
        "available": 8,
        "incoming": 0,
    }


class InvalidIfMatch(InvalidInput):
    code = "invalid_if_match"
    detail = 'If-Match must be one ETag as a balance read gives it (e.g. "42"), or *.'


class TransferNotFound(NotFound):
    code = "transfer_not_found"
    detail = "No such transfer."
    schema_example = {"transfer": 999}


class TransferNotInTransit(Conflict):
    """A receive or cancel of a transfer that is already closed (received in full or
    cancelled): nothing is in transit any more."""

    code = "transfer_not_in_transit"
    detail = "The transfer is closed: nothing of it is in transit any more."
    schema_example = {"transfer": 4, "status": "received"}


class TransferSameLocation(InvalidInput):
    code = "transfer_same_location"
    detail = "A transfer moves units between two different locations."
    schema_example = {"location": "MAIN"}


class TransferTooLarge(InvalidInput):
    code = "transfer_too_large"
    detail = "The transfer is larger than one transfer may be."


class TransferQuantityExceeded(Conflict):
    """A receive asks for more of a line than is still in transit. ``lines`` lists
    every such line: the units asked for and those still in transit (``available``; 0
    for a product that is not on the transfer)."""

    code = "transfer_quantity_exceeded"
    detail = "More than is still in transit on the transfer."
    schema_example = {"transfer": 4, "lines": [{"product": 8, "requested": 5, "available": 3}]}

    def __init__(self, lines: list[dict], detail: str | None = None, **data) -> None:
        super().__init__(detail, lines=lines, **data)
        self.lines = lines


class LocationHasTransfers(Conflict):
    """Archiving a location that a transfer in transit leaves from or goes to: a cancel
    would return the units to it, a receive put them there."""

    code = "location_has_transfers"
    detail = "Transfers from or to the location are in transit: receive or cancel them first."
    schema_example = {"location": "STORE-2"}


class ReservationNotFound(NotFound):
    """No such reservation, or (for a customer) another customer's."""

    code = "reservation_not_found"
    detail = "No such reservation."
    schema_example = {"reservation": 999}


class ReservationNotHeld(Conflict):
    """The reservation was already committed, released or expired (or is past its
    expires_at): it resolves exactly once. ``status`` is its status now."""

    code = "reservation_not_held"
    detail = "The reservation is no longer held."
    schema_example = {"reservation": 4, "status": "expired"}


class ExceedsReservation(InvalidInput):
    """A commit (or an order from a reservation) names a product the reservation does not
    hold, or more units than it holds; ``available`` is the units held for each line."""

    code = "exceeds_reservation"
    detail = "The lines are not within what the reservation holds."
    schema_example = {"lines": [{"product": 8, "requested": 3, "available": 2}]}


class InvalidTtl(InvalidInput):
    code = "invalid_ttl"
    detail = "A reservation is held for 1 second to 7 days (604800 seconds)."


class InvalidLineCount(InvalidInput):
    """A receipt or a stocktake with no line, or with more lines than one may hold."""

    code = "invalid_line_count"
    detail = "A receipt or a stocktake has 1 to 5000 lines."


class ReceiptNotFound(NotFound):
    code = "receipt_not_found"
    detail = "No such receipt."
    schema_example = {"receipt": 999}


class DuplicateCount(InvalidInput):
    """A stocktake counts a product on two lines: a count is the whole quantity on
    hand, so two counts of one product contradict each other (add them up first)."""

    code = "duplicate_count"
    detail = "A stocktake counts each product once."
    schema_example = {"products": [8]}


class InvalidCountedAt(InvalidInput):
    """A stocktake's counted_at in the future (by the database's clock, past a small
    allowance for clock skew) or older than a stocktake may be."""

    code = "invalid_counted_at"
    detail = "counted_at must be in the past, and at most 7 days ago."
    schema_example = {"counted_at": "2025-01-31T17:00:00Z", "now": "2025-01-30T09:12:03Z"}


class CountSuperseded(Conflict):
    """A stocktake line's product was counted again (a stocktake adjustment posted) after
    this count's counted_at: the balance as of counted_at lacks that correction, so
    posting this count would apply it twice or undo the newer count. Nothing is
    written; count again."""

    code = "count_superseded"
    detail = "These products were counted again after counted_at; count them again."
    schema_example = {"products": [8]}


class PartitionNotFound(NotFound):
    code = "partition_not_found"
    detail = "No such detached partition of movements."
    schema_example = {"partition": "ledger_movement_y2026m01"}


class PartitionNotDetachable(Conflict):
    """Partitions are detached oldest first, each only once its chains verify and once
    the default partition holds no movement recorded before the cut."""

    code = "partition_not_detachable"
    detail = "This partition cannot be detached."


class HistoryDetached(Conflict):
    """A balance as of an instant before the end of the last detached month of movements
    (ledger.partitions): those movements are no longer in the table."""

    code = "history_detached"
    detail = "The movements of that time are detached: ask for a later instant."
    schema_example = {"detached_before": "2026-01-01T00:00:00Z"}
