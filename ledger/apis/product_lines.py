"""Lines of a receipt or a stocktake: a product named by id or by sku."""

from rest_framework import serializers

from core.filtering import MAX_ID

SKU_MAX_LENGTH = 64  # catalog.Product.sku


class ProductLineInput(serializers.Serializer):
    """A line's product: ``product`` (its id) or ``sku``, exactly one of them."""

    product = serializers.IntegerField(
        min_value=1, max_value=MAX_ID, required=False, help_text="The product's id (or give sku)."
    )
    sku = serializers.CharField(
        max_length=SKU_MAX_LENGTH, required=False, help_text="The product's sku (or give product)."
    )

    def validate(self, attrs):
        if ("product" in attrs) == ("sku" in attrs):
            raise serializers.ValidationError("Name the product by id (product) or by sku: one.")
        return attrs


def product_ref(line: dict) -> int | str:
    """What ledger.selectors.products_resolve takes: the id, else the sku."""
    return line["product"] if "product" in line else line["sku"]
