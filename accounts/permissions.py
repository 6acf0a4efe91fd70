from rest_framework.permissions import SAFE_METHODS, BasePermission

from accounts.roles import Role, has_role


class IsWarehouse(BasePermission):
    message = "Only warehouse staff may do this."

    def has_permission(self, request, view):
        return has_role(request.user, Role.WAREHOUSE)


class CanAudit(BasePermission):
    """Auditors and warehouse staff read the ledger; customers do not."""

    message = "Only auditors and warehouse staff may read the ledger."

    def has_permission(self, request, view):
        return has_role(request.user, Role.AUDITOR, Role.WAREHOUSE)


class ReadOrWarehouseWrites(BasePermission):
    """Any signed-in user reads; warehouse staff write."""

    message = "Only warehouse staff may change the catalogue."

    def has_permission(self, request, view):
        if request.method in SAFE_METHODS:
            return bool(request.user and request.user.is_authenticated)
        return has_role(request.user, Role.WAREHOUSE)


class CanPlaceOrders(BasePermission):
    """Customers and warehouse staff place and cancel orders; auditors change nothing."""

    message = "Auditors cannot place or cancel orders."

    def has_permission(self, request, view):
        if request.method in SAFE_METHODS:
            return bool(request.user and request.user.is_authenticated)
        return has_role(request.user, Role.CUSTOMER, Role.WAREHOUSE)


class AuditReadsWarehouseWrites(BasePermission):
    """Auditors and warehouse staff read; warehouse staff write; customers neither."""

    def has_permission(self, request, view):
        if request.method in SAFE_METHODS:
            self.message = CanAudit.message
            return has_role(request.user, Role.AUDITOR, Role.WAREHOUSE)
        self.message = IsWarehouse.message
        return has_role(request.user, Role.WAREHOUSE)


class CanFollowEvents(BasePermission):
    """The integration role and auditors read the event feed; customers and warehouse
    staff do not."""

    message = "Only the integration role and auditors may read the event feed."

    def has_permission(self, request, view):
        return has_role(request.user, Role.INTEGRATION, Role.AUDITOR)


class ManagesWebhooks(BasePermission):
    """Admins and the integration role register webhooks and read their deliveries."""

    message = "Only admins and the integration role may manage webhooks."

    def has_permission(self, request, view):
        return has_role(request.user, Role.INTEGRATION, Role.ADMIN)
