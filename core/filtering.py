from rest_framework.exceptions import ValidationError


def apply_filters(filterset_class, params, queryset):
    """Filter ``queryset`` with a django-filter FilterSet; bad values are a 400."""
    filterset = filterset_class(params or {}, queryset=queryset)
    if not filterset.is_valid():
        raise ValidationError(filterset.errors)
    return filterset.qs
