import pytest
from django.test import Client

from accounts.roles import Role
from tests.factories import UserFactory


def signed_in(role) -> Client:
    client = Client()
    client.force_login(UserFactory(role=role))
    return client


@pytest.fixture
def staff(db):
    return signed_in(Role.WAREHOUSE)


@pytest.fixture
def auditor_session(db):
    return signed_in(Role.AUDITOR)


@pytest.fixture
def customer_session(db):
    return signed_in(Role.CUSTOMER)
