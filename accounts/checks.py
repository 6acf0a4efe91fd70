from django.conf import settings
from django.core.checks import Error, register

HOOK = "accounts.passwords.RevokeTokensOnPasswordChange"


@register()
def password_change_revokes_tokens(app_configs, **kwargs):
    """Without the hook, a changed password would leave every token of the user valid."""
    names = [validator["NAME"] for validator in settings.AUTH_PASSWORD_VALIDATORS]
    if HOOK in names:
        return []
    return [
        Error(
            f"AUTH_PASSWORD_VALIDATORS must include {HOOK}.",
            hint="It revokes a user's API tokens when the user's password changes.",
            id="accounts.E001",
        )
    ]
