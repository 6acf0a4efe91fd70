from core.exceptions import Conflict, InvalidInput, NotFound


class InsufficientStock(Conflict):
    """A posting would take on-hand below zero. ``lines`` lists, for each short product,
    the quantity asked for and the quantity available."""

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
