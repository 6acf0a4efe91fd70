"""Per-session database limits for the code paths that need other ones than a request."""

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from django.conf import settings
from django.db import DatabaseError, connection

T = TypeVar("T")


@contextmanager
def statement_timeout(milliseconds: int) -> Iterator[None]:
    """Run the block with PostgreSQL's ``statement_timeout`` at ``milliseconds`` (0: no
    limit) on the default connection, then restore the connection's own limit.

    Inside a transaction the setting is local to it (PostgreSQL undoes it at commit or
    rollback); outside one it is set for the session and reset on the way out. Takes no
    locks. Raises DatabaseError if the connection fails.
    """
    local = connection.in_atomic_block
    with connection.cursor() as cursor:
        cursor.execute("SELECT set_config('statement_timeout', %s, %s)", [str(milliseconds), local])
    try:
        yield
    finally:
        if not local:
            _reset_statement_timeout()


def _reset_statement_timeout() -> None:
    try:
        with connection.cursor() as cursor:
            cursor.execute("RESET statement_timeout")
    except DatabaseError:
        # A persistent connection must never carry the longer limit into the next
        # request: if it cannot be reset, it is not reused.
        connection.close()


@contextmanager
def report_statement_timeout() -> Iterator[None]:
    """``statement_timeout`` at DATABASE_REPORT_STATEMENT_TIMEOUT_MS, for reports and
    exports, which read much more than a request. Also a decorator."""
    with statement_timeout(settings.DATABASE_REPORT_STATEMENT_TIMEOUT_MS):
        yield


def report_rows(rows: Iterable[T]) -> Iterator[T]:
    """Iterate ``rows`` (a lazy queryset iterator) under the report statement timeout.

    For a streamed response, whose query runs after the view has returned, while the
    server sends the body."""
    with report_statement_timeout():
        yield from rows
