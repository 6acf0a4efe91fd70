"""Signing in and out with a session (the API's tokens are separate), and the site's
front door."""

from django.contrib.auth import logout
from django.contrib.auth import views as auth_views
from django.shortcuts import redirect
from django.views.decorators.http import require_POST

from console.access import is_staff
from console.forms import SignInForm


class SignInView(auth_views.LoginView):
    template_name = "console/sign_in.html"
    authentication_form = SignInForm
    redirect_authenticated_user = False
    next_page = "console:dashboard"


sign_in = SignInView.as_view()


@require_POST
def sign_out(request):
    logout(request)
    return redirect("console:login")


def home(request):
    """`/`: signed-in staff go to the console, everyone else to the API's docs."""
    if is_staff(request.user):
        return redirect("console:dashboard")
    return redirect("docs")
