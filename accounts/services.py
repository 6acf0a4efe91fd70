from django.contrib.auth import get_user_model, password_validation
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Subquery
from django.utils import timezone
from knox.models import AuthToken
from knox.settings import knox_settings

from accounts.exceptions import PasswordRejected
from accounts.roles import GROUP_ROLES, Role

User = get_user_model()


@transaction.atomic
def user_create(
    *, username: str, password: str, role: Role = Role.CUSTOMER, email: str = ""
) -> User:
    """Create a user with one role, or give an existing user that role and password
    (through user_password_set, which revokes the user's tokens, unless the password is
    the one the user already has).

    Writes the user and its group membership (the role groups are made by a migration;
    get_or_create keeps this working on a database flushed by tests). Raises
    PasswordRejected, before writing anything, if Django's password validators refuse
    the password for this user.
    """
    existing = User.objects.filter(username=username).first()
    user = existing or User(username=username, email=email)
    password_check(user=user, password=password)
    if existing is None:
        user.set_password(password)
    elif not user.check_password(password):
        user_password_set(user=user, password=password)
    user.is_staff = user.is_superuser = role == Role.ADMIN
    user.save()
    user.groups.remove(*Group.objects.filter(name__in=GROUP_ROLES))
    if role in GROUP_ROLES:
        user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user


def password_check(*, user, password: str) -> None:
    """Run Django's password validators (AUTH_PASSWORD_VALIDATORS) on ``password`` for
    ``user`` (saved or not). Raises PasswordRejected with every reason."""
    try:
        password_validation.validate_password(password, user=user)
    except ValidationError as rejected:
        raise PasswordRejected(errors=list(rejected.messages)) from rejected


@transaction.atomic
def user_password_set(*, user, password: str) -> None:
    """Give ``user`` a new password that Django's validators accept.

    Writes the user's password hash. Saving it makes Django call
    accounts.passwords.RevokeTokensOnPasswordChange, which deletes every token of the
    user (that hook, not this function, revokes them, so the admin's password forms do
    too). Raises PasswordRejected and writes nothing if the validators refuse it.
    """
    password_check(user=user, password=password)
    user.set_password(password)
    user.save(update_fields=["password"])


@transaction.atomic
def token_create(*, user) -> tuple[str, AuthToken]:
    """Issue a token; only its hash is stored. Returns (token, its record).

    Locks the user's row, so that concurrent logins of one user count its tokens one at
    a time; deletes the user's expired tokens, so requests never have to; and, when the
    user already holds TOKEN_LIMIT_PER_USER live tokens, deletes the oldest ones so that
    the new one makes the limit. A login past the limit therefore ends the user's oldest
    session instead of being refused (knox's own LoginView answers 403 there, which would
    lock out a client that logs in without logging out until a token expires).
    """
    list(User.objects.select_for_update().filter(pk=user.pk).values_list("pk"))
    tokens = AuthToken.objects.filter(user=user)
    tokens.filter(expiry__lt=timezone.now()).delete()
    limit = knox_settings.TOKEN_LIMIT_PER_USER
    if limit is not None:
        newest = tokens.order_by("-created", "-digest").values("digest")[: max(limit - 1, 0)]
        tokens.exclude(digest__in=Subquery(newest)).delete()
    instance, token = AuthToken.objects.create(user=user)
    return token, instance


def token_revoke(*, token: AuthToken) -> None:
    AuthToken.objects.filter(digest=token.digest).delete()


def token_revoke_all(*, user) -> int:
    """Delete every token of ``user`` (sign out everywhere). Returns how many."""
    deleted, _ = AuthToken.objects.filter(user=user).delete()
    return deleted
