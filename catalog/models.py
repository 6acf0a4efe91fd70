from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import Q


class Product(models.Model):
    """A catalogue entry. Its stock lives in the ledger (ledger.StockBalance, Movement);
    a product with movements cannot be deleted, only archived (is_active=False)."""

    sku = models.CharField(max_length=64, unique=True)
    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    price = models.DecimalField(max_digits=12, decimal_places=2, validators=[MinValueValidator(0)])
    reorder_level = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=Q(price__gte=0), name="product_price_not_negative"),
            models.CheckConstraint(
                condition=Q(reorder_level__gte=0), name="product_reorder_level_not_negative"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sku} {self.name}"
