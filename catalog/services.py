from contextlib import contextmanager
from decimal import Decimal

from django.db import IntegrityError, transaction

from catalog.events import product_event_append
from catalog.exceptions import ProductExists
from catalog.models import Product


@contextmanager
def _one_transaction_with_unique_names():
    """One transaction; a sku or name taken meanwhile (the API checks first, but two
    requests can race past that check) becomes ProductExists instead of a 500."""
    try:
        with transaction.atomic():
            yield
    except IntegrityError as exc:
        constraint = getattr(getattr(exc.__cause__, "diag", None), "constraint_name", "") or ""
        field = "sku" if "sku" in constraint else "name" if "name" in constraint else None
        if field is None:
            raise
        raise ProductExists(field=field) from exc


def product_create(
    *,
    sku: str,
    name: str,
    price: Decimal,
    description: str = "",
    reorder_level: int = 0,
    is_active: bool = True,
) -> Product:
    """Create a product. The ledger opens its balance row (on hand 0) in the same
    transaction (its trigger on catalog_product), so the catalogue never writes it.

    Raises ProductExists if the sku or name is taken.
    """
    with _one_transaction_with_unique_names():
        product = Product.objects.create(
            sku=sku,
            name=name,
            price=price,
            description=description,
            reorder_level=reorder_level,
            is_active=is_active,
        )
        product_event_append(type="product.created", product=product)
    return product


UPDATABLE_FIELDS = frozenset({"sku", "name", "price", "description", "reorder_level", "is_active"})


def product_update(*, product: Product, **changes) -> Product:
    """Change catalogue fields (never stock: that goes through the ledger).

    Raises ProductExists if the new sku or name is taken."""
    unknown = set(changes) - UPDATABLE_FIELDS
    if unknown:
        raise TypeError(f"not updatable: {sorted(unknown)}")
    # Archiving is its own event; other changes (and un-archiving) are updates.
    archived = changes.get("is_active") is False and product.is_active
    for field, value in changes.items():
        setattr(product, field, value)
    with _one_transaction_with_unique_names():
        product.save(update_fields=[*changes, "updated_at"])
        product_event_append(
            type="product.archived" if archived else "product.updated",
            product=product,
            changed=changes,
        )
    return product
