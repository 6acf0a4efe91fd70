from django.urls import path

from accounts.apis import LegacyLoginApi, LegacyLogoutApi

urlpatterns = [
    path("login/", LegacyLoginApi.as_view(), name="legacy-login"),
    path("logout/", LegacyLogoutApi.as_view(), name="legacy-logout"),
]
