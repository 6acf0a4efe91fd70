import pytest
from django.core.cache import cache
from django.db import connection
from rest_framework.test import APIClient

from accounts.roles import Role
from accounts.services import token_create
from tests.factories import UserFactory


@pytest.fixture(autouse=True)
def _clear_cache():
    """Throttle counters live in the cache; each test starts with none."""
    cache.clear()
    yield
    cache.clear()


def client_for(user) -> APIClient:
    client = APIClient()
    if user is not None:
        token, _ = token_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    client.user = user
    return client


@pytest.fixture
def anon():
    return APIClient()


@pytest.fixture
def customer(db):
    return client_for(UserFactory(role=Role.CUSTOMER))


@pytest.fixture
def other_customer(db):
    return client_for(UserFactory(role=Role.CUSTOMER))


@pytest.fixture
def warehouse(db):
    return client_for(UserFactory(role=Role.WAREHOUSE))


@pytest.fixture
def auditor(db):
    return client_for(UserFactory(role=Role.AUDITOR))


@pytest.fixture
def admin_client_api(db):
    return client_for(UserFactory(role=Role.ADMIN))


@pytest.fixture
def committed_db(transactional_db, django_db_blocker):
    """A database whose writes are committed, for tests with several connections
    (threads, processes).

    Django empties the tables after such a test with one TRUNCATE, which the ledger's
    append-only trigger refuses; so the trigger is switched off for that teardown only
    and switched on again before the next test that uses the database.
    """
    _enable_truncate_guard()
    yield
    _set_truncate_guard("DISABLE")
    _truncate_guard_disabled[0] = True


_truncate_guard_disabled = [False]

# The movement table and each of its partitions has its own TRUNCATE guard (a statement
# trigger is not inherited).
_TRUNCATE_GUARD = """
DO $$
DECLARE t regclass;
BEGIN
    FOR t IN SELECT 'ledger_movement'::regclass UNION ALL
             SELECT inhrelid::regclass FROM pg_inherits
              WHERE inhparent = 'ledger_movement'::regclass
    LOOP
        EXECUTE format('ALTER TABLE %s {} TRIGGER ledger_movement_no_truncate', t);
    END LOOP;
END $$
"""


def _set_truncate_guard(action: str) -> None:
    with connection.cursor() as cursor:
        cursor.execute(_TRUNCATE_GUARD.format(action))


def _enable_truncate_guard():
    if _truncate_guard_disabled[0]:
        _set_truncate_guard("ENABLE")
        _truncate_guard_disabled[0] = False


@pytest.fixture(autouse=True)
def _truncate_guard_on(request, django_db_blocker):
    """Every test starts with the ledger's TRUNCATE trigger enabled (see committed_db)."""
    if _truncate_guard_disabled[0] and "committed_db" not in request.fixturenames:
        with django_db_blocker.unblock():
            _enable_truncate_guard()
    yield
