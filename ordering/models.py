from django.conf import settings
from django.db import models
from django.db.models import Q


class OrderStatus(models.TextChoices):
    PLACED = "placed"
    CANCELLED = "cancelled"


class Order(models.Model):
    customer = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="orders"
    )
    status = models.CharField(
        max_length=16, choices=OrderStatus.choices, default=OrderStatus.PLACED
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    cancelled_at = models.DateTimeField(null=True, blank=True)
    total = models.DecimalField(max_digits=14, decimal_places=2)

    class Meta:
        ordering = ["-id"]
        indexes = [models.Index(fields=["customer", "-id"], name="order_customer_newest_idx")]
        constraints = [
            models.CheckConstraint(
                condition=Q(status=OrderStatus.PLACED, cancelled_at__isnull=True)
                | Q(status=OrderStatus.CANCELLED, cancelled_at__isnull=False),
                name="order_cancelled_at_matches_status",
            ),
        ]

    def __str__(self) -> str:
        return f"order {self.pk} ({self.status})"


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="lines")
    product = models.ForeignKey("catalog.Product", on_delete=models.PROTECT, related_name="+")
    quantity = models.PositiveIntegerField()
    unit_price = models.DecimalField(max_digits=12, decimal_places=2)

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(quantity__gte=1), name="order_line_quantity_positive"
            ),
            models.UniqueConstraint(fields=["order", "product"], name="order_line_product_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.quantity} x product {self.product_id}"

    @property
    def line_total(self):
        return self.unit_price * self.quantity
