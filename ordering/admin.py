from django.contrib import admin, messages

from core.exceptions import DomainError
from ordering.models import Order, OrderLine
from ordering.services import order_cancel


class OrderLineInline(admin.TabularInline):
    model = OrderLine
    fields = ("product", "quantity", "unit_price", "line_total")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


@admin.register(Order)
class OrderAdmin(admin.ModelAdmin):
    """Orders are read-only here; the one change is cancelling, through the service."""

    list_display = ("id", "customer", "status", "total", "created_at", "cancelled_at")
    list_filter = ("status", "created_at")
    search_fields = ("=id", "customer__username")
    list_select_related = ("customer",)
    readonly_fields = ("customer", "status", "total", "created_at", "cancelled_at")
    inlines = (OrderLineInline,)
    actions = ("cancel_orders",)
    show_full_result_count = False

    def has_add_permission(self, request):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False

    @admin.action(description="Cancel selected orders (posts reversal movements)")
    def cancel_orders(self, request, queryset):
        cancelled = 0
        for order_id in queryset.values_list("id", flat=True):
            try:
                order_cancel(order_id=order_id, actor_id=request.user.id, customer_id=None)
                cancelled += 1
            except DomainError as error:
                self.message_user(request, f"Order {order_id}: {error.detail}", messages.ERROR)
        if cancelled:
            self.message_user(request, f"Cancelled {cancelled} order(s).", messages.SUCCESS)
