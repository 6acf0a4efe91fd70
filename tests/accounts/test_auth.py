from datetime import timedelta

import pytest
from django.utils import timezone
from knox.models import AuthToken

from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def user():
    return UserFactory(username="alice")


def login(client, path="/api/v1/auth/login/", username="alice", password=PASSWORD):
    return client.post(path, {"username": username, "password": password}, format="json")


def test_login_returns_an_expiring_token_stored_hashed(anon, user):
    response = login(anon)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"token", "expiry"}
    stored = AuthToken.objects.get(user=user)
    assert body["token"] not in (stored.digest, stored.token_key)
    assert stored.expiry > timezone.now()


def test_token_authenticates_and_logout_revokes_it(anon, user):
    token = login(anon).json()["token"]
    anon.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert anon.post("/api/v1/auth/logout/").status_code == 204
    response = anon.post("/api/v1/auth/logout/")
    assert response.status_code == 401
    assert response.json()["code"] == "authentication_failed"


def test_wrong_password_is_401_with_a_code(anon, user):
    response = login(anon, password="nope")
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_credentials"


def test_expired_token_is_refused(anon, user):
    token = login(anon).json()["token"]
    AuthToken.objects.filter(user=user).update(expiry=timezone.now() - timedelta(seconds=1))
    anon.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert anon.post("/api/v1/auth/logout/").status_code == 401


def test_login_attempts_are_throttled(anon, user, settings):
    limit = settings.AXES_FAILURE_LIMIT
    statuses = [login(anon, password="wrong").status_code for _ in range(limit + 1)]
    # The failure that reaches the limit already answers 429: the client is locked out.
    assert statuses == [401] * (limit - 1) + [429, 429]
    locked = login(anon)  # even the right password, until the cool-off has passed
    assert locked.status_code == 429
    assert locked.json()["code"] == "throttled"
    assert int(locked["Retry-After"]) == settings.AXES_COOLOFF_TIME.total_seconds()


def test_original_login_and_logout_paths(anon, user):
    response = login(anon, path="/auth/login/")
    assert response.status_code == 200
    assert set(response.json()) == {"token"}
    anon.credentials(HTTP_AUTHORIZATION=f"Token {response.json()['token']}")
    assert anon.delete("/auth/logout/").status_code == 204
    assert not AuthToken.objects.filter(user=user).exists()


def test_requests_without_a_token_are_401(anon):
    response = anon.post("/api/v1/auth/logout/")
    assert response.status_code == 401
    assert response.json()["code"] == "not_authenticated"
