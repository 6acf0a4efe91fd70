"""Passwords pass Django's validators on every path; changing one revokes the user's
tokens whichever path changed it; sign out everywhere; at most N tokens per user."""

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import make_password
from django.core.management import CommandError, call_command
from knox.models import AuthToken
from rest_framework.test import APIClient

from accounts.checks import password_change_revokes_tokens
from accounts.exceptions import PasswordRejected
from accounts.roles import Role
from accounts.services import token_create, user_create, user_password_set
from demo.services import DEMO_USERS
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "a brand new passphrase 42"


def token_client(token: str) -> APIClient:
    return APIClient(HTTP_AUTHORIZATION=f"Token {token}")


def signed_in(token: str) -> bool:
    status = token_client(token).get("/api/v1/orders/").status_code
    assert status in (200, 401)
    return status == 200


@pytest.fixture
def alice():
    return UserFactory(username="alice")


@pytest.fixture
def tokens(alice):
    """Two tokens of alice's (two devices) and one of bob's."""
    bob = UserFactory(username="bob")
    return {
        "alice": [token_create(user=alice)[0] for _ in range(2)],
        "bob": token_create(user=bob)[0],
    }


# create_user runs the validators


def test_create_user_refuses_a_one_character_admin_password():
    with pytest.raises(CommandError, match="too short"):
        call_command("create_user", "root", role="admin", password="x")
    assert not get_user_model().objects.filter(username="root").exists()


@pytest.mark.parametrize("password", ["12345678901", "password123", "rootroot1"])
def test_create_user_refuses_numeric_common_or_username_like_passwords(password):
    with pytest.raises(CommandError, match="The password was refused"):
        call_command("create_user", "rootroot", role="admin", password=password)


def test_create_user_refuses_a_weak_password_for_an_existing_user_and_changes_nothing(alice):
    with pytest.raises(CommandError):
        call_command("create_user", "alice", role="warehouse", password="short")
    alice.refresh_from_db()
    assert alice.check_password(PASSWORD)
    assert not alice.groups.exists()


def test_the_demo_passwords_pass_the_validators():
    for role, (username, password) in DEMO_USERS.items():
        assert user_create(username=username, password=password, role=role).check_password(password)


# a changed password revokes every token of the user, whatever changed it


def test_user_password_set_revokes_every_token_of_that_user_only(alice, tokens):
    user_password_set(user=alice, password=NEW_PASSWORD)
    assert not any(signed_in(token) for token in tokens["alice"])
    assert signed_in(tokens["bob"])
    alice.refresh_from_db()
    assert alice.check_password(NEW_PASSWORD)


def test_user_password_set_refuses_a_weak_password_and_keeps_the_tokens(alice, tokens):
    with pytest.raises(PasswordRejected) as rejected:
        user_password_set(user=alice, password="alice")
    assert rejected.value.data["errors"]
    assert all(signed_in(token) for token in tokens["alice"])


def test_create_user_resetting_the_password_revokes_the_tokens(alice, tokens):
    call_command("create_user", "alice", role="customer", password=NEW_PASSWORD)
    assert not any(signed_in(token) for token in tokens["alice"])


def test_create_user_with_the_same_password_only_changes_the_role(alice, tokens):
    call_command("create_user", "alice", role="warehouse", password=PASSWORD)
    assert all(signed_in(token) for token in tokens["alice"])
    assert list(alice.groups.values_list("name", flat=True)) == ["warehouse"]


def test_the_admins_password_form_revokes_the_tokens(client, alice, tokens):
    client.force_login(UserFactory(role=Role.ADMIN))
    response = client.post(
        f"/admin/auth/user/{alice.pk}/password/",
        {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"},
    )
    assert response.status_code == 302, response.content
    assert not any(signed_in(token) for token in tokens["alice"])
    assert signed_in(tokens["bob"])


def test_changepassword_command_revokes_the_tokens(alice, tokens, monkeypatch):
    monkeypatch.setattr("getpass.getpass", lambda prompt="": NEW_PASSWORD)
    call_command("changepassword", "alice")
    assert not any(signed_in(token) for token in tokens["alice"])


def test_a_login_that_rehashes_the_password_is_not_a_change(anon, alice, settings, tokens):
    # A login upgrades a hash made by an older hasher; the password is the same.
    settings.PASSWORD_HASHERS = [
        "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        "django.contrib.auth.hashers.MD5PasswordHasher",
    ]
    type(alice).objects.filter(pk=alice.pk).update(password=make_password(PASSWORD, hasher="md5"))
    response = anon.post(
        "/api/v1/auth/login/", {"username": "alice", "password": PASSWORD}, format="json"
    )
    assert response.status_code == 200
    alice.refresh_from_db()
    assert alice.password.startswith("pbkdf2_sha256$")
    assert all(signed_in(token) for token in tokens["alice"])


def test_without_the_revoking_hook_the_app_does_not_start(settings):
    assert password_change_revokes_tokens(None) == []
    settings.AUTH_PASSWORD_VALIDATORS = settings.AUTH_PASSWORD_VALIDATORS[:-1]
    (error,) = password_change_revokes_tokens(None)
    assert error.id == "accounts.E001"


# the password endpoint


def test_password_change_endpoint_revokes_every_token_then_the_new_password_works(alice, tokens):
    client = token_client(tokens["alice"][0])
    response = client.post(
        "/api/v1/auth/password/",
        {"old_password": PASSWORD, "new_password": NEW_PASSWORD},
        format="json",
    )
    assert response.status_code == 204
    assert not any(signed_in(token) for token in tokens["alice"])
    assert signed_in(tokens["bob"])

    def login(password):
        body = {"username": "alice", "password": password}
        return APIClient().post("/api/v1/auth/login/", body, format="json")

    assert login(NEW_PASSWORD).status_code == 200
    old = login(PASSWORD)
    assert old.status_code == 401


def test_password_change_needs_the_old_password(alice, tokens):
    response = token_client(tokens["alice"][0]).post(
        "/api/v1/auth/password/",
        {"old_password": "not it", "new_password": NEW_PASSWORD},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["errors"] == {"old_password": ["The password is wrong."]}
    assert all(signed_in(token) for token in tokens["alice"])


def test_password_change_refuses_a_weak_new_password(alice, tokens):
    response = token_client(tokens["alice"][0]).post(
        "/api/v1/auth/password/",
        {"old_password": PASSWORD, "new_password": "alice1"},
        format="json",
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid"
    assert any("too short" in message for message in body["errors"]["new_password"])
    alice.refresh_from_db()
    assert alice.check_password(PASSWORD)


def test_wrong_old_passwords_count_as_failed_logins(alice, tokens, settings):
    client = token_client(tokens["alice"][0])
    statuses = [
        client.post(
            "/api/v1/auth/password/",
            {"old_password": f"guess {n}", "new_password": NEW_PASSWORD},
            format="json",
        ).status_code
        for n in range(settings.AXES_FAILURE_LIMIT)
    ]
    assert statuses[-2:] == [400, 429]


def test_password_change_needs_a_token(anon):
    response = anon.post(
        "/api/v1/auth/password/", {"old_password": "a", "new_password": "b"}, format="json"
    )
    assert response.status_code == 401


# sign out everywhere


def test_logout_all_revokes_every_token_of_the_user(alice, tokens):
    response = token_client(tokens["alice"][1]).post("/api/v1/auth/logout-all/")
    assert response.status_code == 204
    assert not any(signed_in(token) for token in tokens["alice"])
    assert signed_in(tokens["bob"])
    assert not AuthToken.objects.filter(user=alice).exists()


# at most TOKEN_LIMIT_PER_USER tokens


def test_a_login_past_the_token_limit_ends_the_oldest_token(anon, alice, settings):
    settings.REST_KNOX = {**settings.REST_KNOX, "TOKEN_LIMIT_PER_USER": 3}
    issued = [
        anon.post(
            "/api/v1/auth/login/", {"username": "alice", "password": PASSWORD}, format="json"
        ).json()["token"]
        for _ in range(5)
    ]
    assert AuthToken.objects.filter(user=alice).count() == 3
    assert [signed_in(token) for token in issued] == [False, False, True, True, True]


def test_the_token_limit_is_ten_by_default(alice):
    for _ in range(12):
        token_create(user=alice)
    assert AuthToken.objects.filter(user=alice).count() == 10
