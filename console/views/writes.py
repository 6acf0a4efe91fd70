"""Warehouse staff's forms. Each post goes through the service the API calls, once per
rendered form (console.once); a refusal is shown next to the field it concerns."""

from django.contrib import messages
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_POST

from catalog.exceptions import UnknownProducts
from console import once
from console.access import can_write, staff_only
from console.forms import AdjustmentForm, CountForm, DeliveryForm, TransferForm
from console.views.common import choices, locations
from console.views.pages import product_context
from core.exceptions import DomainError
from ledger.exceptions import (
    CountSuperseded,
    InsufficientStock,
    InvalidCountedAt,
    TransferSameLocation,
    UnknownLocation,
)
from ledger.receipts import receipt_create
from ledger.reservations import reservation_release
from ledger.selectors import (
    location_for_transfers,
    location_for_writes,
    products_resolve,
    reservation_list,
    transfer_list,
)
from ledger.services import stock_adjust
from ledger.stocktakes import stocktake_create
from ledger.transfers import transfer_create, transfer_receive

LIST_ROWS = 50


def _submit(request, form, action, refused) -> str | None:
    """Post ``form`` through ``action(cleaned_data)`` once; the address to go to, or
    None with the reason added to the form."""
    if not form.is_valid():
        return None
    try:
        where = once.post_once(request, lambda: action(form.cleaned_data))
    except once.KeyReused:
        form.add_error(None, "This form was sent before with other values: reload the page.")
        return None
    except DomainError as exc:
        refused(form, exc)
        return None
    if where is None:
        form.add_error(None, "This form has expired: reload the page and send it again.")
    return where


def _short(exc: InsufficientStock) -> str:
    line = exc.lines[0]
    short = line["requested"] - line["available"]
    return (
        f"Only {line['available']} available there; this takes {line['requested']}: {short} short."
    )


# --- Delivery ------------------------------------------------------------------------


@staff_only
def delivery(request):
    found = choices(locations())
    form = DeliveryForm(request.POST or None, locations=found)
    key = request.POST.get(once.FIELD) or once.new_key()
    if request.method == "POST":
        where = _submit(request, form, lambda data: _receive(request, data), _delivery_refused)
        if where:
            return redirect(where)
    return render(
        request, "console/delivery.html", {"form": form, "form_key": key}, status=_status(form)
    )


def _receive(request, data) -> str:
    receipt = receipt_create(
        location_id=location_for_writes(location=data["location"]),
        reference=data["reference"],
        lines=[(sku, units) for _, sku, units in data["lines"]],
        actor_id=request.user.id,
    )
    messages.success(
        request,
        f"Received {receipt.units} units of {receipt.line_count} products at "
        f"{receipt.location.code} (receipt {receipt.id}).",
    )
    return reverse("console:movements") + f"?receipt={receipt.id}"


def _delivery_refused(form, exc: DomainError) -> None:
    if isinstance(exc, UnknownProducts):
        for sku in exc.data.get("skus", ()):
            form.add_error(f"sku_{form.line_of(sku)}", "No product on sale has this sku.")
    elif isinstance(exc, UnknownLocation):
        form.add_error("location", exc.detail)
    elif exc.code == "invalid":
        form.add_error("reference", exc.detail)
    else:
        form.add_error(None, exc.detail)


def _status(form) -> int:
    return 400 if form.is_bound and form.errors else 200


# --- Adjustment and count, on the product's page ----------------------------------------


@staff_only
@require_POST
def adjust(request, product_id: int):
    form = AdjustmentForm(request.POST, locations=choices(locations()))

    def action(data) -> str:
        movement = stock_adjust(
            product_id=product_id,
            quantity=data["quantity"],
            reason=data["reason"],
            note=data["note"],
            location_id=location_for_writes(location=data["location"]),
            actor_id=request.user.id,
        )
        messages.success(
            request,
            f"Adjusted by {movement.quantity:+d} at {data['location']}: "
            f"{movement.balance_after} on hand there.",
        )
        return reverse("console:product", args=[product_id])

    def refused(form, exc):
        if isinstance(exc, InsufficientStock):
            form.add_error("quantity", _short(exc))
        elif isinstance(exc, UnknownLocation):
            form.add_error("location", exc.detail)
        else:
            form.add_error("quantity", exc.detail)

    where = _submit(request, form, action, refused)
    if where:
        return redirect(where)
    context = product_context(
        request, product_id, adjust_form=form, adjust_key=request.POST.get(once.FIELD)
    )
    return render(request, "console/product.html", context, status=400)


@staff_only
@require_POST
def count(request, product_id: int):
    form = CountForm(request.POST, locations=choices(locations()))

    def action(data) -> str:
        stocktake = stocktake_create(
            location_id=location_for_writes(location=data["location"]),
            counted_at=data["counted_at"],
            reference=data["reference"],
            lines=[(product_id, data["counted"])],
            actor_id=request.user.id,
        )
        line = stocktake.stocktake_lines[0]
        messages.success(
            request,
            f"Counted {line.counted} at {data['location']} against {line.expected} "
            f"expected: {'no change' if not line.difference else f'{line.difference:+d}'}.",
        )
        return reverse("console:product", args=[product_id])

    def refused(form, exc):
        if isinstance(exc, (InvalidCountedAt, CountSuperseded)):
            form.add_error("counted_at", exc.detail)
        elif isinstance(exc, InsufficientStock):
            form.add_error("counted", "Fewer units than are reserved there: " + _short(exc))
        elif isinstance(exc, UnknownLocation):
            form.add_error("location", exc.detail)
        else:
            form.add_error("counted", exc.detail)

    where = _submit(request, form, action, refused)
    if where:
        return redirect(where)
    context = product_context(
        request, product_id, count_form=form, count_key=request.POST.get(once.FIELD)
    )
    return render(request, "console/product.html", context, status=400)


# --- Transfers -------------------------------------------------------------------------


@staff_only
def transfers(request):
    found = choices(locations())
    form = TransferForm(request.POST or None, locations=found) if can_write(request.user) else None
    key = request.POST.get(once.FIELD) or once.new_key()
    if request.method == "POST":
        where = _submit(request, form, lambda data: _send(request, data), _transfer_refused)
        if where:
            return redirect(where)
    in_transit = list(transfer_list(filters={"status": "in_transit"})[:LIST_ROWS])
    for transfer in in_transit:
        transfer.form_key = once.new_key()  # each button posts once
    context = {"form": form, "form_key": key, "in_transit": in_transit}
    return render(request, "console/transfers.html", context, status=_status(form) if form else 200)


def _send(request, data) -> str:
    refs = products_resolve(refs=[sku for _, sku, _ in data["lines"]], active_only=False)
    transfer = transfer_create(
        from_location_id=location_for_transfers(location=data["from_location"]).id,
        to_location_id=location_for_transfers(location=data["location"]).id,
        lines=[(refs[sku][0], units) for _, sku, units in data["lines"]],
        reference=data["reference"],
        actor_id=request.user.id,
    )
    messages.success(request, f"Transfer {transfer.id} is on its way.")
    return reverse("console:transfers")


def _transfer_refused(form, exc: DomainError) -> None:
    if isinstance(exc, UnknownProducts):
        for sku in exc.data.get("skus", ()):
            form.add_error(f"sku_{form.line_of(sku)}", "No product has this sku.")
    elif isinstance(exc, InsufficientStock):
        skus = {}
        for _, sku, _ in form.cleaned_data["lines"]:
            skus.setdefault(sku, form.line_of(sku))
        # The refusal names products by id: find their lines through the skus.
        by_id = products_resolve(refs=list(skus), active_only=False)
        lines = {by_id[sku][0]: n for sku, n in skus.items()}
        for line in exc.lines:
            short = line["requested"] - line["available"]
            form.add_error(
                f"units_{lines[line['product']]}",
                f"Only {line['available']} available at the origin: {short} short.",
            )
    elif isinstance(exc, TransferSameLocation):
        form.add_error("location", "The destination must differ from the origin.")
    elif isinstance(exc, UnknownLocation):
        form.add_error(None, exc.detail)
    else:
        form.add_error(None, exc.detail)


@staff_only
@require_POST
def transfer_receive_all(request, transfer_id: int):
    def action() -> str:
        transfer = transfer_receive(transfer_id=transfer_id, actor_id=request.user.id)
        messages.success(request, f"Transfer {transfer.id} received.")
        return reverse("console:transfers")

    return _one_button(request, action, "console:transfers")


# --- Reservations ------------------------------------------------------------------------


@staff_only
def reservations(request):
    held = list(
        reservation_list(customer_id=None, filters={"status": "held"}).order_by("expires_at")[
            :LIST_ROWS
        ]
    )
    for reservation in held:
        reservation.form_key = once.new_key()  # each button posts once
    return render(
        request, "console/reservations.html", {"held": held, "can_write": can_write(request.user)}
    )


@staff_only
@require_POST
def reservation_release_view(request, reservation_id: int):
    def action() -> str:
        reservation_release(reservation_id=reservation_id, actor_id=request.user.id)
        messages.success(request, f"Reservation {reservation_id} released.")
        return reverse("console:reservations")

    return _one_button(request, action, "console:reservations")


def _one_button(request, action, back: str):
    """A post with no fields but its key: done once, or the refusal shown as a message."""
    try:
        where = once.post_once(request, action)
    except (DomainError, once.KeyReused) as exc:
        messages.error(request, getattr(exc, "detail", "Already done."))
        return redirect(back)
    return redirect(where or back)
