"""Failed logins are limited per username and per client, whatever X-Forwarded-For a
client sends, with counts shared by every process, on the API and the admin alike."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model
from django.db import connection

from accounts.roles import Role
from config.database_url import database_url
from tests.deploy.environment import clean_env
from tests.factories import PASSWORD, UserFactory

pytestmark = pytest.mark.django_db

BASE_DIR = Path(__file__).resolve().parents[2]
LOGIN = "/api/v1/auth/login/"


def login(client, username="alice", password=PASSWORD, path=LOGIN, **headers):
    return client.post(path, {"username": username, "password": password}, format="json", **headers)


@pytest.fixture
def alice():
    return UserFactory(username="alice")


def test_a_new_x_forwarded_for_per_attempt_does_not_bypass_the_client_limit(anon, settings):
    limit = settings.AXES_FAILURE_LIMIT
    # A new username and a new forwarded address every time: only the real peer
    # address ties the attempts together.
    statuses = [
        login(anon, f"guess{n}", "wrong", HTTP_X_FORWARDED_FOR=f"203.0.113.{n}").status_code
        for n in range(limit + 2)
    ]
    assert statuses == [401] * (limit - 1) + [429] * 3
    UserFactory(username="bob")
    assert login(anon, "bob", HTTP_X_FORWARDED_FOR="198.51.100.1").status_code == 429


def test_the_username_limit_holds_across_client_addresses(anon, alice, settings):
    limit = settings.AXES_FAILURE_LIMIT
    statuses = [
        login(anon, "alice", "wrong", REMOTE_ADDR=f"192.0.2.{n}").status_code
        for n in range(1, limit + 1)
    ]
    assert statuses == [401] * (limit - 1) + [429]
    # The right password from a new address is refused too: the account is locked.
    locked = login(anon, "alice", REMOTE_ADDR="192.0.2.200")
    assert locked.status_code == 429
    assert locked.json()["code"] == "throttled"
    assert "Retry-After" in locked
    # That address itself is not locked: another account signs in from it.
    UserFactory(username="bob")
    assert login(anon, "bob", REMOTE_ADDR="192.0.2.200").status_code == 200


def test_the_original_login_shares_the_limit(anon, alice, settings):
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert login(anon, password="wrong").status_code == 401
    assert login(anon, password="wrong", path="/auth/login/").status_code == 429
    assert login(anon, path="/auth/login/").status_code == 429


def test_behind_trusted_proxies_the_address_they_forwarded_is_the_client(anon, settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    limit = settings.AXES_FAILURE_LIMIT
    # Every request comes from the load balancer (REMOTE_ADDR), which appends the
    # client's address to whatever X-Forwarded-For the client sent.
    behind_lb = {"REMOTE_ADDR": "10.0.0.2"}
    statuses = [
        login(
            anon, f"guess{n}", "wrong", HTTP_X_FORWARDED_FOR=f"1.2.3.{n}, 198.51.100.7", **behind_lb
        ).status_code
        for n in range(limit)
    ]
    assert statuses == [401] * (limit - 1) + [429]
    UserFactory(username="bob")
    # Another client behind the same balancer is not locked out.
    assert login(anon, "bob", HTTP_X_FORWARDED_FOR="198.51.100.8", **behind_lb).status_code == 200


def test_the_admin_login_form_is_limited_too(client, anon, settings):
    UserFactory(username="root", role=Role.ADMIN)
    limit = settings.AXES_FAILURE_LIMIT

    def admin_login(password):
        return client.post("/admin/login/?next=/admin/", {"username": "root", "password": password})

    statuses = [admin_login("wrong").status_code for _ in range(limit)]
    assert statuses == [200] * (limit - 1) + [429]  # 200: the form again, with an error
    refused = admin_login(PASSWORD)
    assert refused.status_code == 429
    assert client.get("/admin/").status_code == 302  # not signed in
    # The API login of that account is locked as well.
    assert login(anon, "root").status_code == 429


def test_an_admin_login_with_the_right_password_still_works(client):
    UserFactory(username="root", role=Role.ADMIN)
    response = client.post("/admin/login/?next=/admin/", {"username": "root", "password": PASSWORD})
    assert response.status_code == 302
    assert client.get("/admin/").status_code == 200


ATTEMPTS = """
import json, sys
import django
django.setup()
from django.test import Client
client = Client(REMOTE_ADDR=sys.argv[1])
statuses = []
for password in sys.argv[2:]:
    response = client.post(
        "/api/v1/auth/login/",
        {"username": "carol", "password": password},
        content_type="application/json",
    )
    statuses.append(response.status_code)
print(json.dumps(statuses))
"""


@pytest.mark.usefixtures("committed_db")
def test_separate_processes_share_the_failure_count():
    get_user_model().objects.filter(username="carol").delete()
    UserFactory(username="carol")
    env = clean_env(
        DJANGO_SETTINGS_MODULE="config.settings_test",
        DATABASE_URL=database_url(connection.settings_dict),
        ALLOWED_HOSTS="testserver",
        LOGIN_FAILURE_LIMIT="4",
    )

    def attempts(address: str, *passwords: str) -> list[int]:
        result = subprocess.run(
            [sys.executable, "-c", ATTEMPTS, address, *passwords],
            cwd=BASE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout.strip().splitlines()[-1])

    # Two processes, as two gunicorn workers or two containers would be, from two
    # client addresses: only the username's count, kept in the database, links them.
    assert attempts("192.0.2.1", "wrong", "wrong", "wrong") == [401, 401, 401]
    assert attempts("192.0.2.2", "wrong", PASSWORD) == [429, 429]
