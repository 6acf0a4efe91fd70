from core.exceptions import Conflict, NotFound


class ProductNotFound(NotFound):
    code = "product_not_found"
    detail = "No such product."


class ProductHasMovements(Conflict):
    code = "product_has_movements"
    detail = "A product with stock movements cannot be deleted; archive it instead."
