from django import template

from console.access import can_write as _can_write
from console.access import is_staff as _is_staff

register = template.Library()


@register.filter
def can_write(user) -> bool:
    """Whether the signed-in user may post the warehouse forms."""
    return _can_write(user)


@register.filter
def is_console_user(user) -> bool:
    """Whether the user may open the console's pages (the navigation is theirs)."""
    return _is_staff(user)
