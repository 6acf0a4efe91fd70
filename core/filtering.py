from datetime import UTC

import django_filters
from rest_framework.exceptions import ValidationError


def apply_filters(filterset_class, params, queryset):
    """Filter ``queryset`` with a django-filter FilterSet; bad values are a 400.

    Building a FilterSet (a form and copies of every filter) costs more than the list
    query itself, so requests that name no filter skip it.
    """
    if not params or filterset_class.base_filters.keys().isdisjoint(params.keys()):
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
