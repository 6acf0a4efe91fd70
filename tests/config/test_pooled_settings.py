"""The database settings for PgBouncer (DATABASE_POOLED) and a replica
(DATABASE_REPLICA_URL), as a deployment's environment makes them (docs/scaling.md)."""

import json
import subprocess
import sys
from pathlib import Path

from tests.deploy.environment import clean_env

ROOT = Path(__file__).resolve().parents[2]
SHOW = (
    "import json, django; django.setup(); from django.conf import settings; "
    "print(json.dumps({'dbs': settings.DATABASES, 'routers': settings.DATABASE_ROUTERS}, "
    "default=str))"
)
KEY = "a-production-secret-key-0123456789-abcdefghijklmnopqrstuvwxyz"
PRIMARY = "postgres://app@/inventory?host=pgb1,pgb2&port=6432,6432&target_session_attrs=read-write"


def databases(**variables: str) -> dict:
    env = clean_env(DJANGO_SETTINGS_MODULE="config.settings", SECRET_KEY=KEY, **variables)
    result = subprocess.run(
        [sys.executable, "-c", SHOW], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def test_pooled_connections_have_no_server_side_cursors_and_no_startup_options():
    pooled = databases(DATABASE_URL=PRIMARY, DATABASE_POOLED="true")["dbs"]["default"]
    assert pooled["DISABLE_SERVER_SIDE_CURSORS"] is True
    # PgBouncer refuses the options startup parameter: the limits are the role's defaults.
    assert "options" not in pooled["OPTIONS"]
    # Nor can it carry a prepared statement from one transaction to the next.
    assert "prepare_threshold" not in pooled["OPTIONS"]
    assert pooled["OPTIONS"]["target_session_attrs"] == "read-write"
    direct = databases(DATABASE_URL=PRIMARY)["dbs"]["default"]
    assert "lock_timeout=4000" in direct["OPTIONS"]["options"]
    assert not direct.get("DISABLE_SERVER_SIDE_CURSORS")
    assert direct["OPTIONS"]["prepare_threshold"] == 5


def test_the_replica_gets_the_apps_connection_settings_but_not_the_primarys_target():
    loaded = databases(
        DATABASE_URL=PRIMARY,
        DATABASE_POOLED="true",
        DATABASE_REPLICA_URL="postgres://app@pgb-replica:6432/inventory",
        DATABASE_CONNECT_TIMEOUT="3",
    )
    replica = loaded["dbs"]["replica"]
    assert loaded["routers"] == ["core.routing.AuditReadRouter"]
    assert (replica["HOST"], replica["PORT"]) == ("pgb-replica", 6432)
    assert replica["OPTIONS"]["connect_timeout"] == 3
    assert "target_session_attrs" not in replica["OPTIONS"]
    assert replica["DISABLE_SERVER_SIDE_CURSORS"] is True
    assert databases(DATABASE_URL=PRIMARY)["routers"] == []
