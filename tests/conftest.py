import pytest
from django.core.cache import cache
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
