"""Audit reads on a streaming replica (DATABASE_REPLICA_URL), with read-your-writes.

``ReplicaReadMiddleware`` marks the GET requests of the views named in
AUDIT_READ_VIEWS (the movement history, a movement, the CSV export, a balance now or
as of an instant); while they run, ``AuditReadRouter`` sends the reads of the apps in
AUDIT_READ_APPS to the ``replica`` alias. Everything else (sign-in, tokens, every
write) stays on ``default``, the primary.

Read-your-writes: every successful write answers with ``X-Ledger-LSN``, the primary's
WAL position after it (one ``SELECT pg_current_wal_insert_lsn()``, only when a replica
is configured). A client that sends it back as ``X-Read-Your-Writes`` is served by the
replica once it has replayed that far, waiting up to READ_YOUR_WRITES_WAIT_MS, and else
by the primary (``X-Read-Your-Writes: primary`` asks for the primary outright). Every
routed answer says where it was read in ``X-Read-From``.

The position is read after the write has committed. If that read fails (the primary
died or stopped answering right after the commit, as in a failover), the write still
stands and is answered as such, with ``X-Ledger-LSN: primary``: sent back, it reads
from the primary, so read-your-writes holds.
"""

from __future__ import annotations

import contextlib
import logging
import re
import time
from contextvars import ContextVar

from django.conf import settings
from django.db import DatabaseError, connections
from django.urls import Resolver404, resolve

logger = logging.getLogger(__name__)

REPLICA = "replica"
AUDIT_READ_VIEWS = frozenset({"movement-list", "movement-detail", "movement-export", "balance"})
AUDIT_READ_APPS = frozenset({"ledger", "catalog"})
_LSN = re.compile(r"^[0-9A-Fa-f]{1,8}/[0-9A-Fa-f]{1,8}$")
_POLL_S = 0.05

_read_alias: ContextVar[str | None] = ContextVar("audit_read_alias", default=None)


class AuditReadRouter:
    """Reads of the ledger and catalogue inside an audit read go to the alias the
    middleware chose; all else, and every write and migration, to default."""

    def db_for_read(self, model, **hints):
        alias = _read_alias.get()
        if alias and model._meta.app_label in AUDIT_READ_APPS:
            return alias
        return None

    def db_for_write(self, model, **hints):
        return "default"

    def allow_relation(self, obj1, obj2, **hints):
        return True

    def allow_migrate(self, db, app_label, model_name=None, **hints):
        return db == "default"


def replica_position_reached(lsn: str) -> bool:
    """Whether the replica has replayed the WAL up to ``lsn``. Raises DatabaseError."""
    with connections[REPLICA].cursor() as cursor:
        cursor.execute("SELECT coalesce(pg_last_wal_replay_lsn() >= %s::pg_lsn, true)", [lsn])
        return cursor.fetchone()[0]


def read_alias(required_lsn: str | None) -> str:
    """The replica, unless the client asked for a position it has not replayed within
    READ_YOUR_WRITES_WAIT_MS (or it cannot say): then the primary."""
    if required_lsn is None:
        return REPLICA
    if required_lsn == "primary" or not _LSN.match(required_lsn):
        return "default"
    deadline = time.monotonic() + settings.READ_YOUR_WRITES_WAIT_MS / 1000
    try:
        while not replica_position_reached(required_lsn):
            if time.monotonic() >= deadline:
                return "default"
            time.sleep(_POLL_S)
    except DatabaseError:
        return "default"
    return REPLICA


def write_position() -> str:
    """The primary's WAL insert position, read once a write has committed; "primary" if
    it cannot be read.

    This runs in a middleware, after the view: a database error here would reach neither
    DRF's exception handler nor DatabaseErrorMiddleware and would answer 500 for a write
    that is done (and would be retried into a second one without an Idempotency-Key).
    The failover drill caught it: a restock committed, the primary died, and this read
    waited in PgBouncer's queue until query_wait_timeout. Takes no locks."""
    try:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT pg_current_wal_insert_lsn()")
            return str(cursor.fetchone()[0])
    except DatabaseError as exc:
        logger.warning("a write's WAL position is unknown (X-Ledger-LSN: primary): %s", exc)
        return "primary"


def _is_audit_read(request) -> bool:
    if request.method not in ("GET", "HEAD"):
        return False
    try:
        return resolve(request.path_info).url_name in AUDIT_READ_VIEWS
    except Resolver404:
        return False


class ReplicaReadMiddleware:
    """Routes audit reads to the replica and stamps writes with X-Ledger-LSN (see the
    module's docstring); does nothing without DATABASE_REPLICA_URL."""

    def __init__(self, get_response):
        self.get_response = get_response
        self.enabled = REPLICA in settings.DATABASES

    def __call__(self, request):
        if not self.enabled:
            return self.get_response(request)
        if not _is_audit_read(request):
            response = self.get_response(request)
            if request.method not in ("GET", "HEAD", "OPTIONS") and response.status_code < 300:
                response["X-Ledger-LSN"] = write_position()
            return response
        alias = read_alias(request.headers.get("X-Read-Your-Writes"))
        token = _read_alias.set(alias)
        try:
            response = self.get_response(request)
        finally:
            _read_alias.reset(token)
        if response.streaming:
            # The export's rows are read while the body is sent, after this returns.
            response.streaming_content = _routed(response.streaming_content, alias)
        response["X-Read-From"] = "replica" if alias == REPLICA else "primary"
        return response


def _routed(chunks, alias):
    token = _read_alias.set(alias)
    try:
        yield from chunks
    finally:
        # Finished in another context: nothing of ours to restore.
        with contextlib.suppress(ValueError):
            _read_alias.reset(token)
