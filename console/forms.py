"""The console's forms. They only shape input: every rule is the services' own, and a
refusal from a service is put next to the field it concerns (views/writes.py)."""

from django import forms
from django.contrib.auth.forms import AuthenticationForm

from console.access import is_staff
from ledger.models import AdjustmentReason
from ledger.receipts import MAX_LINE_QUANTITY

DELIVERY_LINES = 8
TRANSFER_LINES = 4


class SignInForm(AuthenticationForm):
    error_messages = {
        **AuthenticationForm.error_messages,
        "not_staff": "The console is for warehouse staff and auditors.",
    }

    def confirm_login_allowed(self, user):
        super().confirm_login_allowed(user)
        if not is_staff(user):
            raise forms.ValidationError(self.error_messages["not_staff"], code="not_staff")


def location_field(choices, *, label="Location", required=True) -> forms.ChoiceField:
    return forms.ChoiceField(label=label, choices=choices, required=required)


class LinesForm(forms.Form):
    """A form with numbered lines of (sku, units); blank lines are skipped."""

    line_count = DELIVERY_LINES
    units_label = "Units"

    def __init__(self, *args, locations=(), **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["location"].choices = locations
        for n in range(1, self.line_count + 1):
            self.fields[f"sku_{n}"] = forms.CharField(
                label=f"Line {n} sku", max_length=64, required=False
            )
            self.fields[f"units_{n}"] = forms.IntegerField(
                label=f"Line {n} {self.units_label.lower()}",
                min_value=1,
                max_value=MAX_LINE_QUANTITY,
                required=False,
            )

    def rows(self):
        """(number, sku field, units field) for each line, to draw as a table."""
        return [(n, self[f"sku_{n}"], self[f"units_{n}"]) for n in range(1, self.line_count + 1)]

    def clean(self):
        data = super().clean()
        lines = []
        for n in range(1, self.line_count + 1):
            sku = (data.get(f"sku_{n}") or "").strip()
            units = data.get(f"units_{n}")
            if sku and units is None and f"units_{n}" not in self.errors:
                self.add_error(f"units_{n}", "How many units?")
            elif units is not None and not sku:
                self.add_error(f"sku_{n}", "Which sku?")
            elif sku:
                lines.append((n, sku, units))
        if not lines and not self.errors:
            raise forms.ValidationError("Fill in at least one line.", code="no_lines")
        data["lines"] = lines
        return data

    def line_of(self, sku: str) -> int | None:
        for n, line_sku, _ in self.cleaned_data.get("lines", ()):
            if line_sku == sku:
                return n
        return None


class DeliveryForm(LinesForm):
    location = forms.ChoiceField(label="Received at")
    reference = forms.CharField(label="Delivery note", max_length=200)


class TransferForm(LinesForm):
    line_count = TRANSFER_LINES
    from_location = forms.ChoiceField(label="From")
    location = forms.ChoiceField(label="To")
    reference = forms.CharField(label="Reference", max_length=200, required=False)

    def __init__(self, *args, locations=(), **kwargs):
        super().__init__(*args, locations=locations, **kwargs)
        self.fields["from_location"].choices = locations


class AdjustmentForm(forms.Form):
    location = forms.ChoiceField(label="Location")
    quantity = forms.IntegerField(
        label="Units (+ found, - lost or damaged)",
        min_value=-MAX_LINE_QUANTITY,
        max_value=MAX_LINE_QUANTITY,
    )
    reason = forms.ChoiceField(
        label="Reason",
        choices=[c for c in AdjustmentReason.choices if c[0] != AdjustmentReason.STOCKTAKE],
    )
    note = forms.CharField(label="Note", max_length=500, required=False)

    def __init__(self, *args, locations=(), **kwargs):
        kwargs.setdefault("auto_id", "adjust_%s")  # ids unique on the product's page
        super().__init__(*args, **kwargs)
        self.fields["location"].choices = locations


class CountForm(forms.Form):
    location = forms.ChoiceField(label="Location")
    counted = forms.IntegerField(label="Units counted", min_value=0)
    counted_at = forms.DateTimeField(
        label="Counted at (UTC)",
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
    )
    reference = forms.CharField(label="Count sheet", max_length=200, required=False)

    def __init__(self, *args, locations=(), **kwargs):
        kwargs.setdefault("auto_id", "count_%s")
        super().__init__(*args, **kwargs)
        self.fields["location"].choices = locations


class MovementFilterForm(forms.Form):
    """The movement filters of the API (ledger.filters.MovementFilter), as a form that
    a GET submits; values are passed on to the selector as they are."""

    sku = forms.CharField(label="Sku", required=False)
    location = forms.ChoiceField(label="Location", required=False)
    kind = forms.ChoiceField(label="Kind", required=False)
    reference = forms.CharField(label="Reference", required=False)
    actor = forms.IntegerField(label="Actor (user id)", required=False, min_value=1)
    order = forms.IntegerField(label="Order", required=False, min_value=1)
    reservation = forms.IntegerField(label="Reservation", required=False, min_value=1)
    transfer = forms.IntegerField(label="Transfer", required=False, min_value=1)
    receipt = forms.IntegerField(label="Receipt", required=False, min_value=1)
    stocktake = forms.IntegerField(label="Stocktake", required=False, min_value=1)
    since = forms.DateTimeField(label="Since (UTC)", required=False)
    until = forms.DateTimeField(label="Until (UTC)", required=False)

    def __init__(self, *args, locations=(), kinds=(), fields=None, **kwargs):
        kwargs.setdefault("auto_id", "filter_%s")
        super().__init__(*args, **kwargs)
        self.fields["location"].choices = [("", "all"), *list(locations)]
        self.fields["kind"].choices = [("", "all"), *list(kinds)]
        if fields is not None:
            for name in list(self.fields):
                if name not in fields:
                    del self.fields[name]

    def filters(self) -> dict | None:
        """The filled-in values as the API's query parameters; None when one is not
        valid (the form shows why, and nothing is listed)."""
        if not self.is_bound:
            return {}
        if not self.is_valid():
            return None
        return {
            name: value.isoformat() if hasattr(value, "isoformat") else str(value)
            for name, value in self.cleaned_data.items()
            if value not in (None, "")
        }
