from core.exceptions import Conflict, InvalidInput, NotFound


class ProductNotFound(NotFound):
    code = "product_not_found"
    detail = "No such product."
    schema_example = {"product": 999}


class ProductHasMovements(Conflict):
    code = "product_has_movements"
    detail = "A product with stock movements cannot be deleted; archive it instead."


class ProductExists(Conflict):
    """Another product already has this sku or name (``field`` says which)."""

    code = "product_exists"
    detail = "Another product already has this sku or name."
    schema_example = {"field": "sku"}


class UnknownProducts(InvalidInput):
    """Some products a request names do not exist or are archived (a transfer may move
    archived ones): every one of them, ids in ``products`` and, where lines name
    products by sku (receipts, stocktakes), skus in ``skus``."""

    code = "unknown_product"
    detail = "Some products do not exist or are no longer sold."
    schema_example = {"products": [999], "skus": ["NO-SUCH-SKU"]}
