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


def has_role_sql(user: str, *roles: str) -> str:
    """A SQL condition true where ``has_role`` is for the row ``user`` (an alias of the
    user table): a superuser; or a member of the groups named by ``roles``; or, if
    ``roles`` holds the customer role, a member of none of the role groups."""
    from django.contrib.auth import get_user_model
    from django.contrib.auth.models import Group

    membership = get_user_model().groups.through
    groups = (
        f"SELECT FROM {Group._meta.db_table} AS g JOIN {membership._meta.db_table} AS ug"
        f" ON ug.group_id = g.id WHERE ug.user_id = {user}.id AND g.name IN "
    )

    def named(names) -> str:
        return "(" + ", ".join(f"'{name}'" for name in names) + ")"

    terms = [f"{user}.is_superuser"]
    if wanted := [role for role in GROUP_ROLES if role in roles]:
        terms.append(f"EXISTS ({groups}{named(wanted)})")
    if Role.CUSTOMER in roles:
        terms.append(f"NOT EXISTS ({groups}{named(GROUP_ROLES)})")
    return "(" + " OR ".join(terms) + ")"
