"""Waiting for new events without a database connection per follower.

Long polls and streams wait here. One thread per process reads the (position, type)
of the events committed since its last look (an index range scan) every
EVENTS_POLL_SECONDS while anyone waits, and wakes the waiters it has new events for
(of their types, for a filtered feed); with no waiter it stops and closes its
connection. So 100 idle followers cost one cheap query per interval,
whatever their number, and a posting pays nothing (no NOTIFY, whose commit-time lock
would serialize every writer; and LISTEN does not work through PgBouncer in
transaction mode, which the cluster uses).
"""

import asyncio
import logging
import threading
import time

from django.conf import settings
from django.db import connection

from events.selectors import event_head, event_types_after

logger = logging.getLogger(__name__)


class _Waiter:
    __slots__ = ("after", "future", "loop", "types")

    def __init__(self, after: int, types, loop, future) -> None:
        self.after, self.types, self.loop, self.future = after, types, loop, future

    def wanted(self, new: list[tuple[int, str]]) -> bool:
        return any(p > self.after and (self.types is None or t in self.types) for p, t in new)


def _wake(future) -> None:
    if not future.done():
        future.set_result(True)


class HeadWatcher:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiters: set[_Waiter] = set()
        self._thread: threading.Thread | None = None

    async def wait_beyond(self, after: int, timeout: float, types=None) -> bool:
        """True as soon as an event past ``after`` (of ``types``, if given) can be
        served, False after ``timeout`` seconds."""
        loop = asyncio.get_running_loop()
        waiter = _Waiter(after, frozenset(types) if types else None, loop, loop.create_future())
        with self._lock:
            self._waiters.add(waiter)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="events-head", daemon=True)
                self._thread.start()
        try:
            await asyncio.wait_for(waiter.future, timeout)
            return True
        except TimeoutError:
            return False
        finally:
            with self._lock:
                self._waiters.discard(waiter)

    def _run(self) -> None:
        head = None  # the last position seen
        try:
            while True:
                with self._lock:
                    if not self._waiters:
                        self._thread = None
                        return
                try:
                    if head is None:  # starting: wake whoever is behind the head
                        head = event_head()
                        new = [(head, None)]
                    else:  # the (position, type) of each event since: a short range
                        new = event_types_after(after=head)
                        head = new[-1][0] if new else head
                except Exception:  # the database is down: keep the waiters, try again
                    logger.warning("events: cannot read the head", exc_info=True)
                    connection.close()
                    new = []
                if new:
                    with self._lock:
                        for waiter in self._waiters:
                            if (new[0][1] is None and head > waiter.after) or waiter.wanted(new):
                                waiter.loop.call_soon_threadsafe(_wake, waiter.future)
                time.sleep(settings.EVENTS_POLL_SECONDS)
        finally:
            connection.close()


watcher = HeadWatcher()
