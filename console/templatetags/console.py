from django import template

from console.access import can_write as _can_write

register = template.Library()


@register.filter
def can_write(user) -> bool:
    """Whether the signed-in user may post the warehouse forms."""
    return _can_write(user)
