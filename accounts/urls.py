from django.urls import path

from accounts.apis import LoginApi, LogoutAllApi, LogoutApi, PasswordChangeApi

urlpatterns = [
    path("login/", LoginApi.as_view(), name="login"),
    path("logout/", LogoutApi.as_view(), name="logout"),
    path("logout-all/", LogoutAllApi.as_view(), name="logout-all"),
    path("password/", PasswordChangeApi.as_view(), name="password-change"),
]
