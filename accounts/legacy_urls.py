from django.urls import re_path

from accounts.apis import LegacyLoginApi, LegacyLogoutApi

urlpatterns = [
    re_path(r"^login/?$", LegacyLoginApi.as_view(), name="legacy-login"),
    re_path(r"^logout/?$", LegacyLogoutApi.as_view(), name="legacy-logout"),
]
