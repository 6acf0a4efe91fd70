"""Demo data for `make run`: safe to load twice."""

from accounts.roles import Role
from accounts.services import user_create

DEMO_USERS = {
    Role.CUSTOMER: ("customer", "customer-demo-pass"),
    Role.WAREHOUSE: ("warehouse", "warehouse-demo-pass"),
    Role.AUDITOR: ("auditor", "auditor-demo-pass"),
    Role.ADMIN: ("admin", "admin-demo-pass"),
}


def demo_load() -> dict[str, tuple[str, str]]:
    """Create the demo users (and, as the apps grow, catalogue, stock and orders)."""
    for role, (username, password) in DEMO_USERS.items():
        user_create(username=username, password=password, role=role)
    return {str(role): creds for role, creds in DEMO_USERS.items()}
