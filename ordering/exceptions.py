# Orders and reservations refuse missing or archived products alike: the error lives in
# the catalogue, and orders' callers keep importing it from here.
from catalog.exceptions import UnknownProducts  # noqa: F401
from core.exceptions import Conflict, InvalidInput, NotFound


class OrderNotFound(NotFound):
    code = "order_not_found"
    detail = "No such order."
    schema_example = {"order": 999}


class OrderNotCancellable(Conflict):
    code = "order_not_cancellable"
    detail = "Only a placed order can be cancelled."
    schema_example = {"order": 4}


class OrderTooLarge(InvalidInput):
    code = "order_too_large"
    detail = "The order is larger than one order may be."


class ProductOutOfStock(InvalidInput):
    """The original API's answer to short stock (a 400, as its clients expect)."""

    code = "product_out_of_stock"
    detail = "A product is out of stock."
    schema_example = {"lines": [{"product": 8, "requested": 1, "available": 0}]}
