"""Auditors' pages (warehouse staff read them too): every movement with every filter
and its CSV export, the integrity check on demand, orders with their movements."""

import time
from urllib.parse import urlencode

from django.core.paginator import Paginator
from django.http import Http404
from django.shortcuts import render
from rest_framework.authentication import SessionAuthentication

from console.access import staff_only
from console.forms import MovementFilterForm
from console.views.common import choices, int_param, locations, movements_shown
from core.db import report_statement_timeout
from ledger.apis.export import MovementExportApi
from ledger.integrity import ledger_verify
from ledger.models import MovementKind
from ledger.selectors import movement_list
from ordering.exceptions import OrderNotFound
from ordering.selectors import order_get, order_list

MOVEMENTS_PER_PAGE = 50
ORDERS_PER_PAGE = 25


@staff_only
def movements(request):
    form = MovementFilterForm(
        request.GET or None, locations=choices(locations()), kinds=MovementKind.choices
    )
    filters = form.filters()
    rows, next_before = movements_shown(
        filters, before=int_param(request, "before"), size=MOVEMENTS_PER_PAGE
    )
    query = request.GET.copy()
    query.pop("before", None)
    return render(
        request,
        "console/movements.html",
        {
            "form": form,
            "rows": rows,
            "next_before": next_before,
            "filter_query": query.urlencode(),
            "csv_query": urlencode(filters or {}),
            "paged": "before" in request.GET,
        },
    )


class MovementCsv(MovementExportApi):
    """The API's CSV export (same filters, same columns, streamed), for a signed-in
    session: the link on the console's pages. Not part of the API's schema."""

    authentication_classes = (SessionAuthentication,)
    schema = None


movements_csv = MovementCsv.as_view()


@staff_only
def verify(request):
    """verify_ledger on demand (a GET: it reads and changes nothing)."""
    context = {}
    if request.GET.get("run") == "1":
        started = time.monotonic()
        # The report's statement limit, as verify_ledger runs it, not a request's.
        with report_statement_timeout():
            report = ledger_verify()
        context = {
            "report": report,
            "problems": report.by_product(),
            "seconds": time.monotonic() - started,
        }
    return render(request, "console/verify.html", context)


@staff_only
def orders(request):
    page = Paginator(order_list(customer_id=None), ORDERS_PER_PAGE).get_page(
        request.GET.get("page")
    )
    return render(request, "console/orders.html", {"page": page})


@staff_only
def order(request, order_id: int):
    try:
        found = order_get(order_id=order_id, customer_id=None)
    except OrderNotFound as exc:
        raise Http404("No such order.") from exc
    rows = list(movement_list(filters={"order": str(order_id)})[:500])
    return render(request, "console/order.html", {"order": found, "rows": rows})
