"""Loading the settings: no side effects beyond a development key, strict secrets in
production, and only an explicitly named environment file."""

import stat
import subprocess
import sys
from pathlib import Path

import pytest

from tests.deploy.environment import clean_env

ROOT = Path(__file__).resolve().parents[2]
SHOW = (
    "import django; django.setup(); from django.conf import settings; "
    "print(settings.SECRET_KEY); print(settings.DATABASES['default']['ENGINE']); "
    "print(','.join(settings.ALLOWED_HOSTS))"
)
STRONG_KEY = "a-production-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"


def load_settings(**variables: str) -> subprocess.CompletedProcess:
    env = clean_env(DJANGO_SETTINGS_MODULE="config.settings", **variables)
    return subprocess.run(
        [sys.executable, "-c", SHOW], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )


def test_importing_the_settings_starts_no_database_server(tmp_path):
    data_dir = tmp_path / "data"
    result = load_settings(EMBEDDED_DB_DIR=str(data_dir))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[1] == "config.embedded_backend"
    # A started server would have its cluster (pgserver/ or pgdata/) in the directory.
    assert sorted(p.name for p in data_dir.iterdir()) == ["secret_key"]


def test_a_checkout_without_secret_key_gets_its_own_random_key(tmp_path):
    first = load_settings(EMBEDDED_DB_DIR=str(tmp_path / "one"))
    again = load_settings(EMBEDDED_DB_DIR=str(tmp_path / "one"))
    other = load_settings(EMBEDDED_DB_DIR=str(tmp_path / "two"))
    for result in (first, again, other):
        assert result.returncode == 0, result.stderr
    key = first.stdout.splitlines()[0]
    assert len(key) >= 50
    assert again.stdout.splitlines()[0] == key  # kept: sessions survive a restart
    assert other.stdout.splitlines()[0] != key  # random, not a constant in the code
    key_file = tmp_path / "one" / "secret_key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


@pytest.mark.parametrize("database_url", ["postgres://nobody@127.0.0.1:1/none", ""])
def test_a_secret_key_shorter_than_50_characters_is_refused_when_debug_is_off(
    database_url, tmp_path
):
    result = load_settings(
        DATABASE_URL=database_url, SECRET_KEY=STRONG_KEY[:49], EMBEDDED_DB_DIR=str(tmp_path)
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be at least 50 characters" in result.stderr
    accepted = load_settings(
        DATABASE_URL=database_url, SECRET_KEY=STRONG_KEY[:50], EMBEDDED_DB_DIR=str(tmp_path)
    )
    assert accepted.returncode == 0, accepted.stderr


def test_a_short_secret_key_is_accepted_with_debug_on():
    result = load_settings(
        DATABASE_URL="postgres://nobody@127.0.0.1:1/none", SECRET_KEY="short", DEBUG="true"
    )
    assert result.returncode == 0, result.stderr


def test_only_an_environment_file_named_by_env_file_is_read(tmp_path):
    env_file = tmp_path / "production.env"
    env_file.write_text("ALLOWED_HOSTS=inventory.example.com\nSECRET_KEY=" + STRONG_KEY + "\n")
    result = load_settings(
        ENV_FILE=str(env_file), DATABASE_URL="postgres://nobody@127.0.0.1:1/none"
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == STRONG_KEY
    assert result.stdout.splitlines()[2] == "inventory.example.com"
    # The process's own environment wins over the file.
    overridden = load_settings(
        ENV_FILE=str(env_file),
        DATABASE_URL="postgres://nobody@127.0.0.1:1/none",
        ALLOWED_HOSTS="127.0.0.1",
    )
    assert overridden.stdout.splitlines()[2] == "127.0.0.1"
    # A mistyped name is an error, not silently no configuration.
    missing = load_settings(ENV_FILE=str(tmp_path / "no-such.env"))
    assert missing.returncode != 0
    assert "ENV_FILE names no file" in missing.stderr


def test_with_a_database_url_a_missing_secret_key_stops_the_app_unless_local_use_is_said(
    tmp_path,
):
    url = "postgres://nobody@127.0.0.1:1/none"
    refused = load_settings(DATABASE_URL=url, EMBEDDED_DB_DIR=str(tmp_path))
    assert refused.returncode != 0
    assert "SECRET_KEY must be set" in refused.stderr
    # `make run` and `make dev` say LOCAL_SECRET_KEY=true: the checkout's own key.
    local = load_settings(DATABASE_URL=url, LOCAL_SECRET_KEY="true", EMBEDDED_DB_DIR=str(tmp_path))
    assert local.returncode == 0, local.stderr
    assert local.stdout.splitlines()[0] == (tmp_path / "secret_key").read_text().strip()
