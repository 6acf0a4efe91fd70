"""The orders' events: order.placed and order.cancelled, written in the posting's own
statement (ledger.posting.movements_post's ``events``) or, for an order from a
reservation, by one more statement in its transaction."""

from events.types import EventType, event_types_register

ORDER_FIELDS = {
    "order": ("integer", "The order's id."),
    "customer": ("integer", "The customer's user id."),
    "total": ("string", "The order's total, a decimal as a string."),
    "lines": ("array", "Its lines: {line, product, quantity, unit_price}."),
    "reservation": ("integer|null", "The reservation it was placed from, if any."),
}

event_types_register(
    EventType(
        name="order.placed",
        version=1,
        summary="An order was placed: its consumptions (or commits) follow.",
        subject="order/<id>",
        fields=ORDER_FIELDS,
    ),
    EventType(
        name="order.cancelled",
        version=1,
        summary="An order was cancelled: its reversals precede it in the same commit.",
        subject="order/<id>",
        fields={
            "order": ("integer", "The order's id."),
            "lines": ("array", "The lines given back: {line, product, quantity}."),
        },
    ),
)


def order_event(type: str, order, lines, reservation_id=None) -> tuple[str, str, dict]:
    """The (type, subject, data) of an order event, for movements_post(events=...)."""
    return (
        type,
        f"order/{order.id}",
        {
            "order": order.id,
            "customer": order.customer_id,
            "total": str(order.total),
            "lines": [
                {
                    "line": line.id,
                    "product": line.product_id,
                    "quantity": line.quantity,
                    "unit_price": str(line.unit_price),
                }
                for line in lines
            ],
            "reservation": reservation_id,
        },
    )


def order_cancelled_event(order_id: int, lines) -> tuple[str, str, dict]:
    """``lines``: (line id, product id, quantity given back)."""
    return (
        "order.cancelled",
        f"order/{order_id}",
        {
            "order": order_id,
            "lines": [
                {"line": line, "product": product, "quantity": quantity}
                for line, product, quantity in lines
            ],
        },
    )
