"""The catalogue's events: a product created, updated (any catalogue field), archived
(is_active turned off). Written by catalog.services in the change's transaction."""

from events.services import event_append
from events.types import EventType, event_types_register

PRODUCT_FIELDS = {
    "product": ("integer", "The product's id."),
    "sku": ("string", "Its sku."),
    "name": ("string", "Its name."),
    "price": ("string", "Its price, a decimal as a string."),
    "reorder_level": ("integer", "Its reorder level."),
    "is_active": ("boolean", "False once archived."),
    "changed": ("array", "The fields this change set (product.updated only; else empty)."),
}

event_types_register(
    *(
        EventType(
            name=name,
            version=1,
            summary=summary,
            subject="product/<sku>",
            fields=PRODUCT_FIELDS,
        )
        for name, summary in (
            ("product.created", "A product was added to the catalogue."),
            ("product.updated", "Catalogue fields of a product changed."),
            ("product.archived", "A product was archived: it takes no more orders."),
        )
    )
)


def product_event_append(*, type: str, product, changed=()) -> None:
    """One product event in the caller's transaction."""
    event_append(
        type=type,
        subject=f"product/{product.sku}",
        data={
            "product": product.id,
            "sku": product.sku,
            "name": product.name,
            "price": str(product.price),
            "reorder_level": product.reorder_level,
            "is_active": product.is_active,
            "changed": sorted(changed),
        },
    )
