from core.exceptions import Conflict, NotFound


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
