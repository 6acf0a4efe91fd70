"""Who may use the console: warehouse staff and auditors (superusers hold both roles),
signed in with a session. Customers are refused (403), as are auditors posting a form:
the roles are the API's (accounts.roles)."""

import functools

from django.contrib.auth.views import redirect_to_login
from django.shortcuts import render

from accounts.roles import Role, has_role

STAFF_ROLES = (Role.WAREHOUSE, Role.AUDITOR)


def is_staff(user) -> bool:
    return has_role(user, *STAFF_ROLES)


def can_write(user) -> bool:
    return has_role(user, Role.WAREHOUSE)


def staff_only(view):
    """Signed-in warehouse staff or auditors; anyone else signed in gets 403, and a
    visitor goes to the sign-in page. A POST also needs the warehouse role: auditors
    change nothing."""

    @functools.wraps(view)
    def wrapper(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path(), "console:login")
        if not is_staff(request.user):
            return refused(request, "The console is for warehouse staff and auditors.")
        if request.method == "POST" and not can_write(request.user):
            return refused(request, "Auditors read the ledger; they change nothing.")
        return view(request, *args, **kwargs)

    return wrapper


def refused(request, reason: str):
    """A 403 page of the console's own (the site's 403 handler answers JSON)."""
    return render(request, "console/refused.html", {"reason": reason}, status=403)
