"""Products in the admin. Writes go through the catalogue's services, as from the API.
The ledger's admin extends this page with the stock figures and a restock action."""

from django.contrib import admin

from catalog.models import Product
from catalog.services import UPDATABLE_FIELDS, product_create, product_update


@admin.register(Product)
class ProductAdmin(admin.ModelAdmin):
    list_display = ("sku", "name", "price", "reorder_level", "is_active")
    list_filter = ("is_active",)
    search_fields = ("sku", "name")
    fields = ("sku", "name", "description", "price", "reorder_level", "is_active")

    def save_model(self, request, obj, form, change) -> None:
        """Create through product_create or update through product_update; the form has
        already validated the unique sku and name."""
        data = {name: form.cleaned_data[name] for name in UPDATABLE_FIELDS}
        if change:
            changed = {name: data[name] for name in form.changed_data if name in data}
            if changed:
                product_update(product=obj, **changed)
            return
        product = product_create(**data)
        # The admin goes on with `obj` (change message, log entry, redirect).
        for name in ("id", "created_at", "updated_at"):
            setattr(obj, name, getattr(product, name))
        obj._state.adding = False
        obj._state.db = product._state.db
