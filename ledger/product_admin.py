"""Products with their stock in the admin: the catalogue's product page plus the
figures (in total and per location), a restock action posting through ledger.services
at the default location, and no deletion of a product that has movements."""

from functools import cache

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import Sum
from django.template import engines
from django.template.response import TemplateResponse
from django.utils.html import format_html_join
from django.utils.safestring import mark_safe

from accounts.roles import Role, has_role
from catalog.admin import ProductAdmin
from catalog.models import Product
from core.exceptions import DomainError
from ledger.models import Location, Movement, StockBalance
from ledger.services import stock_restock

# The action's intermediate page, kept here rather than in a template directory because
# it is this module's only page.
_RESTOCK_PAGE = """{% extends "admin/base_site.html" %}{% load l10n %}
{% block content %}
<p>Restock {{ products|length }} product{{ products|length|pluralize }}:
{% for product in products %}{{ product }}{% if not forloop.last %}, {% endif %}{% endfor %}.
Each product gets its own restock movement.</p>
<form method="post">{% csrf_token %}
{% for product in products %}
<input type="hidden" name="{{ action_checkbox_name }}" value="{{ product.pk|unlocalize }}">
{% endfor %}
<input type="hidden" name="action" value="restock_selected">
{{ form.as_p }}
<input type="submit" name="apply" value="Restock">
</form>
{% endblock %}
"""


@cache
def _restock_page():
    return engines["django"].from_string(_RESTOCK_PAGE)


class RestockForm(forms.Form):
    quantity = forms.IntegerField(
        min_value=1, max_value=1_000_000_000, help_text="Units received, per product."
    )
    reference = forms.CharField(max_length=200, required=False, help_text="Delivery note.")
    location = forms.ModelChoiceField(
        queryset=Location.objects.filter(is_active=True),
        required=False,
        empty_label="(the default location)",
        help_text="Where the units were received.",
    )


class StockedProductAdmin(ProductAdmin):
    list_display = ("sku", "name", "price", "on_hand", "reorder_level", "is_active")
    fields = (*ProductAdmin.fields, "on_hand", "stock_by_location")
    readonly_fields = ("on_hand", "stock_by_location")
    actions = ("restock_selected",)

    @admin.display(description="on hand (all locations)", ordering="total_on_hand")
    def on_hand(self, product: Product) -> int | None:
        # An unsaved product has none; a product without rows is one verify_ledger reports.
        return getattr(product, "total_on_hand", None)

    @admin.display(description="by location")
    def stock_by_location(self, product: Product) -> str:
        """One line per location the product is kept at (a read-only field rather than an
        inline, so that the product form posts only catalogue fields)."""
        if product.pk is None:
            return "-"
        balances = StockBalance.objects.filter(product=product).select_related("location")
        return format_html_join(
            mark_safe("<br>"),
            "{}: {} on hand, {} reserved, {} available, {} incoming",
            (
                (b.location.code, b.on_hand, b.reserved, b.available, b.incoming)
                for b in balances.order_by("location_id")
            ),
        )

    def get_queryset(self, request):
        # Summed from the balance rows in the list's own query: it never sums movements.
        return super().get_queryset(request).annotate(total_on_hand=Sum("balances__on_hand"))

    def has_delete_permission(self, request, obj=None) -> bool:
        # A product with movements is archived (is_active off), never deleted; the
        # movements' PROTECT would refuse it anyway, after listing every movement.
        if obj is not None and Movement.objects.filter(product=obj).exists():
            return False
        return super().has_delete_permission(request, obj)

    def get_actions(self, request):
        # The bulk delete cannot ask has_delete_permission per product.
        actions = super().get_actions(request)
        actions.pop("delete_selected", None)
        return actions

    def has_restock_permission(self, request) -> bool:
        return has_role(request.user, Role.WAREHOUSE)

    @admin.action(description="Restock selected products", permissions=["restock"])
    def restock_selected(self, request, queryset):
        """Ask for a quantity, a reference and a location, then post one restock per
        product through ledger.services.stock_restock, each in its own transaction: one
        failure leaves the others posted and becomes an error message."""
        products = list(queryset.order_by("id"))
        form = RestockForm(request.POST if "apply" in request.POST else None)
        if not form.is_valid():
            context = {
                **self.admin_site.each_context(request),
                "title": "Restock products",
                "opts": self.model._meta,
                "products": products,
                "form": form,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            }
            return TemplateResponse(request, _restock_page(), context)
        posted = []
        location = form.cleaned_data["location"]
        location_id = None if location is None or location.is_default else location.id
        for product in products:
            try:
                stock_restock(
                    product_id=product.id,
                    quantity=form.cleaned_data["quantity"],
                    actor_id=request.user.id,
                    reference=form.cleaned_data["reference"],
                    location_id=location_id,
                )
            except DomainError as error:
                self.message_user(request, f"{product.sku}: {error.detail}", messages.ERROR)
            else:
                posted.append(product.sku)
        if posted:
            self.message_user(
                request,
                f"Restocked {form.cleaned_data['quantity']} units of {', '.join(posted)}.",
                messages.SUCCESS,
            )
        return None


admin.site.unregister(Product)
admin.site.register(Product, StockedProductAdmin)
