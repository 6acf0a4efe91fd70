from datetime import UTC

import django_filters
from django import forms
from drf_spectacular.utils import extend_schema_field
from rest_framework.exceptions import ValidationError


def names_a_filter(filterset_class, params) -> bool:
    """Whether ``params`` (query parameters) name any filter of ``filterset_class``."""
    return bool(params) and not filterset_class.base_filters.keys().isdisjoint(params.keys())


def apply_filters(filterset_class, params, queryset):
    """Filter ``queryset`` with a django-filter FilterSet; bad values are a 400.

    Building a FilterSet (a form and copies of every filter) costs more than the list
    query itself, so requests that name no filter skip it.
    """
    if not names_a_filter(filterset_class, params):
        return queryset
    filterset = filterset_class(params, queryset=queryset)
    if not filterset.is_valid():
        raise ValidationError(filterset.errors)
    return filterset.qs


class UtcIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    """An ISO 8601 instant, compared in UTC. Python accepts offsets up to ±23:59 but
    PostgreSQL only ±15:59, so the value is converted before it reaches the query."""

    def filter(self, qs, value):
        if value is not None:
            value = value.astimezone(UTC)
        return super().filter(qs, value)


class _StrictBooleanField(forms.Field):
    """``true``/``false`` (or ``1``/``0``, any case); empty means no filter. Django's
    NullBooleanField and its widgets turn any other value into "no filter" instead."""

    widget = forms.TextInput
    default_error_messages = {"invalid": "Enter true or false."}
    VALUES = {"true": True, "1": True, "false": False, "0": False}

    def to_python(self, value):
        if value in self.empty_values:
            return None
        try:
            return self.VALUES[str(value).lower()]
        except KeyError:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid") from None


class BooleanFilter(django_filters.BooleanFilter):
    field_class = _StrictBooleanField


MAX_ID = 2**63 - 1  # PostgreSQL's bigint


@extend_schema_field({"type": "integer", "format": "int64", "minimum": 1, "maximum": MAX_ID})
class IdFilter(django_filters.NumberFilter):
    """An id: a whole number from 1 to bigint's largest (django-filter's NumberFilter
    takes ``1.5``, which the query would compare as 1)."""

    field_class = forms.IntegerField

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", MAX_ID)
        super().__init__(*args, **kwargs)
