from core.exceptions import InvalidInput


class PasswordRejected(InvalidInput):
    """Django's password validators refused a new password; ``errors`` lists why."""

    code = "password_rejected"
    detail = "The password does not meet the password rules."
