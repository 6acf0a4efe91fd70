"""Roles are Django groups: `warehouse`, `auditor` and `integration` (other systems that
follow the event feed and register webhooks); a signed-in user in neither group
is a customer; superusers administer and hold every role."""

from enum import StrEnum


class Role(StrEnum):
    CUSTOMER = "customer"
    WAREHOUSE = "warehouse"
    AUDITOR = "auditor"
    INTEGRATION = "integration"
    ADMIN = "admin"


GROUP_ROLES = (Role.WAREHOUSE, Role.AUDITOR, Role.INTEGRATION)


def roles_of(user) -> frozenset[str]:
    """The user's roles, read once per request (cached on the user object)."""
    if not user or not user.is_authenticated:
        return frozenset()
    cached = getattr(user, "_roles_cache", None)
    if cached is None:
        cached = remember_roles(user, user.groups.values_list("name", flat=True))
    return cached


def remember_roles(user, group_names) -> frozenset[str]:
    """Cache the roles given by ``group_names`` on ``user`` (read with the token)."""
    if user.is_superuser:
        roles = frozenset(Role)
    else:
        roles = frozenset(set(group_names).intersection(GROUP_ROLES) or {Role.CUSTOMER})
    user._roles_cache = roles
    return roles


def has_role(user, *roles: str) -> bool:
    return not roles_of(user).isdisjoint(roles)
