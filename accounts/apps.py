from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"

    def ready(self) -> None:
        # Registers the system check and the OpenAPI auth scheme.
        from accounts import checks, schema  # noqa: F401
