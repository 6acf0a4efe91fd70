"""Test settings: the main settings with a fast hasher and the in-memory mail outbox."""

import os

os.environ.setdefault(
    "SECRET_KEY", "test-secret-key-not-for-production-0123456789-abcdefghijklmnopqrstuvwxyz"
)
os.environ.setdefault("DEBUG", "false")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("LOW_STOCK_ALERT_EMAILS", "stock@example.com")

from config.settings import *  # noqa: F403

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
STORAGES["staticfiles"]["BACKEND"] = "django.contrib.staticfiles.storage.StaticFilesStorage"  # noqa: F405

# Separate names let several test runs share one PostgreSQL server at once.
DATABASES["default"]["TEST"] = {  # noqa: F405
    "NAME": os.environ.get("TEST_DATABASE_NAME") or f"test_{DATABASES['default']['NAME']}"  # noqa: F405
}

# The webhook tests' receivers listen on 127.0.0.1.
WEBHOOKS_ALLOW_PRIVATE = True
