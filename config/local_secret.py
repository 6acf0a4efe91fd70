"""The SECRET_KEY of a development checkout that sets none: random, made once, and kept
in a file only its owner can read beside the private database (EMBEDDED_DB_DIR)."""

import os
import secrets

from django.core.exceptions import ImproperlyConfigured

from config.embedded_db import DATA_DIR

KEY_FILE_NAME = "secret_key"


def local_secret_key() -> str:
    """Read the key file, creating it on first use. Processes starting together (the
    web workers, a command) all end up with the one key that was written first."""
    path = DATA_DIR / KEY_FILE_NAME
    try:
        return path.read_text().strip()
    except FileNotFoundError:
        pass
    try:
        DATA_DIR.mkdir(parents=True, exist_ok=True)
        # Written under a private name, then linked into place: a reader never sees a
        # half-written file, and of two writers the second one's link fails.
        draft = path.with_name(f".{KEY_FILE_NAME}.{os.getpid()}")
        descriptor = os.open(draft, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(secrets.token_urlsafe(50) + "\n")
        try:
            os.link(draft, path)
        except FileExistsError:
            pass
        finally:
            draft.unlink()
        return path.read_text().strip()
    except OSError as exc:
        raise ImproperlyConfigured(
            f"SECRET_KEY is not set and no development key could be kept at {path} ({exc}). "
            "Set SECRET_KEY."
        ) from exc
