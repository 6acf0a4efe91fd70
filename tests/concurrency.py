"""Run callables in real threads, each with its own database connection."""

import queue
import threading

from django.db import connections


def run_in_threads(function, arguments, *, threads: int = 16) -> list:
    """Call ``function(argument)`` for each argument from ``threads`` threads that start
    together and share the work; returns the results in the arguments' order. Each
    thread keeps one connection for its whole share and closes it at the end."""
    arguments = list(arguments)
    threads = min(threads, len(arguments))
    work: queue.Queue = queue.Queue()
    for item in enumerate(arguments):
        work.put(item)
    results: list = [None] * len(arguments)
    errors: list[BaseException] = []
    barrier = threading.Barrier(threads)

    def worker():
        try:
            barrier.wait(timeout=30)
            while True:
                try:
                    index, argument = work.get_nowait()
                except queue.Empty:
                    return
                results[index] = function(argument)
        except BaseException as exc:  # reported to the test below
            errors.append(exc)
        finally:
            connections.close_all()

    pool = [threading.Thread(target=worker) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join(timeout=120)
    assert not any(thread.is_alive() for thread in pool), "a worker thread hung"
    if errors:
        raise errors[0]
    return results
