"""The loop of a worker command (``--loop SECONDS``): a pass every SECONDS until SIGTERM
(docker stop) or Ctrl-C, alive through a database that is down or restarting."""

import logging
import signal
import threading
from collections.abc import Callable

from django.db import InterfaceError, OperationalError, close_old_connections, connection

logger = logging.getLogger(__name__)


def run_every(*, seconds: float, name: str, one_pass: Callable[[Callable[[], bool]], bool]) -> None:
    """Call ``one_pass(should_stop)`` every ``seconds`` until stopped. ``one_pass``
    checks ``should_stop`` between units of work (SIGTERM ends the loop between two,
    never inside one) and returns True when it may have left work, to go again at once.
    A database error ends the pass, not the worker: the next pass reconnects."""
    stop = threading.Event()
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: stop.set())
    try:
        while not stop.is_set():
            # A long-lived process gets no request signals: drop connections past
            # CONN_MAX_AGE (or broken ones) here, as a request would.
            close_old_connections()
            try:
                more = one_pass(stop.is_set)
            except (OperationalError, InterfaceError) as error:
                logger.warning("%s: database unavailable: %s", name, error)
                connection.close()
                more = False
            if not more:
                stop.wait(seconds)
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
