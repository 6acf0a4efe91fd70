"""The ledger in the admin: read-only. Stock changes go through ledger.services (the
product admin's restock action, the API), never through an edit form."""

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connection
from django.utils.functional import cached_property

from ledger import product_admin  # noqa: F401  (the product page with its stock)
from ledger.models import (
    Location,
    Movement,
    Receipt,
    Reservation,
    ReservationLine,
    StockAlert,
    Stocktake,
    Transfer,
    TransferLine,
)


class EstimatedCountPaginator(Paginator):
    """Counting millions of movements on every unfiltered page view is a full scan; the
    planner's row estimate is close enough to size the page links. Filtered lists (a
    search, a kind, a date range) are counted exactly."""

    exact_below = 100_000

    @cached_property
    def count(self) -> int:
        if not self.object_list.query.where:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT reltuples::bigint FROM pg_class WHERE oid = %s::regclass",
                    [self.object_list.model._meta.db_table],
                )
                estimate = cursor.fetchone()[0]
            # reltuples is -1 (or stale and small) until the table has been analyzed.
            if estimate >= self.exact_below:
                return estimate
        return super().count


class ReadOnlyAdmin(admin.ModelAdmin):
    """View permission only: the change view renders read-only and refuses a POST
    (403), the delete view is forbidden, there is no add button."""

    show_full_result_count = False
    paginator = EstimatedCountPaginator

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Movement)
class MovementAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "product",
        "location",
        "kind",
        "quantity",
        "seq",
        "balance_after",
        "recorded_at",
        "actor",
        "reference",
    )
    # A location list filter would cost one more query per page; search by its code.
    list_filter = ("kind", "reason", "recorded_at")
    search_fields = ("product__sku", "product__name", "reference", "location__code")
    list_select_related = ("product", "location", "actor")


@admin.register(Location)
class LocationAdmin(ReadOnlyAdmin):
    """Locations are created, renamed and archived through the API
    (/api/v1/locations/), which checks that an archived location holds nothing."""

    list_display = ("code", "name", "is_active", "is_default", "created_at")
    list_filter = ("is_active",)
    search_fields = ("code", "name")


@admin.register(StockAlert)
class StockAlertAdmin(ReadOnlyAdmin):
    list_display = (
        "id",
        "product",
        "on_hand",
        "reorder_level",
        "created_at",
        "status",
        "sent_at",
        "attempts",
    )
    list_filter = ("created_at", "sent_at")
    search_fields = ("product__sku", "product__name")
    list_select_related = ("product",)


class ReservationLineInline(admin.TabularInline):
    model = ReservationLine
    fields = ("product", "quantity", "committed")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Reservation)
class ReservationAdmin(ReadOnlyAdmin):
    """Reservations are held, committed and released through the API; here they are
    read, with their lines."""

    list_display = ("id", "customer", "location", "status", "expires_at", "reference")
    list_filter = ("status", "expires_at")
    search_fields = ("reference", "customer__username")
    list_select_related = ("customer", "location")
    inlines = (ReservationLineInline,)


class TransferLineInline(admin.TabularInline):
    model = TransferLine
    fields = ("product", "quantity", "received", "cancelled")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False


@admin.register(Transfer)
class TransferAdmin(ReadOnlyAdmin):
    list_display = ("id", "from_location", "to_location", "status", "created_at", "reference")
    list_filter = ("status", "created_at")
    search_fields = ("reference",)
    list_select_related = ("from_location", "to_location")
    inlines = (TransferLineInline,)


@admin.register(Receipt)
class ReceiptAdmin(ReadOnlyAdmin):
    list_display = ("id", "location", "reference", "line_count", "units", "created_at")
    list_filter = ("created_at",)
    search_fields = ("reference",)
    list_select_related = ("location",)


@admin.register(Stocktake)
class StocktakeAdmin(ReadOnlyAdmin):
    list_display = ("id", "location", "counted_at", "line_count", "adjusted", "created_at")
    list_filter = ("counted_at",)
    search_fields = ("reference",)
    list_select_related = ("location",)
