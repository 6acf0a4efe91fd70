from django.apps import AppConfig


class OrderingConfig(AppConfig):
    name = "ordering"

    def ready(self) -> None:
        from ordering import events  # noqa: F401  (registers its event types)
