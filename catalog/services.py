from decimal import Decimal

from django.db import transaction

from catalog.models import Product
from ledger.models import StockBalance


@transaction.atomic
def product_create(
    *,
    sku: str,
    name: str,
    price: Decimal,
    description: str = "",
    reorder_level: int = 0,
    is_active: bool = True,
) -> Product:
    """Create a product and its balance row (on hand 0) in one transaction.

    Raises IntegrityError if the sku or name is taken (the API validates first).
    """
    product = Product.objects.create(
        sku=sku,
        name=name,
        price=price,
        description=description,
        reorder_level=reorder_level,
        is_active=is_active,
    )
    StockBalance.objects.create(product=product)
    return product


UPDATABLE_FIELDS = frozenset({"sku", "name", "price", "description", "reorder_level", "is_active"})


@transaction.atomic
def product_update(*, product: Product, **changes) -> Product:
    """Change catalogue fields (never stock: that goes through the ledger)."""
    unknown = set(changes) - UPDATABLE_FIELDS
    if unknown:
        raise TypeError(f"not updatable: {sorted(unknown)}")
    for field, value in changes.items():
        setattr(product, field, value)
    product.save(update_fields=[*changes, "updated_at"])
    return product
