from django.contrib import admin
from django.urls import include, path, re_path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from console.views.auth import home as console_home
from core import views as core_views

# The busiest endpoints' modules first: Django tries the patterns in order, and the
# apps' patterns do not overlap.
api_v1 = [
    path("", include("ordering.urls")),
    path("", include("catalog.urls")),
    path("", include("ledger.urls")),
    path("", include("events.urls")),
    path("auth/", include("accounts.urls")),
]

urlpatterns = [
    # The address `make run` prints: signed-in staff go to the console, everyone else
    # to the interactive API docs.
    path("", console_home, name="home"),
    path("healthz", core_views.healthz, name="healthz"),
    path("readyz", core_views.readyz, name="readyz"),
    path("admin/", admin.site.urls),
    # A fixed version: the view would otherwise copy ?version= into a response header.
    path("api/schema/", SpectacularAPIView.as_view(api_version="1"), name="schema"),
    # Swagger UI with its start script served as a file, so the page's
    # Content-Security-Policy needs no inline script.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="docs"),
    path("api/v1/", include(api_v1)),
    re_path(r"^api/", core_views.not_found),
    # The original version's API, kept for its existing clients.
    path("auth/", include("accounts.legacy_urls")),
    path("store/", include("ordering.legacy_urls")),
    # The staff console: server-rendered pages with a session sign-in.
    path("console/", include("console.urls")),
]

handler400 = "core.views.bad_request"
handler403 = "core.views.permission_denied"
handler404 = "core.views.not_found"
handler500 = "core.views.server_error"
