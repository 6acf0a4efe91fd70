"""Checking a username and password, with django-axes counting the failures.

axes (its backend first in AUTHENTICATION_BACKENDS, its handler storing attempts in the
database, so every worker and process shares the counts) refuses credentials after
AXES_FAILURE_LIMIT failures for one username or from one client address within
AXES_COOLOFF_TIME. The client address is core.client_ip's: X-Forwarded-For counts only
as far as NUM_PROXIES trusted proxies wrote it. The admin's login form goes through the
same backend and gets axes' own 429 page from its middleware.
"""

from django.conf import settings
from django.contrib.auth import authenticate
from rest_framework.exceptions import Throttled


class LoginLockedOut(Throttled):
    default_detail = "Too many failed login attempts; try again later."


def credentials_check(request, *, username: str, password: str):
    """The active user with these credentials, or None.

    ``request`` is the API's (DRF) request: axes marks it, not the underlying Django
    request, so its middleware leaves the API's JSON answer alone. Writes the attempt
    (axes). Raises LoginLockedOut (429, Retry-After: the cool-off) when the username or
    the client is locked out, including by this very failure, even if the password is
    right.
    """
    user = authenticate(request, username=username, password=password)
    if getattr(request, "axes_locked_out", False):
        raise LoginLockedOut(wait=settings.AXES_COOLOFF_TIME.total_seconds())
    return user
