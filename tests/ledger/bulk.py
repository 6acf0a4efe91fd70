"""Many products at once, for documents of thousands of lines."""

from decimal import Decimal

from catalog.models import Product


def bulk_products(count: int, *, prefix: str = "BULK") -> list[Product]:
    """``count`` active products in one INSERT; the ledger's trigger opens each one's
    balance row at the default location, as product_create does."""
    return Product.objects.bulk_create(
        Product(sku=f"{prefix}-{n:05d}", name=f"{prefix} product {n}", price=Decimal("1.00"))
        for n in range(count)
    )
