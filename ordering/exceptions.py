from core.exceptions import Conflict, InvalidInput, NotFound


class OrderNotFound(NotFound):
    code = "order_not_found"
    detail = "No such order."
    schema_example = {"order": 999}


class OrderNotCancellable(Conflict):
    code = "order_not_cancellable"
    detail = "Only a placed order can be cancelled."
    schema_example = {"order": 4}


class UnknownProducts(InvalidInput):
    """Some ordered products do not exist or are archived."""

    code = "unknown_product"
    detail = "Some products do not exist or are no longer sold."
    schema_example = {"products": [999]}


class OrderTooLarge(InvalidInput):
    code = "order_too_large"
    detail = "The order is larger than one order may be."


class ProductOutOfStock(InvalidInput):
    """The original API's answer to short stock (a 400, as its clients expect)."""

    code = "product_out_of_stock"
    detail = "A product is out of stock."
    schema_example = {"lines": [{"product": 8, "requested": 1, "available": 0}]}
