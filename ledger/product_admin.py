"""Products with their stock in the admin: the catalogue's product page plus the
balance, a restock action posting through ledger.services, and no deletion of a product
that has movements."""

from functools import cache

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import ObjectDoesNotExist
from django.template import engines
from django.template.response import TemplateResponse

from accounts.roles import Role, has_role
from catalog.admin import ProductAdmin
from catalog.models import Product
from core.exceptions import DomainError
from ledger.models import Movement
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


class StockedProductAdmin(ProductAdmin):
    list_display = ("sku", "name", "price", "on_hand", "reorder_level", "is_active")
    # The balance is one joined row per product: the list never sums movements.
    list_select_related = ("balance",)
    fields = (*ProductAdmin.fields, "on_hand")
    readonly_fields = ("on_hand",)
    actions = ("restock_selected",)

    @admin.display(description="on hand", ordering="balance__on_hand")
    def on_hand(self, product: Product) -> int | None:
        try:
            return product.balance.on_hand
        except ObjectDoesNotExist:  # an unsaved product, or a missing row verify_ledger reports
            return None

    def get_queryset(self, request):
        return super().get_queryset(request).select_related("balance")

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
        """Ask for a quantity and a reference, then post one restock per product through
        ledger.services.stock_restock, each in its own transaction: one failure leaves
        the others posted and becomes an error message."""
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
        for product in products:
            try:
                stock_restock(
                    product_id=product.id,
                    quantity=form.cleaned_data["quantity"],
                    actor_id=request.user.id,
                    reference=form.cleaned_data["reference"],
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
