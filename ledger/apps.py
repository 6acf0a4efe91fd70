from django.apps import AppConfig
from django.apps import apps as global_apps
from django.db.models.signals import post_migrate


class LedgerConfig(AppConfig):
    name = "ledger"

    def ready(self) -> None:
        from ledger import events  # noqa: F401  (registers the stock event types)

        post_migrate.connect(_ensure_default_location, sender=self)


def _ensure_default_location(*, using, apps=global_apps, **kwargs) -> None:
    """Migration 0005 creates the default location; this puts it back after a flush
    (which empties every table, then sends post_migrate), as django.contrib.sites does
    for its default site. Nothing happens when one exists or before migration 0005."""
    try:
        location_model = apps.get_model("ledger", "Location")
    except LookupError:
        return
    from ledger.models import DEFAULT_LOCATION_CODE, DEFAULT_LOCATION_NAME

    manager = location_model.objects.using(using)
    if not manager.filter(is_default=True).exists():
        manager.create(
            code=DEFAULT_LOCATION_CODE,
            name=DEFAULT_LOCATION_NAME,
            is_active=True,
            is_default=True,
        )
