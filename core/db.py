"""Per-session database limits for the code paths that need other ones than a request,
and the prepared statements of the hot paths."""

import datetime
import functools
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import psycopg
from django.conf import settings
from django.db import DatabaseError, connections, transaction
from django.db.backends.postgresql.base import ServerBindingCursor
from django.db.backends.utils import CursorDebugWrapper, CursorWrapper
from django.db.models import QuerySet
from psycopg._queries import PostgresQuery
from psycopg.pq import Format, TransactionStatus

_TIMESTAMPTZ = psycopg.adapters.types["timestamptz"].oid
# psycopg's own loader: C with psycopg's binary package.
_TIMESTAMPTZ_LOADER = psycopg.adapters.get_loader(_TIMESTAMPTZ, Format.TEXT)


def _timestamps_loaded_in_c(connection, cursor) -> None:
    """Let ``cursor`` load timestamptz values with psycopg's own loader instead of
    Django's (a Python subclass of psycopg's pure-Python loader whose one addition is to
    set each value's tzinfo to the connection's time zone), when the session's time zone
    is UTC: psycopg then sets that same ``datetime.UTC`` itself, so the values are the
    same, at 0.15 µs each instead of 2.5 (a page of products holds 100). Django keeps
    its loader on its own cursors (it checks it for each one it makes)."""
    if (
        connection.timezone is datetime.UTC
        and connection.connection.info.parameter_status("TimeZone") == "UTC"
    ):
        cursor.adapters.register_loader(_TIMESTAMPTZ, _TIMESTAMPTZ_LOADER)


# Statements converted by _FixedTextQuery, and the most it keeps.
_CONVERTED: dict = {}
_CONVERTED_MAX = 256


class _FixedTextQuery(PostgresQuery):
    """psycopg's conversion of a statement's text (its placeholders to $1, $2...),
    cached whatever its length. psycopg caches it only below 4,096 bytes (against
    generated statements of ever-changing text), and a posting statement is ~6,000:
    every run parsed it again, ~25 µs of a restock's ~400. A prepared_cursor runs
    statements of fixed text only, and a cache of a few hundred holds them all."""

    def convert(self, query, vars) -> None:
        key = (query, self._tx.encoding) if isinstance(query, str | bytes) else None
        converted = _CONVERTED.get(key) if vars is not None else None
        if converted is None:
            super().convert(query, vars)
            if key is not None and vars is not None and len(_CONVERTED) < _CONVERTED_MAX:
                _CONVERTED[key] = (self.query, self._want_formats, self._order, self._parts)
            return
        self.query, self._want_formats, self._order, self._parts = converted
        self.dump(vars)


class _PreparingCursor(ServerBindingCursor):
    _query_cls = _FixedTextQuery


class _LoggedPreparingCursor(CursorDebugWrapper):
    """Django's debug wrapper (DEBUG, tests' query counts) around a prepared_cursor: it
    logs the statement with its parameters composed in, as Django's cursor does; psycopg
    keeps no text of a prepared statement's execution for Django to read back."""

    def execute(self, sql, params=None):
        with self.debug_sql(self.db.ops.compose_sql(sql, params)):
            return CursorWrapper.execute(self, sql, params)


@contextmanager
def prepared_cursor(using: str = "default") -> Iterator:
    """A cursor of the ``using`` connection that binds parameters on the server, so
    that psycopg prepares a statement once the connection has run it
    ``prepare_threshold`` times (5, config/settings.py), and from then on only executes
    it: parsing and planning a posting's one statement (a few CTEs, the hash
    expression) cost PostgreSQL more than running it (1.27 ms of the backend's CPU sent
    as text, 0.42 ms prepared); a prepared one is planned once (or, where PostgreSQL
    judges a custom plan better, planned but not parsed again). A connection that lives
    for a request or two (CONN_MAX_AGE=0) prepares nothing, and so pays no round trip
    for preparing.

    Use it for statements of a fixed text that run on every request, with explicit
    casts on their parameters (they are bound on the server). Through a transaction
    pooler (DATABASE_POOLED) the next transaction may run on another server connection,
    which has not prepared them: there the connection has no ``prepare_threshold``
    (config/settings.py) and psycopg prepares nothing. Queries still go through Django's
    cursor wrapper (errors, logging, query counts)."""
    connection = connections[using]
    connection.close_if_health_check_failed()
    connection.ensure_connection()
    connection.validate_thread_sharing()
    with connection.wrap_database_errors:
        raw = _PreparingCursor(connection.connection)
    _timestamps_loaded_in_c(connection, raw)
    if connection.queries_logged:
        cursor = _LoggedPreparingCursor(raw, connection)
    else:
        cursor = connection.make_cursor(raw)
    with cursor:
        yield cursor


@contextmanager
def statement_timeout(milliseconds: int, using: str = "default") -> Iterator[None]:
    """Run the block with PostgreSQL's ``statement_timeout`` at ``milliseconds`` (0: no
    limit) on the ``using`` connection, then restore the connection's own limit.

    Inside a transaction the setting is local to it (PostgreSQL undoes it at commit or
    rollback); outside one it is set for the session and reset on the way out, except
    through a transaction pooler (DATABASE_POOLED), where the next statement may run on
    another server connection and a session setting would stay behind on this one for
    other clients: there the block runs in a transaction of its own. Takes no locks.
    Raises DatabaseError if the connection fails.
    """
    connection = connections[using]
    if settings.DATABASE_POOLED and not connection.in_atomic_block:
        with transaction.atomic(using=using), statement_timeout(milliseconds, using):
            yield
        return
    local = connection.in_atomic_block
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('statement_timeout', %s, %s)", [str(milliseconds), local])
    try:
        yield
    finally:
        if not local:
            _reset_statement_timeout(connection)


def _reset_statement_timeout(connection) -> None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("RESET statement_timeout")
    except DatabaseError:
        # A persistent connection must never carry the longer limit into the next
        # request: if it cannot be reset, it is not reused.
        connection.close()


@contextmanager
def report_statement_timeout(using: str = "default") -> Iterator[None]:
    """``statement_timeout`` at DATABASE_REPORT_STATEMENT_TIMEOUT_MS, for reports and
    exports, which read much more than a request. Also a decorator."""
    with statement_timeout(settings.DATABASE_REPORT_STATEMENT_TIMEOUT_MS, using):
        yield


def report_chunks(movements: QuerySet, chunk_size: int) -> Iterator:
    """Every row of ``movements`` (ordered by descending primary key), read ``chunk_size``
    rows at a time by key (``pk < last``), each read under the report statement timeout.

    For a streamed response, whose queries run after the view has returned, while the
    server sends the body. Memory stays bounded without a server-side cursor, and no
    cursor or setting outlives one query's transaction, so it works the same through a
    transaction pooler. Rows committed during the stream with a key below the one read
    last may appear; the order is stable, so a resumed stream (``pk < last id``) misses
    nothing that was there when it started."""
    chunk = movements
    while True:
        # The database the rows come from (the replica, for an audit read: core.routing).
        using = chunk.db
        with report_statement_timeout(using):
            rows = list(chunk[:chunk_size])
        yield from rows
        if len(rows) < chunk_size:
            return
        chunk = movements.filter(pk__lt=rows[-1].pk)


def single_statement(service: Callable) -> Callable:
    """Make ``service``, whose database work is one statement (nothing read before it,
    nothing after), its own transaction, as ``transaction.atomic`` would, at less cost:
    outside any transaction it runs in autocommit mode, so that the statement commits
    or rolls back by itself, without BEGIN and COMMIT and without Django's bookkeeping
    of an atomic block and of the connection's autocommit (~14 µs a call, with
    sole_statement); inside the caller's transaction it is an atomic block (a
    savepoint) of it, as usual. Takes no locks of its own.

    Only for a service that is one statement whatever its input. A restock or an
    adjustment through ledger.services may be three (a named location is locked and its
    balance row opened first), so it keeps its atomic block and puts sole_statement
    around its posting, which skips BEGIN and COMMIT only when nothing ran before."""
    atomic = transaction.atomic(service)

    @functools.wraps(service)
    def run(*args, **kwargs):
        connection = connections["default"]
        if connection.in_atomic_block or not connection.get_autocommit():
            return atomic(*args, **kwargs)
        return service(*args, **kwargs)

    return run


@contextmanager
def sole_statement(using: str = "default") -> Iterator[None]:
    """Run the block's one statement as its own transaction when it is all the caller's
    transaction holds, saving the round trips of BEGIN and COMMIT.

    For a service whose outermost ``atomic`` block runs exactly one statement, this one:
    if nothing has run in the block yet (the server has no transaction open; the block
    is the outermost, not a savepoint), the statement runs in autocommit mode, and so
    commits or rolls back on its own, as the block would have; the block's own commit
    then has nothing to send. Anywhere else (a caller's transaction, a savepoint, a
    statement already run) it runs in the transaction as usual. Takes no locks; the
    caller must run no other statement in the block, before or after, unless it raises."""
    connection = connections[using]
    raw = connection.connection
    if not (
        connection.in_atomic_block
        and len(connection.atomic_blocks) == 1
        # Not a block inside a transaction the caller opened by turning autocommit off.
        and connection.commit_on_exit
        and not connection.needs_rollback
        and raw is not None
        and raw.info.transaction_status == TransactionStatus.IDLE
    ):
        yield
        return
    raw.autocommit = True
    try:
        yield
    finally:
        # A broken connection is left as it is: Django closes it after the error.
        if raw.info.transaction_status == TransactionStatus.IDLE:
            raw.autocommit = False
