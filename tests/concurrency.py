"""Run callables in real threads, each with its own database connection."""

import threading
from concurrent.futures import ThreadPoolExecutor

from django.db import connections


def run_in_threads(function, arguments, *, threads: int = 16) -> list:
    """Call ``function(argument)`` for each argument from ``threads`` threads that start
    together; returns the results in order. Each thread closes its connection."""
    barrier = threading.Barrier(min(threads, len(arguments)))

    def call(argument):
        try:
            try:
                barrier.wait(timeout=10)
            except threading.BrokenBarrierError:
                pass
            return function(argument)
        finally:
            connections.close_all()

    with ThreadPoolExecutor(max_workers=threads) as pool:
        return list(pool.map(call, arguments))
