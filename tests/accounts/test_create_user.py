import subprocess
import sys

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command

from accounts.roles import Role, roles_of

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize(
    ("role", "expected"),
    [
        ("customer", {Role.CUSTOMER}),
        ("warehouse", {Role.WAREHOUSE}),
        ("auditor", {Role.AUDITOR}),
        ("admin", set(Role)),
    ],
)
def test_create_user_assigns_the_role(role, expected):
    call_command("create_user", "bob", role=role, password="s3cret-pass")
    user = get_user_model().objects.get(username="bob")
    assert user.check_password("s3cret-pass")
    assert roles_of(user) == expected
    assert user.is_superuser == (role == "admin")


def test_create_user_again_replaces_the_role():
    call_command("create_user", "bob", role="warehouse", password="pw-one-111")
    call_command("create_user", "bob", role="auditor", password="pw-two-222")
    user = get_user_model().objects.get(username="bob")
    assert list(user.groups.values_list("name", flat=True)) == ["auditor"]
    assert user.check_password("pw-two-222")


def test_create_user_prompts_for_the_password(monkeypatch):
    answers = iter(["typed-pass-1", "typed-pass-1"])
    monkeypatch.setattr("getpass.getpass", lambda prompt="": next(answers))
    call_command("create_user", "carol", role="customer")
    assert get_user_model().objects.get(username="carol").check_password("typed-pass-1")


def test_role_groups_exist_after_migrate():
    from django.contrib.auth.models import Group

    assert set(Group.objects.values_list("name", flat=True)) >= {"warehouse", "auditor"}


def test_create_user_without_a_terminal_or_a_password_says_how_to_give_one():
    # As run from a script with nothing on stdin: getpass reads end of file.
    result = subprocess.run(
        [sys.executable, "manage.py", "create_user", "alice", "--role", "warehouse"],
        cwd=settings.BASE_DIR,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "No password given" in result.stderr and "--password" in result.stderr
    assert "Traceback" not in result.stderr
