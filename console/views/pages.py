"""The everyday pages: the dashboard, the product list and a product's page."""

from datetime import timedelta
from urllib.parse import urlencode

from django.core.paginator import Paginator
from django.db.models import Exists, OuterRef
from django.http import Http404
from django.shortcuts import render
from django.utils import timezone

from catalog.exceptions import ProductNotFound
from catalog.selectors import product_get, product_list
from console import once
from console.access import can_write, staff_only
from console.forms import AdjustmentForm, CountForm, MovementFilterForm
from console.selectors import balance_series
from console.views.common import choices, instant_param, int_param, locations, movements_shown
from ledger.models import MovementKind, StockBalance
from ledger.reports import low_stock_report
from ledger.selectors import (
    balance_as_of,
    movement_list,
    reservation_list,
    stock_alert_list,
    transfer_list,
)

DASHBOARD_ROWS = 10
PRODUCTS_PER_PAGE = 25
HISTORY_PER_PAGE = 25
EXPIRY_HORIZON = timedelta(hours=1)


@staff_only
def dashboard(request):
    now = timezone.now()
    context = {
        "low_stock": low_stock_report(now=now)[:DASHBOARD_ROWS],
        "alerts": list(stock_alert_list(filters={"status": "pending"})[:DASHBOARD_ROWS]),
        "expiring": list(
            reservation_list(customer_id=None, filters={"status": "held"})
            .filter(expires_at__lte=now + EXPIRY_HORIZON)
            .order_by("expires_at")[:DASHBOARD_ROWS]
        ),
        "in_transit": list(transfer_list(filters={"status": "in_transit"})[:DASHBOARD_ROWS]),
        "latest": list(movement_list()[:DASHBOARD_ROWS]),
        "horizon_minutes": int(EXPIRY_HORIZON.total_seconds() // 60),
    }
    return render(request, "console/dashboard.html", context)


@staff_only
def products(request):
    found = locations()
    location = next((loc for loc in found if loc.code == request.GET.get("location")), None)
    filters = {"search": request.GET.get("q", "").strip()}
    if request.GET.get("low") == "1":
        filters["low_stock"] = "true"
    queryset = product_list(filters={k: v for k, v in filters.items() if v})
    if location is not None:
        kept_there = StockBalance.objects.filter(product=OuterRef("pk"), location=location)
        queryset = queryset.filter(Exists(kept_there))
    page = Paginator(queryset, PRODUCTS_PER_PAGE).get_page(request.GET.get("page"))
    for product in page:
        product.shown_locations = [
            figures
            for figures in product.stock_locations
            if location is None or figures["location"] == location.code
        ]
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "console/products.html",
        {
            "page": page,
            "locations": found,
            "location": location,
            "q": filters["search"],
            "low": request.GET.get("low") == "1",
            "query": query.urlencode(),
        },
    )


@staff_only
def product(request, product_id: int):
    return render(request, "console/product.html", product_context(request, product_id))


def product_context(request, product_id: int, **forms) -> dict:
    """Everything the product page shows; ``forms`` are bound forms to show again with
    their errors."""
    try:
        item = product_get(product_id=product_id)
    except ProductNotFound as exc:
        raise Http404("No such product.") from exc
    found = locations()
    by_code = {loc.code: loc for loc in found}
    on_hand_now = {
        by_code[f["location"]].id: f["on_hand"]
        for f in item.stock_locations
        if f["location"] in by_code
    }
    series = balance_series(product_id=product_id, on_hand_now=on_hand_now)
    history_form = MovementFilterForm(
        request.GET or None,
        locations=choices(found),
        kinds=MovementKind.choices,
        fields=("location", "kind", "reference", "since", "until"),
    )
    chosen = history_form.filters()
    filters = {**(chosen or {}), "product": str(product_id)}
    rows, next_before = movements_shown(
        None if chosen is None else filters,
        before=int_param(request, "before"),
        size=HISTORY_PER_PAGE,
    )
    as_of = instant_param(request, "as_of")
    context = {
        "product": item,
        "series": [
            {"t": p.at.timestamp(), "v": p.on_hand, "d": p.change, "k": p.kind} for p in series
        ],
        "history_form": history_form,
        "history": rows,
        "next_before": next_before,
        "filter_query": _query_without(request, "before"),
        "csv_query": _csv_query(filters),
        "as_of": as_of,
        "as_of_value": request.GET.get("as_of", ""),
        "balance_then": balance_as_of(product_id=product_id, as_of=as_of) if as_of else None,
        "can_write": can_write(request.user),
    }
    if context["can_write"]:
        location_choices = choices(found)
        context["adjust_form"] = forms.get("adjust_form") or AdjustmentForm(
            locations=location_choices
        )
        context["count_form"] = forms.get("count_form") or CountForm(
            locations=location_choices,
            initial={"counted_at": timezone.now().replace(second=0, microsecond=0)},
        )
        context["adjust_key"] = forms.get("adjust_key") or once.new_key()
        context["count_key"] = forms.get("count_key") or once.new_key()
    return context


def _query_without(request, *names: str) -> str:
    query = request.GET.copy()
    for name in names:
        query.pop(name, None)
    return query.urlencode()


def _csv_query(filters: dict) -> str:
    return urlencode(filters)
