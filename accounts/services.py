from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.utils import timezone
from knox.models import AuthToken

from accounts.roles import GROUP_ROLES, Role

User = get_user_model()


@transaction.atomic
def user_create(
    *, username: str, password: str, role: Role = Role.CUSTOMER, email: str = ""
) -> User:
    """Create a user with one role, or give an existing user that role and password.

    Writes the user and its group membership (the role groups are made by a migration;
    get_or_create keeps this working on a database flushed by tests).
    """
    user, _ = User.objects.get_or_create(username=username, defaults={"email": email})
    user.set_password(password)
    user.is_staff = user.is_superuser = role == Role.ADMIN
    user.save()
    user.groups.remove(*Group.objects.filter(name__in=GROUP_ROLES))
    if role in GROUP_ROLES:
        user.groups.add(Group.objects.get_or_create(name=role)[0])
    return user


def token_create(*, user) -> tuple[str, AuthToken]:
    """Issue a token; only its hash is stored. Returns (token, its record).

    Also deletes the user's expired tokens, so requests never have to."""
    AuthToken.objects.filter(user=user, expiry__lt=timezone.now()).delete()
    instance, token = AuthToken.objects.create(user=user)
    return token, instance


def token_revoke(*, token: AuthToken) -> None:
    AuthToken.objects.filter(digest=token.digest).delete()
