"""Revoking a user's API tokens whenever the user's password changes.

Django has no "password changed" signal, but it calls ``password_changed()`` on every
configured password validator right after a new password is saved
(``AbstractBaseUser.save()`` after ``set_password()``), and only then: not when a login
merely rehashes the same password with a newer hasher. That covers every way a password
changes (``accounts.services.user_password_set``, ``create_user``, the admin's password
forms, ``manage.py changepassword``) with no query on other saves. Comparing the stored
hash in a ``pre_save`` signal would cost a query per save and would also fire on those
rehashes. ``accounts.checks`` refuses to start without this hook in
AUTH_PASSWORD_VALIDATORS, because nothing else would notice it missing.
"""


class RevokeTokensOnPasswordChange:
    """A password "validator" that accepts every password; its ``password_changed``
    deletes every API token of the user."""

    def validate(self, password, user=None) -> None:
        return None

    def password_changed(self, password, user=None) -> None:
        if user is not None and user.pk is not None:
            from accounts.services import token_revoke_all

            token_revoke_all(user=user)

    def get_help_text(self) -> str:
        return "Changing the password signs the user out of the API everywhere."
